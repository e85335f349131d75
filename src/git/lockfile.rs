//! git's `index.lock`, taken as git takes it (a file created exclusively
//! beside the index and renamed over it), with one addition that lets a
//! killed nexo's lock be told from anyone else's.
//!
//! The lock file is first made under a private name, and its device and
//! inode are recorded in `<git-dir>/nexo-index-owner`; only then is it
//! linked to `index.lock` (which fails, as `O_EXCL` does, if the lock is
//! held). So whenever `index.lock` exists with the recorded inode, it is
//! nexo's: no other process can create a file with an inode that is still
//! in use. The record is removed when the lock is released. The next nexo
//! process, holding nexo's own lock (so the recorder is gone), removes a
//! recorded `index.lock` that was left behind, and never touches one that
//! does not match: that one belongs to git or another tool.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::core::error::{Error, ErrorKind, Result};

const OWNER_FILE: &str = "nexo-index-owner";
const PRIVATE_PREFIX: &str = "nexo-index-lock-";

pub struct IndexLock {
    file: Option<File>,
    lock_path: PathBuf,
    target: PathBuf,
    record: PathBuf,
}

fn lock_path_of(target: &Path) -> PathBuf {
    let mut p = target.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

#[cfg(unix)]
fn identity(m: &fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (m.dev(), m.ino())
}

#[cfg(not(unix))]
fn identity(_: &fs::Metadata) -> (u64, u64) {
    (0, 0)
}

impl IndexLock {
    /// Takes the lock on `target` (git's index), waiting up to `wait` for
    /// a running git command. `git_dir` holds the owner record; there is
    /// one record per git directory, so the caller holds nexo's lock.
    pub fn acquire(target: &Path, git_dir: &Path, wait: Duration) -> Result<IndexLock> {
        let lock_path = lock_path_of(target);
        let record = git_dir.join(OWNER_FILE);
        let dir = target.parent().unwrap_or(git_dir);
        let tmp = tempfile::Builder::new()
            .prefix(PRIVATE_PREFIX)
            .tempfile_in(dir)
            .map_err(|e| Error::io("create a lock file in", dir, e))?;
        let meta = tmp
            .as_file()
            .metadata()
            .map_err(|e| Error::io("inspect", tmp.path(), e))?;
        let (dev, ino) = identity(&meta);
        fs::write(&record, format!("{} {dev} {ino}\n", std::process::id()))
            .map_err(|e| Error::io("write", &record, e))?;
        crate::trace::crash_point("index-lock-recorded");
        let start = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            match fs::hard_link(tmp.path(), &lock_path) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if start.elapsed() >= wait {
                        let _ = fs::remove_file(&record);
                        return Err(busy(&lock_path, "it exists"));
                    }
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                // A file system without hard links: create the lock directly.
                // A kill between creating it and this process's next step
                // cannot be told from git's, so it is left for the person.
                Err(_) => {
                    let _ = fs::remove_file(&record);
                    return Self::acquire_directly(lock_path, target, record, wait);
                }
            }
        }
        // Drop the private name; the open file is now only `index.lock`.
        let (file, private) = tmp.into_parts();
        drop(private);
        crate::trace::crash_point("index-lock-taken");
        Ok(IndexLock {
            file: Some(file),
            lock_path,
            target: target.to_path_buf(),
            record,
        })
    }

    fn acquire_directly(
        lock_path: PathBuf,
        target: &Path,
        record: PathBuf,
        wait: Duration,
    ) -> Result<IndexLock> {
        let start = Instant::now();
        loop {
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&lock_path)
            {
                Ok(file) => {
                    return Ok(IndexLock {
                        file: Some(file),
                        lock_path,
                        target: target.to_path_buf(),
                        record,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && start.elapsed() < wait => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(busy(&lock_path, &e.to_string())),
            }
        }
    }

    /// Puts the written lock in place of the index and releases it.
    pub fn commit(mut self) -> Result<()> {
        let file = self.file.take().expect("a lock is committed once");
        drop(file);
        crate::trace::crash_point("index-before-rename");
        fs::rename(&self.lock_path, &self.target)
            .map_err(|e| Error::io("replace", &self.target, e))?;
        crate::trace::crash_point("index-renamed");
        let _ = fs::remove_file(&self.record);
        Ok(())
    }
}

impl Write for IndexLock {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.as_mut().expect("an uncommitted lock").write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().expect("an uncommitted lock").flush()
    }
}

impl IndexLock {
    /// The open lock file, for preallocation.
    pub fn file(&self) -> &File {
        self.file.as_ref().expect("an uncommitted lock")
    }
}

impl Drop for IndexLock {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            // Released without committing: the index stays as it was.
            let _ = fs::remove_file(&self.lock_path);
            let _ = fs::remove_file(&self.record);
        }
    }
}

fn busy(lock_path: &Path, why: &str) -> Error {
    Error::new(
        ErrorKind::Busy,
        format!(
            "git's index is locked ({}: {why}): another git command is running, or one crashed and left the lock behind. Nothing was written.",
            lock_path.display()
        ),
    )
    .with_hint(format!(
        "retry when the git command finishes; if none is running, remove {}",
        lock_path.display()
    ))
}

/// Removes an `index.lock` that a killed nexo left behind, recognised by
/// the owner record; never one that does not match it. Call only while
/// holding nexo's lock. Returns a note when it removed one.
pub fn recover(target: &Path, git_dir: &Path, sweep: bool) -> Option<String> {
    let record = git_dir.join(OWNER_FILE);
    let text = match fs::read_to_string(&record) {
        Ok(t) => t,
        Err(_) if sweep => String::new(),
        Err(_) => return None,
    };
    let lock_path = lock_path_of(target);
    let mut note = None;
    let mut fields = text.split_whitespace();
    if let (Some(pid), Some(dev), Some(ino)) = (fields.next(), fields.next(), fields.next())
        && let Ok(meta) = fs::symlink_metadata(&lock_path)
        && identity(&meta)
            == (
                dev.parse().unwrap_or(u64::MAX),
                ino.parse().unwrap_or(u64::MAX),
            )
        && fs::remove_file(&lock_path).is_ok()
    {
        note = Some(format!(
            "removed {} left by nexo process {pid}, which was killed while writing",
            lock_path.display()
        ));
    }
    let _ = fs::remove_file(&record);
    // Private names a killed process had not linked or dropped yet.
    let dir = target.parent().unwrap_or(git_dir);
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(PRIVATE_PREFIX) {
                let _ = fs::remove_file(e.path());
            }
        }
    }
    note
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_killed_holders_lock_is_recognised_and_anyone_elses_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let index = dir.path().join("index");
        fs::write(&index, "old").unwrap();
        let mut lock = IndexLock::acquire(&index, dir.path(), Duration::ZERO).unwrap();
        lock.write_all(b"half").unwrap();
        // As if killed: the lock and its record stay behind.
        std::mem::forget(lock);
        assert!(lock_path_of(&index).exists());
        let note = recover(&index, dir.path(), true).expect("recognised");
        assert!(note.contains("killed"), "{note}");
        assert!(!lock_path_of(&index).exists());
        assert_eq!(fs::read_to_string(&index).unwrap(), "old");

        // git's lock, even with a stale record of ours beside it, stays.
        fs::write(lock_path_of(&index), "git").unwrap();
        fs::write(dir.path().join(OWNER_FILE), "1 1 1\n").unwrap();
        assert_eq!(recover(&index, dir.path(), true), None);
        assert_eq!(fs::read_to_string(lock_path_of(&index)).unwrap(), "git");
    }

    #[test]
    fn a_held_lock_makes_others_wait_then_refuse_and_commit_replaces_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let index = dir.path().join("index");
        let mut held = IndexLock::acquire(&index, dir.path(), Duration::ZERO).unwrap();
        let err = IndexLock::acquire(&index, dir.path(), Duration::from_millis(20))
            .err()
            .expect("busy");
        assert!(
            err.message.contains("Nothing was written"),
            "{}",
            err.message
        );
        held.write_all(b"new").unwrap();
        held.commit().unwrap();
        assert_eq!(fs::read_to_string(&index).unwrap(), "new");
        assert!(!lock_path_of(&index).exists());
        assert!(!dir.path().join(OWNER_FILE).exists());
    }
}
