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

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ids::IdSet;
use crate::core::approval::Rules;
use crate::core::error::Result;
use crate::core::fold::{self, Run};
use crate::core::id::EventId;
use crate::store::Flow;
use crate::store::Store;

/// Bumped when the entry or the fold's state changes shape, or what the
/// fold makes of a history does: every cache of folded state keys on it.
pub const FORMAT: u32 = 7;
/// How many appended lines a read folds before it brings the entry up to
/// date with them.
const REWRITE_AFTER: usize = 32;
/// How much of the folded bytes' end the key hashes.
const TAIL: u64 = 4096;
/// A completed or cancelled run's history shorter than this gets no
/// entry: it folds about as fast as an entry reads, it is seldom read
/// again (its summary answers `list`), and the first read of a clone of
/// 100,000 runs wrote 200,000 files (800 MB) for them, most of its 26 s.
const CLOSED_CACHED_FROM: u64 = 64 << 10;

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
    run: Run,
}

/// The fold cache of one repository.
pub struct FoldCache<'a> {
    pub store: &'a Store,
}

impl FoldCache<'_> {
    /// Run `id` from its cache entry, brought up to date with the lines
    /// appended since, or `None` when the entry cannot be used (then the
    /// caller folds the file and stores a new entry).
    pub fn cached_run(&self, id: &str, rules: &Rules, keep: usize) -> Result<Option<Run>> {
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
        // Every id folded, so an appended line that repeats one (with the
        // same content or another) refolds from the file, where conflicts
        // are judged. Read only now: a read with nothing appended (the
        // common case) never needs it.
        let Some(mut ids) = IdSet::open(&self.ids_path(id), entry.len) else {
            return Ok(None);
        };
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
                let fresh = !ids.may_contain(&e.id)
                    && !matches!(e.body, crate::core::event::Body::Opened(_));
                // A last event still without its newline is folded from the
                // file until the next write completes it.
                if !follows || !saw_all || !fresh || !terminated {
                    ok = false;
                    return Ok(Flow::Stop);
                }
                fold::apply(&mut entry.run, &e);
                ids.insert(&e.id);
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
            self.write_entry(id, &entry, &ids.to_bytes(end));
        }
        Ok(Some(entry.run))
    }

    /// Stores `run`, folded from the first `len` bytes of its history
    /// (whose last event in fold order is `last`).
    pub fn store_run(&self, id: &str, run: &Run, len: u64, last: (u64, EventId)) {
        if run.status.is_finished() && len < CLOSED_CACHED_FROM {
            return;
        }
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
            run: run.clone(),
        };
        let ids = IdSet::bytes_of(run.known_ids(), len);
        self.write_entry(id, &entry, &ids);
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
    /// The ids first: each file names the bytes folded it stands for, so
    /// a write cut between the two leaves a pair that does not match, and
    /// the next read refolds.
    fn write_entry(&self, id: &str, entry: &Entry, ids: &[u8]) {
        let Ok(bytes) = serde_json::to_vec(entry) else {
            return;
        };
        if super::write_file(self.store, &self.ids_path(id), ids) {
            super::write_file(
                self.store,
                &self.store.cache_dir().join(format!("{id}.json")),
                &bytes,
            );
        }
    }

    fn ids_path(&self, id: &str) -> std::path::PathBuf {
        self.store.cache_dir().join(format!("{id}.ids"))
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
    Ok(crate::core::id::hex(&Sha256::digest(&buf)))
}
