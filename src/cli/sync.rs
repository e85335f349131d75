//! `nexo sync`: commit, fetch, integrate, settle, push.

use super::Ctx;
use nexo::core::error::Result;

pub fn run(ctx: &Ctx) -> Result<()> {
    let r = ctx.nexo()?.sync()?;
    ctx.emit(&r, || {
        format!(
            "synced with {}: {}{}{}pushed\n",
            r.upstream,
            if r.pulled {
                "pulled, "
            } else {
                "nothing to pull, "
            },
            if r.resolved.is_empty() {
                String::new()
            } else {
                format!("settled {} .nexo/ paths, ", r.resolved.len())
            },
            if r.refreshed.is_empty() {
                String::new()
            } else {
                format!("regenerated views of {} runs, ", r.refreshed.len())
            },
        )
    })
}
