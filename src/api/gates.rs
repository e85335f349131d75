//! Approval gates: `approve` and `reject`, the approval policy of
//! `.nexo/config.yaml` applied when deciding and when folding, and SSH
//! signatures under the `signed` policy (docs/approvals.md).

use super::validate::existing_step;
use crate::core::approval::decision_of;
use crate::core::approval::{Approvals, Policy, Refusal, signed_content};
use crate::core::error::{Error, Result};
use crate::core::event::{Body, Decision, Event};
use crate::core::fold::{self, Run, Step, Verdict};
use crate::core::limits::{self, Text, opt_text};
use crate::core::model::StepStatus;
use crate::core::resume::resume;
use crate::git::sign::{self, SigningKey};
use crate::wire::request::DecisionRequest;
use crate::wire::response::DecisionResponse;
use crate::workspace::Nexo;

/// Where the keys that may sign decisions are listed (git's
/// allowed-signers format).
pub use crate::core::layout::ALLOWED_SIGNERS;

impl Nexo {
    pub fn approve(&self, req: DecisionRequest) -> Result<DecisionResponse> {
        self.decide(req, Verdict::Approved)
    }

    pub fn reject(&self, req: DecisionRequest) -> Result<DecisionResponse> {
        self.decide(req, Verdict::Rejected)
    }

    fn decide(&self, req: DecisionRequest, verdict: Verdict) -> Result<DecisionResponse> {
        let actor = self.actor(req.actor.clone(), None);
        let note = req.note.clone().unwrap_or_default();
        limits::text("note", &note, Text::Prose)?;
        opt_text("next_action", req.next_action.as_deref(), Text::Prose)?;
        if verdict == Verdict::Rejected && note.trim().is_empty() {
            return Err(Error::naming(crate::core::error::ErrorKind::Invalid, |n| {
                format!(
                    "a rejection needs a reason: say why in {}, so the next session knows what to change",
                    n("reason")
                )
            }));
        }
        let key = req.step_key.clone();
        let signed = self.approvals.policy == Policy::Signed;
        let seal = |run_id: &str, e: &mut Event| self.sign_decision(run_id, e);
        let seal: &dyn Fn(&str, &mut Event) -> Result<()> = &seal;
        self.refresh()?;
        let id = self.store.resolve(&req.run_id)?;
        let (run, event, commit) = self.write_sealed(
            &id,
            |run: &Run| {
                let step = existing_step(run, &key)?;
                check_decision(run, step, &actor, verdict)?;
                let decision = Decision {
                    step_key: key.clone(),
                    note: note.clone(),
                    next_action: req.next_action.clone(),
                    signature: None,
                };
                let subject = format!(
                    "{key} {verdict} by {actor}{}",
                    if signed { " (signed)" } else { "" }
                );
                let subject = move |_: &Run| subject;
                Ok(match verdict {
                    Verdict::Approved => (actor.clone(), Body::Approved(decision), subject),
                    Verdict::Rejected => (actor.clone(), Body::Rejected(decision), subject),
                })
            },
            signed.then_some(seal),
        )?;
        let r = resume(&run);
        Ok(DecisionResponse {
            ok: true,
            run_id: run.run_id.clone(),
            status: run.status,
            step_key: key,
            decision: verdict,
            by: event.actor.clone(),
            verified: signed,
            next_action: run.next_action.clone(),
            resume_state: r.resume_state,
            message: r.message,
            event_id: event.id,
            commit,
        })
    }

    /// Signs a decision event with git's `user.signingkey` and checks the
    /// signature against `.nexo/allowed_signers` before it may be written:
    /// an approval that would not be honoured is refused, not recorded.
    fn sign_decision(&self, run_id: &str, event: &mut Event) -> Result<()> {
        let actor = event.actor.clone();
        // Schema 4: the signature covers the event's clock as well.
        event.v = crate::core::event::SIGNED_VERSION;
        let (verdict, d) = decision_of(event).expect("only decisions are sealed");
        let content = signed_content(run_id, event, verdict, d);
        let key = self.repo.signing_key().ok_or_else(|| {
            Error::conflict("the signed approval policy needs a signing key, and git's user.signingkey is not set")
                .with_hint("set it as for git's SSH signing: git config user.signingkey ~/.ssh/id_ed25519.pub")
        })?;
        let signature = sign::sign(&SigningKey::from_git_config(&key), &content)?;
        let mut verifier = self.folding().verifier();
        let ok = verifier.verify(&actor, &content, &signature)?;
        verifier.save();
        if !ok {
            return Err(Error::conflict(format!(
                "the signature made with {key} does not verify for {actor} against .nexo/{ALLOWED_SIGNERS}; nothing was written"
            ))
            .with_hint(format!(
                "add a line `{actor} <the public key>` to .nexo/{ALLOWED_SIGNERS} (git's allowed-signers format), or sign with the key listed there"
            )));
        }
        match &mut event.body {
            Body::Approved(d) | Body::Rejected(d) => d.signature = Some(signature),
            _ => unreachable!("only decisions are sealed"),
        }
        Ok(())
    }
}

/// Under a strict policy a gated step cannot be opened as already passed
/// (taken up or done): its gate would never be decided.
pub(super) fn check_open(
    approvals: &Approvals,
    steps: &[crate::core::event::StepSpec],
) -> Result<()> {
    if !approvals.policy.is_strict() {
        return Ok(());
    }
    let passed = steps.iter().enumerate().find(|(_, s)| {
        (s.requires_approval || s.human_gate)
            && s.status.is_some_and(|st| st.is_active() || st.is_done())
    });
    match passed {
        Some((i, s)) => Err(Error::conflict(format!(
            "refused by the approval policy ({}): steps[{i}] '{}' requires approval and cannot be opened as {}",
            approvals.policy.as_str(),
            s.key,
            s.status.expect("found by its status")
        ))
        .with_hint("open it pending (leave out its status) and have an approver decide its gate")),
        None => Ok(()),
    }
}

/// Whether `actor` may decide step `step`'s gate now, before anything is
/// written: it must be a gate, not decided this way already, and the
/// policy must admit the actor.
fn check_decision(run: &Run, step: &Step, actor: &str, verdict: Verdict) -> Result<()> {
    let key = &step.step_key;
    if step.status.is_done() {
        return Err(Error::conflict(format!(
            "step '{key}' is already {}; there is no gate left to decide",
            step.status
        )));
    }
    let gated = step.requires_approval || step.status == StepStatus::WaitingApproval;
    if !gated {
        let (key, status) = (key.clone(), step.status);
        return Err(Error::naming(
            crate::core::error::ErrorKind::Conflict,
            move |n| {
                format!(
                    "step '{key}' does not require approval (status {status}); mark it with {} first",
                    n("requires_approval")
                )
            },
        ));
    }
    if let Some(a) = &step.approval
        && a.decision == verdict
    {
        return Err(Error::conflict(format!(
            "step '{key}' was already {verdict} by {} at {}",
            a.by, a.at
        )));
    }
    run.rules
        .may_decide(actor, &run.owner, step.gate_requested_by.as_deref())
        .map_err(|refusal| refused(run, refusal))
}

/// Under a strict policy, an update may not pass a gate: moving an
/// awaiting step on (to running, retrying, completed, skipped, ...),
/// lifting its `requires_approval`, or declaring the run completed while
/// a gate is closed is refused before anything is written.
pub(super) fn check_update(run: &Run, u: &crate::core::event::Updated) -> Result<()> {
    if !run.rules.policy().is_strict() {
        return Ok(());
    }
    if let Some(status) = u.run_status
        && let Some(key) = fold::closed_gate_for(run, status)
    {
        return Err(refused(run, Refusal::UpdateCannotPass).with_hint(format!(
            "step '{key}' waits for approval: ask an approver ({}) to run `nexo approve {} {key}` (nexo_workflow_approve) before completing the run",
            run.rules.approvals.approvers.join(", "),
            run.run_id
        )));
    }
    match u.step_key.as_deref().and_then(|k| run.step(k)) {
        Some(step) if fold::passes_gate(step, u) => Err(refused(run, Refusal::UpdateCannotPass)),
        _ => Ok(()),
    }
}

/// A policy refusal as an error with what to do instead.
pub(super) fn refused(run: &Run, refusal: Refusal) -> Error {
    let approvers = run.rules.approvals.approvers.join(", ");
    let hint = match &refusal {
        Refusal::UpdateCannotPass => format!(
            "ask an approver ({approvers}) to run `nexo approve {} <step>` (nexo_workflow_approve)",
            run.run_id
        ),
        Refusal::NotAnApprover(_) | Refusal::SelfApproval(_) => {
            format!(
                "the approvers are: {approvers}; one of them who is not the run's owner or the gate's requester decides"
            )
        }
        Refusal::Unverified(_) => format!("see .nexo/{ALLOWED_SIGNERS} and git's user.signingkey"),
        Refusal::PredatesRequest(_) => {
            format!("decide the gate again: nexo approve {} <step>", run.run_id)
        }
        Refusal::Needs(_) => "name steps the run has, without a cycle".to_string(),
        Refusal::UnseenGate(_) => format!(
            "read the gate first (nexo resume {}), and move the step on once it is approved",
            run.run_id
        ),
    };
    Error::conflict(format!(
        "refused by the approval policy ({}): {refusal}",
        run.rules.policy().as_str()
    ))
    .with_hint(hint)
}
