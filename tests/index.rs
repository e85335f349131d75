//! git's index after nexo commits, across index versions and extensions:
//! git must agree that nothing is staged or modified for `.nexo/`, and that
//! the user's entries are untouched.

mod common;

use common::*;
use serde_json::json;

/// Index and working tree both match HEAD, and git can read the index.
fn assert_clean(repo: &Repo) {
    assert!(
        repo.git_output(&["diff", "--cached", "--quiet"])
            .status
            .success(),
        "staged: {}",
        repo.git(&["diff", "--cached", "--stat"])
    );
    assert!(
        repo.git_output(&["diff", "--quiet"]).status.success(),
        "modified: {}",
        repo.git(&["diff", "--stat"])
    );
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    repo.git(&["fsck", "--strict", "--no-progress"]);
}

/// A repository whose paths sort right around `.nexo/`.
fn neighbours() -> Repo {
    let repo = Repo::new();
    for p in [
        ".nexo-before",
        ".nexo.txt",
        ".nexoa",
        ".github/ci.yml",
        "a",
        "z/deep/file",
    ] {
        let path = repo.path().join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, p).unwrap();
    }
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "neighbours"]);
    repo
}

fn exercise(repo: &Repo) {
    let id = repo.open_release();
    assert_clean(repo);
    repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "step_key": "doctor", "step_status": "completed"}),
    );
    assert_clean(repo);
    repo.call("nexo_workflow_update", &json!({"run_id": id, "step_key": "extra", "step_title": "Extra", "step_status": "running"}));
    assert_clean(repo);
    let second = repo.open_release();
    repo.call(
        "nexo_workflow_handoff",
        &json!({"run_id": second, "actor": "a", "new_owner": "b"}),
    );
    assert_clean(repo);
    // Every tracked path is in the index exactly once, in git's order.
    let ls = repo.git(&["ls-files"]);
    let mut sorted: Vec<&str> = ls.lines().collect();
    sorted.sort();
    sorted.dedup();
    assert_eq!(ls.lines().collect::<Vec<_>>(), sorted);
    assert_eq!(repo.git(&["ls-tree", "-r", "--name-only", "HEAD"]), ls);
}

#[test]
fn version_2_with_neighbouring_paths() {
    let repo = neighbours();
    exercise(&repo);
}

#[test]
fn version_3_with_an_intent_to_add_entry() {
    let repo = neighbours();
    std::fs::write(repo.path().join("later.txt"), "x").unwrap();
    repo.git(&["add", "-N", "later.txt"]);
    let id = repo.open_release();
    repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "step_key": "doctor", "step_status": "running"}),
    );
    // The intent-to-add entry survives; nothing of ours is staged.
    assert_eq!(repo.git(&["status", "--porcelain"]), " A later.txt\n");
    assert!(
        repo.git_output(&["diff", "--cached", "--quiet"])
            .status
            .success()
    );
    repo.git(&["fsck", "--no-progress"]);
}

#[test]
fn version_4_stays_version_4() {
    let repo = neighbours();
    repo.git(&["update-index", "--index-version", "4"]);
    exercise(&repo);
    // As git does, nexo writes the index at the version it read.
    let v = std::fs::read(repo.path().join(".git/index")).unwrap();
    assert_eq!(v[7], 4);
    // Runs removed (archived) and added around the user's own entries.
    let id = repo.open_release();
    repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "run_status": "completed"}),
    );
    let out = repo.nexo(&["archive", "--closed-before", "0s"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_clean(&repo);
    assert_eq!(std::fs::read(repo.path().join(".git/index")).unwrap()[7], 4);
}

#[test]
fn untracked_cache_and_skip_hash_are_respected() {
    let repo = neighbours();
    repo.git(&["config", "core.untrackedCache", "true"]);
    repo.git(&["update-index", "--untracked-cache"]);
    repo.git(&["status", "--porcelain"]);
    exercise(&repo);

    let repo = neighbours();
    repo.git(&["config", "index.skipHash", "true"]);
    repo.git(&["update-index", "--really-refresh"]);
    std::fs::write(repo.path().join("a"), "changed").unwrap();
    repo.git(&["add", "a"]);
    repo.open_release();
    let v = std::fs::read(repo.path().join(".git/index")).unwrap();
    assert!(
        v[v.len() - 20..].iter().all(|&b| b == 0),
        "skipHash index got a checksum"
    );
    assert_eq!(repo.git(&["status", "--porcelain"]), "M  a\n");
}

#[test]
fn a_damaged_index_is_not_blessed_with_a_new_checksum() {
    let repo = neighbours();
    let path = repo.path().join(".git/index");
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let head = repo.git(&["rev-parse", "HEAD"]);
    // The event is written (and said so); the commit is not made, and the
    // answer says why, so the caller knows not to retry.
    let v = repo.call(
        "nexo_workflow_open",
        &serde_json::json!({"sid":"s","goal":"g"}),
    );
    assert_eq!(v["committed"], false, "{v}");
    assert!(
        v["pending_reason"].as_str().unwrap().contains("checksum"),
        "{v}"
    );
    assert_eq!(repo.git(&["rev-parse", "HEAD"]), head, "HEAD moved");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "the index was rewritten"
    );
}

#[test]
fn the_users_next_commit_after_many_nexo_commits_keeps_everything() {
    let repo = neighbours();
    let id = repo.open_release();
    std::fs::write(repo.path().join("a"), "user change").unwrap();
    for i in 0..5 {
        repo.call(
            "nexo_workflow_update",
            &json!({"run_id": id, "summary": format!("s{i}")}),
        );
    }
    let nexo_tree = repo.git(&["rev-parse", "HEAD:.nexo"]);
    repo.git(&["commit", "-q", "-am", "user"]);
    assert_eq!(repo.git(&["rev-parse", "HEAD:.nexo"]), nexo_tree);
    assert_eq!(
        repo.git(&["show", "--name-only", "--format=", "HEAD"]),
        "a\n"
    );
    assert_clean(&repo);
}

/// Puts the index in split mode with git's own command, with git's
/// threshold for a new shared base set to `max_percent`.
fn split(repo: &Repo, max_percent: &str) {
    repo.git(&["config", "core.splitIndex", "true"]);
    repo.git(&["config", "splitIndex.maxPercentChange", max_percent]);
    repo.git(&["update-index", "--split-index"]);
    assert!(is_split(repo));
}

fn is_split(repo: &Repo) -> bool {
    let bytes = std::fs::read(repo.path().join(".git/index")).unwrap();
    bytes.windows(4).any(|w| w == b"link")
}

fn shared_indexes(repo: &Repo) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo.path().join(".git"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("sharedindex."))
        .collect();
    names.sort();
    names
}

/// gix (which cargo and other tools read indexes with) sees the entries
/// git sees.
fn assert_gix_agrees(repo: &Repo) {
    let index = gix::open(repo.path()).unwrap().index().unwrap();
    let paths: String = index
        .entries()
        .iter()
        .map(|e| format!("{}\n", e.path(&index)))
        .collect();
    assert_eq!(paths, repo.git(&["ls-files"]));
}

#[test]
fn a_split_index_stays_split_and_only_its_small_part_is_written() {
    let repo = neighbours();
    split(&repo, "100");
    let bases = shared_indexes(&repo);
    exercise(&repo);
    assert!(is_split(&repo), "the index was written whole");
    assert_eq!(
        shared_indexes(&repo),
        bases,
        "a new shared index was written"
    );
    assert_gix_agrees(&repo);
    // git's own next write of the index keeps it working.
    std::fs::write(repo.path().join("a"), "user change").unwrap();
    repo.git(&["commit", "-q", "-am", "user"]);
    assert_clean(&repo);
    repo.open_release();
    assert_clean(&repo);
    assert_gix_agrees(&repo);
}

#[test]
fn a_split_index_past_its_threshold_gets_a_new_base_and_keeps_the_users_staging() {
    let repo = neighbours();
    split(&repo, "0");
    std::fs::write(repo.path().join("a"), "staged by the user").unwrap();
    repo.git(&["add", "a"]);
    let bases = shared_indexes(&repo);
    let id = repo.open_release();
    repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "step_key": "doctor", "step_status": "completed"}),
    );
    assert!(is_split(&repo));
    assert_ne!(shared_indexes(&repo), bases, "no new shared index");
    assert_eq!(repo.git(&["status", "--porcelain"]), "M  a\n");
    assert_eq!(repo.git(&["diff", "--cached", "--name-only"]), "a\n");
    repo.git(&["fsck", "--strict", "--no-progress"]);
    assert_gix_agrees(&repo);
    repo.git(&["commit", "-q", "-m", "user"]);
    assert_clean(&repo);
}

#[test]
fn moving_runs_out_of_a_split_index_deletes_their_shared_entries() {
    for max_percent in ["100", "0"] {
        let repo = neighbours();
        let id = repo.open_release();
        repo.call(
            "nexo_workflow_update",
            &json!({"run_id": id, "run_status": "completed"}),
        );
        let other = repo.open_release();
        // The runs' files are in the shared base from here on.
        split(&repo, max_percent);
        nexo_ok(repo.path(), &["--json", "archive", "--closed-before", "0s"]);
        assert!(is_split(&repo));
        assert_clean(&repo);
        assert_eq!(
            repo.git(&["ls-tree", "-r", "--name-only", "HEAD"]),
            repo.git(&["ls-files"])
        );
        assert_gix_agrees(&repo);
        // A write to a run still in the base replaces its entries.
        repo.call(
            "nexo_workflow_update",
            &json!({"run_id": other, "summary": "after the archive"}),
        );
        assert_clean(&repo);
        assert_gix_agrees(&repo);
    }
}

/// git's fsmonitor extension (FSMN) marks changed entries by position:
/// kept after nexo adds entries before a user's modified file, it would
/// mark that file unchanged and `git status` would hide the change.
#[test]
fn a_users_change_stays_visible_to_git_with_fsmonitor() {
    use std::os::unix::fs::PermissionsExt;
    for split_it in [false, true] {
        let repo = neighbours();
        // A hook that never reports a change: git trusts its bitmap.
        let hook = repo.path().join(".git/fsmonitor-hook");
        std::fs::write(&hook, "#!/bin/sh\nprintf 'token\\0'\n").unwrap();
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
        repo.git(&["config", "core.fsmonitor", hook.to_str().unwrap()]);
        repo.git(&["config", "core.fsmonitorHookVersion", "2"]);
        if split_it {
            split(&repo, "100");
        }
        std::fs::write(repo.path().join("z/deep/file"), "changed by the user").unwrap();
        assert_eq!(repo.git(&["status", "--porcelain"]), " M z/deep/file\n");
        repo.git(&["update-index", "--force-write-index"]);
        // git keeps the file marked as changed in its fsmonitor bitmap.
        assert_eq!(
            repo.git(&["ls-files", "-f", "z/deep/file"]),
            "H z/deep/file\n"
        );
        repo.open_release();
        // A whole index keeps its bitmap, renumbered: the user's file is
        // still to check, an unchanged one is still trusted (lower case),
        // so git need not look at every file after each nexo write.
        if !split_it {
            assert_eq!(
                repo.git(&["ls-files", "-f", "z/deep/file", "a"]),
                "h a\nH z/deep/file\n"
            );
        }
        assert_eq!(
            repo.git(&["status", "--porcelain"]),
            " M z/deep/file\n",
            "split: {split_it}"
        );
    }
}

/// A shared index nexo writes is readable as git's own are (0666 less
/// the umask), not private to its writer: another account reading the
/// repository (a CI user, a container) could not read the index at all.
#[test]
fn a_new_shared_index_has_the_mode_git_gives_its_own() {
    use std::os::unix::fs::PermissionsExt;
    let repo = neighbours();
    split(&repo, "0");
    let mode = |name: &str| {
        let path = repo.path().join(".git").join(name);
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    };
    let gits = shared_indexes(&repo);
    repo.open_release();
    let new: Vec<String> = shared_indexes(&repo)
        .into_iter()
        .filter(|n| !gits.contains(n))
        .collect();
    assert!(!new.is_empty(), "no new shared index");
    for name in new {
        assert_eq!(mode(&name), mode(&gits[0]), "{name}");
    }
}

/// A conflict on one of nexo's files (stages 1 to 3, as `git stash pop`
/// leaves one) ends with nexo's entry, whatever the index's form.
#[test]
fn a_conflict_on_a_nexo_file_ends_with_nexos_entry_in_every_form() {
    let forms: [&[&str]; 3] = [
        &["update-index", "--split-index"],
        &["update-index", "--index-version", "4"],
        &["update-index", "--index-version", "4", "--split-index"],
    ];
    for form in forms {
        let repo = neighbours();
        let id = repo.open_release();
        repo.git(form);
        let ls = repo.git(&["ls-files", ".nexo"]);
        let path = ls.lines().find(|l| l.ends_with("/run.yaml")).unwrap();
        let ours = repo.git(&["rev-parse", &format!("HEAD:{path}")]);
        let theirs = repo.git(&["rev-parse", "HEAD:a"]);
        let (ours, theirs) = (ours.trim(), theirs.trim());
        let null = "0".repeat(40);
        index_info(
            repo.path(),
            &format!(
                "0 {null}\t{path}\n100644 {ours} 1\t{path}\n100644 {theirs} 2\t{path}\n100644 {ours} 3\t{path}\n"
            ),
        );
        assert_eq!(repo.git(&["ls-files", "--unmerged"]).lines().count(), 3);
        repo.call(
            "nexo_workflow_update",
            &json!({"run_id": id, "summary": "after the conflict"}),
        );
        assert_eq!(repo.git(&["ls-files", "--unmerged"]), "", "{form:?}");
        assert_clean(&repo);
    }
}

#[test]
fn a_threshold_git_would_refuse_is_refused_before_anything_is_written() {
    let repo = neighbours();
    split(&repo, "20");
    repo.git(&["config", "splitIndex.maxPercentChange", "lots"]);
    let head = repo.git(&["rev-parse", "HEAD"]);
    let out = repo.nexo(&["open", "goal", "-s", "a"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("splitIndex.maxPercentChange is not a number"),
        "{}",
        stderr(&out)
    );
    assert_eq!(repo.git(&["rev-parse", "HEAD"]), head);
    assert!(!repo.path().join(".nexo/runs").exists());
}

/// An index of several passes' slices (`index::SLICE`, 4 MB): each slice
/// is handed back to the kernel as it is scanned, hashed and written, and
/// git must still read every entry where it was, on both sides of
/// `.nexo/`.
#[test]
fn an_index_larger_than_a_slice_is_spliced_whole() {
    let repo = Repo::new();
    for dir in ["a", "z"] {
        let folder = repo.path().join(dir);
        std::fs::create_dir_all(&folder).unwrap();
        for n in 0..40_000 {
            std::fs::write(folder.join(format!("{n:06}")), "").unwrap();
        }
    }
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "many files"]);
    let size = std::fs::metadata(repo.path().join(".git/index"))
        .unwrap()
        .len();
    assert!(size > 5 << 20, "the index is {size} bytes");
    exercise(&repo);
    assert_eq!(repo.git(&["ls-files", "a", "z"]).lines().count(), 80_000);
}
