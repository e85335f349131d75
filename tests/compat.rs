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
