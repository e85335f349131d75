//! The original runtime's goal stack, sent as its agents send it (NEXO's
//! `src/plugins/workflow.py`): goals opened, updated, listed and completed
//! with the original's answers and gates, and kept as files beside runs.
//! The rest of the original's call shapes are in tests/compat.rs.

mod common;

use common::*;
use serde_json::json;

#[test]
fn goals_open_update_get_and_list_with_the_originals_answers() {
    let repo = Repo::new();
    let g = repo.call(
        "nexo_goal_open",
        &json!({"sid": "s", "title": "Ship v3", "objective": "every tenant on v3",
                "priority": "", "next_action": "cut the branch", "shared_state": "{}"}),
    );
    for field in [
        "goal_id",
        "status",
        "title",
        "priority",
        "parent_goal_id",
        "next_action",
    ] {
        assert!(g.get(field).is_some(), "{field}: {g}");
    }
    assert_eq!(g["priority"], "normal");
    let id = g["goal_id"].as_str().unwrap();
    assert!(id.starts_with("WG-"), "{id}");
    let child = repo.call(
        "nexo_goal_open",
        &json!({"sid": "s", "title": "Migrate tenants", "parent_goal_id": id}),
    );
    repo.call(
        "nexo_workflow_open",
        &json!({"sid": "s", "goal": "release", "goal_id": id}),
    );
    let u = repo.call(
        "nexo_goal_update",
        &json!({"goal_id": id, "status": "blocked", "blocker_reason": "legal review",
                "title": "", "objective": "", "next_action": ""}),
    );
    assert_eq!(u["status"], "blocked");
    assert_eq!(u["title"], "Ship v3", "blank fields keep their values");
    assert_eq!(u["blocker_reason"], "legal review");
    assert_eq!(
        (
            u["run_count"].clone(),
            u["open_run_count"].clone(),
            u["child_count"].clone()
        ),
        (json!(1), json!(1), json!(1))
    );
    let got = repo.call(
        "nexo_goal_get",
        &json!({"goal_id": id, "include_runs": true}),
    );
    let goal = &got["goal"];
    assert_eq!(goal["objective"], "every tenant on v3");
    assert_eq!(goal["session_id"], "s");
    assert_eq!(goal["closed_at"], serde_json::Value::Null);
    assert_eq!(goal["runs"][0]["goal"], "release");
    assert_eq!(goal["runs"][0]["goal_id"], id);
    let list = repo.call("nexo_goal_list", &json!({"status": "", "limit": 0}));
    assert_eq!(list["count"], 2);
    let listed = &list["goals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["goal_id"] == id)
        .unwrap()
        .clone();
    for field in [
        "session_id",
        "title",
        "status",
        "priority",
        "parent_goal_id",
        "next_action",
        "blocker_reason",
        "run_count",
        "open_run_count",
        "child_count",
        "updated_at",
    ] {
        assert!(listed.get(field).is_some(), "{field}: {listed}");
    }
    // Closed goals are hidden by default.
    repo.call(
        "nexo_goal_update",
        &json!({"goal_id": child["goal_id"], "status": "abandoned"}),
    );
    let list = repo.call("nexo_goal_list", &json!({}));
    assert_eq!(list["count"], 1);
    let all = repo.call("nexo_goal_list", &json!({"include_closed": true}));
    assert_eq!(all["count"], 2);
    let abandoned = repo.call("nexo_goal_list", &json!({"status": "abandoned"}));
    assert_eq!(abandoned["goals"][0]["goal_id"], child["goal_id"]);
}

#[test]
fn a_run_may_only_join_a_goal_that_exists_and_is_open() {
    let repo = Repo::new();
    let (code, v) = repo.call_err(
        "nexo_workflow_open",
        &json!({"sid": "s", "goal": "g", "goal_id": "WG-NOSUCHGOAL0000"}).to_string(),
    );
    assert_eq!(code, 3);
    assert!(
        v["error"].as_str().unwrap().contains("unknown goal_id"),
        "{v}"
    );
    let g = goal(&repo, "Old work");
    repo.call(
        "nexo_goal_update",
        &json!({"goal_id": g, "status": "cancelled"}),
    );
    let (code, v) = repo.call_err(
        "nexo_workflow_open",
        &json!({"sid": "s", "goal": "g", "goal_id": g}).to_string(),
    );
    assert_eq!(code, 5);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("closed with status 'cancelled'"),
        "{v}"
    );
    assert_eq!(
        repo.nexo_files()
            .iter()
            .filter(|(p, _)| p.contains("/runs/"))
            .count(),
        0,
        "nothing written"
    );
}

#[test]
fn a_goal_is_not_completed_while_its_runs_are_open() {
    let repo = Repo::new();
    let g = goal(&repo, "Ship v3");
    let run = repo.call(
        "nexo_workflow_open",
        &json!({"sid": "s", "goal": "release", "goal_id": g, "steps": [{"key": "a"}]}),
    );
    let (code, v) = repo.call_err(
        "nexo_goal_update",
        &json!({"goal_id": g, "status": "completed"}).to_string(),
    );
    assert_eq!(code, 5);
    assert_eq!(v["blocked_by"], "goal_open_runs_gate");
    assert_eq!(v["open_run_count"], 1);
    repo.call(
        "nexo_workflow_update",
        &json!({"run_id": run["run_id"], "step_key": "a", "step_status": "completed"}),
    );
    let done = repo.call(
        "nexo_goal_update",
        &json!({"goal_id": g, "status": "completed"}),
    );
    assert_eq!(done["status"], "completed");
    assert_eq!(done["open_run_count"], 0);
    let got = repo.call("nexo_goal_get", &json!({"goal_id": g}));
    assert!(got["goal"]["closed_at"].is_string());
}

#[test]
fn the_originals_text_gates_on_completing_a_goal_hold() {
    let repo = Repo::new();
    let g = goal(&repo, "Publish stable 3.1");
    let (_, v) = repo.call_err(
        "nexo_goal_update",
        &json!({"goal_id": g, "status": "completed"}).to_string(),
    );
    assert_eq!(v["blocked_by"], "goal_irreversible_specific_ok_gate");
    let (_, v) = repo.call_err(
        "nexo_goal_update",
        &json!({"goal_id": g, "status": "completed", "next_action": "pending smoke on prod"})
            .to_string(),
    );
    assert_eq!(v["blocked_by"], "goal_pending_release_gate");
    let ok = repo.call(
        "nexo_goal_update",
        &json!({"goal_id": g, "status": "completed", "success_signal": "explicit approval from the release manager"}),
    );
    assert_eq!(ok["status"], "completed");
}

#[test]
fn goal_parents_must_exist_and_never_loop() {
    let repo = Repo::new();
    let a = goal(&repo, "A");
    let (code, _) = repo.call_err(
        "nexo_goal_open",
        &json!({"sid": "s", "title": "B", "parent_goal_id": "WG-MISSING000000"}).to_string(),
    );
    assert_eq!(code, 3);
    let b = repo.call(
        "nexo_goal_open",
        &json!({"sid": "s", "title": "B", "parent_goal_id": a}),
    );
    let b = b["goal_id"].as_str().unwrap();
    // A under itself, and A under its own child B: both loops.
    for parent in [a.as_str(), b] {
        let (code, v) = repo.call_err(
            "nexo_goal_update",
            &json!({"goal_id": a, "parent_goal_id": parent}).to_string(),
        );
        assert_eq!(code, 2, "{v}");
        assert!(
            v["error"].as_str().unwrap().contains("its own ancestor"),
            "{v}"
        );
    }
}

#[test]
fn an_unknown_goal_status_is_refused_with_the_valid_ones() {
    let repo = Repo::new();
    let g = goal(&repo, "A");
    let (code, v) = repo.call_err(
        "nexo_goal_update",
        &json!({"goal_id": g, "status": "done"}).to_string(),
    );
    assert_eq!(code, 2);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("active, blocked, abandoned"),
        "{v}"
    );
}

#[test]
fn goals_are_files_beside_runs_with_a_view_and_commits_like_runs() {
    let repo = Repo::new();
    let before = repo.commit_count();
    let g = goal(&repo, "Ship v3");
    repo.call(
        "nexo_goal_update",
        &json!({"goal_id": g, "next_action": "tag"}),
    );
    // Two changes in a burst: one coalesced commit naming both.
    assert_eq!(repo.commit_count(), before + 1);
    let msg = repo.git(&["log", "-1", "--format=%B"]);
    assert!(
        msg.contains(&format!("- {g} goal opened: Ship v3"))
            && msg.contains(&format!("- {g} goal updated")),
        "{msg}"
    );
    let files: Vec<String> = repo.nexo_files().into_iter().map(|(p, _)| p).collect();
    assert!(
        files.contains(&format!(".nexo/goals/{g}/history.jsonl")),
        "{files:?}"
    );
    assert!(
        files.contains(&format!(".nexo/goals/{g}/goal.yaml")),
        "{files:?}"
    );
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    let doctor = repo.nexo(&["doctor"]);
    assert!(doctor.status.success(), "{}", stdout(&doctor));
    // The command line speaks the same stack.
    let out = repo.nexo(&["goal", "list"]);
    assert!(stdout(&out).contains("Ship v3"), "{}", stdout(&out));
    let prime = repo.nexo(&["prime"]);
    assert!(
        stdout(&prime).contains(&g),
        "prime names open goals: {}",
        stdout(&prime)
    );
}
