//! Readiness in the core: dependencies, gates, claims, retries, skipped
//! dependencies, sequences and cycles, without files or git.

use super::*;
use crate::core::event::{Body, Opened, StepSpec, Updated};
use crate::core::model::StepStatus::*;
use crate::core::resume::{readiness, ready_steps, resume_as};
use crate::core::testkit::{History, RUN, status_of};

const NOW: &str = "2026-11-25T10:05:00.000Z";

fn viewer(actor: &str) -> Viewer<'_> {
    Viewer { actor, now: NOW }
}

/// A run opened with `steps` as `key` or `key<dep,dep` (and `!` for a gate).
fn graph(steps: &[&str]) -> History {
    let mut h = History::open(&[]);
    let specs = steps
        .iter()
        .map(|s| {
            let (key, needs) = s.split_once('<').unwrap_or((s, ""));
            let gated = key.ends_with('!');
            let key = key.trim_end_matches('!');
            StepSpec {
                key: key.into(),
                title: format!("Step {key}"),
                requires_approval: gated,
                needs: needs
                    .split(',')
                    .filter(|n| !n.is_empty())
                    .map(String::from)
                    .collect(),
                ..Default::default()
            }
        })
        .collect();
    if let Body::Opened(Opened { steps, .. }) = &mut h.events[0].body {
        *steps = specs;
    }
    h.events[0].v = crate::core::event::NEEDS_VERSION;
    h
}

fn ready(h: &History, actor: &str) -> Vec<String> {
    let run = h.fold();
    ready_steps(&run, viewer(actor))
        .iter()
        .map(|s| s.step_key.clone())
        .collect()
}

#[test]
fn a_release_builds_side_by_side_and_publishes_when_all_are_done() {
    let mut h = graph(&["linux", "mac", "windows", "publish<linux,mac,windows"]);
    assert_eq!(ready(&h, "a"), ["linux", "mac", "windows"]);
    h.step("linux", Running)
        .step("linux", Completed)
        .step("mac", Completed);
    let run = h.fold();
    let publish = run.step("publish").unwrap();
    assert_eq!(
        readiness(&run).waits(publish),
        Some(Wait::Needs {
            steps: vec!["windows".into()]
        })
    );
    assert_eq!(ready(&h, "a"), ["windows"]);
    h.step("windows", Skipped);
    assert_eq!(
        ready(&h, "a"),
        ["publish"],
        "a skipped dependency counts as done"
    );
}

#[test]
fn a_gate_and_a_claim_keep_a_step_from_being_ready() {
    let mut h = graph(&["a", "b!<a", "c<a"]);
    h.step("a", Completed).claim("codex", "c", 600);
    let run = h.fold();
    let r = readiness(&run);
    assert_eq!(r.waits(run.step("b").unwrap()), Some(Wait::Gate));
    assert!(matches!(
        r.waits_for(run.step("c").unwrap(), viewer("claude")),
        Some(Wait::Claimed { ref holder, .. }) if holder == "codex"
    ));
    assert!(ready(&h, "claude").is_empty());
    assert_eq!(ready(&h, "codex"), ["c"], "the holder may take it");
    h.approve("b", "lead");
    assert_eq!(ready(&h, "claude"), ["b"]);
}

#[test]
fn a_failed_step_is_ready_again_while_it_has_attempts_left() {
    let mut h = graph(&["a", "b<a"]);
    h.update(Updated {
        max_retries: Some(2),
        ..status_of("a", Running)
    });
    h.step("a", Failed);
    assert_eq!(ready(&h, "x"), ["a"]);
    h.step("a", Retrying).step("a", Failed);
    assert!(ready(&h, "x").is_empty(), "two attempts of two");
}

#[test]
fn a_sequence_has_one_ready_step_the_one_resume_offers() {
    let mut h = History::open(&["a", "b", "c"]);
    assert_eq!(ready(&h, "x"), ["a"]);
    let run = h.fold();
    let r = readiness(&run);
    assert_eq!(
        r.waits(run.step("c").unwrap()),
        Some(Wait::Turn { step: "a".into() })
    );
    h.step("a", Running);
    assert!(ready(&h, "x").is_empty(), "a is being worked on");
    h.step("a", Completed);
    assert_eq!(ready(&h, "x"), ["b"]);
}

#[test]
fn resume_offers_the_first_ready_step_and_lists_them_all() {
    let mut h = graph(&["a", "b<a", "c<a", "d<b,c"]);
    h.step("a", Completed).claim("codex", "b", 600);
    let run = h.fold();
    let r = resume_as(&run, viewer("claude"));
    assert_eq!(r.step_key.as_deref(), Some("c"), "b is codex's: c is free");
    assert_eq!(r.ready_steps, ["c"]);
    assert!(r.message.contains("claimed by codex"), "{}", r.message);
    let mine = resume_as(&run, viewer("codex"));
    assert_eq!(mine.step_key.as_deref(), Some("b"));
    assert_eq!(mine.ready_steps, ["b", "c"]);
}

#[test]
fn a_graph_runs_while_any_step_runs() {
    let mut h = graph(&["a", "b", "c<a,b"]);
    h.step("a", Running).step("b", Running).step("b", Blocked);
    assert_eq!(h.fold().status, crate::core::model::RunStatus::Running);
    h.step("b", Running)
        .step("a", Completed)
        .step("b", Completed);
    let run = h.fold();
    assert_eq!(run.status, crate::core::model::RunStatus::Running);
    assert_eq!(run.current_step_key.as_deref(), Some("c"));
    h.step("c", Completed);
    assert_eq!(h.fold().status, crate::core::model::RunStatus::Completed);
}

#[test]
fn a_cycle_or_an_unknown_need_is_refused_by_name_and_never_folded_in() {
    let h = graph(&["a<c", "b<a", "c<b"]);
    let err = crate::core::check::event(&h.events[0]).unwrap_err();
    assert!(err.message.contains("a → c → b → a"), "{}", err.message);
    let h = graph(&["a", "b<nope"]);
    let err = crate::core::check::event(&h.events[0]).unwrap_err();
    assert!(err.message.contains("steps[1].needs"), "{}", err.message);
    // An update that would close a cycle has its needs left out, and the
    // rest of it applied: a line that sorted first cannot void it.
    let mut h = graph(&["a", "b<a"]);
    h.update(Updated {
        needs: Some(vec!["b".into()]),
        ..status_of("a", Pending)
    });
    let last = h.events.last_mut().unwrap();
    last.v = crate::core::event::NEEDS_VERSION;
    let run = h.fold();
    assert!(run.ignored.is_empty(), "{:?}", run.ignored);
    assert!(matches!(
        run.unhonoured.last().unwrap().refusal,
        crate::core::approval::Refusal::Needs(_)
    ));
    assert!(run.step("a").unwrap().needs.is_empty());
    assert_eq!(run.run_id, RUN);
}

#[test]
fn resume_sends_an_agent_back_to_the_step_it_holds() {
    let mut h = graph(&["a", "b", "c", "d<a"]);
    h.claim("codex", "c", 600);
    let run = h.fold();
    let r = resume_as(&run, viewer("codex"));
    assert_eq!(r.step_key.as_deref(), Some("c"), "{}", r.message);
    assert!(r.claim.unwrap().yours);
    let other = resume_as(&run, viewer("claude"));
    assert_eq!(other.step_key.as_deref(), Some("a"));
    assert_eq!(other.ready_steps, ["a", "b"]);
}

#[test]
fn a_timer_holds_a_step_until_its_time_and_resume_offers_another() {
    let mut h = graph(&["migrate", "docs", "ship<migrate,docs"]);
    h.update(Updated {
        step_key: Some("migrate".into()),
        not_before: Some("2026-11-25T12:00:00.000Z".into()),
        ..Default::default()
    });
    // Written as schema 2, a timer is not valid: an older nexo would
    // have called the step ready.
    assert_eq!(h.fold().step("migrate").unwrap().not_before, None);
    h.events.last_mut().unwrap().v = crate::core::event::TIMER_VERSION;
    let run = h.fold();
    let keys = |now| -> Vec<String> {
        ready_steps(
            &run,
            Viewer {
                actor: "codex",
                now,
            },
        )
        .iter()
        .map(|s| s.step_key.clone())
        .collect()
    };
    assert_eq!(keys(NOW), ["docs"]);
    assert_eq!(keys("2026-11-25T12:00:00.000Z"), ["migrate", "docs"]);
    let r = resume_as(&run, viewer("codex"));
    assert_eq!(r.step_key.as_deref(), Some("docs"), "{}", r.message);
    let wait = readiness(&run).waits_for(run.step("migrate").unwrap(), viewer("codex"));
    assert_eq!(
        wait.map(|w| w.describe()),
        Some("not before 2026-11-25T12:00:00.000Z".into())
    );
    // A timer no clock can reach still reads, and holds.
    assert!(timer(Some("9999-12-31T23:59:59Z"), NOW).is_some());
    assert!(timer(Some("not a time"), NOW).is_none());
}

#[test]
fn needs_on_other_runs_are_read_strictly_and_judged_by_what_is_met() {
    let need = RunNeed::parse("needs[0]", "WF-ABCD:migrate").unwrap();
    assert_eq!(
        (need.run.as_str(), need.step.as_deref()),
        ("WF-ABCD", Some("migrate"))
    );
    assert_eq!(RunNeed::parse("needs[0]", "WF-ABCD").unwrap().step, None);
    for bad in [
        "build",
        "WF-../x",
        "WF-A:../etc",
        "WF-A:",
        "WF-A:b:c",
        "WF-A b",
    ] {
        assert!(RunNeed::parse("needs[0]", bad).is_err(), "{bad:?} accepted");
    }
    let after = ["WF-A".to_string(), "WF-B:deploy".to_string()];
    assert_eq!(
        after_wait(&after, &|n| n == "WF-A"),
        Some(Wait::After {
            needs: vec!["WF-B:deploy".into()]
        })
    );
    assert_eq!(after_wait(&after, &|_| true), None);
}
