//! `nexo mcp`: every tool over the Model Context Protocol.

use std::path::PathBuf;

use super::Ctx;
use nexo::core::error::Result;

pub const AFTER_HELP: &str = "Examples:
  claude mcp add --scope project nexo -- nexo mcp
  codex mcp add nexo -- nexo mcp
  nexo setup claude      # or: nexo setup codex (writes the agent's config for you)
Registering by hand, the session hook and habits: docs/agents.md in nexo's repository.";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The repository to serve (default: the working directory, or -C).
    #[arg(long, value_name = "DIR")]
    pub repo: Option<PathBuf>,
}

pub fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    let dir = a.repo.clone().unwrap_or_else(|| PathBuf::from("."));
    crate::mcp::serve(dir, ctx.options())
}
