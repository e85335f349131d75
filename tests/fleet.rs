//! A fleet on one remote: many clones of one bare remote drain one run
//! with `ready --claim --sync`, each step done once, no merge commits, the
//! clones identical and `doctor` clean; a step another clone holds is
//! passed over; a remote that cannot take a push gives the retryable
//! `contended` (exit 12) with nothing lost. The remote is made to refuse
//! deterministically by a lock file on the ref, as a stuck concurrent push
//! leaves it: no sleep that hopes.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;

/// A run of `steps` independent steps and a `wrap` that needs them all.
fn open_run(dir: &Path, steps: usize) -> String {
    let mut args = vec!["open".to_string(), "Fleet".to_string(), "--json".into()];
    let keys: Vec<String> = (0..steps).map(|i| format!("s{i}")).collect();
    for key in keys.iter().chain([&"wrap".to_string()]) {
        args.extend(["--step".into(), key.clone()]);
    }
    args.extend(["--needs".into(), format!("wrap={}", keys.join(","))]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    nexo_ok(dir, &args)["run_id"].as_str().unwrap().to_string()
}

/// `n` clones of one bare remote, each its own agent, all holding `run`.
fn fleet(n: usize, steps: usize) -> (Repo, Shared, Vec<PathBuf>, String) {
    let repo = Repo::new();
    let shared = repo.share();
    let run = open_run(repo.path(), steps);
    assert!(nexo_in(repo.path(), &["sync"]).status.success());
    let mut dirs = vec![repo.path().to_path_buf()];
    for i in 1..n {
        let dir = shared.bare.parent().unwrap().join(format!("agent{i}"));
        clone_as(&shared.bare, &dir, &format!("agent{i}"));
        dirs.push(dir);
    }
    (repo, shared, dirs, run)
}

fn ok(out: &Output, what: &str) {
    assert!(out.status.success(), "{what}: {}", stderr(out));
}

/// One agent's loop, as docs/agents.md gives it: take the best step the
/// remote has free, do it, take the next (whose push carries the
/// completion); nothing ready and the run not done: sync and look again.
fn agent(dir: &Path, run: &str) -> Vec<String> {
    let mut done = Vec::new();
    for _ in 0..200 {
        let out = nexo_in(dir, &["ready", "--claim", "--sync", "--json"]);
        if out.status.code() == Some(12) {
            continue; // contended: retryable by contract
        }
        if out.status.code() == Some(10) {
            continue; // the step went to another clone first
        }
        ok(&out, "ready --claim --sync");
        let answer = parse_json(&out);
        match answer["claimed"]["step_key"].as_str() {
            Some(step) => {
                let out = nexo_in(dir, &["update", run, step, "--status", "completed"]);
                ok(&out, "update");
                done.push(step.to_string());
            }
            None => {
                let got = nexo_ok(dir, &["get", run, "--json"]);
                if got["run"]["status"] == "completed" {
                    return done;
                }
                std::thread::yield_now();
            }
        }
    }
    panic!("{} did not see {run} completed", dir.display());
}

fn completions(dir: &Path, run: &str) -> BTreeMap<String, usize> {
    let mut count = BTreeMap::new();
    for line in history_text(dir, run).lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["type"] == "updated" && v["data"]["step_status"] == "completed" {
            let step = v["data"]["step_key"].as_str().unwrap().to_string();
            *count.entry(step).or_default() += 1;
        }
    }
    count
}

#[test]
fn six_clones_drain_a_run_each_step_once_with_no_merge_commits() {
    let steps = 12;
    let (_repo, shared, dirs, run) = fleet(6, steps);
    let done: Vec<Vec<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = dirs.iter().map(|d| s.spawn(|| agent(d, &run))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let total: usize = done.iter().map(Vec::len).sum();
    assert_eq!(
        total,
        steps + 1,
        "each step done by exactly one agent: {done:?}"
    );
    for d in &dirs {
        ok(&nexo_in(d, &["sync"]), "final sync");
    }
    for d in &dirs {
        ok(&nexo_in(d, &["sync"]), "second sync");
        let counts = completions(d, &run);
        assert_eq!(counts.len(), steps + 1, "{}", d.display());
        assert!(counts.values().all(|&n| n == 1), "{counts:?}");
        ok(&nexo_in(d, &["doctor"]), "doctor after the fleet");
    }
    let files = |d: &Path| git_in(d, &["ls-files", "-s", ".nexo"]);
    for d in &dirs[1..] {
        assert_eq!(files(d), files(&dirs[0]), "{} differs", d.display());
    }
    let merges = git_in(&shared.bare, &["rev-list", "--merges", "--count", "main"]);
    assert_eq!(merges.trim(), "0", "no merge commits on the remote");
    git_in(&shared.bare, &["fsck", "--strict", "--no-progress"]);
}

#[test]
fn a_step_another_clone_holds_at_the_remote_is_passed_over() {
    let (_repo, shared, dirs, run) = fleet(2, 3);
    let (a, b) = (&dirs[0], &dirs[1]);
    ok(&nexo_in(a, &["claim", &run, "s0", "--sync"]), "a claims s0");
    let claims = git_in(&shared.bare, &["for-each-ref", "refs/nexo/claims"]);
    assert!(
        claims.contains(&format!("refs/nexo/claims/{run}/s0")),
        "{claims}"
    );

    let out = nexo_in(b, &["claim", &run, "s0", "--sync", "--json"]);
    assert_eq!(out.status.code(), Some(10), "{}", stdout(&out));
    let refused = parse_json(&out).to_string();
    assert!(refused.contains("claimed by"), "{refused}");

    let taken = nexo_ok(b, &["ready", "--claim", "--sync", "--json"]);
    let step = taken["claimed"]["step_key"].as_str().unwrap_or_default();
    assert!(["s1", "s2"].contains(&step), "{taken}");
}

/// A lock file on a ref of the remote: git's own sign that another push
/// is writing it, which makes every push to that ref fail to update it.
fn lock(bare: &Path, name: &str) -> PathBuf {
    let path = bare.join(format!("{name}.lock"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, "").unwrap();
    path
}

#[test]
fn a_claim_ref_being_written_elsewhere_passes_the_step_over() {
    let (_repo, shared, dirs, run) = fleet(2, 3);
    let b = &dirs[1];
    for step in ["s0", "s1"] {
        lock(&shared.bare, &format!("refs/nexo/claims/{run}/{step}"));
    }
    let taken = nexo_ok(b, &["ready", "--claim", "--sync", "--json"]);
    assert_eq!(taken["claimed"]["step_key"], "s2", "{taken}");
    let got = nexo_ok(b, &["get", &run, "--json"]);
    let holders: Vec<_> = got["run"]["claims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["step_key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        holders,
        ["s2"],
        "the claims passed over were released as lost"
    );
}

#[test]
fn a_remote_that_cannot_take_the_push_gives_exit_12_retryable_and_loses_nothing() {
    let (_repo, shared, dirs, run) = fleet(1, 2);
    let a = &dirs[0];
    ok(
        &nexo_in(a, &["update", &run, "s0", "--status", "completed"]),
        "update",
    );
    let head = git_in(a, &["rev-parse", "HEAD"]);
    let lock = lock(&shared.bare, "refs/heads/main");

    let out = nexo_in(a, &["sync", "--timeout", "1s", "--json"]);
    assert_eq!(out.status.code(), Some(12), "{}", stdout(&out));
    let err = parse_json(&out);
    assert_eq!(err["retryable"], true, "{err}");
    assert_eq!(err["error_kind"], "contended", "{err}");
    assert_eq!(
        git_in(a, &["rev-parse", "HEAD"]),
        head,
        "nothing undone here"
    );

    std::fs::remove_file(lock).unwrap();
    ok(
        &nexo_in(a, &["sync", "--timeout", "1s"]),
        "sync once the remote takes it",
    );
    let remote = git_in(&shared.bare, &["rev-parse", "main"]);
    assert_eq!(remote, head);
}

#[test]
fn every_step_taken_elsewhere_until_the_timeout_is_contended() {
    let (_repo, shared, dirs, run) = fleet(1, 2);
    for step in ["s0", "s1"] {
        lock(&shared.bare, &format!("refs/nexo/claims/{run}/{step}"));
    }
    let out = nexo_in(
        &dirs[0],
        &["ready", "--claim", "--sync", "--timeout", "1s", "--json"],
    );
    // Each step was lost once: the answer says so, retryable, or, having
    // lost them all, finds nothing ready; never a claim that holds nothing.
    match out.status.code() {
        Some(12) => assert_eq!(parse_json(&out)["retryable"], true),
        Some(0) => assert!(parse_json(&out)["claimed"].is_null(), "{}", stdout(&out)),
        code => panic!("exit {code:?}: {}", stderr(&out)),
    }
    let got = nexo_ok(&dirs[0], &["get", &run, "--json"]);
    let claims = &got["run"]["claims"];
    assert!(
        claims.is_null() || claims == &serde_json::json!([]),
        "{got}"
    );
}

#[test]
fn a_timeout_that_is_not_a_duration_is_refused_in_the_flags_terms() {
    let (_repo, _shared, dirs, _run) = fleet(1, 1);
    for bad in ["soon", "-5s", "10x"] {
        let out = nexo_in(&dirs[0], &["sync", &format!("--timeout={bad}")]);
        assert_eq!(out.status.code(), Some(2), "--timeout {bad}");
        let err = stderr(&out);
        assert!(err.contains("--timeout"), "{err}");
        assert!(!err.contains("lease"), "the timeout is not a lease: {err}");
    }
}

/// 2026-11-25T10:00:00Z, in the milliseconds `NEXO_TEST_NOW` takes.
const T0: u64 = 1_795_600_800_000;

fn nexo_at(dir: &Path, now_ms: u64, args: &[&str]) -> Output {
    nexo_cmd()
        .current_dir(dir)
        .env("NEXO_TEST_NOW", now_ms.to_string())
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_claim_ref_whose_holder_vanished_is_taken_over_once_its_lease_has_lapsed() {
    let (_repo, shared, dirs, run) = fleet(2, 1);
    let (a, b) = (&dirs[0], &dirs[1]);
    // A's claim ref reaches the remote, its event never does: the branch
    // is being written (a lock), and then A is gone for good.
    let branch = lock(&shared.bare, "refs/heads/main");
    let out = nexo_at(a, T0, &["claim", &run, "s0", "--ttl", "60s", "--sync"]);
    ok(&out, "a claims s0");
    std::fs::remove_file(branch).unwrap();
    let a_ref = git_in(
        &shared.bare,
        &["rev-parse", &format!("refs/nexo/claims/{run}/s0")],
    );

    let during = nexo_at(b, T0 + 60_000, &["ready", "--claim", "--sync", "--json"]);
    ok(&during, "ready while A's lease holds");
    assert!(
        parse_json(&during)["claimed"].is_null(),
        "{}",
        stdout(&during)
    );

    let after = T0 + (60 + 121) * 1000;
    let taken = nexo_at(b, after, &["ready", "--claim", "--sync", "--json"]);
    ok(&taken, "ready once A's lease lapsed");
    assert_eq!(
        parse_json(&taken)["claimed"]["step_key"],
        "s0",
        "{}",
        stdout(&taken)
    );
    let b_ref = git_in(
        &shared.bare,
        &["rev-parse", &format!("refs/nexo/claims/{run}/s0")],
    );
    assert_ne!(a_ref, b_ref, "the ref names B's claim now");
    ok(
        &nexo_at(b, after, &["update", &run, "s0", "--status", "completed"]),
        "b works",
    );
}

#[test]
fn claim_sync_takes_over_a_lapsed_claim_ref_and_not_a_live_one() {
    let (_repo, shared, dirs, run) = fleet(2, 1);
    let (a, b) = (&dirs[0], &dirs[1]);
    let branch = lock(&shared.bare, "refs/heads/main");
    ok(
        &nexo_at(a, T0, &["claim", &run, "s0", "--ttl", "60s", "--sync"]),
        "a claims",
    );
    std::fs::remove_file(branch).unwrap();

    let live = nexo_at(b, T0 + 60_000, &["claim", &run, "s0", "--sync", "--json"]);
    assert_eq!(live.status.code(), Some(10), "{}", stdout(&live));

    let after = T0 + (60 + 121) * 1000;
    let out = nexo_at(b, after, &["claim", &run, "s0", "--sync", "--json"]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert_eq!(parse_json(&out)["step_key"], "s0", "{}", stdout(&out));
}

/// Makes the remote's next push to its branch land `side`'s commit there
/// instead and decline the pushed one, as a rival's push that won the
/// race would: an `update` hook, git's own per-ref veto, that leaves
/// every other ref alone and fires once.
fn rival_wins_the_branch_once(bare: &Path, side: &str) {
    let hook = bare.join("hooks/update");
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    let script = format!(
        "#!/bin/sh\n\
         [ \"$1\" = refs/heads/main ] || exit 0\n\
         [ -f \"$GIT_DIR/rival-once\" ] && exit 0\n\
         : > \"$GIT_DIR/rival-once\"\n\
         env -u GIT_QUARANTINE_PATH git update-ref refs/heads/main {side} || exit 2\n\
         echo 'a rival pushed first' >&2\n\
         exit 1\n"
    );
    std::fs::write(&hook, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A run of one step (and `wrap`) on two clones, A and B: A's claim on
/// `s0`, made first, reaches the branch without a claim ref (the branch
/// push of a claim whose ref push lost), and with it whatever `then`
/// writes in A; B, which looked before, claims `s0` with `--sync`,
/// creates the claim ref and finds the branch taken.
fn rival_on_the_branch(then: &[&str]) -> (Repo, Shared, Vec<PathBuf>, String, Output) {
    let (repo, shared, dirs, run) = fleet(2, 1);
    let (a, b) = (&dirs[0], &dirs[1]);
    ok(&nexo_at(a, T0, &["claim", &run, "s0"]), "a claims here");
    if !then.is_empty() {
        let args: Vec<&str> = then
            .iter()
            .map(|a| if *a == "RUN" { run.as_str() } else { a })
            .collect();
        ok(&nexo_at(a, T0 + 500, &args), "a then");
    }
    git_in(a, &["push", "-q", "origin", "HEAD:refs/heads/side"]);
    let side = git_in(a, &["rev-parse", "HEAD"]);
    rival_wins_the_branch_once(&shared.bare, side.trim());
    let out = nexo_at(
        b,
        T0 + 1000,
        &["claim", &run, "s0", "--sync", "--timeout", "2s", "--json"],
    );
    (repo, shared, dirs, run, out)
}

#[test]
fn a_claim_ref_won_while_a_rivals_claim_won_the_branch_holds_once_the_rival_yields() {
    let (_repo, _shared, dirs, run, out) = rival_on_the_branch(&["release", "RUN", "s0"]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert_eq!(parse_json(&out)["step_key"], "s0", "{}", stdout(&out));
    ok(
        &nexo_at(
            &dirs[1],
            T0 + 2000,
            &["update", &run, "s0", "--status", "running"],
        ),
        "b, the holder, works at once",
    );
}

#[test]
fn a_claim_ref_won_while_a_rivals_claim_won_the_branch_is_given_up_when_the_rival_never_yields() {
    let (_repo, shared, dirs, run, out) = rival_on_the_branch(&[]);
    let (a, b) = (&dirs[0], &dirs[1]);
    assert_eq!(out.status.code(), Some(10), "{}", stdout(&out));
    let lost = parse_json(&out);
    assert_eq!(lost["lost"], true, "{lost}");
    let refs = git_in(&shared.bare, &["for-each-ref", "refs/nexo/claims/"]);
    assert!(refs.is_empty(), "B gave its claim ref back: {refs}");

    // B's claim yielded: it will not become the holder behind its back
    // when A lets go, and A holds the step on every clone.
    ok(&nexo_at(b, T0 + 2000, &["sync"]), "b syncs");
    ok(&nexo_at(a, T0 + 3000, &["sync"]), "a syncs");
    ok(
        &nexo_at(
            a,
            T0 + 3000,
            &["update", &run, "s0", "--status", "completed"],
        ),
        "a, the holder, works",
    );
    let refused = nexo_at(b, T0 + 3000, &["update", &run, "s0", "--status", "running"]);
    assert!(!refused.status.success(), "b holds nothing");
}
