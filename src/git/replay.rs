//! Replaying nexo's own unpushed commit on the upstream's new tip, in
//! process: the three sides of every `.nexo/` path that changed, and one
//! commit on the upstream holding the merged content, the branch moved to
//! it by compare-and-swap. `git rebase` does the same in a dozen
//! processes; a fleet of agents pays this on every push another clone
//! overtook, so it is the step that decides who keeps up.

use gix::ObjectId;

use super::{NewCommit, Repo, git_err, message};
use crate::core::error::Result;
use crate::store::NEXO_DIR;

/// Where a replayed commit goes: on `parent` (the upstream's tip), moving
/// the branch from `from` (the commit replayed).
#[derive(Clone, Copy)]
pub(super) struct Onto {
    pub parent: ObjectId,
    pub from: ObjectId,
}

/// One `.nexo/` path that differs between the merge base and either side:
/// its content at the base, here (ours) and upstream (theirs).
#[derive(Debug)]
pub struct Sides {
    pub path: String,
    pub base: Option<Vec<u8>>,
    pub ours: Option<Vec<u8>>,
    pub theirs: Option<Vec<u8>>,
}

impl Repo {
    /// Whether commit `to` changes nothing outside `.nexo/` since `from`:
    /// then the working tree needs nothing of the user's to follow it.
    pub fn nexo_only_since(&self, from: ObjectId, to: ObjectId) -> Result<bool> {
        self.only_nexo_changed(self.tree_of(to)?, Some(from))
    }

    /// Every path under `.nexo/` whose blob differs between `base` and
    /// `ours` or `base` and `theirs`, with the three contents. Only the
    /// folders that differ are read, so the cost follows what changed.
    pub fn nexo_sides(
        &self,
        base: ObjectId,
        ours: ObjectId,
        theirs: ObjectId,
    ) -> Result<Vec<Sides>> {
        let sub = |c: ObjectId| -> Result<Option<ObjectId>> {
            Ok(self
                .entries(self.tree_of(c)?)?
                .get(NEXO_DIR)
                .filter(|(_, t)| *t)
                .map(|(id, _)| *id))
        };
        let trees = [sub(base)?, sub(ours)?, sub(theirs)?];
        let mut out = Vec::new();
        self.walk_sides(NEXO_DIR, trees, &mut out)?;
        Ok(out)
    }

    fn walk_sides(
        &self,
        path: &str,
        trees: [Option<ObjectId>; 3],
        out: &mut Vec<Sides>,
    ) -> Result<()> {
        if trees[0] == trees[1] && trees[0] == trees[2] {
            return Ok(());
        }
        let maps = [
            self.maybe_entries(trees[0])?,
            self.maybe_entries(trees[1])?,
            self.maybe_entries(trees[2])?,
        ];
        let names: std::collections::BTreeSet<&String> =
            maps.iter().flat_map(|m| m.keys()).collect();
        for name in names {
            let at = |i: usize| maps[i].get(name).copied();
            let (b, o, t) = (at(0), at(1), at(2));
            if b == o && b == t {
                continue;
            }
            let child = format!("{path}/{name}");
            let is_tree = [b, o, t].iter().flatten().any(|(_, tree)| *tree);
            if is_tree {
                let tree = |e: Option<(ObjectId, bool)>| e.filter(|(_, t)| *t).map(|(id, _)| id);
                self.walk_sides(&child, [tree(b), tree(o), tree(t)], out)?;
                continue;
            }
            let blob = |e: Option<(ObjectId, bool)>| -> Result<Option<Vec<u8>>> {
                e.map(|(id, _)| self.blob_bytes(id)).transpose()
            };
            out.push(Sides {
                path: child,
                base: blob(b)?,
                ours: blob(o)?,
                theirs: blob(t)?,
            });
        }
        Ok(())
    }

    pub(super) fn tree_of(&self, commit: ObjectId) -> Result<ObjectId> {
        self.repo
            .find_commit(commit)
            .and_then(|c| c.tree_id().map(|t| t.detach()))
            .map_err(|e| git_err("cannot read a commit's tree", e))
    }

    fn maybe_entries(
        &self,
        tree: Option<ObjectId>,
    ) -> Result<std::collections::BTreeMap<String, (ObjectId, bool)>> {
        match tree {
            Some(t) => self.entries(t),
            None => Ok(Default::default()),
        }
    }

    /// A tree's entries: name to (object, whether it is a folder).
    fn entries(
        &self,
        tree: ObjectId,
    ) -> Result<std::collections::BTreeMap<String, (ObjectId, bool)>> {
        let tree = self
            .repo
            .find_tree(tree)
            .map_err(|e| git_err("cannot read a tree", e))?;
        let decoded = tree
            .decode()
            .map_err(|e| git_err("cannot decode a tree", e))?;
        Ok(decoded
            .entries
            .iter()
            .map(|e| (e.filename.to_string(), (e.oid.to_owned(), e.mode.is_tree())))
            .collect())
    }

    fn blob_bytes(&self, id: ObjectId) -> Result<Vec<u8>> {
        Ok(self
            .repo
            .find_blob(id)
            .map_err(|e| git_err("cannot read a blob", e))?
            .data
            .clone())
    }

    /// Commits the working tree's content of `paths` on the upstream's tip
    /// (`onto.parent`), moving the branch from the commit replayed
    /// (`onto.from`), and brings their index entries up to date: as
    /// `finish` does for a write, with the same crash records.
    pub fn finish_onto(
        &self,
        plan: super::CommitPlan,
        parent: ObjectId,
        from: ObjectId,
        paths: &[String],
        message: &str,
    ) -> Result<super::CommitInfo> {
        self.add_pending(paths)?;
        let (lock, index) = match plan {
            super::CommitPlan::Commit { lock, index } => (lock, index),
            super::CommitPlan::Skip { reason } => {
                return Ok(super::CommitInfo::pending(Some(reason)));
            }
        };
        let all = self.read_pending();
        let onto = Onto { parent, from };
        match self.commit_paths(lock, index, &all, message, Some(onto)) {
            Ok(id) => {
                self.clear_pending();
                self.mark_seen();
                Ok(super::CommitInfo::made(id))
            }
            Err(e) => Ok(super::CommitInfo::pending(Some(e.message_with_causes()))),
        }
    }

    /// The replayed commit: the upstream's tree with `edits`, on the
    /// upstream, the branch moved from the commit replayed.
    pub(super) fn commit_onto(
        &self,
        edits: &super::tree::Edits,
        sig: gix::actor::SignatureRef<'_>,
        text: &str,
        onto: Onto,
    ) -> Result<Option<ObjectId>> {
        let tree = self.edit_tree(self.tree_of(onto.parent)?, edits)?;
        let text = message::sanitize(text);
        let new = NewCommit {
            message: &text,
            tree,
            parents: vec![onto.parent],
            action: "rebase (nexo)",
        };
        let id = self.write_and_move_head(sig, new, Some(onto.from))?;
        let refs = self.refs_fingerprint()?;
        self.record_commit(id, &refs);
        Ok(Some(id))
    }
}
