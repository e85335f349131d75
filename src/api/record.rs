//! What the write path needs of a record, a run or a goal: to fold its
//! events, to follow one more, and to render its views. Both are kept the
//! same way (an append-only history, views beside it, one commit), so one
//! write path serves both.

use crate::error::Result;
use crate::event::Event;
use crate::fold::{self, Run};
use crate::goal::{self, Goal};
use crate::id::{EventId, GOAL_PREFIX};
use crate::resume::resume;
use crate::view;

pub(crate) trait Record: Sized {
    fn fold(events: Vec<Event>) -> Result<Self>;
    /// Follows one event that comes after every event folded so far.
    fn apply(&mut self, event: &Event);
    fn clock(&self) -> u64;
    fn heads(&self) -> &[EventId];
    /// Every view file: (path relative to the working tree, bytes).
    fn files(&self) -> Vec<(String, Vec<u8>)>;
}

impl Record for Run {
    fn fold(events: Vec<Event>) -> Result<Run> {
        fold::fold(events)
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
}

impl Record for Goal {
    fn fold(events: Vec<Event>) -> Result<Goal> {
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
}

/// The views of record `id` for these events: a goal's for a `WG-` id,
/// else a run's.
pub fn render_events(id: &str, events: Vec<Event>) -> Result<Vec<(String, Vec<u8>)>> {
    if is_goal(id) {
        Ok(Goal::fold(events)?.files())
    } else {
        Ok(Run::fold(events)?.files())
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
