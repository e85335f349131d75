//! `nexo approve`: pass a step's approval gate.

use super::{Ctx, RunArg, commit_line};
use nexo::core::error::Result;
use nexo::wire::request::DecisionRequest;
use nexo::wire::response::DecisionResponse;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  nexo approve WF-7K2D publish --note \"release notes reviewed\""
)]
pub struct Args {
    #[command(flatten)]
    pub run: RunArg,
    /// The step waiting at its gate.
    pub step: String,
    /// Why it is approved.
    #[arg(long, alias = "reason")]
    pub note: Option<String>,
    /// The next concrete action.
    #[arg(long)]
    pub next: Option<String>,
}

pub fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    let req = DecisionRequest {
        run_id: a.run.run.clone(),
        step_key: a.step.clone(),
        actor: ctx.actor.clone(),
        note: a.note.clone(),
        next_action: a.next.clone(),
    };
    let r = ctx.nexo()?.approve(req)?;
    ctx.emit(&r, || render(&r))
}

/// An approval or rejection, as text.
pub fn render(r: &DecisionResponse) -> String {
    format!(
        "{} step '{}' {} by {}\n{}: {}\n{}",
        r.run_id,
        r.step_key,
        r.decision,
        r.by,
        r.resume_state,
        r.message,
        commit_line(&r.commit)
    )
}
