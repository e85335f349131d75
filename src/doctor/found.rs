//! What `doctor` found and repaired, gathered in memory that does not grow
//! with the repository: at 100,000 runs whose views were deleted, a check
//! finds 400,000 missing views and `--fix` rewrites them all. Listing
//! each (with its message) and holding each repaired path until the
//! commit cost hundreds of megabytes, and a report no one reads.
//!
//! So problems `--fix` repairs are listed up to `limits::LISTED`, and past it
//! counted by kind; a problem it cannot repair is always listed, since
//! each needs a person. Repaired paths are listed up to `limits::LISTED` too; the
//! rest wait in a file beside git's index for the commit, which reads
//! them from the pending list in batches.

use std::collections::{BTreeMap, HashSet};
use std::hash::{Hash, Hasher};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use super::{Problem, ProblemKind};
use crate::core::error::{Error, Result};

/// The name of the file repaired paths past the listed ones wait in.
pub const SPILL_PREFIX: &str = "nexo-repaired-";

/// Problems and repaired paths, in the order they were found.
pub(super) struct Found {
    pub problems: Vec<Problem>,
    /// Repairable problems past the first `limits::LISTED`, by kind.
    pub not_listed: BTreeMap<ProblemKind, usize>,
    listed_fixable: usize,
    /// The first `limits::LISTED` paths repaired.
    pub fixed: Vec<String>,
    pub fixed_count: usize,
    /// Every repaired path's hash: whether a path was repaired already is
    /// asked of each uncommitted one. A collision (about one chance in
    /// 10^8 at 400,000 paths) leaves an uncommitted path for the next
    /// `doctor`, which names it.
    fixed_hashes: HashSet<u64>,
    /// The repaired paths past the first `limits::LISTED`.
    spill: Option<Spill>,
    dir: PathBuf,
}

struct Spill {
    out: std::io::BufWriter<std::fs::File>,
    path: tempfile::TempPath,
}

fn hash_of(path: &str) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    path.hash(&mut h);
    h.finish()
}

impl Found {
    /// Nothing found yet; repaired paths past `limits::LISTED` wait in `dir`.
    pub fn new(dir: &Path) -> Found {
        Found {
            problems: Vec::new(),
            not_listed: BTreeMap::new(),
            listed_fixable: 0,
            fixed: Vec::new(),
            fixed_count: 0,
            fixed_hashes: HashSet::new(),
            spill: None,
            dir: dir.to_path_buf(),
        }
    }

    pub fn problem(&mut self, p: Problem) {
        if !p.fixable {
            return self.problems.push(p);
        }
        if self.listed_fixable < crate::core::limits::listed() {
            self.listed_fixable += 1;
            return self.problems.push(p);
        }
        *self.not_listed.entry(p.kind).or_default() += 1;
    }

    pub fn problems(&mut self, ps: impl IntoIterator<Item = Problem>) {
        for p in ps {
            self.problem(p);
        }
    }

    /// Records `path` as repaired.
    pub fn fixed(&mut self, path: String) -> Result<()> {
        self.fixed_hashes.insert(hash_of(&path));
        self.fixed_count += 1;
        if self.fixed.len() < crate::core::limits::listed() {
            self.fixed.push(path);
            return Ok(());
        }
        let spill = match &mut self.spill {
            Some(spill) => spill,
            None => self.spill.insert(self.new_spill()?),
        };
        let io = |e| Error::io("write", &spill.path, e);
        spill.out.write_all(path.as_bytes()).map_err(io)?;
        spill.out.write_all(b"\n").map_err(io)
    }

    fn new_spill(&self) -> Result<Spill> {
        let file = tempfile::Builder::new()
            .prefix(SPILL_PREFIX)
            .tempfile_in(&self.dir)
            .map_err(|e| Error::io("create a file in", &self.dir, e))?;
        let (file, path) = file.into_parts();
        let out = std::io::BufWriter::new(file);
        Ok(Spill { out, path })
    }

    pub fn fixed_all(&mut self, paths: impl IntoIterator<Item = String>) -> Result<()> {
        paths.into_iter().try_for_each(|p| self.fixed(p))
    }

    /// Whether `path` was recorded as repaired (see `fixed_hashes`).
    pub fn was_fixed(&self, path: &str) -> bool {
        self.fixed_hashes.contains(&hash_of(path))
    }

    /// Frees what `was_fixed` asks; it answers false from then on.
    pub fn forget_which_fixed(&mut self) {
        self.fixed_hashes = HashSet::new();
    }

    /// Hands each repaired path past the first `limits::LISTED` to `take`, in the
    /// order they came.
    pub fn take_spilled(
        &mut self,
        take: impl FnOnce(&mut dyn Iterator<Item = Result<String>>) -> Result<()>,
    ) -> Result<()> {
        let Some(Spill { out, path }) = self.spill.take() else {
            return Ok(());
        };
        out.into_inner()
            .map_err(|e| Error::io("write", &path, e.into_error()))?;
        let file = std::fs::File::open(&path).map_err(|e| Error::io("read", &path, e))?;
        let mut lines = std::io::BufReader::new(file)
            .lines()
            .map(|l| l.map_err(|e| Error::io("read", &path, e)));
        take(&mut lines)
    }
}
