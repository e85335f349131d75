//! The on-disk store: `.nexo/` in the working tree.
//!
//! May import: `core`, `trace`.
//!
//! ```text
//! .nexo/.gitattributes                   union merge for histories
//! .nexo/runs/<c>/<c>/<RUN_ID>/history.jsonl      append-only events (the truth)
//! .nexo/runs/<c>/<c>/<RUN_ID>/history/*.jsonl    its sealed beginning (see segments)
//! .nexo/runs/<c>/<c>/<RUN_ID>/run.yaml           view, regenerated from the fold
//! .nexo/runs/<c>/<c>/<RUN_ID>/steps/<key>.yaml   view, one per step
//! .nexo/goals/<GOAL_ID>/history.jsonl    a goal's events (same rules)
//! .nexo/goals/<GOAL_ID>/goal.yaml        its view
//! ```
//!
//! An id says where its record lives: `WG-` ids are goals, all others runs,
//! fanned out by their first two characters after `WF-` (`core::layout`).
//!
//! Appends are a single `write` of a whole line on an `O_APPEND` file,
//! flushed before returning; views are replaced by rename. One lock per
//! repository (kept in the git directory, never in the working tree)
//! serialises writers on this machine.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::core::error::{Error, ErrorKind, Result};
use crate::core::event::Event;
use crate::core::id::{GOAL_PREFIX, RUN_PREFIX};

mod compact;
pub mod config;
pub mod fanout;
mod folder;
pub mod nofollow;
mod parse;
pub mod segments;
pub mod templates;

pub use compact::Bloat;
pub use folder::{Folder, Stamp};
use folder::{names_at, open_dir_nofollow, stat_all};
pub use parse::{classify_tail, each_history_event, is_torn_write, parse_history};

pub use segments::{Parts, Sealing};

pub use crate::core::layout::{GOALS_DIR, HISTORY, NEXO_DIR, QUARANTINE, RUNS_DIR};

/// Marks histories for git's built-in union merge, so both sides' events
/// survive a plain `git pull` (the fold then dedupes and orders them), and
/// views for nexo's merge driver, which keeps either side without a
/// conflict: views are regenerated from the merged history afterwards.
pub const GITATTRIBUTES: &str = "\
# Written by nexo. Histories are append-only event logs: a merge keeps every line of both sides.
runs/*/*/*/history.jsonl merge=union
runs/*/*/*/history/*.jsonl merge=union
# Lines doctor --fix moved out of a history, kept: a merge keeps those of both sides.
runs/*/*/*/quarantine.jsonl merge=union
goals/*/quarantine.jsonl merge=union
# Views are derived from the history: a merge keeps one side and the next nexo command
# regenerates them. nexo registers the nexo-view driver in .git/config; without it git
# may report conflicts here, which `nexo resolve` settles.
runs/*/*/*/run.yaml merge=nexo-view
runs/*/*/*/steps/*.yaml merge=nexo-view
goals/*/history.jsonl merge=union
goals/*/history/*.jsonl merge=union
goals/*/goal.yaml merge=nexo-view
# Archived runs (nexo archive): a peer's later line follows the rename into the archive, and
# two such peers must merge there as in runs/.
archive/*/*/*/history.jsonl merge=union
archive/*/*/*/history/*.jsonl merge=union
archive/*/*/*/quarantine.jsonl merge=union
archive/*/*/*/run.yaml merge=nexo-view
archive/*/*/*/steps/*.yaml merge=nexo-view
archive/*/*/*/archived.yaml merge=nexo-view
# Layout 1 (runs/<RUN_ID>/), which a clone that has not upgraded may still merge in.
runs/*/history.jsonl merge=union
runs/*/history/*.jsonl merge=union
runs/*/quarantine.jsonl merge=union
runs/*/run.yaml merge=nexo-view
runs/*/steps/*.yaml merge=nexo-view
";
const GITATTRIBUTES_MARK: &str = "# Written by nexo.";

/// The shortest run id prefix accepted after `WF-`, as git asks for at
/// least four characters of a hash.
const MIN_PREFIX: usize = 4;

/// From how many runs a listing stats their histories on two threads.
pub const PARALLEL_STATS: usize = 2_000;

/// How long a history missing from its record's folder is waited for
/// (see `Store::reappears`).
const REAPPEAR_WAIT: Duration = Duration::from_millis(500);

/// How long a writer waits for another nexo process before giving up.
const LOCK_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Store {
    /// The working tree's root.
    root: PathBuf,
    /// Where the writer lock lives (inside the git directory).
    lock_path: PathBuf,
    /// Where temporary files are made before they are renamed into place
    /// (inside the git directory, so a killed write leaves none in `.nexo/`).
    tmp_dir: PathBuf,
}

/// Holds the repository's nexo lock until dropped. While held, the lock
/// file names the holder's process id; a clean release empties it, so a
/// non-empty lock file found by the next holder means its previous holder
/// was killed mid-write.
pub struct Lock {
    file: File,
    /// The process id a killed previous holder left in the lock file.
    pub dead_holder: Option<String>,
    /// Leave this holder's process id in the lock file when released, as
    /// a killed holder would: the next holder then recovers.
    pub keep_record: bool,
}

/// Proof that nexo's writer lock is held: only a [`Lock`] hands one out, so
/// a function that appends to a history cannot be called without it.
pub struct Held(());

static HELD: Held = Held(());

impl Lock {
    pub fn held(&self) -> &'static Held {
        &HELD
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Emptied before the kernel releases the lock on close.
        if !self.keep_record {
            let _ = self.file.set_len(0);
        }
    }
}

/// A run's events as read from disk.
pub struct History {
    pub events: Vec<Event>,
    /// A crash left a partial last line; it was skipped.
    pub torn_tail: bool,
    /// The file's length, when it ends with a whole line (what a cache of
    /// its fold may cover); `None` when its last line is unterminated.
    pub whole_len: Option<u64>,
}

/// Whether [`Store::each_event`] goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// What the end of a history file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    /// Empty, or ends with a newline.
    Clean,
    /// The last line is a whole event that lacks only its newline.
    MissingNewline,
    /// The last line is a fragment of a line nexo was writing when it was
    /// killed (`is_torn_write`): no reader ever accepted it as an event.
    Torn,
    /// The last line lacks its newline and is no fragment of nexo's: a
    /// line someone wrote by hand, a newer nexo's event. It is kept (its
    /// newline added) for `doctor` to judge, never cut.
    Foreign,
}

impl Store {
    /// A store for the working tree `root`, keeping its lock and temporary
    /// files in the (per-worktree) git directory `git_dir`.
    pub fn new(root: impl Into<PathBuf>, git_dir: &Path) -> Store {
        Store {
            root: root.into(),
            lock_path: git_dir.join("nexo.lock"),
            tmp_dir: git_dir.join("nexo-tmp"),
        }
    }

    /// Removes what a killed writer left: temporary files in nexo's
    /// folder. Only under the lock, when no other writer can be making one.
    pub fn sweep_temporaries(&self) {
        if let Ok(entries) = fs::read_dir(&self.tmp_dir) {
            for e in entries.flatten() {
                let _ = fs::remove_file(e.path());
            }
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn runs_dir(&self) -> PathBuf {
        self.root.join(RUNS_DIR)
    }

    pub fn abs(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Takes the writer lock, waiting up to ten seconds for another process.
    pub fn lock(&self) -> Result<Lock> {
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&self.lock_path)
            .map_err(|e| Error::io("open the lock file", &self.lock_path, e))?;
        let start = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) if start.elapsed() < LOCK_WAIT => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(fs::TryLockError::WouldBlock) => {
                    let mut holder = String::new();
                    let _ = file.read_to_string(&mut holder);
                    return Err(Error::new(
                        ErrorKind::Busy,
                        format!(
                            "another nexo process{} has held {} for over {}s; retry, or stop that process",
                            match holder.trim() {
                                "" => String::new(),
                                pid => format!(" (pid {pid})"),
                            },
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
        let mut previous = String::new();
        let _ = file.read_to_string(&mut previous);
        let dead_holder = Some(previous.trim().to_string()).filter(|p| !p.is_empty());
        // Best effort: the pid only improves messages and crash detection.
        let _ = file
            .set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(format!("{}\n", std::process::id()).as_bytes()));
        Ok(Lock {
            file,
            dead_holder,
            keep_record: false,
        })
    }

    /// All run ids present, sorted. A run folder that is a link is left
    /// out (`nexo doctor` reports it); `.nexo` or `runs` being a link is an
    /// error.
    pub fn run_ids(&self) -> Result<Vec<String>> {
        Ok(sorted_ids(self.stamped_run_ids()?))
    }

    /// All goal ids present, sorted (as [`Store::run_ids`]).
    pub fn goal_ids(&self) -> Result<Vec<String>> {
        Ok(sorted_ids(self.stamped_ids(GOALS_DIR, GOAL_PREFIX)?))
    }

    /// Every run id with its history's [`Stamp`], in no particular order:
    /// one lstat a run.
    pub fn stamped_run_ids(&self) -> Result<Vec<(String, Stamp)>> {
        match crate::trace::flat_layout() {
            true => self.stamped_ids(RUNS_DIR, RUN_PREFIX),
            false => self.stamped_fanned(),
        }
    }

    /// The records directly in `dir` with their histories' stamps.
    fn stamped_ids(&self, dir: &str, prefix: &str) -> Result<Vec<(String, Stamp)>> {
        let dir = Path::new(dir);
        if !nofollow::check(&self.root, dir)? {
            return Ok(Vec::new());
        }
        // The folder is read and each history stat'ed relative to it, not
        // by full paths: with 10,000 runs the path walks and the
        // allocations per entry were most of a listing's cost.
        let path = self.root.join(dir);
        let (names, stamps) = match open_dir_nofollow(&path) {
            Some(folder) => {
                let names = names_at(&folder, prefix).map_err(|e| Error::io("read", &path, e))?;
                let stamps = stat_all(&folder, &names);
                (names, stamps)
            }
            // Where a folder cannot be opened as a file (not on unix).
            None => {
                let names: Vec<String> = nofollow::read_dir(&self.root, dir)?
                    .into_iter()
                    .filter(|(name, link)| !link && name.starts_with(prefix))
                    .map(|(name, _)| name)
                    .collect();
                let stamps = Folder { file: None, path }.stamps(&names);
                (names, stamps)
            }
        };
        Ok(names
            .into_iter()
            .zip(stamps)
            .filter_map(|(name, stamp)| Some((name, stamp?)))
            .collect())
    }

    /// The `runs/` folder, opened to stamp histories in it by name
    /// (`None`: there is none).
    pub fn runs_folder(&self) -> Result<Option<Folder>> {
        let dir = Path::new(RUNS_DIR);
        if !nofollow::check(&self.root, dir)? {
            return Ok(None);
        }
        let path = self.root.join(dir);
        Ok(Some(Folder {
            file: open_dir_nofollow(&path),
            path,
        }))
    }

    /// Whether the history `rel`, missing although its record's folder is
    /// there, appears within a moment: git replaces a file it merges or
    /// checks out by removing it and writing it anew, and a command that
    /// looks in between must not call the run unknown.
    fn reappears(&self, rel: &str) -> Result<bool> {
        let folder = Path::new(rel).parent().expect("a history has a folder");
        if !nofollow::check(&self.root, folder)? {
            return Ok(false);
        }
        let start = Instant::now();
        let mut pause = Duration::from_millis(1);
        while start.elapsed() < REAPPEAR_WAIT {
            std::thread::sleep(pause);
            if nofollow::check(&self.root, Path::new(rel))? {
                return Ok(true);
            }
            pause = (pause * 2).min(Duration::from_millis(50));
        }
        Ok(false)
    }

    /// Resolves a full goal id or a unique prefix of one, as run ids.
    pub fn resolve_goal(&self, given: &str) -> Result<String> {
        self.resolve_in(given, GOAL_PREFIX, "goal", || self.goal_ids())
    }

    /// Resolves a full run id or a unique prefix of one (with or without
    /// `WF-`, any case), like git's short hashes.
    /// An archived run's prefix resolves too, when no live run has it.
    pub fn resolve(&self, given: &str) -> Result<String> {
        match self.resolve_in(given, RUN_PREFIX, "run", || self.run_ids()) {
            Err(e) if e.kind == ErrorKind::NotFound => self
                .resolve_in(given, RUN_PREFIX, "run", || self.archived_run_ids())
                .map_err(|_| e),
            found => found,
        }
    }

    fn resolve_in(
        &self,
        given: &str,
        prefix: &str,
        what: &str,
        ids: impl Fn() -> Result<Vec<String>>,
    ) -> Result<String> {
        let list = if what == "run" {
            "nexo list"
        } else {
            "nexo goal list"
        };
        let trimmed = given.trim();
        if trimmed.is_empty() {
            return Err(Error::invalid(format!(
                "{what}_id is empty: pass a {what} id such as {prefix}7K2D…"
            ))
            .with_hint(format!("`{list}` lists them")));
        }
        let upper = trimmed.to_ascii_uppercase();
        let wanted = if upper.starts_with(prefix) {
            upper
        } else {
            format!("{prefix}{upper}")
        };
        crate::core::model::validate_name(&format!("{what}_id"), &wanted)?;
        // The common case, a full id, costs a few stats instead of a listing.
        let rel = crate::core::layout::history_rel(&wanted);
        if nofollow::check(&self.root, Path::new(&rel))?
            || self.reappears(&rel)?
            || (what == "run" && self.archived_history(&wanted)?.is_some())
        {
            return Ok(wanted);
        }
        if wanted.len() < prefix.len() + MIN_PREFIX {
            return Err(Error::invalid(format!(
                "{what} id prefix {} is too short: give at least {MIN_PREFIX} characters after {prefix}",
                crate::core::limits::quote(given)
            ))
            .with_hint(format!("`{list}` lists them")));
        }
        let matches: Vec<String> = ids()?
            .into_iter()
            .filter(|id| id.starts_with(&wanted))
            .collect();
        let dir = self.root.join(match what {
            "run" => RUNS_DIR,
            _ => GOALS_DIR,
        });
        match matches.len() {
            1 => Ok(matches.into_iter().next().expect("one match")),
            0 => Err(Error::not_found(format!(
                "unknown {what} {}: no {what} in {} matches it",
                crate::core::limits::quote(given),
                dir.display()
            ))
            .with_hint(format!("`{list} --all` lists them"))),
            _ => Err(Error::new(
                ErrorKind::Ambiguous,
                format!(
                    "{what} id prefix {} is ambiguous; it matches {}",
                    crate::core::limits::quote(given),
                    matches.join(", ")
                ),
            )),
        }
    }

    /// The history of run `id` in the archive (`nexo archive`), when it
    /// is there: read by id like a live run's, never listed with them.
    pub fn archived_history(&self, id: &str) -> Result<Option<String>> {
        if id.starts_with(GOAL_PREFIX) || crate::core::model::validate_name("run_id", id).is_err() {
            return Ok(None);
        }
        let dir = crate::core::layout::archive_rel(id);
        // Junk named like a run (a file, say) is no archived run.
        if !self.is_folder(&dir)? {
            return Ok(None);
        }
        let rel = format!("{dir}/{HISTORY}");
        Ok(nofollow::check(&self.root, Path::new(&rel))?.then_some(rel))
    }

    /// Whether `rel` is a folder, never through a link (one is refused).
    pub fn is_folder(&self, rel: &str) -> Result<bool> {
        Ok(nofollow::check(&self.root, Path::new(rel))? && self.abs(rel).is_dir())
    }

    /// The last byte of a file under the working tree (`None`: no such
    /// file, or empty), never through a link: whether its last line ended.
    pub fn last_byte(&self, rel: &str) -> Result<Option<u8>> {
        let Some(mut file) = nofollow::open_read(&self.root, Path::new(rel))? else {
            return Ok(None);
        };
        let io = |e| Error::io("read", &self.abs(rel), e);
        if file.seek(SeekFrom::End(0)).map_err(io)? == 0 {
            return Ok(None);
        }
        file.seek(SeekFrom::End(-1)).map_err(io)?;
        let mut byte = [0u8];
        file.read_exact(&mut byte).map_err(io)?;
        Ok(Some(byte[0]))
    }

    /// Reads a file under the working tree, never through a link.
    pub fn read(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        nofollow::read(&self.root, Path::new(rel))
    }

    /// Identifies the current content of a run's history file (size,
    /// modification time, inode) without reading it, to notice that git
    /// replaced it (a merge) since it was read.
    pub fn history_stamp(&self, run_id: &str) -> Option<(u64, std::time::SystemTime, u64)> {
        let m = fs::symlink_metadata(self.abs(&crate::core::layout::history_rel(run_id))).ok()?;
        #[cfg(unix)]
        let ino = std::os::unix::fs::MetadataExt::ino(&m);
        #[cfg(not(unix))]
        let ino = 0;
        Some((m.len(), m.modified().ok()?, ino))
    }

    /// Reads a run's history whole, segments and live file. A partial last
    /// line (a crash mid-append) is skipped; any other unreadable line is
    /// an error naming file and line.
    pub fn read_history(&self, run_id: &str) -> Result<History> {
        self.open_history(run_id)?.read_all()
    }

    /// Hands every event of a history to `each` in order, one at a time,
    /// reading line by line, so memory does not grow with the history;
    /// `each` may stop early. The lines are read by the rules of
    /// [`parse_history`]: a torn last line is skipped, any other unreadable
    /// line is an error naming file and line.
    /// Starts at byte `from` (a line's start, counted across the segments
    /// and the live file); `each` gets every event with the offset just
    /// past its line and whether that line ended in a newline.
    pub fn each_event(
        &self,
        id: &str,
        from: u64,
        mut each: impl FnMut(Event, u64, bool) -> Result<Flow>,
    ) -> Result<()> {
        self.open_history(id)?
            .each_event(from, |e, place| each(e, place.end, place.terminated))
    }

    /// A history opened for reading, never through a link: its live file,
    /// then its sealed segments (in that order; see [`segments`]).
    pub fn open_history(&self, id: &str) -> Result<Parts> {
        let rel = crate::core::layout::history_rel(id);
        let open = || nofollow::open_read(&self.root, Path::new(&rel));
        let live = match open()? {
            Some(file) => Some(file),
            // git may be writing it anew (see `reappears`).
            None if self.reappears(&rel)? => open()?,
            None => None,
        };
        if live.is_none()
            && let Some(rel) = self.archived_history(id)?
        {
            let file = nofollow::open_read(&self.root, Path::new(&rel))?;
            if let Some(file) = file {
                return Parts::open(&self.root, &rel, file);
            }
        }
        let live = live.ok_or_else(|| {
            Error::not_found(format!(
                "unknown run {}: {} does not exist",
                crate::core::limits::quote(id),
                self.abs(&rel).display()
            ))
        })?;
        Parts::open(&self.root, &rel, live)
    }

    /// Under the lock, before a write to record `id`: when its live file
    /// has grown past the seal size, settles it and writes its lines
    /// aside as segments (see [`segments`]). The write then installs them
    /// and restarts the live file with its event.
    pub fn prepare_seal(&self, _: &Held, id: &str) -> Result<Option<Sealing>> {
        let rel = crate::core::layout::history_rel(id);
        let big = fs::symlink_metadata(self.abs(&rel))
            .is_ok_and(|m| m.is_file() && m.len() >= segments::seal_bytes());
        if !big {
            return Ok(None);
        }
        self.settle_history(&rel)?;
        segments::prepare(&self.root, &rel, &self.tmp_dir).map(Some)
    }

    /// Moves prepared segments into place, flushed, then replaces the live
    /// file with `event` alone (flushed): the seal's two steps. A crash
    /// between them leaves the events both sealed and live, which the
    /// fold reads once.
    pub fn seal(&self, _: &Held, id: &str, sealing: Sealing, event: &Event) -> Result<()> {
        segments::install(&self.root, sealing)?;
        crate::trace::crash_point("sealed");
        let mut line = event.to_line();
        line.push('\n');
        let rel = crate::core::layout::history_rel(id);
        nofollow::write_durable(&self.root, Path::new(&rel), line.as_bytes(), &self.tmp_dir)
    }

    /// The git directory's folder for nexo's derived-state cache.
    pub fn cache_dir(&self) -> PathBuf {
        self.tmp_dir.with_file_name("nexo-cache")
    }

    /// Creates a new run's history holding its first event. The file
    /// appears whole or not at all (written aside, flushed, renamed), so a
    /// crash can never leave an empty or partial history to be committed.
    pub fn create_history(&self, _: &Held, run_id: &str, event: &Event) -> Result<()> {
        let rel = crate::core::layout::history_rel(run_id);
        let rel = Path::new(&rel);
        let dir = rel.parent().expect("history has a parent");
        nofollow::create_dir_all(&self.root, dir)?;
        if nofollow::check(&self.root, rel)? {
            return Err(Error::conflict(format!("{} already exists", rel.display())));
        }
        let mut line = event.to_line();
        line.push('\n');
        nofollow::write_durable(&self.root, rel, line.as_bytes(), &self.tmp_dir)
    }

    /// Appends one event, under the lock (`Held`). The end of the file is
    /// settled first (see `settle_tail`) so the new line starts on a line
    /// of its own.
    pub fn append(&self, _: &Held, run_id: &str, event: &Event) -> Result<()> {
        let rel = crate::core::layout::history_rel(run_id);
        let path = self.abs(&rel);
        let mut file = nofollow::open(
            &self.root,
            Path::new(&rel),
            OpenOptions::new().read(true).append(true),
        )?
        .ok_or_else(|| {
            Error::not_found(format!(
                "unknown run {}: {rel} does not exist",
                crate::core::limits::quote(run_id)
            ))
        })?;
        settle_tail(&mut file).map_err(|e| Error::io("repair the end of", &path, e))?;
        let mut line = event.to_line();
        line.push('\n');
        file.write_all(line.as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(|e| Error::io("append to", &path, e))
    }

    /// Settles the end of a history file left by a crash, under the lock:
    /// a whole last event gets its newline, a fragment of nexo's own write
    /// is cut, and any other last line gets its newline and stays. Returns
    /// what it found. Never commit a history before settling it.
    pub fn settle_history(&self, rel: &str) -> Result<Tail> {
        let Some(mut file) = nofollow::open(
            &self.root,
            Path::new(rel),
            OpenOptions::new().read(true).append(true),
        )?
        else {
            return Ok(Tail::Clean);
        };
        settle_tail(&mut file).map_err(|e| Error::io("repair the end of", &self.abs(rel), e))
    }

    /// Removes from live history `rel` every line that repeats an earlier
    /// one byte for byte (what a union merge makes when both sides carry
    /// the same event), keeping the first; `true` when it changed the
    /// file. Nothing is lost: each event stays once. Under the lock.
    pub fn dedupe_history(&self, _: &Held, rel: &str) -> Result<bool> {
        let Some(bytes) = self.read(rel)? else {
            return Ok(false);
        };
        let mut seen = std::collections::HashSet::new();
        let mut kept = Vec::with_capacity(bytes.len());
        let mut dropped = false;
        for line in bytes.split_inclusive(|&b| b == b'\n') {
            let body = line.strip_suffix(b"\n").unwrap_or(line);
            if !body.is_empty() && !seen.insert(body) {
                dropped = true;
                continue;
            }
            kept.extend_from_slice(line);
        }
        if dropped {
            self.replace(rel, &kept)?;
        }
        Ok(dropped)
    }

    /// Writes `.nexo/.gitattributes` if it is missing or an older nexo
    /// wrote it; returns its relative path when it did. A file the user
    /// wrote themselves is left alone.
    pub fn ensure_gitattributes(&self) -> Result<Option<String>> {
        let rel = format!("{NEXO_DIR}/.gitattributes");
        match self.read(&rel)? {
            Some(text)
                if text == GITATTRIBUTES.as_bytes()
                    || !text.starts_with(GITATTRIBUTES_MARK.as_bytes()) =>
            {
                return Ok(None);
            }
            _ => {}
        }
        nofollow::write_atomic(
            &self.root,
            Path::new(&rel),
            GITATTRIBUTES.as_bytes(),
            &self.tmp_dir,
        )?;
        Ok(Some(rel))
    }

    /// Replaces `rel` with `bytes` unless it already holds exactly them.
    /// Returns whether the file changed.
    pub fn write_if_changed(&self, rel: &str, bytes: &[u8]) -> Result<bool> {
        if self.read(rel)?.is_some_and(|old| old == bytes) {
            return Ok(false);
        }
        nofollow::write_atomic(&self.root, Path::new(rel), bytes, &self.tmp_dir)?;
        Ok(true)
    }

    /// Replaces `rel` with `bytes` (a repaired history, a regenerated
    /// file), never through a link.
    pub fn replace(&self, rel: &str, bytes: &[u8]) -> Result<()> {
        nofollow::write_atomic(&self.root, Path::new(rel), bytes, &self.tmp_dir)
    }

    /// Whether `rel` is a regular file with nothing in it (one `lstat`).
    pub fn is_empty_file(&self, rel: &str) -> bool {
        fs::symlink_metadata(self.abs(rel)).is_ok_and(|m| m.is_file() && m.len() == 0)
    }

    pub fn remove(&self, rel: &str) -> Result<()> {
        nofollow::remove_file(&self.root, Path::new(rel))
    }
}

/// The ids of `stamped`, sorted.
fn sorted_ids(stamped: Vec<(String, Stamp)>) -> Vec<String> {
    let mut ids: Vec<String> = stamped.into_iter().map(|(id, _)| id).collect();
    ids.sort_unstable();
    ids
}

fn settle_tail(file: &mut File) -> std::io::Result<Tail> {
    let len = file.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok(Tail::Clean);
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut last)?;
    if last[0] == b'\n' {
        return Ok(Tail::Clean);
    }
    let mut buf = Vec::new();
    file.seek(SeekFrom::Start(0))?;
    file.read_to_end(&mut buf)?;
    let tail = classify_tail(&buf);
    match tail {
        Tail::Clean => {}
        // The file is opened for appending: this lands at the end.
        Tail::MissingNewline | Tail::Foreign => file.write_all(b"\n")?,
        Tail::Torn => {
            let keep = buf.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
            file.set_len(keep as u64)?;
        }
    }
    file.sync_data()?;
    Ok(tail)
}
