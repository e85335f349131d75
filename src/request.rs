//! The inputs of each tool, with the original's field names.
//!
//! Every request refuses unknown fields: a misspelt field is an error that
//! lists the valid ones, never silently ignored. Fields that the original
//! took as JSON-encoded strings (`steps`, `shared_state`, `state_patch`) are
//! kept as raw values here and decoded by `api`, which accepts both forms.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::model::{Priority, RunStatus, StepStatus};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenRequest {
    pub sid: String,
    pub goal: String,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub priority: Option<Priority>,
    #[serde(default)]
    pub workflow_kind: Option<String>,
    #[serde(default)]
    pub steps: Option<Value>,
    #[serde(default)]
    pub next_action: Option<String>,
    #[serde(default)]
    pub shared_state: Option<Value>,
    #[serde(default)]
    pub idempotency_key: Option<String>,
    #[serde(default)]
    pub goal_id: Option<String>,
    /// Who opens the run; defaults to the caller's identity.
    #[serde(default)]
    pub actor: Option<String>,
}

/// One step of `open`'s `steps`: the seed writes `key`, the original read
/// `step_key`; both mean the same.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepInput {
    #[serde(alias = "step_key")]
    pub key: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub requires_approval: Option<bool>,
    #[serde(default)]
    pub max_retries: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateRequest {
    pub run_id: String,
    #[serde(default, alias = "key")]
    pub step_key: Option<String>,
    #[serde(default)]
    pub step_title: Option<String>,
    #[serde(default)]
    pub step_status: Option<StepStatus>,
    #[serde(default)]
    pub run_status: Option<RunStatus>,
    #[serde(default)]
    pub checkpoint_label: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub evidence: Option<String>,
    #[serde(default)]
    pub next_action: Option<String>,
    #[serde(default)]
    pub shared_state: Option<Value>,
    #[serde(default)]
    pub state_patch: Option<Value>,
    #[serde(default)]
    pub retry_after: Option<String>,
    #[serde(default)]
    pub retry_policy: Option<String>,
    #[serde(default)]
    pub compensation: Option<String>,
    #[serde(default)]
    pub actor: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub max_retries: Option<u32>,
    #[serde(default)]
    pub requires_approval: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    pub run_id: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    pub run_id: String,
    #[serde(default)]
    pub limit: Option<usize>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffRequest {
    pub run_id: String,
    pub actor: String,
    #[serde(default)]
    pub new_owner: Option<String>,
    #[serde(default)]
    pub handoff_note: Option<String>,
    #[serde(default)]
    pub next_action: Option<String>,
    #[serde(default)]
    pub shared_state: Option<Value>,
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
    #[serde(default)]
    pub status: Option<RunStatus>,
    #[serde(default)]
    pub include_closed: Option<bool>,
    #[serde(default)]
    pub limit: Option<usize>,
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
    serde_json::from_value(value).map_err(|e| Error::invalid(format!("{tool}: {e}")))
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
