//! Writing git's index: spliced whole, or, when git keeps it split
//! (`core.splitIndex`), its small part only (see `index::split`).

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use super::lockfile::IndexLock;
use super::{HASH_ON_THE_SIDE, Repo, git_err, index};
use crate::core::error::{Error, Result};

/// Reserves the new index's blocks before writing it. On ext4, renaming a
/// file with delayed-allocation blocks over an existing one forces them to
/// be allocated and flushed at rename time (`auto_da_alloc`); with the
/// blocks reserved up front, the rename is a rename. Best effort.
#[cfg(target_os = "linux")]
fn preallocate(out: &mut BufWriter<IndexLock>, len: usize) {
    use std::os::fd::AsRawFd;
    // SAFETY: `posix_fallocate` only reads its integer arguments; the
    // descriptor is open and owned by the lock file for the whole call. A
    // failure (unsupported file system) only loses the speed-up.
    #[allow(unsafe_code)]
    unsafe {
        libc::posix_fallocate(out.get_ref().file().as_raw_fd(), 0, len as libc::off_t)
    };
}

#[cfg(not(target_os = "linux"))]
fn preallocate(_: &mut BufWriter<IndexLock>, _: usize) {}

/// Waits for the check of the old index's checksum, if one runs: a damaged
/// index must not be blessed with a fresh checksum.
pub(super) fn verified(verify: Option<std::thread::JoinHandle<Result<bool>>>) -> Result<()> {
    match verify.map(|v| v.join().expect("checksum thread does not panic")) {
        Some(Ok(false)) => Err(checksum_failed()),
        Some(Err(e)) => Err(e),
        _ => Ok(()),
    }
}

impl Repo {
    /// Puts the index written to `out` in place of git's, and remembers
    /// its checksum (`hash`) as one nexo wrote.
    pub(super) fn land_index(
        &self,
        out: BufWriter<IndexLock>,
        hash: Option<gix::ObjectId>,
    ) -> Result<()> {
        let lock = out
            .into_inner()
            .map_err(|e| git_err("cannot write git's index", e.into_error()))?;
        lock.commit()?;
        if let Some(hash) = hash {
            self.remember_index(hash);
        }
        crate::trace::mark("index written");
        Ok(())
    }

    /// Writes a version 2 or 3 index with our entries spliced in, while
    /// `commit` runs: its checksum is computed on the other core, since the
    /// new index's content does not depend on the commit.
    pub(super) fn write_raw_index(
        &self,
        out: &mut BufWriter<IndexLock>,
        raw: &index::RawIndex,
        verify: Option<std::thread::JoinHandle<Result<bool>>>,
        updates: &[index::NewEntry<'_>],
        removals: &[&str],
        commit: impl FnOnce() -> Result<Option<gix::ObjectId>>,
    ) -> Result<(Option<gix::ObjectId>, gix::ObjectId)> {
        // A damaged index must not be blessed with a fresh checksum, and
        // HEAD must not move without the index following it: the old
        // checksum (checked while the event was appended) must hold first.
        verified(verify)?;
        let mut scratch = Vec::new();
        let pieces = raw.splice(updates, removals, &mut scratch);
        crate::trace::mark("index spliced");
        self.write_pieces(out, &pieces, &|p| raw.release(p), commit)
    }

    /// Writes an index made of `pieces` (its checksum after them) while
    /// `commit` runs; a large one is hashed on the other core. Each slice
    /// of a piece goes to `release` once written and once hashed.
    pub(super) fn write_pieces(
        &self,
        out: &mut BufWriter<IndexLock>,
        pieces: &[&[u8]],
        release: &(dyn Fn(&[u8]) + Sync),
        commit: impl FnOnce() -> Result<Option<gix::ObjectId>>,
    ) -> Result<(Option<gix::ObjectId>, gix::ObjectId)> {
        let kind = self.repo.object_hash();
        let skip = self.skip_index_hash();
        let total = pieces.iter().map(|p| p.len()).sum::<usize>() + kind.len_in_bytes();
        preallocate(out, total);
        // A small index is hashed here: starting a thread costs more.
        let on_the_side = !skip && total >= HASH_ON_THE_SIDE;
        let (committed, hash) = std::thread::scope(|scope| -> Result<_> {
            let hasher = on_the_side
                .then(|| scope.spawn(|| index::checksum_releasing(kind, pieces, release)));
            let committed = commit()?;
            crate::trace::mark("committed");
            for p in pieces.iter().flat_map(|p| p.chunks(index::SLICE)) {
                out.write_all(p)
                    .map_err(|e| git_err("cannot write git's index", e))?;
                release(p);
            }
            let hash = match hasher {
                Some(h) => h.join().expect("checksum thread does not panic")?,
                None if skip => gix::ObjectId::null(kind),
                None => index::checksum_releasing(kind, pieces, release)?,
            };
            Ok((committed, hash))
        })?;
        out.write_all(hash.as_bytes())
            .map_err(|e| git_err("cannot write git's index", e))?;
        Ok((committed, hash))
    }

    /// `index.skipHash`: the user asked git not to checksum the index.
    pub(super) fn skip_index_hash(&self) -> bool {
        self.repo
            .config_snapshot()
            .boolean("index.skipHash")
            .unwrap_or(false)
    }

    /// The split index whose small part is `own`, its checksum checked
    /// first unless nexo wrote it (the shared part is named by its own).
    pub(super) fn open_split(&self, own: index::RawIndex) -> Result<index::split::Split> {
        let kind = self.repo.object_hash();
        let sum = own.stored_checksum();
        if !self.skip_index_hash()
            && sum.iter().any(|&b| b != 0)
            && !self.index_is_ours(&own)
            && index::checksum(kind, &[own.content()])?.as_bytes() != sum
        {
            return Err(checksum_failed());
        }
        // git looks for the shared part in the (worktree's) git directory,
        // wherever GIT_INDEX_FILE puts the index itself.
        let dir = self.repo.git_dir();
        index::split::Split::open(own, kind, dir, &dir.join("nexo-cache"))
    }

    /// `splitIndex.maxPercentChange`, git's threshold for writing a new
    /// shared base, as git reads it: out of 0 to 100 it warns and uses 20,
    /// and a value that is not a number makes it stop, so that is refused
    /// here, before anything is written (`plan_commit` asks first).
    pub(super) fn split_max_percent(&self) -> Result<u32> {
        const KEY: &str = "splitIndex.maxPercentChange";
        let value = self.repo.config_snapshot().try_integer(KEY).map_err(|e| {
            Error::repo(format!(
                "{KEY} is not a number ({e}); git would refuse it too. Nothing was written"
            ))
            .with_hint(format!(
                "set it to a percentage from 0 to 100: git config {KEY} 20"
            ))
        })?;
        Ok(value
            .and_then(|v| u32::try_from(v).ok())
            .filter(|&v| v <= 100)
            .unwrap_or(index::split::DEFAULT_MAX_PERCENT))
    }

    /// A suggestion for a large index written whole: git's split index
    /// makes each write cost what changed. `None` when the index is small
    /// or split already, or the user set `core.splitIndex` either way.
    pub fn split_index_advice(&self) -> Option<String> {
        use std::io::Read;
        let configured = self
            .repo
            .config_snapshot()
            .boolean("core.splitIndex")
            .is_some();
        let path = self.repo.index_path();
        let mut head = [0u8; 12];
        let mut file = std::fs::File::open(&path).ok()?;
        file.read_exact(&mut head).ok()?;
        let size = file.metadata().ok()?.len();
        advice(configured, &head, size)
    }
}

/// A damaged index must not be blessed with a fresh checksum.
pub(super) fn checksum_failed() -> Error {
    Error::repo(
        "git's index fails its checksum, so nexo left it and HEAD untouched. Run `git status` to see git's own diagnosis; `rm .git/index && git reset` rebuilds it from HEAD",
    )
}

/// Past this many entries an index written whole costs a write more than
/// the rest of it (about 20 ms a commit at 100,000 entries here).
const LARGE_INDEX: usize = 100_000;

/// The advice for an index whose first 12 bytes are `head` and length
/// `size`. A split index's `.git/index` holds only what changed since its
/// base, so it is never large here.
fn advice(configured: bool, head: &[u8; 12], size: u64) -> Option<String> {
    let count = u32::from_be_bytes(head[8..12].try_into().expect("4 bytes")) as usize;
    (!configured && &head[..4] == b"DIRC" && count >= LARGE_INDEX).then(|| {
        format!(
            "git's index holds {count} entries ({} MB) and every commit, nexo's or git's, rewrites it whole: `git config core.splitIndex true` and then `git update-index --split-index` make a write cost what it changes (docs/git.md). Tools built on libgit2 cannot read a split index; set `core.splitIndex false` to keep this as it is and silence this note.",
            size / 1_000_000
        )
    })
}

/// Marks the shared index as in use, as git does on each write, so git's
/// expiry of old shared indexes (`splitIndex.sharedIndexExpire`) spares it.
pub(super) fn freshen(base: Option<PathBuf>) {
    if let Some(path) = base
        && let Ok(f) = std::fs::File::options().append(true).open(&path)
    {
        // Only a guard against expiry: failing leaves git to decide.
        let _ = f.set_modified(std::time::SystemTime::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(count: u32) -> [u8; 12] {
        let mut h = *b"DIRC\0\0\0\x02\0\0\0\0";
        h[8..].copy_from_slice(&count.to_be_bytes());
        h
    }

    #[test]
    fn a_large_whole_index_gets_advice_unless_the_user_chose() {
        let note = advice(false, &head(500_000), 56_000_272).expect("advised");
        assert!(note.contains("500000 entries (56 MB)"), "{note}");
        assert!(note.contains("core.splitIndex true"), "{note}");
        assert_eq!(advice(true, &head(500_000), 56_000_272), None);
        assert_eq!(advice(false, &head(99_999), 10_000_000), None);
        let mut bad = head(500_000);
        bad[0] = b'X';
        assert_eq!(advice(false, &bad, 56_000_272), None);
    }
}
