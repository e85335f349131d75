//! NEXO's tool interface: a tool name and a JSON object in, one JSON object
//! out. `nexo call` and the MCP server both dispatch through here, so they
//! accept and return exactly the same things.
//!
//! An adapter: may import `api`, and `core` and `wire` for types.

use serde::Serialize;
use serde_json::Value;

use crate::api::Nexo;
use crate::core::error::{Error, Result};
use crate::wire::request::{self as req, decode};

mod tool;
mod wire;

pub use tool::Tool;

fn to_value<T: Serialize>(v: T) -> Result<Value> {
    Ok(serde_json::to_value(v).expect("responses always serialize"))
}

/// A tool's input, decoded into the request its verb takes.
enum Request {
    Open(req::OpenRequest),
    Update(req::UpdateRequest),
    Resume(req::RunRequest),
    Replay(req::ReplayRequest),
    Handoff(req::HandoffRequest),
    Get(req::GetRequest),
    List(req::ListRequest),
    Compensation(req::CompensationRequest),
    Approve(req::DecisionRequest),
    Reject(req::DecisionRequest),
    Claim(req::ClaimRequest),
    Release(req::ReleaseRequest),
    Ready(req::ReadyRequest),
    Wait(req::WaitRequest),
    Sync,
    GoalOpen(req::GoalOpenRequest),
    GoalUpdate(req::GoalUpdateRequest),
    GoalGet(req::GoalGetRequest),
    GoalList(req::GoalListRequest),
}

/// Decodes `input` for `tool`: the original's field shapes (wire) and
/// nexo's checks of them, before any verb runs.
fn decode_input(tool: Tool, input: Value) -> Result<Request> {
    let input = match input {
        // `--input ''` or no input: an empty object, so tools without
        // required fields (list) still work.
        Value::Null => Value::Object(Default::default()),
        other => other,
    };
    let name = tool.name();
    Ok(match tool {
        Tool::WorkflowOpen => Request::Open(decode::<wire::Open>(name, input)?.try_into()?),
        Tool::WorkflowUpdate => Request::Update(decode::<wire::Update>(name, input)?.try_into()?),
        Tool::WorkflowResume => Request::Resume(decode(name, input)?),
        Tool::WorkflowReplay => Request::Replay(decode(name, input)?),
        Tool::WorkflowHandoff => {
            Request::Handoff(decode::<wire::Handoff>(name, input)?.try_into()?)
        }
        Tool::WorkflowGet => Request::Get(decode(name, input)?),
        Tool::WorkflowList => Request::List(decode(name, input)?),
        Tool::WorkflowCompensation => Request::Compensation(decode(name, input)?),
        Tool::WorkflowApprove => Request::Approve(decode(name, input)?),
        Tool::WorkflowReject => Request::Reject(decode(name, input)?),
        Tool::WorkflowClaim => Request::Claim(decode(name, input)?),
        Tool::WorkflowRelease => Request::Release(decode(name, input)?),
        Tool::WorkflowReady => Request::Ready(decode(name, input)?),
        Tool::WorkflowWait => Request::Wait(capped(decode(name, input)?)),
        Tool::WorkflowSync => {
            decode::<req::NoFields>(name, input)?;
            Request::Sync
        }
        Tool::GoalOpen => Request::GoalOpen(decode::<wire::GoalOpen>(name, input)?.try_into()?),
        Tool::GoalUpdate => {
            Request::GoalUpdate(decode::<wire::GoalUpdate>(name, input)?.try_into()?)
        }
        Tool::GoalGet => Request::GoalGet(decode(name, input)?),
        Tool::GoalList => Request::GoalList(decode(name, input)?),
    })
}

/// The input fields `tool` accepts, as its decoder knows them (every
/// input type refuses unknown fields, and serde names the ones it
/// expects), so the MCP schemas can be checked against them.
pub fn accepted_fields(tool: Tool) -> Vec<String> {
    const PROBE: &str = "__nexo_probe__";
    let input = serde_json::json!({ PROBE: 0 });
    let Err(e) = decode_input(tool, input) else {
        return Vec::new();
    };
    assert!(
        e.message.chars().count() < crate::core::limits::MAX_MESSAGE_CHARS,
        "{tool}'s field list outgrew limits::MAX_MESSAGE_CHARS"
    );
    // serde says "expected `a`", "expected `a` or `b`" or "expected one
    // of `a`, `b`, `c`".
    let Some((_, expected)) = e.message.split_once("expected ") else {
        return Vec::new();
    };
    expected
        .trim_start_matches("one of ")
        .split(", ")
        .flat_map(|part| part.split(" or "))
        .map(|f| f.trim().trim_matches('`').to_string())
        .filter(|f| !f.is_empty())
        .collect()
}

/// The input schema of `tool`, where it is derived from the declaration
/// its input decodes with (`nexo_workflow_open`'s): the MCP server serves
/// it as it is, so a field added there is listed with its description.
pub fn derived_schema(tool: Tool) -> Option<serde_json::Map<String, Value>> {
    match tool {
        Tool::WorkflowOpen => Some(wire::open_schema()),
        _ => None,
    }
}

/// How long `nexo_workflow_wait` waits when the caller names no timeout.
pub const WAIT_DEFAULT_SECONDS: u64 = 60;
/// The longest a tool call may wait: a client's request must not hang for
/// ever (many give up after a few minutes); a longer timeout is cut to
/// this, and the caller waits again.
pub const WAIT_CAP_SECONDS: u64 = 300;

/// A tool's wait always ends: the caller's timeout, capped.
fn capped(mut r: req::WaitRequest) -> req::WaitRequest {
    r.timeout_seconds = Some(
        r.timeout_seconds
            .unwrap_or(WAIT_DEFAULT_SECONDS)
            .min(WAIT_CAP_SECONDS),
    );
    r
}

/// Runs one tool with an already-parsed JSON input.
pub fn call(nexo: &Nexo, tool: &str, input: Value) -> Result<Value> {
    let tool = Tool::parse(tool).ok_or_else(|| unknown_tool(tool))?;
    match decode_input(tool, input)? {
        Request::Open(r) => to_value(nexo.open(r)?),
        Request::Update(r) => to_value(nexo.update(r)?),
        Request::Resume(r) => to_value(nexo.resume(r)?),
        Request::Replay(r) => to_value(nexo.replay(r)?),
        Request::Handoff(r) => to_value(nexo.handoff(r)?),
        Request::Get(r) => to_value(nexo.get(r)?),
        Request::List(r) => to_value(nexo.list(r)?),
        Request::Compensation(r) => to_value(nexo.compensation(r)?),
        Request::Approve(r) => to_value(nexo.approve(r)?),
        Request::Reject(r) => to_value(nexo.reject(r)?),
        Request::Claim(r) => to_value(nexo.claim(r)?),
        Request::Release(r) => to_value(nexo.release(r)?),
        Request::Ready(r) => to_value(nexo.ready(r)?),
        Request::Wait(r) => to_value(nexo.wait(r)?),
        Request::Sync => to_value(nexo.sync()?),
        Request::GoalOpen(r) => to_value(nexo.goal_open(r)?),
        Request::GoalUpdate(r) => to_value(nexo.goal_update(r)?),
        Request::GoalGet(r) => to_value(nexo.goal_get(r)?),
        Request::GoalList(r) => to_value(nexo.goal_list(r)?),
    }
}

/// What a tool's description adds under a strict approval policy, so an
/// agent reads the rule before it tries to pass a gate.
pub fn policy_note(approvals: &crate::core::approval::Approvals, tool: Tool) -> Option<String> {
    use crate::core::approval::Policy;
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
        crate::core::limits::quote(name),
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
    if err.kind.retryable() {
        v["retryable"] = Value::Bool(true);
    }
    for (field, value) in &err.details {
        v[*field] = value.clone();
    }
    v
}
