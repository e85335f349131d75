//! `nexo sync`: commit, fetch, integrate, settle, push.

use super::Ctx;
use nexo::core::error::Result;
use nexo::core::words::{count, runs_and_goals};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// How long to go on while other clones keep moving the remote (default:
    /// .nexo/config.yaml's sync.timeout, else 30s); then exit 12, retryable.
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
}

pub fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    let n = ctx.nexo()?;
    let r = match super::claim::timeout_seconds(&a.timeout)? {
        Some(t) => n.sync_within(std::time::Duration::from_secs(t))?,
        None => n.sync()?,
    };
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
                format!("settled {} under .nexo/, ", count(r.resolved.len(), "path"))
            },
            if r.refreshed.is_empty() {
                String::new()
            } else {
                format!(
                    "regenerated the views of {}, ",
                    runs_and_goals(r.refreshed.iter().map(String::as_str))
                )
            },
        )
    })
}
