//! Claims the remote arbitrates (`claim --sync`, `ready --claim --sync`).
//!
//! Look first: one request for the branch's tip and the claim refs
//! (`sync::claim_refs`), a fetch only when the branch moved, and rank on
//! what the remote has. Then claim here and push the claim's own ref,
//! created only if no other clone holds it: the remote's compare-and-swap
//! on that one name decides, so claims on different steps never queue
//! behind each other. A step another clone got first is passed over for
//! the next; nothing is retried against a branch the whole fleet pushes
//! to. The same push offers the branch what this clone has (the claim's
//! event, work done since the last push), which the branch may refuse
//! without harm: it goes with a later push.
//!
//! A remote that refuses refs of nexo's own falls back to the branch as
//! the arbiter (`by_branch`). Either way a remote that keeps moving past
//! the sync timeout gives `contended` (exit 12, retryable).

mod by_branch;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use crate::core::error::{Error, ErrorKind, Result};
use crate::sync::{AfterFetch, ClaimPush, Look, Looked, Remote};
use crate::wire::claims::{ClaimResponse, ReadyResponse};
use crate::wire::request::{ClaimRequest, ReadyRequest, RunRequest};
use crate::wire::response::ReadyItem;
use crate::workspace::Nexo;

use by_branch::nothing_ready;

impl Nexo {
    /// `claim --sync`: the claim made on what the remote has, and held
    /// there; or `lost` (exit 10) when another clone holds it.
    pub(super) fn claim_at_remote(&self, req: ClaimRequest) -> Result<ClaimResponse> {
        let (remote, mut report, deadline) = self.start_remote(req.timeout_seconds)?;
        let looked = self.look(&remote)?;
        self.pull_looking(&remote, &mut report, Look::Tip(looked.tip.as_deref()))?;
        let local = ClaimRequest {
            sync: None,
            ..req.clone()
        };
        let mut claimed = self.claim_here(&local)?;
        let mut push = self.push_claim(&remote, (&claimed.run_id, &claimed.step_key), None)?;
        if push == ClaimPush::Taken
            && let Some(other) = looked.other_on(&claimed.run_id, &claimed.step_key)
            && let Some(sha) = self
                .lapsed_claim_refs(&remote, &[other], Some(&claimed.token))
                .into_values()
                .next()
        {
            push = self.push_claim(&remote, (&claimed.run_id, &claimed.step_key), Some(&sha))?;
        }
        match push {
            ClaimPush::Held { branch } => {
                report.pushed = branch;
                if !branch {
                    let until = rival_yield_by(deadline);
                    match self.holds_after_fetch(&remote, &mut report, key(&claimed), until)? {
                        AfterFetch::Holds => {}
                        AfterFetch::Done => return Err(done_there(&claimed)),
                        AfterFetch::Behind => return Err(taken(&claimed)),
                    }
                }
                claimed.sync = Some(report);
                Ok(claimed)
            }
            ClaimPush::Taken => {
                self.yield_to_claim_ref(&claimed)?;
                // The claim may have reached the branch (its push is not
                // atomic): its yield goes there at once, best effort, so
                // that the ref's holder waits for it as little as can be.
                let _ = self.push(&remote, deadline, 1);
                Err(taken(&claimed))
            }
            ClaimPush::Unsupported => self.hold_by_branch(&remote, report, deadline, claimed),
        }
    }

    /// `ready --claim --sync`: the best step ready at the remote, claimed
    /// and held there; a step another clone holds is passed over for the
    /// next. Nothing ready: work done here is pushed, and the answer says
    /// so.
    pub(super) fn ready_claim_at_remote(
        &self,
        req: ReadyRequest,
        actor: String,
    ) -> Result<ReadyResponse> {
        let (remote, mut report, deadline) = self.start_remote(req.timeout_seconds)?;
        let mut lost: HashSet<(String, String)> = HashSet::new();
        // Other clones' refs whose holders vanished, asked for once, and
        // only when every step ready here is held by a ref.
        let mut lapsed: Option<BTreeMap<(String, String), String>> = None;
        for attempt in 1.. {
            report.attempts = attempt;
            let looked = self.look(&remote)?;
            self.pull_looking(&remote, &mut report, Look::Tip(looked.tip.as_deref()))?;
            let others = looked.taken_by_others();
            let taken = held_elsewhere(&others, lapsed.as_ref(), &lost);
            let Some((item, mut claimed)) = self.claim_one_ready(&req, &actor, attempt, &taken)?
            else {
                if lapsed.is_none() && !others.is_empty() {
                    let found = self.lapsed_claim_refs(&remote, &others, None);
                    let again = !found.is_empty();
                    lapsed = Some(found);
                    if again {
                        continue;
                    }
                }
                self.push_until_done(&remote, &mut report, deadline)?;
                self.drop_finished_claim_refs(&remote, &looked);
                return Ok(nothing_ready());
            };
            let step = (claimed.run_id.to_string(), claimed.step_key.clone());
            let replacing = lapsed
                .as_ref()
                .and_then(|l| l.get(&step))
                .map(String::as_str);
            match self.push_claim(&remote, (&step.0, &step.1), replacing)? {
                ClaimPush::Held { branch: true } => {
                    report.pushed = true;
                    self.drop_finished_claim_refs(&remote, &looked);
                    claimed.sync = Some(report);
                    return self.claimed_answer(item, claimed, &actor);
                }
                ClaimPush::Held { branch: false } => {
                    let until = rival_yield_by(deadline);
                    let after =
                        self.holds_after_fetch(&remote, &mut report, key(&claimed), until)?;
                    if after == AfterFetch::Holds {
                        claimed.sync = Some(report);
                        return self.claimed_answer(item, claimed, &actor);
                    }
                    lost.insert(step);
                }
                ClaimPush::Taken => {
                    self.yield_to_claim_ref(&claimed)?;
                    lost.insert(step);
                }
                ClaimPush::Unsupported => {
                    return match self.hold_by_branch(&remote, report, deadline, claimed) {
                        Ok(held) => self.claimed_answer(item, held, &actor),
                        Err(e) if e.kind == ErrorKind::Claimed => {
                            self.ready_claim_by_branch(req, actor)
                        }
                        Err(e) => Err(e),
                    };
                }
            }
            if Instant::now() >= deadline {
                return Err(Error::new(
                    ErrorKind::Contended,
                    format!(
                        "{} steps ready here were each taken by another clone first; {} attempts",
                        lost.len(),
                        attempt
                    ),
                )
                .with_hint("run the command again (it is safe to retry)"));
            }
        }
        unreachable!("the loop returns")
    }

    /// The answer of a claim `ready` made: the step, the claim, the run's
    /// resume for the claimer.
    pub(super) fn claimed_answer(
        &self,
        item: ReadyItem,
        claimed: ClaimResponse,
        actor: &str,
    ) -> Result<ReadyResponse> {
        let resume = self.resume(RunRequest {
            run_id: item.run_id.to_string(),
            actor: Some(actor.to_string()),
        })?;
        Ok(ReadyResponse {
            ok: true,
            count: 1,
            message: format!(
                "{actor} claimed step '{}' of {} until {}.",
                claimed.step_key, claimed.run_id, claimed.lease_until
            ),
            steps: vec![item],
            claimed: Some(claimed),
            resume: Some(resume),
        })
    }

    /// Deletes this clone's claim refs whose claims no longer hold their
    /// step here, once the branch has what this clone has (the step done,
    /// the claim released or yielded): every clone can then read that
    /// from the branch. Best effort.
    fn drop_finished_claim_refs(&self, remote: &Remote, looked: &Looked) {
        let finished: Vec<(String, String, String)> = looked
            .ours()
            .into_iter()
            .filter(|(run, step, _)| {
                self.load(run).is_ok_and(|r| {
                    r.step(step)
                        .is_none_or(|s| s.status.is_done() || s.claims.is_empty())
                })
            })
            .collect();
        self.drop_claim_refs(remote, &finished);
    }
}

/// The steps `ready` passes over: other clones' refs (but the lapsed
/// ones, which it may take over) and the steps it lost this time.
fn held_elsewhere(
    others: &[(String, String, String)],
    lapsed: Option<&BTreeMap<(String, String), String>>,
    lost: &HashSet<(String, String)>,
) -> HashSet<(String, String)> {
    others
        .iter()
        .map(|(run, step, _)| (run.clone(), step.clone()))
        .filter(|key| !lapsed.is_some_and(|l| l.contains_key(key)))
        .chain(lost.iter().cloned())
        .collect()
}

/// How long a claim whose ref this clone created waits, at most, for a
/// rival's yield to reach the branch (`holds_after_fetch`): a rival whose
/// ref push lost writes it at once and pushes it with its next push.
const RIVAL_YIELD_WAIT: Duration = Duration::from_secs(5);

fn rival_yield_by(deadline: Instant) -> Instant {
    deadline.min(Instant::now() + RIVAL_YIELD_WAIT)
}

/// A claim's run, step and token, as `holds_after_fetch` asks for them.
fn key(c: &ClaimResponse) -> (&str, &str, &str) {
    (&c.run_id, &c.step_key, &c.token)
}

/// The step was done at the remote before the claim reached it: the
/// claim made here holds nothing.
fn done_there(c: &ClaimResponse) -> Error {
    Error::new(
        ErrorKind::Claimed,
        format!(
            "your claim {} on step '{}' of {} holds nothing: another clone finished the step first",
            c.token, c.step_key, c.run_id
        ),
    )
    .with_hint("take another step: nexo ready --claim --sync")
    .with_detail("lost", true)
    .with_detail("step_key", c.step_key.clone())
    .with_detail("your_token", c.token.clone())
}

/// Another clone's claim ref names the step: the claim made here yielded.
fn taken(c: &ClaimResponse) -> Error {
    Error::new(
        ErrorKind::Claimed,
        format!(
            "your claim {} on step '{}' of {} lost: another clone holds the step's claim at the remote, taken first; yours was released as lost",
            c.token, c.step_key, c.run_id
        ),
    )
    .with_hint(format!(
        "take another step: nexo ready --claim --sync (or nexo resume {} after nexo sync)",
        c.run_id
    ))
    .with_detail("lost", true)
    .with_detail("step_key", c.step_key.clone())
    .with_detail("your_token", c.token.clone())
}
