//! Runs on other refs, read from git's objects: every local branch, every
//! remote-tracking branch and every linked worktree's HEAD, with no
//! checkout and no working tree touched. A run is a folder of the
//! `.nexo/runs` tree of a ref's commit; its history is the blob (and
//! sealed segments) in that folder.

use std::collections::HashMap;
use std::path::PathBuf;

use gix::ObjectId;

use super::{Repo, git_err};
use crate::core::error::Result;
use crate::store::{Flow, NEXO_DIR};

/// Runs found where two runs trees' folders differ past which the base
/// tree's runs are listed whole rather than each looked up in it: a
/// lookup reads up to three trees, a listing every leaf once.
const LOOKUPS: usize = 64;

/// What [`Repo::runs_differing`] read of a base runs tree, kept across
/// calls with the same base: its folders as decoded, and its runs when
/// they were listed whole.
#[derive(Default)]
pub struct BaseRuns {
    trees: HashMap<ObjectId, HashMap<Vec<u8>, ObjectId>>,
    all: Option<HashMap<String, ObjectId>>,
}

/// One ref that may hold runs.
#[derive(Debug, Clone)]
pub struct NexoRef {
    /// As people name it: `feature`, `origin/main`, or `HEAD of <path>`
    /// for a worktree on a detached HEAD.
    pub name: String,
    /// The worktree where it is checked out, if one is (this one's
    /// included).
    pub worktree: Option<PathBuf>,
    /// Whether it is the branch checked out here.
    pub current: bool,
    /// The commit it points at.
    pub commit: ObjectId,
}

/// The largest blob nexo reads from a ref: far above any honest history
/// (a million events), far below what would exhaust a CI runner.
pub const MAX_BLOB_BYTES: u64 = 512 << 20;

/// A path in a commit's tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileAt {
    Missing,
    /// A regular file: its blob id and bytes.
    File(ObjectId, Vec<u8>),
    /// Something else where a file belongs: a link, a folder, a submodule.
    NotAFile(&'static str),
}

/// The commit id a successful git command printed, if it did.
fn commit_printed(out: &std::process::Output) -> Option<ObjectId> {
    let hex = String::from_utf8_lossy(&out.stdout);
    out.status
        .success()
        .then(|| ObjectId::from_hex(hex.trim().as_bytes()).ok())
        .flatten()
}

impl Repo {
    /// The commit `spec` names (a branch, `origin/main`, a hash), through
    /// the user's git, which knows every form of revision.
    pub fn commit_of(&self, spec: &str) -> Result<Option<ObjectId>> {
        if spec.starts_with('-') || spec.contains(['\0', '\n']) {
            return Ok(None);
        }
        let out = self.cli().run(&[
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &format!("{spec}^{{commit}}"),
        ])?;
        Ok(commit_printed(&out))
    }

    /// The best common ancestor of two commits, if they have one (a
    /// shallow clone may not know it).
    pub fn merge_base(&self, a: ObjectId, b: ObjectId) -> Result<Option<ObjectId>> {
        let out = self
            .cli()
            .run(&["merge-base", &a.to_string(), &b.to_string()])?;
        Ok(commit_printed(&out))
    }

    /// Whether commit `a` is `b` or one of its ancestors.
    pub fn is_ancestor(&self, a: ObjectId, b: ObjectId) -> Result<bool> {
        let (a, b) = (a.to_string(), b.to_string());
        let out = self.cli().run(&["merge-base", "--is-ancestor", &a, &b])?;
        Ok(out.status.success())
    }

    /// Where the line of work that `head` carries began on `base`: the
    /// commit of `base`'s history that `head`'s first-parent chain first
    /// reaches. Merging the base into the branch along the way (GitHub's
    /// "update branch") moves `git merge-base` forward, not this; for a
    /// merge of the branch into the base (a pull request's merge commit,
    /// whose first parent is the base) the branch's side is followed.
    /// `None` when the chain never reaches the base (no common history).
    pub fn branch_origin(&self, head: ObjectId, base: ObjectId) -> Result<Option<ObjectId>> {
        let parents = self.parents_of(head)?;
        let start = match parents.as_slice() {
            [first, second, ..]
                if self.is_ancestor(*first, base)? && !self.is_ancestor(*second, base)? =>
            {
                *second
            }
            _ => head,
        };
        let out = self.cli().run(&[
            "rev-list",
            "--first-parent",
            &start.to_string(),
            &format!("^{base}"),
            "--",
        ])?;
        if !out.status.success() {
            return Ok(None);
        }
        let listed = String::from_utf8_lossy(&out.stdout);
        let Some(oldest) = listed.lines().last() else {
            // The branch adds nothing the base does not have.
            return Ok(Some(start));
        };
        let oldest = ObjectId::from_hex(oldest.trim().as_bytes())
            .map_err(|e| git_err("git rev-list printed no commit id", e))?;
        Ok(self.parents_of(oldest)?.first().copied())
    }

    fn parents_of(&self, commit: ObjectId) -> Result<Vec<ObjectId>> {
        crate::memory::read_one();
        let c = self
            .repo
            .find_commit(commit)
            .map_err(|e| git_err("cannot read a commit", e))?;
        Ok(c.parent_ids().map(|p| p.detach()).collect())
    }

    /// The commit HEAD points at (`None` before the first commit).
    pub fn head_commit(&self) -> Result<Option<ObjectId>> {
        self.head_id()
    }

    /// The folder (tree) at `path` in `commit`'s tree; `None` when there
    /// is none there, or something else (a link is never followed). An
    /// error when this clone does not have the commit.
    pub fn folder_at(&self, commit: ObjectId, path: &str) -> Result<Option<ObjectId>> {
        Ok(self
            .entry_at(commit, path)?
            .filter(|(mode, _)| mode.is_tree())
            .map(|(_, id)| id))
    }

    /// Every path HEAD holds below folder `path` that is not a folder
    /// (files, links, submodules), as `path/…`.
    pub fn paths_in_head(&self, path: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let Some(head) = self.head_id()? else {
            return Ok(out);
        };
        let mut todo: Vec<(String, ObjectId)> = self
            .folder_at(head, path)?
            .map(|id| (path.to_string(), id))
            .into_iter()
            .collect();
        while let Some((at, id)) = todo.pop() {
            let tree = self
                .repo
                .find_tree(id)
                .map_err(|e| git_err("cannot read a tree", e))?;
            for entry in tree.iter() {
                let entry = entry.map_err(|e| git_err("cannot decode a tree", e))?;
                let below = format!("{at}/{}", entry.filename());
                match entry.mode().is_tree() {
                    true => todo.push((below, entry.object_id())),
                    false => out.push(below),
                }
            }
        }
        Ok(out)
    }

    /// The file at `path` in `commit`'s tree, read from git's objects: no
    /// checkout, and a link is reported, never followed.
    pub fn file_at(&self, commit: ObjectId, path: &str) -> Result<FileAt> {
        let Some((mode, id)) = self.entry_at(commit, path)? else {
            return Ok(FileAt::Missing);
        };
        if mode.is_link() {
            return Ok(FileAt::NotAFile("a symbolic link"));
        }
        if mode.is_tree() {
            return Ok(FileAt::NotAFile("a folder"));
        }
        if !mode.is_blob() {
            return Ok(FileAt::NotAFile("a submodule"));
        }
        Ok(FileAt::File(id, self.blob(id)?))
    }

    /// The mode and object of `path` in `commit`'s tree, if it has one.
    fn entry_at(
        &self,
        commit: ObjectId,
        path: &str,
    ) -> Result<Option<(gix::object::tree::EntryMode, ObjectId)>> {
        crate::memory::read_one();
        let tree = self
            .repo
            .find_commit(commit)
            .and_then(|c| c.tree())
            .map_err(|e| git_err("cannot read a commit's tree", e))?;
        let entry = tree
            .lookup_entry_by_path(path)
            .map_err(|e| git_err("cannot read a commit's tree", e))?;
        Ok(entry.map(|e| (e.mode(), e.object_id())))
    }

    /// The names in folder `path` of `commit`'s tree, each with what it
    /// is when it is not a regular file (a link, a folder, a submodule);
    /// empty when there is no such folder. Nothing is followed.
    pub fn names_at(
        &self,
        commit: ObjectId,
        path: &str,
    ) -> Result<Vec<(String, Option<&'static str>)>> {
        let tree = self
            .repo
            .find_commit(commit)
            .and_then(|c| c.tree())
            .map_err(|e| git_err("cannot read a commit's tree", e))?;
        let Some(entry) = tree
            .lookup_entry_by_path(path)
            .map_err(|e| git_err("cannot read a commit's tree", e))?
        else {
            return Ok(Vec::new());
        };
        if !entry.mode().is_tree() {
            return Ok(Vec::new());
        }
        let folder = self
            .repo
            .find_tree(entry.object_id())
            .map_err(|e| git_err("cannot read a tree", e))?;
        let decoded = folder
            .decode()
            .map_err(|e| git_err("cannot decode a tree", e))?;
        Ok(decoded
            .entries
            .iter()
            .map(|e| {
                let kind = match e.mode {
                    m if m.is_link() => Some("a symbolic link"),
                    m if m.is_tree() => Some("a folder"),
                    m if m.is_commit() => Some("a submodule"),
                    _ => None,
                };
                (e.filename.to_string(), kind)
            })
            .collect())
    }

    /// Every local and remote-tracking branch, with the worktree where
    /// each is checked out. Reads refs only: no object.
    pub fn nexo_refs(&self) -> Result<Vec<NexoRef>> {
        let worktrees = self.worktree_heads();
        let current = self
            .repo
            .head_name()
            .map_err(|e| git_err("cannot read HEAD", e))?
            .map(|n| n.as_bstr().to_string());
        let platform = self
            .repo
            .references()
            .map_err(|e| git_err("cannot list refs", e))?;
        let mut out = Vec::new();
        let iter = platform.all().map_err(|e| git_err("cannot list refs", e))?;
        for r in iter {
            let Ok(mut r) = r else { continue };
            let full = r.name().as_bstr().to_string();
            let name = match (
                full.strip_prefix("refs/heads/"),
                full.strip_prefix("refs/remotes/"),
            ) {
                (Some(b), _) => b.to_string(),
                (_, Some(remote)) if !remote.ends_with("/HEAD") => remote.to_string(),
                _ => continue,
            };
            let Ok(id) = r.peel_to_id() else { continue };
            let worktree = worktrees
                .iter()
                .find(|(_, head)| head.as_deref() == Some(full.as_str()))
                .map(|(path, _)| path.clone());
            out.push(NexoRef {
                current: current.as_deref() == Some(full.as_str()),
                name,
                worktree,
                commit: id.detach(),
            });
        }
        out.extend(self.detached_worktrees(current.is_none()));
        Ok(out)
    }

    /// The worktrees on a detached HEAD (an agent checking out a commit),
    /// as refs named `HEAD of <path>`; this one's is current when HEAD
    /// here is detached.
    fn detached_worktrees(&self, detached_here: bool) -> Vec<NexoRef> {
        let here = self.workdir.canonicalize().ok();
        let mut out = Vec::new();
        for (path, _) in self
            .worktree_heads()
            .into_iter()
            .filter(|(_, h)| h.is_none())
        {
            let common = self.repo.common_dir();
            let git_dir = match path.canonicalize().ok() == here {
                true => self.repo.git_dir().to_path_buf(),
                false if common.parent() == Some(path.as_path()) => common.to_path_buf(),
                false => match self.worktree_git_dir(&path) {
                    Some(d) => d,
                    None => continue,
                },
            };
            let Some(commit) = std::fs::read_to_string(git_dir.join("HEAD"))
                .ok()
                .and_then(|h| ObjectId::from_hex(h.trim().as_bytes()).ok())
            else {
                continue;
            };
            let current = detached_here && path.canonicalize().ok() == here;
            out.push(NexoRef {
                name: format!("HEAD of {}", path.display()),
                worktree: Some(path),
                current,
                commit,
            });
        }
        out
    }

    /// The git directory of the linked worktree at `path`.
    fn worktree_git_dir(&self, path: &std::path::Path) -> Option<PathBuf> {
        let entries = std::fs::read_dir(self.repo.common_dir().join("worktrees")).ok()?;
        let wanted = path.canonicalize().ok()?;
        entries.flatten().map(|e| e.path()).find(|dir| {
            std::fs::read_to_string(dir.join("gitdir"))
                .ok()
                .and_then(|g| PathBuf::from(g.trim()).parent()?.canonicalize().ok())
                == Some(wanted.clone())
        })
    }

    /// The branch checked out here (`main`), if HEAD is on one.
    pub fn current_branch(&self) -> Option<String> {
        let name = self.repo.head_name().ok()??;
        Some(
            name.as_bstr()
                .to_string()
                .trim_start_matches("refs/heads/")
                .to_string(),
        )
    }

    /// A commit's time and `.nexo/runs` tree (none if it cannot be read).
    pub fn commit_runs(&self, id: ObjectId) -> (i64, Option<ObjectId>) {
        let Ok(commit) = self.repo.find_commit(id) else {
            return (0, None);
        };
        let time = commit.time().map(|t| t.seconds).unwrap_or(0);
        let runs = commit.tree().ok().and_then(|tree| {
            let entry = tree
                .lookup_entry_by_path(format!("{NEXO_DIR}/runs"))
                .ok()??;
            entry.mode().is_tree().then(|| entry.object_id())
        });
        (time, runs)
    }

    /// The tree of `.nexo/archive` at commit `id` (`nexo archive`), when
    /// it is a folder.
    pub fn commit_archive(&self, id: ObjectId) -> Option<ObjectId> {
        let tree = self.repo.find_commit(id).ok()?.tree().ok()?;
        let entry = tree
            .lookup_entry_by_path(crate::core::layout::ARCHIVE_DIR)
            .ok()??;
        entry.mode().is_tree().then(|| entry.object_id())
    }

    /// The run folders of a `.nexo/runs` tree: (run id, folder tree), in
    /// either layout (a branch may not have upgraded): layout 2's two
    /// fan-out levels, and run folders directly in it (layout 1).
    pub fn runs_in(&self, runs: ObjectId) -> Result<Vec<(String, ObjectId)>> {
        let mut out = Vec::new();
        self.runs_below(runs, 2, &mut out)?;
        Ok(out)
    }

    /// The run folders of runs tree `runs` that differ from runs tree
    /// `base`'s, or that `base` lacks: [`Repo::runs_in`] of `runs` less
    /// the runs `base` holds alike. A fan-out folder alike in both is
    /// stepped over, so a branch that moved a run or two costs the
    /// folders down to them, not a listing of every run twice. What is
    /// read of `base` is kept in `seen` for the next call with the same
    /// `base` (many branches off one HEAD).
    pub fn runs_differing(
        &self,
        runs: ObjectId,
        base: ObjectId,
        seen: &mut BaseRuns,
    ) -> Result<Vec<(String, ObjectId)>> {
        let mut out = Vec::new();
        self.differing_below(runs, Some(base), 2, seen, &mut out)?;
        if out.is_empty() {
            return Ok(out);
        }
        // Past a few runs found where the folders differ (a branch in
        // the other layout), `base`'s runs are listed whole once rather
        // than each looked up, which reads up to three trees.
        if out.len() > LOOKUPS || seen.all.is_some() {
            let all = match &mut seen.all {
                Some(all) => all,
                None => seen.all.insert(self.runs_in(base)?.into_iter().collect()),
            };
            out.retain(|(id, folder)| all.get(id) != Some(folder));
            return Ok(out);
        }
        // A run may sit alike in `base` at the other layout's place (a
        // branch that has not upgraded).
        let base = self
            .repo
            .find_tree(base)
            .map_err(|e| git_err("cannot read a runs tree", e))?;
        out.retain(|(id, folder)| {
            let places = [crate::core::layout::run_in_runs(id), id.clone()];
            !places.iter().any(
                |p| matches!(base.lookup_entry_by_path(p), Ok(Some(e)) if e.object_id() == *folder),
            )
        });
        Ok(out)
    }

    /// The folders of tree `id`, by name, decoded once per `seen`.
    fn folders_of<'a>(
        &self,
        id: ObjectId,
        seen: &'a mut BaseRuns,
    ) -> Result<&'a HashMap<Vec<u8>, ObjectId>> {
        let folders = match seen.trees.entry(id) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(self.folders_in(id)?.into_iter().collect())
            }
        };
        Ok(folders)
    }

    /// The folders of runs tree `id`, by name, its read counted so that
    /// a long walk hands back the pages of the packs it read.
    fn folders_in(&self, id: ObjectId) -> Result<Vec<(Vec<u8>, ObjectId)>> {
        crate::memory::read_one();
        let tree = self
            .repo
            .find_tree(id)
            .map_err(|e| git_err("cannot read a runs tree", e))?;
        let decoded = tree
            .decode()
            .map_err(|e| git_err("cannot decode a runs tree", e))?;
        Ok((decoded.entries.iter().filter(|e| e.mode.is_tree()))
            .map(|e| (e.filename.to_vec(), e.oid.to_owned()))
            .collect())
    }

    fn differing_below(
        &self,
        tree: ObjectId,
        base: Option<ObjectId>,
        depth: u8,
        seen: &mut BaseRuns,
        out: &mut Vec<(String, ObjectId)>,
    ) -> Result<()> {
        let folders = self.folders_in(tree)?;
        let mut below = Vec::new();
        {
            let empty = HashMap::new();
            let alike = match base {
                Some(base) => self.folders_of(base, seen)?,
                None => &empty,
            };
            for (name, oid) in folders {
                let there = alike.get(&name).copied();
                if there == Some(oid) {
                    continue;
                }
                let name = String::from_utf8_lossy(&name).into_owned();
                match depth > 0 && crate::core::layout::is_shard(&name) {
                    true => below.push((oid, there)),
                    false => out.push((name, oid)),
                }
            }
        }
        for (folder, there) in below {
            self.differing_below(folder, there, depth - 1, seen, out)?;
        }
        Ok(())
    }

    fn runs_below(
        &self,
        tree: ObjectId,
        depth: u8,
        out: &mut Vec<(String, ObjectId)>,
    ) -> Result<()> {
        for (name, oid) in self.folders_in(tree)? {
            let name = String::from_utf8_lossy(&name).into_owned();
            match depth > 0 && crate::core::layout::is_shard(&name) {
                true => self.runs_below(oid, depth - 1, out)?,
                false => out.push((name, oid)),
            }
        }
        Ok(())
    }

    /// What under `tree` (at `path`) is not a plain folder or a plain
    /// file: symbolic links and submodules (gitlinks), as `(path, kind)`;
    /// with `shallow`, only `tree`'s own entries and its fan-out
    /// folders' (the runs folder, whose run folders are judged one by one).
    pub fn not_plain(
        &self,
        tree: ObjectId,
        path: &str,
        shallow: bool,
    ) -> Result<Vec<(String, &'static str)>> {
        let mut out = Vec::new();
        self.walk_not_plain(tree, path, shallow, 3, &mut out)?;
        Ok(out)
    }

    fn walk_not_plain(
        &self,
        tree: ObjectId,
        path: &str,
        shallow: bool,
        depth: u8,
        out: &mut Vec<(String, &'static str)>,
    ) -> Result<()> {
        crate::memory::read_one();
        let tree = self
            .repo
            .find_tree(tree)
            .map_err(|e| git_err("cannot read a tree", e))?;
        let decoded = tree
            .decode()
            .map_err(|e| git_err("cannot decode a tree", e))?;
        for e in &decoded.entries {
            let at = format!("{path}/{}", e.filename);
            let kind = if e.mode.is_link() {
                "a symbolic link"
            } else if e.mode.is_commit() {
                "a submodule"
            } else if e.mode.is_tree() {
                // A run folder's own folders (history/, steps/) hold
                // files only: no deeper walk is needed to judge it.
                if !shallow && depth > 0 {
                    self.walk_not_plain(e.oid.to_owned(), &at, false, depth - 1, out)?;
                } else if shallow
                    && depth > 1
                    && crate::core::layout::is_shard(&e.filename.to_string())
                {
                    // The runs folder's fan-out folders are its own.
                    self.walk_not_plain(e.oid.to_owned(), &at, true, depth - 1, out)?;
                }
                continue;
            } else {
                continue;
            };
            out.push((at, kind));
        }
        Ok(())
    }

    /// The history of the record folder at `rel` in `commit`'s tree, as
    /// [`Self::history_of_folder`] reads it; `None` when there is no such
    /// folder (a link or a file there is not one).
    pub fn history_at(&self, commit: ObjectId, rel: &str) -> Result<Option<Vec<u8>>> {
        match self.entry_at(commit, rel)? {
            Some((mode, id)) if mode.is_tree() => self.history_of_folder(id).map(Some),
            _ => Ok(None),
        }
    }

    /// The history of a run folder tree: its sealed segments, then its
    /// live file, as bytes (empty when it has none). Every line is
    /// checked by the fold like a line on disk.
    pub fn history_of_folder(&self, folder: ObjectId) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        for (_, bytes) in self.history_files_of_folder(folder)? {
            out.extend(bytes);
        }
        Ok(out)
    }

    /// The files of a run folder tree's history, in order: each sealed
    /// segment (as `history/<name>`, given its last newline), then the live
    /// `history.jsonl`; so a reader can name the file a bad line is in.
    pub fn history_files_of_folder(&self, folder: ObjectId) -> Result<Vec<(String, Vec<u8>)>> {
        let mut out = Vec::new();
        self.each_history_file(folder, &mut |name, bytes| {
            out.push((name, bytes));
            Ok(Flow::Continue)
        })?;
        Ok(out)
    }

    /// [`Repo::history_files_of_folder`], one file at a time, until `each`
    /// stops: only one file's bytes are held at once.
    pub fn each_history_file(
        &self,
        folder: ObjectId,
        each: &mut dyn FnMut(String, Vec<u8>) -> Result<Flow>,
    ) -> Result<()> {
        crate::memory::read_one();
        let tree = self
            .repo
            .find_tree(folder)
            .map_err(|e| git_err("cannot read a run's tree", e))?;
        if let Ok(Some(segments)) = tree.lookup_entry_by_path("history")
            && segments.mode().is_tree()
            && let Ok(seg_tree) = self.repo.find_tree(segments.object_id())
            && let Ok(decoded) = seg_tree.decode()
        {
            let mut names: Vec<(String, ObjectId)> = decoded
                .entries
                .iter()
                .filter(|e| e.mode.is_blob())
                .map(|e| (e.filename.to_string(), e.oid.to_owned()))
                .collect();
            names.sort();
            for (name, id) in names {
                let mut bytes = self.blob(id)?;
                if !bytes.is_empty() && !bytes.ends_with(b"\n") {
                    bytes.push(b'\n');
                }
                if each(format!("history/{name}"), bytes)? == Flow::Stop {
                    return Ok(());
                }
            }
        }
        if let Some(live) = tree
            .lookup_entry_by_path(crate::store::HISTORY)
            .map_err(|e| git_err("cannot read a run's tree", e))?
            && live.mode().is_blob()
        {
            let bytes = self.blob(live.object_id())?;
            each(crate::store::HISTORY.to_string(), bytes)?;
        }
        Ok(())
    }

    fn blob(&self, id: ObjectId) -> Result<Vec<u8>> {
        crate::memory::read_one();
        // A peer's branch can hold any blob: its size is checked before
        // it is read, so a huge one is refused instead of filling memory.
        let header = self
            .repo
            .find_header(id)
            .map_err(|e| git_err("cannot read a blob", e))?;
        if header.size() > MAX_BLOB_BYTES {
            return Err(crate::core::error::Error::corrupt(format!(
                "blob {id} is {} bytes, over nexo's limit of {MAX_BLOB_BYTES}",
                header.size()
            )));
        }
        let mut blob = self
            .repo
            .find_blob(id)
            .map_err(|e| git_err("cannot read a history blob", e))?;
        // Taken, not cloned: a clone held a second copy of the blob (28 MB
        // for a 100,000-event history) until the first went back to gix's
        // buffer pool.
        Ok(blob.take_data())
    }

    /// Each worktree's path and the ref its HEAD names (`refs/heads/x`),
    /// or `None` for a detached HEAD: from git's own files, as `git
    /// worktree list` reads them.
    fn worktree_heads(&self) -> Vec<(PathBuf, Option<String>)> {
        let common = self.repo.common_dir().to_path_buf();
        let head_of = |git_dir: &std::path::Path| {
            std::fs::read_to_string(git_dir.join("HEAD"))
                .ok()
                .and_then(|h| h.trim().strip_prefix("ref: ").map(str::to_string))
        };
        let mut out = Vec::new();
        if let Some(main) = common.parent().filter(|_| common.ends_with(".git")) {
            out.push((main.to_path_buf(), head_of(&common)));
        }
        let Ok(entries) = std::fs::read_dir(common.join("worktrees")) else {
            return out;
        };
        for e in entries.flatten() {
            let dir = e.path();
            let Some(path) = std::fs::read_to_string(dir.join("gitdir"))
                .ok()
                .and_then(|g| PathBuf::from(g.trim()).parent().map(PathBuf::from))
            else {
                continue;
            };
            out.push((path, head_of(&dir)));
        }
        out
    }
}
