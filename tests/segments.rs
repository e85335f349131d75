//! Sealed segments: a history past the seal size moves into immutable
//! segments and its live file starts again, with nothing lost, every
//! answer unchanged, clones that seal concurrently converging, and a kill
//! at each step of a seal recovered by the next command. The seal size is
//! lowered with the debug-build hook `NEXO_SEAL_BYTES`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;
use serde_json::{Value, json};

const SEAL: &str = "1500";

fn nx(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = nexo_cmd();
    cmd.current_dir(dir)
        .args(args)
        .env("NEXO_SEAL_BYTES", SEAL)
        .env_remove("NEXO_ACTOR")
        .env_remove("NEXO_SESSION_ID");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn call(dir: &Path, tool: &str, input: Value) -> Value {
    let out = nx(dir, &["call", tool, "--input", &input.to_string()], &[]);
    assert!(out.status.success(), "{tool} {input}: {}", stdout(&out));
    parse_json(&out)
}

fn update(dir: &Path, id: &str, n: usize) -> Value {
    let steps = ["doctor", "package", "publish"];
    let statuses = ["running", "completed", "blocked", "pending"];
    call(
        dir,
        "nexo_workflow_update",
        json!({"run_id": id, "step_key": steps[n % 3], "step_status": statuses[n % 4],
               "summary": format!("progress note {n}, long enough to fill the live file soon")}),
    )
}

fn run_dir(dir: &Path, id: &str) -> PathBuf {
    dir.join(run_rel(id))
}

fn segments(dir: &Path, id: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(run_dir(dir, id).join("history"))
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Every event id in the run's files, segments and live file.
fn event_ids(dir: &Path, id: &str) -> std::collections::BTreeSet<String> {
    let mut text = std::fs::read_to_string(run_dir(dir, id).join("history.jsonl")).unwrap();
    for name in segments(dir, id) {
        text += &std::fs::read_to_string(run_dir(dir, id).join("history").join(name)).unwrap();
    }
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

fn reads(dir: &Path, id: &str) -> Vec<Value> {
    vec![
        call(
            dir,
            "nexo_workflow_get",
            json!({"run_id": id, "checkpoint_limit": 40}),
        ),
        call(dir, "nexo_workflow_resume", json!({"run_id": id})),
        call(
            dir,
            "nexo_workflow_replay",
            json!({"run_id": id, "limit": 500}),
        ),
    ]
}

#[test]
fn a_long_history_is_sealed_and_reads_the_same() {
    let repo = Repo::new();
    let id = repo.open_release();
    let mut acknowledged = Vec::new();
    for n in 0..40 {
        let out = update(repo.path(), &id, n);
        acknowledged.push(
            out["durable_checkpoint"]["event_id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    let sealed = segments(repo.path(), &id);
    assert!(
        sealed.len() >= 3,
        "40 writes of ~300 bytes seal several times: {sealed:?}"
    );
    let live = std::fs::read_to_string(run_dir(repo.path(), &id).join("history.jsonl")).unwrap();
    assert!(
        live.len() < 1500 + 600,
        "the live file restarted: {} bytes",
        live.len()
    );
    // The live file of a segmented history holds the sealing event, of a
    // version a nexo that knows nothing of segments refuses.
    assert!(live.lines().any(|l| l.starts_with("{\"v\":3,")), "{live}");
    let ids = event_ids(repo.path(), &id);
    assert_eq!(ids.len(), 41, "the opening and 40 updates, each once");
    for e in acknowledged.iter().filter(|e| !e.is_empty()) {
        assert!(ids.contains(e), "acknowledged event {e} is kept");
    }
    // Everything is committed, segments included, and nothing is left over.
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    let tree = repo.git(&["ls-tree", "-r", "--name-only", "HEAD"]);
    for name in &sealed {
        assert!(
            tree.contains(&format!("{id}/history/{name}")),
            "{name} committed"
        );
    }
    assert!(tree.contains(".nexo/.gitattributes"));

    // The same events in one file answer byte for byte the same, and so
    // does every read without the cache.
    let segmented = reads(repo.path(), &id);
    std::fs::remove_dir_all(repo.path().join(".git/nexo-cache")).unwrap();
    assert_eq!(reads(repo.path(), &id), segmented, "without the cache");
    let copy = Repo::new();
    let whole = run_dir(copy.path(), &id);
    std::fs::create_dir_all(&whole).unwrap();
    let mut text = String::new();
    for name in &sealed {
        text +=
            &std::fs::read_to_string(run_dir(repo.path(), &id).join("history").join(name)).unwrap();
    }
    text += &live;
    std::fs::write(whole.join("history.jsonl"), text).unwrap();
    assert_eq!(reads(copy.path(), &id), segmented, "as one file");

    // doctor finds nothing wrong with a segmented history.
    let doctor = nx(repo.path(), &["doctor", "--json"], &[]);
    assert!(doctor.status.success(), "{}", stdout(&doctor));
}

#[test]
fn clones_that_seal_concurrently_converge() {
    let a = Repo::new();
    let id = a.open_release();
    let shared = a.share();
    let b = shared.other.clone();
    for n in 0..12 {
        update(a.path(), &id, n);
        update(&b, &id, n + 100);
    }
    assert!(!segments(a.path(), &id).is_empty() && !segments(&b, &id).is_empty());
    let out = nx(a.path(), &["sync"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = nx(&b, &["sync"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = nx(a.path(), &["sync"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let ids = event_ids(a.path(), &id);
    assert_eq!(ids.len(), 25, "the opening and both clones' 12 updates");
    assert_eq!(ids, event_ids(&b, &id));
    assert_eq!(
        reads(a.path(), &id)[0],
        reads(&b, &id)[0],
        "both fold alike"
    );
    // Writes go on after the merge, and seal again.
    for n in 0..6 {
        update(a.path(), &id, n + 200);
    }
    assert_eq!(event_ids(a.path(), &id).len(), 31);
    assert_eq!(a.git(&["status", "--porcelain"]), "");
}

#[test]
fn a_seal_killed_at_any_step_loses_nothing() {
    for point in [
        "seal-before-rename",
        "sealed",
        "before-rename",
        "views-written",
    ] {
        let repo = Repo::new();
        let id = repo.open_release();
        // Fill the live file to just under the seal size.
        let mut n = 0;
        while std::fs::metadata(run_dir(repo.path(), &id).join("history.jsonl"))
            .unwrap()
            .len()
            < 1500
        {
            update(repo.path(), &id, n);
            n += 1;
        }
        let before = event_ids(repo.path(), &id);
        let input = json!({"run_id": id, "summary": "killed"}).to_string();
        let killed = nx(
            repo.path(),
            &["call", "nexo_workflow_update", "--input", &input],
            &[("NEXO_CRASH_AT", point)],
        );
        assert!(!killed.status.success(), "{point}: the write was killed");
        // The next command finishes or discards the write; every event
        // acknowledged before is there, each once in the fold.
        update(repo.path(), &id, 999);
        let after = event_ids(repo.path(), &id);
        assert!(
            after.is_superset(&before),
            "{point}: nothing acknowledged was lost"
        );
        let replay = &reads(repo.path(), &id)[2];
        let events = replay["events"]
            .as_array()
            .or(replay["checkpoints"].as_array())
            .unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for e in events {
            let eid = e["event_id"]
                .as_str()
                .or(e["id"].as_str())
                .unwrap_or_default()
                .to_string();
            assert!(
                eid.is_empty() || seen.insert(eid.clone()),
                "{point}: {eid} folded twice"
            );
        }
        assert_eq!(
            repo.git(&["status", "--porcelain"]),
            "",
            "{point}: all committed"
        );
        let doctor = nx(repo.path(), &["doctor", "--json"], &[]);
        assert!(doctor.status.success(), "{point}: {}", stdout(&doctor));
    }
}

#[test]
fn a_segment_replaced_by_a_link_is_refused_not_skipped() {
    let repo = Repo::new();
    let id = repo.open_release();
    for n in 0..12 {
        update(repo.path(), &id, n);
    }
    let dir = run_dir(repo.path(), &id).join("history");
    let first = segments(repo.path(), &id).remove(0);
    let outside = repo.path().join("outside.jsonl");
    std::fs::rename(dir.join(&first), &outside).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join(&first)).unwrap();
    let input = json!({"run_id": id}).to_string();
    let out = nx(
        repo.path(),
        &["call", "nexo_workflow_resume", "--input", &input],
        &[],
    );
    assert_eq!(out.status.code(), Some(7), "{}", stdout(&out));
    assert!(stdout(&out).contains("link"), "{}", stdout(&out));
    let before = std::fs::read(&outside).unwrap();
    let input = json!({"run_id": id, "summary": "through a link?"}).to_string();
    let out = nx(
        repo.path(),
        &["call", "nexo_workflow_update", "--input", &input],
        &[],
    );
    assert_eq!(out.status.code(), Some(7), "{}", stdout(&out));
    assert_eq!(
        std::fs::read(&outside).unwrap(),
        before,
        "nothing written through the link"
    );
}

#[test]
fn doctor_reports_a_damaged_segment_and_never_rewrites_it() {
    let repo = Repo::new();
    let id = repo.open_release();
    for n in 0..12 {
        update(repo.path(), &id, n);
    }
    let first = run_dir(repo.path(), &id)
        .join("history")
        .join(segments(repo.path(), &id).remove(0));
    let text = std::fs::read_to_string(&first).unwrap();
    let damaged = format!("{text}{{\"not an event\": true}}\n");
    std::fs::write(&first, &damaged).unwrap();
    let out = nx(repo.path(), &["--json", "doctor", "--fix"], &[]);
    assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));
    let v = parse_json(&out);
    let problem = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["path"].as_str().unwrap_or_default().contains("/history/"))
        .unwrap_or_else(|| panic!("the segment's problem is reported: {v}"));
    assert_eq!(problem["fixable"], false, "{problem}");
    assert_eq!(
        std::fs::read_to_string(&first).unwrap(),
        damaged,
        "never rewritten"
    );
    // Reads name the segment and its line.
    let input = json!({"run_id": id}).to_string();
    let out = nx(
        repo.path(),
        &["call", "nexo_workflow_resume", "--input", &input],
        &[],
    );
    assert!(!out.status.success());
    assert!(stdout(&out).contains("/history/"), "{}", stdout(&out));
}
