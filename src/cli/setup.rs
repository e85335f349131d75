//! `nexo setup claude|codex|ci github`: wire nexo into an agent, or into
//! CI as a pull-request check, in one command.

use std::path::PathBuf;

use super::Ctx;
use crate::setup::{self, Agent, workflow};
use nexo::core::error::{Error, Result};

/// The help's closing text: examples, then GitLab CI's job, which nexo
/// does not write but a user who installed only the binary must be able
/// to find (`nexo setup --help`, `man nexo-setup`).
const AFTER_HELP: &str = "Examples:
  nexo setup claude              # .mcp.json, .claude/settings.json (SessionStart: nexo prime), CLAUDE.md, AGENTS.md
  nexo setup codex               # .codex/config.toml ([mcp_servers.nexo]), AGENTS.md
  nexo setup claude --dry-run    # show the changes, write nothing
  nexo setup codex --user        # ~/.codex/config.toml and ~/.codex/AGENTS.md instead
  nexo setup ci github           # .github/workflows/nexo.yml: nexo verify on every pull request
Existing files are merged, never replaced, and a second run changes nothing. Nothing is staged or committed.

GitLab CI: add this job to .gitlab-ci.yml, set the CI/CD variable NEXO_GIT to a git URL nexo
installs from (or put nexo on the runners), and require it with \"Pipelines must succeed\":
  nexo-verify:
    rules:
      - if: $CI_PIPELINE_SOURCE == \"merge_request_event\"
    variables:
      GIT_DEPTH: 0            # the target branch and the merge base
    script:
      - set -o pipefail       # so tee does not hide verify's exit code
      - command -v nexo || cargo install --locked --git \"$NEXO_GIT\" nexo
      - git fetch origin \"$CI_MERGE_REQUEST_TARGET_BRANCH_NAME\"
      - BASE=\"origin/$CI_MERGE_REQUEST_TARGET_BRANCH_NAME\"
      - nexo verify --trusted \"$BASE\" --format markdown | tee nexo-verify.md
    artifacts:
      when: always
      paths: [nexo-verify.md]";

#[derive(clap::Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// What to wire nexo into: claude (Claude Code), codex, or ci.
    #[arg(value_enum)]
    pub target: Target,
    /// With ci: which CI (github).
    #[arg(value_enum)]
    pub ci: Option<Ci>,
    /// Show what would change and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Configure the agent for your user (in your home folder), not this repository.
    #[arg(long)]
    pub user: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Claude Code: .mcp.json, a SessionStart hook in .claude/settings.json, CLAUDE.md and AGENTS.md.
    Claude,
    /// Codex: [mcp_servers.nexo] in .codex/config.toml, and AGENTS.md.
    Codex,
    /// A pull-request check that runs nexo verify (`nexo setup ci github`).
    Ci,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ci {
    /// GitHub Actions: .github/workflows/nexo.yml.
    Github,
}

pub fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    let agent = match (a.target, a.ci) {
        (Target::Ci, Some(Ci::Github)) if !a.user => return run_ci(a),
        (Target::Ci, Some(_)) => {
            return Err(Error::invalid(
                "--user applies to agents: a CI workflow belongs to a repository",
            ));
        }
        (Target::Ci, None) => {
            return Err(Error::invalid("name the CI: nexo setup ci github")
                .with_hint("for GitLab CI, `nexo setup --help` (or `man nexo-setup`) shows the job to add to .gitlab-ci.yml"));
        }
        (_, Some(_)) => {
            return Err(Error::invalid(
                "a CI is named only after ci: nexo setup ci github",
            ));
        }
        (Target::Claude, None) => Agent::Claude,
        (Target::Codex, None) => Agent::Codex,
    };
    run_agent(ctx, a, agent)
}

fn run_ci(a: &Args) -> Result<()> {
    let root = nexo::Nexo::worktree_of(std::path::Path::new("."))?;
    let changes = setup::plan_ci(&root)?;
    if !write(&changes, a.dry_run, "nexo setup ci github")? {
        return Ok(());
    }
    if changes
        .iter()
        .any(|c| !workflow::runs_on_pull_requests(&c.new))
    {
        outln!(
            "note: this workflow does not run on pull_request, and nexo's job runs only there: add it under `on:`."
        );
    }
    outln!(
        "Next: set the repository variable NEXO_GIT to a git URL nexo installs from (a clone of its repository you host; or install nexo on your runners), commit {}, and make the nexo-verify check required in the base branch's protection rules.",
        workflow::PATH
    );
    Ok(())
}

fn run_agent(_ctx: &Ctx, a: &Args, agent: Agent) -> Result<()> {
    let root = match a.user {
        true => std::env::var_os("HOME")
            .map(PathBuf::from)
            .ok_or_else(|| Error::invalid("--user needs $HOME to be set"))?,
        false => nexo::Nexo::worktree_of(std::path::Path::new("."))?,
    };
    let root = std::fs::canonicalize(&root).unwrap_or(root);
    let changes = setup::plan(agent, &root, a.user)?;
    let name = match agent {
        Agent::Claude => "nexo setup claude",
        Agent::Codex => "nexo setup codex",
    };
    if write(&changes, a.dry_run, name)? {
        outln!("{}", next_steps(agent, a.user));
    }
    Ok(())
}

/// Shows the changes (as a diff with `dry_run`) and writes them; whether
/// anything was written.
fn write(changes: &[setup::Change], dry_run: bool, name: &str) -> Result<bool> {
    if changes.is_empty() {
        outln!("{name}: everything is already in place.");
        return Ok(false);
    }
    for c in changes {
        match (dry_run, c.old.is_some()) {
            (true, _) => out!("{}", setup::diff(c)),
            (false, true) => outln!("updated {}", c.path.display()),
            (false, false) => outln!("created {}", c.path.display()),
        }
    }
    if dry_run {
        outln!("(dry run: nothing written)");
        return Ok(false);
    }
    setup::apply(changes)?;
    Ok(true)
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
