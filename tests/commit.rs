//! Every change becomes one git commit that touches nothing but .nexo/,
//! checked with the real git binary.

mod common;

use common::*;
use serde_json::json;

/// Gives `main` and a new branch `side` conflicting edits of README.md,
/// leaving `main` checked out: the next merge, rebase or cherry-pick stops.
fn diverge_readme(repo: &Repo) {
    repo.git(&["checkout", "-q", "-b", "side"]);
    std::fs::write(repo.path().join("README.md"), "side\n").unwrap();
    repo.git(&["commit", "-q", "-am", "side"]);
    repo.git(&["checkout", "-q", "main"]);
    std::fs::write(repo.path().join("README.md"), "main\n").unwrap();
    repo.git(&["commit", "-q", "-am", "main"]);
}

fn changed_paths(repo: &Repo, rev: &str) -> Vec<String> {
    repo.git(&["show", "--name-only", "--format=", rev])
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn each_write_is_one_commit_of_nexo_paths_with_trailers() {
    let repo = Repo::new();
    repo.commit_each();
    let before = repo.commit_count();
    let id = repo.open_release();
    assert_eq!(repo.commit_count(), before + 1);
    let paths = changed_paths(&repo, "HEAD");
    assert!(paths.iter().all(|p| p.starts_with(".nexo/")), "{paths:?}");
    assert!(
        paths.contains(&".nexo/.gitattributes".to_string()),
        "{paths:?}"
    );
    assert!(paths.contains(&format!("{rr}/history.jsonl", rr = run_rel(&id))));
    assert!(paths.contains(&format!("{rr}/steps/publish.yaml", rr = run_rel(&id))));

    let v = repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "step_key": "doctor", "step_status": "completed"}),
    );
    assert_eq!(repo.commit_count(), before + 2);
    let head = repo.git(&["rev-parse", "HEAD"]);
    assert_eq!(v["commit"].as_str().unwrap(), head.trim());
    let msg = repo.git(&["log", "-1", "--format=%B"]);
    assert!(
        msg.starts_with(&format!("nexo: {id} doctor → completed\n")),
        "{msg}"
    );
    assert!(msg.contains(&format!("Nexo-Run: {id}")), "{msg}");
    assert!(
        msg.contains(&format!("Nexo-Event: {}", v["event_id"].as_str().unwrap())),
        "{msg}"
    );
    // Only what changed: the history, run.yaml, doctor's view.
    let mut paths = changed_paths(&repo, "HEAD");
    paths.sort();
    assert_eq!(
        paths,
        [
            format!("{rr}/history.jsonl", rr = run_rel(&id)),
            format!("{rr}/run.yaml", rr = run_rel(&id)),
            format!("{rr}/steps/doctor.yaml", rr = run_rel(&id)),
        ]
    );
    // Reads make no commits; the reflog records ours.
    repo.call("nexo_workflow_resume", &json!({"run_id": id}));
    assert_eq!(repo.commit_count(), before + 2);
    let reflog = repo.git(&["reflog", "-1", "--format=%gs"]);
    assert!(reflog.starts_with("commit: nexo:"), "{reflog}");
    // Author and committer are the repository's identity.
    assert_eq!(
        repo.git(&["log", "-1", "--format=%an <%ae>|%cn"]).trim(),
        "Test User <test@example.com>|Test User"
    );
    repo.git(&["fsck", "--strict", "--no-progress"]);
}

#[test]
fn the_users_work_is_left_exactly_as_it_was() {
    let repo = Repo::new();
    std::fs::write(repo.path().join("staged.txt"), "staged\n").unwrap();
    repo.git(&["add", "staged.txt"]);
    std::fs::write(repo.path().join("README.md"), "# edited, not staged\n").unwrap();
    std::fs::write(repo.path().join("untracked.txt"), "mine\n").unwrap();
    let status_before = repo.git(&["status", "--porcelain"]);

    let id = repo.open_release();
    repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "step_key": "doctor", "step_status": "running"}),
    );

    // nexo's (coalesced) commit holds only .nexo/ paths, on the user's
    // last commit; the user's status is unchanged.
    assert!(
        changed_paths(&repo, "HEAD")
            .iter()
            .all(|p| p.starts_with(".nexo/"))
    );
    assert_eq!(
        repo.git(&["log", "-1", "--format=%s", "HEAD~1"]).trim(),
        "initial"
    );
    assert_eq!(repo.git(&["status", "--porcelain"]), status_before);
    assert_eq!(
        repo.git(&["diff", "--cached", "--name-only"]),
        "staged.txt\n"
    );

    // The user's next commit neither reverts nor re-adds nexo's change.
    let nexo_tree = repo.git(&["rev-parse", "HEAD:.nexo"]);
    repo.git(&["commit", "-q", "-am", "user work"]);
    assert_eq!(repo.git(&["rev-parse", "HEAD:.nexo"]), nexo_tree);
    let mut paths = changed_paths(&repo, "HEAD");
    paths.sort();
    assert_eq!(paths, ["README.md", "staged.txt"]);
    assert_eq!(repo.git(&["status", "--porcelain"]), "?? untracked.txt\n");
    repo.git(&["fsck", "--strict", "--no-progress"]);
}

#[test]
fn a_repository_without_commits_gets_a_root_commit() {
    let repo = Repo::empty();
    let id = repo.open_release();
    assert_eq!(repo.commit_count(), 1);
    assert_eq!(
        repo.git(&["rev-list", "--max-parents=0", "HEAD"]).trim(),
        repo.git(&["rev-parse", "HEAD"]).trim()
    );
    assert!(
        repo.git(&["ls-files"])
            .contains(&format!("{rr}/history.jsonl", rr = run_rel(&id)))
    );
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    assert_eq!(
        repo.git(&["symbolic-ref", "HEAD"]).trim(),
        "refs/heads/main"
    );
}

#[test]
fn a_detached_head_moves_and_the_branch_stays() {
    let repo = Repo::new();
    let main = repo.git(&["rev-parse", "main"]);
    repo.git(&["checkout", "-q", "--detach"]);
    repo.open_release();
    assert_eq!(repo.git(&["rev-parse", "main"]), main);
    assert_ne!(repo.git(&["rev-parse", "HEAD"]), main);
    assert!(
        repo.git_output(&["symbolic-ref", "-q", "HEAD"])
            .status
            .code()
            != Some(0)
    );
}

#[test]
fn during_a_merge_files_are_written_and_committed_afterwards() {
    let repo = Repo::new();
    let id = repo.open_release();
    diverge_readme(&repo);
    let merge = repo.git_output(&["merge", "side"]);
    assert!(!merge.status.success(), "the merge should conflict");
    let commits = repo.commit_count();

    let v = repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "step_key": "doctor", "step_status": "completed"}),
    );
    assert!(v["commit"].is_null());
    assert!(
        v["pending_reason"]
            .as_str()
            .unwrap()
            .contains("in progress"),
        "{v}"
    );
    assert_eq!(repo.commit_count(), commits);
    let history = std::fs::read_to_string(
        repo.path()
            .join(format!("{rr}/history.jsonl", rr = run_rel(&id))),
    )
    .unwrap();
    assert_eq!(history.lines().count(), 2);

    // The user finishes the merge with their own files only.
    std::fs::write(repo.path().join("README.md"), "merged\n").unwrap();
    repo.git(&["add", "README.md"]);
    repo.git(&["commit", "-q", "--no-edit"]);
    let out = repo.nexo(&["commit"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        changed_paths(&repo, "HEAD")
            .iter()
            .all(|p| p.starts_with(".nexo/"))
    );
    assert_eq!(
        repo.git(&[
            "show",
            &format!("HEAD:{rr}/history.jsonl", rr = run_rel(&id))
        ]),
        history
    );
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    // And nothing is left to commit.
    let out = repo.nexo(&["commit"]);
    assert!(stdout(&out).contains("Nothing to commit"));
}

#[test]
fn pending_changes_ride_along_with_the_next_commit() {
    let repo = Repo::new();
    repo.commit_each();
    let id = repo.open_release();
    let out = repo.nexo(&[
        "--no-commit",
        "update",
        &id,
        "doctor",
        "--status",
        "completed",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("not committed"), "{}", stdout(&out));
    assert!(!repo.git(&["status", "--porcelain"]).is_empty());
    let commits = repo.commit_count();
    repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "step_key": "package", "step_status": "running"}),
    );
    assert_eq!(repo.commit_count(), commits + 1);
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
}

#[test]
fn commit_false_in_config_leaves_changes_in_the_working_tree() {
    let repo = Repo::new();
    std::fs::create_dir_all(repo.path().join(".nexo")).unwrap();
    std::fs::write(repo.path().join(".nexo/config.yaml"), "commit: false\n").unwrap();
    let commits = repo.commit_count();
    let id = repo.open_release();
    assert_eq!(repo.commit_count(), commits);
    let out = repo.nexo(&["--json", "commit"]);
    let v = parse_json(&out);
    assert!(v["commit"].is_string(), "{v}");
    assert!(
        v["paths"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == &json!(format!("{rr}/history.jsonl", rr = run_rel(&id))))
    );
    assert!(
        v["paths"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == ".nexo/config.yaml")
    );
    assert_eq!(repo.git(&["status", "--porcelain"]), "");

    std::fs::write(repo.path().join(".nexo/config.yaml"), "comit: false\n").unwrap();
    let (code, v) = repo.call_err("nexo_workflow_list", "{}");
    assert_eq!(code, 2);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("unknown field `comit`"),
        "{v}"
    );
}

#[test]
fn a_bare_repository_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    git_in(dir.path(), &["init", "-q", "--bare"]);
    let out = nexo_in(dir.path(), &["call", "nexo_workflow_list"]);
    assert_eq!(out.status.code(), Some(6));
    assert!(
        parse_json(&out)["error"]
            .as_str()
            .unwrap()
            .contains("bare repository")
    );
}

#[test]
fn a_linked_worktree_commits_on_its_own_branch() {
    let repo = Repo::new();
    let wt = tempfile::tempdir().unwrap();
    let wt_path = wt.path().join("wt");
    repo.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "feature",
        wt_path.to_str().unwrap(),
    ]);
    let main = repo.git(&["rev-parse", "main"]);
    let out = nexo_in(&wt_path, &["open", "in a worktree", "--step", "a"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(repo.git(&["rev-parse", "main"]), main, "main moved");
    assert_eq!(
        git_in(&wt_path, &["rev-list", "--count", "feature"]).trim(),
        "2"
    );
    assert_eq!(git_in(&wt_path, &["status", "--porcelain"]), "");
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
}

#[test]
fn a_sparse_index_is_refused_with_nothing_written() {
    let repo = Repo::new();
    std::fs::create_dir_all(repo.path().join("dir")).unwrap();
    std::fs::write(repo.path().join("dir/f"), "x").unwrap();
    repo.git(&["add", "dir"]);
    repo.git(&["commit", "-q", "-m", "dir"]);
    repo.git(&["sparse-checkout", "init", "--cone", "--sparse-index"]);
    let (code, v) = repo.call_err("nexo_workflow_open", r#"{"sid":"s","goal":"g"}"#);
    assert_eq!(code, 6);
    assert!(v["error"].as_str().unwrap().contains("sparse index"), "{v}");
    assert!(!repo.path().join(".nexo").exists());
}

#[test]
fn a_held_index_lock_is_a_clear_error_with_nothing_written() {
    let repo = Repo::new();
    let id = repo.open_release();
    let lock = repo.path().join(".git/index.lock");
    std::fs::write(&lock, "").unwrap();
    let files = repo.nexo_files();
    let commits = repo.commit_count();
    let (code, v) = repo.call_err(
        "nexo_workflow_update",
        &json!({"run_id": id, "summary": "x"}).to_string(),
    );
    assert_eq!(code, 8);
    assert!(
        v["error"].as_str().unwrap().contains("index is locked"),
        "{v}"
    );
    assert_eq!(repo.nexo_files(), files);
    assert_eq!(repo.commit_count(), commits);
    std::fs::remove_file(&lock).unwrap();
    repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "summary": "x"}),
    );
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
}

#[test]
fn a_missing_identity_is_explained() {
    let repo = Repo::new();
    repo.git(&["config", "--unset", "user.name"]);
    repo.git(&["config", "--unset", "user.email"]);
    let out = nexo_cmd()
        .current_dir(repo.path())
        .args([
            "call",
            "nexo_workflow_open",
            "--input",
            r#"{"sid":"s","goal":"g"}"#,
        ])
        .env("HOME", repo.path())
        .env("XDG_CONFIG_HOME", repo.path())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env_remove("EMAIL")
        .env_remove("GIT_AUTHOR_NAME")
        .env_remove("GIT_COMMITTER_NAME")
        .env_remove("GIT_AUTHOR_EMAIL")
        .env_remove("GIT_COMMITTER_EMAIL")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6), "{}", stdout(&out));
    let v = parse_json(&out);
    assert!(
        v["error"].as_str().unwrap().contains("no git identity"),
        "{v}"
    );
    assert!(
        v["hint"].as_str().unwrap().contains("git config user.name"),
        "{v}"
    );
    assert!(!repo.path().join(".nexo").exists());
}

#[test]
fn the_committer_is_who_and_when_git_would_say() {
    let repo = Repo::new();
    // git's own environment variables win over the configuration, and a
    // committer date is read as git reads it.
    let out = nexo_cmd()
        .current_dir(repo.path())
        .args([
            "call",
            "nexo_workflow_open",
            "--input",
            r#"{"sid":"s","goal":"g"}"#,
        ])
        .env("GIT_COMMITTER_NAME", "Env Committer")
        .env("GIT_COMMITTER_EMAIL", "env@example.com")
        .env("GIT_COMMITTER_DATE", "2024-05-06T07:08:09+02:00")
        .env_remove("NEXO_ACTOR")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stdout(&out));
    let head = repo.git(&["log", "-1", "--format=%cn|%ce|%cI|%an|%ae"]);
    assert_eq!(
        head.trim(),
        "Env Committer|env@example.com|2024-05-06T07:08:09+02:00|Env Committer|env@example.com"
    );
    // Without them: the configured name, and now with the local offset.
    repo.call(
        "nexo_workflow_update",
        &serde_json::json!({"run_id": parse_json(&out)["run_id"], "summary": "later"}),
    );
    let head = repo.git(&["log", "-1", "--format=%cn|%ce|%ct"]);
    let fields: Vec<&str> = head.trim().split('|').collect();
    assert_eq!(&fields[..2], &["Test User", "test@example.com"]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (fields[2].parse::<i64>().unwrap() - now).abs() < 60,
        "{head}"
    );
    let reflog = repo.git(&["reflog", "-1", "--format=%gn"]);
    assert_eq!(reflog.trim(), "Test User");
}

#[test]
fn settings_git_would_refuse_are_refused_before_anything_is_written() {
    let repo = Repo::new();
    let id = repo.open_release();
    let before = repo.nexo_files();
    let head = repo.git(&["rev-parse", "HEAD"]);
    let input = serde_json::json!({"run_id": id, "summary": "refused?"}).to_string();
    for (key, value) in [
        ("core.looseCompression", "12"),
        ("core.compression", "fast"),
    ] {
        repo.git(&["config", key, value]);
        let out = repo.nexo(&["call", "nexo_workflow_update", "--input", &input]);
        assert!(!out.status.success(), "{key}={value} was accepted");
        let v = parse_json(&out);
        assert!(v["error"].as_str().unwrap().contains(key), "{v}");
        assert!(v["hint"].as_str().unwrap().contains("git config"), "{v}");
        repo.git(&["config", "--unset", key]);
    }
    let out = nexo_cmd()
        .current_dir(repo.path())
        .args(["call", "nexo_workflow_update", "--input", &input])
        .env("GIT_COMMITTER_DATE", "garbage")
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a garbage GIT_COMMITTER_DATE was accepted"
    );
    assert!(
        stdout(&out).contains("GIT_COMMITTER_DATE"),
        "{}",
        stdout(&out)
    );
    assert_eq!(repo.nexo_files(), before, "nothing written");
    assert_eq!(repo.git(&["rev-parse", "HEAD"]), head);
    // -1 is zlib's default level, as git reads it.
    repo.git(&["config", "core.looseCompression", "-1"]);
    repo.call(
        "nexo_workflow_update",
        &serde_json::json!({"run_id": id, "summary": "ok"}),
    );
}

#[test]
fn a_view_committed_executable_becomes_a_regular_file_again() {
    let repo = Repo::new();
    let id = repo.open_release();
    let view = format!("{rr}/run.yaml", rr = run_rel(&id));
    repo.git(&["update-index", "--chmod=+x", &view]);
    repo.git(&["commit", "-q", "-m", "make the view executable"]);
    let mode = |repo: &Repo| repo.git(&["ls-tree", "HEAD", &view]);
    assert!(mode(&repo).starts_with("100755"), "{}", mode(&repo));
    repo.call(
        "nexo_workflow_update",
        &serde_json::json!({"run_id": id, "step_key": "doctor", "step_status": "running"}),
    );
    assert!(mode(&repo).starts_with("100644"), "{}", mode(&repo));
}

#[test]
fn during_a_rebase_or_cherry_pick_nothing_is_committed() {
    for op in ["rebase", "cherry-pick"] {
        let repo = Repo::new();
        let id = repo.open_release();
        diverge_readme(&repo);
        let stopped = match op {
            "rebase" => repo.git_output(&["rebase", "side"]),
            _ => repo.git_output(&["cherry-pick", "side"]),
        };
        assert!(!stopped.status.success(), "{op} should stop on a conflict");
        let head = repo.git(&["rev-parse", "HEAD"]);
        let v = repo.call(
            "nexo_workflow_update",
            &json!({"run_id": id, "summary": format!("during {op}")}),
        );
        assert!(v["commit"].is_null(), "{op}: {v}");
        assert!(
            v["pending_reason"]
                .as_str()
                .unwrap()
                .contains("in progress"),
            "{op}: {v}"
        );
        assert_eq!(repo.git(&["rev-parse", "HEAD"]), head, "{op} moved HEAD");
    }
}
