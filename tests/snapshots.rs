//! Snapshots of what people and agents see: each command's text, its
//! `--json`, and its errors with their exit codes. Each command runs with
//! ids and a time of its own, the same on every run, so only commit ids
//! and temporary paths are redacted (tests/common/snap.rs); `cargo insta
//! review` (or INSTA_UPDATE=always) updates them.

mod common;

use common::*;
use serde_json::json;

use common::snap::{run, settings};

/// A repository with the seed's release run, its first step done and the
/// publish step at its gate.
fn release() -> (Repo, String) {
    let repo = Repo::new().deterministic();
    let id = repo.open_release();
    repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "step_key": "doctor", "step_status": "completed",
                "summary": "doctor clean", "evidence": "ci run 812", "compensation": "nothing to undo",
                "next_action": "Build the artifacts."}),
    );
    repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "step_key": "publish", "step_status": "blocked",
                "requires_approval": true, "summary": "artifacts ready"}),
    );
    (repo, id)
}

#[test]
fn open_text_and_json() {
    let repo = Repo::new().deterministic();
    snap!(
        "open_text",
        repo,
        &[
            "open",
            "Prepare v3.1.1",
            "--step",
            "doctor:Run checks",
            "--step",
            "publish",
            "--next",
            "Run doctor."
        ]
    );
    snap!("open_json", repo, &["--json", "open", "Second run"]);
}

#[test]
fn update_text_and_json() {
    let (repo, id) = release();
    snap!(
        "update_text",
        repo,
        &[
            "update",
            &id,
            "package",
            "--status",
            "running",
            "--summary",
            "building"
        ]
    );
    snap!(
        "update_json",
        repo,
        &["--json", "update", &id, "package", "--status", "completed"]
    );
}

#[test]
fn resume_at_a_gate_and_after_approval() {
    let (repo, id) = release();
    snap!("resume_gate", repo, &["resume", &id]);
    snap!(
        "approve_text",
        repo,
        &["approve", &id, "publish", "--note", "notes reviewed"]
    );
    snap!("resume_ready", repo, &["resume", &id]);
}

#[test]
fn read_commands() {
    let (repo, id) = release();
    snap!("replay_text", repo, &["replay", &id, "-n", "5"]);
    snap!("get_text", repo, &["get", &id]);
    snap!("list_text", repo, &["list"]);
    snap!("compensation_text", repo, &["compensation", &id]);
    snap!("prime_text", repo, &["prime"]);
}

#[test]
fn handoff_and_reject() {
    let (repo, id) = release();
    snap!(
        "handoff_text",
        repo,
        &[
            "handoff",
            &id,
            "--to",
            "claude_code",
            "--note",
            "publish is next"
        ]
    );
    snap!(
        "reject_text",
        repo,
        &["reject", &id, "publish", "--reason", "changelog missing"]
    );
}

#[test]
fn doctor_healthy_and_with_a_stale_view() {
    let (repo, id) = release();
    snap!("doctor_healthy", repo, &["doctor"]);
    std::fs::write(
        repo.path()
            .join(format!("{rr}/run.yaml", rr = run_rel(&id))),
        "edited\n",
    )
    .unwrap();
    snap!("doctor_stale_view", repo, &["doctor"]);
}

/// What a new user reads after `{"garbage":` lands in a history: where
/// `--fix` will put the line, then what it moved where and how to look at
/// it, then a healthy doctor.
#[test]
fn doctor_moves_an_unreadable_line_aside() {
    let (repo, id) = release();
    let path = repo
        .path()
        .join(format!("{rr}/history.jsonl", rr = run_rel(&id)));
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("{\"garbage\":\n");
    std::fs::write(&path, text).unwrap();
    snap!("doctor_unreadable_line", repo, &["doctor"]);
    snap!("doctor_fix_quarantine", repo, &["doctor", "--fix"]);
    snap!("doctor_after_quarantine", repo, &["doctor"]);
}

/// `list --branches` and `resume` when one ref's copy of a run does not
/// read: the run is shown from the others, and the ref is named.
#[test]
fn reads_name_the_ref_whose_copy_they_could_not_read() {
    let repo = Repo::new().deterministic();
    repo.git(&["switch", "-q", "-c", "feature"]);
    let id = repo.open_release();
    repo.git(&["switch", "-q", "-c", "hostile"]);
    let path = repo
        .path()
        .join(format!("{rr}/history.jsonl", rr = run_rel(&id)));
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("{\"garbage\":\n");
    std::fs::write(&path, text).unwrap();
    repo.git(&["commit", "-q", "-am", "a peer's bad line"]);
    repo.git(&["switch", "-q", "main"]);
    snap!(
        "list_branches_unreadable_ref",
        repo,
        &["list", "--branches"]
    );
    snap!("resume_unreadable_ref", repo, &["resume", &id]);
}

#[test]
fn errors_say_what_is_wrong_and_exit_by_kind() {
    let (repo, id) = release();
    snap!("error_unknown_run", repo, &["resume", "WF-ZZZZ"]);
    snap!(
        "error_unknown_step",
        repo,
        &["update", &id, "publsh", "--status", "running"]
    );
    snap!(
        "error_rejected_without_reason_json",
        repo,
        &[
            "call",
            "nexo_workflow_reject",
            "--input",
            &json!({"run_id": id, "step_key": "publish"}).to_string()
        ]
    );
    snap!(
        "error_bad_field_json",
        repo,
        &[
            "call",
            "nexo_workflow_update",
            "--input",
            &json!({"run_id": id, "step_status": "done", "step_key": "publish"}).to_string()
        ]
    );
    snap!(
        "error_control_character",
        repo,
        &["update", &id, "--summary", "bell \u{7}"]
    );
    snap!("commit_nothing", repo, &["commit"]);
}

#[test]
fn show_list_and_markdown_for_people() {
    let (repo, id) = release();
    repo.call(
        "nexo_workflow_handoff",
        &json!({"run_id": id, "actor": "codex", "new_owner": "claude_code",
                "handoff_note": "publish waits for the release manager"}),
    );
    let people = |name: &str, args: &[&str]| {
        settings(&repo).bind(|| insta::assert_snapshot!(name.to_string(), run(&repo, args)));
    };
    // Piped output: no colour, and no cutting unless COLUMNS says so.
    people("show_text", &["show", &id]);
    people("show_markdown", &["show", &id, "--format", "markdown"]);
    people("show_mermaid", &["show", &id, "--format", "mermaid"]);
    people("list_table", &["list"]);
}

#[test]
fn show_fits_columns_and_colours_only_when_asked() {
    let (repo, id) = release();
    let out = nexo_cmd()
        .current_dir(repo.path())
        .args(["show", &id])
        .env("COLUMNS", "48")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(text.lines().all(|l| l.chars().count() <= 48), "{text}");
    assert!(
        text.contains('…'),
        "long lines are cut with an ellipsis: {text}"
    );
    assert!(!text.contains('\x1b'), "no colour when piped: {text}");
    let forced = |envs: &[(&str, &str)], args: &[&str]| {
        let mut cmd = nexo_cmd();
        cmd.current_dir(repo.path()).arg("show").arg(&id).args(args);
        cmd.env_remove("NO_COLOR").env_remove("CLICOLOR_FORCE");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        stdout(&cmd.output().unwrap()).contains('\x1b')
    };
    assert!(forced(&[("CLICOLOR_FORCE", "1")], &[]));
    assert!(forced(&[], &["--color", "always"]));
    assert!(
        !forced(&[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")], &[]),
        "NO_COLOR wins"
    );
    assert!(!forced(&[("CLICOLOR_FORCE", "1")], &["--color", "never"]));
}

#[test]
fn verify_reports_for_a_reviewer() {
    let (repo, id) = release();
    let policy = "approvals:\n  policy: explicit\n  approvers: [release-manager]\n";
    std::fs::write(repo.path().join(".nexo/config.yaml"), policy).unwrap();
    repo.git(&["add", ".nexo/config.yaml"]);
    repo.git(&["commit", "-q", "-m", "The approval policy"]);
    repo.git(&["switch", "-q", "-c", "pr"]);
    std::fs::write(
        repo.path().join(".nexo/config.yaml"),
        "approvals:\n  policy: update\n",
    )
    .unwrap();
    repo.git(&["commit", "-q", "-am", "Loosen the policy"]);
    let walk = [
        "update",
        &id,
        "publish",
        "--status",
        "completed",
        "--actor",
        "codex",
    ];
    assert!(repo.nexo(&walk).status.success());
    let mut s = settings(&repo);
    s.add_filter(r"since `?[0-9a-f]{12}\b`?", "since [COMMIT]");
    s.bind(|| {
        insta::assert_snapshot!(
            "verify_markdown",
            run(
                &repo,
                &["verify", "--trusted", "main", "--format", "markdown"]
            )
        );
        insta::assert_snapshot!("verify_text", run(&repo, &["verify", "--trusted", "main"]));
    });
}

#[test]
fn templates_for_people() {
    let repo = Repo::new().deterministic();
    snap!("template_init", repo, &["template", "init"]);
    snap!("template_list", repo, &["template", "list"]);
    snap!("template_show", repo, &["template", "show", "release"]);
    snap!(
        "template_open",
        repo,
        &[
            "open",
            "--template",
            "release",
            "--var",
            "version=3.2.0",
            "--var",
            "platforms=linux,mac"
        ]
    );
    snap!(
        "template_open_missing_var",
        repo,
        &["open", "--template", "migration"]
    );
    snap!(
        "template_open_wrong_value_json",
        repo,
        &[
            "call",
            "nexo_workflow_open",
            "--input",
            r#"{"sid":"s","template":"migration","vars":{"database":"orders","change":"an index","environment":"prod"}}"#
        ]
    );
    std::fs::write(
        repo.path().join(".nexo/templates/broken.yaml"),
        "vars: {os: {type: list}}\nsteps:\n  - key: build\n    for_each: os\n  - key: ship\n    title: Ship {{verson}}\n    needs: build\n",
    )
    .unwrap();
    snap!("template_check_broken", repo, &["template", "check"]);
}
