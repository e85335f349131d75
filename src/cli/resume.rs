//! `nexo resume`: the next honest action on a run.

use super::{Ctx, RunArg};
use nexo::core::error::Result;
use nexo::wire::request::RunRequest;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  nexo resume WF-7K2D\n  nexo resume WF-7K2D --actor claude     # a step another agent holds is not offered to claude"
)]
pub struct Args {
    #[command(flatten)]
    pub run: RunArg,
}

pub fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    let r = ctx.nexo()?.resume(RunRequest {
        run_id: a.run.run.clone(),
        actor: ctx.actor.clone(),
    })?;
    ctx.emit(&r, || {
        let mut s = format!("{}  {}\n", r.run_id, r.goal);
        s.push_str(&format!(
            "status: {}   owner: {}   resume: {}{}\n",
            r.status,
            nexo::core::words::who(&r.owner),
            r.resume_state,
            if r.requires_approval {
                " (approval required)"
            } else {
                ""
            }
        ));
        s.push_str(&format!("{}\n", r.message));
        if let Some(e) = &r.elsewhere {
            s.push_str(&super::elsewhere_line(&r.run_id, e));
        }
        // A closed run's next action is what was left to do before it
        // closed: repeating it would send a newcomer back to work that is
        // done (docs/decisions.md, "Closed runs resume to nothing").
        if !r.next_action.is_empty()
            && !r.status.is_finished()
            && !r.message.contains(&r.next_action)
        {
            s.push_str(&format!("next action: {}\n", r.next_action));
        }
        s
    })
}
