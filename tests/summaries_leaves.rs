//! A run that comes into the runs folders behind the summaries index's
//! back is looked for in the fan-out leaf it came to, not by reading every
//! run: opened by nexo, or a run's folder copied in by hand. The answers
//! are those without the index, how many runs are closed included.

mod common;

use std::path::Path;

use common::*;

/// `nexo list` with its trace: what it printed, and whether it read
/// every run.
fn list(dir: &Path) -> (String, bool) {
    let out = nexo_cmd()
        .current_dir(dir)
        .env("NEXO_TRACE", "1")
        .arg("list")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    (stdout(&out), stderr(&out).contains("every run read"))
}

/// `nexo list` without the summaries index (then written anew).
fn list_without_index(dir: &Path) -> String {
    for part in ["summaries", "summaries-closed", "summaries-folders"] {
        let _ = std::fs::remove_file(dir.join(".git/nexo-cache").join(part));
    }
    list(dir).0
}

fn close(dir: &Path, run: &str) {
    let out = nexo_in(dir, &["update", run, "--run-status", "completed"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_run_that_comes_is_found_in_its_leaf_alone() {
    let repo = Repo::new();
    let first = repo.open_release();
    let done = repo.open_release();
    close(repo.path(), &done);
    age_runs_folder(repo.path());
    list(repo.path());
    let (_, all) = list(repo.path());
    assert!(!all, "the folders are trusted");
    assert!(
        repo.path()
            .join(".git/nexo-cache/summaries-folders")
            .is_file()
    );

    // Opened by nexo: its leaf changed, and the commit names it too.
    let opened = repo.open_release();
    let (out, all) = list(repo.path());
    assert!(!all, "one leaf listed, not every run read");
    assert!(out.contains(&opened) && out.contains(&first), "{out}");

    // A run's folder copied in by hand: no commit or pending write names
    // it, only its leaf's stamp.
    let other = Repo::new();
    let copied = other.open_release();
    let rel = run_rel(&copied);
    std::fs::create_dir_all(repo.path().join(&rel)).unwrap();
    for entry in std::fs::read_dir(other.path().join(&rel)).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), repo.path().join(&rel).join(entry.file_name())).unwrap();
        }
    }
    let (out, all) = list(repo.path());
    assert!(!all, "one leaf listed, not every run read");
    assert!(out.contains(&copied), "{out}");

    // Every run closed: how many there are is the count without index.
    for run in [&first, &opened, &copied] {
        close(repo.path(), run);
    }
    let (with, _) = list(repo.path());
    assert!(with.contains("No open runs (4 closed"), "{with}");
    assert_eq!(with, list_without_index(repo.path()));
}

/// Once the new folders' stamps are two seconds old they are recorded,
/// with the count of runs, and the next reads trust them again.
#[test]
fn the_folders_a_run_came_to_are_recorded_once_settled() {
    let repo = Repo::new();
    repo.open_release();
    age_runs_folder(repo.path());
    list(repo.path());
    list(repo.path());
    let third = repo.open_release();
    age_runs_folder(repo.path());
    let (out, all) = list(repo.path());
    assert!(!all && out.contains(&third), "{out}");
    let (again, all) = list(repo.path());
    assert!(!all, "trusted again");
    assert_eq!(again, out);
    assert_eq!(again, list_without_index(repo.path()));
}

/// `nexo list` with `args` and its trace.
fn list_with(dir: &Path, args: &[&str]) -> (String, bool) {
    let out = nexo_cmd()
        .current_dir(dir)
        .env("NEXO_TRACE", "1")
        .arg("list")
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    (stdout(&out), stderr(&out).contains("every run read"))
}

/// Copies run `run`'s files from `from` into `to`, as by hand.
fn copy_run(from: &Path, to: &Path, run: &str) {
    let rel = run_rel(run);
    std::fs::create_dir_all(to.join(&rel)).unwrap();
    for entry in std::fs::read_dir(from.join(&rel)).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(&rel).join(entry.file_name())).unwrap();
        }
    }
}

/// A closed run removed by hand and another copied in keep the count of
/// runs: the leaves' counts cannot tell the closed part lost one and
/// lacks the other, so the folders a quick read trusted again must not
/// let `list --all` trust the closed part unchecked.
#[test]
fn a_closed_run_gone_and_one_come_leave_list_all_right() {
    // The newest runs (`--all`), and every closed run (`--status`).
    for args in [&["--all"][..], &["--status", "completed"]] {
        let repo = Repo::new();
        let open = repo.open_release();
        let gone = repo.open_release();
        close(repo.path(), &gone);
        age_runs_folder(repo.path());
        list_with(repo.path(), args);
        list(repo.path());
        assert!(!list(repo.path()).1, "the folders are trusted");

        let other = Repo::new();
        let came = other.open_release();
        close(other.path(), &came);
        std::fs::remove_dir_all(repo.path().join(run_rel(&gone))).unwrap();
        copy_run(other.path(), repo.path(), &came);
        age_runs_folder_to(repo.path(), "2021-01-01T00:00:00");
        let (out, _) = list(repo.path());
        assert!(out.contains(&open), "{out}");
        let (all, _) = list_with(repo.path(), args);
        assert!(
            all.contains(&came) && !all.contains(&gone),
            "{args:?}: {gone} gone, {came} came: {all}"
        );
        assert_eq!(list(repo.path()).0, list_without_index(repo.path()));
    }
}

/// In layout 1 (runs flat in `.nexo/runs`, as a test makes an older
/// nexo's repository) there are no leaves: a run copied in changes the
/// runs folder alone, which no leaf tells, so every run is read.
#[test]
fn a_run_that_comes_in_layout_1_is_seen() {
    let flat = |dir: &Path, args: &[&str]| {
        let out = nexo_cmd()
            .current_dir(dir)
            .env("NEXO_TEST_FLAT_LAYOUT", "1")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let open = |dir: &Path| {
        let out = flat(dir, &["--json", "open", "Ship it", "-s", "a"]);
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["run_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let repo = Repo::new();
    let first = open(repo.path());
    age_runs_folder(repo.path());
    flat(repo.path(), &["list"]);
    flat(repo.path(), &["list"]);

    let other = Repo::new();
    let came = open(other.path());
    let rel = format!(".nexo/runs/{came}");
    std::fs::create_dir_all(repo.path().join(&rel)).unwrap();
    for entry in std::fs::read_dir(other.path().join(&rel)).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), repo.path().join(&rel).join(entry.file_name())).unwrap();
        }
    }
    age_runs_folder_to(repo.path(), "2021-01-01T00:00:00");
    let out = flat(repo.path(), &["list"]);
    assert!(out.contains(&first) && out.contains(&came), "{out}");
    let out = flat(repo.path(), &["list"]);
    assert!(out.contains(&came), "{out}");
}

/// How many runs are closed stays right through reads that write the
/// open part again for another reason (a run of it closed) while the new
/// stamps are too young to record, reads that record them, and a closed
/// run removed by hand: no run is counted twice or lost.
#[test]
fn the_count_of_closed_runs_stays_right_across_reads() {
    let repo = Repo::new();
    let dir = repo.path();
    let open = repo.open_release();
    let done = repo.open_release();
    close(dir, &done);
    age_runs_folder(dir);
    list(dir);
    list(dir);

    let other = Repo::new();
    let came = other.open_release();
    close(other.path(), &came);
    copy_run(other.path(), dir, &came);
    close(dir, &open);
    let expect = |n: usize, when: &str| {
        for _ in 0..2 {
            let (out, all) = list(dir);
            assert!(out.contains(&format!("({n} closed")), "{when}: {out}");
            assert!(
                !all,
                "{when}: the changed leaves listed, not every run read"
            );
        }
    };
    expect(3, "a run closed and one came, young");
    age_runs_folder_to(dir, "2021-01-01T00:00:00");
    expect(3, "recorded");
    std::fs::remove_dir_all(dir.join(run_rel(&came))).unwrap();
    expect(2, "a closed run removed, young");
    age_runs_folder_to(dir, "2022-01-01T00:00:00");
    expect(2, "recorded again");
    let (all, _) = list_with(dir, &["--all"]);
    assert!(all.contains(&open) && all.contains(&done) && !all.contains(&came));
    assert_eq!(list(dir).0, list_without_index(dir));
}
