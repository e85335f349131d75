//! The command line: a thin adapter from flags to the library API, and from
//! its answers to text (or `--json`).

use std::io::Read;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use serde_json::Value;

use crate::api::{Nexo, Options};
use crate::call;
use crate::error::{Error, Result};
use crate::json::parse_lenient;
use crate::model::{Priority, RunStatus, StepStatus};
use crate::request::*;
use crate::response::*;

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
5 refused by the run's state, 6 git problem, 7 corrupt history, 8 busy, 9 I/O.";

#[derive(Parser, Debug)]
#[command(
    name = "nexo",
    version,
    about = "Durable workflow runs for coding agents, kept as plain files in your git repository",
    long_about = "nexo keeps multi-step work (a release, a migration, an audit) as a durable run inside your git \
repository: a goal, ordered steps, their status and evidence, approval gates, an owner and the next concrete \
action. Each change is one event appended to .nexo/runs/<RUN_ID>/history.jsonl and committed to git, so runs \
travel with push and pull. A new session asks `nexo resume` for the next honest action.",
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// Run as if nexo was started in <DIR> (like git -C).
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Print the answer as one JSON object (the tool interface's shape).
    #[arg(long, global = true)]
    pub json: bool,
    /// Write the files but do not commit them (see `nexo commit`).
    #[arg(long, global = true)]
    pub no_commit: bool,
    /// Who is acting (default: $NEXO_ACTOR, else git's user.name).
    #[arg(long, global = true, value_name = "NAME")]
    pub actor: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Call a NEXO tool with a JSON input, exactly like the original runtime.
    #[command(
        after_help = "Tools: nexo_workflow_open, _update, _resume, _replay, _handoff, _get, _list, \
_compensation, _approve, _reject.\nExample:\n  nexo call nexo_workflow_resume --input '{\"run_id\":\"WF-7K2D\"}'\n\
Prints exactly one JSON object; on failure {\"ok\": false, \"error\": \"...\"} and a non-zero exit."
    )]
    Call {
        /// The tool's name, e.g. nexo_workflow_open.
        tool: String,
        /// The input object as JSON; `-` reads it from standard input.
        #[arg(long, short = 'i', value_name = "JSON")]
        input: Option<String>,
    },
    /// Open a new run.
    Open(OpenArgs),
    /// Record progress on a run (a step's status, summary, evidence, ...).
    Update(UpdateArgs),
    /// Tell the next honest action on a run.
    Resume {
        /// The run id, or any unique prefix of it.
        run: String,
    },
    /// Show a run's recent history, newest first.
    Replay {
        run: String,
        #[arg(long, short = 'n', default_value_t = 20)]
        limit: usize,
    },
    /// Hand a run to another owner.
    Handoff {
        run: String,
        /// The new owner (client, agent or person).
        #[arg(long, value_name = "OWNER")]
        to: Option<String>,
        /// What the next owner needs to know.
        #[arg(long)]
        note: Option<String>,
        /// The next concrete action.
        #[arg(long)]
        next: Option<String>,
    },
    /// Show a run's full state.
    Get {
        run: String,
        /// Leave the steps out.
        #[arg(long)]
        no_steps: bool,
        /// How many recent checkpoints to show.
        #[arg(long, default_value_t = 8)]
        checkpoints: usize,
    },
    /// List runs, most recently updated first.
    List {
        /// Include closed runs (completed, failed, cancelled).
        #[arg(long, short = 'a')]
        all: bool,
        /// Only runs with this status.
        #[arg(long)]
        status: Option<RunStatus>,
        #[arg(long, short = 'n', default_value_t = 20)]
        limit: usize,
    },
    /// Show the compensating actions for a run's work, in the order to apply them.
    Compensation { run: String },
    /// Approve a step waiting at its approval gate.
    Approve {
        run: String,
        step: String,
        /// Why it is approved.
        #[arg(long, alias = "reason")]
        note: Option<String>,
        #[arg(long)]
        next: Option<String>,
    },
    /// Reject a step waiting at its approval gate.
    Reject {
        run: String,
        step: String,
        /// Why it is rejected (required).
        #[arg(long, alias = "note")]
        reason: String,
        #[arg(long)]
        next: Option<String>,
    },
    /// Commit every pending .nexo/ change (left by --no-commit or a merge in progress).
    Commit,
    /// Check every run: readable histories, each event once, no conflict markers, current views.
    #[command(
        after_help = "Exits 0 when healthy and 7 when a problem was found (for CI on pull requests)."
    )]
    Doctor {
        /// Repair what can be repaired without losing an event, and commit it.
        #[arg(long)]
        fix: bool,
    },
    /// Settle conflicted .nexo/ paths of a merge or rebase in progress and stage them.
    Resolve,
    /// Commit pending changes, pull, settle .nexo/, regenerate views, push.
    Sync,
    /// Serve every nexo_workflow_* tool over MCP on standard input/output.
    #[command(
        after_help = "Register with Claude Code in .mcp.json: {\"mcpServers\": {\"nexo\": {\"command\": \"nexo\", \"args\": [\"mcp\"]}}}\nSee docs/agents.md."
    )]
    Mcp {
        /// The repository to serve (default: the working directory, or -C).
        #[arg(long, value_name = "DIR")]
        repo: Option<PathBuf>,
    },
    /// A compact summary of open runs for a session-start hook.
    Prime {
        /// How many runs to show at most.
        #[arg(long, short = 'n', default_value_t = 10)]
        limit: usize,
    },
    /// Walk the seed's release example end to end, across two clones of a throwaway repository.
    Demo {
        /// Keep the demo repository and print its path.
        #[arg(long)]
        keep: bool,
    },
}

#[derive(Args, Debug)]
pub struct OpenArgs {
    /// What the run should achieve.
    pub goal: String,
    /// A step as KEY or KEY:TITLE; repeat in order.
    #[arg(long = "step", short = 's', value_name = "KEY[:TITLE]")]
    pub steps: Vec<String>,
    #[arg(long)]
    pub owner: Option<String>,
    #[arg(long)]
    pub priority: Option<Priority>,
    /// The kind of work (release, migration, audit, ...).
    #[arg(long = "kind")]
    pub workflow_kind: Option<String>,
    /// The first concrete action.
    #[arg(long)]
    pub next: Option<String>,
    /// The session id (default: $NEXO_SESSION_ID, else "cli").
    #[arg(long)]
    pub sid: Option<String>,
    /// Reuse the open run with this key (and session) instead of opening another.
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// Initial shared state as a JSON object.
    #[arg(long, value_name = "JSON")]
    pub state: Option<String>,
}

#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// The run id, or any unique prefix of it.
    pub run: String,
    /// The step to update (created if --title is given and it is new).
    pub step: Option<String>,
    /// The step's new status: pending, running (or in_progress), blocked, waiting_approval,
    /// failed, completed, skipped, retrying.
    #[arg(long)]
    pub status: Option<StepStatus>,
    /// The step's title (required to add a new step).
    #[arg(long)]
    pub title: Option<String>,
    /// What happened, in a sentence.
    #[arg(long)]
    pub summary: Option<String>,
    /// Where the proof is: a command, a log, a URL.
    #[arg(long)]
    pub evidence: Option<String>,
    /// The next concrete action for whoever picks the run up.
    #[arg(long)]
    pub next: Option<String>,
    /// Set the run's status explicitly: open, running, blocked, waiting_approval, failed,
    /// completed, cancelled.
    #[arg(long)]
    pub run_status: Option<RunStatus>,
    /// A label for this checkpoint (default: <step>:<status>).
    #[arg(long)]
    pub label: Option<String>,
    /// Put the step behind an approval gate (or lift the requirement with =false).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub requires_approval: Option<bool>,
    /// How many attempts the step may take before resume stops offering a retry.
    #[arg(long)]
    pub max_retries: Option<u32>,
    /// When a retry makes sense (free text, e.g. an RFC 3339 time).
    #[arg(long)]
    pub retry_after: Option<String>,
    /// How to retry (free text, e.g. "exponential backoff").
    #[arg(long)]
    pub retry_policy: Option<String>,
    /// How to undo this step's work if the run must be rolled back.
    #[arg(long)]
    pub compensation: Option<String>,
    /// Change the run's owner without a handoff note.
    #[arg(long)]
    pub owner: Option<String>,
    /// Replace the shared state with this JSON object.
    #[arg(long, value_name = "JSON")]
    pub state: Option<String>,
    /// Merge this JSON object into the shared state (null deletes a key).
    #[arg(long, value_name = "JSON")]
    pub patch: Option<String>,
}

/// Runs the CLI and returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    let json = cli.json;
    let is_call = matches!(cli.command, Command::Call { .. });
    match execute(cli) {
        Ok(()) => 0,
        Err(err) => {
            if is_call || json {
                println!("{}", pretty(&call::error_value(&err)));
            } else {
                eprintln!("error: {err}");
            }
            err.kind.exit_code()
        }
    }
}

fn pretty<T: Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).expect("values serialize")
}

fn options(cli: &Cli) -> Options {
    let mut o = Options::from_env();
    if cli.actor.is_some() {
        o.actor.clone_from(&cli.actor);
    }
    o.no_commit = cli.no_commit;
    o.notify = Some(|n| eprintln!("nexo: {n}"));
    o
}

fn nexo(cli: &Cli) -> Result<Nexo> {
    let nexo = Nexo::discover(Path::new("."), options(cli))?;
    for notice in nexo.notices() {
        eprintln!("nexo: {notice}");
    }
    Ok(nexo)
}

fn execute(cli: Cli) -> Result<()> {
    let json = cli.json;
    // `-C <dir>` is git's: run as if started there, so relative paths in
    // GIT_DIR or GIT_WORK_TREE (which git exports to hooks) mean the same
    // repository to nexo as to git.
    if let Some(dir) = &cli.dir {
        std::env::set_current_dir(dir)
            .map_err(|e| Error::repo(format!("cannot use -C {}: {e}", dir.display())))?;
    }
    match &cli.command {
        Command::Call { tool, input } => {
            if !call::is_tool(tool) {
                return Err(call::unknown_tool(tool));
            }
            let text = match input.as_deref() {
                Some("-") => {
                    let mut s = String::new();
                    std::io::stdin().read_to_string(&mut s).map_err(|e| {
                        Error::invalid(format!("cannot read --input from standard input: {e}"))
                    })?;
                    s
                }
                Some(s) => s.to_string(),
                None => String::new(),
            };
            let value = if text.trim().is_empty() {
                Value::Null
            } else {
                parse_lenient(&text, "--input")?
            };
            let out = call::call(&nexo(&cli)?, tool, value)?;
            println!("{}", pretty(&out));
            Ok(())
        }
        Command::Open(a) => {
            let n = nexo(&cli)?;
            let steps = a
                .steps
                .iter()
                .map(|s| {
                    let (key, title) = s.split_once(':').unwrap_or((s.as_str(), s.as_str()));
                    serde_json::json!({"key": key.trim(), "title": title.trim()})
                })
                .collect::<Vec<_>>();
            let req = OpenRequest {
                sid: a
                    .sid
                    .clone()
                    .or_else(|| options(&cli).session)
                    .unwrap_or_else(|| "cli".into()),
                goal: a.goal.clone(),
                owner: a.owner.clone(),
                priority: a.priority,
                workflow_kind: a.workflow_kind.clone(),
                steps: Some(Value::Array(steps)),
                next_action: a.next.clone(),
                shared_state: json_arg(a.state.as_deref(), "--state")?,
                idempotency_key: a.idempotency_key.clone(),
                goal_id: None,
                actor: cli.actor.clone(),
            };
            let r = n.open(req)?;
            emit(json, &r, || {
                let verb = if r.reused_existing {
                    "Reused"
                } else {
                    "Opened"
                };
                let mut s = format!(
                    "{verb} {} ({}, {} steps)\n",
                    r.run_id, r.status, r.step_count
                );
                for (k, t) in r.step_keys.iter().zip(&r.steps) {
                    s.push_str(&format!("  - {k}: {t}\n"));
                }
                if !r.next_action.is_empty() {
                    s.push_str(&format!("Next: {}\n", r.next_action));
                }
                s + &commit_line(&r.commit)
            })
        }
        Command::Update(a) => {
            let n = nexo(&cli)?;
            let req = UpdateRequest {
                run_id: a.run.clone(),
                step_key: a.step.clone(),
                step_title: a.title.clone(),
                step_status: a.status,
                run_status: a.run_status,
                checkpoint_label: a.label.clone(),
                summary: a.summary.clone(),
                evidence: a.evidence.clone(),
                next_action: a.next.clone(),
                shared_state: json_arg(a.state.as_deref(), "--state")?,
                state_patch: json_arg(a.patch.as_deref(), "--patch")?,
                retry_after: a.retry_after.clone(),
                retry_policy: a.retry_policy.clone(),
                compensation: a.compensation.clone(),
                actor: cli.actor.clone(),
                owner: a.owner.clone(),
                max_retries: a.max_retries,
                requires_approval: a.requires_approval,
            };
            let r = n.update(req)?;
            emit(json, &r, || {
                format!(
                    "{} is {} (current step: {})\n{}: {}\n{}",
                    r.run_id,
                    r.status,
                    r.current_step_key.as_deref().unwrap_or("-"),
                    r.resume_state,
                    r.resume_message,
                    commit_line(&r.commit)
                )
            })
        }
        Command::Resume { run } => {
            let r = nexo(&cli)?.resume(RunRequest {
                run_id: run.clone(),
            })?;
            emit(json, &r, || {
                let mut s = format!("{}  {}\n", r.run_id, r.goal);
                s.push_str(&format!(
                    "status: {}   owner: {}   resume: {}{}\n",
                    r.status,
                    if r.owner.is_empty() { "-" } else { &r.owner },
                    r.resume_state,
                    if r.requires_approval {
                        " (approval required)"
                    } else {
                        ""
                    }
                ));
                s.push_str(&format!("{}\n", r.message));
                if !r.next_action.is_empty() && !r.message.contains(&r.next_action) {
                    s.push_str(&format!("next action: {}\n", r.next_action));
                }
                s
            })
        }
        Command::Replay { run, limit } => {
            let r = nexo(&cli)?.replay(ReplayRequest {
                run_id: run.clone(),
                limit: Some(*limit),
            })?;
            emit(json, &r, || {
                let mut s = format!(
                    "{}: {} of {} checkpoints, newest first\n",
                    r.run_id, r.count, r.total
                );
                for c in &r.checkpoints {
                    s.push_str(&checkpoint_line(c));
                }
                s
            })
        }
        Command::Handoff {
            run,
            to,
            note,
            next,
        } => {
            let n = nexo(&cli)?;
            let actor = n.actor(None, None);
            let r = n.handoff(HandoffRequest {
                run_id: run.clone(),
                actor,
                new_owner: to.clone(),
                handoff_note: note.clone(),
                next_action: next.clone(),
                shared_state: None,
            })?;
            emit(json, &r, || {
                format!("{}\n{}", r.message, commit_line(&r.commit))
            })
        }
        Command::Get {
            run,
            no_steps,
            checkpoints,
        } => {
            let r = nexo(&cli)?.get(GetRequest {
                run_id: run.clone(),
                include_steps: Some(!no_steps),
                checkpoint_limit: Some(*checkpoints),
            })?;
            emit(json, &r, || render_get(&r))
        }
        Command::List { all, status, limit } => {
            let r = nexo(&cli)?.list(ListRequest {
                status: *status,
                include_closed: Some(*all),
                limit: Some(*limit),
            })?;
            for u in &r.unreadable {
                eprintln!(
                    "warning: {} could not be read: {} (see `nexo doctor`)",
                    u.run_id, u.error
                );
            }
            emit(json, &r, || {
                if r.runs.is_empty() {
                    return "No runs. Open one with `nexo open \"<goal>\" --step key:title ...`.\n"
                        .into();
                }
                let mut s = String::new();
                for run in &r.runs {
                    s.push_str(&format!(
                        "{}  {:<16} {:<8} {:<12} {}\n",
                        run.run_id,
                        run.status.as_str(),
                        run.priority.as_str(),
                        if run.owner.is_empty() {
                            "-"
                        } else {
                            &run.owner
                        },
                        run.goal
                    ));
                }
                s
            })
        }
        Command::Compensation { run } => {
            let r = nexo(&cli)?.compensation(CompensationRequest {
                run_id: run.clone(),
                checkpoint_limit: None,
            })?;
            emit(json, &r, || {
                let mut s = format!(
                    "{} ({}): {} compensations, apply in this order\n",
                    r.run_id, r.status, r.count
                );
                for c in &r.compensations {
                    s.push_str(&format!(
                        "  {} [{}]: {}\n",
                        c.step_key, c.step_status, c.compensation
                    ));
                }
                if !r.uncovered_steps.is_empty() {
                    s.push_str(&format!(
                        "Steps with work done but no compensation: {}\n",
                        r.uncovered_steps.join(", ")
                    ));
                }
                s
            })
        }
        Command::Approve {
            run,
            step,
            note,
            next,
        } => decide(&cli, true, run, step, note.clone(), next.clone()),
        Command::Reject {
            run,
            step,
            reason,
            next,
        } => decide(&cli, false, run, step, Some(reason.clone()), next.clone()),
        Command::Commit => {
            let n = nexo(&cli)?;
            let r = n.commit_pending()?;
            emit(json, &r, || match &r.commit {
                Some(c) => format!("Committed pending .nexo/ changes as {c}\n"),
                None => "Nothing to commit in .nexo/\n".into(),
            })
        }
        Command::Doctor { fix } => {
            let r = nexo(&cli)?.doctor(*fix)?;
            emit(json, &r, || {
                let mut s = String::new();
                for p in &r.problems {
                    s.push_str(&format!("{}: {}\n", p.kind, p.message));
                }
                for f in &r.fixed {
                    s.push_str(&format!("fixed: {f}\n"));
                }
                if let Some(c) = &r.commit {
                    s.push_str(&format!("committed {}\n", &c[..12]));
                }
                if let Some(why) = &r.not_committed {
                    s.push_str(&format!("not committed: {why}\n"));
                }
                s.push_str(&match (r.ok, r.problems.is_empty()) {
                    (true, true) => format!("{} runs checked: healthy\n", r.runs_checked),
                    (true, false) => format!("{} runs checked: repaired\n", r.runs_checked),
                    (false, _) => format!(
                        "{} runs checked: {} problem(s){}\n",
                        r.runs_checked,
                        r.problems.len(),
                        if *fix {
                            ""
                        } else {
                            "; `nexo doctor --fix` repairs the fixable ones"
                        }
                    ),
                });
                s
            })?;
            if r.ok {
                Ok(())
            } else {
                std::process::exit(crate::error::ErrorKind::Corrupt.exit_code());
            }
        }
        Command::Resolve => {
            let r = nexo(&cli)?.resolve()?;
            emit(json, &r, || {
                let mut s = String::new();
                for p in &r.resolved {
                    s.push_str(&format!("resolved: {p}\n"));
                }
                s + &r.next + "\n"
            })
        }
        Command::Sync => {
            let r = nexo(&cli)?.sync()?;
            emit(json, &r, || {
                format!(
                    "synced with {}: {}{}{}pushed\n",
                    r.upstream,
                    if r.pulled {
                        "pulled, "
                    } else {
                        "nothing to pull, "
                    },
                    if r.resolved.is_empty() {
                        String::new()
                    } else {
                        format!("settled {} .nexo/ paths, ", r.resolved.len())
                    },
                    if r.refreshed.is_empty() {
                        String::new()
                    } else {
                        format!("regenerated views of {} runs, ", r.refreshed.len())
                    },
                )
            })
        }
        Command::Mcp { repo } => {
            let dir = repo.clone().unwrap_or_else(|| PathBuf::from("."));
            crate::mcp::serve(dir, options(&cli))
        }
        Command::Prime { limit } => {
            let r = nexo(&cli)?.prime(*limit)?;
            emit(json, &r, || r.text.clone())
        }
        Command::Demo { keep } => crate::demo::run(*keep),
    }
}

fn decide(
    cli: &Cli,
    approve: bool,
    run: &str,
    step: &str,
    note: Option<String>,
    next: Option<String>,
) -> Result<()> {
    let n = nexo(cli)?;
    let req = DecisionRequest {
        run_id: run.to_string(),
        step_key: step.to_string(),
        actor: cli.actor.clone(),
        note,
        next_action: next,
    };
    let r = if approve {
        n.approve(req)?
    } else {
        n.reject(req)?
    };
    emit(cli.json, &r, || {
        format!(
            "{} step '{}' {} by {}\n{}: {}\n{}",
            r.run_id,
            r.step_key,
            r.decision,
            r.by,
            r.resume_state,
            r.message,
            commit_line(&r.commit)
        )
    })
}

/// A JSON-valued flag, parsed with the same leniency as `--input`.
fn json_arg(text: Option<&str>, flag: &str) -> Result<Option<Value>> {
    text.map(|t| parse_lenient(t, flag)).transpose()
}

fn emit<T: Serialize>(json: bool, value: &T, text: impl FnOnce() -> String) -> Result<()> {
    if json {
        println!("{}", pretty(value));
    } else {
        print!("{}", text());
    }
    Ok(())
}

fn commit_line(c: &CommitInfo) -> String {
    match (&c.commit, &c.pending_reason) {
        (Some(id), _) => format!("committed {}\n", &id[..id.len().min(12)]),
        (None, Some(why)) => format!("not committed: {why}\n"),
        (None, None) => String::new(),
    }
}

fn checkpoint_line(c: &CheckpointOut) -> String {
    let mut s = format!(
        "{}  {:<22} {:<10} {}",
        c.created_at, c.checkpoint_label, c.actor, c.run_status
    );
    if let Some(summary) = &c.summary {
        s.push_str(&format!("  {summary}"));
    }
    s.push('\n');
    s
}

fn render_get(r: &GetResponse) -> String {
    let run = &r.run;
    let mut s = format!("{}  {}\n", run.run_id, run.goal);
    s.push_str(&format!(
        "kind: {}   status: {}   priority: {}   owner: {}\n",
        run.workflow_kind,
        run.status,
        run.priority,
        if run.owner.is_empty() {
            "-"
        } else {
            &run.owner
        }
    ));
    s.push_str(&format!(
        "opened {}   updated {}\n",
        run.opened_at, run.updated_at
    ));
    if let Some(steps) = &run.steps {
        s.push_str("steps:\n");
        for out in steps {
            let st = &out.step;
            let marker = if run.current_step_key.as_deref() == Some(st.step_key.as_str()) {
                ">"
            } else {
                " "
            };
            let mut line = format!(
                "{marker} {:<14} {:<16} {}",
                st.step_key,
                st.status.as_str(),
                st.title
            );
            if st.attempt_count > 0 {
                line.push_str(&format!("  (attempt {}", st.attempt_count));
                if st.max_retries > 0 {
                    line.push_str(&format!(" of {}", st.max_retries));
                }
                line.push(')');
            }
            if out.awaiting_approval {
                line.push_str("  [approval required]");
            } else if let Some(a) = &st.approval {
                line.push_str(&format!("  [{:?} by {}]", a.decision, a.by).to_lowercase());
            }
            s.push_str(&line);
            s.push('\n');
        }
    }
    if !run.next_action.is_empty() {
        s.push_str(&format!("next action: {}\n", run.next_action));
    }
    s.push_str(&format!("resume: {} — {}\n", r.resume_state, r.message));
    if !run.shared_state.is_empty() {
        s.push_str(&format!(
            "shared state: {}\n",
            Value::Object(run.shared_state.clone())
        ));
    }
    if !r.checkpoints.is_empty() {
        s.push_str("recent checkpoints:\n");
        for c in &r.checkpoints {
            s.push_str("  ");
            s.push_str(&checkpoint_line(c));
        }
    }
    s
}
