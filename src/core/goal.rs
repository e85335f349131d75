//! The goal stack: objectives that outlive runs, which runs link to
//! through `goal_id`. A goal is kept like a run, as an append-only history
//! (`.nexo/goals/<GOAL_ID>/history.jsonl`) folded into its state, so goals
//! travel between clones and converge by the same union merge.
//!
//! This module is core: events in, state and view bytes out.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::core::error::{Error, Result};
use crate::core::event::{Body, Event, GoalOpened, GoalUpdated};
use crate::core::id::{EventId, GoalId};
use crate::core::model::{GoalStatus, Priority};

/// A goal after all of its events. Field names are the original's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Goal {
    pub goal_id: GoalId,
    pub session_id: String,
    pub title: String,
    pub objective: String,
    pub parent_goal_id: String,
    pub status: GoalStatus,
    pub priority: Priority,
    pub owner: String,
    pub next_action: String,
    pub success_signal: String,
    pub blocker_reason: String,
    pub shared_state: Map<String, Value>,
    pub opened_at: String,
    pub updated_at: String,
    pub closed_at: Option<String>,
    #[serde(skip)]
    pub clock: u64,
    /// Events no other event names as its parent, sorted.
    #[serde(skip)]
    pub heads: Vec<EventId>,
    #[serde(skip)]
    pub event_count: usize,
}

/// Sorts, deduplicates and folds a goal's events, as [`crate::core::fold::fold`]
/// does a run's: every order of the same lines gives the same goal.
pub fn fold(events: Vec<Event>) -> Result<Goal> {
    // Conflicting copies of one id count as none (as for runs).
    let events = crate::core::event::in_fold_order(events).events;
    let mut iter = events.iter();
    let first = iter
        .next()
        .ok_or_else(|| Error::corrupt("the goal's history is empty"))?;
    let Body::GoalOpened(opened) = &first.body else {
        return Err(Error::corrupt(format!(
            "the goal's history does not start with a \"goal_opened\" event (first is {} {})",
            first.body.type_name(),
            first.id
        )));
    };
    let mut goal = open(first, opened);
    for event in iter {
        apply(&mut goal, event);
    }
    Ok(goal)
}

fn open(event: &Event, o: &GoalOpened) -> Goal {
    Goal {
        goal_id: o.goal_id.clone(),
        session_id: o.sid.clone(),
        title: o.title.clone(),
        objective: o.objective.clone(),
        parent_goal_id: o.parent_goal_id.clone(),
        status: GoalStatus::Active,
        priority: o.priority,
        owner: o.owner.clone(),
        next_action: o.next_action.clone(),
        success_signal: o.success_signal.clone(),
        blocker_reason: String::new(),
        shared_state: o.shared_state.clone(),
        opened_at: event.at.clone(),
        updated_at: event.at.clone(),
        closed_at: None,
        clock: event.clock,
        heads: vec![event.id.clone()],
        event_count: 1,
    }
}

/// Applies one event that follows everything already folded in. Events
/// that are not a goal's (a hand-made line) are counted and ignored.
pub fn apply(goal: &mut Goal, event: &Event) {
    goal.clock = goal.clock.max(event.clock);
    goal.updated_at = event.at.clone();
    goal.heads.retain(|h| !event.parents.contains(h));
    if let Err(i) = goal.heads.binary_search(&event.id) {
        goal.heads.insert(i, event.id.clone());
    }
    goal.event_count += 1;
    if let Body::GoalUpdated(u) = &event.body {
        apply_update(goal, event, u);
    }
}

fn apply_update(goal: &mut Goal, event: &Event, u: &GoalUpdated) {
    for (field, value) in [
        (&mut goal.title, &u.title),
        (&mut goal.objective, &u.objective),
        (&mut goal.parent_goal_id, &u.parent_goal_id),
        (&mut goal.owner, &u.owner),
        (&mut goal.next_action, &u.next_action),
        (&mut goal.success_signal, &u.success_signal),
        (&mut goal.blocker_reason, &u.blocker_reason),
    ] {
        if let Some(v) = value {
            field.clone_from(v);
        }
    }
    if let Some(state) = &u.shared_state {
        goal.shared_state.clone_from(state);
    }
    if let Some(status) = u.status {
        // closed_at marks when the goal closed, not its last update.
        if status.is_closed() && !goal.status.is_closed() {
            goal.closed_at = Some(event.at.clone());
        } else if !status.is_closed() {
            goal.closed_at = None;
        }
        goal.status = status;
    }
}

/// Version of the goal view's layout.
pub const VIEW_FORMAT: u32 = 1;

#[derive(Serialize)]
struct GoalView<'a> {
    format: u32,
    #[serde(flatten)]
    goal: &'a Goal,
    history: HistoryView<'a>,
}

#[derive(Serialize)]
struct HistoryView<'a> {
    events: usize,
    clock: u64,
    heads: &'a [EventId],
}

/// The goal's view, `goal.yaml`: a pure function of its events.
pub fn goal_yaml(goal: &Goal) -> Vec<u8> {
    let body = serde_yaml::to_string(&GoalView {
        format: VIEW_FORMAT,
        goal,
        history: HistoryView {
            events: goal.event_count,
            clock: goal.clock,
            heads: &goal.heads,
        },
    })
    .expect("views always serialize");
    format!(
        "# Generated by nexo from history.jsonl; do not edit (changes are lost). Use `nexo goal update`.\n{body}"
    )
    .into_bytes()
}

/// Every view file of a goal: (path relative to the working tree, bytes).
pub fn render(goal: &Goal) -> Vec<(String, Vec<u8>)> {
    vec![(
        format!("{}/goal.yaml", crate::core::layout::goal_rel(&goal.goal_id)),
        goal_yaml(goal),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testkit::event;

    fn opened() -> Event {
        event(
            0,
            1,
            vec![],
            "codex",
            Body::GoalOpened(GoalOpened {
                goal_id: "WG-TESTGOAL00000000".into(),
                sid: "s1".into(),
                title: "Ship v3".into(),
                objective: String::new(),
                parent_goal_id: String::new(),
                priority: Priority::High,
                owner: "codex".into(),
                next_action: String::new(),
                success_signal: String::new(),
                shared_state: Map::new(),
            }),
        )
    }

    fn updated(n: u64, parent: &Event, u: GoalUpdated) -> Event {
        event(
            n,
            n + 1,
            vec![parent.id.clone()],
            "codex",
            Body::GoalUpdated(u),
        )
    }

    #[test]
    fn a_goal_opens_active_and_keeps_fields_not_sent() {
        let o = opened();
        let u = updated(
            1,
            &o,
            GoalUpdated {
                next_action: Some("cut the branch".into()),
                ..Default::default()
            },
        );
        let goal = fold(vec![o, u]).unwrap();
        assert_eq!(goal.status, GoalStatus::Active);
        assert_eq!(goal.title, "Ship v3");
        assert_eq!(goal.next_action, "cut the branch");
        assert_eq!(goal.event_count, 2);
    }

    #[test]
    fn closing_stamps_closed_at_once_and_reopening_clears_it() {
        let o = opened();
        let close = updated(
            1,
            &o,
            GoalUpdated {
                status: Some(GoalStatus::Abandoned),
                ..Default::default()
            },
        );
        let again = updated(
            2,
            &close,
            GoalUpdated {
                status: Some(GoalStatus::Cancelled),
                ..Default::default()
            },
        );
        let goal = fold(vec![o.clone(), close.clone(), again.clone()]).unwrap();
        assert_eq!(goal.closed_at.as_deref(), Some(close.at.as_str()));
        let reopen = updated(
            3,
            &again,
            GoalUpdated {
                status: Some(GoalStatus::Active),
                ..Default::default()
            },
        );
        assert_eq!(fold(vec![o, close, again, reopen]).unwrap().closed_at, None);
    }

    #[test]
    fn any_order_of_the_lines_gives_the_same_goal_and_view() {
        let o = opened();
        let a = updated(
            1,
            &o,
            GoalUpdated {
                blocker_reason: Some("waiting on legal".into()),
                status: Some(GoalStatus::Blocked),
                ..Default::default()
            },
        );
        let b = updated(
            2,
            &a,
            GoalUpdated {
                title: Some("Ship v3.1".into()),
                ..Default::default()
            },
        );
        let forward = fold(vec![o.clone(), a.clone(), b.clone()]).unwrap();
        let backward = fold(vec![b.clone(), a, o, b]).unwrap();
        assert_eq!(forward, backward);
        assert_eq!(goal_yaml(&forward), goal_yaml(&backward));
    }

    #[test]
    fn a_history_must_open_with_a_goal() {
        let o = opened();
        let u = updated(1, &o, GoalUpdated::default());
        assert!(fold(vec![u]).is_err());
        assert!(fold(vec![]).is_err());
    }
}
