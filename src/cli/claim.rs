//! `nexo claim` and `nexo release`: a lease on a step, so agents working
//! side by side do not do the same work.

use super::{Ctx, RunArg, commit_line};
use nexo::core::error::Result;
use nexo::core::words::{cell, column, one_line};
use nexo::wire::request::{ClaimRequest, ReleaseRequest};

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  nexo claim WF-7K2D build --ttl 45m\n  nexo claim WF-7K2D --sync          # the step resume offers you, held at the remote\n  nexo release WF-7K2D build\nExit 10 (claim_held) when another agent holds the step, or a --sync claim lost the race."
)]
pub struct Args {
    #[command(flatten)]
    pub run: RunArg,
    /// The step to claim (default: the step `nexo resume` offers you).
    pub step: Option<String>,
    /// How long the lease lasts: 90s, 30m, 2h, 1h30m (default: .nexo/config.yaml's
    /// claims.ttl, else 30m). Every write by you to the step renews it.
    #[arg(long, value_name = "DURATION")]
    pub ttl: Option<String>,
    /// Push the claim so it holds at the remote; if another clone's claim got there first,
    /// yours is released and the command exits 10 naming the winner.
    #[arg(long)]
    pub sync: bool,
    /// Take the step from a holder whose lease is live, on purpose (recorded).
    #[arg(long)]
    pub steal: bool,
    /// With --sync: how long to go on while other clones keep moving the remote
    /// (default: .nexo/config.yaml's sync.timeout, else 30s); then exit 12, retryable.
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
}

/// A `--timeout` duration, in seconds.
pub fn timeout_seconds(given: &Option<String>) -> Result<Option<u64>> {
    given
        .as_deref()
        .map(|t| nexo::core::claim::parse_ttl("--timeout", t))
        .transpose()
}

pub fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    let n = ctx.nexo()?;
    let ttl_seconds = match &a.ttl {
        Some(t) => Some(nexo::core::claim::parse_ttl("--ttl", t)?),
        None => None,
    };
    let r = n.claim(ClaimRequest {
        run_id: a.run.run.clone(),
        step_key: a.step.clone(),
        actor: n.actor(None, None),
        ttl_seconds,
        sync: Some(a.sync),
        steal: Some(a.steal),
        timeout_seconds: timeout_seconds(&a.timeout)?,
    })?;
    ctx.emit(&r, || {
        let pushed = match &r.sync {
            Some(s) => format!("held at {} (pushed)\n", s.upstream),
            None => String::new(),
        };
        format!("{}\n{pushed}{}", r.message, commit_line(&r.commit))
    })
}

#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  nexo release WF-7K2D build")]
pub struct ReleaseArgs {
    #[command(flatten)]
    pub run: RunArg,
    /// The step to release (default: the one step you hold on the run).
    pub step: Option<String>,
}

pub fn release(ctx: &Ctx, a: &ReleaseArgs) -> Result<()> {
    let n = ctx.nexo()?;
    let r = n.release(ReleaseRequest {
        run_id: a.run.run.clone(),
        step_key: a.step.clone(),
        actor: n.actor(None, None),
    })?;
    ctx.emit(&r, || format!("{}\n{}", r.message, commit_line(&r.commit)))
}

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  nexo ready                        # what any agent may take now, best first\n  nexo ready --all                  # and what the rest wait on\n  nexo ready --claim --sync         # take the best one, held at the remote"
)]
pub struct ReadyArgs {
    /// Claim the best ready step (the next, if another agent wins it).
    #[arg(long)]
    pub claim: bool,
    /// List the steps that are not ready too, with what each waits on.
    #[arg(long)]
    pub all: bool,
    /// How many steps to list.
    #[arg(short = 'n', long, default_value_t = 20)]
    pub limit: usize,
    /// With --claim: the lease's length (90s, 30m, 2h).
    #[arg(long, value_name = "DURATION")]
    pub ttl: Option<String>,
    /// With --claim: look at the remote first, and hold the claim there (the next
    /// ready step if another clone wins one).
    #[arg(long)]
    pub sync: bool,
    /// With --claim --sync: how long to go on while other clones keep moving the
    /// remote (default: sync.timeout, else 30s); then exit 12, retryable.
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
}

pub fn ready(ctx: &Ctx, a: &ReadyArgs) -> Result<()> {
    let n = ctx.nexo()?;
    let ttl_seconds = match &a.ttl {
        Some(t) => Some(nexo::core::claim::parse_ttl("--ttl", t)?),
        None => None,
    };
    let r = n.ready(nexo::wire::request::ReadyRequest {
        actor: Some(n.actor(None, None)),
        claim: Some(a.claim),
        limit: Some(a.limit),
        ttl_seconds,
        sync: Some(a.sync),
        all: Some(a.all),
        timeout_seconds: timeout_seconds(&a.timeout)?,
    })?;
    ctx.emit(&r, || {
        // The claim's own message says what the answer's does, and more.
        if let Some(c) = &r.claimed {
            let mut s = format!("{}\n{}", c.message, commit_line(&c.commit));
            if let Some(resume) = &r.resume {
                s.push_str(&format!("{}: {}\n", resume.resume_state, resume.message));
            }
            return s;
        }
        let mut s = format!("{}\n", r.message);
        let key = column(r.steps.iter().map(|i| i.step_key.as_str()), 4, 24);
        for i in &r.steps {
            let line = format!(
                "{}  {}  {:<8} {}{}",
                i.run_id,
                cell(&i.step_key, key),
                i.priority.as_str(),
                one_line(&i.title),
                i.waits_on
                    .as_deref()
                    .map(|w| format!("  ({w})"))
                    .unwrap_or_default()
            );
            s.push_str(line.trim_end());
            s.push('\n');
        }
        s
    })
}
