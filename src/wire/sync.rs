//! What exchanging runs with other clones answers: `sync` and `resolve`.

use serde::Serialize;

impl SyncReport {
    /// A sync with `upstream` that has done nothing yet.
    pub fn new(upstream: &str) -> SyncReport {
        SyncReport {
            ok: true,
            upstream: upstream.to_string(),
            committed: None,
            pulled: false,
            resolved: Vec::new(),
            refreshed: Vec::new(),
            pushed: false,
            attempts: 0,
            yielded: Vec::new(),
        }
    }
}

/// What `sync` did.
#[derive(Debug, Clone, Serialize)]
pub struct SyncReport {
    pub ok: bool,
    pub upstream: String,
    /// The commit of pending changes made before pulling.
    pub committed: Option<String>,
    pub pulled: bool,
    pub resolved: Vec<String>,
    pub refreshed: Vec<String>,
    pub pushed: bool,
    pub attempts: usize,
    /// Claims of this clone's that yielded to one already at the remote.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub yielded: Vec<Yielded>,
}

/// A claim of this clone's that yielded to one already at the remote.
#[derive(Debug, Clone, Serialize)]
pub struct Yielded {
    pub run_id: String,
    pub step_key: String,
    pub holder: String,
    pub token: String,
    /// Who holds the step instead.
    pub to: String,
}

/// What `resolve` settled.
#[derive(Debug, Clone, Serialize)]
pub struct ResolveReport {
    pub ok: bool,
    pub resolved: Vec<String>,
    pub still_conflicted: Vec<String>,
    pub next: String,
}
