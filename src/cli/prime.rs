//! `nexo prime`: what a new session should know, for a session-start hook.

use super::Ctx;
use nexo::core::error::{ErrorKind, Result};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  nexo prime
  nexo prime -n 5 --max-bytes 2000
A session-start hook runs it (nexo setup claude writes one). Outside a repository it prints a
one-line notice and exits 0, so a hook never fails a session.")]
pub struct Args {
    /// How many runs to show at most (runs in progress are always shown).
    #[arg(long, short = 'n', default_value_t = 10, value_parser = super::at_least_one)]
    pub limit: usize,
    /// Keep the text within this many bytes, dropping the runs that need
    /// attention least (never one in progress).
    #[arg(long, value_name = "BYTES")]
    pub max_bytes: Option<usize>,
}

pub fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    let nexo = match ctx.nexo() {
        Ok(n) => n,
        Err(e) if e.kind == ErrorKind::Repo => {
            outln!(
                "nexo: not in a git repository, so no workflow runs to show ({}).",
                e.message
            );
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let r = nexo.prime(a.limit, a.max_bytes)?;
    ctx.emit(&r, || r.text.clone())
}
