//! The resume rules: from a run's state to the next honest action.
//!
//! The rules are tried in order and the first that holds decides. They are
//! the original's, plus the approval gate and rejection, which the original
//! lacked (see docs/cli.md, "resume").

use serde::{Deserialize, Serialize};

use crate::core::fold::{Claim, Run, Standing, Step};
use crate::core::model::{RunStatus, StepStatus};
use crate::core::ready::{Readiness, Wait};
use crate::core::words::count;

/// Where a run stands for whoever resumes it. Serialized in snake_case
/// (`waiting_approval`, `retry_available`, ...), the tool interface's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResumeState {
    /// Clones changed the same field concurrently: decide which is true.
    Reconcile,
    WaitingApproval,
    Rejected,
    RetryAvailable,
    Failed,
    Running,
    Retrying,
    Blocked,
    /// The step to do is held by someone else's live claim.
    Claimed,
    /// The next step can start.
    Ready,
    Open,
    Completed,
    Cancelled,
}

impl ResumeState {
    /// The state of a step in flight.
    fn of_step(status: StepStatus) -> ResumeState {
        match status {
            StepStatus::Retrying => ResumeState::Retrying,
            _ => ResumeState::Running,
        }
    }

    /// The state a run's own status gives when no step decides.
    pub fn of_run(status: RunStatus) -> ResumeState {
        match status {
            RunStatus::Open => ResumeState::Open,
            RunStatus::Running => ResumeState::Running,
            RunStatus::Blocked => ResumeState::Blocked,
            RunStatus::WaitingApproval => ResumeState::WaitingApproval,
            RunStatus::Failed => ResumeState::Failed,
            RunStatus::Completed => ResumeState::Completed,
            RunStatus::Cancelled => ResumeState::Cancelled,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ResumeState::Reconcile => "reconcile",
            ResumeState::WaitingApproval => "waiting_approval",
            ResumeState::Rejected => "rejected",
            ResumeState::RetryAvailable => "retry_available",
            ResumeState::Failed => "failed",
            ResumeState::Running => "running",
            ResumeState::Retrying => "retrying",
            ResumeState::Blocked => "blocked",
            ResumeState::Claimed => "claimed",
            ResumeState::Ready => "ready",
            ResumeState::Open => "open",
            ResumeState::Completed => "completed",
            ResumeState::Cancelled => "cancelled",
        }
    }
}

impl std::fmt::Display for ResumeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `resume` says about a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resume {
    pub resume_state: ResumeState,
    pub can_resume: bool,
    pub requires_approval: bool,
    pub message: String,
    /// The step the message is about, when there is one.
    pub step_key: Option<String>,
    /// The claim on that step that matters to the viewer: someone else's
    /// that holds them off, or their own ([`resume_as`]).
    pub claim: Option<ClaimSeen>,
    /// In a run whose steps declare `needs`: every step the viewer may
    /// take now, in order ([`resume_as`]; empty for a sequence).
    pub ready_steps: Vec<String>,
}

/// A claim as a resume shows it to its viewer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClaimSeen {
    pub step_key: String,
    pub holder: String,
    pub lease_until: String,
    pub token: String,
    /// The viewer holds it.
    pub yours: bool,
    /// The viewer's own claim on the step, which queued behind this one
    /// and lost to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub your_lost_token: Option<String>,
}

impl ClaimSeen {
    fn of(step: &Step, c: &Claim, yours: bool, lost: Option<&Claim>) -> ClaimSeen {
        ClaimSeen {
            step_key: step.step_key.clone(),
            holder: c.holder.clone(),
            lease_until: c.lease_until.clone(),
            token: c.token.to_string(),
            yours,
            your_lost_token: lost.map(|l| l.token.to_string()),
        }
    }
}

pub use crate::core::ready::Viewer;

/// A run's readiness: for a sequence, its one ready step is the one
/// [`resume`] offers to start or retry.
pub fn readiness(run: &Run) -> Readiness<'_> {
    let offered = match run.is_graph() {
        true => None,
        false => {
            let r = resume(run);
            let starts = matches!(
                r.resume_state,
                ResumeState::Ready | ResumeState::RetryAvailable
            );
            r.step_key.filter(|_| starts)
        }
    };
    Readiness::new(run, offered)
}

/// The steps `viewer` may take now, in the run's order.
pub fn ready_steps<'a>(run: &'a Run, viewer: Viewer) -> Vec<&'a Step> {
    readiness(run).ready_steps(viewer)
}

impl Resume {
    fn new(state: ResumeState, can_resume: bool, message: String, step: Option<&Step>) -> Resume {
        Resume {
            resume_state: state,
            can_resume,
            requires_approval: false,
            message,
            step_key: step.map(|s| s.step_key.clone()),
            claim: None,
            ready_steps: Vec::new(),
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

/// The next honest action on `run`: the first rule that holds decides.
pub fn resume(run: &Run) -> Resume {
    reconcile(run)
        .or_else(|| closed(run))
        .or_else(|| held_at_gate(run))
        .or_else(|| rejected(run))
        .or_else(|| retry_available(run))
        .or_else(|| failed(run))
        .or_else(|| in_flight(run))
        .or_else(|| next_to_do(run))
        .or_else(|| others_in_flight(run))
        .unwrap_or_else(|| by_run_status(run))
}

/// [`resume`], for `viewer`: a step someone else holds with a live claim
/// is not theirs to do. The answer names the holder and the lease's end
/// instead (`claimed`), and tells a viewer whose own claim lost to it.
/// Where nobody else holds the step, the answer is [`resume`]'s, with the
/// viewer's own claim and any write another made to it in the meantime.
pub fn resume_as(run: &Run, viewer: Viewer) -> Resume {
    let mut r = resume(run);
    if run.is_graph() {
        r.ready_steps = ready_steps(run, viewer)
            .iter()
            .map(|s| s.step_key.clone())
            .collect();
        if r.can_resume
            && let Some(own) = own_step(run, viewer, &r)
        {
            r = own;
        }
    }
    let r = timed(run, r, viewer.now);
    let Some(step) = r.step_key.as_deref().and_then(|k| run.step(k)) else {
        return r;
    };
    let mut r = r;
    match step.standing(viewer.actor, viewer.now) {
        Standing::Free => {}
        Standing::Mine(c) => r.claim = Some(ClaimSeen::of(step, c, true, None)),
        Standing::HeldBy { claim, lost } if r.can_resume => {
            let mut msg = format!(
                "Step '{}' is claimed by {} until {} (claim {}): take another step, or wait for the lease to end.",
                step.title, claim.holder, claim.lease_until, claim.token
            );
            if let Some(l) = lost {
                msg.push_str(&format!(
                    " Your claim {} lost to it: the two were made without seeing each other, and the one at the remote first (between claims that met elsewhere, the first in the history's order) holds the step.",
                    l.token
                ));
            }
            let mut held = Resume::new(ResumeState::Claimed, false, msg, Some(step));
            held.claim = Some(ClaimSeen::of(step, claim, false, lost));
            held.ready_steps = std::mem::take(&mut r.ready_steps);
            r = free_instead(run, held);
        }
        Standing::HeldBy { .. } => {}
    }
    for t in run
        .trespasses
        .iter()
        .filter(|t| t.step_key == step.step_key)
    {
        r.message.push_str(&format!(
            " Note: {}; check that work before going on.",
            t.describe()
        ));
    }
    r
}

/// [`resume`] at `now`: a step whose timer has not come is not offered
/// (another ready one is, if there is one). What `show` and the board
/// say, for nobody in particular.
pub fn resume_at(run: &Run, now: &str) -> Resume {
    timed(run, resume(run), now)
}

/// `r`, unless the step it offers to start waits for its timer.
fn timed(run: &Run, r: Resume, now: &str) -> Resume {
    held_back(run, r, &|s| {
        crate::core::ready::timer(s.not_before.as_deref(), now)
    })
}

/// `r`, unless the step it offers to start waits on what `waits` says
/// (a timer, another run): then the step is named with what it waits on,
/// and another ready step is offered if there is one.
pub fn held_back(run: &Run, mut r: Resume, waits: &dyn Fn(&Step) -> Option<Wait>) -> Resume {
    let Some(step) = r.step_key.as_deref().and_then(|k| run.step(k)) else {
        return r;
    };
    if !r.can_resume || step.status.is_active() {
        return r;
    }
    let Some(wait) = waits(step) else {
        return r;
    };
    let what = match &wait {
        Wait::NotBefore { until } => format!("is not to start before {until}"),
        other => other.describe(),
    };
    let msg = format!(
        "Step '{}' {what}: wait for it (nexo wait {} {} --for ready), or take another step.",
        step.title, run.run_id, step.step_key
    );
    let mut later = Resume::new(ResumeState::Blocked, false, msg, Some(step));
    later.ready_steps = std::mem::take(&mut r.ready_steps);
    free_instead(run, later)
}

/// In a graph, the step the viewer holds, ready or in flight, when the
/// rules offered another: an agent goes on with its own work first.
fn own_step(run: &Run, viewer: Viewer, r: &Resume) -> Option<Resume> {
    let step = run.steps.iter().find(|s| {
        matches!(s.standing(viewer.actor, viewer.now), Standing::Mine(_))
            && (s.status.is_active() || r.ready_steps.contains(&s.step_key))
    })?;
    if r.step_key.as_deref() == Some(step.step_key.as_str()) {
        return None;
    }
    let (state, msg) = match step.status.is_active() {
        true => (
            ResumeState::of_step(step.status),
            format!("Step '{}' is {}: continue it.", step.title, step.status),
        ),
        false => (
            ResumeState::Ready,
            format!("Continue with step '{}'.", step.title),
        ),
    };
    let mut own = Resume::new(state, true, msg, Some(step));
    own.ready_steps = r.ready_steps.clone();
    Some(own)
}

/// Where another step is free for the viewer (a graph's `ready_steps`),
/// the answer offers it instead of the step someone else holds.
fn free_instead(run: &Run, held: Resume) -> Resume {
    let Some(free) = held.ready_steps.first().and_then(|k| run.step(k)) else {
        return held;
    };
    let taken = match (
        &held.claim,
        held.step_key.as_deref().and_then(|k| run.step(k)),
    ) {
        (Some(c), Some(s)) => format!(
            " (step '{}' is claimed by {} until {})",
            s.title, c.holder, c.lease_until
        ),
        _ => String::new(),
    };
    let mut r = Resume::new(
        ResumeState::Ready,
        true,
        format!("Continue with step '{}'{taken}.", free.title),
        Some(free),
    );
    r.ready_steps = held.ready_steps;
    r
}

/// 0. Clones changed the same thing without seeing each other: the honest
///    next action is to decide which value is true.
fn reconcile(run: &Run) -> Option<Resume> {
    let divergences = run.divergences();
    let first = divergences.first()?;
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
    Some(Resume::new(ResumeState::Reconcile, false, msg, step))
}

/// 1. A closed-and-done run has nothing left to resume.
fn closed(run: &Run) -> Option<Resume> {
    if !run.status.is_finished() {
        return None;
    }
    let msg = format!("Run is {}; nothing is left to resume.", run.status);
    Some(Resume::new(
        ResumeState::of_run(run.status),
        false,
        msg,
        None,
    ))
}

/// 2. A step held at its approval gate: only a decision moves it.
fn held_at_gate(run: &Run) -> Option<Resume> {
    let step = run
        .steps
        .iter()
        .find(|s| s.held_at_gate() && !s.is_rejected())?;
    Some(gate(run, step))
}

/// 3. A rejected step: someone must revise it or cancel the run.
fn rejected(run: &Run) -> Option<Resume> {
    let step = run.steps.iter().find(|s| s.is_rejected())?;
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
    Some(Resume::new(ResumeState::Rejected, false, msg, Some(step)))
}

/// 4. A failed step with attempts left can be retried.
fn retry_available(run: &Run) -> Option<Resume> {
    let step = run
        .steps
        .iter()
        .find(|s| s.status == StepStatus::Failed && s.attempt_count < s.max_retries)?;
    // An agent may report a failure without having marked the step
    // running: then no attempt was counted, and "attempt 0" would puzzle.
    let mut msg = match step.attempt_count {
        0 => format!(
            "Step '{}' failed before any attempt was recorded; retry it ({} allowed).",
            step.title,
            count(step.max_retries as usize, "attempt")
        ),
        n => format!(
            "Step '{}' failed after attempt {n} of {}; retry it.",
            step.title, step.max_retries
        ),
    };
    if let Some(after) = &step.retry_after {
        msg.push_str(&format!(" Retry after {after}."));
    }
    Some(Resume::new(
        ResumeState::RetryAvailable,
        true,
        msg,
        Some(step),
    ))
}

/// 5. A failed step with no attempts left stops the run until someone
///    decides: carrying on with the next step would hide the failure.
fn failed(run: &Run) -> Option<Resume> {
    let step = run.steps.iter().find(|s| s.status == StepStatus::Failed)?;
    let mut msg = match step.attempt_count {
        0 => format!("Step '{}' failed, and it allows no retries.", step.title),
        n => format!(
            "Step '{}' failed after {} with no retries left.",
            step.title,
            count(n as usize, "attempt")
        ),
    };
    if let Some(summary) = &step.last_summary {
        msg.push_str(&format!(" Last summary: {}", sentence(summary)));
    }
    msg.push_str(" Decide: raise max_retries and retry, mark it skipped, or cancel the run.");
    Some(Resume::new(ResumeState::Failed, false, msg, Some(step)))
}

/// 6. The current step, if it is in flight or blocked.
fn in_flight(run: &Run) -> Option<Resume> {
    let step = run.current_step_key.as_deref().and_then(|k| run.step(k))?;
    let (state, verb) = match step.status {
        StepStatus::Running => (ResumeState::Running, "is running: continue it"),
        StepStatus::Retrying => (ResumeState::Retrying, "is being retried: continue it"),
        StepStatus::Blocked => (
            ResumeState::Blocked,
            "is blocked: clear the blocker, then update it",
        ),
        _ => return None,
    };
    let mut msg = format!("Step '{}' {verb}.", step.title);
    if let (StepStatus::Blocked, Some(summary)) = (step.status, &step.last_summary) {
        msg.push_str(&format!(" Last summary: {}", sentence(summary)));
    }
    let can = step.status != StepStatus::Blocked;
    Some(Resume::new(state, can, with_next(msg, run), Some(step)))
}

/// 7. The first step still to do: in a run whose steps declare `needs`,
///    the first whose needs are done.
fn next_to_do(run: &Run) -> Option<Resume> {
    if run.is_graph() {
        return next_in_graph(run);
    }
    let step = run
        .steps
        .iter()
        .find(|s| matches!(s.status, StepStatus::Pending | StepStatus::Retrying))?;
    if step.awaits_approval() {
        return Some(gate(run, step));
    }
    let msg = format!("Continue with step '{}'.", step.title);
    Some(Resume::new(ResumeState::Ready, true, msg, Some(step)))
}

fn next_in_graph(run: &Run) -> Option<Resume> {
    let readiness = readiness(run);
    let mut gated = None;
    for step in &run.steps {
        match readiness.waits(step) {
            None => {
                let msg = format!("Continue with step '{}'.", step.title);
                return Some(Resume::new(ResumeState::Ready, true, msg, Some(step)));
            }
            Some(Wait::Gate) if gated.is_none() => gated = Some(step),
            _ => {}
        }
    }
    gated.map(|step| gate(run, step))
}

/// 7b. In a graph, nothing to start, but other steps are in flight: the
///     run waits on them.
fn others_in_flight(run: &Run) -> Option<Resume> {
    if !run.is_graph() {
        return None;
    }
    let step = run.steps.iter().find(|s| s.status.is_active())?;
    let msg = format!(
        "Step '{}' is {}; the steps left wait on it.",
        step.title, step.status
    );
    Some(Resume::new(
        ResumeState::of_step(step.status),
        true,
        with_next(msg, run),
        Some(step),
    ))
}

/// 8. Nothing step-shaped: the run's own status and next action. An
///    open run with neither steps nor a next action says how to add one.
fn by_run_status(run: &Run) -> Resume {
    let msg = match (run.next_action.is_empty(), run.steps.is_empty()) {
        (false, _) => run.next_action.clone(),
        (true, true) if !run.status.is_closed() => format!(
            "Run is {} and has no steps yet: add the first with `nexo update {} <key> --title \"<what to do>\"` (nexo_workflow_update with step_key and step_title).",
            run.status, run.run_id
        ),
        (true, _) => format!("Run is {}.", run.status),
    };
    Resume::new(
        ResumeState::of_run(run.status),
        !run.status.is_closed(),
        msg,
        None,
    )
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
    let a = &run.rules.approvals;
    if a.policy.is_strict() {
        msg.push_str(&format!(
            " The approval policy is {}: only {} may decide{}{}.",
            a.policy.as_str(),
            a.approvers.join(", "),
            if a.self_approval {
                ""
            } else {
                ", not the run's owner or whoever asked for the gate"
            },
            if a.policy == crate::core::approval::Policy::Signed {
                ", with a signature that verifies"
            } else {
                ""
            }
        ));
    }
    if let Some(u) = run
        .unhonoured
        .iter()
        .rev()
        .find(|u| u.step_key == step.step_key)
    {
        msg.push_str(&format!(
            " A decision by {} at {} was not honoured: {}.",
            u.actor, u.at, u.message
        ));
    }
    let mut r = Resume::new(ResumeState::WaitingApproval, false, msg, Some(step));
    r.requires_approval = true;
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::event::{Body, Updated};
    use crate::core::model::StepStatus::*;
    use crate::core::testkit::{History, event, status_of};

    fn state(h: &History) -> ResumeState {
        resume(&h.fold()).resume_state
    }

    #[test]
    fn a_fresh_run_is_ready_for_its_first_step() {
        let r = resume(&History::open(&["build", "ship"]).fold());
        assert_eq!(r.resume_state, ResumeState::Ready);
        assert!(r.can_resume);
        assert_eq!(r.step_key.as_deref(), Some("build"));
        assert_eq!(r.message, "Continue with step 'Step build'.");
    }

    #[test]
    fn a_running_step_is_continued_with_the_next_action() {
        let mut h = History::open(&["a"]);
        h.update(Updated {
            next_action: Some("Run the tests".into()),
            ..status_of("a", Running)
        });
        let r = resume(&h.fold());
        assert_eq!(r.resume_state, ResumeState::Running);
        assert!(
            r.message.ends_with("Next action: Run the tests"),
            "{}",
            r.message
        );
    }

    #[test]
    fn a_blocked_step_cannot_resume_and_says_why() {
        let mut h = History::open(&["a"]);
        h.update(Updated {
            summary: Some("waiting on credentials".into()),
            ..status_of("a", Blocked)
        });
        let r = resume(&h.fold());
        assert_eq!(r.resume_state, ResumeState::Blocked);
        assert!(!r.can_resume);
        assert!(
            r.message.contains("Last summary: waiting on credentials."),
            "{}",
            r.message
        );
    }

    #[test]
    fn a_gate_holds_until_decided() {
        let mut h = History::open(&["a", "b!"]);
        h.step("a", Completed);
        let r = resume(&h.fold());
        assert_eq!(r.resume_state, ResumeState::WaitingApproval);
        assert!(r.requires_approval && !r.can_resume);
        assert!(
            r.message.contains("nexo approve WF-TESTRUN000000000 b"),
            "{}",
            r.message
        );
        h.approve("b", "lead");
        assert_eq!(state(&h), ResumeState::Ready);
    }

    #[test]
    fn waiting_approval_without_the_flag_holds_like_a_gate() {
        let mut h = History::open(&["a"]);
        h.step("a", WaitingApproval);
        let r = resume(&h.fold());
        assert_eq!(r.resume_state, ResumeState::WaitingApproval);
        assert!(r.requires_approval && !r.can_resume);
    }

    #[test]
    fn a_rejected_step_stops_the_run_with_the_reason() {
        let mut h = History::open(&["a!"]);
        h.step("a", Blocked).reject("a", "lead", "no changelog");
        let r = resume(&h.fold());
        assert_eq!(r.resume_state, ResumeState::Rejected);
        assert!(r.message.contains("rejected by lead") && r.message.contains("no changelog"));
    }

    #[test]
    fn a_failed_step_with_retries_left_offers_a_retry() {
        let mut h = History::open(&["a"]);
        h.update(Updated {
            max_retries: Some(3),
            retry_after: Some("10:00".into()),
            ..status_of("a", Running)
        });
        h.step("a", Failed);
        let r = resume(&h.fold());
        assert_eq!(r.resume_state, ResumeState::RetryAvailable);
        assert!(r.can_resume);
        assert_eq!(
            r.message,
            "Step 'Step a' failed after attempt 1 of 3; retry it. Retry after 10:00."
        );
    }

    #[test]
    fn a_failed_step_with_no_retries_left_stops_instead_of_moving_on() {
        let mut h = History::open(&["a", "b"]);
        h.step("a", Running).step("a", Failed);
        let r = resume(&h.fold());
        assert_eq!(r.resume_state, ResumeState::Failed);
        assert!(!r.can_resume);
        assert_eq!(r.step_key.as_deref(), Some("a"));
    }

    #[test]
    fn a_completed_or_cancelled_run_has_nothing_to_resume() {
        let mut h = History::open(&["a"]);
        h.step("a", Completed);
        let r = resume(&h.fold());
        assert_eq!(
            (r.resume_state, r.can_resume),
            (ResumeState::Completed, false)
        );
        let mut h = History::open(&["a"]);
        h.update(Updated {
            run_status: Some(RunStatus::Cancelled),
            ..Default::default()
        });
        assert_eq!(state(&h), ResumeState::Cancelled);
    }

    #[test]
    fn a_run_without_steps_resumes_by_its_next_action() {
        let mut h = History::open(&[]);
        h.update(Updated {
            next_action: Some("Write the plan".into()),
            ..Default::default()
        });
        let r = resume(&h.fold());
        assert_eq!(r.resume_state, ResumeState::Open);
        assert_eq!(r.message, "Write the plan");
    }

    #[test]
    fn concurrent_changes_come_first_and_say_how_to_settle_them() {
        let mut h = History::open(&["a"]);
        let opened = vec![h.events[0].id.clone()];
        h.events.push(event(
            1,
            2,
            opened.clone(),
            "laptop",
            Body::Updated(status_of("a", Completed)),
        ));
        h.events.push(event(
            2,
            2,
            opened,
            "server",
            Body::Updated(status_of("a", Failed)),
        ));
        let r = resume(&h.fold());
        assert_eq!(r.resume_state, ResumeState::Reconcile);
        assert!(
            r.message
                .contains("nexo update WF-TESTRUN000000000 a --status"),
            "{}",
            r.message
        );
    }

    #[test]
    fn states_serialize_as_the_tool_interfaces_words() {
        assert_eq!(
            serde_json::to_value(ResumeState::RetryAvailable).unwrap(),
            "retry_available"
        );
        assert_eq!(ResumeState::WaitingApproval.to_string(), "waiting_approval");
        assert_eq!(
            ResumeState::of_run(RunStatus::Blocked),
            ResumeState::Blocked
        );
    }
}
