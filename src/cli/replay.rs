//! `nexo replay`: a run's recent checkpoints, newest first.

use super::{Ctx, RunArg, checkpoint_lines};
use nexo::core::error::Result;
use nexo::wire::request::ReplayRequest;

#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  nexo replay WF-7K2D -n 5")]
pub struct Args {
    #[command(flatten)]
    pub run: RunArg,
    /// How many checkpoints to show.
    #[arg(long, short = 'n', default_value_t = 20, value_parser = super::at_least_one)]
    pub limit: usize,
}

pub fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    let r = ctx.nexo()?.replay(ReplayRequest {
        run_id: a.run.run.clone(),
        limit: Some(a.limit),
    })?;
    ctx.emit(&r, || {
        let s = format!(
            "{}: {} of {}, newest first\n",
            r.run_id,
            r.count,
            nexo::core::words::count(r.total, "checkpoint")
        );
        s + &checkpoint_lines(&r.checkpoints, "")
    })
}
