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
        let got: Vec<&[u8]> = (0..again.len()).map(|i| again.path(i)).collect();
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
