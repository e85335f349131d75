//! A gate is passed only by what followed its request, whatever order the
//! lines sort in (docs/format.md, "The fold"). An update met after a
//! request it did not see is held (`update::update_step`); this is the
//! other order: a request that did not see the move of its step, or the
//! run's completion, takes it back, undoing it whole, so the state is the
//! same as if the move had been met second. A back-dated line (naming an
//! old parent, with a clock and an id that sort it first) passes nothing.

use super::{Before, Mover, Run, Seen, Step, Unhonoured, set_status};
use crate::core::approval::Refusal;
use crate::core::event::{Event, Updated};
use crate::core::model::RunStatus;

/// The step and run before `u` is applied, when it may move a step or
/// complete the run.
pub(super) fn before(run: &Run, u: &Updated) -> Option<Before> {
    if u.step_status.is_none() && u.run_status.is_none() {
        return None;
    }
    let step = u.step_key.as_deref().and_then(|k| run.step(k));
    Some(snapshot(run, step))
}

fn snapshot(run: &Run, step: Option<&Step>) -> Before {
    Before {
        status: step.map_or(crate::core::model::StepStatus::Pending, |s| s.status),
        attempt_count: step.map_or(0, |s| s.attempt_count),
        started_at: step.and_then(|s| s.started_at.clone()),
        completed_at: step.and_then(|s| s.completed_at.clone()),
        claims: step.map(|s| s.claims.clone()).unwrap_or_default(),
        yielded: step.map(|s| s.yielded.clone()).unwrap_or_default(),
        run_status: run.status,
        run_closed_at: run.closed_at.clone(),
        run_after: run.status,
    }
}

/// After `event` is applied: if it moved its step, the step remembers it
/// with what it was before; if it completed the run, the run does.
pub(super) fn remember(run: &mut Run, event: &Event, u: &Updated, before: Option<Before>) {
    let after = run.status;
    if u.run_status.is_some() {
        run.completed_by = (after == RunStatus::Completed).then(|| Mover {
            event_id: event.id.clone(),
            actor: event.actor.clone(),
            at: event.at.clone(),
            before: before.clone().map(|b| {
                Box::new(Before {
                    run_after: after,
                    ..b
                })
            }),
        });
    }
    let (Some(key), Some(before)) = (&u.step_key, before) else {
        return;
    };
    let Some(step) = run.steps.iter_mut().find(|s| &s.step_key == key) else {
        return;
    };
    if let Some(m) = step.moved_by.as_mut().filter(|m| m.event_id == event.id) {
        m.before = Some(Box::new(Before {
            run_after: after,
            ..before
        }));
    }
}

/// A request for approval of step `key` (`request`, which follows
/// everything folded into `run`) that did not see the update that moved
/// the step on, or, under a strict policy, the run's completion: either
/// is taken back and listed as not honoured (`unseen_gate`).
pub(super) fn take_back(run: &mut Run, request: &Event, key: &str, seen: Seen) {
    take_back_move(run, request, key, seen);
    if run.rules.policy().is_strict() && run.status == RunStatus::Completed {
        take_back_completion(run, request, seen);
    }
}

fn take_back_move(run: &mut Run, request: &Event, key: &str, seen: Seen) {
    let step = run.step(key).expect("the caller made it");
    if !(step.status.is_active() || step.status.is_done()) {
        return;
    }
    let Some(mover) = step.moved_by.clone() else {
        return;
    };
    if seen.followed(run, &mover.event_id) {
        return;
    }
    let step = run.step_mut(key).expect("the caller made it");
    step.moved_by = None;
    match mover.before.as_deref() {
        Some(b) => {
            step.status = b.status;
            step.attempt_count = b.attempt_count;
            step.started_at.clone_from(&b.started_at);
            step.completed_at.clone_from(&b.completed_at);
            step.claims.clone_from(&b.claims);
            step.yielded.clone_from(&b.yielded);
        }
        None => {
            step.status = crate::core::model::StepStatus::Pending;
            step.completed_at = None;
        }
    }
    restore_run(run, &mover);
    refuse(run, request, key, mover);
}

fn take_back_completion(run: &mut Run, request: &Event, seen: Seen) {
    let Some(mover) = run.completed_by.clone() else {
        return;
    };
    if seen.followed(run, &mover.event_id) {
        return;
    }
    run.completed_by = None;
    restore_run(run, &mover);
    if run.status == RunStatus::Completed {
        set_status(run, RunStatus::Running, &mover.at);
    }
    let key = run.current_step_key.clone().unwrap_or_default();
    refuse(run, request, &key, mover);
}

/// The run's status as it was before the move, while the run still reads
/// as the move left it; a run that reads completed reads running.
fn restore_run(run: &mut Run, mover: &Mover) {
    match mover.before.as_deref() {
        Some(b) if run.status == b.run_after => {
            run.status = b.run_status;
            run.closed_at.clone_from(&b.run_closed_at);
        }
        _ if run.status == RunStatus::Completed => set_status(run, RunStatus::Running, &mover.at),
        _ => {}
    }
}

fn refuse(run: &mut Run, request: &Event, key: &str, mover: Mover) {
    let refusal = Refusal::UnseenGate(request.id.to_string());
    run.unhonoured.push(Unhonoured {
        event_id: mover.event_id,
        step_key: key.to_string(),
        actor: mover.actor,
        at: mover.at,
        message: refusal.to_string(),
        refusal,
    });
}
