//! `nexo compensation`: how to undo a run's work, in order.

use super::{Ctx, RunArg};
use nexo::core::error::Result;
use nexo::wire::request::CompensationRequest;

#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  nexo compensation WF-7K2D")]
pub struct Args {
    #[command(flatten)]
    pub run: RunArg,
}

pub fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    let r = ctx.nexo()?.compensation(CompensationRequest {
        run_id: a.run.run.clone(),
        checkpoint_limit: None,
    })?;
    ctx.emit(&r, || {
        let mut s = format!(
            "{} ({}): {} compensations, apply in this order\n",
            r.run_id, r.status, r.count
        );
        for c in &r.compensations {
            s.push_str(&format!(
                "  {} [{}]: {}\n",
                c.step_key, c.step_status, c.compensation
            ));
        }
        if !r.uncovered_steps.is_empty() {
            s.push_str(&format!(
                "Steps with work done but no compensation: {}\n",
                r.uncovered_steps.join(", ")
            ));
        }
        s
    })
}
