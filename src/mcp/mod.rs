//! `nexo mcp`: the tool interface over the Model Context Protocol (stdio).
//! An adapter: it reaches the library through `nexo::api` and `nexo::call`.
//!
//! Every tool `nexo call` knows is served under the same name, with an
//! input schema that documents each field, and dispatched through the same
//! `call::call`, so inputs, outputs and errors are identical. A failure is
//! an MCP *tool* error whose content is the CLI's `{"ok": false, ...}`
//! object, so the agent can read it. Tokio exists only inside this command.

use std::path::PathBuf;
use std::sync::Arc;

use rmcp::ServiceExt;
use rmcp::handler::server::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, GetPromptRequestParams,
    GetPromptResponse, GetPromptResult, Implementation, ListPromptsResult, ListToolsResult,
    PaginatedRequestParams, Prompt, PromptMessage, Role, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use serde_json::{Map, Value, json};

use nexo::api::{Nexo, Options};
use nexo::call::{self, Tool as NexoTool};
use nexo::core::error::{Error, Result};
use nexo::core::model::{Condition, GoalStatus, RunStatus, StepStatus};

mod wire;

/// Serves MCP on standard input and output until the client disconnects.
pub fn serve(repo: PathBuf, options: Options) -> Result<()> {
    // Fail before the handshake if the repository is not usable.
    Nexo::discover(&repo, options.clone())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            Error::new(
                nexo::ErrorKind::Io,
                format!("cannot start the MCP runtime: {e}"),
            )
        })?;
    runtime.block_on(async move {
        let (transport, writer) = wire::guarded_stdio();
        let server = NexoServer { repo, options }
            .serve(transport)
            .await
            .map_err(|e| Error::new(nexo::ErrorKind::Io, format!("MCP handshake failed: {e}")))?;
        server
            .waiting()
            .await
            .map_err(|e| Error::new(nexo::ErrorKind::Io, format!("MCP server stopped: {e}")))?;
        // Everything the server said reaches standard output before exit.
        let _ = writer.await;
        Ok(())
    })
}

/// The MCP prompt that serves `nexo prime`'s text.
const PRIMER_PROMPT: &str = "nexo_primer";

struct NexoServer {
    repo: PathBuf,
    options: Options,
}

impl NexoServer {
    fn run(&self, tool: &str, args: Option<Map<String, Value>>) -> CallToolResult {
        let input = Value::Object(args.unwrap_or_default());
        let result = Nexo::discover(&self.repo, self.options.clone())
            .and_then(|nexo| call::call(&nexo, tool, input));
        match result {
            Ok(value) => CallToolResult::structured(value),
            Err(err) => CallToolResult::structured_error(call::error_value(&err)),
        }
    }
}

impl ServerHandler for NexoServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_prompts()
                .build(),
        )
            .with_server_info(Implementation::new("nexo", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Durable workflow runs kept in this git repository. Open a run for multi-step work \
                 (nexo_workflow_open), record each step's progress and evidence (nexo_workflow_update), \
                 and when a session starts or resumes, ask nexo_workflow_resume for the next honest \
                 action instead of reconstructing it from memory. Hand off with nexo_workflow_handoff.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> std::result::Result<ListToolsResult, rmcp::ErrorData> {
        // The policy is read on every listing: it is committed config and
        // may change under a long-lived server.
        let approvals = Nexo::discover(&self.repo, self.options.clone())
            .map(|n| n.approvals().clone())
            .unwrap_or_default();
        Ok(ListToolsResult::with_all_items(tools(&approvals)))
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> std::result::Result<ListPromptsResult, rmcp::ErrorData> {
        Ok(ListPromptsResult::with_all_items(vec![Prompt::new(
            PRIMER_PROMPT,
            Some(
                "The open runs of this repository by what needs attention, or how to use nexo when there are none (what `nexo prime` prints).",
            ),
            None,
        )]))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> std::result::Result<GetPromptResponse, rmcp::ErrorData> {
        if request.name != PRIMER_PROMPT {
            return Err(rmcp::ErrorData::invalid_params(
                format!(
                    "unknown prompt {:?}: the one prompt is {PRIMER_PROMPT}",
                    request.name
                ),
                None,
            ));
        }
        let text = Nexo::discover(&self.repo, self.options.clone())
            .and_then(|n| n.prime(10, Some(8_000)))
            .map(|p| p.text)
            .map_err(|e| rmcp::ErrorData::internal_error(e.full(), None))?;
        Ok(
            GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)])
                .with_description("nexo: what to know before working in this repository")
                .into(),
        )
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> std::result::Result<CallToolResponse, rmcp::ErrorData> {
        let Some(tool) = NexoTool::parse(&request.name) else {
            return Err(rmcp::ErrorData::invalid_params(
                call::unknown_tool(&request.name).message,
                None,
            ));
        };
        // Arguments that do not fit the tool's input schema (an unknown
        // field, a wrong JSON type, a missing required field) are invalid
        // params; values of the right type that nexo refuses (an unknown
        // status word, an empty goal) are tool errors the model can read.
        if let Some(problem) = schema_mismatch(&input_schema(tool), request.arguments.as_ref()) {
            return Err(rmcp::ErrorData::invalid_params(
                format!("{}: {problem}", request.name),
                None,
            ));
        }
        // nexo's work is short, synchronous file and git I/O: run it right
        // here on the single runtime thread.
        Ok(self.run(&request.name, request.arguments).into())
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        tools(&Default::default())
            .into_iter()
            .find(|t| t.name == name)
    }
}

/// Why `args` does not fit `schema` (fields, JSON types, required), if
/// it does not.
fn schema_mismatch(
    schema: &Map<String, Value>,
    args: Option<&Map<String, Value>>,
) -> Option<String> {
    let empty = Map::new();
    let args = args.unwrap_or(&empty);
    let properties = schema["properties"].as_object()?;
    for (name, value) in args {
        let Some(property) = properties.get(name) else {
            let mut known: Vec<&str> = properties.keys().map(String::as_str).collect();
            known.sort_unstable();
            return Some(format!(
                "unknown field `{name}`, expected one of {}",
                known.join(", ")
            ));
        };
        let types: Vec<&str> = match &property["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => continue,
        };
        let fits = |t: &str| match t {
            "string" => value.is_string(),
            "boolean" => value.is_boolean(),
            "integer" => value.is_u64() || value.is_i64(),
            "number" => value.is_number(),
            "object" => value.is_object(),
            "array" => value.is_array(),
            _ => true,
        };
        if !value.is_null() && !types.iter().any(|t| fits(t)) {
            return Some(format!("field `{name}` must be {}", types.join(" or ")));
        }
    }
    let required = schema["required"].as_array()?;
    for r in required.iter().filter_map(Value::as_str) {
        if args.get(r).is_none_or(Value::is_null) {
            return Some(format!("missing field `{r}`"));
        }
    }
    None
}

/// The words of a closed set, and `""`, which the original's schema sends
/// for "not sent".
fn words<T: Copy + std::fmt::Display>(all: &[T]) -> Vec<Value> {
    all.iter()
        .map(|v| Value::String(v.to_string()))
        .chain([json!("")])
        .collect()
}

fn string(desc: &str) -> Value {
    json!({"type": "string", "description": desc})
}

fn object_or_string(desc: &str) -> Value {
    json!({"type": ["object", "string"], "description": format!("{desc} A JSON object, or the same object encoded as a JSON string (as older clients send it).")})
}

fn goal_id() -> Value {
    string("The goal id (WG-...), or any unique prefix of it.")
}

fn priority() -> Value {
    string(
        "low, normal, high or critical. Default normal; another word is read as normal, with a warning.",
    )
}

/// `nexo_goal_open`'s fields.
fn goal_open_schema() -> Arc<Map<String, Value>> {
    schema(
        json!({
            "sid": string("The caller's session id."),
            "title": string("The goal, in a line. Must not be empty."),
            "objective": string("What achieving it means."),
            "parent_goal_id": string("A goal this one serves."),
            "priority": priority(),
            "next_action": string("The next concrete action."),
            "success_signal": string("How anyone can tell it is achieved."),
            "owner": string("Who owns the goal."),
            "shared_state": object_or_string("State shared by the goal's work."),
            "actor": string("Who opens it; defaults to the owner, then the server's identity.")
        }),
        &["sid", "title"],
    )
}

/// `nexo_goal_update`'s fields. Blank fields keep their values.
fn goal_update_schema() -> Arc<Map<String, Value>> {
    schema(
        json!({
            "goal_id": goal_id(),
            "status": {"type": "string", "enum": words(GoalStatus::ALL), "description": "completed is refused while linked runs are open."},
            "title": string("A new title."),
            "objective": string("A new objective."),
            "parent_goal_id": string("A new parent goal (not the goal itself or one below it)."),
            "next_action": string("The next concrete action."),
            "success_signal": string("How anyone can tell it is achieved."),
            "blocker_reason": string("What blocks it."),
            "owner": string("A new owner."),
            "shared_state": object_or_string("Replaces the shared state."),
            "actor": string("Who updates it; defaults to the server's identity.")
        }),
        &["goal_id"],
    )
}

fn run_id() -> Value {
    string("The run id (WF-...), or any unique prefix of it.")
}

fn schema(properties: Value, required: &[&str]) -> Arc<Map<String, Value>> {
    let mut s = Map::new();
    s.insert("type".into(), json!("object"));
    s.insert("properties".into(), properties);
    s.insert("required".into(), json!(required));
    s.insert("additionalProperties".into(), json!(false));
    Arc::new(s)
}

/// The input schema of each tool: the same fields `nexo call` accepts.
fn input_schema(tool: NexoTool) -> Arc<Map<String, Value>> {
    let step_status = json!({"type": "string", "enum": words(StepStatus::ALL).into_iter().chain([json!("in_progress")]).collect::<Vec<_>>(),
        "description": "The step's new status. in_progress means running."});
    let run_status = json!({"type": "string", "enum": words(RunStatus::ALL), "description": "Set the run's status explicitly."});
    match tool {
        NexoTool::WorkflowOpen => {
            Arc::new(call::derived_schema(tool).expect("open's schema is derived"))
        }
        NexoTool::WorkflowUpdate => update_schema(&step_status, &run_status),
        NexoTool::WorkflowResume => schema(
            json!({"run_id": run_id(), "actor": string("Who asks: a step another agent holds with a live claim is not offered to them. Defaults to the server's identity.")}),
            &["run_id"],
        ),
        NexoTool::WorkflowClaim => schema(
            json!({
                "run_id": run_id(),
                "step_key": string("The step to claim; default the step resume offers the actor."),
                "actor": string("Who claims it (the holder)."),
                "ttl_seconds": {"type": "integer", "minimum": 1, "description": "How long the lease lasts; every write by the holder to the step renews it. Default .nexo/config.yaml's claims.ttl, else 1800."},
                "sync": {"type": "boolean", "description": "Push the claim to the git remote, and yield to a claim that reached it first. Default false (an optimistic, local claim)."},
                "steal": {"type": "boolean", "description": "Take the step from a holder whose lease is live, on purpose (recorded). Default false."},
                "timeout_seconds": {"type": "integer", "minimum": 1, "description": "With sync: how long to go on while other clones keep moving the remote; then a retryable contended error. Default .nexo/config.yaml's sync.timeout, else 30."}
            }),
            &["run_id", "actor"],
        ),
        NexoTool::WorkflowReady => schema(
            json!({
                "actor": string("Who asks: a step another agent holds is not ready for them. Defaults to the server's identity."),
                "claim": {"type": "boolean", "description": "Claim the best ready step (and the next, if another agent wins it); the answer carries the claim and the run's resume. Default false."},
                "limit": {"type": "integer", "minimum": 0, "description": "How many steps to list. Default 20; 0 means the default."},
                "ttl_seconds": {"type": "integer", "minimum": 1, "description": "With claim: the lease's length. Default .nexo/config.yaml's claims.ttl, else 1800."},
                "sync": {"type": "boolean", "description": "With claim: look at the git remote first, and hold the claim there (the next ready step if another clone wins one). Default false."},
                "all": {"type": "boolean", "description": "List the steps that are not ready too, with what each waits on. Default false."},
                "timeout_seconds": {"type": "integer", "minimum": 1, "description": "With claim and sync: how long to go on while other clones keep moving the remote; then a retryable contended error. Default sync.timeout, else 30."}
            }),
            &[],
        ),
        NexoTool::WorkflowWait => schema(
            json!({
                "run_id": run_id(),
                "step_key": string("The step the condition is about. Required for decided; without it, done, ready and changed are about the run (done: the run is closed; ready: any step is ready)."),
                "for": {"type": "string", "enum": Condition::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>(), "description": "decided: the step's gate is approved or rejected; done: the step (or run) reached its end; ready: the step (or any step) is ready for the actor; changed: any new event on the run."},
                "timeout_seconds": {"type": "integer", "minimum": 0, "description": "How long to wait before a retryable timed_out error. Default 60; at most 300 (a longer one is cut to 300)."},
                "sync": {"type": "boolean", "description": "Also watch the git remote: its tip is asked for without fetching, with a growing pause (1s, doubling to 16s); fetched and pulled only when it moved. Default false (this clone only)."},
                "actor": string("Who asks, for ready: a step another agent holds is not ready for them. Defaults to the server's identity.")
            }),
            &["run_id", "for"],
        ),
        NexoTool::WorkflowRelease => schema(
            json!({
                "run_id": run_id(),
                "step_key": string("The step to release; default the one step the actor holds."),
                "actor": string("The holder.")
            }),
            &["run_id", "actor"],
        ),
        NexoTool::WorkflowReplay => schema(
            json!({"run_id": run_id(), "limit": {"type": "integer", "minimum": 0, "description": "How many checkpoints, newest first. Default 20; 0 means the default."}}),
            &["run_id"],
        ),
        NexoTool::WorkflowHandoff => schema(
            json!({
                "run_id": run_id(),
                "actor": string("Who hands the run off."),
                "new_owner": string("Who owns it from now on."),
                "handoff_note": string("What the next owner needs to know."),
                "next_action": string("The next concrete action."),
                "shared_state": object_or_string("Replaces the shared state.")
            }),
            &["run_id", "actor"],
        ),
        NexoTool::WorkflowGet => schema(
            json!({
                "run_id": run_id(),
                "include_steps": {"type": "boolean", "description": "Default true."},
                "checkpoint_limit": {"type": "integer", "minimum": 0, "description": "Recent checkpoints to include. Default 8."}
            }),
            &["run_id"],
        ),
        NexoTool::WorkflowList => schema(
            json!({
                "status": run_status,
                "include_closed": {"type": "boolean", "description": "Include failed, completed and cancelled runs. Default false."},
                "limit": {"type": "integer", "minimum": 0, "description": "Default 20; 0 means the default."},
                "branches": {"type": "boolean", "description": "Also the runs of every other branch, remote-tracking branch and worktree (read from git's objects, read-only), each with lives_on: the refs it is on. Default false."},
                "archived": {"type": "boolean", "description": "The archived runs instead (moved by `nexo archive`; still read by id), most recently archived first. Default false."}
            }),
            &[],
        ),
        NexoTool::WorkflowCompensation => schema(
            json!({"run_id": run_id(), "checkpoint_limit": {"type": "integer", "minimum": 0, "description": "Default 10."}}),
            &["run_id"],
        ),
        NexoTool::WorkflowApprove | NexoTool::WorkflowReject => decision_schema(tool),
        NexoTool::WorkflowSync => schema(json!({}), &[]),
        NexoTool::GoalOpen | NexoTool::GoalUpdate | NexoTool::GoalGet | NexoTool::GoalList => {
            goal_schema(tool)
        }
    }
}

/// The input schema of each goal tool.
fn goal_schema(tool: NexoTool) -> Arc<Map<String, Value>> {
    match tool {
        NexoTool::GoalOpen => goal_open_schema(),
        NexoTool::GoalUpdate => goal_update_schema(),
        NexoTool::GoalGet => schema(
            json!({"goal_id": goal_id(), "include_runs": {"type": "boolean", "description": "Include the goal's runs (up to 50). Default false."}}),
            &["goal_id"],
        ),
        NexoTool::GoalList => schema(
            json!({
                "status": {"type": "string", "enum": words(GoalStatus::ALL), "description": "Only goals with this status."},
                "include_closed": {"type": "boolean", "description": "Include abandoned, completed and cancelled goals. Default false."},
                "limit": {"type": "integer", "minimum": 0, "description": "Default 20; 0 means the default."}
            }),
            &[],
        ),
        _ => unreachable!("only goal tools come here"),
    }
}

/// `nexo_workflow_update`'s fields.
fn update_schema(step_status: &Value, run_status: &Value) -> Arc<Map<String, Value>> {
    schema(
        json!({
            "run_id": run_id(),
            "step_key": string("The step to update. An unknown key adds a step only when step_title is also given."),
            "key": string("Same as step_key."),
            "step_title": string("The step's title."),
            "step_status": step_status,
            "run_status": run_status,
            "checkpoint_label": string("A label for this checkpoint; default <step>:<status>."),
            "summary": string("What happened, in a sentence."),
            "evidence": string("Where the proof is: a command, a log, a URL."),
            "next_action": string("The next concrete action for whoever picks the run up."),
            "shared_state": object_or_string("Replaces the shared state."),
            "state_patch": object_or_string("Recorded as the step's last_state_patch and merged into the shared state (RFC 7396: null deletes a key)."),
            "retry_after": string("When a retry makes sense."),
            "retry_policy": string("How to retry."),
            "compensation": string("How to undo this step's work if the run is rolled back."),
            "actor": string("Who is reporting; defaults to the server's identity."),
            "owner": string("A new owner for the run."),
            "max_retries": {"type": "integer", "description": "Attempts allowed before resume stops offering a retry; below 0 is read as 0."},
            "requires_approval": {"type": "boolean", "description": "Put the step behind an approval gate (true re-arms it)."},
            "steal": {"type": "boolean", "description": "Write to a step another agent holds with a live claim, taking the claim on purpose (recorded). Default false: such a write is refused."},
            "needs": {"type": "array", "items": {"type": "string"}, "description": "Replaces the step's dependencies: the step keys that must be completed or skipped before it is ready, and other runs (WF-XXXX: that run completed) or their steps (WF-XXXX:step: that step completed or skipped) ([] clears them). A cycle (also through runs) or an unknown key or run is refused."},
            "depends_on": {"type": "array", "items": {"type": "string"}, "description": "Same as needs."},
            "not_before": string("The step is not ready before then: an RFC 3339 time (2026-12-24T18:00:00Z) or a duration from now (90s, 30m, 2h, 1d; at most 7 days); at most ten years ahead. \"\" clears it. ready, resume and nexo_workflow_wait say when it will be.")
        }),
        &["run_id"],
    )
}

/// The fields of `nexo_workflow_approve` and `nexo_workflow_reject`.
fn decision_schema(tool: NexoTool) -> Arc<Map<String, Value>> {
    let note = if tool == NexoTool::WorkflowReject {
        "Why it is rejected (required)."
    } else {
        "Why it is approved."
    };
    schema(
        json!({
            "run_id": run_id(),
            "step_key": string("The gated step."),
            "key": string("Same as step_key."),
            "actor": string("Who decides; defaults to the server's identity."),
            "note": string(note),
            "reason": string("Same as note."),
            "next_action": string("The next concrete action after the decision.")
        }),
        &["run_id"],
    )
}

fn tools(approvals: &nexo::core::approval::Approvals) -> Vec<Tool> {
    NexoTool::ALL
        .iter()
        .map(|&tool| {
            let description = match call::policy_note(approvals, tool) {
                Some(note) => format!("{} {note}", tool.description()),
                None => tool.description().to_string(),
            };
            Tool::new(tool.name(), description, input_schema(tool))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schema served for each tool names exactly the fields its decoder
    /// accepts (aliases aside), so a field added to one and not the other
    /// fails here.
    #[test]
    fn every_schema_agrees_with_what_its_tool_decodes() {
        let mut wrong = Vec::new();
        for &tool in NexoTool::ALL {
            let schema = input_schema(tool);
            let props: std::collections::BTreeSet<String> = schema["properties"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            let accepted: std::collections::BTreeSet<String> =
                call::accepted_fields(tool).into_iter().collect();
            let missing: Vec<_> = accepted.difference(&props).collect();
            let extra: Vec<_> = props.difference(&accepted).collect();
            if !missing.is_empty() || !extra.is_empty() {
                wrong.push(format!("{tool}: decoded, not in the schema {missing:?}; in the schema, not decoded {extra:?}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn every_tool_has_a_schema_that_names_its_required_fields() {
        for &name in NexoTool::ALL {
            let s = input_schema(name);
            let props = s["properties"].as_object().unwrap();
            for r in s["required"].as_array().unwrap() {
                assert!(props.contains_key(r.as_str().unwrap()), "{name}: {r}");
            }
            for (field, p) in props {
                assert!(
                    p.get("description").is_some(),
                    "{name}.{field} is undocumented"
                );
            }
        }
    }
}
