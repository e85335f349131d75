//! Claims the branch arbitrates, where the remote takes no claim refs:
//! look first (fetch, and rank what the remote has), claim here, push the
//! branch once. A push overtaken by another clone's is the remote's
//! compare-and-swap failing: look again. A claim still standing is pushed
//! again; one that lost to a claim the remote got first yields
//! (`sync::claims`), and `ready` moves on to the next ready step.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::api::claims::Lost;
use crate::api::ready::rank;
use crate::core::error::{ErrorKind, Result};
use crate::sync::{Look, Remote};
use crate::wire::claims::{ClaimResponse, ReadyResponse};
use crate::wire::request::{ClaimRequest, ReadyRequest};
use crate::wire::response::ReadyItem;
use crate::wire::sync::SyncReport;
use crate::workspace::Nexo;

impl Nexo {
    /// Pushes the branch with claim `claimed` in it until the remote has
    /// it, or the claim lost to one the remote got first.
    pub(super) fn hold_by_branch(
        &self,
        remote: &Remote,
        mut report: SyncReport,
        deadline: Instant,
        mut claimed: ClaimResponse,
    ) -> Result<ClaimResponse> {
        for attempt in 1.. {
            report.attempts = attempt;
            if self.push(remote, deadline, attempt)? {
                break;
            }
            self.pull(remote, &mut report)?;
            if !self.still_holds(&claimed)? {
                // The yield is pushed, so every clone agrees who holds it.
                self.push_until_done(remote, &mut report, deadline)?;
                return Err(self.lost(&claimed)?);
            }
        }
        report.pushed = true;
        claimed.sync = Some(report);
        // Pushed: the commit is at the remote, and no later write folds it.
        claimed.commit.may_fold = false;
        Ok(claimed)
    }

    /// `ready --claim --sync`: the best step ready at the remote, claimed
    /// and held there; a step another clone wins meanwhile is passed over
    /// for the next. Nothing ready: work done here is pushed, and the
    /// answer says so.
    pub(super) fn ready_claim_by_branch(
        &self,
        req: ReadyRequest,
        actor: String,
    ) -> Result<ReadyResponse> {
        let (remote, mut report, deadline) = self.start_remote(req.timeout_seconds)?;
        let mut mine: Option<(ReadyItem, ClaimResponse)> = None;
        for attempt in 1.. {
            report.attempts = attempt;
            self.pull_looking(&remote, &mut report, Look::Fetch)?;
            if let Some((_, c)) = &mine
                && !self.still_holds(c)?
            {
                mine = None;
            }
            if mine.is_none() {
                mine = self.claim_one_ready(&req, &actor, attempt, &HashSet::new())?;
                if mine.is_none() {
                    self.push_until_done(&remote, &mut report, deadline)?;
                    return Ok(nothing_ready());
                }
            }
            if self.push(&remote, deadline, attempt)? {
                break;
            }
        }
        let (item, mut claimed) = mine.expect("the loop leaves with a claim");
        report.pushed = true;
        claimed.sync = Some(report);
        claimed.commit.may_fold = false;
        self.claimed_answer(item, claimed, &actor)
    }

    /// The remote, an empty report with what was pending committed, and
    /// when to give up on a remote that keeps moving.
    pub(super) fn start_remote(
        &self,
        timeout: Option<u64>,
    ) -> Result<(Remote, SyncReport, Instant)> {
        let remote = self.remote()?;
        let mut report = SyncReport::new(remote.name());
        report.committed = self.commit_pending()?.commit;
        let within = timeout.map_or(self.sync_timeout(), Duration::from_secs);
        Ok((remote, report, Instant::now() + within))
    }

    /// Pushes what this clone has and the remote lacks, pulling again
    /// whenever another clone's push got there first.
    pub(super) fn push_until_done(
        &self,
        remote: &Remote,
        report: &mut SyncReport,
        deadline: Instant,
    ) -> Result<()> {
        for attempt in 1.. {
            if self.push(remote, deadline, attempt)? {
                return Ok(());
            }
            self.pull_looking(remote, report, Look::Fetch)?;
        }
        unreachable!("the loop returns")
    }

    /// Claims here the best step ready for `actor` on what this clone now
    /// has: among the steps ranked alike (the same run and priority) one
    /// at random, so agents that look at once rarely go for the same.
    pub(super) fn claim_one_ready(
        &self,
        req: &ReadyRequest,
        actor: &str,
        attempt: usize,
        taken: &HashSet<(String, String)>,
    ) -> Result<Option<(ReadyItem, ClaimResponse)>> {
        let summaries = self.open_summaries()?;
        let now = crate::trace::now_text();
        let mut ready: Vec<ReadyItem> = rank(self, &summaries, actor, &now, false)?
            .into_iter()
            .filter(|r| r.item.ready)
            .map(|r| r.item)
            .filter(|i| !taken.contains(&(i.run_id.to_string(), i.step_key.clone())))
            .collect();
        spread(&mut ready, actor, attempt);
        for item in ready {
            let claim = self.claim_here(&ClaimRequest {
                run_id: item.run_id.to_string(),
                step_key: Some(item.step_key.clone()),
                actor: actor.to_string(),
                ttl_seconds: req.ttl_seconds,
                ..ClaimRequest::default()
            });
            match claim {
                Ok(c) => return Ok(Some((item, c))),
                // Taken meanwhile, or done: the next one.
                Err(e) if matches!(e.kind, ErrorKind::Claimed | ErrorKind::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// Whether `c`'s claim still holds its step: it did not yield, and
    /// nobody finished the step meanwhile.
    pub(super) fn still_holds(&self, c: &ClaimResponse) -> Result<bool> {
        let run = self.load(&c.run_id)?;
        let now = crate::trace::now_text();
        Ok(run
            .step(&c.step_key)
            .is_some_and(|s| s.held_by(&c.token, &now)))
    }

    pub(super) fn lost(&self, c: &ClaimResponse) -> Result<crate::core::error::Error> {
        let run = self.load(&c.run_id)?;
        let step = crate::api::validate::existing_step(&run, &c.step_key)?;
        let lost = Lost {
            winner: step.holder().cloned(),
            status: step.status,
        };
        Ok(lost.error(&c.run_id, &c.step_key, &c.token))
    }
}

/// Puts the ready steps ranked alike with the best (the same run and
/// priority) in an order of `actor`'s own, drawn afresh each `attempt`.
fn spread(ready: &mut [ReadyItem], actor: &str, attempt: usize) {
    let Some(first) = ready.first() else {
        return;
    };
    let alike = ready
        .iter()
        .take_while(|r| r.run_id == first.run_id && r.priority == first.priority)
        .count();
    let mut seed = actor.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    }) ^ (attempt as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ crate::core::id::random_below(u64::MAX);
    for i in (1..alike).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        ready.swap(i, (seed % (i as u64 + 1)) as usize);
    }
}

pub(super) fn nothing_ready() -> ReadyResponse {
    ReadyResponse {
        ok: true,
        count: 0,
        message: "Nothing is ready to claim now.".into(),
        steps: Vec::new(),
        claimed: None,
        resume: None,
    }
}
