//! What `nexo events` (and `nexo_workflow_events`' kin) take and answer.

use serde::Serialize;

use crate::core::feed::Item;
use crate::core::model::FeedKind;

/// Which events a feed tells: of one run, of some kinds (none: all).
#[derive(Debug, Clone, Default)]
pub struct FeedFilter {
    /// A run id or unique prefix.
    pub run_id: Option<String>,
    pub kinds: Vec<FeedKind>,
}

/// What `nexo events` answers. `Events` is how the items are held: a
/// `Vec`, or (the CLI's) a file they were spilled to as they were told,
/// written out in the same shape.
#[derive(Debug, Clone, Serialize)]
pub struct EventsResponse<Events = Vec<Item>> {
    pub ok: bool,
    pub count: usize,
    pub events: Events,
    /// Where this answer stopped: pass it as `--since` next time.
    pub cursor: String,
}
