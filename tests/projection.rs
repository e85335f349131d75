//! The views are a pure function of the *set* of events: shuffling a
//! history's lines (what a union merge does) or repeating some of them never
//! changes a byte of run.yaml or the step files.

mod common;

use common::{Repo, Rng, run_rel};
use nexo::core::event::{Body, Event, SCHEMA_VERSION, Updated};
use nexo::core::model::StepStatus;
use nexo::core::{fold, resume, view};
use nexo::{Nexo, Options, store};
use serde_json::json;

fn render(lines: &[String]) -> Vec<(String, Vec<u8>)> {
    let bytes = lines.iter().map(|l| format!("{l}\n")).collect::<String>();
    let history = store::parse_history(bytes.as_bytes(), "test").unwrap();
    let run = fold::fold(history.events).unwrap();
    view::render(&run, &resume::resume(&run))
}

/// A history with ordinary progress plus two clones' concurrent updates of
/// the same step (same clock, same parents), as a pull would bring together.
fn history() -> Vec<String> {
    let repo = Repo::new();
    let nexo = Nexo::discover(
        repo.path(),
        Options {
            no_commit: true,
            actor: Some("codex".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let id = repo.open_release();
    let call = |tool: &str, input: serde_json::Value| nexo::call::call(&nexo, tool, input).unwrap();
    call(
        "nexo_workflow_update",
        json!({"run_id": id, "step_key": "doctor", "step_status": "in_progress", "max_retries": 2}),
    );
    call(
        "nexo_workflow_update",
        json!({"run_id": id, "step_key": "doctor", "step_status": "failed", "summary": "flaky"}),
    );
    call(
        "nexo_workflow_update",
        json!({"run_id": id, "step_key": "doctor", "step_status": "retrying"}),
    );
    call(
        "nexo_workflow_update",
        json!({"run_id": id, "step_key": "doctor", "step_status": "completed", "state_patch": {"a": 1}}),
    );
    call(
        "nexo_workflow_update",
        json!({"run_id": id, "step_key": "publish", "step_status": "blocked", "requires_approval": true}),
    );
    call(
        "nexo_workflow_approve",
        json!({"run_id": id, "step_key": "publish", "actor": "alice"}),
    );
    call(
        "nexo_workflow_handoff",
        json!({"run_id": id, "actor": "codex", "new_owner": "claude_code"}),
    );

    let run = nexo.load(&id).unwrap();
    let path = repo.path().join(run_rel(&id)).join("history.jsonl");
    let mut lines: Vec<String> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    for (actor, status, ms) in [
        ("laptop", StepStatus::Completed, 7),
        ("server", StepStatus::Failed, 3),
    ] {
        let e = Event {
            v: SCHEMA_VERSION,
            id: nexo::core::id::new_event_id(1_800_000_000_000 + ms),
            clock: run.clock + 1,
            parents: run.heads.clone(),
            at: format!("2027-01-01T00:00:00.00{ms}Z"),
            actor: actor.into(),
            session: String::new(),
            body: Body::Updated(Updated {
                step_key: Some("package".into()),
                step_status: Some(status),
                summary: Some(format!("from {actor}")),
                state_patch: Some(serde_json::from_value(json!({"b": actor})).unwrap()),
                ..Default::default()
            }),
        };
        lines.push(e.to_line());
    }
    lines
}

#[test]
fn shuffled_and_repeated_lines_give_byte_identical_views() {
    let lines = history();
    let expected = render(&lines);
    assert!(expected.len() == 4, "run.yaml and three steps");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for case in 0..300 {
        let mut shuffled = lines.clone();
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, rng.below(i + 1));
        }
        // A union merge of two clones can repeat lines both already had.
        for _ in 0..rng.below(3) {
            let dup = shuffled[rng.below(shuffled.len())].clone();
            let at = rng.below(shuffled.len() + 1);
            shuffled.insert(at, dup);
        }
        assert_eq!(
            render(&shuffled),
            expected,
            "case {case} differs:\n{}",
            shuffled.join("\n")
        );
    }
}

#[test]
fn concurrent_events_leave_two_heads_until_one_follows_both() {
    let lines = history();
    let history = store::parse_history(lines.join("\n").as_bytes(), "t").unwrap();
    let run = fold::fold(history.events).unwrap();
    assert_eq!(run.heads.len(), 2, "two concurrent updates are two heads");
    // The deterministic winner is the one with the larger id at equal clock.
    let pkg = run.step("package").unwrap();
    assert_eq!(pkg.last_summary.as_deref(), Some("from laptop"));
}
