//! A damaged summaries index is derived state: it must never crash a read.

mod common;

use std::path::Path;

use common::*;

/// A read of every run (`list --status` reads them all, not the open
/// part alone).
fn list_all(dir: &Path) -> std::process::Output {
    nexo_in(dir, &["list", "--status", "completed"])
}

/// The open part's header with its count of runs set to `runs`, its
/// sorted end moved by what the header grew.
fn set_runs(dir: &Path, runs: &str) {
    let path = dir.join(".git/nexo-cache/summaries");
    let text = std::fs::read_to_string(&path).unwrap();
    let (head, body) = text.split_once('\n').unwrap();
    let mut f: Vec<String> = head.split('\t').map(String::from).collect();
    let grew = runs.len() as i64 - f[3].len() as i64;
    let end: i64 = f[1].parse().unwrap();
    f[1] = format!("{:020}", end + grew);
    f[3] = runs.to_string();
    std::fs::write(&path, format!("{}\n{body}", f.join("\t"))).unwrap();
}

#[test]
fn a_header_with_a_huge_count_of_runs_does_not_crash_a_read() {
    let repo = Repo::new();
    repo.open_release();
    repo.open_release();
    age_runs_folder(repo.path());
    // Twice: the second read trusts both parts (a read of every run
    // recorded the folders).
    let before = list_all(repo.path());
    assert!(before.status.success(), "{}", stderr(&before));
    let again = list_all(repo.path());
    assert_eq!(stdout(&again), stdout(&before));
    set_runs(repo.path(), "1000000000000000000");
    let out = list_all(repo.path());
    assert!(
        out.status.success(),
        "a damaged index crashed list: {}",
        stderr(&out)
    );
    assert_eq!(stdout(&out), stdout(&before));
}
