//! `nexo archive`'s request and answer.

use serde::{Deserialize, Serialize};

use crate::git::CommitInfo;

/// Archive the closed runs last updated before a length of time ago.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveRequest {
    /// `30d`, `12h`, `0s`…: closed runs not updated since then (default 30d).
    #[serde(default)]
    pub closed_before: Option<String>,
    /// Name the runs, move nothing.
    #[serde(default)]
    pub dry_run: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ArchiveResponse {
    pub ok: bool,
    pub dry_run: bool,
    /// The cutoff `closed_before` named, as a time.
    pub closed_before: String,
    pub count: usize,
    pub runs: Vec<ArchivedRun>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<CommitInfo>,
    pub message: String,
}

/// One run `archive` moved (or, dry, would move).
#[derive(Debug, Clone, Serialize)]
pub struct ArchivedRun {
    pub run_id: String,
    pub status: crate::core::model::RunStatus,
    pub updated_at: String,
}
