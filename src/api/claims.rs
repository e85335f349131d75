//! `claim` and `release`, and the check every step write makes against
//! claims: on this machine under the run's writer lock; across clones
//! through the remote, whose refusal of a push that is not a
//! fast-forward is the compare-and-swap (`claim` with `sync`).

use std::cell::RefCell;

use super::validate::existing_step;
use crate::core::error::{Error, ErrorKind, Result};
use crate::core::event::{Body, Claimed, ReleaseReason, Released};
use crate::core::fold::{Claim, Run, Standing, Step};
use crate::core::id::EventId;
use crate::core::resume::{Viewer, resume_as};
use crate::wire::claims::{ClaimOutcome, ClaimResponse, ReleaseResponse};
use crate::wire::request::{ClaimRequest, ReleaseRequest, UpdateRequest};
use crate::workspace::Nexo;

/// The refusal of a write to a step someone else holds: its own exit code
/// and error kind, with the holder and the lease's end.
pub(crate) fn held(run: &Run, step: &Step, c: &Claim) -> Error {
    Error::new(
        ErrorKind::Claimed,
        format!(
            "step '{}' of {} is claimed by {} until {} (claim {}); nothing was written",
            step.step_key, run.run_id, c.holder, c.lease_until, c.token
        ),
    )
    .with_hint_naming({
        let (run_id, margin) = (run.run_id.clone(), crate::core::claim::SKEW_MARGIN_SECONDS);
        move |n| {
            format!(
                "take another step (nexo resume {run_id} says which), wait for the lease to end (it can be taken over {margin}s after), or take it on purpose by passing {}",
                n("steal")
            )
        }
    })
    .with_detail("step_key", step.step_key.clone())
    .with_detail("holder", c.holder.clone())
    .with_detail("lease_until", c.lease_until.clone())
    .with_detail("token", c.token.to_string())
}

/// Refuses a write by `actor` to step `key` while someone else's lease
/// protects it.
pub(super) fn check_write(run: &Run, actor: &str, key: &str) -> Result<()> {
    let Some(step) = run.step(key) else {
        return Ok(());
    };
    match step.standing(actor, &crate::trace::now_text()) {
        Standing::HeldBy { claim, .. } => Err(held(run, step, claim)),
        _ => Ok(()),
    }
}

/// Why a claim with `sync` did not hold at the remote.
pub(super) struct Lost {
    /// The claim that holds the step instead, if any.
    pub(super) winner: Option<Claim>,
    pub(super) status: crate::core::model::StepStatus,
}

impl Lost {
    pub(super) fn error(&self, run_id: &str, key: &str, token: &str) -> Error {
        let why = match &self.winner {
            Some(w) => format!(
                "lost to {}'s claim {} (until {}), which reached the remote first without seeing yours",
                w.holder, w.token, w.lease_until
            ),
            None => format!("the step is {} at the remote", self.status),
        };
        let mut e = Error::new(
            ErrorKind::Claimed,
            format!(
                "your claim {token} on step '{key}' of {run_id} {why}; it was released and pushed as lost"
            ),
        )
        .with_hint(format!(
            "take another step: nexo resume {run_id} (or nexo ready) says which"
        ))
        .with_detail("lost", true)
        .with_detail("step_key", key.to_string())
        .with_detail("your_token", token.to_string());
        if let Some(w) = &self.winner {
            e = e
                .with_detail("holder", w.holder.clone())
                .with_detail("lease_until", w.lease_until.clone())
                .with_detail("token", w.token.to_string());
        }
        e
    }
}

/// What the claim's event said, for the answer.
struct Granted {
    step_key: String,
    outcome: ClaimOutcome,
}

impl Nexo {
    /// [`resume_as`] for `actor`, now.
    pub(super) fn resume_for(&self, run: &Run, actor: &str) -> crate::core::resume::Resume {
        let now = crate::trace::now_text();
        let others = super::after::Others::default();
        crate::core::resume::held_back(run, resume_as(run, Viewer { actor, now: &now }), &|s| {
            self.after_waits(&s.after, &others)
        })
    }

    pub fn claim(&self, req: ClaimRequest) -> Result<ClaimResponse> {
        if req.sync == Some(true) {
            return self.claim_at_remote(req);
        }
        self.claim_here(&req)
    }

    /// A claim written here (committed, not pushed).
    pub(super) fn claim_here(&self, req: &ClaimRequest) -> Result<ClaimResponse> {
        let ttl = match req.ttl_seconds {
            Some(t) => crate::core::claim::check_ttl("ttl_seconds", t)?,
            None => self.claim_ttl,
        };
        let actor = self.actor(Some(req.actor.clone()), None);
        let granted = RefCell::new(None);
        let (run, event, commit) = self.write(&req.run_id, |run| {
            let (body, g) = claim_body(run, req, &actor, ttl)?;
            let subject = format!("{} claims {}", actor, g.step_key);
            *granted.borrow_mut() = Some(g);
            Ok((actor.clone(), body, subject))
        })?;
        let g = granted.into_inner().expect("set by the write");
        let step = run.step(&g.step_key).expect("claimed above");
        let c = step
            .claims
            .iter()
            .find(|c| c.holder == actor)
            .expect("the caller holds the step");
        let message = claim_message(&actor, step, &run.run_id, c, g.outcome);
        Ok(ClaimResponse {
            ok: true,
            run_id: run.run_id.clone(),
            step_key: g.step_key,
            holder: actor.clone(),
            lease_until: c.lease_until.clone(),
            token: c.token.to_string(),
            ttl_seconds: c.ttl_seconds,
            outcome: g.outcome,
            took_over: c.took_over.clone(),
            sync: None,
            message,
            event_id: event.id,
            commit,
        })
    }

    pub fn release(&self, req: ReleaseRequest) -> Result<ReleaseResponse> {
        let actor = self.actor(Some(req.actor.clone()), None);
        let mut token = String::new();
        let mut key = String::new();
        let (run, event, commit) = self.write(&req.run_id, |run| {
            let step = released_step(run, req.step_key.as_deref(), &actor)?;
            let c = step
                .claims
                .iter()
                .find(|c| c.holder == actor)
                .expect("found");
            token = c.token.to_string();
            key = step.step_key.clone();
            let body = Body::Released(Released {
                step_key: key.clone(),
                holder: actor.clone(),
                token: c.token.clone(),
                reason: ReleaseReason::Released,
            });
            Ok((actor.clone(), body, format!("{actor} releases {key}")))
        })?;
        let message = format!("{actor} released step '{key}' of {}.", run.run_id);
        Ok(ReleaseResponse {
            ok: true,
            run_id: run.run_id.clone(),
            step_key: key,
            holder: actor,
            token,
            message,
            event_id: event.id,
            commit,
        })
    }

    /// Before an update with `steal`: takes the step from a live holder
    /// with a claim of its own, so the theft is recorded as such.
    pub(super) fn steal_for(&self, req: &UpdateRequest, actor: &str) -> Result<()> {
        let Some(key) = req.step_key.as_deref().filter(|_| req.steal) else {
            return Ok(());
        };
        let run = self.load(&req.run_id)?;
        let Some(step) = run.step(key) else {
            return Ok(());
        };
        if !matches!(
            step.standing(actor, &crate::trace::now_text()),
            Standing::HeldBy { .. }
        ) {
            return Ok(());
        }
        self.claim(ClaimRequest {
            run_id: run.run_id.to_string(),
            step_key: Some(key.to_string()),
            actor: actor.to_string(),
            steal: Some(true),
            ..Default::default()
        })
        .map(drop)
    }
}

/// The claim `req` asks for, judged against `run` now.
fn claim_body(run: &Run, req: &ClaimRequest, actor: &str, ttl: u64) -> Result<(Body, Granted)> {
    if run.status.is_closed() {
        return Err(Error::conflict(format!(
            "{} is {}: there is nothing left to claim",
            run.run_id, run.status
        )));
    }
    let now = crate::trace::now_text();
    let step = match req.step_key.as_deref() {
        Some(key) => existing_step(run, key)?,
        None => offered_step(run, actor, &now)?,
    };
    if step.status.is_done() {
        return Err(Error::conflict(format!(
            "step '{}' of {} is {}: there is nothing left to claim",
            step.step_key, run.run_id, step.status
        )));
    }
    let steal = req.steal.unwrap_or(false);
    let (token, outcome) = match step.standing(actor, &now) {
        Standing::Mine(c) if step.holder() == Some(c) => (c.token.clone(), ClaimOutcome::Renewed),
        // Queued behind claims whose leases have ended: this ends them.
        Standing::Mine(c) => (c.token.clone(), ClaimOutcome::TookOver),
        Standing::HeldBy { .. } if steal => (EventId::from(""), ClaimOutcome::Stole),
        Standing::HeldBy { claim, .. } => return Err(held(run, step, claim)),
        Standing::Free if step.holder().is_some() => (EventId::from(""), ClaimOutcome::TookOver),
        Standing::Free => (EventId::from(""), ClaimOutcome::Claimed),
    };
    let body = Body::Claimed(Claimed {
        step_key: step.step_key.clone(),
        holder: actor.to_string(),
        // Both follow from the event's own id and time (`Body::stamp`).
        lease_until: String::new(),
        ttl_seconds: ttl,
        token,
        steal: outcome == ClaimOutcome::Stole,
    });
    let granted = Granted {
        step_key: step.step_key.clone(),
        outcome,
    };
    Ok((body, granted))
}

/// The step `resume` offers `actor`, or why there is none to claim.
fn offered_step<'a>(run: &'a Run, actor: &str, now: &str) -> Result<&'a Step> {
    let r = resume_as(run, Viewer { actor, now });
    if let (Some(c), false) = (&r.claim, r.can_resume) {
        let step = run.step(&c.step_key).expect("a claim names its step");
        let claim = step.claims.iter().find(|k| k.token.as_str() == c.token);
        return Err(held(run, step, claim.expect("resume names a contender")));
    }
    match r.step_key.as_deref().filter(|_| r.can_resume) {
        Some(key) => Ok(run.step(key).expect("resume names a step")),
        None => Err(Error::conflict(format!(
            "{} offers no step to claim now ({}): {}",
            run.run_id, r.resume_state, r.message
        ))
        .with_hint_naming(|n| format!("name the step to claim: pass {}", n("step_key")))),
    }
}

/// The step `actor` releases: the one named, or the one it holds.
fn released_step<'a>(run: &'a Run, key: Option<&str>, actor: &str) -> Result<&'a Step> {
    let holds = |s: &&Step| s.claims.iter().any(|c| c.holder == actor);
    let step = match key {
        Some(key) => existing_step(run, key)?,
        None => {
            let held: Vec<&Step> = run.steps.iter().filter(holds).collect();
            match held.as_slice() {
                [one] => *one,
                [] => {
                    return Err(Error::conflict(format!(
                        "{actor} holds no claim on {}: nothing to release",
                        run.run_id
                    )));
                }
                many => {
                    return Err(Error::invalid(format!(
                        "{actor} holds claims on {} steps of {} ({}): name the one to release",
                        many.len(),
                        run.run_id,
                        many.iter()
                            .map(|s| s.step_key.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
            }
        }
    };
    if !holds(&step) {
        return Err(Error::conflict(format!(
            "{actor} holds no claim on step '{}' of {}: nothing to release",
            step.step_key, run.run_id
        ))
        .with_hint(match step.holder() {
            Some(c) => format!("{} holds it; only a holder releases its claim", c.holder),
            None => "nobody holds it".to_string(),
        }));
    }
    Ok(step)
}

/// What a claim did, said once: who holds which step until when, how they
/// came to (a takeover and a steal name the holder before), and how the
/// lease is kept and ends.
fn claim_message(
    actor: &str,
    step: &Step,
    run_id: &str,
    c: &Claim,
    outcome: ClaimOutcome,
) -> String {
    let (key, until, token) = (&step.step_key, &c.lease_until, &c.token);
    let from = c
        .took_over
        .as_ref()
        .map_or("another", |t| t.holder.as_str());
    let what = match outcome {
        ClaimOutcome::Claimed => format!("{actor} claimed step '{key}' of {run_id}"),
        ClaimOutcome::Renewed => format!("{actor} renewed its claim on step '{key}' of {run_id}"),
        ClaimOutcome::TookOver => {
            format!("{actor} took step '{key}' of {run_id} over from {from}, whose lease had ended")
        }
        ClaimOutcome::Stole => format!(
            "{actor} took step '{key}' of {run_id} from {from} on purpose (recorded as stolen)"
        ),
    };
    format!(
        "{what}; the claim ({token}) holds until {until}. Writing to the step or claiming it again renews it; it ends when the step completes, is skipped, fails or is handed off, or on nexo release."
    )
}
