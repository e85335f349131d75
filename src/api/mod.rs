//! The library API: one method per verb. The CLI, `nexo call` and the MCP
//! server are thin adapters over this.
//!
//! Every write follows the same path: take the lock, read and fold the
//! run's history, validate the request against that state, append exactly
//! one event, regenerate the views, commit. Validation happens before
//! anything is written, so a refused request leaves no trace.

use std::cell::{Cell, RefCell};
use std::path::Path;

mod branches;
mod bring;
pub use bring::BringResponse;
mod cache;
mod claims;
mod compensation;
mod gates;
mod goals;
mod prime;
mod ready;
mod record;
mod summaries;
mod validate;
pub mod verify;
mod write;

use record::trailer;
use write::Write;

use validate::{check_map, check_steps, limit_or, update_subject, validate_update};

use crate::core::error::{Error, ErrorKind, Result};
use crate::core::event::{Body, Event, HandedOff, Opened};
use crate::core::fold::Run;
use crate::core::limits::{self, Text, opt_text};
use crate::core::model::Priority;
use crate::core::resume::resume;
use crate::git::Repo;
use crate::store::{Held, Lock, Store};
use crate::wire::request::*;
use crate::wire::response::*;

/// Who is acting and whether writes become commits.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The actor recorded when a request names none.
    pub actor: Option<String>,
    /// The caller's session id, recorded on every event.
    pub session: Option<String>,
    /// Leave changes in the working tree instead of committing them.
    pub no_commit: bool,
    /// Where notices that arise mid-command go (a killed process's locks
    /// cleared, say); without one they join `notices()`.
    pub notify: Option<fn(&str)>,
    /// Start even when the working tree's `.nexo/config.yaml` cannot be
    /// read (its defaults apply): `verify --trusted` judges a branch whose
    /// config may be hostile, by a policy read from elsewhere.
    pub lenient_config: bool,
}

impl Options {
    /// Reads `NEXO_ACTOR` and `NEXO_SESSION_ID`.
    pub fn from_env() -> Options {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        Options {
            actor: var("NEXO_ACTOR"),
            session: var("NEXO_SESSION_ID"),
            no_commit: false,
            notify: None,
            lenient_config: false,
        }
    }
}

/// A repository's workflow runs.
pub struct Nexo {
    repo: Repo,
    store: Store,
    options: Options,
    /// Who may pass approval gates (`.nexo/config.yaml`).
    approvals: crate::core::approval::Approvals,
    /// The lease a claim gets when its caller names none.
    claim_ttl: u64,
    notices: RefCell<Vec<String>>,
    /// Whether this process saw to the merge driver already (see `lock`).
    driver_checked: Cell<bool>,
    /// How many `lock()` guards of this instance are alive: the lock is
    /// re-entrant, so `sync` can hold it across the commands it is made of.
    lock_depth: Cell<u32>,
    /// The outermost guard's proof, for nested guards.
    held: Cell<Option<&'static Held>>,
}

/// nexo's writer lock, held until dropped; see [`Nexo::lock`].
pub struct LockGuard<'a> {
    depth: &'a Cell<u32>,
    held: &'static Held,
    _lock: Option<Lock>,
}

impl LockGuard<'_> {
    /// The proof the store asks for before it appends.
    pub fn held(&self) -> &'static Held {
        self.held
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        self.depth.set(self.depth.get() - 1);
    }
}

/// How many checkpoints a fold keeps for answers (replay, get, show,
/// recent actors): a run's memory does not grow with its history. An
/// answer asking for more folds again keeping that many.
pub(crate) const KEEP_CHECKPOINTS: usize = 256;

const DEFAULT_REPLAY_LIMIT: usize = 20;
const DEFAULT_CHECKPOINT_LIMIT: usize = 8;
const DEFAULT_LIST_LIMIT: usize = 20;

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|v| !v.trim().is_empty())
}

impl Nexo {
    /// Finds the git repository containing `dir`.
    pub fn discover(dir: &Path, options: Options) -> Result<Nexo> {
        let mut repo = Repo::discover(dir)?;
        let notices = Vec::new();
        let store = Store::new(repo.workdir(), repo.git_dir());
        let mut options = options;
        let config = match crate::store::config::Config::load(repo.workdir()) {
            // `.nexo` itself is a link: every read and write refuses it,
            // so no policy is in play, and `doctor --fix` must be able to
            // start to remove it.
            Err(_)
                if crate::store::nofollow::is_link_at(
                    repo.workdir(),
                    Path::new(crate::store::NEXO_DIR),
                ) =>
            {
                crate::store::config::Config::default()
            }
            Err(_) if options.lenient_config => crate::store::config::Config::default(),
            config => config?,
        };
        match config.commit {
            crate::store::config::CommitMode::Off => options.no_commit = true,
            mode => repo.set_coalesce(mode == crate::store::config::CommitMode::Coalesce),
        }
        Ok(Nexo {
            repo,
            store,
            options,
            claim_ttl: config.claim_ttl(),
            approvals: config.approvals,
            notices: RefCell::new(notices),
            driver_checked: Cell::new(false),
            lock_depth: Cell::new(0),
            held: Cell::new(None),
        })
    }

    /// One-time notices for the person at the terminal (the adapter decides
    /// where they go: the CLI prints them on standard error).
    pub fn notices(&self) -> Vec<String> {
        self.notices.borrow().clone()
    }

    /// Takes nexo's writer lock and, if the previous holder was killed
    /// mid-write, finishes its write before anything else: clears what it
    /// left (temporary files, and the index and ref locks it had taken,
    /// recognised by its records, never anyone else's), then commits every
    /// path it had recorded as pending, with the views of its runs.
    pub fn lock(&self) -> Result<LockGuard<'_>> {
        if self.lock_depth.get() > 0
            && let Some(held) = self.held.get()
        {
            self.lock_depth.set(self.lock_depth.get() + 1);
            return Ok(LockGuard {
                depth: &self.lock_depth,
                held,
                _lock: None,
            });
        }
        let lock = self.store.lock()?;
        self.lock_depth.set(1);
        self.held.set(Some(lock.held()));
        let guard = LockGuard {
            depth: &self.lock_depth,
            held: lock.held(),
            _lock: Some(lock),
        };
        let dead = guard
            ._lock
            .as_ref()
            .is_some_and(|l| l.dead_holder.is_some());
        if dead {
            self.store.sweep_temporaries();
        }
        let mut notes = self.repo.recover(dead);
        if dead && !self.repo.read_pending().is_empty() {
            notes.push(match self.finish_interrupted() {
                Ok(()) => "finished a write that a killed nexo process had begun".to_string(),
                Err(e) => {
                    format!("could not yet finish a write a killed nexo process had begun: {e}")
                }
            });
        }
        for note in notes {
            self.note(note);
        }
        Ok(guard)
    }

    /// Commits what a killed writer left pending, with its runs' views.
    /// Called under the lock.
    /// Registers the merge driver for views in this clone's git config,
    /// once a process, where nexo writes to `.nexo/` (every write, a
    /// refresh that regenerates views, `sync`, `doctor --fix`): a read
    /// writes nothing, not even there. Best effort: a clone whose config
    /// cannot be written still works, and `nexo resolve` settles what a
    /// pull leaves.
    pub(crate) fn see_to_merge_driver(&self) {
        if self.driver_checked.replace(true) {
            return;
        }
        let note = match self.repo.ensure_merge_driver() {
            Ok(true) => "registered the nexo-view merge driver in this clone's git config, so pulls never conflict on .nexo/ views".to_string(),
            Ok(false) => return,
            Err(e) => format!(
                "could not register the nexo-view merge driver ({e}); pulls may stop on .nexo/ views, which `nexo resolve` settles"
            ),
        };
        self.note(note);
    }

    /// A notice for the person at the terminal, now if the adapter takes
    /// notices as they arise, else with `notices()`.
    fn note(&self, note: String) {
        match self.options.notify {
            Some(notify) => notify(&note),
            None => self.notices.borrow_mut().push(note),
        }
    }

    fn finish_interrupted(&self) -> Result<()> {
        self.settle_pending()?;
        let mut paths = Vec::new();
        let mut ids = Vec::new();
        for rel in self.repo.read_pending() {
            if let Some(id) = crate::core::layout::record_of_history(&rel)
                && let Ok(files) = self.render_record(id)
            {
                paths.extend(self.write_files(files)?);
                ids.push(id.to_string());
            }
        }
        let plan = self.repo.plan_commit(self.options.no_commit)?;
        let message = format!(
            "nexo: finish a write interrupted by a crash\n\n{}\n",
            ids.iter()
                .map(|r| trailer(r))
                .collect::<Vec<_>>()
                .join("\n")
        );
        self.repo.finish(plan, &paths, &message)?;
        Ok(())
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn repo(&self) -> &Repo {
        &self.repo
    }

    /// Whether writes are left uncommitted (`--no-commit`, config).
    pub fn no_commit(&self) -> bool {
        self.options.no_commit
    }

    /// Who is acting: the request's `actor`, else `$NEXO_ACTOR` / `--actor`,
    /// else `fallback` (the owner, when opening), else git's user.name.
    pub fn actor(&self, given: Option<String>, fallback: Option<String>) -> String {
        non_empty(given)
            .or_else(|| self.options.actor.clone())
            .or_else(|| non_empty(fallback))
            .or_else(|| self.repo.user_name())
            .unwrap_or_else(|| "unknown".to_string())
    }

    /// After a pull (or anything else that changed `.nexo/` behind nexo's
    /// back), regenerates the views of the runs and goals whose folder
    /// changed and commits them. Cheap when nothing changed: one comparison
    /// of HEAD's `.nexo` tree with the one nexo last saw.
    pub fn refresh(&self) -> Result<Vec<String>> {
        let current = self.repo.nexo_tree()?;
        let seen = self.repo.seen_tree();
        if seen == Some(current) || self.repo.operation_in_progress() {
            return Ok(Vec::new());
        }
        let _lock = self.lock()?;
        let ids = self.repo.changed_records(seen.flatten(), current)?;
        let mut changed = Vec::new();
        let mut refreshed = Vec::new();
        for id in &ids {
            // A record that does not fold is reported by `nexo doctor`; it
            // must not block work on the others.
            let Ok(files) = self.render_record(id) else {
                continue;
            };
            let written = match self.write_files(files) {
                Ok(w) => w,
                // A run with a link in its folder: doctor reports it.
                Err(e) if e.kind == crate::ErrorKind::Corrupt => continue,
                Err(e) => return Err(e),
            };
            if !written.is_empty() {
                refreshed.push(id.clone());
                changed.extend(written);
            }
        }
        if changed.is_empty() && self.repo.read_pending().is_empty() {
            self.repo.mark_seen();
            return Ok(refreshed);
        }
        self.see_to_merge_driver();
        let plan = self.repo.plan_commit(self.options.no_commit)?;
        let message = format!(
            "nexo: regenerate views of {} after a merge\n\n{}\n",
            if refreshed.len() == 1 {
                refreshed[0].clone()
            } else {
                format!("{} records", refreshed.len())
            },
            refreshed
                .iter()
                .map(|r| trailer(r))
                .collect::<Vec<_>>()
                .join("\n")
        );
        if self.repo.finish(plan, &changed, &message)?.committed {
            self.repo.mark_seen();
        }
        Ok(refreshed)
    }

    /// Reads and folds a run (by id or unique prefix).
    pub fn load(&self, run_id: &str) -> Result<Run> {
        self.load_keeping(run_id, KEEP_CHECKPOINTS)
    }

    /// [`Nexo::load`], keeping at least the newest `keep` checkpoints (an
    /// answer that shows more than the usual number).
    pub fn load_keeping(&self, run_id: &str, keep: usize) -> Result<Run> {
        self.refresh()?;
        let id = self.store.resolve(run_id)?;
        self.fold_run_file(&id, keep.max(KEEP_CHECKPOINTS))
    }

    pub fn open(&self, req: OpenRequest) -> Result<OpenResponse> {
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
        });
        let plan = self.repo.plan_commit(self.options.no_commit)?;
        let write = Write {
            held: lock.held(),
            plan,
            id: &run_id,
            seal: None,
        };
        let (run, _, commit) = self.append_and_publish(write, None, actor, body, |run: &Run| {
            format!("opened: {}", one_line(&run.goal))
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
        let warnings = req.warnings.clone();
        let (run, event, commit) = self.write(&run_id, |run| {
            if let Some(key) = req.step_key.as_deref() {
                claims::check_write(run, &actor, key)?;
            }
            let updated = validate_update(run, req, shared_state, state_patch)?;
            gates::check_update(run, &updated)?;
            let mut subject = update_subject(&updated);
            // Under the seed's policy, moving a gated step on is an
            // approval: the commit says so, and by whom.
            if let Some(step) = updated.step_key.as_deref().and_then(|k| run.step(k))
                && crate::core::fold::passes_gate(step, &updated)
            {
                subject.push_str(&format!(" (gate passed by {actor} via update)"));
            }
            // The summary and evidence say what happened; the subject is
            // cut to 72 characters, the commit's body keeps them whole.
            if let Some(summary) = &updated.summary {
                subject.push_str(&format!(": {summary}"));
            }
            if let Some(evidence) = &updated.evidence {
                subject.push_str(&format!(" (evidence: {evidence})"));
            }
            Ok((actor.clone(), Body::Updated(updated), subject))
        })?;
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
                Some(o) => format!("handoff {} → {o}", display_owner(&run.owner)),
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
            display_owner(&previous_owner),
            display_owner(&run.owner),
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
        if req.branches.unwrap_or(false) {
            return self.list_branches(&req, limit);
        }
        let include_closed = req.include_closed.unwrap_or(false);
        let summaries = self.summaries()?;
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
        Ok(ListResponse {
            ok: true,
            count: items.len(),
            runs: items,
            unreadable: summaries.unreadable,
        })
    }

    /// Commits every `.nexo/` change that is not in HEAD yet.
    pub fn commit_pending(&self) -> Result<CommitResponse> {
        let _lock = self.lock()?;
        self.settle_pending()?;
        let paths = self.repo.pending_paths()?;
        if paths.is_empty() {
            return Ok(CommitResponse {
                ok: true,
                commit: None,
                paths,
            });
        }
        let message = format!(
            "nexo: commit {} pending .nexo/ change{}\n",
            paths.len(),
            if paths.len() == 1 { "" } else { "s" }
        );
        let plan = self.repo.plan_commit(false)?;
        let info = self.repo.finish(plan, &paths, &message)?;
        if let Some(reason) = info.pending_reason {
            return Err(Error::conflict(reason));
        }
        Ok(CommitResponse {
            ok: true,
            commit: info.commit,
            paths,
        })
    }
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
        warnings,
        commit,
    }
}

/// A run as `list` shows it.
fn list_item(run: &Run) -> ListItem {
    ListItem {
        run_id: run.run_id.clone(),
        session_id: run.sid.clone(),
        goal: run.goal.clone(),
        goal_id: run.goal_id.clone(),
        protocol_task_id: run.protocol_task_id.clone(),
        workflow_kind: run.workflow_kind.clone(),
        status: run.status,
        priority: run.priority,
        owner: run.owner.clone(),
        current_step_key: run.current_step_key.clone(),
        next_action: run.next_action.clone(),
        resume_state: resume(run).resume_state,
        updated_at: run.updated_at.clone(),
        progress: crate::render::progress(run),
        lives_on: Vec::new(),
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

fn display_owner(owner: &str) -> &str {
    if owner.is_empty() { "(nobody)" } else { owner }
}

fn one_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("");
    if line.chars().count() > 60 {
        format!("{}…", line.chars().take(59).collect::<String>())
    } else {
        line.to_string()
    }
}
