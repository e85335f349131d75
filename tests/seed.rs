//! The seed document's commands, pasted into a shell as written (only the
//! placeholder run id replaced by the real one), must work.

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

/// Extracts every `nexo call ... --input '...'` command from the seed text,
/// exactly as written there (line breaks inside the quotes included).
fn seed_commands() -> Vec<String> {
    let text = include_str!("../fixtures/seed.txt");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("nexo call ") {
        let from = &rest[start..];
        let open = from.find('\'').expect("an --input quote");
        let close = open + 1 + from[open + 1..].find('\'').expect("a closing quote");
        out.push(from[..=close].to_string());
        rest = &from[close + 1..];
    }
    out
}

fn sh(repo: &Repo, command: &str) -> (bool, Value, String) {
    let bin_dir = nexo_bin().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(repo.path())
        .env("PATH", path)
        .env_remove("NEXO_ACTOR")
        .output()
        .unwrap();
    (out.status.success(), parse_json(&out), stderr(&out))
}

#[test]
fn the_seed_has_the_commands_we_expect() {
    let cmds = seed_commands();
    let tools: Vec<&str> = cmds
        .iter()
        .map(|c| c.split_whitespace().nth(2).unwrap())
        .collect();
    assert_eq!(
        tools,
        [
            "nexo_workflow_open",
            "nexo_workflow_update",
            "nexo_workflow_resume",
            "nexo_workflow_replay",
            "nexo_workflow_update",
            "nexo_workflow_update",
            "nexo_workflow_handoff",
            "nexo_workflow_resume",
            "nexo_workflow_get",
        ]
    );
    // The seed really does contain raw line breaks inside JSON strings.
    assert!(cmds[0].contains("\"steps\":\"[\n{"));
}

#[test]
fn every_seed_command_works_verbatim() {
    let repo = Repo::new();
    let cmds = seed_commands();
    let start_commits = repo.commit_count();

    let (ok, open, err) = sh(&repo, &cmds[0]);
    assert!(ok, "open failed: {open} {err}");
    assert_eq!(open["ok"], true);
    assert_eq!(open["workflow_kind"], "release");
    assert_eq!(open["step_count"], 3);
    assert_eq!(open["current_step_key"], "doctor");
    assert_eq!(open["reused_existing"], false);
    assert_eq!(
        open["steps"],
        serde_json::json!([
            "Run release readiness checks",
            "Build and verify artifacts",
            "Publish release"
        ])
    );
    let run_id = open["run_id"].as_str().unwrap().to_string();

    let run = |i: usize| {
        let cmd = cmds[i].replace("WF-...", &run_id);
        let (ok, v, err) = sh(&repo, &cmd);
        assert!(ok, "seed command {i} failed: {v} {err}\n{cmd}");
        assert_eq!(v["ok"], true, "{v}");
        v
    };

    let v = run(1);
    assert_eq!(v["status"], "running");
    assert_eq!(v["current_step_key"], "package");
    assert_eq!(v["next_step"]["step_key"], "package");
    assert_eq!(v["resume_state"], "ready");

    let v = run(2);
    assert_eq!(v["resume_state"], "ready");
    assert_eq!(v["can_resume"], true);
    assert_eq!(v["next_step"]["step_key"], "package");

    let v = run(3);
    assert_eq!(v["count"], 2);
    assert_eq!(v["checkpoints"][0]["step_key"], "doctor");
    assert_eq!(
        v["checkpoints"][0]["summary"],
        "doctor clean, parity checks passed"
    );

    // The approval gate: blocked + requires_approval.
    let v = run(4);
    assert_eq!(v["status"], "waiting_approval");
    assert_eq!(v["resume_state"], "waiting_approval");
    assert_eq!(v["requires_approval"], true);
    assert_eq!(v["can_resume"], false);

    // "When approval arrives": the caller moves the gated step on, which is
    // recorded as their approval; in_progress means running.
    let v = run(5);
    assert_eq!(v["status"], "running");
    assert_eq!(v["next_step"]["status"], "running");
    assert_eq!(v["next_step"]["attempt_count"], 1);
    assert_eq!(v["resume_state"], "running");

    let v = run(6);
    assert_eq!(v["owner"], "claude_code");
    assert_eq!(v["previous_owner"], "codex");
    assert_eq!(v["next_action"], "Run smoke test and publish if clean.");

    let v = run(7);
    assert_eq!(v["owner"], "claude_code");
    assert_eq!(v["next_action"], "Run smoke test and publish if clean.");
    assert_eq!(v["resume_state"], "running");

    let v = run(8);
    let steps = v["run"]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 3);
    let publish = &steps[2];
    assert_eq!(publish["step_key"], "publish");
    assert_eq!(publish["approval"]["decision"], "approved");
    assert_eq!(publish["approval"]["via"], "update");
    assert_eq!(v["run"]["owner"], "claude_code");

    // The burst of writes is one coalesced commit listing each; reads
    // made none.
    assert_eq!(repo.commit_count(), start_commits + 1);
    let msg = repo.git(&["log", "-1", "--format=%B"]);
    assert!(msg.starts_with("nexo: 5 changes to WF-"), "{msg}");
    assert_eq!(
        msg.lines().filter(|l| l.starts_with("- WF-")).count(),
        5,
        "{msg}"
    );
    assert_eq!(
        msg.lines()
            .filter(|l| l.starts_with("Nexo-Event: "))
            .count(),
        5,
        "{msg}"
    );
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
}
