//! Claims: who holds a step, decided from the events alone.
//!
//! Each step keeps its contenders in fold order. The first is the holder;
//! the others claimed the step concurrently with it (neither had seen the
//! other's claim) and lost, by the fold's order, to it: they queue, and
//! the next one holds the step if the holder lets go. A claim that
//! *followed* another (its writer had seen it) removes it only when that
//! lease had ended by the claim's own time, or with `steal`; otherwise it
//! queues too, which is also where a claim that crossed the holder's
//! renewal ends up.
//!
//! Two questions are asked of a lease, never mixed: inside the fold,
//! whether it had *ended* by the time of an event that meets it (a lease
//! that had not begun by then had not ended either), and at a reader's
//! moment, whether it *protects* its holder now: from its start, less the
//! clocks' skew, to its end plus the margin (`crate::core::claim`). So a
//! lease dated ahead of its reader protects nothing until its time, and
//! the fold itself never reads a clock: every machine folds the same
//! claims.

use serde::{Deserialize, Serialize};

use super::{Run, Seen, push_checkpoint};
use crate::core::claim::protects;
use crate::core::event::{Claimed, Event, HandedOff, ReleaseReason, Released};
use crate::core::id::EventId;
use crate::core::model::StepStatus;

/// One holder's claim on a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    pub holder: String,
    /// The fencing token: the id of the event that granted the claim.
    pub token: EventId,
    pub lease_until: String,
    /// When the lease that ends at `lease_until` began: the time of the
    /// event that set it. A lease dated ahead of the reader protects
    /// nothing yet (`crate::core::claim::protects`).
    #[serde(default)]
    pub lease_from: String,
    pub ttl_seconds: u64,
    pub claimed_at: String,
    /// The claim this one ended to take the step, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub took_over: Option<TakenFrom>,
}

/// Whose claim a takeover ended, and how it could.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TakenFrom {
    pub holder: String,
    pub token: EventId,
    pub how: Takeover,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Takeover {
    /// The lease had ended (plus the skew margin) when the claim was made.
    Expired,
    /// `--steal`: taken from a live lease, on purpose.
    Stolen,
    /// The holder handed the run to the new holder.
    HandedOff,
}

impl Takeover {
    pub fn as_str(self) -> &'static str {
        match self {
            Takeover::Expired => "expired",
            Takeover::Stolen => "stolen",
            Takeover::HandedOff => "handed_off",
        }
    }
}

/// A write to a step by someone other than the holder of a live claim on
/// it, made without seeing the claim or in spite of it. It was applied
/// (nothing acknowledged is dropped) and stays listed until the holder
/// writes to the step after seeing it, or the claim ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trespass {
    pub event_id: EventId,
    pub step_key: String,
    pub actor: String,
    pub at: String,
    pub holder: String,
    pub token: EventId,
}

impl Trespass {
    pub fn describe(&self) -> String {
        format!(
            "{} wrote to step '{}' at {} while {} held it (claim {})",
            self.actor, self.step_key, self.at, self.holder, self.token
        )
    }
}

/// A claim's place on its step, for whoever asks.
pub enum Standing<'a> {
    /// Nobody else's lease protects the step now.
    Free,
    /// The asker holds it.
    Mine(&'a Claim),
    /// Someone else holds it and the lease protects them now; `lost` is
    /// the asker's own claim when it queued behind them or yielded.
    HeldBy {
        claim: &'a Claim,
        lost: Option<&'a Claim>,
    },
}

impl Claim {
    /// Whether this lease keeps others out at `now`.
    pub fn protects(&self, now: &str) -> bool {
        protects(&self.lease_from, &self.lease_until, now)
    }

    /// Whether this lease had ended by `at`, when an event meets it in the
    /// fold (`crate::core::claim::ended`).
    pub fn ended_by(&self, at: &str) -> bool {
        crate::core::claim::ended(&self.lease_until, at)
    }

    /// Extends the lease to `end` if that is later, as set by an event at
    /// `at` (a renewal never shortens a lease). A renewal made while the
    /// lease still held continues it, from its first start; one made after
    /// it ended starts anew at `at`, so a renewal dated ahead protects
    /// nothing until its time.
    fn extend(&mut self, end: &str, at: &str) {
        if crate::core::claim::later(&self.lease_until, end) != self.lease_until {
            if self.ended_by(at) {
                self.lease_from = at.to_string();
            }
            self.lease_until = end.to_string();
        }
    }
}

impl super::Step {
    /// Who holds the step, by the fold's order (whether the lease still
    /// protects them is [`super::Step::standing`]'s question).
    pub fn holder(&self) -> Option<&Claim> {
        self.claims.first()
    }

    /// Where `actor` stands on this step at `now`: the first contender
    /// that is either the actor or protected by its lease decides, as the
    /// fold decides when the actor's next claim or write arrives (claims
    /// whose leases have ended are passed over).
    pub fn standing(&self, actor: &str, now: &str) -> Standing<'_> {
        standing(&self.claims, &self.yielded, actor, now)
    }

    /// Whether claim `token` holds the step at `now`: the step is not
    /// done, and no contender ahead of it in the fold's order is protected
    /// by its lease. A claim that is merely listed (queued behind a live
    /// holder, made concurrently with it) holds nothing until the holder
    /// lets go, and the writes it would make are refused meanwhile.
    pub fn held_by(&self, token: &str, now: &str) -> bool {
        !self.status.is_done()
            && self
                .claims
                .iter()
                .find(|c| c.token.as_str() == token || c.protects(now))
                .is_some_and(|c| c.token.as_str() == token)
    }

    /// The claim that keeps everyone else off the step at `now`, if any.
    pub fn live_holder(&self, now: &str) -> Option<&Claim> {
        self.claims.iter().find(|c| c.protects(now))
    }
}

/// [`super::Step::standing`], over a step's contenders and yielded
/// claims as a summary keeps them.
pub fn standing<'a>(
    claims: &'a [Claim],
    yielded: &'a [Claim],
    actor: &str,
    now: &str,
) -> Standing<'a> {
    for c in claims {
        if c.holder == actor {
            return Standing::Mine(c);
        }
        if c.protects(now) {
            let lost = claims.iter().chain(yielded).find(|k| k.holder == actor);
            return Standing::HeldBy { claim: c, lost };
        }
    }
    Standing::Free
}

impl Run {
    /// The claims whose leases protect their holders at `now`, in step
    /// order.
    pub fn live_claims(&self, now: &str) -> Vec<(&str, &Claim)> {
        self.steps
            .iter()
            .filter_map(|s| Some((s.step_key.as_str(), s.live_holder(now)?)))
            .collect()
    }
}

pub(super) fn apply_claimed(run: &mut Run, event: &Event, c: &Claimed, seen: Seen) {
    let Some(step) = run.step(&c.step_key) else {
        let label = "claimed (no such step)".to_string();
        push_checkpoint(run, event, label, None, None, None);
        return;
    };
    // A claim met after its step was done (made concurrently with the
    // completion, which clears every claim) holds nothing, as it would
    // had the completion been met second: no one holds a finished step.
    if step.status.is_done() {
        let label = format!("claimed {} (already {})", c.step_key, step.status);
        push_checkpoint(run, event, label, Some(c.step_key.clone()), None, None);
        return;
    }
    let ended = ended_by(run, step, event, c, seen);
    let step = run.step_mut(&c.step_key).expect("found above");
    let took_over = ended.last().map(|&(i, how)| TakenFrom {
        holder: step.claims[i].holder.clone(),
        token: step.claims[i].token.clone(),
        how,
    });
    for &(i, _) in ended.iter().rev() {
        step.claims.remove(i);
    }
    let label = match step.claims.iter_mut().find(|k| k.holder == c.holder) {
        Some(k) => {
            k.extend(&c.lease_until, &event.at);
            k.ttl_seconds = c.ttl_seconds;
            if took_over.is_some() {
                k.took_over.clone_from(&took_over);
            }
            format!("claim on {} renewed", c.step_key)
        }
        None => {
            step.yielded.retain(|y| y.holder != c.holder);
            step.claims.push(Claim {
                holder: c.holder.clone(),
                token: event.id.clone(),
                lease_until: c.lease_until.clone(),
                lease_from: event.at.clone(),
                ttl_seconds: c.ttl_seconds,
                claimed_at: event.at.clone(),
                took_over: took_over.clone(),
            });
            format!("{} claimed {}", c.holder, c.step_key)
        }
    };
    let label = match (&took_over, step.claims.first()) {
        (Some(t), _) => format!(
            "{} took {} over from {} ({})",
            c.holder,
            c.step_key,
            t.holder,
            t.how.as_str()
        ),
        (None, Some(head)) if head.holder != c.holder => {
            format!("{label} (queued behind {})", head.holder)
        }
        _ => label,
    };
    settle_trespasses(run, &c.step_key, &c.holder, seen);
    push_checkpoint(run, event, label, Some(c.step_key.clone()), None, None);
}

/// The claims of others on `step` that claim `c` ends, with how: those it
/// followed whose lease had ended by its time, or all it followed with
/// `steal`. None when a live one it followed stands ahead of its holder:
/// its writer's nexo refuses that (the lease it saw was live), or it
/// crossed the holder's renewal, and either way it takes nothing.
fn ended_by(
    run: &Run,
    step: &super::Step,
    event: &Event,
    c: &Claimed,
    seen: Seen,
) -> Vec<(usize, Takeover)> {
    let mine = step.claims.iter().position(|k| k.holder == c.holder);
    let mut ended = Vec::new();
    for (i, k) in step.claims.iter().enumerate() {
        if k.holder == c.holder || !seen.followed(run, &k.token) {
            continue;
        }
        match (c.steal, !k.ended_by(&event.at)) {
            (true, _) => ended.push((i, Takeover::Stolen)),
            (false, false) => ended.push((i, Takeover::Expired)),
            (false, true) if mine.is_none_or(|m| i < m) => return Vec::new(),
            (false, true) => {}
        }
    }
    ended
}

pub(super) fn apply_released(run: &mut Run, event: &Event, r: &Released) {
    let label = match run.step_mut(&r.step_key) {
        Some(step) => match step.claims.iter().position(|k| k.holder == r.holder) {
            Some(i) => {
                let gone = step.claims.remove(i);
                if r.reason == ReleaseReason::Lost {
                    step.yielded.retain(|y| y.holder != gone.holder);
                    step.yielded.push(gone);
                }
                match r.reason {
                    ReleaseReason::Released => format!("{} released {}", r.holder, r.step_key),
                    ReleaseReason::Lost => format!(
                        "{} released {} (lost{})",
                        r.holder,
                        r.step_key,
                        step.claims
                            .first()
                            .map(|w| format!(" to {}", w.holder))
                            .unwrap_or_default()
                    ),
                }
            }
            None => format!("{} released {} (held no claim)", r.holder, r.step_key),
        },
        None => "released (no such step)".into(),
    };
    if run.step(&r.step_key).is_some_and(|s| s.claims.is_empty()) {
        run.trespasses.retain(|t| t.step_key != r.step_key);
    }
    push_checkpoint(run, event, label, Some(r.step_key.clone()), None, None);
}

/// What an update of step `key` does to its claims: a finished or failed
/// step releases them all; the holder's write renews its lease; anyone
/// else's write ends a lease that had run out, or is a trespass on one
/// that had not.
pub(super) fn after_update(run: &mut Run, event: &Event, key: &str, seen: Seen) {
    let Some(step) = run.step_mut(key) else {
        return;
    };
    if step.claims.is_empty() {
        return;
    }
    if step.status.is_done() || step.status == StepStatus::Failed {
        step.claims.clear();
        step.yielded.clear();
        run.trespasses.retain(|t| t.step_key != key);
        return;
    }
    // Leases that had ended by this write end with it (a takeover by
    // writing), unless they are the writer's own.
    while step
        .claims
        .first()
        .is_some_and(|k| k.holder != event.actor && k.ended_by(&event.at))
    {
        step.claims.remove(0);
    }
    let Some(head) = step.claims.first_mut() else {
        return;
    };
    if head.holder == event.actor {
        if let Some(end) = crate::core::claim::lease_end(&event.at, head.ttl_seconds) {
            head.extend(&end, &event.at);
        }
        settle_trespasses(run, key, &event.actor, seen);
        return;
    }
    let trespass = Trespass {
        event_id: event.id.clone(),
        step_key: key.to_string(),
        actor: event.actor.clone(),
        at: event.at.clone(),
        holder: head.holder.clone(),
        token: head.token.clone(),
    };
    run.trespasses.push(trespass);
}

/// A handoff moves its actor's claims to the new owner, with a new token
/// and a renewed lease; one with no new owner lets them go.
pub(super) fn after_handoff(run: &mut Run, event: &Event, h: &HandedOff) {
    for step in &mut run.steps {
        let Some(i) = step.claims.iter().position(|k| k.holder == event.actor) else {
            continue;
        };
        let old = step.claims.remove(i);
        let Some(owner) = h.new_owner.as_deref().filter(|o| *o != event.actor) else {
            continue;
        };
        if step.claims.iter().any(|k| k.holder == owner) {
            continue;
        }
        let end = crate::core::claim::lease_end(&event.at, old.ttl_seconds).unwrap_or_default();
        let mut claim = Claim {
            holder: owner.to_string(),
            token: event.id.clone(),
            lease_until: old.lease_until.clone(),
            lease_from: old.lease_from.clone(),
            ttl_seconds: old.ttl_seconds,
            claimed_at: event.at.clone(),
            took_over: Some(TakenFrom {
                holder: old.holder,
                token: old.token,
                how: Takeover::HandedOff,
            }),
        };
        claim.extend(&end, &event.at);
        step.claims.insert(i, claim);
    }
    let keys: Vec<String> = run
        .steps
        .iter()
        .filter(|s| s.claims.is_empty())
        .map(|s| s.step_key.clone())
        .collect();
    run.trespasses.retain(|t| !keys.contains(&t.step_key));
}

/// The holder wrote to its step after seeing what others wrote there:
/// those trespasses are answered.
fn settle_trespasses(run: &mut Run, key: &str, holder: &str, seen: Seen) {
    let answered: Vec<EventId> = run
        .trespasses
        .iter()
        .filter(|t| t.step_key == key && t.holder == holder && seen.followed(run, &t.event_id))
        .map(|t| t.event_id.clone())
        .collect();
    run.trespasses.retain(|t| !answered.contains(&t.event_id));
}

/// Whether the claims on `step` that `events` record (the history at a
/// claim ref's commit, as its holder pushed it) have all lapsed at `now`:
/// at least one, and none keeps others out. A history with no claim on
/// the step proves nothing and has not lapsed. The lease is recomputed
/// from each event's own `at` and a ttl within range, never taken from a
/// line's `lease_until`, since a peer's line is untrusted.
pub fn lapsed(events: &[Event], step: &str, now: &str) -> bool {
    let mut any = false;
    for e in events {
        let crate::core::event::Body::Claimed(c) = &e.body else {
            continue;
        };
        if c.step_key != step {
            continue;
        }
        any = true;
        let ttl = c.ttl_seconds.min(crate::core::claim::MAX_TTL_SECONDS);
        let until = crate::core::claim::lease_end(&e.at, ttl).unwrap_or_default();
        if protects(&e.at, &until, now) {
            return false;
        }
    }
    any
}
