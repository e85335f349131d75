//! `nexo update`: progress on a run.

use super::{Ctx, commit_line, json_arg};
use nexo::core::error::Result;
use nexo::core::model::{RunStatus, StepStatus};
use nexo::wire::request::UpdateRequest;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  nexo update WF-7K2D doctor --status completed --summary \"doctor clean\" --evidence \"ci run 812\"\n  nexo update WF-7K2D publish --status blocked --requires-approval --summary \"artifacts ready\""
)]
pub struct Args {
    /// The run id, or any unique prefix of it.
    pub run: String,
    /// The step to update (created if --title is given and it is new).
    pub step: Option<String>,
    /// The step's new status: pending, running (or in_progress), blocked, waiting_approval,
    /// failed, completed, skipped, retrying.
    #[arg(long)]
    pub status: Option<StepStatus>,
    /// The step's title (required to add a new step).
    #[arg(long)]
    pub title: Option<String>,
    /// What happened, in a sentence.
    #[arg(long)]
    pub summary: Option<String>,
    /// Where the proof is: a command, a log, a URL.
    #[arg(long)]
    pub evidence: Option<String>,
    /// The next concrete action for whoever picks the run up.
    #[arg(long)]
    pub next: Option<String>,
    /// Set the run's status explicitly: open, running, blocked, waiting_approval, failed,
    /// completed, cancelled.
    #[arg(long)]
    pub run_status: Option<RunStatus>,
    /// A label for this checkpoint (default: <step>:<status>).
    #[arg(long)]
    pub label: Option<String>,
    /// Put the step behind an approval gate (or lift the requirement with =false).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub requires_approval: Option<bool>,
    /// How many attempts the step may take before resume stops offering a retry.
    #[arg(long)]
    pub max_retries: Option<u32>,
    /// When a retry makes sense (free text, e.g. an RFC 3339 time).
    #[arg(long)]
    pub retry_after: Option<String>,
    /// How to retry (free text, e.g. "exponential backoff").
    #[arg(long)]
    pub retry_policy: Option<String>,
    /// How to undo this step's work if the run must be rolled back.
    #[arg(long)]
    pub compensation: Option<String>,
    /// Change the run's owner without a handoff note.
    #[arg(long)]
    pub owner: Option<String>,
    /// Replace the shared state with this JSON object.
    #[arg(long, value_name = "JSON")]
    pub state: Option<String>,
    /// Merge this JSON object into the shared state (null deletes a key).
    #[arg(long, value_name = "JSON")]
    pub patch: Option<String>,
    /// Replace what the step needs done first: DEP[,DEP], each a step of this run, another run
    /// (WF-XXXX: completed) or another run's step (WF-XXXX:step); an empty value clears them.
    #[arg(long, value_name = "DEP[,DEP]")]
    pub needs: Option<String>,
    /// Not ready before then: an RFC 3339 time or a duration from now (90s, 2h, 1d; up to 7d);
    /// an empty value clears it.
    #[arg(long, value_name = "TIME")]
    pub not_before: Option<String>,
    /// Write even though another agent holds a live claim on the step, taking the claim
    /// (recorded as stolen).
    #[arg(long)]
    pub steal: bool,
}

/// Whether the flags ask for any change. The tool interface takes an
/// update naming only a step (the original's way to point at it), but a
/// person who typed `nexo update RUN STEP` and nothing else forgot the
/// change: it is refused as `nexo update RUN` is, before anything is
/// written.
fn asks_for_a_change(a: &Args) -> bool {
    [
        a.status.is_some(),
        a.title.is_some(),
        a.summary.is_some(),
        a.evidence.is_some(),
        a.next.is_some(),
        a.run_status.is_some(),
        a.label.is_some(),
        a.requires_approval.is_some(),
        a.max_retries.is_some(),
        a.retry_after.is_some(),
        a.retry_policy.is_some(),
        a.compensation.is_some(),
        a.owner.is_some(),
        a.state.is_some(),
        a.patch.is_some(),
        a.needs.is_some(),
        a.not_before.is_some(),
    ]
    .contains(&true)
}

pub fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    if !asks_for_a_change(a) {
        return Err(nexo::api::nothing_to_update());
    }
    let n = ctx.nexo()?;
    let req = UpdateRequest {
        run_id: a.run.clone(),
        step_key: a.step.clone(),
        step_title: a.title.clone(),
        step_status: a.status,
        run_status: a.run_status,
        checkpoint_label: a.label.clone(),
        summary: a.summary.clone(),
        evidence: a.evidence.clone(),
        next_action: a.next.clone(),
        shared_state: json_arg(a.state.as_deref(), "--state")?,
        state_patch: json_arg(a.patch.as_deref(), "--patch")?,
        retry_after: a.retry_after.clone(),
        retry_policy: a.retry_policy.clone(),
        compensation: a.compensation.clone(),
        actor: ctx.actor.clone(),
        owner: a.owner.clone(),
        max_retries: a.max_retries,
        requires_approval: a.requires_approval,
        needs: a.needs.as_deref().map(super::list_arg),
        not_before: a.not_before.clone(),
        steal: a.steal,
        warnings: Vec::new(),
    };
    let r = n.update(req)?;
    ctx.emit(&r, || {
        let notes: String = r.warnings.iter().map(|w| format!("note: {w}\n")).collect();
        format!(
            "{notes}{} is {} (current step: {})\n{}: {}\n{}",
            r.run_id,
            r.status,
            nexo::core::words::or_none(r.current_step_key.as_deref()),
            r.resume_state,
            r.resume_message,
            commit_line(&r.commit)
        )
    })
}
