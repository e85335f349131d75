//! Crashes and neighbours: a torn last line, a corrupt line, and several
//! nexo processes writing the same run at once.

mod common;

use std::io::Write;

use common::*;
use serde_json::json;

fn history_path(repo: &Repo, id: &str) -> std::path::PathBuf {
    repo.path().join(run_rel(id)).join("history.jsonl")
}

#[test]
fn a_torn_last_line_is_skipped_on_read_and_cut_on_the_next_write() {
    let repo = Repo::new();
    let id = repo.open_release();
    let path = history_path(&repo, &id);
    // A crash mid-append leaves half a line and no newline.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(br#"{"v":1,"id":"01JZZZZZZZZZZZZZZZZZZZZZZZ","clock":2,"par"#)
        .unwrap();
    drop(f);
    let r = repo.call("nexo_workflow_resume", &json!({"run_id": id}));
    assert_eq!(r["resume_state"], "ready");
    let v = repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "step_key": "doctor", "step_status": "running"}),
    );
    assert_eq!(v["status"], "running");
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.ends_with('\n'));
    assert!(
        !text.contains("\"par\n"),
        "the fragment was not cut: {text}"
    );
    // What was committed is whole.
    let committed = repo.git(&[
        "show",
        &format!("HEAD:{rr}/history.jsonl", rr = run_rel(&id)),
    ]);
    assert_eq!(committed, text);
}

#[test]
fn a_corrupt_line_in_the_middle_is_an_error_naming_file_and_line() {
    let repo = Repo::new();
    let id = repo.open_release();
    repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "summary": "x"}),
    );
    let path = history_path(&repo, &id);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(1, "{not json at all");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let commits = repo.commit_count();
    let (code, v) = repo.call_err(
        "nexo_workflow_update",
        &json!({"run_id": id, "summary": "y"}).to_string(),
    );
    assert_eq!(code, 7);
    let msg = v["error"].as_str().unwrap();
    assert!(
        msg.contains(&format!("{rr}/history.jsonl:2", rr = run_rel(&id))),
        "{msg}"
    );
    assert_eq!(repo.commit_count(), commits);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        lines.join("\n") + "\n",
        "nothing appended"
    );
}

#[test]
fn concurrent_writers_lose_nothing() {
    let repo = Repo::new();
    let id = repo.open_release();
    let before = repo.commit_count();
    let writers = 6;
    let each = 5;
    let handles: Vec<_> = (0..writers)
        .map(|w| {
            let dir = repo.path().to_path_buf();
            let id = id.clone();
            std::thread::spawn(move || {
                for i in 0..each {
                    let input = json!({"run_id": id, "summary": format!("writer {w} update {i}"), "actor": format!("w{w}")});
                    let out = nexo_in(&dir, &["call", "nexo_workflow_update", "--input", &input.to_string()]);
                    assert!(out.status.success(), "{}", stdout(&out));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let text = std::fs::read_to_string(history_path(&repo, &id)).unwrap();
    assert_eq!(text.lines().count(), 1 + writers * each);
    for w in 0..writers {
        for i in 0..each {
            assert!(
                text.contains(&format!("writer {w} update {i}")),
                "lost writer {w} update {i}"
            );
        }
    }
    let r = repo.call("nexo_workflow_replay", &json!({"run_id": id, "limit": 100}));
    assert_eq!(r["total"], 1 + writers * each);
    // Clocks are strictly increasing: each writer saw all earlier events.
    let clocks: Vec<u64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["clock"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert!(clocks.windows(2).all(|w| w[0] < w[1]), "{clocks:?}");
    // Every event is committed: HEAD holds them all (writers coalesce
    // into nexo's unpublished commit, never past one another).
    let rel = format!("{rr}/history.jsonl", rr = run_rel(&id));
    let head = repo.git(&["show", &format!("HEAD:{rel}")]);
    assert_eq!(head.lines().count(), 1 + writers * each);
    assert!(repo.commit_count() <= before + writers * each);
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
}

#[test]
fn a_crash_between_append_and_commit_is_finished_by_the_next_command() {
    let repo = Repo::new();
    let a = repo.open_release();
    let b = repo.open_release();
    let commits = repo.commit_count();
    // The process dies right after the event is on disk.
    let out = nexo_cmd()
        .current_dir(repo.path())
        .env("NEXO_CRASH_AT", "after-append")
        .args([
            "call",
            "nexo_workflow_update",
            "--input",
            &json!({"run_id": a, "step_key": "doctor", "step_status": "completed"}).to_string(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "the crash did not happen");
    assert_eq!(repo.commit_count(), commits);
    assert!(
        repo.git(&["status", "--porcelain"])
            .contains(&format!("{rr}/history.jsonl", rr = run_rel(&a)))
    );
    // The event is not lost: it is in the history, and resume sees it.
    assert_eq!(
        repo.call("nexo_workflow_resume", &json!({"run_id": a}))["next_step"]["step_key"],
        "package"
    );
    // The killed process held git's index.lock; nexo recognises its own
    // lock and clears it, and the next write, even on another run, commits
    // the orphaned event with its views.
    assert!(repo.path().join(".git/index.lock").exists());
    let out = repo.nexo(&[
        "call",
        "nexo_workflow_update",
        "--input",
        &json!({"run_id": b, "summary": "unrelated"}).to_string(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("index.lock left by nexo process"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The interrupted write is finished and the new change made, both
    // coalesced into nexo's unpublished commit of the two opens: one
    // commit naming every change.
    assert_eq!(repo.commit_count(), commits);
    let msg = repo.git(&["log", "-1", "--format=%B"]);
    assert!(
        msg.contains("- finish a write interrupted by a crash\n"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("- {b} checkpoint: unrelated")),
        "{msg}"
    );
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    let doctor = repo.nexo(&["doctor"]);
    assert!(doctor.status.success(), "{}", stdout(&doctor));
    let committed = repo.git(&[
        "show",
        &format!("HEAD:{rr}/steps/doctor.yaml", rr = run_rel(&a)),
    ]);
    assert!(committed.contains("status: completed"), "{committed}");
}
