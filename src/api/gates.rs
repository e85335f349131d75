//! Approval gates: `approve` and `reject`, the approval policy of
//! `.nexo/config.yaml` applied when deciding and when folding, and SSH
//! signatures under the `signed` policy (docs/approvals.md).

use std::collections::BTreeSet;

use super::validate::existing_step;
use crate::core::approval::{Approvals, Policy, Refusal, Rules, signed_content};
use crate::core::approval::{decision_of, signed_decisions};
use crate::core::check::same_run;
use crate::core::error::{Error, Result};
use crate::core::event::{Body, Decision, Event};
use crate::core::fold::{self, Run, Step, Verdict};
use crate::core::limits::{self, Text, opt_text};
use crate::core::model::StepStatus;
use crate::core::resume::resume;
use crate::git::sign::{self, SigningKey, Verifier};
use crate::store::{Flow, NEXO_DIR};
use crate::wire::request::DecisionRequest;
use crate::wire::response::DecisionResponse;
use crate::workspace::Nexo;

/// Where the keys that may sign decisions are listed (git's
/// allowed-signers format).
pub const ALLOWED_SIGNERS: &str = "allowed_signers";

impl Nexo {
    /// The approval policy in force (`.nexo/config.yaml`).
    pub fn approvals(&self) -> &Approvals {
        &self.approvals
    }

    /// Folds a run's events under the repository's approval rules: under
    /// `signed`, each decision's signature is checked first.
    pub(crate) fn fold_run(&self, events: Vec<Event>) -> Result<Run> {
        self.fold_run_keeping(events, crate::workspace::KEEP_CHECKPOINTS)
    }

    /// Folds run `id` from its file. When the lines are in fold order (a
    /// history only ever appended to, the common case) they are folded as
    /// they are read, one at a time, so memory does not grow with the
    /// history; otherwise (after a merge) they are read whole and sorted.
    /// The signed policy verifies every decision first, so it reads whole.
    pub(crate) fn fold_run_file(&self, id: &str, keep: usize) -> Result<Run> {
        let run = self.fold_run_file_unchecked(id, keep)?;
        same_run(id, &run.run_id)?;
        Ok(run)
    }

    fn fold_run_file_unchecked(&self, id: &str, keep: usize) -> Result<Run> {
        let keep = keep.max(crate::workspace::KEEP_CHECKPOINTS);
        if self.approvals.policy == Policy::Signed {
            return self.fold_run_keeping(self.store.read_history(id)?.events, keep);
        }
        let rules = Rules {
            approvals: self.approvals.clone(),
            verified: BTreeSet::new(),
        };
        if let Some(run) = self.cached_run(id, &rules, keep)? {
            return Ok(run);
        }
        let mut run: Option<Run> = None;
        let mut last: Option<(u64, crate::core::id::EventId)> = None;
        let (mut in_order, mut end, mut whole_lines) = (true, 0, true);
        self.store.each_event(id, 0, |e, offset, terminated| {
            // Anything but a plain sequence (lines out of order, an id
            // seen before, a parent not yet folded, an opening that does
            // not come first) is for the whole-history fold to judge.
            let follows = match (&run, &last) {
                (Some(r), Some((c, i))) => (e.clock, &e.id) > (*c, i) && r.takes_next(&e),
                _ => matches!(e.body, crate::core::event::Body::Opened(_)),
            };
            if !follows {
                in_order = false;
                return Ok(Flow::Stop);
            }
            match &mut run {
                None => run = Some(fold::start(&e, rules.clone(), keep)?),
                Some(r) => fold::apply(r, &e),
            }
            last = Some((e.clock, e.id));
            (end, whole_lines) = (offset, whole_lines && terminated);
            Ok(Flow::Continue)
        })?;
        match (in_order, run, last) {
            (true, Some(run), Some(last)) => {
                // A last line without its newline is settled by the next
                // write; the cache waits for it.
                if whole_lines {
                    self.store_run(id, &run, end, last);
                }
                Ok(run)
            }
            (true, _, _) => Err(Error::corrupt(format!(
                "{}: the run's history is empty",
                crate::core::layout::history_rel(id)
            ))),
            // A merge reordered the lines: read whole and sort, then cache
            // the result, so appends after the merge fold incrementally.
            (false, _, _) => {
                let history = self.store.read_history(id)?;
                let last = history.events.iter().map(|e| (e.clock, e.id.clone())).max();
                let run = self.fold_run_keeping(history.events, keep)?;
                if let (Some(len), Some(last)) = (history.whole_len, last) {
                    self.store_run(id, &run, len, last);
                }
                Ok(run)
            }
        }
    }

    /// [`Nexo::fold_run`], keeping the newest `keep` checkpoints.
    pub(crate) fn fold_run_keeping(&self, events: Vec<Event>, keep: usize) -> Result<Run> {
        let rules = self.rules_for(&events);
        fold::fold_with(events, rules, keep)
    }

    fn rules_for(&self, events: &[Event]) -> Rules {
        let mut rules = Rules {
            approvals: self.approvals.clone(),
            verified: BTreeSet::new(),
        };
        if rules.policy() != Policy::Signed {
            return rules;
        }
        let mut verifier = self.verifier();
        for (e, content, signature) in signed_decisions(events) {
            // ssh-keygen missing: nothing verifies, and `doctor` says why.
            if verifier
                .verify(&e.actor, &content, signature)
                .unwrap_or(false)
            {
                rules.verified.insert(e.id.clone());
            }
        }
        verifier.save();
        rules
    }

    fn verifier(&self) -> Verifier {
        let rel = format!("{NEXO_DIR}/{ALLOWED_SIGNERS}");
        // Never through a link; unreadable is the same as absent: nothing
        // verifies, and doctor reports the decisions it leaves unhonoured.
        let allowed = self.store.read(&rel).ok().flatten();
        Verifier::new(allowed, &self.repo.git_dir().join("nexo-verified"))
    }

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
        let mut verifier = self.verifier();
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
