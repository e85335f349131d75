//! The verdicts of one judging, kept between calls in
//! `nexo-cache/verify/<judging>.lines`: one line a run, its key's digest,
//! then what judging it found, if anything.
//!
//! At 100,000 runs the cache was one JSON map from each run's key
//! (`id folder base fork`, 61 bytes and more) to its verdict: decoded,
//! then built anew beside it, it took 75 of `verify`'s 100 MB. Almost
//! every run's verdict is empty, so such a run is now 32 bytes (its key's
//! SHA-256) in a sorted list; the file is read and written a line at a
//! time.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use gix::ObjectId;
use sha2::{Digest, Sha256};

use super::Judged;
use crate::store::Store;

/// The name of a judging's cache file ends so: a file of another
/// ending is an older format, never read.
pub(super) const EXTENSION: &str = "lines";

/// A run's key as a digest: the run, its folder on HEAD and its copies
/// on the trusted ref and at the merge base. SHA-256, because the folders
/// are a branch's to choose and a collision would reuse a verdict.
pub(super) type Key = [u8; 32];

pub(super) fn key(
    id: &str,
    folder: ObjectId,
    base: Option<ObjectId>,
    fork: Option<ObjectId>,
) -> Key {
    let mut h = Sha256::new();
    h.update((id.len() as u64).to_le_bytes());
    h.update(id.as_bytes());
    for oid in [Some(folder), base, fork] {
        match oid {
            Some(oid) => {
                h.update([1]);
                h.update(oid.as_bytes());
            }
            None => h.update([0]),
        }
    }
    h.finalize().into()
}

/// The verdicts of one judging, by run key.
#[derive(Default, PartialEq, Debug)]
pub(super) struct Verdicts {
    /// The runs whose judging found nothing (most of them), sorted.
    clean: Vec<Key>,
    /// The others: a gate, a violation, a problem, or an origin.
    found: BTreeMap<Key, Judged>,
}

impl Verdicts {
    /// The cache at `path`; empty when it is missing or does not read
    /// whole (every run is then judged again).
    pub(super) fn read(path: &Path) -> Verdicts {
        std::fs::File::open(path)
            .ok()
            .and_then(|f| Self::read_from(BufReader::new(f)))
            .unwrap_or_default()
    }

    fn read_from(mut r: impl BufRead) -> Option<Verdicts> {
        let mut out = Verdicts::default();
        let mut line = String::new();
        loop {
            line.clear();
            if r.read_line(&mut line).ok()? == 0 {
                break;
            }
            let line = line.strip_suffix('\n')?;
            let (digest, judged) = match line.split_once(' ') {
                Some((d, j)) => (d, Some(serde_json::from_str::<Judged>(j).ok()?)),
                None => (line, None),
            };
            let key = unhex(digest)?;
            match judged {
                Some(j) => out.found.insert(key, j),
                None => {
                    out.clean.push(key);
                    None
                }
            };
        }
        // A file written out of order is not ours: binary search needs it
        // sorted.
        out.clean.is_sorted().then_some(out)
    }

    pub(super) fn get(&self, key: &Key) -> Option<Judged> {
        match self.clean.binary_search(key) {
            Ok(_) => Some(Judged::default()),
            Err(_) => self.found.get(key).cloned(),
        }
    }

    /// Keeps `judged` as `key`'s verdict; call [`Verdicts::seal`] before
    /// reading or comparing.
    pub(super) fn insert(&mut self, key: Key, judged: Judged) {
        match judged == Judged::default() {
            true => self.clean.push(key),
            false => {
                self.found.insert(key, judged);
            }
        }
    }

    /// Sorts what [`Verdicts::insert`] appended.
    pub(super) fn seal(&mut self) {
        self.clean.sort_unstable();
        self.clean.dedup();
    }

    /// Writes the cache to `path` (a temporary file renamed into place).
    /// Best effort: a cache that cannot be written costs a re-fold.
    pub(super) fn write(&self, store: &Store, path: &Path) {
        let Some(dir) = path.parent() else { return };
        let _ = std::fs::create_dir_all(dir);
        let Ok(tmp) = tempfile::NamedTempFile::new_in(store.cache_dir()) else {
            return;
        };
        let mut w = BufWriter::new(tmp);
        let written = self.write_to(&mut w).is_ok();
        if let (true, Ok(tmp)) = (written, w.into_inner()) {
            let _ = tmp.persist(path);
        }
    }

    fn write_to(&self, w: &mut impl Write) -> std::io::Result<()> {
        for key in &self.clean {
            writeln!(w, "{}", crate::core::id::hex(key))?;
        }
        for (key, judged) in &self.found {
            let json = serde_json::to_string(judged).map_err(std::io::Error::other)?;
            writeln!(w, "{} {json}", crate::core::id::hex(key))?;
        }
        Ok(())
    }
}

/// The 32 bytes of a digest written as lowercase hex.
fn unhex(s: &str) -> Option<Key> {
    let digit = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    };
    let bytes = s.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::verify::RunVerdict;

    fn judged_with_problem() -> Judged {
        Judged {
            verdict: RunVerdict::default(),
            problems: vec!["cannot be judged: a b\nc".into()],
            origin: Some(String::new()),
        }
    }

    #[test]
    fn verdicts_read_back_as_written() {
        let oid = ObjectId::null(gix::hash::Kind::Sha1);
        let mut v = Verdicts::default();
        v.insert(key("WF-B", oid, None, None), Judged::default());
        v.insert(key("WF-A", oid, Some(oid), None), Judged::default());
        v.insert(key("WF-C", oid, None, Some(oid)), judged_with_problem());
        v.seal();
        let mut bytes = Vec::new();
        v.write_to(&mut bytes).unwrap();
        let back = Verdicts::read_from(&bytes[..]).unwrap();
        assert_eq!(back, v);
        assert_eq!(
            back.get(&key("WF-B", oid, None, None)),
            Some(Judged::default())
        );
        assert_eq!(
            back.get(&key("WF-C", oid, None, Some(oid))),
            Some(judged_with_problem())
        );
        assert_eq!(back.get(&key("WF-C", oid, None, None)), None);
    }

    #[test]
    fn a_damaged_cache_is_no_cache() {
        for bad in [
            "zz\n",
            "00\n",
            "{\"a\":1}\n",
            &format!("{} nope\n", "0".repeat(64)),
        ] {
            assert_eq!(Verdicts::read_from(bad.as_bytes()), None, "{bad}");
        }
        let unsorted = format!("{}\n{}\n", "1".repeat(64), "0".repeat(64));
        assert_eq!(Verdicts::read_from(unsorted.as_bytes()), None);
    }
}
