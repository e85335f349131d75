//! Steps that run side by side, and `nexo ready`: agents taking work from
//! a graph of steps, on one clone and across clones, each step done once.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::{Value, json};

/// Opens a run of `steps` (`key` or `key<dep,dep`) through the tool
/// interface, as an agent would.
fn open(dir: &Path, goal: &str, steps: &[&str]) -> String {
    let steps: Vec<Value> = steps
        .iter()
        .map(|s| {
            let (key, needs) = s.split_once('<').unwrap_or((s, ""));
            let needs: Vec<&str> = needs.split(',').filter(|n| !n.is_empty()).collect();
            json!({"key": key, "title": format!("Build {key}"), "needs": needs})
        })
        .collect();
    let input = json!({"sid": "s1", "goal": goal, "steps": steps});
    let v = nexo_ok(
        dir,
        &["call", "nexo_workflow_open", "--input", &input.to_string()],
    );
    v["run_id"].as_str().unwrap().to_string()
}

fn claim_ready(dir: &Path, actor: &str, sync: bool) -> Value {
    let mut args = vec!["ready", "--claim", "--json", "--actor", actor];
    if sync {
        args.push("--sync");
    }
    nexo_ok(dir, &args)
}

fn work(dir: &Path, run: &str, step: &str, actor: &str) {
    for status in ["running", "completed"] {
        nexo_ok(
            dir,
            &[
                "update", run, step, "--status", status, "--actor", actor, "--json",
            ],
        );
    }
}

#[test]
fn a_three_platform_release_builds_side_by_side_then_publishes() {
    let repo = Repo::new();
    let run = open(
        repo.path(),
        "Release 3.2",
        &["linux", "mac", "windows", "publish<linux,mac,windows"],
    );
    let listed = nexo_ok(repo.path(), &["ready", "--json", "--all"]);
    assert_eq!(listed["count"], 3);
    let publish = &listed["steps"][3];
    assert_eq!(
        (publish["step_key"].clone(), publish["ready"].clone()),
        (json!("publish"), json!(false))
    );
    assert_eq!(publish["waits_on"], "needs linux, mac, windows");
    let mut taken = Vec::new();
    for agent in ["agent-linux", "agent-mac", "agent-windows"] {
        let r = claim_ready(repo.path(), agent, false);
        let step = r["claimed"]["step_key"].as_str().unwrap().to_string();
        assert_eq!(r["resume"]["next_step"]["step_key"], step.as_str(), "{r}");
        assert_eq!(r["resume"]["claim"]["yours"], true, "{r}");
        taken.push((agent, step));
    }
    let mut steps: Vec<&str> = taken.iter().map(|(_, s)| s.as_str()).collect();
    steps.sort();
    assert_eq!(
        steps,
        ["linux", "mac", "windows"],
        "each agent a different build"
    );
    let nothing = claim_ready(repo.path(), "agent-late", false);
    assert!(nothing["claimed"].is_null(), "{nothing}");
    for (agent, step) in &taken[..2] {
        work(repo.path(), &run, step, agent);
    }
    assert_eq!(
        nexo_ok(repo.path(), &["ready", "--json"])["count"],
        0,
        "publish waits on the last build"
    );
    let (agent, step) = &taken[2];
    work(repo.path(), &run, step, agent);
    let r = claim_ready(repo.path(), "release-manager", false);
    assert_eq!(r["claimed"]["step_key"], "publish");
    work(repo.path(), &run, "publish", "release-manager");
    let got = nexo_ok(repo.path(), &["get", &run, "--json"]);
    assert_eq!(got["run"]["status"], "completed");
    let mermaid = stdout(&nexo_in(
        repo.path(),
        &["show", &run, "--format", "mermaid"],
    ));
    for edge in ["s0 --> s3", "s1 --> s3", "s2 --> s3"] {
        assert!(mermaid.contains(edge), "{mermaid}");
    }
    assert!(
        !mermaid.contains("s0 --> s1"),
        "edges are the dependencies, not the order"
    );
}

/// Five runs of six steps: a setup, four steps that need it, and a last
/// that needs those four.
fn thirty_steps(dir: &Path) -> Vec<String> {
    (0..5)
        .map(|i| {
            open(
                dir,
                &format!("Migration wave {i}"),
                &[
                    "setup",
                    "t1<setup",
                    "t2<setup",
                    "t3<setup",
                    "t4<setup",
                    "switch<t1,t2,t3,t4",
                ],
            )
        })
        .collect()
}

/// Each (run, step) and how many times a history says it was completed,
/// and by whom.
fn completions(dir: &Path, runs: &[String]) -> BTreeMap<(String, String), Vec<String>> {
    let mut done = BTreeMap::new();
    for run in runs {
        let text = history_text(dir, run);
        let mut seen = std::collections::HashSet::new();
        for line in text.lines() {
            let e: Value = serde_json::from_str(line).unwrap();
            if !seen.insert(e["id"].as_str().unwrap().to_string()) {
                continue;
            }
            if e["data"]["step_status"] == "completed" {
                let key = (
                    run.clone(),
                    e["data"]["step_key"].as_str().unwrap().to_string(),
                );
                done.entry(key)
                    .or_insert_with(Vec::new)
                    .push(e["actor"].as_str().unwrap().to_string());
            }
        }
    }
    done
}

/// One agent's loop: take the best ready step, do it, complete it; when
/// nothing is ready, sync (with `sync`) and look again, until every step
/// is done. Returns the steps it did.
fn agent_loop(dir: PathBuf, actor: String, total: usize, sync: bool) -> Vec<(String, String)> {
    let mut did = Vec::new();
    for _ in 0..2_000 {
        let mut args = vec!["ready", "--claim", "--json", "--actor", actor.as_str()];
        if sync {
            args.push("--sync");
        }
        let out = nexo_in(&dir, &args);
        // The remote kept moving for ten rounds: the claim is safe here,
        // and the next round takes it up again (it is ours).
        if sync && out.status.code() == Some(6) {
            sync_retrying(&dir);
            continue;
        }
        assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
        let r = parse_json(&out);
        if let Some(c) = r["claimed"].as_object() {
            let (run, step) = (
                c["run_id"].as_str().unwrap(),
                c["step_key"].as_str().unwrap(),
            );
            work(&dir, run, step, &actor);
            if sync {
                sync_retrying(&dir);
            }
            did.push((run.to_string(), step.to_string()));
            continue;
        }
        if sync {
            sync_retrying(&dir);
        }
        let left = nexo_ok(&dir, &["ready", "--all", "--json", "-n", "1000"]);
        if left["steps"].as_array().unwrap().is_empty() {
            return did;
        }
        let _ = total;
    }
    panic!("{actor} never saw the work finish");
}

/// `nexo sync`, again while the remote keeps moving under heavy racing.
fn sync_retrying(dir: &Path) {
    for _ in 0..20 {
        if nexo_in(dir, &["sync"]).status.success() {
            return;
        }
    }
    let out = nexo_in(dir, &["sync"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

fn assert_each_done_once(
    done: &BTreeMap<(String, String), Vec<String>>,
    did: &[Vec<(String, String)>],
) {
    assert_eq!(done.len(), 30, "every step done");
    for (step, by) in done {
        assert_eq!(by.len(), 1, "{step:?} completed by {by:?}");
    }
    let mut all: Vec<&(String, String)> = did.iter().flatten().collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 30, "no agent did a step another did");
    assert_eq!(did.iter().map(Vec::len).sum::<usize>(), 30);
}

#[test]
fn four_processes_taking_ready_steps_do_each_of_thirty_once() {
    let repo = Repo::new();
    let runs = thirty_steps(repo.path());
    let did: Vec<Vec<(String, String)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let dir = repo.path().to_path_buf();
                s.spawn(move || agent_loop(dir, format!("agent{i}"), 30, false))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_each_done_once(&completions(repo.path(), &runs), &did);
}

#[test]
fn three_clones_taking_ready_steps_with_sync_do_each_of_thirty_once() {
    let repo = Repo::new();
    let shared = repo.share();
    let third = shared.bare.parent().unwrap().join("third");
    clone_as(&shared.bare, &third, "third");
    let runs = thirty_steps(repo.path());
    let dirs = [repo.path().to_path_buf(), shared.other.clone(), third];
    for d in dirs.iter().chain(&dirs) {
        sync_retrying(d);
    }
    let did: Vec<Vec<(String, String)>> = std::thread::scope(|s| {
        let handles: Vec<_> = dirs
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let dir = d.clone();
                s.spawn(move || agent_loop(dir, format!("clone{i}"), 30, true))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for d in dirs.iter().chain(&dirs) {
        sync_retrying(d);
    }
    for d in &dirs {
        assert_each_done_once(&completions(d, &runs), &did);
    }
}

#[test]
fn a_cycle_or_an_unknown_dependency_is_refused_and_nothing_is_written() {
    let repo = Repo::new();
    let input = json!({"sid": "s1", "goal": "Loop", "steps": [
        {"key": "a", "needs": ["c"]}, {"key": "b", "depends_on": ["a"]}, {"key": "c", "needs": ["b"]}]});
    let (code, e) = repo.call_err("nexo_workflow_open", &input.to_string());
    assert_eq!(code, 2, "{e}");
    assert!(
        e["error"].as_str().unwrap().contains("a → c → b → a"),
        "{e}"
    );
    assert!(!repo.path().join(".nexo/runs").exists(), "nothing written");
    let run = open(repo.path(), "Graph", &["a", "b<a"]);
    let (code, e) = repo.call_err(
        "nexo_workflow_update",
        &json!({"run_id": run, "step_key": "a", "needs": ["b"]}).to_string(),
    );
    assert_eq!(code, 2, "{e}");
    assert!(e["error"].as_str().unwrap().contains("a → b → a"), "{e}");
    let (code, e) = repo.call_err(
        "nexo_workflow_update",
        &json!({"run_id": run, "step_key": "b", "needs": ["nope"]}).to_string(),
    );
    assert_eq!(code, 3, "{e}");
    let cli = nexo_in(repo.path(), &["update", &run, "b", "--needs", "nope"]);
    assert_eq!(cli.status.code(), Some(3), "{}", stderr(&cli));
    // A new step may need an existing one.
    let added = repo.call(
        "nexo_workflow_update",
        &json!({"run_id": run, "step_key": "c", "step_title": "Ship", "needs": ["a", "b"]}),
    );
    assert_eq!(added["ok"], true);
    let got = repo.call("nexo_workflow_get", &json!({"run_id": run}));
    assert_eq!(got["run"]["steps"][2]["needs"], json!(["a", "b"]));
    let view =
        std::fs::read_to_string(repo.path().join(run_rel(&run)).join("steps/c.yaml")).unwrap();
    assert!(view.contains("needs:\n- a\n- b\n"), "{view}");
}

#[test]
fn a_sequence_is_ready_one_step_at_a_time_as_resume_offers() {
    let repo = Repo::new();
    let run = repo.open_release();
    let r = nexo_ok(repo.path(), &["ready", "--json", "--all"]);
    assert_eq!(r["count"], 1);
    assert_eq!(r["steps"][0]["step_key"], "doctor");
    assert_eq!(r["steps"][1]["waits_on"], "comes after doctor");
    // A resume answer of a run without needs has no ready_steps field.
    let resume = repo.call("nexo_workflow_resume", &json!({"run_id": run}));
    assert!(resume.get("ready_steps").is_none(), "{resume}");
}

/// A lease or a push asked of `ready` without a claim would be ignored:
/// it is refused, naming the flag or field to add.
#[test]
fn ttl_or_sync_without_claim_is_refused_in_the_callers_terms() {
    let repo = Repo::new();
    repo.open_release();
    let cli = nexo_in(repo.path(), &["ready", "--ttl", "10m"]);
    assert_eq!(cli.status.code(), Some(2));
    assert!(
        stderr(&cli).contains("--ttl applies to the claim ready makes: pass --claim"),
        "{}",
        stderr(&cli)
    );
    let (code, e) = repo.call_err("nexo_workflow_ready", r#"{"sync": true}"#);
    assert_eq!(code, 2);
    assert!(
        e["error"].as_str().unwrap().starts_with("sync applies"),
        "{e}"
    );
    assert!(
        nexo_in(repo.path(), &["ready", "--claim", "--ttl", "10m"])
            .status
            .success()
    );
}
