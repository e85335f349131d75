//! The derived-state cache: a run's folded state, kept per run in the git
//! directory (`nexo-cache/<RUN_ID>.json`, never committed), so a read does
//! not fold the whole history again.
//!
//! An entry records how many bytes of the history it folded and a SHA-256
//! of the last 4 KiB of them. A history that only grew since (appends)
//! folds just the new lines (and records them once there are 32); anything
//! else (a file that shrank, bytes that changed, lines a merge inserted or
//! that did not follow everything before them) refolds from the file. The
//! cache is an optimisation only: delete it, or let it be corrupt, and
//! every answer is byte-identical.

use std::io::Write;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Nexo;
use crate::approval::Rules;
use crate::error::Result;
use crate::fold::{self, Run};
use crate::id::EventId;
use crate::store::Flow;

/// Bumped when the entry or the fold's state changes shape.
const FORMAT: u32 = 2;
/// How many appended lines a read folds before it brings the entry up to
/// date with them.
const REWRITE_AFTER: usize = 32;
/// How much of the folded bytes' end the key hashes.
const TAIL: u64 = 4096;

#[derive(Serialize, Deserialize)]
struct Entry {
    format: u32,
    /// The nexo that wrote it: another version's fold may differ.
    nexo: String,
    /// The approval policy folded under.
    policy: String,
    keep: usize,
    /// Bytes of the history folded, up to a line's end.
    len: u64,
    /// SHA-256 of the folded bytes' last `TAIL`.
    tail: String,
    last: (u64, EventId),
    /// Every id the fold has seen, so an appended line that repeats one
    /// (with the same content or another) refolds from the file, where
    /// conflicts are judged.
    ids: IdFilter,
    run: Run,
}

/// A Bloom filter of event ids: "maybe seen" or "certainly not". A false
/// "maybe" costs a refold; there is no false "not", so the cache never
/// answers differently from the file. Sized at 16 bits an id when built,
/// which keeps false positives near 0.05% until the history doubles.
#[derive(Clone, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
struct IdFilter {
    /// The bits, as 64-bit words; the length is a power of two.
    words: Vec<u64>,
}

/// Stored as one hex string: a few hundred KiB for a 100,000-event run,
/// which JSON reads far faster than as that many numbers.
impl From<IdFilter> for String {
    fn from(f: IdFilter) -> String {
        f.words.iter().map(|w| format!("{w:016x}")).collect()
    }
}

impl TryFrom<String> for IdFilter {
    type Error = String;
    fn try_from(hex: String) -> std::result::Result<IdFilter, String> {
        let bad = || "not a filter".to_string();
        if !hex.len().is_multiple_of(16) || !(hex.len() / 16).is_power_of_two() {
            return Err(bad());
        }
        let words = (0..hex.len() / 16)
            .map(|i| u64::from_str_radix(&hex[i * 16..i * 16 + 16], 16).map_err(|_| bad()))
            .collect::<std::result::Result<_, _>>()?;
        Ok(IdFilter { words })
    }
}

impl IdFilter {
    const HASHES: u64 = 4;

    fn with_ids<'a>(ids: impl Iterator<Item = &'a str>, count: usize) -> IdFilter {
        let bits = (count.max(64) * 16).next_power_of_two();
        let mut filter = IdFilter {
            words: vec![0; bits / 64],
        };
        for id in ids {
            filter.insert(id);
        }
        filter
    }

    /// The bit positions of `id`: double hashing over a SHA-256 of it, so
    /// a peer's chosen ids cannot be made to collide more than by chance.
    fn positions(&self, id: &str) -> impl Iterator<Item = usize> {
        let digest = Sha256::digest(id.as_bytes());
        let word = |i: usize| u64::from_le_bytes(digest[i..i + 8].try_into().expect("8 bytes"));
        let (a, b) = (word(0), word(8) | 1);
        let mask = (self.words.len() * 64 - 1) as u64;
        (0..Self::HASHES).map(move |k| (a.wrapping_add(k.wrapping_mul(b)) & mask) as usize)
    }

    fn insert(&mut self, id: &str) {
        for p in self.positions(id).collect::<Vec<_>>() {
            self.words[p / 64] |= 1 << (p % 64);
        }
    }

    fn may_contain(&self, id: &str) -> bool {
        !self.words.is_empty()
            && self
                .positions(id)
                .all(|p| self.words[p / 64] & (1 << (p % 64)) != 0)
    }
}

impl Nexo {
    /// Run `id` from its cache entry, brought up to date with the lines
    /// appended since, or `None` when the entry cannot be used (then the
    /// caller folds the file and stores a new entry).
    pub(super) fn cached_run(&self, id: &str, rules: &Rules, keep: usize) -> Result<Option<Run>> {
        let Some(mut entry) = self.read_entry(id, rules, keep) else {
            return Ok(None);
        };
        let mut file = self.store.open_history(id)?;
        let len = file.len();
        if len < entry.len || tail_hash(&mut file, entry.len)? != entry.tail {
            return Ok(None);
        }
        if len == entry.len {
            return Ok(Some(entry.run));
        }
        // Appended lines: each must follow the last in fold order and have
        // seen everything before it; otherwise the file is folded anew.
        let mut ok = true;
        let mut end = entry.len;
        let mut folded = 0usize;
        // An unreadable line is reported by the full fold, which knows its
        // line number.
        let read = self
            .store
            .each_event(id, entry.len, |e, offset, terminated| {
                let follows = (e.clock, &e.id) > (entry.last.0, &entry.last.1);
                let heads = &entry.run.heads;
                let saw_all =
                    e.parents.len() == heads.len() && heads.iter().all(|h| e.parents.contains(h));
                let fresh = !entry.ids.may_contain(&e.id)
                    && !matches!(e.body, crate::event::Body::Opened(_));
                // A last event still without its newline is folded from the
                // file until the next write completes it.
                if !follows || !saw_all || !fresh || !terminated {
                    ok = false;
                    return Ok(Flow::Stop);
                }
                fold::apply(&mut entry.run, &e);
                entry.ids.insert(&e.id);
                entry.last = (e.clock, e.id);
                end = offset;
                folded += 1;
                Ok(Flow::Continue)
            });
        if read.is_err() || !ok {
            return Ok(None);
        }
        // Rewriting the entry (the state with its 256 checkpoints) for one
        // or two new lines cost more than folding them again next time.
        if folded >= REWRITE_AFTER {
            entry.len = end;
            entry.tail = tail_hash(&mut file, end)?;
            self.write_entry(id, &entry);
        }
        Ok(Some(entry.run))
    }

    /// Stores `run`, folded from the first `len` bytes of its history
    /// (whose last event in fold order is `last`).
    pub(super) fn store_run(&self, id: &str, run: &Run, len: u64, last: (u64, EventId)) {
        let Ok(mut file) = self.store.open_history(id) else {
            return;
        };
        let Ok(tail) = tail_hash(&mut file, len) else {
            return;
        };
        let entry = Entry {
            format: FORMAT,
            nexo: env!("CARGO_PKG_VERSION").into(),
            policy: policy(&run.rules),
            keep: run.keep,
            len,
            tail,
            last,
            ids: IdFilter::with_ids(run.known_ids(), run.event_count + run.ignored.len()),
            run: run.clone(),
        };
        self.write_entry(id, &entry);
    }

    fn read_entry(&self, id: &str, rules: &Rules, keep: usize) -> Option<Entry> {
        let bytes = std::fs::read(self.store.cache_dir().join(format!("{id}.json"))).ok()?;
        // A corrupt or foreign entry is ignored and rebuilt.
        let mut entry: Entry = serde_json::from_slice(&bytes).ok()?;
        let usable = entry.format == FORMAT
            && entry.nexo == env!("CARGO_PKG_VERSION")
            && entry.policy == policy(rules)
            && entry.keep >= keep
            && entry.run.run_id == id;
        if !usable {
            return None;
        }
        // What serde does not keep: the rules and how many checkpoints to
        // keep (the ancestry graph is needed only by lines that did not see
        // everything, which refold).
        entry.run.restore_after_cache(rules.clone(), entry.keep);
        Some(entry)
    }

    /// Best effort: a cache that cannot be written costs a refold later.
    fn write_entry(&self, id: &str, entry: &Entry) {
        let dir = self.store.cache_dir();
        let Ok(bytes) = serde_json::to_vec(entry) else {
            return;
        };
        let _ = std::fs::create_dir_all(&dir);
        if let Ok(mut tmp) = tempfile::NamedTempFile::new_in(&dir)
            && tmp.write_all(&bytes).is_ok()
        {
            let _ = tmp.persist(dir.join(format!("{id}.json")));
        }
    }
}

/// The approval rules a fold depends on, as text (signatures are never
/// cached: the signed policy folds from the file).
fn policy(rules: &Rules) -> String {
    format!("{:?}", rules.approvals)
}

/// SHA-256 of the `TAIL` bytes before `len` (fewer at the start).
fn tail_hash(history: &mut crate::store::Parts, len: u64) -> Result<String> {
    let buf = history.bytes_before(len, TAIL)?;
    Ok(crate::id::hex(&Sha256::digest(&buf)))
}
