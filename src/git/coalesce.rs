//! Coalescing: a burst of nexo writes becomes one commit. A write amends
//! HEAD instead of adding a commit on top when, and only when, HEAD is a
//! commit nexo made (nexo's trailers, changes under `.nexo/` only, one
//! parent at most) that nothing else can have seen: no other ref (a
//! remote-tracking branch, a tag, another local branch, a stash) points at
//! it or at a commit built on it. The new commit has HEAD's parents and
//! HEAD's tree plus the new change, so nothing HEAD held is lost, and the
//! reflog records the amend as git's `commit --amend` does.
//!
//! Asking every ref whether it reaches HEAD costs an object read per ref,
//! which in a repository with thousands of tags would be paid on every
//! write. So each commit nexo makes is recorded with a fingerprint of all
//! other refs (names and targets: read without any object); a later write
//! that finds HEAD still that commit and the other refs unchanged knows
//! none of them can reach it (nothing can point at a commit made after
//! every ref was last set) and skips the walk. Any ref that moved (a
//! fetch, a push, a new tag, branch or stash) means the full check.

use gix::ObjectId;

use super::{Repo, git_err, message};
use crate::core::error::Result;
use crate::store::NEXO_DIR;

/// How far back from another ref's tip to look for HEAD before deciding
/// it may be there (and so not amending it).
const WALK_LIMIT: usize = 256;
/// Clock skew allowed between machines when a walk stops at older commits.
const SKEW_SECS: i64 = 86_400;

/// What amending HEAD needs: its parents and its message.
pub(super) struct Amend {
    pub parents: Vec<ObjectId>,
    pub message: String,
}

/// Where the last commit nexo made is recorded with the refs' fingerprint.
const RECORD: &str = "nexo-coalesce";

impl Repo {
    /// Turns coalescing on (the default) or off (`commit: each`).
    pub fn set_coalesce(&mut self, on: bool) {
        self.coalesce = on;
    }

    /// When the next commit may replace HEAD rather than follow it.
    /// `refs` is [`Repo::refs_fingerprint`] taken before this commit.
    pub(super) fn amendable(&self, head: Option<ObjectId>, refs: &str) -> Result<Option<Amend>> {
        let Some(head) = head.filter(|_| self.coalesce) else {
            return Ok(None);
        };
        let commit = self
            .repo
            .find_commit(head)
            .map_err(|e| git_err("cannot read HEAD's commit", e))?;
        let decoded = commit
            .decode()
            .map_err(|e| git_err("cannot decode HEAD's commit", e))?;
        let text = decoded.message.to_string();
        let parents: Vec<ObjectId> = decoded.parents().collect();
        if parents.len() > 1 || !message::is_nexos(&text) {
            return Ok(None);
        }
        if !self.only_nexo_changed(decoded.tree(), parents.first().copied())? {
            return Ok(None);
        }
        let unchanged = self
            .recorded()
            .is_some_and(|(id, fp)| id == head && fp == refs);
        if !unchanged && self.seen_elsewhere(head, commit.time().map(|t| t.seconds).unwrap_or(0))? {
            return Ok(None);
        }
        Ok(Some(Amend {
            parents,
            message: text,
        }))
    }

    /// Records that nexo just made `commit`, with the other refs as they
    /// were before it (so a ref made right after it changes the
    /// fingerprint). Best effort: a lost record costs one full check.
    pub(super) fn record_commit(&self, commit: ObjectId, refs: &str) {
        let _ = std::fs::write(self.git_dir().join(RECORD), format!("{commit} {refs}\n"));
    }

    fn recorded(&self) -> Option<(ObjectId, String)> {
        let text = std::fs::read_to_string(self.git_dir().join(RECORD)).ok()?;
        let (id, fp) = text.trim().split_once(' ')?;
        Some((ObjectId::from_hex(id.as_bytes()).ok()?, fp.to_string()))
    }

    /// A hash of every ref but the current branch, by name and direct
    /// target: no object is read.
    pub(super) fn refs_fingerprint(&self) -> Result<String> {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for r in self.other_refs()? {
            h.update(r.name().as_bstr());
            h.update([0]);
            match r.target() {
                gix::refs::TargetRef::Object(id) => h.update(id.as_bytes()),
                gix::refs::TargetRef::Symbolic(name) => h.update(name.as_bstr()),
            }
            h.update([0]);
        }
        Ok(crate::core::id::hex(&h.finalize()))
    }

    /// Every ref but the current branch.
    fn other_refs(&self) -> Result<Vec<gix::Reference<'_>>> {
        let current = self
            .repo
            .head_name()
            .map_err(|e| git_err("cannot read HEAD", e))?;
        let platform = self
            .repo
            .references()
            .map_err(|e| git_err("cannot list refs", e))?;
        let mut refs = Vec::new();
        for r in platform.all().map_err(|e| git_err("cannot list refs", e))? {
            let r = r.map_err(|e| git_err("cannot read a ref", e))?;
            if current.as_ref().is_none_or(|c| c.as_ref() != r.name()) {
                refs.push(r);
            }
        }
        Ok(refs)
    }

    /// Whether `tree` differs from `parent`'s tree only in `.nexo`.
    pub(super) fn only_nexo_changed(
        &self,
        tree: ObjectId,
        parent: Option<ObjectId>,
    ) -> Result<bool> {
        let base = match parent {
            Some(p) => self
                .repo
                .find_commit(p)
                .and_then(|c| c.tree_id().map(|t| t.detach()))
                .map_err(|e| git_err("cannot read HEAD's parent", e))?,
            None => ObjectId::empty_tree(self.repo.object_hash()),
        };
        let entries = |id: ObjectId| -> Result<Vec<(Vec<u8>, ObjectId, u16)>> {
            let tree = self
                .repo
                .find_tree(id)
                .map_err(|e| git_err("cannot read a tree", e))?;
            let decoded = tree
                .decode()
                .map_err(|e| git_err("cannot decode a tree", e))?;
            Ok(decoded
                .entries
                .iter()
                .filter(|e| e.filename != NEXO_DIR.as_bytes())
                .map(|e| (e.filename.to_vec(), e.oid.to_owned(), e.mode.value()))
                .collect())
        };
        Ok(entries(tree)? == entries(base)?)
    }

    /// Whether any ref but the current branch points at `head` or may
    /// point at a commit built on it.
    fn seen_elsewhere(&self, head: ObjectId, head_time: i64) -> Result<bool> {
        let mut tips = std::collections::HashSet::new();
        for mut r in self.other_refs()? {
            // A ref that cannot be peeled to a commit (a tag of a blob, a
            // broken ref) cannot hold HEAD.
            let Ok(id) = r.peel_to_id() else { continue };
            let id = id.detach();
            // Many refs (tags) share a commit: each is asked once.
            if !tips.insert(id) {
                continue;
            }
            if id == head || self.descends(id, head, head_time)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Whether `tip` may have `target` among its ancestors. Walks at most
    /// `WALK_LIMIT` commits, not past commits older than `target` (with
    /// skew allowed); a walk that runs out answers "maybe", which is
    /// taken as yes: when unsure, nexo does not rewrite.
    fn descends(&self, tip: ObjectId, target: ObjectId, target_time: i64) -> Result<bool> {
        let mut stack = vec![tip];
        let mut seen = std::collections::HashSet::new();
        while let Some(id) = stack.pop() {
            if id == target {
                return Ok(true);
            }
            if !seen.insert(id) {
                continue;
            }
            if seen.len() > WALK_LIMIT {
                return Ok(true);
            }
            let Ok(commit) = self.repo.find_commit(id) else {
                continue;
            };
            let time = commit.time().map(|t| t.seconds).unwrap_or(i64::MAX);
            if time + SKEW_SECS < target_time {
                continue;
            }
            stack.extend(commit.parent_ids().map(|p| p.detach()));
        }
        Ok(false)
    }
}
