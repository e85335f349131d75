//! A commit that moves whole folders, in memory that does not grow with
//! the number of files moved (the layout upgrade: 100,000 run folders,
//! 500,000 files).
//!
//! `finish` names every file it commits, then holds each path with its
//! blob id, stat data and index entry until the commit is built: about
//! 300 MB for the upgrade at 100,000 runs. A folder that matches HEAD
//! and git's index (nothing of it changed, staged, unmerged or untracked:
//! the caller asks `nexo_changes` before moving it) needs none of that:
//! its tree is HEAD's, put at the new place, and its index entries are
//! the old ones renamed as the index is written (`index::moved`).
//! Anything else goes the per-file way beside it.

use std::collections::{HashMap, HashSet};

use super::index::moved::FolderMove;
use super::tree::Edits;
use super::{CommitInfo, CommitPlan, Index, Repo, git_err, index};
use crate::core::error::{Error, Result};

impl Repo {
    /// Whether `finish_moves` can carry moves out as moves with this
    /// plan: an index of version 2 or 3 written whole. Otherwise every
    /// file of every moved folder goes the per-file way (`finish`).
    pub fn moves_folders(plan: &CommitPlan) -> bool {
        // Moves find entries by bisecting, which version 4 does not allow.
        matches!(
            plan,
            CommitPlan::Commit {
                index: Index::Raw { raw, .. },
                ..
            } if !raw.prefix_compressed()
        )
    }

    /// `finish`, with `moves` (folders already renamed on disk, each
    /// matching HEAD and the index before it moved) committed as moves.
    /// Every file of theirs, at both places, must be on the pending list
    /// already (`append_pending`): a process killed midway leaves the
    /// next command the full list, as `finish` would. `earlier` is the
    /// pending list from before they were added.
    pub fn finish_moves(
        &self,
        plan: CommitPlan,
        moves: &[FolderMove],
        earlier: Vec<String>,
        paths: &[String],
        message: &str,
    ) -> Result<CommitInfo> {
        self.append_pending(&mut paths.iter().cloned().map(Ok))?;
        let (lock, index) = match plan {
            CommitPlan::Commit { lock, index } => (lock, index),
            CommitPlan::Skip { reason } => return Ok(CommitInfo::pending(Some(reason))),
        };
        // The folders are moved already: this must not fail now. An index
        // not written whole (which `moves_folders` keeps from coming here)
        // takes the file-by-file way, over the whole pending list.
        let (raw, verify) = match index {
            Index::Raw { raw, verify } if !raw.prefix_compressed() => (raw, verify),
            index => {
                let plan = CommitPlan::Commit { lock, index };
                return self.finish(plan, paths, message);
            }
        };
        let mut small = earlier;
        let known: HashSet<String> = small.iter().cloned().collect();
        small.extend(paths.iter().filter(|p| !known.contains(*p)).cloned());
        drop(known);
        let views_current = self.seen_tree() == Some(self.nexo_tree()?);
        crate::trace::mark(&format!("{} folders moved whole", moves.len()));
        crate::trace::crash_point("before-commit");
        let made = self.commit_moves(lock, &raw, verify, moves, &small, message);
        Ok(self.landed(made, views_current, false))
    }

    fn commit_moves(
        &self,
        lock: super::lockfile::IndexLock,
        raw: &index::RawIndex,
        verify: Option<std::thread::JoinHandle<Result<bool>>>,
        moves: &[FolderMove],
        paths: &[String],
        message: &str,
    ) -> Result<Option<String>> {
        super::index_io::verified(verify)?;
        let sig = self.committer()?;
        let (contents, blobs) = self.read_paths(paths, None)?;
        let edits = Edits::of(&blobs);
        let (updates, removals) = self.index_changes(&blobs)?;
        // Worked out, and refused if need be, before HEAD moves.
        let new_index = raw.plan_moved(moves, &updates, &removals)?;
        crate::memory::phase_done();
        crate::trace::mark("index planned");
        self.write_held(&contents, &blobs)?;
        let mut time = gix::date::parse::TimeBuf::default();
        let moved = |base| self.moved_tree(base, moves);
        let committed = self.commit_tree(&edits, sig.to_ref(&mut time), message, Some(&moved))?;
        crate::memory::phase_done();
        crate::trace::mark("moves committed");
        let mut out = std::io::BufWriter::with_capacity(256 * 1024, lock);
        let kind = self.repo.object_hash();
        let hash = new_index.write((kind, self.skip_index_hash()), &mut out)?;
        self.land_index(out, Some(hash))?;
        Ok(committed.map(|id| id.to_string()))
    }

    /// Root tree `base` with each folder of `moves` taken from its old
    /// place to its new one. Every `from` lies in one folder, and every
    /// `to` below that folder (`.nexo/runs`); the folder's tree is read
    /// once and rewritten once, and only the trees on the new places are
    /// written, so the cost follows the folders moved, not their files.
    /// A folder HEAD does not have (nothing of it tracked) moves nothing.
    fn moved_tree(&self, base: gix::ObjectId, moves: &[FolderMove]) -> Result<gix::ObjectId> {
        let Some(first) = moves.first() else {
            return Ok(base);
        };
        let parent = parent_of(&first.from);
        // Each moved folder's name in `parent`, and its place below it.
        let mut places: HashMap<&[u8], &str> = HashMap::with_capacity(moves.len());
        for m in moves {
            let place = m.to.strip_prefix(parent).and_then(|r| r.strip_prefix('/'));
            let (Some(place), true) = (place, parent_of(&m.from) == parent) else {
                return Err(Error::repo(format!(
                    "cannot move {} to {} with the others",
                    m.from, m.to
                )));
            };
            let name = &m.from[parent.len() + 1..m.from.len() - 1];
            places.insert(name.as_bytes(), place.trim_end_matches('/'));
        }
        let old = self
            .repo
            .find_tree(base)
            .map_err(|e| git_err("cannot read a tree", e))?
            .lookup_entry_by_path(parent)
            .map_err(|e| git_err("cannot read HEAD's tree", e))?
            .filter(|e| e.mode().is_tree());
        // No folder there in HEAD: nothing of the moved ones is tracked.
        let Some(old) = old else { return Ok(base) };
        let data = self
            .repo
            .find_tree(old.object_id())
            .map_err(|e| git_err("cannot read a tree", e))?
            .detach()
            .data;
        // The folder's entries as they are, read one by one off the tree's
        // bytes (no decoded copy of 100,000 of them): kept, or moved.
        let hash_len = self.repo.object_hash().len_in_bytes();
        let (mut kept, mut arrivals) = (Vec::new(), Vec::with_capacity(moves.len()));
        let mut at = 0;
        while at < data.len() {
            let (name, mode, id, len) = super::tree::tree_entry(&data[at..], hash_len)
                .ok_or_else(|| Error::repo(format!("the tree of {parent} in HEAD is damaged")))?;
            match places.get(name).filter(|_| mode & 0o170000 == 0o040000) {
                Some(place) => arrivals.push((*place, id)),
                None => kept.extend_from_slice(&data[at..at + len]),
            }
            at += len;
        }
        drop((places, data));
        crate::memory::phase_done();
        let left = self.write_loose(gix::objs::Kind::Tree, &kept, None)?;
        arrivals.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let arrived = self.put_trees(Some(left), &arrivals)?;
        drop(arrivals);
        let mut at_parent = Edits::default();
        at_parent.insert_tree(parent, arrived);
        self.edit_tree(base, &at_parent)
    }

    /// Tree `base` with the folder trees of `items` put at their paths
    /// below it, replacing what is there. `items` are in path order, so
    /// each folder's are together and its tree is written once.
    fn put_trees(
        &self,
        base: Option<gix::ObjectId>,
        items: &[(&str, gix::ObjectId)],
    ) -> Result<gix::ObjectId> {
        use gix::objs::tree::{Entry, EntryKind};
        let mut tree: gix::objs::Tree = match base {
            Some(id) => self
                .repo
                .find_tree(id)
                .map_err(|e| git_err("cannot read a tree", e))?
                .decode()
                .map_err(|e| git_err("cannot decode a tree", e))?
                .into(),
            None => gix::objs::Tree::empty(),
        };
        let mut i = 0;
        while i < items.len() {
            let (name, id) = match items[i].0.split_once('/') {
                None => {
                    i += 1;
                    (items[i - 1].0, items[i - 1].1)
                }
                Some((dir, _)) => {
                    let below = |p: &&str| p.split_once('/').is_some_and(|(d, _)| d == dir);
                    let n = items[i..].iter().take_while(|(p, _)| below(p)).count();
                    let sub: Vec<(&str, gix::ObjectId)> = items[i..i + n]
                        .iter()
                        .map(|(p, id)| (&p[dir.len() + 1..], *id))
                        .collect();
                    i += n;
                    let old = tree
                        .entries
                        .iter()
                        .find(|e| e.filename == dir && e.mode.is_tree());
                    (dir, self.put_trees(old.map(|e| e.oid), &sub)?)
                }
            };
            tree.entries.retain(|e| e.filename != name);
            tree.entries.push(Entry {
                mode: EntryKind::Tree.into(),
                filename: name.into(),
                oid: id,
            });
        }
        tree.entries.sort();
        self.write_object(&tree)
    }
}

/// The folder holding folder `path` (which ends with `/`).
fn parent_of(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    trimmed.rsplit_once('/').map_or("", |(p, _)| p)
}
