use std::collections::BTreeSet;

use super::*;
use crate::approval::{Approvals, Policy, Rules};
use crate::fold;
use crate::model::StepStatus;
use crate::testkit::History;

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
    let v = judge(&run, everything_new, &BTreeSet::new());
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
    let v = judge(&run, |id| !inherited.contains(id), &BTreeSet::new());
    assert!(v.violations.is_empty(), "{v:?}");
}

#[test]
fn an_approvers_decision_passes_and_is_listed_with_who_gave_it() {
    let mut h = History::open(&["publish!"]);
    h.approve("publish", "lead");
    let run = fold_under(&h, rules(Policy::Explicit));
    let v = judge(&run, everything_new, &BTreeSet::new());
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
    let v = judge(&run, everything_new, &branch_only);
    let reasons: Vec<Reason> = v.violations.iter().map(|x| x.reason).collect();
    assert_eq!(reasons, [Reason::SignerNotTrusted, Reason::Unverified]);
}

#[test]
fn a_stranger_and_the_owner_are_refused_by_name() {
    let mut h = History::open(&["publish!", "deploy!"]);
    h.approve("publish", "mallory").approve("deploy", "codex");
    let mut r = rules(Policy::Explicit);
    r.approvals.approvers.push("codex".into());
    let v = judge(&fold_under(&h, r), everything_new, &BTreeSet::new());
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
    let v = judge(&run, everything_new, &BTreeSet::new());
    assert_eq!(v.violations.len(), 1, "{v:?}");
    assert_eq!(v.violations[0].reason, Reason::Ignored);
    assert!(!v.gates[0].passed);
}

#[test]
fn under_the_update_policy_nothing_is_a_violation() {
    let mut h = History::open(&["publish!"]);
    h.step("publish", StepStatus::Completed);
    let run = fold_under(&h, rules(Policy::Update));
    let v = judge(&run, everything_new, &BTreeSet::new());
    assert!(v.violations.is_empty(), "{v:?}");
    assert!(v.gates[0].passed);
    assert_eq!(v.gates[0].via, Some(Via::Update));
}
