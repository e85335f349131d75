//! `nexo verify`'s report: for a CI job summary (Markdown, escaped like
//! every run summary) and for the terminal.

use super::markdown::cell;
use crate::core::verify::{GateCheck, VerifyReport, Violation};
use crate::core::words::{count, or_none, plural, who};

/// The report as Markdown: the verdict, the policy applied, the changes
/// a reviewer must see, the violations, and every gate judged.
pub fn markdown(r: &VerifyReport) -> String {
    let mut s = format!("### nexo verify: {}\n\n", headline(r));
    s.push_str(&format!("**Policy applied:** {}\n\n", policy_line(r, true)));
    s.push_str(&format!("**Runs:** {}\n\n", runs_line(r)));
    for c in &r.policy_changes {
        s.push_str(&format!(
            "> **⚠ This branch changes `{}`** ({} since `{}`); review it: the trusted policy still applies.\n",
            c.path,
            c.change,
            short(&c.since)
        ));
        for (sign, lines) in [("+", &c.added), ("−", &c.removed)] {
            for l in lines {
                s.push_str(&format!("> {sign} `{}`\n", cell(l).replace('`', "'")));
            }
        }
        s.push('\n');
    }
    if !r.violations.is_empty() {
        s.push_str("#### Violations\n\n| Run | Step | Event | By | Reason | Detail |\n|---|---|---|---|---|---|\n");
        for v in r.violations.iter().take(MAX_ROWS) {
            s.push_str(&violation_row(v));
        }
        s.push_str(&more(r.violations.len(), "violation"));
        s.push('\n');
    }
    if !r.problems.is_empty() {
        s.push_str("#### Problems\n\n");
        for p in &r.problems {
            let run = p
                .run_id
                .as_deref()
                .map(|id| format!("`{id}`: "))
                .unwrap_or_default();
            s.push_str(&format!("- {run}{}\n", cell(&p.message)));
        }
        s.push('\n');
    }
    if !r.gates.is_empty() {
        s.push_str("#### Gates checked\n\n| Run | Step | Status | Decision | By | Signature |\n|---|---|---|---|---|---|\n");
        for g in r.gates.iter().take(MAX_ROWS) {
            s.push_str(&gate_row(g));
        }
        s.push_str(&more(r.gates.len(), "gate"));
        s.push('\n');
    }
    if !r.stale.is_empty() {
        s.push_str(&format!(
            "{} answered an earlier request for their gate and pass nothing (two clones at once); not a failure.\n",
            count(r.stale.len(), "decision")
        ));
    }
    s
}

/// The report for a terminal, one finding a line.
pub fn text(r: &VerifyReport) -> String {
    let mut s = String::new();
    for c in &r.policy_changes {
        s.push_str(&format!(
            "policy changed: {} {} since {}\n",
            c.path,
            c.change,
            short(&c.since)
        ));
        for l in &c.added {
            s.push_str(&format!("  + {l}\n"));
        }
        for l in &c.removed {
            s.push_str(&format!("  - {l}\n"));
        }
    }
    for v in &r.violations {
        s.push_str(&format!(
            "violation: {} step {} event {} by {}: {} ({})\n",
            v.run_id,
            or_none(v.step_key.as_deref()),
            v.event_id,
            v.actor,
            v.reason,
            super::one_line(&v.message)
        ));
    }
    for p in &r.problems {
        let run = p
            .run_id
            .as_deref()
            .map(|id| format!("{id}: "))
            .unwrap_or_default();
        s.push_str(&format!("problem: {run}{}\n", p.message));
    }
    for g in r.gates.iter().take(MAX_ROWS) {
        s.push_str(&format!(
            "gate {} {}: {}{}\n",
            g.run_id,
            g.step_key,
            if g.passed { "passed" } else { "waiting" },
            decided(g)
        ));
    }
    s.push_str(more(r.gates.len(), "gate").trim_start());
    s.push_str(&format!(
        "policy applied: {}\nruns: {}\n{}\n",
        policy_line(r, false),
        runs_line(r),
        headline(r)
    ));
    s
}

/// How many gates or violations a report lists: a CI job summary holds
/// 1 MiB, and a reader wants the first ones; `--format json` has them all.
const MAX_ROWS: usize = 200;

/// The line that says how many rows were left out, if any were.
fn more(all: usize, what: &str) -> String {
    match all.checked_sub(MAX_ROWS) {
        Some(n) if n > 0 => {
            format!(
                "\n… and {n} more {} (`nexo verify --format json` lists them all)\n",
                plural(n, what)
            )
        }
        _ => String::new(),
    }
}

fn headline(r: &VerifyReport) -> String {
    let against = match &r.trusted {
        Some(t) => format!("{}'s policy", t.r#ref),
        None => "this working tree's policy".to_string(),
    };
    match (r.violations.len(), r.problems.len()) {
        (0, 0) => format!("✅ every gate holds under {against}"),
        (v, p) => format!(
            "❌ {}{} under {against}",
            count(v, "violation"),
            if p > 0 {
                format!(" and {}", count(p, "problem"))
            } else {
                String::new()
            }
        ),
    }
}

fn policy_line(r: &VerifyReport, md: bool) -> String {
    let a = &r.policy.applied;
    let code = |s: &str| if md { format!("`{s}`") } else { s.to_string() };
    let mut s = code(a.policy.as_str());
    if a.policy.is_strict() {
        s.push_str(&format!(
            " · approvers: {} · self-approval: {}",
            cell(who(&a.approvers.join(", "))),
            if a.self_approval { "allowed" } else { "no" }
        ));
    }
    if let (Some(t), Some(b)) = (&r.trusted, &r.policy.branch) {
        s.push_str(&format!(
            " (the stricter of {}'s {} and this branch's {})",
            cell(&t.r#ref),
            code(r.policy.trusted.approvals.policy.as_str()),
            code(b.approvals.policy.as_str())
        ));
    }
    s
}

fn runs_line(r: &VerifyReport) -> String {
    let runs = runs_only(r);
    match r.templates {
        0 => runs,
        n => format!("{runs}; {} checked", count(n, "template")),
    }
}

fn runs_only(r: &VerifyReport) -> String {
    match &r.trusted {
        Some(t) => format!(
            "{} in HEAD; {} judged, {} as on {}",
            r.runs,
            r.runs_judged,
            r.runs - r.runs_judged,
            cell(&t.r#ref)
        ),
        None => format!("{} in HEAD, all judged", r.runs),
    }
}

fn violation_row(v: &Violation) -> String {
    format!(
        "| `{}` | {} | `{}` | {} | `{}` | {} |\n",
        v.run_id,
        v.step_key
            .as_deref()
            .map(|k| format!("`{}`", cell(k)))
            .unwrap_or_default(),
        v.event_id,
        cell(&v.actor),
        v.reason,
        cell(&v.message)
    )
}

fn gate_row(g: &GateCheck) -> String {
    format!(
        "| `{}` | `{}` {} | {} | {} | {} | {} |\n",
        g.run_id,
        cell(&g.step_key),
        cell(&g.title),
        g.status,
        match (g.passed, g.decision) {
            (true, Some(d)) => format!("✅ {d}"),
            (true, None) => "✅ passed".to_string(),
            (false, Some(d)) => format!("⏸ {d}"),
            (false, None) => "⏸ waiting".to_string(),
        },
        g.by.as_deref().map(cell).unwrap_or_default(),
        if g.verified { "✅ verified" } else { "—" }
    )
}

fn decided(g: &GateCheck) -> String {
    match (&g.decision, &g.by) {
        (Some(d), Some(by)) => format!(
            " ({d} by {by}{})",
            if g.verified {
                ", signature verified"
            } else {
                ""
            }
        ),
        _ => String::new(),
    }
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::approval::Approvals;
    use crate::core::model::StepStatus;
    use crate::core::verify::{GateCheck, Policies, PolicyOut};

    fn report(gates: usize) -> VerifyReport {
        let policy = PolicyOut {
            approvals: Approvals::default(),
            signers: 0,
        };
        VerifyReport {
            ok: true,
            head: "0".repeat(40),
            trusted: None,
            policy: Policies {
                trusted: policy,
                branch: None,
                applied: Approvals::default(),
            },
            policy_changes: Vec::new(),
            runs: gates,
            runs_judged: gates,
            templates: 0,
            gates: (0..gates)
                .map(|i| GateCheck {
                    run_id: format!("WF-{i}"),
                    step_key: "publish".into(),
                    title: "Publish <it>".into(),
                    status: StepStatus::Pending,
                    passed: false,
                    decision: None,
                    by: None,
                    via: None,
                    verified: false,
                })
                .collect(),
            violations: Vec::new(),
            stale: Vec::new(),
            problems: Vec::new(),
        }
    }

    #[test]
    fn a_long_report_lists_the_first_rows_and_counts_the_rest() {
        let md = markdown(&report(MAX_ROWS + 50));
        assert_eq!(md.matches("| `WF-").count(), MAX_ROWS);
        assert!(md.contains("… and 50 more gates"), "{md}");
        assert!(md.contains("Publish &lt;it&gt;"), "escaped: {md}");
        let short = markdown(&report(3));
        assert!(!short.contains("more gates"), "{short}");
        assert!(text(&report(MAX_ROWS + 1)).contains("… and 1 more gate ("));
    }
}
