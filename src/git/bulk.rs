//! A commit of a great many paths in memory that does not grow with them:
//! `doctor --fix` regenerating every run's views (400,000 files at
//! 100,000 runs), or the next command finishing such a commit after a kill.
//!
//! `commit_paths` holds every path with its blob id, stat data, tree edit
//! and new index entry until the commit is built: over 500 MB at that
//! size. Here the pending list is read from disk in batches. Each batch's
//! blobs are written and its edits applied to a tree built on HEAD's. Its
//! index entries are held, and every 16,384 paths spliced into a copy of
//! git's index kept beside it (unhashed, under the git directory). Only
//! once every batch is in does HEAD move to the tree, by compare-and-swap,
//! and the last copy, with the entries still held, become git's index,
//! hashed on the way. What is held is one batch and the entries since the
//! last copy; what is rewritten per batch is the trees on its paths.

use std::io::{BufRead, Write};
use std::sync::Arc;

use super::index::RawIndex;
use super::lockfile::IndexLock;
use super::tree::Edits;
use super::{CommitInfo, Index, Repo};
use crate::core::error::{Error, Result};

/// Past this size (about 30,000 paths), the pending list is committed in
/// batches.
const BULK_FROM_BYTES: usize = 2 << 20;
/// Paths a batch takes. A batch costs about 1.5 KB a path while it is in
/// (its paths, blob ids, stat data and tree edits): 6 MB here, where
/// 32,768 took `doctor --fix` past 64 MB. Since the index copies and the
/// trees (in packs) no longer follow the batches, a smaller batch costs
/// little time.
const BATCH: usize = 4_096;

/// Index changes held in memory before they are spliced into a copy of
/// the index: each copy rewrites all of it (56 MB at 100,000 runs), so a
/// copy per batch of 8,192 wrote 2.7 GB for 400,000 paths, and now 1.3 GB.
/// Held and spliced, a path costs about 450 bytes, and the splice and the
/// copy's mapping more: at 100,000 runs, 32,768 took `doctor --fix` to
/// 66 MB; with 16,384 its batches peaked at 58.6 to 60.3 MB.
const INDEX_EVERY: usize = 16_384;

/// The index changes of the batches since the last copy, in the order
/// they came: a path a later batch read again takes its later state.
#[derive(Default)]
struct Held {
    changes: Vec<(String, Option<(gix::ObjectId, gix::index::entry::Stat)>)>,
}

impl Held {
    fn take(&mut self, updates: &[super::index::NewEntry<'_>], removals: &[&str]) {
        let updates = updates
            .iter()
            .map(|u| (u.path.to_string(), Some((u.id, u.stat))));
        let removals = removals.iter().map(|r| (r.to_string(), None));
        self.changes.extend(updates.chain(removals));
    }

    /// Each path's last change, as the splice takes them.
    fn last_of_each(&mut self) -> (Vec<super::index::NewEntry<'_>>, Vec<&str>) {
        // Stable: among a path's changes, the last taken stays last.
        self.changes.sort_by(|a, b| a.0.cmp(&b.0));
        let mut updates = Vec::with_capacity(self.changes.len());
        let mut removals = Vec::new();
        for (i, (path, change)) in self.changes.iter().enumerate() {
            if self.changes.get(i + 1).is_some_and(|next| next.0 == *path) {
                continue;
            }
            match change {
                Some((id, stat)) => updates.push(super::index::NewEntry {
                    path,
                    id: *id,
                    stat: *stat,
                }),
                None => removals.push(path.as_str()),
            }
        }
        (updates, removals)
    }
}

/// The name of the index's copies, which no other file of nexo's in the
/// git directory starts with (`sweep` removes them).
const COPY_PREFIX: &str = "nexo-batched-index-";

/// The pending list, read a batch at a time.
struct Batches {
    lines: std::io::Split<std::io::BufReader<std::fs::File>>,
    path: std::path::PathBuf,
    size: usize,
}

impl Batches {
    /// The next paths, each once; `None` past the end.
    fn next(&mut self) -> Result<Option<Vec<String>>> {
        let mut seen = std::collections::HashSet::new();
        let mut batch = Vec::new();
        while batch.len() < self.size {
            let Some(line) = self.lines.next() else { break };
            let line = line.map_err(|e| Error::io("read", &self.path, e))?;
            if line.is_empty() {
                continue;
            }
            let path = String::from_utf8(line).map_err(|_| {
                Error::repo(format!(
                    "{} holds a path that is not UTF-8",
                    self.path.display()
                ))
            })?;
            if seen.insert(path.clone()) {
                batch.push(path);
            }
        }
        Ok((!batch.is_empty()).then_some(batch))
    }
}

/// A copy of git's index as the batches so far leave it.
struct IndexCopy {
    raw: RawIndex,
    _file: tempfile::TempPath,
}

impl Repo {
    /// Whether the pending list is long enough to be committed in batches
    /// (and the index can be: version 2 or 3, written whole).
    pub(super) fn commits_in_batches(&self, index: &Index) -> bool {
        matches!(index, Index::Raw { .. })
            && std::fs::metadata(self.pending_path()).is_ok_and(|m| {
                m.len() > crate::trace::test_size("BULK_FROM_BYTES", BULK_FROM_BYTES) as u64
            })
    }

    /// `finish` for a long pending list: every path on it committed, in
    /// batches. The caller has checked `commits_in_batches`.
    pub(super) fn finish_in_batches(
        &self,
        lock: IndexLock,
        index: Index,
        message: &str,
    ) -> Result<CommitInfo> {
        let Index::Raw { raw, verify } = index else {
            unreachable!("commits_in_batches admits only an index written whole")
        };
        let views_current = self.seen_tree() == Some(self.nexo_tree()?);
        crate::trace::crash_point("before-commit");
        let made = self.commit_batches(lock, raw, verify, message);
        Ok(self.landed(made, views_current, false))
    }

    fn commit_batches(
        &self,
        lock: IndexLock,
        raw: Arc<RawIndex>,
        verify: Option<std::thread::JoinHandle<Result<bool>>>,
        message: &str,
    ) -> Result<Option<String>> {
        super::index_io::verified(verify)?;
        let sig = self.committer()?;
        let head = self.head_id()?;
        let base = self.root_of(head)?;
        let path = self.pending_path();
        let file = std::fs::File::open(&path).map_err(|e| Error::io("read", &path, e))?;
        let mut batches = Batches {
            lines: std::io::BufReader::new(file).split(b'\n'),
            path,
            size: crate::trace::test_size("BATCH", BATCH),
        };
        self.sweep(COPY_PREFIX);
        let objects = self.repo.objects.store_ref().path().to_path_buf();
        super::pack::sweep(&objects);
        let mut pack = super::pack::Packs::new(&objects, self.loose_level()?);
        let (mut tree, mut copy) = (base, None::<IndexCopy>);
        let mut held = Held::default();
        let every = crate::trace::test_size("INDEX_EVERY", INDEX_EVERY);
        let mut done = 0;
        while let Some(batch) = batches.next()? {
            let (contents, blobs) = self.read_paths(&batch, Some(&mut pack))?;
            self.write_held(&contents, &blobs)?;
            tree = self.edit_tree_into(tree, &Edits::of(&blobs), Some(&mut pack))?;
            let (updates, removals) = self.index_changes(&blobs)?;
            held.take(&updates, &removals);
            if held.changes.len() >= every {
                let from = copy.as_ref().map_or(&*raw, |c| &c.raw);
                let (updates, removals) = held.last_of_each();
                let written = self.write_index_copy(from, &updates, &removals)?;
                // The old copy and the held entries go before the new copy
                // is read: two of each at once would be the peak.
                drop(copy);
                held = Held::default();
                crate::memory::phase_done();
                copy = Some(self.open_index_copy(written)?);
            }
            crate::trace::crash_point("bulk-batch");
            done += batch.len();
            crate::memory::phase_done();
            crate::trace::mark(&format!("{done} paths in"));
        }
        // Every blob is in place before any tree or commit can name it.
        pack.finish()?;
        crate::trace::mark("pack written");
        crate::trace::crash_point("pack-written");
        // Built on `base`: a HEAD moved meanwhile is not built on again
        // (every batch over); the list stays for the next command.
        let built = |on: gix::ObjectId| match on == base {
            true => Ok(tree),
            false => Err(Error::repo(
                "the branch moved while nexo committed a long list of paths",
            )),
        };
        let mut time = gix::date::parse::TimeBuf::default();
        let from = copy.as_ref().map_or(&*raw, |c| &c.raw);
        // The changes still held go straight into git's index, without a
        // last copy.
        let (updates, removals) = held.last_of_each();
        let mut scratch = Vec::new();
        let pieces = from.splice(&updates, &removals, &mut scratch);
        let mut out = std::io::BufWriter::with_capacity(256 * 1024, lock);
        let edits = Edits::default();
        let commit = || self.commit_tree(&edits, sig.to_ref(&mut time), message, Some(&built));
        let (committed, hash) =
            self.write_pieces(&mut out, &pieces, &|p| from.release(p), commit)?;
        self.land_index(out, Some(hash))?;
        Ok(committed.map(|id| id.to_string()))
    }

    /// Removes the files named `prefix…` a killed nexo left in the git
    /// directory (a copy of the index is as large as the index). The
    /// caller holds nexo's lock, so none is another's in use.
    pub fn sweep(&self, prefix: &str) {
        let Ok(entries) = std::fs::read_dir(self.git_dir()) else {
            return;
        };
        for e in entries.filter_map(|e| e.ok()) {
            if e.file_name().to_string_lossy().starts_with(prefix) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    /// `from` with `updates` and `removals` spliced in, written unhashed to
    /// a file of its own beside git's index.
    fn write_index_copy(
        &self,
        from: &RawIndex,
        updates: &[super::index::NewEntry<'_>],
        removals: &[&str],
    ) -> Result<tempfile::TempPath> {
        let dir = self.git_dir();
        let io = |e| Error::io("write a copy of git's index in", dir, e);
        let file = tempfile::Builder::new()
            .prefix(COPY_PREFIX)
            .tempfile_in(dir)
            .map_err(io)?;
        let (file, path) = file.into_parts();
        let mut out = std::io::BufWriter::with_capacity(256 * 1024, file);
        let mut scratch = Vec::new();
        for piece in from.splice(updates, removals, &mut scratch) {
            for slice in piece.chunks(super::index::SLICE) {
                out.write_all(slice).map_err(io)?;
                from.release(slice);
            }
        }
        let hash_len = self.repo.object_hash().len_in_bytes();
        out.write_all(&vec![0; hash_len]).map_err(io)?;
        out.into_inner().map_err(|e| io(e.into_error()))?;
        Ok(path)
    }

    /// A copy [`Repo::write_index_copy`] wrote, mapped.
    fn open_index_copy(&self, path: tempfile::TempPath) -> Result<IndexCopy> {
        let hash_len = self.repo.object_hash().len_in_bytes();
        let raw = RawIndex::open(&path, hash_len)?
            .ok_or_else(|| Error::repo("nexo's copy of git's index cannot be read back"))?;
        Ok(IndexCopy { raw, _file: path })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A path a later batch read again takes its later state, whichever
    /// way it went (update then removal, removal then update, updated
    /// twice), each path once, in one of the two lists.
    #[test]
    fn held_keeps_each_paths_last_change() {
        let id = |n: u8| gix::ObjectId::from_bytes_or_panic(&[n; 20]);
        let stat = gix::index::entry::Stat::default();
        let up = |path: &'static str, n: u8| super::super::index::NewEntry {
            path,
            id: id(n),
            stat,
        };
        let mut held = Held::default();
        // Batch 1: b, c, e updated; d removed.
        held.take(&[up("b", 1), up("c", 1), up("e", 1)], &["d"]);
        // Batch 2: b removed, d updated, c updated again, a updated.
        held.take(&[up("d", 2), up("c", 2), up("a", 2)], &["b"]);
        // Batch 3: c removed, b updated again.
        held.take(&[up("b", 3)], &["c"]);
        let (updates, removals) = held.last_of_each();
        let updates: Vec<_> = updates.iter().map(|u| (u.path, u.id)).collect();
        assert_eq!(
            updates,
            vec![("a", id(2)), ("b", id(3)), ("d", id(2)), ("e", id(1))]
        );
        assert_eq!(removals, vec!["c"]);
    }
}
