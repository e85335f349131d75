//! What the write path needs of a record, a run or a goal: to fold its
//! events, to follow one more, and to render its views. Both are kept the
//! same way (an append-only history, views beside it, one commit), so one
//! write path serves both.

use crate::core::error::{ErrorKind, Result};
use crate::core::event::Event;
use crate::core::fold::{self, Run};
use crate::core::goal::{self, Goal};
use crate::core::id::{EventId, GOAL_PREFIX};
use crate::core::resume::resume;
use crate::core::view;
use crate::workspace::{Folding, Nexo};

pub(crate) trait Record: Sized {
    /// Folds the events under the repository's rules (a run's approval
    /// policy and verified signatures).
    fn fold(nexo: &Nexo, events: Vec<Event>) -> Result<Self>;
    /// Reads record `id` from its file and folds it.
    fn read(nexo: &Nexo, id: &str) -> Result<Self> {
        let record = Self::fold(nexo, nexo.store().read_history(id)?.events)?;
        crate::core::check::same_run(id, record.id())?;
        Ok(record)
    }
    /// Follows one event that comes after every event folded so far.
    fn apply(&mut self, event: &Event);
    fn clock(&self) -> u64;
    fn heads(&self) -> &[EventId];
    /// Every view file: (path relative to the working tree, bytes).
    fn files(&self) -> Vec<(String, Vec<u8>)>;
    fn id(&self) -> &str;
    fn updated_at(&self) -> &str;
    /// Counts event `id`'s signature as verified (the write path verified
    /// it before writing).
    fn admit_verified(&mut self, _id: &EventId) {}
}

impl Record for Run {
    fn fold(nexo: &Nexo, events: Vec<Event>) -> Result<Run> {
        nexo.fold_run(events)
    }
    fn read(nexo: &Nexo, id: &str) -> Result<Run> {
        nexo.fold_run_file(id, crate::workspace::KEEP_CHECKPOINTS)
    }
    fn apply(&mut self, event: &Event) {
        fold::apply(self, event);
    }
    fn clock(&self) -> u64 {
        self.clock
    }
    fn heads(&self) -> &[EventId] {
        &self.heads
    }
    fn files(&self) -> Vec<(String, Vec<u8>)> {
        view::render(self, &resume(self))
    }
    fn id(&self) -> &str {
        &self.run_id
    }
    fn admit_verified(&mut self, id: &EventId) {
        self.rules.verified.insert(id.clone());
    }
    fn updated_at(&self) -> &str {
        &self.updated_at
    }
}

impl Record for Goal {
    fn fold(_: &Nexo, events: Vec<Event>) -> Result<Goal> {
        goal::fold(events)
    }
    fn apply(&mut self, event: &Event) {
        goal::apply(self, event);
    }
    fn clock(&self) -> u64 {
        self.clock
    }
    fn heads(&self) -> &[EventId] {
        &self.heads
    }
    fn files(&self) -> Vec<(String, Vec<u8>)> {
        goal::render(self)
    }
    fn id(&self) -> &str {
        &self.goal_id
    }
    fn updated_at(&self) -> &str {
        &self.updated_at
    }
}

/// Records that folded, and `(id, why)` for those that did not.
pub(crate) type ReadAll<R> = (Vec<R>, Vec<(String, String)>);

/// Folds every record of `ids`, most recently updated first, and names
/// those whose history cannot be read, with why: one damaged history must
/// not hide the others (`nexo doctor` tells what is wrong with it).
pub(crate) fn read_all<R: Record>(nexo: &Nexo, ids: Vec<String>) -> Result<ReadAll<R>> {
    let mut records = Vec::new();
    let mut unreadable = Vec::new();
    for id in ids {
        match R::read(nexo, &id) {
            Ok(r) => records.push(r),
            Err(e) if e.kind == ErrorKind::Corrupt => {
                unreadable.push((id, e.message_with_causes()))
            }
            Err(e) => return Err(e),
        }
    }
    records.sort_by(|a: &R, b: &R| {
        b.updated_at()
            .cmp(a.updated_at())
            .then_with(|| a.id().cmp(b.id()))
    });
    Ok((records, unreadable))
}

impl Nexo {
    /// The views of record `id` for these events: a goal's for a `WG-`
    /// id, else a run's.
    pub fn render_events(&self, id: &str, events: Vec<Event>) -> Result<Vec<(String, Vec<u8>)>> {
        self.folding().render_events(id, events)
    }

    /// Run `id` folded from `events` under the repository's rules, refused
    /// when the history opens another run.
    pub(crate) fn fold_run_checked(&self, id: &str, events: Vec<Event>) -> Result<Run> {
        self.folding().fold_run_checked(id, events)
    }
}

impl Folding<'_> {
    /// [`Nexo::render_events`], from any thread.
    pub(crate) fn render_events(
        self,
        id: &str,
        events: Vec<Event>,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        if is_goal(id) {
            let goal = goal::fold(events)?;
            crate::core::check::same_run(id, &goal.goal_id)?;
            Ok(goal.files())
        } else {
            Ok(self.fold_run_checked(id, events)?.files())
        }
    }
}

pub fn is_goal(id: &str) -> bool {
    id.starts_with(GOAL_PREFIX)
}

/// The commit trailer naming a record: `Nexo-Run: WF-…` or `Nexo-Goal: WG-…`.
pub fn trailer(id: &str) -> String {
    if is_goal(id) {
        format!("Nexo-Goal: {id}")
    } else {
        format!("Nexo-Run: {id}")
    }
}
