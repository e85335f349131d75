//! The git layer: finding the repository and turning a write into exactly
//! one commit that touches nothing but `.nexo/`.
//!
//! The new tree is HEAD's tree with only our paths replaced, so the user's
//! staged and unstaged work never enters a nexo commit. The branch moves by
//! compare-and-swap. Afterwards the index entries of our paths are updated
//! (and its cached trees dropped), so `git status` is clean for `.nexo/` and
//! the user's next `git commit` neither reverts nor re-adds our change.
//! git's `index.lock` is held from before the ref moves until the index is
//! written, so a concurrent `git commit` cannot interleave.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gix::bstr::{BStr, ByteSlice};
use gix::lock::acquire::Fail;

use crate::error::{Error, ErrorKind, Result};

mod bookkeeping;
mod index;
mod tree;

use crate::response::CommitInfo;
use crate::store::NEXO_DIR;
use tree::Edits;

/// How long we wait for git's own `index.lock` (a user's `git add` or
/// `git commit` in flight) before giving up with nothing half-done.
const INDEX_LOCK_WAIT: Duration = Duration::from_secs(3);
/// How often we rebuild on a moved HEAD before giving up.
const CAS_ATTEMPTS: usize = 5;

/// What `plan_commit` decided: either git's index lock and the index read
/// under it, or why this write is not committed.
pub struct CommitPlan {
    held: Option<(gix::lock::File, Index)>,
    skip_reason: Option<String>,
}

/// Reserves the new index's blocks before writing it. On ext4, renaming a
/// file with delayed-allocation blocks over an existing one forces them to
/// be allocated and flushed at rename time (`auto_da_alloc`); with the
/// blocks reserved up front, the rename is a rename. Best effort.
#[cfg(target_os = "linux")]
fn preallocate(out: &mut BufWriter<gix::lock::File>, len: usize) {
    use std::os::fd::AsRawFd;
    let _ = out.get_mut().with_mut(|f| {
        // SAFETY: a valid descriptor we own; failure only loses the speed-up.
        unsafe { libc::posix_fallocate(f.as_raw_fd(), 0, len as libc::off_t) };
        Ok(())
    });
}

#[cfg(not(target_os = "linux"))]
fn preallocate(_: &mut BufWriter<gix::lock::File>, _: usize) {}

/// git's index as read under its lock.
enum Index {
    /// Versions 2 and 3, updated in place (see `index`), with the check of
    /// its checksum running on another core when it needs one.
    Raw {
        raw: Arc<index::RawIndex>,
        verify: Option<std::thread::JoinHandle<Result<bool>>>,
    },
    /// Version 4, decoded whole.
    Gix(Box<gix::index::File>),
}

impl CommitPlan {
    fn skip(reason: &str) -> CommitPlan {
        CommitPlan {
            held: None,
            skip_reason: Some(reason.to_string()),
        }
    }
}

pub struct Repo {
    repo: gix::Repository,
    workdir: PathBuf,
}

fn git_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::repo(format!("{what}: {e}"))
}

impl Repo {
    /// Finds the repository that contains `dir`, as git would.
    pub fn discover(dir: &Path) -> Result<Repo> {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if !dir.exists() {
            return Err(Error::repo(format!("{} does not exist", dir.display())));
        }
        let repo = gix::discover(dir).map_err(|_| {
            Error::repo(format!(
                "{} is not inside a git repository: nexo keeps runs in a repository's .nexo/ folder; run `git init` first or pass -C <repo>",
                dir.display()
            ))
        })?;
        let Some(workdir) = repo.workdir().map(Path::to_path_buf) else {
            return Err(Error::repo(format!(
                "{} is a bare repository: nexo needs a working tree to keep .nexo/ in; use a clone with a checkout",
                repo.git_dir().display()
            )));
        };
        Ok(Repo { repo, workdir })
    }

    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    pub fn git_dir(&self) -> &Path {
        self.repo.git_dir()
    }

    /// Our writer lock lives in the (per-worktree) git dir, never in the
    /// working tree, so it can never be committed.
    pub fn lock_path(&self) -> PathBuf {
        self.repo.git_dir().join("nexo.lock")
    }

    /// The committer name, used as the default actor.
    pub fn user_name(&self) -> Option<String> {
        self.repo
            .committer()
            .and_then(|s| s.ok())
            .map(|s| s.name.to_str_lossy().into_owned())
            .filter(|n| !n.trim().is_empty())
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

    /// Decides, before anything is written, whether this write will be
    /// committed; if so, takes git's index lock and checks everything that
    /// could refuse the commit, so a refusal leaves nothing written.
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
        let index_path = self.repo.index_path();
        // git's own lock first: nothing may change the index or move the
        // branch under us between reading HEAD and writing the index.
        let lock = gix::lock::File::acquire_to_update_resource(
            &index_path,
            Fail::AfterDurationWithBackoff(INDEX_LOCK_WAIT),
            None,
            0,
        )
        .map_err(|e| {
            Error::new(
                ErrorKind::Busy,
                format!(
                    "git's index is locked ({}.lock): another git command is running, or one crashed and left the lock behind (then remove the file). Nothing was written. ({e})",
                    index_path.display()
                ),
            )
        })?;
        let hash_len = self.repo.object_hash().len_in_bytes();
        let index = match index_path.exists() {
            true => match index::RawIndex::open(&index_path, hash_len)? {
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
                            index::checksum(kind, &[raw.content()])
                                .map(|h| h.as_bytes() == raw.stored_checksum())
                        })
                    });
                    Index::Raw { raw, verify }
                }
                // Version 4 compresses paths against their neighbours:
                // decode it whole with gix.
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
        Ok(CommitPlan {
            held: Some((lock, index)),
            skip_reason: None,
        })
    }

    /// Carries out `plan`: commits `paths` (relative, `/`-separated, under
    /// `.nexo/`) plus any left pending by earlier writes, or records them
    /// as pending when the plan says not to commit.
    pub fn finish(&self, plan: CommitPlan, paths: &[String], message: &str) -> Result<CommitInfo> {
        let Some((lock, index)) = plan.held else {
            self.add_pending(paths)?;
            return Ok(CommitInfo {
                commit: None,
                pending_reason: plan.skip_reason,
            });
        };
        let mut all: Vec<String> = self.read_pending();
        for p in paths {
            if !all.contains(p) {
                all.push(p.clone());
            }
        }
        match self.commit_paths(lock, index, &all, message) {
            Ok(id) => {
                // Only after the commit landed may the pending list go.
                self.clear_pending();
                self.mark_seen();
                Ok(CommitInfo {
                    commit: id,
                    pending_reason: None,
                })
            }
            Err(e) => {
                self.add_pending(paths)?;
                Err(Error::new(
                    e.kind,
                    format!(
                        "{}. The change is written to .nexo/ and will be committed by the next nexo command or `nexo commit`",
                        e.message
                    ),
                ))
            }
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

    fn committer(&self) -> Result<gix::actor::SignatureRef<'_>> {
        match self.repo.committer() {
            Some(Ok(sig)) => Ok(sig),
            Some(Err(e)) => Err(git_err("cannot read the committer date", e)),
            None => Err(Error::repo(
                "no git identity is configured, so nexo cannot commit: run `git config user.name \"Your Name\"` and `git config user.email you@example.com` (or set GIT_COMMITTER_NAME/GIT_COMMITTER_EMAIL), or pass --no-commit",
            )),
        }
    }

    /// Makes one commit holding the working tree's content of `paths` on top
    /// of HEAD. Returns `None` when HEAD already has exactly that content.
    fn commit_paths(
        &self,
        lock: gix::lock::File,
        index: Index,
        paths: &[String],
        message: &str,
    ) -> Result<Option<String>> {
        let sig = self.committer()?;
        // Content of each path as it is on disk now. The blob ids are
        // computed here; the objects are written once the index checksum
        // is under way on the other core.
        let kind = self.repo.object_hash();
        let mut contents = Vec::with_capacity(paths.len());
        let mut blobs = Vec::with_capacity(paths.len());
        for rel in paths {
            debug_assert!(rel.starts_with(NEXO_DIR));
            let abs = self.workdir.join(rel);
            match std::fs::read(&abs) {
                Ok(bytes) => {
                    let id = gix::objs::compute_hash(kind, gix::objs::Kind::Blob, &bytes)
                        .map_err(|e| git_err("cannot hash a blob", e))?;
                    blobs.push((rel.as_str(), Some(id)));
                    contents.push(bytes);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    blobs.push((rel.as_str(), None))
                }
                Err(e) => return Err(Error::io("read", &abs, e)),
            }
        }
        let write_blobs = || -> Result<()> {
            for bytes in &contents {
                self.repo
                    .write_blob(bytes)
                    .map_err(|e| git_err("cannot write a blob", e))?;
            }
            crate::trace::mark("blobs written");
            Ok(())
        };
        let mut edits = Edits::default();
        for (rel, id) in &blobs {
            edits.insert(rel, *id);
        }

        // The index entries of our paths: the blob ids and the files' stat
        // data, so git sees them as unchanged.
        let mut updates = Vec::with_capacity(blobs.len());
        let mut removals = Vec::new();
        for (rel, id) in &blobs {
            match id {
                Some(id) => {
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
                None => removals.push(*rel),
            }
        }

        let mut out = BufWriter::with_capacity(256 * 1024, lock);
        let (committed, stamp) = match index {
            Index::Raw { raw, verify } => {
                let mut scratch = Vec::new();
                let pieces = raw.splice(&format!("{NEXO_DIR}/"), &updates, &removals, &mut scratch);
                let skip = self.skip_index_hash();
                let total = pieces.iter().map(|p| p.len()).sum::<usize>() + kind.len_in_bytes();
                preallocate(&mut out, total);
                // The new index's content does not depend on the commit, so
                // its checksum is computed on the other core while this one
                // builds the commit and writes the file.
                let (committed, hash) = std::thread::scope(|scope| -> Result<_> {
                    let hasher = (!skip).then(|| scope.spawn(|| index::checksum(kind, &pieces)));
                    write_blobs()?;
                    let committed = self.commit_tree(&edits, sig, message)?;
                    crate::trace::mark("committed");
                    for p in &pieces {
                        out.write_all(p)
                            .map_err(|e| git_err("cannot write git's index", e))?;
                    }
                    let hash = match hasher {
                        Some(h) => h.join().expect("checksum thread does not panic")?,
                        None => gix::ObjectId::null(kind),
                    };
                    Ok((committed, hash))
                })?;
                out.write_all(hash.as_bytes())
                    .map_err(|e| git_err("cannot write git's index", e))?;
                // A damaged index must not be blessed with a fresh checksum:
                // the new one is only put in place if the old one held.
                if let Some(v) = verify
                    && !v.join().expect("checksum thread does not panic")?
                {
                    return Err(Error::repo(
                        "git's index fails its checksum, so nexo left it untouched (its commit was made). Run `git status` to see git's own diagnosis; `rm .git/index && git reset` rebuilds it from HEAD",
                    ));
                }
                (committed, Some(hash))
            }
            Index::Gix(mut file) => {
                write_blobs()?;
                let committed = self.commit_tree(&edits, sig, message)?;
                for u in &updates {
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
                for r in &removals {
                    let path: &BStr = r.as_bytes().as_bstr();
                    file.remove_entries(|_, p, _| p == path);
                }
                file.sort_entries();
                // The cached trees would still describe the old .nexo/ and
                // make the user's next commit revert ours.
                file.remove_tree();
                file.write_to(&mut out, gix::index::write::Options::default())
                    .map_err(|e| git_err("cannot write git's index", e))?;
                (committed, None)
            }
        };
        let lock = out
            .into_inner()
            .map_err(|e| git_err("cannot write git's index", e.error()))?;
        lock.commit()
            .map_err(|e| git_err("cannot replace git's index", e.error))?;
        if let Some(hash) = stamp {
            self.remember_index(hash);
        }
        crate::trace::mark("index written");
        Ok(committed.map(|id| id.to_string()))
    }

    /// Builds the tree and commit on top of HEAD and moves HEAD by
    /// compare-and-swap, rebuilding when another process moved it first.
    fn commit_tree(
        &self,
        edits: &Edits,
        sig: gix::actor::SignatureRef<'_>,
        message: &str,
    ) -> Result<Option<gix::ObjectId>> {
        for attempt in 0.. {
            let head_id = self.head_id()?;
            let base_tree = match head_id {
                Some(id) => self
                    .repo
                    .find_commit(id)
                    .and_then(|c| c.tree_id().map(|t| t.detach()))
                    .map_err(|e| git_err("cannot read HEAD's commit", e))?,
                None => gix::ObjectId::empty_tree(self.repo.object_hash()),
            };
            let tree = self.edit_tree(base_tree, edits)?;
            if tree == base_tree && head_id.is_some() {
                return Ok(None);
            }
            match self
                .repo
                .commit_as(sig, sig, "HEAD", message, tree, head_id)
            {
                Ok(id) => return Ok(Some(id.detach())),
                Err(e) => {
                    // Someone moved the branch (a user's commit in another
                    // worktree, say): rebuild on the new HEAD.
                    if attempt + 1 < CAS_ATTEMPTS && self.head_id()? != head_id {
                        continue;
                    }
                    return Err(git_err("cannot move HEAD to nexo's commit", e));
                }
            }
        }
        unreachable!("the loop returns")
    }

    /// `index.skipHash`: the user asked git not to checksum the index.
    fn skip_index_hash(&self) -> bool {
        self.repo
            .config_snapshot()
            .boolean("index.skipHash")
            .unwrap_or(false)
    }

    fn head_id(&self) -> Result<Option<gix::ObjectId>> {
        let head = self
            .repo
            .head()
            .map_err(|e| git_err("cannot read HEAD", e))?;
        Ok(head.id().map(|id| id.detach()))
    }
}
