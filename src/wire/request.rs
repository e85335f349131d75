//! The inputs of each verb, with the original's field names.
//!
//! Requests decoded straight from the wire refuse unknown fields: a misspelt
//! field is an error that lists the valid ones, never silently ignored. The
//! three whose wire form differs (`steps`, `shared_state` and `state_patch`
//! may come JSON-encoded in a string, as the original took them) are typed
//! here and decoded by the tool interface (`call`), so the library never
//! sees raw JSON.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::core::event::StepSpec;
use crate::core::template::Given;

use crate::core::error::{Error, Result};
use crate::core::model::{Condition, GoalStatus, Priority, RunStatus, StepStatus};

/// A new run. `steps` are validated by the library (plain unique keys).
#[derive(Debug, Clone, Default)]
pub struct OpenRequest {
    pub sid: String,
    pub goal: String,
    pub owner: Option<String>,
    pub priority: Option<Priority>,
    pub workflow_kind: Option<String>,
    pub steps: Vec<StepSpec>,
    pub next_action: Option<String>,
    pub shared_state: Option<Map<String, Value>>,
    pub idempotency_key: Option<String>,
    pub goal_id: Option<String>,
    pub protocol_task_id: Option<String>,
    /// Who opens the run; defaults to the caller's identity.
    pub actor: Option<String>,
    /// The template to expand the steps from (`.nexo/templates/<name>.yaml`).
    pub template: Option<String>,
    /// Values for the template's variables, in the order given.
    pub vars: Vec<(String, Given)>,
    /// What decoding changed in the caller's values, returned in the answer.
    pub warnings: Vec<String>,
}

/// Progress on a run; every field but `run_id` is optional.
#[derive(Debug, Clone, Default)]
pub struct UpdateRequest {
    pub run_id: String,
    pub step_key: Option<String>,
    pub step_title: Option<String>,
    pub step_status: Option<StepStatus>,
    pub run_status: Option<RunStatus>,
    pub checkpoint_label: Option<String>,
    pub summary: Option<String>,
    pub evidence: Option<String>,
    pub next_action: Option<String>,
    pub shared_state: Option<Map<String, Value>>,
    pub state_patch: Option<Map<String, Value>>,
    pub retry_after: Option<String>,
    pub retry_policy: Option<String>,
    pub compensation: Option<String>,
    pub actor: Option<String>,
    pub owner: Option<String>,
    pub max_retries: Option<u32>,
    pub requires_approval: Option<bool>,
    /// Replaces the step's dependencies (empty: none).
    pub needs: Option<Vec<String>>,
    /// The step's timer: an RFC 3339 time or a duration from now (empty:
    /// none).
    pub not_before: Option<String>,
    /// Take the step from whoever holds a live claim on it, on purpose
    /// (recorded as a stolen claim).
    pub steal: bool,
    /// What decoding changed in the caller's values, returned in the answer.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    pub run_id: String,
    /// Who asks: a step another holds is not offered to them. Defaults
    /// as every verb's actor does.
    #[serde(default)]
    pub actor: Option<String>,
}

/// A claim on a step (`nexo claim`, `nexo_workflow_claim`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    pub run_id: String,
    /// The step; without one, the step `resume` offers the actor.
    #[serde(default)]
    pub step_key: Option<String>,
    pub actor: String,
    /// The lease's length; `.nexo/config.yaml`'s `claims.ttl`, else 30
    /// minutes.
    #[serde(default)]
    pub ttl_seconds: Option<u64>,
    /// Make the claim hold at the remote: push it, and yield to a claim
    /// that got there first.
    #[serde(default)]
    pub sync: Option<bool>,
    /// Take the step from a live holder, on purpose.
    #[serde(default)]
    pub steal: Option<bool>,
    /// With `sync`: how long to go on while other clones keep moving the
    /// remote (`.nexo/config.yaml`'s `sync.timeout`, else 30 seconds).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

/// What any agent may take now (`nexo ready`, `nexo_workflow_ready`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadyRequest {
    /// Who asks: a step another holds is not ready for them.
    #[serde(default)]
    pub actor: Option<String>,
    /// Claim the best ready step, and the next if another agent wins it.
    #[serde(default)]
    pub claim: Option<bool>,
    /// How many steps to list (default 20; 0 means the default).
    #[serde(default)]
    pub limit: Option<usize>,
    /// The claim's lease, with `claim`.
    #[serde(default)]
    pub ttl_seconds: Option<u64>,
    /// Hold the claim at the remote, with `claim`.
    #[serde(default)]
    pub sync: Option<bool>,
    /// List the steps that are not ready too, with what each waits on.
    #[serde(default)]
    pub all: Option<bool>,
    /// With `claim` and `sync`: how long to go on while other clones keep
    /// moving the remote (`sync.timeout`, else 30 seconds).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

/// A wait until something holds of a run (`nexo wait`,
/// `nexo_workflow_wait`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitRequest {
    pub run_id: String,
    /// The step the condition is about; the run for `done`, `ready` and
    /// `changed` when absent.
    #[serde(default)]
    pub step_key: Option<String>,
    /// What to wait for.
    #[serde(rename = "for")]
    pub condition: Condition,
    /// How long to wait; none: until it holds (the tool interface always
    /// sets one, capped).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    /// Watch the git remote as well as this clone.
    #[serde(default)]
    pub sync: Option<bool>,
    /// Who asks, for `ready` (a step another holds is not ready for them).
    #[serde(default)]
    pub actor: Option<String>,
}

/// A holder letting go (`nexo release`, `nexo_workflow_release`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    pub run_id: String,
    /// The step; without one, the one step the actor holds on the run.
    #[serde(default)]
    pub step_key: Option<String>,
    pub actor: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    pub run_id: String,
    #[serde(default)]
    pub limit: Option<usize>,
}

/// A run handed to another owner.
#[derive(Debug, Clone, Default)]
pub struct HandoffRequest {
    pub run_id: String,
    pub actor: String,
    pub new_owner: Option<String>,
    pub handoff_note: Option<String>,
    pub next_action: Option<String>,
    pub shared_state: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetRequest {
    pub run_id: String,
    #[serde(default)]
    pub include_steps: Option<bool>,
    #[serde(default)]
    pub checkpoint_limit: Option<usize>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListRequest {
    #[serde(default, deserialize_with = "empty_as_none")]
    pub status: Option<RunStatus>,
    #[serde(default)]
    pub include_closed: Option<bool>,
    #[serde(default)]
    pub limit: Option<usize>,
    /// Also the runs of every other branch, remote-tracking branch and
    /// worktree, each labelled with where it lives.
    #[serde(default)]
    pub branches: Option<bool>,
    /// The archived runs instead (`nexo archive`), most recently
    /// archived first.
    #[serde(default)]
    pub archived: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompensationRequest {
    pub run_id: String,
    #[serde(default)]
    pub checkpoint_limit: Option<usize>,
}

/// An explicit approval or rejection. `reason` and `note` are the same
/// field, so both verbs read naturally.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    pub run_id: String,
    #[serde(alias = "key")]
    pub step_key: String,
    #[serde(default)]
    pub actor: Option<String>,
    #[serde(default, alias = "reason")]
    pub note: Option<String>,
    #[serde(default)]
    pub next_action: Option<String>,
}

/// Decodes a request from a JSON value, naming the tool in errors.
pub fn decode<T: DeserializeOwned>(tool: &str, value: Value) -> Result<T> {
    if !value.is_object() {
        return Err(Error::invalid(format!(
            "{tool}: the input must be a JSON object, got {}",
            kind_of(&value)
        )));
    }
    // serde quotes a bad value whole: a 10 MB one would be a 10 MB error.
    serde_json::from_value(value)
        .map_err(|e| Error::invalid(crate::core::limits::clip_message(format!("{tool}: {e}"))))
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads an optional field the original's schema fills with `""` when the
/// caller means "not sent" (`step_status`, `priority`, list `status`, ...):
/// absent, `null` and a blank string are all `None`.
pub fn empty_as_none<'de, D, T>(d: D) -> std::result::Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: DeserializeOwned,
{
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(v) => serde_json::from_value(v)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

/// A new goal (the original's `nexo_goal_open`).
#[derive(Debug, Clone, Default)]
pub struct GoalOpenRequest {
    pub sid: String,
    pub title: String,
    pub objective: Option<String>,
    pub parent_goal_id: Option<String>,
    pub priority: Option<Priority>,
    pub next_action: Option<String>,
    pub success_signal: Option<String>,
    pub owner: Option<String>,
    pub shared_state: Option<Map<String, Value>>,
    /// Who opens it; defaults to the owner, then the caller's identity.
    pub actor: Option<String>,
    /// What decoding changed in the caller's values, returned in the answer.
    pub warnings: Vec<String>,
}

/// A change to a goal; blank fields keep their values, as in the original.
#[derive(Debug, Clone, Default)]
pub struct GoalUpdateRequest {
    pub goal_id: String,
    pub status: Option<GoalStatus>,
    pub title: Option<String>,
    pub objective: Option<String>,
    pub parent_goal_id: Option<String>,
    pub next_action: Option<String>,
    pub success_signal: Option<String>,
    pub blocker_reason: Option<String>,
    pub owner: Option<String>,
    pub shared_state: Option<Map<String, Value>>,
    pub actor: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoalGetRequest {
    pub goal_id: String,
    #[serde(default)]
    pub include_runs: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoalListRequest {
    #[serde(default, deserialize_with = "empty_as_none")]
    pub status: Option<GoalStatus>,
    #[serde(default)]
    pub include_closed: Option<bool>,
    #[serde(default)]
    pub limit: Option<usize>,
}

/// A tool without fields (`nexo_workflow_sync`): anything sent is refused.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoFields {}
