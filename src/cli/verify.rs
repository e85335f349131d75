//! `nexo verify`: judge every gate of HEAD's runs by a policy the branch
//! cannot change, for CI on pull requests (docs/approvals.md).

use super::Ctx;
use nexo::core::error::Result;
use nexo::render::verify;

/// The exit code of a verification that found a violation or a problem:
/// its own, so CI tells a failed check from a failed command.
pub const EXIT_VIOLATIONS: i32 = 11;

pub const AFTER_HELP: &str = "Examples:
  nexo verify                                   # the working tree's own policy, as doctor applies it
  nexo verify --trusted origin/main             # the base branch's policy (made stricter, never looser, by this branch's)
  nexo verify --trusted origin/main --format markdown >> \"$GITHUB_STEP_SUMMARY\"
  nexo setup ci github                          # a pull-request check that runs it

Exits 0 when every gate holds, 11 when a violation or a problem was found (each named: run, step,
event, reason), and as every command does on an error (2 bad input, 3 unknown ref, ...).
Reads git's objects only: no checkout, and nothing is written under .nexo/ or committed.";

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One finding a line.
    Text,
    /// One JSON object, for machines (as --json).
    Json,
    /// A short report for a CI job summary or a pull request.
    Markdown,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The ref whose approval policy and allowed signers are trusted (e.g. origin/main); never the branch's own.
    #[arg(long, value_name = "REF")]
    pub trusted: Option<String>,
    /// text (default), json or markdown.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Returns the exit code: 11 when the check fails.
pub fn run(ctx: &Ctx, a: &Args) -> Result<i32> {
    // With a trusted ref the branch's own config is judged, not obeyed:
    // one that does not parse is a finding of the report, not a stop.
    let nexo = match a.trusted {
        Some(_) => ctx.nexo_with(|o| o.lenient_config = true)?,
        None => ctx.nexo()?,
    };
    let r = nexo.verify(a.trusted.as_deref())?;
    match (a.format, ctx.json) {
        (Format::Json, _) | (_, true) => outln!("{}", super::pretty(&r)),
        (Format::Markdown, false) => out!("{}", verify::markdown(&r)),
        (Format::Text, false) => out!("{}", verify::text(&r)),
    }
    Ok(if r.ok { 0 } else { EXIT_VIOLATIONS })
}
