//! The on-disk store: `.nexo/` in the working tree.
//!
//! ```text
//! .nexo/.gitattributes                   union merge for histories
//! .nexo/runs/<RUN_ID>/history.jsonl      append-only events (the truth)
//! .nexo/runs/<RUN_ID>/run.yaml           view, regenerated from the fold
//! .nexo/runs/<RUN_ID>/steps/<key>.yaml   view, one per step
//! ```
//!
//! Appends are a single `write` of a whole line on an `O_APPEND` file,
//! flushed before returning; views are replaced by rename. One lock per
//! repository (kept in the git directory, never in the working tree)
//! serialises writers on this machine.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Result};
use crate::event::Event;
use crate::id::RUN_PREFIX;

pub const NEXO_DIR: &str = ".nexo";
pub const HISTORY: &str = "history.jsonl";

/// Marks histories for git's built-in union merge, so both sides' events
/// survive a plain `git pull` (the fold then dedupes and orders them), and
/// views for nexo's merge driver, which keeps either side without a
/// conflict: views are regenerated from the merged history afterwards.
pub const GITATTRIBUTES: &str = "\
# Written by nexo. Histories are append-only event logs: a merge keeps every line of both sides.
runs/*/history.jsonl merge=union
# Views are derived from the history: a merge keeps one side and the next nexo command
# regenerates them. nexo registers the nexo-view driver in .git/config; without it git
# may report conflicts here, which `nexo resolve` settles.
runs/*/run.yaml merge=nexo-view
runs/*/steps/*.yaml merge=nexo-view
";
const GITATTRIBUTES_MARK: &str = "# Written by nexo.";

/// The shortest run id prefix accepted after `WF-`, as git asks for at
/// least four characters of a hash.
const MIN_PREFIX: usize = 4;

/// How long a writer waits for another nexo process before giving up.
const LOCK_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Store {
    /// The working tree's root.
    root: PathBuf,
    /// Where the writer lock lives (inside the git directory).
    lock_path: PathBuf,
}

/// Holds the repository's nexo lock until dropped.
pub struct Lock {
    _file: File,
}

/// A run's events as read from disk.
pub struct History {
    pub events: Vec<Event>,
    /// A crash left a partial last line; it was skipped.
    pub torn_tail: bool,
}

impl Store {
    pub fn new(root: impl Into<PathBuf>, lock_path: impl Into<PathBuf>) -> Store {
        Store {
            root: root.into(),
            lock_path: lock_path.into(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn runs_dir(&self) -> PathBuf {
        self.root.join(NEXO_DIR).join("runs")
    }

    /// Path of a run's directory relative to the working tree, with `/`.
    pub fn run_rel(run_id: &str) -> String {
        format!("{NEXO_DIR}/runs/{run_id}")
    }

    pub fn abs(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Takes the writer lock, waiting up to ten seconds for another process.
    pub fn lock(&self) -> Result<Lock> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock_path)
            .map_err(|e| Error::io("open the lock file", &self.lock_path, e))?;
        let start = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Lock { _file: file }),
                Err(fs::TryLockError::WouldBlock) if start.elapsed() < LOCK_WAIT => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(Error::new(
                        ErrorKind::Busy,
                        format!(
                            "another nexo process has held {} for over {}s; retry, or stop that process",
                            self.lock_path.display(),
                            LOCK_WAIT.as_secs()
                        ),
                    ));
                }
                Err(fs::TryLockError::Error(e)) => {
                    return Err(Error::io("lock", &self.lock_path, e));
                }
            }
        }
    }

    /// All run ids present, sorted.
    pub fn run_ids(&self) -> Result<Vec<String>> {
        let dir = self.runs_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("read", &dir, e)),
        };
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("read", &dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(RUN_PREFIX) && entry.path().join(HISTORY).is_file() {
                ids.push(name.to_string());
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// Resolves a full run id or a unique prefix of one (with or without
    /// `WF-`, any case), like git's short hashes.
    pub fn resolve(&self, given: &str) -> Result<String> {
        let trimmed = given.trim();
        if trimmed.is_empty() {
            return Err(Error::invalid(
                "run_id is empty: pass a run id such as WF-7K2D… (see `nexo list`)",
            ));
        }
        let upper = trimmed.to_ascii_uppercase();
        let wanted = if upper.starts_with(RUN_PREFIX) {
            upper
        } else {
            format!("{RUN_PREFIX}{upper}")
        };
        crate::model::validate_name("run_id", &wanted)?;
        // The common case, a full id, costs one stat instead of a listing.
        if self.runs_dir().join(&wanted).join(HISTORY).is_file() {
            return Ok(wanted);
        }
        if wanted.len() < RUN_PREFIX.len() + MIN_PREFIX {
            return Err(Error::invalid(format!(
                "run id prefix {given:?} is too short: give at least {MIN_PREFIX} characters after {RUN_PREFIX} (see `nexo list`)"
            )));
        }
        let matches: Vec<String> = self
            .run_ids()?
            .into_iter()
            .filter(|id| id.starts_with(&wanted))
            .collect();
        match matches.len() {
            1 => Ok(matches.into_iter().next().expect("one match")),
            0 => Err(Error::not_found(format!(
                "unknown run {given:?}: no run in {} matches it (see `nexo list --all`)",
                self.runs_dir().display()
            ))),
            _ => Err(Error::new(
                ErrorKind::Ambiguous,
                format!(
                    "run id prefix {given:?} is ambiguous; it matches {}",
                    matches.join(", ")
                ),
            )),
        }
    }

    fn history_path(&self, run_id: &str) -> PathBuf {
        self.runs_dir().join(run_id).join(HISTORY)
    }

    /// Reads a run's history. A partial last line (a crash mid-append) is
    /// skipped; any other unreadable line is an error naming file and line.
    pub fn read_history(&self, run_id: &str) -> Result<History> {
        let path = self.history_path(run_id);
        let bytes = fs::read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::not_found(format!(
                    "unknown run {run_id:?}: {} does not exist",
                    path.display()
                ))
            } else {
                Error::io("read", &path, e)
            }
        })?;
        parse_history(&bytes, &format!("{}/{HISTORY}", Self::run_rel(run_id)))
    }

    /// Appends one event. The caller holds the lock. A torn tail left by a
    /// crash is cut off first so the new line starts on a line of its own.
    pub fn append(&self, run_id: &str, event: &Event) -> Result<()> {
        let path = self.history_path(run_id);
        let dir = path.parent().expect("history has a parent");
        fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io("open", &path, e))?;
        cut_torn_tail(&mut file).map_err(|e| Error::io("repair the end of", &path, e))?;
        let mut line = event.to_line();
        line.push('\n');
        file.write_all(line.as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(|e| Error::io("append to", &path, e))
    }

    /// Writes `.nexo/.gitattributes` if it is missing or an older nexo
    /// wrote it; returns its relative path when it did. A file the user
    /// wrote themselves is left alone.
    pub fn ensure_gitattributes(&self) -> Result<Option<String>> {
        let rel = format!("{NEXO_DIR}/.gitattributes");
        let path = self.abs(&rel);
        match fs::read_to_string(&path) {
            Ok(text) if text == GITATTRIBUTES || !text.starts_with(GITATTRIBUTES_MARK) => {
                return Ok(None);
            }
            _ => {}
        }
        write_atomic(&path, GITATTRIBUTES.as_bytes())?;
        Ok(Some(rel))
    }

    /// Replaces `rel` with `bytes` unless it already holds exactly them.
    /// Returns whether the file changed.
    pub fn write_if_changed(&self, rel: &str, bytes: &[u8]) -> Result<bool> {
        let path = self.abs(rel);
        if fs::read(&path).is_ok_and(|old| old == bytes) {
            return Ok(false);
        }
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        }
        write_atomic(&path, bytes)?;
        Ok(true)
    }
}

/// Parses history bytes; `place` names the file in errors.
pub fn parse_history(bytes: &[u8], place: &str) -> Result<History> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| Error::corrupt(format!("{place}: not UTF-8 ({e})")))?;
    let torn_tail = !text.is_empty() && !text.ends_with('\n');
    let mut events = Vec::new();
    let mut lines = text.split('\n').enumerate().peekable();
    while let Some((i, line)) = lines.next() {
        let last = lines.peek().is_none();
        if line.trim().is_empty() {
            continue;
        }
        if last && torn_tail {
            // Only a line that is not terminated may be torn; a complete
            // line that happens to parse is still an event.
            if let Ok(e) = Event::from_line(line, "") {
                events.push(e);
            }
            break;
        }
        events.push(Event::from_line(line, &format!("{place}:{}", i + 1))?);
    }
    Ok(History { events, torn_tail })
}

fn cut_torn_tail(file: &mut File) -> std::io::Result<()> {
    let len = file.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok(());
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut last)?;
    if last[0] == b'\n' {
        return Ok(());
    }
    // Find the last newline; everything after it is a fragment no reader
    // ever accepted as an event.
    let mut buf = Vec::new();
    file.seek(SeekFrom::Start(0))?;
    file.read_to_end(&mut buf)?;
    let keep = buf.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    file.set_len(keep as u64)?;
    file.sync_data()
}

/// Writes a file by temp-file-and-rename so readers never see half of it.
/// Not flushed to disk: views are derived and rewritten whenever they do
/// not match the history, which is the file that is flushed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().expect("files live in a directory");
    fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".nexo-tmp-")
        .tempfile_in(dir)
        .map_err(|e| Error::io("create a temporary file in", dir, e))?;
    // Temporary files are private by default; views are ordinary files.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(0o644))
            .map_err(|e| Error::io("set permissions of", path, e))?;
    }
    tmp.write_all(bytes)
        .map_err(|e| Error::io("write", path, e))?;
    tmp.persist(path)
        .map_err(|e| Error::io("replace", path, e.error))?;
    Ok(())
}
