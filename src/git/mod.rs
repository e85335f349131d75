//! The git layer: finding the repository and turning a write into exactly
//! one commit that touches nothing but `.nexo/`.
//!
//! May import: `core`, `store`, `trace`.
//!
//! The new tree is HEAD's tree with only our paths replaced, so the user's
//! staged and unstaged work never enters a nexo commit. The branch moves by
//! compare-and-swap. Afterwards the index entries of our paths are updated
//! (and its cached trees dropped), so `git status` is clean for `.nexo/` and
//! the user's next `git commit` neither reverts nor re-adds our change.
//! git's `index.lock` is held from before the ref moves until the index is
//! written, so a concurrent `git commit` cannot interleave.

use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gix::bstr::{BStr, ByteSlice};

use crate::core::error::{Error, ErrorKind, Result};

mod bookkeeping;
mod bulk;
pub mod cli;
mod coalesce;
mod conversion;
mod identity;
mod index;
mod index_io;
mod lockfile;
mod loose;
pub mod message;
mod moves;
mod open;
mod pack;
mod reflock;
pub mod refs;
mod replay;
pub mod sign;
pub mod status;
mod tree;

use crate::store::{NEXO_DIR, nofollow};
use index_io::freshen;
use lockfile::IndexLock;
use tree::Edits;

pub use index::moved::FolderMove;
pub use replay::Sides;

/// How long we wait for git's own `index.lock` (a user's `git add` or
/// `git commit` in flight) before giving up with nothing half-done.
const INDEX_LOCK_WAIT: Duration = Duration::from_secs(3);
/// How often we rebuild on a moved HEAD before giving up.
const CAS_ATTEMPTS: usize = 5;

/// What `plan_commit` decided: commit, holding git's index lock and the
/// index read under it, or skip, for a reason the answer reports.
pub enum CommitPlan {
    Commit { lock: IndexLock, index: Index },
    Skip { reason: String },
}

/// git's index as read under its lock.
pub enum Index {
    /// Versions 2 and 3, updated in place (see `index`), with the check of
    /// its checksum running on another core when it needs one.
    Raw {
        raw: Arc<index::RawIndex>,
        verify: Option<std::thread::JoinHandle<Result<bool>>>,
    },
    /// A split index (`core.splitIndex`): only its small part is written,
    /// with a new shared base past `max_percent` of added entries.
    Split {
        split: Box<index::split::Split>,
        max_percent: u32,
    },
    /// A version 4 split index, or a version nexo does not know: decoded
    /// whole, written back as version 2 or 3.
    Gix(Box<gix::index::File>),
}

impl CommitPlan {
    fn skip(reason: &str) -> CommitPlan {
        CommitPlan::Skip {
            reason: reason.to_string(),
        }
    }
}

pub struct Repo {
    repo: gix::Repository,
    workdir: PathBuf,
    /// Amend HEAD when it is nexo's own unpublished commit (docs/git.md).
    coalesce: bool,
    loose: loose::Loose,
}

/// A gix error, kept whole as the source of ours: `Error::full` prints its
/// chain as "caused by:" lines, and the tool interface's message joins it.
/// The commit a write made, when it made one.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CommitInfo {
    pub commit: Option<String>,
    /// Whether the change is in a commit on HEAD. `false` with the event
    /// written means it is on disk and will be committed by the next nexo
    /// command or `nexo commit`: the caller must not retry.
    pub committed: bool,
    /// Why no commit was made (`--no-commit`, a merge in progress, a lock
    /// held by git, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_reason: Option<String>,
    /// Whether the next nexo write may fold this commit into its own
    /// (coalescing, docs/git.md), after which its id is gone from the
    /// branch. For the command line's words; not in the tool interface's
    /// answer, whose shape is the original's.
    #[serde(skip)]
    pub may_fold: bool,
}

impl CommitInfo {
    /// A commit was made (`None`: HEAD already held exactly this content).
    pub fn made(commit: Option<String>) -> CommitInfo {
        CommitInfo {
            commit,
            committed: true,
            pending_reason: None,
            may_fold: false,
        }
    }

    /// Nothing was committed, for `reason`.
    pub fn pending(reason: Option<String>) -> CommitInfo {
        CommitInfo {
            commit: None,
            committed: false,
            pending_reason: reason,
            may_fold: false,
        }
    }
}

/// A merge conflict marker line, as git writes them.
pub fn is_marker(line: &str) -> bool {
    ["<<<<<<<", "=======", ">>>>>>>", "|||||||"]
        .iter()
        .any(|m| line.starts_with(m))
}

fn git_err(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::repo(what).with_source(e)
}

/// From what size the new index is hashed on the other core while the
/// commit is made (about 0.5 ms of hashing).
const HASH_ON_THE_SIDE: usize = 1 << 20;
/// Past this many paths a commit writes each new blob as it reads it
/// instead of holding them all until the commit.
const HOLD_AT_MOST: usize = 256;

impl Repo {
    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    pub fn git_dir(&self) -> &Path {
        self.repo.git_dir()
    }

    /// The committer name, used as the default actor.
    pub fn user_name(&self) -> Option<String> {
        identity::name(&self.repo.config_snapshot())
            .map(|n| n.to_str_lossy().into_owned())
            .filter(|n| !n.trim().is_empty())
    }

    /// git's `user.signingkey`, as `git commit -S` reads it.
    pub fn signing_key(&self) -> Option<String> {
        self.repo
            .config_snapshot()
            .string("user.signingkey")
            .map(|v| v.to_str_lossy().into_owned())
            .filter(|v| !v.trim().is_empty())
    }

    /// Whether a merge, rebase or similar is in progress.
    pub fn operation_in_progress(&self) -> bool {
        self.repo.state().is_some()
    }

    /// Why a commit cannot be made right now, if it cannot.
    fn commit_blocker(&self) -> Option<String> {
        let state = self.repo.state()?;
        Some(format!(
            "a {state:?} is in progress in this repository; nexo wrote its files but did not commit them. They are committed by the next nexo command after it finishes, or by `nexo commit`"
        ))
    }

    /// Clears what a nexo process killed mid-commit left behind: its
    /// `index.lock` and ref locks, recognised by the records it made before
    /// taking them (never anyone else's). Call only under nexo's lock.
    /// Returns notes of what was removed.
    pub fn recover(&self, dead_holder: bool) -> Vec<String> {
        let mut notes = Vec::new();
        notes.extend(lockfile::recover(
            &self.repo.index_path(),
            self.git_dir(),
            dead_holder,
        ));
        notes.extend(reflock::recover(self.git_dir()));
        notes
    }

    /// The lock files git takes to move HEAD's branch: a stale one would
    /// make the commit fail after the event is appended.
    fn ref_locks(&self) -> Vec<PathBuf> {
        let mut locks = vec![self.git_dir().join("HEAD.lock")];
        if let Ok(Some(name)) = self.repo.head_name() {
            let rel = name.as_bstr().to_str_lossy().into_owned();
            locks.push(self.repo.common_dir().join(format!("{rel}.lock")));
        }
        locks
    }

    /// Waits, as for the index lock, while git holds a lock on HEAD or its
    /// branch (a commit in another worktree, or the `git gc --auto` that
    /// git runs in the background after a commit, which rewrites reflogs
    /// under HEAD.lock). Returns the lock still held when time ran out.
    fn wait_for_ref_locks(&self) -> Option<PathBuf> {
        let start = std::time::Instant::now();
        let mut pause = Duration::from_millis(2);
        loop {
            let held = self.ref_locks().into_iter().find(|p| p.exists())?;
            if start.elapsed() >= INDEX_LOCK_WAIT {
                return Some(held);
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    /// Decides, before anything is written, whether this write will be
    /// committed; if so, takes git's index lock and checks everything that
    /// could refuse the commit, so a refusal leaves nothing written. The
    /// caller holds nexo's lock.
    pub fn plan_commit(&self, no_commit: bool) -> Result<CommitPlan> {
        if no_commit {
            return Ok(CommitPlan::skip(
                "commits are off (--no-commit or commit: false in .nexo/config.yaml); run `nexo commit` to commit",
            ));
        }
        if let Some(reason) = self.commit_blocker() {
            return Ok(CommitPlan::skip(&reason));
        }
        self.committer()?;
        self.loose_level()?;
        let index_path = self.repo.index_path();
        // git's own lock first: nothing may change the index or move the
        // branch under us between reading HEAD and writing the index.
        let lock = IndexLock::acquire(&index_path, self.git_dir(), INDEX_LOCK_WAIT)?;
        if let Some(held) = self.wait_for_ref_locks() {
            return Err(Error::new(
                ErrorKind::Busy,
                format!(
                    "git's lock {} exists: another git command is moving the branch, or one crashed and left the lock behind (then remove the file). Nothing was written.",
                    held.display()
                ),
            ));
        }
        let hash_len = self.repo.object_hash().len_in_bytes();
        let index = match index_path.exists() {
            true => match index::RawIndex::open(&index_path, hash_len)? {
                // A split index's entries are found by bisecting its
                // shared part, which version 4 does not allow: gix's way.
                Some(raw) if raw.link().is_some() && raw.prefix_compressed() => {
                    Index::Gix(Box::new(
                        self.repo
                            .open_index()
                            .map_err(|e| git_err("cannot read git's index", e))?,
                    ))
                }
                Some(raw) if raw.link().is_some() => Index::Split {
                    split: Box::new(self.open_split(raw)?),
                    max_percent: self.split_max_percent()?,
                },
                Some(raw) => {
                    let raw = Arc::new(raw);
                    // A null checksum means "not computed" (index.skipHash);
                    // an index nexo wrote itself was hashed by nexo.
                    let verify = (!self.skip_index_hash()
                        && raw.stored_checksum().iter().any(|&b| b != 0)
                        && !self.index_is_ours(&raw))
                    .then(|| {
                        let raw = Arc::clone(&raw);
                        let kind = self.repo.object_hash();
                        std::thread::spawn(move || {
                            index::checksum_releasing(kind, &[raw.content()], &|p| raw.release(p))
                                .map(|h| h.as_bytes() == raw.stored_checksum())
                        })
                    });
                    Index::Raw { raw, verify }
                }
                // A version nexo does not know: gix decodes it whole.
                None => Index::Gix(Box::new(
                    self.repo
                        .open_index()
                        .map_err(|e| git_err("cannot read git's index", e))?,
                )),
            },
            false => Index::Raw {
                raw: Arc::new(index::RawIndex::empty(hash_len)),
                verify: None,
            },
        };
        if let Index::Gix(file) = &index
            && file.is_sparse()
        {
            return Err(Error::repo(
                "this repository uses a sparse index, which nexo cannot update safely yet: run `git config index.sparse false` (or `git sparse-checkout disable`), or pass --no-commit",
            ));
        }
        Ok(CommitPlan::Commit { lock, index })
    }

    /// Carries out `plan`: commits `paths` (relative, `/`-separated, under
    /// `.nexo/`) plus any left pending by earlier writes, or records them
    /// as pending when the plan says not to commit.
    ///
    /// Everything is recorded as pending *before* the commit starts, so a
    /// process killed at any point of it leaves the next command the full
    /// list to commit and to bring the index up to date for. Once files
    /// are written this never fails: a commit that cannot be made is
    /// reported in the answer (`committed: false` and why), because the
    /// change is on disk and a caller that retried would write it twice.
    pub fn finish(&self, plan: CommitPlan, paths: &[String], message: &str) -> Result<CommitInfo> {
        self.add_pending(paths)?;
        let (lock, index) = match plan {
            CommitPlan::Commit { lock, index } => (lock, index),
            CommitPlan::Skip { reason } => return Ok(CommitInfo::pending(Some(reason))),
        };
        if self.commits_in_batches(&index) {
            return self.finish_in_batches(lock, index, message);
        }
        let all = self.read_pending();
        // If HEAD's .nexo had changed since views were last known current
        // (a `git pull` between this command's refresh and its commit),
        // other runs' views may be stale: leave them for the next refresh.
        let views_current = self.seen_tree() == Some(self.nexo_tree()?);
        crate::trace::crash_point("before-commit");
        let made = self.commit_paths(lock, index, &all, message, None);
        // Only a commit carrying nexo's trailers is amended.
        let may_fold = self.coalesce && message::is_nexos(message);
        Ok(self.landed(made, views_current, may_fold))
    }

    /// What a commit attempt made of a change already written: committed
    /// (only then may the pending list go), or left pending, with why.
    fn landed(
        &self,
        made: Result<Option<String>>,
        views_current: bool,
        may_fold: bool,
    ) -> CommitInfo {
        match made {
            Ok(id) => {
                self.clear_pending();
                if views_current {
                    self.mark_seen();
                }
                CommitInfo {
                    may_fold: may_fold && id.is_some(),
                    ..CommitInfo::made(id)
                }
            }
            Err(e) => CommitInfo::pending(Some(format!(
                "{}. The change is written to .nexo/ and will be committed by the next nexo command or `nexo commit`",
                e.message_with_causes()
            ))),
        }
    }

    fn head_tree(&self) -> Result<Option<gix::Tree<'_>>> {
        let mut head = self
            .repo
            .head()
            .map_err(|e| git_err("cannot read HEAD", e))?;
        if head.is_unborn() {
            return Ok(None);
        }
        let commit = head
            .peel_to_commit()
            .map_err(|e| git_err("cannot read HEAD's commit", e))?;
        commit
            .tree()
            .map(Some)
            .map_err(|e| git_err("cannot read HEAD's tree", e))
    }

    fn committer(&self) -> Result<gix::actor::Signature> {
        identity::committer(&self.repo.config_snapshot())?.ok_or_else(|| {
            Error::repo(
                "no git identity is configured, so nexo cannot commit; nothing was written",
            )
            .with_hint(
                "run `git config user.name \"Your Name\"` and `git config user.email you@example.com` (or set GIT_COMMITTER_NAME/GIT_COMMITTER_EMAIL), or pass --no-commit",
            )
        })
    }

    /// Makes one commit holding the working tree's content of `paths` on top
    /// of HEAD, and brings the index entries of `paths` up to date with it.
    /// Returns `None` when HEAD already has exactly that content.
    fn commit_paths(
        &self,
        lock: IndexLock,
        index: Index,
        paths: &[String],
        message: &str,
        onto: Option<replay::Onto>,
    ) -> Result<Option<String>> {
        let sig = self.committer()?;
        // The blob ids are computed here; the objects are written once the
        // index checksum is under way on the other core.
        let (contents, blobs) = self.read_paths(paths, None)?;
        let edits = Edits::of(&blobs);
        let (updates, removals) = self.index_changes(&blobs)?;
        let commit = || -> Result<Option<gix::ObjectId>> {
            self.write_held(&contents, &blobs)?;
            crate::trace::mark("blobs written");
            let mut time = gix::date::parse::TimeBuf::default();
            match onto {
                Some(onto) => self.commit_onto(&edits, sig.to_ref(&mut time), message, onto),
                None => self.commit_tree(&edits, sig.to_ref(&mut time), message, None),
            }
        };
        let mut out = BufWriter::with_capacity(256 * 1024, lock);
        let (committed, stamp) = match index {
            Index::Raw { raw, verify } => {
                let (committed, hash) =
                    self.write_raw_index(&mut out, &raw, verify, &updates, &removals, commit)?;
                (committed, Some(hash))
            }
            Index::Split { split, max_percent } => {
                let mut scratch = Vec::new();
                let written = split.apply(&updates, &removals, max_percent, &mut scratch)?;
                if written.new_base.is_none() {
                    freshen(split.base_path());
                }
                let (committed, hash) =
                    self.write_pieces(&mut out, &written.own, &|_| {}, commit)?;
                (committed, Some(hash))
            }
            Index::Gix(mut file) => {
                let committed = commit()?;
                update_gix_index(&mut file, &updates, &removals);
                file.write_to(&mut out, gix::index::write::Options::default())
                    .map_err(|e| git_err("cannot write git's index", e))?;
                (committed, None)
            }
        };
        self.land_index(out, stamp)?;
        Ok(committed.map(|id| id.to_string()))
    }

    /// Writes the blobs `read_paths` held (new ones in a small commit).
    fn write_held(
        &self,
        contents: &[Option<Vec<u8>>],
        blobs: &[(&str, Option<gix::ObjectId>)],
    ) -> Result<()> {
        let ids = blobs.iter().filter_map(|(_, id)| *id);
        for (bytes, id) in contents.iter().zip(ids) {
            if let Some(bytes) = bytes {
                self.write_loose(gix::objs::Kind::Blob, bytes, Some(id))?;
            }
        }
        Ok(())
    }

    /// The content of each path as it is on disk now (`None` when git has
    /// that blob already), and its blob id (`None`: the path is gone).
    #[allow(clippy::type_complexity)]
    fn read_paths<'p>(
        &self,
        paths: &'p [String],
        mut pack: Option<&mut pack::Packs>,
    ) -> Result<(Vec<Option<Vec<u8>>>, Vec<(&'p str, Option<gix::ObjectId>)>)> {
        let kind = self.repo.object_hash();
        let mut contents = Vec::with_capacity(paths.len());
        let mut blobs = Vec::with_capacity(paths.len());
        for rel in paths {
            debug_assert!(rel.starts_with(NEXO_DIR));
            match nofollow::read(&self.workdir, Path::new(rel))? {
                Some(bytes) => {
                    let id = gix::objs::compute_hash(kind, gix::objs::Kind::Blob, &bytes)
                        .map_err(|e| git_err("cannot hash a blob", e))?;
                    blobs.push((rel.as_str(), Some(id)));
                    // A blob git has already (a file moved, a view that
                    // did not change) is not held: moving 100,000 runs
                    // must not hold every file in memory at once. Nor is a
                    // new one in a large commit (views regenerated in
                    // every run): it is written now, not beside the
                    // index's checksum, which only a small commit waits on.
                    // Without a refresh: on a miss gix would look again at
                    // every pack on disk, and every new view is a miss (400,000
                    // when every view is regenerated). A pack added since the
                    // repository was opened costs at worst a duplicate.
                    let new = !self.repo.objects.exists_without_refresh(&id);
                    let held = new && pack.is_none() && paths.len() <= HOLD_AT_MOST;
                    match (new && !held, pack.as_deref_mut()) {
                        (true, Some(pack)) => pack.add_blob(id, &bytes)?,
                        (true, None) => {
                            self.write_loose(gix::objs::Kind::Blob, &bytes, Some(id))?;
                        }
                        (false, _) => {}
                    }
                    contents.push(held.then_some(bytes));
                }
                None => blobs.push((rel.as_str(), None)),
            }
        }
        Ok((contents, blobs))
    }

    /// The index entries of our paths: the blob ids and the files' stat
    /// data, so git sees them as unchanged; and the paths that are gone.
    #[allow(clippy::type_complexity)]
    fn index_changes<'p>(
        &self,
        blobs: &[(&'p str, Option<gix::ObjectId>)],
    ) -> Result<(Vec<index::NewEntry<'p>>, Vec<&'p str>)> {
        let mut updates = Vec::with_capacity(blobs.len());
        let mut removals = Vec::new();
        for (rel, id) in blobs {
            let Some(id) = id else {
                removals.push(*rel);
                continue;
            };
            let abs = self.workdir.join(rel);
            let meta = gix::index::fs::Metadata::from_path_no_follow(&abs)
                .map_err(|e| Error::io("stat", &abs, e))?;
            let stat = gix::index::entry::Stat::from_fs(&meta)
                .map_err(|e| git_err("cannot read file times", e))?;
            updates.push(index::NewEntry {
                path: rel,
                id: *id,
                stat,
            });
        }
        Ok((updates, removals))
    }

    /// Builds the tree and commit on top of HEAD and moves HEAD by
    /// compare-and-swap, rebuilding when another process moved it first.
    /// `prepare` rewrites HEAD's tree before `edits` apply (folders moved).
    fn commit_tree(
        &self,
        edits: &Edits,
        sig: gix::actor::SignatureRef<'_>,
        message: &str,
        prepare: Option<&dyn Fn(gix::ObjectId) -> Result<gix::ObjectId>>,
    ) -> Result<Option<gix::ObjectId>> {
        for attempt in 0.. {
            let head_id = self.head_id()?;
            let base_tree = self.root_of(head_id)?;
            let prepared = match prepare {
                Some(prepare) => prepare(base_tree)?,
                None => base_tree,
            };
            let tree = self.edit_tree(prepared, edits)?;
            if tree == base_tree && head_id.is_some() {
                return Ok(None);
            }
            // HEAD's tree plus this change, on HEAD's parents: the amended
            // commit holds everything HEAD held.
            let refs = self.refs_fingerprint()?;
            // Only a change of nexo's own trailers joins the one before it:
            // a commit without (an upgrade of the layout, a repair) stays
            // one of its own, as its message says.
            let amend = match message::is_nexos(message) {
                true => self.amendable(head_id, &refs)?,
                false => None,
            };
            match self.commit_and_move_head(sig, message, tree, head_id, amend) {
                Ok(id) => {
                    self.record_commit(id, &refs);
                    return Ok(Some(id));
                }
                Err(e) => {
                    // Someone moved the branch (a user's commit in another
                    // worktree, say): rebuild on the new HEAD.
                    if attempt + 1 < CAS_ATTEMPTS && self.head_id()? != head_id {
                        continue;
                    }
                    return Err(e);
                }
            }
        }
        unreachable!("the loop returns")
    }

    /// Writes the commit object and moves HEAD (its branch) to it by
    /// compare-and-swap, recording the intent first so that a ref lock
    /// left by a kill in between is recognised by the next command.
    fn commit_and_move_head(
        &self,
        sig: gix::actor::SignatureRef<'_>,
        message: &str,
        tree: gix::ObjectId,
        head_id: Option<gix::ObjectId>,
        amend: Option<coalesce::Amend>,
    ) -> Result<gix::ObjectId> {
        let (message, parents, action) = match amend {
            Some(a) => (
                message::sanitize(&message::coalesce(&a.message, message)),
                a.parents,
                "commit (amend)",
            ),
            None => (
                message::sanitize(message),
                head_id.into_iter().collect(),
                "commit",
            ),
        };
        let commit = NewCommit {
            message: &message,
            tree,
            parents,
            action,
        };
        self.write_and_move_head(sig, commit, head_id)
    }

    /// Writes `commit` and moves HEAD from `expected` to it (`None`: HEAD
    /// must not exist yet).
    fn write_and_move_head(
        &self,
        sig: gix::actor::SignatureRef<'_>,
        new: NewCommit<'_>,
        expected: Option<gix::ObjectId>,
    ) -> Result<gix::ObjectId> {
        use gix::refs::transaction::{PreviousValue, RefEdit};
        let commit = gix::objs::Commit {
            message: new.message.into(),
            tree: new.tree,
            author: sig.into(),
            committer: sig.into(),
            encoding: None,
            parents: new.parents.into(),
            extra_headers: Default::default(),
        };
        let id = self.write_object(&commit)?;
        crate::trace::crash_point("commit-written");
        let expected = match expected {
            Some(previous) => PreviousValue::MustExistAndMatch(previous.into()),
            None => PreviousValue::MustNotExist,
        };
        let log =
            gix::reference::log::message(new.action, new.message.into(), commit.parents.len());
        let name: gix::refs::FullName = "HEAD".try_into().expect("HEAD is a valid name");
        let edit = RefEdit::update(name, id, expected, log).with_deref(true);
        let record = reflock::Intent::record(self.git_dir(), &self.ref_locks(), id)?;
        let moved = self.repo.edit_references_as(Some(edit), Some(sig));
        crate::trace::crash_point("head-moved");
        record.clear();
        moved.map_err(|e| git_err("cannot move HEAD to nexo's commit", e))?;
        Ok(id)
    }

    /// The tree of commit `head`; the empty tree for none (unborn).
    fn root_of(&self, head: Option<gix::ObjectId>) -> Result<gix::ObjectId> {
        match head {
            Some(id) => self.tree_of(id),
            None => Ok(gix::ObjectId::empty_tree(self.repo.object_hash())),
        }
    }

    pub(crate) fn head_id(&self) -> Result<Option<gix::ObjectId>> {
        let head = self
            .repo
            .head()
            .map_err(|e| git_err("cannot read HEAD", e))?;
        Ok(head.id().map(|id| id.detach()))
    }
}

/// A commit to write: its message, tree and parents, and the reflog's word
/// for it.
struct NewCommit<'a> {
    message: &'a str,
    tree: gix::ObjectId,
    parents: Vec<gix::ObjectId>,
    action: &'static str,
}

/// Our entries in an index decoded whole by gix (version 4).
fn update_gix_index(
    file: &mut gix::index::File,
    updates: &[index::NewEntry<'_>],
    removals: &[&str],
) {
    // A conflict on one of our paths (stages 1 to 3) ends with our entry,
    // as in versions 2 and 3: left beside it, git would see the file
    // still unmerged, one stage holding our new blob.
    let updated: std::collections::HashSet<&BStr> = updates
        .iter()
        .map(|u| u.path.as_bytes().as_bstr())
        .collect();
    file.remove_entries(|_, p, e| e.stage_raw() != 0 && updated.contains(p));
    for u in updates {
        let path: &BStr = u.path.as_bytes().as_bstr();
        match file.entry_index_by_path(path) {
            Ok(i) => {
                let entry = &mut file.entries_mut()[i];
                entry.id = u.id;
                entry.stat = u.stat;
                entry.mode = gix::index::entry::Mode::FILE;
            }
            Err(_) => file.dangerously_push_entry(
                u.stat,
                u.id,
                gix::index::entry::Flags::empty(),
                gix::index::entry::Mode::FILE,
                path,
            ),
        }
    }
    for r in removals {
        let path: &BStr = r.as_bytes().as_bstr();
        file.remove_entries(|_, p, _| p == path);
    }
    file.sort_entries();
    // The cached trees would still describe the old .nexo/ and make the
    // user's next commit revert ours.
    file.remove_tree();
}
