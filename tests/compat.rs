//! The original runtime's call shapes, sent as its agents send them. Its
//! schema fills optional fields with `""` meaning "not sent", and a limit
//! of 0 meaning "the default" (issue 11 covers the rest of the interface).

mod common;

use common::*;
use serde_json::json;

#[test]
fn empty_strings_mean_not_sent_as_in_the_original() {
    let repo = Repo::new();
    let open = repo.call(
        "nexo_workflow_open",
        &json!({"sid": "s", "goal": "g", "priority": "", "shared_state": "",
                "steps": [{"key": "a", "title": "A"}]}),
    );
    assert_eq!(open["status"], "open");
    let id = open["run_id"].as_str().unwrap();
    let v = repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "step_key": "a", "step_status": "", "run_status": "",
                "shared_state": "", "state_patch": "", "summary": "only a summary"}),
    );
    assert_eq!(v["status"], "open", "an empty status changed nothing: {v}");
    let got = repo.call("nexo_workflow_get", &json!({"run_id": id}));
    assert_eq!(got["run"]["priority"], "normal");
    assert_eq!(got["run"]["steps"][0]["status"], "pending");
    assert_eq!(got["run"]["steps"][0]["last_summary"], "only a summary");
    let list = repo.call("nexo_workflow_list", &json!({"status": "", "limit": 0}));
    assert_eq!(list["count"], 1, "{list}");
}

#[test]
fn a_limit_of_zero_is_the_default() {
    let repo = Repo::new();
    let id = repo.open_release();
    for i in 0..25 {
        repo.call(
            "nexo_workflow_update",
            &json!({"run_id": id, "summary": format!("s{i}")}),
        );
    }
    let replay = repo.call("nexo_workflow_replay", &json!({"run_id": id, "limit": 0}));
    assert_eq!(replay["count"], 20, "the default limit");
}

#[test]
fn a_status_that_is_not_empty_is_still_checked() {
    let repo = Repo::new();
    let id = repo.open_release();
    let (code, v) = repo.call_err(
        "nexo_workflow_update",
        &json!({"run_id": id, "step_key": "doctor", "step_status": "done"}).to_string(),
    );
    assert_eq!(code, 2);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("expected one of pending"),
        "{v}"
    );
}

#[test]
fn a_handoff_with_only_its_actor_is_a_checkpoint_and_an_empty_owner_keeps_the_owner() {
    let repo = Repo::new();
    let id = repo.open_release();
    let v = repo.call(
        "nexo_workflow_handoff",
        &json!({"run_id": id, "actor": "codex"}),
    );
    assert_eq!(v["owner"], "codex");
    let v = repo.call(
        "nexo_workflow_handoff",
        &json!({"run_id": id, "actor": "codex", "new_owner": "", "handoff_note": "n"}),
    );
    assert_eq!(
        v["owner"], "codex",
        "an empty new_owner keeps the owner: {v}"
    );
    let replay = repo.call("nexo_workflow_replay", &json!({"run_id": id}));
    assert_eq!(replay["checkpoints"][0]["checkpoint_label"], "handoff");
    assert_eq!(replay["total"], 3);
}

#[test]
fn idempotency_keys_are_trimmed_and_scoped_by_goal_id() {
    let repo = Repo::new();
    let open = |key: &str, goal_id: &str| {
        repo.call(
            "nexo_workflow_open",
            &json!({"sid": "s", "goal": "g", "idempotency_key": key, "goal_id": goal_id}),
        )
    };
    let first = open("release-42", "G1");
    let again = open("  release-42 ", "G1");
    assert_eq!(again["reused_existing"], true);
    assert_eq!(again["run_id"], first["run_id"]);
    let other_goal = open("release-42", "G2");
    assert_eq!(other_goal["reused_existing"], false);
}

#[test]
fn waiting_approval_without_requires_approval_is_held_at_the_gate() {
    let repo = Repo::new();
    let id = repo.open_release();
    repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "step_key": "doctor", "step_status": "waiting_approval"}),
    );
    let r = repo.call("nexo_workflow_resume", &json!({"run_id": id}));
    assert_eq!(r["resume_state"], "waiting_approval");
    assert_eq!(r["can_resume"], false);
    let a = repo.call(
        "nexo_workflow_approve",
        &json!({"run_id": id, "step_key": "doctor", "actor": "lead"}),
    );
    assert_eq!(a["decision"], "approved");
}

#[test]
fn answers_carry_the_originals_names_beside_nexos() {
    let repo = Repo::new();
    let open = repo.call(
        "nexo_workflow_open",
        &json!({"sid": "s7", "goal": "g", "goal_id": "G-1"}),
    );
    assert_eq!(open["goal_id"], "G-1");
    let id = open["run_id"].as_str().unwrap();
    let got = repo.call("nexo_workflow_get", &json!({"run_id": id}));
    assert_eq!(got["run"]["session_id"], "s7");
    assert_eq!(got["run"]["sid"], "s7");
    let list = repo.call("nexo_workflow_list", &json!({}));
    assert_eq!(list["runs"][0]["goal_id"], "G-1");
}

#[test]
fn on_the_command_line_a_count_of_zero_is_refused() {
    let repo = Repo::new();
    let id = repo.open_release();
    for args in [vec!["list", "-n", "0"], vec!["replay", &id, "-n", "0"]] {
        let out = repo.nexo(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out).contains("must be at least 1"),
            "{}",
            stderr(&out)
        );
    }
}
