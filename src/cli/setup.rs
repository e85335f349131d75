//! `nexo setup claude|codex`: wire nexo into an agent in one command.

use std::path::PathBuf;

use super::Ctx;
use crate::setup::{self, Agent};
use nexo::error::{Error, Result};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  nexo setup claude              # .mcp.json, .claude/settings.json (SessionStart: nexo prime), CLAUDE.md, AGENTS.md
  nexo setup codex               # .codex/config.toml ([mcp_servers.nexo]), AGENTS.md
  nexo setup claude --dry-run    # show the changes, write nothing
  nexo setup codex --user        # ~/.codex/config.toml and ~/.codex/AGENTS.md instead
Existing files are merged, never replaced, and a second run changes nothing. Nothing is staged or committed.")]
pub struct Args {
    /// The agent: claude (Claude Code) or codex.
    #[arg(value_enum)]
    pub agent: Agent,
    /// Show what would change and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Configure the agent for your user (in your home folder), not this repository.
    #[arg(long)]
    pub user: bool,
}

pub fn run(_ctx: &Ctx, a: &Args) -> Result<()> {
    let root = match a.user {
        true => std::env::var_os("HOME")
            .map(PathBuf::from)
            .ok_or_else(|| Error::invalid("--user needs $HOME to be set"))?,
        false => nexo::git::Repo::discover(std::path::Path::new("."))?
            .workdir()
            .to_path_buf(),
    };
    let root = std::fs::canonicalize(&root).unwrap_or(root);
    let changes = setup::plan(a.agent, &root, a.user)?;
    let name = match a.agent {
        Agent::Claude => "claude",
        Agent::Codex => "codex",
    };
    if changes.is_empty() {
        outln!("nexo setup {name}: everything is already in place.");
        return Ok(());
    }
    for c in &changes {
        if a.dry_run {
            out!("{}", setup::diff(c));
        } else {
            outln!(
                "{} {}",
                if c.old.is_some() {
                    "updated"
                } else {
                    "created"
                },
                c.path.display()
            );
        }
    }
    if a.dry_run {
        outln!("(dry run: nothing written)");
        return Ok(());
    }
    setup::apply(&changes)?;
    outln!("{}", next_steps(a.agent, a.user));
    Ok(())
}

fn next_steps(agent: Agent, user: bool) -> &'static str {
    match (agent, user) {
        (Agent::Claude, false) => {
            "Next: start Claude Code here and approve the project's nexo MCP server when it asks (Claude Code asks once for servers in .mcp.json). Commit these files to share them with your team."
        }
        (Agent::Claude, true) => "Next: restart Claude Code; nexo is available in every project.",
        (Agent::Codex, false) => {
            "Next: Codex reads .codex/config.toml only in projects you trust: trust this folder in Codex. Commit these files to share them."
        }
        (Agent::Codex, true) => "Next: restart Codex; nexo is available in every project.",
    }
}
