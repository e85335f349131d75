//! How runs look to people: the terminal's `nexo show` and `nexo list`,
//! Markdown and Mermaid for pull requests. Pure functions of a folded run
//! (and of "now", for relative times): no files, terminals or git, so the
//! same run renders the same text in a test, a terminal and a CI job.
//!
//! An adapter: may import `core` and `wire` (types only).

pub mod markdown;
pub mod text;
pub mod verify;

use crate::core::fold::{Checkpoint, Run, Step};
use crate::core::model::{RunStatus, StepStatus};

/// Whether to colour text, decided by the adapter (a terminal, NO_COLOR,
/// CLICOLOR_FORCE, `--color`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paint {
    Plain,
    Ansi,
}

/// A colour for a status or a part of the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Good,
    Busy,
    Bad,
    Wait,
    Dim,
    Bold,
}

impl Paint {
    /// `text` in `tone`, or as it is when plain.
    pub fn paint(self, tone: Tone, text: &str) -> String {
        if self == Paint::Plain || text.is_empty() {
            return text.to_string();
        }
        let code = match tone {
            Tone::Good => "32",
            Tone::Busy => "36",
            Tone::Bad => "31",
            Tone::Wait => "33",
            Tone::Dim => "2",
            Tone::Bold => "1",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }
}

/// The colour of a step status.
pub fn step_tone(s: StepStatus) -> Tone {
    match s {
        StepStatus::Completed => Tone::Good,
        StepStatus::Running | StepStatus::Retrying => Tone::Busy,
        StepStatus::Failed | StepStatus::Blocked => Tone::Bad,
        StepStatus::WaitingApproval => Tone::Wait,
        StepStatus::Pending | StepStatus::Skipped => Tone::Dim,
    }
}

/// The colour of a run status.
pub fn run_tone(s: RunStatus) -> Tone {
    match s {
        RunStatus::Completed => Tone::Good,
        RunStatus::Running => Tone::Busy,
        RunStatus::Failed | RunStatus::Blocked => Tone::Bad,
        RunStatus::WaitingApproval => Tone::Wait,
        RunStatus::Open => Tone::Bold,
        RunStatus::Cancelled => Tone::Dim,
    }
}

/// One character that says a step's status at a glance.
pub fn symbol(s: StepStatus) -> &'static str {
    match s {
        StepStatus::Pending => "○",
        StepStatus::Running => "●",
        StepStatus::Retrying => "↻",
        StepStatus::Blocked => "■",
        StepStatus::WaitingApproval => "◆",
        StepStatus::Failed => "✗",
        StepStatus::Completed => "✓",
        StepStatus::Skipped => "–",
    }
}

/// A step's symbol, with a gate's: a step held for approval shows ◆.
pub fn step_symbol(step: &Step) -> &'static str {
    if step.held_at_gate() {
        symbol(StepStatus::WaitingApproval)
    } else {
        symbol(step.status)
    }
}

pub use crate::core::words::{clip, one_line, who};
pub use crate::wire::response::{PLACES_SHOWN, places};

/// Steps done (completed or skipped) and steps in all.
pub fn progress(run: &Run) -> (usize, usize) {
    run.progress()
}

/// How long ago `at` (RFC 3339) was, seen from `now_ms` (Unix ms): "just
/// now", "3 min ago", "2 h ago", "5 days ago", else the date.
pub fn ago(at: &str, now_ms: i64) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(at) else {
        return at.to_string();
    };
    let secs = (now_ms - t.timestamp_millis()).max(0) / 1000;
    match secs {
        0..45 => "just now".into(),
        45..5_400 => format!("{} min ago", (secs + 30) / 60),
        5_400..129_600 => format!("{} h ago", (secs + 1_800) / 3_600),
        129_600..2_592_000 => format!("{} days ago", (secs + 43_200) / 86_400),
        _ => t.format("%Y-%m-%d").to_string(),
    }
}

/// `at` (RFC 3339) as "2026-11-27 10:04 UTC", for text that outlives the
/// moment (a pull request).
pub fn when(at: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(at)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|_| at.to_string())
}

/// What one checkpoint changed, in a few words.
pub fn change(c: &Checkpoint) -> String {
    let summary = c
        .summary
        .as_deref()
        .map(|s| format!(": {s}"))
        .unwrap_or_default();
    match (c.event_type.as_str(), &c.step_key, c.step_status) {
        ("opened", _, _) => "opened the run".into(),
        ("handed_off", _, _) => format!("handed off to {}{summary}", who(&c.owner)),
        ("approved" | "rejected", Some(k), _) => format!("{} {k}{summary}", c.checkpoint_label),
        (_, Some(k), Some(s)) if c.checkpoint_label == format!("{k}:{s}") => {
            format!("{k} → {s}{summary}")
        }
        // An update that left the step's status as it was.
        (_, Some(k), _) if c.checkpoint_label == *k => format!("{k} updated{summary}"),
        // An update of the run itself, under the default label.
        ("updated", None, _) if c.checkpoint_label == "update" => {
            format!("run updated, {}{summary}", c.run_status)
        }
        (_, Some(k), Some(s)) => format!("{} ({k} {s}){summary}", c.checkpoint_label),
        _ => format!("{}{summary}", c.checkpoint_label),
    }
}

/// A step's attempts ("2", "2 of 3"), or none before the first: a step
/// finished without being marked running shows no "attempt 0".
pub fn attempts(step: &Step) -> Option<String> {
    match (step.attempt_count, step.max_retries) {
        (0, _) => None,
        (n, 0) => Some(n.to_string()),
        (n, max) => Some(format!("{n} of {max}")),
    }
}

/// Who holds a step and until when, in words (`claimed by codex until
/// 2026-12-02 10:30 UTC`), with how many queue behind them.
pub fn claim_note(step: &crate::core::fold::Step) -> Option<String> {
    let c = step.holder()?;
    let queued = match step.claims.len() - 1 {
        0 => String::new(),
        n => format!(", {n} queued"),
    };
    Some(format!(
        "claimed by {} until {}{queued}",
        c.holder,
        when(&c.lease_until)
    ))
}

/// What a step needs, in its run and in others: "needs build, WF-X:deploy".
pub fn needs_note(step: &crate::core::fold::Step) -> Option<String> {
    let all: Vec<&str> = step
        .needs
        .iter()
        .chain(step.after.iter())
        .map(String::as_str)
        .collect();
    (!all.is_empty()).then(|| format!("needs {}", all.join(", ")))
}

/// A step's timer: "not before <time>" (shown once it has passed too,
/// as a rendering knows no clock; `ready` and `resume` judge it).
pub fn timer_note(step: &crate::core::fold::Step) -> Option<String> {
    step.not_before
        .as_deref()
        .map(|t| format!("not before {}", when(t)))
}

/// A step's gate, dependencies, timer and claim, as one note for a
/// table cell.
pub fn gate_and_claim(step: &crate::core::fold::Step) -> String {
    [
        text::gate(step),
        needs_note(step),
        timer_note(step),
        claim_note(step),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipping_counts_characters_and_marks_the_cut() {
        assert_eq!(clip("héllo  wörld", 20), "héllo wörld");
        assert_eq!(clip("héllo wörld", 6), "héllo…");
        assert_eq!(clip("a\nb", 3), "a b");
        assert_eq!(clip("abc", 0), "");
    }

    #[test]
    fn relative_times_read_as_people_say_them() {
        let at = "2026-11-27T10:00:00.000Z";
        let base = chrono::DateTime::parse_from_rfc3339(at)
            .unwrap()
            .timestamp_millis();
        let m = 60_000;
        assert_eq!(ago(at, base + 10_000), "just now");
        assert_eq!(ago(at, base + 3 * m), "3 min ago");
        assert_eq!(ago(at, base + 125 * m), "2 h ago");
        assert_eq!(ago(at, base + 3 * 1_440 * m), "3 days ago");
        assert_eq!(ago(at, base + 90 * 1_440 * m), "2026-11-27");
        assert_eq!(ago("garbage", base), "garbage");
    }

    #[test]
    fn places_are_capped_and_odd_names_quoted() {
        let place = |r: &str, w: Option<&str>| crate::wire::response::Place {
            r#ref: r.into(),
            worktree: w.map(Into::into),
            here: false,
            unreadable: None,
        };
        let few = [place("main", None), place("a b", Some("/tmp/wt x"))];
        assert_eq!(places(&few), "main, \"a b\" (\"/tmp/wt x\")");
        let mut bad = place("hostile", None);
        bad.unreadable = Some("history.jsonl:2: not a JSON event".into());
        assert_eq!(places(&[bad]), "hostile (unreadable)");
        let many: Vec<_> = (0..1_500).map(|i| place(&format!("b{i}"), None)).collect();
        assert_eq!(places(&many), "b0, b1, b2, b3, b4 and 1495 more");
    }

    #[test]
    fn plain_paint_adds_nothing() {
        assert_eq!(Paint::Plain.paint(Tone::Bad, "x"), "x");
        assert_eq!(Paint::Ansi.paint(Tone::Bad, "x"), "\x1b[31mx\x1b[0m");
    }
}
