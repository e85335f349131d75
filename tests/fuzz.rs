//! Seeded fuzzing of what peers can push: valid histories written by two
//! clones that merge each other, then mutated as a hostile or buggy clone
//! would (lines swapped, repeated and edited; clocks, ids, parents, keys
//! and bytes). Over thousands of cases the fold must never panic, give
//! the same state (claims included) in any order and repetition of the
//! lines, and never pass a gate without a valid decision. A few cases also go through real
//! clones and a bare remote, where `sync` and every other run must keep
//! working. Each case reproduces from its seed (printed on failure).

mod common;

use std::collections::{HashMap, HashSet};

use common::*;
use nexo::core::approval::{Approvals, Policy, Rules};
use nexo::core::event::{Body, Decision, Event, HandedOff, Opened, StepSpec, Updated};
use nexo::core::fold::{Run, fold_with};
use nexo::core::model::{Priority, StepStatus};
use serde_json::json;

const CASES: u64 = 2_000;
const RUN: &str = "WF-FUZZRUN00000000";

fn rules() -> Rules {
    Rules {
        approvals: Approvals {
            policy: Policy::Explicit,
            approvers: vec!["lead".into()],
            self_approval: false,
        },
        verified: Default::default(),
    }
}

fn fold(events: &[Event]) -> Result<Run, String> {
    fold_with(events.to_vec(), rules(), usize::MAX).map_err(|e| e.message)
}

/// A ULID-shaped id, unique per `n`.
fn id(n: u64) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut s = String::from("01K");
    let mut x = n;
    for _ in 0..23 {
        s.push(ALPHABET[(x % 32) as usize] as char);
        x /= 32;
    }
    s
}

fn opening() -> Event {
    let step = |key: &str, gated: bool| StepSpec {
        key: key.into(),
        title: format!("Step {key}"),
        requires_approval: gated,
        ..Default::default()
    };
    Event {
        v: 2,
        id: id(0).into(),
        clock: 1,
        parents: vec![],
        at: "2026-12-02T10:00:00.000Z".into(),
        actor: "codex".into(),
        session: String::new(),
        body: Body::Opened(Opened {
            run_id: RUN.into(),
            sid: "s1".into(),
            goal: "Ship it".into(),
            goal_id: String::new(),
            owner: "codex".into(),
            priority: Priority::Normal,
            workflow_kind: "release".into(),
            steps: vec![step("a", false), step("b", true), step("c", false)],
            next_action: String::new(),
            shared_state: Default::default(),
            idempotency_key: String::new(),
            protocol_task_id: String::new(),
            template: None,
        }),
    }
}

/// An honest change, as one clone's nexo would write it after `seen`.
fn honest(rng: &mut Rng, seen: &[Event], n: u64) -> Event {
    let run = fold(seen).expect("an honest history folds");
    let key = ["a", "b", "c"][rng.below(3)].to_string();
    let statuses = [
        StepStatus::Running,
        StepStatus::Completed,
        StepStatus::Blocked,
        StepStatus::Failed,
        StepStatus::Skipped,
    ];
    let at = format!("2026-12-02T10:{:02}:{:02}.000Z", n / 60 % 60, n % 60);
    let holder = ["codex", "claude"][rng.below(2)];
    let (actor, body) = match rng.below(8) {
        6 => {
            let ttl = [30, 90, 600][rng.below(3)];
            let claim = nexo::core::event::Claimed {
                step_key: key,
                holder: holder.into(),
                lease_until: nexo::core::claim::lease_end(&at, ttl).unwrap(),
                ttl_seconds: ttl,
                token: id(n).into(),
                steal: rng.below(4) == 0,
            };
            (holder, Body::Claimed(claim))
        }
        7 => (
            holder,
            Body::Released(nexo::core::event::Released {
                step_key: key,
                holder: holder.into(),
                token: id(n).into(),
                reason: [
                    nexo::core::event::ReleaseReason::Released,
                    nexo::core::event::ReleaseReason::Lost,
                ][rng.below(2)],
            }),
        ),
        0 | 1 => (
            "codex",
            Body::Updated(Updated {
                step_key: Some(key),
                step_status: Some(statuses[rng.below(statuses.len())]),
                ..Default::default()
            }),
        ),
        2 => (
            "lead",
            Body::Approved(Decision {
                step_key: "b".into(),
                ..Default::default()
            }),
        ),
        3 => (
            "codex",
            Body::Updated(Updated {
                step_key: Some("b".into()),
                requires_approval: Some(true),
                ..Default::default()
            }),
        ),
        4 => (
            "codex",
            Body::Updated(Updated {
                run_status: Some(nexo::core::model::RunStatus::Completed),
                ..Default::default()
            }),
        ),
        _ => (
            "codex",
            Body::HandedOff(HandedOff {
                new_owner: Some("claude".into()),
                ..Default::default()
            }),
        ),
    };
    Event {
        v: body.written_version(),
        id: id(n).into(),
        clock: run.clock + 1,
        parents: run.heads.clone(),
        at,
        actor: actor.into(),
        session: String::new(),
        body,
    }
}

/// One hostile edit of a line, or a new line made from one.
fn mutate(rng: &mut Rng, events: &mut Vec<Event>) {
    let i = rng.below(events.len());
    let mut e = events[i].clone();
    match rng.below(9) {
        0 => {
            e.clock = [
                0,
                1,
                u64::MAX,
                1 << 53,
                e.clock.saturating_add(1 << 21),
                e.clock.saturating_sub(2),
            ][rng.below(6)]
        }
        1 => e.id = events[rng.below(events.len())].id.clone(),
        2 => e.parents = vec![events[rng.below(events.len())].id.clone()],
        3 => e.parents = vec!["../../etc/passwd".into()],
        4 => {
            match &mut e.body {
                Body::Updated(u) => {
                    u.step_key = Some(["../x", "/tmp/abs", "a b", ""][rng.below(4)].into())
                }
                // A lease of a century, or one held in another's name.
                Body::Claimed(c) if rng.below(2) == 0 => {
                    c.lease_until = "2126-01-01T00:00:00.000Z".into()
                }
                Body::Claimed(c) => c.holder = "lead".into(),
                _ => {}
            }
        }
        5 => e.actor = "\u{1b}[2J".into(),
        6 => {
            // A byte flipped in the line; kept only if it still parses.
            let mut line = e.to_line().into_bytes();
            let at = rng.below(line.len());
            line[at] ^= 1 << rng.below(7);
            match std::str::from_utf8(&line)
                .ok()
                .and_then(|l| Event::from_line(l, "x").ok())
            {
                Some(parsed) => e = parsed,
                None => return,
            }
        }
        7 => {
            let j = rng.below(events.len());
            events.swap(i, j);
            return;
        }
        _ => {
            // Replayed: the same line again later, its clock raised.
            e.clock = e.clock.saturating_add(1 + rng.below(5) as u64);
        }
    }
    if rng.below(2) == 0 {
        events[i] = e;
    } else {
        events.push(e);
    }
}

/// Two clones writing and merging each other, then a peer's edits.
fn history(seed: u64) -> Vec<Event> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut clones = [vec![opening()], vec![opening()]];
    let mut n = 1;
    for _ in 0..4 + rng.below(12) {
        let c = rng.below(2);
        if rng.below(4) == 0 {
            let other = clones[1 - c].clone();
            for e in other {
                if !clones[c].contains(&e) {
                    clones[c].push(e);
                }
            }
        } else {
            let e = honest(&mut rng, &clones[c], n);
            n += 1;
            clones[c].push(e);
        }
    }
    let [mut a, b] = clones;
    a.extend(b);
    for _ in 0..rng.below(4) {
        mutate(&mut rng, &mut a);
    }
    a
}

fn shuffled(rng: &mut Rng, events: &[Event]) -> Vec<Event> {
    let mut v = events.to_vec();
    for i in (1..v.len()).rev() {
        v.swap(i, rng.below(i + 1));
    }
    if rng.below(2) == 0 && !v.is_empty() {
        let dup = v[rng.below(v.len())].clone();
        v.push(dup);
    }
    v
}

/// Whether honoured event `from` descends from `to`, by an ancestry walk
/// of its own over the lines (the fold's is not trusted here).
fn descends(events: &[Event], honoured: &HashSet<&str>, from: &str, to: &str) -> bool {
    let parents: HashMap<&str, &[nexo::core::id::EventId]> = events
        .iter()
        .filter(|e| honoured.contains(e.id.as_str()))
        .map(|e| (e.id.as_str(), e.parents.as_slice()))
        .collect();
    let mut stack = vec![from];
    let mut seen = HashSet::new();
    while let Some(x) = stack.pop() {
        if x == to {
            return true;
        }
        if seen.insert(x) {
            stack.extend(
                parents
                    .get(x)
                    .into_iter()
                    .flat_map(|p| p.iter().map(|p| p.as_str())),
            );
        }
    }
    false
}

/// The gated step's gate held along the trail: it was never moved to done
/// while closed, and every approval that opened it was an approver's and
/// followed the request it answered (the opening, or the last update that
/// asked for approval again).
fn gate_held(run: &Run, events: &[Event]) -> Result<(), String> {
    let honoured: HashSet<&str> = run
        .checkpoints
        .iter()
        .map(|c| c.event_id.as_str())
        .collect();
    let by_id: HashMap<&str, &Event> = events.iter().map(|e| (e.id.as_str(), e)).collect();
    // Causal order: an honoured event's clock is above every honoured
    // parent's, and within reach of them.
    for c in &run.checkpoints {
        let e = by_id[c.event_id.as_str()];
        let parents = e.parents.iter().filter(|p| honoured.contains(p.as_str()));
        let top = parents.map(|p| by_id[p.as_str()].clock).max().unwrap_or(0);
        if e.clock <= top && !e.parents.is_empty() || e.clock > top + (1 << 20) {
            return Err(format!(
                "event {} at clock {} after parents at {top}",
                e.id, e.clock
            ));
        }
    }
    let mut request = run.checkpoints[0].event_id.as_str();
    let mut awaits = true;
    let mut done = false;
    for c in run
        .checkpoints
        .iter()
        .filter(|c| c.step_key.as_deref() == Some("b"))
    {
        let e = by_id[c.event_id.as_str()];
        let now_done = c.step_status.is_some_and(StepStatus::is_done);
        if now_done && !done && awaits {
            return Err(format!(
                "event {} moved b to done past its gate",
                c.event_id
            ));
        }
        if c.checkpoint_label == "approved" {
            if e.actor != "lead" {
                return Err(format!("{} approved b and is no approver", e.actor));
            }
            if !descends(events, &honoured, &e.id, request) {
                return Err(format!(
                    "approval {} did not follow request {request}",
                    e.id
                ));
            }
        }
        let asked = matches!(&e.body, Body::Updated(u) if u.requires_approval == Some(true));
        if c.requires_approval && (asked || !awaits) {
            request = e.id.as_str();
        }
        awaits = c.requires_approval;
        done = now_done;
    }
    Ok(())
}

#[test]
fn peers_lines_in_any_order_fold_alike_and_never_pass_a_gate() {
    for seed in 0..CASES {
        let events = history(seed);
        let base = fold(&events);
        let mut rng = Rng(seed | 1);
        for _ in 0..3 {
            let again = fold(&shuffled(&mut rng, &events));
            assert_eq!(
                again, base,
                "seed {seed}: the order of the lines changed the state"
            );
        }
        if let Ok(run) = &base {
            gate_held(run, &events).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        }
    }
}

/// A fuzzed history pushed by a peer through a bare remote: the victim's
/// sync, its listing and its other run keep working, and reading the run
/// answers the same with the cache as without.
#[test]
fn fuzzed_histories_from_a_peer_harm_only_their_own_run() {
    for seed in 0..12 {
        let repo = Repo::new();
        let bystander = repo.open_release();
        let shared = repo.share();
        let other = &shared.other;
        git_in(other, &["pull", "-q"]);
        let dir = other.join(run_rel(RUN));
        std::fs::create_dir_all(&dir).unwrap();
        let text: String = history(seed).iter().map(|e| e.to_line() + "\n").collect();
        std::fs::write(dir.join("history.jsonl"), text).unwrap();
        git_in(other, &["add", "-A", ".nexo"]);
        git_in(other, &["commit", "-qm", "a peer's run"]);
        git_in(other, &["push", "-q"]);
        for args in [&["sync"][..], &["list"], &["doctor", "--json"]] {
            let out = repo.nexo(args);
            let ok = out.status.success() || args[0] == "doctor";
            assert!(ok, "seed {seed}: {args:?}: {}", stderr(&out));
        }
        repo.call(
            "nexo_workflow_update",
            &json!({"run_id": bystander, "step_key": "doctor", "step_status": "running"}),
        );
        let read = |dir: &std::path::Path| {
            let out = nexo_in(
                dir,
                &[
                    "call",
                    "nexo_workflow_get",
                    "--input",
                    &json!({"run_id": RUN}).to_string(),
                ],
            );
            stdout(&out)
        };
        let cold = read(repo.path());
        let warm = read(repo.path());
        let _ = std::fs::remove_dir_all(repo.path().join(".git/nexo-cache"));
        assert_eq!(cold, warm, "seed {seed}");
        assert_eq!(read(repo.path()), warm, "seed {seed}");
    }
}

/// `SEED=n cargo test --test fuzz show_seed -- --ignored --nocapture`
/// prints case n's lines and what its fold makes of them.
#[test]
#[ignore]
fn show_seed() {
    let seed: u64 = std::env::var("SEED").unwrap().parse().unwrap();
    for e in history(seed) {
        println!("{}", e.to_line());
    }
    println!(
        "{:#?}",
        fold(&history(seed)).map(|r| (r.steps, r.ignored, r.unhonoured))
    );
}
