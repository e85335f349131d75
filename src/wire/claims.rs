//! What the claim verbs answer: `claim`, `release`, `ready`.

use serde::Serialize;

use super::response::{ReadyItem, ResumeResponse};
use crate::core::fold::TakenFrom;
use crate::core::id::{EventId, RunId};
use crate::git::CommitInfo;

/// How a claim came to be held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimOutcome {
    /// The step was free.
    Claimed,
    /// The caller held it already: the lease is longer now.
    Renewed,
    /// The previous holder's lease had ended.
    TookOver,
    /// Taken from a live holder on purpose.
    Stole,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClaimResponse {
    pub ok: bool,
    pub run_id: RunId,
    pub step_key: String,
    pub holder: String,
    pub lease_until: String,
    pub token: String,
    pub ttl_seconds: u64,
    pub outcome: ClaimOutcome,
    /// The claim this one ended, on a takeover or a steal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub took_over: Option<TakenFrom>,
    /// The claim is at the remote (`sync: true`), and how it got there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync: Option<crate::wire::sync::SyncReport>,
    pub message: String,
    pub event_id: EventId,
    pub commit: CommitInfo,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReleaseResponse {
    pub ok: bool,
    pub run_id: RunId,
    pub step_key: String,
    pub holder: String,
    pub token: String,
    pub message: String,
    pub event_id: EventId,
    pub commit: CommitInfo,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReadyResponse {
    pub ok: bool,
    /// How many steps are ready now, across every open run.
    pub count: usize,
    pub message: String,
    /// Best first: the ready ones (with `all`, then the rest).
    pub steps: Vec<ReadyItem>,
    /// The step claimed, with `claim`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claimed: Option<ClaimResponse>,
    /// The claimed step's run, resumed for the caller.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume: Option<ResumeResponse>,
}
