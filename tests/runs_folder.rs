//! `.nexo/runs` given a new folder when the old one is mostly emptied
//! entries (ext4 never shrinks a folder, and the layout upgrade empties
//! one of 100,000 run folders): by the upgrade itself, by `doctor --fix`
//! for a folder an earlier nexo left large, and after a kill at any point
//! of the moves, by the next command, reader or writer.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::*;

const WORK: &str = ".git/nexo-runs-compacting";

/// Grows `.nexo/runs` to well past 64 KB and empties it again, as the
/// upgrade does; `false` on a file system whose folders shrink (tmpfs).
fn bloat(dir: &Path) -> bool {
    let runs = dir.join(".nexo/runs");
    for n in 0..4_000 {
        std::fs::write(runs.join(format!("WF-PAD{n:015}")), "").unwrap();
    }
    for n in 0..4_000 {
        std::fs::remove_file(runs.join(format!("WF-PAD{n:015}"))).unwrap();
    }
    let size = std::fs::metadata(&runs).unwrap().len();
    if size < 64 * 1024 {
        skip(&format!("folders here shrink (.nexo/runs is {size} bytes)"));
        return false;
    }
    true
}

fn runs_folder(dir: &Path) -> std::fs::Metadata {
    std::fs::symlink_metadata(dir.join(".nexo/runs")).unwrap()
}

fn listed(dir: &Path) -> Vec<String> {
    let list = nexo_ok(dir, &["--json", "list"]);
    let mut ids: Vec<String> = list["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

fn settled(repo: &Repo, runs: &[String]) {
    assert!(!repo.path().join(WORK).exists());
    assert!(runs_folder(repo.path()).len() < 64 * 1024);
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    let report = nexo_ok(repo.path(), &["--json", "doctor"]);
    assert_eq!(report["ok"], true, "{report:#}");
    assert!(report.get("advice").is_none(), "{report:#}");
    assert_eq!(listed(repo.path()), runs);
}

fn open_runs(repo: &Repo, n: usize) -> Vec<String> {
    let mut runs: Vec<String> = (0..n).map(|_| repo.open_release()).collect();
    runs.sort();
    runs
}

#[test]
fn the_upgrade_gives_runs_a_new_folder() {
    let repo = Repo::new();
    let flat = |args: &[&str]| {
        let out = nexo_cmd()
            .current_dir(repo.path())
            .env("NEXO_TEST_FLAT_LAYOUT", "1")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        parse_json(&out)["run_id"].as_str().unwrap().to_string()
    };
    let mut runs: Vec<String> = (0..3)
        .map(|i| flat(&["--json", "open", &format!("g{i}"), "-s", "a"]))
        .collect();
    runs.sort();
    if !bloat(repo.path()) {
        return;
    }
    let before = runs_folder(repo.path()).ino();
    let out = repo.nexo(&["doctor", "--fix"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("gave .nexo/runs a new folder"),
        "{}",
        stderr(&out)
    );
    assert_ne!(runs_folder(repo.path()).ino(), before);
    let subject = repo.git(&["log", "-1", "--format=%s"]);
    assert_eq!(subject.trim(), "nexo: move .nexo/runs to layout 2");
    settled(&repo, &runs);
}

#[test]
fn doctor_names_a_large_runs_folder_and_fix_replaces_it_without_a_commit() {
    let repo = Repo::new();
    let runs = open_runs(&repo, 2);
    if !bloat(repo.path()) {
        return;
    }
    // The new folder keeps the old one's mode, not the git directory's.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::Permissions::from_mode(0o750);
    std::fs::set_permissions(repo.path().join(".nexo/runs"), mode).unwrap();
    let report = nexo_ok(repo.path(), &["--json", "doctor"]);
    assert_eq!(report["ok"], true, "advice, not a problem: {report:#}");
    let advice = report["advice"][0].as_str().unwrap();
    assert!(advice.contains(".nexo/runs is a folder of"), "{advice}");
    assert!(advice.contains("nexo doctor --fix"), "{advice}");
    let commits = repo.commit_count();
    let out = repo.nexo(&["doctor", "--fix"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(repo.commit_count(), commits, "paths are unchanged");
    assert_eq!(runs_folder(repo.path()).mode() & 0o7777, 0o750);
    settled(&repo, &runs);
}

/// A kill between the moves leaves run folders in the git directory, out
/// of sight: the next command, a reader too, finishes the move first, and
/// nothing is committed as deleted meanwhile.
#[test]
fn a_compaction_killed_at_every_point_is_finished_by_the_next_command() {
    for (point, next) in [
        ("compact-moving", &["--json", "list"][..]),
        ("compact-moved", &["--json", "list"][..]),
        ("compact-moving", &["--json", "commit"][..]),
        ("compact-moved", &["--json", "sync"][..]),
    ] {
        let repo = Repo::new();
        let runs = open_runs(&repo, 4);
        let _remote = (next[1] == "sync").then(|| repo.share());
        if !bloat(repo.path()) {
            return;
        }
        killed_at(&repo, point);
        let commits = repo.commit_count();
        let out = repo.nexo(next);
        assert!(out.status.success(), "{point} {next:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("finished giving .nexo/runs a new folder"),
            "{point} {next:?}: {}",
            stderr(&out)
        );
        assert_eq!(repo.commit_count(), commits, "{point}: nothing committed");
        settled(&repo, &runs);
    }
}

/// After a kill, git put back what it saw deleted (`git checkout .`): the
/// same files are united with the moved ones; a file that differs stops
/// the next command with both named, and nothing is removed.
#[test]
fn a_killed_compaction_meets_what_git_put_back() {
    let repo = Repo::new();
    let runs = open_runs(&repo, 4);
    if !bloat(repo.path()) {
        return;
    }
    killed_at(&repo, "compact-moving");
    repo.git(&["checkout", "--", ".nexo/runs"]);
    // One history put back differs from the one moved.
    let moved = walkdir::WalkDir::new(repo.path().join(WORK))
        .into_iter()
        .filter_map(Result::ok)
        .find(|e| e.file_name() == "history.jsonl")
        .unwrap()
        .into_path();
    let rel = moved.strip_prefix(repo.path().join(WORK)).unwrap();
    let put_back = repo.path().join(".nexo/runs").join(rel);
    let original = std::fs::read(&put_back).unwrap();
    std::fs::write(&put_back, b"{}\n").unwrap();
    let out = repo.nexo(&["list"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("differ") && err.contains("nothing was removed"),
        "{err}"
    );
    assert_eq!(std::fs::read(&moved).unwrap(), original);
    // Stopped before the recovery of a killed holder: its record stays
    // for the next holder, as a kill's would.
    let lock = repo.path().join(".git/nexo.lock");
    assert!(!std::fs::read(&lock).unwrap().is_empty());
    std::fs::write(&put_back, &original).unwrap();
    let out = repo.nexo(&["list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::read(&lock).unwrap().is_empty());
    settled(&repo, &runs);
}

/// Runs `doctor --fix` in `repo`, killed at `point` of the compaction.
fn killed_at(repo: &Repo, point: &str) {
    let killed = nexo_cmd()
        .current_dir(repo.path())
        .env("NEXO_CRASH_AT", point)
        .args(["doctor", "--fix"])
        .output()
        .unwrap();
    assert!(!killed.status.success(), "{point}: the kill happened");
    assert!(repo.path().join(WORK).is_dir(), "{point}");
}

/// The runs whose folders a kill left in the work folder.
fn moved_runs(repo: &Repo) -> Vec<String> {
    walkdir::WalkDir::new(repo.path().join(WORK))
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("WF-"))
        .collect()
}

/// After a kill between the moves, a command that names a run before it
/// reads anything else (`events --run`), and `doctor` without --fix, are
/// readers too: each finishes the move first, rather than calling a run
/// in the work folder unknown, or counting the runs left and saying all
/// is well.
#[test]
fn readers_that_name_a_run_or_check_every_run_finish_a_killed_compaction() {
    for reader in ["events", "doctor"] {
        let repo = Repo::new();
        let runs = open_runs(&repo, 4);
        if !bloat(repo.path()) {
            return;
        }
        killed_at(&repo, "compact-moving");
        let moved = moved_runs(&repo);
        assert!(!moved.is_empty());
        let out = match reader {
            "events" => repo.nexo(&["--json", "events", "--run", &moved[0]]),
            _ => repo.nexo(&["--json", "doctor"]),
        };
        assert!(
            out.status.success(),
            "{reader}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        assert!(
            stderr(&out).contains("finished giving .nexo/runs a new folder"),
            "{reader}: {}",
            stderr(&out)
        );
        if reader == "doctor" {
            assert_eq!(parse_json(&out)["runs_checked"], 4, "{}", stdout(&out));
        }
        settled(&repo, &runs);
    }
}

/// A working tree on another file system than its git directory (a linked
/// worktree on another disk), whose `.nexo/runs` the archive emptied: the
/// work folder cannot take the entries nor replace the folder, so the
/// folder stays as it is, and no command is stopped by it.
#[test]
fn a_git_directory_on_another_file_system_stops_no_command() {
    let Ok(main) = tempfile::Builder::new()
        .prefix("nexo-test-")
        .tempdir_in("/dev/shm")
    else {
        skip("no /dev/shm");
        return;
    };
    let tree = tempfile::Builder::new()
        .prefix("nexo-test-")
        .tempdir()
        .unwrap();
    let dev = |p: &Path| std::fs::metadata(p).unwrap().dev();
    if dev(main.path()) == dev(tree.path()) {
        skip("/dev/shm is on the temporary folder's file system");
        return;
    }
    let m = main.path();
    git_in(m, &["init", "-q", "-b", "main"]);
    git_in(m, &["config", "user.name", "Test User"]);
    git_in(m, &["config", "user.email", "test@example.com"]);
    std::fs::write(m.join("README.md"), "# test\n").unwrap();
    git_in(m, &["add", "README.md"]);
    git_in(m, &["commit", "-q", "-m", "initial"]);
    let wt = tree.path().join("wt");
    git_in(
        m,
        &["worktree", "add", "-q", "-b", "side", wt.to_str().unwrap()],
    );
    let run = nexo_ok(&wt, &["--json", "open", "g", "-s", "a"])["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    nexo_ok(
        &wt,
        &["--json", "update", &run, "a", "--status", "completed"],
    );
    if !bloat(&wt) {
        return;
    }
    nexo_ok(&wt, &["--json", "archive", "--closed-before", "0s"]);
    assert_eq!(std::fs::read_dir(wt.join(".nexo/runs")).unwrap().count(), 0);
    let work = m.join(".git/worktrees/wt/nexo-runs-compacting");
    let report = nexo_ok(&wt, &["--json", "doctor"]);
    assert!(
        report.get("advice").is_none(),
        "none --fix can follow: {report:#}"
    );
    let out = nexo_in(&wt, &["doctor", "--fix"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(!work.exists());
    // The empty work folder a nexo without this check left there (or a
    // bind mount, whose device is the same) is removed, not renamed.
    std::fs::create_dir(&work).unwrap();
    let list = nexo_ok(&wt, &["--json", "list", "--archived"]);
    assert_eq!(list["runs"][0]["run_id"], run.as_str(), "{list:#}");
    assert!(!work.exists());
}
