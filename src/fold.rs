//! The fold: a pure function from a run's events to its state.
//!
//! Events are ordered by (clock, id) and duplicate ids are dropped before
//! anything is applied, so every permutation of the same lines (which is what
//! git's union merge produces) folds to the same state. Applying an event
//! never fails: the history is fact, and validation happens before an event
//! is written (see `api`).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::approval::{Refusal, Rules};
use crate::divergence::{Causality, Divergence, Frontiers};
use crate::error::{Error, Result};
use crate::event::{Body, Decision, Event, HandedOff, Opened, StepSpec, Updated};
use crate::id::{EventId, RunId};
use crate::model::{Priority, RunStatus, StepStatus};

/// Whether an approval gate was opened or closed, and by whom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    pub decision: Verdict,
    pub by: String,
    pub at: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    pub via: Via,
    /// The decision's SSH signature verified for `by` (the `signed`
    /// policy); absent otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub verified: bool,
}

/// A decision, or an update passing a gate, that the approval policy did
/// not honour: recorded in the history, without effect on the state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unhonoured {
    pub event_id: EventId,
    pub step_key: String,
    pub actor: String,
    pub at: String,
    #[serde(flatten)]
    pub refusal: Refusal,
    /// The refusal in words.
    pub message: String,
}

/// How a gate's decision was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// An explicit `approve`.
    Approve,
    /// An explicit `reject`.
    Reject,
    /// The caller moved the gated step on with an update, which is
    /// recorded as their approval (the seed's behaviour).
    Update,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approved,
    Rejected,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Approved => "approved",
            Verdict::Rejected => "rejected",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A step. (The tool interface shows its absent texts as `""`, as the
/// original did: `response::StepOut`.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub step_key: String,
    pub title: String,
    /// Position in the run, from 0.
    pub order: usize,
    /// The original's sort key, from 1: as declared at open, else the
    /// step's position; a step added later takes the next one.
    pub step_index: u32,
    pub status: StepStatus,
    pub attempt_count: u32,
    pub max_retries: u32,
    pub retry_policy: Option<String>,
    pub retry_after: Option<String>,
    pub requires_approval: bool,
    /// Declared a human gate, or ever asked for approval (the original's
    /// rule); nexo treats a human gate as requiring approval.
    pub human_gate: bool,
    pub approval: Option<Approval>,
    /// Who asked for the gate now in force: under a strict approval
    /// policy they cannot decide it themselves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate_requested_by: Option<String>,
    pub compensation: Option<String>,
    pub last_summary: Option<String>,
    pub last_evidence: Option<String>,
    /// The last `state_patch` an update of this step carried.
    pub last_state_patch: Map<String, Value>,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    /// When the step was declared (the run's opening, or the update that
    /// added it).
    pub created_at: String,
    pub updated_at: String,
}

impl Step {
    fn new(key: &str, title: &str, order: usize, step_index: u32, at: &str) -> Step {
        Step {
            step_key: key.to_string(),
            title: title.to_string(),
            order,
            step_index,
            status: StepStatus::Pending,
            attempt_count: 0,
            max_retries: 0,
            retry_policy: None,
            retry_after: None,
            requires_approval: false,
            human_gate: false,
            approval: None,
            gate_requested_by: None,
            compensation: None,
            last_summary: None,
            last_evidence: None,
            last_state_patch: Map::new(),
            started_at: None,
            completed_at: None,
            created_at: at.to_string(),
            updated_at: at.to_string(),
        }
    }

    /// An approval gate that is closed: the step needs an approval it does
    /// not have and its work is not done.
    /// A gate: the step requires approval, or was put in
    /// `waiting_approval` (a gate without the flag, as in the original),
    /// and its work is not done or approved.
    pub fn awaits_approval(&self) -> bool {
        (self.requires_approval || self.status == StepStatus::WaitingApproval)
            && !self.status.is_done()
            && self
                .approval
                .as_ref()
                .is_none_or(|a| a.decision != Verdict::Approved)
    }

    pub fn is_rejected(&self) -> bool {
        !self.status.is_done()
            && self
                .approval
                .as_ref()
                .is_some_and(|a| a.decision == Verdict::Rejected)
    }

    /// Waiting at its gate right now (as opposed to a gated step that is
    /// still far ahead in the plan).
    pub fn held_at_gate(&self) -> bool {
        self.awaits_approval()
            && matches!(
                self.status,
                StepStatus::Blocked | StepStatus::WaitingApproval
            )
    }
}

/// One entry of the execution trail, derived from one event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub event_id: EventId,
    pub created_at: String,
    pub event_type: String,
    pub checkpoint_label: String,
    pub actor: String,
    pub step_key: Option<String>,
    pub run_status: RunStatus,
    pub step_status: Option<StepStatus>,
    pub attempt: u32,
    pub summary: Option<String>,
    pub evidence: Option<String>,
    pub next_action: String,
    pub requires_approval: bool,
    /// The compensation an update declared, as the original's
    /// `compensation_note`.
    pub compensation_note: Option<String>,
    /// The run's owner after the event (a timeline says who it went to).
    pub owner: String,
}

/// The state of a run after all of its events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub run_id: RunId,
    pub sid: String,
    pub goal: String,
    pub goal_id: String,
    pub workflow_kind: String,
    pub status: RunStatus,
    pub priority: Priority,
    pub owner: String,
    pub next_action: String,
    pub current_step_key: Option<String>,
    pub last_checkpoint_label: Option<String>,
    pub shared_state: Map<String, Value>,
    pub idempotency_key: String,
    pub protocol_task_id: String,
    pub opened_at: String,
    pub updated_at: String,
    pub closed_at: Option<String>,
    pub steps: Vec<Step>,
    /// Decisions (and gate-passing updates) the approval policy did not
    /// honour, oldest first.
    pub unhonoured: Vec<Unhonoured>,
    /// The newest checkpoints, oldest first: at most `keep` of them (a
    /// run's whole trail can be far longer than any answer shows; the
    /// history holds it all). `event_count` says how many there are.
    pub checkpoints: VecDeque<Checkpoint>,
    /// How many checkpoints this fold keeps.
    #[serde(skip)]
    pub keep: usize,
    /// The highest logical clock in the history.
    pub clock: u64,
    /// Events no other event names as its parent, sorted.
    pub heads: Vec<EventId>,
    pub event_count: usize,
    #[serde(skip)]
    causality: Causality,
    frontiers: Frontiers,
    /// The approval rules this run was folded under.
    #[serde(skip)]
    pub rules: Rules,
}

impl Run {
    /// Fields that clones changed concurrently to different values, until
    /// someone who has seen all of them sets the field again.
    pub fn divergences(&self) -> Vec<Divergence> {
        self.frontiers.divergences()
    }

    pub fn step(&self, key: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.step_key == key)
    }

    fn step_mut(&mut self, key: &str) -> Option<&mut Step> {
        self.steps.iter_mut().find(|s| s.step_key == key)
    }

    /// Actors of the newest `window` events, newest first, without
    /// repeats, at most `limit` (the original took them from the
    /// checkpoints it returned). The answer does not depend on how many
    /// checkpoints a fold kept beyond the window.
    pub fn recent_actors(&self, limit: usize, window: usize) -> Vec<String> {
        let mut seen = Vec::new();
        for c in self.checkpoints.iter().rev().take(window) {
            if !seen.contains(&c.actor) {
                seen.push(c.actor.clone());
                if seen.len() == limit {
                    break;
                }
            }
        }
        seen
    }

    pub fn step_keys(&self) -> String {
        self.steps
            .iter()
            .map(|s| s.step_key.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Sorts, deduplicates and folds a run's events under the seed's approval
/// policy (`update`), keeping every checkpoint.
pub fn fold(events: Vec<Event>) -> Result<Run> {
    fold_with(events, Rules::default(), usize::MAX)
}

/// Sorts, deduplicates and folds a run's events under `rules`, keeping the
/// newest `keep` checkpoints.
pub fn fold_with(events: Vec<Event>, rules: Rules, keep: usize) -> Result<Run> {
    let events = crate::event::in_fold_order(events);
    let mut iter = events.iter();
    let first = iter
        .next()
        .ok_or_else(|| Error::corrupt("the run's history is empty"))?;
    let mut run = start(first, rules, keep)?;
    for event in iter {
        apply(&mut run, event);
    }
    Ok(run)
}

/// A run from the first event of its history in fold order, which must be
/// its opening; [`apply`] folds the ones that follow.
pub fn start(first: &Event, rules: Rules, keep: usize) -> Result<Run> {
    let Body::Opened(opened) = &first.body else {
        return Err(Error::corrupt(format!(
            "the run's history does not start with an \"opened\" event (first is {} {})",
            first.body.type_name(),
            first.id
        )));
    };
    Ok(open(first, opened, rules, keep))
}

/// The steps a run opens with, in the original's order: by declared
/// `step_index`, else position, ties in the order given.
fn opening_steps(event: &Event, o: &Opened) -> Vec<Step> {
    let mut specs: Vec<(u32, &StepSpec)> = o
        .steps
        .iter()
        .enumerate()
        .map(|(i, spec)| (spec.step_index.unwrap_or(i as u32 + 1), spec))
        .collect();
    specs.sort_by_key(|(index, _)| *index);
    specs
        .into_iter()
        .enumerate()
        .map(|(order, (index, spec))| {
            let mut s = Step::new(&spec.key, &spec.title, order, index, &event.at);
            s.requires_approval = spec.requires_approval || spec.human_gate;
            s.human_gate = s.requires_approval;
            s.gate_requested_by = s.requires_approval.then(|| event.actor.clone());
            s.max_retries = spec.max_retries.unwrap_or(0);
            s.status = spec.status.unwrap_or(StepStatus::Pending);
            s.retry_policy.clone_from(&spec.retry_policy);
            s.retry_after.clone_from(&spec.retry_after);
            s.compensation.clone_from(&spec.compensation);
            s
        })
        .collect()
}

fn open(event: &Event, o: &Opened, rules: Rules, keep: usize) -> Run {
    let steps = opening_steps(event, o);
    let mut run = Run {
        run_id: o.run_id.clone(),
        sid: o.sid.clone(),
        goal: o.goal.clone(),
        goal_id: o.goal_id.clone(),
        workflow_kind: o.workflow_kind.clone(),
        status: RunStatus::Open,
        priority: o.priority,
        owner: o.owner.clone(),
        next_action: o.next_action.clone(),
        current_step_key: steps.first().map(|s| s.step_key.clone()),
        last_checkpoint_label: Some("opened".into()),
        shared_state: o.shared_state.clone(),
        idempotency_key: o.idempotency_key.clone(),
        protocol_task_id: o.protocol_task_id.clone(),
        opened_at: event.at.clone(),
        updated_at: event.at.clone(),
        closed_at: None,
        steps,
        unhonoured: Vec::new(),
        checkpoints: VecDeque::new(),
        keep: keep.max(1),
        clock: event.clock,
        heads: vec![event.id.clone()],
        event_count: 1,
        causality: Causality::default(),
        frontiers: Frontiers::default(),
        rules,
    };
    run.causality.add(&event.id, event.clock, &event.parents);
    push_checkpoint(&mut run, event, "opened".into(), None, None, None);
    run
}

/// Applies one event that follows everything already folded into `run`.
pub fn apply(run: &mut Run, event: &Event) {
    run.clock = run.clock.max(event.clock);
    run.updated_at = event.at.clone();
    // An event that names every current head followed everything folded
    // so far: the linear case, which divergence detection answers at once.
    let saw_all = event.parents.len() == run.heads.len()
        && run.heads.iter().all(|h| event.parents.contains(h));
    // Parents always carry smaller clocks, so they were applied already.
    run.heads.retain(|h| !event.parents.contains(h));
    if let Err(i) = run.heads.binary_search(&event.id) {
        run.heads.insert(i, event.id.clone());
    }
    let seq = run.causality.add(&event.id, event.clock, &event.parents);
    match &event.body {
        // A second "opened" cannot be written by nexo (run ids are fresh);
        // if a hand-made history has one, it is recorded and ignored.
        Body::Opened(_) => push_checkpoint(run, event, "opened".into(), None, None, None),
        Body::Updated(u) => apply_update(run, event, u),
        Body::HandedOff(h) => apply_handoff(run, event, h),
        Body::Approved(d) => apply_decision(run, event, d, Verdict::Approved),
        Body::Rejected(d) => apply_decision(run, event, d, Verdict::Rejected),
        // A goal's event in a run's history: hand-made; recorded, ignored.
        Body::GoalOpened(_) | Body::GoalUpdated(_) => {
            push_checkpoint(run, event, event.body.type_name().into(), None, None, None)
        }
    }
    watch(run, event, seq, saw_all);
    run.event_count += 1;
}

/// Records which watched fields `event` set, for divergence detection.
fn watch(run: &mut Run, event: &Event, seq: usize, saw_all: bool) {
    let (step, status, owner): (Option<&str>, Option<String>, Option<&str>) = match &event.body {
        Body::Updated(u) => (
            u.step_key.as_deref(),
            u.step_status.map(|s| s.to_string()),
            u.owner.as_deref(),
        ),
        Body::HandedOff(h) => (None, None, h.new_owner.as_deref()),
        Body::Approved(d) => (Some(d.step_key.as_str()), Some("approved".into()), None),
        Body::Rejected(d) => (Some(d.step_key.as_str()), Some("rejected".into()), None),
        Body::Opened(_) | Body::GoalOpened(_) | Body::GoalUpdated(_) => (None, None, None),
    };
    let (actor, at, id) = (&event.actor, &event.at, &event.id);
    if let (Some(step), Some(status)) = (step, status) {
        run.frontiers.set(
            &run.causality,
            saw_all,
            seq,
            Some(step),
            "status",
            &status,
            actor,
            at,
            id,
        );
    }
    if let Some(owner) = owner {
        run.frontiers.set(
            &run.causality,
            saw_all,
            seq,
            None,
            "owner",
            owner,
            actor,
            at,
            id,
        );
    }
}

fn set_status(run: &mut Run, status: RunStatus, at: &str) {
    if status.is_closed() && !run.status.is_closed() {
        run.closed_at = Some(at.to_string());
    } else if !status.is_closed() {
        run.closed_at = None;
    }
    run.status = status;
}

fn apply_update(run: &mut Run, event: &Event, u: &Updated) {
    let at = event.at.as_str();
    let touched_status = match &u.step_key {
        Some(key) => {
            let touched = update_step(run, event, u, key);
            run.current_step_key = Some(key.clone());
            touched
        }
        None => None,
    };
    if let Some(status) = u.run_status {
        set_status(run, status, at);
    } else if let (Some(status), Some(key)) = (touched_status, &u.step_key)
        && let Some(s) = derived_run_status(run, key, status)
    {
        set_status(run, s, at);
    }
    if touched_status.is_some_and(StepStatus::is_done)
        && let Some(next) = run
            .steps
            .iter()
            .find(|s| matches!(s.status, StepStatus::Pending | StepStatus::Retrying))
    {
        run.current_step_key = Some(next.step_key.clone());
    }
    if let Some(owner) = &u.owner {
        run.owner = owner.clone();
    }
    if let Some(next) = &u.next_action {
        run.next_action = next.clone();
    }
    if let Some(state) = &u.shared_state {
        run.shared_state = state.clone();
    }
    if let Some(patch) = &u.state_patch {
        merge_patch(&mut run.shared_state, patch);
    }
    let label = u
        .checkpoint_label
        .clone()
        .unwrap_or_else(|| match (&u.step_key, u.step_status) {
            (Some(k), Some(s)) => format!("{k}:{s}"),
            (Some(k), None) => k.clone(),
            _ => "update".into(),
        });
    run.last_checkpoint_label = Some(label.clone());
    let step_key = u.step_key.clone();
    push_checkpoint(
        run,
        event,
        label,
        step_key,
        u.summary.clone(),
        u.evidence.clone(),
    );
    if let Some(c) = run.checkpoints.back_mut() {
        c.compensation_note.clone_from(&u.compensation);
    }
}

/// Whether `u` would pass step `s`'s approval gate: the step awaits
/// approval now and would not after the update's status and
/// `requires_approval` (an update moving it on, or lifting the flag).
pub fn passes_gate(s: &Step, u: &Updated) -> bool {
    if !s.awaits_approval() {
        return false;
    }
    // Taking up or finishing the work is passing the gate.
    if u.step_status.is_some_and(|n| n.is_active() || n.is_done()) {
        return true;
    }
    let mut after = s.clone();
    if let Some(r) = u.requires_approval {
        after.requires_approval = r;
    }
    if let Some(status) = u.step_status {
        after.status = status;
    }
    !after.awaits_approval()
}

/// Applies an update's step fields to step `key` (created if new);
/// returns the status it was moved to, if any. Under a strict approval
/// policy an update cannot pass a gate: its status and a lifted
/// `requires_approval` are not applied (the write path refuses such
/// updates; this holds for lines written by hand or by other clients).
fn update_step(run: &mut Run, event: &Event, u: &Updated, key: &str) -> Option<StepStatus> {
    let at = event.at.as_str();
    if run.step(key).is_none() {
        let title = u.step_title.clone().unwrap_or_else(|| key.to_string());
        let order = run.steps.len();
        let index = run.steps.iter().map(|s| s.step_index).max().unwrap_or(0) + 1;
        run.steps.push(Step::new(key, &title, order, index, at));
    }
    let strict = run.rules.policy().is_strict();
    let step = run.step_mut(key).expect("step exists: created above");
    let held = strict && passes_gate(step, u);
    let was_gated = step.awaits_approval();
    set_step_fields(step, u, held, at);
    let moved = if held {
        None
    } else {
        u.step_status.map(|new| move_step(step, event, u, new))
    };
    if step.awaits_approval() && (!was_gated || u.requires_approval == Some(true)) {
        step.gate_requested_by = Some(event.actor.clone());
    }
    if held {
        unhonoured(run, event, key, Refusal::UpdateCannotPass);
    }
    moved
}

/// The step fields an update sets beside its status.
fn set_step_fields(step: &mut Step, u: &Updated, held: bool, at: &str) {
    if let Some(t) = &u.step_title {
        step.title = t.clone();
    }
    if let Some(m) = u.max_retries {
        step.max_retries = m;
    }
    match u.requires_approval {
        // Asking for approval again re-arms the gate.
        Some(true) => {
            step.requires_approval = true;
            step.approval = None;
            step.human_gate = true;
        }
        Some(false) if !held => step.requires_approval = false,
        _ => {}
    }
    if let Some(patch) = &u.state_patch {
        step.last_state_patch.clone_from(patch);
    }
    for (field, value) in [
        (&mut step.retry_policy, &u.retry_policy),
        (&mut step.retry_after, &u.retry_after),
        (&mut step.compensation, &u.compensation),
        (&mut step.last_summary, &u.summary),
        (&mut step.last_evidence, &u.evidence),
    ] {
        if value.is_some() {
            field.clone_from(value);
        }
    }
    step.updated_at = at.to_string();
}

/// Moves a step to `new`: attempts, the seed's approval by update, times.
fn move_step(step: &mut Step, event: &Event, u: &Updated, new: StepStatus) -> StepStatus {
    let at = event.at.as_str();
    // Schema 1 counted running → retrying as a new attempt; from schema 2
    // on, as in the original, only entering the work from elsewhere does.
    let new_attempt = match event.v {
        1 => step.status != new,
        _ => !step.status.is_active(),
    };
    if new.is_active() && new_attempt {
        step.attempt_count += 1;
    }
    if (new.is_active() || new == StepStatus::Completed) && step.awaits_approval() {
        step.approval = Some(Approval {
            decision: Verdict::Approved,
            by: event.actor.clone(),
            at: at.to_string(),
            note: u.summary.clone().unwrap_or_default(),
            via: Via::Update,
            verified: false,
        });
    }
    if new == StepStatus::Running && step.started_at.is_none() {
        step.started_at = Some(at.to_string());
    }
    // Reopening a finished step clears its completion time.
    step.completed_at = new.is_done().then(|| at.to_string());
    step.status = new;
    new
}

/// Records that the policy did not honour `event` on step `key`.
fn unhonoured(run: &mut Run, event: &Event, key: &str, refusal: Refusal) {
    run.unhonoured.push(Unhonoured {
        event_id: event.id.clone(),
        step_key: key.to_string(),
        actor: event.actor.clone(),
        at: event.at.clone(),
        message: refusal.to_string(),
        refusal,
    });
}

/// The run status that step `key` moving to `status` implies, if any
/// (docs/format.md, "The fold").
fn derived_run_status(run: &Run, key: &str, status: StepStatus) -> Option<RunStatus> {
    let gated = run.step(key).is_some_and(Step::awaits_approval);
    let all_done = run.steps.iter().all(|s| s.status.is_done());
    match status {
        StepStatus::WaitingApproval => Some(RunStatus::WaitingApproval),
        StepStatus::Blocked if gated => Some(RunStatus::WaitingApproval),
        StepStatus::Blocked => Some(RunStatus::Blocked),
        StepStatus::Running | StepStatus::Retrying => Some(RunStatus::Running),
        StepStatus::Failed => Some(RunStatus::Failed),
        StepStatus::Completed | StepStatus::Skipped if all_done => Some(RunStatus::Completed),
        StepStatus::Completed | StepStatus::Skipped => Some(RunStatus::Running),
        StepStatus::Pending => None,
    }
}

fn apply_handoff(run: &mut Run, event: &Event, h: &HandedOff) {
    if let Some(owner) = &h.new_owner {
        run.owner = owner.clone();
    }
    if let Some(next) = &h.next_action {
        run.next_action = next.clone();
    }
    if let Some(state) = &h.shared_state {
        run.shared_state = state.clone();
    }
    run.last_checkpoint_label = Some("handoff".into());
    push_checkpoint(run, event, "handoff".into(), None, h.note.clone(), None);
}

fn apply_decision(run: &mut Run, event: &Event, d: &Decision, verdict: Verdict) {
    let at = event.at.as_str();
    let requested_by = match run.step(&d.step_key) {
        Some(step) => step.gate_requested_by.clone(),
        None => {
            // Validation prevents this; a hand-made history may not.
            push_checkpoint(run, event, verdict_label(verdict).into(), None, None, None);
            return;
        }
    };
    if let Err(refusal) = run
        .rules
        .honours(event, &run.owner, requested_by.as_deref())
    {
        unhonoured(run, event, &d.step_key, refusal);
        let label = format!("{} (not honoured)", verdict_label(verdict));
        push_checkpoint(run, event, label, Some(d.step_key.clone()), None, None);
        return;
    }
    let verified = run.rules.verified.contains(&event.id);
    let step = run
        .step_mut(&d.step_key)
        .expect("the step exists: checked above");
    step.approval = Some(Approval {
        decision: verdict,
        by: event.actor.clone(),
        at: at.to_string(),
        note: d.note.clone(),
        via: match verdict {
            Verdict::Approved => Via::Approve,
            Verdict::Rejected => Via::Reject,
        },
        verified,
    });
    step.updated_at = at.to_string();
    let title = step.title.clone();
    let next = match verdict {
        Verdict::Approved => {
            if matches!(
                step.status,
                StepStatus::Blocked | StepStatus::WaitingApproval
            ) {
                step.status = StepStatus::Pending;
            }
            format!(
                "Continue with step '{title}' (approved by {}{}).",
                event.actor,
                if verified { ", signature verified" } else { "" }
            )
        }
        Verdict::Rejected => {
            step.status = StepStatus::Blocked;
            let why = if d.note.is_empty() {
                String::new()
            } else {
                format!(": {}", d.note)
            };
            format!(
                "Step '{title}' was rejected by {}{why}. Revise it and request approval again, or cancel the run.",
                event.actor
            )
        }
    };
    run.current_step_key = Some(d.step_key.clone());
    match verdict {
        Verdict::Rejected => set_status(run, RunStatus::Blocked, at),
        Verdict::Approved
            if matches!(run.status, RunStatus::WaitingApproval | RunStatus::Blocked) =>
        {
            let status = if run.steps.iter().any(Step::held_at_gate) {
                RunStatus::WaitingApproval
            } else if run.steps.iter().any(|s| s.status == StepStatus::Blocked) {
                RunStatus::Blocked
            } else {
                RunStatus::Running
            };
            set_status(run, status, at);
        }
        Verdict::Approved => {}
    }
    run.next_action = d.next_action.clone().unwrap_or(next);
    run.last_checkpoint_label = Some(verdict_label(verdict).into());
    let note = (!d.note.is_empty()).then(|| d.note.clone());
    push_checkpoint(
        run,
        event,
        verdict_label(verdict).into(),
        Some(d.step_key.clone()),
        note,
        None,
    );
}

fn verdict_label(v: Verdict) -> &'static str {
    match v {
        Verdict::Approved => "approved",
        Verdict::Rejected => "rejected",
    }
}

fn push_checkpoint(
    run: &mut Run,
    event: &Event,
    label: String,
    step_key: Option<String>,
    summary: Option<String>,
    evidence: Option<String>,
) {
    let step = step_key.as_deref().and_then(|k| run.step(k));
    let checkpoint = Checkpoint {
        event_id: event.id.clone(),
        created_at: event.at.clone(),
        event_type: event.body.type_name().to_string(),
        checkpoint_label: label,
        actor: event.actor.clone(),
        step_status: step.map(|s| s.status),
        attempt: step.map_or(0, |s| s.attempt_count),
        requires_approval: step.is_some_and(Step::awaits_approval),
        step_key,
        run_status: run.status,
        summary,
        evidence,
        next_action: run.next_action.clone(),
        compensation_note: None,
        owner: run.owner.clone(),
    };
    run.checkpoints.push_back(checkpoint);
    if run.checkpoints.len() > run.keep {
        run.checkpoints.pop_front();
    }
}

/// RFC 7396 JSON merge patch: objects merge recursively, `null` deletes.
pub fn merge_patch(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (key, value) in patch {
        match value {
            Value::Null => {
                target.remove(key);
            }
            Value::Object(p) => {
                let entry = target
                    .entry(key.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !entry.is_object() {
                    *entry = Value::Object(Map::new());
                }
                if let Value::Object(t) = entry {
                    merge_patch(t, p);
                }
            }
            other => {
                target.insert(key.clone(), other.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::event::Updated;
    use crate::model::StepStatus::*;
    use crate::testkit::{History, RUN, event, status_of};

    #[test]
    fn a_new_run_is_open_at_its_first_step() {
        let run = History::open(&["build", "ship"]).fold();
        assert_eq!(run.run_id, RUN);
        assert_eq!(run.status, RunStatus::Open);
        assert_eq!(run.current_step_key.as_deref(), Some("build"));
        assert!(run.steps.iter().all(|s| s.status == Pending));
    }

    #[test]
    fn the_first_event_must_be_opened() {
        let mut h = History::open(&["a"]);
        h.events.remove(0);
        h.step("a", Running);
        assert!(fold(h.events[1..].to_vec()).is_err());
    }

    #[test]
    fn run_status_follows_the_step_that_moved() {
        let mut h = History::open(&["a", "b"]);
        for (status, expected) in [
            (Running, RunStatus::Running),
            (Blocked, RunStatus::Blocked),
            (WaitingApproval, RunStatus::WaitingApproval),
            (Failed, RunStatus::Failed),
            (Completed, RunStatus::Running),
        ] {
            h.step("a", status);
            assert_eq!(h.fold().status, expected, "step a → {status}");
        }
        h.step("b", Skipped);
        assert_eq!(h.fold().status, RunStatus::Completed, "every step done");
    }

    #[test]
    fn an_explicit_run_status_wins_over_the_derived_one() {
        let mut h = History::open(&["a"]);
        h.update(Updated {
            run_status: Some(RunStatus::Cancelled),
            ..status_of("a", Running)
        });
        assert_eq!(h.fold().status, RunStatus::Cancelled);
    }

    #[test]
    fn closed_at_is_set_on_closing_and_cleared_on_reopening() {
        let mut h = History::open(&["a"]);
        h.step("a", Failed);
        assert!(h.fold().closed_at.is_some());
        h.step("a", Retrying);
        assert_eq!(h.fold().closed_at, None);
        assert_eq!(h.fold().status, RunStatus::Running);
    }

    #[test]
    fn attempts_count_each_entry_into_the_work_from_elsewhere() {
        let mut h = History::open(&["a"]);
        h.step("a", Running).step("a", Running).step("a", Failed);
        h.step("a", Retrying).step("a", Running);
        let step = h.fold().step("a").cloned().unwrap();
        // running (1), failed, retrying (2); retrying → running is the
        // same attempt, as in the original.
        assert_eq!(step.attempt_count, 2);
        assert!(step.started_at.is_some());
    }

    #[test]
    fn schema_1_events_keep_counting_as_they_did() {
        let mut h = History::open(&["a"]);
        h.step("a", Running).step("a", Retrying).step("a", Running);
        for e in &mut h.events {
            e.v = 1;
        }
        assert_eq!(h.fold().step("a").unwrap().attempt_count, 3);
    }

    #[test]
    fn steps_open_with_the_originals_fields_in_step_index_order() {
        let mut h = History::open(&[]);
        let Body::Opened(o) = &mut h.events[0].body else {
            unreachable!()
        };
        o.steps = vec![
            StepSpec {
                key: "late".into(),
                title: "Late".into(),
                step_index: Some(9),
                ..Default::default()
            },
            StepSpec {
                key: "gate".into(),
                title: "Gate".into(),
                human_gate: true,
                status: Some(Running),
                compensation: Some("undo".into()),
                ..Default::default()
            },
        ];
        let run = h.fold();
        assert_eq!(run.step_keys(), "gate, late");
        let gate = run.step("gate").unwrap();
        assert_eq!((gate.step_index, gate.order), (2, 0));
        assert!(gate.human_gate && gate.requires_approval);
        assert_eq!(gate.status, Running);
        assert_eq!(gate.compensation.as_deref(), Some("undo"));
    }

    #[test]
    fn a_state_patch_is_the_steps_last_and_merges_into_shared_state() {
        let mut h = History::open(&["a"]);
        h.update(Updated {
            state_patch: json!({"files": ["x"]}).as_object().cloned(),
            ..status_of("a", Running)
        });
        h.step("a", Completed);
        let run = h.fold();
        assert_eq!(
            Value::Object(run.step("a").unwrap().last_state_patch.clone()),
            json!({"files": ["x"]}),
            "an update that sends none keeps the last one"
        );
        assert_eq!(Value::Object(run.shared_state), json!({"files": ["x"]}));
    }

    #[test]
    fn completing_a_step_moves_current_to_the_next_pending_one() {
        let mut h = History::open(&["a", "b", "c"]);
        h.step("b", Completed);
        assert_eq!(h.fold().current_step_key.as_deref(), Some("a"));
        h.step("a", Completed);
        assert_eq!(h.fold().current_step_key.as_deref(), Some("c"));
        assert!(h.fold().step("a").unwrap().completed_at.is_some());
    }

    #[test]
    fn an_update_naming_a_new_step_with_a_title_appends_it() {
        let mut h = History::open(&["a"]);
        h.update(Updated {
            step_title: Some("Extra".into()),
            ..status_of("extra", Pending)
        });
        let run = h.fold();
        assert_eq!(run.step_keys(), "a, extra");
        assert_eq!(run.step("extra").unwrap().order, 1);
    }

    #[test]
    fn a_gate_is_passed_by_an_approval() {
        let mut h = History::open(&["a!"]);
        h.step("a", Blocked);
        assert_eq!(h.fold().status, RunStatus::WaitingApproval);
        h.approve("a", "lead");
        let run = h.fold();
        let a = run.step("a").unwrap();
        assert_eq!(a.status, Pending, "an approval releases a blocked step");
        let approval = a.approval.as_ref().unwrap();
        assert_eq!(
            (approval.decision, approval.via),
            (Verdict::Approved, Via::Approve)
        );
        assert_eq!(approval.by, "lead");
    }

    #[test]
    fn carrying_a_gated_step_on_is_recorded_as_an_approval_by_update() {
        let mut h = History::open(&["a!"]);
        h.step("a", Running);
        let run = h.fold();
        let approval = run.step("a").unwrap().approval.clone().unwrap();
        assert_eq!(approval.via, Via::Update);
        assert_eq!(approval.by, "agent");
    }

    #[test]
    fn requesting_approval_again_re_arms_the_gate() {
        let mut h = History::open(&["a!"]);
        h.approve("a", "lead");
        h.update(Updated {
            requires_approval: Some(true),
            ..status_of("a", Blocked)
        });
        let run = h.fold();
        assert!(run.step("a").unwrap().approval.is_none());
        assert!(run.step("a").unwrap().awaits_approval());
    }

    #[test]
    fn a_rejection_is_kept_with_who_and_why() {
        let mut h = History::open(&["a!"]);
        h.step("a", Blocked).reject("a", "lead", "missing notes");
        let run = h.fold();
        let a = run.step("a").unwrap();
        assert!(a.is_rejected());
        let r = a.approval.as_ref().unwrap();
        assert_eq!(
            (r.by.as_str(), r.note.as_str(), r.via),
            ("lead", "missing notes", Via::Reject)
        );
    }

    #[test]
    fn shared_state_is_replaced_and_patched_per_rfc_7396() {
        let mut h = History::open(&["a"]);
        h.update(Updated {
            shared_state: json!({"a": 1, "b": {"c": 2}}).as_object().cloned(),
            ..Default::default()
        });
        h.update(Updated {
            state_patch: json!({"a": null, "b": {"d": 3}}).as_object().cloned(),
            ..Default::default()
        });
        assert_eq!(
            serde_json::Value::Object(h.fold().shared_state),
            json!({"b": {"c": 2, "d": 3}})
        );
    }

    #[test]
    fn a_handoff_changes_the_owner() {
        let mut h = History::open(&["a"]);
        h.handoff("claude_code");
        assert_eq!(h.fold().owner, "claude_code");
    }

    #[test]
    fn every_update_is_a_checkpoint_with_a_default_label() {
        let mut h = History::open(&["a"]);
        h.step("a", Running);
        h.update(Updated {
            summary: Some("half way".into()),
            ..Default::default()
        });
        let run = h.fold();
        let labels: Vec<_> = run
            .checkpoints
            .iter()
            .map(|c| c.checkpoint_label.as_str())
            .collect();
        assert!(labels.ends_with(&["a:running", "update"]), "{labels:?}");
        assert_eq!(run.last_checkpoint_label.as_deref(), Some("update"));
    }

    #[test]
    fn order_and_repetition_of_lines_do_not_change_the_state() {
        let mut h = History::open(&["a", "b"]);
        h.step("a", Running)
            .step("a", Completed)
            .handoff("x")
            .step("b", Failed);
        let expected = h.fold();
        let mut shuffled = h.events.clone();
        shuffled.reverse();
        shuffled.push(h.events[2].clone());
        assert_eq!(fold(shuffled).unwrap(), expected);
    }

    #[test]
    fn reopening_a_completed_step_clears_its_completion_time() {
        let mut h = History::open(&["a"]);
        h.step("a", Completed);
        assert!(h.fold().step("a").unwrap().completed_at.is_some());
        h.step("a", Running);
        assert_eq!(h.fold().step("a").unwrap().completed_at, None);
    }

    #[test]
    fn waiting_approval_is_a_gate_even_without_the_flag() {
        let mut h = History::open(&["a"]);
        h.step("a", WaitingApproval);
        let run = h.fold();
        assert!(run.step("a").unwrap().held_at_gate());
        assert_eq!(run.status, RunStatus::WaitingApproval);
    }

    #[test]
    fn the_clock_and_heads_track_the_history() {
        let mut h = History::open(&["a"]);
        h.step("a", Running);
        let run = h.fold();
        assert_eq!(run.clock, 2);
        assert_eq!(run.heads, vec![h.events[1].id.clone()]);
        // A concurrent event (same parent) makes two heads.
        let parent = vec![h.events[0].id.clone()];
        h.events.push(event(
            9,
            2,
            parent,
            "other",
            crate::event::Body::Updated(status_of("a", Failed)),
        ));
        assert_eq!(h.fold().heads.len(), 2);
    }
}
