//! Layout 2 (`.nexo/runs/<c>/<c>/<RUN_ID>/`) and the upgrade from layout 1
//! (`.nexo/runs/<RUN_ID>/`): by `doctor --fix`, by the first command, and
//! in a clone that committed events in layout 1 and then pulls the
//! upgrade, by `nexo sync` or by a plain `git pull` then `nexo sync`.

mod common;

use std::path::Path;
use std::process::Output;

use common::*;
use serde_json::Value;

/// nexo as a nexo of layout 1 ran it (`NEXO_TEST_FLAT_LAYOUT`).
fn flat(dir: &Path, args: &[&str]) -> Output {
    let out = nexo_cmd()
        .current_dir(dir)
        .env("NEXO_TEST_FLAT_LAYOUT", "1")
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    out
}

fn open_flat(dir: &Path, goal: &str) -> String {
    let out = flat(dir, &["--json", "open", goal, "-s", "a", "-s", "b"]);
    parse_json(&out)["run_id"].as_str().unwrap().to_string()
}

fn files(dir: &Path) -> Vec<String> {
    git_in(dir, &["ls-files", ".nexo/runs"])
        .lines()
        .map(String::from)
        .collect()
}

/// Every event id in `run`'s live history at `dir`, in order.
fn event_ids(dir: &Path, run: &str) -> Vec<String> {
    history_text(dir, run)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

fn doctor_clean(dir: &Path) {
    let out = nexo_in(dir, &["--json", "doctor"]);
    let report = parse_json(&out);
    assert_eq!(report["ok"], true, "{report:#}");
    assert!(
        files(dir).iter().all(|f| record_is_fanned(f)),
        "{:?}",
        files(dir)
    );
}

fn record_is_fanned(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    parts.len() >= 6 && run_rel(parts[4]) == parts[..5].join("/")
}

#[test]
fn new_runs_are_fanned_out_and_the_layout_is_recorded() {
    let repo = Repo::new();
    let id = repo.open_release();
    assert!(
        repo.path()
            .join(run_rel(&id))
            .join("history.jsonl")
            .is_file()
    );
    assert!(run_rel(&id).starts_with(&format!(".nexo/runs/{}/{}/WF-", &id[3..4], &id[4..5])));
    let config = std::fs::read_to_string(repo.path().join(".nexo/config.yaml")).unwrap();
    assert!(config.contains("\nlayout: 2\n"), "{config}");
    doctor_clean(repo.path());
}

#[test]
fn doctor_fix_upgrades_layout_one_in_one_commit_of_nexo_paths_only() {
    let repo = Repo::new();
    let a = open_flat(repo.path(), "first");
    let b = open_flat(repo.path(), "second");
    assert!(
        files(repo.path())
            .iter()
            .any(|f| f.starts_with(&format!(".nexo/runs/{a}/")))
    );
    // Something of the user's, staged: never part of nexo's commit.
    std::fs::write(repo.path().join("notes.txt"), "mine\n").unwrap();
    repo.git(&["add", "notes.txt"]);
    let before = repo.commit_count();
    let report = parse_json(&repo.nexo(&["--json", "doctor"]));
    assert_eq!(report["ok"], false);
    assert_eq!(report["problems"][0]["kind"], "old_layout", "{report:#}");
    let out = repo.nexo(&["--json", "doctor", "--fix"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(repo.commit_count(), before + 1);
    let subject = repo.git(&["log", "-1", "--format=%s"]);
    assert_eq!(subject.trim(), "nexo: move .nexo/runs to layout 2");
    let changed = repo.git(&["show", "--name-only", "--format=", "HEAD"]);
    assert!(
        changed.lines().all(|p| p.starts_with(".nexo/")),
        "{changed}"
    );
    // git sees the files moved, not rewritten.
    let renames = repo.git(&["show", "-M", "--name-status", "--format=", "HEAD"]);
    assert!(renames.lines().any(|l| l.starts_with("R100")), "{renames}");
    assert_eq!(
        repo.git(&["diff", "--cached", "--name-only"]).trim(),
        "notes.txt"
    );
    for id in [&a, &b] {
        assert!(
            repo.path()
                .join(run_rel(id))
                .join("history.jsonl")
                .is_file()
        );
        assert!(!repo.path().join(".nexo/runs").join(id).exists());
    }
    doctor_clean(repo.path());
    let list = nexo_ok(repo.path(), &["--json", "list"]);
    assert_eq!(list["runs"].as_array().unwrap().len(), 2);
}

#[test]
fn the_first_command_upgrades_and_the_write_follows_in_its_own_commit() {
    let repo = Repo::new();
    let a = open_flat(repo.path(), "first");
    let before = repo.commit_count();
    let out = repo.nexo(&["update", &a, "a", "--status", "completed"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("upgraded .nexo/ to layout 2"),
        "{}",
        stderr(&out)
    );
    assert_eq!(repo.commit_count(), before + 2);
    let subjects = repo.git(&["log", "-2", "--format=%s"]);
    assert!(
        subjects.lines().nth(1).unwrap().contains("layout 2"),
        "{subjects}"
    );
    assert_eq!(event_ids(repo.path(), &a).len(), 2);
    doctor_clean(repo.path());
}

#[test]
fn a_newer_layout_is_refused_with_upgrade_nexo() {
    let repo = Repo::new();
    repo.open_release();
    std::fs::write(repo.path().join(".nexo/config.yaml"), "layout: 3\n").unwrap();
    let out = repo.nexo(&["list"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("layout 3 is newer than this nexo knows"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("upgrade nexo"), "{}", stderr(&out));
}

/// A remote whose runs are in layout 1; this clone (`mine`) and a second
/// one (`other`), both of which committed an event in layout 1 on a
/// shared run, `other`'s not pushed; then `mine` upgrades and pushes.
struct Upgraded {
    repo: Repo,
    shared: Shared,
    run: String,
    /// A run only `other` has, opened in layout 1 and not pushed.
    theirs: String,
}

fn upgraded_remote_and_an_old_clone() -> Upgraded {
    let repo = Repo::new();
    let run = open_flat(repo.path(), "shared run");
    let shared = repo.share();
    let other = shared.other.clone();
    flat(
        &other,
        &[
            "update",
            &run,
            "b",
            "--status",
            "running",
            "--summary",
            "theirs",
        ],
    );
    let theirs = open_flat(&other, "only theirs");
    let out = repo.nexo(&["update", &run, "a", "--status", "completed"]);
    assert!(out.status.success(), "{}", stderr(&out));
    repo.git(&["push", "-q", "origin", "main"]);
    assert!(repo.path().join(run_rel(&run)).is_dir());
    Upgraded {
        repo,
        shared,
        run,
        theirs,
    }
}

fn converged(u: &Upgraded) {
    let (mine, other) = (u.repo.path(), u.shared.other.as_path());
    for dir in [mine, other] {
        let ids = event_ids(dir, &u.run);
        let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
        assert_eq!(ids.len(), unique.len(), "an event twice: {ids:?}");
        assert_eq!(ids.len(), 3, "open, theirs, mine: {ids:?}");
        assert_eq!(event_ids(dir, &u.theirs).len(), 1);
        assert!(!dir.join(".nexo/runs").join(&u.run).exists());
        doctor_clean(dir);
    }
    let run = nexo_ok(other, &["--json", "get", &u.run]);
    assert_eq!(run["run"]["steps"][0]["status"], "completed", "{run:#}");
    assert_eq!(run["run"]["steps"][1]["status"], "running");
}

#[test]
fn a_clone_with_layout_one_events_converges_by_nexo_sync() {
    let u = upgraded_remote_and_an_old_clone();
    let out = nexo_in(&u.shared.other, &["sync"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = u.repo.nexo(&["sync"]);
    assert!(out.status.success(), "{}", stderr(&out));
    converged(&u);
}

#[test]
fn a_clone_with_layout_one_events_converges_by_git_pull_then_nexo_sync() {
    let u = upgraded_remote_and_an_old_clone();
    let other = u.shared.other.as_path();
    let pull = git_cmd()
        .current_dir(other)
        .args(["pull", "-q", "--no-edit"])
        .output()
        .unwrap();
    if !pull.status.success() {
        // git could not tell every folder moved: nexo settles what it left.
        let out = nexo_in(other, &["resolve"]);
        assert!(out.status.success(), "{}", stderr(&out));
        git_in(other, &["commit", "-q", "--no-edit"]);
    }
    let out = nexo_in(other, &["sync"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = u.repo.nexo(&["sync"]);
    assert!(out.status.success(), "{}", stderr(&out));
    converged(&u);
}

#[test]
fn a_clone_that_merged_the_upgrade_by_hand_is_settled_by_doctor_fix() {
    let u = upgraded_remote_and_an_old_clone();
    let other = u.shared.other.as_path();
    // An older nexo pulls and keeps writing where it always did: the
    // run now has a folder in each layout.
    git_in(other, &["fetch", "-q"]);
    let merged = git_cmd()
        .current_dir(other)
        .args(["merge", "-q", "--no-edit", "origin/main"])
        .output()
        .unwrap();
    if !merged.status.success() {
        let out = nexo_in(other, &["resolve"]);
        assert!(out.status.success(), "{}", stderr(&out));
        git_in(other, &["commit", "-q", "--no-edit"]);
    }
    let out = nexo_in(other, &["--json", "doctor", "--fix"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = nexo_in(other, &["sync"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = u.repo.nexo(&["sync"]);
    assert!(out.status.success(), "{}", stderr(&out));
    converged(&u);
}

#[test]
fn a_run_in_both_layouts_is_united_each_event_once() {
    let repo = Repo::new();
    let run = repo.open_release();
    let out = repo.nexo(&["update", &run, "doctor", "--status", "completed"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // A clone that had not upgraded wrote on its copy in layout 1's place,
    // and a merge kept both folders (git could not pair them).
    let copy = format!(".nexo/runs/{run}");
    let new = repo.path().join(run_rel(&run));
    std::fs::create_dir_all(repo.path().join(&copy).join("steps")).unwrap();
    for f in ["history.jsonl", "run.yaml"] {
        std::fs::copy(new.join(f), repo.path().join(&copy).join(f)).unwrap();
    }
    // That nexo commits its write, the copy with it.
    flat(
        repo.path(),
        &["update", &run, "package", "--status", "running"],
    );
    assert!(repo.git(&["status", "--porcelain"]).trim().is_empty());
    let mine = event_ids(repo.path(), &run);
    let out = repo.nexo(&["--json", "doctor", "--fix"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let ids = event_ids(repo.path(), &run);
    assert_eq!(ids.len(), mine.len() + 1, "{ids:?}");
    let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "an event twice: {ids:?}");
    assert!(!repo.path().join(&copy).exists());
    let got = nexo_ok(repo.path(), &["--json", "get", &run]);
    assert_eq!(got["run"]["steps"][1]["status"], "running", "{got:#}");
    doctor_clean(repo.path());
}

/// The upgrade takes a folder that nothing changed as a move (its tree
/// from HEAD, its index entries renamed as the index is written) and the
/// rest file by file: the commit and git's index must be exactly those
/// the file-by-file way gives, whatever state each folder is in.
#[test]
fn folders_moved_whole_give_the_commit_and_index_of_the_file_by_file_way() {
    let repo = Repo::new();
    let runs: Vec<String> = (0..7)
        .map(|i| open_flat(repo.path(), &format!("g{i}")))
        .collect();
    let folder = |i: usize| repo.path().join(".nexo/runs").join(&runs[i]);
    // Run 2: an event written but not committed (on the pending list).
    flat(
        repo.path(),
        &[
            "--no-commit",
            "update",
            &runs[2],
            "a",
            "--status",
            "running",
        ],
    );
    // Run 3: a file of the user's, untracked, in the run's folder.
    std::fs::write(folder(3).join("notes.md"), "mine\n").unwrap();
    // Run 4: a view changed and staged by hand.
    let view = "run.yaml";
    std::fs::write(folder(4).join(view), "edited: true\n").unwrap();
    repo.git(&["add", &format!(".nexo/runs/{}/{view}", runs[4])]);
    // Run 5: a view deleted by hand, not staged.
    std::fs::remove_file(folder(5).join(view)).unwrap();
    // Run 6: changed on disk only, same size, by hand.
    let h = folder(6).join("history.jsonl");
    let mut text = std::fs::read_to_string(&h).unwrap();
    text = text.replacen("\"g6\"", "\"G6\"", 1);
    std::fs::write(&h, text).unwrap();
    // Something of the user's, staged: never part of nexo's commit.
    std::fs::write(repo.path().join("notes.txt"), "mine\n").unwrap();
    repo.git(&["add", "notes.txt"]);

    let twin = tempfile::tempdir().unwrap();
    let copy = twin.path().join("repo");
    let cp = std::process::Command::new("cp")
        .args(["-a"])
        .arg(repo.path())
        .arg(&copy)
        .status()
        .unwrap();
    assert!(cp.success());
    git_in(&copy, &["update-index", "-q", "--refresh"]);

    let moved = nexo_cmd()
        .current_dir(repo.path())
        .env("NEXO_TRACE", "1")
        .args(["doctor", "--fix"])
        .output()
        .unwrap();
    assert!(moved.status.success(), "{}", stderr(&moved));
    assert!(
        stderr(&moved).contains("2 folders moved whole"),
        "{}",
        stderr(&moved)
    );
    let by_file = nexo_cmd()
        .current_dir(&copy)
        .env("NEXO_TEST_PER_FILE_MOVES", "1")
        .args(["doctor", "--fix"])
        .output()
        .unwrap();
    assert!(by_file.status.success(), "{}", stderr(&by_file));
    for args in [
        &["rev-parse", "HEAD^{tree}"][..],
        &["ls-files", "-s"],
        &["status", "--porcelain", "--untracked-files=all"],
        &["diff", "--cached", "--name-only"],
    ] {
        assert_eq!(git_in(repo.path(), args), git_in(&copy, args), "{args:?}");
    }
    assert_eq!(
        git_in(repo.path(), &["diff", "--cached", "--name-only"]).trim(),
        "notes.txt"
    );
    // git trusts the renamed entries' stat data: nothing to refresh.
    git_in(repo.path(), &["update-index", "--refresh"]);
    git_in(repo.path(), &["fsck", "--no-dangling"]);
    assert_eq!(files(repo.path()), files(&copy));
}

/// An upgrade killed at any point, folders moved whole or file by file,
/// loses no event, and the next command leaves HEAD, git's index and the
/// working tree agreeing, every run in layout 2's place.
#[test]
fn an_upgrade_killed_at_every_point_is_finished_by_the_next_command() {
    for point in [
        "upgrade-pending",
        "upgrade-moved",
        "before-commit",
        "commit-written",
        "head-moved",
        "index-before-rename",
    ] {
        let repo = Repo::new();
        let runs: Vec<String> = (0..4)
            .map(|i| open_flat(repo.path(), &format!("k{i}")))
            .collect();
        // One run with an event not committed: it goes file by file.
        flat(
            repo.path(),
            &[
                "--no-commit",
                "update",
                &runs[1],
                "a",
                "--status",
                "running",
            ],
        );
        // And one with a view deleted by hand: file by file too.
        let view = repo
            .path()
            .join(".nexo/runs")
            .join(&runs[2])
            .join("run.yaml");
        std::fs::remove_file(view).unwrap();
        let before: Vec<Vec<String>> = runs
            .iter()
            .map(|r| {
                let text = std::fs::read_to_string(
                    repo.path().join(".nexo/runs").join(r).join("history.jsonl"),
                )
                .unwrap();
                let ids = text.lines().map(|l| {
                    let v: Value = serde_json::from_str(l).unwrap();
                    v["id"].as_str().unwrap().to_string()
                });
                ids.collect()
            })
            .collect();
        let killed = nexo_cmd()
            .current_dir(repo.path())
            .env("NEXO_CRASH_AT", point)
            .args(["doctor", "--fix"])
            .output()
            .unwrap();
        assert!(!killed.status.success(), "{point}: the kill happened");
        nexo_ok(repo.path(), &["--json", "commit"]);
        nexo_ok(repo.path(), &["--json", "doctor", "--fix"]);
        for (run, ids) in runs.iter().zip(&before) {
            assert_eq!(&event_ids(repo.path(), run), ids, "{point}: {run}");
        }
        doctor_clean(repo.path());
        assert_eq!(repo.git(&["status", "--porcelain"]), "", "{point}");
        git_in(repo.path(), &["update-index", "--refresh"]);
        let in_head = repo.git(&["ls-tree", "-r", "--name-only", "HEAD", ".nexo/runs"]);
        assert!(in_head.lines().all(record_is_fanned), "{point}: {in_head}");
    }
}

/// A version-4 index goes file by file (no folder moves): an upgrade killed
/// after listing its paths, then listed again by the next one, must not
/// leave any path in git's index twice.
#[test]
fn an_upgrade_killed_and_run_again_leaves_a_version_4_index_without_repeats() {
    let repo = Repo::new();
    for i in 0..2 {
        open_flat(repo.path(), &format!("v{i}"));
    }
    repo.git(&["update-index", "--index-version", "4"]);
    let killed = nexo_cmd()
        .current_dir(repo.path())
        .env("NEXO_CRASH_AT", "upgrade-pending")
        .args(["doctor", "--fix"])
        .output()
        .unwrap();
    assert!(!killed.status.success());
    nexo_ok(repo.path(), &["--json", "--no-commit", "list"]);
    nexo_ok(repo.path(), &["--json", "commit"]);
    let staged = repo.git(&["ls-files", "-s"]);
    let paths: Vec<&str> = staged
        .lines()
        .map(|l| l.split('\t').nth(1).unwrap())
        .collect();
    let unique: std::collections::BTreeSet<&str> = paths.iter().copied().collect();
    assert_eq!(paths.len(), unique.len(), "{staged}");
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    doctor_clean(repo.path());
}

/// A layout-1 folder with nothing tracked, in a repository whose HEAD has
/// no `.nexo/runs` at all: the upgrade's commit is still made.
#[test]
fn an_untracked_empty_run_folder_is_upgraded_with_no_runs_in_head() {
    let repo = Repo::new();
    let run = open_flat(repo.path(), "gone");
    repo.git(&["rm", "-r", "-q", ".nexo/runs"]);
    repo.git(&["commit", "-q", "-m", "no runs"]);
    std::fs::create_dir_all(repo.path().join(".nexo/runs").join(&run)).unwrap();
    let out = repo.nexo(&["--json", "doctor", "--fix"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let subject = repo.git(&["log", "-1", "--format=%s"]);
    assert_eq!(subject.trim(), "nexo: move .nexo/runs to layout 2");
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
}
