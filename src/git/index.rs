//! Updating a few entries of git's index without decoding all of it.
//!
//! A repository of 100,000 files has a ~10 MB index. Decoding every entry,
//! re-encoding every entry and hashing twice (verify, then write) costs
//! tens of milliseconds; nexo changes a handful of entries, all under
//! `.nexo/`. So for index versions 2 and 3 we scan the entries by their
//! length fields only, find each changed path by binary search, encode
//! just those entries, copy everything between them byte for byte as
//! whole ranges, drop the extensions that describe the old content
//! (cached trees, entry offsets), and hash once. Version 4
//! (prefix-compressed paths) goes through gix's full decoder instead.

use std::ops::Range;

use gix::ObjectId;

use crate::core::error::{Error, Result};

const HEADER: usize = 12;
/// ctime, mtime, dev, ino, mode, uid, gid, size: ten 32-bit fields.
const STAT_LEN: usize = 40;
const REGULAR_FILE: u32 = 0o100644;
const NAME_MASK: u16 = 0x0fff;
const EXTENDED: u16 = 0x4000;

/// Extensions that describe the entries as they were and would lie
/// afterwards: git rebuilds them when it needs them.
const STALE_EXTENSIONS: [&[u8; 4]; 3] = [b"TREE", b"EOIE", b"IEOT"];

fn corrupt(what: &str) -> Error {
    Error::repo(format!("git's index looks damaged ({what})"))
        .with_hint("run `git status` to see git's own diagnosis")
}

/// The index's bytes: mapped from the file (no copy of ~10 MB), or built.
enum Bytes {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

/// An index file held as bytes, with the byte range of its entries.
pub struct RawIndex {
    bytes: Bytes,
    hash_len: usize,
    /// Byte offset where each entry starts, and one past the last entry.
    offsets: Vec<usize>,
}

/// One entry nexo writes: a regular file's path, blob id and stat data.
pub struct NewEntry<'a> {
    pub path: &'a str,
    pub id: ObjectId,
    pub stat: gix::index::entry::Stat,
}

impl RawIndex {
    /// An empty index, for a repository that has none yet.
    pub fn empty(hash_len: usize) -> RawIndex {
        let mut bytes = Vec::with_capacity(HEADER);
        bytes.extend_from_slice(b"DIRC");
        bytes.extend_from_slice(&2u32.to_be_bytes());
        bytes.extend_from_slice(&0u32.to_be_bytes());
        bytes.extend_from_slice(&vec![0; hash_len]);
        RawIndex {
            bytes: Bytes::Owned(bytes),
            hash_len,
            offsets: vec![HEADER],
        }
    }

    /// Parses the entry boundaries of a version 2 or 3 index. Returns
    /// `Ok(None)` for other versions, which the caller handles with gix.
    pub fn open(path: &std::path::Path, hash_len: usize) -> Result<Option<RawIndex>> {
        let file = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
        // SAFETY: a mapping is undefined behaviour only if the file changes
        // while mapped. git (and gix, and nexo) never write into an index:
        // they write `index.lock` and rename it over, leaving this inode
        // as it was; and the caller holds `index.lock`, so no cooperating
        // process replaces it either. A process that truncates the index
        // in place breaks git itself; gix-index maps the index the same way.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io("map", path, e))?;
        Self::parse(Bytes::Mapped(map), hash_len)
    }

    fn parse(bytes: Bytes, hash_len: usize) -> Result<Option<RawIndex>> {
        if bytes.len() < HEADER + hash_len || &bytes[..4] != b"DIRC" {
            return Err(corrupt("bad header"));
        }
        let version = u32::from_be_bytes(bytes[4..8].try_into().expect("4 bytes"));
        if !matches!(version, 2 | 3) {
            return Ok(None);
        }
        let count = u32::from_be_bytes(bytes[8..12].try_into().expect("4 bytes")) as usize;
        let end = bytes.len() - hash_len;
        let fixed = STAT_LEN + hash_len + 2;
        // The count comes from the file: trust it only as far as the file
        // could hold that many entries.
        if count > (end - HEADER) / (fixed + 1) {
            return Err(corrupt("more entries than the file can hold"));
        }
        let mut offsets = Vec::with_capacity(count + 1);
        let mut at = HEADER;
        for _ in 0..count {
            offsets.push(at);
            if at + fixed > end {
                return Err(corrupt("entries run past the end"));
            }
            let flags = u16::from_be_bytes([bytes[at + fixed - 2], bytes[at + fixed - 1]]);
            let mut name_at = at + fixed;
            if flags & EXTENDED != 0 {
                if version < 3 {
                    return Err(corrupt("extended flags in a version 2 index"));
                }
                name_at += 2;
            }
            if name_at > end {
                return Err(corrupt("entries run past the end"));
            }
            let mut name_len = (flags & NAME_MASK) as usize;
            if name_len == NAME_MASK as usize {
                name_len = bytes[name_at..end]
                    .iter()
                    .position(|&b| b == 0)
                    .ok_or_else(|| corrupt("unterminated path"))?;
            }
            // Entries are padded with 1 to 8 NULs to a multiple of 8 bytes.
            at += (name_at - at + name_len + 8) & !7;
        }
        if at > end {
            return Err(corrupt("entries run past the end"));
        }
        offsets.push(at);
        let raw = RawIndex {
            bytes,
            hash_len,
            offsets,
        };
        raw.check_extensions()?;
        Ok(Some(raw))
    }

    fn entries_end(&self) -> usize {
        *self.offsets.last().expect("at least the end offset")
    }

    fn extensions(&self) -> impl Iterator<Item = (&[u8], Range<usize>)> {
        let end = self.bytes.len() - self.hash_len;
        let mut at = self.entries_end();
        std::iter::from_fn(move || {
            if at + 8 > end {
                return None;
            }
            let sig = &self.bytes[at..at + 4];
            let len = u32::from_be_bytes(self.bytes[at + 4..at + 8].try_into().expect("4 bytes"))
                as usize;
            let range = at..(at + 8 + len).min(end);
            at += 8 + len;
            Some((sig, range))
        })
    }

    fn check_extensions(&self) -> Result<()> {
        let end = self.bytes.len() - self.hash_len;
        let mut last = self.entries_end();
        for (sig, range) in self.extensions() {
            if range.end - range.start < 8 + self.extension_len(range.start) {
                return Err(corrupt("an extension runs past the end"));
            }
            if sig == b"sdir" {
                return Err(Error::repo(
                    "this repository uses a sparse index, which nexo cannot update safely yet: run `git config index.sparse false` (or `git sparse-checkout disable`), or pass --no-commit",
                ));
            }
            if sig == b"link" {
                return Err(Error::repo(
                    "this repository uses a split index (core.splitIndex), which nexo cannot update yet: run `git update-index --no-split-index`, or pass --no-commit",
                ));
            }
            last = range.end;
        }
        if last != end {
            return Err(corrupt("extensions do not end where the checksum starts"));
        }
        Ok(())
    }

    /// The length an extension at `at` declares for its body.
    fn extension_len(&self, at: usize) -> usize {
        u32::from_be_bytes(self.bytes[at + 4..at + 8].try_into().expect("4 bytes")) as usize
    }

    /// The trailing checksum as stored.
    pub fn stored_checksum(&self) -> &[u8] {
        &self.bytes[self.bytes.len() - self.hash_len..]
    }

    /// Everything the checksum covers.
    pub fn content(&self) -> &[u8] {
        &self.bytes[..self.bytes.len() - self.hash_len]
    }

    fn path(&self, i: usize) -> &[u8] {
        let at = self.offsets[i];
        let fixed = STAT_LEN + self.hash_len + 2;
        let flags = self.flags(i);
        let name_at = at + fixed + if flags & EXTENDED != 0 { 2 } else { 0 };
        let end = self.offsets[i + 1];
        let name = &self.bytes[name_at..end];
        let len = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        &name[..len]
    }

    fn flags(&self, i: usize) -> u16 {
        let at = self.offsets[i] + STAT_LEN + self.hash_len;
        u16::from_be_bytes([self.bytes[at], self.bytes[at + 1]])
    }

    /// How many entries of `within` come before the first whose path is
    /// not less than `key`, by binary search over the (sorted) entries.
    fn lower_bound_in(&self, key: &[u8], within: Range<usize>) -> usize {
        let (mut lo, mut hi) = (within.start, within.end);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.path(mid) < key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo - within.start
    }

    fn encode(&self, e: &NewEntry<'_>, out: &mut Vec<u8>) {
        let start = out.len();
        let s = &e.stat;
        for v in [
            s.ctime.secs,
            s.ctime.nsecs,
            s.mtime.secs,
            s.mtime.nsecs,
            s.dev,
            s.ino,
            REGULAR_FILE,
            s.uid,
            s.gid,
            s.size,
        ] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out.extend_from_slice(e.id.as_bytes());
        let name_len = e.path.len().min(NAME_MASK as usize) as u16;
        out.extend_from_slice(&name_len.to_be_bytes());
        out.extend_from_slice(e.path.as_bytes());
        let len = (out.len() - start + 8) & !7;
        out.resize(start + len, 0);
    }

    /// The new index as a sequence of byte slices, without its checksum:
    /// `updates` replace their paths' entries (every stage) or join the
    /// entries, `removals` leave, and everything between them is borrowed
    /// unchanged as whole ranges: the cost follows the number of changes,
    /// not the number of entries (a `.nexo/` of 10,000 runs is 50,000).
    /// `scratch` holds the bytes that are new.
    pub fn splice<'a>(
        &'a self,
        updates: &[NewEntry<'_>],
        removals: &[&str],
        scratch: &'a mut Vec<u8>,
    ) -> Vec<&'a [u8]> {
        let mut changes: Vec<(&[u8], Option<&NewEntry<'_>>)> = updates
            .iter()
            .map(|u| (u.path.as_bytes(), Some(u)))
            .chain(removals.iter().map(|r| (r.as_bytes(), None)))
            .collect();
        // An update wins over a removal of the same path.
        changes.sort_by(|a, b| a.0.cmp(b.0).then(b.1.is_some().cmp(&a.1.is_some())));
        changes.dedup_by(|b, a| a.0 == b.0);

        enum Piece {
            Old(Range<usize>),
            New(Range<usize>),
        }
        let entries = self.offsets.len() - 1;
        let mut plan = Vec::with_capacity(2 * changes.len() + 4);
        let mut count = entries;
        scratch.clear();
        scratch.extend_from_slice(&self.bytes[..8]);
        scratch.extend_from_slice(&[0; 4]);
        plan.push(Piece::New(0..HEADER));
        // Entries before `next` are placed; the changes come in path order.
        let mut next = 0;
        for (path, entry) in changes {
            let at = next + self.lower_bound_in(path, next..entries);
            let mut past = at;
            while past < entries && self.path(past) == path {
                past += 1;
            }
            plan.push(Piece::Old(self.offsets[next]..self.offsets[at]));
            count -= past - at;
            if let Some(e) = entry {
                let start = scratch.len();
                self.encode(e, scratch);
                plan.push(Piece::New(start..scratch.len()));
                count += 1;
            }
            next = past;
        }
        plan.push(Piece::Old(self.offsets[next]..self.entries_end()));
        scratch[8..HEADER].copy_from_slice(&(count as u32).to_be_bytes());
        for (sig, range) in self.extensions() {
            if !STALE_EXTENSIONS.iter().any(|s| s.as_slice() == sig) {
                plan.push(Piece::Old(range));
            }
        }
        let scratch: &'a Vec<u8> = scratch;
        plan.into_iter()
            .map(|p| match p {
                Piece::Old(r) => &self.bytes[r],
                Piece::New(r) => &scratch[r],
            })
            .filter(|s| !s.is_empty())
            .collect()
    }
}

/// The checksum git expects over `pieces`, in order.
pub fn checksum(kind: gix::hash::Kind, pieces: &[&[u8]]) -> Result<ObjectId> {
    // The trailing checksum guards against a torn or damaged file. A
    // crafted collision in it would gain nothing (whoever can write the
    // index can write any index), so SHA-1 without collision detection
    // serves: 15% faster, and hashing the 9.4 MB index of a 100,000-file
    // repository is a write's critical path (twice after another git
    // command rewrote the index: verify, then write).
    if kind == gix::hash::Kind::Sha1 {
        use sha1::Digest;
        let mut h = sha1::Sha1::new();
        for p in pieces {
            h.update(p);
        }
        return Ok(ObjectId::from_bytes_or_panic(&h.finalize()));
    }
    let mut h = gix::hash::hasher(kind);
    for p in pieces {
        h.update(p);
    }
    h.try_finalize()
        .map_err(|e| Error::repo(format!("cannot hash git's index: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: usize = 20;

    fn entry(path: &str) -> NewEntry<'_> {
        NewEntry {
            path,
            id: ObjectId::null(gix::hash::Kind::Sha1),
            stat: Default::default(),
        }
    }

    /// A well-formed version 2 index with `paths` and a TREE extension.
    fn index(paths: &[&str]) -> Vec<u8> {
        let empty = RawIndex::empty(HASH);
        let entries: Vec<_> = paths.iter().map(|p| entry(p)).collect();
        let mut scratch = Vec::new();
        let mut bytes: Vec<u8> = empty.splice(&entries, &[], &mut scratch).concat();
        bytes.extend_from_slice(b"TREE");
        bytes.extend_from_slice(&3u32.to_be_bytes());
        bytes.extend_from_slice(b"xyz");
        let sum = checksum(gix::hash::Kind::Sha1, &[&bytes]).unwrap();
        bytes.extend_from_slice(sum.as_bytes());
        bytes
    }

    fn parse(bytes: &[u8]) -> Result<Option<RawIndex>> {
        RawIndex::parse(Bytes::Owned(bytes.to_vec()), HASH)
    }

    #[test]
    fn a_well_formed_index_parses_and_splices() {
        let bytes = index(&["a/one", "a/two"]);
        let raw = parse(&bytes).unwrap().unwrap();
        assert_eq!(raw.offsets.len(), 3);
        assert_eq!(raw.path(1), b"a/two");
        let mut scratch = Vec::new();
        let out = raw
            .splice(&[entry("a/three")], &["a/one"], &mut scratch)
            .concat();
        // The TREE extension describes the old entries and is dropped.
        let again = parse(&[out, vec![0; HASH]].concat()).unwrap().unwrap();
        assert_eq!(again.offsets.len(), 3);
        assert_eq!(again.path(0), b"a/three");
        assert_eq!(again.extensions().count(), 0);
    }

    #[test]
    fn a_splice_matches_the_set_it_describes() {
        // A deterministic mix of paths before, inside and after `.nexo/`.
        let mut seed = 7u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..50 {
            let mut all: Vec<String> = (0..40)
                .map(|_| match next(3) {
                    0 => format!("a{}", next(20)),
                    1 => format!(".nexo/runs/WF-{}/history.jsonl", next(20)),
                    _ => format!("z/{}", next(20)),
                })
                .collect();
            all.sort();
            all.dedup();
            let bytes = index(&all.iter().map(String::as_str).collect::<Vec<_>>());
            let raw = parse(&bytes).unwrap().unwrap();
            let updates: Vec<String> = (0..next(5))
                .map(|_| format!(".nexo/runs/WF-{}/history.jsonl", next(25)))
                .collect();
            let removals: Vec<String> = (0..next(3))
                .map(|_| all[next(all.len() as u64) as usize].clone())
                .collect();
            let entries: Vec<_> = updates.iter().map(|p| entry(p)).collect();
            let gone: Vec<&str> = removals.iter().map(String::as_str).collect();
            let mut scratch = Vec::new();
            let out = raw.splice(&entries, &gone, &mut scratch).concat();
            let again = parse(&[out, vec![0; HASH]].concat()).unwrap().unwrap();
            let got: Vec<&[u8]> = (0..again.offsets.len() - 1)
                .map(|i| again.path(i))
                .collect();
            let mut want: Vec<&str> = all
                .iter()
                .map(String::as_str)
                .filter(|p| !gone.contains(p))
                .chain(updates.iter().map(String::as_str))
                .collect();
            want.sort();
            want.dedup();
            let want: Vec<&[u8]> = want.iter().map(|p| p.as_bytes()).collect();
            assert_eq!(got, want, "updates {updates:?} removals {removals:?}");
        }
    }

    #[test]
    fn every_truncation_is_refused_never_a_panic() {
        let bytes = index(&["a/one", "a/two", &format!("a/{}", "x".repeat(5000))]);
        for len in 0..bytes.len() {
            // A prefix can happen to be well-formed; its checksum then
            // fails, which the caller checks before writing.
            if let Ok(Some(raw)) = parse(&bytes[..len]) {
                let sum = checksum(gix::hash::Kind::Sha1, &[raw.content()]).unwrap();
                assert_ne!(sum.as_bytes(), raw.stored_checksum(), "{len}");
            }
        }
    }

    #[test]
    fn garbage_in_any_byte_never_panics() {
        let bytes = index(&["a/one", "a/two"]);
        for at in 0..bytes.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[at] ^= flip;
                if let Ok(Some(raw)) = parse(&b) {
                    // Whatever parses can be spliced without a panic.
                    let mut scratch = Vec::new();
                    let _ = raw.splice(&[entry("a/new")], &["a/one"], &mut scratch);
                }
            }
        }
    }

    #[test]
    fn an_extension_longer_than_the_file_is_refused() {
        let mut bytes = index(&["a/one"]);
        let tree = bytes.windows(4).position(|w| w == b"TREE").unwrap();
        bytes[tree + 4..tree + 8].copy_from_slice(&1000u32.to_be_bytes());
        let e = parse(&bytes).err().expect("refused");
        assert!(
            e.message.contains("extension runs past the end"),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_long_name_without_its_terminator_is_refused() {
        let mut bytes = index(&["a/one"]);
        // Claim the longest name length, so the parser looks for a NUL.
        let flags = HEADER + STAT_LEN + HASH;
        bytes[flags..flags + 2].copy_from_slice(&NAME_MASK.to_be_bytes());
        let end = bytes.len() - HASH;
        for b in &mut bytes[flags + 2..end] {
            if *b == 0 {
                *b = b'x';
            }
        }
        assert!(parse(&bytes).is_err());
    }

    #[test]
    fn an_absurd_entry_count_is_refused_without_allocating_it() {
        let mut bytes = index(&["a/one"]);
        bytes[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
        let e = parse(&bytes).err().expect("refused");
        assert!(e.message.contains("more entries"), "{}", e.message);
    }
}
