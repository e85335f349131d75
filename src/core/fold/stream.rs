//! The fold fed one event at a time, as a history's lines are read, for as
//! long as they come in fold order: no copy of the history is held.

use crate::core::approval::Rules;
use crate::core::error::Result;
use crate::core::event::{Body, Event};
use crate::core::id::EventId;

use super::{Noted, Run, RunBefore, apply, start};

/// A fold of events handed over in the order they are read. For a history
/// whose lines are in fold order (each after the last by clock, then id,
/// its parents folded, the opening first: a history only ever appended
/// to) it gives the run [`super::fold_noting`] gives; at the first line
/// that is not, [`Stream::follows`] says no, and the history is for the
/// whole fold to judge.
pub struct Stream {
    run: Option<Run>,
    last: Option<(u64, EventId)>,
    rules: Rules,
    keep: usize,
}

impl Stream {
    pub fn new(rules: Rules, keep: usize) -> Stream {
        Stream {
            run: None,
            last: None,
            rules,
            keep,
        }
    }

    /// Whether `e` may be folded next. Anything but a plain sequence
    /// (lines out of order, an id seen before, a parent not yet folded,
    /// an opening that does not come first) is not.
    pub fn follows(&self, e: &Event) -> bool {
        match (&self.run, &self.last) {
            (Some(r), Some((c, i))) => (e.clock, &e.id) > (*c, i) && r.takes_next(e),
            _ => matches!(e.body, Body::Opened(_)),
        }
    }

    /// Folds `e`, which [`Stream::follows`]: opens the run, or applies it.
    pub fn push(&mut self, e: &Event) -> Result<()> {
        self.push_noting(e, &|_| false, &mut |_, _, _| {})
    }

    /// [`Stream::push`], handing `note` the run before and after `e` when
    /// `noted` picks it and it is not the opening (as `fold_noting` does).
    pub fn push_noting(
        &mut self,
        e: &Event,
        noted: &dyn Fn(&Event) -> bool,
        note: &mut Noted<'_>,
    ) -> Result<()> {
        match &mut self.run {
            None => self.run = Some(start(e, self.rules.clone(), self.keep)?),
            Some(r) if noted(e) => {
                let before = RunBefore::of(r);
                apply(r, e);
                note(&before, e, r);
            }
            Some(r) => apply(r, e),
        }
        self.last = Some((e.clock, e.id.clone()));
        Ok(())
    }

    /// The run folded; `None` before its opening.
    pub fn into_run(self) -> Option<Run> {
        self.run
    }

    /// The clock and id of the last event folded.
    pub fn last(&self) -> Option<&(u64, EventId)> {
        self.last.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::fold::fold_noting;
    use crate::core::model::{RunStatus, StepStatus};
    use crate::core::testkit::{History, status_of};

    /// Each noted event, with the run's status and first step's status
    /// before and after it.
    type Told = Vec<(EventId, RunStatus, RunStatus, StepStatus)>;

    fn noting(told: &mut Told) -> impl FnMut(&RunBefore, &Event, &Run) + '_ {
        |before, e, after| {
            told.push((
                e.id.clone(),
                before.status,
                after.status,
                after.steps[0].status,
            ))
        }
    }

    #[test]
    fn a_history_in_fold_order_streams_to_what_the_whole_fold_gives() {
        let mut h = History::open(&["build", "publish"]);
        h.step("build", StepStatus::Running);
        h.step("build", StepStatus::Failed);
        h.claim("codex", "publish", 60);
        h.approve("publish", "alice");
        h.update(status_of("build", StepStatus::Completed));
        let noted = |e: &Event| e.clock.is_multiple_of(2);
        let (mut whole, mut streamed) = (Told::new(), Told::new());
        let run = fold_noting(
            h.events.clone(),
            Rules::default(),
            usize::MAX,
            &noted,
            &mut noting(&mut whole),
        )
        .unwrap();
        let mut stream = Stream::new(Rules::default(), usize::MAX);
        for e in &h.events {
            assert!(stream.follows(e), "{} refused", e.id);
            stream
                .push_noting(e, &noted, &mut noting(&mut streamed))
                .unwrap();
        }
        assert_eq!(stream.last().map(|l| &l.1), h.events.last().map(|e| &e.id));
        assert_eq!(stream.into_run(), Some(run));
        assert!(!whole.is_empty());
        assert_eq!(streamed, whole);
    }

    #[test]
    fn anything_but_a_plain_sequence_is_left_to_the_whole_fold() {
        let mut h = History::open(&["build"]);
        h.step("build", StepStatus::Running);
        h.step("build", StepStatus::Completed);
        let [opening, second, third] = [0, 1, 2].map(|i| h.events[i].clone());
        let mut stream = Stream::new(Rules::default(), usize::MAX);
        assert!(!stream.follows(&second), "an update before the opening");
        stream.push(&opening).unwrap();
        assert!(!stream.follows(&opening), "a second opening");
        assert!(!stream.follows(&third), "a parent not yet folded");
        stream.push(&second).unwrap();
        assert!(!stream.follows(&second), "an id seen before");
        assert!(stream.follows(&third));
    }
}
