//! Event builders for unit tests of the pure core: a run's history written
//! in a few lines, with deterministic ids, clocks, parents and times, and
//! no files or git.

use crate::core::event::{
    Body, CLAIM_VERSION, Claimed, Decision, Event, HandedOff, Opened, ReleaseReason, Released,
    StepSpec, Updated, WRITTEN_VERSION,
};
use crate::core::fold::{self, Run};
use crate::core::id::EventId;
use crate::core::model::{Priority, StepStatus};

pub const RUN: &str = "WF-TESTRUN000000000";

/// A linear history being written by one clone.
pub struct History {
    pub events: Vec<Event>,
}

impl History {
    /// A run opened with `steps` (`key` or `key!` for a gated step).
    pub fn open(steps: &[&str]) -> History {
        let steps = steps
            .iter()
            .map(|s| StepSpec {
                key: s.trim_end_matches('!').to_string(),
                title: format!("Step {}", s.trim_end_matches('!')),
                requires_approval: s.ends_with('!'),
                ..Default::default()
            })
            .collect();
        let mut h = History { events: Vec::new() };
        h.push(
            "opener",
            Body::Opened(Opened {
                run_id: RUN.into(),
                sid: "s1".into(),
                goal: "Ship it".into(),
                goal_id: String::new(),
                owner: "codex".into(),
                priority: Priority::Normal,
                workflow_kind: "release".into(),
                steps,
                next_action: String::new(),
                shared_state: Default::default(),
                idempotency_key: String::new(),
                protocol_task_id: String::new(),
                template: None,
            }),
        );
        h
    }

    /// Appends an event following every event so far.
    pub fn push(&mut self, actor: &str, body: Body) -> &mut History {
        let n = self.events.len() as u64;
        let parents = self
            .events
            .last()
            .map(|e| vec![e.id.clone()])
            .unwrap_or_default();
        self.events.push(event(n, n + 1, parents, actor, body));
        self
    }

    pub fn update(&mut self, u: Updated) -> &mut History {
        self.push("agent", Body::Updated(u))
    }

    /// A step moved to `status`.
    pub fn step(&mut self, key: &str, status: StepStatus) -> &mut History {
        self.update(status_of(key, status))
    }

    pub fn approve(&mut self, key: &str, by: &str) -> &mut History {
        self.push(
            by,
            Body::Approved(Decision {
                step_key: key.into(),
                note: "ok".into(),
                next_action: None,
                signature: None,
            }),
        )
    }

    pub fn reject(&mut self, key: &str, by: &str, why: &str) -> &mut History {
        self.push(
            by,
            Body::Rejected(Decision {
                step_key: key.into(),
                note: why.into(),
                next_action: None,
                signature: None,
            }),
        )
    }

    pub fn handoff(&mut self, to: &str) -> &mut History {
        self.push(
            "agent",
            Body::HandedOff(HandedOff {
                new_owner: Some(to.into()),
                ..Default::default()
            }),
        )
    }

    /// `holder` claims step `key` for `ttl` seconds (a renewal when it
    /// already holds it).
    pub fn claim(&mut self, holder: &str, key: &str, ttl: u64) -> &mut History {
        let n = self.events.len() as u64;
        let parents = self.events.last().map(|e| vec![e.id.clone()]);
        let e = claim_event(n, n + 1, parents.unwrap_or_default(), holder, key, ttl);
        self.events.push(e);
        self
    }

    pub fn release(&mut self, holder: &str, key: &str, reason: ReleaseReason) -> &mut History {
        let token = self.events.last().expect("opened").id.clone();
        self.push(
            holder,
            Body::Released(Released {
                step_key: key.into(),
                holder: holder.into(),
                token,
                reason,
            }),
        )
    }

    pub fn fold(&self) -> Run {
        fold::fold(self.events.clone()).expect("the history folds")
    }
}

/// An update moving step `key` to `status`.
pub fn status_of(key: &str, status: StepStatus) -> Updated {
    Updated {
        step_key: Some(key.into()),
        step_status: Some(status),
        ..Default::default()
    }
}

/// A claim event as [`event`] makes events: its token is its own id.
pub fn claim_event(
    n: u64,
    clock: u64,
    parents: Vec<EventId>,
    holder: &str,
    key: &str,
    ttl: u64,
) -> Event {
    let mut e = event(n, clock, parents, holder, Body::Released(placeholder()));
    e.body = Body::Claimed(Claimed {
        step_key: key.into(),
        holder: holder.into(),
        lease_until: crate::core::claim::lease_end(&e.at, ttl).expect("a time"),
        ttl_seconds: ttl,
        token: e.id.clone(),
        steal: false,
    });
    e
}

fn placeholder() -> Released {
    Released {
        step_key: String::new(),
        holder: String::new(),
        token: EventId::from(String::new()),
        reason: ReleaseReason::Released,
    }
}

/// An event with a deterministic id (`n`), time and the given clock.
pub fn event(n: u64, clock: u64, parents: Vec<EventId>, actor: &str, body: Body) -> Event {
    let v = match body {
        Body::Claimed(_) | Body::Released(_) => CLAIM_VERSION,
        _ => WRITTEN_VERSION,
    };
    Event {
        v,
        id: format!("01J0000000000000000000{n:04}").into(),
        clock,
        parents,
        at: format!("2026-11-25T10:{:02}:{:02}.000Z", n / 60, n % 60),
        actor: actor.into(),
        session: String::new(),
        body,
    }
}
