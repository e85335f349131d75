//! A repair of every run's views (`doctor --fix` at 100,000 runs): its
//! report lists the first problems and counts the rest, and its commit
//! reads the pending list in batches. Small sizes (`NEXO_TEST_LISTED`,
//! `NEXO_TEST_BATCH`, `NEXO_TEST_INDEX_EVERY`, `NEXO_TEST_BULK_FROM_BYTES`)
//! take a few runs down the path 100,000 take; the answer must be the one
//! the sizes of a small repository give.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;

/// The sizes that send a few runs down the large repository's path.
const SMALL: [(&str, &str); 4] = [
    ("NEXO_TEST_LISTED", "2"),
    ("NEXO_TEST_BATCH", "3"),
    // A copy of git's index every other batch, the last one's entries
    // spliced straight into git's.
    ("NEXO_TEST_INDEX_EVERY", "5"),
    ("NEXO_TEST_BULK_FROM_BYTES", "0"),
];

fn doctor(dir: &Path, small: bool, extra: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = nexo_cmd();
    cmd.current_dir(dir);
    if small {
        cmd.envs(SMALL);
    }
    cmd.envs(extra.iter().copied()).args(args).output().unwrap()
}

/// Every view under `.nexo/runs`, as `git ls-files` names them.
fn views(dir: &Path) -> Vec<String> {
    git_in(dir, &["ls-files", ".nexo/runs"])
        .lines()
        .filter(|p| !p.ends_with("history.jsonl"))
        .map(String::from)
        .collect()
}

/// A repository of five runs, with `notes.txt` of the user's staged, and
/// a twin copy of it.
fn five_runs() -> (Repo, tempfile::TempDir) {
    let repo = Repo::new();
    for i in 0..5 {
        nexo_ok(
            repo.path(),
            &["--json", "open", &format!("g{i}"), "-s", "a", "-s", "b"],
        );
    }
    std::fs::write(repo.path().join("notes.txt"), "mine\n").unwrap();
    repo.git(&["add", "notes.txt"]);
    let twin = tempfile::tempdir().unwrap();
    (repo, twin)
}

fn copy_of(repo: &Path, twin: &tempfile::TempDir) -> PathBuf {
    let copy = twin.path().join("repo");
    let cp = std::process::Command::new("cp")
        .arg("-a")
        .arg(repo)
        .arg(&copy)
        .status()
        .unwrap();
    assert!(cp.success());
    git_in(&copy, &["update-index", "-q", "--refresh"]);
    copy
}

fn same_commit_and_index(a: &Path, b: &Path) {
    for args in [
        &["rev-parse", "HEAD^{tree}"][..],
        &["ls-files", "-s"],
        &["status", "--porcelain", "--untracked-files=all"],
        &["diff", "--cached", "--name-only"],
    ] {
        assert_eq!(git_in(a, args), git_in(b, args), "{args:?}");
    }
    assert_eq!(
        git_in(a, &["diff", "--cached", "--name-only"]).trim(),
        "notes.txt"
    );
    git_in(a, &["update-index", "--refresh"]);
    git_in(a, &["fsck", "--no-dangling"]);
}

/// Commits `repo`'s histories without their views, and removes them:
/// the documented format, as a person or another tool may write it.
/// Returns the views removed.
fn histories_only(repo: &Repo) -> Vec<String> {
    let all = views(repo.path());
    for v in &all {
        std::fs::remove_file(repo.path().join(v)).unwrap();
    }
    repo.git(&["commit", "-q", "-m", "histories only", "--", ".nexo"]);
    all
}

/// Views deleted by hand in every run and a stale one: the batched repair
/// commits what the one-batch repair commits, and its report counts what
/// it does not list.
#[test]
fn views_repaired_in_batches_give_the_commit_and_index_of_one_batch() {
    let (repo, twin) = five_runs();
    let all = views(repo.path());
    for v in &all {
        std::fs::remove_file(repo.path().join(v)).unwrap();
    }
    let copy = copy_of(repo.path(), &twin);
    let batched = doctor(repo.path(), true, &[], &["--json", "doctor", "--fix"]);
    assert!(batched.status.success(), "{}", stderr(&batched));
    let whole = doctor(&copy, false, &[], &["--json", "doctor", "--fix"]);
    assert!(whole.status.success(), "{}", stderr(&whole));
    same_commit_and_index(repo.path(), &copy);

    let (b, w) = (parse_json(&batched), parse_json(&whole));
    let listed = b["problems"].as_array().unwrap().len();
    let not_listed = b["problems_not_listed"]["missing_view"].as_u64().unwrap() as usize;
    assert_eq!(listed, 2, "{b:#}");
    assert_eq!(listed + not_listed, w["problems"].as_array().unwrap().len());
    assert_eq!(w["problems"].as_array().unwrap().len(), all.len());
    let fixed = b["fixed"].as_array().unwrap().len();
    let fixed_total = fixed + b["fixed_not_listed"].as_u64().unwrap() as usize;
    assert_eq!(fixed, 2);
    assert_eq!(fixed_total, w["fixed"].as_array().unwrap().len());
    assert!(w.get("problems_not_listed").is_none(), "{w:#}");
    assert_eq!(b["ok"], true);
    assert_eq!(views(repo.path()), all);
}

/// Histories committed without views (the documented format, written by
/// hand or by another tool): the batched repair adds every view, as the
/// one-batch repair does; a plain doctor counts what it does not list,
/// and its summary counts them all.
#[test]
fn views_never_committed_are_added_in_batches() {
    let (repo, twin) = five_runs();
    let all = histories_only(&repo);
    let checked = doctor(repo.path(), true, &[], &["doctor"]);
    assert_eq!(checked.status.code(), Some(7), "{}", stderr(&checked));
    let text = stdout(&checked);
    let more = all.len() - 2;
    assert!(
        text.contains(&format!("missing_view: {more} more problems, not listed")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{} problems; `nexo doctor --fix` repairs them",
            all.len()
        )),
        "{text}"
    );
    let copy = copy_of(repo.path(), &twin);
    let batched = doctor(repo.path(), true, &[], &["doctor", "--fix"]);
    assert!(batched.status.success(), "{}", stderr(&batched));
    assert!(
        stdout(&batched).contains(&format!("fixed: {} more files, not listed", all.len() - 2)),
        "{}",
        stdout(&batched)
    );
    let whole = doctor(&copy, false, &[], &["doctor", "--fix"]);
    assert!(whole.status.success(), "{}", stderr(&whole));
    same_commit_and_index(repo.path(), &copy);
    assert_eq!(views(repo.path()), all);
    assert_eq!(
        repo.git(&["log", "-1", "--format=%s"]).trim(),
        format!("nexo: doctor --fix repaired {} files", all.len())
    );
}

/// A batched repair killed at any point: the next command commits every
/// view, and HEAD, git's index and the working tree agree.
#[test]
fn a_batched_repair_killed_at_every_point_is_finished_by_the_next_command() {
    for point in [
        "bulk-batch",
        "pack-written",
        "before-commit",
        "commit-written",
        "head-moved",
        "index-before-rename",
    ] {
        let (repo, twin) = five_runs();
        let all = histories_only(&repo);
        let killed = doctor(
            repo.path(),
            true,
            &[("NEXO_CRASH_AT", point)],
            &["doctor", "--fix"],
        );
        assert!(!killed.status.success(), "{point}: the kill happened");
        assert!(
            !stderr(&killed).contains("panicked"),
            "{point}: {}",
            stderr(&killed)
        );
        age_packs_in_the_making(&repo);
        let next = doctor(repo.path(), true, &[], &["--json", "commit"]);
        assert!(next.status.success(), "{point}: {}", stderr(&next));
        let fixed = doctor(repo.path(), true, &[], &["--json", "doctor", "--fix"]);
        assert!(fixed.status.success(), "{point}: {}", stderr(&fixed));
        assert_eq!(views(repo.path()), all, "{point}");
        let status = repo.git(&["status", "--porcelain", "--untracked-files=all"]);
        assert_eq!(status.trim(), "A  notes.txt", "{point}");
        git_in(repo.path(), &["update-index", "--refresh"]);
        let report = nexo_ok(repo.path(), &["--json", "doctor"]);
        assert_eq!(report["ok"], true, "{point}: {report:#}");
        // What a kill left beside git's index is gone.
        let left: Vec<_> = std::fs::read_dir(repo.path().join(".git"))
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("nexo-batched-index-") || n.starts_with("nexo-repaired-"))
            .collect();
        assert!(left.is_empty(), "{point}: {left:?}");
        let packs = std::fs::read_dir(repo.path().join(".git/objects/pack")).unwrap();
        let half_made: Vec<_> = packs
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("tmp_"))
            .collect();
        assert!(half_made.is_empty(), "{point}: {half_made:?}");
        repo.git(&["fsck", "--strict", "--no-dangling", "--no-progress"]);
        drop(twin);
    }
}

/// A repair written but not committed (`--no-commit`): `nexo commit`
/// commits every path, in batches, and lists the first.
#[test]
fn nexo_commit_lists_the_first_paths_and_commits_them_all() {
    let (repo, _twin) = five_runs();
    let all = histories_only(&repo);
    let written = doctor(repo.path(), true, &[], &["--no-commit", "doctor", "--fix"]);
    assert!(written.status.success(), "{}", stderr(&written));
    assert_eq!(views(repo.path()), Vec::<String>::new());
    let out = doctor(repo.path(), true, &[], &["--json", "commit"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let answer = parse_json(&out);
    let listed = answer["paths"].as_array().unwrap().len();
    assert_eq!(listed, 2, "{answer:#}");
    assert_eq!(
        listed + answer["paths_not_listed"].as_u64().unwrap() as usize,
        all.len()
    );
    assert_eq!(views(repo.path()), all);
    let status = repo.git(&["status", "--porcelain", "--untracked-files=all"]);
    assert_eq!(status.trim(), "A  notes.txt");
    git_in(repo.path(), &["update-index", "--refresh"]);
}

/// Writes `.nexo/f0`..`f3` and a pending list of `first`, them, then
/// `last`: as a killed command and a later one leave it, in no order.
fn pending_around(repo: &Repo, first: &str, last: &str) {
    let mut list = format!("{first}\n");
    for i in 0..4 {
        let p = format!(".nexo/f{i}");
        std::fs::write(repo.path().join(&p), format!("{i}\n")).unwrap();
        list.push_str(&p);
        list.push('\n');
    }
    list.push_str(&format!("{last}\n"));
    std::fs::write(repo.path().join(".git/nexo-pending"), &list).unwrap();
}

/// A file that became a folder, and a folder that became a file, their
/// two paths in different batches: the batched commit is the one-batch
/// commit (a removal of the file took the folder an earlier batch had
/// put there; a file under what is now a file failed every commit).
#[test]
fn a_file_and_a_folder_trading_places_across_batches() {
    for file_first in [true, false] {
        let (repo, twin) = five_runs();
        let (x, xy) = (repo.path().join(".nexo/x"), repo.path().join(".nexo/x/y"));
        match file_first {
            true => std::fs::write(&x, "file\n").unwrap(),
            false => {
                std::fs::create_dir(&x).unwrap();
                std::fs::write(&xy, "in a folder\n").unwrap();
            }
        }
        repo.git(&["add", ".nexo/x"]);
        repo.git(&["commit", "-q", "-m", "x", "--", ".nexo/x"]);
        match file_first {
            true => {
                std::fs::remove_file(&x).unwrap();
                std::fs::create_dir(&x).unwrap();
                std::fs::write(&xy, "now a folder\n").unwrap();
                pending_around(&repo, ".nexo/x/y", ".nexo/x");
            }
            false => {
                std::fs::remove_dir_all(&x).unwrap();
                std::fs::write(&x, "now a file\n").unwrap();
                pending_around(&repo, ".nexo/x", ".nexo/x/y");
            }
        }
        let copy = copy_of(repo.path(), &twin);
        let batched = doctor(repo.path(), true, &[], &["--json", "commit"]);
        assert!(batched.status.success(), "{}", stderr(&batched));
        let whole = doctor(&copy, false, &[], &["--json", "commit"]);
        assert!(whole.status.success(), "{}", stderr(&whole));
        same_commit_and_index(repo.path(), &copy);
        let tree = repo.git(&["ls-tree", "-r", "--name-only", "HEAD", ".nexo/x"]);
        let want = if file_first { ".nexo/x/y" } else { ".nexo/x" };
        assert_eq!(tree.trim(), want);
    }
}

/// git's settings that change the index (no checksum, intent-to-add, the
/// untracked cache, fsmonitor): batched and one-batch repairs agree.
#[test]
fn index_settings_give_the_same_batched_and_whole() {
    for setup in ["skiphash", "untracked", "intent", "fsmonitor", "version4"] {
        let (repo, twin) = five_runs();
        match setup {
            "skiphash" => {
                repo.git(&["config", "index.skipHash", "true"]);
                repo.git(&["update-index", "--really-refresh"]);
            }
            "untracked" => {
                repo.git(&["config", "core.untrackedCache", "true"]);
                std::fs::write(repo.path().join("u.txt"), "u\n").unwrap();
                repo.git(&["update-index", "--untracked-cache"]);
                repo.git(&["status", "--porcelain"]);
            }
            "intent" => {
                std::fs::write(repo.path().join("ita.txt"), "i\n").unwrap();
                repo.git(&["add", "-N", "ita.txt"]);
            }
            "version4" => {
                repo.git(&["update-index", "--index-version", "4"]);
            }
            _ => {
                let hook = repo.path().join(".git/fsm.sh");
                std::fs::write(&hook, "#!/bin/sh\nprintf 'tok\\0/\\0'\n").unwrap();
                let chmod = std::process::Command::new("chmod")
                    .arg("+x")
                    .arg(&hook)
                    .status();
                assert!(chmod.unwrap().success());
                repo.git(&["config", "core.fsmonitor", ".git/fsm.sh"]);
                repo.git(&["config", "core.fsmonitorHookVersion", "2"]);
                repo.git(&["status", "--porcelain"]);
            }
        }
        for v in views(repo.path()) {
            std::fs::remove_file(repo.path().join(v)).unwrap();
        }
        let copy = copy_of(repo.path(), &twin);
        let batched = doctor(repo.path(), true, &[], &["--json", "doctor", "--fix"]);
        assert!(batched.status.success(), "{setup}: {}", stderr(&batched));
        let whole = doctor(&copy, false, &[], &["--json", "doctor", "--fix"]);
        assert!(whole.status.success(), "{setup}: {}", stderr(&whole));
        for args in [
            &["rev-parse", "HEAD^{tree}"][..],
            &["ls-files", "-s"],
            &["status", "--porcelain", "--untracked-files=all"],
            &["diff", "--cached", "--name-only"],
        ] {
            assert_eq!(
                git_in(repo.path(), args),
                git_in(&copy, args),
                "{setup} {args:?}"
            );
        }
        git_in(repo.path(), &["fsck", "--no-dangling"]);
        if setup == "version4" {
            let index = std::fs::read(repo.path().join(".git/index")).unwrap();
            assert_eq!(index[7], 4, "the index's version is the user's");
        }
    }
}

/// Killed mid-repair, then the user's own commit, then `nexo commit`
/// alone: every view is committed on top of the user's commit.
#[test]
fn a_killed_repair_then_a_users_commit_then_nexo_commit() {
    for point in [
        "bulk-batch",
        "commit-written",
        "head-moved",
        "index-before-rename",
    ] {
        let (repo, _twin) = five_runs();
        let all = histories_only(&repo);
        let killed = doctor(
            repo.path(),
            true,
            &[("NEXO_CRASH_AT", point)],
            &["doctor", "--fix"],
        );
        assert!(!killed.status.success(), "{point}");
        // git's own advice for the lock a killed process left.
        let _ = std::fs::remove_file(repo.path().join(".git/index.lock"));
        repo.git(&["commit", "-q", "-m", "user's own"]);
        let user = repo.git(&["rev-parse", "HEAD"]);
        let next = doctor(repo.path(), true, &[], &["--json", "commit"]);
        assert!(next.status.success(), "{point}: {}", stderr(&next));
        assert_eq!(views(repo.path()), all, "{point}: index");
        let tree = repo.git(&["ls-tree", "-r", "--name-only", "HEAD", ".nexo/runs"]);
        let in_head = tree
            .lines()
            .filter(|p| !p.ends_with("history.jsonl"))
            .count();
        assert_eq!(in_head, all.len(), "{point}: HEAD");
        let status = repo.git(&["status", "--porcelain", "--untracked-files=all"]);
        assert_eq!(status.trim(), "", "{point}");
        git_in(
            repo.path(),
            &["merge-base", "--is-ancestor", user.trim(), "HEAD"],
        );
    }
}

/// git's index locked by someone else while `doctor --fix` repairs: the
/// repairs are written and reported as not committed (not an error), and
/// the next command commits every one.
#[test]
fn a_repair_that_cannot_commit_is_left_for_the_next_command() {
    let (repo, _twin) = five_runs();
    let all = histories_only(&repo);
    let lock = repo.path().join(".git/index.lock");
    std::fs::write(&lock, "").unwrap();
    let out = doctor(repo.path(), true, &[], &["--json", "doctor", "--fix"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = parse_json(&out);
    let why = report["not_committed"].as_str().unwrap();
    assert!(
        why.contains("index.lock") && why.contains("next nexo command"),
        "{why}"
    );
    std::fs::remove_file(&lock).unwrap();
    let next = doctor(repo.path(), true, &[], &["--json", "commit"]);
    assert!(next.status.success(), "{}", stderr(&next));
    assert_eq!(views(repo.path()), all);
    let status = repo.git(&["status", "--porcelain", "--untracked-files=all"]);
    assert_eq!(status.trim(), "A  notes.txt");
}

/// Five runs' histories, committed alone in a repository that never held
/// their views: regenerating them makes blobs git does not have yet.
fn histories_in_a_new_repository() -> (Repo, Vec<String>) {
    let (old, _twin) = five_runs();
    let all = views(old.path());
    let repo = Repo::new();
    let cp = std::process::Command::new("cp")
        .arg("-a")
        .arg(old.path().join(".nexo"))
        .arg(repo.path())
        .status()
        .unwrap();
    assert!(cp.success());
    for v in &all {
        std::fs::remove_file(repo.path().join(v)).unwrap();
    }
    repo.git(&["add", ".nexo"]);
    repo.git(&["commit", "-q", "-m", "histories only"]);
    (repo, all)
}

/// Makes the packs in the making a kill left a minute old, as the sweep
/// wants before it takes them (another worktree's nexo may be writing a
/// fresh one).
fn age_packs_in_the_making(repo: &Repo) {
    for name in packs(repo, "").iter().filter(|n| n.starts_with("tmp_")) {
        let path = repo.path().join(".git/objects/pack").join(name);
        let touched = std::process::Command::new("touch")
            .args(["-d", "2 minutes ago"])
            .arg(&path)
            .status();
        assert!(touched.unwrap().success());
    }
}

fn packs(repo: &Repo, suffix: &str) -> Vec<String> {
    std::fs::read_dir(repo.path().join(".git/objects/pack"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(suffix))
                .collect()
        })
        .unwrap_or_default()
}

/// The new blobs of a batched commit go into one pack, which git reads and
/// checks, instead of a loose file each; a kill before the pack is in
/// place leaves no commit naming it, and the next batched commit removes
/// what it left.
#[test]
fn new_blobs_of_a_long_commit_go_into_packs() {
    let (repo, all) = histories_in_a_new_repository();
    let fixed = doctor(repo.path(), true, &[], &["doctor", "--fix"]);
    assert!(fixed.status.success(), "{}", stderr(&fixed));
    assert_eq!(views(repo.path()), all);
    let idx = packs(&repo, ".idx");
    assert_eq!(idx.len(), 1, "{idx:?}");
    let path = repo.path().join(".git/objects/pack").join(&idx[0]);
    let verified = repo.git(&["verify-pack", "-v", path.to_str().unwrap()]);
    let blobs = verified.lines().filter(|l| l.contains(" blob ")).count();
    assert_eq!(blobs, all.len(), "one blob a view: {verified}");
    for view in &all {
        let blob = repo.git(&["cat-file", "-p", &format!("HEAD:{view}")]);
        assert_eq!(
            blob,
            std::fs::read_to_string(repo.path().join(view)).unwrap()
        );
    }
    repo.git(&["fsck", "--strict", "--no-dangling", "--no-progress"]);

    // Packs of two objects: a new pack starts as each fills.
    let (repo, all) = histories_in_a_new_repository();
    let env = [("NEXO_TEST_PACK_OBJECTS", "2")];
    let fixed = doctor(repo.path(), true, &env, &["--json", "doctor", "--fix"]);
    let report: serde_json::Value = serde_json::from_slice(&fixed.stdout).unwrap();
    // Trees of earlier packs are read back: gix has room for every pack.
    assert!(!report["commit"].is_null(), "{report:#}");
    assert!(fixed.status.success(), "{}", stderr(&fixed));
    let (mut blobs, mut trees) = (0, 0);
    for name in &packs(&repo, ".idx") {
        let path = repo.path().join(".git/objects/pack").join(name);
        let verified = repo.git(&["verify-pack", "-v", path.to_str().unwrap()]);
        let objects: Vec<_> = verified
            .lines()
            .filter(|l| l.contains(" blob ") || l.contains(" tree "))
            .collect();
        assert!(matches!(objects.len(), 1 | 2), "{verified}");
        blobs += objects.iter().filter(|l| l.contains(" blob ")).count();
        trees += objects.iter().filter(|l| l.contains(" tree ")).count();
    }
    // The trees too: a later batch reads those of the pack in the making.
    assert_eq!(blobs, all.len());
    assert!(trees > 0);

    repo.git(&["fsck", "--strict", "--no-dangling", "--no-progress"]);
    let report = nexo_ok(repo.path(), &["--json", "doctor"]);
    assert_eq!(report["ok"], true, "{report:#}");

    for point in ["bulk-batch", "pack-written"] {
        let (repo, all) = histories_in_a_new_repository();
        let env = [("NEXO_CRASH_AT", point)];
        let killed = doctor(repo.path(), true, &env, &["doctor", "--fix"]);
        assert!(!killed.status.success(), "{point}: the kill happened");
        let left = packs(&repo, "");
        match point {
            "bulk-batch" => assert!(left.iter().all(|n| n.starts_with("tmp_")), "{left:?}"),
            _ => assert_eq!(packs(&repo, ".idx").len(), 1, "{left:?}"),
        }
        // A pack in the making is swept once a minute old and unlocked
        // (another worktree's nexo may be writing it): the kill's is made
        // old here.
        age_packs_in_the_making(&repo);
        let next = doctor(repo.path(), true, &[], &["--json", "commit"]);
        assert!(next.status.success(), "{point}: {}", stderr(&next));
        assert_eq!(views(repo.path()), all, "{point}");
        let half_made: Vec<_> = packs(&repo, "")
            .into_iter()
            .filter(|n| n.starts_with("tmp_"))
            .collect();
        assert!(half_made.is_empty(), "{point}: {half_made:?}");
        assert_eq!(packs(&repo, ".idx").len(), 1, "{point}");
        repo.git(&["fsck", "--strict", "--no-dangling", "--no-progress"]);
        let report = nexo_ok(repo.path(), &["--json", "doctor"]);
        assert_eq!(report["ok"], true, "{point}: {report:#}");
    }
}

/// A kill after a copy of git's index was made and packs of two objects
/// were put in place (their trees read back by gix by the next batches):
/// the next command finishes from what is on disk.
#[test]
fn a_repair_killed_after_an_index_copy_and_finished_packs() {
    for point in ["bulk-batch", "pack-written"] {
        let (repo, _twin) = five_runs();
        let all = histories_only(&repo);
        let env = [
            ("NEXO_CRASH_AT", point),
            ("NEXO_TEST_INDEX_EVERY", "1"),
            ("NEXO_TEST_PACK_OBJECTS", "2"),
        ];
        let killed = doctor(repo.path(), true, &env, &["doctor", "--fix"]);
        assert!(!killed.status.success(), "{point}: the kill happened");
        if point == "bulk-batch" {
            let copies = std::fs::read_dir(repo.path().join(".git"))
                .unwrap()
                .filter_map(|e| e.ok())
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with("nexo-batched-index-")
                })
                .count();
            assert_eq!(copies, 1, "the kill left a copy of the index");
        }
        assert!(packs(&repo, ".idx").len() > 1, "{point}: packs finished");
        age_packs_in_the_making(&repo);
        let env = [
            ("NEXO_TEST_INDEX_EVERY", "1"),
            ("NEXO_TEST_PACK_OBJECTS", "2"),
        ];
        let next = doctor(repo.path(), true, &env, &["--json", "commit"]);
        assert!(next.status.success(), "{point}: {}", stderr(&next));
        let fixed = doctor(repo.path(), true, &env, &["--json", "doctor", "--fix"]);
        assert!(fixed.status.success(), "{point}: {}", stderr(&fixed));
        assert_eq!(views(repo.path()), all, "{point}");
        let status = repo.git(&["status", "--porcelain", "--untracked-files=all"]);
        assert_eq!(status.trim(), "A  notes.txt", "{point}");
        repo.git(&["fsck", "--strict", "--no-dangling", "--no-progress"]);
        let report = nexo_ok(repo.path(), &["--json", "doctor"]);
        assert_eq!(report["ok"], true, "{point}: {report:#}");
    }
}
