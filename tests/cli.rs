//! The command line as a newcomer types it: the global flags in any
//! position, and refusals in its own terms (the flags a person typed,
//! never the tool interface's JSON fields).

mod common;

use common::*;

/// Opens a run with `nexo open ARGS` (with the repository's own ids, when
/// it is deterministic) and returns its id.
fn open(repo: &Repo, args: &[&str]) -> String {
    let out = repo.nexo(&[&["--json", "open"], args].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    parse_json(&out)["run_id"].as_str().unwrap().to_string()
}

/// Every read and write takes `-C`, `--json`, `--no-commit` and
/// `--actor` after its name, as the README says they do.
#[test]
fn the_global_flags_work_after_every_command() {
    let repo = Repo::new();
    let id = open(&repo, &["Release", "-s", "build", "-s", "ship"]);
    let elsewhere = tempfile::tempdir().unwrap();
    let dir = repo.path().to_str().unwrap();
    for args in [
        vec!["list", "--no-commit", "--json"],
        vec!["show", &id, "--json"],
        vec!["get", &id, "--json"],
        vec!["replay", &id, "--json"],
        vec!["resume", &id, "--json", "--actor", "claude"],
        vec!["compensation", &id, "--json"],
        vec!["doctor", "--json", "--no-commit"],
        vec!["verify", "--json"],
        vec!["ready", "--json", "--actor", "codex"],
        vec!["prime", "--json"],
        vec!["goal", "list", "--json"],
        vec!["commit", "--json"],
    ] {
        let mut with_dir = args.clone();
        with_dir.extend(["-C", dir]);
        let v = nexo_ok(elsewhere.path(), &with_dir);
        assert_eq!(v["ok"], true, "nexo {with_dir:?}: {v}");
    }
    let commits = repo.commit_count();
    let v = nexo_ok(
        elsewhere.path(),
        &[
            "update",
            &id,
            "build",
            "--status",
            "running",
            "-C",
            dir,
            "--no-commit",
            "--json",
            "--actor",
            "codex",
        ],
    );
    assert_eq!(v["committed"], false, "{v}");
    assert_eq!(
        repo.commit_count(),
        commits,
        "--no-commit after the command"
    );
    let resumed = nexo_ok(repo.path(), &["resume", &id, "--actor", "claude", "--json"]);
    assert_eq!(resumed["resume_state"], "running", "{resumed}");
}

/// What a person who typed flags reads when nexo refuses: the flags (or
/// the command that would be right), never the tool interface's fields.
#[test]
fn refusals_name_the_flags_that_were_typed() {
    let repo = Repo::new().deterministic();
    let id = open(&repo, &["Release", "-s", "build", "-s", "publish"]);
    snap!("error_approve_no_gate", repo, &["approve", &id, "publish"]);
    snap!(
        "error_step_not_a_key",
        repo,
        &["open", "Release", "-s", "build it"]
    );
    snap!(
        "error_step_twice",
        repo,
        &["open", "Release", "-s", "a:Build", "-s", "a:Ship"]
    );
    snap!(
        "error_needs_itself",
        repo,
        &["open", "Release", "-s", "a", "--needs", "a=a"]
    );
    snap!(
        "error_unknown_goal",
        repo,
        &["open", "Release", "--goal", "WG-ZZZZ"]
    );
    snap!(
        "error_ttl_out_of_range",
        repo,
        &["claim", &id, "build", "--ttl", "9000h"]
    );
    snap!("error_goal_no_title", repo, &["goal", "open", " "]);
    snap!("error_setup_ci_unnamed", repo, &["setup", "ci"]);
    let gated = [
        "update",
        &id,
        "publish",
        "--status",
        "blocked",
        "--requires-approval",
    ];
    assert!(repo.nexo(&gated).status.success());
    let reject = [
        "reject",
        &id,
        "publish",
        "--reason",
        "notes missing",
        "--actor",
        "rm",
    ];
    assert!(repo.nexo(&reject).status.success());
    snap!(
        "error_rejected_step_moved_on",
        repo,
        &["update", &id, "publish", "--status", "running"]
    );
}

/// The tool interface keeps naming its own fields for the same refusals.
#[test]
fn the_tool_interface_still_names_its_fields() {
    let repo = Repo::new();
    let id = repo.open_release();
    let (_, v) = repo.call_err(
        "nexo_workflow_approve",
        &serde_json::json!({"run_id": id, "step_key": "publish", "actor": "rm"}).to_string(),
    );
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("mark it with requires_approval first"),
        "{v}"
    );
    let (_, v) = repo.call_err(
        "nexo_workflow_open",
        r#"{"sid":"s","goal":"g","steps":[{"key":"a","title":"A"},{"key":"a","title":"B"}]}"#,
    );
    assert!(v["error"].as_str().unwrap().contains("in steps:"), "{v}");
}

/// `nexo update RUN STEP` with nothing to change is refused, exactly as
/// `nexo update RUN` is, and writes nothing.
#[test]
fn an_update_that_changes_nothing_is_refused_with_or_without_a_step() {
    let repo = Repo::new().deterministic();
    let id = open(&repo, &["Release", "-s", "build"]);
    let commits = repo.commit_count();
    let files = repo.nexo_files();
    let bare = repo.nexo(&["update", &id]);
    let with_step = repo.nexo(&["update", &id, "build"]);
    assert_eq!(bare.status.code(), Some(2));
    assert_eq!(with_step.status.code(), Some(2));
    assert_eq!(stderr(&bare), stderr(&with_step));
    assert_eq!(repo.commit_count(), commits);
    assert_eq!(repo.nexo_files(), files, "nothing written");
    snap!("error_update_nothing", repo, &["update", &id, "build"]);
}

/// Taking a completed run up again is said, in the answer and in the
/// commit message; it is never silent.
#[test]
fn reopening_a_completed_run_is_said() {
    let repo = Repo::new().deterministic();
    let id = open(&repo, &["Release", "-s", "ship"]);
    assert!(
        repo.nexo(&["update", &id, "ship", "--status", "completed"])
            .status
            .success()
    );
    snap!(
        "update_reopens",
        repo,
        &[
            "update",
            &id,
            "ship",
            "--status",
            "running",
            "--summary",
            "one more fix"
        ]
    );
    let message = repo.git(&["log", "-1", "--format=%B"]);
    assert!(
        message.contains("ship → running (reopens the completed run): one more fix"),
        "{message}"
    );
    let v = nexo_ok(
        repo.path(),
        &["--json", "update", &id, "ship", "--status", "completed"],
    );
    assert!(
        v.get("warnings").is_none(),
        "completing again reopens nothing: {v}"
    );
    let v = nexo_ok(
        repo.path(),
        &["--json", "update", &id, "ship", "--status", "running"],
    );
    assert!(
        v["warnings"][0].as_str().unwrap().contains("reopened run"),
        "the tool interface's answer says it too: {v}"
    );
}

/// A claim says once what happened: claimed, renewed, taken over or
/// stolen; `ready --claim` does not say it twice.
#[test]
fn a_claim_says_what_it_did_once() {
    let repo = Repo::new().deterministic();
    let id = open(&repo, &["Release", "-s", "build", "-s", "ship"]);
    snap!(
        "claim_new",
        repo,
        &["claim", &id, "build", "--actor", "codex"]
    );
    snap!(
        "claim_renewed",
        repo,
        &["claim", &id, "build", "--actor", "codex"]
    );
    snap!(
        "claim_stolen",
        repo,
        &["claim", &id, "build", "--actor", "claude", "--steal"]
    );
    open(&repo, &["Docs", "-s", "write"]);
    snap!(
        "ready_claim",
        repo,
        &["ready", "--claim", "--actor", "gemini"]
    );
}

/// Where `setup ci` points a user with the binary only: its own help,
/// which holds GitLab's job as YAML that parses, the job docs/cli.md shows.
#[test]
fn setup_ci_points_to_help_the_binary_has() {
    let repo = Repo::new();
    let out = repo.nexo(&["setup", "ci"]);
    assert!(!stderr(&out).contains("docs/"), "{}", stderr(&out));
    let help = stdout(&repo.nexo(&["setup", "--help"]));
    let job: String = help
        .split_once("GitLab CI:")
        .unwrap()
        .1
        .lines()
        .skip_while(|l| !l.starts_with("  nexo-verify:"))
        .map(|l| format!("{}\n", l.strip_prefix("  ").unwrap_or(l)))
        .collect();
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(&job).unwrap_or_else(|e| panic!("{e}:\n{job}"));
    assert!(
        yaml["nexo-verify"]["script"].as_sequence().unwrap().len() >= 4,
        "{job}"
    );
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/cli.md")).unwrap();
    for line in job.lines().filter(|l| !l.trim().is_empty()) {
        assert!(docs.contains(line), "docs/cli.md lacks {line:?}");
    }
}
