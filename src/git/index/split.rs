//! Updating a split index (`core.splitIndex`) by writing its small part
//! only.
//!
//! In split mode `.git/index` holds what changed since a shared base,
//! `sharedindex.<hash>` (written once, never changed): a `link` extension
//! names the base and marks, in two bitmaps, which of its entries are
//! deleted and which are replaced by the first entries here; the entries
//! after those are added. So a write costs what changed since the base,
//! not the size of the repository, as with `git commit` under
//! `core.splitIndex`. Like git, once the added entries pass
//! `splitIndex.maxPercentChange` (20%) of the whole, a new base is
//! written from the merged entries and the small part starts empty.
//!
//! nexo keeps the form the index has: git applies `core.splitIndex` when
//! it writes the index itself.

use std::ops::Range;
use std::path::{Path, PathBuf};

use super::{NewEntry, RawIndex, ewah};
use crate::core::error::{Error, Result};

/// git's default for `splitIndex.maxPercentChange`.
pub const DEFAULT_MAX_PERCENT: u32 = 20;

/// A split index as read: its own part, the shared base, the bitmaps.
pub struct Split {
    own: RawIndex,
    shared: RawIndex,
    /// The base's name (its checksum), or `None` for a null link: then
    /// this file holds every entry.
    base: Option<gix::ObjectId>,
    delete: Vec<usize>,
    /// Shared positions replaced, in order: own entry `i` replaces
    /// `replace[i]`.
    replace: Vec<usize>,
    git_dir: PathBuf,
    kind: gix::hash::Kind,
}

/// What a write leaves: the small part's bytes (without the checksum),
/// and the new base already written, when one was due.
pub struct Written<'a> {
    pub own: Vec<&'a [u8]>,
    pub new_base: Option<gix::ObjectId>,
}

fn damaged(what: &str) -> Error {
    super::corrupt(&format!("split index: {what}"))
}

impl Split {
    /// Reads the shared base that `own`'s `link` extension names, from
    /// `git_dir`, with its offsets cached in `cache_dir`.
    pub fn open(
        own: RawIndex,
        kind: gix::hash::Kind,
        git_dir: &Path,
        cache_dir: &Path,
    ) -> Result<Split> {
        let hash_len = own.hash_len;
        let link = own.link().ok_or_else(|| damaged("no link extension"))?;
        if link.len() < hash_len {
            return Err(damaged("a link extension too short for its hash"));
        }
        let (hash, rest) = link.split_at(hash_len);
        let (delete, rest) = ewah::decode(rest)?;
        let (replace, rest) = ewah::decode(rest)?;
        if !rest.is_empty() {
            return Err(damaged("bytes after the link extension's bitmaps"));
        }
        let base = hash
            .iter()
            .any(|&b| b != 0)
            .then(|| gix::ObjectId::from_bytes_or_panic(hash));
        let shared = match base {
            Some(id) => {
                let hex = id.to_string();
                let path = git_dir.join(format!("sharedindex.{hex}"));
                RawIndex::open_shared(&path, &hex, kind, cache_dir)?
            }
            None => RawIndex::empty(hash_len),
        };
        let split = Split {
            own,
            shared,
            base,
            delete,
            replace,
            git_dir: git_dir.to_path_buf(),
            kind,
        };
        split.check()?;
        Ok(split)
    }

    /// What gix and git refuse on read, refused here before any write.
    fn check(&self) -> Result<()> {
        let n = self.shared.len();
        if self.delete.iter().chain(&self.replace).any(|&p| p >= n) {
            return Err(damaged(
                "a bitmap marks more entries than the shared index has",
            ));
        }
        if self.replace.len() > self.own.len() {
            return Err(damaged("more replaced entries than entries"));
        }
        if self
            .replace
            .iter()
            .any(|p| self.delete.binary_search(p).is_ok())
        {
            return Err(damaged("an entry both replaced and deleted"));
        }
        let added = self.replace.len()..self.own.len();
        if added.clone().any(|i| self.own.path(i).is_empty()) {
            return Err(damaged("an added entry without a path"));
        }
        Ok(())
    }

    /// The shared index's file.
    pub fn base_path(&self) -> Option<PathBuf> {
        self.base
            .map(|id| self.git_dir.join(format!("sharedindex.{id}")))
    }

    /// The small part with `updates` and `removals` applied (and a new
    /// base when the added entries pass `max_percent` of the whole).
    /// `scratch` holds the bytes that are new.
    pub fn apply<'a>(
        &'a self,
        updates: &[NewEntry<'_>],
        removals: &[&str],
        max_percent: u32,
        scratch: &'a mut Vec<u8>,
    ) -> Result<Written<'a>> {
        let plan = self.plan(updates, removals);
        let added = plan.added_count(&self.own, self.replace.len());
        let total = self.shared.len() - plan.delete.len() + added;
        let rebase = match max_percent {
            0 => true,
            100.. => false,
            p => (total as u64) * u64::from(p) < (added as u64) * 100,
        };
        scratch.clear();
        let own = self.lay_out(&plan, scratch);
        if !rebase {
            return Ok(Written {
                own: own.pieces(&self.own, scratch),
                new_base: None,
            });
        }
        let bytes: Vec<u8> = own.pieces(&self.own, scratch).concat();
        let base = self.write_base(&plan, bytes)?;
        let mut fresh = Vec::new();
        self.small_part(base.as_bytes(), &mut fresh);
        *scratch = fresh;
        let scratch: &'a Vec<u8> = scratch;
        let mut own = vec![&scratch[..]];
        own.extend(self.kept_extensions());
        Ok(Written {
            own,
            new_base: Some(base),
        })
    }
}

/// The changes, placed: shared positions deleted and replaced, own
/// entries dropped, and the new entries in path order.
struct Plan<'e> {
    delete: Vec<usize>,
    /// (shared position, the entry replacing it: an own entry or a new one).
    replace: Vec<(usize, Source<'e>)>,
    /// Own entries dropped (replaced or added ones whose path changed).
    dropped: std::collections::BTreeSet<usize>,
    /// New entries added (their paths are not in the shared index).
    added: Vec<&'e NewEntry<'e>>,
}

#[derive(Clone, Copy)]
enum Source<'e> {
    Own(usize),
    New(&'e NewEntry<'e>),
}

impl Plan<'_> {
    fn added_count(&self, own: &RawIndex, replaced: usize) -> usize {
        let kept = (replaced..own.len())
            .filter(|i| !self.dropped.contains(i))
            .count();
        kept + self.added.len()
    }
}

/// The small part as pieces: its header and replaced entries in
/// `scratch`, then the added entries as own ranges and new bytes.
struct Layout {
    pieces: Vec<Piece>,
}

enum Piece {
    Own(Range<usize>),
    New(Range<usize>),
}

impl Layout {
    fn pieces<'a>(&self, own: &'a RawIndex, scratch: &'a [u8]) -> Vec<&'a [u8]> {
        self.pieces
            .iter()
            .map(|p| match p {
                Piece::Own(r) => &own.bytes[r.clone()],
                Piece::New(r) => &scratch[r.clone()],
            })
            .filter(|s| !s.is_empty())
            .collect()
    }
}

mod layout;
#[cfg(test)]
mod tests;
