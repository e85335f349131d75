//! `nexo list`: runs, most recently updated first.

use super::Ctx;
use nexo::core::error::Result;
use nexo::core::model::RunStatus;
use nexo::wire::request::ListRequest;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  nexo list\n  nexo list --all --status completed")]
pub struct Args {
    /// Include closed runs (completed, failed, cancelled).
    #[arg(long, short = 'a')]
    pub all: bool,
    /// Only runs with this status.
    #[arg(long)]
    pub status: Option<RunStatus>,
    /// How many runs to show at most.
    #[arg(long, short = 'n', default_value_t = 20, value_parser = super::at_least_one)]
    pub limit: usize,
    /// Also the runs of every other branch, remote-tracking branch and worktree (read from
    /// git's objects; nothing is checked out), each with where it lives.
    #[arg(long, short = 'b')]
    pub branches: bool,
    /// The archived runs instead (`nexo archive`), most recently archived first.
    #[arg(long, conflicts_with_all = ["all", "status", "branches"])]
    pub archived: bool,
    /// Colour: auto (on a terminal, unless NO_COLOR), always or never.
    #[arg(long, value_enum, default_value_t = super::ColorChoice::Auto)]
    pub color: super::ColorChoice,
}

/// What an empty list says: which runs there are none of, and where the
/// others are.
fn empty(a: &Args, closed: usize) -> String {
    if a.archived {
        return "No archived runs (`nexo archive` archives closed ones).\n".into();
    }
    match (a.status, closed) {
        (Some(status), _) => format!("No {status} runs.\n"),
        (None, 0) => "No runs. Open one with `nexo open \"<goal>\" --step key:title ...`.\n".into(),
        (None, n) => format!("No open runs ({n} closed: `nexo list --all`).\n"),
    }
}

pub fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    let r = ctx.nexo()?.list(ListRequest {
        status: a.status,
        include_closed: Some(a.all),
        limit: Some(a.limit),
        branches: Some(a.branches),
        archived: Some(a.archived),
    })?;
    super::warn_unreadable(
        r.unreadable
            .iter()
            .map(|u| (u.run_id.as_str(), u.error.as_str())),
    );
    for run in &r.runs {
        super::warn_unreadable_refs(&run.run_id, &run.lives_on);
    }
    ctx.emit(&r, || {
        if r.runs.is_empty() {
            return empty(a, r.closed_left_out);
        }
        let mut text = nexo::render::text::list(&r.runs, &super::frame(a.color));
        if a.branches {
            for run in r
                .runs
                .iter()
                .filter(|run| run.lives_on.iter().all(|p| !p.here))
            {
                text.push_str(&format!(
                    "{} lives on {}\n",
                    run.run_id,
                    nexo::render::places(&run.lives_on)
                ));
            }
        }
        text
    })
}
