//! `nexo doctor` finds what a bad merge or a hand edit left behind, and
//! `--fix` repairs it without losing an event.

mod common;

use common::*;
use serde_json::json;

#[test]
fn a_healthy_repository_passes() {
    let repo = Repo::new();
    repo.open_release();
    let out = repo.nexo(&["doctor"]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains("1 runs checked: healthy"));
}

#[test]
fn problems_are_reported_with_file_and_line_and_fixed() {
    let repo = Repo::new();
    let id = repo.open_release();
    repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "step_key": "doctor", "step_status": "completed"}),
    );
    let dir = repo.path().join(".nexo/runs").join(&id);
    let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    let lines: Vec<&str> = history.lines().collect();
    // A duplicated event, conflict markers around a line, a stale view,
    // a view for a step that does not exist.
    let broken = format!(
        "{}\n<<<<<<< HEAD\n{}\n=======\n{}\n>>>>>>> theirs\n",
        lines[0], lines[1], lines[1]
    );
    std::fs::write(dir.join("history.jsonl"), broken).unwrap();
    std::fs::write(dir.join("run.yaml"), "status: hand-edited\n").unwrap();
    std::fs::write(dir.join("steps/ghost.yaml"), "x: 1\n").unwrap();

    let out = repo.nexo(&["--json", "doctor"]);
    assert_eq!(out.status.code(), Some(7));
    let v = parse_json(&out);
    let kinds: Vec<&str> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    for k in [
        "conflict_marker",
        "duplicate_event",
        "stale_view",
        "extra_view",
    ] {
        assert!(kinds.contains(&k), "{k} not reported: {kinds:?}");
    }
    let marker = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "conflict_marker")
        .unwrap();
    assert_eq!(marker["line"], 2);
    assert!(
        marker["message"]
            .as_str()
            .unwrap()
            .contains(&format!(".nexo/runs/{id}/history.jsonl:2"))
    );

    let commits = repo.commit_count();
    let out = repo.nexo(&["doctor", "--fix"]);
    assert!(out.status.success(), "{}", stdout(&out));
    // The damage was never committed and the repair restores HEAD's
    // content exactly, so there is nothing to commit.
    assert_eq!(repo.commit_count(), commits);
    let fixed = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    assert_eq!(
        fixed, history,
        "the history must come back to its two events"
    );
    assert!(!dir.join("steps/ghost.yaml").exists());
    assert!(repo.nexo(&["doctor"]).status.success());
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
}

#[test]
fn an_unreadable_line_is_reported_and_not_removed() {
    let repo = Repo::new();
    let id = repo.open_release();
    let path = repo
        .path()
        .join(".nexo/runs")
        .join(&id)
        .join("history.jsonl");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("{\"v\":1,\"garbage\":true}\n");
    std::fs::write(&path, &text).unwrap();
    let out = repo.nexo(&["doctor", "--fix"]);
    assert_eq!(out.status.code(), Some(7));
    assert!(stdout(&out).contains("history.jsonl:2"), "{}", stdout(&out));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}

#[test]
fn views_changed_behind_nexos_back_are_regenerated_by_the_next_command() {
    let repo = Repo::new();
    let id = repo.open_release();
    // Someone commits a hand edit to a view (as a bad merge would).
    let view = repo.path().join(".nexo/runs").join(&id).join("run.yaml");
    let good = std::fs::read_to_string(&view).unwrap();
    std::fs::write(&view, "hand edited\n").unwrap();
    repo.git(&["commit", "-q", "-am", "edit a view"]);
    let commits = repo.commit_count();
    // The next nexo command, even a read, notices and repairs it.
    repo.call("nexo_workflow_list", &json!({}));
    assert_eq!(std::fs::read_to_string(&view).unwrap(), good);
    assert_eq!(repo.commit_count(), commits + 1);
    assert!(
        repo.git(&["log", "-1", "--format=%s"])
            .contains("regenerate views")
    );
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    // And then it is quiet again.
    repo.call("nexo_workflow_list", &json!({}));
    assert_eq!(repo.commit_count(), commits + 1);
}

#[test]
fn one_damaged_run_does_not_hide_the_others_from_list_and_prime() {
    let repo = Repo::new();
    let good = repo.open_release();
    let bad = repo.open_release();
    let path = repo
        .path()
        .join(".nexo/runs")
        .join(&bad)
        .join("history.jsonl");
    std::fs::write(&path, "{\"v\":1,\"no\":\"id\"}\n").unwrap();
    let out = repo.nexo(&["--json", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = parse_json(&out);
    assert_eq!(v["count"], 1);
    assert_eq!(v["runs"][0]["run_id"], good.as_str());
    assert_eq!(v["unreadable"][0]["run_id"], bad.as_str());
    assert!(
        v["unreadable"][0]["error"]
            .as_str()
            .unwrap()
            .contains("history.jsonl:1")
    );
    let out = repo.nexo(&["list"]);
    assert!(
        stderr(&out).contains(&format!("warning: {bad} could not be read")),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&repo.nexo(&["prime"])).contains("1 run could not be read: nexo doctor"));
    // Asking for that run by name is still an error naming file and line.
    let (code, v) = repo.call_err(
        "nexo_workflow_resume",
        &serde_json::json!({"run_id": bad}).to_string(),
    );
    assert_eq!(code, 7);
    assert!(
        v["error"].as_str().unwrap().contains("history.jsonl:1"),
        "{v}"
    );
}

#[test]
fn views_are_rechecked_once_after_an_upgrade() {
    let repo = Repo::new();
    let id = repo.open_release();
    let view = repo.path().join(".nexo/runs").join(&id).join("run.yaml");
    let good = std::fs::read_to_string(&view).unwrap();
    std::fs::write(&view, "rendered by an older nexo\n").unwrap();
    repo.git(&["commit", "-q", "-am", "old rendering"]);
    // nexo had already seen this tree, but rendered by another version.
    let tree = repo.git(&["rev-parse", "HEAD:.nexo/runs"]);
    std::fs::write(
        repo.path().join(".git/nexo-seen"),
        format!("{} nexo-0.0.0\n", tree.trim()),
    )
    .unwrap();
    repo.call("nexo_workflow_resume", &json!({"run_id": id}));
    assert_eq!(std::fs::read_to_string(&view).unwrap(), good);
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
}
