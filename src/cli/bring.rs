//! `nexo bring`: a run from another branch, carried to this one on
//! purpose.

use super::{Ctx, RunArg, commit_line};
use nexo::core::error::Result;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  nexo list --branches                  # where each run lives\n  nexo bring WF-7K2D                    # its history from every ref it is on\n  nexo bring WF-7K2D --from origin/feature"
)]
pub struct Args {
    #[command(flatten)]
    pub run: RunArg,
    /// Bring it from this ref only (a branch or remote-tracking branch).
    #[arg(long, value_name = "REF")]
    pub from: Option<String>,
}

pub fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    let r = ctx.nexo()?.bring(&a.run.run, a.from.as_deref())?;
    super::warn_unreadable_refs(&r.run_id, &r.unreadable);
    ctx.emit(&r, || format!("{}\n{}", r.message, commit_line(&r.commit)))
}
