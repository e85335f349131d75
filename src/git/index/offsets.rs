//! Where each entry of an index starts: found by scanning the entries, or,
//! for a split index's shared part, read from a cache beside it.
//!
//! A shared index (`sharedindex.<hash>`) never changes once written: its
//! name is its checksum. Scanning its 500,000 entries for their lengths
//! touches all of its ~56 MB and costs more than the whole of a one-line
//! update, so the first nexo command that meets a shared index records
//! the entries' offsets (4 bytes each) in `.git/nexo-cache/`, and later
//! ones map that file and binary-search the shared index through it,
//! touching a few dozen of its pages.

use std::path::{Path, PathBuf};

use super::{Bytes, RawIndex, STAT_LEN};
use crate::core::error::{Error, Result};

const MAGIC: &[u8; 8] = b"NXOFFS1\0";
/// Magic, the shared index's entry count and its byte length.
const HEAD: usize = 8 + 4 + 8;

/// The start of each entry, and one past the last.
pub(super) enum Offsets {
    Owned(Vec<u32>),
    /// Little-endian `u32`s after `HEAD`, checked when mapped.
    Cached(memmap2::Mmap),
}

impl Offsets {
    pub(super) fn len(&self) -> usize {
        match self {
            Offsets::Owned(v) => v.len(),
            Offsets::Cached(m) => (m.len() - HEAD) / 4,
        }
    }

    pub(super) fn get(&self, i: usize) -> usize {
        match self {
            Offsets::Owned(v) => v[i] as usize,
            Offsets::Cached(m) => {
                let at = HEAD + 4 * i;
                u32::from_le_bytes(m[at..at + 4].try_into().expect("4 bytes")) as usize
            }
        }
    }
}

/// The cache file for the shared index named `hex`.
fn cache_path(cache_dir: &Path, hex: &str) -> PathBuf {
    cache_dir.join(format!("sharedindex.{hex}.offsets"))
}

impl RawIndex {
    /// Opens a split index's shared part (`sharedindex.<hex>`), with its
    /// entry offsets from the cache when one is there and agrees with it,
    /// else by scanning it once (checking its checksum against its name
    /// then) and leaving the cache for the next command.
    pub fn open_shared(
        path: &Path,
        hex: &str,
        kind: gix::hash::Kind,
        cache_dir: &Path,
    ) -> Result<RawIndex> {
        let hash_len = kind.len_in_bytes();
        let file = std::fs::File::open(path).map_err(|e| {
            Error::io("open", path, e).with_hint(
                "git's split index names a shared index that is gone: `rm .git/index && git reset` rebuilds the index from HEAD (staged changes are lost)",
            )
        })?;
        // SAFETY: as in `RawIndex::open`: git writes a shared index once,
        // under a temporary name, and never changes it after the rename.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io("map", path, e))?;
        let (version, count) = RawIndex::header(&map, hash_len)?;
        if !matches!(version, 2 | 3) {
            return Err(super::corrupt("a shared index that is not version 2 or 3")
                .with_hint("nexo updates split indexes of versions 2 and 3: `git update-index --index-version 2` or pass --no-commit"));
        }
        // git refuses a shared index whose trailer is not its name on
        // every read; a cached scan must not let one through either.
        let trailer = gix::ObjectId::from_bytes_or_panic(&map[map.len() - hash_len..]);
        if trailer != hex {
            return Err(super::corrupt(
                "a shared index that does not match its name",
            ));
        }
        let cache = cache_path(cache_dir, hex);
        if let Some(offsets) = load(&cache, &map, count, hash_len) {
            let raw = RawIndex {
                bytes: Bytes::Mapped(map),
                hash_len,
                offsets,
            };
            raw.check_extensions()?;
            return Ok(raw);
        }
        let raw = RawIndex::parse(Bytes::Mapped(map), hash_len)?
            .ok_or_else(|| super::corrupt("a shared index of an unknown version"))?;
        let sum = super::checksum(kind, &[raw.content()])?;
        if sum != hex {
            return Err(super::corrupt(
                "a shared index that does not match its name",
            ));
        }
        // Only an optimisation: a cache that cannot be written is rebuilt.
        let _ = store(cache_dir, &cache, &raw);
        Ok(raw)
    }
}

/// The cached offsets, if the cache is whole and fits `index`: the right
/// count and length, every offset after the last by at least an entry's
/// fixed part and inside the entries. Anything else is ignored.
fn load(cache: &Path, index: &[u8], count: usize, hash_len: usize) -> Option<Offsets> {
    let file = std::fs::File::open(cache).ok()?;
    // SAFETY: the cache is written under a temporary name and renamed
    // into place, never written in place.
    #[allow(unsafe_code)]
    let map = unsafe { memmap2::Mmap::map(&file) }.ok()?;
    if map.len() != HEAD + 4 * (count + 1) || &map[..8] != MAGIC {
        return None;
    }
    let declared = u32::from_le_bytes(map[8..12].try_into().ok()?) as usize;
    let len = u64::from_le_bytes(map[12..20].try_into().ok()?) as usize;
    if declared != count || len != index.len() {
        return None;
    }
    let offsets = Offsets::Cached(map);
    let min = STAT_LEN + hash_len + 2 + 1;
    let end = index.len() - hash_len;
    let mut prev = offsets.get(0);
    if prev != super::HEADER {
        return None;
    }
    for i in 1..=count {
        let at = offsets.get(i);
        if at < prev + min || at > end {
            return None;
        }
        prev = at;
    }
    Some(offsets)
}

fn store(cache_dir: &Path, cache: &Path, raw: &RawIndex) -> std::io::Result<()> {
    std::fs::create_dir_all(cache_dir)?;
    let n = raw.offsets.len();
    let mut bytes = Vec::with_capacity(HEAD + 4 * n);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&(raw.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&(raw.bytes.len() as u64).to_le_bytes());
    for i in 0..n {
        let at = u32::try_from(raw.offsets.get(i)).map_err(std::io::Error::other)?;
        bytes.extend_from_slice(&at.to_le_bytes());
    }
    let mut tmp = tempfile::NamedTempFile::new_in(cache_dir)?;
    std::io::Write::write_all(&mut tmp, &bytes)?;
    tmp.persist(cache).map_err(|e| e.error)?;
    // One shared index is current at a time: older caches only take room.
    if let Ok(dir) = std::fs::read_dir(cache_dir) {
        for e in dir.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("sharedindex.") && e.path() != cache {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    Ok(())
}
