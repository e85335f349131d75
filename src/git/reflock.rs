//! Ref locks (`HEAD.lock`, `refs/heads/<branch>.lock`) that a nexo killed
//! while moving its branch would leave behind, blocking git and nexo alike.
//!
//! gix takes these locks itself, so nexo cannot record their inodes as it
//! does for `index.lock`. Instead it records, just before the ref update,
//! which lock files the update takes and the commit id it will write. A
//! lock file found afterwards is the killed process's when its content is
//! what that update writes (empty, the new id or a prefix of it, or HEAD's
//! symbolic target) and it was made within moments of the record. A lock
//! holding anything else, or made later, is left alone: git owns it.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::core::error::{Error, Result};

const INTENT_FILE: &str = "nexo-ref-intent";
/// How long after the record a lock file may have been made and still be
/// the recorded update's.
const WINDOW: Duration = Duration::from_secs(2);

/// A recorded ref update in flight; `clear` once it has finished.
pub struct Intent {
    path: PathBuf,
}

impl Intent {
    pub fn record(git_dir: &Path, locks: &[PathBuf], new: gix::ObjectId) -> Result<Intent> {
        let path = git_dir.join(INTENT_FILE);
        let mut text = format!("{} {new}\n", std::process::id());
        for l in locks {
            text.push_str(&l.to_string_lossy());
            text.push('\n');
        }
        fs::write(&path, text).map_err(|e| Error::io("write", &path, e))?;
        Ok(Intent { path })
    }

    pub fn clear(self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Removes the ref locks a killed nexo left behind; see the module notes.
/// Call only under nexo's lock.
pub fn recover(git_dir: &Path) -> Vec<String> {
    let path = git_dir.join(INTENT_FILE);
    let Ok(text) = fs::read_to_string(&path) else {
        return Vec::new();
    };
    let recorded_at = fs::metadata(&path).and_then(|m| m.modified()).ok();
    let mut lines = text.lines();
    let (pid, new) = lines
        .next()
        .and_then(|l| l.split_once(' '))
        .unwrap_or(("?", ""));
    let mut notes = Vec::new();
    for lock in lines.map(PathBuf::from) {
        let Ok(meta) = fs::symlink_metadata(&lock) else {
            continue;
        };
        let made = meta.modified().ok();
        let in_window = match (recorded_at, made) {
            (Some(r), Some(m)) => {
                m.duration_since(r).unwrap_or_default() <= WINDOW
                    && r.duration_since(m).unwrap_or_default() <= WINDOW
            }
            _ => false,
        };
        let content = fs::read_to_string(&lock).unwrap_or_else(|_| "\u{0}".into());
        let ours = content.is_empty()
            || (!new.is_empty() && format!("{new}\n").starts_with(&content))
            || content.starts_with("ref: ");
        if in_window && ours && fs::remove_file(&lock).is_ok() {
            notes.push(format!(
                "removed {} left by nexo process {pid}, which was killed while moving the branch",
                lock.display()
            ));
        }
    }
    let _ = fs::remove_file(&path);
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> gix::ObjectId {
        gix::ObjectId::from_hex(b"0123456789abcdef0123456789abcdef01234567").unwrap()
    }

    #[test]
    fn a_lock_holding_the_recorded_update_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let (head, branch) = (dir.path().join("HEAD.lock"), dir.path().join("main.lock"));
        let _ = Intent::record(dir.path(), &[head.clone(), branch.clone()], id()).unwrap();
        fs::write(&head, "").unwrap();
        fs::write(&branch, "0123456789abcdef01").unwrap();
        let notes = recover(dir.path());
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(!head.exists() && !branch.exists());
        assert!(!dir.path().join(INTENT_FILE).exists());
    }

    #[test]
    fn a_lock_with_other_content_or_without_a_record_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let branch = dir.path().join("main.lock");
        fs::write(&branch, "").unwrap();
        assert!(recover(dir.path()).is_empty(), "no record, no removal");
        assert!(branch.exists());
        let _ = Intent::record(dir.path(), std::slice::from_ref(&branch), id()).unwrap();
        fs::write(&branch, "ffffffffffffffffffffffffffffffffffffffff\n").unwrap();
        assert!(recover(dir.path()).is_empty(), "another update's lock");
        assert!(branch.exists());
    }

    #[test]
    fn a_cleared_intent_recovers_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let branch = dir.path().join("main.lock");
        Intent::record(dir.path(), std::slice::from_ref(&branch), id())
            .unwrap()
            .clear();
        fs::write(&branch, "").unwrap();
        assert!(recover(dir.path()).is_empty());
        assert!(branch.exists());
    }
}
