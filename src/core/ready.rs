//! Readiness: which steps of a run any agent may take now.
//!
//! A run in which no step declares `needs` is a sequence, as in the
//! original: its one ready step is the one `resume` offers to start (or to
//! retry). A run with `needs` is a graph: a step is ready when it is
//! pending (or failed or retrying with attempts left), everything it needs
//! is completed or skipped, it is not behind a closed gate, and nobody
//! else holds a live claim on it. All but the last follow from the fold,
//! the same on every machine; claims are judged for a viewer at a moment.
//!
//! Pure: no files, processes or git.

use serde::{Deserialize, Serialize};

use crate::core::fold::{Run, Standing, Step};
use crate::core::model::{RunStatus, StepStatus};

/// Who asks, and when: claims are judged for them at that moment.
#[derive(Debug, Clone, Copy)]
pub struct Viewer<'a> {
    pub actor: &'a str,
    /// RFC 3339.
    pub now: &'a str,
}

/// Why a step is not ready.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Wait {
    /// Steps it needs are not completed or skipped yet.
    Needs { steps: Vec<String> },
    /// It awaits approval.
    Gate,
    /// Someone else holds a live claim on it.
    Claimed { holder: String, lease_until: String },
    /// Its status is not one to start from (running, blocked, done, ...).
    Status { status: StepStatus },
    /// A sequence: another step comes first.
    Turn { step: String },
    /// The run is not open for work.
    Run { status: RunStatus },
    /// Its timer has not come (RFC 3339).
    NotBefore { until: String },
    /// Other runs, or their steps, it needs are not completed yet.
    After { needs: Vec<String> },
}

impl Wait {
    /// In words, for a list line: "needs build-linux, build-mac".
    pub fn describe(&self) -> String {
        match self {
            Wait::Needs { steps } => format!("needs {}", steps.join(", ")),
            Wait::Gate => "waits for approval".into(),
            Wait::Claimed {
                holder,
                lease_until,
            } => format!("claimed by {holder} until {lease_until}"),
            Wait::Status { status } => format!("is {status}"),
            Wait::Turn { step } => format!("comes after {step}"),
            Wait::Run { status } => format!("its run is {status}"),
            Wait::NotBefore { until } => format!("not before {until}"),
            Wait::After { needs } => format!("waits for {}", needs.join(", ")),
        }
    }
}

pub use crate::core::model::RunNeed;

/// What a step needing `after` waits on, given whether each need is
/// met (`done`): the needs still open, in order.
pub fn after_wait(after: &[String], done: &dyn Fn(&str) -> bool) -> Option<Wait> {
    let open: Vec<String> = after.iter().filter(|n| !done(n)).cloned().collect();
    (!open.is_empty()).then_some(Wait::After { needs: open })
}

/// What a step with timer `not_before` waits on at `now`: the time, until
/// it has come. A timer that does not read (none the write side lets
/// through) holds nothing.
pub fn timer(not_before: Option<&str>, now: &str) -> Option<Wait> {
    let until = not_before?;
    let (t, now) = (
        crate::core::claim::parse_time(until)?,
        crate::core::claim::parse_time(now)?,
    );
    (now < t).then(|| Wait::NotBefore {
        until: until.to_string(),
    })
}

/// Whether a step's status is one to take up: pending, or failed or
/// retrying with attempts left.
fn takeable(s: &Step) -> bool {
    match s.status {
        StepStatus::Pending => true,
        StepStatus::Retrying | StepStatus::Failed => s.attempt_count < s.max_retries,
        _ => false,
    }
}

/// A run's readiness, worked out once for all of its steps.
pub struct Readiness<'a> {
    run: &'a Run,
    /// For a sequence: the step `resume` offers to start or retry.
    offered: Option<String>,
}

impl<'a> Readiness<'a> {
    /// `offered`: for a sequence, the step `resume` offers to start or
    /// retry (`resume::readiness` works it out); none for a graph.
    pub fn new(run: &'a Run, offered: Option<String>) -> Readiness<'a> {
        Readiness { run, offered }
    }

    /// What `step` waits on, claims aside; `None`: it is ready for
    /// whoever has no rival claim.
    pub fn waits(&self, step: &Step) -> Option<Wait> {
        let run = self.run;
        // A failed run offers only retries: carrying on elsewhere would
        // hide the failure (resume's rule 5).
        let retry = matches!(step.status, StepStatus::Failed | StepStatus::Retrying);
        match run.status {
            RunStatus::Completed | RunStatus::Cancelled => {
                return Some(Wait::Run { status: run.status });
            }
            RunStatus::Failed if !retry => return Some(Wait::Run { status: run.status }),
            _ => {}
        }
        if !run.is_graph() {
            return self.sequence_waits(step);
        }
        if !takeable(step) {
            return Some(Wait::Status {
                status: step.status,
            });
        }
        let open: Vec<String> = step
            .needs
            .iter()
            .filter(|n| run.step(n).is_none_or(|d| !d.status.is_done()))
            .cloned()
            .collect();
        if !open.is_empty() {
            return Some(Wait::Needs { steps: open });
        }
        step.awaits_approval().then_some(Wait::Gate)
    }

    /// A sequence's one ready step is the one `resume` offers.
    fn sequence_waits(&self, step: &Step) -> Option<Wait> {
        match self.offered.as_deref() {
            Some(k) if k == step.step_key => None,
            _ if !takeable(step) => Some(Wait::Status {
                status: step.status,
            }),
            _ if step.awaits_approval() => Some(Wait::Gate),
            Some(k) => Some(Wait::Turn {
                step: k.to_string(),
            }),
            None => Some(Wait::Status {
                status: step.status,
            }),
        }
    }

    /// What `step` waits on for `viewer`, claims included.
    pub fn waits_for(&self, step: &Step, viewer: Viewer) -> Option<Wait> {
        if let Some(w) = self.waits(step) {
            return Some(w);
        }
        if let Some(w) = timer(step.not_before.as_deref(), viewer.now) {
            return Some(w);
        }
        match step.standing(viewer.actor, viewer.now) {
            Standing::HeldBy { claim, .. } => Some(Wait::Claimed {
                holder: claim.holder.clone(),
                lease_until: claim.lease_until.clone(),
            }),
            _ => None,
        }
    }
}

impl<'a> Readiness<'a> {
    /// The steps `viewer` may take now, in the run's order.
    pub fn ready_steps(&self, viewer: Viewer) -> Vec<&'a Step> {
        self.run
            .steps
            .iter()
            .filter(|s| self.waits_for(s, viewer).is_none())
            .collect()
    }
}

#[cfg(test)]
mod tests;
