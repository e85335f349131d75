//! The wire forms of the three requests whose JSON differs from the
//! library's types: `steps` may be a list or that list JSON-encoded in a
//! string, each step may say `key` or `step_key` and may leave out its
//! title, and `shared_state` / `state_patch` may be an object or one
//! JSON-encoded in a string (the original runtime's forms). Every other
//! request decodes straight into its library type.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::event::StepSpec;
use crate::json::value_or_encoded;
use crate::model::{Priority, RunStatus, StepStatus};
use crate::request::{HandoffRequest, OpenRequest, UpdateRequest, empty_as_none};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Open {
    sid: String,
    goal: String,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    priority: Option<Priority>,
    #[serde(default)]
    workflow_kind: Option<String>,
    #[serde(default)]
    steps: Option<Value>,
    #[serde(default)]
    next_action: Option<String>,
    #[serde(default)]
    shared_state: Option<Value>,
    #[serde(default)]
    idempotency_key: Option<String>,
    #[serde(default)]
    goal_id: Option<String>,
    #[serde(default)]
    actor: Option<String>,
}

/// One step of `open`'s `steps`: the seed writes `key`, the original read
/// `step_key`; both mean the same.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepInput {
    #[serde(alias = "step_key")]
    key: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    requires_approval: Option<bool>,
    #[serde(default)]
    max_retries: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Update {
    run_id: String,
    #[serde(default, alias = "key")]
    step_key: Option<String>,
    #[serde(default)]
    step_title: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    step_status: Option<StepStatus>,
    #[serde(default, deserialize_with = "empty_as_none")]
    run_status: Option<RunStatus>,
    #[serde(default)]
    checkpoint_label: Option<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    evidence: Option<String>,
    #[serde(default)]
    next_action: Option<String>,
    #[serde(default)]
    shared_state: Option<Value>,
    #[serde(default)]
    state_patch: Option<Value>,
    #[serde(default)]
    retry_after: Option<String>,
    #[serde(default)]
    retry_policy: Option<String>,
    #[serde(default)]
    compensation: Option<String>,
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    max_retries: Option<u32>,
    #[serde(default)]
    requires_approval: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Handoff {
    run_id: String,
    actor: String,
    #[serde(default)]
    new_owner: Option<String>,
    #[serde(default)]
    handoff_note: Option<String>,
    #[serde(default)]
    next_action: Option<String>,
    #[serde(default)]
    shared_state: Option<Value>,
}

/// A JSON object, or one encoded in a string; null and `""` (the
/// original's "not sent") are absent.
fn map(value: Option<Value>, field: &str) -> Result<Option<Map<String, Value>>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(v) => value_or_encoded::<Map<String, Value>>(v, field)
            .map(Some)
            .map_err(|e| Error::invalid(format!("{} (expected a JSON object)", e.message))),
    }
}

fn steps(value: Option<Value>) -> Result<Vec<StepSpec>> {
    let inputs: Vec<StepInput> = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(v) => value_or_encoded(v, "steps").map_err(|e| {
            Error::invalid(format!(
                "{} (expected a list like [{{\"key\":\"doctor\",\"title\":\"Run checks\"}}])",
                e.message
            ))
        })?,
    };
    let given = |s: Option<String>| s.filter(|v| !v.trim().is_empty());
    inputs
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let key = given(s.key).ok_or_else(|| {
                Error::invalid(format!("steps[{i}] has no \"key\" (or \"step_key\")"))
            })?;
            Ok(StepSpec {
                title: given(s.title).unwrap_or_else(|| key.clone()),
                key,
                requires_approval: s.requires_approval.unwrap_or(false),
                max_retries: s.max_retries,
            })
        })
        .collect()
}

impl TryFrom<Open> for OpenRequest {
    type Error = Error;
    fn try_from(w: Open) -> Result<OpenRequest> {
        Ok(OpenRequest {
            sid: w.sid,
            goal: w.goal,
            owner: w.owner,
            priority: w.priority,
            workflow_kind: w.workflow_kind,
            steps: steps(w.steps)?,
            next_action: w.next_action,
            shared_state: map(w.shared_state, "shared_state")?,
            idempotency_key: w.idempotency_key,
            goal_id: w.goal_id,
            actor: w.actor,
        })
    }
}

impl TryFrom<Update> for UpdateRequest {
    type Error = Error;
    fn try_from(w: Update) -> Result<UpdateRequest> {
        Ok(UpdateRequest {
            run_id: w.run_id,
            step_key: w.step_key,
            step_title: w.step_title,
            step_status: w.step_status,
            run_status: w.run_status,
            checkpoint_label: w.checkpoint_label,
            summary: w.summary,
            evidence: w.evidence,
            next_action: w.next_action,
            shared_state: map(w.shared_state, "shared_state")?,
            state_patch: map(w.state_patch, "state_patch")?,
            retry_after: w.retry_after,
            retry_policy: w.retry_policy,
            compensation: w.compensation,
            actor: w.actor,
            owner: w.owner,
            max_retries: w.max_retries,
            requires_approval: w.requires_approval,
        })
    }
}

impl TryFrom<Handoff> for HandoffRequest {
    type Error = Error;
    fn try_from(w: Handoff) -> Result<HandoffRequest> {
        Ok(HandoffRequest {
            run_id: w.run_id,
            actor: w.actor,
            new_owner: w.new_owner,
            handoff_note: w.handoff_note,
            next_action: w.next_action,
            shared_state: map(w.shared_state, "shared_state")?,
        })
    }
}
