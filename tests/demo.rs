//! `nexo demo` walks a release run across two clones, through both faces
//! of nexo: the agents' tool calls and the people's command line. It says
//! where its clones are, and removes them unless asked to keep them.

mod common;

use std::path::PathBuf;

use common::*;

/// The folder the demo said it works in.
fn folder(text: &str) -> PathBuf {
    let line = text
        .lines()
        .find(|l| l.starts_with("It works in "))
        .unwrap();
    let path = line
        .trim_start_matches("It works in ")
        .split(':')
        .next()
        .unwrap();
    PathBuf::from(path)
}

#[test]
fn the_demo_runs_end_to_end_through_both_faces() {
    let out = nexo_cmd().arg("demo").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for expected in [
        // The agents' face: tool calls, steps as a real JSON array.
        r#"$ nexo call nexo_workflow_open --input '{"sid":"demo-session-1""#,
        r#""steps":[{"key":"doctor","title":"Run release readiness checks"}"#,
        "resume_state: waiting_approval",
        "owner: claude_code",
        "status: completed",
        // The people's face: the command line, run for real.
        "$ nexo update WF-",
        "$ nexo approve WF-",
        "step 'publish' approved by release-manager",
        "$ nexo sync",
        "synced with origin/main: pulled, pushed",
        "$ nexo show WF-",
        "✓ publish  completed",
        // What it left, and where.
        "opened: Prepare and publish v3.1.1",
        "changes to WF-",
        "They are removed when it ends; `nexo demo --keep` keeps them",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(
        !text.contains(r#""steps":"["#),
        "steps as a string:\n{text}"
    );
    let dir = folder(&text);
    assert!(
        text.contains(&format!("Removed {}.", dir.display())),
        "{text}"
    );
    assert!(!dir.exists(), "{} is left behind", dir.display());
}

#[test]
fn the_demo_keeps_its_clones_when_asked() {
    let out = nexo_cmd().args(["demo", "--keep"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let dir = folder(&text);
    assert!(
        text.contains("They are kept when it ends (--keep)."),
        "{text}"
    );
    assert!(
        text.contains(&format!("Kept {}: cd ", dir.display())),
        "{text}"
    );
    let kept = dir.join("laptop/.nexo/runs").exists() && dir.join("server/.git").exists();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(kept, "the clones were not kept in {}", dir.display());
}
