//! Timers on steps (`--not-before`): a step is not ready before its time,
//! `ready`, `resume` and `wait --for ready` say when it will be, the same
//! in every clone; a timer in the year 9999 is refused on write and
//! harmless when a peer writes one by hand.

mod common;

use std::path::Path;
use std::process::Output;

use common::{Repo, nexo_cmd, nexo_in, parse_json, stderr, stdout};
use serde_json::Value;

/// 2026-12-01T10:00:00Z.
const T0: u64 = 1_796_119_200_000;
const HOUR: u64 = 3_600_000;

fn nexo_at(dir: &Path, now_ms: u64, args: &[&str]) -> Output {
    nexo_cmd()
        .current_dir(dir)
        .env("NEXO_TEST_NOW", now_ms.to_string())
        .args(args)
        .output()
        .unwrap()
}

fn ok_at(dir: &Path, now_ms: u64, args: &[&str]) -> Value {
    let out = nexo_at(dir, now_ms, args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    parse_json(&out)
}

/// A run of two steps, `migrate` then `deploy`, opened at `T0`.
fn open(dir: &Path) -> String {
    let r = ok_at(
        dir,
        T0,
        &[
            "--json",
            "open",
            "Deploy",
            "--step",
            "migrate:Migrate",
            "--step",
            "deploy:Deploy",
        ],
    );
    r["run_id"].as_str().unwrap().to_string()
}

fn ready_keys(dir: &Path, now_ms: u64) -> Vec<String> {
    let r = ok_at(dir, now_ms, &["--json", "ready"]);
    r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step_key"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_step_is_not_ready_before_its_time_and_everyone_says_when() {
    let repo = Repo::new();
    let run = open(repo.path());
    ok_at(
        repo.path(),
        T0,
        &["--json", "update", &run, "migrate", "--not-before", "2h"],
    );
    assert!(ready_keys(repo.path(), T0 + HOUR).is_empty());
    let all = ok_at(repo.path(), T0 + HOUR, &["--json", "ready", "--all"]);
    assert_eq!(
        all["steps"][0]["waits_on"], "not before 2026-12-01T12:00:00.000Z",
        "{all}"
    );
    let resume = ok_at(repo.path(), T0 + HOUR, &["--json", "resume", &run]);
    assert_eq!(resume["resume_state"], "blocked", "{resume}");
    assert!(
        resume["message"]
            .as_str()
            .unwrap()
            .contains("not to start before 2026-12-01T12:00:00.000Z"),
        "{resume}"
    );
    let waited = nexo_at(
        repo.path(),
        T0 + HOUR,
        &["wait", &run, "migrate", "--for", "ready", "--timeout", "1s"],
    );
    assert_eq!(waited.status.code(), Some(13));
    assert!(
        stderr(&waited).contains("not before"),
        "{}",
        stderr(&waited)
    );
    // Its time has come.
    assert_eq!(ready_keys(repo.path(), T0 + 3 * HOUR), ["migrate"]);
    ok_at(
        repo.path(),
        T0 + 3 * HOUR,
        &["--json", "wait", &run, "migrate", "--for", "ready"],
    );
    // Cleared by an empty value.
    ok_at(
        repo.path(),
        T0,
        &["--json", "update", &run, "migrate", "--not-before", ""],
    );
    assert_eq!(ready_keys(repo.path(), T0), ["migrate"]);
    let shown = nexo_at(repo.path(), T0, &["show", &run]);
    assert!(!stdout(&shown).contains("not before"));
}

#[test]
fn a_timer_set_in_one_clone_holds_in_another() {
    let repo = Repo::new();
    let shared = repo.share();
    let run = open(repo.path());
    ok_at(
        repo.path(),
        T0,
        &[
            "--json",
            "update",
            &run,
            "migrate",
            "--not-before",
            "2026-12-01T18:00:00+01:00",
        ],
    );
    assert!(nexo_in(repo.path(), &["sync"]).status.success());
    assert!(nexo_in(&shared.other, &["sync"]).status.success());
    assert!(ready_keys(&shared.other, T0 + 6 * HOUR).is_empty());
    assert_eq!(ready_keys(&shared.other, T0 + 7 * HOUR), ["migrate"]);
    let shown = nexo_at(&shared.other, T0, &["show", &run, "--format", "markdown"]);
    assert!(
        stdout(&shown).contains("not before 2026-12-01 17:00 UTC"),
        "{}",
        stdout(&shown)
    );
}

#[test]
fn a_timer_in_the_year_9999_is_refused_and_harmless_when_written_by_hand() {
    let repo = Repo::new();
    let run = open(repo.path());
    let out = nexo_at(
        repo.path(),
        T0,
        &[
            "update",
            &run,
            "migrate",
            "--not-before",
            "9999-12-31T23:59:59Z",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--not-before") && stderr(&out).contains("ten years"));
    let out = nexo_at(
        repo.path(),
        T0,
        &["update", &run, "migrate", "--not-before", "soon"],
    );
    assert_eq!(out.status.code(), Some(2));
    let (code, e) = repo.call_err(
        "nexo_workflow_update",
        &format!(
            r#"{{"run_id":"{run}","step_key":"migrate","not_before":"9999-01-01T00:00:00Z"}}"#
        ),
    );
    assert_eq!(code, 2);
    assert!(e["error"].as_str().unwrap().contains("not_before"), "{e}");

    // A peer's hand-written line: the step waits, saying until when.
    let history = repo
        .path()
        .join(common::run_rel(&run))
        .join("history.jsonl");
    let text = std::fs::read_to_string(&history).unwrap();
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let forged = serde_json::json!({
        "v": 8, "id": "01M95TCSTMVHP2CCG5Q2EY4ZZZ", "clock": last["clock"].as_u64().unwrap() + 1,
        "parents": [last["id"]], "at": "2026-12-01T10:05:00.000Z", "actor": "mallory",
        "type": "updated", "data": {"step_key": "migrate", "not_before": "9999-12-31T23:59:59Z"}
    });
    std::fs::write(&history, format!("{text}{forged}\n")).unwrap();
    assert!(ready_keys(repo.path(), T0 + HOUR).is_empty());
    let all = ok_at(repo.path(), T0 + HOUR, &["--json", "ready", "--all"]);
    assert_eq!(
        all["steps"][0]["waits_on"], "not before 9999-12-31T23:59:59Z",
        "{all}"
    );
    ok_at(repo.path(), T0 + HOUR, &["--json", "get", &run]);
}
