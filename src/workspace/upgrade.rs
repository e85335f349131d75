//! From layout 1 (`.nexo/runs/<RUN_ID>/`) to layout 2
//! (`.nexo/runs/<c>/<c>/<RUN_ID>/`, `core::layout`): every run folder
//! moved, as `git mv` would, in one commit of its own that touches only
//! `.nexo/`. Run by the first command that finds a run folder in layout
//! 1's place (after an upgrade of nexo, or after a pull brought one from
//! a clone that had not upgraded) and by `doctor --fix`.
//!
//! A folder whose run already has a folder in layout 2 (a clone that
//! wrote in layout 1 and then pulled the upgrade) is united with it: the
//! events of both, each once, in layout 2's history; then it goes.

use std::collections::HashSet;
use std::path::Path;

use crate::core::error::{Error, Result};
use crate::core::layout::{HISTORY, QUARANTINE, RUNS_DIR, is_shard, legacy_run_rel, run_rel};
use crate::git::FolderMove;
use crate::store::nofollow;
use crate::workspace::Nexo;

/// What an upgrade did.
#[derive(Debug, Default)]
pub struct Upgraded {
    /// Runs moved to layout 2's place.
    pub moved: usize,
    /// Runs whose layout-1 folder was united with their layout-2 one.
    pub united: usize,
    pub commit: Option<String>,
}

impl Nexo {
    /// The run folders in layout 1's place: folders directly in
    /// `.nexo/runs` named like a run (links are doctor's to report).
    pub(crate) fn legacy_runs(&self) -> Result<Vec<String>> {
        if crate::trace::flat_layout() {
            return Ok(Vec::new());
        }
        let root = self.store.root();
        Ok(nofollow::read_dir(root, Path::new(RUNS_DIR))?
            .into_iter()
            .filter(|(name, link)| {
                !link
                    && !is_shard(name)
                    && crate::core::model::validate_name("run_id", name).is_ok()
                    && root.join(RUNS_DIR).join(name).is_dir()
                    // A repository's checkout is no run's folder: doctor
                    // names it, and nothing of nexo's moves it.
                    && !root.join(RUNS_DIR).join(name).join(".git").exists()
            })
            .map(|(name, _)| name)
            .collect())
    }

    /// Upgrades `.nexo/` to layout 2 when a run folder is in layout 1's
    /// place; `None` when none is (one listing of `.nexo/runs`, whose
    /// entries are 32 fan-out folders). Not while a merge or rebase is in
    /// progress: its conflicts are settled first (`nexo resolve`).
    pub(crate) fn upgrade_layout(&self) -> Result<Option<Upgraded>> {
        // A compaction a killed nexo left holds run folders out of sight:
        // taking the lock finishes it, for readers too (`discover` does
        // the same; this serves a process that outlives another's kill).
        if self.store.compaction_left() {
            drop(self.lock()?);
        }
        if self.legacy_runs()?.is_empty() || self.repo.operation_in_progress() {
            return Ok(None);
        }
        let lock = self.lock()?;
        let ids = self.legacy_runs()?;
        if ids.is_empty() {
            return Ok(None);
        }
        let plan = self.repo.plan_commit(self.options.no_commit)?;
        let by_folder = !crate::trace::per_file_moves();
        let clean = match by_folder && crate::git::Repo::moves_folders(&plan) {
            true => self.clean_legacy(&ids)?,
            false => HashSet::new(),
        };
        crate::memory::phase_done();
        crate::trace::mark("upgrade: folders judged");
        let root = self.store.root();
        let mut done = Upgraded::default();
        let mut paths = Vec::new();
        for id in ids.iter().filter(|id| !clean.contains(id.as_str())) {
            // A file deleted by hand leaves its old place in the commit
            // too, or HEAD would keep a layout-1 folder of it.
            paths.extend(self.repo.paths_in_head(&legacy_run_rel(id))?);
        }
        // Pending before anything moves, once for all (a path in both
        // places): a killed upgrade leaves the next command the list of
        // what changed. Streamed: 100,000 runs are a million paths.
        let earlier = self.repo.read_pending();
        self.repo
            .append_pending(&mut run_files(root, &ids).chain(paths.iter().cloned().map(Ok)))?;
        crate::trace::mark("upgrade: pending recorded");
        crate::trace::crash_point("upgrade-pending");
        for id in ids.iter().filter(|id| !clean.contains(id.as_str())) {
            let (from, to) = (legacy_run_rel(id), run_rel(id));
            for old in files_below(root, &from)? {
                paths.push(format!("{to}{}", &old[from.len()..]));
                paths.push(old);
            }
        }
        let mut united = Vec::new();
        let mut moves = Vec::new();
        for id in &ids {
            let (from, to) = (legacy_run_rel(id), run_rel(id));
            if nofollow::check(root, Path::new(&to))? {
                self.unite(&from, &to)?;
                united.push(id.clone());
                done.united += 1;
            } else {
                self.move_folder(&from, &to)?;
                done.moved += 1;
                if clean.contains(id.as_str()) {
                    moves.push(FolderMove {
                        from: format!("{from}/"),
                        to: format!("{to}/"),
                    });
                }
            }
        }
        // What the commit no longer needs goes before it: 100,000 ids.
        drop(clean);
        drop(ids);
        crate::memory::phase_done();
        crate::trace::mark("upgrade: folders moved");
        crate::trace::crash_point("upgrade-moved");
        for id in &united {
            // A run that does not fold is doctor's to report.
            if let Ok(files) = self.render_record(id) {
                paths.extend(self.write_files(files)?);
            }
        }
        paths.extend(self.store.ensure_gitattributes()?);
        paths.extend(self.store.ensure_layout_marker()?);
        let message = upgrade_message(&done);
        done.commit = match moves.is_empty() {
            true => self.repo.finish(plan, &paths, &message)?,
            false => (self.repo).finish_moves(plan, &moves, earlier, &paths, &message)?,
        }
        .commit;
        self.compact_runs_folder(lock.held())?;
        self.note(format!(
            "upgraded .nexo/ to layout {}: {} moved{}",
            crate::core::layout::LAYOUT,
            crate::core::words::count(done.moved, "run"),
            match done.united {
                0 => String::new(),
                n => format!(", {n} united with their copy already there"),
            }
        ));
        Ok(Some(done))
    }

    /// Gives `.nexo/runs` a new folder when the old one is mostly
    /// emptied entries (`store::compact`), and says so.
    pub(crate) fn compact_runs_folder(&self, held: &crate::store::Held) -> Result<()> {
        if let Some(b) = self.store.compact_runs_folder(held)? {
            self.note(format!(
                "gave .nexo/runs a new folder: the old one took {} KB for its {} entries, \
                 which every listing of it read",
                b.bytes / 1024,
                b.entries
            ));
        }
        Ok(())
    }

    /// The runs of `ids` whose layout-1 folder git can take as a move:
    /// HEAD, git's index and the working tree agree on every file of it
    /// (nothing changed, staged, unmerged, missing or untracked, and
    /// nothing pending), and nothing is at or for its new place. Empty
    /// when nexo cannot tell (git is asked instead, `nexo_changes`).
    fn clean_legacy<'i>(&self, ids: &'i [String]) -> Result<HashSet<&'i str>> {
        let Some(changes) = self.repo.nexo_changes()? else {
            return Ok(HashSet::new());
        };
        let mut dirty: HashSet<&str> = HashSet::new();
        let pending = self.repo.read_pending();
        let all = [
            &changes.pending,
            &changes.staged,
            &changes.missing,
            &pending,
        ];
        for path in all.into_iter().flatten() {
            let Some(rest) = path
                .strip_prefix(RUNS_DIR)
                .and_then(|r| r.strip_prefix('/'))
            else {
                continue;
            };
            // `<RUN_ID>/…` in layout 1, `<c>/<c>/<RUN_ID>/…` in layout 2.
            let mut parts = rest.split('/');
            dirty.extend(parts.next());
            dirty.extend(parts.nth(1));
        }
        let root = self.store.root();
        let mut clean = HashSet::new();
        for id in ids {
            if !dirty.contains(id.as_str()) && !nofollow::check(root, Path::new(&run_rel(id)))? {
                clean.insert(id.as_str());
            }
        }
        Ok(clean)
    }

    /// Moves a run folder whole (one rename: the files keep their bytes).
    pub(super) fn move_folder(&self, from: &str, to: &str) -> Result<()> {
        let root = self.store.root();
        let parent = Path::new(to).parent().expect("a run folder has a parent");
        nofollow::create_dir_all(root, parent)?;
        std::fs::rename(root.join(from), root.join(to))
            .map_err(|e| Error::io("move", &root.join(from), e))
    }

    /// Adds to layout 2's history of a run every event of its layout-1
    /// folder (sealed segments and live file) it lacks, and the lines of
    /// its quarantine; then removes the layout-1 folder.
    pub(super) fn unite(&self, from: &str, to: &str) -> Result<()> {
        let store = &self.store;
        let to_history = format!("{to}/{HISTORY}");
        let mut have: HashSet<String> = HashSet::new();
        for line in history_lines(store, to)? {
            have.insert(event_key(&line));
        }
        let mut add = Vec::new();
        for line in history_lines(store, from)? {
            if have.insert(event_key(&line)) {
                add.extend_from_slice(line.as_bytes());
                add.push(b'\n');
            }
        }
        if !add.is_empty() {
            store.settle_history(&to_history)?;
            let mut bytes = store.read(&to_history)?.unwrap_or_default();
            bytes.extend_from_slice(&add);
            store.replace(&to_history, &bytes)?;
        }
        let (old_q, new_q) = (format!("{from}/{QUARANTINE}"), format!("{to}/{QUARANTINE}"));
        if let Some(lines) = store.read(&old_q)? {
            let mut kept = store.read(&new_q)?.unwrap_or_default();
            let known: HashSet<Vec<u8>> = kept.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
            let mut more = Vec::new();
            for line in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                if !known.contains(line) {
                    more.extend_from_slice(line);
                    more.push(b'\n');
                }
            }
            if !more.is_empty() {
                if !kept.is_empty() && !kept.ends_with(b"\n") {
                    kept.push(b'\n');
                }
                kept.extend(more);
                store.replace(&new_q, &kept)?;
            }
        }
        let root = store.root();
        if nofollow::check(root, Path::new(from))? {
            std::fs::remove_dir_all(root.join(from))
                .map_err(|e| Error::io("remove", &root.join(from), e))?;
        }
        Ok(())
    }
}

/// The lines of a run folder's history, sealed segments first.
pub(super) fn history_lines(store: &crate::store::Store, folder: &str) -> Result<Vec<String>> {
    let live = format!("{folder}/{HISTORY}");
    let mut out = Vec::new();
    for (name, _) in crate::store::segments::segments(store.root(), &live)? {
        let seg = crate::store::segments::segment_rel(&live, &name);
        out.extend(lines_of(&store.read(&seg)?.unwrap_or_default()));
    }
    out.extend(lines_of(&store.read(&live)?.unwrap_or_default()));
    Ok(out)
}

fn lines_of(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(String::from)
        .collect()
}

/// What makes two lines the same event: its id when the line is one,
/// else the line's bytes (a line no nexo can read is kept, never dropped).
pub(super) fn event_key(line: &str) -> String {
    match crate::core::event::Event::from_line(line, "") {
        Ok(e) => format!("id:{}", e.id),
        Err(_) => format!("line:{line}"),
    }
}

/// The upgrade commit's message: what moved where, and why.
fn upgrade_message(done: &Upgraded) -> String {
    format!(
        "nexo: move .nexo/runs to layout {layout}\n\n\
             {moved} moved from .nexo/runs/<RUN_ID>/ to .nexo/runs/<c>/<c>/<RUN_ID>/ (the id's first\n\
             two characters after WF-), so a write no longer rewrites a tree with an entry per run.\n\
             {united} already there, united with it (each event once). A nexo older than layout\n\
             {layout} refuses this repository (`layout: {layout}` in .nexo/config.yaml): upgrade it.\n",
        layout = crate::core::layout::LAYOUT,
        moved = crate::core::words::count(done.moved, "run"),
        united = crate::core::words::count(done.united, "run"),
    )
}

/// Every file of the layout-1 folders of `ids`, at its old place and its
/// new one, folder by folder.
fn run_files<'a>(root: &'a Path, ids: &'a [String]) -> impl Iterator<Item = Result<String>> + 'a {
    let mut queue: Vec<String> = Vec::new();
    let mut next = ids.iter();
    std::iter::from_fn(move || {
        loop {
            if let Some(p) = queue.pop() {
                return Some(Ok(p));
            }
            let id = next.next()?;
            let (from, to) = (legacy_run_rel(id), run_rel(id));
            match files_below(root, &from) {
                Ok(files) => {
                    for old in files {
                        queue.push(format!("{to}{}", &old[from.len()..]));
                        queue.push(old);
                    }
                }
                Err(e) => return Some(Err(e)),
            }
        }
    })
}

/// Every file below folder `rel`, as relative paths (links are not
/// followed, and not listed: nexo never commits through one).
pub(super) fn files_below(root: &Path, rel: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    if !nofollow::check(root, Path::new(rel))? {
        return Ok(out);
    }
    for entry in walkdir::WalkDir::new(root.join(rel)).follow_links(false) {
        let entry = entry.map_err(|e| Error::io("read", &root.join(rel), e.into()))?;
        if entry.file_type().is_file()
            && let Ok(p) = entry.path().strip_prefix(root)
        {
            out.push(p.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(out)
}
