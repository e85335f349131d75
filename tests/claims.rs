//! Claims with leases, as agents use them: many processes on one clone,
//! many clones through one bare remote, offline claims that meet at the
//! next sync, leases that end, and writes by those who do not hold a step.
//! Races count their winners; none sleeps and hopes.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Barrier;

use common::*;
use serde_json::json;

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

fn open_run(dir: &Path, steps: usize) -> String {
    let mut args = vec!["open".to_string(), "Release".to_string(), "--json".into()];
    for i in 0..steps {
        args.push("--step".into());
        args.push(format!("s{i}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = nexo_in(dir, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    parse_json(&out)["run_id"].as_str().unwrap().to_string()
}

fn holder(dir: &Path, run: &str, step: &str) -> Option<String> {
    let out = nexo_in(dir, &["get", run, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let claims = parse_json(&out)["run"]["claims"].clone();
    claims.as_array().and_then(|cs| {
        cs.iter()
            .find(|c| c["step_key"] == step)
            .map(|c| c["holder"].as_str().unwrap().to_string())
    })
}

fn history_lines(dir: &Path, run: &str) -> usize {
    history_text(dir, run).lines().count()
}

/// Runs `contenders` claims at once (each from `dir_of(i)` as `agent<i>`)
/// and returns the winners' names, asserting every loser was refused
/// with exit 10.
fn race(contenders: usize, dir_of: impl Fn(usize) -> PathBuf + Sync, args: &[&str]) -> Vec<String> {
    let start = Barrier::new(contenders);
    let results: Vec<(String, Output)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..contenders)
            .map(|i| {
                let (start, dir) = (&start, dir_of(i));
                s.spawn(move || {
                    let actor = format!("agent{i}");
                    let mut all = args.to_vec();
                    all.extend(["--actor", actor.as_str(), "--json"]);
                    start.wait();
                    (actor.clone(), nexo_in(&dir, &all))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut winners = Vec::new();
    for (actor, out) in results {
        match out.status.code() {
            Some(0) => winners.push(actor),
            Some(10) => {
                let e = parse_json(&out);
                assert_eq!(e["error_kind"], "claim_held");
                if e["lost"] == true {
                    eprintln!("{actor} lost the push race to {}", e["holder"]);
                }
            }
            other => panic!(
                "{actor} exited {other:?}: {}\n{}",
                stdout(&out),
                stderr(&out)
            ),
        }
    }
    winners
}

#[test]
fn eight_processes_racing_for_a_step_have_one_winner_every_time() {
    let repo = Repo::new();
    let rounds = 20;
    let run = open_run(repo.path(), rounds);
    for round in 0..rounds {
        let step = format!("s{round}");
        let winners = race(8, |_| repo.path().to_path_buf(), &["claim", &run, &step]);
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        assert_eq!(holder(repo.path(), &run, &step).as_ref(), Some(&winners[0]));
    }
    // The losers wrote nothing: one line to open, one claim a round.
    assert_eq!(history_lines(repo.path(), &run), 1 + rounds);
}

/// `n` clones of one bare remote, each with its own identity, and the
/// remote's first commit in all of them.
fn clones(n: usize) -> (Repo, common::Shared, Vec<PathBuf>) {
    let repo = Repo::new();
    let shared = repo.share();
    let mut dirs = vec![repo.path().to_path_buf(), shared.other.clone()];
    for i in 2..n {
        let dir = shared.bare.parent().unwrap().join(format!("clone{i}"));
        clone_as(&shared.bare, &dir, &format!("clone{i}"));
        dirs.push(dir);
    }
    (repo, shared, dirs)
}

fn sync(dir: &Path) {
    let out = nexo_in(dir, &["sync"]);
    assert!(
        out.status.success(),
        "sync in {}: {}",
        dir.display(),
        stderr(&out)
    );
}

#[test]
fn four_clones_racing_with_sync_have_one_winner_that_every_clone_agrees_on() {
    let (_repo, _shared, dirs) = clones(4);
    let rounds = 10;
    let run = open_run(&dirs[0], rounds);
    sync(&dirs[0]);
    for d in &dirs[1..] {
        sync(d);
    }
    for round in 0..rounds {
        let step = format!("s{round}");
        let winners = race(4, |i| dirs[i].clone(), &["claim", &run, &step, "--sync"]);
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        for d in dirs.iter().chain(&dirs) {
            sync(d);
        }
        for d in &dirs {
            assert_eq!(
                holder(d, &run, &step).as_ref(),
                Some(&winners[0]),
                "round {round} in {}",
                d.display()
            );
        }
    }
}

#[test]
fn offline_claims_converge_on_one_winner_and_the_losers_are_told() {
    for seed in [1u64, 2, 3] {
        let (_repo, _shared, dirs) = clones(3);
        let run = open_run(&dirs[0], 1);
        sync(&dirs[0]);
        sync(&dirs[1]);
        sync(&dirs[2]);
        for (i, d) in dirs.iter().enumerate() {
            let out = nexo_in(d, &["claim", &run, "s0", "--actor", &format!("agent{i}")]);
            assert!(
                out.status.success(),
                "optimistic claims succeed: {}",
                stderr(&out)
            );
        }
        let mut rng = Rng(seed);
        for _ in 0..2 {
            let mut order: Vec<usize> = (0..3).collect();
            for i in (1..order.len()).rev() {
                order.swap(i, rng.below(i + 1));
            }
            for i in order {
                sync(&dirs[i]);
            }
        }
        let winner = holder(&dirs[0], &run, "s0").expect("someone holds it");
        for d in &dirs {
            assert_eq!(holder(d, &run, "s0").as_ref(), Some(&winner), "seed {seed}");
        }
        for (i, dir) in dirs.iter().enumerate() {
            let actor = format!("agent{i}");
            if actor == winner {
                continue;
            }
            let out = nexo_in(dir, &["resume", &run, "--actor", &actor, "--json"]);
            let r = parse_json(&out);
            assert_eq!(r["resume_state"], "claimed", "seed {seed}: {r}");
            assert_eq!(r["claim"]["holder"], winner.as_str());
            assert!(r["claim"]["your_lost_token"].is_string(), "{r}");
            assert!(r["message"].as_str().unwrap().contains("lost to it"), "{r}");
        }
    }
}

#[test]
fn a_lease_ends_after_its_ttl_and_the_skew_margin_and_the_takeover_is_recorded() {
    let repo = Repo::new();
    let run = open_run(repo.path(), 1);
    let claim = |now: u64, actor: &str| {
        nexo_at(
            repo.path(),
            now,
            &[
                "claim", &run, "s0", "--ttl", "60s", "--actor", actor, "--json",
            ],
        )
    };
    let first = claim(T0, "codex");
    assert!(first.status.success(), "{}", stderr(&first));
    assert_eq!(
        parse_json(&first)["lease_until"],
        "2026-11-25T10:01:00.000Z"
    );
    // Past the lease, inside the two-minute margin: still held.
    let early = claim(T0 + 150_000, "claude");
    assert_eq!(early.status.code(), Some(10), "{}", stdout(&early));
    assert_eq!(parse_json(&early)["holder"], "codex");
    let late = claim(T0 + 181_000, "claude");
    assert!(late.status.success(), "{}", stderr(&late));
    let r = parse_json(&late);
    assert_eq!(r["outcome"], "took_over");
    assert_eq!(r["took_over"]["holder"], "codex");
    assert_eq!(r["took_over"]["how"], "expired");
}

#[test]
fn a_holder_killed_mid_claim_leaves_a_claim_that_expires_and_can_be_taken() {
    let repo = Repo::new();
    let run = open_run(repo.path(), 1);
    let killed = nexo_cmd()
        .current_dir(repo.path())
        .env("NEXO_TEST_NOW", T0.to_string())
        .env("NEXO_CRASH_AT", "after-append")
        .args(["claim", &run, "s0", "--ttl", "60s", "--actor", "codex"])
        .output()
        .unwrap();
    assert_eq!(killed.status.code(), None, "killed by SIGKILL");
    let refused = nexo_at(
        repo.path(),
        T0 + 10_000,
        &["claim", &run, "s0", "--actor", "claude"],
    );
    assert_eq!(refused.status.code(), Some(10), "{}", stderr(&refused));
    let taken = nexo_at(
        repo.path(),
        T0 + 200_000,
        &["claim", &run, "s0", "--actor", "claude", "--json"],
    );
    assert!(taken.status.success(), "{}", stderr(&taken));
    assert_eq!(parse_json(&taken)["took_over"]["holder"], "codex");
    let clean = nexo_in(repo.path(), &["doctor"]);
    assert!(clean.status.success(), "{}", stdout(&clean));
}

#[test]
fn a_write_by_a_non_holder_is_refused_and_with_steal_is_recorded() {
    let repo = Repo::new();
    let run = open_run(repo.path(), 2);
    assert!(
        nexo_in(repo.path(), &["claim", &run, "s0", "--actor", "codex"])
            .status
            .success()
    );
    let lines = history_lines(repo.path(), &run);
    let refused = nexo_in(
        repo.path(),
        &[
            "update", &run, "s0", "--status", "running", "--actor", "claude", "--json",
        ],
    );
    assert_eq!(refused.status.code(), Some(10));
    let e = parse_json(&refused);
    assert_eq!(
        (e["ok"].clone(), e["holder"].clone()),
        (json!(false), json!("codex"))
    );
    assert_eq!(history_lines(repo.path(), &run), lines, "nothing written");
    // A step nobody holds, and the run itself, are open to anyone.
    let free = nexo_in(
        repo.path(),
        &[
            "update",
            &run,
            "s1",
            "--summary",
            "prep",
            "--actor",
            "claude",
        ],
    );
    assert!(free.status.success(), "{}", stderr(&free));
    let stolen = nexo_in(
        repo.path(),
        &[
            "update", &run, "s0", "--status", "running", "--steal", "--actor", "claude",
        ],
    );
    assert!(stolen.status.success(), "{}", stderr(&stolen));
    let history = history_text(repo.path(), &run);
    assert!(history.contains(r#""steal":true"#), "{history}");
    assert_eq!(holder(repo.path(), &run, "s0").as_deref(), Some("claude"));
    let theirs = nexo_in(repo.path(), &["resume", &run, "--actor", "codex", "--json"]);
    let theirs = parse_json(&theirs);
    assert_eq!(theirs["resume_state"], "claimed", "{theirs}");
    assert_eq!(theirs["claim"]["holder"], "claude");
    let replay = stdout(&nexo_in(repo.path(), &["replay", &run]));
    assert!(
        replay.contains("claude took s0 over from codex (stolen)"),
        "{replay}"
    );
}

#[test]
fn a_merged_write_from_a_clone_that_did_not_hold_the_claim_is_kept_and_surfaced() {
    let repo = Repo::new();
    let shared = repo.share();
    let run = open_run(repo.path(), 1);
    sync(repo.path());
    sync(&shared.other);
    let out = nexo_in(
        repo.path(),
        &["claim", &run, "s0", "--actor", "codex", "--sync"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // The other clone has not pulled the claim: its write is not refused.
    let out = nexo_in(
        &shared.other,
        &[
            "update",
            &run,
            "s0",
            "--status",
            "running",
            "--summary",
            "started here",
            "--actor",
            "claude",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    sync(&shared.other);
    sync(repo.path());
    let got = parse_json(&nexo_in(repo.path(), &["get", &run, "--json"]));
    assert_eq!(got["run"]["steps"][0]["status"], "running", "never dropped");
    assert_eq!(got["trespasses"][0]["actor"], "claude", "{got}");
    assert_eq!(got["trespasses"][0]["holder"], "codex");
    let r = parse_json(&nexo_in(
        repo.path(),
        &["resume", &run, "--actor", "codex", "--json"],
    ));
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains("claude wrote to step 's0'"),
        "{r}"
    );
    let doctor = nexo_in(repo.path(), &["doctor", "--json"]);
    assert!(doctor.status.success(), "a trespass is not a broken file");
    assert_eq!(parse_json(&doctor)["trespasses"][0]["actor"], "claude");
    // The holder answers it by writing to the step.
    let out = nexo_in(
        repo.path(),
        &[
            "update",
            &run,
            "s0",
            "--summary",
            "checked",
            "--actor",
            "codex",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let got = parse_json(&nexo_in(repo.path(), &["get", &run, "--json"]));
    assert!(got.get("trespasses").is_none(), "{got}");
}

#[test]
fn claims_through_the_tool_interface_answer_with_the_lease_and_token() {
    let repo = Repo::new();
    let run = open_run(repo.path(), 2);
    let c = repo.call(
        "nexo_workflow_claim",
        &json!({"run_id": run, "actor": "codex", "ttl_seconds": 600}),
    );
    assert_eq!(c["ok"], true);
    assert_eq!(c["step_key"], "s0", "the step resume offers");
    assert_eq!(c["holder"], "codex");
    assert_eq!(c["ttl_seconds"], 600);
    assert!(c["token"].is_string() && c["lease_until"].is_string());
    let again = repo.call(
        "nexo_workflow_claim",
        &json!({"run_id": run, "actor": "codex"}),
    );
    assert_eq!(
        (again["outcome"].clone(), again["token"].clone()),
        (json!("renewed"), c["token"].clone())
    );
    let (code, e) = repo.call_err(
        "nexo_workflow_claim",
        &json!({"run_id": run, "actor": "claude"}).to_string(),
    );
    assert_eq!((code, e["error_kind"].clone()), (10, json!("claim_held")));
    let (code, e) = repo.call_err(
        "nexo_workflow_claim",
        &json!({"run_id": run, "actor": "claude", "ttl_seconds": 0}).to_string(),
    );
    assert_eq!(code, 2, "{e}");
    assert!(e["error"].as_str().unwrap().contains("ttl_seconds"), "{e}");
    let (code, _) = repo.call_err(
        "nexo_workflow_release",
        &json!({"run_id": run, "actor": "claude"}).to_string(),
    );
    assert_eq!(code, 5, "claude holds nothing");
    let r = repo.call(
        "nexo_workflow_release",
        &json!({"run_id": run, "actor": "codex"}),
    );
    assert_eq!(
        (r["step_key"].clone(), r["token"].clone()),
        (json!("s0"), c["token"].clone())
    );
    let got = repo.call("nexo_workflow_get", &json!({"run_id": run}));
    assert!(
        got["run"].get("claims").is_none(),
        "no live claims, no field: {got}"
    );
}

/// The remote decides: an offline claim that sorts first in the history
/// but reaches the remote after a claim made with `--sync` yields to it
/// when its clone syncs, so the `--sync` claim's answer stays true.
#[test]
fn a_claim_acknowledged_at_the_remote_is_not_displaced_by_an_older_offline_one() {
    let repo = Repo::new();
    let shared = repo.share();
    let (a, b) = (repo.path(), shared.other.as_path());
    let run = open_run(a, 1);
    sync(a);
    sync(b);
    let offline = nexo_in(b, &["claim", &run, "s0", "--actor", "laptop", "--json"]);
    assert!(offline.status.success(), "{}", stderr(&offline));
    let online = nexo_in(
        a,
        &["claim", &run, "s0", "--actor", "server", "--sync", "--json"],
    );
    assert!(online.status.success(), "{}", stderr(&online));
    assert!(
        parse_json(&offline)["token"].as_str() < parse_json(&online)["token"].as_str(),
        "the offline claim sorts first"
    );
    let report = parse_json(&nexo_in(b, &["sync", "--json"]));
    assert_eq!(report["yielded"][0]["holder"], "laptop", "{report}");
    assert_eq!(report["yielded"][0]["to"], "server");
    sync(a);
    for d in [a, b] {
        assert_eq!(holder(d, &run, "s0").as_deref(), Some("server"));
    }
    let r = parse_json(&nexo_in(
        b,
        &["resume", &run, "--actor", "laptop", "--json"],
    ));
    assert_eq!(r["resume_state"], "claimed");
    assert!(r["message"].as_str().unwrap().contains("lost to it"), "{r}");
}

#[test]
fn a_claim_written_by_hand_in_2100_holds_nothing_and_doctor_names_it() {
    let repo = Repo::new();
    let run = open_run(repo.path(), 1);
    let history = repo.path().join(run_rel(&run)).join("history.jsonl");
    let text = std::fs::read_to_string(&history).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let id = "01KZZZZZZZZZZZZZZZZZZZZZZZ";
    let line = json!({
        "v": 5, "id": id, "clock": last["clock"].as_u64().unwrap() + 1,
        "parents": [last["id"]], "at": "2100-01-01T00:00:00.000Z", "actor": "mallory",
        "type": "claimed",
        "data": {"step_key": "s0", "holder": "mallory", "lease_until": "2100-01-01T00:30:00.000Z",
                 "ttl_seconds": 1800, "token": id},
    });
    std::fs::write(&history, format!("{text}{line}\n")).unwrap();
    repo.git(&["add", "-A", ".nexo"]);
    repo.git(&["commit", "-q", "-m", "Mine until 2100"]);
    // The forged lease protects nothing: another agent takes the step.
    let out = nexo_at(repo.path(), T0, &["claim", &run, "s0", "--actor", "codex"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let got = parse_json(&nexo_at(repo.path(), T0, &["get", &run, "--json"]));
    assert_eq!(got["run"]["claims"][0]["holder"], "codex", "{got:#}");
    // Named, not failed on: nothing but time could clear it.
    let out = nexo_in(repo.path(), &["doctor", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let report = parse_json(&out);
    let problem = &report["dated_ahead"][0];
    assert_eq!(problem["kind"], "dated_ahead", "{report:#}");
    assert!(
        problem["message"]
            .as_str()
            .unwrap()
            .contains(&format!("event {id} by mallory is dated 2100-01-01")),
        "{report:#}"
    );
}
