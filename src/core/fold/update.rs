//! Updates: a step's fields and status, and the run status they imply.

use super::{
    Approval, Mover, Run, Seen, Step, Verdict, Via, merge_patch, push_checkpoint, set_status,
    unhonoured,
};
use crate::core::approval::Refusal;
use crate::core::event::{Event, Updated};
use crate::core::model::{RunStatus, StepStatus};

pub(super) fn apply_update(run: &mut Run, event: &Event, u: &Updated, seen: Seen) {
    let at = event.at.as_str();
    let touched_status = match &u.step_key {
        Some(key) => {
            let touched = update_step(run, event, u, key, seen);
            run.current_step_key = Some(key.clone());
            touched
        }
        None => None,
    };
    if let Some(status) = u.run_status {
        match closed_gate_for(run, status) {
            Some(key) => unhonoured(run, event, &key, Refusal::UpdateCannotPass),
            None => set_status(run, status, at),
        }
    } else if let (Some(status), Some(key)) = (touched_status, &u.step_key)
        && let Some(s) = derived_run_status(run, key, status)
    {
        set_status(run, s, at);
    }
    if touched_status.is_some_and(StepStatus::is_done)
        && let Some(next) = next_step(run)
    {
        run.current_step_key = Some(next);
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

/// Under a strict policy, the gated step (the first in order) that keeps
/// an explicit run status of `completed` from being honoured: a run is not
/// done while a gate on its way is closed. Ending it otherwise (failed,
/// cancelled) passes no gate, and is honoured.
pub fn closed_gate_for(run: &Run, status: RunStatus) -> Option<String> {
    if !run.rules.policy().is_strict() || status != RunStatus::Completed {
        return None;
    }
    run.steps
        .iter()
        .find(|s| s.awaits_approval())
        .map(|s| s.step_key.clone())
}

/// Checks the dependencies update `u` gives its step against `run`: every
/// name a step of the run (or the step the update adds), and no cycle. The
/// write side refuses such an update; the fold does not honour one.
pub fn check_needs(run: &Run, u: &Updated) -> crate::core::error::Result<()> {
    let (Some(needs), Some(key)) = (&u.needs, &u.step_key) else {
        return Ok(());
    };
    let mut graph: Vec<(&str, &[String])> = run
        .steps
        .iter()
        .map(|s| match s.step_key == *key {
            true => (s.step_key.as_str(), needs.as_slice()),
            false => (s.step_key.as_str(), s.needs.as_slice()),
        })
        .collect();
    if run.step(key).is_none() {
        graph.push((key.as_str(), needs.as_slice()));
    }
    let at = graph.iter().position(|(k, _)| k == key).expect("present");
    crate::core::graph::check(&graph, &|i| match i == at {
        true => "needs".to_string(),
        false => format!("the needs of step '{}'", graph[i].0),
    })
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
/// returns the status it was moved to, if any. An update cannot pass a
/// gate whose request it did not see, and under a strict approval policy
/// it cannot pass one at all: its status and a lifted `requires_approval`
/// are not applied (the write path refuses such updates; this holds for
/// lines written by hand or by other clients).
fn update_step(
    run: &mut Run,
    event: &Event,
    u: &Updated,
    key: &str,
    seen: Seen,
) -> Option<StepStatus> {
    let at = event.at.as_str();
    if run.step(key).is_none() {
        let title = u.step_title.clone().unwrap_or_else(|| key.to_string());
        let order = run.steps.len();
        let index = run.steps.iter().map(|s| s.step_index).max().unwrap_or(0) + 1;
        run.steps.push(Step::new(key, &title, order, index, at));
    }
    if u.requires_approval == Some(true) {
        super::unseen::take_back(run, event, key, seen);
    }
    let step = run.step(key).expect("step exists: created above");
    let passes = passes_gate(step, u);
    let refusal = match &step.gate_event {
        Some(g) if passes && !seen.followed(run, g) => Some(Refusal::UnseenGate(g.to_string())),
        _ if passes && run.rules.policy().is_strict() => Some(Refusal::UpdateCannotPass),
        _ => None,
    };
    let held = refusal.is_some();
    // Needs that do not fit the state met (a step the run lacks, a cycle
    // with a line that sorted first) are left out, not the whole update:
    // no line can void another's request for approval by sorting first.
    let bad_needs = check_needs(run, u).err();
    let step = run.step_mut(key).expect("step exists: created above");
    let was_gated = step.awaits_approval();
    set_step_fields(step, u, held, bad_needs.is_none(), at);
    let moved = if held {
        None
    } else {
        u.step_status.map(|new| move_step(step, event, u, new))
    };
    if step.awaits_approval() && (!was_gated || u.requires_approval == Some(true)) {
        step.gate_requested_by = Some(event.actor.clone());
        step.gate_event = Some(event.id.clone());
    }
    if let Some(refusal) = refusal {
        unhonoured(run, event, key, refusal);
    }
    if let Some(e) = bad_needs {
        unhonoured(run, event, key, Refusal::Needs(e.message));
    }
    moved
}

/// The step fields an update sets beside its status.
fn set_step_fields(step: &mut Step, u: &Updated, held: bool, needs_fit: bool, at: &str) {
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
    if let Some(needs) = u.needs.as_ref().filter(|_| needs_fit) {
        step.needs.clone_from(needs);
    }
    if let Some(after) = &u.after {
        step.after.clone_from(after);
    }
    if let Some(t) = &u.not_before {
        step.not_before = (!t.is_empty()).then(|| t.clone());
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
    step.moved_by = Some(Mover {
        event_id: event.id.clone(),
        actor: event.actor.clone(),
        at: at.to_string(),
        before: None,
    });
    new
}

/// The step to point at after one is done: the first still to do; in a
/// graph, the first whose needs are done.
fn next_step(run: &Run) -> Option<String> {
    let to_do = |s: &&Step| matches!(s.status, StepStatus::Pending | StepStatus::Retrying);
    let ready = |s: &&Step| {
        s.needs
            .iter()
            .all(|n| run.step(n).is_some_and(|d| d.status.is_done()))
    };
    run.steps
        .iter()
        .filter(to_do)
        .find(|s| !run.is_graph() || ready(s))
        .or_else(|| run.steps.iter().find(to_do))
        .map(|s| s.step_key.clone())
}

/// The run status that step `key` moving to `status` implies, if any
/// (docs/format.md, "The fold"). In a graph, the steps are a set: the run
/// is running while any step runs, whatever one of them just did.
fn derived_run_status(run: &Run, key: &str, status: StepStatus) -> Option<RunStatus> {
    if run.is_graph() && !status.is_done() && !status.is_active() {
        let others_run = run
            .steps
            .iter()
            .any(|s| s.step_key != key && s.status.is_active());
        if others_run {
            return Some(RunStatus::Running);
        }
    }
    if run.is_graph() && status.is_done() {
        let waiting = run
            .steps
            .iter()
            .all(|s| s.status.is_done() || !s.status.is_active());
        let failed = run
            .steps
            .iter()
            .any(|s| s.status == StepStatus::Failed && s.attempt_count >= s.max_retries);
        let held = run.steps.iter().any(Step::held_at_gate);
        if waiting && !run.steps.iter().all(|s| s.status.is_done()) {
            if held {
                return Some(RunStatus::WaitingApproval);
            }
            if failed {
                return Some(RunStatus::Failed);
            }
        }
    }
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
