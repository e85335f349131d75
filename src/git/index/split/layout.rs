//! Placing changes in a split index: which shared entries go or are
//! replaced, how the small part is laid out, and the merged whole that
//! becomes a new shared base.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use super::super::{
    Bytes, HEADER, NewEntry, RawIndex, STALE_EXTENSIONS, encode_named, ewah, sorted_changes,
};
use super::{Layout, Piece, Plan, Source, Split};
use crate::core::error::{Error, Result};

impl Split {
    /// Places every change. A path with one live shared entry (stage 0)
    /// is replaced in place, as git does; any other is deleted from the
    /// shared part and added here. Own entries of a changed path go.
    pub(super) fn plan<'e>(&self, updates: &'e [NewEntry<'e>], removals: &'e [&str]) -> Plan<'e> {
        let (own, shared) = (&self.own, &self.shared);
        let replaced = self.replace.len();
        let mut delete: BTreeSet<usize> = self.delete.iter().copied().collect();
        let mut replace: BTreeMap<usize, Source<'e>> = self
            .replace
            .iter()
            .enumerate()
            .map(|(i, &p)| (p, Source::Own(i)))
            .collect();
        let mut dropped = BTreeSet::new();
        let mut added = Vec::new();
        for (path, entry) in sorted_changes(updates, removals) {
            let lo = shared.lower_bound_in(path, 0..shared.len());
            let live: Vec<usize> = (lo..shared.len())
                .take_while(|&p| shared.path(p) == path)
                .filter(|p| !delete.contains(p))
                .collect();
            let at = replaced + own.lower_bound_in(path, replaced..own.len());
            let own_added = (at..own.len()).take_while(|&i| own.path(i) == path);
            let had_own = own_added.clone().next().is_some();
            dropped.extend(own_added);
            match entry {
                Some(e) if live.len() == 1 && shared.stage(live[0]) == 0 && !had_own => {
                    if let Some(Source::Own(i)) = replace.insert(live[0], Source::New(e)) {
                        dropped.insert(i);
                    }
                }
                _ => {
                    for p in live {
                        if let Some(Source::Own(i)) = replace.remove(&p) {
                            dropped.insert(i);
                        }
                        delete.insert(p);
                    }
                    added.extend(entry);
                }
            }
        }
        Plan {
            delete: delete.into_iter().collect(),
            replace: replace.into_iter().collect(),
            dropped,
            added,
        }
    }

    /// The small part: header, replaced entries in shared order, added
    /// entries in path order (own ones kept, new ones merged in), the
    /// `link` extension, then the own extensions that still hold.
    pub(super) fn lay_out(&self, plan: &Plan<'_>, scratch: &mut Vec<u8>) -> Layout {
        let own = &self.own;
        let mut pieces = Vec::new();
        scratch.extend_from_slice(&own.bytes[..8]);
        scratch.extend_from_slice(&[0; 4]);
        pieces.push(Piece::New(0..HEADER));
        for (_, source) in &plan.replace {
            match source {
                Source::Own(i) => {
                    pieces.push(Piece::Own(own.offsets.get(*i)..own.offsets.get(i + 1)))
                }
                Source::New(e) => {
                    let start = scratch.len();
                    encode_named(e, b"", scratch);
                    pieces.push(Piece::New(start..scratch.len()));
                }
            }
        }
        let mut count = plan.replace.len();
        let mut next = self.replace.len();
        for e in &plan.added {
            let at = next + own.lower_bound_in(e.path.as_bytes(), next..own.len());
            count += self.keep_own(next..at, plan, &mut pieces);
            let start = scratch.len();
            encode_named(e, e.path.as_bytes(), scratch);
            pieces.push(Piece::New(start..scratch.len()));
            count += 1;
            next = at;
        }
        count += self.keep_own(next..own.len(), plan, &mut pieces);
        scratch[8..HEADER].copy_from_slice(&(count as u32).to_be_bytes());
        let start = scratch.len();
        let base = self.base.map(|b| b.as_bytes().to_vec());
        let null = vec![0; own.hash_len];
        let positions: Vec<usize> = plan.replace.iter().map(|(p, _)| *p).collect();
        link(
            base.as_deref().unwrap_or(&null),
            &plan.delete,
            &positions,
            scratch,
        );
        pieces.push(Piece::New(start..scratch.len()));
        for (sig, range) in own.extensions() {
            if !STALE_EXTENSIONS.iter().any(|s| s.as_slice() == sig) {
                pieces.push(Piece::Own(range));
            }
        }
        Layout { pieces }
    }

    /// Own entries of `range` not dropped, as few ranges as they make;
    /// how many they are.
    fn keep_own(
        &self,
        range: std::ops::Range<usize>,
        plan: &Plan<'_>,
        pieces: &mut Vec<Piece>,
    ) -> usize {
        let own = &self.own;
        let mut kept = 0;
        let mut run: Option<usize> = None;
        for i in range.clone().chain(std::iter::once(range.end)) {
            let keep = i < range.end && !plan.dropped.contains(&i);
            match (keep, run) {
                (true, None) => run = Some(i),
                (false, Some(from)) => {
                    pieces.push(Piece::Own(own.offsets.get(from)..own.offsets.get(i)));
                    kept += i - from;
                    run = None;
                }
                _ => {}
            }
        }
        kept
    }

    /// A small part with no entries over the base `hash`.
    pub(super) fn small_part(&self, hash: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(&self.own.bytes[..8]);
        out.extend_from_slice(&0u32.to_be_bytes());
        link(hash, &[], &[], out);
    }

    /// The own extensions a rewrite keeps.
    pub(super) fn kept_extensions(&self) -> Vec<&[u8]> {
        self.own
            .extensions()
            .filter(|(sig, _)| !STALE_EXTENSIONS.iter().any(|s| s.as_slice() == *sig))
            .map(|(_, r)| &self.own.bytes[r])
            .collect()
    }

    /// Writes the whole index (the shared entries with `own_bytes`, the
    /// new small part, applied) as a new shared base; its id.
    pub(super) fn write_base(
        &self,
        plan: &Plan<'_>,
        mut own_bytes: Vec<u8>,
    ) -> Result<gix::ObjectId> {
        own_bytes.extend(std::iter::repeat_n(0, self.own.hash_len));
        let small = RawIndex::parse(Bytes::Owned(own_bytes), self.own.hash_len)?
            .ok_or_else(|| super::damaged("a small part nexo laid out does not parse"))?;
        let shared = &self.shared;
        let replaced = plan.replace.len();
        // (shared position, 0 to insert before it or 1 to take its place,
        // small entry or none to drop it).
        let mut events: Vec<(usize, u8, Option<usize>)> = Vec::new();
        for (i, (p, _)) in plan.replace.iter().enumerate() {
            events.push((*p, 1, Some(i)));
        }
        events.extend(plan.delete.iter().map(|&p| (p, 1, None)));
        for i in replaced..small.len() {
            events.push((
                shared.lower_bound_in(small.path(i), 0..shared.len()),
                0,
                Some(i),
            ));
        }
        events.sort();
        let version = shared.version().max(small.version());
        let count = shared.len() - plan.delete.len() + small.len() - replaced;
        let mut out = Hashed::new(&self.git_dir, self.kind)?;
        out.put(b"DIRC")?;
        out.put(&version.to_be_bytes())?;
        out.put(&(count as u32).to_be_bytes())?;
        let mut next = 0;
        let mut named = Vec::new();
        for (pos, order, entry) in events {
            out.put(&shared.bytes[shared.offsets.get(next)..shared.offsets.get(pos)])?;
            next = pos + usize::from(order);
            match entry {
                Some(i) if i < replaced => {
                    named.clear();
                    renamed(
                        small.entry_bytes(i),
                        shared.path(pos),
                        small.hash_len,
                        &mut named,
                    );
                    out.put(&named)?;
                }
                Some(i) => out.put(small.entry_bytes(i))?,
                None => {}
            }
        }
        out.put(&shared.bytes[shared.offsets.get(next)..shared.entries_end()])?;
        out.finish()
    }
}

/// The `link` extension over base `hash`.
pub(super) fn link(hash: &[u8], delete: &[usize], replace: &[usize], out: &mut Vec<u8>) {
    out.extend_from_slice(b"link");
    let len_at = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(hash);
    ewah::encode(delete, out);
    ewah::encode(replace, out);
    let len = (out.len() - len_at - 4) as u32;
    out[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
}

/// A nameless replacing `entry` given `name`, for a whole index.
fn renamed(entry: &[u8], name: &[u8], hash_len: usize, out: &mut Vec<u8>) {
    let flags_at = super::super::STAT_LEN + hash_len;
    let flags = u16::from_be_bytes([entry[flags_at], entry[flags_at + 1]]);
    let fixed = flags_at
        + 2
        + if flags & super::super::EXTENDED != 0 {
            2
        } else {
            0
        };
    let mask = super::super::NAME_MASK;
    let flags = (flags & !mask) | name.len().min(mask as usize) as u16;
    out.extend_from_slice(&entry[..flags_at]);
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&entry[flags_at + 2..fixed]);
    out.extend_from_slice(name);
    let len = (out.len() + 8) & !7;
    out.resize(len, 0);
}

/// A new shared index being written: hashed as it goes, named by its
/// checksum once whole, so a crash leaves at most a stray temporary.
struct Hashed {
    file: std::io::BufWriter<tempfile::NamedTempFile>,
    hasher: sha1::Sha1,
    git_dir: std::path::PathBuf,
}

impl Hashed {
    fn new(git_dir: &std::path::Path, kind: gix::hash::Kind) -> Result<Hashed> {
        use sha1::Digest;
        if kind != gix::hash::Kind::Sha1 {
            return Err(Error::repo(
                "nexo writes split indexes of SHA-1 repositories only",
            ));
        }
        let mut builder = tempfile::Builder::new();
        builder.prefix("sharedindex_");
        // 0666 less the umask, as git creates it: tempfile's 0600 would
        // survive the rename, and another account could not read the index.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o666));
        }
        let tmp = builder
            .tempfile_in(git_dir)
            .map_err(|e| Error::io("create", git_dir, e))?;
        Ok(Hashed {
            file: std::io::BufWriter::with_capacity(1 << 20, tmp),
            hasher: sha1::Sha1::new(),
            git_dir: git_dir.to_path_buf(),
        })
    }

    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        use sha1::Digest;
        self.hasher.update(bytes);
        self.file
            .write_all(bytes)
            .map_err(|e| Error::io("write", &self.git_dir, e))
    }

    fn finish(mut self) -> Result<gix::ObjectId> {
        use sha1::Digest;
        let id = gix::ObjectId::from_bytes_or_panic(&self.hasher.finalize());
        self.file
            .write_all(id.as_bytes())
            .map_err(|e| Error::io("write", &self.git_dir, e))?;
        let tmp = self
            .file
            .into_inner()
            .map_err(|e| Error::io("write", &self.git_dir, e.into_error()))?;
        tmp.as_file()
            .sync_all()
            .map_err(|e| Error::io("sync", &self.git_dir, e))?;
        let path = self.git_dir.join(format!("sharedindex.{id}"));
        tmp.persist(&path)
            .map_err(|e| Error::io("rename", &path, e.error))?;
        Ok(id)
    }
}
