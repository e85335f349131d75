//! Decisions on gates, and handoffs.

use super::{Approval, Run, Seen, Step, Verdict, Via, push_checkpoint, set_status, unhonoured};
use crate::core::approval::Refusal;
use crate::core::event::{Decision, Event, HandedOff};
use crate::core::model::{RunStatus, StepStatus};

pub(super) fn apply_handoff(run: &mut Run, event: &Event, h: &HandedOff) {
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

pub(super) fn apply_decision(
    run: &mut Run,
    event: &Event,
    d: &Decision,
    verdict: Verdict,
    seen: Seen,
) {
    let Some(step) = run.step(&d.step_key) else {
        // Validation prevents this; a hand-made history may not.
        push_checkpoint(run, event, verdict_label(verdict).into(), None, None, None);
        return;
    };
    // A decision answers the request in force only if it followed it;
    // then the policy decides who may give it.
    let answered = match &step.gate_event {
        Some(g) if !seen.followed(run, g) => Err(Refusal::PredatesRequest(g.to_string())),
        _ => run
            .rules
            .honours(event, &run.owner, step.gate_requested_by.as_deref()),
    };
    if let Err(refusal) = answered {
        unhonoured(run, event, &d.step_key, refusal);
        let label = format!("{} (not honoured)", verdict_label(verdict));
        push_checkpoint(run, event, label, Some(d.step_key.clone()), None, None);
        return;
    }
    let next = decide_step(run, event, d, verdict);
    let at = event.at.as_str();
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

/// Records an honoured decision on its step; returns the next action it
/// implies.
fn decide_step(run: &mut Run, event: &Event, d: &Decision, verdict: Verdict) -> String {
    let at = event.at.as_str();
    let verified = run.rules.verified.contains(&event.id);
    let step = run
        .step_mut(&d.step_key)
        .expect("the step exists: checked by the caller");
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
    match verdict {
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
    }
}

fn verdict_label(v: Verdict) -> &'static str {
    match v {
        Verdict::Approved => "approved",
        Verdict::Rejected => "rejected",
    }
}
