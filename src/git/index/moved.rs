//! An index written as a stream, for a commit that moves whole folders
//! (the layout upgrade moves every run's folder at once).
//!
//! `splice` builds each new entry in memory and borrows the rest: right
//! for a handful of changes, but a move renames every entry below the
//! folders moved (500,000 at 100,000 runs), and holding each renamed
//! entry, or each path, until the write costs hundreds of megabytes. Here
//! the new index is written as it is worked out: entries outside the
//! moved folders are copied as ranges, each moved folder's entries are
//! renamed one by one as they are written, and the checksum is computed
//! on the way out. What is held is the list of folders and the few other
//! changes.

use std::io::Write;
use std::ops::Range;

use gix::ObjectId;

use super::{NAME_MASK, NewEntry, RawIndex, SLICE, STALE_EXTENSIONS, STAT_LEN, sorted_changes};
use crate::core::error::{Error, Result};

/// Renamed entries are written out once this many bytes of them are made.
const FLUSH_AT: usize = 256 << 10;

/// A folder moved whole: its entries leave `from` and join `to`, stat
/// data, ids, flags and all. Both end with `/`.
pub struct FolderMove {
    pub from: String,
    pub to: String,
}

/// What the writer does at one place in path order.
enum Step<'e, 'p> {
    /// The path's entries (every stage) are replaced by this one.
    Put(&'e NewEntry<'p>),
    /// The path's entries leave.
    Drop,
    /// Every entry below the folder leaves.
    Leave,
    /// The entries below move `i`'s `from` arrive here, renamed.
    Arrive(usize),
}

/// What comes out, in order.
enum Piece<'e, 'p> {
    Old(Range<usize>),
    New(&'e NewEntry<'p>),
    Renamed {
        entries: Range<usize>,
        from: usize,
        to: &'e [u8],
    },
}

/// Hands the index's pages back behind a pass that moves forward: a
/// pass touches every page of the 56 MB index at 100,000 runs (binary
/// searches and copies), and each stays counted against the process
/// until released. A pass that turns back only maps a page again.
pub(super) struct Behind {
    pub(super) from: usize,
}

impl Behind {
    pub(super) fn reached(&mut self, raw: &RawIndex, at: usize) {
        if at >= self.from + SLICE {
            raw.release(&raw.bytes[self.from..at]);
            self.from = at;
        }
    }
}

/// The output with its checksum, hashed as it goes.
struct Hashing<'w> {
    out: &'w mut dyn Write,
    hasher: Option<super::Hasher>,
}

impl Hashing<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        if let Some(h) = &mut self.hasher {
            h.update(bytes);
        }
        self.out
            .write_all(bytes)
            .map_err(|e| Error::repo(format!("cannot write git's index: {e}")))
    }
}

impl RawIndex {
    /// The entries from `start` on whose path starts with `prefix`,
    /// which are together in path order.
    fn below(&self, prefix: &[u8], start: usize) -> Range<usize> {
        let at = self.gallop(start, |p| p < prefix);
        at..self.gallop(at, |p| p.starts_with(prefix))
    }

    /// The first entry from `start` on for which `before` is false, where
    /// it holds for some entries from `start` and then for none: found by
    /// galloping out from `start`, then bisecting. A pass that moves
    /// forward so touches the pages near where it is; a plain binary
    /// search over the rest would touch pages all over a 56 MB index,
    /// and `Behind` could hand none of them back.
    pub(super) fn gallop(&self, start: usize, before: impl Fn(&[u8]) -> bool) -> usize {
        let end = self.len();
        let (mut lo, mut step) = (start, 1);
        let mut hi = loop {
            let probe = lo + step - 1;
            if probe >= end {
                break end;
            }
            if !before(self.path(probe)) {
                break probe;
            }
            lo = probe + 1;
            step *= 2;
        };
        while lo < hi {
            let mid = (lo + hi) / 2;
            if before(self.path(mid)) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// The new index, worked out without writing it: `moves` carried out,
    /// `updates` and `removals` as in `splice`. Refused when a moved
    /// folder holds a conflict (carried to a new place it would no longer
    /// be the conflict git knows) or something is at a new place already
    /// (it would be entered twice). Each slice of the old index goes back
    /// to the kernel once passed.
    pub fn plan_moved<'e, 'p>(
        &'e self,
        moves: &'e [FolderMove],
        updates: &'e [NewEntry<'p>],
        removals: &'e [&str],
    ) -> Result<Moved<'e, 'p>> {
        let steps = steps(moves, updates, removals);
        let mut count = 0usize;
        self.pieces(&steps, moves, &mut |p| {
            count += match p {
                Piece::Old(r) => r.len(),
                Piece::New(_) => 1,
                Piece::Renamed { entries, from, .. } => {
                    if entries.clone().any(|i| self.stage(i) != 0) {
                        let path = String::from_utf8_lossy(&self.path(entries.start)[..from]);
                        return Err(Error::repo(format!(
                            "git's index has a conflict in {path}: settle it first"
                        )));
                    }
                    entries.len()
                }
            };
            Ok(())
        })?;
        // The steps are made again to write: held meanwhile, through the
        // commit, they would be 8 MB at 100,000 runs.
        Ok(Moved {
            raw: self,
            moves,
            updates,
            removals,
            count,
        })
    }
}

/// A new index worked out by `plan_moved`, ready to be written.
pub struct Moved<'e, 'p> {
    raw: &'e RawIndex,
    moves: &'e [FolderMove],
    updates: &'e [NewEntry<'p>],
    removals: &'e [&'e str],
    count: usize,
}

impl Moved<'_, '_> {
    /// Writes the new index to `out`, its checksum last (zeros when
    /// `skip_hash`, git's `index.skipHash`), and returns the checksum.
    pub fn write(
        &self,
        (kind, skip_hash): (gix::hash::Kind, bool),
        out: &mut dyn Write,
    ) -> Result<ObjectId> {
        let Moved {
            raw,
            moves,
            updates,
            removals,
            count,
        } = *self;
        let steps = &steps(moves, updates, removals);
        let mut w = Hashing {
            out,
            hasher: (!skip_hash).then(|| super::Hasher::new(kind)),
        };
        let mut header = raw.bytes[..8].to_vec();
        header.extend_from_slice(&(count as u32).to_be_bytes());
        w.put(&header)?;
        let mut scratch = Vec::with_capacity(FLUSH_AT + 8192);
        raw.pieces(steps, moves, &mut |p| {
            match p {
                Piece::Old(r) if !r.is_empty() => {
                    let bytes = &raw.bytes[raw.offsets.get(r.start)..raw.offsets.get(r.end)];
                    for slice in bytes.chunks(SLICE) {
                        w.put(slice)?;
                        raw.release(slice);
                    }
                }
                Piece::Old(_) => {}
                Piece::New(e) => {
                    scratch.clear();
                    raw.encode(e, &mut scratch);
                    w.put(&scratch)?;
                }
                Piece::Renamed { entries, from, to } => {
                    scratch.clear();
                    for i in entries {
                        raw.encode_renamed(i, from, to, &mut scratch);
                        if scratch.len() >= FLUSH_AT {
                            w.put(&scratch)?;
                            scratch.clear();
                        }
                    }
                    w.put(&scratch)?;
                }
            }
            Ok(())
        })?;
        for (sig, range) in raw.extensions() {
            // FSMN names entries by position, which a move shifts: left
            // out, git checks every entry once.
            if !STALE_EXTENSIONS.iter().any(|s| s.as_slice() == sig) {
                w.put(&raw.bytes[range])?;
            }
        }
        let sum = match w.hasher.take() {
            Some(h) => h.finish()?,
            None => ObjectId::null(kind),
        };
        w.put(sum.as_bytes())?;
        Ok(sum)
    }
}

impl RawIndex {
    /// The new index's entries as pieces, in path order, handed to `emit`.
    fn pieces<'e, 'p>(
        &self,
        steps: &[(&'e [u8], Step<'e, 'p>)],
        moves: &'e [FolderMove],
        emit: &mut dyn FnMut(Piece<'e, 'p>) -> Result<()>,
    ) -> Result<()> {
        let entries = self.len();
        let mut next = 0;
        let (mut sweep, mut sources) = (Behind { from: 0 }, Behind { from: 0 });
        // Where the last moved folder's entries started: the next one's
        // are usually after them (the old order is kept within a layout).
        let mut hint = 0;
        for (key, step) in steps {
            sweep.reached(self, self.offsets.get(next));
            let at = self.gallop(next, |p| p < *key);
            emit(Piece::Old(next..at))?;
            next = match step {
                Step::Arrive(m) => {
                    if at < entries && self.path(at).starts_with(key) {
                        return Err(Error::repo(format!(
                            "git's index has entries in {} already",
                            moves[*m].to
                        )));
                    }
                    let from = moves[*m].from.as_bytes();
                    if hint >= entries || self.path(hint) > from {
                        hint = 0;
                    }
                    let old = self.below(from, hint);
                    hint = old.start;
                    let end = self.offsets.get(old.end);
                    emit(Piece::Renamed {
                        entries: old,
                        from: from.len(),
                        to: key,
                    })?;
                    sources.reached(self, end);
                    at
                }
                Step::Leave => self.below(key, at).end,
                Step::Put(_) | Step::Drop => {
                    let mut past = at;
                    while past < entries && self.path(past) == *key {
                        past += 1;
                    }
                    if let Step::Put(e) = step {
                        emit(Piece::New(e))?;
                    }
                    past
                }
            };
        }
        emit(Piece::Old(next..entries))
    }

    /// Entry `i` under a new name: `to` then its path past the first
    /// `from` bytes; its stat data, id and flags (but the name's length)
    /// as they were.
    fn encode_renamed(&self, i: usize, from: usize, to: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        let entry = self.entry_bytes(i);
        let path = self.path(i);
        let fixed = STAT_LEN + self.hash_len + 2;
        let flags_at = fixed - 2;
        let flags = u16::from_be_bytes([entry[flags_at], entry[flags_at + 1]]);
        let head = fixed + if flags & super::EXTENDED != 0 { 2 } else { 0 };
        out.extend_from_slice(&entry[..head]);
        let name_len = to.len() + path.len() - from;
        let flags = (flags & !NAME_MASK) | (name_len.min(NAME_MASK as usize) as u16);
        out[start + flags_at..start + fixed].copy_from_slice(&flags.to_be_bytes());
        out.extend_from_slice(to);
        out.extend_from_slice(&path[from..]);
        let len = (out.len() - start + 8) & !7;
        out.resize(start + len, 0);
    }
}

/// The writer's steps in path order. A folder's key is its path with `/`,
/// which no file's path equals.
fn steps<'e, 'p>(
    moves: &'e [FolderMove],
    updates: &'e [NewEntry<'p>],
    removals: &'e [&str],
) -> Vec<(&'e [u8], Step<'e, 'p>)> {
    let changes = sorted_changes(updates, removals);
    let mut steps: Vec<(&[u8], Step<'_, '_>)> = Vec::with_capacity(changes.len() + 2 * moves.len());
    let changed = changes.into_iter();
    steps.extend(changed.map(|(path, e)| (path, e.map_or(Step::Drop, Step::Put))));
    for (i, m) in moves.iter().enumerate() {
        steps.push((m.from.as_bytes(), Step::Leave));
        steps.push((m.to.as_bytes(), Step::Arrive(i)));
    }
    // No two keys are equal: a folder's ends with `/`, no file's does,
    // and `sorted_changes` gave each path once.
    steps.sort_unstable_by(|a, b| a.0.cmp(b.0));
    steps
}
