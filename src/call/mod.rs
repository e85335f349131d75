//! NEXO's tool interface: a tool name and a JSON object in, one JSON object
//! out. `nexo call` and the MCP server both dispatch through here, so they
//! accept and return exactly the same things.

use serde::Serialize;
use serde_json::Value;

use crate::api::Nexo;
use crate::error::{Error, Result};
use crate::request::decode;

mod tool;
mod wire;

pub use tool::Tool;

fn to_value<T: Serialize>(v: T) -> Result<Value> {
    Ok(serde_json::to_value(v).expect("responses always serialize"))
}

/// Runs one tool with an already-parsed JSON input.
pub fn call(nexo: &Nexo, tool: &str, input: Value) -> Result<Value> {
    let input = match input {
        // `--input ''` or no input: an empty object, so tools without
        // required fields (list) still work.
        Value::Null => Value::Object(Default::default()),
        other => other,
    };
    let tool = Tool::parse(tool).ok_or_else(|| unknown_tool(tool))?;
    let name = tool.name();
    match tool {
        Tool::WorkflowOpen => to_value(nexo.open(decode::<wire::Open>(name, input)?.try_into()?)?),
        Tool::WorkflowUpdate => {
            to_value(nexo.update(decode::<wire::Update>(name, input)?.try_into()?)?)
        }
        Tool::WorkflowResume => to_value(nexo.resume(decode(name, input)?)?),
        Tool::WorkflowReplay => to_value(nexo.replay(decode(name, input)?)?),
        Tool::WorkflowHandoff => {
            to_value(nexo.handoff(decode::<wire::Handoff>(name, input)?.try_into()?)?)
        }
        Tool::WorkflowGet => to_value(nexo.get(decode(name, input)?)?),
        Tool::WorkflowList => to_value(nexo.list(decode(name, input)?)?),
        Tool::WorkflowCompensation => to_value(nexo.compensation(decode(name, input)?)?),
        Tool::WorkflowApprove => to_value(nexo.approve(decode(name, input)?)?),
        Tool::WorkflowReject => to_value(nexo.reject(decode(name, input)?)?),
        Tool::WorkflowSync => {
            decode::<crate::request::NoFields>(name, input)?;
            to_value(nexo.sync()?)
        }
        Tool::GoalOpen => {
            to_value(nexo.goal_open(decode::<wire::GoalOpen>(name, input)?.try_into()?)?)
        }
        Tool::GoalUpdate => {
            to_value(nexo.goal_update(decode::<wire::GoalUpdate>(name, input)?.try_into()?)?)
        }
        Tool::GoalGet => to_value(nexo.goal_get(decode(name, input)?)?),
        Tool::GoalList => to_value(nexo.goal_list(decode(name, input)?)?),
    }
}

/// What a tool's description adds under a strict approval policy, so an
/// agent reads the rule before it tries to pass a gate.
pub fn policy_note(approvals: &crate::approval::Approvals, tool: Tool) -> Option<String> {
    use crate::approval::Policy;
    if !approvals.policy.is_strict() {
        return None;
    }
    let who = approvals.approvers.join(", ");
    let own = if approvals.self_approval {
        ""
    } else {
        " The run's owner and whoever asked for the gate cannot decide it."
    };
    let signed = if approvals.policy == Policy::Signed {
        " Each decision is signed with git's user.signingkey and must verify against .nexo/allowed_signers."
    } else {
        ""
    };
    match tool {
        Tool::WorkflowApprove | Tool::WorkflowReject => Some(format!(
            "Approval policy {}: only {who} may decide.{own}{signed}",
            approvals.policy.as_str()
        )),
        Tool::WorkflowUpdate => Some(format!(
            "Approval policy {}: an update cannot pass an approval gate; an approver ({who}) uses nexo_workflow_approve.",
            approvals.policy.as_str()
        )),
        _ => None,
    }
}

pub fn is_tool(name: &str) -> bool {
    Tool::parse(name).is_some()
}

pub fn unknown_tool(name: &str) -> Error {
    Error::invalid(format!(
        "unknown tool {}: expected one of {}",
        crate::limits::quote(name),
        Tool::ALL
            .iter()
            .map(|t| t.name())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// The JSON object printed for a failure.
pub fn error_value(err: &Error) -> Value {
    let mut v = serde_json::json!({
        "ok": false,
        "error": err.message_with_causes(),
        "error_kind": err.kind.as_str(),
    });
    if let Some(hint) = &err.hint {
        v["hint"] = Value::String(hint.clone());
    }
    for (field, value) in &err.details {
        v[*field] = value.clone();
    }
    v
}
