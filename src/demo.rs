//! `nexo demo`: the seed's release example, end to end, in a throwaway
//! repository. It goes through the same tool interface an agent uses.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

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

fn say(title: &str, tool: &str, input: &Value) {
    outln!("\n== {title}");
    outln!("$ nexo call {tool} --input '{input}'");
}

fn show(out: &Value, fields: &[&str]) {
    for f in fields {
        if let Some(v) = out.get(*f) {
            outln!(
                "  {f}: {}",
                match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                }
            );
        }
    }
}

pub fn run(keep: bool) -> Result<()> {
    let tmp = tempfile::Builder::new()
        .prefix("nexo-demo-")
        .tempdir()
        .map_err(|e| Error::io("create", &std::env::temp_dir(), e))?;
    let (dir, server) = machines(tmp.path())?;
    let codex = Nexo::discover(
        &dir,
        Options {
            actor: Some("codex".into()),
            ..Options::default()
        },
    )?;
    let claude = Nexo::discover(
        &server,
        Options {
            actor: Some("claude_code".into()),
            ..Options::default()
        },
    )?;

    let run_id = on_the_laptop(&codex)?;
    travel(&codex, &claude, &run_id)?;
    show_files(&dir, &run_id)?;
    if keep {
        let path = tmp.keep();
        outln!("Kept the demo clones under {}", path.display());
    }
    Ok(())
}

/// Two machines sharing one remote: Codex's laptop and Claude Code's
/// server. The run travels between them with ordinary push and pull.
fn machines(root: &Path) -> Result<(PathBuf, PathBuf)> {
    let remote = root.join("origin.git");
    let dir = &root.join("laptop");
    let server = &root.join("server");
    git(
        root,
        &[
            "init",
            "-q",
            "--bare",
            "-b",
            "main",
            &remote.to_string_lossy(),
        ],
    )?;
    std::fs::create_dir(dir).map_err(|e| Error::io("create", dir, e))?;
    git(dir, &["init", "-q", "-b", "main"])?;
    git(dir, &["config", "user.name", "nexo demo"])?;
    git(dir, &["config", "user.email", "demo@nexo.invalid"])?;
    std::fs::write(dir.join("README.md"), "# demo project\n")
        .map_err(|e| Error::io("write", dir, e))?;
    git(dir, &["add", "README.md"])?;
    git(dir, &["commit", "-q", "-m", "initial commit"])?;
    git(dir, &["remote", "add", "origin", &remote.to_string_lossy()])?;
    git(dir, &["push", "-q", "-u", "origin", "main"])?;
    git(
        root,
        &[
            "clone",
            "-q",
            &remote.to_string_lossy(),
            &server.to_string_lossy(),
        ],
    )?;
    git(server, &["config", "user.name", "nexo demo server"])?;
    git(server, &["config", "user.email", "server@nexo.invalid"])?;
    outln!(
        "Demo: a laptop clone ({}) and a server clone ({}) of one remote",
        dir.display(),
        server.display()
    );

    Ok((dir.clone(), server.clone()))
}

/// The seed's steps on the laptop, up to the handoff. Returns the run id.
fn on_the_laptop(codex: &Nexo) -> Result<String> {
    let input = json!({
        "sid": "demo-session-1",
        "goal": "Prepare and publish v3.1.1",
        "owner": "codex",
        "priority": "high",
        "workflow_kind": "release",
        "steps": "[{\"key\":\"doctor\",\"title\":\"Run release readiness checks\"},{\"key\":\"package\",\"title\":\"Build and verify artifacts\"},{\"key\":\"publish\",\"title\":\"Publish release\"}]",
        "next_action": "Run doctor and capture the first checkpoint."
    });
    say("Open the workflow", "nexo_workflow_open", &input);
    let out = call(codex, "nexo_workflow_open", input)?;
    show(&out, &["run_id", "status", "steps", "next_action"]);
    let run_id = out["run_id"]
        .as_str()
        .expect("open returns a run id")
        .to_string();

    let steps: Vec<(&str, Value)> = vec![
        (
            "Record the first step",
            json!({
                "run_id": run_id, "step_key": "doctor", "step_title": "Run release readiness checks",
                "step_status": "completed", "summary": "doctor clean, parity checks passed",
                "evidence": "nexo doctor + verify_client_parity.py", "next_action": "Build release artifacts."
            }),
        ),
        (
            "Package the release",
            json!({
                "run_id": run_id, "step_key": "package", "step_status": "completed",
                "summary": "artifacts built, checksums verified", "evidence": "dist/SHA256SUMS",
                "next_action": "Ask for publish approval."
            }),
        ),
        (
            "Mark a step as waiting for approval",
            json!({
                "run_id": run_id, "step_key": "publish", "step_title": "Publish release",
                "step_status": "blocked", "requires_approval": true,
                "summary": "Artifacts are ready. Waiting for explicit publish approval.",
                "next_action": "Wait for approval before publishing."
            }),
        ),
    ];
    for (title, input) in steps {
        say(title, "nexo_workflow_update", &input);
        let out = call(codex, "nexo_workflow_update", input)?;
        show(&out, &["status", "resume_state", "resume_message"]);
    }

    let input = json!({"run_id": run_id});
    say(
        "A new session resumes honestly: the gate holds",
        "nexo_workflow_resume",
        &input,
    );
    show(
        &call(codex, "nexo_workflow_resume", input)?,
        &["resume_state", "can_resume", "requires_approval", "message"],
    );

    let input = json!({"run_id": run_id, "step_key": "publish", "actor": "release-manager", "note": "Release notes reviewed."});
    say(
        "A person approves the gate explicitly",
        "nexo_workflow_approve",
        &input,
    );
    show(
        &call(codex, "nexo_workflow_approve", input)?,
        &["decision", "by", "resume_state", "message"],
    );

    let input = json!({
        "run_id": run_id, "actor": "codex", "new_owner": "claude_code",
        "handoff_note": "Doctor and package steps are done. Publish is approved and waiting on a final smoke test.",
        "next_action": "Run smoke test and publish if clean."
    });
    say(
        "Codex hands the run to Claude Code",
        "nexo_workflow_handoff",
        &input,
    );
    show(
        &call(codex, "nexo_workflow_handoff", input)?,
        &["owner", "message"],
    );

    Ok(run_id)
}

/// Both machines sync; the server resumes, publishes; the laptop replays.
fn travel(codex: &Nexo, claude: &Nexo, run_id: &str) -> Result<()> {
    outln!("\n== The laptop syncs; so does the server\n$ nexo sync   (on each machine)");
    codex.sync()?;
    claude.sync()?;
    outln!("  pushed from the laptop, pulled on the server");

    let input = json!({"run_id": run_id});
    say(
        "On the receiving client (the server)",
        "nexo_workflow_resume",
        &input,
    );
    show(
        &call(claude, "nexo_workflow_resume", input)?,
        &["owner", "resume_state", "message", "next_action"],
    );

    let input = json!({
        "run_id": run_id, "step_key": "publish", "step_status": "completed",
        "summary": "Smoke test clean; v3.1.1 published.", "evidence": "https://example.invalid/releases/v3.1.1"
    });
    say(
        "Claude Code publishes and records the evidence",
        "nexo_workflow_update",
        &input,
    );
    show(
        &call(claude, "nexo_workflow_update", input)?,
        &["status", "resume_state", "resume_message"],
    );

    claude.sync()?;
    codex.sync()?;
    let input = json!({"run_id": run_id, "limit": 5});
    say(
        "Back on the laptop after a sync: replay the trail",
        "nexo_workflow_replay",
        &input,
    );
    let out = call(codex, "nexo_workflow_replay", input)?;
    for c in out["checkpoints"].as_array().into_iter().flatten() {
        outln!(
            "  {}  {:<20} by {:<16} {}",
            c["created_at"].as_str().unwrap_or(""),
            c["checkpoint_label"].as_str().unwrap_or(""),
            c["actor"].as_str().unwrap_or(""),
            c["summary"].as_str().unwrap_or("")
        );
    }

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
    let run_yaml = std::fs::read_to_string(dir.join(format!(".nexo/runs/{run_id}/run.yaml")))
        .map_err(|e| Error::io("read", dir, e))?;
    outln!("\n== .nexo/runs/{run_id}/run.yaml\n{run_yaml}");

    Ok(())
}
