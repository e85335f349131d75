//! `nexo wait`: block until a gate is decided, a step (or the run) is
//! done, a step is ready, or anything changes; then answer as `get`.

use super::{Ctx, RunArg};
use nexo::core::error::Result;
use nexo::core::model::Condition;
use nexo::wire::request::WaitRequest;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  nexo wait WF-7K2D publish --for decided --sync --timeout 2h\n  nexo wait WF-7K2D --for done\n  nexo wait WF-7K2D build --for ready --timeout 10m && nexo claim WF-7K2D build\nReturns at once when the condition already holds, with `nexo get`'s answer; exit 13\n(timed_out, retryable) when --timeout passes first. Without --sync it watches this clone\n(every 250ms, one stat); with --sync it also asks the remote for its tip (no fetch) after\n1s, doubling to 16s while nothing moves, and fetches only when it moved."
)]
pub struct Args {
    #[command(flatten)]
    pub run: RunArg,
    /// The step the condition is about (required for --for decided; without it, the run).
    pub step: Option<String>,
    /// What to wait for: decided (the step's gate is approved or rejected), done (the step,
    /// or the run, reached its end), ready (the step, or any step, is ready for you), changed
    /// (any new event on the run).
    #[arg(long = "for", value_name = "CONDITION")]
    pub condition: Condition,
    /// Give up after this long (90s, 10m, 2h) with exit 13; default: wait until it holds.
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Also watch the git remote: pull when its tip moves.
    #[arg(long)]
    pub sync: bool,
}

pub fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    let n = ctx.nexo()?;
    let r = n.wait(WaitRequest {
        run_id: a.run.run.clone(),
        step_key: a.step.clone(),
        condition: a.condition,
        timeout_seconds: super::claim::timeout_seconds(&a.timeout)?,
        sync: Some(a.sync),
        actor: ctx.actor.clone(),
    })?;
    ctx.emit(&r, || super::get::render_get(&r))
}
