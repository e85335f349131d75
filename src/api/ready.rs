//! `ready`: the steps any agent may take now, across every open run, best
//! first; with `claim`, the best one taken with the guarantees of
//! `claim`. It reads what `list` reads (the run summaries, which carry
//! each open run's steps and what they wait on), never folds every run,
//! and judges claims at the moment it runs.

use crate::core::error::{ErrorKind, Result};
use crate::core::fold::Standing;
use crate::core::model::Priority;
use crate::core::ready::Wait;
use crate::trace::now_text;
use crate::wire::claims::ReadyResponse;
use crate::wire::request::{ClaimRequest, ReadyRequest, RunRequest};
use crate::wire::response::ReadyItem;
use crate::workspace::Nexo;

/// How many ready steps an answer lists when the caller names no limit.
const DEFAULT_LIMIT: usize = 20;

/// Every step still to do of every open run, for `actor` at `now`, best
/// first: ready before waiting, then priority, the oldest run, and the
/// run's own order.
pub(super) fn rank(
    nexo: &Nexo,
    summaries: &crate::index::summaries::Summaries,
    actor: &str,
    now: &str,
    all: bool,
) -> Result<Vec<Ranked>> {
    // Without `all`, a run with no step ready is not even decoded.
    let open = |s: &&crate::index::summaries::Summary| {
        !matches!(
            s.status,
            crate::core::model::RunStatus::Completed | crate::core::model::RunStatus::Cancelled
        ) && (all || s.ready > 0)
    };
    let mut ranked = Vec::new();
    let others = super::after::Others::default();
    for s in summaries.all.iter().filter(open) {
        let crate::index::summaries::ForReady {
            item,
            opened_at,
            ready: steps,
        } = summaries.ready(s)?;
        for (order, c) in steps.into_iter().enumerate() {
            let wait = c
                .wait
                .or_else(|| crate::core::ready::timer(c.not_before.as_deref(), now))
                .or_else(|| nexo.after_waits(&c.after, &others))
                .or_else(
                    || match crate::core::fold::standing(&c.claims, &[], actor, now) {
                        Standing::HeldBy { claim, .. } => Some(Wait::Claimed {
                            holder: claim.holder.clone(),
                            lease_until: claim.lease_until.clone(),
                        }),
                        _ => None,
                    },
                );
            ranked.push(Ranked {
                priority: item.priority,
                opened_at: opened_at.clone(),
                order,
                item: ReadyItem {
                    run_id: item.run_id.clone(),
                    goal: item.goal.clone(),
                    step_key: c.key,
                    title: c.title,
                    priority: item.priority,
                    ready: wait.is_none(),
                    waits_on: wait.as_ref().map(Wait::describe),
                    wait,
                },
            });
        }
    }
    fn key(r: &Ranked) -> (bool, std::cmp::Reverse<Priority>, &str, &str, usize) {
        (
            !r.item.ready,
            std::cmp::Reverse(r.priority),
            &r.opened_at,
            &r.item.run_id,
            r.order,
        )
    }
    ranked.sort_by(|a, b| key(a).cmp(&key(b)));
    Ok(ranked)
}

/// One candidate of one run, ranked.
pub(super) struct Ranked {
    priority: Priority,
    opened_at: String,
    order: usize,
    pub(super) item: ReadyItem,
}

impl Nexo {
    pub fn ready(&self, req: ReadyRequest) -> Result<ReadyResponse> {
        let claiming = req.claim.unwrap_or(false);
        let claim_only = [
            ("ttl_seconds", req.ttl_seconds.is_some()),
            ("sync", req.sync.unwrap_or(false)),
            ("timeout_seconds", req.timeout_seconds.is_some()),
        ];
        if let Some(&(field, _)) = claim_only.iter().find(|(_, set)| *set && !claiming) {
            return Err(crate::core::error::Error::naming(
                ErrorKind::Invalid,
                move |n| {
                    format!(
                        "{} applies to the claim ready makes: pass {} too, or leave it out",
                        n(field),
                        n("claim")
                    )
                },
            ));
        }
        let actor = self.actor(req.actor.clone(), None);
        if claiming && req.sync.unwrap_or(false) {
            // Look at what the remote has before ranking anything.
            return self.ready_claim_at_remote(req, actor);
        }
        let summaries = self.open_summaries()?;
        let ranked = rank(
            self,
            &summaries,
            &actor,
            &now_text(),
            req.all.unwrap_or(false),
        )?;
        let ready: Vec<ReadyItem> = ranked
            .iter()
            .filter(|r| r.item.ready)
            .map(|r| r.item.clone())
            .collect();
        let count = ready.len();
        if req.claim.unwrap_or(false) {
            return self.claim_best(req, actor, ready);
        }
        let limit = req.limit.filter(|&n| n > 0).unwrap_or(DEFAULT_LIMIT);
        let waiting = ranked.into_iter().filter(|r| !r.item.ready).map(|r| r.item);
        let steps: Vec<ReadyItem> = match req.all.unwrap_or(false) {
            true => ready.into_iter().chain(waiting).take(limit).collect(),
            false => ready.into_iter().take(limit).collect(),
        };
        Ok(ReadyResponse {
            ok: true,
            count,
            message: ready_message(count),
            steps,
            claimed: None,
            resume: None,
        })
    }

    /// Claims the best of `ready`; when another agent wins a step first,
    /// the next. The answer carries the claim and the run's resume.
    fn claim_best(
        &self,
        req: ReadyRequest,
        actor: String,
        ready: Vec<ReadyItem>,
    ) -> Result<ReadyResponse> {
        let count = ready.len();
        for item in ready {
            let claim = self.claim(ClaimRequest {
                run_id: item.run_id.to_string(),
                step_key: Some(item.step_key.clone()),
                actor: actor.clone(),
                ttl_seconds: req.ttl_seconds,
                ..ClaimRequest::default()
            });
            let claimed = match claim {
                Ok(c) => c,
                // Taken meanwhile, or done: the next one.
                Err(e) if matches!(e.kind, ErrorKind::Claimed | ErrorKind::Conflict) => continue,
                Err(e) => return Err(e),
            };
            let resume = self.resume(RunRequest {
                run_id: item.run_id.to_string(),
                actor: Some(actor.clone()),
            })?;
            return Ok(ReadyResponse {
                ok: true,
                count,
                message: format!(
                    "{actor} claimed step '{}' of {} until {}.",
                    claimed.step_key, claimed.run_id, claimed.lease_until
                ),
                steps: vec![item],
                claimed: Some(claimed),
                resume: Some(resume),
            });
        }
        Ok(ReadyResponse {
            ok: true,
            count: 0,
            message: "Nothing is ready to claim now.".into(),
            steps: Vec::new(),
            claimed: None,
            resume: None,
        })
    }
}

fn ready_message(count: usize) -> String {
    match count {
        0 => "Nothing is ready now.".into(),
        1 => "1 step is ready.".into(),
        n => format!("{n} steps are ready."),
    }
}
