//! The event model: what one line of `history.jsonl` says.
//!
//! Events record what the caller *asked for* (the intent), not the state
//! that resulted: the fold derives state from intents, so the union of two
//! clones' histories folds to a meaningful state instead of two snapshots
//! fighting. An event is never edited once written.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::core::error::{Error, Result};
use crate::core::id::{EventId, GoalId, RunId};
use crate::core::model::{GoalStatus, Priority, RunStatus, StepStatus};

/// The newest history format version this build reads. Readers refuse
/// newer versions instead of misreading them, and fold every event by the
/// rules of the version it was written with, so upgrading nexo never
/// changes what an existing history means.
///
/// - 1: the first format.
/// - 2: steps at open may carry their status, index, human gate, retry
///   and compensation fields; runs carry `protocol_task_id`; goals exist
///   (`.nexo/goals/`); entering `retrying` from `running` (or the other
///   way round) no longer counts a new attempt, as in the original.
/// - 3: the same body as 2, written by the write that sealed its history
///   into segments (`history/` beside the live file). The live file of a
///   segmented history always holds one, so a nexo that knows nothing of
///   segments refuses the run ("upgrade nexo") instead of folding only
///   its end.
/// - 4: a signed decision, whose signature also covers its clock
///   (`approval::signed_content`, `nexo-decision/2`). Every other event is
///   still written as 2.
/// - 5: claims (`claimed`, `released`): a nexo that knows nothing of them
///   refuses the run ("upgrade nexo") instead of ignoring who holds what.
/// - 6: steps' dependencies (`needs`, at open or by an update): a run whose
///   steps are a graph, which an older nexo would fold as a sequence.
/// - 7: an opening that records the template it was expanded from
///   (`Opened::template`), which an older nexo's strict reading of the
///   opening would call an unreadable line rather than a newer one.
/// - 8: a step's timer (`Updated::not_before`) and its needs on other
///   runs (`Updated::after`), which an older nexo would ignore and call
///   the step ready before its time.
pub const SCHEMA_VERSION: u32 = 8;

/// What an ordinary write writes: every nexo since version 2 of the
/// format reads it, so clones on an older nexo keep working until a
/// history is actually sealed.
pub const WRITTEN_VERSION: u32 = 2;

/// What the write that seals a history writes (see [`SCHEMA_VERSION`]).
pub const SEALING_VERSION: u32 = 3;

/// What an opening from a template is written as (see [`SCHEMA_VERSION`]).
pub const TEMPLATE_VERSION: u32 = 7;

/// What a signed decision is written as (see [`SCHEMA_VERSION`]).
pub const SIGNED_VERSION: u32 = 4;

/// What an update that sets a step's timer is written as (see
/// [`SCHEMA_VERSION`]).
pub const TIMER_VERSION: u32 = 8;

/// What a claim or a release is written as (see [`SCHEMA_VERSION`]).
pub const CLAIM_VERSION: u32 = 5;

/// What an event that declares steps' dependencies is written as (see
/// [`SCHEMA_VERSION`]).
pub const NEEDS_VERSION: u32 = 6;

/// One immutable entry of a run's history.
// No deny_unknown_fields here: serde does not support it together with
// flatten. Payloads below do deny unknown fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Schema version of this line.
    pub v: u32,
    /// Globally unique id (a ULID).
    pub id: EventId,
    /// Lamport clock: larger than every clock the writer had seen in the run.
    pub clock: u64,
    /// The events this one followed: the heads of the history its writer
    /// saw. Two events neither of which follows the other were concurrent.
    #[serde(default)]
    pub parents: Vec<EventId>,
    /// Wall time of the write, RFC 3339 UTC with milliseconds.
    pub at: String,
    /// Who made the change (agent, person, client).
    pub actor: String,
    /// The writer's session id, when it had one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub session: String,
    #[serde(flatten)]
    pub body: Body,
}

/// What happened. Serialized as `"type": ..., "data": {...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum Body {
    Opened(Opened),
    Updated(Updated),
    HandedOff(HandedOff),
    Approved(Decision),
    Rejected(Decision),
    GoalOpened(GoalOpened),
    GoalUpdated(GoalUpdated),
    Claimed(Claimed),
    Released(Released),
}

impl Body {
    /// Fills in what only the event's own id and time can give: a new
    /// claim's token (its id) and its lease's end (`at` plus its ttl).
    pub fn stamp(&mut self, id: &EventId, at: &str) {
        if let Body::Claimed(c) = self {
            if c.token.is_empty() {
                c.token = id.clone();
            }
            c.lease_until = crate::core::claim::lease_end(at, c.ttl_seconds).unwrap_or_default();
        }
    }

    /// The schema version a new event with this body is written as.
    pub fn written_version(&self) -> u32 {
        match self {
            Body::Updated(u) if u.not_before.is_some() || u.after.is_some() => TIMER_VERSION,
            Body::Opened(o) if o.template.is_some() => TEMPLATE_VERSION,
            _ if self.declares_needs() => NEEDS_VERSION,
            Body::Claimed(_) | Body::Released(_) => CLAIM_VERSION,
            _ => WRITTEN_VERSION,
        }
    }

    /// Whether the event declares steps' dependencies (schema 6).
    pub fn declares_needs(&self) -> bool {
        match self {
            Body::Opened(o) => o.steps.iter().any(|s| !s.needs.is_empty()),
            Body::Updated(u) => u.needs.is_some(),
            _ => false,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Body::Opened(_) => "opened",
            Body::Updated(_) => "updated",
            Body::HandedOff(_) => "handed_off",
            Body::Approved(_) => "approved",
            Body::Rejected(_) => "rejected",
            Body::GoalOpened(_) => "goal_opened",
            Body::GoalUpdated(_) => "goal_updated",
            Body::Claimed(_) => "claimed",
            Body::Released(_) => "released",
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A step as declared when a run is opened. Fields beyond key and title
/// are the original's step fields (schema 2); absent ones are not written,
/// so a plain step's line is what schema 1 wrote.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    pub key: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub requires_approval: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    /// The status the step starts in (`pending` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StepStatus>,
    /// Where the step sorts (1-based; its position when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_index: Option<u32>,
    /// A person must pass this step: nexo makes it an approval gate.
    #[serde(default, skip_serializing_if = "is_false")]
    pub human_gate: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compensation: Option<String>,
    /// The steps that must be completed or skipped before this one is
    /// ready (schema 6). A run in which no step needs another is a
    /// sequence, as in the original.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Opened {
    pub run_id: RunId,
    pub sid: String,
    pub goal: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub goal_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub owner: String,
    pub priority: Priority,
    pub workflow_kind: String,
    #[serde(default)]
    pub steps: Vec<StepSpec>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub next_action: String,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub shared_state: Map<String, Value>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub idempotency_key: String,
    /// The caller's task in its own protocol; stored and returned, never
    /// checked (nexo has no protocol tasks).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub protocol_task_id: String,
    /// The template the steps were expanded from (schema 7). The steps
    /// above are the expansion itself, so no reader ever needs the
    /// template file, as it was or as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateRef>,
}

/// Which template, at which content and with which values, a run was
/// opened from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateRef {
    /// `.nexo/templates/<name>.yaml`.
    pub name: String,
    /// The template's own `version`, when it has one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// SHA-256, in hex, of the template file's bytes followed by those of
    /// each base it extends.
    pub hash: String,
    /// The bases it extends, nearest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extends: Vec<String>,
    /// The value each of its variables took.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub vars: Map<String, Value>,
}

/// A progress report. Every field is optional: a field that is absent
/// leaves the stored value alone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Updated {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_status: Option<StepStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_status: Option<RunStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_state: Option<Map<String, Value>>,
    /// An RFC 7396 merge patch applied to the shared state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_patch: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compensation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_approval: Option<bool>,
    /// Replaces the step's dependencies (schema 6; empty: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs: Option<Vec<String>>,
    /// The step is not ready before this time, RFC 3339 UTC (schema 8;
    /// empty: no timer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    /// Replaces the step's needs on other runs (schema 8): `WF-X` (that
    /// run completed) or `WF-X:step` (that step completed or skipped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandedOff {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_state: Option<Map<String, Value>>,
}

/// An explicit approval or rejection of a step's approval gate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub step_key: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_action: Option<String>,
    /// An SSH signature (armored SSHSIG, namespace `nexo`) of the
    /// decision's signed content (`approval::signed_content`), under the
    /// `signed` policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// A step taken by one holder for a while: a lease (`fold::claim`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claimed {
    pub step_key: String,
    /// Who holds the step: always the event's actor.
    pub holder: String,
    /// When the lease ends unless the holder renews it: `at` plus
    /// `ttl_seconds`, RFC 3339 UTC with milliseconds.
    pub lease_until: String,
    /// How long each renewal by the holder extends the lease.
    pub ttl_seconds: u64,
    /// The claim's fencing token: this event's own id for a new claim,
    /// the token being renewed for a renewal.
    pub token: EventId,
    /// Taken from a holder whose lease was live (`--steal`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub steal: bool,
}

/// A holder letting go of its claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Released {
    pub step_key: String,
    pub holder: String,
    pub token: EventId,
    pub reason: ReleaseReason,
}

/// Why a holder let go of a claim. The other ways a claim ends (the step
/// done or failed, a handoff, a takeover) follow from other events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseReason {
    /// `nexo release`.
    Released,
    /// A claim made with `--sync` met a claim already at the remote on
    /// the same step, made without seeing it: it yields.
    Lost,
}

impl ReleaseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseReason::Released => "released",
            ReleaseReason::Lost => "lost",
        }
    }
}

/// A goal opened: an objective that runs link to through `goal_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoalOpened {
    pub goal_id: GoalId,
    pub sid: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub objective: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub parent_goal_id: String,
    pub priority: Priority,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub owner: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub next_action: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub success_signal: String,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub shared_state: Map<String, Value>,
}

/// A change to a goal. Absent fields keep their values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoalUpdated {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<GoalStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objective: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_goal_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocker_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_state: Option<Map<String, Value>>,
}

/// A history's events in the order every fold applies them: by
/// `(clock, id)`, each id once.
#[derive(Debug, Default)]
pub struct Ordered {
    pub events: Vec<Event>,
    /// Ids that stand for two or more different events (a peer's forgery
    /// or a hand edit): every copy, in a fixed order. None of them is in
    /// `events`, since no line order may decide which one counts.
    pub conflicts: Vec<Vec<Event>>,
}

/// Sorts a history into fold order. Copies of one event (what git's
/// union merge makes) count once; an id with two contents is a conflict,
/// found by sorting by id, never by which line came first. So every
/// permutation of the same lines, with any repetitions, gives the same
/// answer.
pub fn in_fold_order(mut events: Vec<Event>) -> Ordered {
    events.sort_by(|a, b| a.id.cmp(&b.id));
    let mut ordered = Ordered::default();
    let mut iter = events.into_iter().peekable();
    while let Some(first) = iter.next() {
        let mut copies = vec![first];
        while let Some(next) = iter.next_if(|n| n.id == copies[0].id) {
            if !copies.contains(&next) {
                copies.push(next);
            }
        }
        if copies.len() == 1 {
            ordered.events.extend(copies);
        } else {
            copies.sort_by_cached_key(Event::to_line);
            ordered.conflicts.push(copies);
        }
    }
    ordered
        .events
        .sort_by(|a, b| (a.clock, &a.id).cmp(&(b.clock, &b.id)));
    ordered
}

/// The schema version `raw` declares, when it is newer than this nexo's:
/// a newer nexo's event, which this one cannot read but must never treat
/// as damage (doctor leaves it where it is).
fn newer_schema(raw: &Value) -> Option<u64> {
    raw.get("v")
        .and_then(Value::as_u64)
        .filter(|v| *v > SCHEMA_VERSION as u64)
}

/// Whether `line` is an event of a newer schema than this nexo reads.
pub fn is_newer_schema(line: &str) -> bool {
    serde_json::from_str::<Value>(line).is_ok_and(|raw| newer_schema(&raw).is_some())
}

impl Event {
    /// The line as stored: compact JSON, no trailing newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("events always serialize")
    }

    /// Parses one stored line; `place` names the file and line for errors.
    pub fn from_line(line: &str, place: &str) -> Result<Event> {
        // Read the version first so a newer nexo's events get a useful
        // message instead of a confusing field error.
        let raw: Value = serde_json::from_str(line)
            .map_err(|e| Error::corrupt(format!("{place}: not a JSON event: {e}")))?;
        if let Some(v) = newer_schema(&raw) {
            return Err(Error::corrupt(format!(
                "{place}: event schema version {v} is newer than this nexo understands ({SCHEMA_VERSION}); upgrade nexo"
            )));
        }
        if raw.get("v").and_then(Value::as_u64).is_none() {
            return Err(Error::corrupt(format!(
                "{place}: event has no schema version \"v\""
            )));
        }
        let event: Event = serde_json::from_value(raw)
            .map_err(|e| Error::corrupt(format!("{place}: malformed event: {e}")))?;
        if !crate::core::id::is_event_id(&event.id) {
            return Err(Error::corrupt(format!(
                "{place}: event id {} is not a ULID",
                crate::core::limits::quote(&event.id)
            )));
        }
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip() {
        let e = Event {
            v: SCHEMA_VERSION,
            id: crate::core::id::new_event_id(5),
            clock: 3,
            parents: vec![crate::core::id::new_event_id(4)],
            at: "2026-11-24T05:00:00.000Z".into(),
            actor: "codex".into(),
            session: String::new(),
            body: Body::Updated(Updated {
                step_key: Some("doctor".into()),
                step_status: Some(StepStatus::Completed),
                ..Default::default()
            }),
        };
        let line = e.to_line();
        assert!(
            line.contains(r#""type":"updated","data":{"step_key":"doctor""#),
            "{line}"
        );
        assert_eq!(Event::from_line(&line, "x:1").unwrap(), e);
    }

    #[test]
    fn newer_schema_is_refused_with_advice() {
        let err = Event::from_line(r#"{"v":99,"id":"x"}"#, "h:7").unwrap_err();
        assert!(
            err.message.contains("h:7") && err.message.contains("upgrade"),
            "{err}"
        );
    }
}
