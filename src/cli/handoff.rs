//! `nexo handoff`: a run to another owner.

use super::{Ctx, RunArg, commit_line};
use nexo::core::error::Result;
use nexo::wire::request::HandoffRequest;

/// On the command line a handoff says something: to whom, what to know
/// or what to do next (`call` keeps the original's actor-only handoff).
#[derive(clap::Args, Debug)]
#[command(group(
    clap::ArgGroup::new("handoff").required(true).multiple(true).args(["to", "note", "next"])
))]
#[command(
    after_help = "Example:\n  nexo handoff WF-7K2D --to claude_code --note \"publish waits on the smoke test\" --next \"Run the smoke test.\""
)]
pub struct Args {
    #[command(flatten)]
    pub run: RunArg,
    /// The new owner (client, agent or person).
    #[arg(long, value_name = "OWNER")]
    pub to: Option<String>,
    /// What the next owner needs to know.
    #[arg(long)]
    pub note: Option<String>,
    /// The next concrete action.
    #[arg(long)]
    pub next: Option<String>,
}

pub fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    let n = ctx.nexo()?;
    let actor = n.actor(None, None);
    let r = n.handoff(HandoffRequest {
        run_id: a.run.run.clone(),
        actor,
        new_owner: a.to.clone(),
        handoff_note: a.note.clone(),
        next_action: a.next.clone(),
        shared_state: None,
    })?;
    ctx.emit(&r, || format!("{}\n{}", r.message, commit_line(&r.commit)))
}
