//! Editing HEAD's tree along the changed paths only.
//!
//! gix's tree editor re-validates every entry of each tree it rewrites,
//! which means one object lookup per run in `.nexo/runs` (a `stat` per
//! loose object): the cost would grow with the number of runs. Here only the
//! trees on the edited paths are read and written.

use super::pack::Packs;
use super::{Repo, git_err};
use crate::core::error::Result;

/// Path edits grouped by directory: a blob (or its removal) per file name,
/// nested edits per directory name.
#[derive(Default)]
pub(super) struct Edits(std::collections::BTreeMap<String, Edit>);

enum Edit {
    Blob(Option<gix::ObjectId>),
    Dir(Edits),
    /// A folder's whole tree, as it is elsewhere (a folder moved).
    Tree(gix::ObjectId),
}

impl Edits {
    /// Each path's new blob, or its removal (`None`).
    pub(super) fn of(blobs: &[(&str, Option<gix::ObjectId>)]) -> Edits {
        let mut edits = Edits::default();
        for (rel, id) in blobs {
            edits.insert(rel, *id);
        }
        edits
    }

    /// A file's new blob at `path`, or its removal (`None`).
    pub(super) fn insert(&mut self, path: &str, id: Option<gix::ObjectId>) {
        self.put(path, Edit::Blob(id))
    }

    /// Puts tree `id` at folder `path`, whatever was there.
    pub(super) fn insert_tree(&mut self, path: &str, id: gix::ObjectId) {
        self.put(path, Edit::Tree(id))
    }

    fn put(&mut self, path: &str, leaf: Edit) {
        match path.split_once('/') {
            None => {
                // A file that is gone where a folder now stands (a link
                // replaced by the real folder, say) is not a removal of
                // that folder: the folder's own edits decide.
                let gone = matches!(leaf, Edit::Blob(None));
                if gone && matches!(self.0.get(path), Some(Edit::Dir(_))) {
                    return;
                }
                self.0.insert(path.to_string(), leaf);
            }
            Some((dir, rest)) => {
                // A file gone below where a file now stands (a folder that
                // became a file): the new file's edit replaces the folder.
                let gone = matches!(leaf, Edit::Blob(None));
                if gone && matches!(self.0.get(dir), Some(Edit::Blob(Some(_)))) {
                    return;
                }
                let entry = self
                    .0
                    .entry(dir.to_string())
                    .or_insert_with(|| Edit::Dir(Edits::default()));
                if !matches!(entry, Edit::Dir(_)) {
                    *entry = Edit::Dir(Edits::default());
                }
                if let Edit::Dir(sub) = entry {
                    sub.put(rest, leaf);
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
        self.edit_tree_into(base, edits, None)
    }

    /// [`Repo::edit_tree`], writing the new trees into `packs` when given
    /// (a long commit's batches) rather than as loose objects.
    pub(super) fn edit_tree_into(
        &self,
        base: gix::ObjectId,
        edits: &Edits,
        mut packs: Option<&mut Packs>,
    ) -> Result<gix::ObjectId> {
        let id = self.edit_level(Some(base), edits, packs.as_deref_mut())?;
        match id {
            Some(id) => Ok(id),
            None => self.put_tree(&gix::objs::Tree::empty(), packs),
        }
    }

    fn edit_level(
        &self,
        base: Option<gix::ObjectId>,
        edits: &Edits,
        mut packs: Option<&mut Packs>,
    ) -> Result<Option<gix::ObjectId>> {
        use gix::objs::tree::{Entry, EntryKind};
        let mut tree: gix::objs::Tree = match base {
            Some(id) if id != gix::ObjectId::empty_tree(self.repo.object_hash()) => {
                let data = self.tree_bytes(id, packs.as_deref_mut())?;
                // The common edit (new content for files and folders that
                // exist) changes object ids and nothing else: patch them in
                // the tree's bytes rather than decoding, sorting and
                // encoding every entry (10,000 of them in `.nexo/runs`).
                if let Some(id) = self.patch_ids(&data, edits, packs.as_deref_mut())? {
                    return Ok(Some(id));
                }
                gix::objs::TreeRef::from_bytes(&data, self.repo.object_hash())
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
                Edit::Tree(id) => Some((EntryKind::Tree, *id)),
                Edit::Dir(sub) => {
                    let old = pos
                        .map(|p| &tree.entries[p])
                        .filter(|e| e.mode.is_tree())
                        .map(|e| e.oid);
                    self.edit_level(old, sub, packs.as_deref_mut())?
                        .map(|id| (EntryKind::Tree, id))
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
                // A removal takes away only what it names: a file's, a file
                // (not a folder that stands there now, put by an earlier
                // batch of a long commit), and an emptied folder's, a folder.
                (Some(p), None)
                    if tree.entries[p].mode.is_tree() == matches!(edit, Edit::Dir(_)) =>
                {
                    tree.entries.remove(p);
                }
                (Some(_), None) => {}
                (None, None) => {}
            }
        }
        if tree.entries.is_empty() {
            return Ok(None);
        }
        tree.entries.sort();
        self.put_tree(&tree, packs).map(Some)
    }

    /// Tree `id`'s bytes: from the pack in the making when it went there,
    /// else from the repository.
    fn tree_bytes(&self, id: gix::ObjectId, packs: Option<&mut Packs>) -> Result<Vec<u8>> {
        if let Some(data) = packs.map_or(Ok(None), |p| p.tree(&id))? {
            return Ok(data);
        }
        let mut tree = self
            .repo
            .find_tree(id)
            .map_err(|e| git_err("cannot read a tree", e))?;
        Ok(tree.take_data())
    }

    /// Writes `tree`: into `packs` when given, else as a loose object.
    fn put_tree(&self, tree: &gix::objs::Tree, packs: Option<&mut Packs>) -> Result<gix::ObjectId> {
        self.put_tree_bytes(super::loose::encoded(tree)?, packs)
    }

    /// Writes a tree's bytes unless the repository has it: into `packs`
    /// when given, else as a loose object.
    fn put_tree_bytes(&self, data: Vec<u8>, packs: Option<&mut Packs>) -> Result<gix::ObjectId> {
        let Some(packs) = packs else {
            return self.write_loose(gix::objs::Kind::Tree, &data, None);
        };
        let id = gix::objs::compute_hash(self.repo.object_hash(), gix::objs::Kind::Tree, &data)
            .map_err(|e| git_err("cannot hash an object", e))?;
        // As `write_loose` looks, without a refresh.
        if !self.repo.objects.exists_without_refresh(&id) {
            packs.add_tree(id, &data)?;
        }
        Ok(id)
    }
}

impl Repo {
    /// `tree` (a tree object's bytes) with `edits` applied, when each of
    /// them gives an existing entry new content of the same kind; `None`
    /// when one adds, removes or changes the kind of an entry.
    fn patch_ids(
        &self,
        tree: &[u8],
        edits: &Edits,
        mut packs: Option<&mut Packs>,
    ) -> Result<Option<gix::ObjectId>> {
        let hash_len = self.repo.object_hash().len_in_bytes();
        let mut places = Vec::with_capacity(edits.0.len());
        for (name, edit) in &edits.0 {
            let Some((at, mode)) = find_entry(tree, name.as_bytes(), hash_len) else {
                return Ok(None);
            };
            // Only a regular file stays a regular file, and a folder a
            // folder: anything else (an executable, a link, a submodule
            // where nexo writes a file) changes the mode, so the entries
            // are rebuilt.
            match (edit, mode) {
                (Edit::Blob(Some(_)), b"100644") | (Edit::Dir(_) | Edit::Tree(_), b"40000") => {}
                _ => return Ok(None),
            }
            places.push((at, edit));
        }
        let mut out = tree.to_vec();
        for (at, edit) in places {
            let id = match edit {
                Edit::Blob(id) => *id,
                Edit::Tree(id) => Some(*id),
                Edit::Dir(sub) => {
                    let old = gix::ObjectId::from_bytes_or_panic(&tree[at..at + hash_len]);
                    self.edit_level(Some(old), sub, packs.as_deref_mut())?
                }
            };
            // A folder left empty disappears: not an edit in place.
            let Some(id) = id else {
                return Ok(None);
            };
            out[at..at + hash_len].copy_from_slice(id.as_bytes());
        }
        self.put_tree_bytes(out, packs).map(Some)
    }
}

/// The first entry of a tree object's bytes: its name, mode, id and
/// length (`<octal mode> <name>\0<id>`).
pub(super) fn tree_entry(
    data: &[u8],
    hash_len: usize,
) -> Option<(&[u8], u32, gix::ObjectId, usize)> {
    let space = data.iter().position(|&b| b == b' ')?;
    let nul = space + data[space..].iter().position(|&b| b == 0)?;
    let mode = std::str::from_utf8(&data[..space]).ok()?;
    let mode = u32::from_str_radix(mode, 8).ok()?;
    let id = data.get(nul + 1..nul + 1 + hash_len)?;
    Some((
        &data[space + 1..nul],
        mode,
        gix::ObjectId::from_bytes_or_panic(id),
        nul + 1 + hash_len,
    ))
}

/// Where the object id of entry `name` starts in a tree's bytes, and its
/// mode as written (git writes a folder's as `40000`). Entries are
/// `<octal mode> <name>\0<id>`.
fn find_entry<'t>(tree: &'t [u8], name: &[u8], hash_len: usize) -> Option<(usize, &'t [u8])> {
    let mut at = 0;
    while at < tree.len() {
        let space = at + tree[at..].iter().position(|&b| b == b' ')?;
        let nul = space + tree[space..].iter().position(|&b| b == 0)?;
        let id = nul + 1;
        if id + hash_len > tree.len() {
            return None;
        }
        if &tree[space + 1..nul] == name {
            return Some((id, &tree[at..space]));
        }
        at = id + hash_len;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_found_by_exact_name() {
        let mut tree = Vec::new();
        for (mode, name, id) in [("100644", "a", 1u8), ("40000", "ab", 2), ("100755", "b", 3)] {
            tree.extend_from_slice(format!("{mode} {name}\0").as_bytes());
            tree.extend_from_slice(&[id; 20]);
        }
        let (at, mode) = find_entry(&tree, b"ab", 20).unwrap();
        assert_eq!((tree[at], mode), (2, &b"40000"[..]));
        let (at, mode) = find_entry(&tree, b"b", 20).unwrap();
        assert_eq!((tree[at], mode), (3, &b"100755"[..]));
        assert_eq!(find_entry(&tree, b"c", 20), None);
        assert_eq!(find_entry(&tree[..tree.len() - 1], b"b", 20), None);
    }
}
