//! `nexo archive`: closed runs out of the live folder, in one commit.

use super::Ctx;
use nexo::core::error::Result;
use nexo::wire::archive::ArchiveRequest;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  nexo archive --dry-run\n  nexo archive --closed-before 90d\n  nexo list --archived\n  nexo get WF-7K2D        # an archived run is still read by id\nA later event for an archived run (yours, or a peer's merged in) brings it back."
)]
pub struct Args {
    /// Archive the runs closed and not updated for this long: 30d, 12h, 0s (every closed run).
    #[arg(long, value_name = "AGE", default_value = "30d")]
    pub closed_before: String,
    /// Name the runs it would archive; move nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    let r = ctx.nexo()?.archive(ArchiveRequest {
        closed_before: Some(a.closed_before.clone()),
        dry_run: Some(a.dry_run),
    })?;
    ctx.emit(&r, || {
        let mut text = String::new();
        for run in &r.runs {
            text.push_str(&format!(
                "{}  {}  {}\n",
                run.run_id, run.status, run.updated_at
            ));
        }
        text.push_str(&r.message);
        text.push('\n');
        if let Some(c) = r.commit.as_ref().and_then(|c| c.commit.as_ref()) {
            text.push_str(&format!("commit {c}\n"));
        }
        text
    })
}
