//! Clones converge: a bare remote, three clones, random interleavings of
//! work on shared runs, pulls in different orders, merge and rebase modes.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use common::*;
use serde_json::{Value, json};

struct Net {
    _dir: tempfile::TempDir,
    remote: PathBuf,
    clones: Vec<PathBuf>,
}

fn net(n: usize, rebase: &[bool]) -> Net {
    let dir = tempfile::Builder::new()
        .prefix("nexo-sync-")
        .tempdir()
        .unwrap();
    let remote = dir.path().join("remote.git");
    git_in(
        dir.path(),
        &[
            "init",
            "-q",
            "--bare",
            "-b",
            "main",
            remote.to_str().unwrap(),
        ],
    );
    let mut clones = Vec::new();
    for i in 0..n {
        let path = dir.path().join(format!("clone{i}"));
        if i == 0 {
            std::fs::create_dir(&path).unwrap();
            git_in(&path, &["init", "-q", "-b", "main"]);
            configure(&path, i, rebase[i % rebase.len()]);
            std::fs::write(path.join("README.md"), "shared\n").unwrap();
            git_in(&path, &["add", "README.md"]);
            git_in(&path, &["commit", "-q", "-m", "initial"]);
            git_in(
                &path,
                &["remote", "add", "origin", remote.to_str().unwrap()],
            );
            git_in(&path, &["push", "-q", "-u", "origin", "main"]);
        } else {
            git_in(
                dir.path(),
                &[
                    "clone",
                    "-q",
                    remote.to_str().unwrap(),
                    path.to_str().unwrap(),
                ],
            );
            configure(&path, i, rebase[i % rebase.len()]);
        }
        clones.push(path);
    }
    Net {
        _dir: dir,
        remote,
        clones,
    }
}

fn configure(path: &Path, i: usize, rebase: bool) {
    git_in(path, &["config", "user.name", &format!("clone{i}")]);
    git_in(
        path,
        &["config", "user.email", &format!("clone{i}@example.com")],
    );
    git_in(
        path,
        &[
            "config",
            "pull.rebase",
            if rebase { "true" } else { "false" },
        ],
    );
}

fn call(dir: &Path, tool: &str, input: Value) -> Value {
    let out = nexo_in(dir, &["call", tool, "--input", &input.to_string()]);
    let v = parse_json(&out);
    assert!(
        out.status.success(),
        "{tool} {input} failed in {}: {v}\n{}",
        dir.display(),
        stderr(&out)
    );
    v
}

fn sync(dir: &Path) {
    let out = nexo_in(dir, &["sync"]);
    assert!(
        out.status.success(),
        "sync failed in {}: {}\n{}",
        dir.display(),
        stdout(&out),
        stderr(&out)
    );
}

fn nexo_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(dir.join(".nexo")).sort_by_file_name() {
        let e = e.unwrap();
        if e.file_type().is_file() {
            out.insert(
                e.path()
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                std::fs::read(e.path()).unwrap(),
            );
        }
    }
    out
}

/// Opens a run with one step in `a` and syncs it to `b`.
fn shared_run(a: &Path, b: &Path, step: &str) -> String {
    let open = call(
        a,
        "nexo_workflow_open",
        json!({"sid": "s", "goal": "g", "steps": [{"key": step, "title": step}]}),
    );
    sync(a);
    sync(b);
    open["run_id"].as_str().unwrap().to_string()
}

const STEPS: [&str; 3] = ["doctor", "package", "publish"];
const STATUSES: [&str; 6] = [
    "running",
    "completed",
    "blocked",
    "failed",
    "retrying",
    "skipped",
];

fn converge(net: &Net, seed: u64, ops: usize) {
    let mut rng = Rng(seed);
    let first = &net.clones[0];
    let open = call(
        first,
        "nexo_workflow_open",
        json!({"sid": "s", "goal": "shared release", "steps": [
        {"key": "doctor", "title": "Doctor"}, {"key": "package", "title": "Package"}, {"key": "publish", "title": "Publish"}]}),
    );
    let mut runs = vec![open["run_id"].as_str().unwrap().to_string()];
    let mut events: Vec<String> = Vec::new();
    sync(first);
    for c in &net.clones[1..] {
        sync(c);
    }
    for _ in 0..ops {
        let c = &net.clones[rng.below(net.clones.len())];
        match rng.below(10) {
            0..=4 => {
                let run = &runs[rng.below(runs.len())];
                let v = call(
                    c,
                    "nexo_workflow_update",
                    json!({
                        "run_id": run,
                        "step_key": STEPS[rng.below(3)],
                        "step_status": STATUSES[rng.below(STATUSES.len())],
                        "summary": format!("op {}", rng.next() % 1000),
                    }),
                );
                events.push(v["event_id"].as_str().unwrap().into());
            }
            5 => {
                let run = &runs[rng.below(runs.len())];
                let v = call(
                    c,
                    "nexo_workflow_handoff",
                    json!({"run_id": run, "actor": "a", "new_owner": format!("owner{}", rng.below(3))}),
                );
                events.push(v["event_id"].as_str().unwrap().into());
            }
            6 => {
                let v = call(
                    c,
                    "nexo_workflow_open",
                    json!({"sid": "s", "goal": "another", "steps": [{"key": "doctor"}, {"key": "package"}, {"key": "publish"}]}),
                );
                runs.push(v["run_id"].as_str().unwrap().into());
            }
            _ => sync(c),
        }
        // Only runs this clone has can be updated: pick from the synced ones.
        runs.retain(|r| net.clones.iter().any(|c| c.join(run_rel(r)).exists()));
        let visible: Vec<String> = runs
            .iter()
            .filter(|r| net.clones.iter().all(|c| c.join(run_rel(r)).exists()))
            .cloned()
            .collect();
        if !visible.is_empty() {
            runs = visible;
        }
    }
    // Everyone syncs twice, in turn: the last round only fast-forwards.
    for _ in 0..2 {
        for c in &net.clones {
            sync(c);
        }
    }
    let reference = nexo_tree(first);
    for c in &net.clones {
        assert_eq!(
            git_in(c, &["status", "--porcelain"]),
            "",
            "{} is dirty",
            c.display()
        );
        let tree = nexo_tree(c);
        assert_eq!(
            tree.keys().collect::<Vec<_>>(),
            reference.keys().collect::<Vec<_>>(),
            "{} differs",
            c.display()
        );
        for (path, bytes) in &tree {
            assert_eq!(bytes, &reference[path], "{path} differs in {}", c.display());
            let text = String::from_utf8_lossy(bytes);
            assert!(
                !text
                    .lines()
                    .any(|l| l.starts_with("<<<<<<<") || l.starts_with(">>>>>>>")),
                "conflict marker in {path}"
            );
        }
        let doctor = nexo_in(c, &["doctor"]);
        assert!(
            doctor.status.success(),
            "doctor in {}: {}",
            c.display(),
            stdout(&doctor)
        );
    }
    // Every event written anywhere is present exactly once.
    let mut count: HashMap<String, usize> = HashMap::new();
    for (path, bytes) in &reference {
        if path.ends_with("history.jsonl") {
            for line in String::from_utf8_lossy(bytes).lines() {
                let v: Value = serde_json::from_str(line).unwrap();
                *count
                    .entry(v["id"].as_str().unwrap().to_string())
                    .or_default() += 1;
            }
        }
    }
    for e in &events {
        assert_eq!(
            count.get(e),
            Some(&1),
            "event {e} is present {:?} times",
            count.get(e)
        );
    }
    assert!(
        count.values().all(|&n| n == 1),
        "duplicate lines in a history"
    );
    let log = git_in(first, &["log", "--format=%s"]);
    eprintln!(
        "{} commits, {} merges, {} view regenerations, {} events, {} runs",
        log.lines().count(),
        git_in(first, &["rev-list", "--merges", "--count", "HEAD"]).trim(),
        log.lines()
            .filter(|l| l.contains("regenerate views"))
            .count(),
        count.len(),
        reference.keys().filter(|k| k.ends_with("run.yaml")).count()
    );
    let _ = &net.remote;
}

#[test]
fn three_clones_converge_with_merges() {
    let net = net(3, &[false]);
    converge(&net, 0x1234_5678_9ABC_DEF1, 40);
}

#[test]
fn three_clones_converge_with_rebases() {
    let net = net(3, &[true]);
    converge(&net, 0x0FED_CBA9_8765_4321, 40);
}

#[test]
fn three_clones_converge_with_mixed_pull_modes() {
    let net = net(3, &[true, false]);
    converge(&net, 0xDEAD_BEEF_CAFE_F00D, 40);
}

#[test]
fn concurrent_changes_to_one_step_are_reported_until_reconciled() {
    let net = net(2, &[false]);
    let (a, b) = (&net.clones[0], &net.clones[1]);
    let id = shared_run(a, b, "publish");
    call(
        a,
        "nexo_workflow_update",
        json!({"run_id": id, "step_key": "publish", "step_status": "completed", "actor": "laptop"}),
    );
    call(
        b,
        "nexo_workflow_update",
        json!({"run_id": id, "step_key": "publish", "step_status": "failed", "actor": "server"}),
    );
    sync(a);
    sync(b);
    let r = call(b, "nexo_workflow_resume", json!({"run_id": id}));
    assert_eq!(r["resume_state"], "reconcile", "{r}");
    assert_eq!(r["can_resume"], false);
    let msg = r["message"].as_str().unwrap();
    assert!(
        msg.contains("'completed' by laptop") && msg.contains("'failed' by server"),
        "{msg}"
    );
    assert_eq!(r["divergences"][0]["sides"].as_array().unwrap().len(), 2);
    let g = call(b, "nexo_workflow_get", json!({"run_id": id}));
    assert_eq!(g["divergences"].as_array().unwrap().len(), 1);
    // Someone who has seen both records the truth.
    call(
        b,
        "nexo_workflow_update",
        json!({"run_id": id, "step_key": "publish", "step_status": "completed", "summary": "checked: published"}),
    );
    let r = call(b, "nexo_workflow_resume", json!({"run_id": id}));
    assert_eq!(r["resume_state"], "completed", "{r}");
    sync(b);
    sync(a);
    assert_eq!(
        call(a, "nexo_workflow_resume", json!({"run_id": id}))["resume_state"],
        "completed"
    );
}

#[test]
fn a_handoff_travels_between_machines() {
    let net = net(2, &[true]);
    let (laptop, server) = (&net.clones[0], &net.clones[1]);
    let id = call(laptop, "nexo_workflow_open", json!({"sid": "s", "goal": "g", "owner": "codex", "steps": [{"key": "publish", "title": "Publish"}]}))["run_id"].as_str().unwrap().to_string();
    let out = nexo_in(
        laptop,
        &[
            "--actor",
            "codex",
            "handoff",
            &id,
            "--to",
            "claude_code",
            "--note",
            "smoke test left",
            "--next",
            "Run smoke test and publish.",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    sync(laptop);
    sync(server);
    let r = call(server, "nexo_workflow_resume", json!({"run_id": id}));
    assert_eq!(r["owner"], "claude_code");
    assert_eq!(r["next_action"], "Run smoke test and publish.");
    let replay = call(
        server,
        "nexo_workflow_replay",
        json!({"run_id": id, "limit": 1}),
    );
    assert_eq!(replay["checkpoints"][0]["summary"], "smoke test left");
}

#[test]
fn a_clone_that_never_ran_nexo_settles_conflicts_with_resolve() {
    let net = net(3, &[false]);
    let (a, b, c) = (&net.clones[0], &net.clones[1], &net.clones[2]);
    // a and c work on one run on two branches; b never runs nexo.
    let id = shared_run(a, c, "x");
    for (clone, branch, status) in [(a, "fa", "running"), (c, "fc", "blocked")] {
        git_in(clone, &["checkout", "-q", "-b", branch]);
        call(
            clone,
            "nexo_workflow_update",
            json!({"run_id": id, "step_key": "x", "step_status": status}),
        );
        git_in(clone, &["push", "-q", "-u", "origin", branch]);
    }
    git_in(b, &["fetch", "-q"]);
    git_in(b, &["checkout", "-q", "-b", "fa", "origin/fa"]);
    assert!(
        !git_in(b, &["config", "--list"]).contains("nexo-view"),
        "b must never have run nexo"
    );
    // A plain git merge in b: the views conflict, the history does not.
    let merge = git_cmd()
        .arg("-C")
        .arg(b)
        .args(["merge", "--no-edit", "origin/fc"])
        .output()
        .unwrap();
    assert!(!merge.status.success(), "expected a conflict");
    let conflicted = git_in(b, &["diff", "--name-only", "--diff-filter=U"]);
    assert!(conflicted.contains("run.yaml"), "{conflicted}");
    assert!(!conflicted.contains("history.jsonl"), "{conflicted}");
    let out = nexo_in(b, &["resolve"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("git commit"), "{}", stdout(&out));
    assert_eq!(git_in(b, &["diff", "--name-only", "--diff-filter=U"]), "");
    git_in(b, &["commit", "-q", "--no-edit"]);
    let doctor = nexo_in(b, &["doctor"]);
    assert!(doctor.status.success(), "{}", stdout(&doctor));
    assert_eq!(git_in(b, &["status", "--porcelain"]), "");
    let history = std::fs::read_to_string(b.join(run_rel(&id)).join("history.jsonl")).unwrap();
    assert_eq!(history.lines().count(), 3);
    // Both clones' changes are there, and the disagreement is reported.
    let r = call(b, "nexo_workflow_resume", json!({"run_id": id}));
    assert_eq!(r["resume_state"], "reconcile", "{r}");
}

#[test]
fn sync_pulls_again_when_the_remote_moves_during_its_push() {
    let net = net(2, &[false]);
    let (a, b) = (&net.clones[0], &net.clones[1]);
    let id = shared_run(a, b, "x");
    call(
        a,
        "nexo_workflow_update",
        json!({"run_id": id, "step_key": "x", "step_status": "running"}),
    );
    call(
        b,
        "nexo_workflow_update",
        json!({"run_id": id, "summary": "from b"}),
    );
    // While a pushes, b gets its push in first: a's push is rejected once.
    let marker = a.join(".git/raced");
    let hook = a.join(".git/hooks/pre-push");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\nif [ ! -f '{m}' ]; then touch '{m}'; '{nexo}' -C '{b}' sync >/dev/null 2>&1; fi\nexit 0\n",
            m = marker.display(),
            nexo = nexo_bin().display(),
            b = b.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = nexo_in(a, &["--json", "sync"]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let v = parse_json(&out);
    assert!(marker.exists(), "the race was not staged");
    assert_eq!(v["attempts"], 2, "{v}");
    assert_eq!(v["pushed"], true);
    sync(b);
    assert_eq!(nexo_tree(a), nexo_tree(b));
    let r = call(
        b,
        "nexo_workflow_replay",
        json!({"run_id": id, "limit": 10}),
    );
    assert_eq!(r["total"], 3);
}

#[test]
fn conflicts_in_the_users_own_files_are_left_to_the_user() {
    let net = net(2, &[false]);
    let (a, b) = (&net.clones[0], &net.clones[1]);
    let id = shared_run(a, b, "x");
    for (c, text) in [(a, "a's readme\n"), (b, "b's readme\n")] {
        std::fs::write(c.join("README.md"), text).unwrap();
        git_in(c, &["commit", "-q", "-am", "readme"]);
        call(
            c,
            "nexo_workflow_update",
            json!({"run_id": id, "summary": text.trim()}),
        );
    }
    sync(a);
    let out = nexo_in(b, &["sync"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let msg = stderr(&out);
    assert!(
        msg.contains("README.md") && msg.contains("nexo settled .nexo/"),
        "{msg}"
    );
    // Only the user's file is left conflicted.
    assert_eq!(
        git_in(b, &["diff", "--name-only", "--diff-filter=U"]),
        "README.md\n"
    );
    std::fs::write(b.join("README.md"), "merged readme\n").unwrap();
    git_in(b, &["add", "README.md"]);
    git_in(b, &["commit", "-q", "--no-edit"]);
    sync(b);
    sync(a);
    assert_eq!(nexo_tree(a), nexo_tree(b));
    assert_eq!(
        call(a, "nexo_workflow_replay", json!({"run_id": id}))["total"],
        3
    );
}

#[test]
fn goals_travel_between_clones_and_converge() {
    let net = net(2, &[false, true]);
    let (a, b) = (&net.clones[0], &net.clones[1]);
    let g = call(a, "nexo_goal_open", json!({"sid": "s", "title": "Ship v3"}));
    let id = g["goal_id"].as_str().unwrap().to_string();
    sync(a);
    sync(b);
    // Both clones change the goal without seeing each other.
    call(
        a,
        "nexo_goal_update",
        json!({"goal_id": id, "next_action": "cut the branch"}),
    );
    call(
        b,
        "nexo_goal_update",
        json!({"goal_id": id, "status": "blocked", "blocker_reason": "legal review"}),
    );
    call(
        b,
        "nexo_workflow_open",
        json!({"sid": "s", "goal": "release", "goal_id": id}),
    );
    sync(a);
    sync(b);
    sync(a);
    assert_eq!(
        nexo_tree(a),
        nexo_tree(b),
        "the clones' .nexo/ trees differ"
    );
    let history =
        std::fs::read_to_string(a.join(".nexo/goals").join(&id).join("history.jsonl")).unwrap();
    assert_eq!(history.lines().count(), 3, "every event of both clones");
    for clone in [a, b] {
        let got = call(clone, "nexo_goal_get", json!({"goal_id": id}));
        assert_eq!(got["goal"]["status"], "blocked");
        assert_eq!(got["goal"]["next_action"], "cut the branch");
        assert_eq!(got["goal"]["run_count"], 1);
        let doctor = nexo_in(clone, &["doctor"]);
        assert!(doctor.status.success(), "{}", stdout(&doctor));
    }
}

/// git replaces a history it merges or checks out by removing it and
/// writing it anew: a command that looks in between waits for it rather
/// than calling the run unknown.
#[test]
fn a_history_briefly_missing_is_waited_for() {
    let repo = Repo::new();
    let id = repo.open_release();
    let history = repo.path().join(run_rel(&id)).join("history.jsonl");
    let aside = repo.path().join("history.aside");
    std::fs::rename(&history, &aside).unwrap();
    let child = nexo_cmd()
        .current_dir(repo.path())
        .args(["resume", &id, "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(60));
    std::fs::rename(&aside, &history).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
}
