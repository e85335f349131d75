//! `nexo archive`: closed runs out of `.nexo/runs/` into `.nexo/archive/`
//! in one commit, still read by id, listed by `list --archived`; a later
//! event brings a run back with nothing lost, whether written here, or by
//! a peer that had not pulled the archiving and merges with `nexo sync` or
//! a plain `git pull`.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

fn closed_run(dir: &Path, goal: &str) -> String {
    let run = nexo_ok(dir, &["--json", "open", goal, "-s", "a"])["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    nexo_ok(
        dir,
        &["--json", "update", &run, "a", "--status", "completed"],
    );
    run
}

fn archive_rel(run: &str) -> String {
    nexo::core::layout::archive_rel(run)
}

fn listed(dir: &Path, args: &[&str]) -> Vec<String> {
    let mut all = vec!["--json", "list"];
    all.extend(args);
    nexo_ok(dir, &all)["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap().to_string())
        .collect()
}

fn event_ids(dir: &Path, run: &str) -> Vec<String> {
    let mut ids: Vec<String> =
        nexo_ok(dir, &["--json", "replay", run, "--limit", "1000"])["checkpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["event_id"].as_str().unwrap_or_default().to_string())
            .collect();
    ids.sort();
    ids
}

fn doctor_clean(dir: &Path) {
    let report = parse_json(&nexo_in(dir, &["--json", "doctor"]));
    assert_eq!(report["ok"], true, "{report:#}");
}

#[test]
fn closed_runs_move_to_the_archive_in_one_commit_and_are_still_read_by_id() {
    let repo = Repo::new();
    let done = closed_run(repo.path(), "Release 3.1");
    let open = nexo_ok(repo.path(), &["--json", "open", "Release 3.2", "-s", "a"])["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let head = repo.git(&["rev-parse", "HEAD"]);

    let dry = nexo_ok(
        repo.path(),
        &["--json", "archive", "--closed-before", "0s", "--dry-run"],
    );
    assert_eq!(
        (dry["count"].clone(), dry["dry_run"].clone()),
        (1.into(), true.into())
    );
    assert_eq!(dry["runs"][0]["run_id"], done.as_str());
    assert_eq!(
        repo.git(&["rev-parse", "HEAD"]),
        head,
        "a dry run commits nothing"
    );
    let young = nexo_ok(repo.path(), &["--json", "archive"]);
    assert_eq!(young["count"], 0, "closed just now: not 30 days ago");

    let r = nexo_ok(repo.path(), &["--json", "archive", "--closed-before", "0s"]);
    assert_eq!(r["count"], 1, "{r}");
    assert_eq!(
        repo.git(&["rev-list", "--count", &format!("{}..HEAD", head.trim())])
            .trim(),
        "1"
    );
    let touched = repo.git(&["show", "--name-only", "--format=", "HEAD"]);
    assert!(
        touched.lines().all(|p| p.starts_with(".nexo/")),
        "{touched}"
    );
    assert!(
        repo.path()
            .join(archive_rel(&done))
            .join("history.jsonl")
            .exists()
    );
    assert!(!repo.path().join(run_rel(&done)).exists());
    assert_eq!(repo.git(&["status", "--porcelain"]), "");

    assert_eq!(listed(repo.path(), &["--all"]), vec![open.clone()]);
    assert_eq!(listed(repo.path(), &["--archived"]), vec![done.clone()]);
    let got = nexo_ok(repo.path(), &["--json", "get", &done]);
    assert_eq!(got["run"]["status"], "completed", "{got}");
    assert_eq!(event_ids(repo.path(), &done).len(), 2);
    let shown = repo.nexo(&["show", &done]);
    assert!(shown.status.success() && stdout(&shown).contains("Release 3.1"));
    let prefix = &done[..8];
    assert_eq!(
        nexo_ok(repo.path(), &["--json", "get", prefix])["run"]["run_id"],
        done.as_str()
    );
    doctor_clean(repo.path());
}

#[test]
fn a_write_to_an_archived_run_brings_it_back_in_its_own_commit() {
    let repo = Repo::new();
    let run = closed_run(repo.path(), "Audit");
    nexo_ok(repo.path(), &["--json", "archive", "--closed-before", "0s"]);
    let before = event_ids(repo.path(), &run);

    nexo_ok(repo.path(), &["--json", "handoff", &run, "--to", "bob"]);
    assert!(!repo.path().join(archive_rel(&run)).exists());
    assert!(
        repo.path()
            .join(run_rel(&run))
            .join("history.jsonl")
            .exists()
    );
    assert!(
        !repo
            .path()
            .join(run_rel(&run))
            .join("archived.yaml")
            .exists()
    );
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    let after = event_ids(repo.path(), &run);
    assert_eq!(after.len(), before.len() + 1);
    assert!(before.iter().all(|e| after.contains(e)));
    assert!(listed(repo.path(), &["--archived"]).is_empty());
    assert_eq!(listed(repo.path(), &["--all"]), vec![run]);
    doctor_clean(repo.path());
}

/// Two clones with `run` closed; the first archives it and pushes, while
/// the second, which has not pulled, writes a later event.
fn archived_there_written_here() -> (Repo, Shared, String, Vec<String>) {
    let repo = Repo::new();
    let shared = repo.share();
    let run = closed_run(repo.path(), "Migrate");
    assert!(nexo_in(repo.path(), &["sync"]).status.success());
    assert!(nexo_in(&shared.other, &["sync"]).status.success());
    nexo_ok(repo.path(), &["--json", "archive", "--closed-before", "0s"]);
    assert!(nexo_in(repo.path(), &["sync"]).status.success());
    nexo_ok(&shared.other, &["--json", "handoff", &run, "--to", "carol"]);
    let mut ids = event_ids(&shared.other, &run);
    ids.sort();
    (repo, shared, run, ids)
}

fn back_with_every_event(dir: &Path, run: &str, ids: &[String]) {
    assert!(
        !dir.join(archive_rel(run)).exists(),
        "{} still archived",
        dir.display()
    );
    assert_eq!(event_ids(dir, run), ids, "every event, once");
    assert_eq!(listed(dir, &["--all"]), vec![run.to_string()]);
    doctor_clean(dir);
}

#[test]
fn a_peers_later_event_brings_an_archived_run_back_through_nexo_sync() {
    let (repo, shared, run, ids) = archived_there_written_here();
    let out = nexo_in(&shared.other, &["sync"]);
    assert!(out.status.success(), "{}", stderr(&out));
    back_with_every_event(&shared.other, &run, &ids);
    assert!(nexo_in(repo.path(), &["sync"]).status.success());
    back_with_every_event(repo.path(), &run, &ids);
}

#[test]
fn a_peers_later_event_brings_an_archived_run_back_after_a_plain_git_pull() {
    let (_repo, shared, run, ids) = archived_there_written_here();
    let pulled = git_cmd()
        .current_dir(&shared.other)
        .args(["pull", "--no-rebase", "--no-edit", "-q"])
        .output()
        .unwrap();
    assert!(
        pulled.status.success(),
        "{}",
        String::from_utf8_lossy(&pulled.stderr)
    );
    // Any command sees HEAD's .nexo moved and settles the archive.
    let list: Value = nexo_ok(&shared.other, &["--json", "list", "--all"]);
    assert_eq!(list["runs"][0]["run_id"], run.as_str(), "{list}");
    assert_eq!(git_in(&shared.other, &["status", "--porcelain"]), "");
    back_with_every_event(&shared.other, &run, &ids);
}

#[test]
fn a_length_that_is_not_one_is_refused_in_the_flags_terms_and_nothing_is_written() {
    let repo = Repo::new();
    closed_run(repo.path(), "Ship");
    let head = repo.git(&["rev-parse", "HEAD"]);
    let out = repo.nexo(&["archive", "--closed-before", "soon"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--closed-before \"soon\""),
        "{}",
        stderr(&out)
    );
    let call = repo.nexo(&[
        "call",
        "nexo_workflow_list",
        "--input",
        r#"{"archived":"yes"}"#,
    ]);
    assert!(!call.status.success());
    assert_eq!(repo.git(&["rev-parse", "HEAD"]), head);
}

#[test]
fn an_archive_killed_at_every_point_loses_no_event_and_the_next_command_settles_it() {
    for point in [
        "archive-pending",
        "archive-moved",
        "archive-noted",
        "before-commit",
    ] {
        let repo = Repo::new();
        let runs: Vec<String> = (0..3)
            .map(|i| closed_run(repo.path(), &format!("R{i}")))
            .collect();
        let before: Vec<Vec<String>> = runs.iter().map(|r| event_ids(repo.path(), r)).collect();
        let killed = nexo_cmd()
            .current_dir(repo.path())
            .env("NEXO_CRASH_AT", point)
            .args(["archive", "--closed-before", "0s"])
            .output()
            .unwrap();
        assert!(!killed.status.success(), "{point}: the kill happened");
        // The next command that takes nexo's lock finishes what the
        // killed one left (here `nexo commit`; any write would).
        nexo_ok(repo.path(), &["--json", "commit"]);
        for (run, ids) in runs.iter().zip(&before) {
            assert_eq!(&event_ids(repo.path(), run), ids, "{point}: {run}");
        }
        let archived = listed(repo.path(), &["--archived"]).len();
        let live = listed(repo.path(), &["--all"]).len();
        assert_eq!(archived + live, 3, "{point}: each run in one place");
        doctor_clean(repo.path());
        assert_eq!(repo.git(&["status", "--porcelain"]), "", "{point}");
    }
}

#[test]
fn a_live_copy_beside_an_archived_run_is_united_by_doctor_fix() {
    let repo = Repo::new();
    let run = closed_run(repo.path(), "Both");
    let ids = event_ids(repo.path(), &run);
    nexo_ok(repo.path(), &["--json", "archive", "--closed-before", "0s"]);
    // A merge git could not pair with the archiving leaves the run's
    // folder in both places (here by hand, committed).
    let (from, to) = (
        repo.path().join(archive_rel(&run)),
        repo.path().join(run_rel(&run)),
    );
    std::fs::create_dir_all(&to).unwrap();
    std::fs::copy(from.join("history.jsonl"), to.join("history.jsonl")).unwrap();
    repo.git(&["add", ".nexo"]);
    repo.git(&["commit", "-q", "-m", "a merge kept both"]);
    let report = parse_json(&nexo_in(repo.path(), &["--json", "doctor"]));
    assert_eq!(report["ok"], false, "{report:#}");
    assert!(report.to_string().contains("archived_later"), "{report:#}");
    let fixed = parse_json(&nexo_in(repo.path(), &["--json", "doctor", "--fix"]));
    assert_eq!(fixed["ok"], true, "{fixed:#}");
    assert!(!from.exists());
    assert_eq!(event_ids(repo.path(), &run), ids);
    doctor_clean(repo.path());
}

#[test]
fn two_peers_that_had_not_pulled_the_archiving_merge_their_events_with_plain_git_pulls() {
    let (_repo, shared, run, mut ids) = archived_there_written_here();
    // The second peer pulls and pushes with plain git: no nexo command
    // settles the archive between, so the remote holds the archived run
    // with its line.
    let third = shared.other.with_file_name("third");
    clone_as(&shared.bare, &third, "Third");
    let git = |dir: &Path, args: &[&str]| {
        let out = git_cmd().current_dir(dir).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // The third clone is from before the archiving: reset it there.
    git(&third, &["reset", "-q", "--hard", "HEAD~1"]);
    git(&third, &["config", "pull.rebase", "false"]);
    nexo_ok(&third, &["--json", "handoff", &run, "--to", "dave"]);
    ids.extend(event_ids(&third, &run));
    git(&shared.other, &["pull", "--no-rebase", "--no-edit", "-q"]);
    git(&shared.other, &["push", "-q"]);
    git(&third, &["pull", "--no-rebase", "--no-edit", "-q"]);
    // Any command sees HEAD's .nexo moved and settles the archive.
    nexo_ok(&third, &["--json", "list", "--all"]);
    ids.sort();
    ids.dedup();
    back_with_every_event(&third, &run, &ids);
}

#[test]
fn a_peers_link_in_the_archive_stops_no_command_and_doctor_names_it() {
    let repo = Repo::new();
    let shared = repo.share();
    let open = nexo_ok(repo.path(), &["--json", "open", "Live", "-s", "a"])["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(nexo_in(repo.path(), &["sync"]).status.success());
    // The peer commits a link where an archived run's folder would be.
    git_in(&shared.other, &["pull", "-q", "--no-edit"]);
    let outside = tempfile::tempdir().unwrap();
    let evil = shared.other.join(".nexo/archive/Z/Z/WF-ZZZZZZZZZZZZZZZZ");
    std::fs::create_dir_all(evil.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(outside.path(), &evil).unwrap();
    git_in(&shared.other, &["add", "-A", ".nexo"]);
    git_in(&shared.other, &["commit", "-q", "-m", "a link"]);
    git_in(&shared.other, &["push", "-q"]);

    let out = nexo_in(repo.path(), &["sync"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(listed(repo.path(), &["--all"]), vec![open.clone()]);
    nexo_ok(repo.path(), &["--json", "handoff", &open, "--to", "bob"]);
    let report = parse_json(&nexo_in(repo.path(), &["--json", "doctor"]));
    assert!(report.to_string().contains("symlink"), "{report:#}");
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
}

#[test]
fn doctor_reports_a_link_at_the_archive_instead_of_stopping() {
    let repo = Repo::new();
    closed_run(repo.path(), "Old");
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), repo.path().join(".nexo/archive")).unwrap();
    let out = nexo_in(repo.path(), &["--json", "doctor"]);
    let report = parse_json(&out);
    assert!(report.to_string().contains("symlink"), "{report:#}");
    let fixed = parse_json(&nexo_in(repo.path(), &["--json", "doctor", "--fix"]));
    assert_eq!(fixed["ok"], true, "{fixed:#}");
    assert!(!repo.path().join(".nexo/archive").exists());
}

#[test]
fn a_refused_write_to_an_archived_run_moves_nothing() {
    let repo = Repo::new();
    let run = closed_run(repo.path(), "Done");
    nexo_ok(repo.path(), &["--json", "archive", "--closed-before", "0s"]);
    let head = repo.git(&["rev-parse", "HEAD"]);
    let claim = repo.nexo(&["claim", &run, "a"]);
    assert!(!claim.status.success(), "a completed step is not claimed");
    let update = repo.nexo(&["update", &run, "nosuch", "--status", "completed"]);
    assert!(!update.status.success(), "an unknown step is refused");
    assert_eq!(repo.git(&["status", "--porcelain"]), "", "nothing written");
    assert_eq!(repo.git(&["rev-parse", "HEAD"]), head);
    assert_eq!(listed(repo.path(), &["--archived"]), vec![run]);
}

#[test]
fn verify_judges_archived_runs_and_an_archiving_branch_loses_none() {
    let repo = Repo::new();
    closed_run(repo.path(), "Old");
    repo.git(&["checkout", "-q", "-b", "tidy"]);
    nexo_ok(repo.path(), &["--json", "archive", "--closed-before", "0s"]);
    let out = repo.nexo(&["--json", "verify", "--trusted", "main"]);
    let report = parse_json(&out);
    assert_eq!(report["ok"], true, "moved, not gone: {report:#}");
    let here = parse_json(&repo.nexo(&["--json", "verify"]));
    assert_eq!(here["runs"], 1, "the archived run is judged: {here:#}");
}

#[test]
fn junk_in_the_archive_named_like_a_run_stops_no_command() {
    let repo = Repo::new();
    let run = closed_run(repo.path(), "Kept");
    repo.git(&["checkout", "-q", "-b", "peer"]);
    let junk = repo.path().join(".nexo/archive/Z/Z/WF-ZZZZZZZZZZZZZZZZ");
    std::fs::create_dir_all(junk.parent().unwrap()).unwrap();
    std::fs::write(&junk, "not a folder\n").unwrap();
    repo.git(&["add", "-A", ".nexo"]);
    repo.git(&["commit", "-q", "-m", "junk"]);
    repo.git(&["checkout", "-q", "main"]);
    nexo_ok(repo.path(), &["--json", "list"]);
    // The junk arrives by a merge, as a peer's commit would.
    repo.git(&["merge", "-q", "--no-edit", "peer"]);
    assert_eq!(listed(repo.path(), &["--all"]), vec![run.clone()]);
    assert!(listed(repo.path(), &["--archived"]).is_empty());
    nexo_ok(repo.path(), &["--json", "handoff", &run, "--to", "bob"]);
    doctor_clean(repo.path());
}

#[test]
fn a_write_while_an_archive_commits_never_takes_its_index_lock() {
    let repo = Repo::new();
    let done = closed_run(repo.path(), "Done");
    let open = nexo_ok(repo.path(), &["--json", "open", "Busy", "-s", "a"])["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let pause = repo.path().join("..").join(format!(
        "pause-{}",
        repo.path().file_name().unwrap().to_string_lossy()
    ));
    let archive = nexo_cmd()
        .current_dir(repo.path())
        .env("NEXO_PAUSE_AT", "archive-noted")
        .env("NEXO_PAUSE_FILE", &pause)
        .args(["--json", "archive", "--closed-before", "0s"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while !pause.exists() {
        assert!(
            start.elapsed().as_secs() < 60,
            "the archive reached its pause"
        );
        std::thread::yield_now();
    }
    // Another writer while the archive holds git's index lock: it waits
    // for nexo's lock (and gives up, busy), never removes the index lock.
    let write = repo.nexo(&["--json", "handoff", &open, "--to", "bob"]);
    std::fs::remove_file(&pause).unwrap();
    let archived = archive.wait_with_output().unwrap();
    assert!(archived.status.success(), "{}", stderr(&archived));
    assert_eq!(
        repo.git(&["status", "--porcelain"]),
        "",
        "{}",
        stderr(&write)
    );
    assert_eq!(listed(repo.path(), &["--archived"]), vec![done]);
    doctor_clean(repo.path());
}

#[test]
fn resolve_unites_an_archived_history_two_peers_conflicted_in() {
    let repo = Repo::new();
    // The user's own attributes, which nexo leaves alone: no union merge
    // for the archive, so git stops on the two peers' lines.
    std::fs::create_dir_all(repo.path().join(".nexo")).unwrap();
    std::fs::write(
        repo.path().join(".nexo/.gitattributes"),
        "runs/*/*/*/history.jsonl merge=union\n",
    )
    .unwrap();
    repo.git(&["add", ".nexo/.gitattributes"]);
    repo.git(&["commit", "-q", "-m", "own attributes"]);
    let shared = repo.share();
    let run = closed_run(repo.path(), "Migrate");
    assert!(nexo_in(repo.path(), &["sync"]).status.success());
    assert!(nexo_in(&shared.other, &["sync"]).status.success());
    nexo_ok(repo.path(), &["--json", "archive", "--closed-before", "0s"]);
    nexo_ok(&shared.other, &["--json", "handoff", &run, "--to", "carol"]);
    nexo_ok(repo.path(), &["--json", "handoff", &run, "--to", "dave"]);
    let mut ids = event_ids(&shared.other, &run);
    ids.extend(event_ids(repo.path(), &run));
    ids.sort();
    ids.dedup();
    // Here the run came back with its write; archive it again, so the
    // peer's line and this one meet in .nexo/archive/.
    nexo_ok(repo.path(), &["--json", "archive", "--closed-before", "0s"]);
    git_in(repo.path(), &["push", "-q"]);
    let pulled = git_cmd()
        .current_dir(&shared.other)
        .args(["pull", "--no-rebase", "--no-edit", "-q"])
        .output()
        .unwrap();
    if pulled.status.success() {
        return skip("git merged without a conflict");
    }
    let resolved = nexo_in(&shared.other, &["resolve"]);
    assert!(resolved.status.success(), "{}", stderr(&resolved));
    let history = shared.other.join(archive_rel(&run)).join("history.jsonl");
    let text = std::fs::read_to_string(&history).unwrap();
    assert!(!text.contains("<<<<<<<"), "{text}");
    git_in(&shared.other, &["commit", "-q", "--no-edit"]);
    assert_eq!(listed(&shared.other, &["--all"]), vec![run.clone()]);
    assert!(!shared.other.join(archive_rel(&run)).exists());
    assert_eq!(event_ids(&shared.other, &run), ids, "every event, once");
}

#[test]
fn the_first_archiving_commits_the_archives_merge_rules() {
    let repo = Repo::new();
    closed_run(repo.path(), "Old");
    // A repository whose .gitattributes predates the archive.
    let attributes = repo.path().join(".nexo/.gitattributes");
    let old: String = std::fs::read_to_string(&attributes)
        .unwrap()
        .lines()
        .filter(|l| !l.contains("archive"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&attributes, old).unwrap();
    repo.git(&["commit", "-qam", "an older nexo's attributes"]);
    nexo_ok(repo.path(), &["--json", "archive", "--closed-before", "0s"]);
    let committed = repo.git(&["show", "HEAD:.nexo/.gitattributes"]);
    assert!(committed.contains("archive/"), "{committed}");
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
}

#[test]
fn archived_with_a_filter_it_cannot_honour_is_refused_in_the_callers_terms() {
    let repo = Repo::new();
    closed_run(repo.path(), "Ship");
    for input in [
        r#"{"archived":true,"status":"completed"}"#,
        r#"{"archived":true,"branches":true}"#,
    ] {
        let out = repo.nexo(&["call", "nexo_workflow_list", "--input", input]);
        assert_eq!(out.status.code(), Some(2), "{input}: {}", stdout(&out));
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert!(
            text.contains("archived") && text.contains("combine"),
            "{text}"
        );
    }
}

/// A run closed and archived on another branch is brought by its full
/// id, with or without --from; a prefix cannot find it (archives are not
/// listed ref by ref) and the hint says to give the full id.
#[test]
fn a_run_archived_on_another_branch_is_brought_by_its_full_id() {
    let repo = Repo::new();
    let dir = repo.path();
    repo.open_release();
    for from in [None, Some("side")] {
        repo.git(&["checkout", "-q", "-B", "side", "main"]);
        let run = closed_run(dir, "side work");
        nexo_ok(dir, &["--json", "archive", "--closed-before", "0s"]);
        repo.git(&["checkout", "-q", "main"]);
        assert!(!dir.join(archive_rel(&run)).exists());

        let out = repo.nexo(&["bring", &run[..8]]);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        assert!(stderr(&out).contains("full id"), "{}", stderr(&out));

        let mut args = vec!["--json", "bring", &run];
        args.extend(from.iter().flat_map(|f| ["--from", *f]));
        let r = nexo_ok(dir, &args);
        assert_eq!(r["from"], serde_json::json!(["side"]), "{r}");
        assert!(r["events_brought"].as_u64().unwrap() > 0, "{r}");
        let got = nexo_ok(dir, &["--json", "get", &run]);
        assert_eq!(got["run"]["status"], "completed", "{got}");
        assert_eq!(repo.git(&["status", "--porcelain"]), "");
    }
}
