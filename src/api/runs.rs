//! The run verbs of the original's tool interface: open, update, resume,
//! replay, handoff, get, list.

use validate::{check_map, check_steps, limit_or, update_subject, validate_update};

use crate::core::error::{Error, ErrorKind, Result};
use crate::core::event::{Body, Event, HandedOff, Opened};
use crate::core::fold::Run;
use crate::core::limits::{self, Text, opt_text};
use crate::core::model::Priority;
use crate::core::words::{headline, who};
use crate::wire::request::*;
use crate::wire::response::*;
use crate::workspace::write::Write;
use crate::workspace::{KEEP_CHECKPOINTS, Nexo, non_empty};

use super::{gates, validate};

const DEFAULT_REPLAY_LIMIT: usize = 20;
const DEFAULT_CHECKPOINT_LIMIT: usize = 8;
const DEFAULT_LIST_LIMIT: usize = 20;

impl Nexo {
    pub fn open(&self, mut req: OpenRequest) -> Result<OpenResponse> {
        let template = self.expand_into(&mut req)?;
        check_open_text(&req)?;
        let goal = req.goal.trim().to_string();
        if goal.is_empty() {
            return Err(Error::naming(ErrorKind::Invalid, |n| {
                format!(
                    "{} is empty: say what this run should achieve, e.g. \"Prepare and publish v3.1.1\"",
                    n("goal")
                )
            }));
        }
        let sid = req.sid.trim().to_string();
        if sid.is_empty() {
            return Err(empty_sid());
        }
        check_steps(&req.steps)?;
        gates::check_open(&self.approvals, &req.steps)?;
        check_map(req.shared_state.as_ref(), "shared_state")?;
        let steps = req.steps;
        let shared_state = req.shared_state.unwrap_or_default();
        // As in the original: the key is trimmed, and matches only runs of
        // the same session and goal id.
        let idempotency_key = req.idempotency_key.unwrap_or_default().trim().to_string();
        let given_goal = req.goal_id.clone().unwrap_or_default().trim().to_string();
        let protocol_task_id = req
            .protocol_task_id
            .clone()
            .unwrap_or_default()
            .trim()
            .to_string();
        let workflow_kind = non_empty(req.workflow_kind).unwrap_or_else(|| "general".into());
        let actor = self.actor(req.actor.clone(), req.owner.clone());

        self.refresh()?;
        let lock = self.lock()?;
        // As in the original: a goal_id must name an open goal.
        let goal_id = match given_goal.as_str() {
            "" => String::new(),
            given => self.goal_for_new_run(given)?,
        };
        if !idempotency_key.is_empty()
            && let Some(run) = self.find_open_run(&sid, &idempotency_key, &goal_id)?
        {
            return Ok(open_response(
                &run,
                true,
                CommitInfo::pending(Some("reused an existing run; nothing written".into())),
                req.warnings,
            ));
        }
        let run_id = crate::core::id::new_run_id();
        let body = Body::Opened(Opened {
            run_id: run_id.clone(),
            sid,
            goal,
            goal_id,
            owner: req.owner.unwrap_or_default(),
            priority: req.priority.unwrap_or(Priority::Normal),
            workflow_kind,
            steps,
            next_action: req.next_action.unwrap_or_default(),
            shared_state,
            idempotency_key,
            protocol_task_id,
            template,
        });
        let plan = self.repo.plan_commit(self.options.no_commit)?;
        let write = Write {
            held: lock.held(),
            plan,
            id: &run_id,
            seal: None,
        };
        let (run, _, commit) = self.append_and_publish(write, None, actor, body, |run: &Run| {
            format!("opened: {}", headline(&run.goal, 60))
        })?;
        Ok(open_response(&run, false, commit, req.warnings))
    }

    fn find_open_run(&self, sid: &str, key: &str, goal_id: &str) -> Result<Option<Run>> {
        for id in self.store.run_ids()? {
            // A damaged run must not block opening new ones (doctor reports it).
            let Ok(run) = self.fold_run_file(&id, 1) else {
                continue;
            };
            if run.sid == sid
                && run.idempotency_key == key
                && run.goal_id == goal_id
                && !run.status.is_closed()
            {
                return Ok(Some(run));
            }
        }
        Ok(None)
    }

    pub fn update(&self, req: UpdateRequest) -> Result<UpdateResponse> {
        let actor = self.actor(req.actor.clone(), None);
        self.steal_for(&req, &actor)?;
        check_map(req.shared_state.as_ref(), "shared_state")?;
        check_map(req.state_patch.as_ref(), "state_patch")?;
        let shared_state = req.shared_state.clone();
        let state_patch = req.state_patch.clone();
        let run_id = req.run_id.clone();
        let mut warnings = req.warnings.clone();
        let reopened = std::cell::Cell::new(None);
        let (run, event, commit) = self.write_saying(&run_id, |run| {
            if let Some(key) = req.step_key.as_deref() {
                super::claims::check_write(run, &actor, key)?;
            }
            let mut updated = validate_update(run, req, shared_state, state_patch)?;
            self.check_after(run, &mut updated)?;
            gates::check_update(run, &updated)?;
            let (head, tail) = update_words(run, &updated, &actor);
            let (was, reopened) = (run.status, &reopened);
            // A finished run that an update takes up again says so, in the
            // commit and the answer: reopening is never silent.
            let subject = move |after: &Run| match was.is_finished() && !after.status.is_finished()
            {
                true => {
                    reopened.set(Some(was));
                    format!("{head} (reopens the {was} run){tail}")
                }
                false => format!("{head}{tail}"),
            };
            Ok((actor.clone(), Body::Updated(updated), subject))
        })?;
        if let Some(was) = reopened.get() {
            warnings.push(format!(
                "this update reopened run {}, which was {was}; it is {} now",
                run.run_id, run.status
            ));
        }
        let r = self.resume_for(&run, &actor);
        Ok(UpdateResponse {
            ok: true,
            run_id: run.run_id.clone(),
            status: run.status,
            current_step_key: run.current_step_key.clone(),
            last_checkpoint_label: run.last_checkpoint_label.clone(),
            next_action: run.next_action.clone(),
            next_step: NextStep::for_run(&run, &r),
            resume_state: r.resume_state,
            resume_message: r.message,
            can_resume: r.can_resume,
            requires_approval: r.requires_approval,
            durable_checkpoint: durable_checkpoint(&run, &event, &commit),
            event_id: event.id,
            warnings,
            commit,
        })
    }

    pub fn resume(&self, req: RunRequest) -> Result<ResumeResponse> {
        let (run, elsewhere) = self.load_anywhere(&req.run_id, KEEP_CHECKPOINTS)?;
        let actor = self.actor(req.actor, None);
        let r = self.resume_for(&run, &actor);
        Ok(ResumeResponse {
            ok: true,
            run_id: run.run_id.clone(),
            goal: run.goal.clone(),
            status: run.status,
            owner: run.owner.clone(),
            next_step: NextStep::for_run(&run, &r),
            resume_state: r.resume_state,
            can_resume: r.can_resume,
            requires_approval: r.requires_approval,
            message: r.message,
            current_step_key: run.current_step_key.clone(),
            next_action: run.next_action.clone(),
            divergences: run.divergences(),
            unhonoured: run.unhonoured.clone(),
            claim: r.claim,
            trespasses: run.trespasses.clone(),
            ready_steps: r.ready_steps,
            elsewhere,
        })
    }

    pub fn replay(&self, req: ReplayRequest) -> Result<ReplayResponse> {
        let limit = limit_or(req.limit, DEFAULT_REPLAY_LIMIT);
        let (run, elsewhere) = self.load_anywhere(&req.run_id, limit.max(KEEP_CHECKPOINTS))?;
        let checkpoints = newest_checkpoints(&run, limit);
        Ok(ReplayResponse {
            ok: true,
            run_id: run.run_id.clone(),
            count: checkpoints.len(),
            total: run.event_count,
            checkpoints,
            elsewhere,
        })
    }

    pub fn handoff(&self, req: HandoffRequest) -> Result<HandoffResponse> {
        let actor = req.actor.trim().to_string();
        opt_text("new_owner", req.new_owner.as_deref(), Text::Name)?;
        opt_text("handoff_note", req.handoff_note.as_deref(), Text::Prose)?;
        opt_text("next_action", req.next_action.as_deref(), Text::Prose)?;
        if actor.is_empty() {
            return Err(Error::invalid(
                "actor is empty: say who is handing the run off (e.g. \"codex\")",
            ));
        }
        check_map(req.shared_state.as_ref(), "shared_state")?;
        let shared_state = req.shared_state;
        let new_owner = non_empty(req.new_owner);
        let mut previous_owner = String::new();
        let (run, event, commit) = self.write(&req.run_id, |run| {
            previous_owner = run.owner.clone();
            // A handoff with nothing but its actor is a checkpoint, as in
            // the original; an empty new_owner keeps the owner.
            let subject = match &new_owner {
                Some(o) => format!("handoff {} → {o}", who(&run.owner)),
                None => "handoff".to_string(),
            };
            let body = Body::HandedOff(HandedOff {
                new_owner,
                note: req.handoff_note,
                next_action: req.next_action,
                shared_state,
            });
            Ok((actor, body, subject))
        })?;
        let r = self.resume_for(&run, &run.owner);
        let message = format!(
            "Run handed off from {} to {}. {}",
            who(&previous_owner),
            who(&run.owner),
            r.message
        );
        Ok(HandoffResponse {
            ok: true,
            run_id: run.run_id.clone(),
            status: run.status,
            owner: run.owner.clone(),
            previous_owner,
            next_action: run.next_action.clone(),
            shared_state: run.shared_state.clone(),
            message,
            event_id: event.id,
            commit,
        })
    }

    pub fn get(&self, req: GetRequest) -> Result<GetResponse> {
        let limit = limit_or(req.checkpoint_limit, DEFAULT_CHECKPOINT_LIMIT);
        let (run, elsewhere) = self.load_anywhere(&req.run_id, limit.max(KEEP_CHECKPOINTS))?;
        let actor = self.actor(None, None);
        let r = self.resume_for(&run, &actor);
        let mut out = RunOut::of(&run, req.include_steps.unwrap_or(true));
        out.claims = ClaimOut::live(&run, &crate::trace::now_text());
        Ok(GetResponse {
            ok: true,
            run: out,
            resume_state: r.resume_state,
            can_resume: r.can_resume,
            requires_approval: r.requires_approval,
            message: r.message,
            recent_actors: run.recent_actors(5, limit),
            divergences: run.divergences(),
            unhonoured: run.unhonoured.clone(),
            trespasses: run.trespasses.clone(),
            checkpoints: newest_checkpoints(&run, limit),
            elsewhere,
        })
    }

    pub fn list(&self, req: ListRequest) -> Result<ListResponse> {
        let limit = limit_or(req.limit, DEFAULT_LIST_LIMIT);
        if req.archived.unwrap_or(false) {
            return self.list_archived(&req, limit);
        }
        if req.branches.unwrap_or(false) {
            return self.list_branches(&req, limit);
        }
        let include_closed = req.include_closed.unwrap_or(false);
        // The open runs alone are read unless closed ones may be shown.
        let summaries = match (req.status, include_closed) {
            (Some(st), _) if st.is_closed() => self.summaries()?,
            (None, true) => self.newest_summaries(limit)?,
            (_, true) => self.summaries()?,
            _ => self.open_summaries()?,
        };
        let items = summaries
            .all
            .iter()
            .filter(|s| match req.status {
                Some(st) => s.status == st,
                None => include_closed || !s.status.is_closed(),
            })
            .take(limit)
            .map(|s| summaries.item(s))
            .collect::<Result<Vec<ListItem>>>()?;
        let closed_left_out = match (req.status, include_closed) {
            (None, false) => {
                summaries
                    .all
                    .iter()
                    .filter(|s| s.status.is_closed())
                    .count()
                    + summaries.closed_out
            }
            _ => 0,
        };
        Ok(ListResponse {
            ok: true,
            count: items.len(),
            runs: items,
            unreadable: summaries.unreadable,
            closed_left_out,
        })
    }
}

/// An update's commit subject, in two parts for a note between them: what
/// changed (and, under the seed's policy, that moving a gated step on
/// passed its gate, and by whom), then the summary and evidence, which the
/// 72-character subject may cut and the commit's body keeps whole.
fn update_words(run: &Run, updated: &crate::core::event::Updated, actor: &str) -> (String, String) {
    let mut head = update_subject(updated);
    if let Some(step) = updated.step_key.as_deref().and_then(|k| run.step(k))
        && crate::core::fold::passes_gate(step, updated)
    {
        head.push_str(&format!(" (gate passed by {actor} via update)"));
    }
    let mut tail = String::new();
    if let Some(summary) = &updated.summary {
        tail.push_str(&format!(": {summary}"));
    }
    if let Some(evidence) = &updated.evidence {
        tail.push_str(&format!(" (evidence: {evidence})"));
    }
    (head, tail)
}

fn open_response(
    run: &Run,
    reused: bool,
    commit: CommitInfo,
    warnings: Vec<String>,
) -> OpenResponse {
    OpenResponse {
        ok: true,
        run_id: run.run_id.clone(),
        status: run.status,
        reused_existing: reused,
        goal_id: run.goal_id.clone(),
        workflow_kind: run.workflow_kind.clone(),
        protocol_task_id: run.protocol_task_id.clone(),
        current_step_key: run.current_step_key.clone(),
        next_action: run.next_action.clone(),
        step_count: run.steps.len(),
        steps: run.steps.iter().map(|s| s.title.clone()).collect(),
        step_keys: run.steps.iter().map(|s| s.step_key.clone()).collect(),
        template: run.template.clone(),
        warnings,
        commit,
    }
}

/// The original's `durable_checkpoint`, told in nexo's terms: the event
/// appended and whether it is committed yet.
fn durable_checkpoint(run: &Run, event: &Event, commit: &CommitInfo) -> DurableCheckpoint {
    let step = match &event.body {
        Body::Updated(u) => u.step_key.clone(),
        _ => None,
    };
    let waiting = matches!(
        run.status,
        crate::core::model::RunStatus::Blocked | crate::core::model::RunStatus::WaitingApproval
    );
    DurableCheckpoint {
        event_id: event.id.clone(),
        history: history_rel(&run.run_id),
        reason: format!(
            "workflow:{}",
            step.or_else(|| run.current_step_key.clone())
                .unwrap_or_else(|| "update".into())
        ),
        task_status: if waiting { "blocked" } else { "active" },
        committed: commit.committed,
    }
}

fn history_rel(run_id: &str) -> String {
    crate::core::layout::history_rel(run_id)
}

fn check_open_text(req: &OpenRequest) -> Result<()> {
    limits::text("goal", &req.goal, Text::Line)?;
    limits::text("sid", &req.sid, Text::Name)?;
    for (field, value) in [
        ("owner", &req.owner),
        ("workflow_kind", &req.workflow_kind),
        ("goal_id", &req.goal_id),
        ("protocol_task_id", &req.protocol_task_id),
        ("idempotency_key", &req.idempotency_key),
    ] {
        opt_text(field, value.as_deref(), Text::Name)?;
    }
    opt_text("next_action", req.next_action.as_deref(), Text::Prose)
}

/// An empty `sid`, on open and goal open alike.
pub(crate) fn empty_sid() -> Error {
    Error::naming(ErrorKind::Invalid, |n| {
        format!(
            "{} is empty: pass the caller's session id (any non-empty string)",
            n("sid")
        )
    })
}
