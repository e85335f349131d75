//! A run's steps and their gates, as the fold keeps them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::core::approval::Refusal;
use crate::core::id::EventId;
use crate::core::model::StepStatus;

/// Whether an approval gate was opened or closed, and by whom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    pub decision: Verdict,
    pub by: String,
    pub at: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    pub via: Via,
    /// The decision's SSH signature verified for `by` (the `signed`
    /// policy); absent otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub verified: bool,
}

/// A decision, or an update passing a gate, that the approval policy did
/// not honour: recorded in the history, without effect on the state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unhonoured {
    pub event_id: EventId,
    pub step_key: String,
    pub actor: String,
    pub at: String,
    #[serde(flatten)]
    pub refusal: Refusal,
    /// The refusal in words.
    pub message: String,
}

/// How a gate's decision was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// An explicit `approve`.
    Approve,
    /// An explicit `reject`.
    Reject,
    /// The caller moved the gated step on with an update, which is
    /// recorded as their approval (the seed's behaviour).
    Update,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approved,
    Rejected,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Approved => "approved",
            Verdict::Rejected => "rejected",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A step. (The tool interface shows its absent texts as `""`, as the
/// original did: `response::StepOut`.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub step_key: String,
    pub title: String,
    /// Position in the run, from 0.
    pub order: usize,
    /// The original's sort key, from 1: as declared at open, else the
    /// step's position; a step added later takes the next one.
    pub step_index: u32,
    pub status: StepStatus,
    pub attempt_count: u32,
    pub max_retries: u32,
    pub retry_policy: Option<String>,
    pub retry_after: Option<String>,
    pub requires_approval: bool,
    /// Declared a human gate, or ever asked for approval (the original's
    /// rule); nexo treats a human gate as requiring approval.
    pub human_gate: bool,
    pub approval: Option<Approval>,
    /// Who asked for the gate now in force: under a strict approval
    /// policy they cannot decide it themselves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate_requested_by: Option<String>,
    /// The event that asked for the gate now in force: a decision passes
    /// it only if it followed that event (one made before the gate was
    /// last asked for answers an earlier request, whatever its clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate_event: Option<EventId>,
    pub compensation: Option<String>,
    pub last_summary: Option<String>,
    pub last_evidence: Option<String>,
    /// The last `state_patch` an update of this step carried.
    pub last_state_patch: Map<String, Value>,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    /// When the step was declared (the run's opening, or the update that
    /// added it).
    pub created_at: String,
    pub updated_at: String,
    /// The steps that must be completed or skipped before this one is
    /// ready; none in a run that is a sequence.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
    /// Other runs (`WF-X`) or their steps (`WF-X:step`) that must be
    /// completed first (judged when asked: the fold sees one run).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
    /// Not ready before this time (RFC 3339 UTC), whatever else holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    /// Who holds the step, then the claims that queued behind them
    /// (`fold::claim`); empty when nobody claims it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<super::Claim>,
    /// Claims that yielded the step to a rival (`released` as `lost`),
    /// one per holder, so a loser is told whom it lost to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub yielded: Vec<super::Claim>,
    /// The update that last moved the step's status: a request for
    /// approval that did not see it takes the move back (`fold::unseen`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved_by: Option<Mover>,
}

/// Who moved a step (or completed a run), in which event, and when; and
/// what it changed, so that taking the move back undoes it whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mover {
    pub event_id: EventId,
    pub actor: String,
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Box<Before>>,
}

/// A step and its run as they were before a move, and the run's status
/// the move left (`fold::unseen`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Before {
    pub status: StepStatus,
    pub attempt_count: u32,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<super::Claim>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub yielded: Vec<super::Claim>,
    pub run_status: crate::core::model::RunStatus,
    pub run_closed_at: Option<String>,
    /// The run's status right after the move: restored from `run_status`
    /// only while the run still reads so.
    pub run_after: crate::core::model::RunStatus,
}

impl Step {
    pub(super) fn new(key: &str, title: &str, order: usize, step_index: u32, at: &str) -> Step {
        Step {
            step_key: key.to_string(),
            title: title.to_string(),
            order,
            step_index,
            status: StepStatus::Pending,
            attempt_count: 0,
            max_retries: 0,
            retry_policy: None,
            retry_after: None,
            requires_approval: false,
            human_gate: false,
            approval: None,
            gate_requested_by: None,
            gate_event: None,
            compensation: None,
            last_summary: None,
            last_evidence: None,
            last_state_patch: Map::new(),
            started_at: None,
            completed_at: None,
            created_at: at.to_string(),
            updated_at: at.to_string(),
            needs: Vec::new(),
            after: Vec::new(),
            not_before: None,
            claims: Vec::new(),
            yielded: Vec::new(),
            moved_by: None,
        }
    }

    /// An approval gate that is closed: the step needs an approval it does
    /// not have and its work is not done.
    /// A gate: the step requires approval, or was put in
    /// `waiting_approval` (a gate without the flag, as in the original),
    /// and its work is not done or approved.
    pub fn awaits_approval(&self) -> bool {
        (self.requires_approval || self.status == StepStatus::WaitingApproval)
            && !self.status.is_done()
            && self
                .approval
                .as_ref()
                .is_none_or(|a| a.decision != Verdict::Approved)
    }

    pub fn is_rejected(&self) -> bool {
        !self.status.is_done()
            && self
                .approval
                .as_ref()
                .is_some_and(|a| a.decision == Verdict::Rejected)
    }

    /// Waiting at its gate right now (as opposed to a gated step that is
    /// still far ahead in the plan).
    pub fn held_at_gate(&self) -> bool {
        self.awaits_approval()
            && matches!(
                self.status,
                StepStatus::Blocked | StepStatus::WaitingApproval
            )
    }
}
