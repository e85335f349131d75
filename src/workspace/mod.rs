//! One open repository: its store, its git, its lock, its options, and
//! the path every write takes (`write`, `record`): take the lock, fold the
//! record, append exactly one event, regenerate its views, commit. The
//! verbs (`crate::api`, `crate::sync`, `crate::verify`, ...) are built on
//! this, and nothing here knows any of them.
//!
//! May import: `core`, `store`, `git`, `index`, `wire`, `trace`.

use std::cell::{Cell, RefCell};
use std::path::Path;

pub(crate) mod archive;
mod fold;
pub(crate) mod record;
mod upgrade;
pub(crate) mod write;

pub use upgrade::Upgraded;

pub(crate) use fold::Folding;
pub(crate) use record::trailer;

use crate::core::error::{Error, Result};
use crate::core::fold::Run;
use crate::core::limits;
use crate::git::Repo;
use crate::store::{Held, Lock, Store};
use crate::wire::response::CommitResponse;

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
    pub(crate) repo: Repo,
    pub(crate) store: Store,
    pub(crate) options: Options,
    /// Who may pass approval gates (`.nexo/config.yaml`).
    pub(crate) approvals: crate::core::approval::Approvals,
    /// The lease a claim gets when its caller names none.
    pub(crate) claim_ttl: u64,
    /// How long a sync keeps trying while others move the remote.
    pub(crate) sync_timeout_seconds: u64,
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

pub(crate) fn non_empty(s: Option<String>) -> Option<String> {
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
        let nexo = Nexo {
            repo,
            store,
            options,
            claim_ttl: config.claim_ttl(),
            sync_timeout_seconds: config.sync_timeout(),
            approvals: config.approvals,
            notices: RefCell::new(notices),
            driver_checked: Cell::new(false),
            lock_depth: Cell::new(0),
            held: Cell::new(None),
        };
        // A compaction a killed nexo left holds run folders out of sight:
        // every command finishes it first, a reader too (one that names a
        // run would call it unknown; `doctor` would not count it).
        if nexo.store.compaction_left() {
            drop(nexo.lock()?);
        }
        Ok(nexo)
    }

    /// The working tree of the git repository containing `dir` (where
    /// `nexo setup` writes an agent's files).
    pub fn worktree_of(dir: &Path) -> Result<std::path::PathBuf> {
        Ok(Repo::discover(dir)?.workdir().to_path_buf())
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
        let mut guard = LockGuard {
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
        // Before anything reads or commits `.nexo/runs`: a run folder left
        // in the work folder would look deleted.
        // Stopped here (two different files at one path), the recovery
        // below has not run: the record stays for the next holder.
        let finished = self.store.finish_compaction(guard.held).inspect_err(|_| {
            if let Some(l) = guard._lock.as_mut() {
                l.keep_record = true;
            }
        });
        if finished? {
            self.note(
                "finished giving .nexo/runs a new folder, as a killed nexo process had begun"
                    .into(),
            );
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
    pub(crate) fn note(&self, note: String) {
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
            // A history no longer there moved (an archive killed midway):
            // its views went with it.
            if let Some(id) = crate::core::layout::record_of_history(&rel)
                && crate::store::nofollow::check(self.store.root(), std::path::Path::new(&rel))
                    .unwrap_or(false)
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
        self.upgrade_layout()?;
        let current = self.repo.nexo_tree()?;
        let seen = self.repo.seen_tree();
        if seen == Some(current) || self.repo.operation_in_progress() {
            return Ok(Vec::new());
        }
        let lock = self.lock()?;
        let mut ids = self.repo.changed_records(seen.flatten(), current)?;
        // A merge that gave an archived run a later event brings it back.
        for id in self.settle_archived(seen.flatten(), current)? {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        let mut changed = Vec::new();
        let mut refreshed = Vec::new();
        for id in &ids {
            // A merge that gave both sides' copy of an event keeps one.
            let history = crate::core::layout::history_rel(id);
            if self.store.dedupe_history(lock.held(), &history)? {
                changed.push(history);
            }
            // A record that does not fold is reported by `nexo doctor`; it
            // must not block work on the others.
            let Ok(files) = self.render_record(id) else {
                continue;
            };
            let written = match self.write_files(files) {
                Ok(w) => w,
                // A run with a link in its folder: doctor reports it.
                Err(e) if e.kind == crate::core::error::ErrorKind::Corrupt => continue,
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
                crate::core::words::count(refreshed.len(), "record")
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

    /// Every run's summary (`index::summaries`), after a refresh: what
    /// `list --all` and goal counts read.
    pub(crate) fn summaries(&self) -> Result<crate::index::summaries::Summaries> {
        self.summaries_of(None)
    }

    /// The `limit` most recently updated runs' summaries, open or closed:
    /// `list --all --limit N`, which reads the closed runs only as far as
    /// it needs.
    pub(crate) fn newest_summaries(
        &self,
        limit: usize,
    ) -> Result<crate::index::summaries::Summaries> {
        self.summaries_of(Some(Some(limit)))
    }

    /// The summaries of the runs not completed or cancelled, with how many
    /// others there are: what `list`, `ready` and `prime` read, at the
    /// cost of the open runs (the closed ones are not read).
    pub(crate) fn open_summaries(&self) -> Result<crate::index::summaries::Summaries> {
        self.summaries_of(Some(None))
    }

    /// `None`: every run; `Some(None)`: the open runs; `Some(Some(n))`:
    /// the `n` most recently updated.
    fn summaries_of(
        &self,
        part: Option<Option<usize>>,
    ) -> Result<crate::index::summaries::Summaries> {
        self.refresh()?;
        // During a merge the working tree holds what no commit does yet:
        // every run is stat'ed then.
        let current = match self.repo.operation_in_progress() {
            true => None,
            false => self.repo.nexo_tree()?,
        };
        let changed_since = |since: &str| -> Option<std::collections::HashSet<String>> {
            let since = gix::ObjectId::from_hex(since.as_bytes()).ok()?;
            let mut ids: std::collections::HashSet<String> = match Some(since) == current {
                true => Default::default(),
                false => self
                    .repo
                    .changed_records(Some(since), current)
                    .ok()?
                    .into_iter()
                    .collect(),
            };
            for rel in self.repo.read_pending() {
                if let Some((id, _)) = crate::core::layout::record_of_path(&rel) {
                    ids.insert(id.to_string());
                }
            }
            Some(ids)
        };
        let index = crate::index::summaries::SummaryIndex {
            store: &self.store,
            committed: current.map(|tree| crate::index::summaries::Committed {
                tree: tree.to_string(),
                changed_since: &changed_since,
            }),
        };
        let fold = |id: &str| <Run as record::Record>::read(self, id);
        match part {
            None => index.read(fold),
            Some(None) => index.read_open(fold),
            Some(Some(limit)) => index.read_newest(limit, fold),
        }
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

    /// Commits every `.nexo/` change that is not in HEAD yet. The paths
    /// go to the pending list as they are named (400,000 after a killed
    /// repair of every view), and the answer lists the first
    /// `limits::LISTED`.
    pub fn commit_pending(&self) -> Result<CommitResponse> {
        self.commit_found(true)
    }

    /// [`Nexo::commit_pending`] for the paths nexo's pending list names
    /// alone (a writer killed, or `--no-commit`), without comparing every
    /// file under `.nexo/` with HEAD: what a sync's later attempts commit,
    /// the first having looked (at 100,000 runs a look takes seconds).
    pub(crate) fn commit_listed(&self) -> Result<CommitResponse> {
        self.commit_found(false)
    }

    fn commit_found(&self, look: bool) -> Result<CommitResponse> {
        let _lock = self.lock()?;
        self.settle_pending()?;
        let paths = match look {
            true => self.repo.pending_paths()?,
            false => {
                let mut listed = self.repo.read_pending();
                listed.sort_unstable();
                listed.dedup();
                listed
            }
        };
        let total = paths.len();
        if total == 0 {
            return Ok(CommitResponse {
                ok: true,
                commit: None,
                paths,
                paths_not_listed: 0,
            });
        }
        let listed: Vec<String> = paths.iter().take(limits::listed()).cloned().collect();
        let mut rest = paths.into_iter().skip(listed.len()).map(Ok);
        self.repo.append_pending(&mut rest)?;
        drop(rest);
        crate::memory::phase_done();
        crate::trace::mark("pending listed");
        let message = format!(
            "nexo: commit {}\n",
            crate::core::words::count(total, "pending .nexo/ change")
        );
        let plan = self.repo.plan_commit(false)?;
        let info = self.repo.finish(plan, &listed, &message)?;
        if let Some(reason) = info.pending_reason {
            return Err(Error::conflict(reason));
        }
        Ok(CommitResponse {
            ok: true,
            commit: info.commit,
            paths_not_listed: total - listed.len(),
            paths: listed,
        })
    }
}
