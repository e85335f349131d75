//! NEXO's tool interface: a tool name and a JSON object in, one JSON object
//! out. `nexo call` and the MCP server both dispatch through here, so they
//! accept and return exactly the same things.

use serde::Serialize;
use serde_json::Value;

use crate::api::Nexo;
use crate::error::{Error, Result};
use crate::request::decode;

mod wire;

/// Every tool, with a one-line description (shown by `nexo call --help`
/// and served to MCP clients).
pub const TOOLS: &[(&str, &str)] = &[
    (
        "nexo_workflow_open",
        "Open a durable workflow run: a goal, ordered steps, an owner and a next action.",
    ),
    (
        "nexo_workflow_update",
        "Record progress on a run: a step's status, summary, evidence, retries, approval gate, next action.",
    ),
    (
        "nexo_workflow_resume",
        "Ask for the next honest action on a run.",
    ),
    (
        "nexo_workflow_replay",
        "Show a run's recent execution history, newest first.",
    ),
    (
        "nexo_workflow_handoff",
        "Hand a run to another owner (client, agent or person) with a note and next action.",
    ),
    (
        "nexo_workflow_get",
        "Show a run's full stored state, its steps and recent checkpoints.",
    ),
    (
        "nexo_workflow_list",
        "List runs, most recently updated first; closed runs are hidden unless asked for.",
    ),
    (
        "nexo_workflow_compensation",
        "Show the compensating actions for the work a run has done, in the order to apply them.",
    ),
    (
        "nexo_workflow_approve",
        "Approve a step that waits at an approval gate, recording who approved and why.",
    ),
    (
        "nexo_workflow_reject",
        "Reject a step that waits at an approval gate, recording who rejected it and why.",
    ),
    (
        "nexo_workflow_sync",
        "Share this repository's runs with other machines: commit pending changes, pull (merge or rebase as git is configured), settle .nexo/, push. Call it after a handoff.",
    ),
    (
        "nexo_goal_open",
        "Open a durable goal so multi-session objectives stay explicit; runs link to it through goal_id.",
    ),
    (
        "nexo_goal_update",
        "Update a goal: active, blocked, abandoned, completed or cancelled, its next action and blocker.",
    ),
    (
        "nexo_goal_get",
        "Read a goal with its run counts, and its linked runs when include_runs is true.",
    ),
    (
        "nexo_goal_list",
        "List goals, most recently updated first; closed goals are hidden unless asked for.",
    ),
];

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
    match tool {
        "nexo_workflow_open" => {
            to_value(nexo.open(decode::<wire::Open>(tool, input)?.try_into()?)?)
        }
        "nexo_workflow_update" => {
            to_value(nexo.update(decode::<wire::Update>(tool, input)?.try_into()?)?)
        }
        "nexo_workflow_resume" => to_value(nexo.resume(decode(tool, input)?)?),
        "nexo_workflow_replay" => to_value(nexo.replay(decode(tool, input)?)?),
        "nexo_workflow_handoff" => {
            to_value(nexo.handoff(decode::<wire::Handoff>(tool, input)?.try_into()?)?)
        }
        "nexo_workflow_get" => to_value(nexo.get(decode(tool, input)?)?),
        "nexo_workflow_list" => to_value(nexo.list(decode(tool, input)?)?),
        "nexo_workflow_compensation" => to_value(nexo.compensation(decode(tool, input)?)?),
        "nexo_workflow_approve" => to_value(nexo.approve(decode(tool, input)?)?),
        "nexo_workflow_reject" => to_value(nexo.reject(decode(tool, input)?)?),
        "nexo_workflow_sync" => {
            decode::<crate::request::NoFields>(tool, input)?;
            to_value(nexo.sync()?)
        }
        "nexo_goal_open" => {
            to_value(nexo.goal_open(decode::<wire::GoalOpen>(tool, input)?.try_into()?)?)
        }
        "nexo_goal_update" => {
            to_value(nexo.goal_update(decode::<wire::GoalUpdate>(tool, input)?.try_into()?)?)
        }
        "nexo_goal_get" => to_value(nexo.goal_get(decode(tool, input)?)?),
        "nexo_goal_list" => to_value(nexo.goal_list(decode(tool, input)?)?),
        other => Err(unknown_tool(other)),
    }
}

/// What a tool's description adds under a strict approval policy, so an
/// agent reads the rule before it tries to pass a gate.
pub fn policy_note(approvals: &crate::approval::Approvals, tool: &str) -> Option<String> {
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
        "nexo_workflow_approve" | "nexo_workflow_reject" => Some(format!(
            "Approval policy {}: only {who} may decide.{own}{signed}",
            approvals.policy.as_str()
        )),
        "nexo_workflow_update" => Some(format!(
            "Approval policy {}: an update cannot pass an approval gate; an approver ({who}) uses nexo_workflow_approve.",
            approvals.policy.as_str()
        )),
        _ => None,
    }
}

pub fn is_tool(name: &str) -> bool {
    TOOLS.iter().any(|(n, _)| *n == name)
}

pub fn unknown_tool(name: &str) -> Error {
    Error::invalid(format!(
        "unknown tool {}: expected one of {}",
        crate::limits::quote(name),
        TOOLS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
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
