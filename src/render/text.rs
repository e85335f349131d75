//! The terminal's views: `nexo show` (one run: header, steps, timeline)
//! and `nexo list` (a table). Lines are fitted to the width given (cut
//! with an ellipsis) before they are coloured, so colour never counts.

use super::{
    Paint, Tone, ago, change, clip, one_line, progress, run_tone, step_symbol, step_tone, who,
};
use crate::core::fold::{Run, Step, Verdict};
use crate::core::resume::Resume;
use crate::wire::response::ListItem;

/// What a view is fitted to: the width (none: no cutting) and colour.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    pub width: Option<usize>,
    pub paint: Paint,
    /// Unix milliseconds, for "3 min ago".
    pub now_ms: i64,
}

/// A line made of pieces, each with an optional colour.
#[derive(Default)]
struct Line(Vec<(Option<Tone>, String)>);

impl Line {
    fn push(mut self, tone: Option<Tone>, text: impl Into<String>) -> Line {
        self.0.push((tone, text.into()));
        self
    }

    /// The line cut to `width` characters (the last piece shown ends in
    /// an ellipsis), then painted.
    fn fit(self, frame: &Frame) -> String {
        let mut room = frame.width.unwrap_or(usize::MAX);
        let mut out = String::new();
        for (tone, text) in self.0 {
            let n = text.chars().count();
            let piece = if n <= room { text } else { cut(&text, room) };
            room = room.saturating_sub(n);
            out.push_str(&match tone {
                Some(t) => frame.paint.paint(t, &piece),
                None => piece,
            });
            if room == 0 {
                break;
            }
        }
        out.trim_end().to_string() + "\n"
    }
}

/// `nexo show`: the run's header, its steps and the newest `events`
/// entries of its timeline.
pub fn show(run: &Run, resume: &Resume, frame: &Frame, events: usize) -> String {
    let (done, all) = progress(run);
    let mut s = Line::default()
        .push(Some(Tone::Bold), run.goal.clone())
        .fit(frame);
    s.push_str(
        &Line::default()
            .push(None, format!("{}  ", run.run_id))
            .push(Some(run_tone(run.status)), run.status.as_str())
            .push(
                None,
                format!(
                    "  {}  owner {}  {done}/{all} steps  updated {}",
                    run.priority,
                    who(&run.owner),
                    ago(&run.updated_at, frame.now_ms)
                ),
            )
            .fit(frame),
    );
    if !run.next_action.is_empty() && !run.status.is_finished() {
        s.push_str(
            &Line::default()
                .push(None, format!("next: {}", one_line(&run.next_action)))
                .fit(frame),
        );
    }
    let tone = if resume.can_resume {
        Tone::Good
    } else {
        Tone::Wait
    };
    s.push_str(
        &Line::default()
            .push(None, "resume: ")
            .push(Some(tone), resume.resume_state.as_str())
            .push(None, format!(" — {}", one_line(&resume.message)))
            .fit(frame),
    );
    if !run.steps.is_empty() {
        s.push_str("\nSteps\n");
        let widest =
            |f: fn(&Step) -> usize, cap: usize| run.steps.iter().map(f).max().unwrap_or(0).min(cap);
        let widths = (
            widest(|s| s.step_key.chars().count(), 24),
            widest(|s| one_line(&s.title).chars().count(), 40),
        );
        for step in &run.steps {
            s.push_str(&step_line(step, widths).fit(frame));
        }
    }
    s.push_str("\nTimeline\n");
    for c in run.checkpoints.iter().rev().take(events) {
        let when = ago(&c.created_at, frame.now_ms);
        s.push_str(
            &Line::default()
                .push(Some(Tone::Dim), format!("  {when:<12} "))
                .push(
                    None,
                    format!("{:<14} {}", clip(&c.actor, 14), one_line(&change(c))),
                )
                .fit(frame),
        );
    }
    if run.event_count > events {
        s.push_str(&format!(
            "  … {} earlier (nexo replay)\n",
            run.event_count - events
        ));
    }
    s
}

/// One step: symbol, key, status and title in columns, then attempts,
/// gate and last summary.
fn step_line(step: &Step, (key_width, title_width): (usize, usize)) -> Line {
    let tone = if step.held_at_gate() {
        Tone::Wait
    } else {
        step_tone(step.status)
    };
    let mut line = Line::default()
        .push(Some(tone), format!("  {} ", step_symbol(step)))
        .push(
            None,
            format!("{:<key_width$}  ", clip(&step.step_key, key_width)),
        )
        .push(Some(tone), format!("{:<16}", step.status.as_str()))
        .push(
            None,
            format!("{:<title_width$}", clip(&step.title, title_width)),
        );
    if let Some(attempts) = super::attempts(step) {
        line = line.push(Some(Tone::Dim), format!("  attempt {attempts}"));
    }
    if let Some(gate) = gate(step) {
        line = line.push(Some(Tone::Wait), format!("  [{gate}]"));
    }
    if let Some(needs) = super::needs_note(step) {
        line = line.push(Some(Tone::Dim), format!("  {needs}"));
    }
    if let Some(timer) = super::timer_note(step) {
        line = line.push(Some(Tone::Wait), format!("  [{timer}]"));
    }
    if let Some(claim) = super::claim_note(step) {
        line = line.push(Some(Tone::Busy), format!("  [{claim}]"));
    }
    if let Some(summary) = &step.last_summary {
        line = line.push(Some(Tone::Dim), format!("  {}", one_line(summary)));
    }
    line
}

/// A step's gate in words: waiting, or who decided and whether the
/// signature verified.
pub fn gate(step: &Step) -> Option<String> {
    if step.awaits_approval() {
        return Some("approval required".into());
    }
    let a = step.approval.as_ref()?;
    let verb = match a.decision {
        Verdict::Approved => "approved",
        Verdict::Rejected => "rejected",
    };
    let verified = if a.verified {
        ", signature verified"
    } else {
        ""
    };
    Some(format!("{verb} by {}{verified}", a.by))
}

/// The first `room` characters of `text`, the last one an ellipsis;
/// spacing is kept, so columns stay where they were.
fn cut(text: &str, room: usize) -> String {
    match room {
        0 => String::new(),
        _ => text.chars().take(room - 1).chain(['…']).collect(),
    }
}

/// `nexo list`: a header row and one aligned row per run; the goal takes
/// whatever width is left.
pub fn list(items: &[ListItem], frame: &Frame) -> String {
    let mut s = Line::default()
        .push(
            Some(Tone::Bold),
            format!(
                "{:<19}  {:<16}  {:<8}  {:<5}  {:<12}  {:<11}  GOAL",
                "RUN", "STATUS", "PRIORITY", "STEPS", "OWNER", "UPDATED"
            ),
        )
        .fit(frame);
    for r in items {
        let (done, all) = r.progress;
        s.push_str(
            &Line::default()
                .push(None, format!("{:<19}  ", r.run_id))
                .push(
                    Some(run_tone(r.status)),
                    format!("{:<16}", r.status.as_str()),
                )
                .push(
                    None,
                    format!(
                        "  {:<8}  {:<5}  {:<12}  {:<11}  {}",
                        r.priority.as_str(),
                        format!("{done}/{all}"),
                        clip(who(&r.owner), 12),
                        ago(&r.updated_at, frame.now_ms),
                        one_line(&r.goal)
                    ),
                )
                .fit(frame),
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::StepStatus::*;
    use crate::core::resume::resume;
    use crate::core::testkit::History;

    fn frame(width: Option<usize>, paint: Paint) -> Frame {
        Frame {
            width,
            paint,
            now_ms: chrono::DateTime::parse_from_rfc3339("2026-11-25T12:00:00Z")
                .unwrap()
                .timestamp_millis(),
        }
    }

    #[test]
    fn show_has_progress_steps_gates_and_a_timeline() {
        let mut h = History::open(&["build", "ship!"]);
        h.step("build", Completed).step("ship", Blocked);
        let run = h.fold();
        let text = show(&run, &resume(&run), &frame(None, Paint::Plain), 10);
        assert!(text.contains("1/2 steps"), "{text}");
        assert!(text.contains("✓ build"), "{text}");
        assert!(text.contains("◆ ship"), "{text}");
        assert!(text.contains("[approval required]"), "{text}");
        assert!(text.contains("build → completed"), "{text}");
        assert!(!text.contains('\x1b'), "plain has no escapes");
    }

    #[test]
    fn every_line_fits_the_width_and_colour_does_not_count() {
        let mut h = History::open(&["a-very-long-step-key-indeed", "b"]);
        h.step("a-very-long-step-key-indeed", Running);
        let run = h.fold();
        for paint in [Paint::Plain, Paint::Ansi] {
            let text = show(&run, &resume(&run), &frame(Some(40), paint), 10);
            for line in text.lines() {
                let visible = strip(line);
                assert!(visible.chars().count() <= 40, "{visible:?}");
            }
        }
    }

    fn strip(s: &str) -> String {
        let mut out = String::new();
        let mut esc = false;
        for c in s.chars() {
            match (esc, c) {
                (false, '\x1b') => esc = true,
                (true, 'm') => esc = false,
                (true, _) => {}
                (false, c) => out.push(c),
            }
        }
        out
    }
}
