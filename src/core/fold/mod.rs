//! The fold: a pure function from a run's events to its state.
//!
//! Events are ordered by (clock, id), and every id stands for one content
//! (`event::in_fold_order`), so every permutation of the same lines (which
//! is what git's union merge produces) folds to the same state. Applying an
//! event never fails: the history is fact. An event a peer could not have
//! written honestly (a field the write side refuses, a clock that does not
//! follow its parents) is kept in `ignored` and changes nothing (`admit`).

mod admit;
mod claim;
mod decision;
mod step;
mod stream;
mod unseen;
mod update;

use std::collections::{HashSet, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::core::approval::{Refusal, Rules};
use crate::core::divergence::{Causality, Divergence, Frontiers};
use crate::core::error::{Error, Result};
use crate::core::event::{Body, Event, Opened, StepSpec};
use crate::core::id::{EventId, RunId};
use crate::core::model::{Priority, RunStatus, StepStatus};

pub use admit::{Flaw, Ignored};
pub use claim::{Claim, Standing, TakenFrom, Takeover, Trespass, lapsed, standing};
pub use step::{Approval, Before, Mover, Step, Unhonoured, Verdict, Via};
pub use stream::Stream;
pub use update::{check_needs, closed_gate_for, passes_gate};

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
    /// The template the run was opened from, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<crate::core::event::TemplateRef>,
    pub opened_at: String,
    pub updated_at: String,
    pub closed_at: Option<String>,
    pub steps: Vec<Step>,
    /// Decisions (and gate-passing updates) the approval policy did not
    /// honour, oldest first.
    pub unhonoured: Vec<Unhonoured>,
    /// The update that completed the run (`run_status: completed`): under
    /// a strict policy a request for approval that did not see it takes
    /// it back (`fold::unseen`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_by: Option<Mover>,
    /// Events of the history the fold did not honour (invalid, out of
    /// causal order, or an id with two contents), in fold order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<Ignored>,
    #[serde(skip)]
    ignored_ids: HashSet<EventId>,
    /// Writes to claimed steps by someone other than the holder, not yet
    /// answered by the holder (`claim::Trespass`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trespasses: Vec<Trespass>,
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

    /// Whether `id` is an event this fold has seen (honoured or not).
    pub fn knows(&self, id: &str) -> bool {
        self.causality.seq_of(id).is_some() || self.ignored_ids.contains(id)
    }

    /// Whether a fold that reads a history in order can take `e` next
    /// (after checking its order): its id is new, it names only events
    /// already folded, and it is not a second opening. Otherwise the
    /// history must be folded whole (`fold_with`), which alone can judge
    /// conflicts and parents that sort after their children.
    pub fn takes_next(&self, e: &Event) -> bool {
        !self.knows(&e.id)
            && !matches!(e.body, Body::Opened(_))
            && e.parents.iter().all(|p| self.causality.seq_of(p).is_some())
    }

    /// Whether event `later` followed event `earlier`: its writer had seen
    /// it (both honoured; an event follows itself).
    pub fn follows(&self, later: &str, earlier: &str) -> bool {
        match (self.causality.seq_of(later), self.causality.seq_of(earlier)) {
            (Some(l), Some(e)) => l == e || self.causality.saw(l, e),
            _ => false,
        }
    }

    /// The ids of every event folded, honoured or not.
    pub fn known_ids(&self) -> impl Iterator<Item = &str> {
        self.causality
            .ids()
            .chain(self.ignored_ids.iter().map(|i| i.as_str()))
    }

    /// After reading a cached state back: what serde does not keep.
    pub fn restore_after_cache(&mut self, rules: Rules, keep: usize) {
        self.rules = rules;
        self.keep = keep;
        self.ignored_ids = self.ignored.iter().map(|i| i.event_id.clone()).collect();
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

    /// Whether any step needs another: the run is a graph, and readiness
    /// follows dependencies instead of the order (`crate::core::ready`).
    pub fn is_graph(&self) -> bool {
        self.steps.iter().any(|s| !s.needs.is_empty())
    }

    /// Steps done (completed or skipped) and steps in all.
    pub fn progress(&self) -> (usize, usize) {
        let done = self.steps.iter().filter(|s| s.status.is_done()).count();
        (done, self.steps.len())
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
/// newest `keep` checkpoints. The run starts at its one opening event;
/// every event the fold does not honour is listed in `ignored`. A history
/// whose opening is in doubt (none, two, or one id with two contents) is
/// corrupt: no copy's goal and owner may stand for the run.
pub fn fold_with(events: Vec<Event>, rules: Rules, keep: usize) -> Result<Run> {
    fold_noting(events, rules, keep, &|_| false, &mut |_, _, _| {})
}

/// What an event changed: the run as it was before it (its status and
/// steps), the event, the run after.
pub type Noted<'a> = dyn FnMut(&RunBefore, &Event, &Run) + 'a;

/// The run before an event, as far as telling what the event did needs:
/// its status and its steps, whose size does not grow with the history
/// (a copy of the whole run would, and made for every event of a long
/// history it cost time squared).
#[derive(Debug, Clone)]
pub struct RunBefore {
    pub status: crate::core::model::RunStatus,
    pub steps: Vec<Step>,
}

impl RunBefore {
    pub fn of(run: &Run) -> RunBefore {
        RunBefore {
            status: run.status,
            steps: run.steps.clone(),
        }
    }

    pub fn step(&self, key: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.step_key == key)
    }
}

/// [`fold_with`], handing each event after the opening for which `noted`
/// says yes to `note` with the run before and after it (`core::feed`
/// tells what happened from the two). Only those events cost a copy of
/// the run's steps.
pub fn fold_noting(
    events: Vec<Event>,
    rules: Rules,
    keep: usize,
    noted: &dyn Fn(&Event) -> bool,
    note: &mut Noted<'_>,
) -> Result<Run> {
    let ordered = crate::core::event::in_fold_order(events);
    let ahead = admit::lookahead(
        ordered
            .events
            .iter()
            .chain(ordered.conflicts.iter().flatten()),
    );
    let is_opening = |e: &&Event| matches!(e.body, Body::Opened(_));
    if let Some(copies) = ordered
        .conflicts
        .iter()
        .find(|c| c.iter().any(|e| is_opening(&e)))
    {
        return Err(Error::corrupt(format!(
            "the run's opening event {} appears with {} different contents; nexo doctor lists them",
            copies[0].id,
            copies.len()
        )));
    }
    let openings: Vec<&Event> = ordered.events.iter().filter(is_opening).collect();
    let first = match openings.as_slice() {
        [one] => *one,
        [] if ordered.events.is_empty() => {
            return Err(Error::corrupt("the run's history is empty"));
        }
        [] => {
            return Err(Error::corrupt(format!(
                "the run's history has no \"opened\" event (first is {} {})",
                ordered.events[0].body.type_name(),
                ordered.events[0].id
            )));
        }
        [a, b, ..] => {
            return Err(Error::corrupt(format!(
                "the run's history has {} \"opened\" events ({} and {}): only one may open a run",
                openings.len(),
                a.id,
                b.id
            )));
        }
    };
    let mut run = start(first, rules, keep)?;
    for copies in &ordered.conflicts {
        admit::ignore(&mut run, &copies[0], admit::conflict(copies));
    }
    let mut before_opening = true;
    for event in &ordered.events {
        if event.id == first.id {
            before_opening = false;
        } else if before_opening {
            let flaw = Flaw::Causality(format!(
                "it sorts before the run's opening {} (clock {})",
                first.id, first.clock
            ));
            admit::ignore(&mut run, event, flaw);
        } else if noted(event) {
            let before = RunBefore::of(&run);
            apply_with(&mut run, event, Some(&ahead));
            note(&before, event, &run);
        } else {
            apply_with(&mut run, event, Some(&ahead));
        }
    }
    Ok(run)
}

/// A run from its opening event, the first of its history in fold order;
/// [`apply`] folds the ones that follow. An opening the write side would
/// refuse, or that names parents, makes the run unreadable: nothing of it
/// can be trusted.
pub fn start(first: &Event, rules: Rules, keep: usize) -> Result<Run> {
    let Body::Opened(opened) = &first.body else {
        return Err(Error::corrupt(format!(
            "the run's history does not start with an \"opened\" event (first is {} {})",
            first.body.type_name(),
            first.id
        )));
    };
    crate::core::check::event(first).map_err(|e| {
        Error::corrupt(format!(
            "the run's opening event {} is not valid: {}",
            first.id, e.message
        ))
    })?;
    if !first.parents.is_empty() || first.clock > crate::core::check::MAX_CLOCK_STEP {
        return Err(Error::corrupt(format!(
            "the run's opening event {} names parents or starts at clock {}: an opening follows nothing",
            first.id, first.clock
        )));
    }
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
            s.gate_event = s.requires_approval.then(|| event.id.clone());
            s.max_retries = spec.max_retries.unwrap_or(0);
            s.status = spec.status.unwrap_or(StepStatus::Pending);
            s.retry_policy.clone_from(&spec.retry_policy);
            s.retry_after.clone_from(&spec.retry_after);
            s.compensation.clone_from(&spec.compensation);
            s.needs.clone_from(&spec.needs);
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
        template: o.template.clone(),
        opened_at: event.at.clone(),
        updated_at: event.at.clone(),
        closed_at: None,
        steps,
        unhonoured: Vec::new(),
        completed_by: None,
        ignored: Vec::new(),
        ignored_ids: HashSet::new(),
        trespasses: Vec::new(),
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
    hold_gates_opened_passed(&mut run, event);
    push_checkpoint(&mut run, event, "opened".into(), None, None, None);
    run
}

/// Under a strict policy a gated step cannot be opened as already taken up
/// or done (the write side refuses it): it opens pending, at its gate.
fn hold_gates_opened_passed(run: &mut Run, event: &Event) {
    if !run.rules.policy().is_strict() {
        return;
    }
    let passed: Vec<String> = run
        .steps
        .iter()
        .filter(|s| s.requires_approval && (s.status.is_active() || s.status.is_done()))
        .map(|s| s.step_key.clone())
        .collect();
    for key in passed {
        let step = run.step_mut(&key).expect("listed above");
        step.status = StepStatus::Pending;
        unhonoured(run, event, &key, Refusal::UpdateCannotPass);
    }
}

/// Applies one event that follows everything already folded into `run`
/// in fold order, or records why it is not honoured.
pub fn apply(run: &mut Run, event: &Event) {
    apply_with(run, event, None);
}

/// Where a folded event stands in the run's ancestry.
#[derive(Debug, Clone, Copy)]
pub(super) struct Seen {
    /// Its sequence number in the ancestry graph.
    seq: usize,
    /// It named exactly the heads: it followed everything folded before.
    saw_all: bool,
}

impl Seen {
    /// Whether the event followed event `id` (which was folded before).
    pub(super) fn followed(self, run: &Run, id: &str) -> bool {
        self.saw_all
            || run
                .causality
                .seq_of(id)
                .is_some_and(|a| run.causality.saw(self.seq, a))
    }
}

fn apply_with(run: &mut Run, event: &Event, ahead: Option<&admit::Lookahead>) {
    // An event that names every current head followed everything folded
    // so far: the linear case, which divergence detection answers at once.
    let saw_all = event.parents.len() == run.heads.len()
        && run.heads.iter().all(|h| event.parents.contains(h));
    if let Err(flaw) = admit::admit(run, event, saw_all, ahead) {
        admit::ignore(run, event, flaw);
        return;
    }
    if matches!(event.body, Body::Opened(_)) {
        // `fold_with` refuses a history with two; a caller applying one
        // by hand gets it recorded and ignored.
        let flaw = Flaw::Causality("a second opening of the run".into());
        admit::ignore(run, event, flaw);
        return;
    }
    run.clock = run.clock.max(event.clock);
    run.updated_at = event.at.clone();
    // Parents carry smaller clocks (`admit`), so they were applied already.
    run.heads.retain(|h| !event.parents.contains(h));
    if let Err(i) = run.heads.binary_search(&event.id) {
        run.heads.insert(i, event.id.clone());
    }
    let seq = run.causality.add(&event.id, event.clock, &event.parents);
    let seen = Seen { seq, saw_all };
    match &event.body {
        Body::Opened(_) => unreachable!("ignored above"),
        Body::Updated(u) => {
            let before = unseen::before(run, u);
            update::apply_update(run, event, u, seen);
            if let Some(key) = &u.step_key {
                claim::after_update(run, event, key, seen);
            }
            unseen::remember(run, event, u, before);
        }
        Body::HandedOff(h) => {
            decision::apply_handoff(run, event, h);
            claim::after_handoff(run, event, h);
        }
        Body::Claimed(c) => claim::apply_claimed(run, event, c, seen),
        Body::Released(r) => claim::apply_released(run, event, r),
        Body::Approved(d) => decision::apply_decision(run, event, d, Verdict::Approved, seen),
        Body::Rejected(d) => decision::apply_decision(run, event, d, Verdict::Rejected, seen),
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
        Body::Opened(_)
        | Body::GoalOpened(_)
        | Body::GoalUpdated(_)
        | Body::Claimed(_)
        | Body::Released(_) => (None, None, None),
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
mod claim_tests;
#[cfg(test)]
mod tests;
