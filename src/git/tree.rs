//! Editing HEAD's tree along the changed paths only.
//!
//! gix's tree editor re-validates every entry of each tree it rewrites,
//! which means one object lookup per run in `.nexo/runs` (a `stat` per
//! loose object): the cost would grow with the number of runs. Here only the
//! trees on the edited paths are read and written.

use super::{Repo, git_err};
use crate::error::Result;

/// Path edits grouped by directory: a blob (or its removal) per file name,
/// nested edits per directory name.
#[derive(Default)]
pub(super) struct Edits(std::collections::BTreeMap<String, Edit>);

enum Edit {
    Blob(Option<gix::ObjectId>),
    Dir(Edits),
}

impl Edits {
    pub(super) fn insert(&mut self, path: &str, id: Option<gix::ObjectId>) {
        match path.split_once('/') {
            None => {
                // A file that is gone where a folder now stands (a link
                // replaced by the real folder, say) is not a removal of
                // that folder: the folder's own edits decide.
                if id.is_none() && matches!(self.0.get(path), Some(Edit::Dir(_))) {
                    return;
                }
                self.0.insert(path.to_string(), Edit::Blob(id));
            }
            Some((dir, rest)) => {
                let entry = self
                    .0
                    .entry(dir.to_string())
                    .or_insert_with(|| Edit::Dir(Edits::default()));
                if let Edit::Blob(_) = entry {
                    *entry = Edit::Dir(Edits::default());
                }
                if let Edit::Dir(sub) = entry {
                    sub.insert(rest, id);
                }
            }
        }
    }
}

impl Repo {
    /// Writes `base` with `edits` applied and returns the new root tree.
    /// Only the trees on the edited paths are read and written: unlike
    /// gix's tree editor, siblings are not re-validated, so the cost does
    /// not grow with the number of runs.
    pub(super) fn edit_tree(&self, base: gix::ObjectId, edits: &Edits) -> Result<gix::ObjectId> {
        let id = self.edit_level(Some(base), edits)?;
        match id {
            Some(id) => Ok(id),
            None => self
                .repo
                .write_object(gix::objs::Tree::empty())
                .map(|id| id.detach())
                .map_err(|e| git_err("cannot write a tree", e)),
        }
    }

    fn edit_level(
        &self,
        base: Option<gix::ObjectId>,
        edits: &Edits,
    ) -> Result<Option<gix::ObjectId>> {
        use gix::objs::tree::{Entry, EntryKind};
        let mut tree: gix::objs::Tree = match base {
            Some(id) if id != gix::ObjectId::empty_tree(self.repo.object_hash()) => {
                let t = self
                    .repo
                    .find_tree(id)
                    .map_err(|e| git_err("cannot read a tree", e))?;
                t.decode()
                    .map_err(|e| git_err("cannot decode a tree", e))?
                    .into()
            }
            _ => gix::objs::Tree::empty(),
        };
        for (name, edit) in &edits.0 {
            let pos = tree
                .entries
                .iter()
                .position(|e| e.filename == name.as_bytes());
            let new = match edit {
                Edit::Blob(id) => id.map(|id| (EntryKind::Blob, id)),
                Edit::Dir(sub) => {
                    let old = pos
                        .map(|p| &tree.entries[p])
                        .filter(|e| e.mode.is_tree())
                        .map(|e| e.oid);
                    self.edit_level(old, sub)?.map(|id| (EntryKind::Tree, id))
                }
            };
            match (pos, new) {
                (Some(p), Some((kind, id))) => {
                    tree.entries[p].mode = kind.into();
                    tree.entries[p].oid = id;
                }
                (None, Some((kind, id))) => tree.entries.push(Entry {
                    mode: kind.into(),
                    filename: name.as_str().into(),
                    oid: id,
                }),
                (Some(p), None) => {
                    tree.entries.remove(p);
                }
                (None, None) => {}
            }
        }
        if tree.entries.is_empty() {
            return Ok(None);
        }
        tree.entries.sort();
        self.repo
            .write_object(&tree)
            .map(|id| Some(id.detach()))
            .map_err(|e| git_err("cannot write a tree", e))
    }
}
