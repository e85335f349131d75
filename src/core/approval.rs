//! Who may pass an approval gate, and how: the policy of
//! `.nexo/config.yaml`'s `approvals:` section, and the rules the fold and
//! the write path share to decide whether a decision is honoured.
//!
//! Core: no files, processes or git. Whether an SSH signature verified is
//! decided outside (`crate::git::sign`) and handed in as a set of event ids.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::core::event::{Body, Decision, Event};
use crate::core::id::EventId;

/// How gates are passed.
/// Declared weakest first: `max` is the stricter of two.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// The seed's behaviour: an update that moves a gated step on is the
    /// caller's approval; anyone may approve.
    #[default]
    Update,
    /// Only `approve` / `reject` by a listed approver pass a gate, and not
    /// the run's owner or whoever asked for the gate.
    Explicit,
    /// `explicit`, and every decision carries an SSH signature that
    /// verifies against `.nexo/allowed_signers`.
    Signed,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Update => "update",
            Policy::Explicit => "explicit",
            Policy::Signed => "signed",
        }
    }

    /// Whether only explicit decisions pass a gate.
    pub fn is_strict(self) -> bool {
        self != Policy::Update
    }
}

/// The `approvals:` section of `.nexo/config.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approvals {
    #[serde(default)]
    pub policy: Policy,
    /// Who may approve or reject, by the names used as `actor`.
    #[serde(default)]
    pub approvers: Vec<String>,
    /// Let the run's owner and whoever asked for a gate decide it.
    #[serde(default)]
    pub self_approval: bool,
}

impl Approvals {
    /// The policy that admits only what both `self` and `other` admit: a
    /// branch may make the trusted policy stricter, never looser. The
    /// stronger mode; under two strict policies only the approvers both
    /// list, and self-approval only if both allow it.
    pub fn stricter(&self, other: &Approvals) -> Approvals {
        let (a, b) = (self, other);
        match (a.policy.is_strict(), b.policy.is_strict()) {
            (false, false) => a.clone(),
            (true, false) => a.clone(),
            (false, true) => b.clone(),
            (true, true) => Approvals {
                policy: a.policy.max(b.policy),
                approvers: a
                    .approvers
                    .iter()
                    .filter(|n| b.approvers.contains(n))
                    .cloned()
                    .collect(),
                self_approval: a.self_approval && b.self_approval,
            },
        }
    }
}

/// The approval rules a fold applies: the policy, and which decisions'
/// signatures verified.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    pub approvals: Approvals,
    /// Decision events whose signature verified for their actor.
    pub verified: BTreeSet<EventId>,
}

/// Why a decision or an update was not allowed to pass a gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "reason", content = "detail")]
pub enum Refusal {
    /// Under `explicit` or `signed`, an update cannot pass a gate.
    UpdateCannotPass,
    /// The actor is not in `approvers`.
    NotAnApprover(String),
    /// The actor owns the run or asked for the gate.
    SelfApproval(String),
    /// No signature, or one that does not verify for this actor, event,
    /// run and step.
    Unverified(String),
    /// The decision did not follow the event that asked for the gate now
    /// in force (named here): it answers an earlier request, or none.
    PredatesRequest(String),
    /// An update moved a gated step on, or lifted its gate, without having
    /// seen the event that asked for the gate (named here): concurrent
    /// with the request, or back-dated to look so. Under every policy a
    /// gate is passed only by what followed its request.
    UnseenGate(String),
    /// The steps an update says its step needs name a step the run does
    /// not have, or close a cycle, in the state the fold met it in: those
    /// needs are not applied; the rest of the update is.
    Needs(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::UpdateCannotPass => f.write_str(
                "an update cannot pass an approval gate under this policy: approve it with `nexo approve` (nexo_workflow_approve)",
            ),
            Refusal::NotAnApprover(who) => write!(
                f,
                "{who} is not an approver (approvals.approvers in .nexo/config.yaml)"
            ),
            Refusal::SelfApproval(why) => f.write_str(why),
            Refusal::Unverified(why) => write!(f, "the signature does not verify: {why}"),
            Refusal::PredatesRequest(request) => write!(
                f,
                "the decision was made before the gate was last asked for (event {request}): it does not answer that request"
            ),
            Refusal::Needs(why) => write!(f, "its needs are not applied ({why}); the rest of it is"),
            Refusal::UnseenGate(request) => write!(
                f,
                "it moved the step on without having seen the gate asked for by event {request}: a gate is passed only by what followed its request"
            ),
        }
    }
}

impl Rules {
    pub fn policy(&self) -> Policy {
        self.approvals.policy
    }

    /// Whether `actor` may decide a gate of a run owned by `owner` that
    /// `requested_by` asked for (signatures aside).
    pub fn may_decide(
        &self,
        actor: &str,
        owner: &str,
        requested_by: Option<&str>,
    ) -> Result<(), Refusal> {
        let a = &self.approvals;
        if !a.policy.is_strict() {
            return Ok(());
        }
        if !a.approvers.iter().any(|x| x == actor) {
            return Err(Refusal::NotAnApprover(actor.to_string()));
        }
        if !a.self_approval {
            if actor == owner {
                return Err(Refusal::SelfApproval(format!(
                    "{actor} owns the run and cannot decide its own gate (approvals.self_approval is false)"
                )));
            }
            if requested_by == Some(actor) {
                return Err(Refusal::SelfApproval(format!(
                    "{actor} asked for this gate and cannot decide it (approvals.self_approval is false)"
                )));
            }
        }
        Ok(())
    }

    /// Whether a decision event is honoured: the actor may decide, and
    /// under `signed` its signature verified.
    pub fn honours(
        &self,
        event: &Event,
        owner: &str,
        requested_by: Option<&str>,
    ) -> Result<(), Refusal> {
        self.may_decide(&event.actor, owner, requested_by)?;
        if self.policy() == Policy::Signed && !self.verified.contains(&event.id) {
            return Err(Refusal::Unverified(
                "no signature of this actor, run, step, verdict and event verified against .nexo/allowed_signers".into(),
            ));
        }
        Ok(())
    }
}

/// The SSH signature namespace, so a nexo signature can never pass as a
/// git commit's or a file's (`ssh-keygen -Y sign -n nexo`).
pub const NAMESPACE: &str = "nexo";

/// The bytes a decision's signature covers: run id, step key, verdict,
/// actor, event id, parents and note, as one canonical JSON array; from
/// schema 4 on (`nexo-decision/2`) its clock too, so a signature cannot be
/// carried to another place in the run's causal order. Moving the
/// signature to another run, step, event, verdict or time breaks it.
pub fn signed_content(run_id: &str, event: &Event, verdict: &str, d: &Decision) -> Vec<u8> {
    let mut parents: Vec<&str> = event.parents.iter().map(|p| p.as_str()).collect();
    parents.sort_unstable();
    let mut content = serde_json::json!([
        "nexo-decision/1",
        run_id,
        d.step_key,
        verdict,
        event.actor,
        event.id,
        parents,
        d.note,
    ]);
    if event.v >= crate::core::event::SIGNED_VERSION {
        content[0] = "nexo-decision/2".into();
        content
            .as_array_mut()
            .expect("built as an array")
            .push(event.clock.into());
    }
    serde_json::to_vec(&content).expect("JSON values serialize")
}

/// Each signed decision of a run's `events`, with the content its
/// signature must cover (none when no event opens the run).
pub fn signed_decisions(events: &[Event]) -> impl Iterator<Item = (&Event, Vec<u8>, &str)> {
    let run_id = events.iter().find_map(|e| match &e.body {
        Body::Opened(o) => Some(o.run_id.to_string()),
        _ => None,
    });
    events.iter().filter_map(move |e| {
        let run_id = run_id.as_deref()?;
        let (verdict, d) = decision_of(e)?;
        let signature = d.signature.as_deref()?;
        Some((e, signed_content(run_id, e, verdict, d), signature))
    })
}

/// A decision event's verdict, as its signature names it, and payload.
pub fn decision_of(e: &Event) -> Option<(&'static str, &Decision)> {
    match &e.body {
        Body::Approved(d) => Some(("approved", d)),
        Body::Rejected(d) => Some(("rejected", d)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::event::Body;
    use crate::core::testkit::event;

    fn rules(policy: Policy) -> Rules {
        Rules {
            approvals: Approvals {
                policy,
                approvers: vec!["lead".into(), "codex".into()],
                self_approval: false,
            },
            verified: BTreeSet::new(),
        }
    }

    #[test]
    fn the_stricter_policy_admits_only_what_both_admit() {
        let base = rules(Policy::Explicit).approvals;
        let loose = Approvals::default();
        assert_eq!(base.stricter(&loose), base);
        assert_eq!(loose.stricter(&base), base);
        let branch = Approvals {
            policy: Policy::Signed,
            approvers: vec!["codex".into(), "mallory".into()],
            self_approval: true,
        };
        let both = base.stricter(&branch);
        assert_eq!(both.policy, Policy::Signed);
        assert_eq!(both.approvers, vec!["codex".to_string()]);
        assert!(!both.self_approval);
    }

    #[test]
    fn under_update_anyone_decides() {
        assert_eq!(
            rules(Policy::Update).may_decide("x", "x", Some("x")),
            Ok(())
        );
    }

    #[test]
    fn under_explicit_only_other_approvers_decide() {
        let r = rules(Policy::Explicit);
        assert_eq!(r.may_decide("lead", "codex", Some("codex")), Ok(()));
        assert!(matches!(
            r.may_decide("eve", "codex", None),
            Err(Refusal::NotAnApprover(_))
        ));
        assert!(matches!(
            r.may_decide("codex", "codex", None),
            Err(Refusal::SelfApproval(_))
        ));
        assert!(matches!(
            r.may_decide("lead", "x", Some("lead")),
            Err(Refusal::SelfApproval(_))
        ));
        let mut own = r.clone();
        own.approvals.self_approval = true;
        assert_eq!(own.may_decide("codex", "codex", Some("codex")), Ok(()));
    }

    #[test]
    fn under_signed_only_verified_events_are_honoured() {
        let d = Decision {
            step_key: "publish".into(),
            ..Default::default()
        };
        let e = event(1, 2, vec![], "lead", Body::Approved(d));
        let mut r = rules(Policy::Signed);
        assert!(matches!(
            r.honours(&e, "codex", None),
            Err(Refusal::Unverified(_))
        ));
        r.verified.insert(e.id.clone());
        assert_eq!(r.honours(&e, "codex", None), Ok(()));
    }

    #[test]
    fn the_signed_content_names_everything_a_signature_must_not_move_between() {
        let d = Decision {
            step_key: "publish".into(),
            note: "go".into(),
            next_action: None,
            signature: None,
        };
        let e = event(1, 2, vec![], "lead", Body::Approved(d.clone()));
        let base = signed_content("WF-A", &e, "approved", &d);
        let other_step = Decision {
            step_key: "deploy".into(),
            ..d.clone()
        };
        assert_ne!(base, signed_content("WF-B", &e, "approved", &d));
        assert_ne!(base, signed_content("WF-A", &e, "rejected", &d));
        assert_ne!(base, signed_content("WF-A", &e, "approved", &other_step));
        let mut moved = e.clone();
        moved.id = "01J0000000000000000000ZZZZ".into();
        assert_ne!(base, signed_content("WF-A", &moved, "approved", &d));
    }

    #[test]
    fn from_schema_4_the_signature_covers_the_clock() {
        let d = Decision {
            step_key: "publish".into(),
            ..Default::default()
        };
        let mut e = event(1, 2, vec![], "lead", Body::Approved(d.clone()));
        let old = signed_content("WF-A", &e, "approved", &d);
        e.clock = 9;
        assert_eq!(old, signed_content("WF-A", &e, "approved", &d));
        e.v = crate::core::event::SIGNED_VERSION;
        let at_9 = signed_content("WF-A", &e, "approved", &d);
        e.clock = 10;
        assert_ne!(at_9, signed_content("WF-A", &e, "approved", &d));
        assert_ne!(old, at_9);
    }
}
