//! The runs (or goals) folder, read as one open directory: names listed
//! and histories stamped relative to it, on two threads for a large
//! folder. With 10,000 runs, full-path walks and per-entry allocations
//! were most of a listing's cost.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use super::{HISTORY, PARALLEL_STATS};

/// What identifies a history file's content without reading it: its
/// length, modification time and inode. An append changes the length and
/// time; git writing the file anew (a checkout, a merge) changes the inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub len: u64,
    pub mtime_ns: i128,
    pub ino: u64,
}

impl Stamp {
    pub fn of(m: &fs::Metadata) -> Stamp {
        let mtime_ns = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i128);
        #[cfg(unix)]
        let ino = std::os::unix::fs::MetadataExt::ino(m);
        #[cfg(not(unix))]
        let ino = 0;
        Stamp {
            len: m.len(),
            mtime_ns,
            ino,
        }
    }
}

/// The stamps of `<name>/history.jsonl` for each of `names` under the
/// open folder `dir`, on two threads from [`PARALLEL_STATS`] names.
pub(super) fn stat_all<S: AsRef<str> + Sync>(dir: &File, names: &[S]) -> Vec<Option<Stamp>> {
    let stat = |names: &[S]| stat_here(dir, names);
    if names.len() < PARALLEL_STATS {
        return stat(names);
    }
    let (first, second) = names.split_at(names.len() / 2);
    std::thread::scope(|s| {
        let one = s.spawn(|| stat(first));
        let mut two = stat(second);
        let mut all = one.join().expect("stat threads do not panic");
        all.append(&mut two);
        all
    })
}

/// [`stat_all`] on this thread.
fn stat_here<S: AsRef<str>>(dir: &File, names: &[S]) -> Vec<Option<Stamp>> {
    // One buffer for every path, not an allocation per record.
    let mut path = Vec::with_capacity(64);
    names
        .iter()
        .map(|name| {
            path.clear();
            path.extend_from_slice(name.as_ref().as_bytes());
            path.extend_from_slice(b"/history.jsonl\0");
            stat_history_at(dir, &path)
        })
        .collect()
}

/// The stamp of `path` (`<name>/history.jsonl`, NUL-terminated) under the
/// open folder `dir`, if it is a regular file (a link is not followed,
/// and not a history).
#[cfg(unix)]
fn stat_history_at(dir: &File, path: &[u8]) -> Option<Stamp> {
    use rustix::fs::{AtFlags, FileType, statat};
    let path = std::ffi::CStr::from_bytes_with_nul(path).ok()?;
    let st = statat(dir, path, AtFlags::SYMLINK_NOFOLLOW).ok()?;
    (FileType::from_raw_mode(st.st_mode) == FileType::RegularFile).then(|| Stamp {
        len: st.st_size as u64,
        mtime_ns: st.st_mtime as i128 * 1_000_000_000 + st.st_mtime_nsec as i128,
        ino: st.st_ino,
    })
}

#[cfg(not(unix))]
fn stat_history_at(_: &File, _: &[u8]) -> Option<Stamp> {
    None
}

/// The names in the open folder `dir` that start with `prefix`, except
/// links (a history is never reached through one).
#[cfg(unix)]
pub(super) fn names_at(dir: &File, prefix: &str) -> std::io::Result<Vec<String>> {
    use rustix::fs::{Dir, FileType};
    let mut names = Vec::new();
    for entry in Dir::read_from(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().to_str() else {
            continue;
        };
        if !name.starts_with(prefix) {
            continue;
        }
        let link = match entry.file_type() {
            FileType::Symlink => true,
            FileType::Unknown => is_link_at(dir, name),
            _ => false,
        };
        if !link {
            names.push(name.to_string());
        }
    }
    Ok(names)
}

#[cfg(not(unix))]
pub(super) fn names_at(_: &File, _: &str) -> std::io::Result<Vec<String>> {
    Err(std::io::Error::other("not on unix"))
}

/// The stamps of the fan-out folders in the open runs folder `runs`
/// (each first-level folder, then each folder in it), by their paths
/// below it (`7`, `7/K`), none followed through a link; `None` when one
/// cannot be read.
#[cfg(unix)]
pub(super) fn shard_stamps(runs: &File) -> Option<Vec<(String, Stamp)>> {
    use rustix::fs::{AtFlags, Mode, OFlags, fstat, openat, statat};
    let stamp = |st: rustix::fs::Stat| Stamp {
        len: st.st_size as u64,
        mtime_ns: st.st_mtime as i128 * 1_000_000_000 + st.st_mtime_nsec as i128,
        ino: st.st_ino,
    };
    let shard = crate::core::layout::is_shard;
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut all = Vec::new();
    for first in names_at(runs, "").ok()?.iter().filter(|n| shard(n)) {
        let mid = File::from(openat(runs, first.as_str(), flags, Mode::empty()).ok()?);
        all.push((first.clone(), stamp(fstat(&mid).ok()?)));
        for second in names_at(&mid, "").ok()?.iter().filter(|n| shard(n)) {
            let st = statat(&mid, second.as_str(), AtFlags::SYMLINK_NOFOLLOW).ok()?;
            all.push((format!("{first}/{second}"), stamp(st)));
        }
    }
    Some(all)
}

#[cfg(not(unix))]
pub(super) fn shard_stamps(_: &File) -> Option<Vec<(String, Stamp)>> {
    None
}

/// Whether `name` in the open folder `dir` is a link (or unreadable).
#[cfg(unix)]
fn is_link_at(dir: &File, name: &str) -> bool {
    use rustix::fs::{AtFlags, FileType, statat};
    statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).map_or(true, |st| {
        FileType::from_raw_mode(st.st_mode) == FileType::Symlink
    })
}

/// The folder at `path`, opened only if it is a folder and not a link.
pub(super) fn open_dir_nofollow(path: &Path) -> Option<File> {
    if cfg!(not(unix)) {
        return None;
    }
    let mut opts = OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(
        &mut opts,
        libc::O_NOFOLLOW | libc::O_DIRECTORY,
    );
    opts.open(path).ok()
}

/// An open folder of records, whose histories are stamped relative to it.
pub struct Folder {
    pub(super) file: Option<File>,
    pub(super) path: PathBuf,
}

impl Folder {
    /// The stamps of the histories of records `names` (`None`: no
    /// history), on two threads from [`PARALLEL_STATS`] names.
    pub fn stamps<S: AsRef<str> + Sync>(&self, names: &[S]) -> Vec<Option<Stamp>> {
        match &self.file {
            Some(f) => stat_all(f, names),
            None => names
                .iter()
                .map(|n| {
                    fs::symlink_metadata(self.path.join(n.as_ref()).join(HISTORY))
                        .ok()
                        .filter(|m| m.is_file())
                        .map(|m| Stamp::of(&m))
                })
                .collect(),
        }
    }
}
