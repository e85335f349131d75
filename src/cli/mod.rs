//! The command line: one module per command, each with its arguments, its
//! call into the library and its text rendering (like jj's
//! `cli/src/commands/`). This file holds what they share: the global
//! flags, the context they run in, and the output helpers.
//!
//! An adapter: it reaches the library through the verbs (`nexo::api`,
//! `verify`, `doctor`, `sync`), `call`, `render`, and `core` and `wire`
//! for types; never the stores below (tests/architecture.rs).

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use serde::Serialize;
use serde_json::{Map, Value};

use nexo::api::{Nexo, Options};
use nexo::core::error::{Error, Result};
use nexo::wire::json::parse_lenient;
use nexo::wire::response::{CheckpointOut, CommitInfo};

mod approve;
mod archive;
mod bring;
mod call;
mod claim;
mod commit;
mod compensation;
mod completions;
mod demo;
mod doctor;
mod events;
mod flags;
mod get;
mod goal;
mod handoff;
mod list;
mod mcp;
mod open;
mod prime;
mod reject;
mod replay;
mod resolve;
mod resume;
mod serve;
mod setup;
mod show;
mod sync;
mod template;
mod update;
mod verify;
mod wait;
mod watch;

const AFTER_HELP: &str = "\
Examples:
  nexo open \"Prepare and publish v3.1.1\" --step doctor:\"Run release readiness checks\" --step publish:\"Publish release\"
  nexo update WF-7K2D doctor --status completed --summary \"doctor clean\" --evidence \"ci run 812\"
  nexo resume WF-7K2D
  nexo approve WF-7K2D publish --note \"release notes reviewed\"
  nexo call nexo_workflow_resume --input '{\"run_id\":\"WF-7K2D\"}'
  nexo demo

Run ids may be shortened to any unique prefix (like git's short hashes).
Exit codes: 0 ok, 2 invalid input, 3 unknown run or step, 4 ambiguous prefix,
5 refused by the run's state, 6 git problem, 7 corrupt history, 8 busy, 9 I/O,
10 step claimed by another, 11 verify found a violation, 12 the remote kept moving (retry),
13 a wait timed out.";

/// The heading the flags every command takes are listed under.
const GLOBAL: &str = "Global options";

#[derive(Parser, Debug)]
#[command(
    name = "nexo",
    version,
    about = "Durable workflow runs for coding agents, kept as plain files in your git repository",
    long_about = "nexo keeps multi-step work (a release, a migration, an audit) as a durable run inside your git \
repository: a goal, ordered steps, their status and evidence, approval gates, an owner and the next concrete \
action. Each change is one event appended to .nexo/runs/<c>/<c>/<RUN_ID>/history.jsonl and committed to git, so runs \
travel with push and pull. A new session asks `nexo resume` for the next honest action.",
    after_help = AFTER_HELP
)]
pub struct Cli {
    // The four flags every command takes are global: they may come before
    // or after the command's name (`nexo list --no-commit`), and each
    // command's help lists them apart from its own.
    /// Run as if nexo was started in <DIR> (like git -C).
    #[arg(short = 'C', global = true, value_name = "DIR", help_heading = GLOBAL)]
    pub dir: Option<PathBuf>,
    /// Print the answer as one JSON object (the tool interface's shape).
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,
    /// Write the files but do not commit them (see `nexo commit`).
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub no_commit: bool,
    /// Who is acting, or asking (default: $NEXO_ACTOR, else git's user.name).
    #[arg(long, global = true, value_name = "NAME", help_heading = GLOBAL)]
    pub actor: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Call one of the agents' tools (nexo_workflow_*, nexo_goal_*) with a JSON input, as an agent does.
    #[command(after_help = call::after_help())]
    Call(call::Args),
    /// Open a new run.
    Open(open::Args),
    /// Record progress on a run (a step's status, summary, evidence, ...).
    Update(update::Args),
    /// Tell the next honest action on a run.
    Resume(resume::Args),
    /// Show a run's recent history, newest first.
    Replay(replay::Args),
    /// Hand a run to another owner.
    Handoff(handoff::Args),
    /// Show a run's full state.
    Get(get::Args),
    /// See a run at a glance: progress, steps, gates and a timeline (or Markdown / Mermaid for a pull request).
    Show(show::Args),
    /// List runs, most recently updated first.
    List(list::Args),
    /// Show the compensating actions for a run's work, in the order to apply them.
    Compensation(compensation::Args),
    /// Approve a step waiting at its approval gate.
    Approve(approve::Args),
    /// Reject a step waiting at its approval gate.
    Reject(reject::Args),
    /// Claim a step for a while, so other agents leave it to you (--sync: held at the remote).
    Claim(claim::Args),
    /// Let go of your claim on a step.
    Release(claim::ReleaseArgs),
    /// Carry a run from another branch to this one, as one commit.
    Bring(bring::Args),
    /// The steps any agent may take now, across every open run, best first (--claim: take one).
    Ready(claim::ReadyArgs),
    /// Wait until a step's gate is decided, a step or the run is done, a step is ready, or anything changes.
    Wait(wait::Args),
    /// What happened to runs since a cursor (gates asked for and decided, failures, ...), once.
    Events(events::Args),
    /// Follow what happens to runs as it happens (--sync: from the remote too), --exec a command for each.
    Watch(watch::Args),
    /// The goal stack: objectives that runs serve (open, update, get, list).
    Goal(goal::Args),
    /// Workflow templates in .nexo/templates/: list, show, check, init (see `nexo open --template`).
    Template(template::Args),
    /// Move closed runs out of .nexo/runs/ into .nexo/archive/, in one commit (still read by id).
    Archive(archive::Args),
    /// Commit every pending .nexo/ change (left by --no-commit or a merge in progress).
    #[command(
        after_help = "Examples:\n  nexo update WF-7K2D doctor --status completed --no-commit\n  nexo commit"
    )]
    Commit,
    /// Check every run: readable histories, each event once, no conflict markers, current views.
    #[command(after_help = doctor::AFTER_HELP)]
    Doctor(doctor::Args),
    /// Settle conflicted .nexo/ paths of a merge or rebase in progress and stage them.
    #[command(
        after_help = "Examples:\n  git pull          # stopped on .nexo/ conflicts in a clone without nexo's merge driver\n  nexo resolve      # settle and stage them; then git commit (or git rebase --continue)"
    )]
    Resolve,
    /// Commit pending changes, fetch, merge or rebase, settle .nexo/, regenerate views, push.
    #[command(
        after_help = "Examples:\n  nexo handoff WF-7K2D --to claude_code --next \"Publish.\"\n  nexo sync         # the other machine sees the handoff after its own nexo sync\nPull, push, divergence and claims across clones: docs/sync.md in nexo's repository."
    )]
    Sync(sync::Args),
    /// Serve every nexo_workflow_* and nexo_goal_* tool over MCP on standard input/output.
    #[command(after_help = mcp::AFTER_HELP)]
    Mcp(mcp::Args),
    /// A read-only web board of the runs on 127.0.0.1 (prints its URL first).
    Serve(serve::Args),
    /// Judge every approval gate of HEAD's runs by a trusted ref's policy (for CI on pull requests).
    #[command(after_help = verify::AFTER_HELP)]
    Verify(verify::Args),
    /// Wire nexo into Claude Code or Codex (MCP server, session hook, AGENTS.md), or CI (`setup ci github`).
    Setup(setup::Args),
    /// A compact summary of open runs for a session-start hook.
    Prime(prime::Args),
    /// Watch a release run pass between two agents and a person, in a throwaway repository's clones.
    Demo(demo::Args),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(completions::CompletionArgs),
    /// Print the man page (or write every page into a folder with --dir).
    Man(completions::ManArgs),
}

/// What every command runs with: the global flags.
pub struct Ctx {
    pub json: bool,
    pub no_commit: bool,
    pub actor: Option<String>,
}

impl Ctx {
    pub fn options(&self) -> Options {
        let mut o = Options::from_env();
        if self.actor.is_some() {
            o.actor.clone_from(&self.actor);
        }
        o.no_commit = self.no_commit;
        o.notify = Some(|n| eprintln!("nexo: {n}"));
        o
    }

    /// The repository in the working directory (after `-C`).
    pub fn nexo(&self) -> Result<Nexo> {
        self.nexo_with(|_| {})
    }

    /// [`Ctx::nexo`] with options of the command's own.
    pub fn nexo_with(&self, adjust: impl FnOnce(&mut Options)) -> Result<Nexo> {
        let mut options = self.options();
        adjust(&mut options);
        let nexo = Nexo::discover(Path::new("."), options)?;
        for notice in nexo.notices() {
            eprintln!("nexo: {notice}");
        }
        Ok(nexo)
    }

    /// Prints `value` as JSON with `--json`, else the text `render` makes.
    pub fn emit<T: Serialize>(&self, value: &T, render: impl FnOnce() -> String) -> Result<()> {
        if self.json {
            outln!("{}", pretty(value));
        } else {
            out!("{}", render());
        }
        Ok(())
    }
}

/// Writes to standard output. A reader that went away (`nexo list | head
/// -1`, an agent that closed the pipe) took what it wanted: the process
/// ends quietly with success, as ripgrep does, where `print!` would panic
/// with exit 101. Any other failure to write is an I/O error (exit 74,
/// EX_IOERR). Whatever the command wrote to the repository was done
/// before its answer is printed.
pub fn write_out(args: std::fmt::Arguments) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    written(stdout.write_fmt(args).and_then(|()| stdout.flush()));
}

/// What became of a write to standard output, as [`write_out`] takes it:
/// for an answer written in pieces.
pub fn written(result: std::io::Result<()>) {
    if let Err(e) = result {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("nexo: cannot write to standard output: {e}");
        std::process::exit(74);
    }
}

/// Runs the CLI and returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    let json = cli.json;
    let is_call = matches!(cli.command, Command::Call(_) | Command::Mcp(_));
    // Errors name the flags of the command that was run.
    let flags = |err: &Error| flags::in_flags(&cli.command, err);
    match execute(&cli) {
        Ok(code) => code,
        Err(err) if is_call => {
            outln!("{}", pretty(&nexo::call::error_value(&err)));
            err.kind.exit_code()
        }
        Err(err) => {
            let shown = flags(&err);
            if json {
                outln!("{}", pretty(&nexo::call::error_value(&shown)));
            } else {
                eprintln!("error: {}", shown.full());
            }
            err.kind.exit_code()
        }
    }
}

fn execute(cli: &Cli) -> Result<i32> {
    // `-C <dir>` is git's: run as if started there, so relative paths in
    // GIT_DIR or GIT_WORK_TREE (which git exports to hooks) mean the same
    // repository to nexo as to git.
    if let Some(dir) = &cli.dir {
        std::env::set_current_dir(dir)
            .map_err(|e| Error::repo(format!("cannot use -C {}: {e}", dir.display())))?;
    }
    let ctx = Ctx {
        json: cli.json,
        no_commit: cli.no_commit,
        actor: cli.actor.clone(),
    };
    let done = match &cli.command {
        Command::Call(a) => call::run(&ctx, a),
        Command::Open(a) => open::run(&ctx, a),
        Command::Update(a) => update::run(&ctx, a),
        Command::Resume(a) => resume::run(&ctx, a),
        Command::Replay(a) => replay::run(&ctx, a),
        Command::Handoff(a) => handoff::run(&ctx, a),
        Command::Get(a) => get::run(&ctx, a),
        Command::Show(a) => show::run(&ctx, a),
        Command::List(a) => list::run(&ctx, a),
        Command::Compensation(a) => compensation::run(&ctx, a),
        Command::Approve(a) => approve::run(&ctx, a),
        Command::Reject(a) => reject::run(&ctx, a),
        Command::Claim(a) => claim::run(&ctx, a),
        Command::Release(a) => claim::release(&ctx, a),
        Command::Bring(a) => bring::run(&ctx, a),
        Command::Ready(a) => claim::ready(&ctx, a),
        Command::Wait(a) => wait::run(&ctx, a),
        Command::Events(a) => events::run(&ctx, a),
        Command::Watch(a) => watch::run(&ctx, a),
        Command::Goal(a) => goal::run(&ctx, a),
        Command::Template(a) => return template::run(&ctx, a),
        Command::Archive(a) => archive::run(&ctx, a),
        Command::Commit => commit::run(&ctx),
        Command::Doctor(a) => return doctor::run(&ctx, a),
        Command::Verify(a) => return verify::run(&ctx, a),
        Command::Resolve => resolve::run(&ctx),
        Command::Sync(a) => sync::run(&ctx, a),
        Command::Mcp(a) => mcp::run(&ctx, a),
        Command::Serve(a) => serve::run(&ctx, a),
        Command::Setup(a) => setup::run(&ctx, a),
        Command::Prime(a) => prime::run(&ctx, a),
        Command::Demo(a) => demo::run(a),
        Command::Completions(a) => completions::completions(a),
        Command::Man(a) => completions::man(a),
    };
    done.map(|()| 0)
}

/// A comma-separated list flag (`a,b`), trimmed, empty entries dropped.
pub fn list_arg(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

pub fn pretty<T: Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).expect("values serialize")
}

/// A JSON-object flag, parsed with the same leniency as `--input`.
pub fn json_arg(text: Option<&str>, flag: &str) -> Result<Option<Map<String, Value>>> {
    let Some(text) = text else {
        return Ok(None);
    };
    match parse_lenient(text, flag)? {
        Value::Object(map) => Ok(Some(map)),
        _ => Err(Error::invalid(format!(
            "{flag} must be a JSON object, e.g. {flag} '{{\"env\": \"prod\"}}'"
        ))),
    }
}

/// A count flag (`-n`): at least 1. The tool interface reads 0 as "the
/// default", as the original does; on the command line a 0 is a typo.
pub fn at_least_one(text: &str) -> std::result::Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1 (leave it out for the default)".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{e}: expected a whole number")),
    }
}

/// Warns, on standard error, of each record whose history could not be
/// read: a listing goes on without it.
pub fn warn_unreadable<'a>(records: impl Iterator<Item = (&'a str, &'a str)>) {
    for (id, error) in records {
        match error.contains("nexo doctor") {
            true => eprintln!("warning: {id} could not be read: {error}"),
            false => eprintln!("warning: {id} could not be read: {error} (see `nexo doctor`)"),
        }
    }
}

/// Warns, on standard error, of each ref whose copy of run `id` could not
/// be read: the answer came from the other refs.
pub fn warn_unreadable_refs(id: &str, places: &[nexo::wire::response::Place]) {
    for p in places {
        if let Some(why) = &p.unreadable {
            eprintln!(
                "warning: {id} on {} could not be read, so it is left out: {why} (`nexo doctor` on that branch names every bad line)",
                nexo::core::limits::quote_name(&p.r#ref)
            );
        }
    }
}

/// The line that says a run was answered from other refs, read-only, and
/// how to work on it; each ref whose copy did not read is warned of.
pub fn elsewhere_line(id: &str, e: &nexo::wire::response::Elsewhere) -> String {
    warn_unreadable_refs(id, &e.lives_on);
    format!(
        "not in this working tree (read-only here): lives on {}; {}\n",
        nexo::render::places(&e.lives_on),
        e.how
    )
}

/// The line that says what became of a write's commit. A commit the next
/// nexo write may fold into its own is said to be one, so that a hash that
/// is gone from `git log` a minute later surprises nobody.
pub fn commit_line(c: &CommitInfo) -> String {
    match (&c.commit, &c.pending_reason) {
        (Some(id), _) if c.may_fold => format!(
            "committed {} (may be folded into the next nexo commit)\n",
            &id[..id.len().min(12)]
        ),
        (Some(id), _) => format!("committed {}\n", &id[..id.len().min(12)]),
        (None, Some(why)) => format!("not committed: {why}\n"),
        (None, None) => String::new(),
    }
}

/// Checkpoints of a run's history, one a line, each after `indent`: the
/// time, then who and the run's status in columns as wide as their widest
/// value up to a cap (a long name is clipped, never pushing the columns
/// after it out of line), then the label and summary, whole.
pub fn checkpoint_lines(checkpoints: &[CheckpointOut], indent: &str) -> String {
    use nexo::core::words::{cell, column, one_line};
    let actor = column(checkpoints.iter().map(|c| c.actor.as_str()), 5, 16);
    let status = column(checkpoints.iter().map(|c| c.run_status.as_str()), 6, 16);
    let mut s = String::new();
    for c in checkpoints {
        let summary = c.summary.as_deref().map(|t| format!(" — {}", one_line(t)));
        let line = format!(
            "{indent}{}  {}  {}  {}{}",
            c.created_at,
            cell(&c.actor, actor),
            cell(c.run_status.as_str(), status),
            one_line(&c.checkpoint_label),
            summary.unwrap_or_default()
        );
        s.push_str(line.trim_end());
        s.push('\n');
    }
    s
}

/// When to colour the terminal views, as git's `--color`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE forces it).
    #[default]
    Auto,
    Always,
    Never,
}

/// How the terminal views are fitted: colour as `choice` and the
/// environment say, and the width of the terminal (or `COLUMNS`).
pub fn frame(choice: ColorChoice) -> nexo::render::text::Frame {
    use std::io::IsTerminal;
    let tty = std::io::stdout().is_terminal();
    let set = |k: &str| std::env::var(k).is_ok_and(|v| !v.is_empty() && v != "0");
    let colour = match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) => false,
        ColorChoice::Auto => set("CLICOLOR_FORCE") || tty,
    };
    let columns = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<usize>().ok());
    let width = columns.or_else(|| {
        tty.then(|| terminal_size::terminal_size().map(|(w, _)| w.0 as usize))
            .flatten()
    });
    nexo::render::text::Frame {
        width: width.filter(|&w| w >= 20),
        paint: if colour {
            nexo::render::Paint::Ansi
        } else {
            nexo::render::Paint::Plain
        },
        now_ms: nexo::trace::now().timestamp_millis(),
    }
}

/// A run id argument, described once.
#[derive(clap::Args, Debug)]
pub struct RunArg {
    /// The run id, or any unique prefix of it (at least four characters).
    pub run: String,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every command, nested ones too, with its path.
    fn commands(cmd: &clap::Command, path: String, out: &mut Vec<(String, clap::Command)>) {
        for sub in cmd.get_subcommands() {
            let p = format!("{path} {}", sub.get_name());
            out.push((p.clone(), sub.clone()));
            commands(sub, p, out);
        }
    }

    #[test]
    fn every_command_takes_the_global_flags_after_its_name() {
        Cli::command().debug_assert();
        let mut cmd = Cli::command();
        cmd.build();
        let mut all = Vec::new();
        commands(&cmd, "nexo".into(), &mut all);
        // clap's own `help` subcommands take no flags.
        for (path, sub) in all.iter().filter(|(p, _)| !p.contains(" help")) {
            for id in ["dir", "json", "no_commit", "actor"] {
                assert!(
                    sub.get_arguments()
                        .any(|a| a.get_id() == id && a.is_global_set()),
                    "{path} does not take the global {id}"
                );
            }
        }
        let cli = <Cli as clap::Parser>::try_parse_from([
            "nexo",
            "list",
            "--no-commit",
            "--json",
            "-C",
            "/tmp",
            "--actor",
            "codex",
        ])
        .unwrap();
        assert!(cli.no_commit && cli.json);
        assert_eq!(cli.actor.as_deref(), Some("codex"));
        assert_eq!(cli.dir.as_deref(), Some(std::path::Path::new("/tmp")));
    }

    /// `line` split into words as a shell would: quotes group, and a
    /// `#` after white space starts a comment. None if a quote is open.
    fn shell_words(line: &str) -> Option<Vec<String>> {
        let (mut words, mut word, mut quote, mut started) =
            (Vec::new(), String::new(), None, false);
        for c in line.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), c) => word.push(c),
                (None, '\'' | '"') => (quote, started) = (Some(c), true),
                (None, '#') if !started => break,
                (None, c) if c.is_whitespace() => {
                    if started {
                        words.push(std::mem::take(&mut word));
                    }
                    started = false;
                }
                (None, c) => (word.push(c), started = true).1,
            }
        }
        if started {
            words.push(word);
        }
        quote.is_none().then_some(words)
    }

    /// Every exit code an error can give is in `nexo --help` and in
    /// docs/cli.md's table: a kind added without its line fails here (the
    /// match below stops compiling until the kind is listed).
    #[test]
    fn every_exit_code_is_documented() {
        use nexo::core::error::ErrorKind::{self, *};
        const KINDS: [ErrorKind; 11] = [
            Invalid, NotFound, Ambiguous, Conflict, Repo, Corrupt, Busy, Io, Claimed, Contended,
            TimedOut,
        ];
        let _listed = |k: ErrorKind| match k {
            Invalid | NotFound | Ambiguous | Conflict | Repo | Corrupt | Busy | Io | Claimed
            | Contended | TimedOut => (),
        };
        let docs = include_str!("../../docs/cli.md");
        for kind in KINDS {
            let code = kind.exit_code();
            assert!(
                super::AFTER_HELP.contains(&format!("{code} ")),
                "nexo --help lacks exit {code}"
            );
            assert!(
                docs.contains(&format!("\n| {code} |")),
                "docs/cli.md lacks exit {code}"
            );
        }
    }

    /// What a newcomer copies from the README is what nexo takes: every
    /// whole `nexo` command in its shell blocks parses, and nothing in it
    /// needs editing first (no placeholder, no jargon from before).
    #[test]
    fn the_readmes_commands_are_commands_nexo_takes() {
        let readme = include_str!("../../README.md");
        for banned in ["<owner>", "the seed's", "original runtime"] {
            assert!(!readme.contains(banned), "README says {banned:?}");
        }
        assert!(readme.contains("cargo install --locked --path ."));
        let mut checked = 0;
        let mut in_sh = false;
        for line in readme.lines() {
            match line.trim() {
                "```sh" => in_sh = true,
                "```" => in_sh = false,
                l if in_sh && l.starts_with("nexo ") => {
                    let Some(words) = shell_words(l) else {
                        continue;
                    };
                    if let Err(e) = <Cli as clap::Parser>::try_parse_from(&words) {
                        use clap::error::ErrorKind::{DisplayHelp, DisplayVersion};
                        assert!(
                            matches!(e.kind(), DisplayHelp | DisplayVersion),
                            "README's {l:?} does not parse: {e}"
                        );
                    }
                    checked += 1;
                }
                _ => {}
            }
        }
        assert!(checked > 20, "{checked} commands checked");
    }

    #[test]
    fn every_command_has_examples_and_every_argument_a_description() {
        let mut all = Vec::new();
        commands(&Cli::command(), "nexo".into(), &mut all);
        let mut missing = Vec::new();
        for (path, cmd) in &all {
            if cmd.get_subcommands().next().is_none() {
                let after = cmd
                    .get_after_help()
                    .map(|h| h.to_string())
                    .unwrap_or_default();
                if !after.contains("Example") {
                    missing.push(format!("{path}: no Examples"));
                }
            }
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() {
                    missing.push(format!("{path}: {id} has no description"));
                }
            }
        }
        assert!(missing.is_empty(), "{}", missing.join("\n"));
    }
}
