//! Coalescing: a burst of writes becomes one commit that lists every
//! change, and a commit anyone else may have seen (pushed, branched,
//! tagged, stashed on, or the user's own) is never rewritten.

mod common;

use common::*;
use serde_json::json;

fn update(repo: &Repo, id: &str, step: &str, status: &str, summary: &str) -> serde_json::Value {
    repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "step_key": step, "step_status": status, "summary": summary}),
    )
}

fn head(repo: &Repo) -> String {
    repo.git(&["rev-parse", "HEAD"]).trim().to_string()
}

fn message(repo: &Repo) -> String {
    repo.git(&["log", "-1", "--format=%B"])
}

#[test]
fn a_burst_of_writes_is_one_commit_holding_every_event() {
    let repo = Repo::new();
    let before = repo.commit_count();
    let id = repo.open_release();
    update(&repo, &id, "doctor", "completed", "doctor clean");
    update(&repo, &id, "package", "completed", "checksums verified");
    let last = update(&repo, &id, "publish", "running", "publishing");
    assert_eq!(repo.commit_count(), before + 1, "one commit for the burst");
    assert_eq!(last["commit"].as_str().unwrap(), head(&repo));
    let msg = message(&repo);
    assert!(
        msg.starts_with(&format!("nexo: 4 changes to {id}\n\n")),
        "{msg}"
    );
    for line in [
        format!("- {id} opened: Prepare and publish v3.1.1"),
        format!("- {id} doctor → completed: doctor clean"),
        format!("- {id} package → completed: checksums verified"),
        format!("- {id} publish → running: publishing"),
    ] {
        assert!(msg.contains(&line), "{line:?} missing:\n{msg}");
    }
    assert_eq!(msg.matches("Nexo-Event: ").count(), 4, "{msg}");
    assert_eq!(msg.matches(&format!("Nexo-Run: {id}")).count(), 1, "{msg}");
    // HEAD holds all four events, the parent is the user's, and the
    // reflog records each amend as git does.
    let history = repo.git(&[
        "show",
        &format!("HEAD:{rr}/history.jsonl", rr = run_rel(&id)),
    ]);
    assert_eq!(history.lines().count(), 4);
    assert_eq!(
        repo.git(&["log", "-1", "--format=%s", "HEAD~1"]).trim(),
        "initial"
    );
    let reflog = repo.git(&["reflog", "-1", "--format=%gs"]);
    assert!(
        reflog.starts_with("commit (amend): nexo: 4 changes"),
        "{reflog}"
    );
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    repo.git(&["fsck", "--strict", "--no-progress"]);
}

#[test]
fn a_commit_another_ref_points_at_is_never_rewritten() {
    for how in ["branch", "tag", "remote"] {
        let repo = Repo::new();
        let id = repo.open_release();
        let shared = head(&repo);
        let remote = tempfile::tempdir().unwrap();
        match how {
            "branch" => {
                repo.git(&["branch", "keep"]);
            }
            "tag" => {
                repo.git(&["tag", "v1"]);
            }
            _ => {
                let bare = remote.path().join("r.git");
                git_in(
                    remote.path(),
                    &["init", "-q", "--bare", bare.to_str().unwrap()],
                );
                repo.git(&["remote", "add", "origin", bare.to_str().unwrap()]);
                repo.git(&["push", "-q", "-u", "origin", "main"]);
            }
        }
        update(
            &repo,
            &id,
            "doctor",
            "completed",
            &format!("after the {how}"),
        );
        assert_ne!(head(&repo), shared, "{how}: a new commit");
        assert_eq!(
            repo.git(&["rev-parse", "HEAD~1"]).trim(),
            shared,
            "{how}: the shared commit is kept, as the parent"
        );
        assert!(
            message(&repo).starts_with(&format!("nexo: {id} doctor → completed")),
            "{how}"
        );
    }
}

#[test]
fn a_commit_something_was_built_on_is_never_rewritten() {
    let repo = Repo::new();
    let id = repo.open_release();
    let shared = head(&repo);
    // A stash records HEAD as its parent.
    std::fs::write(repo.path().join("README.md"), "work in progress\n").unwrap();
    repo.git(&["stash", "-q"]);
    update(&repo, &id, "doctor", "completed", "x");
    assert_eq!(repo.git(&["rev-parse", "HEAD~1"]).trim(), shared);
    repo.git(&["stash", "pop", "-q"]);
    assert_eq!(
        std::fs::read_to_string(repo.path().join("README.md")).unwrap(),
        "work in progress\n"
    );
}

#[test]
fn the_users_commits_are_never_rewritten() {
    let repo = Repo::new();
    let id = repo.open_release();
    // The user's own commit on top.
    std::fs::write(repo.path().join("notes.txt"), "mine\n").unwrap();
    repo.git(&["add", "notes.txt"]);
    repo.git(&["commit", "-q", "-m", "my notes"]);
    let mine = head(&repo);
    update(&repo, &id, "doctor", "completed", "x");
    assert_eq!(repo.git(&["rev-parse", "HEAD~1"]).trim(), mine);
    // The user amends nexo's commit with a file of their own: it is theirs
    // now, even with nexo's trailers in it.
    std::fs::write(repo.path().join("more.txt"), "mine too\n").unwrap();
    repo.git(&["add", "more.txt"]);
    repo.git(&["commit", "-q", "--amend", "--no-edit"]);
    let amended = head(&repo);
    update(&repo, &id, "package", "running", "y");
    assert_eq!(repo.git(&["rev-parse", "HEAD~1"]).trim(), amended);
    // The user commits .nexo/ by hand with a message of their own.
    repo.nexo(&[
        "--no-commit",
        "update",
        &id,
        "package",
        "--summary",
        "by hand",
    ]);
    repo.git(&["add", ".nexo"]);
    repo.git(&["commit", "-q", "-m", "record nexo by hand"]);
    let by_hand = head(&repo);
    update(&repo, &id, "package", "completed", "z");
    assert_eq!(repo.git(&["rev-parse", "HEAD~1"]).trim(), by_hand);
    assert_eq!(
        repo.git(&["log", "-1", "--format=%s", "HEAD~1"]).trim(),
        "record nexo by hand"
    );
}

#[test]
fn commit_each_keeps_one_commit_per_change() {
    let repo = Repo::new();
    repo.commit_each();
    let before = repo.commit_count();
    let id = repo.open_release();
    update(&repo, &id, "doctor", "completed", "doctor clean");
    update(&repo, &id, "package", "completed", "ok");
    assert_eq!(repo.commit_count(), before + 3);
    assert_eq!(
        repo.git(&["log", "-1", "--format=%s"]).trim(),
        format!("nexo: {id} package → completed: ok")
    );
}

#[test]
fn messages_carry_summaries_within_72_characters_and_no_control_characters() {
    let repo = Repo::new();
    repo.commit_each();
    let id = repo.open_release();
    repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "step_key": "publish", "step_status": "completed",
                "summary": "smoke test clean on every region of the fleet, with canaries green for an hour",
                "evidence": "https://ci.example/run/812"}),
    );
    let msg = message(&repo);
    let subject = msg.lines().next().unwrap();
    assert!(subject.chars().count() <= 72, "{subject}");
    assert!(
        subject.starts_with(&format!("nexo: {id} publish → completed: smoke test")),
        "{subject}"
    );
    assert!(
        msg.contains("canaries green for an hour (evidence: https://ci.example/run/812)"),
        "{msg}"
    );
    // What slipped past validation (a peer's line, an older nexo) is still
    // escaped: here the bytes nexo itself refuses are checked on the way in.
    let (code, _) = repo.call_err(
        "nexo_workflow_update",
        &json!({"run_id": id, "summary": "bell \u{7} and escape \u{1b}[31m"}).to_string(),
    );
    assert_eq!(code, 2);
    let raw = repo.git(&["log", "--format=%B"]);
    assert!(!raw.chars().any(|c| c.is_control() && c != '\n'), "{raw:?}");
    // Approvals say who gave them.
    repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "step_key": "package", "requires_approval": true, "step_status": "blocked"}),
    );
    repo.call(
        "nexo_workflow_approve",
        &json!({"run_id": id, "step_key": "package", "actor": "lead"}),
    );
    assert!(message(&repo).starts_with(&format!("nexo: {id} package approved by lead")));
}

#[test]
fn sync_publishes_the_coalesced_commit_and_clones_converge() {
    let a = Repo::new();
    let shared = a.share();
    let (bare, b_dir) = (shared.bare.clone(), shared.other.clone());
    let id = a.open_release();
    update(&a, &id, "doctor", "completed", "a1");
    update(&a, &id, "package", "running", "a2");
    let coalesced = head(&a);
    assert!(nexo_in(a.path(), &["sync"]).status.success());
    assert_eq!(
        git_in(&bare, &["rev-parse", "main"]).trim(),
        coalesced,
        "pushed as it is"
    );
    assert!(nexo_in(&b_dir, &["sync"]).status.success());
    // Both work concurrently in bursts, then sync.
    update(&a, &id, "package", "completed", "a3");
    update(&a, &id, "publish", "blocked", "a4");
    let b_update = |status: &str, summary: &str| {
        let out = nexo_in(
            &b_dir,
            &[
                "call",
                "nexo_workflow_update",
                "--input",
                &json!({"run_id": id, "summary": summary, "next_action": status}).to_string(),
            ],
        );
        assert!(out.status.success(), "{}", stderr(&out));
    };
    b_update("b-next-1", "b1");
    b_update("b-next-2", "b2");
    for dir in [a.path(), b_dir.as_path(), a.path()] {
        let out = nexo_in(dir, &["sync"]);
        assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    }
    let history = |dir: &std::path::Path| {
        let mut lines: Vec<String> =
            std::fs::read_to_string(dir.join(format!("{rr}/history.jsonl", rr = run_rel(&id))))
                .unwrap()
                .lines()
                .map(String::from)
                .collect();
        lines.sort();
        lines
    };
    assert_eq!(history(a.path()), history(&b_dir));
    assert_eq!(history(a.path()).len(), 7, "every event of both clones");
    // The pushed coalesced commit is still in the history.
    git_in(
        a.path(),
        &["merge-base", "--is-ancestor", &coalesced, "HEAD"],
    );
}
