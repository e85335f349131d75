//! `nexo wait`: an agent at a gate waits for a person's decision made in
//! another clone and pushed to a shared bare remote; it times out with
//! its own exit code; it answers at once when the condition holds; and an
//! idle `--sync` wait asks the remote for its tip without fetching.

mod common;

use std::path::Path;
use std::process::{Child, Output, Stdio};

use common::{Repo, nexo_cmd, nexo_in, nexo_ok, open_gated, parse_json, stderr};

fn sync(dir: &Path) {
    let out = nexo_in(dir, &["sync"]);
    assert!(out.status.success(), "sync: {}", stderr(&out));
}

/// `nexo ARGS` in `dir`, started and left running, with `NEXO_TRACE` on
/// so every git command it runs is listed on standard error.
fn start_traced(dir: &Path, args: &[&str]) -> Child {
    nexo_cmd()
        .current_dir(dir)
        .env("NEXO_TRACE", "1")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// How many `git SUBCOMMAND` a traced nexo ran.
fn git_runs(out: &Output, subcommand: &str) -> usize {
    stderr(out)
        .lines()
        .filter(|l| l.contains(&format!("  git {subcommand}")))
        .count()
}

#[test]
fn a_wait_at_a_gate_returns_once_another_clone_approves_and_pushes() {
    let repo = Repo::new();
    let shared = repo.share();
    let run = open_gated(repo.path());
    sync(repo.path());
    sync(&shared.other);
    let waiting = start_traced(
        repo.path(),
        &[
            "--json",
            "wait",
            &run,
            "publish",
            "--for",
            "decided",
            "--sync",
            "--timeout",
            "2m",
        ],
    );
    nexo_ok(
        &shared.other,
        &[
            "--json",
            "approve",
            &run,
            "publish",
            "--note",
            "looks good",
            "--actor",
            "alice",
        ],
    );
    sync(&shared.other);
    let out = waiting.wait_with_output().unwrap();
    assert!(out.status.success(), "wait: {}", stderr(&out));
    let answer = parse_json(&out);
    let publish = answer["run"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step_key"] == "publish")
        .unwrap()
        .clone();
    assert_eq!(publish["approval"]["decision"], "approved", "{answer}");
    assert!(git_runs(&out, "fetch") >= 1, "{}", stderr(&out));
    // The answer is `get`'s, word for word.
    let get = nexo_ok(repo.path(), &["--json", "get", &run]);
    assert_eq!(answer["run"]["steps"], get["run"]["steps"]);
}

#[test]
fn a_wait_that_times_out_exits_13_and_says_what_it_awaited() {
    let repo = Repo::new();
    let run = open_gated(repo.path());
    let out = repo.nexo(&[
        "wait",
        &run,
        "publish",
        "--for",
        "decided",
        "--timeout",
        "1s",
    ]);
    assert_eq!(out.status.code(), Some(13), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("publish waits for a decision at its gate"),
        "{}",
        stderr(&out)
    );
    let (code, e) = repo.call_err(
        "nexo_workflow_wait",
        &format!(
            r#"{{"run_id":"{run}","step_key":"publish","for":"decided","timeout_seconds":1}}"#
        ),
    );
    assert_eq!(
        (code, &e["error_kind"], &e["retryable"]),
        (13, &"timed_out".into(), &true.into())
    );
}

#[test]
fn a_wait_whose_condition_already_holds_answers_at_once_as_get_does() {
    let repo = Repo::new();
    let run = open_gated(repo.path());
    nexo_ok(
        repo.path(),
        &["--json", "approve", &run, "publish", "--actor", "alice"],
    );
    // No timeout: it would hang here if it waited at all.
    let answer = nexo_ok(
        repo.path(),
        &["--json", "wait", &run, "publish", "--for", "decided"],
    );
    let get = nexo_ok(repo.path(), &["--json", "get", &run]);
    assert_eq!(answer, get);
    let tool = repo.call(
        "nexo_workflow_wait",
        &serde_json::json!({"run_id": run, "step_key": "build", "for": "ready"}),
    );
    assert_eq!(tool["run"]["run_id"], run.as_str());
}

#[test]
fn an_idle_sync_wait_asks_the_remote_without_fetching() {
    let repo = Repo::new();
    let _shared = repo.share();
    let run = open_gated(repo.path());
    sync(repo.path());
    let out = start_traced(
        repo.path(),
        &[
            "wait",
            &run,
            "publish",
            "--for",
            "decided",
            "--sync",
            "--timeout",
            "3s",
        ],
    )
    .wait_with_output()
    .unwrap();
    assert_eq!(out.status.code(), Some(13), "{}", stderr(&out));
    assert_eq!(git_runs(&out, "fetch"), 0, "{}", stderr(&out));
    assert!(git_runs(&out, "ls-remote") >= 2, "{}", stderr(&out));
}

#[test]
fn a_wait_that_could_never_be_answered_is_refused() {
    let repo = Repo::new();
    let run = open_gated(repo.path());
    let out = repo.nexo(&["wait", &run, "--for", "decided"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("STEP"), "{}", stderr(&out));
    let out = repo.nexo(&["wait", &run, "nope", "--for", "done"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let out = repo.nexo(&["wait", &run, "--for", "soon"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}
