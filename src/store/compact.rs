//! Gives `.nexo/runs` a small folder again once it holds only the
//! fan-out folders. ext4 never shrinks a folder: after the layout upgrade
//! moved 100,000 run folders out of it, `.nexo/runs` keeps 4 MB of
//! emptied entries, and every listing of its 32 names (each command's
//! look for a layout-1 run, `list`'s stamp, git's own status) reads them
//! all. A new folder takes its entries instead: each is renamed into a
//! work folder in the git directory, which then replaces the emptied
//! `.nexo/runs` in one rename.
//!
//! The work folder is in the git directory, so no commit can take the
//! entries it holds for new files (or theirs, left behind, for deleted
//! ones), and nothing of nexo's reads there. A kill between the renames
//! leaves some entries in it: the next holder of nexo's lock finishes the
//! move before anything else (`Store::finish_compaction`).

use std::fs;
use std::io::ErrorKind as IoKind;
use std::path::{Path, PathBuf};

use super::{Held, RUNS_DIR, Store};
use crate::core::error::{Error, Result};

/// From what size a folder is judged worth compacting (ext4 gives one
/// 4 KiB block to a folder of 32 entries).
const BLOATED: u64 = 64 * 1024;

/// Bytes of folder per entry above which the folder is mostly emptied
/// entries (an ext4 entry of a run id takes 32).
const PER_ENTRY: u64 = 1024;

/// A folder far larger than its entries need: its size and its entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bloat {
    pub bytes: u64,
    pub entries: usize,
}

impl Store {
    fn compact_dir(&self) -> PathBuf {
        self.lock_path.with_file_name("nexo-runs-compacting")
    }

    /// `.nexo/runs` when its folder is far larger than its entries need
    /// (`None` on a file system whose folders shrink or report no size).
    pub fn runs_folder_bloat(&self) -> Result<Option<Bloat>> {
        let runs = self.root.join(RUNS_DIR);
        if !super::nofollow::check(&self.root, Path::new(RUNS_DIR))? {
            return Ok(None);
        }
        let meta = fs::symlink_metadata(&runs).map_err(|e| Error::io("inspect", &runs, e))?;
        let bytes = meta.len();
        // A git directory on another file system cannot take the entries:
        // no advice that `--fix` cannot follow.
        if bytes < BLOATED || !same_device(&meta, &self.lock_path.with_file_name(".")) {
            return Ok(None);
        }
        let entries = names(&runs)?.len();
        Ok((bytes > PER_ENTRY * (entries as u64).max(1)).then_some(Bloat { bytes, entries }))
    }

    /// Moves `.nexo/runs`'s entries into a new folder when the old one is
    /// bloated; `Some` with what it was when it did. Leaves everything as
    /// it is when the git directory is on another file system.
    pub fn compact_runs_folder(&self, held: &Held) -> Result<Option<Bloat>> {
        self.finish_compaction(held)?;
        let Some(bloat) = self.runs_folder_bloat()? else {
            return Ok(None);
        };
        let (runs, work) = (self.root.join(RUNS_DIR), self.compact_dir());
        fs::create_dir(&work).map_err(|e| Error::io("create", &work, e))?;
        // The old folder's mode (a shared repository's group bits), not
        // what the git directory gives a new folder.
        if let Ok(m) = fs::symlink_metadata(&runs) {
            let _ = fs::set_permissions(&work, m.permissions());
        }
        let mut first = true;
        for name in names(&runs)? {
            match fs::rename(runs.join(&name), work.join(&name)) {
                // Another file system: nothing moved yet, nothing to undo.
                Err(e) if first && e.kind() == IoKind::CrossesDevices => {
                    let _ = fs::remove_dir(&work);
                    return Ok(None);
                }
                Err(e) => return Err(Error::io("move", &runs.join(&name), e)),
                Ok(()) => {}
            }
            if first {
                crate::trace::crash_point("compact-moving");
            }
            first = false;
        }
        crate::trace::crash_point("compact-moved");
        Ok(replace(&work, &runs)?.then_some(bloat))
    }

    /// Whether a killed nexo left a compaction unfinished: one `lstat`.
    pub fn compaction_left(&self) -> bool {
        fs::symlink_metadata(self.compact_dir()).is_ok_and(|m| m.is_dir())
    }

    /// Finishes a compaction a killed nexo left: the entries still in
    /// `.nexo/runs` join those in the work folder, which then replaces
    /// it. A name in both (something made in `.nexo/runs` since, by git
    /// or by hand) is united folder by folder; two different files at one
    /// path stop it with both named, nothing removed. One `lstat` when
    /// there is nothing to finish.
    pub fn finish_compaction(&self, _: &Held) -> Result<bool> {
        if !self.compaction_left() {
            return Ok(false);
        }
        let (runs, work) = (self.root.join(RUNS_DIR), self.compact_dir());
        if super::nofollow::check(&self.root, Path::new(RUNS_DIR))? {
            move_entries(&runs, &work)?;
        } else {
            super::nofollow::create_dir_all(&self.root, Path::new(super::NEXO_DIR))?;
        }
        replace(&work, &runs)
    }
}

/// The names in folder `dir`.
fn names(dir: &Path) -> Result<Vec<std::ffi::OsString>> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io("read", dir, e))?;
    entries
        .map(|e| {
            e.map(|e| e.file_name())
                .map_err(|e| Error::io("read", dir, e))
        })
        .collect()
}

/// Renames `work` over `runs` (empty, or missing): whether it did. On
/// another file system (a bind mount shares the device number) nothing
/// can have been moved into `work`, and the empty folder is removed: left
/// there, every command would try this rename again and stop on it.
fn replace(work: &Path, runs: &Path) -> Result<bool> {
    match fs::rename(work, runs) {
        Err(e) if e.kind() == IoKind::CrossesDevices && fs::remove_dir(work).is_ok() => Ok(false),
        Err(e) => Err(Error::io("move", work, e)),
        Ok(()) => Ok(true),
    }
}

/// Whether `a` and `b` are on one file system, as far as `stat` tells.
fn same_device(a: &fs::Metadata, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(b).is_ok_and(|b| b.dev() == a.dev())
    }
    #[cfg(not(unix))]
    {
        let _ = (a, b);
        true
    }
}

/// Moves every entry of `from` into `into`, uniting two folders of one
/// name (each emptied one removed). Links are moved as links, never
/// followed.
fn move_entries(from: &Path, into: &Path) -> Result<()> {
    for name in names(from)? {
        let (src, dst) = (from.join(&name), into.join(&name));
        let kind = |p: &Path| fs::symlink_metadata(p).map(|m| m.file_type());
        match (kind(&src), kind(&dst)) {
            (_, Err(e)) if e.kind() == IoKind::NotFound => {
                fs::rename(&src, &dst).map_err(|e| Error::io("move", &src, e))?;
            }
            (Ok(a), Ok(b)) if a.is_dir() && b.is_dir() => {
                move_entries(&src, &dst)?;
                fs::remove_dir(&src).map_err(|e| Error::io("remove", &src, e))?;
            }
            (Ok(a), Ok(b)) if a.is_file() && b.is_file() && same_bytes(&src, &dst) => {
                fs::remove_file(&src).map_err(|e| Error::io("remove", &src, e))?;
            }
            _ => {
                return Err(Error::conflict(format!(
                    "{} and {} differ: a killed nexo was giving .nexo/runs a new folder, and \
                     something wrote to .nexo/runs since; nothing was removed",
                    src.display(),
                    dst.display()
                ))
                .with_hint(format!(
                    "keep the right one at {} and delete the other; the next nexo command \
                     finishes the move",
                    dst.display()
                )));
            }
        }
    }
    Ok(())
}

fn same_bytes(a: &Path, b: &Path) -> bool {
    matches!((fs::read(a), fs::read(b)), (Ok(x), Ok(y)) if x == y)
}
