//! Every verb through `nexo call`, on real repositories: the rules of the
//! reference, and the places where we deliberately do better.

mod common;

use common::*;
use serde_json::json;

fn update(repo: &Repo, input: serde_json::Value) -> serde_json::Value {
    repo.call("nexo_workflow_update", &input)
}

/// Refused input leaves no trace: no .nexo/ files and no commit.
fn assert_nothing_written(repo: &Repo, commits_before: usize, files_before: &[(String, Vec<u8>)]) {
    assert_eq!(
        repo.commit_count(),
        commits_before,
        "a refused request committed"
    );
    assert_eq!(
        repo.nexo_files(),
        files_before,
        "a refused request wrote files"
    );
}

#[test]
fn open_refuses_bad_input_loudly_and_writes_nothing() {
    let repo = Repo::new();
    let cases: &[(&str, &str)] = &[
        (r#"{"sid":"s","goal":"   "}"#, "goal is empty"),
        (r#"{"sid":"","goal":"g"}"#, "sid is empty"),
        (r#"{"goal":"g"}"#, "missing field `sid`"),
        (
            r#"{"sid":"s","goal":"g","steps":[{"key":"a"},{"key":"a"}]}"#,
            "duplicate step key 'a'",
        ),
        (
            r#"{"sid":"s","goal":"g","steps":[{"key":"../etc"}]}"#,
            "not a plain name",
        ),
        (
            r#"{"sid":"s","goal":"g","steps":[{"key":"a/b"}]}"#,
            "not a plain name",
        ),
        (
            r#"{"sid":"s","goal":"g","steps":[{"key":"a\u0007b"}]}"#,
            "not a plain name",
        ),
        (
            r#"{"sid":"s","goal":"g","steps":"[42]"}"#,
            "give a title (\"Run checks\") or an object",
        ),
        (r#"{"sid":"s","goal":"g","steps":42}"#, "expected a list"),
        (
            r#"{"sid":"s","goal":"g","steps":"[not json"}"#,
            "steps is not valid JSON",
        ),
        (r#"{"sid":"s","goal":"g","priority":3}"#, "invalid type"),
        (
            r#"{"sid":"s","goal":"g","colour":"red"}"#,
            "unknown field `colour`",
        ),
        (
            r#"{"sid":"s","goal":"g","shared_state":"[1,2]"}"#,
            "expected a JSON object",
        ),
        (r#"{"sid":"s","goal":7}"#, "invalid type"),
        (r#"{"sid":"s", "goal":"g""#, "--input is not valid JSON"),
        (r#"["sid"]"#, "must be a JSON object"),
    ];
    let long_key = format!(
        r#"{{"sid":"s","goal":"g","steps":[{{"key":"{}"}}]}}"#,
        "k".repeat(81)
    );
    let before = repo.commit_count();
    for (input, expected) in cases
        .iter()
        .copied()
        .chain([(long_key.as_str(), "at most 80")])
    {
        let (code, v) = repo.call_err("nexo_workflow_open", input);
        let msg = v["error"].as_str().unwrap();
        assert!(
            msg.contains(expected),
            "input {input}: error {msg:?} lacks {expected:?}"
        );
        assert_eq!(code, 2, "input {input}: exit code");
        assert_nothing_written(&repo, before, &[]);
    }
}

#[test]
fn open_accepts_steps_as_string_or_array_and_key_or_step_key() {
    let repo = Repo::new();
    let a = repo.call(
        "nexo_workflow_open",
        &json!({"sid":"s","goal":"g","steps":"[{\"step_key\":\"a\",\"title\":\"A\"}]"}),
    );
    let b = repo.call(
        "nexo_workflow_open",
        &json!({"sid":"s","goal":"g","steps":[{"key":"a","title":"A"}]}),
    );
    assert_eq!(a["steps"], json!(["A"]));
    assert_eq!(b["steps"], json!(["A"]));
    assert_eq!(a["step_keys"], json!(["a"]));
    assert_ne!(a["run_id"], b["run_id"]);
    // Defaults.
    let got = repo.call("nexo_workflow_get", &json!({"run_id": a["run_id"]}));
    assert_eq!(got["run"]["priority"], "normal");
    assert_eq!(got["run"]["workflow_kind"], "general");
    assert_eq!(got["run"]["status"], "open");
}

#[test]
fn open_is_idempotent_by_session_and_key() {
    let repo = Repo::new();
    let input = json!({"sid":"s1","goal":"g","idempotency_key":"release-3.1.1"});
    let first = repo.call("nexo_workflow_open", &input);
    let commits = repo.commit_count();
    let again = repo.call("nexo_workflow_open", &input);
    assert_eq!(again["run_id"], first["run_id"]);
    assert_eq!(again["reused_existing"], true);
    assert_eq!(repo.commit_count(), commits, "reuse wrote something");
    // Another session with the same key is another run.
    let other = repo.call(
        "nexo_workflow_open",
        &json!({"sid":"s2","goal":"g","idempotency_key":"release-3.1.1"}),
    );
    assert_ne!(other["run_id"], first["run_id"]);
    // Once closed, the key opens a fresh run.
    update(
        &repo,
        json!({"run_id": first["run_id"], "run_status": "cancelled"}),
    );
    let fresh = repo.call("nexo_workflow_open", &input);
    assert_ne!(fresh["run_id"], first["run_id"]);
    assert_eq!(fresh["reused_existing"], false);
}

#[test]
fn update_refuses_unknown_statuses_runs_and_fields() {
    let repo = Repo::new();
    let id = repo.open_release();
    let before = repo.commit_count();
    let files = repo.nexo_files();
    let cases = [
        (
            json!({"run_id": id, "step_key": "doctor", "step_status": "done"}),
            2,
            "unknown step status \"done\": expected one of pending, running, blocked, waiting_approval, failed, completed, skipped, retrying",
        ),
        (
            json!({"run_id": id, "run_status": "finished"}),
            2,
            "unknown run status \"finished\"",
        ),
        (
            json!({"run_id": "WF-NOPE", "summary": "x"}),
            3,
            "unknown run \"WF-NOPE\"",
        ),
        (
            json!({"run_id": id, "step_key": "doctor", "bogus": 1}),
            2,
            "unknown field `bogus`",
        ),
        (
            json!({"run_id": id, "step_status": "completed"}),
            2,
            "step_status needs step_key",
        ),
        (
            json!({"run_id": id, "step_key": "publsh", "step_status": "running"}),
            3,
            "unknown step 'publsh' in run",
        ),
        (json!({"run_id": id}), 2, "nothing to update"),
        (
            json!({"run_id": id, "step_key": "../x", "step_title": "x"}),
            2,
            "not a plain name",
        ),
        (
            json!({"run_id": id, "step_key": "doctor", "max_retries": 1e99}),
            2,
            "invalid type",
        ),
        (
            json!({"run_id": id, "step_key": "doctor", "requires_approval": "yes"}),
            2,
            "invalid type",
        ),
        (
            json!({"run_id": "../../etc", "summary": "x"}),
            2,
            "not a plain name",
        ),
    ];
    for (input, code, expected) in cases {
        let (got, v) = repo.call_err("nexo_workflow_update", &input.to_string());
        let msg = v["error"].as_str().unwrap();
        assert!(
            msg.contains(expected),
            "{input}: {msg:?} lacks {expected:?}"
        );
        assert_eq!(got, code, "{input}: exit code");
    }
    assert_nothing_written(&repo, before, &files);
}

#[test]
fn update_keeps_fields_that_are_not_sent() {
    let repo = Repo::new();
    let id = repo.open_release();
    update(
        &repo,
        json!({"run_id": id, "step_key": "package", "max_retries": 3, "requires_approval": true, "compensation": "delete artifacts"}),
    );
    update(
        &repo,
        json!({"run_id": id, "step_key": "package", "summary": "still going"}),
    );
    let got = repo.call("nexo_workflow_get", &json!({"run_id": id}));
    let package = &got["run"]["steps"][1];
    assert_eq!(package["max_retries"], 3);
    assert_eq!(package["requires_approval"], true);
    assert_eq!(package["compensation"], "delete artifacts");
    assert_eq!(package["last_summary"], "still going");
    assert_eq!(
        got["run"]["next_action"],
        "Run doctor and capture the first checkpoint."
    );
}

#[test]
fn new_steps_need_a_title_and_are_appended() {
    let repo = Repo::new();
    let id = repo.open_release();
    let v = update(
        &repo,
        json!({"run_id": id, "step_key": "announce", "step_title": "Announce", "step_status": "pending"}),
    );
    assert_eq!(v["current_step_key"], "announce");
    let got = repo.call("nexo_workflow_get", &json!({"run_id": id}));
    assert_eq!(got["run"]["steps"][3]["step_key"], "announce");
    assert_eq!(got["run"]["steps"][3]["order"], 3);
}

#[test]
fn retries_are_counted_and_offered_while_attempts_remain() {
    let repo = Repo::new();
    let id = repo.open_release();
    let v = update(
        &repo,
        json!({"run_id": id, "step_key": "doctor", "step_status": "in_progress", "max_retries": 2}),
    );
    assert_eq!(v["next_step"]["attempt_count"], 1);
    // Same status again is not a new attempt.
    let v = update(
        &repo,
        json!({"run_id": id, "step_key": "doctor", "step_status": "running", "summary": "half way"}),
    );
    assert_eq!(v["next_step"]["attempt_count"], 1);
    let v = update(
        &repo,
        json!({"run_id": id, "step_key": "doctor", "step_status": "failed", "summary": "flaky", "retry_after": "2026-11-25T00:00:00Z"}),
    );
    assert_eq!(v["status"], "failed");
    assert_eq!(v["resume_state"], "retry_available");
    assert!(
        v["resume_message"]
            .as_str()
            .unwrap()
            .contains("attempt 1 of 2")
    );
    let r = repo.call("nexo_workflow_resume", &json!({"run_id": id}));
    assert_eq!(r["resume_state"], "retry_available");
    assert_eq!(r["can_resume"], true);
    assert_eq!(r["next_step"]["retry_after"], "2026-11-25T00:00:00Z");
    let v = update(
        &repo,
        json!({"run_id": id, "step_key": "doctor", "step_status": "retrying"}),
    );
    assert_eq!(v["next_step"]["attempt_count"], 2);
    assert_eq!(v["status"], "running");
    let v = update(
        &repo,
        json!({"run_id": id, "step_key": "doctor", "step_status": "failed"}),
    );
    // No attempts left: resume reports the failure instead of a retry.
    assert_eq!(v["resume_state"], "failed");
    assert_eq!(v["can_resume"], false);
}

#[test]
fn explicit_approval_lifts_the_gate_and_records_who() {
    let repo = Repo::new();
    let id = repo.open_release();
    update(
        &repo,
        json!({"run_id": id, "step_key": "doctor", "step_status": "completed"}),
    );
    update(
        &repo,
        json!({"run_id": id, "step_key": "package", "step_status": "completed"}),
    );
    update(
        &repo,
        json!({"run_id": id, "step_key": "publish", "step_status": "blocked", "requires_approval": true, "summary": "ready"}),
    );
    let r = repo.call("nexo_workflow_resume", &json!({"run_id": id}));
    assert_eq!(r["resume_state"], "waiting_approval");
    assert_eq!(r["requires_approval"], true);
    assert_eq!(r["can_resume"], false);

    // Approving a step without a gate is refused.
    let (code, v) = repo.call_err(
        "nexo_workflow_approve",
        &json!({"run_id": id, "step_key": "doctor"}).to_string(),
    );
    assert_eq!(code, 5);
    assert!(
        v["error"].as_str().unwrap().contains("already completed"),
        "{v}"
    );

    let v = repo.call(
        "nexo_workflow_approve",
        &json!({"run_id": id, "key": "publish", "actor": "alice", "reason": "notes reviewed"}),
    );
    assert_eq!(v["decision"], "approved");
    assert_eq!(v["by"], "alice");
    assert_eq!(v["status"], "running");
    assert_eq!(v["resume_state"], "ready");
    let got = repo.call("nexo_workflow_get", &json!({"run_id": id}));
    let publish = &got["run"]["steps"][2];
    assert_eq!(publish["approval"]["by"], "alice");
    assert_eq!(publish["approval"]["note"], "notes reviewed");
    assert_eq!(publish["approval"]["via"], "approve");
    assert_eq!(publish["status"], "pending");
    assert_eq!(publish["awaiting_approval"], false);
    // Twice is refused, naming the first decision.
    let (_, v) = repo.call_err(
        "nexo_workflow_approve",
        &json!({"run_id": id, "step_key": "publish"}).to_string(),
    );
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("already approved by alice"),
        "{v}"
    );
}

#[test]
fn a_rejection_is_not_lifted_by_carrying_on() {
    let repo = Repo::new();
    let id = repo.open_release();
    update(
        &repo,
        json!({"run_id": id, "step_key": "publish", "step_status": "blocked", "requires_approval": true}),
    );
    let (_, v) = repo.call_err(
        "nexo_workflow_reject",
        &json!({"run_id": id, "step_key": "publish"}).to_string(),
    );
    assert!(
        v["error"].as_str().unwrap().contains("needs a reason"),
        "{v}"
    );
    let v = repo.call("nexo_workflow_reject", &json!({"run_id": id, "step_key": "publish", "actor": "bob", "reason": "changelog missing"}));
    assert_eq!(v["decision"], "rejected");
    assert_eq!(v["status"], "blocked");
    assert_eq!(v["resume_state"], "rejected");
    assert!(v["message"].as_str().unwrap().contains("changelog missing"));
    let (code, v) = repo.call_err(
        "nexo_workflow_update",
        &json!({"run_id": id, "step_key": "publish", "step_status": "running"}).to_string(),
    );
    assert_eq!(code, 5);
    assert!(
        v["error"].as_str().unwrap().contains("was rejected by bob"),
        "{v}"
    );
    // Asking again re-arms the gate.
    let v = update(
        &repo,
        json!({"run_id": id, "step_key": "publish", "step_status": "blocked", "requires_approval": true, "summary": "changelog added"}),
    );
    assert_eq!(v["resume_state"], "waiting_approval");
}

#[test]
fn a_gate_declared_at_open_holds_when_its_step_comes_up() {
    let repo = Repo::new();
    let open = repo.call(
        "nexo_workflow_open",
        &json!({"sid":"s","goal":"migrate","steps":[{"key":"plan"},{"key":"apply","title":"Apply migration","requires_approval":true}]}),
    );
    let id = open["run_id"].as_str().unwrap();
    let r = repo.call("nexo_workflow_resume", &json!({"run_id": id}));
    assert_eq!(r["resume_state"], "ready");
    assert_eq!(r["next_step"]["step_key"], "plan");
    let v = update(
        &repo,
        json!({"run_id": id, "step_key": "plan", "step_status": "completed"}),
    );
    assert_eq!(v["resume_state"], "waiting_approval");
    assert_eq!(v["next_step"]["step_key"], "apply");
    repo.call(
        "nexo_workflow_approve",
        &json!({"run_id": id, "step_key": "apply", "actor": "dba"}),
    );
    let r = repo.call("nexo_workflow_resume", &json!({"run_id": id}));
    assert_eq!(r["resume_state"], "ready");
    let v = update(
        &repo,
        json!({"run_id": id, "step_key": "apply", "step_status": "completed"}),
    );
    assert_eq!(v["status"], "completed");
    assert_eq!(v["resume_state"], "completed");
}

#[test]
fn run_ids_accept_unique_prefixes_and_refuse_ambiguous_ones() {
    let repo = Repo::new();
    let id = repo.open_release();
    let short = &id[3..9];
    let r = repo.call(
        "nexo_workflow_resume",
        &json!({"run_id": short.to_lowercase()}),
    );
    assert_eq!(r["run_id"], id.as_str());
    let r = repo.call("nexo_workflow_resume", &json!({"run_id": &id[..7]}));
    assert_eq!(r["run_id"], id.as_str());
    // Two runs sharing a prefix: make a second one by hand.
    let twin = format!("{}ZZZZ", &id[..id.len() - 4]);
    let dir = repo.path().join(run_rel(&twin));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        repo.path().join(run_rel(&id)).join("history.jsonl"),
        dir.join("history.jsonl"),
    )
    .unwrap();
    let (code, v) = repo.call_err(
        "nexo_workflow_resume",
        &json!({"run_id": &id[..8]}).to_string(),
    );
    assert_eq!(code, 4);
    let msg = v["error"].as_str().unwrap();
    assert!(
        msg.contains("ambiguous") && msg.contains(&id) && msg.contains(&twin),
        "{msg}"
    );
}

#[test]
fn list_orders_by_update_and_hides_closed_runs() {
    let repo = Repo::new();
    let a = repo.open_release();
    let b = repo.open_release();
    let c = repo.open_release();
    update(&repo, json!({"run_id": a, "summary": "touched last"}));
    update(&repo, json!({"run_id": c, "run_status": "completed"}));
    let l = repo.call("nexo_workflow_list", &json!({}));
    let ids: Vec<&str> = l["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [a.as_str(), b.as_str()]);
    assert_eq!(l["count"], 2);
    let l = repo.call("nexo_workflow_list", &json!({"include_closed": true}));
    assert_eq!(l["count"], 3);
    let l = repo.call("nexo_workflow_list", &json!({"status": "completed"}));
    assert_eq!(l["runs"][0]["run_id"], c.as_str());
    let l = repo.call("nexo_workflow_list", &json!({"limit": 1}));
    assert_eq!(l["count"], 1);
    let (_, v) = repo.call_err("nexo_workflow_list", r#"{"status":"done"}"#);
    assert!(v["error"].as_str().unwrap().contains("unknown run status"));
    // An empty input is fine for list.
    let out = repo.nexo(&["call", "nexo_workflow_list"]);
    assert!(out.status.success());
}

#[test]
fn handoff_moves_ownership_and_needs_an_actor() {
    let repo = Repo::new();
    let id = repo.open_release();
    let (_, v) = repo.call_err(
        "nexo_workflow_handoff",
        &json!({"run_id": id, "new_owner": "x"}).to_string(),
    );
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("missing field `actor`")
    );
    let v = repo.call(
        "nexo_workflow_handoff",
        &json!({"run_id": id, "actor": "codex", "new_owner": "claude_code", "handoff_note": "over to you", "shared_state": "{\"branch\":\"release/3.1.1\"}"}),
    );
    assert_eq!(v["owner"], "claude_code");
    assert_eq!(v["status"], "open");
    assert_eq!(v["shared_state"]["branch"], "release/3.1.1");
    let r = repo.call("nexo_workflow_replay", &json!({"run_id": id, "limit": 1}));
    assert_eq!(r["checkpoints"][0]["checkpoint_label"], "handoff");
    assert_eq!(r["checkpoints"][0]["actor"], "codex");
    assert_eq!(r["checkpoints"][0]["summary"], "over to you");
}

#[test]
fn shared_state_replaces_and_state_patch_merges() {
    let repo = Repo::new();
    let id = repo.open_release();
    update(
        &repo,
        json!({"run_id": id, "shared_state": {"a": 1, "b": {"c": 2, "d": 3}}}),
    );
    let v = update(
        &repo,
        json!({"run_id": id, "state_patch": "{\"b\":{\"c\":null,\"e\":4},\"f\":5}"}),
    );
    assert_eq!(v["ok"], true);
    let got = repo.call(
        "nexo_workflow_get",
        &json!({"run_id": id, "include_steps": false}),
    );
    assert_eq!(
        got["run"]["shared_state"],
        json!({"a": 1, "b": {"d": 3, "e": 4}, "f": 5})
    );
    assert!(got["run"].get("steps").is_none());
}

#[test]
fn compensation_lists_undo_actions_latest_first() {
    let repo = Repo::new();
    let id = repo.open_release();
    update(
        &repo,
        json!({"run_id": id, "step_key": "doctor", "step_status": "completed"}),
    );
    update(
        &repo,
        json!({"run_id": id, "step_key": "package", "step_status": "completed", "compensation": "delete dist/"}),
    );
    update(
        &repo,
        json!({"run_id": id, "step_key": "publish", "step_status": "running", "compensation": "yank the release"}),
    );
    let c = repo.call("nexo_workflow_compensation", &json!({"run_id": id}));
    let keys: Vec<&str> = c["compensations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["step_key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["publish", "package"]);
    assert_eq!(c["uncovered_steps"], json!(["doctor"]));
}

#[test]
fn input_can_come_from_standard_input() {
    let repo = Repo::new();
    let mut child = nexo_cmd()
        .current_dir(repo.path())
        .args(["call", "nexo_workflow_open", "--input", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        // The first write's notice (the merge driver it registered) is
        // for a person, not the test output.
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"sid\":\"s\",\n\"goal\":\"from stdin\nwith a raw line break\"}")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v = parse_json(&out);
    let got = repo.call("nexo_workflow_get", &json!({"run_id": v["run_id"]}));
    assert_eq!(got["run"]["goal"], "from stdin\nwith a raw line break");
}

#[test]
fn unknown_tools_and_places_outside_git_are_refused() {
    let repo = Repo::new();
    let (code, v) = repo.call_err("nexo_workflow_delete", "{}");
    assert_eq!(code, 2);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("expected one of nexo_workflow_open")
    );

    let plain = tempfile::tempdir().unwrap();
    let out = nexo_in(
        plain.path(),
        &[
            "call",
            "nexo_workflow_open",
            "--input",
            r#"{"sid":"s","goal":"g"}"#,
        ],
    );
    assert_eq!(out.status.code(), Some(6));
    let v = parse_json(&out);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("not inside a git repository"),
        "{v}"
    );
    assert!(!plain.path().join(".nexo").exists());
}

#[test]
fn the_human_cli_reads_well_and_speaks_json_on_request() {
    let repo = Repo::new();
    let out = repo.nexo(&[
        "open",
        "Ship it",
        "--step",
        "build:Build it",
        "--step",
        "ship",
        "--owner",
        "me",
        "--next",
        "Build.",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("Opened WF-"), "{text}");
    assert!(text.contains("  - build: Build it"), "{text}");
    let id = text.split_whitespace().nth(1).unwrap().to_string();

    let out = repo.nexo(&[
        "update",
        &id[..8],
        "build",
        "--status",
        "in_progress",
        "--summary",
        "compiling",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = repo.nexo(&["resume", &id]);
    let text = stdout(&out);
    assert!(text.contains("resume: running"), "{text}");
    assert!(text.contains("Step 'Build it' is running"), "{text}");

    // -C from elsewhere, --json for machines.
    let elsewhere = tempfile::tempdir().unwrap();
    let out = nexo_in(
        elsewhere.path(),
        &["-C", repo.path().to_str().unwrap(), "--json", "get", &id],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v = parse_json(&out);
    assert_eq!(v["run"]["steps"][0]["status"], "running");

    let out = repo.nexo(&["list"]);
    assert!(stdout(&out).contains(&id));

    // Errors go to stderr with a stable exit code.
    let out = repo.nexo(&["update", &id, "build", "--status", "done"]);
    assert_eq!(out.status.code(), Some(2));
    let out = repo.nexo(&["resume", "WF-NOSUCHRUN"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).starts_with("error: unknown run"),
        "{}",
        stderr(&out)
    );

    let out = repo.nexo(&["--help"]);
    assert!(stdout(&out).contains("Examples:"));
}

#[test]
fn a_reader_that_went_away_ends_the_command_quietly() {
    let repo = Repo::new();
    let id = repo.open_release();
    for args in [
        &["list"][..],
        &["show", &id],
        &["--json", "resume", &id],
        &["call", "nexo_workflow_list", "--input", "{}"],
        &["update", &id, "doctor", "--status", "running"],
    ] {
        // The pipe's reading end is closed before nexo starts: its first
        // write fails with a broken pipe, whatever the timing.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = nexo_cmd()
            .current_dir(repo.path())
            .args(args)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert!(
            !stderr(&out).contains("panicked"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    // The update's write was done before its answer could not be shown.
    let r = repo.call("nexo_workflow_resume", &serde_json::json!({"run_id": id}));
    assert_eq!(r["next_step"]["status"], "running", "{r}");
}

#[test]
fn reads_write_nothing_not_even_the_git_config() {
    let repo = Repo::new();
    let config = || std::fs::read(repo.path().join(".git/config")).unwrap();
    let before = config();
    for args in [
        &["resume", "WF-NOSUCHRUN00000"][..],
        &["list"],
        &["prime"],
        &["doctor"],
        &["show", "WF-NOSUCHRUN00000"],
    ] {
        repo.nexo(args);
        assert_eq!(config(), before, "{args:?} changed .git/config");
    }
    assert!(!repo.path().join(".nexo").exists());
    // The first write registers the merge driver, and says so once.
    let out = repo.nexo(&["open", "Ship it", "--step", "a:A"]);
    assert!(stderr(&out).contains("merge driver"), "{}", stderr(&out));
    let text = String::from_utf8(config()).unwrap();
    assert!(text.contains("[merge \"nexo-view\"]"), "{text}");
    let again = repo.nexo(&["open", "Ship it again"]);
    assert!(
        !stderr(&again).contains("merge driver"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn a_handoff_on_the_command_line_must_say_something() {
    let repo = Repo::new();
    let id = repo.open_release();
    let before = repo.nexo_files();
    let out = repo.nexo(&["handoff", &id]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    for flag in ["--to", "--note", "--next"] {
        assert!(err.contains(flag), "{err}");
    }
    assert_eq!(repo.nexo_files(), before, "nothing written");
    assert!(
        repo.nexo(&["handoff", &id, "--note", "over to you"])
            .status
            .success()
    );
    // The tool interface keeps the original's actor-only handoff.
    repo.call(
        "nexo_workflow_handoff",
        &json!({"run_id": id, "actor": "codex"}),
    );
}
