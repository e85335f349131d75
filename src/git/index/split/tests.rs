//! Split indexes written here, read back by gix's own reader (which
//! merges the shared base in), against a model of what they should hold.

use std::collections::BTreeMap;
use std::path::Path;

use super::super::{Bytes, NewEntry, RawIndex, checksum};
use super::Split;
use gix::ObjectId;

const KIND: gix::hash::Kind = gix::hash::Kind::Sha1;

fn id(n: u32) -> ObjectId {
    let mut b = [0u8; 20];
    b[..4].copy_from_slice(&n.to_be_bytes());
    b[19] = 1;
    ObjectId::from_bytes_or_panic(&b)
}

fn entry(path: &str, n: u32) -> NewEntry<'_> {
    NewEntry {
        path,
        id: id(n),
        stat: Default::default(),
    }
}

/// A whole index of `model`, written as the shared base in `dir`; its id.
fn base(dir: &Path, model: &BTreeMap<String, u32>) -> ObjectId {
    let entries: Vec<_> = model.iter().map(|(p, n)| entry(p, *n)).collect();
    let mut scratch = Vec::new();
    let bytes = RawIndex::empty(20)
        .splice(&entries, &[], &mut scratch)
        .concat();
    let sum = checksum(KIND, &[&bytes]).unwrap();
    write_file(&dir.join(format!("sharedindex.{sum}")), bytes);
    sum
}

/// A small part with no entries over `base`, as git leaves it.
fn empty_small(dir: &Path, base: ObjectId) {
    let mut bytes = b"DIRC\0\0\0\x02\0\0\0\0".to_vec();
    super::layout::link(base.as_bytes(), &[], &[], &mut bytes);
    write_file(&dir.join("index"), bytes);
}

/// An index file: `bytes` and their checksum.
fn write_file(path: &Path, bytes: Vec<u8>) {
    let sum = checksum(KIND, &[&bytes]).unwrap();
    std::fs::write(path, [bytes, sum.as_bytes().to_vec()].concat()).unwrap();
}

/// A base of `n` paths `p0`, `p1`, … in a new folder, with an empty
/// small part over it: the folder, the paths' blobs and the base's id.
fn fresh(n: u32) -> (tempfile::TempDir, BTreeMap<String, u32>, ObjectId) {
    let dir = tempfile::tempdir().unwrap();
    let model: BTreeMap<String, u32> = (0..n).map(|i| (format!("p{i}"), i)).collect();
    let id = base(dir.path(), &model);
    empty_small(dir.path(), id);
    (dir, model, id)
}

/// Why the split index in `dir` does not open.
fn refused(dir: &Path) -> crate::core::error::Error {
    let bytes = std::fs::read(dir.join("index")).unwrap();
    let own = RawIndex::parse(Bytes::Owned(bytes), 20).unwrap().unwrap();
    Split::open(own, KIND, dir, &dir.join("cache"))
        .err()
        .expect("refused")
}

fn open(dir: &Path) -> Split {
    let bytes = std::fs::read(dir.join("index")).unwrap();
    let own = RawIndex::parse(Bytes::Owned(bytes), 20).unwrap().unwrap();
    Split::open(own, KIND, dir, &dir.join("cache")).unwrap()
}

/// What gix reads from the index in `dir`: every path and its blob.
fn read_back(dir: &Path) -> BTreeMap<String, u32> {
    let file = gix::index::File::at(dir.join("index"), KIND, false, Default::default()).unwrap();
    let mut out = BTreeMap::new();
    for e in file.entries() {
        let n = u32::from_be_bytes(e.id.as_bytes()[..4].try_into().unwrap());
        let path = e.path(&file).to_string();
        assert!(out.insert(path.clone(), n).is_none(), "{path} twice");
    }
    out
}

#[test]
fn every_write_reads_back_as_the_model_whatever_the_threshold() {
    let mut seed = 5u64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for max_percent in [100, 0, 20, 50] {
        let dir = tempfile::tempdir().unwrap();
        let mut model: BTreeMap<String, u32> = (0..60)
            .map(|i| (format!(".nexo/runs/{:02}/h", i * 2), i))
            .collect();
        let first = base(dir.path(), &model);
        empty_small(dir.path(), first);
        let mut n = 1000;
        for round in 0..40 {
            let split = open(dir.path());
            let paths: Vec<String> = (0..1 + next(6))
                .map(|_| format!(".nexo/runs/{:02}/h", next(130)))
                .collect();
            let (ups, gone) = paths.split_at(next(paths.len() as u64 + 1) as usize);
            let updates: Vec<NewEntry<'_>> = ups
                .iter()
                .map(|p| {
                    n += 1;
                    entry(p, n)
                })
                .collect();
            let removals: Vec<&str> = gone.iter().map(String::as_str).collect();
            for r in &removals {
                model.remove(*r);
            }
            for u in &updates {
                model.insert(
                    u.path.to_string(),
                    u32::from_be_bytes(u.id.as_bytes()[..4].try_into().unwrap()),
                );
            }
            let mut scratch = Vec::new();
            let written = split
                .apply(&updates, &removals, max_percent, &mut scratch)
                .unwrap();
            let bytes = written.own.concat();
            drop(split);
            write_file(&dir.path().join("index"), bytes);
            assert_eq!(
                read_back(dir.path()),
                model,
                "max {max_percent}% round {round}"
            );
        }
    }
}

#[test]
fn a_cached_offsets_file_that_does_not_fit_is_rebuilt() {
    let (dir, _, b) = fresh(10);
    drop(open(dir.path()));
    let cache = dir.path().join(format!("cache/sharedindex.{b}.offsets"));
    let good = std::fs::read(&cache).unwrap();
    let mut bytes = good.clone();
    // An offset pointing past the entries.
    let last = bytes.len() - 8;
    bytes[last..last + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    std::fs::write(&cache, &bytes).unwrap();
    let split = open(dir.path());
    let mut scratch = Vec::new();
    let up = [entry("p3", 99)];
    let written = split.apply(&up, &[], 100, &mut scratch).unwrap();
    write_file(&dir.path().join("index"), written.own.concat());
    assert_eq!(read_back(dir.path())["p3"], 99);
    assert_eq!(
        std::fs::read(&cache).unwrap(),
        good,
        "the cache was not rebuilt"
    );
}

#[test]
fn a_shared_index_that_does_not_match_its_name_is_refused() {
    let (dir, _, b) = fresh(3);
    let shared = dir.path().join(format!("sharedindex.{b}"));
    let mut bytes = std::fs::read(&shared).unwrap();
    bytes[20] ^= 1;
    std::fs::write(&shared, &bytes).unwrap();
    let e = refused(dir.path());
    assert!(
        e.message.contains("does not match its name"),
        "{}",
        e.message
    );
}

#[test]
fn a_shared_index_swapped_for_another_is_refused_even_with_its_offsets_cached() {
    let (dir, model, a) = fresh(5);
    // The offsets of `a` are cached.
    drop(open(dir.path()));
    // Another base of the same paths (so the same offsets and length)
    // takes `a`'s name: git refuses it, as its trailer names another.
    let other: BTreeMap<String, u32> = model.keys().map(|p| (p.clone(), 7)).collect();
    let b = base(dir.path(), &other);
    let shared = |id: ObjectId| dir.path().join(format!("sharedindex.{id}"));
    std::fs::copy(shared(b), shared(a)).unwrap();
    let e = refused(dir.path());
    assert!(
        e.message.contains("does not match its name"),
        "{}",
        e.message
    );
}
