//! What a newcomer reads in the corners: an empty or all-closed list, a
//! finished run, a run with no steps, a failure before any attempt, a
//! count of one, a missing owner, names longer than their column. Each
//! is said the way one place (src/core/words.rs) says it; snapshots,
//! since the wording is the point.

mod common;

use common::*;

/// Runs `nexo ARGS --json` in `repo` (a writing command) and returns the
/// run id it answered with.
fn opened(repo: &Repo, args: &[&str]) -> String {
    let out = repo.nexo(&[&["--json"], args].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    parse_json(&out)["run_id"].as_str().unwrap().to_string()
}

fn ok(repo: &Repo, args: &[&str]) {
    let out = repo.nexo(args);
    assert!(out.status.success(), "nexo {args:?}: {}", stderr(&out));
}

#[test]
fn a_list_of_closed_runs_says_where_they_are() {
    let repo = Repo::new().deterministic();
    snap!("list_nothing_yet", repo, &["list"]);
    let id = opened(&repo, &["open", "Ship it", "-s", "ship"]);
    ok(&repo, &["update", &id, "ship", "--status", "completed"]);
    snap!("list_all_closed", repo, &["list"]);
    snap!(
        "list_none_with_status",
        repo,
        &["list", "--status", "running"]
    );
    ok(&repo, &["goal", "open", "Ship v2", "--sid", "s"]);
    let goal = parse_json(&repo.nexo(&["--json", "goal", "list"]))["goals"][0]["goal_id"]
        .as_str()
        .unwrap()
        .to_string();
    ok(&repo, &["goal", "update", &goal, "--status", "abandoned"]);
    snap!("goal_list_all_closed", repo, &["goal", "list"]);
}

/// A run completed after its gate was approved: the approval's next
/// action ("Continue with step ...") is stale, and no view repeats it.
#[test]
fn a_finished_run_resumes_to_nothing_and_repeats_no_stale_next_action() {
    let repo = Repo::new().deterministic();
    let id = opened(
        &repo,
        &["open", "Publish v3.1.1", "-s", "publish:Publish release"],
    );
    ok(
        &repo,
        &[
            "update",
            &id,
            "publish",
            "--status",
            "blocked",
            "--requires-approval",
        ],
    );
    ok(
        &repo,
        &["approve", &id, "publish", "--actor", "release-manager"],
    );
    ok(&repo, &["update", &id, "publish", "--status", "completed"]);
    snap!("resume_completed", repo, &["resume", &id]);
    snap!("show_completed", repo, &["show", &id]);
}

#[test]
fn a_run_without_steps_says_how_to_add_one() {
    let repo = Repo::new().deterministic();
    let id = opened(&repo, &["open", "Plan the migration"]);
    snap!("resume_no_steps", repo, &["resume", &id]);
    snap!("get_no_steps", repo, &["get", &id]);
    // Closed by hand, with no step: the timeline says what the update did.
    ok(&repo, &["update", &id, "--run-status", "cancelled"]);
    snap!("show_cancelled_no_steps", repo, &["show", &id]);
}

/// A goal with one run counts it in the singular.
#[test]
fn a_goal_counts_its_runs_in_their_number() {
    let repo = Repo::new().deterministic();
    let v = parse_json(&repo.nexo(&["--json", "goal", "open", "Ship v2", "--sid", "s"]));
    let goal = v["goal_id"].as_str().unwrap().to_string();
    ok(&repo, &["open", "Release", "--goal", &goal]);
    snap!("goal_get_one_run", repo, &["goal", "get", &goal]);
}

/// An agent may report a failure without marking the step running first:
/// no attempt was counted, and no text says "attempt 0".
#[test]
fn a_failure_before_any_attempt_is_not_called_attempt_0() {
    let repo = Repo::new().deterministic();
    let id = opened(
        &repo,
        &[
            "open",
            "Migrate the database",
            "-s",
            "migrate",
            "-s",
            "verify",
        ],
    );
    ok(
        &repo,
        &[
            "update",
            &id,
            "migrate",
            "--status",
            "failed",
            "--compensation",
            "restore the snapshot",
        ],
    );
    snap!("resume_failed_no_attempt", repo, &["resume", &id]);
    snap!("compensation_failed_step", repo, &["compensation", &id]);
    ok(&repo, &["update", &id, "migrate", "--max-retries", "2"]);
    snap!("resume_retry_no_attempt", repo, &["resume", &id]);
    ok(&repo, &["update", &id, "verify", "--status", "completed"]);
    snap!(
        "markdown_no_attempts",
        repo,
        &["show", &id, "--format", "markdown"]
    );
}

/// One step is "1 step"; a run nobody owns is owned by "nobody",
/// everywhere it shows.
#[test]
fn a_count_of_one_is_singular_and_a_missing_owner_is_nobody() {
    let repo = Repo::new().deterministic();
    let id = opened(&repo, &["open", "Tidy the changelog", "-s", "tidy"]);
    snap!("doctor_one_run", repo, &["doctor"]);
    snap!(
        "open_one_step",
        repo,
        &["open", "Write the notes", "-s", "write"]
    );
    snap!("list_no_owner", repo, &["list"]);
    snap!("resume_no_owner", repo, &["resume", &id]);
    snap!("show_no_owner", repo, &["show", &id]);
    snap!(
        "handoff_from_nobody",
        repo,
        &["handoff", &id, "--to", "claude_code"]
    );
    let subject = repo.git(&["log", "-1", "--format=%B"]);
    assert!(
        subject.contains("handoff nobody → claude_code"),
        "{subject}"
    );
}

/// Names longer than their column are clipped with an ellipsis; the
/// columns after them stay in line.
#[test]
fn long_names_keep_their_columns() {
    let repo = Repo::new().deterministic();
    let key = "a-very-long-step-key-that-goes-on-and-on";
    let agent = "an-agent-with-a-very-long-name-indeed";
    let id = opened(
        &repo,
        &[
            "open",
            "Long names",
            "-s",
            &format!("{key}:A long title"),
            "-s",
            "b",
            "--actor",
            agent,
        ],
    );
    ok(
        &repo,
        &[
            "update",
            &id,
            key,
            "--status",
            "running",
            "--label",
            "a-checkpoint-label-that-is-long-too",
            "--actor",
            agent,
            "--summary",
            "did things",
        ],
    );
    ok(&repo, &["update", &id, "b", "--status", "running"]);
    snap!("replay_long_names", repo, &["replay", &id]);
    snap!("get_long_names", repo, &["get", &id]);
    snap!("ready_long_names", repo, &["ready", "--all"]);
}

/// A commit the next nexo write may fold into its own says so, and then
/// is gone from the branch as it said; under `commit: each` nothing is
/// folded and nothing is said.
#[test]
fn a_commit_that_may_be_folded_says_so() {
    let repo = Repo::new();
    let id = opened(&repo, &["open", "Release", "-s", "build"]);
    let out = repo.nexo(&["update", &id, "build", "--status", "running"]);
    let text = stdout(&out);
    let line = text.lines().find(|l| l.starts_with("committed ")).unwrap();
    assert!(
        line.ends_with(" (may be folded into the next nexo commit)"),
        "{text}"
    );
    let hash = line.split(' ').nth(1).unwrap().to_string();
    ok(&repo, &["update", &id, "build", "--status", "completed"]);
    let log = repo.git(&["log", "--format=%h %H"]);
    assert!(!log.contains(&hash), "folded as it said: {log}");

    let each = Repo::new();
    each.commit_each();
    let id = opened(&each, &["open", "Release", "-s", "build"]);
    let text = stdout(&each.nexo(&["update", &id, "build", "--status", "running"]));
    assert!(!text.contains("folded"), "{text}");
    let line = text.lines().find(|l| l.starts_with("committed ")).unwrap();
    let hash = line.split(' ').nth(1).unwrap().to_string();
    ok(&each, &["update", &id, "build", "--status", "completed"]);
    assert!(each.git(&["log", "--format=%H"]).contains(&hash));
}
