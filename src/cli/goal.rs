//! `nexo goal open|update|get|list`: the goal stack, objectives that runs
//! link to with `nexo open --goal`.

use super::{Ctx, commit_line, json_arg};
use nexo::core::error::Result;
use nexo::core::model::{GoalStatus, Priority};
use nexo::core::words::count;
use nexo::wire::goals::GoalCounts;
use nexo::wire::request::{GoalGetRequest, GoalListRequest, GoalOpenRequest, GoalUpdateRequest};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  nexo goal open \"Ship v3.1 to every customer\" --success-signal \"all tenants on 3.1\"
  nexo open \"Prepare and publish v3.1.1\" --goal WG-7K2D --step doctor --step publish
  nexo goal update WG-7K2D --status blocked --blocker \"waiting on legal review\"
  nexo goal get WG-7K2D --runs
  nexo goal list --all")]
pub struct Args {
    #[command(subcommand)]
    pub command: GoalCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum GoalCommand {
    /// Open a goal.
    Open(OpenArgs),
    /// Change a goal's status, texts or owner.
    Update(UpdateArgs),
    /// Show a goal with its run counts (and its runs with --runs).
    Get(GetArgs),
    /// List goals, most recently updated first.
    List(ListArgs),
}

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  nexo goal open \"Ship v3.1 to every customer\" --success-signal \"all tenants on 3.1\"\n  nexo goal open \"Migrate tenants\" --parent WG-7K2D --priority high"
)]
pub struct OpenArgs {
    /// The goal, in a line.
    pub title: String,
    /// What achieving it means.
    #[arg(long)]
    pub objective: Option<String>,
    /// A goal this one serves (id or unique prefix).
    #[arg(long, value_name = "GOAL")]
    pub parent: Option<String>,
    /// low, normal, high or critical (default normal).
    #[arg(long)]
    pub priority: Option<Priority>,
    /// The next concrete action.
    #[arg(long)]
    pub next: Option<String>,
    /// How anyone can tell the goal is achieved.
    #[arg(long)]
    pub success_signal: Option<String>,
    /// Who owns the goal.
    #[arg(long)]
    pub owner: Option<String>,
    /// The session id (default: $NEXO_SESSION_ID, else "cli").
    #[arg(long)]
    pub sid: Option<String>,
    /// Shared state as a JSON object.
    #[arg(long, value_name = "JSON")]
    pub state: Option<String>,
}

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  nexo goal update WG-7K2D --status blocked --blocker \"waiting on legal review\"\n  nexo goal update WG-7K2D --status completed"
)]
pub struct UpdateArgs {
    /// The goal id, or any unique prefix of it.
    pub goal: String,
    /// active, blocked, abandoned, completed or cancelled.
    #[arg(long)]
    pub status: Option<GoalStatus>,
    /// A new title.
    #[arg(long)]
    pub title: Option<String>,
    /// A new objective.
    #[arg(long)]
    pub objective: Option<String>,
    /// A new parent goal.
    #[arg(long, value_name = "GOAL")]
    pub parent: Option<String>,
    /// The next concrete action.
    #[arg(long)]
    pub next: Option<String>,
    /// How anyone can tell the goal is achieved.
    #[arg(long)]
    pub success_signal: Option<String>,
    /// What blocks the goal.
    #[arg(long)]
    pub blocker: Option<String>,
    /// A new owner.
    #[arg(long)]
    pub owner: Option<String>,
    /// Replaces the shared state (a JSON object).
    #[arg(long, value_name = "JSON")]
    pub state: Option<String>,
}

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  nexo goal get WG-7K2D\n  nexo goal get WG-7K2D --runs --json")]
pub struct GetArgs {
    /// The goal id, or any unique prefix of it.
    pub goal: String,
    /// Also list the goal's runs.
    #[arg(long)]
    pub runs: bool,
}

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  nexo goal list\n  nexo goal list --all --status abandoned")]
pub struct ListArgs {
    /// Include closed goals (abandoned, completed, cancelled).
    #[arg(long, short = 'a')]
    pub all: bool,
    /// Only goals with this status.
    #[arg(long)]
    pub status: Option<GoalStatus>,
    /// How many goals to show at most.
    #[arg(long, short = 'n', default_value_t = 20, value_parser = super::at_least_one)]
    pub limit: usize,
}

pub fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    match &a.command {
        GoalCommand::Open(a) => open(ctx, a),
        GoalCommand::Update(a) => update(ctx, a),
        GoalCommand::Get(a) => get(ctx, a),
        GoalCommand::List(a) => list(ctx, a),
    }
}

fn counts(c: &GoalCounts) -> String {
    format!(
        "{} ({} open), {}",
        count(c.run_count, "run"),
        c.open_run_count,
        count(c.child_count, "sub-goal")
    )
}

fn open(ctx: &Ctx, a: &OpenArgs) -> Result<()> {
    let r = ctx.nexo()?.goal_open(GoalOpenRequest {
        sid: a
            .sid
            .clone()
            .or_else(|| ctx.options().session)
            .unwrap_or_else(|| "cli".into()),
        title: a.title.clone(),
        objective: a.objective.clone(),
        parent_goal_id: a.parent.clone(),
        priority: a.priority,
        next_action: a.next.clone(),
        success_signal: a.success_signal.clone(),
        owner: a.owner.clone(),
        shared_state: json_arg(a.state.as_deref(), "--state")?,
        actor: ctx.actor.clone(),
        warnings: Vec::new(),
    })?;
    ctx.emit(&r, || {
        format!("Opened goal {} ({}): {}\n", r.goal_id, r.status, r.title) + &commit_line(&r.commit)
    })
}

fn update(ctx: &Ctx, a: &UpdateArgs) -> Result<()> {
    let r = ctx.nexo()?.goal_update(GoalUpdateRequest {
        goal_id: a.goal.clone(),
        status: a.status,
        title: a.title.clone(),
        objective: a.objective.clone(),
        parent_goal_id: a.parent.clone(),
        next_action: a.next.clone(),
        success_signal: a.success_signal.clone(),
        blocker_reason: a.blocker.clone(),
        owner: a.owner.clone(),
        shared_state: json_arg(a.state.as_deref(), "--state")?,
        actor: ctx.actor.clone(),
    })?;
    ctx.emit(&r, || {
        let mut s = format!("Goal {} is {}: {}\n", r.goal_id, r.status, r.title);
        if !r.blocker_reason.is_empty() {
            s.push_str(&format!("Blocked by: {}\n", r.blocker_reason));
        }
        s + &format!("{}\n", counts(&r.counts)) + &commit_line(&r.commit)
    })
}

fn get(ctx: &Ctx, a: &GetArgs) -> Result<()> {
    let r = ctx.nexo()?.goal_get(GoalGetRequest {
        goal_id: a.goal.clone(),
        include_runs: Some(a.runs),
    })?;
    ctx.emit(&r, || {
        let g = &r.goal.goal;
        let mut s = format!("{} [{}] {}\n", g.goal_id, g.status, g.title);
        for (label, value) in [
            ("objective", &g.objective),
            ("parent", &g.parent_goal_id),
            ("owner", &g.owner),
            ("next", &g.next_action),
            ("success signal", &g.success_signal),
            ("blocked by", &g.blocker_reason),
        ] {
            if !value.is_empty() {
                s.push_str(&format!("  {label}: {value}\n"));
            }
        }
        s.push_str(&format!("  {}\n", counts(&r.goal.counts)));
        for run in r.goal.runs.iter().flatten() {
            s.push_str(&format!(
                "  - {} [{}] {}\n",
                run.run_id, run.status, run.goal
            ));
        }
        s
    })
}

fn list(ctx: &Ctx, a: &ListArgs) -> Result<()> {
    let r = ctx.nexo()?.goal_list(GoalListRequest {
        status: a.status,
        include_closed: Some(a.all),
        limit: Some(a.limit),
    })?;
    super::warn_unreadable(
        r.unreadable
            .iter()
            .map(|u| (u.goal_id.as_str(), u.error.as_str())),
    );
    ctx.emit(&r, || {
        if r.goals.is_empty() {
            return match (a.status, r.closed_left_out) {
                (Some(status), _) => format!("No {status} goals.\n"),
                (None, 0) => "No goals. Open one with `nexo goal open \"<title>\"`.\n".into(),
                (None, n) => format!("No open goals ({n} closed: `nexo goal list --all`).\n"),
            };
        }
        let mut s = String::new();
        for g in &r.goals {
            s.push_str(&format!(
                "{}  {:<10} {:<8} {}/{} runs open  {}\n",
                g.goal_id,
                g.status.as_str(),
                g.priority.as_str(),
                g.counts.open_run_count,
                g.counts.run_count,
                g.title
            ));
        }
        s
    })
}
