//! The outputs of each tool. Field names are the original's, so existing
//! callers keep working; fields we add never rename or remove one of those.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::core::divergence::Divergence;
use crate::core::fold::{Checkpoint, Run, Step, Trespass, Unhonoured, Verdict};
use crate::core::id::{EventId, GoalId, RunId};
use crate::core::model::{GoalStatus, Priority, RunStatus, StepStatus};
use crate::core::resume::{ClaimSeen, Resume, ResumeState, resume};
use crate::wire::json::none_as_empty;

pub use crate::git::CommitInfo;

#[derive(Debug, Clone, Serialize)]
pub struct NextStep {
    pub step_key: String,
    pub title: String,
    pub status: StepStatus,
    pub attempt_count: u32,
    pub max_retries: u32,
    #[serde(serialize_with = "none_as_empty")]
    pub retry_after: Option<String>,
    pub requires_approval: bool,
}

impl NextStep {
    pub fn of(step: &Step) -> NextStep {
        NextStep {
            step_key: step.step_key.clone(),
            title: step.title.clone(),
            status: step.status,
            attempt_count: step.attempt_count,
            max_retries: step.max_retries,
            retry_after: step.retry_after.clone(),
            requires_approval: step.requires_approval,
        }
    }

    /// The step `resume` points at, else the current step.
    pub fn for_run(run: &Run, resume: &Resume) -> Option<NextStep> {
        resume
            .step_key
            .as_deref()
            .or(run.current_step_key.as_deref())
            .and_then(|k| run.step(k))
            .map(NextStep::of)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct OpenResponse {
    pub ok: bool,
    pub run_id: RunId,
    pub status: RunStatus,
    pub reused_existing: bool,
    pub goal_id: String,
    pub workflow_kind: String,
    pub protocol_task_id: String,
    #[serde(serialize_with = "none_as_empty")]
    pub current_step_key: Option<String>,
    pub next_action: String,
    pub step_count: usize,
    /// Step titles, in order (the original's shape).
    pub steps: Vec<String>,
    pub step_keys: Vec<String>,
    /// The template the steps were expanded from, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<crate::core::event::TemplateRef>,
    /// Values accepted as the original accepts them but changed on the
    /// way (an unknown priority read as `normal`, a key made from a title).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(flatten)]
    pub commit: CommitInfo,
}

#[derive(Debug, Clone, Serialize)]
pub struct UpdateResponse {
    pub ok: bool,
    pub run_id: RunId,
    pub status: RunStatus,
    #[serde(serialize_with = "none_as_empty")]
    pub current_step_key: Option<String>,
    #[serde(serialize_with = "none_as_empty")]
    pub last_checkpoint_label: Option<String>,
    pub next_action: String,
    pub resume_state: ResumeState,
    pub resume_message: String,
    pub can_resume: bool,
    pub requires_approval: bool,
    pub next_step: Option<NextStep>,
    pub event_id: EventId,
    /// What was made durable: the original returned its checkpoint
    /// policy's record here; nexo's durable record is the event.
    pub durable_checkpoint: DurableCheckpoint,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(flatten)]
    pub commit: CommitInfo,
}

/// Where an update was recorded, for the original's `durable_checkpoint`.
#[derive(Debug, Clone, Serialize)]
pub struct DurableCheckpoint {
    pub event_id: EventId,
    /// The history the event was appended to, relative to the repository.
    pub history: String,
    /// The original's reason: `workflow:<step or update>`.
    pub reason: String,
    /// `blocked` when the run waits (blocked or for approval), else `active`.
    pub task_status: &'static str,
    pub committed: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResumeResponse {
    pub ok: bool,
    pub run_id: RunId,
    pub goal: String,
    pub status: RunStatus,
    pub owner: String,
    pub resume_state: ResumeState,
    pub can_resume: bool,
    pub requires_approval: bool,
    pub message: String,
    #[serde(serialize_with = "none_as_empty")]
    pub current_step_key: Option<String>,
    pub next_action: String,
    pub next_step: Option<NextStep>,
    /// Concurrent changes from different clones that need a decision.
    pub divergences: Vec<Divergence>,
    /// Decisions the approval policy did not honour (docs/approvals.md).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unhonoured: Vec<Unhonoured>,
    /// The claim on the step this answer is about, when one matters to
    /// the caller: another's that holds them off, or their own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claim: Option<ClaimSeen>,
    /// Writes to a claimed step by someone other than its holder.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trespasses: Vec<Trespass>,
    /// In a run whose steps declare `needs`: every step the caller may
    /// take now, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ready_steps: Vec<String>,
    /// A run that is not in this working tree: where it lives (read-only
    /// here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elsewhere: Option<Elsewhere>,
}

/// A ref a run lives on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Place {
    /// `feature`, `origin/main`.
    pub r#ref: String,
    /// Where it is checked out, if it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worktree: Option<String>,
    /// The branch checked out here.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub here: bool,
    /// Why the run's copy on this ref could not be read (the file, its
    /// line and what is wrong), when it could not: the run is then shown
    /// from the refs whose copies read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
}

/// How many refs a line that says where a run lives names before "and N
/// more": a run on 1,500 branches made one line nobody could read.
pub const PLACES_SHOWN: usize = 5;

/// Where a run lives, on one line: each ref (with the worktree it is
/// checked out in, when that is not here, or marked unreadable when its
/// copy did not read) quoted when its name is odd (`limits::quote_name`),
/// the first [`PLACES_SHOWN`] of them, then how many more.
pub fn places(places: &[Place]) -> String {
    let named: Vec<String> = places
        .iter()
        .take(PLACES_SHOWN)
        .map(|p| {
            let name = crate::core::limits::quote_name(&p.r#ref);
            let worktree = p.worktree.as_deref().filter(|_| !p.here);
            match (worktree, p.unreadable.is_some()) {
                (_, true) => format!("{name} (unreadable)"),
                (Some(w), false) => format!("{name} ({})", crate::core::limits::quote_name(w)),
                (None, false) => name.into_owned(),
            }
        })
        .collect();
    match places.len().saturating_sub(PLACES_SHOWN) {
        0 => named.join(", "),
        more => format!("{} and {more} more", named.join(", ")),
    }
}

/// Where a run that is not (only) in this working tree lives, and how to
/// work on it there.
#[derive(Debug, Clone, Serialize)]
pub struct Elsewhere {
    pub lives_on: Vec<Place>,
    /// How to continue it: the worktree to go to, the branch to switch
    /// to, or `nexo bring`.
    pub how: String,
}

/// A live claim, as `get` lists them under `run`.
#[derive(Debug, Clone, Serialize)]
pub struct ClaimOut {
    pub step_key: String,
    pub holder: String,
    pub lease_until: String,
    pub token: String,
}

impl ClaimOut {
    /// The claims of `run` whose leases protect their holders at `now`.
    pub fn live(run: &Run, now: &str) -> Vec<ClaimOut> {
        run.live_claims(now)
            .into_iter()
            .map(|(key, c)| ClaimOut {
                step_key: key.to_string(),
                holder: c.holder.clone(),
                lease_until: c.lease_until.clone(),
                token: c.token.to_string(),
            })
            .collect()
    }
}

/// One step of one open run, as `ready` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct ReadyItem {
    pub run_id: RunId,
    pub goal: String,
    pub step_key: String,
    pub title: String,
    pub priority: Priority,
    pub ready: bool,
    /// What it waits on, in words, when it is not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waits_on: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait: Option<crate::core::ready::Wait>,
}

/// One checkpoint as the original reported it, plus who and which event.
#[derive(Debug, Clone, Serialize)]
pub struct CheckpointOut {
    pub created_at: String,
    pub checkpoint_label: String,
    #[serde(serialize_with = "none_as_empty")]
    pub step_key: Option<String>,
    pub run_status: RunStatus,
    #[serde(serialize_with = "none_as_empty")]
    pub step_status: Option<StepStatus>,
    pub attempt: u32,
    #[serde(serialize_with = "none_as_empty")]
    pub summary: Option<String>,
    #[serde(serialize_with = "none_as_empty")]
    pub evidence: Option<String>,
    pub next_action: String,
    pub requires_approval: bool,
    pub actor: String,
    pub event_type: String,
    pub event_id: EventId,
}

impl From<&Checkpoint> for CheckpointOut {
    fn from(c: &Checkpoint) -> Self {
        CheckpointOut {
            created_at: c.created_at.clone(),
            checkpoint_label: c.checkpoint_label.clone(),
            step_key: c.step_key.clone(),
            run_status: c.run_status,
            step_status: c.step_status,
            attempt: c.attempt,
            summary: c.summary.clone(),
            evidence: c.evidence.clone(),
            next_action: c.next_action.clone(),
            requires_approval: c.requires_approval,
            actor: c.actor.clone(),
            event_type: c.event_type.clone(),
            event_id: c.event_id.clone(),
        }
    }
}

/// The newest `limit` checkpoints, newest first.
pub fn newest_checkpoints(run: &Run, limit: usize) -> Vec<CheckpointOut> {
    run.checkpoints
        .iter()
        .rev()
        .take(limit)
        .map(CheckpointOut::from)
        .collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplayResponse {
    pub ok: bool,
    pub run_id: RunId,
    pub count: usize,
    pub total: usize,
    pub checkpoints: Vec<CheckpointOut>,
    /// A run that is not in this working tree: where it lives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elsewhere: Option<Elsewhere>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HandoffResponse {
    pub ok: bool,
    pub run_id: RunId,
    pub status: RunStatus,
    pub owner: String,
    pub previous_owner: String,
    pub next_action: String,
    pub shared_state: Map<String, Value>,
    pub message: String,
    pub event_id: EventId,
    #[serde(flatten)]
    pub commit: CommitInfo,
}

/// A step as `get` shows it: every stored field, plus whether its gate is
/// closed right now. Absent texts are `""`, as the original gave them;
/// absent times stay `null`, as there.
#[derive(Debug, Clone)]
pub struct StepOut {
    /// The run the step belongs to, as the original's step rows say.
    pub run_id: RunId,
    /// Every stored field, flattened into the answer.
    pub step: Step,
    pub awaiting_approval: bool,
}

impl Serialize for StepOut {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut v = match serde_json::to_value(&self.step) {
            Ok(Value::Object(m)) => m,
            _ => return Err(serde::ser::Error::custom("a step serializes to an object")),
        };
        for field in [
            "retry_policy",
            "retry_after",
            "compensation",
            "last_summary",
            "last_evidence",
        ] {
            if v.get(field).is_some_and(Value::is_null) {
                v.insert(field.into(), Value::String(String::new()));
            }
        }
        v.insert("run_id".into(), Value::String(self.run_id.to_string()));
        v.insert(
            "awaiting_approval".into(),
            Value::Bool(self.awaiting_approval),
        );
        v.serialize(s)
    }
}

impl StepOut {
    pub fn of(run: &Run, s: &Step) -> StepOut {
        StepOut {
            run_id: run.run_id.clone(),
            step: s.clone(),
            awaiting_approval: s.awaits_approval(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RunOut {
    pub run_id: RunId,
    pub sid: String,
    /// The same as `sid`, under the original runtime's name.
    pub session_id: String,
    pub goal: String,
    pub goal_id: String,
    pub workflow_kind: String,
    pub status: RunStatus,
    pub priority: Priority,
    pub owner: String,
    pub next_action: String,
    #[serde(serialize_with = "none_as_empty")]
    pub current_step_key: Option<String>,
    #[serde(serialize_with = "none_as_empty")]
    pub last_checkpoint_label: Option<String>,
    pub shared_state: Map<String, Value>,
    pub idempotency_key: String,
    pub protocol_task_id: String,
    /// The template the run was opened from (absent when it was not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<crate::core::event::TemplateRef>,
    pub opened_at: String,
    pub updated_at: String,
    pub closed_at: Option<String>,
    pub event_count: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<StepOut>>,
    /// The live claims (absent when there are none, so a run nobody
    /// claims answers exactly as before).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<ClaimOut>,
}

impl RunOut {
    pub fn of(run: &Run, include_steps: bool) -> RunOut {
        RunOut {
            run_id: run.run_id.clone(),
            sid: run.sid.clone(),
            session_id: run.sid.clone(),
            goal: run.goal.clone(),
            goal_id: run.goal_id.clone(),
            workflow_kind: run.workflow_kind.clone(),
            status: run.status,
            priority: run.priority,
            owner: run.owner.clone(),
            next_action: run.next_action.clone(),
            current_step_key: run.current_step_key.clone(),
            last_checkpoint_label: run.last_checkpoint_label.clone(),
            shared_state: run.shared_state.clone(),
            idempotency_key: run.idempotency_key.clone(),
            protocol_task_id: run.protocol_task_id.clone(),
            template: run.template.clone(),
            opened_at: run.opened_at.clone(),
            updated_at: run.updated_at.clone(),
            closed_at: run.closed_at.clone(),
            event_count: run.event_count,
            steps: include_steps.then(|| run.steps.iter().map(|s| StepOut::of(run, s)).collect()),
            claims: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct GetResponse {
    pub ok: bool,
    pub run: RunOut,
    pub resume_state: ResumeState,
    pub can_resume: bool,
    pub requires_approval: bool,
    pub message: String,
    pub recent_actors: Vec<String>,
    pub divergences: Vec<Divergence>,
    /// Decisions the approval policy did not honour (docs/approvals.md).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unhonoured: Vec<Unhonoured>,
    /// Writes to a claimed step by someone other than its holder.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trespasses: Vec<Trespass>,
    pub checkpoints: Vec<CheckpointOut>,
    /// A run that is not in this working tree: where it lives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elsewhere: Option<Elsewhere>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListItem {
    pub run_id: RunId,
    pub session_id: String,
    pub goal: String,
    pub goal_id: String,
    pub protocol_task_id: String,
    pub workflow_kind: String,
    pub status: RunStatus,
    pub priority: Priority,
    pub owner: String,
    #[serde(serialize_with = "none_as_empty")]
    pub current_step_key: Option<String>,
    pub next_action: String,
    pub resume_state: ResumeState,
    pub updated_at: String,
    /// Steps done and steps in all (shown by `nexo list`; not in the
    /// tool interface's answer, which keeps the original's shape).
    #[serde(skip)]
    pub progress: (usize, usize),
    /// With `branches`: the refs the run lives on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lives_on: Vec<Place>,
}

impl ListItem {
    /// `run` as `list` shows it.
    pub fn of(run: &Run) -> ListItem {
        ListItem {
            run_id: run.run_id.clone(),
            session_id: run.sid.clone(),
            goal: run.goal.clone(),
            goal_id: run.goal_id.clone(),
            protocol_task_id: run.protocol_task_id.clone(),
            workflow_kind: run.workflow_kind.clone(),
            status: run.status,
            priority: run.priority,
            owner: run.owner.clone(),
            current_step_key: run.current_step_key.clone(),
            next_action: run.next_action.clone(),
            resume_state: resume(run).resume_state,
            updated_at: run.updated_at.clone(),
            progress: run.progress(),
            lives_on: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ListResponse {
    pub ok: bool,
    pub count: usize,
    pub runs: Vec<ListItem>,
    /// Runs whose history could not be read, with the reason.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<Unreadable>,
    /// How many closed runs were left out for not being asked for: what
    /// the command line says when the list is empty. Not in the tool
    /// interface's answer, whose shape is the original's.
    #[serde(skip)]
    pub closed_left_out: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Unreadable {
    pub run_id: RunId,
    pub error: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Compensation {
    pub step_key: String,
    pub title: String,
    pub step_status: StepStatus,
    pub compensation: String,
    pub completed_at: Option<String>,
}

/// A step of the original's compensation plan.
#[derive(Debug, Clone, Serialize)]
pub struct CompensationStep {
    pub step_key: String,
    pub title: String,
    pub status: StepStatus,
    pub compensation: String,
    pub attempt_count: u32,
    #[serde(serialize_with = "none_as_empty")]
    pub last_summary: Option<String>,
}

/// A checkpoint that declared a compensation.
#[derive(Debug, Clone, Serialize)]
pub struct CompensationNote {
    pub created_at: String,
    pub checkpoint_label: String,
    #[serde(serialize_with = "none_as_empty")]
    pub step_key: Option<String>,
    #[serde(serialize_with = "none_as_empty")]
    pub summary: Option<String>,
    pub compensation_note: String,
    pub actor: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CompensationResponse {
    pub ok: bool,
    pub run_id: RunId,
    pub status: RunStatus,
    pub owner: String,
    #[serde(serialize_with = "none_as_empty")]
    pub current_step_key: Option<String>,
    /// The original's plan: every step with a compensation that did or is
    /// doing work (failed and in-flight included), in reverse step order.
    pub compensation_steps: Vec<CompensationStep>,
    /// Recent checkpoints that declared a compensation, newest first.
    pub recent_compensation_notes: Vec<CompensationNote>,
    pub recommended_action: String,
    /// Steps whose work may need undoing, most recent first: the order in
    /// which to apply their compensations.
    pub count: usize,
    pub compensations: Vec<Compensation>,
    /// Steps that did work but declared no compensation.
    pub uncovered_steps: Vec<String>,
    pub checkpoints: Vec<CheckpointOut>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DecisionResponse {
    pub ok: bool,
    pub run_id: RunId,
    pub status: RunStatus,
    pub step_key: String,
    pub decision: Verdict,
    pub by: String,
    /// The decision carries an SSH signature that verified (the `signed`
    /// policy).
    pub verified: bool,
    pub next_action: String,
    pub resume_state: ResumeState,
    pub message: String,
    pub event_id: EventId,
    #[serde(flatten)]
    pub commit: CommitInfo,
}

#[derive(Debug, Clone, Serialize)]
pub struct CommitResponse {
    pub ok: bool,
    pub commit: Option<String>,
    /// The paths committed: the first `limits::LISTED`.
    pub paths: Vec<String>,
    /// How many more were committed, not listed.
    #[serde(skip_serializing_if = "crate::core::limits::is_zero")]
    pub paths_not_listed: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PrimeRun {
    pub run_id: RunId,
    pub goal: String,
    pub status: RunStatus,
    pub owner: String,
    pub step_key: Option<String>,
    pub step_status: Option<StepStatus>,
    pub resume_state: ResumeState,
    pub requires_approval: bool,
    pub next_action: String,
}

impl PrimeRun {
    /// What `prime` shows of `run`: the step resume points at, else the
    /// current one.
    pub fn of(run: &Run) -> PrimeRun {
        let r = resume(run);
        let step = r
            .step_key
            .as_deref()
            .or(run.current_step_key.as_deref())
            .and_then(|k| run.step(k));
        PrimeRun {
            run_id: run.run_id.clone(),
            goal: run.goal.clone(),
            status: run.status,
            owner: run.owner.clone(),
            step_key: step.map(|s| s.step_key.clone()),
            step_status: step.map(|s| s.status),
            resume_state: r.resume_state,
            requires_approval: r.requires_approval,
            next_action: run.next_action.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PrimeResponse {
    pub ok: bool,
    /// How many steps any agent may take now, and the best few.
    pub ready_count: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ready: Vec<ReadyItem>,
    pub count: usize,
    pub total_open: usize,
    pub runs: Vec<PrimeRun>,
    /// Open goals, most recently updated first (at most five).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub goals: Vec<PrimeGoal>,
    /// The repository's workflow templates (`.nexo/templates/`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub templates: Vec<String>,
    /// The summary as plain text, ready to paste into a model's context.
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PrimeGoal {
    pub goal_id: GoalId,
    pub title: String,
    pub status: GoalStatus,
    pub priority: Priority,
    pub next_action: String,
}
