//! `nexo reject`: turn a step back at its approval gate, with a reason.

use super::{Ctx, RunArg};
use nexo::core::error::Result;
use nexo::wire::request::DecisionRequest;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  nexo reject WF-7K2D publish --reason \"changelog missing the migration note\""
)]
pub struct Args {
    #[command(flatten)]
    pub run: RunArg,
    /// The step waiting at its gate.
    pub step: String,
    /// Why it is rejected (required).
    #[arg(long, alias = "note")]
    pub reason: String,
    /// The next concrete action.
    #[arg(long)]
    pub next: Option<String>,
}

pub fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    let req = DecisionRequest {
        run_id: a.run.run.clone(),
        step_key: a.step.clone(),
        actor: ctx.actor.clone(),
        note: Some(a.reason.clone()),
        next_action: a.next.clone(),
    };
    let r = ctx.nexo()?.reject(req)?;
    ctx.emit(&r, || super::approve::render(&r))
}
