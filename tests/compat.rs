//! The original runtime's call shapes, sent as its agents send them (NEXO's
//! `src/plugins/workflow.py`): every tool, every step form and field, the
//! answers' names and JSON types, the semantics agents rely on, and the
//! goal stack. Where nexo deliberately differs (docs/cli.md, "Deliberate
//! differences"), the test says so and checks nexo's behaviour.

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
    let (g1, g2) = (goal(&repo, "G1"), goal(&repo, "G2"));
    let first = open("release-42", &g1);
    let again = open("  release-42 ", &g1);
    assert_eq!(again["reused_existing"], true);
    assert_eq!(again["run_id"], first["run_id"]);
    let other_goal = open("release-42", &g2);
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
    let g = goal(&repo, "Ship v3");
    let open = repo.call(
        "nexo_workflow_open",
        &json!({"sid": "s7", "goal": "g", "goal_id": g, "protocol_task_id": "PT-9"}),
    );
    assert_eq!(open["goal_id"], g.as_str());
    assert_eq!(open["protocol_task_id"], "PT-9");
    let id = open["run_id"].as_str().unwrap();
    let got = repo.call("nexo_workflow_get", &json!({"run_id": id}));
    assert_eq!(got["run"]["session_id"], "s7");
    assert_eq!(got["run"]["sid"], "s7");
    assert_eq!(got["run"]["protocol_task_id"], "PT-9");
    let list = repo.call("nexo_workflow_list", &json!({}));
    assert_eq!(list["runs"][0]["goal_id"], g.as_str());
    assert_eq!(list["runs"][0]["session_id"], "s7");
    assert_eq!(list["runs"][0]["protocol_task_id"], "PT-9");
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

/// Opens a goal and returns its id.
fn open_steps(repo: &Repo, steps: serde_json::Value) -> serde_json::Value {
    repo.call(
        "nexo_workflow_open",
        &json!({"sid": "s", "goal": "g", "steps": steps}),
    )
}

#[test]
fn plain_string_steps_are_keyed_from_their_titles() {
    let repo = Repo::new();
    // The original's JSON-encoded-string form, with plain titles.
    let open = open_steps(&repo, json!("[\"Build It\", \"Ship it (all)!\"]"));
    assert_eq!(open["step_keys"], json!(["build-it", "ship-it-all"]));
    assert_eq!(open["steps"], json!(["Build It", "Ship it (all)!"]));
    let warnings = open["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 2, "each made key is told: {open}");
    let id = open["run_id"].as_str().unwrap();
    let v = repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "step_key": "build-it", "step_status": "completed"}),
    );
    assert_eq!(v["current_step_key"], "ship-it-all");
}

#[test]
fn title_only_and_key_only_objects_are_steps() {
    let repo = Repo::new();
    let open = open_steps(
        &repo,
        json!([{"title": "Run Checks"}, {"step_key": "publish"}]),
    );
    assert_eq!(open["step_keys"], json!(["run-checks", "publish"]));
    assert_eq!(open["steps"], json!(["Run Checks", "publish"]));
}

#[test]
fn every_step_field_of_the_original_is_accepted_at_open() {
    let repo = Repo::new();
    let open = open_steps(
        &repo,
        json!([
            {"step_key": "deploy", "title": "Deploy", "compensation": "roll back the deploy",
             "retry_policy": "exponential", "retry_after": "5m", "max_retries": 2,
             "status": "running", "step_index": 2, "human_gate": false},
            {"step_key": "approve", "title": "Sign off", "human_gate": true, "step_index": 1},
        ]),
    );
    // Sorted by step_index, as the original lists them.
    assert_eq!(open["step_keys"], json!(["approve", "deploy"]));
    let id = open["run_id"].as_str().unwrap();
    let got = repo.call("nexo_workflow_get", &json!({"run_id": id}));
    let steps = got["run"]["steps"].as_array().unwrap();
    let deploy = &steps[1];
    assert_eq!(deploy["step_index"], 2);
    assert_eq!(deploy["status"], "running");
    assert_eq!(deploy["compensation"], "roll back the deploy");
    assert_eq!(deploy["retry_policy"], "exponential");
    assert_eq!(deploy["retry_after"], "5m");
    assert_eq!(deploy["max_retries"], 2);
    assert_eq!(deploy["human_gate"], false);
    assert_eq!(deploy["last_state_patch"], json!({}));
    assert_eq!(deploy["run_id"], id);
    assert_eq!(deploy["created_at"], got["run"]["opened_at"]);
    // A human gate is a gate (deliberate: the original only stored it).
    assert_eq!(steps[0]["human_gate"], true);
    assert_eq!(steps[0]["requires_approval"], true);
    let r = repo.call("nexo_workflow_resume", &json!({"run_id": id}));
    assert_eq!(r["resume_state"], "waiting_approval", "{r}");
}

#[test]
fn an_unknown_step_status_at_open_is_refused_with_the_valid_ones() {
    let repo = Repo::new();
    let (code, v) = repo.call_err(
        "nexo_workflow_open",
        &json!({"sid": "s", "goal": "g", "steps": [{"key": "a", "status": "done"}]}).to_string(),
    );
    assert_eq!(code, 2);
    let e = v["error"].as_str().unwrap();
    assert!(
        e.contains("steps[0]") && e.contains("expected one of pending"),
        "{e}"
    );
}

#[test]
fn the_originals_compensation_and_retry_flow_works() {
    let repo = Repo::new();
    let open = open_steps(
        &repo,
        json!([
            {"step_key": "migrate", "title": "Migrate", "compensation": "restore the backup", "max_retries": 2},
            {"step_key": "notify", "title": "Notify", "compensation": "send a correction"},
            {"step_key": "cleanup", "title": "Clean up", "compensation": "nothing to undo"},
        ]),
    );
    let id = open["run_id"].as_str().unwrap();
    let update = |body: serde_json::Value| {
        let mut b = body;
        b["run_id"] = json!(id);
        repo.call("nexo_workflow_update", &b)
    };
    update(json!({"step_key": "migrate", "step_status": "running"}));
    update(json!({"step_key": "migrate", "step_status": "failed", "summary": "lock timeout"}));
    let r = repo.call("nexo_workflow_resume", &json!({"run_id": id}));
    assert_eq!(r["resume_state"], "retry_available");
    assert_eq!(r["next_step"]["attempt_count"], 1);
    update(json!({"step_key": "migrate", "step_status": "retrying"}));
    update(json!({"step_key": "migrate", "step_status": "running"}));
    let v = update(json!({"step_key": "migrate", "step_status": "completed",
                          "compensation": "restore backup 2026-11-27"}));
    assert_eq!(v["durable_checkpoint"]["reason"], "workflow:migrate");
    update(json!({"step_key": "notify", "step_status": "running"}));
    let c = repo.call("nexo_workflow_compensation", &json!({"run_id": id}));
    // Every step that did or is doing work, in reverse step order.
    let plan: Vec<_> = c["compensation_steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["step_key"].as_str().unwrap(),
                s["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(plan, [("notify", "running"), ("migrate", "completed")]);
    assert_eq!(
        c["compensation_steps"][1]["attempt_count"], 2,
        "retrying → running is one attempt"
    );
    assert_eq!(
        c["compensation_steps"][1]["compensation"],
        "restore backup 2026-11-27"
    );
    assert_eq!(
        c["recent_compensation_notes"][0]["compensation_note"],
        "restore backup 2026-11-27"
    );
    assert!(
        c["recommended_action"]
            .as_str()
            .unwrap()
            .starts_with("Execute compensation steps")
    );
    assert_eq!(c["owner"], "");
    assert_eq!(c["current_step_key"], "notify");
}

#[test]
fn absent_texts_are_empty_strings_as_in_the_original() {
    let repo = Repo::new();
    let open = repo.call(
        "nexo_workflow_open",
        &json!({"sid": "s", "goal": "no steps yet"}),
    );
    assert_eq!(open["current_step_key"], "");
    let id = open["run_id"].as_str().unwrap();
    let v = repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "summary": "looked around"}),
    );
    assert_eq!(v["current_step_key"], "");
    let r = repo.call("nexo_workflow_resume", &json!({"run_id": id}));
    assert_eq!(r["current_step_key"], "");
    let replay = repo.call("nexo_workflow_replay", &json!({"run_id": id}));
    assert_eq!(replay["checkpoints"][0]["step_key"], "");
    assert_eq!(replay["checkpoints"][0]["step_status"], "");
    assert_eq!(replay["checkpoints"][0]["evidence"], "");
    let id = repo.open_release();
    let got = repo.call("nexo_workflow_get", &json!({"run_id": id}));
    let step = &got["run"]["steps"][0];
    for field in [
        "retry_policy",
        "retry_after",
        "compensation",
        "last_summary",
        "last_evidence",
    ] {
        assert_eq!(step[field], "", "{field}: {step}");
    }
    assert_eq!(
        step["completed_at"],
        serde_json::Value::Null,
        "times stay null, as there"
    );
    let list = repo.call("nexo_workflow_list", &json!({}));
    for run in list["runs"].as_array().unwrap() {
        assert!(run["current_step_key"].is_string(), "{run}");
    }
}

#[test]
fn a_state_patch_is_the_steps_last_state_patch() {
    let repo = Repo::new();
    let id = repo.open_release();
    repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "step_key": "doctor", "step_status": "running",
                "state_patch": "{\"active_files\": [\"CHANGELOG.md\"]}"}),
    );
    let got = repo.call("nexo_workflow_get", &json!({"run_id": id}));
    assert_eq!(
        got["run"]["steps"][0]["last_state_patch"],
        json!({"active_files": ["CHANGELOG.md"]})
    );
    // Deliberate: it also merges into shared_state, as nexo always did.
    assert_eq!(
        got["run"]["shared_state"]["active_files"],
        json!(["CHANGELOG.md"])
    );
}

#[test]
fn the_update_answer_names_its_durable_checkpoint() {
    let repo = Repo::new();
    let id = repo.open_release();
    let v = repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "step_key": "doctor", "step_status": "blocked"}),
    );
    let d = &v["durable_checkpoint"];
    assert_eq!(d["event_id"], v["event_id"]);
    assert_eq!(d["task_status"], "blocked");
    assert_eq!(d["committed"], true);
    assert_eq!(
        d["history"],
        format!("{rr}/history.jsonl", rr = run_rel(&id))
    );
}

#[test]
fn coerced_values_are_accepted_with_a_warning() {
    let repo = Repo::new();
    let open = repo.call(
        "nexo_workflow_open",
        &json!({"sid": "s", "goal": "g", "priority": "urgent", "steps": [{"key": "a", "max_retries": -1}]}),
    );
    let got = repo.call("nexo_workflow_get", &json!({"run_id": open["run_id"]}));
    assert_eq!(got["run"]["priority"], "normal");
    assert_eq!(got["run"]["steps"][0]["max_retries"], 0);
    let w = open["warnings"].to_string();
    assert!(w.contains("urgent") && w.contains("max_retries"), "{w}");
    let v = repo.call(
        "nexo_workflow_update",
        &json!({"run_id": open["run_id"], "step_key": "a", "max_retries": -3}),
    );
    assert!(
        v["warnings"][0].as_str().unwrap().contains("below 0"),
        "{v}"
    );
    // The command line is for people: a typo there is refused.
    let out = repo.nexo(&["open", "g", "--priority", "urgent"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn running_then_retrying_is_one_attempt() {
    let repo = Repo::new();
    let id = repo.open_release();
    for status in ["running", "retrying", "running"] {
        repo.call(
            "nexo_workflow_update",
            &json!({"run_id": id, "step_key": "doctor", "step_status": status}),
        );
    }
    let got = repo.call("nexo_workflow_get", &json!({"run_id": id}));
    assert_eq!(got["run"]["steps"][0]["attempt_count"], 1);
}

#[test]
fn reopening_a_completed_step_clears_completed_at() {
    let repo = Repo::new();
    let id = repo.open_release();
    for status in ["completed", "running"] {
        repo.call(
            "nexo_workflow_update",
            &json!({"run_id": id, "step_key": "doctor", "step_status": status}),
        );
    }
    let got = repo.call("nexo_workflow_get", &json!({"run_id": id}));
    assert_eq!(
        got["run"]["steps"][0]["completed_at"],
        serde_json::Value::Null
    );
}

// The deliberate differences (docs/cli.md), each kept on purpose.

#[test]
fn deliberately_fields_not_sent_keep_their_values() {
    let repo = Repo::new();
    let id = repo.open_release();
    repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "step_key": "doctor", "max_retries": 3, "requires_approval": true}),
    );
    // The original's schema would send max_retries 0 and requires_approval
    // false here and reset both.
    repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "step_key": "doctor", "summary": "checked"}),
    );
    let got = repo.call("nexo_workflow_get", &json!({"run_id": id}));
    assert_eq!(got["run"]["steps"][0]["max_retries"], 3);
    assert_eq!(got["run"]["steps"][0]["requires_approval"], true);
}

#[test]
fn deliberately_an_unknown_step_key_needs_a_title() {
    let repo = Repo::new();
    let id = repo.open_release();
    let (code, v) = repo.call_err(
        "nexo_workflow_update",
        &json!({"run_id": id, "step_key": "doctr", "step_status": "running"}).to_string(),
    );
    assert_eq!(code, 3);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("also pass step_title"),
        "{v}"
    );
}

#[test]
fn deliberately_an_exhausted_retry_stops_resume() {
    let repo = Repo::new();
    let id = repo.open_release();
    for status in ["running", "failed"] {
        repo.call(
            "nexo_workflow_update",
            &json!({"run_id": id, "step_key": "doctor", "step_status": status, "max_retries": 1}),
        );
    }
    let r = repo.call("nexo_workflow_resume", &json!({"run_id": id}));
    assert_eq!(r["resume_state"], "failed");
    assert_eq!(r["can_resume"], false);
}

#[test]
fn deliberately_a_pending_step_that_requires_approval_is_a_gate() {
    let repo = Repo::new();
    let open = open_steps(
        &repo,
        json!([{"key": "publish", "requires_approval": true}]),
    );
    let r = repo.call("nexo_workflow_resume", &json!({"run_id": open["run_id"]}));
    assert_eq!(r["resume_state"], "waiting_approval");
    assert_eq!(r["requires_approval"], true);
}

// The goal stack.

#[test]
fn the_new_step_fields_are_checked_like_every_other_text() {
    let repo = Repo::new();
    for (field, value) in [
        ("compensation", "undo\u{7}".to_string()),
        ("retry_after", "x".repeat(300)),
        ("retry_policy", "y".repeat(20_001)),
    ] {
        let input = json!({"sid": "s", "goal": "g", "steps": [{"key": "a", field: value}]});
        let (code, v) = repo.call_err("nexo_workflow_open", &input.to_string());
        assert_eq!(code, 2, "{field}: {v}");
        assert!(
            v["error"]
                .as_str()
                .unwrap()
                .contains(&format!("steps[0].{field}")),
            "{v}"
        );
    }
    assert!(
        repo.nexo_files().iter().all(|(p, _)| !p.contains("/runs/")),
        "nothing written"
    );
}
