//! Approval gates that hold: the `explicit` and `signed` policies of
//! `.nexo/config.yaml`, with real SSH keys made by the real `ssh-keygen`,
//! and histories tampered with by hand as an attacker would.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::{Value, json};

/// A repository with a committed approval policy and a run whose
/// `publish` step (owned by codex, gated by codex) waits for approval.
fn gated(policy: &str, extra: &str) -> (Repo, String) {
    let repo = Repo::new();
    write_config(&repo, policy, extra);
    let id = repo.open_release();
    repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "step_key": "publish", "step_status": "blocked",
                "requires_approval": true, "actor": "codex", "summary": "artifacts ready"}),
    );
    (repo, id)
}

fn write_config(repo: &Repo, policy: &str, extra: &str) {
    std::fs::create_dir_all(repo.path().join(".nexo")).unwrap();
    std::fs::write(
        repo.path().join(".nexo/config.yaml"),
        format!(
            "approvals:\n  policy: {policy}\n  approvers: [release-manager, lead, codex]\n{extra}"
        ),
    )
    .unwrap();
    repo.git(&["add", ".nexo/config.yaml"]);
    repo.git(&["commit", "-q", "-m", "approval policy"]);
}

fn approve(repo: &Repo, id: &str, actor: &str) -> (i32, Value) {
    let out = repo.nexo(&[
        "call",
        "nexo_workflow_approve",
        "--input",
        &json!({"run_id": id, "step_key": "publish", "actor": actor, "note": "go"}).to_string(),
    ]);
    (out.status.code().unwrap(), parse_json(&out))
}

fn resume_state(repo: &Repo, id: &str) -> Value {
    repo.call("nexo_workflow_resume", &json!({"run_id": id}))
}

fn history(repo: &Repo, id: &str) -> PathBuf {
    repo.path().join(run_rel(id)).join("history.jsonl")
}

/// Appends a hand-written event after the history's last one and commits
/// it, as someone editing the file (or a hostile clone) would.
fn append_by_hand(repo: &Repo, id: &str, actor: &str, kind: &str, data: Value, n: u32) -> String {
    let path = history(repo, id);
    let text = std::fs::read_to_string(&path).unwrap();
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let event_id = format!("01ZZZZZZZZZZZZZZZZZZZZZ{n:03}");
    let line = json!({
        "v": 2, "id": event_id, "clock": last["clock"].as_u64().unwrap() + 1,
        "parents": [last["id"]], "at": "2026-11-27T10:00:00.000Z", "actor": actor,
        "type": kind, "data": data,
    });
    std::fs::write(&path, format!("{text}{line}\n")).unwrap();
    repo.git(&["add", "-A", ".nexo"]);
    repo.git(&["commit", "-q", "-m", "by hand"]);
    event_id
}

#[test]
fn under_explicit_an_update_cannot_pass_a_gate() {
    let (repo, id) = gated("explicit", "");
    let before = std::fs::read(history(&repo, &id)).unwrap();
    for status in ["running", "retrying", "completed", "skipped"] {
        let (code, v) = repo.call_err(
            "nexo_workflow_update",
            &json!({"run_id": id, "step_key": "publish", "step_status": status}).to_string(),
        );
        assert_eq!(code, 5, "{status}: {v}");
        let e = v["error"].as_str().unwrap();
        assert!(e.contains("an update cannot pass an approval gate"), "{e}");
        assert!(v["hint"].as_str().unwrap().contains("nexo approve"), "{v}");
    }
    let (code, _) = repo.call_err(
        "nexo_workflow_update",
        &json!({"run_id": id, "step_key": "publish", "requires_approval": false}).to_string(),
    );
    assert_eq!(code, 5, "lifting the flag is passing the gate");
    assert_eq!(
        std::fs::read(history(&repo, &id)).unwrap(),
        before,
        "nothing written"
    );
    // Updates that leave the gate alone still work.
    repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "step_key": "publish", "summary": "still waiting"}),
    );
}

#[test]
fn under_explicit_only_a_listed_approver_other_than_owner_and_requester_decides() {
    let (repo, id) = gated("explicit", "");
    let (code, v) = approve(&repo, &id, "intern");
    assert_eq!(code, 5);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("intern is not an approver"),
        "{v}"
    );
    // codex owns the run and asked for the gate.
    let (code, v) = approve(&repo, &id, "codex");
    assert_eq!(code, 5);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("cannot decide its own gate"),
        "{v}"
    );
    let out = repo.nexo(&[
        "call",
        "nexo_workflow_reject",
        "--input",
        &json!({"run_id": id, "step_key": "publish", "actor": "intern", "reason": "no"})
            .to_string(),
    ]);
    assert_eq!(out.status.code(), Some(5), "rejecting is deciding too");
    let r = resume_state(&repo, &id);
    assert_eq!(r["resume_state"], "waiting_approval");
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains("only release-manager, lead, codex may decide"),
        "{r}"
    );
    let (code, v) = approve(&repo, &id, "release-manager");
    assert_eq!(code, 0, "{v}");
    assert_eq!(resume_state(&repo, &id)["resume_state"], "ready");
    let subject = repo.git(&["log", "-1", "--format=%B"]);
    assert!(
        subject.contains("publish approved by release-manager"),
        "{subject}"
    );
}

#[test]
fn self_approval_is_allowed_only_when_the_policy_says_so() {
    let (repo, id) = gated("explicit", "  self_approval: true\n");
    let (code, v) = approve(&repo, &id, "codex");
    assert_eq!(code, 0, "{v}");
}

#[test]
fn under_explicit_a_hand_written_update_passing_a_gate_is_not_honoured() {
    let (repo, id) = gated("explicit", "");
    let event = append_by_hand(
        &repo,
        &id,
        "codex",
        "updated",
        json!({"step_key": "publish", "step_status": "completed"}),
        1,
    );
    let r = resume_state(&repo, &id);
    assert_eq!(r["resume_state"], "waiting_approval", "{r}");
    assert_eq!(r["unhonoured"][0]["event_id"], event.as_str());
    assert_eq!(r["unhonoured"][0]["reason"], "update_cannot_pass");
    let doctor = repo.nexo(&["doctor", "--json"]);
    let report = parse_json(&doctor);
    assert_eq!(report["unhonoured"][0]["run_id"], id.as_str());
    assert_eq!(report["unhonoured"][0]["event_id"], event.as_str());
}

// The signed policy, with keys made by ssh-keygen.

struct Keys {
    _dir: tempfile::TempDir,
    release_manager: PathBuf,
    other: PathBuf,
}

fn public(key: &Path) -> String {
    std::fs::read_to_string(key.with_extension("pub"))
        .unwrap()
        .trim()
        .to_string()
}

/// A signed-policy repository whose allowed signers list release-manager's
/// key, and whose git signs with `signing_key`.
fn signed(keys_for: impl Fn(&Keys) -> PathBuf) -> (Repo, String, Keys) {
    let dir = tempfile::tempdir().unwrap();
    let keys = Keys {
        release_manager: keygen(dir.path(), "release_manager"),
        other: keygen(dir.path(), "other"),
        _dir: dir,
    };
    let repo = Repo::new();
    std::fs::create_dir_all(repo.path().join(".nexo")).unwrap();
    std::fs::write(
        repo.path().join(".nexo/allowed_signers"),
        format!("release-manager {}\n", public(&keys.release_manager)),
    )
    .unwrap();
    repo.git(&["add", ".nexo/allowed_signers"]);
    repo.git(&[
        "config",
        "user.signingkey",
        keys_for(&keys).to_str().unwrap(),
    ]);
    write_config(&repo, "signed", "");
    let id = repo.open_release();
    for step in ["package", "publish"] {
        repo.call(
            "nexo_workflow_update",
            &json!({"run_id": id, "step_key": step, "step_status": "blocked",
                    "requires_approval": true, "actor": "codex"}),
        );
    }
    (repo, id, keys)
}

fn signed_line(repo: &Repo, id: &str) -> Value {
    let text = std::fs::read_to_string(history(repo, id)).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .rfind(|e| e["type"] == "approved")
        .expect("an approval line")
}

#[test]
fn a_signed_approval_is_honoured_and_says_it_verified() {
    let (repo, id, _keys) = signed(|k| k.release_manager.clone());
    let (code, v) = approve(&repo, &id, "release-manager");
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["verified"], true);
    let line = signed_line(&repo, &id);
    assert!(
        line["data"]["signature"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN SSH SIGNATURE-----"),
        "{line}"
    );
    let got = repo.call("nexo_workflow_get", &json!({"run_id": id}));
    let publish = got["run"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step_key"] == "publish")
        .unwrap()
        .clone();
    assert_eq!(publish["approval"]["verified"], true, "{publish}");
    let view = std::fs::read_to_string(
        repo.path()
            .join(format!("{rr}/steps/publish.yaml", rr = run_rel(&id))),
    )
    .unwrap();
    assert!(view.contains("verified: true"), "{view}");
    let subject = repo.git(&["log", "-1", "--format=%B"]);
    assert!(
        subject.contains("publish approved by release-manager (signed)"),
        "{subject}"
    );
    let r = resume_state(&repo, &id);
    assert!(
        r["next_action"]
            .as_str()
            .unwrap()
            .contains("signature verified"),
        "{r}"
    );
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    // Reads verify again (from the cache) and still honour it.
    let out = repo.nexo(&["doctor", "--json"]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert_eq!(parse_json(&out)["unhonoured"], json!([]));
}

#[test]
fn a_signature_by_a_key_not_listed_for_the_approver_is_refused() {
    let (repo, id, _keys) = signed(|k| k.other.clone());
    let before = std::fs::read(history(&repo, &id)).unwrap();
    let (code, v) = approve(&repo, &id, "release-manager");
    assert_eq!(code, 5, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("does not verify for release-manager"),
        "{v}"
    );
    assert_eq!(
        std::fs::read(history(&repo, &id)).unwrap(),
        before,
        "nothing written"
    );
}

#[test]
fn a_forged_unsigned_approval_is_not_honoured_and_doctor_reports_it() {
    let (repo, id, _keys) = signed(|k| k.release_manager.clone());
    let forged = append_by_hand(
        &repo,
        &id,
        "release-manager",
        "approved",
        json!({"step_key": "package", "note": "looks fine"}),
        2,
    );
    let r = resume_state(&repo, &id);
    assert_eq!(r["resume_state"], "waiting_approval", "{r}");
    assert!(
        r["message"].as_str().unwrap().contains("was not honoured"),
        "{r}"
    );
    let got = repo.call("nexo_workflow_get", &json!({"run_id": id}));
    assert_eq!(got["unhonoured"][0]["reason"], "unverified");
    let report = parse_json(&repo.nexo(&["doctor", "--json"]));
    let u = &report["unhonoured"][0];
    assert_eq!(
        (u["run_id"].as_str(), u["event_id"].as_str()),
        (Some(id.as_str()), Some(forged.as_str()))
    );
    assert_eq!(u["reason"], "unverified");
    let text = stdout(&repo.nexo(&["doctor"]));
    assert!(
        text.contains(&format!("not honoured: {id} event {forged}")),
        "{text}"
    );
}

#[test]
fn a_valid_signature_moved_to_another_step_is_not_honoured() {
    let (repo, id, _keys) = signed(|k| k.release_manager.clone());
    approve(&repo, &id, "release-manager");
    let genuine = signed_line(&repo, &id);
    // The same signature, on an approval of the package step.
    append_by_hand(
        &repo,
        &id,
        "release-manager",
        "approved",
        json!({"step_key": "package", "note": "go", "signature": genuine["data"]["signature"]}),
        3,
    );
    let got = repo.call("nexo_workflow_get", &json!({"run_id": id}));
    let steps = got["run"]["steps"].as_array().unwrap();
    let package = steps.iter().find(|s| s["step_key"] == "package").unwrap();
    assert_eq!(package["awaiting_approval"], true, "{package}");
    let publish = steps.iter().find(|s| s["step_key"] == "publish").unwrap();
    assert_eq!(
        publish["approval"]["verified"], true,
        "the genuine one still holds"
    );
    assert_eq!(got["unhonoured"][0]["step_key"], "package");
}

#[test]
fn signatures_still_verify_after_a_union_merge_from_another_clone() {
    let (repo, id, keys) = signed(|k| k.release_manager.clone());
    let shared = repo.share();
    let other = shared.other.clone();
    git_in(
        &other,
        &[
            "config",
            "user.signingkey",
            keys.release_manager.to_str().unwrap(),
        ],
    );
    // Concurrently: an approval here, progress on another step there.
    approve(&repo, &id, "release-manager");
    let out = nexo_in(
        &other,
        &[
            "call",
            "nexo_workflow_update",
            "--input",
            &json!({"run_id": id, "step_key": "doctor", "step_status": "running"}).to_string(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    for dir in [other.as_path(), repo.path(), other.as_path()] {
        let out = nexo_in(dir, &["sync"]);
        assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    }
    for dir in [repo.path(), other.as_path()] {
        let out = nexo_in(
            dir,
            &[
                "call",
                "nexo_workflow_get",
                "--input",
                &json!({"run_id": id}).to_string(),
            ],
        );
        let got = parse_json(&out);
        let publish = got["run"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["step_key"] == "publish")
            .unwrap()
            .clone();
        assert_eq!(
            publish["approval"]["verified"],
            true,
            "{}: {publish}",
            dir.display()
        );
        assert_eq!(
            got["unhonoured"],
            Value::Null,
            "nothing unhonoured in {}",
            dir.display()
        );
    }
}

#[test]
fn a_strict_policy_with_nobody_to_approve_is_refused_where_it_is_written() {
    let repo = Repo::new();
    std::fs::create_dir_all(repo.path().join(".nexo")).unwrap();
    std::fs::write(
        repo.path().join(".nexo/config.yaml"),
        "approvals:\n  policy: explicit\n",
    )
    .unwrap();
    let out = repo.nexo(&["list"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("approvals.approvers names nobody"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn under_the_default_policy_a_gate_passed_by_update_says_so_in_the_commit() {
    let (repo, id) = gated("update", "");
    repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "step_key": "publish", "step_status": "running", "actor": "claude"}),
    );
    let subject = repo.git(&["log", "-1", "--format=%B"]);
    assert!(
        subject.contains("publish → running (gate passed by claude via update)"),
        "{subject}"
    );
}

#[test]
fn an_approver_name_that_could_never_sign_is_refused_in_the_config() {
    let repo = Repo::new();
    std::fs::create_dir_all(repo.path().join(".nexo")).unwrap();
    std::fs::write(
        repo.path().join(".nexo/config.yaml"),
        "approvals:\n  policy: signed\n  approvers: [\"release,manager\"]\n",
    )
    .unwrap();
    let out = repo.nexo(&["list"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot sign under the signed policy"),
        "{}",
        stderr(&out)
    );
}
