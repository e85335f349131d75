//! Runs on every branch and worktree: found from anywhere, shown as the
//! union of their histories, carried over on purpose, and written from two
//! worktrees at once.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

fn open(dir: &Path, goal: &str) -> String {
    let v = nexo_ok(
        dir,
        &["open", goal, "-s", "a", "-s", "b", "-s", "c", "--json"],
    );
    v["run_id"].as_str().unwrap().to_string()
}

fn listed(dir: &Path) -> Vec<Value> {
    nexo_ok(dir, &["list", "--branches", "--json"])["runs"]
        .as_array()
        .unwrap()
        .clone()
}

/// A linked worktree of `repo` on a new branch `branch`, beside it.
fn worktree(repo: &Repo, branch: &str) -> std::path::PathBuf {
    let dir = repo.path().parent().unwrap().join(format!(
        "{}-{branch}",
        repo.path().file_name().unwrap().to_string_lossy()
    ));
    repo.git(&["worktree", "add", "-q", "-b", branch, dir.to_str().unwrap()]);
    dir
}

fn refs_of(run: &Value) -> Vec<String> {
    run["lives_on"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["ref"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_run_on_another_branch_is_found_shown_and_not_written_here() {
    let repo = Repo::new();
    repo.git(&["switch", "-q", "-c", "feature"]);
    let run = open(repo.path(), "Feature work");
    repo.git(&["switch", "-q", "main"]);
    assert!(
        nexo_ok(repo.path(), &["list", "--json"])["runs"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let runs = listed(repo.path());
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["run_id"], run.as_str());
    assert_eq!(refs_of(&runs[0]), ["feature"]);
    let r = nexo_ok(repo.path(), &["resume", &run, "--json"]);
    assert_eq!(r["resume_state"], "ready");
    assert_eq!(r["elsewhere"]["lives_on"][0]["ref"], "feature");
    assert!(
        r["elsewhere"]["how"]
            .as_str()
            .unwrap()
            .contains("git switch feature"),
        "{r}"
    );
    let shown = nexo_in(repo.path(), &["show", &run]);
    assert!(
        shown.status.success() && stdout(&shown).contains("Feature work"),
        "{}",
        stderr(&shown)
    );
    let got = nexo_ok(repo.path(), &["get", &run, "--json"]);
    assert_eq!(got["run"]["goal"], "Feature work");
    let before = repo.git(&["rev-parse", "HEAD"]);
    let refused = nexo_in(repo.path(), &["update", &run, "a", "--status", "running"]);
    assert_eq!(refused.status.code(), Some(3));
    let err = stderr(&refused);
    assert!(
        err.contains("lives on feature") && err.contains("nexo bring"),
        "{err}"
    );
    assert_eq!(repo.git(&["rev-parse", "HEAD"]), before, "nothing written");
    assert!(!repo.path().join(run_rel(&run)).exists());
    // The tool interface lists it too.
    let v = repo.call("nexo_workflow_list", &serde_json::json!({"branches": true}));
    assert_eq!(v["runs"][0]["lives_on"][0]["ref"], "feature");
}

#[test]
fn a_run_diverged_across_two_branches_is_shown_as_their_union() {
    let repo = Repo::new();
    let run = open(repo.path(), "Shared run");
    repo.git(&["switch", "-q", "-c", "feature"]);
    nexo_ok(
        repo.path(),
        &["update", &run, "a", "--status", "completed", "--json"],
    );
    repo.git(&["switch", "-q", "main"]);
    nexo_ok(
        repo.path(),
        &["update", &run, "b", "--status", "completed", "--json"],
    );
    let here = stdout(&nexo_in(repo.path(), &["list"]));
    assert!(here.contains("1/3"), "main alone has b done: {here}");
    let runs = listed(repo.path());
    assert_eq!(runs.len(), 1, "shown once");
    let mut refs = refs_of(&runs[0]);
    refs.sort();
    assert_eq!(refs, ["feature", "main"]);
    let text = stdout(&nexo_in(repo.path(), &["list", "--branches"]));
    assert!(text.contains("2/3"), "the union has a and b done: {text}");
}

#[test]
fn a_run_brought_over_then_merged_has_nothing_twice_and_no_conflict() {
    let repo = Repo::new();
    repo.git(&["switch", "-q", "-c", "feature"]);
    let run = open(repo.path(), "Carried run");
    nexo_ok(
        repo.path(),
        &["update", &run, "a", "--status", "completed", "--json"],
    );
    repo.git(&["switch", "-q", "main"]);
    let brought = nexo_ok(repo.path(), &["bring", &run, "--from", "feature", "--json"]);
    assert_eq!(brought["events_brought"], 2);
    assert!(brought["commit"]["committed"] == true, "{brought}");
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    // Both go on, then the branches meet.
    nexo_ok(
        repo.path(),
        &["update", &run, "b", "--status", "running", "--json"],
    );
    repo.git(&["switch", "-q", "feature"]);
    nexo_ok(
        repo.path(),
        &["update", &run, "c", "--status", "running", "--json"],
    );
    repo.git(&["switch", "-q", "main"]);
    let merge = repo.git_output(&["merge", "--no-edit", "feature"]);
    assert!(
        merge.status.success(),
        "{}",
        String::from_utf8_lossy(&merge.stderr)
    );
    let history = history_text(repo.path(), &run);
    let mut lines: Vec<&str> = history.lines().collect();
    let all = lines.len();
    lines.sort();
    lines.dedup();
    assert_eq!(lines.len(), all, "no line twice:\n{history}");
    assert_eq!(all, 4, "opened, a, b, c and nothing else:\n{history}");
    let fixed = nexo_in(repo.path(), &["doctor", "--fix"]);
    assert!(fixed.status.success(), "{}", stdout(&fixed));
    assert!(nexo_in(repo.path(), &["doctor"]).status.success());
}

#[test]
fn runs_on_remote_tracking_branches_are_seen_after_a_fetch() {
    let repo = Repo::new();
    let shared = repo.share();
    git_in(&shared.other, &["switch", "-q", "-c", "cloud-agent"]);
    let run = open(&shared.other, "Cloud agent's run");
    git_in(
        &shared.other,
        &["push", "-q", "-u", "origin", "cloud-agent"],
    );
    assert!(listed(repo.path()).is_empty(), "not fetched yet");
    repo.git(&["fetch", "-q", "origin"]);
    let runs = listed(repo.path());
    assert_eq!(runs[0]["run_id"], run.as_str());
    assert_eq!(refs_of(&runs[0]), ["origin/cloud-agent"]);
    let r = nexo_ok(repo.path(), &["resume", &run, "--json"]);
    assert!(
        r["elsewhere"]["how"]
            .as_str()
            .unwrap()
            .contains("git switch cloud-agent"),
        "{r}"
    );
}

/// Two worktrees of one repository, each on its own branch, writing at
/// the same time: each commits to its own branch, nothing is lost, and
/// each sees the other's runs.
#[test]
fn two_worktrees_writing_at_once_corrupt_nothing() {
    let repo = Repo::new();
    let second = worktree(&repo, "agent-two");
    let dirs = [repo.path().to_path_buf(), second.clone()];
    let runs: Vec<String> = dirs.iter().map(|d| open(d, "Parallel session")).collect();
    let writes = 8;
    let start = std::sync::Barrier::new(2);
    std::thread::scope(|s| {
        for (dir, run) in dirs.iter().zip(&runs) {
            let start = &start;
            s.spawn(move || {
                start.wait();
                for i in 0..writes {
                    nexo_ok(
                        dir,
                        &[
                            "update",
                            run,
                            "a",
                            "--summary",
                            &format!("write {i}"),
                            "--json",
                        ],
                    );
                }
            });
        }
    });
    for (dir, run) in dirs.iter().zip(&runs) {
        let r = nexo_ok(dir, &["replay", run, "-n", "100", "--json"]);
        assert_eq!(r["total"], 1 + writes, "{}", dir.display());
        assert_eq!(git_in(dir, &["status", "--porcelain"]), "", "all committed");
        assert!(nexo_in(dir, &["doctor"]).status.success());
    }
    assert_eq!(
        repo.git(&["rev-parse", "--abbrev-ref", "HEAD"]).trim(),
        "main"
    );
    assert_eq!(
        git_in(&second, &["rev-parse", "--abbrev-ref", "HEAD"]).trim(),
        "agent-two"
    );
    git_in(repo.path(), &["fsck", "--no-progress"]);
    // Each session sees the other's run, and where it is checked out.
    let theirs = listed(repo.path())
        .into_iter()
        .find(|r| r["run_id"] == runs[1].as_str())
        .expect("the other worktree's run is listed");
    let place = &theirs["lives_on"][0];
    assert_eq!(place["ref"], "agent-two");
    assert_eq!(
        Path::new(place["worktree"].as_str().unwrap())
            .canonicalize()
            .unwrap(),
        second.canonicalize().unwrap()
    );
    let refused = nexo_in(
        repo.path(),
        &["update", &runs[1], "a", "--status", "running"],
    );
    assert!(
        stderr(&refused).contains("worktree"),
        "{}",
        stderr(&refused)
    );
    std::fs::remove_dir_all(&second).ok();
}

#[test]
fn a_run_on_a_worktrees_detached_head_is_seen_too() {
    let repo = Repo::new();
    let second = worktree(&repo, "scratch");
    let run = open(&second, "Work on a detached HEAD");
    git_in(&second, &["switch", "-q", "--detach"]);
    repo.git(&["branch", "-q", "-D", "scratch"]);
    let found = listed(repo.path())
        .into_iter()
        .find(|r| r["run_id"] == run.as_str())
        .expect("listed");
    let place = refs_of(&found).join(" ");
    assert!(place.starts_with("HEAD of "), "{place}");
    std::fs::remove_dir_all(&second).ok();
}

/// A peer's branch with a line that is not an event harms only that run's
/// union: list --branches still answers, and every other run is listed.
#[test]
fn a_bad_line_on_another_branch_does_not_stop_list_branches() {
    let repo = Repo::new();
    let run = open(repo.path(), "Shared run");
    let other = open(repo.path(), "Another run");
    repo.git(&["switch", "-q", "-c", "hostile"]);
    let history = repo.path().join(run_rel(&run)).join("history.jsonl");
    let mut text = std::fs::read_to_string(&history).unwrap();
    text.push_str("{not an event}\n");
    std::fs::write(&history, text).unwrap();
    repo.git(&["commit", "-q", "-am", "a peer's bad line"]);
    repo.git(&["switch", "-q", "main"]);
    let runs = listed(repo.path());
    let ids: Vec<&str> = runs.iter().map(|r| r["run_id"].as_str().unwrap()).collect();
    assert!(
        ids.contains(&run.as_str()) && ids.contains(&other.as_str()),
        "{runs:?}"
    );
}

/// Writes `line` at the end of run `run`'s history on a new branch
/// `branch` made from `from`, by hand and committed, as a peer's push
/// would leave it; then makes the branch a remote-tracking one when
/// `remote` (`origin/<branch>`), as a fetch would.
fn bad_copy(repo: &Repo, from: &str, branch: &str, run: &str, line: &str, remote: bool) -> String {
    repo.git(&["switch", "-q", "-c", branch, from]);
    let history = repo.path().join(run_rel(run)).join("history.jsonl");
    let mut text = std::fs::read_to_string(&history).unwrap();
    text.push_str(line);
    std::fs::write(&history, text).unwrap();
    repo.git(&["commit", "-q", "-am", "a peer's bad line"]);
    repo.git(&["switch", "-q", "main"]);
    if !remote {
        return branch.to_string();
    }
    let tip = repo.git(&["rev-parse", branch]);
    repo.git(&[
        "update-ref",
        &format!("refs/remotes/origin/{branch}"),
        tip.trim(),
    ]);
    repo.git(&["branch", "-q", "-D", branch]);
    format!("origin/{branch}")
}

/// What a copy with `{"garbage":` on its line 2 is said to have wrong.
fn garbage_at_line_2(run: &str) -> String {
    format!(
        "{rr}/history.jsonl:2: not a JSON event: EOF while parsing a value at line 1 column 11",
        rr = run_rel(run)
    )
}

/// One ref holding an unreadable copy of a run hides nothing: the run is
/// listed from its healthy copy, the bad ref is named with the file and
/// line, and resume, get and bring answer from the healthy copy, saying
/// which ref they left out.
#[test]
fn an_unreadable_copy_on_one_ref_is_named_and_the_run_still_shown() {
    let repo = Repo::new();
    repo.git(&["switch", "-q", "-c", "feature"]);
    let run = open(repo.path(), "Feature work");
    repo.git(&["switch", "-q", "main"]);
    let bad = bad_copy(&repo, "feature", "hostile", &run, "{\"garbage\":\n", true);
    assert_eq!(bad, "origin/hostile");
    let why = garbage_at_line_2(&run);
    let warning = format!(
        "warning: {run} on origin/hostile could not be read, so it is left out: {why} (`nexo doctor` on that branch names every bad line)\n"
    );

    let out = nexo_in(repo.path(), &["list", "--branches", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), warning);
    let v = parse_json(&out);
    assert_eq!(v["count"], 1, "{v}");
    let places = &v["runs"][0]["lives_on"];
    let bad_place = places
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["ref"] == "origin/hostile")
        .expect("the bad ref is named");
    assert_eq!(bad_place["unreadable"], why.as_str());
    let good = places
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["ref"] == "feature");
    assert!(good.unwrap().get("unreadable").is_none(), "{places}");

    let out = nexo_in(repo.path(), &["resume", &run]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), warning);
    assert!(
        stdout(&out).contains("git switch feature to work on it there"),
        "a ref whose copy reads is the one suggested: {}",
        stdout(&out)
    );
    let got = nexo_ok(repo.path(), &["get", &run, "--json"]);
    assert_eq!(got["run"]["goal"], "Feature work");
    let noted: Vec<&Value> = got["elsewhere"]["lives_on"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p.get("unreadable").is_some())
        .collect();
    assert_eq!(noted.len(), 1);
    assert_eq!(noted[0]["ref"], "origin/hostile");

    let out = nexo_in(repo.path(), &["bring", &run]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), warning);
    assert!(
        stdout(&out).starts_with(&format!("Brought 1 event of {run} from feature.\n")),
        "{}",
        stdout(&out)
    );
    assert!(!history_text(repo.path(), &run).contains("garbage"));
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    assert!(nexo_in(repo.path(), &["doctor"]).status.success());
}

/// A run whose every copy elsewhere is unreadable is listed as unreadable
/// (not dropped), and resume, get and bring refuse it naming the ref and
/// the file; nothing is written.
#[test]
fn a_run_no_copy_of_which_reads_names_the_ref_and_file_and_writes_nothing() {
    let repo = Repo::new();
    repo.git(&["switch", "-q", "-c", "scratch"]);
    let run = open(repo.path(), "Only on a broken branch");
    repo.git(&["switch", "-q", "main"]);
    bad_copy(&repo, "scratch", "broken", &run, "{\"garbage\":\n", false);
    repo.git(&["branch", "-q", "-D", "scratch"]);
    let why = garbage_at_line_2(&run);

    let v = nexo_ok(repo.path(), &["list", "--branches", "--json"]);
    assert_eq!(v["count"], 0);
    assert_eq!(v["unreadable"][0]["run_id"], run.as_str());
    let listed = v["unreadable"][0]["error"].as_str().unwrap();
    assert!(listed.contains(&format!("on broken: {why}")), "{listed}");

    let expected = format!(
        "error: run {run} is not in this working tree, and no copy of it on another ref can be read: on broken: {why}\nhint: the line named is a peer's or a hand edit: `nexo doctor` in a checkout of broken names every bad line there, and `nexo doctor --fix` moves it aside\n"
    );
    for verb in ["resume", "get"] {
        let out = nexo_in(repo.path(), &[verb, &run]);
        assert_eq!(out.status.code(), Some(7), "{verb}: {}", stdout(&out));
        assert_eq!(stderr(&out), expected, "{verb}");
    }
    let before = repo.git(&["rev-parse", "HEAD"]);
    for args in [vec!["bring", &run], vec!["bring", &run, "--from", "broken"]] {
        let out = nexo_in(repo.path(), &args);
        assert_eq!(out.status.code(), Some(7), "{args:?}: {}", stdout(&out));
        assert!(
            stderr(&out).starts_with(&format!(
                "error: cannot bring {run}, nothing was written: a copy to bring it from cannot be read: on broken: {why}\n"
            )),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(
        repo.git(&["rev-parse", "HEAD"]),
        before,
        "nothing committed"
    );
    assert_eq!(repo.git(&["status", "--porcelain"]), "", "nothing written");
    assert!(!repo.path().join(run_rel(&run)).exists());
}

/// `bring` from a ref whose copy holds nothing this branch lacks writes
/// nothing, leaves no pending change for doctor, and says so.
#[test]
fn a_bring_that_brings_nothing_leaves_nothing_behind() {
    let repo = Repo::new();
    let run = open(repo.path(), "Shared run");
    repo.git(&["branch", "-q", "behind"]);
    nexo_ok(
        repo.path(),
        &["update", &run, "a", "--status", "completed", "--json"],
    );
    repo.git(&["branch", "-q", "same"]);
    let commits = repo.commit_count();
    for (args, from) in [
        (vec!["bring", &run], "behind"),
        (vec!["bring", &run, "--from", "behind"], "behind"),
        (vec!["bring", &run, "--from", "same"], "same"),
    ] {
        let out = nexo_in(repo.path(), &args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert_eq!(
            stdout(&out),
            format!(
                "Already the same: {run} on {from} has no event this branch lacks; nothing to bring.\n"
            ),
            "{args:?}"
        );
        let v = nexo_ok(repo.path(), &[&args[..], &["--json"]].concat());
        assert_eq!(v["events_brought"], 0);
        assert_eq!(v["commit"]["commit"], Value::Null);
        assert_eq!(repo.git(&["status", "--porcelain"]), "", "{args:?}");
        let doctor = nexo_in(repo.path(), &["doctor"]);
        assert_eq!(
            doctor.status.code(),
            Some(0),
            "{args:?}: {}",
            stdout(&doctor)
        );
    }
    assert_eq!(repo.commit_count(), commits, "no commit");
    repo.git(&["branch", "-q", "-D", "behind", "same"]);
    let out = nexo_in(repo.path(), &["bring", &run]);
    assert_eq!(
        stdout(&out),
        format!(
            "Already the same: no other ref has a copy of {run} that differs from this branch's; nothing to bring.\n"
        )
    );
}

/// A branch name a hint would print is quoted when it is odd, as git
/// quotes a path, so it cannot pass for part of the command; and a run on
/// many refs names a few of them and counts the rest.
#[test]
fn odd_ref_names_are_quoted_and_long_lists_of_refs_are_cut() {
    let repo = Repo::new();
    let odd = "x$(touch${IFS}pwned)";
    repo.git(&["switch", "-q", "-c", odd]);
    let run = open(repo.path(), "Odd branch");
    repo.git(&["switch", "-q", "main"]);
    let r = nexo_ok(repo.path(), &["resume", &run, "--json"]);
    assert_eq!(
        r["elsewhere"]["how"],
        format!(
            "git switch \"x\\$(touch\\${{IFS}}pwned)\" to work on it there, or nexo bring {run} --from \"x\\$(touch\\${{IFS}}pwned)\" to carry it to this branch"
        )
    );
    let refused = nexo_in(repo.path(), &["update", &run, "a", "--status", "running"]);
    assert_eq!(refused.status.code(), Some(3));
    assert!(
        stderr(&refused).starts_with(&format!(
            "error: run {run} is not in this working tree: it lives on \"x\\$(touch\\${{IFS}}pwned)\"; nothing was written\n"
        )),
        "{}",
        stderr(&refused)
    );
    for i in 0..7 {
        repo.git(&["branch", "-q", &format!("copy-{i}"), odd]);
    }
    let text = stdout(&nexo_in(repo.path(), &["list", "--branches"]));
    let line = text.lines().find(|l| l.contains("lives on")).unwrap();
    assert_eq!(
        line,
        format!("{run} lives on copy-0, copy-1, copy-2, copy-3, copy-4 and 3 more")
    );
}

/// `nexo list --branches ARGS` with its trace: what it printed, and
/// what it traced.
fn list_branches(dir: &Path, args: &[&str]) -> (String, String) {
    let out = nexo_cmd()
        .current_dir(dir)
        .env("NEXO_TRACE", "1")
        .args(["list", "--branches"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    (stdout(&out), stderr(&out))
}

/// Whether a trace says every run of this branch was read.
fn every_run_read(trace: &str) -> bool {
    trace.contains("every run read")
}

/// `list --branches` reads this branch's open runs alone, as `list`
/// does, not every run: yet a run closed here that another branch took
/// up again is listed, from its union and with here among its places,
/// and each closed run left out is counted once.
#[test]
fn list_branches_reads_the_open_runs_here_and_still_finds_a_run_reopened_elsewhere() {
    let repo = Repo::new();
    let run = open(repo.path(), "Taken up again");
    let done = open(repo.path(), "Done here");
    for r in [&run, &done] {
        nexo_ok(
            repo.path(),
            &["update", r, "--run-status", "completed", "--json"],
        );
    }
    repo.git(&["switch", "-q", "-c", "feature"]);
    nexo_ok(
        repo.path(),
        &["update", &run, "--run-status", "blocked", "--json"],
    );
    repo.git(&["switch", "-q", "main"]);
    let settle = || {
        age_runs_folder(repo.path());
        nexo_ok(repo.path(), &["list", "--all", "--json"]);
    };
    settle();
    let (json, trace) = list_branches(repo.path(), &["--json"]);
    assert!(!every_run_read(&trace), "the open runs alone were read");
    let v: Value = serde_json::from_str(&json).unwrap();
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{v}");
    assert_eq!(runs[0]["run_id"], run.as_str());
    assert_eq!(runs[0]["status"], "blocked", "the union's status");
    assert_eq!(refs_of(&runs[0]), ["main", "feature"], "here first");
    assert!(stdout(&nexo_in(repo.path(), &["list"])).contains("No open runs (2 closed"));

    // Closed on the other branch too: left out, and counted once.
    repo.git(&["switch", "-q", "feature"]);
    nexo_ok(
        repo.path(),
        &["update", &run, "--run-status", "completed", "--json"],
    );
    repo.git(&["switch", "-q", "main"]);
    settle();
    let (text, trace) = list_branches(repo.path(), &[]);
    assert!(!every_run_read(&trace), "the open runs alone were read");
    assert_eq!(text, "No open runs (2 closed: `nexo list --all`).\n");
    let (json, _) = list_branches(repo.path(), &["--all", "--json"]);
    let v: Value = serde_json::from_str(&json).unwrap();
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{v}");
    let union = runs.iter().find(|r| r["run_id"] == run.as_str()).unwrap();
    assert_eq!(refs_of(union), ["main", "feature"]);
    let other = runs.iter().find(|r| r["run_id"] == done.as_str()).unwrap();
    assert_eq!(refs_of(other), ["main"]);
}

/// A branch at this checkout's commit differs in no run: `list
/// --branches` reads no runs tree for it (nor for this branch), and
/// labels no run with it. Once it moves, only the run it moved is
/// labelled; a run held alike at layout 1's place is not.
#[test]
fn a_branch_that_has_not_moved_costs_no_runs_tree() {
    let repo = Repo::new();
    let run = open(repo.path(), "Moved on a branch");
    let other = open(repo.path(), "Alike everywhere");
    repo.git(&["branch", "-q", "same"]);
    let (json, trace) = list_branches(repo.path(), &["--json"]);
    assert!(!trace.contains("a runs tree read"), "{trace}");
    let v: Value = serde_json::from_str(&json).unwrap();
    for r in v["runs"].as_array().unwrap() {
        assert_eq!(refs_of(r), ["main"], "{r}");
    }

    repo.git(&["switch", "-q", "same"]);
    nexo_ok(
        repo.path(),
        &["update", &run, "a", "--status", "completed", "--json"],
    );
    repo.git(&["switch", "-q", "main"]);
    // A branch that has not upgraded: the run at layout 1's place.
    repo.git(&["switch", "-q", "-c", "flat"]);
    repo.git(&["mv", &run_rel(&other), &format!(".nexo/runs/{other}")]);
    repo.git(&["commit", "-q", "-m", "layout 1"]);
    repo.git(&["switch", "-q", "main"]);
    let (json, trace) = list_branches(repo.path(), &["--json"]);
    assert_eq!(trace.matches("a runs tree read").count(), 2, "{trace}");
    let v: Value = serde_json::from_str(&json).unwrap();
    let refs = |id: &str| {
        let runs = v["runs"].as_array().unwrap();
        refs_of(runs.iter().find(|r| r["run_id"] == id).unwrap())
    };
    assert_eq!(refs(&run), ["main", "same"]);
    assert_eq!(refs(&other), ["main"]);
}

/// A branch that has not upgraded holds many runs at layout 1's place,
/// alike: none is labelled with it, and the one it moved is.
#[test]
fn a_branch_in_the_other_layout_labels_only_what_it_moved() {
    let repo = Repo::new();
    let runs: Vec<String> = (0..70)
        .map(|i| {
            let v = nexo_ok(
                repo.path(),
                &[
                    "--no-commit",
                    "open",
                    &format!("Run {i}"),
                    "-s",
                    "a",
                    "-s",
                    "b",
                    "--json",
                ],
            );
            v["run_id"].as_str().unwrap().to_string()
        })
        .collect();
    nexo_ok(repo.path(), &["commit", "--json"]);
    repo.git(&["switch", "-q", "-c", "flat"]);
    nexo_ok(
        repo.path(),
        &["update", &runs[0], "a", "--status", "completed", "--json"],
    );
    let mut mv: Vec<String> = vec!["mv".into()];
    mv.extend(runs.iter().map(|r| run_rel(r)));
    mv.push(".nexo/runs/".into());
    repo.git(&mv.iter().map(String::as_str).collect::<Vec<_>>());
    repo.git(&["commit", "-q", "-m", "layout 1"]);
    repo.git(&["switch", "-q", "main"]);
    let v = nexo_ok(
        repo.path(),
        &["list", "--branches", "--limit", "100", "--json"],
    );
    assert_eq!(v["count"], 70, "{v}");
    for r in v["runs"].as_array().unwrap() {
        let expected = match r["run_id"] == runs[0].as_str() {
            true => vec!["main", "flat"],
            false => vec!["main"],
        };
        assert_eq!(refs_of(r), expected, "{r}");
    }
}
