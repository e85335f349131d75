//! The wire forms of the requests whose JSON differs from the library's
//! types, as the original runtime took them: `steps` may be a list or that
//! list JSON-encoded in a string, and each step a plain title or an object
//! (`key` or `step_key`, `title`, and the original's step fields);
//! `shared_state` / `state_patch` may be an object or one JSON-encoded in
//! a string; an unknown priority is read as `normal` and a negative
//! `max_retries` as 0, each with a warning in the answer. Every other
//! request decodes straight into its library type.

use std::collections::BTreeMap;

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::core::error::{Error, Result};
use crate::core::event::StepSpec;
use crate::core::model::{GoalStatus, Priority, RunStatus, StepStatus};
use crate::core::template::Given;
use crate::wire::json::value_or_encoded;
use crate::wire::request::{
    GoalOpenRequest, GoalUpdateRequest, HandoffRequest, OpenRequest, UpdateRequest, empty_as_none,
};

/// `nexo_workflow_open`'s input. The MCP server's input schema for the
/// tool is derived from this declaration (`open_schema`): each field's
/// documentation is its description there.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Open {
    /// The caller's session id.
    sid: String,
    /// What the run should achieve. Must not be empty, unless a template gives the goal.
    #[serde(default)]
    goal: Option<String>,
    /// Who owns the run now (a client, agent or person).
    #[serde(default)]
    owner: Option<String>,
    /// low, normal, high or critical. Default normal; another word is read as normal, with a warning.
    #[serde(default)]
    priority: Option<String>,
    /// The kind of work: release, migration, audit, ... Default general (or the template's kind).
    #[serde(default)]
    workflow_kind: Option<String>,
    /// Ordered steps: [{"key": "doctor", "title": "Run checks", "requires_approval": false, "max_retries": 0}], plain titles (["Run checks"], keyed from the title), or either encoded as a JSON string. step_key is accepted for key; keys are unique plain names.
    #[serde(default)]
    #[schemars(schema_with = "steps_schema")]
    steps: Option<Value>,
    /// The first concrete action.
    #[serde(default)]
    next_action: Option<String>,
    /// State shared by the steps. A JSON object, or the same object encoded as a JSON string (the original runtime's form).
    #[serde(default)]
    #[schemars(schema_with = "object_or_string")]
    shared_state: Option<Value>,
    /// With the same sid, returns the open run with this key instead of opening another.
    #[serde(default)]
    idempotency_key: Option<String>,
    /// The open goal (WG-...) this run serves; see nexo_goal_open.
    #[serde(default)]
    goal_id: Option<String>,
    /// The caller's task id in its own protocol; stored and returned, not checked.
    #[serde(default)]
    protocol_task_id: Option<String>,
    /// Who opens the run; defaults to the server's identity.
    #[serde(default)]
    actor: Option<String>,
    /// Open the run from this repository's template .nexo/templates/<template>.yaml (nexo template list): its steps, expanded with vars, are the run's steps, and its goal, kind, priority and next action are used where these fields are not given. Not with steps.
    #[serde(default)]
    template: Option<String>,
    /// Values for the template's variables, by name: {"version": "3.2", "platforms": ["linux", "mac"], "announce": true}. A list may also be a text of comma-separated items. A required variable must be given; an unknown one is refused.
    #[serde(default)]
    #[schemars(with = "Option<BTreeMap<String, VarValue>>")]
    vars: Option<Value>,
}

// A template variable's value as the schema describes it; the decoder
// reads each by the type its template declares.
/// A text, an integer, true or false, or a list of texts.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum VarValue {
    Text(String),
    Integer(i64),
    Boolean(bool),
    List(Vec<String>),
}

/// `steps`: a list of steps (each an object or a plain title), or that
/// list encoded in a string.
fn steps_schema(generator: &mut SchemaGenerator) -> Schema {
    let mut item = generator.subschema_for::<StepInput>();
    item.insert("type".into(), json!(["object", "string"]));
    item.insert(
        "description".into(),
        json!("A step: an object, or a plain title (its key made from it)."),
    );
    // serde's aliases are fields a caller may send: the schema lists them
    // beside the field they stand for.
    if let Some(Value::Object(props)) = item.get_mut("properties") {
        for (alias, field) in [("step_key", "key"), ("depends_on", "needs")] {
            let mut same = props[field].clone();
            same["description"] = json!(format!("Same as {field}."));
            props.insert(alias.into(), same);
        }
    }
    json_schema!({"type": ["array", "string"], "items": item})
}

/// A JSON object, or one encoded in a string.
fn object_or_string(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": ["object", "string"]})
}

/// The JSON Schema of `T`'s fields, with every subschema inline (some
/// MCP clients do not follow `$ref`).
fn input_schema_of<T: JsonSchema>() -> Map<String, Value> {
    let settings = SchemaSettings::draft2020_12().with(|s| s.inline_subschemas = true);
    let schema = settings.into_generator().into_root_schema_for::<T>();
    let mut map = match schema.to_value() {
        Value::Object(map) => map,
        _ => unreachable!("a struct's schema is an object"),
    };
    for meta in ["$schema", "title", "description"] {
        map.remove(meta);
    }
    without_null_defaults(&mut map);
    map
}

/// Drops `"default": null`, which schemars writes for every
/// `#[serde(default)]` option: "not sent" needs no saying.
fn without_null_defaults(map: &mut Map<String, Value>) {
    if map.get("default").is_some_and(Value::is_null) {
        map.remove("default");
    }
    for value in map.values_mut() {
        if let Value::Object(inner) = value {
            without_null_defaults(inner);
        }
    }
}

/// `nexo_workflow_open`'s input schema, derived from [`Open`].
pub fn open_schema() -> Map<String, Value> {
    input_schema_of::<Open>()
}

/// One step of `open`'s `steps` given as an object: the seed writes `key`,
/// the original read `step_key`; both mean the same.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct StepInput {
    /// Unique plain name: letters, digits, - _ ., at most 80 characters. Made from the title when absent. step_key is the same.
    #[serde(default, alias = "step_key")]
    key: Option<String>,
    /// Human title; defaults to the key.
    #[serde(default)]
    title: Option<String>,
    /// The step is an approval gate.
    #[serde(default)]
    requires_approval: Option<bool>,
    /// Attempts allowed; below 0 is read as 0.
    #[serde(default)]
    max_retries: Option<i64>,
    /// The status the step starts in; default pending.
    #[serde(default, deserialize_with = "empty_as_none")]
    #[schemars(with = "Option<String>")]
    status: Option<StepStatus>,
    /// Where the step sorts (from 1); default its position.
    #[serde(default)]
    step_index: Option<u32>,
    /// A person must pass this step; nexo makes it an approval gate.
    #[serde(default)]
    human_gate: Option<bool>,
    /// How to retry.
    #[serde(default)]
    retry_policy: Option<String>,
    /// When a retry makes sense.
    #[serde(default)]
    retry_after: Option<String>,
    /// How to undo this step's work.
    #[serde(default)]
    compensation: Option<String>,
    /// Step keys that must be completed or skipped first. With needs the run is a graph: steps whose needs are done are ready side by side (nexo_workflow_ready). depends_on is the same.
    #[serde(default, alias = "depends_on")]
    needs: Option<Vec<String>>,
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
    max_retries: Option<i64>,
    #[serde(default)]
    requires_approval: Option<bool>,
    #[serde(default)]
    steal: Option<bool>,
    #[serde(default, alias = "depends_on")]
    needs: Option<Vec<String>>,
    #[serde(default)]
    not_before: Option<String>,
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
            .map_err(|e| {
                Error::invalid(crate::core::limits::clip_message(format!(
                    "{} (expected a JSON object)",
                    e.message
                )))
            }),
    }
}

/// A text field the original's schema fills with `""`: blank is absent.
fn given(s: Option<String>) -> Option<String> {
    s.filter(|v| !v.trim().is_empty())
}

/// A priority as the original read it: unknown words are `normal`, with a
/// warning (the command line refuses them).
pub(crate) fn lenient_priority(
    value: Option<String>,
    warnings: &mut Vec<String>,
) -> Option<Priority> {
    let word = given(value)?;
    match Priority::parse(&word) {
        Ok(p) => Some(p),
        Err(_) => {
            warnings.push(format!(
                "priority {} is not one of low, normal, high, critical: used \"normal\", as the original does",
                crate::core::limits::quote(&word)
            ));
            Some(Priority::Normal)
        }
    }
}

/// `max_retries` as the original read it: below 0 is 0, with a warning.
fn lenient_retries(
    value: Option<i64>,
    field: &str,
    warnings: &mut Vec<String>,
) -> Result<Option<u32>> {
    match value {
        None => Ok(None),
        Some(n) if n < 0 => {
            warnings.push(format!(
                "{field} {n} is below 0: used 0, as the original does"
            ));
            Ok(Some(0))
        }
        Some(n) => u32::try_from(n).map(Some).map_err(|_| {
            Error::invalid(format!(
                "{field} {n} is too large: give a number of retries up to {}",
                u32::MAX
            ))
        }),
    }
}

fn steps(value: Option<Value>, warnings: &mut Vec<String>) -> Result<Vec<StepSpec>> {
    let items: Vec<Value> = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(Vec::new()),
        Some(v) => value_or_encoded(v, "steps").map_err(|e| {
            Error::invalid(format!(
                "{} (expected a list like [{{\"key\":\"doctor\",\"title\":\"Run checks\"}}] or [\"Run checks\"])",
                e.message
            ))
        })?,
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| step(i, item, warnings))
        .collect()
}

/// One step: a plain title (the original made its key from it), or an
/// object with a key, a title, or both.
fn step(i: usize, item: Value, warnings: &mut Vec<String>) -> Result<StepSpec> {
    let input: StepInput = match item {
        Value::String(title) => StepInput {
            key: None,
            title: Some(title),
            requires_approval: None,
            max_retries: None,
            status: None,
            step_index: None,
            human_gate: None,
            retry_policy: None,
            retry_after: None,
            compensation: None,
            needs: None,
        },
        obj @ Value::Object(_) => serde_json::from_value(obj).map_err(|e| {
            Error::invalid(crate::core::limits::clip_message(format!(
                "steps[{i}]: {e}"
            )))
        })?,
        other => {
            return Err(Error::invalid(format!(
                "steps[{i}] is {other}: give a title (\"Run checks\") or an object ({{\"key\":\"doctor\",\"title\":\"Run checks\"}})"
            )));
        }
    };
    let title = given(input.title);
    let key = match given(input.key) {
        Some(k) => k.trim().to_string(),
        None => {
            let made = crate::core::model::key_from_title(title.as_deref().unwrap_or(""), i + 1);
            warnings.push(format!(
                "steps[{i}] has no key: used {made:?}, made from its title"
            ));
            made
        }
    };
    Ok(StepSpec {
        title: title
            .map(|t| t.trim().to_string())
            .unwrap_or_else(|| key.clone()),
        key,
        requires_approval: input.requires_approval.unwrap_or(false),
        max_retries: lenient_retries(
            input.max_retries,
            &format!("steps[{i}].max_retries"),
            warnings,
        )?,
        status: input.status,
        step_index: input.step_index.filter(|&n| n > 0),
        human_gate: input.human_gate.unwrap_or(false),
        retry_policy: given(input.retry_policy),
        retry_after: given(input.retry_after),
        compensation: given(input.compensation),
        needs: input.needs.unwrap_or_default(),
    })
}

impl TryFrom<Open> for OpenRequest {
    type Error = Error;
    fn try_from(w: Open) -> Result<OpenRequest> {
        let mut warnings = Vec::new();
        Ok(OpenRequest {
            sid: w.sid,
            goal: w.goal.unwrap_or_default(),
            owner: w.owner,
            priority: lenient_priority(w.priority, &mut warnings),
            workflow_kind: w.workflow_kind,
            steps: steps(w.steps, &mut warnings)?,
            next_action: w.next_action,
            shared_state: map(w.shared_state, "shared_state")?,
            idempotency_key: w.idempotency_key,
            goal_id: w.goal_id,
            protocol_task_id: w.protocol_task_id,
            actor: w.actor,
            template: w.template,
            vars: vars(w.vars)?,
            warnings,
        })
    }
}

/// `vars`: an object of values (null: not sent), each read later by the
/// type its template declares.
fn vars(value: Option<Value>) -> Result<Vec<(String, Given)>> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(Vec::new()),
        Some(v) => Ok(value_or_encoded::<Map<String, Value>>(v, "vars")
            .map_err(|e| Error::invalid(crate::core::limits::clip_message(format!("{} (expected an object of the template's variables, like {{\"version\": \"3.2\"}})", e.message))))?
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k, Given::Json(v)))
            .collect()),
    }
}

impl TryFrom<Update> for UpdateRequest {
    type Error = Error;
    fn try_from(w: Update) -> Result<UpdateRequest> {
        let mut warnings = Vec::new();
        let max_retries = lenient_retries(w.max_retries, "max_retries", &mut warnings)?;
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
            max_retries,
            requires_approval: w.requires_approval,
            steal: w.steal.unwrap_or(false),
            needs: w.needs,
            not_before: w.not_before,
            warnings,
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoalOpen {
    sid: String,
    title: String,
    #[serde(default)]
    objective: Option<String>,
    #[serde(default)]
    parent_goal_id: Option<String>,
    #[serde(default)]
    priority: Option<String>,
    #[serde(default)]
    next_action: Option<String>,
    #[serde(default)]
    success_signal: Option<String>,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    shared_state: Option<Value>,
    #[serde(default)]
    actor: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoalUpdate {
    goal_id: String,
    #[serde(default, deserialize_with = "empty_as_none")]
    status: Option<GoalStatus>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    objective: Option<String>,
    #[serde(default)]
    parent_goal_id: Option<String>,
    #[serde(default)]
    next_action: Option<String>,
    #[serde(default)]
    success_signal: Option<String>,
    #[serde(default)]
    blocker_reason: Option<String>,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    shared_state: Option<Value>,
    #[serde(default)]
    actor: Option<String>,
}

impl TryFrom<GoalOpen> for GoalOpenRequest {
    type Error = Error;
    fn try_from(w: GoalOpen) -> Result<GoalOpenRequest> {
        let mut warnings = Vec::new();
        Ok(GoalOpenRequest {
            sid: w.sid,
            title: w.title,
            objective: w.objective,
            parent_goal_id: w.parent_goal_id,
            priority: lenient_priority(w.priority, &mut warnings),
            next_action: w.next_action,
            success_signal: w.success_signal,
            owner: w.owner,
            shared_state: map(w.shared_state, "shared_state")?,
            actor: w.actor,
            warnings,
        })
    }
}

impl TryFrom<GoalUpdate> for GoalUpdateRequest {
    type Error = Error;
    fn try_from(w: GoalUpdate) -> Result<GoalUpdateRequest> {
        Ok(GoalUpdateRequest {
            goal_id: w.goal_id,
            status: w.status,
            title: w.title,
            objective: w.objective,
            parent_goal_id: w.parent_goal_id,
            next_action: w.next_action,
            success_signal: w.success_signal,
            blocker_reason: w.blocker_reason,
            owner: w.owner,
            shared_state: map(w.shared_state, "shared_state")?,
            actor: w.actor,
        })
    }
}
