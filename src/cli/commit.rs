//! `nexo commit`: commit every pending `.nexo/` change.

use super::Ctx;
use nexo::core::error::Result;

pub fn run(ctx: &Ctx) -> Result<()> {
    let r = ctx.nexo()?.commit_pending()?;
    ctx.emit(&r, || match &r.commit {
        Some(c) => format!(
            "Committed {} as {c}\n",
            nexo::core::words::count(r.paths.len() + r.paths_not_listed, "pending .nexo/ change")
        ),
        None => "Nothing to commit in .nexo/\n".into(),
    })
}
