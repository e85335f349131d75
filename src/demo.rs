//! `nexo demo`: a release run, end to end, in a throwaway repository
//! with two clones: Codex's laptop and Claude Code's server. It shows
//! both faces of nexo: the agents' tool calls (`nexo call`, in process,
//! through the same interface an agent uses) and the people's command
//! line (`nexo update`, `approve`, `sync`, `show`, run as the real binary).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use nexo::api::{Nexo, Options};
use nexo::call::call;
use nexo::core::error::{Error, Result};

fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| Error::repo(format!("the demo needs the git program: {e}")))?;
    if !out.status.success() {
        return Err(Error::repo(format!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The two clones, and who works in each.
struct Machines {
    laptop: PathBuf,
    server: PathBuf,
}

/// An agent's tool call, as `nexo call` takes it: the title, the command
/// an agent would run (its input as written, `$RUN` standing for the run's
/// id), then the answer's `fields`.
fn agent(
    (dir, actor): (&Path, &str),
    title: &str,
    tool: &str,
    (input, run): (&str, &str),
    fields: &[&str],
) -> Result<Value> {
    let input = input.replace("$RUN", run);
    outln!("\n== {title}");
    outln!("$ nexo call {tool} --input '{input}'");
    let input: Value = serde_json::from_str(&input).expect("the demo's inputs are JSON");
    // A fresh handle per call, as the MCP server opens one: the command
    // line may have written in between.
    let nexo = Nexo::discover(
        dir,
        Options {
            actor: Some(actor.into()),
            ..Options::default()
        },
    )?;
    let out = call(&nexo, tool, input)?;
    for f in fields {
        if let Some(v) = out.get(*f) {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            outln!("  {f}: {v}");
        }
    }
    Ok(out)
}

/// A person's command, run as the real `nexo` binary in `dir`, with what
/// it printed indented beneath.
fn person(dir: &Path, title: &str, args: &[&str]) -> Result<String> {
    outln!("\n== {title}");
    let shown: Vec<String> = args.iter().map(|a| shell_word(a)).collect();
    outln!("$ nexo {}", shown.join(" "));
    let exe =
        std::env::current_exe().map_err(|e| Error::io("find", Path::new("the nexo binary"), e))?;
    let out = Command::new(exe)
        .current_dir(dir)
        .args(args)
        .env_remove("NEXO_ACTOR")
        .output()
        .map_err(|e| Error::io("run", Path::new("nexo"), e))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(Error::repo(format!(
            "nexo {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    for line in text.lines() {
        outln!("  {line}");
    }
    Ok(text)
}

/// `word` as a shell would need it typed.
fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=,@".contains(c);
    match word.chars().all(plain) && !word.is_empty() {
        true => word.to_string(),
        false => format!("\"{}\"", word.replace('"', "\\\"")),
    }
}

pub fn run(keep: bool) -> Result<()> {
    let tmp = tempfile::Builder::new()
        .prefix("nexo-demo-")
        .tempdir()
        .map_err(|e| Error::io("create", &std::env::temp_dir(), e))?;
    let root = tmp.path().to_path_buf();
    outln!("nexo demo: a release run kept in git, worked on by two agents and a person.");
    outln!(
        "It works in {}: origin.git (the shared remote), laptop/ (Codex's clone) and server/ (Claude Code's clone).",
        root.display()
    );
    outln!(
        "{}",
        match keep {
            true => "They are kept when it ends (--keep).",
            false => "They are removed when it ends; `nexo demo --keep` keeps them to look around.",
        }
    );
    let m = machines(&root)?;
    let run_id = on_the_laptop(&m)?;
    travel(&m, &run_id)?;
    show_files(&m.laptop, &run_id)?;
    if keep {
        let path = tmp.keep();
        outln!(
            "\nKept {}: cd {} && nexo show {run_id}",
            path.display(),
            path.join("laptop").display()
        );
    } else {
        drop(tmp);
        outln!("\nRemoved {}.", root.display());
    }
    Ok(())
}

/// Two machines sharing one remote: Codex's laptop and Claude Code's
/// server. The run travels between them with ordinary push and pull.
fn machines(root: &Path) -> Result<Machines> {
    let remote = root.join("origin.git").to_string_lossy().into_owned();
    let laptop = root.join("laptop");
    let server = root.join("server");
    git(root, &["init", "-q", "--bare", "-b", "main", &remote])?;
    std::fs::create_dir(&laptop).map_err(|e| Error::io("create", &laptop, e))?;
    git(&laptop, &["init", "-q", "-b", "main"])?;
    git(&laptop, &["config", "user.name", "nexo demo"])?;
    git(&laptop, &["config", "user.email", "demo@nexo.invalid"])?;
    std::fs::write(laptop.join("README.md"), "# demo project\n")
        .map_err(|e| Error::io("write", &laptop, e))?;
    git(&laptop, &["add", "README.md"])?;
    git(&laptop, &["commit", "-q", "-m", "initial commit"])?;
    git(&laptop, &["remote", "add", "origin", &remote])?;
    git(&laptop, &["push", "-q", "-u", "origin", "main"])?;
    git(root, &["clone", "-q", &remote, &server.to_string_lossy()])?;
    git(&server, &["config", "user.name", "nexo demo server"])?;
    git(&server, &["config", "user.email", "server@nexo.invalid"])?;
    Ok(Machines { laptop, server })
}

/// On the laptop, up to the handoff: Codex opens the run and works
/// through the tool interface; a person records a step and approves the
/// gate from the command line. Returns the run id.
fn on_the_laptop(m: &Machines) -> Result<String> {
    let codex = (m.laptop.as_path(), "codex");
    let opened = agent(
        codex,
        "Codex opens the run (an agent's tool call)",
        "nexo_workflow_open",
        (
            r#"{"sid":"demo-session-1","goal":"Prepare and publish v3.1.1","owner":"codex","priority":"high","workflow_kind":"release","steps":[{"key":"doctor","title":"Run release readiness checks"},{"key":"package","title":"Build and verify artifacts"},{"key":"publish","title":"Publish release"}],"next_action":"Run doctor and capture the first checkpoint."}"#,
            "",
        ),
        &["run_id", "status", "steps", "next_action"],
    )?;
    let run = opened["run_id"]
        .as_str()
        .expect("open returns a run id")
        .to_string();
    agent(
        codex,
        "Codex records the first step",
        "nexo_workflow_update",
        (
            r#"{"run_id":"$RUN","step_key":"doctor","step_status":"completed","summary":"doctor clean, parity checks passed","evidence":"nexo doctor + verify_client_parity.py","next_action":"Build release artifacts."}"#,
            &run,
        ),
        &["status", "resume_state", "resume_message"],
    )?;
    person(
        &m.laptop,
        "A person records the packaging from the terminal (the command line)",
        &[
            "update",
            &run,
            "package",
            "--status",
            "completed",
            "--summary",
            "artifacts built, checksums verified",
            "--evidence",
            "dist/SHA256SUMS",
            "--actor",
            "release-engineer",
        ],
    )?;
    gate(&m.laptop, &run)?;
    agent(
        codex,
        "Codex hands the run to Claude Code",
        "nexo_workflow_handoff",
        (
            r#"{"run_id":"$RUN","actor":"codex","new_owner":"claude_code","handoff_note":"Doctor and package steps are done. Publish is approved and waiting on a final smoke test.","next_action":"Run smoke test and publish if clean."}"#,
            &run,
        ),
        &["owner", "message"],
    )?;
    Ok(run)
}

/// Codex puts publishing behind an approval gate; a new session finds the
/// gate holding; the release manager approves it from the terminal.
fn gate(dir: &Path, run: &str) -> Result<()> {
    agent(
        (dir, "codex"),
        "Codex asks for approval before publishing",
        "nexo_workflow_update",
        (
            r#"{"run_id":"$RUN","step_key":"publish","step_status":"blocked","requires_approval":true,"summary":"Artifacts are ready. Waiting for explicit publish approval.","next_action":"Wait for approval before publishing."}"#,
            run,
        ),
        &["status", "resume_state", "resume_message"],
    )?;
    agent(
        (dir, "codex"),
        "A new session resumes honestly: the gate holds",
        "nexo_workflow_resume",
        (r#"{"run_id":"$RUN"}"#, run),
        &["resume_state", "can_resume", "requires_approval", "message"],
    )?;
    person(
        dir,
        "The release manager approves the gate (the command line)",
        &[
            "approve",
            run,
            "publish",
            "--note",
            "Release notes reviewed.",
            "--actor",
            "release-manager",
        ],
    )?;
    Ok(())
}

/// Both machines sync; the server resumes and publishes; the laptop syncs
/// again and a person looks at the run.
fn travel(m: &Machines, run: &str) -> Result<()> {
    person(
        &m.laptop,
        "The laptop syncs (commit, pull, push)",
        &["sync"],
    )?;
    person(&m.server, "So does the server", &["sync"])?;
    let claude = (m.server.as_path(), "claude_code");
    agent(
        claude,
        "On the server, Claude Code resumes where Codex left off",
        "nexo_workflow_resume",
        (r#"{"run_id":"$RUN"}"#, run),
        &["owner", "resume_state", "message", "next_action"],
    )?;
    agent(
        claude,
        "Claude Code publishes and records the evidence",
        "nexo_workflow_update",
        (
            r#"{"run_id":"$RUN","step_key":"publish","step_status":"completed","summary":"Smoke test clean; v3.1.1 published.","evidence":"https://example.invalid/releases/v3.1.1"}"#,
            run,
        ),
        &["status", "resume_state", "resume_message"],
    )?;
    person(&m.server, "The server syncs", &["sync"])?;
    person(&m.laptop, "Back on the laptop, after a sync", &["sync"])?;
    person(
        &m.laptop,
        "A person looks at the run (the command line)",
        &["show", run],
    )?;
    Ok(())
}

/// The commits and files the run left.
fn show_files(dir: &Path, run_id: &str) -> Result<()> {
    outln!("\n== nexo's commits touch only .nexo/; a burst of changes is one commit, listing each");
    out!(
        "{}",
        git(dir, &["log", "--no-decorate", "--format=%h %s%n%b"])?
    );
    outln!("\n== The files");
    out!("{}", git(dir, &["ls-files", ".nexo"])?);
    let rel = format!("{}/run.yaml", nexo::core::layout::run_rel(run_id));
    let run_yaml =
        std::fs::read_to_string(dir.join(&rel)).map_err(|e| Error::io("read", dir, e))?;
    outln!("\n== {rel}\n{run_yaml}");
    Ok(())
}
