//! Version 4 of git's index: each path is written as how many bytes to
//! cut from the end of the path before it, then the rest, up to a NUL
//! (no padding). git writes it under `index.version = 4` or
//! `feature.manyFiles`, and keeps an index at the version it read; so
//! does nexo. An entry therefore means nothing without the one before
//! it: there is no bisecting, so a splice walks the entries once, in
//! order, decoding each path, copies every run of untouched entries byte
//! for byte, and encodes again only the changed entries and the first
//! kept entry after each change (its predecessor is not the same).

use std::ops::Range;

use super::{NewEntry, Plan, RawIndex, corrupt, encode_fixed};
use crate::core::error::Result;

/// A path as a version 4 entry stores it.
pub(super) struct Name {
    /// Bytes cut from the end of the path before.
    pub cut: usize,
    /// Where the rest is (its NUL just after).
    pub suffix: Range<usize>,
}

impl Name {
    /// The name starting at `at`, within `bytes` (the entries and
    /// extensions, without the checksum).
    pub fn at(bytes: &[u8], at: usize) -> Result<Name> {
        let mut i = at;
        let cut = read_cut(|| {
            let b = bytes.get(i).copied();
            i += 1;
            b.ok_or_else(|| corrupt("entries run past the end"))
        })?;
        let start = i;
        let len = bytes
            .get(start..)
            .and_then(|rest| rest.iter().position(|&b| b == 0))
            .ok_or_else(|| corrupt("unterminated path"))?;
        Ok(Name {
            cut,
            suffix: start..start + len,
        })
    }

    /// The length of this path, after one `before` long.
    pub fn after(&self, before: usize) -> Result<usize> {
        let kept = before
            .checked_sub(self.cut)
            .ok_or_else(|| corrupt("a path prefix longer than the path before"))?;
        Ok(kept + self.suffix.len())
    }
}

/// The bytes a name cuts from the path before, read a byte at a time
/// from `next`: git's offset varint (as in packs' `OFS_DELTA`), seven
/// bits a byte, the high bit for "more", and one added at each step.
pub(super) fn read_cut(mut next: impl FnMut() -> Result<u8>) -> Result<usize> {
    let mut b = next()?;
    let mut cut = (b & 0x7f) as usize;
    while b & 0x80 != 0 {
        b = next()?;
        cut = ((cut + 1) << 7) | (b & 0x7f) as usize;
        if cut > 1 << 24 {
            return Err(corrupt("a path prefix longer than any path"));
        }
    }
    Ok(cut)
}

/// Appends `path` as a version 4 name after `before`.
fn put_name(path: &[u8], before: &[u8], out: &mut Vec<u8>) {
    let common = path.iter().zip(before).take_while(|(a, b)| a == b).count();
    let mut cut = before.len() - common;
    let mut varint = [0u8; 16];
    let mut pos = varint.len() - 1;
    varint[pos] = (cut & 0x7f) as u8;
    cut >>= 7;
    while cut != 0 {
        cut -= 1;
        pos -= 1;
        varint[pos] = 0x80 | (cut & 0x7f) as u8;
        cut >>= 7;
    }
    out.extend_from_slice(&varint[pos..]);
    out.extend_from_slice(&path[common..]);
    out.push(0);
}

/// The path last written to the new index: the path of the old entry
/// just walked past (`None`), or one of its own.
struct Written(Option<Vec<u8>>);

impl Written {
    fn get<'a>(&'a self, before: &'a [u8]) -> &'a [u8] {
        self.0.as_deref().unwrap_or(before)
    }
}

impl RawIndex {
    /// Entry `i`'s name, and where its fixed part (flags included) ends.
    fn v4_name(&self, i: usize) -> (usize, Name) {
        let name_at = self.name_at(i);
        let end = self.bytes.len() - self.hash_len;
        // `parse` checked every name.
        let name = Name::at(&self.bytes[..end], name_at).expect("checked when parsed");
        (name_at, name)
    }

    /// `splice` for version 4: one pass over every entry, in order.
    pub(super) fn splice_v4<'a>(
        &'a self,
        changes: &[(&[u8], Option<&NewEntry<'_>>)],
        scratch: &'a mut Vec<u8>,
    ) -> Vec<&'a [u8]> {
        let entries = self.len();
        let mut plan = Plan::start(self, scratch, 4 * changes.len() + 4);
        // `before` is the path of the entry before `i`, `path` entry i's.
        let (mut before, mut path) = (Vec::new(), Vec::new());
        let mut written = Written(None);
        // Old entries from `run` on, up to `i`, go over byte for byte.
        let mut run = 0;
        // Change `c` is the next to place; `placed`: it met its own path.
        let (mut c, mut placed) = (0, false);
        let mut behind = super::moved::Behind { from: 0 };
        for i in 0..entries {
            behind.reached(self, self.offsets.get(i));
            let (name_at, name) = self.v4_name(i);
            path.clear();
            path.extend_from_slice(&before[..before.len() - name.cut]);
            path.extend_from_slice(&self.bytes[name.suffix.clone()]);
            while let Some((p, e)) = changes.get(c).filter(|(p, _)| *p < path.as_slice()) {
                if !placed {
                    plan.keep(self, run..i);
                    run = i;
                    self.put_v4(&mut plan, p, e, &mut written, &before);
                }
                (c, placed) = (c + 1, false);
            }
            if let Some((p, e)) = changes.get(c).filter(|(p, _)| *p == path.as_slice()) {
                // Replaced or removed, at every stage.
                plan.keep(self, run..i);
                run = i + 1;
                plan.count -= 1;
                if !placed {
                    self.put_v4(&mut plan, p, e, &mut written, &before);
                    placed = true;
                }
                written.0.get_or_insert_with(|| before.clone());
            } else if written.0.is_some() {
                // Kept, after a change: encoded again after what was.
                plan.keep(self, run..i);
                run = i + 1;
                let start = plan.scratch.len();
                let at = self.offsets.get(i);
                plan.scratch.extend_from_slice(&self.bytes[at..name_at]);
                put_name(&path, written.get(&before), plan.scratch);
                plan.keep_anew(start, i);
                written.0 = None;
            }
            std::mem::swap(&mut before, &mut path);
        }
        plan.keep(self, run..entries);
        for (p, e) in changes.iter().skip(c) {
            if !placed {
                self.put_v4(&mut plan, p, e, &mut written, &before);
            }
            placed = false;
        }
        plan.finish(self)
    }

    /// Puts change `e` at `path` (nothing for a removal) next.
    fn put_v4(
        &self,
        plan: &mut Plan<'_>,
        path: &[u8],
        e: &Option<&NewEntry<'_>>,
        written: &mut Written,
        before: &[u8],
    ) {
        let Some(e) = e else { return };
        let start = plan.scratch.len();
        encode_fixed(e, path.len(), plan.scratch);
        put_name(path, written.get(before), plan.scratch);
        plan.add(start);
        written.0 = Some(path.to_vec());
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Bytes, EXTENDED, HEADER, NAME_MASK, STAT_LEN};
    use super::*;
    use gix::ObjectId;

    const HASH: usize = 20;

    fn entry(path: &str, n: u32) -> NewEntry<'_> {
        let stat = gix::index::entry::Stat {
            size: n,
            ..Default::default()
        };
        NewEntry {
            path,
            id: ObjectId::null(gix::hash::Kind::Sha1),
            stat,
        }
    }

    fn parse(bytes: Vec<u8>) -> RawIndex {
        RawIndex::parse(Bytes::Owned(bytes), HASH).unwrap().unwrap()
    }

    /// An index of `version` holding `paths`, each entry's size its number.
    fn index(version: u8, paths: &[String]) -> RawIndex {
        let mut empty = RawIndex::empty(HASH).content().to_vec();
        empty[7] = version;
        let empty = parse([empty, vec![0; HASH]].concat());
        let entries: Vec<_> = (0..).zip(paths).map(|(n, p)| entry(p, n)).collect();
        let mut scratch = Vec::new();
        let bytes = empty.splice(&entries, &[], &mut scratch).concat();
        parse([bytes, vec![0; HASH]].concat())
    }

    /// Each entry's full path and its fixed part, whatever the version.
    fn entries(raw: &RawIndex) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut path = Vec::new();
        (0..raw.len())
            .map(|i| {
                let at = raw.offsets.get(i);
                let fixed = raw.bytes[at..at + STAT_LEN + HASH + 2].to_vec();
                if raw.prefix_compressed() {
                    let (_, name) = raw.v4_name(i);
                    path.truncate(path.len() - name.cut);
                    path.extend_from_slice(&raw.bytes[name.suffix]);
                } else {
                    path = raw.path(i).to_vec();
                }
                (path.clone(), fixed)
            })
            .collect()
    }

    #[test]
    fn names_round_trip_at_every_length_of_cut() {
        for before_len in [0, 1, 127, 128, 129, 16_511, 16_512, 20_000] {
            let before = vec![b'a'; before_len];
            let path = b"b".to_vec();
            let mut out = Vec::new();
            put_name(&path, &before, &mut out);
            let name = Name::at(&out, 0).unwrap();
            assert_eq!(name.cut, before_len, "cut of {before_len}");
            assert_eq!(&out[name.suffix.clone()], b"b");
            assert_eq!(name.after(before_len).unwrap(), 1);
        }
    }

    #[test]
    fn garbage_in_any_byte_of_a_version_4_index_never_panics() {
        let paths = ["a/one".to_string(), "a/two".to_string(), "b".to_string()];
        let bytes = [index(4, &paths).content().to_vec(), vec![0; HASH]].concat();
        for at in 0..bytes.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[at] ^= flip;
                if let Ok(Some(raw)) = RawIndex::parse(Bytes::Owned(b), HASH) {
                    let mut scratch = Vec::new();
                    let _ = raw.splice(&[entry("a/new", 1)], &["a/one"], &mut scratch);
                }
            }
        }
    }

    #[test]
    fn a_cut_longer_than_the_path_before_is_refused() {
        let mut bytes = RawIndex::empty(HASH).content().to_vec();
        bytes[7] = 4;
        bytes[11] = 1;
        bytes.extend_from_slice(&[0; STAT_LEN + HASH]);
        bytes.extend_from_slice(&1u16.to_be_bytes());
        bytes.extend_from_slice(&[3, b'x', 0]);
        bytes.extend_from_slice(&[0; HASH]);
        assert!(RawIndex::parse(Bytes::Owned(bytes), HASH).is_err());
    }

    /// Every splice of a version 4 index holds the entries the same splice
    /// of a version 2 index holds, and every run of untouched entries is
    /// copied byte for byte.
    #[test]
    fn a_version_4_splice_holds_what_a_version_2_splice_holds() {
        let mut seed = 11u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for round in 0..300 {
            let mut all: Vec<String> = (0..next(40))
                .map(|_| match next(4) {
                    0 => format!("a{}", next(20)),
                    1 => format!(".nexo/runs/WF-{}/history.jsonl", next(20)),
                    2 => format!(".nexo/runs/WF-{}/steps/s{}.yaml", next(20), next(3)),
                    _ => format!("z/{}", next(20)),
                })
                .collect();
            all.sort();
            all.dedup();
            let (v2, v4) = (index(2, &all), index(4, &all));
            assert_eq!(entries(&v2), entries(&v4));
            assert!(v4.content().len() < v2.content().len() || all.is_empty());
            let updates: Vec<String> = (0..next(6))
                .map(|_| match next(2) {
                    0 => format!(".nexo/runs/WF-{}/history.jsonl", next(25)),
                    _ => format!(".nexo/runs/WF-{}/steps/s{}.yaml", next(25), next(3)),
                })
                .collect();
            let mut removals: Vec<String> = Vec::new();
            for _ in 0..next(4) {
                if !all.is_empty() {
                    removals.push(all[next(all.len() as u64) as usize].clone());
                }
            }
            let news: Vec<_> = (1000..).zip(&updates).map(|(n, p)| entry(p, n)).collect();
            let gone: Vec<&str> = removals.iter().map(String::as_str).collect();
            let (mut s2, mut s4) = (Vec::new(), Vec::new());
            let out2 = v2.splice(&news, &gone, &mut s2).concat();
            let out4 = v4.splice(&news, &gone, &mut s4).concat();
            let (a, b) = (
                parse([out2, vec![0; HASH]].concat()),
                parse([out4, vec![0; HASH]].concat()),
            );
            assert!(b.prefix_compressed());
            assert_eq!(entries(&a), entries(&b), "round {round}");
            assert_eq!(&b.bytes[8..HEADER], &a.bytes[8..HEADER]);
        }
    }

    /// An index of `version` (3 or 4) written entry by entry, as git
    /// writes it: `(path, stage, extended flags)`, in git's order.
    fn written_by_git(version: u8, entries: &[(String, u16, Option<u16>)]) -> RawIndex {
        let mut b = RawIndex::empty(HASH).content().to_vec();
        b[7] = version;
        b[8..HEADER].copy_from_slice(&(entries.len() as u32).to_be_bytes());
        let mut before: &[u8] = b"";
        for (n, (path, stage, extended)) in entries.iter().enumerate() {
            let start = b.len();
            let stat = (0..10u32).flat_map(|k| (n as u32 * 16 + k).to_be_bytes());
            b.extend(stat.chain([n as u8; HASH]));
            let len = path.len().min(NAME_MASK as usize) as u16;
            let flag = if extended.is_some() { EXTENDED } else { 0 };
            b.extend_from_slice(&((stage << 12) | flag | len).to_be_bytes());
            b.extend(extended.iter().flat_map(|x| x.to_be_bytes()));
            if version == 4 {
                put_name(path.as_bytes(), before, &mut b);
            } else {
                b.extend_from_slice(path.as_bytes());
                b.resize(start + ((b.len() - start + 8) & !7), 0);
            }
            before = path.as_bytes();
        }
        parse([b, vec![0; HASH]].concat())
    }

    /// `entries`, with each entry's extended flags in its fixed part.
    fn entries_flagged(raw: &RawIndex) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut all = entries(raw);
        for (i, (_, fixed)) in all.iter_mut().enumerate() {
            if raw.flags(i) & EXTENDED != 0 {
                let at = raw.offsets.get(i) + fixed.len();
                fixed.extend_from_slice(&raw.bytes[at..at + 2]);
            }
        }
        all
    }

    /// Entries nexo does not write itself (conflict stages, skip-worktree
    /// and intent-to-add flags, paths of 0xFFF bytes and more, whose
    /// length is no longer in the flags) next to nexo's changes: the
    /// first kept entry after a change is encoded again, and must keep all
    /// of it. A version 3 index spliced the same way is the reference.
    #[test]
    fn entries_git_writes_survive_a_version_4_splice_as_in_version_3() {
        let mut seed = 7u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let pool = |k: u64| match k % 6 {
            0 => format!(".nexo/r/{}", k % 5),
            1 => format!(".nexo/r/{}/h", k % 5),
            2 => format!(".nexo/r/{}{}", k % 3, "L".repeat(5000)),
            3 => format!(".nexo{}", k % 3),
            4 => format!("a{}", k % 4),
            _ => format!(".nexo/r/{}/{}", k % 4, "x".repeat(4094 + (k % 3) as usize)),
        };
        for round in 0..2000 {
            let mut all: Vec<(String, u16, Option<u16>)> = Vec::new();
            for _ in 0..next(14) {
                let path = pool(next(1000));
                let extended = [Some(0x4000), Some(0x2000), None, None][next(4) as usize];
                let stages = if next(4) == 0 { 1..=3 } else { 0..=0 };
                for stage in stages.filter(|_| next(3) != 0) {
                    all.push((path.clone(), stage, extended));
                }
            }
            all.sort();
            all.dedup_by(|a, b| (&a.0, a.1) == (&b.0, b.1));
            // A path is either merged (stage 0) or in conflict, not both.
            let mut merged = std::collections::HashMap::new();
            all.retain(|e| *merged.entry(e.0.clone()).or_insert(e.1 == 0) == (e.1 == 0));
            let (v3, v4) = (written_by_git(3, &all), written_by_git(4, &all));
            assert_eq!(entries_flagged(&v3), entries_flagged(&v4));
            let updates: Vec<String> = (0..next(5)).map(|_| pool(next(1000))).collect();
            let removals: Vec<String> = (0..next(5)).map(|_| pool(next(1000))).collect();
            let news: Vec<_> = (1000..).zip(&updates).map(|(n, p)| entry(p, n)).collect();
            let gone: Vec<&str> = removals.iter().map(String::as_str).collect();
            let (mut s3, mut s4) = (Vec::new(), Vec::new());
            let out3 = v3.splice(&news, &gone, &mut s3).concat();
            let out4 = v4.splice(&news, &gone, &mut s4).concat();
            let (a, b) = (
                parse([out3, vec![0; HASH]].concat()),
                parse([out4, vec![0; HASH]].concat()),
            );
            assert_eq!(
                entries_flagged(&a),
                entries_flagged(&b),
                "round {round}: {updates:?} {removals:?}"
            );
            assert_eq!(&b.bytes[8..HEADER], &a.bytes[8..HEADER]);
        }
    }
}
