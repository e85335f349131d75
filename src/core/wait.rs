//! Whether what `nexo wait` waits for holds of a run: a step's gate
//! decided, a step (or the run) at its end, a step (or any) ready, or any
//! new event since the wait began. Judged on the fold alone, so every
//! clone that has the same events gives the same answer.
//!
//! Pure: no files, processes or git.

use crate::core::error::{Error, ErrorKind, Result};
use crate::core::fold::{Run, Step};
use crate::core::id::EventId;
use crate::core::model::{Condition, StepStatus};
use crate::core::ready::Viewer;
use crate::core::resume::readiness;

/// What a wait watches: a run, maybe one of its steps, and the run's
/// heads when the wait began (for `changed`).
pub struct Watched<'a> {
    pub condition: Condition,
    pub step: Option<&'a str>,
    pub start: &'a [EventId],
}

impl Watched<'_> {
    /// Refuses a wait that could never be answered: `decided` names no
    /// step, or the step is not one of the run's.
    pub fn check(&self, run: &Run) -> Result<()> {
        if self.condition == Condition::Decided && self.step.is_none() {
            return Err(Error::naming(ErrorKind::Invalid, |n| {
                format!(
                    "{} decided needs a step: a run has no gate of its own; name the gated step with {}",
                    n("for"),
                    n("step_key")
                )
            }));
        }
        if let Some(key) = self.step
            && run.step(key).is_none()
        {
            let keys: Vec<&str> = run.steps.iter().map(|s| s.step_key.as_str()).collect();
            return Err(Error::not_found(format!(
                "{} has no step {}: its steps are {}",
                run.run_id,
                crate::core::limits::quote(key),
                if keys.is_empty() {
                    "none".to_string()
                } else {
                    keys.join(", ")
                }
            )));
        }
        Ok(())
    }

    /// `None` when the condition holds; else what is still awaited, in
    /// words ("publish waits for approval"). `outside` says what a step
    /// waits on beyond its run (other runs it needs).
    pub fn awaits(
        &self,
        run: &Run,
        viewer: Viewer,
        outside: &dyn Fn(&Step) -> Option<crate::core::ready::Wait>,
    ) -> Option<String> {
        let step = self.step.and_then(|k| run.step(k));
        let name = |s: &Step| format!("step {}", s.step_key);
        match (self.condition, step) {
            (Condition::Changed, _) => (run.heads.as_slice() == self.start)
                .then(|| format!("no new event on {} yet", run.run_id)),
            (Condition::Decided, Some(s)) => {
                s.approval.is_none().then(|| match s.awaits_approval() {
                    true => format!("{} waits for a decision at its gate", name(s)),
                    false => format!(
                        "{} has no decision (and no gate asked for one yet)",
                        name(s)
                    ),
                })
            }
            (Condition::Done, Some(s)) => {
                (!step_done(s)).then(|| format!("{} is {}", name(s), s.status))
            }
            (Condition::Done, None) => {
                (!run.status.is_closed()).then(|| format!("{} is {}", run.run_id, run.status))
            }
            (Condition::Ready, Some(s)) => readiness(run)
                .waits_for(s, viewer)
                .or_else(|| outside(s))
                .map(|w| format!("{} {}", name(s), w.describe())),
            (Condition::Ready, None) => crate::core::resume::ready_steps(run, viewer)
                .iter()
                .all(|s| outside(s).is_some())
                .then(|| format!("no step of {} is ready", run.run_id)),
            // `check` refuses it; an unknown step waits.
            (Condition::Decided, None) => Some("a step to decide".into()),
        }
    }
}

/// A step at its end: completed, skipped, or failed with no attempt left.
fn step_done(s: &Step) -> bool {
    s.status.is_done() || (s.status == StepStatus::Failed && s.attempt_count >= s.max_retries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testkit::History;

    const NOW: &str = "2026-11-24T06:00:00.000Z";

    fn awaits(
        h: &History,
        condition: Condition,
        step: Option<&str>,
        start: &[EventId],
    ) -> Option<String> {
        let run = h.fold();
        let w = Watched {
            condition,
            step,
            start,
        };
        w.check(&run).unwrap();
        w.awaits(
            &run,
            Viewer {
                actor: "me",
                now: NOW,
            },
            &|_| None,
        )
    }

    #[test]
    fn decided_holds_once_the_gate_is_approved_or_rejected() {
        let mut h = History::open(&["build", "publish!"]);
        h.step("build", StepStatus::Completed);
        let waits = awaits(&h, Condition::Decided, Some("publish"), &[]).unwrap();
        assert!(waits.contains("publish waits for a decision"), "{waits}");
        let mut approved = History {
            events: h.events.clone(),
        };
        approved.approve("publish", "alice");
        assert_eq!(
            awaits(&approved, Condition::Decided, Some("publish"), &[]),
            None
        );
        h.reject("publish", "alice", "not yet");
        assert_eq!(awaits(&h, Condition::Decided, Some("publish"), &[]), None);
    }

    #[test]
    fn done_is_a_steps_end_or_the_runs() {
        let mut h = History::open(&["build", "test"]);
        assert!(awaits(&h, Condition::Done, Some("build"), &[]).is_some());
        h.step("build", StepStatus::Completed);
        assert_eq!(awaits(&h, Condition::Done, Some("build"), &[]), None);
        let run_waits = awaits(&h, Condition::Done, None, &[]).unwrap();
        assert!(
            run_waits.contains("is running") || run_waits.contains("is open"),
            "{run_waits}"
        );
        h.step("test", StepStatus::Completed);
        assert_eq!(awaits(&h, Condition::Done, None, &[]), None);
    }

    #[test]
    fn ready_follows_the_runs_readiness() {
        let mut h = History::open(&["build", "publish!"]);
        assert!(awaits(&h, Condition::Ready, Some("publish"), &[]).is_some());
        assert_eq!(awaits(&h, Condition::Ready, Some("build"), &[]), None);
        assert_eq!(awaits(&h, Condition::Ready, None, &[]), None);
        h.step("build", StepStatus::Completed);
        let gated = awaits(&h, Condition::Ready, Some("publish"), &[]).unwrap();
        assert!(gated.contains("waits for approval"), "{gated}");
        h.approve("publish", "alice");
        assert_eq!(awaits(&h, Condition::Ready, Some("publish"), &[]), None);
    }

    #[test]
    fn changed_holds_after_any_new_event() {
        let mut h = History::open(&["build"]);
        let start = h.fold().heads;
        assert!(awaits(&h, Condition::Changed, None, &start).is_some());
        h.handoff("claude");
        assert_eq!(awaits(&h, Condition::Changed, None, &start), None);
    }

    #[test]
    fn a_wait_that_could_never_be_answered_is_refused() {
        let run = History::open(&["build"]).fold();
        let w = |condition, step| Watched {
            condition,
            step,
            start: &[],
        };
        let e = w(Condition::Decided, None).check(&run).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Invalid);
        assert!(e.message.contains("step_key"), "{e}");
        let e = w(Condition::Done, Some("nope")).check(&run).unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert!(e.message.contains("its steps are build"), "{e}");
    }
}
