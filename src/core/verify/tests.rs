use std::collections::BTreeSet;

use super::*;
use crate::core::approval::{Approvals, Policy, Rules};
use crate::core::fold;
use crate::core::model::StepStatus;
use crate::core::testkit::History;

fn rules(policy: Policy) -> Rules {
    Rules {
        approvals: Approvals {
            policy,
            approvers: vec!["lead".into()],
            self_approval: false,
        },
        verified: BTreeSet::new(),
    }
}

fn fold_under(h: &History, rules: Rules) -> Run {
    fold::fold_with(h.events.clone(), rules, 16).expect("folds")
}

fn everything_new(_: &EventId) -> bool {
    true
}

#[test]
fn an_update_through_a_gate_is_a_violation_under_a_strict_trusted_policy() {
    let mut h = History::open(&["build", "publish!"]);
    h.step("build", StepStatus::Completed)
        .step("publish", StepStatus::Completed);
    let run = fold_under(&h, rules(Policy::Explicit));
    let v = judge(
        &run,
        everything_new,
        &BTreeSet::new(),
        &Provenance::default(),
    );
    assert_eq!(v.violations.len(), 1, "{v:?}");
    assert_eq!(v.violations[0].reason, Reason::UpdateCannotPass);
    assert_eq!(v.violations[0].step_key.as_deref(), Some("publish"));
    assert_eq!(v.violations[0].event_id, h.events[2].id);
    assert!(!v.gates[0].passed, "the gate is still closed: {v:?}");
}

#[test]
fn what_the_base_already_has_is_not_judged_again() {
    let mut h = History::open(&["publish!"]);
    h.step("publish", StepStatus::Completed);
    let run = fold_under(&h, rules(Policy::Explicit));
    let inherited: BTreeSet<EventId> = h.events.iter().map(|e| e.id.clone()).collect();
    let v = judge(
        &run,
        |id| !inherited.contains(id),
        &BTreeSet::new(),
        &Provenance::default(),
    );
    assert!(v.violations.is_empty(), "{v:?}");
}

#[test]
fn an_approvers_decision_passes_and_is_listed_with_who_gave_it() {
    let mut h = History::open(&["publish!"]);
    h.approve("publish", "lead");
    let run = fold_under(&h, rules(Policy::Explicit));
    let v = judge(
        &run,
        everything_new,
        &BTreeSet::new(),
        &Provenance::default(),
    );
    assert!(v.violations.is_empty(), "{v:?}");
    assert!(v.gates[0].passed);
    assert_eq!(v.gates[0].by.as_deref(), Some("lead"));
    assert_eq!(v.gates[0].via, Some(Via::Approve));
}

#[test]
fn a_signature_only_the_branch_trusts_is_told_apart_from_none() {
    let mut h = History::open(&["publish!", "deploy!"]);
    h.approve("publish", "lead").approve("deploy", "lead");
    let run = fold_under(&h, rules(Policy::Signed));
    let branch_only: BTreeSet<EventId> = [h.events[1].id.clone()].into();
    let v = judge(&run, everything_new, &branch_only, &Provenance::default());
    let reasons: Vec<Reason> = v.violations.iter().map(|x| x.reason).collect();
    assert_eq!(reasons, [Reason::SignerNotTrusted, Reason::Unverified]);
}

#[test]
fn a_stranger_and_the_owner_are_refused_by_name() {
    let mut h = History::open(&["publish!", "deploy!"]);
    h.approve("publish", "mallory").approve("deploy", "codex");
    let mut r = rules(Policy::Explicit);
    r.approvals.approvers.push("codex".into());
    let v = judge(
        &fold_under(&h, r),
        everything_new,
        &BTreeSet::new(),
        &Provenance::default(),
    );
    let reasons: Vec<Reason> = v.violations.iter().map(|x| x.reason).collect();
    assert_eq!(reasons, [Reason::NotAnApprover, Reason::SelfApproval]);
}

#[test]
fn a_forged_line_the_fold_ignores_is_a_violation() {
    let mut h = History::open(&["publish!"]);
    h.approve("publish", "lead");
    // A clock that does not follow its parent: no honest writer makes it.
    h.events[1].clock = 0;
    let run = fold_under(&h, rules(Policy::Explicit));
    let v = judge(
        &run,
        everything_new,
        &BTreeSet::new(),
        &Provenance::default(),
    );
    assert_eq!(v.violations.len(), 1, "{v:?}");
    assert_eq!(v.violations[0].reason, Reason::Ignored);
    assert!(!v.gates[0].passed);
}

#[test]
fn under_the_update_policy_nothing_is_a_violation() {
    let mut h = History::open(&["publish!"]);
    h.step("publish", StepStatus::Completed);
    let run = fold_under(&h, rules(Policy::Update));
    let v = judge(
        &run,
        everything_new,
        &BTreeSet::new(),
        &Provenance::default(),
    );
    assert!(v.violations.is_empty(), "{v:?}");
    assert!(v.gates[0].passed);
    assert_eq!(v.gates[0].via, Some(Via::Update));
}

#[test]
fn heads_and_what_does_not_follow_them() {
    let mut h = History::open(&["a", "b"]);
    h.step("a", StepStatus::Running);
    let heads = heads_of(&h.events);
    assert_eq!(heads, [h.events[1].id.clone()]);
    h.step("a", StepStatus::Completed);
    // A line beside the history: it names only the opening.
    let mut aside = crate::core::testkit::event(
        7,
        2,
        vec![h.events[0].id.clone()],
        "mallory",
        crate::core::event::Body::Updated(crate::core::testkit::status_of(
            "b",
            StepStatus::Completed,
        )),
    );
    aside.id = "01J0000000000000000000ZZZZ".into();
    let mut events = h.events.clone();
    events.push(aside.clone());
    let missed = unfollowed(&events, &heads);
    let ids: Vec<&str> = missed.iter().map(|(e, _)| e.id.as_str()).collect();
    // The opening does not follow the head either: callers ask only
    // about the events a branch brought.
    assert_eq!(ids, [h.events[0].id.as_str(), aside.id.as_str()]);
    assert!(missed.iter().all(|(_, h)| *h == heads[0]));
    assert!(unfollowed(&events, &[]).is_empty());
}

/// A small deterministic generator: each case reproduces from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A forged line a branch could append: any parent the history has, any
/// clock near it, an id that may sort anywhere, a body that moves a gated
/// step on, lifts or re-asks a gate, or decides it as anyone.
fn forged(
    rng: &mut Rng,
    events: &[crate::core::event::Event],
    n: u64,
) -> crate::core::event::Event {
    use crate::core::event::{Body, Decision, Updated};
    let parent = &events[rng.below(events.len())];
    let step = ["publish", "deploy"][rng.below(2)];
    let actor = ["lead", "mallory", "codex"][rng.below(3)];
    let body = match rng.below(7) {
        0 => Body::Updated(crate::core::testkit::status_of(step, StepStatus::Completed)),
        1 => Body::Updated(crate::core::testkit::status_of(step, StepStatus::Running)),
        2 => Body::Updated(Updated {
            step_key: Some(step.into()),
            requires_approval: Some(rng.below(2) == 0),
            ..Default::default()
        }),
        3 => Body::Approved(Decision {
            step_key: step.into(),
            ..Default::default()
        }),
        4 => Body::Updated(Updated {
            run_status: Some(crate::core::model::RunStatus::Completed),
            ..Default::default()
        }),
        // A need that, met before a request naming the other way round,
        // would close a cycle.
        5 => Body::Updated(Updated {
            step_key: Some("build".into()),
            needs: Some(vec![step.into()]),
            ..Default::default()
        }),
        _ => Body::Rejected(Decision {
            step_key: step.into(),
            ..Default::default()
        }),
    };
    let clock = parent.clock + 1 + rng.below(3) as u64;
    let mut e = crate::core::testkit::event(100 + n, clock, vec![parent.id.clone()], actor, body);
    if e.body.declares_needs() {
        e.v = crate::core::event::NEEDS_VERSION;
    }
    if rng.below(2) == 0 {
        // Sorts before every honest id of the same clock.
        e.id = format!("01H000000000000000000{:05}", n).into();
    }
    e
}

/// For random base histories and random lines a branch forges on top,
/// verify and the fold agree: when verify finds nothing, every gate the
/// fold shows passed was passed by an approver's decision, and no line
/// that does not follow the base passed anything; in any line order.
#[test]
fn verify_and_the_fold_agree_on_forged_lines() {
    for seed in 1..=3000u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut h = History::open(&["build", "publish!", "deploy"]);
        h.step("build", StepStatus::Completed);
        if rng.below(2) == 0 {
            // A request that also says what its step needs.
            h.update(crate::core::event::Updated {
                step_key: Some("deploy".into()),
                requires_approval: Some(true),
                needs: (rng.below(2) == 0).then(|| vec!["build".to_string()]),
                ..Default::default()
            });
            let last = h.events.last_mut().unwrap();
            if last.body.declares_needs() {
                last.v = crate::core::event::NEEDS_VERSION;
            }
        }
        let base = h.events.clone();
        let heads = heads_of(&base);
        let mut events = base.clone();
        for n in 0..1 + rng.below(4) as u64 {
            let e = forged(&mut rng, &events, n);
            events.push(e);
        }
        let run = fold::fold_with(events.clone(), rules(Policy::Explicit), usize::MAX).unwrap();
        let base_ids: BTreeSet<EventId> = base.iter().map(|e| e.id.clone()).collect();
        let brought = Provenance {
            not_after: unfollowed(&events, &heads)
                .into_iter()
                .filter(|(e, _)| !base_ids.contains(&e.id))
                .map(|(e, h)| (e.clone(), h))
                .collect(),
            ..Provenance::default()
        };
        let v = judge(
            &run,
            |id| !base_ids.contains(id),
            &BTreeSet::new(),
            &brought,
        );
        let case = format!("seed {seed}: {events:#?}\n{v:#?}");
        for (e, _) in brought
            .not_after
            .iter()
            .filter(|(e, _)| bears_on_gate(&run, e))
        {
            assert!(
                v.violations.iter().any(|x| x.event_id == e.id),
                "a line before the base that bears on a gate is named: {case}"
            );
        }
        if v.violations.is_empty() {
            // Every step the base gated, and that the fold shows taken up
            // or done, was passed by an approver: a gate the base asked
            // for cannot be lost, nor walked through.
            for step in run
                .steps
                .iter()
                .filter(|s| s.status.is_active() || s.status.is_done())
            {
                let by_approver = step
                    .approval
                    .as_ref()
                    .is_some_and(|a| a.via == Via::Approve && a.by == "lead");
                let gated_in_base = base.iter().any(|e| match &e.body {
                    crate::core::event::Body::Opened(o) => o
                        .steps
                        .iter()
                        .any(|s| s.key == step.step_key && s.requires_approval),
                    crate::core::event::Body::Updated(u) => {
                        u.step_key.as_deref() == Some(step.step_key.as_str())
                            && u.requires_approval == Some(true)
                    }
                    _ => false,
                });
                assert!(
                    by_approver || !gated_in_base,
                    "gate {} passed: {case}",
                    step.step_key
                );
            }
        }
        let mut reversed = events.clone();
        reversed.reverse();
        let again = fold::fold_with(reversed, rules(Policy::Explicit), usize::MAX).unwrap();
        assert_eq!(again.steps, run.steps, "any order: {case}");
    }
}
