//! The command line as a newcomer types it: the global flags in any
//! position, and refusals in its own terms (the flags a person typed,
//! never the tool interface's JSON fields).

mod common;

use common::*;

fn open(repo: &Repo, args: &[&str]) -> String {
    let v = nexo_ok(repo.path(), &[&["--json", "open"], args].concat());
    v["run_id"].as_str().unwrap().to_string()
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
