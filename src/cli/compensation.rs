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
        let mut s = match r.count {
            0 => format!("{} ({}): no compensation to apply\n", r.run_id, r.status),
            n => format!(
                "{} ({}): {}, to apply in this order:\n",
                r.run_id,
                r.status,
                nexo::core::words::count(n, "compensation")
            ),
        };
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
