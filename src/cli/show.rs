//! `nexo show`: one run at a glance in the terminal, or as Markdown or a
//! Mermaid diagram for a pull request.

use super::{ColorChoice, Ctx, RunArg, frame};
use nexo::core::error::Result;
use nexo::core::resume::resume_at;
use nexo::render::{markdown, text};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Header, steps and timeline, fitted to the terminal.
    Text,
    /// A summary for a pull request: step table, trail and diagram.
    Markdown,
    /// The steps as a Mermaid flowchart, alone.
    Mermaid,
}

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  nexo show WF-7K2D
  nexo show WF-7K2D --format markdown > run.md
  gh pr create --title \"Release v3.1.1\" --body \"$(nexo show WF-7K2D --format markdown)\"
  nexo show WF-7K2D --format mermaid")]
pub struct Args {
    #[command(flatten)]
    pub run: RunArg,
    /// text (default), markdown or mermaid.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Colour: auto (on a terminal, unless NO_COLOR), always or never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// How many timeline entries to show, newest first.
    #[arg(long, short = 'n', default_value_t = 12, value_parser = super::at_least_one)]
    pub events: usize,
}

pub fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    let nexo = ctx.nexo()?;
    if ctx.json {
        // The tool interface's full state, as `nexo get --json`.
        return ctx.emit(
            &nexo.get(nexo::wire::request::GetRequest {
                run_id: a.run.run.clone(),
                include_steps: Some(true),
                checkpoint_limit: Some(a.events),
            })?,
            String::new,
        );
    }
    let (run, elsewhere) = nexo.load_anywhere(&a.run.run, a.events)?;
    let r = resume_at(&run, &nexo::trace::now_text());
    if let Some(e) = &elsewhere {
        super::warn_unreadable_refs(&run.run_id, &e.lives_on);
        eprintln!(
            "nexo: {} is not in this working tree; shown from {} (read-only): {}",
            run.run_id,
            nexo::render::places(&e.lives_on),
            e.how
        );
    }
    out!(
        "{}",
        match a.format {
            Format::Text => text::show(&run, &r, &frame(a.color), a.events),
            Format::Markdown => markdown::markdown(&run, &r, a.events),
            Format::Mermaid => markdown::mermaid(&run),
        }
    );
    Ok(())
}
