//! The event ids a cached fold has seen, so an appended line that repeats
//! one (with the same content or another) refolds from the file, where
//! conflicts are judged.
//!
//! Kept as a file of its own beside the entry (`<RUN_ID>.ids`): the number
//! of history bytes it stands for, then one 8-byte fingerprint per id (the
//! FNV-1a of it), sorted. It is mapped, not read, and searched by
//! bisection: a lookup touches a few pages whatever the history's length,
//! and a read with nothing appended never opens it. Two ids share a
//! fingerprint with a chance of about n / 2^64; that costs a refold, never
//! a wrong answer.

use std::path::Path;

pub(super) struct IdSet {
    /// The stored fingerprints, after the 8-byte header.
    stored: Option<memmap2::Mmap>,
    /// Fingerprints added since, sorted.
    added: Vec<u64>,
}

/// FNV-1a, 64 bits: fixed across builds and machines, and a hundred
/// times cheaper than a SHA-256 over a history's 100,000 ids. A peer who
/// crafts ids to collide with ours gains only a refold of its own run.
fn fingerprint(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl IdSet {
    /// The set stored at `path`, if it stands for the first `len` bytes of
    /// the history.
    pub(super) fn open(path: &Path, len: u64) -> Option<IdSet> {
        let file = std::fs::File::open(path).ok()?;
        // SAFETY: the file is nexo's own, in the git directory, and is only
        // ever replaced by rename, so the mapping's bytes do not change or
        // shrink while it is held.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&file) }.ok()?;
        let (head, body) = map.split_first_chunk::<8>()?;
        if u64::from_le_bytes(*head) != len || !body.len().is_multiple_of(8) {
            return None;
        }
        Some(IdSet {
            stored: Some(map),
            added: Vec::new(),
        })
    }

    fn stored(&self) -> &[u8] {
        self.stored.as_deref().map_or(&[][..], |m| &m[8..])
    }

    fn stored_at(&self, i: usize) -> u64 {
        let b = &self.stored()[i * 8..i * 8 + 8];
        u64::from_le_bytes(b.try_into().expect("8 bytes"))
    }

    /// Whether `id` may have been seen (certainly not, when false).
    pub(super) fn may_contain(&self, id: &str) -> bool {
        let f = fingerprint(id);
        if self.added.binary_search(&f).is_ok() {
            return true;
        }
        let (mut lo, mut hi) = (0, self.stored().len() / 8);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.stored_at(mid).cmp(&f) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return true,
            }
        }
        false
    }

    pub(super) fn insert(&mut self, id: &str) {
        let f = fingerprint(id);
        if let Err(i) = self.added.binary_search(&f) {
            self.added.insert(i, f);
        }
    }

    /// The stored form of `ids`, for the first `len` bytes of the history.
    pub(super) fn bytes_of<'a>(ids: impl Iterator<Item = &'a str>, len: u64) -> Vec<u8> {
        let mut all: Vec<u64> = ids.map(fingerprint).collect();
        all.sort_unstable();
        all.dedup();
        encode(&all, len)
    }

    /// This set's stored form, for the first `len` bytes of the history.
    pub(super) fn to_bytes(&self, len: u64) -> Vec<u8> {
        let stored = (0..self.stored().len() / 8).map(|i| self.stored_at(i));
        let mut all: Vec<u64> = stored.chain(self.added.iter().copied()).collect();
        all.sort_unstable();
        all.dedup();
        encode(&all, len)
    }
}

fn encode(sorted: &[u64], len: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + sorted.len() * 8);
    out.extend_from_slice(&len.to_le_bytes());
    for f in sorted {
        out.extend_from_slice(&f.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_stored_or_added_are_found_and_others_are_not() {
        let ids: Vec<String> = (0..10_000).map(|n| format!("id-{n}")).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.ids");
        std::fs::write(&path, IdSet::bytes_of(ids.iter().map(String::as_str), 42)).unwrap();
        assert!(IdSet::open(&path, 43).is_none(), "another length");
        let mut set = IdSet::open(&path, 42).unwrap();
        assert!(ids.iter().all(|i| set.may_contain(i)));
        assert!((0..10_000).all(|n| !set.may_contain(&format!("other-{n}"))));
        set.insert("new");
        assert!(set.may_contain("new"));
        std::fs::write(&path, set.to_bytes(50)).unwrap();
        let back = IdSet::open(&path, 50).unwrap();
        assert!(back.may_contain("new") && back.may_contain("id-9999"));
    }
}
