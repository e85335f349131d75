//! `compensation`: what to undo, and in which order, for the work a run
//! has done. Two views of the same steps: the original's plan (every step
//! with a compensation that did or is doing work, in reverse step order),
//! and nexo's (steps that did work, most recently touched first, with the
//! ones that declared no compensation named).

use crate::core::error::Result;
use crate::core::fold::{Run, Step};
use crate::core::model::StepStatus;
use crate::wire::request::CompensationRequest;
use crate::wire::response::*;
use crate::workspace::Nexo;

const DEFAULT_CHECKPOINT_LIMIT: usize = 10;

impl Nexo {
    pub fn compensation(&self, req: CompensationRequest) -> Result<CompensationResponse> {
        let limit = super::validate::limit_or(req.checkpoint_limit, DEFAULT_CHECKPOINT_LIMIT);
        let run = self.load_keeping(&req.run_id, limit)?;
        Ok(plan(&run, limit))
    }
}

/// The compensation answer for `run`, looking at its newest `limit`
/// checkpoints for declared compensations.
pub fn plan(run: &Run, limit: usize) -> CompensationResponse {
    let compensation_steps: Vec<CompensationStep> = run
        .steps
        .iter()
        .rev()
        .filter(|s| in_original_plan(s))
        .map(|s| CompensationStep {
            step_key: s.step_key.clone(),
            title: s.title.clone(),
            status: s.status,
            compensation: s.compensation.clone().unwrap_or_default(),
            attempt_count: s.attempt_count,
            last_summary: s.last_summary.clone(),
        })
        .collect();
    let recent_compensation_notes = run
        .checkpoints
        .iter()
        .rev()
        .take(limit)
        .filter_map(|c| {
            let note = c.compensation_note.clone()?;
            Some(CompensationNote {
                created_at: c.created_at.clone(),
                checkpoint_label: c.checkpoint_label.clone(),
                step_key: c.step_key.clone(),
                summary: c.summary.clone(),
                compensation_note: note,
                actor: c.actor.clone(),
            })
        })
        .collect();
    let recommended_action = if compensation_steps.is_empty() {
        "No compensation steps registered for this workflow."
    } else {
        "Execute compensation steps in listed order before cancelling or reopening the run."
    };
    // nexo's view: steps that did work, latest first; skipped steps did
    // none, and a failed one did some even with no attempt recorded (an
    // agent may report the failure without marking the step running).
    let mut touched: Vec<&Step> = run
        .steps
        .iter()
        .filter(|s| {
            s.attempt_count > 0
                || s.status.is_done()
                || s.status == StepStatus::Failed
                || s.started_at.is_some()
        })
        .filter(|s| s.status != StepStatus::Skipped)
        .collect();
    touched.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(b.order.cmp(&a.order)));
    let compensations: Vec<Compensation> = touched
        .iter()
        .filter_map(|s| {
            s.compensation.as_ref().map(|c| Compensation {
                step_key: s.step_key.clone(),
                title: s.title.clone(),
                step_status: s.status,
                compensation: c.clone(),
                completed_at: s.completed_at.clone(),
            })
        })
        .collect();
    CompensationResponse {
        ok: true,
        run_id: run.run_id.clone(),
        status: run.status,
        owner: run.owner.clone(),
        current_step_key: run.current_step_key.clone(),
        compensation_steps,
        recent_compensation_notes,
        recommended_action: recommended_action.to_string(),
        count: compensations.len(),
        compensations,
        uncovered_steps: touched
            .iter()
            .filter(|s| s.compensation.is_none())
            .map(|s| s.step_key.clone())
            .collect(),
        checkpoints: newest_checkpoints(run, limit),
    }
}

/// The original's rule: a step with a compensation that completed, is in
/// flight, failed, or stopped at a block or gate.
fn in_original_plan(s: &Step) -> bool {
    s.compensation.as_deref().is_some_and(|c| !c.is_empty())
        && matches!(
            s.status,
            StepStatus::Completed
                | StepStatus::Running
                | StepStatus::Retrying
                | StepStatus::Failed
                | StepStatus::Blocked
                | StepStatus::WaitingApproval
        )
}
