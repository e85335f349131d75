//! Needs on other runs (`--needs WF-X`, `--needs WF-X:step`): a step waits
//! until the other run (or its step) is completed, `ready` and `resume`
//! say on what, in every clone; a cycle through runs and an unknown run
//! are refused at write time; a need on a run folder that is a symbolic
//! link is refused, and harmless when a peer writes one by hand.

mod common;

use std::path::Path;

use common::{Repo, history_text, nexo_in, nexo_ok, stderr};
use serde_json::Value;

fn open(dir: &Path, goal: &str, step: &str) -> String {
    let r = nexo_ok(
        dir,
        &["--json", "open", goal, "--step", &format!("{step}:{goal}")],
    );
    r["run_id"].as_str().unwrap().to_string()
}

fn ready(dir: &Path) -> Value {
    nexo_ok(dir, &["--json", "ready", "--all"])
}

fn waits_on(dir: &Path, step: &str) -> Value {
    ready(dir)["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step_key"] == step)
        .map(|s| s["waits_on"].clone())
        .unwrap()
}

#[test]
fn a_step_waits_for_another_runs_step_and_every_clone_says_so() {
    let repo = Repo::new();
    let shared = repo.share();
    let migration = open(repo.path(), "Migrate", "migrate");
    let deploy = open(repo.path(), "Deploy", "deploy");
    let short = &migration[..8];
    nexo_ok(
        repo.path(),
        &[
            "--json",
            "update",
            &deploy,
            "deploy",
            "--needs",
            &format!("{short}:migrate"),
        ],
    );
    assert_eq!(
        waits_on(repo.path(), "deploy"),
        format!("waits for {migration}:migrate").as_str()
    );
    let resume = nexo_ok(repo.path(), &["--json", "resume", &deploy]);
    assert_eq!(resume["resume_state"], "blocked");
    assert!(
        resume["message"]
            .as_str()
            .unwrap()
            .contains(&format!("{migration}:migrate"))
    );

    assert!(nexo_in(repo.path(), &["sync"]).status.success());
    assert!(nexo_in(&shared.other, &["sync"]).status.success());
    assert_eq!(
        waits_on(&shared.other, "deploy"),
        format!("waits for {migration}:migrate").as_str()
    );
    nexo_ok(
        &shared.other,
        &[
            "--json",
            "update",
            &migration,
            "migrate",
            "--status",
            "completed",
        ],
    );
    assert!(nexo_in(&shared.other, &["sync"]).status.success());
    assert!(nexo_in(repo.path(), &["sync"]).status.success());
    assert_eq!(waits_on(repo.path(), "deploy"), Value::Null);
    nexo_ok(
        repo.path(),
        &["--json", "wait", &deploy, "deploy", "--for", "ready"],
    );

    // A need on the whole run waits for the run to be completed.
    let after_all = open(repo.path(), "Announce", "announce");
    nexo_ok(
        repo.path(),
        &[
            "--json", "update", &after_all, "announce", "--needs", &deploy,
        ],
    );
    assert_eq!(
        waits_on(repo.path(), "announce"),
        format!("waits for {deploy}").as_str()
    );
}

#[test]
fn a_cycle_through_runs_and_an_unknown_run_are_refused_and_nothing_is_written() {
    let repo = Repo::new();
    let a = open(repo.path(), "A", "a1");
    let b = open(repo.path(), "B", "b1");
    let c = open(repo.path(), "C", "c1");
    nexo_ok(repo.path(), &["--json", "update", &b, "b1", "--needs", &a]);
    nexo_ok(
        repo.path(),
        &["--json", "update", &c, "c1", "--needs", &format!("{b}:b1")],
    );
    let before = history_text(repo.path(), &a);
    let out = repo.nexo(&["update", &a, "a1", "--needs", &c]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("{a} → {c} → {b} → {a}")), "{err}");
    let out = repo.nexo(&["update", &a, "a1", "--needs", "WF-NOSUCHRUN"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let out = repo.nexo(&["update", &a, "a1", "--needs", &format!("{b}:nope")]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(history_text(repo.path(), &a), before);
}

#[cfg(unix)]
#[test]
fn a_need_on_a_run_folder_that_is_a_link_is_refused_and_harmless_by_hand() {
    let repo = Repo::new();
    let real = open(repo.path(), "Real", "r1");
    let deploy = open(repo.path(), "Deploy", "deploy");
    nexo_ok(
        repo.path(),
        &["--json", "update", &real, "r1", "--status", "completed"],
    );
    let outside = tempfile::tempdir().unwrap();
    let copy = outside.path().join("run");
    std::fs::create_dir(&copy).unwrap();
    std::fs::copy(
        repo.path()
            .join(common::run_rel(&real))
            .join("history.jsonl"),
        copy.join("history.jsonl"),
    )
    .unwrap();
    let linked = "WF-LINKEDRUN00000";
    let link = repo.path().join(common::run_rel(linked));
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&copy, link).unwrap();

    let before = history_text(repo.path(), &deploy);
    let out = repo.nexo(&["update", &deploy, "deploy", "--needs", linked]);
    assert!(!out.status.success(), "a need through a link was written");
    assert_eq!(history_text(repo.path(), &deploy), before);

    // A peer's hand-written line: the step waits, and nothing breaks.
    let history = repo
        .path()
        .join(common::run_rel(&deploy))
        .join("history.jsonl");
    let last: Value = serde_json::from_str(before.lines().last().unwrap()).unwrap();
    let forged = serde_json::json!({
        "v": 8, "id": "01M95TCSTMVHP2CCG5Q2EY4ZZZ", "clock": last["clock"].as_u64().unwrap() + 1,
        "parents": [last["id"]], "at": "2026-12-01T10:05:00.000Z", "actor": "mallory",
        "type": "updated", "data": {"step_key": "deploy", "needs": [], "after": [linked]}
    });
    std::fs::write(&history, format!("{before}{forged}\n")).unwrap();
    assert_eq!(
        waits_on(repo.path(), "deploy"),
        format!("waits for {linked}").as_str()
    );
    nexo_ok(repo.path(), &["--json", "resume", &deploy]);
}
