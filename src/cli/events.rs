//! `nexo events`: what happened to runs since a cursor, once, with the
//! cursor to ask from next time.

use super::Ctx;
use nexo::core::error::Result;
use nexo::core::feed::Item;
use nexo::core::model::FeedKind;
use nexo::wire::feed::FeedFilter;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  nexo events --json                                # everything, and a cursor\n  nexo events --since 3f2a…@1764990000000 --on gate_requested,gate_decided\nKinds: gate_requested, gate_decided, step_failed, claim_expired, run_completed, run_blocked.\nThe cursor (<commit>@<unix ms>) is the last line (\"cursor\" with --json): pass it as --since."
)]
pub struct Args {
    /// Only what happened after this cursor, as a previous answer gave it (default: everything).
    #[arg(long, value_name = "CURSOR")]
    pub since: Option<String>,
    /// Only this run (an id or unique prefix).
    #[arg(long, value_name = "RUN")]
    pub run: Option<String>,
    /// Only these kinds, comma-separated.
    #[arg(long, value_name = "KIND,...", value_delimiter = ',')]
    pub on: Vec<FeedKind>,
}

pub fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    let filter = FeedFilter {
        run_id: a.run.clone(),
        kinds: a.on.clone(),
    };
    let r = ctx.nexo()?.events(a.since.as_deref(), &filter)?;
    ctx.emit(&r, || {
        let mut s: String = r.events.iter().map(|i| line(i) + "\n").collect();
        s.push_str(&format!("cursor: {}\n", r.cursor));
        s
    })
}

/// One item for a person: when, what, and the summary.
pub fn line(i: &Item) -> String {
    format!("{}  {:<14}  {}", i.at, i.kind.as_str(), i.summary)
}
