//! The resume rules: from a run's state to the next honest action.
//!
//! The rules are tried in order and the first that holds decides. They are
//! the original's, plus the approval gate and rejection, which the original
//! lacked (see docs/cli.md, "resume").

use serde::Serialize;

use crate::fold::{Run, Step};
use crate::model::{RunStatus, StepStatus};

/// What `resume` says about a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resume {
    pub resume_state: String,
    pub can_resume: bool,
    pub requires_approval: bool,
    pub message: String,
    /// The step the message is about, when there is one.
    pub step_key: Option<String>,
}

impl Resume {
    fn new(state: &str, can_resume: bool, message: String, step: Option<&Step>) -> Resume {
        Resume {
            resume_state: state.to_string(),
            can_resume,
            requires_approval: false,
            message,
            step_key: step.map(|s| s.step_key.clone()),
        }
    }
}

/// `text` as a sentence that another can follow: trimmed, with a full
/// stop unless it already ends in punctuation.
fn sentence(text: &str) -> String {
    let t = text.trim();
    if t.ends_with(['.', '!', '?', ':', ';']) {
        t.to_string()
    } else {
        format!("{t}.")
    }
}

fn with_next(message: String, run: &Run) -> String {
    if run.next_action.is_empty() {
        message
    } else {
        format!("{message} Next action: {}", run.next_action)
    }
}

pub fn resume(run: &Run) -> Resume {
    // 0. Clones changed the same thing without seeing each other: the
    //    honest next action is to decide which value is true.
    let divergences = run.divergences();
    if let Some(first) = divergences.first() {
        let mut msg = String::from("Reconcile concurrent changes before going on: ");
        msg.push_str(
            &divergences
                .iter()
                .map(|d| d.describe())
                .collect::<Vec<_>>()
                .join("; "),
        );
        msg.push_str(&match &first.step_key {
            Some(k) => format!(
                ". Record the true value, e.g. nexo update {} {k} --status <status>.",
                run.run_id
            ),
            None => format!(
                ". Record the true owner, e.g. nexo handoff {} --to <owner>.",
                run.run_id
            ),
        });
        let step = first.step_key.as_deref().and_then(|k| run.step(k));
        return Resume::new("reconcile", false, msg, step);
    }
    // 1. A closed-and-done run has nothing left to resume.
    if matches!(run.status, RunStatus::Completed | RunStatus::Cancelled) {
        let msg = format!("Run is {}; nothing is left to resume.", run.status);
        return Resume::new(run.status.as_str(), false, msg, None);
    }
    // 2. A step held at its approval gate: only a decision moves it.
    if let Some(step) = run
        .steps
        .iter()
        .find(|s| s.held_at_gate() && !s.is_rejected())
    {
        return gate(run, step);
    }
    // 3. A rejected step: someone must revise it or cancel the run.
    if let Some(step) = run.steps.iter().find(|s| s.is_rejected()) {
        let a = step
            .approval
            .as_ref()
            .expect("rejected steps carry a decision");
        let why = if a.note.is_empty() {
            String::new()
        } else {
            format!(": {}", a.note)
        };
        let msg = format!(
            "Step '{}' was rejected by {} at {}{why}. Revise it and request approval again (update with requires_approval: true), or cancel the run.",
            step.title, a.by, a.at
        );
        return Resume::new("rejected", false, msg, Some(step));
    }
    // 4. A failed step with attempts left can be retried.
    if let Some(step) = run
        .steps
        .iter()
        .find(|s| s.status == StepStatus::Failed && s.attempt_count < s.max_retries)
    {
        let mut msg = format!(
            "Step '{}' failed after attempt {} of {}; retry it.",
            step.title, step.attempt_count, step.max_retries
        );
        if let Some(after) = &step.retry_after {
            msg.push_str(&format!(" Retry after {after}."));
        }
        return Resume::new("retry_available", true, msg, Some(step));
    }
    // 5. A failed step with no attempts left stops the run until someone
    //    decides: carrying on with the next step would hide the failure.
    if let Some(step) = run.steps.iter().find(|s| s.status == StepStatus::Failed) {
        let mut msg = format!(
            "Step '{}' failed after {} attempt{} with no retries left.",
            step.title,
            step.attempt_count,
            if step.attempt_count == 1 { "" } else { "s" }
        );
        if let Some(summary) = &step.last_summary {
            msg.push_str(&format!(" Last summary: {}", sentence(summary)));
        }
        msg.push_str(" Decide: raise max_retries and retry, mark it skipped, or cancel the run.");
        return Resume::new("failed", false, msg, Some(step));
    }
    // 6. The current step, if it is in flight or blocked.
    if let Some(step) = run.current_step_key.as_deref().and_then(|k| run.step(k)) {
        let verb = match step.status {
            StepStatus::Running => Some("is running: continue it"),
            StepStatus::Retrying => Some("is being retried: continue it"),
            StepStatus::Blocked => Some("is blocked: clear the blocker, then update it"),
            _ => None,
        };
        if let Some(verb) = verb {
            let mut msg = format!("Step '{}' {verb}.", step.title);
            if let (StepStatus::Blocked, Some(summary)) = (step.status, &step.last_summary) {
                msg.push_str(&format!(" Last summary: {}", sentence(summary)));
            }
            let can = step.status != StepStatus::Blocked;
            return Resume::new(step.status.as_str(), can, with_next(msg, run), Some(step));
        }
    }
    // 7. The first step still to do.
    if let Some(step) = run
        .steps
        .iter()
        .find(|s| matches!(s.status, StepStatus::Pending | StepStatus::Retrying))
    {
        if step.awaits_approval() {
            return gate(run, step);
        }
        let msg = format!("Continue with step '{}'.", step.title);
        return Resume::new("ready", true, msg, Some(step));
    }
    // 8. Nothing step-shaped: the run's own status and next action.
    let msg = if run.next_action.is_empty() {
        format!("Run is {}.", run.status)
    } else {
        run.next_action.clone()
    };
    Resume::new(run.status.as_str(), !run.status.is_closed(), msg, None)
}

fn gate(run: &Run, step: &Step) -> Resume {
    let mut msg = format!("Step '{}' is waiting for approval.", step.title);
    if let Some(summary) = &step.last_summary {
        msg.push_str(&format!(" {}", sentence(summary)));
    }
    msg.push_str(&format!(
        " Approve with: nexo approve {} {} (or reject with: nexo reject {} {} --reason ...).",
        run.run_id, step.step_key, run.run_id, step.step_key
    ));
    let mut r = Resume::new("waiting_approval", false, msg, Some(step));
    r.requires_approval = true;
    r
}
