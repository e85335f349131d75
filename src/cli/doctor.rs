//! `nexo doctor`: check every run, and with `--fix` repair what can be
//! repaired without losing an event.

use super::Ctx;
use nexo::core::error::{ErrorKind, Result};
use nexo::core::words::count;
use nexo::doctor::DoctorReport;

pub const AFTER_HELP: &str = concat!(
    "Examples:\n  nexo doctor\n  nexo doctor --fix      # repair what can be repaired without losing an event, and commit it\n\n",
    "Exits 0 when healthy and 7 when a problem was found (for CI on pull requests)."
);

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Repair what can be repaired without losing an event, and commit it.
    #[arg(long)]
    pub fix: bool,
}

/// Returns the exit code: 7 when a problem remains.
pub fn run(ctx: &Ctx, a: &Args) -> Result<i32> {
    let r = ctx.nexo()?.doctor(a.fix)?;
    ctx.emit(&r, || render(&r, a.fix))?;
    Ok(if r.ok {
        0
    } else {
        ErrorKind::Corrupt.exit_code()
    })
}

fn render(r: &DoctorReport, fix: bool) -> String {
    let mut s = String::new();
    for p in &r.problems {
        s.push_str(&format!("{}: {}\n", p.kind, p.message));
    }
    for (kind, n) in &r.problems_not_listed {
        s.push_str(&format!(
            "{kind}: {}, not listed\n",
            count(*n, "more problem")
        ));
    }
    for u in &r.unhonoured {
        s.push_str(&format!(
            "not honoured: {} event {} by {} on step {}: {}\n",
            u.run_id,
            u.decision.event_id,
            u.decision.actor,
            u.decision.step_key,
            u.decision.message
        ));
    }
    for t in &r.trespasses {
        s.push_str(&format!(
            "claimed step written by another: {}: {} (event {})\n",
            t.run_id,
            t.trespass.describe(),
            t.trespass.event_id
        ));
    }
    for d in &r.dated_ahead {
        s.push_str(&format!("dated ahead: {}\n", d.message));
    }
    for a in &r.advice {
        s.push_str(&format!("advice: {a}\n"));
    }
    for f in &r.fixed {
        s.push_str(&format!("fixed: {f}\n"));
    }
    if r.fixed_not_listed > 0 {
        s.push_str(&format!(
            "fixed: {}, not listed\n",
            count(r.fixed_not_listed, "more file")
        ));
    }
    for q in &r.quarantined {
        s.push_str(&format!("quarantined: {}\n", q.describe()));
    }
    if let Some(c) = &r.commit {
        s.push_str(&format!("committed {}\n", &c[..12]));
    }
    if let Some(why) = &r.not_committed {
        s.push_str(&format!("not committed: {why}\n"));
    }
    s.push_str(&summary(r, fix));
    s
}

/// The last line: healthy, repaired, or what is left and who can mend it.
/// It points at `--fix` only for problems `--fix` repairs, so it never
/// sends a person round in a loop.
fn summary(r: &DoctorReport, fix: bool) -> String {
    let runs = match r.templates_checked {
        0 => count(r.runs_checked, "run"),
        n => format!(
            "{} and {}",
            count(r.runs_checked, "run"),
            count(n, "template")
        ),
    };
    if r.ok {
        return match r.problems.is_empty() {
            true => format!("{runs} checked: healthy\n"),
            false => format!("{runs} checked: repaired\n"),
        };
    }
    // Those not listed are all ones --fix repairs.
    let not_listed: usize = r.problems_not_listed.values().sum();
    let fixable = r.problems.iter().filter(|p| p.fixable).count() + not_listed;
    let total = r.problems.len() + not_listed;
    let problems = count(total, "problem");
    match (fix, fixable) {
        (true, _) => format!(
            "{runs} checked: {} left that --fix cannot repair; each says what to do\n",
            count(total - fixable, "problem")
        ),
        (false, 0) => format!(
            "{runs} checked: {problems}, {}; each says what to do\n",
            if total == 1 {
                "which --fix cannot repair"
            } else {
                "none of which --fix can repair"
            }
        ),
        (false, n) if n == total => format!(
            "{runs} checked: {problems}; `nexo doctor --fix` repairs {}\n",
            if total == 1 { "it" } else { "them" }
        ),
        (false, n) => format!(
            "{runs} checked: {problems}; `nexo doctor --fix` repairs {n} of them, and the others say what to do\n"
        ),
    }
}
