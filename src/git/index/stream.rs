//! Reading git's index front to back, one entry at a time, through a small
//! buffer.
//!
//! At 100,000 runs the index holds 500,000 entries (56 MB). `git status`
//! and `git diff --cached` decode all of it into memory (140 MB each);
//! mapping it and touching every page would still count 56 MB against
//! nexo. What `doctor` and `nexo commit` need of it is each `.nexo/`
//! entry once, in order, which a reader with one entry in hand gives in
//! a few hundred kilobytes. Versions 2, 3 and 4 are read; a split or
//! sparse index is reported as such for the caller to hand to git.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use gix::ObjectId;

use super::{EXTENDED, HEADER, NAME_MASK, STAT_LEN, corrupt};
use crate::core::error::{Error, Result};

/// Extended flags (version 3 and later) that change what an entry means
/// for a status: git does not look at a skip-worktree file, and an
/// intent-to-add entry stands for a file not staged yet.
const SKIP_WORKTREE: u16 = 0x4000;
const INTENT_TO_ADD: u16 = 0x2000;
/// `git update-index --assume-unchanged` (or `core.ignoreStat`): git
/// takes the file to match its entry without looking at it.
const ASSUME_VALID: u16 = 0x8000;

/// One entry as the index stores it.
pub struct Entry {
    pub path: Vec<u8>,
    /// ctime, mtime (seconds, nanoseconds), dev, ino, mode, uid, gid, size.
    pub stat: [u32; 10],
    pub id: ObjectId,
    pub stage: u16,
    /// Skip-worktree or intent-to-add: an entry a plain comparison of
    /// contents would misjudge.
    pub special: bool,
    /// Assumed unchanged: git never compares the file with it.
    pub assumed: bool,
}

impl Entry {
    pub fn new(kind: gix::hash::Kind) -> Entry {
        Entry {
            path: Vec::new(),
            stat: [0; 10],
            id: ObjectId::null(kind),
            stage: 0,
            special: false,
            assumed: false,
        }
    }

    pub fn mode(&self) -> u32 {
        self.stat[6]
    }

    /// The stat data in gix's form, to compare with a file's.
    pub fn fs_stat(&self) -> gix::index::entry::Stat {
        let s = &self.stat;
        let time = |secs, nsecs| gix::index::entry::stat::Time { secs, nsecs };
        gix::index::entry::Stat {
            ctime: time(s[0], s[1]),
            mtime: time(s[2], s[3]),
            dev: s[4],
            ino: s[5],
            uid: s[7],
            gid: s[8],
            size: s[9],
        }
    }
}

/// An index being read entry by entry.
pub struct Stream {
    input: BufReader<File>,
    version: u32,
    left: usize,
    kind: gix::hash::Kind,
    hash_len: usize,
    /// Bytes from the end of the entries to the checksum: the extensions.
    len: u64,
    read: u64,
}

impl Stream {
    /// Opens the index at `path`; `None` when there is none.
    pub fn open(path: &Path, kind: gix::hash::Kind) -> Result<Option<Stream>> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("open", path, e)),
        };
        let len = file
            .metadata()
            .map_err(|e| Error::io("stat", path, e))?
            .len();
        let mut input = BufReader::with_capacity(256 * 1024, file);
        let mut head = [0u8; HEADER];
        input
            .read_exact(&mut head)
            .map_err(|_| corrupt("bad header"))?;
        let (version, count) = super::RawIndex::header(&head, 0)?;
        if !matches!(version, 2..=4) {
            return Err(corrupt("an index version nexo does not know"));
        }
        Ok(Some(Stream {
            input,
            version,
            left: count,
            kind,
            hash_len: kind.len_in_bytes(),
            len,
            read: HEADER as u64,
        }))
    }

    fn take(&mut self, buf: &mut [u8]) -> Result<()> {
        self.input
            .read_exact(buf)
            .map_err(|_| corrupt("entries run past the end"))?;
        self.read += buf.len() as u64;
        Ok(())
    }

    /// Reads the next entry into `e` (its path replaces the last one's);
    /// `false` past the last entry.
    pub fn next_entry(&mut self, e: &mut Entry) -> Result<bool> {
        if self.left == 0 {
            return Ok(false);
        }
        self.left -= 1;
        let start = self.read;
        let mut fixed = [0u8; STAT_LEN + 32 + 2];
        let fixed = &mut fixed[..STAT_LEN + self.hash_len + 2];
        self.take(fixed)?;
        for (i, v) in e.stat.iter_mut().enumerate() {
            *v = u32::from_be_bytes(fixed[4 * i..4 * i + 4].try_into().expect("4 bytes"));
        }
        e.id = ObjectId::from_bytes_or_panic(&fixed[STAT_LEN..STAT_LEN + self.hash_len]);
        let flags = u16::from_be_bytes([fixed[fixed.len() - 2], fixed[fixed.len() - 1]]);
        e.stage = (flags >> 12) & 3;
        e.special = false;
        e.assumed = flags & ASSUME_VALID != 0;
        if flags & EXTENDED != 0 {
            if self.version < 3 {
                return Err(corrupt("extended flags in a version 2 index"));
            }
            let mut ext = [0u8; 2];
            self.take(&mut ext)?;
            e.special = u16::from_be_bytes(ext) & (SKIP_WORKTREE | INTENT_TO_ADD) != 0;
        }
        match self.version {
            4 => self.prefixed_name(e)?,
            _ => self.padded_name(e, flags, start)?,
        }
        Ok(true)
    }

    /// Versions 2 and 3: the whole name, then 1 to 8 NULs to a multiple
    /// of 8 bytes from the entry's start.
    fn padded_name(&mut self, e: &mut Entry, flags: u16, start: u64) -> Result<()> {
        e.path.clear();
        let len = (flags & NAME_MASK) as usize;
        if len == NAME_MASK as usize {
            self.until_nul(&mut e.path)?;
        } else {
            e.path.resize(len, 0);
            let mut name = std::mem::take(&mut e.path);
            self.take(&mut name)?;
            e.path = name;
            self.skip(1)?;
        }
        let used = self.read - start;
        let padded = (used - 1 + 8) & !7;
        self.skip(padded - used)
    }

    /// Version 4: how many bytes of the previous path to drop, then the
    /// rest of this one up to a NUL.
    fn prefixed_name(&mut self, e: &mut Entry) -> Result<()> {
        let drop = super::v4::read_cut(|| {
            let mut byte = [0u8; 1];
            self.take(&mut byte)?;
            Ok(byte[0])
        })?;
        let keep = e
            .path
            .len()
            .checked_sub(drop)
            .ok_or_else(|| corrupt("a path prefix longer than the path before"))?;
        e.path.truncate(keep);
        let mut rest = Vec::new();
        self.until_nul(&mut rest)?;
        e.path.extend_from_slice(&rest);
        Ok(())
    }

    /// Appends bytes up to a NUL (read, not kept) to `out`.
    fn until_nul(&mut self, out: &mut Vec<u8>) -> Result<()> {
        let n = self
            .input
            .read_until(0, out)
            .map_err(|_| corrupt("unterminated path"))?;
        if out.pop() != Some(0) {
            return Err(corrupt("unterminated path"));
        }
        self.read += n as u64;
        Ok(())
    }

    fn skip(&mut self, n: u64) -> Result<()> {
        let copied = std::io::copy(&mut (&mut self.input).take(n), &mut std::io::sink())
            .map_err(|_| corrupt("entries run past the end"))?;
        if copied != n {
            return Err(corrupt("entries run past the end"));
        }
        self.read += n;
        Ok(())
    }

    /// After the last entry: whether the extensions make this a split
    /// index (its entries are elsewhere) or a sparse one (an entry may be
    /// a whole folder), either of which the caller leaves to git.
    pub fn split_or_sparse(mut self) -> Result<bool> {
        let mut e = Entry::new(self.kind);
        while self.left > 0 {
            self.next_entry(&mut e)?;
        }
        let end = self
            .len
            .checked_sub(self.hash_len as u64)
            .ok_or_else(|| corrupt("bad header"))?;
        while self.read + 8 <= end {
            let mut head = [0u8; 8];
            self.take(&mut head)?;
            if matches!(&head[..4], b"link" | b"sdir") {
                return Ok(true);
            }
            let len = u32::from_be_bytes(head[4..].try_into().expect("4 bytes")) as u64;
            if self.read + len > end {
                return Err(corrupt("an extension runs past the end"));
            }
            self.skip(len)?;
        }
        Ok(false)
    }
}
