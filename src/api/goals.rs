//! The goal stack's verbs: open, update, get, list, and the checks that
//! tie runs to goals. Goals are written through the same path as runs
//! (lock, fold, validate, append one event, views, commit).

use std::collections::HashMap;

use super::validate::{check_map, limit_or};
use crate::core::error::{Error, Result};
use crate::core::event::{Body, GoalOpened, GoalUpdated};
use crate::core::fold::Run;
use crate::core::goal::{self, Goal};
use crate::core::limits::{self, Text, opt_text};
use crate::core::model::{GoalStatus, Priority};
use crate::wire::goals::*;
use crate::wire::request::*;
use crate::wire::response::*;
use crate::workspace::record::Record;
use crate::workspace::record::read_all;
use crate::workspace::{Nexo, non_empty};

const DEFAULT_GOAL_LIST_LIMIT: usize = 20;
/// How many linked runs `goal get` shows, as the original.
const GOAL_RUNS_LIMIT: usize = 50;

/// The original refused to complete a goal whose texts say release work is
/// still pending...
const PENDING_RELEASE_MARKERS: &[&str] = &[
    "smoke pendiente",
    "tags pendientes",
    "merge pendiente",
    "stable pendiente",
    "pending smoke",
    "pending tags",
    "pending merge",
];
/// ...or that describe an irreversible act, unless they also cite a
/// specific approval.
const IRREVERSIBLE_MARKERS: &[&str] = &[
    "publish stable",
    "publicar stable",
    "promocionar stable",
    "broadcast",
    "enviar a clientes",
    "force-push",
    "revocar",
    "cobrar",
];
const SPECIFIC_APPROVAL_MARKERS: &[&str] = &[
    "aprobacion explicita",
    "aprobación explícita",
    "ok especifico",
    "ok específico",
    "autorizacion especifica",
    "autorización específica",
    "specific ok",
    "explicit approval",
];

impl Nexo {
    pub fn goal_open(&self, req: GoalOpenRequest) -> Result<GoalOpenResponse> {
        let title = req.title.trim().to_string();
        let sid = req.sid.trim().to_string();
        if sid.is_empty() {
            return Err(crate::api::runs::empty_sid());
        }
        if title.is_empty() {
            return Err(Error::naming(crate::core::error::ErrorKind::Invalid, |n| {
                format!(
                    "{} is empty: say what the goal is, e.g. \"Ship v3.1 to every customer\"",
                    n("title")
                )
            }));
        }
        limits::text("title", &title, Text::Line)?;
        limits::text("sid", &sid, Text::Name)?;
        check_goal_texts(&[
            ("objective", &req.objective),
            ("next_action", &req.next_action),
            ("success_signal", &req.success_signal),
        ])?;
        opt_text("owner", req.owner.as_deref(), Text::Name)?;
        check_map(req.shared_state.as_ref(), "shared_state")?;
        let actor = self.actor(req.actor.clone(), req.owner.clone());
        self.refresh()?;
        let lock = self.lock()?;
        let parent_goal_id = match non_empty(req.parent_goal_id) {
            Some(p) => self
                .existing_goal(&p, "parent_goal_id")?
                .goal_id
                .to_string(),
            None => String::new(),
        };
        let goal_id = crate::core::id::new_goal_id();
        let text = |v: Option<String>| v.unwrap_or_default().trim().to_string();
        let body = Body::GoalOpened(GoalOpened {
            goal_id: goal_id.clone(),
            sid,
            title,
            objective: text(req.objective),
            parent_goal_id,
            priority: req.priority.unwrap_or(Priority::Normal),
            owner: text(req.owner),
            next_action: text(req.next_action),
            success_signal: text(req.success_signal),
            shared_state: req.shared_state.unwrap_or_default(),
        });
        let plan = self.repo.plan_commit(self.options.no_commit)?;
        let write = crate::workspace::write::Write {
            held: lock.held(),
            plan,
            id: &goal_id,
            seal: None,
        };
        let (goal, event, commit) =
            self.append_and_publish(write, None, actor, body, |g: &Goal| {
                format!(
                    "goal opened: {}",
                    crate::core::words::headline(&g.title, 60)
                )
            })?;
        Ok(GoalOpenResponse {
            ok: true,
            goal_id: goal.goal_id,
            status: goal.status,
            title: goal.title,
            priority: goal.priority,
            parent_goal_id: goal.parent_goal_id,
            next_action: goal.next_action,
            warnings: req.warnings,
            event_id: event.id,
            commit,
        })
    }

    pub fn goal_update(&self, req: GoalUpdateRequest) -> Result<GoalUpdateResponse> {
        check_goal_texts(&[
            ("title", &req.title),
            ("objective", &req.objective),
            ("next_action", &req.next_action),
            ("success_signal", &req.success_signal),
            ("blocker_reason", &req.blocker_reason),
        ])?;
        opt_text("owner", req.owner.as_deref(), Text::Name)?;
        check_map(req.shared_state.as_ref(), "shared_state")?;
        let actor = self.actor(req.actor.clone(), None);
        self.refresh()?;
        let id = self.store.resolve_goal(&req.goal_id)?;
        let mut mine = GoalCounts::default();
        let (goal, event, commit) = self.write_record(&id, |goal: &Goal| {
            // Counted under the lock, so no run opens between the gate
            // and the event.
            mine = self.goal_counts()?.remove(id.as_str()).unwrap_or_default();
            let u = self.validate_goal_update(goal, &req, &mine)?;
            let subject = match u.status {
                Some(s) => format!("goal → {s}"),
                None => "goal updated".to_string(),
            };
            Ok((actor, Body::GoalUpdated(u), subject))
        })?;
        mine.child_count = self.child_count(&goal.goal_id)?;
        Ok(GoalUpdateResponse {
            ok: true,
            goal_id: goal.goal_id,
            status: goal.status,
            title: goal.title,
            next_action: goal.next_action,
            blocker_reason: goal.blocker_reason,
            counts: mine,
            event_id: event.id,
            commit,
        })
    }

    /// Checks a goal update against the goal and turns it into an event.
    fn validate_goal_update(
        &self,
        goal: &Goal,
        req: &GoalUpdateRequest,
        counts: &GoalCounts,
    ) -> Result<GoalUpdated> {
        let parent_goal_id = match non_empty(req.parent_goal_id.clone()) {
            Some(p) => Some(self.checked_parent(goal, &p)?),
            None => None,
        };
        let u = GoalUpdated {
            status: req.status,
            title: non_empty(req.title.clone()),
            objective: non_empty(req.objective.clone()),
            parent_goal_id,
            owner: non_empty(req.owner.clone()),
            next_action: non_empty(req.next_action.clone()),
            success_signal: non_empty(req.success_signal.clone()),
            blocker_reason: non_empty(req.blocker_reason.clone()),
            shared_state: req.shared_state.clone(),
        };
        if u == GoalUpdated::default() {
            return Err(Error::naming(crate::core::error::ErrorKind::Invalid, |n| {
                let fields = [
                    "status",
                    "title",
                    "objective",
                    "parent_goal_id",
                    "next_action",
                    "success_signal",
                    "blocker_reason",
                    "owner",
                    "shared_state",
                ]
                .map(n);
                format!("nothing to update: pass {}", fields.join(", "))
            }));
        }
        if u.status == Some(GoalStatus::Completed) {
            closure_gates(goal, req, counts)?;
        }
        Ok(u)
    }

    /// A parent that exists and is not the goal itself or one of its
    /// descendants (which would make a loop); returns its full id.
    fn checked_parent(&self, goal: &Goal, given: &str) -> Result<String> {
        let parent = self.existing_goal(given, "parent_goal_id")?;
        let mut at = Some(parent.clone());
        let mut hops = 0;
        while let Some(g) = at {
            if g.goal_id == goal.goal_id {
                let (parent, goal) = (parent.goal_id.clone(), goal.goal_id.clone());
                return Err(Error::naming(
                    crate::core::error::ErrorKind::Invalid,
                    move |n| {
                        format!(
                            "{} {parent} would make goal {goal} its own ancestor: pick a goal outside its subtree",
                            n("parent_goal_id")
                        )
                    },
                ));
            }
            hops += 1;
            at = match g.parent_goal_id.as_str() {
                "" => None,
                _ if hops > 1_000 => None,
                p => self.existing_goal(p, "parent_goal_id").ok(),
            };
        }
        Ok(parent.goal_id.to_string())
    }

    pub fn goal_get(&self, req: GoalGetRequest) -> Result<GoalGetResponse> {
        self.refresh()?;
        let id = self.store.resolve_goal(&req.goal_id)?;
        let goal = goal::fold(self.store.read_history(&id)?.events)?;
        let counts = self.goal_counts()?;
        let mut mine = counts.get(id.as_str()).copied().unwrap_or_default();
        mine.child_count = self.child_count(&goal.goal_id)?;
        let runs = match req.include_runs.unwrap_or(false) {
            // The goal's runs, most recently updated first, found through
            // the summaries: only they are folded.
            true => Some({
                let summaries = self.summaries()?;
                summaries
                    .all
                    .iter()
                    .filter(|s| summaries.goal_id(s) == id)
                    .take(GOAL_RUNS_LIMIT)
                    .map(|s| Ok(RunOut::of(&Run::read(self, summaries.id(s))?, false)))
                    .collect::<Result<Vec<_>>>()?
            }),
            false => None,
        };
        Ok(GoalGetResponse {
            ok: true,
            goal: GoalOut {
                goal,
                counts: mine,
                runs,
            },
        })
    }

    pub fn goal_list(&self, req: GoalListRequest) -> Result<GoalListResponse> {
        let limit = limit_or(req.limit, DEFAULT_GOAL_LIST_LIMIT);
        let include_closed = req.include_closed.unwrap_or(false);
        self.refresh()?;
        let (all, unreadable) = self.goals()?;
        let counts = self.goal_counts()?;
        let mut children: HashMap<&str, usize> = HashMap::new();
        for g in &all {
            *children.entry(g.parent_goal_id.as_str()).or_default() += 1;
        }
        let goals: Vec<GoalListItem> = all
            .iter()
            .filter(|g| match req.status {
                Some(s) => g.status == s,
                None => include_closed || !g.status.is_closed(),
            })
            .take(limit)
            .map(|g| {
                let mut c = counts.get(g.goal_id.as_str()).copied().unwrap_or_default();
                c.child_count = children.get(g.goal_id.as_str()).copied().unwrap_or(0);
                GoalListItem {
                    goal_id: g.goal_id.clone(),
                    session_id: g.session_id.clone(),
                    title: g.title.clone(),
                    status: g.status,
                    priority: g.priority,
                    parent_goal_id: g.parent_goal_id.clone(),
                    next_action: g.next_action.clone(),
                    blocker_reason: g.blocker_reason.clone(),
                    counts: c,
                    updated_at: g.updated_at.clone(),
                }
            })
            .collect();
        let closed_left_out = match (req.status, include_closed) {
            (None, false) => all.iter().filter(|g| g.status.is_closed()).count(),
            _ => 0,
        };
        Ok(GoalListResponse {
            ok: true,
            count: goals.len(),
            goals,
            unreadable,
            closed_left_out,
        })
    }

    /// The open goals for `prime`: at most five, each on one line of
    /// `text`, so a new session knows what its runs serve.
    pub(super) fn prime_goals(&self, text: &mut String) -> Result<Vec<PrimeGoal>> {
        const MAX: usize = 5;
        let (goals, _) = self.goals()?;
        let open: Vec<&Goal> = goals.iter().filter(|g| !g.status.is_closed()).collect();
        if open.is_empty() {
            return Ok(Vec::new());
        }
        text.push_str(&format!(
            "Open goals ({}; runs link to one with goal_id):\n",
            open.len()
        ));
        let mut out = Vec::new();
        for g in open.iter().take(MAX) {
            let next = match g.next_action.as_str() {
                "" => String::new(),
                n => format!("; next: {}", crate::core::words::clip(n, 70)),
            };
            text.push_str(&format!(
                "- {} [{}] {}{next}\n",
                g.goal_id,
                g.status,
                crate::core::words::clip(&g.title, 60)
            ));
            out.push(PrimeGoal {
                goal_id: g.goal_id.clone(),
                title: g.title.clone(),
                status: g.status,
                priority: g.priority,
                next_action: g.next_action.clone(),
            });
        }
        if open.len() > MAX {
            text.push_str(&format!("  (+{} more: nexo goal list)\n", open.len() - MAX));
        }
        Ok(out)
    }

    /// Every goal, most recently updated first, and those that could not
    /// be read.
    pub(super) fn goals(&self) -> Result<(Vec<Goal>, Vec<UnreadableGoal>)> {
        let (goals, unreadable) = read_all::<Goal>(self, self.store.goal_ids()?)?;
        let unreadable = unreadable
            .into_iter()
            .map(|(goal_id, error)| UnreadableGoal { goal_id, error })
            .collect();
        Ok((goals, unreadable))
    }

    /// A goal by full id or unique prefix; `field` names the caller's field
    /// in the error.
    fn existing_goal(&self, given: &str, field: &str) -> Result<Goal> {
        let id = self.store.resolve_goal(given).map_err(|e| match e.kind {
            crate::core::error::ErrorKind::NotFound => {
                let field = field.to_string();
                let given = crate::core::limits::quote(given).to_string();
                Error::naming(crate::core::error::ErrorKind::NotFound, move |n| {
                    format!("unknown {} {given}: no goal has that id", n(&field))
                })
                .with_hint("`nexo goal list --all` lists the goals")
            }
            _ => e,
        })?;
        goal::fold(self.store.read_history(&id)?.events)
    }

    /// The goal a new run links to: it must exist and be open. Returns
    /// its full id.
    pub(super) fn goal_for_new_run(&self, given: &str) -> Result<String> {
        let goal = self.existing_goal(given, "goal_id")?;
        if goal.status.is_closed() {
            return Err(Error::conflict(format!(
                "goal {} is closed with status '{}': runs can only be opened under an open goal",
                goal.goal_id, goal.status
            ))
            .with_hint_naming({
                let id = goal.goal_id.clone();
                move |n| {
                    format!(
                        "reopen it first (nexo goal update {id} --status active), or open the run without {}",
                        n("goal_id")
                    )
                }
            }));
        }
        Ok(goal.goal_id.to_string())
    }

    /// Run counts per goal id, from the runs' summaries.
    fn goal_counts(&self) -> Result<HashMap<String, GoalCounts>> {
        let mut counts: HashMap<String, GoalCounts> = HashMap::new();
        // A damaged run is reported by doctor, not counted.
        let summaries = self.summaries()?;
        for run in summaries.all.iter() {
            let goal_id = summaries.goal_id(run);
            if goal_id.is_empty() {
                continue;
            }
            let c = counts.entry(goal_id.to_string()).or_default();
            c.run_count += 1;
            c.open_run_count += usize::from(!run.status.is_closed());
        }
        Ok(counts)
    }

    fn child_count(&self, goal_id: &str) -> Result<usize> {
        let (goals, _) = self.goals()?;
        Ok(goals.iter().filter(|g| g.parent_goal_id == goal_id).count())
    }
}

fn check_goal_texts(fields: &[(&str, &Option<String>)]) -> Result<()> {
    for (field, value) in fields {
        let kind = if *field == "title" {
            Text::Line
        } else {
            Text::Prose
        };
        opt_text(field, value.as_deref(), kind)?;
    }
    Ok(())
}

/// The original's gates on completing a goal, in its order: no open runs,
/// no release work described as pending, no irreversible act without a
/// specific approval. (Its gate on open follow-ups needs a subsystem nexo
/// does not have.)
fn closure_gates(goal: &Goal, req: &GoalUpdateRequest, counts: &GoalCounts) -> Result<()> {
    let id = goal.goal_id.to_string();
    if counts.open_run_count > 0 {
        return Err(Error::conflict(format!(
            "Cannot mark goal completed while linked workflow runs are still open ({} open)",
            counts.open_run_count
        ))
        .with_hint(
            "complete or cancel its runs first (nexo list shows them), or mark the goal abandoned",
        )
        .with_detail("blocked_by", "goal_open_runs_gate")
        .with_detail("goal_id", id)
        .with_detail("open_run_count", counts.open_run_count));
    }
    let text = [
        Some(&goal.title),
        Some(&goal.objective),
        req.title.as_ref(),
        req.objective.as_ref(),
        req.next_action.as_ref(),
        req.success_signal.as_ref(),
        req.blocker_reason.as_ref(),
    ]
    .into_iter()
    .flatten()
    .chain(
        req.shared_state
            .as_ref()
            .map(|s| serde_json::Value::Object(s.clone()).to_string())
            .as_ref(),
    )
    .map(|s| s.to_lowercase())
    .collect::<Vec<_>>()
    .join("\n");
    let has = |markers: &[&str]| markers.iter().any(|m| text.contains(m));
    if has(PENDING_RELEASE_MARKERS) {
        return Err(Error::conflict(
            "Cannot mark goal completed while smoke/tags/merge/stable work is described as pending",
        )
        .with_hint("finish that work and update the goal's texts, or keep the goal active")
        .with_detail("blocked_by", "goal_pending_release_gate")
        .with_detail("goal_id", id));
    }
    if has(IRREVERSIBLE_MARKERS) && !has(SPECIFIC_APPROVAL_MARKERS) {
        return Err(Error::conflict(
            "Cannot mark an irreversible publish/broadcast/payment goal completed without a specific approval tied to evidence",
        )
        .with_hint_naming(|n| {
            format!(
                "say in {} which approval allowed it, e.g. \"explicit approval from release-manager in #812\"",
                n("success_signal")
            )
        })
        .with_detail("blocked_by", "goal_irreversible_specific_ok_gate")
        .with_detail("goal_id", id));
    }
    Ok(())
}
