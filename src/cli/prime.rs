//! `nexo prime`: the open runs, compactly, for a session-start hook.

use super::Ctx;
use nexo::error::Result;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// How many runs to show at most.
    #[arg(long, short = 'n', default_value_t = 10)]
    pub limit: usize,
}

pub fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    let r = ctx.nexo()?.prime(a.limit)?;
    ctx.emit(&r, || r.text.clone())
}
