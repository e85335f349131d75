//! Judging a branch's gates by a policy it cannot change (`nexo verify`).
//!
//! A run is folded under the trusted approval rules (the stricter of the
//! base branch's and the branch's own, `Approvals::stricter`); then every
//! event the branch brings, and the base does not already have, must be
//! honoured: a decision or a gate-passing update the trusted rules do not
//! admit is a violation, whether or not it passed the gate on the branch.
//! Events the base already carries were judged when they reached it.
//!
//! Core: no files, git or processes. Which signatures verified, and
//! against which allowed-signers file, is decided outside and handed in.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::core::approval::{Approvals, Refusal};
use crate::core::event::{Body, Event};
use crate::core::fold::{Run, Step, Verdict, Via};
use crate::core::id::EventId;
use crate::core::model::StepStatus;

/// Why an event of the branch does not hold under the trusted policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// An update passed (or went around) a gate the policy wants decided.
    UpdateCannotPass,
    /// The decider is not a trusted approver.
    NotAnApprover,
    /// The decider owns the run or asked for the gate.
    SelfApproval,
    /// No signature, or one no key of either allowed-signers file verifies.
    Unverified,
    /// The signature verifies only against the branch's own
    /// `allowed_signers`: a key the base does not trust.
    SignerNotTrusted,
    /// A line the fold cannot honour at all (a forged clock or parent, a
    /// field no nexo writes): `doctor` names its flaw.
    Ignored,
    /// A decision made before its gate was last asked for: it answers an
    /// earlier request and passes nothing (listed as stale, not failed).
    PredatesRequest,
    /// An update moved a gated step on without having seen the request
    /// for its gate (concurrent with it, or back-dated to sort first).
    UnseenGate,
    /// An event the branch adds that does not follow every event its run
    /// had where the branch began: back-dated, as no honest writer on the
    /// branch could have written it.
    NotAfterBase,
    /// A line carrying the id of an event the base has, with other
    /// content: the base's copy is judged, this one is not honoured.
    RewritesInherited,
    /// An event the base has and honours that the branch's lines made the
    /// fold refuse (a line sorted before it, say, that voids part of it).
    ErasesInherited,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::UpdateCannotPass => "update_cannot_pass",
            Reason::NotAnApprover => "not_an_approver",
            Reason::SelfApproval => "self_approval",
            Reason::Unverified => "unverified",
            Reason::SignerNotTrusted => "signer_not_trusted",
            Reason::Ignored => "ignored",
            Reason::PredatesRequest => "predates_request",
            Reason::UnseenGate => "unseen_gate",
            Reason::NotAfterBase => "not_after_base",
            Reason::RewritesInherited => "rewrites_inherited",
            Reason::ErasesInherited => "erases_inherited",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event of the branch that the trusted policy does not honour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub run_id: String,
    /// The gated step, when the event names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_key: Option<String>,
    pub event_id: EventId,
    pub actor: String,
    pub at: String,
    pub reason: Reason,
    /// The reason in words.
    pub message: String,
}

/// A gate of a judged run, as the trusted policy leaves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateCheck {
    pub run_id: String,
    pub step_key: String,
    pub title: String,
    pub status: StepStatus,
    /// Whether the gate is passed under the trusted policy (approved, or
    /// the step done), or still waits for a decision.
    pub passed: bool,
    /// The decision in force, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Verdict>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<Via>,
    /// The decision's signature verified against the trusted keys.
    pub verified: bool,
}

/// What judging one run found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunVerdict {
    pub gates: Vec<GateCheck>,
    pub violations: Vec<Violation>,
    /// Decisions that answered an earlier request for their gate (two
    /// clones deciding and asking again at once): harmless, they pass
    /// nothing, and honest concurrent work makes them.
    pub stale: Vec<Violation>,
}

/// What a branch brought that the fold alone does not judge.
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    /// Lines carrying the id of an event the base has, with other content.
    /// They are left out of the fold, so the base's copy is what counts.
    pub rewrites: Vec<Event>,
    /// Events the branch adds that do not follow every event the run had
    /// where the branch began (`unfollowed`), each with the first of those
    /// it does not follow.
    pub not_after: Vec<(Event, EventId)>,
    /// Where the branch began, as people read it (a short commit id).
    pub origin: String,
    /// Inherited events the base's fold honours and HEAD's does not: the
    /// branch's lines changed what they mean.
    pub erased: Vec<Event>,
}

/// Judges `run`, folded under the trusted rules. `is_new` tells the
/// events the branch answers for (those it brings, and any it makes pass
/// that the trusted rules refuse); `verified_on_branch` the decisions whose
/// signature verifies against the branch's own allowed signers (so an
/// unverified one is told apart as `signer_not_trusted`). Each event gets
/// at most one violation: its first flaw of rewriting an inherited event,
/// being a line the fold cannot honour, coming before where the branch
/// began (under a strict policy), and passing a gate it may not.
pub fn judge(
    run: &Run,
    is_new: impl Fn(&EventId) -> bool,
    verified_on_branch: &BTreeSet<EventId>,
    brought: &Provenance,
) -> RunVerdict {
    let mut out = RunVerdict {
        gates: run
            .steps
            .iter()
            .filter(|s| is_gate(s))
            .map(|s| gate(run, s))
            .collect(),
        ..RunVerdict::default()
    };
    let mut named: BTreeSet<EventId> = BTreeSet::new();
    for e in &brought.rewrites {
        let message = format!(
            "rewrites inherited event {}: the base has a line with this id and other content; the base's copy is judged",
            e.id
        );
        out.violations
            .push(of_event(run, e, Reason::RewritesInherited, message));
        named.insert(e.id.clone());
    }
    for i in run.ignored.iter().filter(|i| is_new(&i.event_id)) {
        if !named.insert(i.event_id.clone()) {
            continue;
        }
        out.violations.push(Violation {
            run_id: run.run_id.to_string(),
            step_key: None,
            event_id: i.event_id.clone(),
            actor: i.actor.clone(),
            at: i.at.clone(),
            reason: Reason::Ignored,
            message: format!("{} ({})", i.message, i.flaw.as_str()),
        });
    }
    for e in &brought.erased {
        if !named.insert(e.id.clone()) {
            continue;
        }
        let message = format!(
            "inherited event {}, which the base honours, is not honoured here: a line this branch added changed what it means",
            e.id
        );
        out.violations
            .push(of_event(run, e, Reason::ErasesInherited, message));
    }
    if run.rules.policy().is_strict() {
        for (e, missed) in &brought.not_after {
            if !bears_on_gate(run, e) || !named.insert(e.id.clone()) {
                continue;
            }
            let message = format!(
                "it does not follow event {missed}, which this run had where the branch began ({}): an event a branch adds comes after everything it started from",
                brought.origin
            );
            out.violations
                .push(of_event(run, e, Reason::NotAfterBase, message));
        }
    }
    for u in run.unhonoured.iter().filter(|u| is_new(&u.event_id)) {
        if named.contains(&u.event_id) {
            continue;
        }
        refusal(&mut out, run, u, verified_on_branch);
    }
    out
}

/// Files one refusal of the fold as a violation, or as stale.
fn refusal(
    out: &mut RunVerdict,
    run: &Run,
    u: &crate::core::fold::Unhonoured,
    verified_on_branch: &BTreeSet<EventId>,
) {
    let reason = match &u.refusal {
        Refusal::UpdateCannotPass => Reason::UpdateCannotPass,
        Refusal::NotAnApprover(_) => Reason::NotAnApprover,
        Refusal::SelfApproval(_) => Reason::SelfApproval,
        Refusal::Unverified(_) if verified_on_branch.contains(&u.event_id) => {
            Reason::SignerNotTrusted
        }
        Refusal::Unverified(_) => Reason::Unverified,
        Refusal::UnseenGate(_) => Reason::UnseenGate,
        Refusal::Needs(_) => Reason::Ignored,
        Refusal::PredatesRequest(_) => {
            out.stale
                .push(violation(run, u, Reason::PredatesRequest, &u.message));
            return;
        }
    };
    let message = match reason {
        Reason::SignerNotTrusted => format!(
            "signed by a key that only this branch's .nexo/allowed_signers lists for {}: the trusted allowed_signers does not",
            u.actor
        ),
        _ => u.message.clone(),
    };
    out.violations.push(violation(run, u, reason, &message));
}

/// For each event of `events` (a history, in any order) that does not
/// follow every one of `heads` (the heads of the run where a branch
/// began), the first head it does not follow. One pass in fold order,
/// where parents come first: each event carries the set of heads its
/// ancestry reaches.
pub fn unfollowed<'a>(events: &'a [Event], heads: &[EventId]) -> Vec<(&'a Event, EventId)> {
    if heads.is_empty() {
        return Vec::new();
    }
    let words = heads.len().div_ceil(64);
    let index: std::collections::HashMap<&str, usize> = heads
        .iter()
        .enumerate()
        .map(|(i, h)| (h.as_str(), i))
        .collect();
    let mut order: Vec<&Event> = events.iter().collect();
    order.sort_by(|a, b| (a.clock, &a.id).cmp(&(b.clock, &b.id)));
    let mut reach: std::collections::HashMap<&str, Vec<u64>> = Default::default();
    let mut out = Vec::new();
    for e in order {
        let mut bits = vec![0u64; words];
        for p in &e.parents {
            if let Some(pb) = reach.get(p.as_str()) {
                bits.iter_mut().zip(pb).for_each(|(b, p)| *b |= p);
            }
        }
        if let Some(&i) = index.get(e.id.as_str()) {
            bits[i / 64] |= 1 << (i % 64);
        }
        if let Some(i) = (0..heads.len()).find(|&i| bits[i / 64] & (1 << (i % 64)) == 0) {
            out.push((e, heads[i].clone()));
        }
        reach.insert(e.id.as_str(), bits);
    }
    out
}

/// The events of a history that no other event names as a parent.
pub fn heads_of(events: &[Event]) -> Vec<EventId> {
    let named: BTreeSet<&str> = events
        .iter()
        .flat_map(|e| e.parents.iter().map(|p| p.as_str()))
        .collect();
    let heads: BTreeSet<&EventId> = events
        .iter()
        .filter(|e| !named.contains(e.id.as_str()))
        .map(|e| &e.id)
        .collect();
    heads.into_iter().cloned().collect()
}

fn of_event(run: &Run, e: &Event, reason: Reason, message: String) -> Violation {
    Violation {
        run_id: run.run_id.to_string(),
        step_key: step_of(e).map(str::to_string),
        event_id: e.id.clone(),
        actor: e.actor.clone(),
        at: e.at.clone(),
        reason,
        message,
    }
}

/// Whether an event bears on a gate: a decision, the run's completion, or
/// an update of a gated step's status, gate or needs. Only such an event
/// the branch adds without following where it began is a violation: the
/// rest is ordinary concurrent work (a sibling branch merged in, a run
/// brought over), which the fold judges as any other.
fn bears_on_gate(run: &Run, e: &Event) -> bool {
    match &e.body {
        Body::Approved(_) | Body::Rejected(_) => true,
        Body::Updated(u) => {
            let completes = u.run_status == Some(crate::core::model::RunStatus::Completed);
            let gated = u
                .step_key
                .as_deref()
                .and_then(|k| run.step(k))
                .is_some_and(is_gate);
            let moves =
                u.step_status.is_some() || u.requires_approval.is_some() || u.needs.is_some();
            completes || (gated && moves)
        }
        _ => false,
    }
}

/// The step an event is about, if it names one.
fn step_of(e: &Event) -> Option<&str> {
    match &e.body {
        Body::Updated(u) => u.step_key.as_deref(),
        Body::Approved(d) | Body::Rejected(d) => Some(&d.step_key),
        Body::Claimed(c) => Some(&c.step_key),
        Body::Released(r) => Some(&r.step_key),
        _ => None,
    }
}

/// A step that is, or was, an approval gate.
fn is_gate(s: &Step) -> bool {
    s.requires_approval
        || s.human_gate
        || s.approval.is_some()
        || s.status == StepStatus::WaitingApproval
}

fn gate(run: &Run, s: &Step) -> GateCheck {
    let approved = s
        .approval
        .as_ref()
        .is_some_and(|a| a.decision == Verdict::Approved);
    GateCheck {
        run_id: run.run_id.to_string(),
        step_key: s.step_key.clone(),
        title: s.title.clone(),
        status: s.status,
        passed: approved || (s.status.is_done() && !s.awaits_approval()),
        decision: s.approval.as_ref().map(|a| a.decision),
        by: s.approval.as_ref().map(|a| a.by.clone()),
        via: s.approval.as_ref().map(|a| a.via),
        verified: s.approval.as_ref().is_some_and(|a| a.verified),
    }
}

fn violation(
    run: &Run,
    u: &crate::core::fold::Unhonoured,
    reason: Reason,
    message: &str,
) -> Violation {
    Violation {
        run_id: run.run_id.to_string(),
        step_key: Some(u.step_key.clone()),
        event_id: u.event_id.clone(),
        actor: u.actor.clone(),
        at: u.at.clone(),
        reason,
        message: message.to_string(),
    }
}

// The report `nexo verify` gives, whatever computed it.

/// A policy as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyOut {
    #[serde(flatten)]
    pub approvals: Approvals,
    /// Keys listed in its `allowed_signers`.
    pub signers: usize,
}

/// A change the branch made to a file of the policy since the merge base.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyChange {
    /// `.nexo/config.yaml` or `.nexo/allowed_signers`.
    pub path: String,
    /// The commit compared with (the merge base, else the trusted ref).
    pub since: String,
    /// `added`, `removed`, `modified`, or `not_a_file`.
    pub change: &'static str,
    /// Lines the branch added and removed (clipped; at most 50 each).
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// The commit a `--trusted` ref named.
#[derive(Debug, Clone, Serialize)]
pub struct TrustedRef {
    pub r#ref: String,
    pub commit: String,
}

/// The policies weighed, and the one applied.
#[derive(Debug, Clone, Serialize)]
pub struct Policies {
    pub trusted: PolicyOut,
    /// The branch's own (HEAD's), when judged against a trusted ref.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<PolicyOut>,
    /// The stricter of the two.
    pub applied: Approvals,
}

/// A run that could not be judged, or HEAD's `.nexo/` in a shape nexo
/// does not read: the check fails closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyProblem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    pub message: String,
}

/// What `verify` found.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// No violation and no problem.
    pub ok: bool,
    /// The commit judged.
    pub head: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trusted: Option<TrustedRef>,
    pub policy: Policies,
    /// Changes to `.nexo/config.yaml` and `.nexo/allowed_signers` since
    /// the merge base, whatever the outcome.
    pub policy_changes: Vec<PolicyChange>,
    /// Runs in HEAD's `.nexo/runs`.
    pub runs: usize,
    /// Runs folded and judged: all of them, or with `--trusted` those
    /// whose folder differs from the trusted ref's.
    pub runs_judged: usize,
    /// Templates in HEAD's `.nexo/templates`, each checked as opening a
    /// run from it would check it (a broken one is a problem).
    #[serde(default, skip_serializing_if = "crate::core::limits::is_zero")]
    pub templates: usize,
    pub gates: Vec<GateCheck>,
    pub violations: Vec<Violation>,
    pub stale: Vec<Violation>,
    pub problems: Vec<VerifyProblem>,
}

#[cfg(test)]
mod tests;
