use serde_json::json;

use super::*;
use crate::core::event::Updated;
use crate::core::model::StepStatus::*;
use crate::core::testkit::{History, RUN, event, status_of};

#[test]
fn a_new_run_is_open_at_its_first_step() {
    let run = History::open(&["build", "ship"]).fold();
    assert_eq!(run.run_id, RUN);
    assert_eq!(run.status, RunStatus::Open);
    assert_eq!(run.current_step_key.as_deref(), Some("build"));
    assert!(run.steps.iter().all(|s| s.status == Pending));
}

#[test]
fn the_first_event_must_be_opened() {
    let mut h = History::open(&["a"]);
    h.events.remove(0);
    h.step("a", Running);
    assert!(fold(h.events[1..].to_vec()).is_err());
}

#[test]
fn run_status_follows_the_step_that_moved() {
    let mut h = History::open(&["a", "b"]);
    for (status, expected) in [
        (Running, RunStatus::Running),
        (Blocked, RunStatus::Blocked),
        (WaitingApproval, RunStatus::WaitingApproval),
        (Failed, RunStatus::Failed),
        (Completed, RunStatus::Running),
    ] {
        h.step("a", status);
        assert_eq!(h.fold().status, expected, "step a → {status}");
    }
    h.step("b", Skipped);
    assert_eq!(h.fold().status, RunStatus::Completed, "every step done");
}

#[test]
fn an_explicit_run_status_wins_over_the_derived_one() {
    let mut h = History::open(&["a"]);
    h.update(Updated {
        run_status: Some(RunStatus::Cancelled),
        ..status_of("a", Running)
    });
    assert_eq!(h.fold().status, RunStatus::Cancelled);
}

#[test]
fn closed_at_is_set_on_closing_and_cleared_on_reopening() {
    let mut h = History::open(&["a"]);
    h.step("a", Failed);
    assert!(h.fold().closed_at.is_some());
    h.step("a", Retrying);
    assert_eq!(h.fold().closed_at, None);
    assert_eq!(h.fold().status, RunStatus::Running);
}

#[test]
fn attempts_count_each_entry_into_the_work_from_elsewhere() {
    let mut h = History::open(&["a"]);
    h.step("a", Running).step("a", Running).step("a", Failed);
    h.step("a", Retrying).step("a", Running);
    let step = h.fold().step("a").cloned().unwrap();
    // running (1), failed, retrying (2); retrying → running is the
    // same attempt, as in the original.
    assert_eq!(step.attempt_count, 2);
    assert!(step.started_at.is_some());
}

#[test]
fn schema_1_events_keep_counting_as_they_did() {
    let mut h = History::open(&["a"]);
    h.step("a", Running).step("a", Retrying).step("a", Running);
    for e in &mut h.events {
        e.v = 1;
    }
    assert_eq!(h.fold().step("a").unwrap().attempt_count, 3);
}

#[test]
fn steps_open_with_the_originals_fields_in_step_index_order() {
    let mut h = History::open(&[]);
    let Body::Opened(o) = &mut h.events[0].body else {
        unreachable!()
    };
    o.steps = vec![
        StepSpec {
            key: "late".into(),
            title: "Late".into(),
            step_index: Some(9),
            ..Default::default()
        },
        StepSpec {
            key: "gate".into(),
            title: "Gate".into(),
            human_gate: true,
            status: Some(Running),
            compensation: Some("undo".into()),
            ..Default::default()
        },
    ];
    let run = h.fold();
    assert_eq!(run.step_keys(), "gate, late");
    let gate = run.step("gate").unwrap();
    assert_eq!((gate.step_index, gate.order), (2, 0));
    assert!(gate.human_gate && gate.requires_approval);
    assert_eq!(gate.status, Running);
    assert_eq!(gate.compensation.as_deref(), Some("undo"));
}

#[test]
fn a_state_patch_is_the_steps_last_and_merges_into_shared_state() {
    let mut h = History::open(&["a"]);
    h.update(Updated {
        state_patch: json!({"files": ["x"]}).as_object().cloned(),
        ..status_of("a", Running)
    });
    h.step("a", Completed);
    let run = h.fold();
    assert_eq!(
        Value::Object(run.step("a").unwrap().last_state_patch.clone()),
        json!({"files": ["x"]}),
        "an update that sends none keeps the last one"
    );
    assert_eq!(Value::Object(run.shared_state), json!({"files": ["x"]}));
}

#[test]
fn completing_a_step_moves_current_to_the_next_pending_one() {
    let mut h = History::open(&["a", "b", "c"]);
    h.step("b", Completed);
    assert_eq!(h.fold().current_step_key.as_deref(), Some("a"));
    h.step("a", Completed);
    assert_eq!(h.fold().current_step_key.as_deref(), Some("c"));
    assert!(h.fold().step("a").unwrap().completed_at.is_some());
}

#[test]
fn an_update_naming_a_new_step_with_a_title_appends_it() {
    let mut h = History::open(&["a"]);
    h.update(Updated {
        step_title: Some("Extra".into()),
        ..status_of("extra", Pending)
    });
    let run = h.fold();
    assert_eq!(run.step_keys(), "a, extra");
    assert_eq!(run.step("extra").unwrap().order, 1);
}

#[test]
fn a_gate_is_passed_by_an_approval() {
    let mut h = History::open(&["a!"]);
    h.step("a", Blocked);
    assert_eq!(h.fold().status, RunStatus::WaitingApproval);
    h.approve("a", "lead");
    let run = h.fold();
    let a = run.step("a").unwrap();
    assert_eq!(a.status, Pending, "an approval releases a blocked step");
    let approval = a.approval.as_ref().unwrap();
    assert_eq!(
        (approval.decision, approval.via),
        (Verdict::Approved, Via::Approve)
    );
    assert_eq!(approval.by, "lead");
}

#[test]
fn carrying_a_gated_step_on_is_recorded_as_an_approval_by_update() {
    let mut h = History::open(&["a!"]);
    h.step("a", Running);
    let run = h.fold();
    let approval = run.step("a").unwrap().approval.clone().unwrap();
    assert_eq!(approval.via, Via::Update);
    assert_eq!(approval.by, "agent");
}

#[test]
fn requesting_approval_again_re_arms_the_gate() {
    let mut h = History::open(&["a!"]);
    h.approve("a", "lead");
    h.update(Updated {
        requires_approval: Some(true),
        ..status_of("a", Blocked)
    });
    let run = h.fold();
    assert!(run.step("a").unwrap().approval.is_none());
    assert!(run.step("a").unwrap().awaits_approval());
}

#[test]
fn a_rejection_is_kept_with_who_and_why() {
    let mut h = History::open(&["a!"]);
    h.step("a", Blocked).reject("a", "lead", "missing notes");
    let run = h.fold();
    let a = run.step("a").unwrap();
    assert!(a.is_rejected());
    let r = a.approval.as_ref().unwrap();
    assert_eq!(
        (r.by.as_str(), r.note.as_str(), r.via),
        ("lead", "missing notes", Via::Reject)
    );
}

#[test]
fn shared_state_is_replaced_and_patched_per_rfc_7396() {
    let mut h = History::open(&["a"]);
    h.update(Updated {
        shared_state: json!({"a": 1, "b": {"c": 2}}).as_object().cloned(),
        ..Default::default()
    });
    h.update(Updated {
        state_patch: json!({"a": null, "b": {"d": 3}}).as_object().cloned(),
        ..Default::default()
    });
    assert_eq!(
        serde_json::Value::Object(h.fold().shared_state),
        json!({"b": {"c": 2, "d": 3}})
    );
}

#[test]
fn a_handoff_changes_the_owner() {
    let mut h = History::open(&["a"]);
    h.handoff("claude_code");
    assert_eq!(h.fold().owner, "claude_code");
}

#[test]
fn every_update_is_a_checkpoint_with_a_default_label() {
    let mut h = History::open(&["a"]);
    h.step("a", Running);
    h.update(Updated {
        summary: Some("half way".into()),
        ..Default::default()
    });
    let run = h.fold();
    let labels: Vec<_> = run
        .checkpoints
        .iter()
        .map(|c| c.checkpoint_label.as_str())
        .collect();
    assert!(labels.ends_with(&["a:running", "update"]), "{labels:?}");
    assert_eq!(run.last_checkpoint_label.as_deref(), Some("update"));
}

#[test]
fn order_and_repetition_of_lines_do_not_change_the_state() {
    let mut h = History::open(&["a", "b"]);
    h.step("a", Running)
        .step("a", Completed)
        .handoff("x")
        .step("b", Failed);
    let expected = h.fold();
    let mut shuffled = h.events.clone();
    shuffled.reverse();
    shuffled.push(h.events[2].clone());
    assert_eq!(fold(shuffled).unwrap(), expected);
}

#[test]
fn reopening_a_completed_step_clears_its_completion_time() {
    let mut h = History::open(&["a"]);
    h.step("a", Completed);
    assert!(h.fold().step("a").unwrap().completed_at.is_some());
    h.step("a", Running);
    assert_eq!(h.fold().step("a").unwrap().completed_at, None);
}

#[test]
fn waiting_approval_is_a_gate_even_without_the_flag() {
    let mut h = History::open(&["a"]);
    h.step("a", WaitingApproval);
    let run = h.fold();
    assert!(run.step("a").unwrap().held_at_gate());
    assert_eq!(run.status, RunStatus::WaitingApproval);
}

#[test]
fn the_clock_and_heads_track_the_history() {
    let mut h = History::open(&["a"]);
    h.step("a", Running);
    let run = h.fold();
    assert_eq!(run.clock, 2);
    assert_eq!(run.heads, vec![h.events[1].id.clone()]);
    // A concurrent event (same parent) makes two heads.
    let parent = vec![h.events[0].id.clone()];
    h.events.push(event(
        9,
        2,
        parent,
        "other",
        crate::core::event::Body::Updated(status_of("a", Failed)),
    ));
    assert_eq!(h.fold().heads.len(), 2);
}

/// Folds `events` in every rotation and reversed: the state is the same.
fn fold_any_order(events: &[Event]) -> Run {
    let base = fold(events.to_vec()).expect("folds");
    for k in 0..events.len() {
        let mut rotated = events.to_vec();
        rotated.rotate_left(k);
        assert_eq!(fold(rotated.clone()).unwrap(), base, "rotated by {k}");
        rotated.reverse();
        assert_eq!(fold(rotated).unwrap(), base, "reversed, rotated by {k}");
    }
    base
}

fn strict() -> crate::core::approval::Rules {
    crate::core::approval::Rules {
        approvals: crate::core::approval::Approvals {
            policy: crate::core::approval::Policy::Explicit,
            approvers: vec!["lead".into()],
            self_approval: false,
        },
        verified: Default::default(),
    }
}

fn re_arm() -> Updated {
    Updated {
        step_key: Some("a".into()),
        requires_approval: Some(true),
        ..Default::default()
    }
}

#[test]
fn an_approval_replayed_after_a_re_armed_gate_does_not_pass_it() {
    let mut h = History::open(&["a!"]);
    h.step("a", Blocked).approve("a", "lead").update(re_arm());
    // The peer's replay: the old approval's line again, its clock raised
    // past the re-arming update (its parents, and so its signature, kept).
    let mut replay = h.events[2].clone();
    replay.clock = h.events.last().unwrap().clock + 1;
    let mut events = h.events.clone();
    events.push(replay);
    let run = fold_any_order(&events);
    assert!(run.step("a").unwrap().awaits_approval(), "{run:?}");
}

#[test]
fn a_decision_that_did_not_follow_the_gates_request_does_not_pass_it() {
    let mut h = History::open(&["a!"]);
    h.step("a", Blocked).approve("a", "lead");
    // The gate is asked for again by an update that had not seen the
    // approval (a peer's, or one a peer's clock put after it).
    let blocked = h.events[1].clone();
    let mut request = crate::core::testkit::event(
        9,
        blocked.clock + 1,
        vec![blocked.id.clone()],
        "codex",
        Body::Updated(re_arm()),
    );
    request.clock = blocked.clock + 1;
    let mut approval = h.events[2].clone();
    approval.clock = blocked.clock + 2;
    let events = vec![h.events[0].clone(), blocked, request, approval];
    let run = fold_any_order(&events);
    assert!(run.step("a").unwrap().awaits_approval(), "{run:?}");
    assert!(matches!(
        run.unhonoured.last().unwrap().refusal,
        crate::core::approval::Refusal::PredatesRequest(_)
    ));
}

#[test]
fn one_id_with_two_contents_is_honoured_in_neither_copy() {
    let mut h = History::open(&["a", "b"]);
    h.step("a", Completed);
    let mut forged = h.events[1].clone();
    forged.clock = 7;
    forged.body = Body::Updated(status_of("b", Completed));
    let mut events = h.events.clone();
    events.push(forged.clone());
    let run = fold_any_order(&events);
    assert_eq!(run.step("a").unwrap().status, Pending);
    assert_eq!(run.step("b").unwrap().status, Pending);
    assert_eq!(run.ignored.len(), 1);
    assert_eq!(run.ignored[0].flaw.as_str(), "duplicate_id");
}

#[test]
fn a_forged_copy_of_the_opening_makes_the_run_corrupt() {
    let h = History::open(&["a"]);
    let mut forged = h.events[0].clone();
    if let Body::Opened(o) = &mut forged.body {
        o.goal = "Hijacked".into();
    }
    for events in [
        vec![h.events[0].clone(), forged.clone()],
        vec![forged, h.events[0].clone()],
    ] {
        let err = fold(events).unwrap_err();
        assert!(err.message.contains("different contents"), "{err}");
    }
}

#[test]
fn clocks_that_do_not_follow_their_parents_change_nothing() {
    let mut h = History::open(&["a"]);
    h.step("a", Running);
    let head = h.events.last().unwrap().id.clone();
    let top = event(
        10,
        u64::MAX,
        vec![head.clone()],
        "peer",
        Body::Updated(status_of("a", Completed)),
    );
    let jump = event(
        11,
        1 << 40,
        vec![head.clone()],
        "peer",
        Body::Updated(status_of("a", Failed)),
    );
    let behind = event(
        12,
        2,
        vec![head],
        "peer",
        Body::Updated(status_of("a", Skipped)),
    );
    let mut events = h.events.clone();
    events.extend([top, jump, behind]);
    let run = fold_any_order(&events);
    assert_eq!(run.step("a").unwrap().status, Running);
    assert_eq!(run.clock, 2, "ignored events do not move the clock");
    assert_eq!(run.ignored.len(), 3, "{:?}", run.ignored);
    assert_eq!(run.heads, vec![h.events[1].id.clone()]);
}

#[test]
fn a_step_key_that_is_a_path_is_never_a_step() {
    let mut h = History::open(&["a"]);
    h.update(Updated {
        step_key: Some("../x".into()),
        step_title: Some("escape".into()),
        ..Default::default()
    });
    let run = fold_any_order(&h.events);
    assert_eq!(run.step_keys(), "a");
    assert_eq!(run.ignored[0].flaw.as_str(), "invalid");
    assert!(
        run.ignored[0].message.contains("step_key"),
        "{:?}",
        run.ignored
    );
}

#[test]
fn under_a_strict_policy_completing_the_run_does_not_pass_a_gate() {
    let mut h = History::open(&["a!"]);
    h.update(Updated {
        run_status: Some(RunStatus::Completed),
        ..Default::default()
    });
    let run = fold_with(h.events.clone(), strict(), usize::MAX).unwrap();
    assert_ne!(run.status, RunStatus::Completed);
    assert_eq!(run.unhonoured.len(), 1);
    // The seed's policy keeps the original's behaviour.
    assert_eq!(h.fold().status, RunStatus::Completed);
}

#[test]
fn under_a_strict_policy_a_gated_step_opened_as_done_opens_at_its_gate() {
    let mut h = History::open(&["a!"]);
    if let Body::Opened(o) = &mut h.events[0].body {
        o.steps[0].status = Some(Completed);
    }
    let run = fold_with(h.events.clone(), strict(), usize::MAX).unwrap();
    let a = run.step("a").unwrap();
    assert_eq!(a.status, Pending);
    assert!(a.awaits_approval());
}

#[test]
fn an_event_sorting_before_the_opening_is_ignored_not_fatal() {
    let mut h = History::open(&["a"]);
    h.events[0].clock = 5;
    let early = event(
        3,
        2,
        vec![],
        "peer",
        Body::Updated(status_of("a", Completed)),
    );
    let mut events = h.events.clone();
    events.push(early);
    let run = fold_any_order(&events);
    assert_eq!(run.step("a").unwrap().status, Pending);
    assert_eq!(run.ignored[0].flaw.as_str(), "causality");
}

/// A run whose step `a` a later update gates (`re_arm`), and an update
/// completing `a` that names only the opening as its parent, with the
/// request's clock: the back-dated line of a hostile branch, or a peer's
/// concurrent completion. `id` sorts before or after the request's.
fn completion_beside_the_request(id: &str) -> Vec<Event> {
    let mut h = History::open(&["a", "b"]);
    h.step("b", Running).update(re_arm());
    let request = h.events.last().unwrap().clone();
    let opened = h.events[0].id.clone();
    let mut completion = crate::core::testkit::event(
        0,
        request.clock,
        vec![opened],
        "mallory",
        Body::Updated(status_of("a", Completed)),
    );
    completion.id = id.into();
    let mut events = h.events.clone();
    events.push(completion);
    events
}

#[test]
fn a_completion_that_did_not_see_the_gate_passes_it_in_no_order_and_no_policy() {
    for n in ["01H00000000000000000000000", "01K00000000000000000000000"] {
        for rules in [crate::core::approval::Rules::default(), strict()] {
            let events = completion_beside_the_request(n);
            let run = fold_with(events.clone(), rules.clone(), usize::MAX).unwrap();
            let a = run.step("a").unwrap();
            assert_eq!(a.status, Pending, "id {n}, {:?}: {run:#?}", rules.policy());
            assert!(a.awaits_approval(), "id {n}");
            let refused = run.unhonoured.last().expect("the completion is listed");
            assert_eq!(refused.actor, "mallory");
            assert!(
                matches!(
                    refused.refusal,
                    crate::core::approval::Refusal::UnseenGate(_)
                ),
                "{refused:?}"
            );
            // The same state whatever order the lines came in.
            for k in 0..events.len() {
                let mut rotated = events.clone();
                rotated.rotate_left(k);
                let again = fold_with(rotated, rules.clone(), usize::MAX).unwrap();
                assert_eq!(again.step("a"), run.step("a"), "id {n}, rotated {k}");
            }
        }
    }
}

#[test]
fn a_completion_that_saw_the_gate_passes_it_under_the_seed_policy() {
    let mut h = History::open(&["a"]);
    h.update(re_arm()).step("a", Completed);
    let run = h.fold();
    assert_eq!(run.step("a").unwrap().status, Completed);
    assert!(run.unhonoured.is_empty(), "{:?}", run.unhonoured);
}

/// The run's completion, concurrent with a request for approval made by
/// an update (no status): folded before the request, it stands, and the
/// run reads completed with a closed gate under a strict policy; folded
/// after it (a later id), it is refused. Which one happens is decided by
/// the ids' order alone.
#[test]
fn a_run_completion_concurrent_with_a_request_is_judged_the_same_in_either_order() {
    let mut outcomes = Vec::new();
    for id in ["01H00000000000000000000000", "01Z00000000000000000000000"] {
        let mut h = History::open(&["a", "b"]);
        let opened = h.events[0].id.clone();
        h.update(Updated {
            step_key: Some("b".into()),
            requires_approval: Some(true),
            ..Default::default()
        });
        let request = h.events.last().unwrap().clone();
        let mut done = event(
            0,
            request.clock,
            vec![opened],
            "mallory",
            Body::Updated(Updated {
                run_status: Some(crate::core::model::RunStatus::Completed),
                ..Default::default()
            }),
        );
        done.id = id.into();
        let mut events = h.events.clone();
        events.push(done);
        let rules = crate::core::approval::Rules {
            approvals: crate::core::approval::Approvals {
                policy: crate::core::approval::Policy::Explicit,
                ..Default::default()
            },
            ..Default::default()
        };
        let run = fold_with(events, rules, usize::MAX).unwrap();
        outcomes.push((id, run.status, run.step("b").unwrap().awaits_approval()));
    }
    assert_eq!(outcomes[0].1, outcomes[1].1, "{outcomes:?}");
    assert_ne!(outcomes[0].1, RunStatus::Completed, "{outcomes:?}");
}

/// Taking a move back undoes it whole. holder claims `b`; `b`
/// is gated by a request; mallory's completion of `b`, concurrent with
/// the request, is folded before or after it by its id alone. Either way
/// it is refused, but folded first it released holder's claim (a done
/// step drops its claims), counted an attempt and set the run running,
/// and the take-back restores none of that.
#[test]
fn a_move_taken_back_leaves_the_same_state_as_a_move_held() {
    let mut differ = Vec::new();
    for moved_to in [Running, Completed] {
        let mut states = Vec::new();
        for id in ["01H00000000000000000000000", "01Z00000000000000000000000"] {
            let mut h = History::open(&["a", "b"]);
            h.claim("holder", "b", 3600);
            let claimed = h.events.last().unwrap().id.clone();
            h.update(Updated {
                step_key: Some("b".into()),
                requires_approval: Some(true),
                ..Default::default()
            });
            let request = h.events.last().unwrap().clone();
            let mut running = event(
                0,
                request.clock,
                vec![claimed],
                "mallory",
                Body::Updated(status_of("b", moved_to)),
            );
            running.id = id.into();
            let mut events = h.events.clone();
            events.push(running);
            let run = fold(events).unwrap();
            let b = run.step("b").unwrap();
            states.push((
                id,
                b.status,
                b.attempt_count,
                b.started_at.is_some(),
                b.holder().map(|c| c.holder.clone()),
                run.status,
            ));
        }
        let (x, y) = (&states[0], &states[1]);
        if (x.1, x.2, x.3, &x.4, x.5) != (y.1, y.2, y.3, &y.4, y.5) {
            differ.push(format!("moved to {moved_to}: {states:?}"));
        }
    }
    assert!(differ.is_empty(), "{differ:#?}");
}
