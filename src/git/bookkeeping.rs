//! nexo's per-clone bookkeeping, all inside the git directory so it can
//! never be committed: the merge driver registration, the paths written
//! but not committed yet (`nexo-pending`), the `.nexo/runs` tree whose
//! views were last known current (`nexo-seen`), and the stat data of the
//! index nexo last wrote (`nexo-index-stamp`). Losing any of these files
//! costs at most a re-check.

use std::io::Write;
use std::path::PathBuf;

use gix::lock::acquire::Fail;

use super::{INDEX_LOCK_WAIT, Repo, git_err, index};
use crate::core::error::{Error, ErrorKind, Result};
use crate::store::NEXO_DIR;

/// What rendered the views nexo last saw: this build's version.
const RENDERER: &str = concat!("nexo-", env!("CARGO_PKG_VERSION"));
/// Paths written but not committed yet, one per line, inside the git dir.
const PENDING_FILE: &str = "nexo-pending";
/// A watch's cursor, inside the git dir: `nexo-watch-<filters' name>`.
const WATCH_PREFIX: &str = "nexo-watch-";

impl Repo {
    /// Registers nexo's merge driver for views in this clone's git config,
    /// once. Returns whether it was registered now. The driver is `true`:
    /// it keeps the current side, and nexo regenerates the view afterwards.
    pub fn ensure_merge_driver(&self) -> Result<bool> {
        let snapshot = self.repo.config_snapshot();
        if snapshot.string("merge.nexo-view.driver").is_some() {
            return Ok(false);
        }
        let path = self.repo.common_dir().join("config");
        // git's own lock protocol for the config file.
        let mut lock = gix::lock::File::acquire_to_update_resource(
            &path,
            Fail::AfterDurationWithBackoff(INDEX_LOCK_WAIT),
            None,
            0,
        )
        .map_err(|e| {
            Error::new(
                ErrorKind::Busy,
                format!("cannot lock {}: {e}", path.display()),
            )
        })?;
        let mut text = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
        if !text.is_empty() && !text.ends_with(b"\n") {
            text.push(b'\n');
        }
        text.extend_from_slice(
            b"[merge \"nexo-view\"]\n\tname = nexo views (regenerated from the merged history)\n\tdriver = true\n",
        );
        lock.write_all(&text)
            .map_err(|e| Error::io("write", &path, e))?;
        lock.commit()
            .map_err(|e| Error::io("replace", &path, e.error))?;
        Ok(true)
    }

    /// The tree of `.nexo` in HEAD, if there is one.
    pub fn nexo_tree(&self) -> Result<Option<gix::ObjectId>> {
        let Some(tree) = self.head_tree()? else {
            return Ok(None);
        };
        let entry = tree
            .lookup_entry_by_path(NEXO_DIR)
            .map_err(|e| git_err("cannot read HEAD's tree", e))?;
        Ok(entry.filter(|e| e.mode().is_tree()).map(|e| e.object_id()))
    }

    /// The subtree `name` of a tree (of `.nexo`, or a folder in it).
    fn subtree(&self, nexo: Option<gix::ObjectId>, name: &str) -> Result<Option<gix::ObjectId>> {
        let Some(id) = nexo else {
            return Ok(None);
        };
        let tree = self
            .repo
            .find_tree(id)
            .map_err(|e| git_err("cannot read a tree", e))?;
        let entry = tree
            .lookup_entry_by_path(name)
            .map_err(|e| git_err("cannot read a tree", e))?;
        Ok(entry.filter(|e| e.mode().is_tree()).map(|e| e.object_id()))
    }

    /// The run and goal ids whose folder differs between two `.nexo`
    /// trees (added or changed in `new`). Reads a few trees, not records.
    pub fn changed_records(
        &self,
        old: Option<gix::ObjectId>,
        new: Option<gix::ObjectId>,
    ) -> Result<Vec<String>> {
        let changed = self.changed_records_at(old, new)?;
        Ok(changed.into_iter().map(|(name, _)| name).collect())
    }

    /// [`Repo::changed_records`], each with its folder in `new` (`None`
    /// when what `new` has there is not a folder): a reader of every
    /// changed run goes to its folder without looking its path up again
    /// from the commit down, seven tree reads a run.
    pub fn changed_records_at(
        &self,
        old: Option<gix::ObjectId>,
        new: Option<gix::ObjectId>,
    ) -> Result<Vec<(String, Option<gix::ObjectId>)>> {
        // Runs sit two fan-out folders down (layout 2); a run folder
        // directly in `runs/` is layout 1's, named too.
        use crate::core::layout::{GOALS, RUNS};
        self.changed_in(old, new, &[(RUNS, 2), (GOALS, 0)])
    }

    /// The archived runs (`nexo archive`) whose folder differs between two
    /// `.nexo` trees (added or changed in `new`): what a merge may have
    /// brought a later event to.
    pub fn changed_archived(
        &self,
        old: Option<gix::ObjectId>,
        new: Option<gix::ObjectId>,
    ) -> Result<Vec<String>> {
        let changed = self.changed_in(old, new, &[("archive", 2)])?;
        Ok(changed.into_iter().map(|(name, _)| name).collect())
    }

    /// The entries `depth` fan-out levels below each of `folders` whose
    /// object differs between two `.nexo` trees, sorted, each with its
    /// folder in `new`.
    fn changed_in(
        &self,
        old: Option<gix::ObjectId>,
        new: Option<gix::ObjectId>,
        folders: &[(&str, u8)],
    ) -> Result<Vec<(String, Option<gix::ObjectId>)>> {
        let mut changed = Vec::new();
        for &(folder, depth) in folders {
            let (o, n) = (self.subtree(old, folder)?, self.subtree(new, folder)?);
            if o != n {
                self.changed_below(o, n, depth, &mut changed)?;
            }
        }
        changed.sort();
        Ok(changed)
    }

    /// The records whose folder differs between two trees `depth` fan-out
    /// levels above them, descending only into fan-out folders that differ.
    fn changed_below(
        &self,
        old: Option<gix::ObjectId>,
        new: Option<gix::ObjectId>,
        depth: u8,
        out: &mut Vec<(String, Option<gix::ObjectId>)>,
    ) -> Result<()> {
        for (name, was, is) in self.changed_entries(old, new)? {
            if depth == 0 || !crate::core::layout::is_shard(&name) {
                out.push((name, is));
                continue;
            }
            self.changed_below(was, is, depth - 1, out)?;
        }
        Ok(())
    }

    /// The entries whose object differs between two trees (added or
    /// changed in `new`), sorted, each with what it was in `old` and is in
    /// `new` when a folder there.
    #[allow(clippy::type_complexity)]
    fn changed_entries(
        &self,
        old: Option<gix::ObjectId>,
        new: Option<gix::ObjectId>,
    ) -> Result<Vec<(String, Option<gix::ObjectId>, Option<gix::ObjectId>)>> {
        type Entries = std::collections::HashMap<String, (gix::ObjectId, bool)>;
        let entries = |id: Option<gix::ObjectId>| -> Result<Entries> {
            let Some(id) = id else {
                return Ok(Default::default());
            };
            crate::memory::read_one();
            let tree = self
                .repo
                .find_tree(id)
                .map_err(|e| git_err("cannot read a tree", e))?;
            let decoded = tree
                .decode()
                .map_err(|e| git_err("cannot decode a tree", e))?;
            Ok(decoded
                .entries
                .iter()
                .map(|e| (e.filename.to_string(), (e.oid.to_owned(), e.mode.is_tree())))
                .collect())
        };
        let (old, new) = (entries(old)?, entries(new)?);
        let folder = |(id, is_tree): (gix::ObjectId, bool)| is_tree.then_some(id);
        let mut changed: Vec<_> = new
            .into_iter()
            .filter(|(name, id)| old.get(name) != Some(id))
            .map(|(name, is)| {
                let was = old.get(&name).copied().and_then(folder);
                (name, was, folder(is))
            })
            .collect();
        changed.sort();
        Ok(changed)
    }

    fn seen_path(&self) -> PathBuf {
        self.repo.git_dir().join("nexo-seen")
    }

    /// The `.nexo` tree whose views nexo last knew to be current, as
    /// rendered by this version of nexo: after an upgrade, which may render
    /// views differently, every record is checked once.
    /// `None` when unknown; `Some(None)` when HEAD had no `.nexo`.
    pub fn seen_tree(&self) -> Option<Option<gix::ObjectId>> {
        let text = std::fs::read_to_string(self.seen_path()).ok()?;
        let (tree, version) = text.trim().split_once(' ')?;
        if version != RENDERER {
            return None;
        }
        match tree {
            "-" => Some(None),
            hex => gix::ObjectId::from_hex(hex.as_bytes()).ok().map(Some),
        }
    }

    /// Remembers HEAD's `.nexo` tree as current. Best effort: losing it
    /// costs one re-check of the records, never correctness.
    pub fn mark_seen(&self) {
        if let Ok(tree) = self.nexo_tree() {
            let tree = tree.map_or_else(|| "-".to_string(), |t| t.to_string());
            let _ = std::fs::write(self.seen_path(), format!("{tree} {RENDERER}\n"));
        }
    }

    /// A watch's state (`nexo watch`): where it stopped, by the name of
    /// its filters; `None` when it never ran.
    pub fn watch_state(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.watch_path(name)).ok()
    }

    /// Records a watch's state whole (written beside it, then renamed), so
    /// a watch stopped at any moment finds the last state it recorded.
    pub fn set_watch_state(&self, name: &str, text: &str) -> Result<()> {
        let path = self.watch_path(name);
        let dir = path.parent().expect("a file in the git dir");
        let mut tmp = tempfile::NamedTempFile::new_in(dir)
            .map_err(|e| Error::io("create a file in", dir, e))?;
        tmp.write_all(text.as_bytes())
            .and_then(|()| tmp.as_file().sync_data())
            .map_err(|e| Error::io("write", tmp.path(), e))?;
        tmp.persist(&path)
            .map_err(|e| Error::io("replace", &path, e.error))?;
        Ok(())
    }

    fn watch_path(&self, name: &str) -> PathBuf {
        self.repo.git_dir().join(format!("{WATCH_PREFIX}{name}"))
    }

    /// Forgets the pending paths once they are committed.
    pub(super) fn clear_pending(&self) {
        let _ = std::fs::remove_file(self.pending_path());
    }

    pub(super) fn pending_path(&self) -> PathBuf {
        self.repo.git_dir().join(PENDING_FILE)
    }

    /// Paths written but not committed yet, each once (`append_pending`
    /// may list one twice, and a version-4 index, updated through gix,
    /// would take a new path twice).
    pub fn read_pending(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.pending_path()).unwrap_or_default();
        let mut seen = std::collections::HashSet::new();
        text.lines()
            .filter(|l| !l.is_empty() && seen.insert(*l))
            .map(String::from)
            .collect()
    }

    /// Records `paths` as written but not committed. Called before an
    /// append too, so a crash between writing and committing leaves the
    /// change for the next command to commit.
    pub fn add_pending(&self, paths: &[String]) -> Result<()> {
        if paths.is_empty() {
            return Ok(());
        }
        // A long list (a killed commit of every view) is not read whole,
        // nor a long one added to a set.
        if paths.len() > 1024
            || std::fs::metadata(self.pending_path()).is_ok_and(|m| m.len() > 1 << 20)
        {
            return self.append_pending(&mut paths.iter().cloned().map(Ok));
        }
        let mut all = self.read_pending();
        let mut known: std::collections::HashSet<String> = all.iter().cloned().collect();
        for p in paths {
            if known.insert(p.clone()) {
                all.push(p.clone());
            }
        }
        // Written aside and renamed (under nexo's lock, so one writer):
        // a kill mid-write must not leave a shortened list.
        let path = self.pending_path();
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, all.join("\n") + "\n")
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| Error::io("write", &path, e))
    }

    /// `add_pending` for a great many paths (every file of 100,000 moved
    /// run folders): the list is copied and the new paths written after
    /// it as they come, none of it held. A path already listed may be
    /// listed twice; `read_pending` gives it once.
    pub fn append_pending(&self, paths: &mut dyn Iterator<Item = Result<String>>) -> Result<()> {
        use std::io::{BufRead, Write};
        let path = self.pending_path();
        let tmp = path.with_extension("tmp");
        let io = |e| Error::io("write", &path, e);
        let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(io)?);
        if let Ok(file) = std::fs::File::open(&path) {
            for line in std::io::BufReader::new(file).split(b'\n') {
                let line = line.map_err(|e| Error::io("read", &path, e))?;
                if !line.is_empty() {
                    out.write_all(&line).map_err(io)?;
                    out.write_all(b"\n").map_err(io)?;
                }
            }
        }
        for p in paths {
            out.write_all(p?.as_bytes()).map_err(io)?;
            out.write_all(b"\n").map_err(io)?;
        }
        out.into_inner().map_err(|e| io(e.into_error()))?;
        // Renamed over, under nexo's lock: a kill mid-write must not
        // leave a shortened list.
        std::fs::rename(&tmp, &path).map_err(io)
    }

    /// Every `.nexo/` path that differs between HEAD and the working tree,
    /// plus the pending list: what `nexo commit` commits.
    pub fn pending_paths(&self) -> Result<Vec<String>> {
        Ok(self.pending_and_staged(&|_| true)?.0)
    }

    /// `pending_paths`, and the `.nexo/` paths whose index entry differs
    /// from HEAD when nexo found them on the way (`None`: ask git).
    /// Only paths `keep` admits are listed.
    pub fn pending_and_staged(
        &self,
        keep: &dyn Fn(&str) -> bool,
    ) -> Result<(Vec<String>, Option<Vec<String>>)> {
        let mut out = self.read_pending();
        if !crate::store::nofollow::check(&self.workdir, std::path::Path::new(NEXO_DIR))? {
            out.sort();
            return Ok((out, None));
        }
        // What nexo cannot judge itself (a split index, a damaged one)
        // goes to git, which says the same or says why not.
        let (changed, staged) = match self.nexo_changes_of(keep).unwrap_or(None) {
            Some(found) => (Some(found.pending), Some(found.staged)),
            None => (self.changed_per_git()?, None),
        };
        if let Some(mut changed) = changed {
            changed.retain(|p| keep(p));
            // Each path once, by sorting: no second copy of 400,000 paths
            // (every view of 100,000 runs, new) in a set.
            out.extend(changed);
            out.sort_unstable();
            out.dedup();
            return Ok((out, staged));
        }
        let mut listed: std::collections::HashSet<String> = out.iter().cloned().collect();
        let root = self.workdir.join(NEXO_DIR);
        let tree = self.head_tree()?;
        // A repository's insides (a nested one, a submodule's checkout)
        // are never nexo's to commit; doctor names the folder.
        for entry in walkdir::WalkDir::new(&root)
            .into_iter()
            .filter_entry(|e| e.depth() == 0 || e.file_name() != ".git")
            .filter_map(|e| e.ok())
        {
            if !entry.file_type().is_file() {
                continue;
            }
            let name = entry.file_name().to_string_lossy();
            if name.starts_with(".nexo-tmp-") {
                continue;
            }
            let rel = entry
                .path()
                .strip_prefix(&self.workdir)
                .expect("walked below the workdir")
                .to_string_lossy()
                .replace('\\', "/");
            let bytes =
                std::fs::read(entry.path()).map_err(|e| Error::io("read", entry.path(), e))?;
            let blob =
                gix::objs::compute_hash(self.repo.object_hash(), gix::objs::Kind::Blob, &bytes)
                    .map_err(|e| git_err("cannot hash", e))?;
            let in_head = match &tree {
                Some(t) => match t.lookup_entry_by_path(&rel) {
                    Ok(found) => found.map(|e| e.object_id()),
                    // Below a submodule of HEAD's: its objects are not here.
                    Err(_) if below_gitlink(t, &rel) => continue,
                    Err(e) => return Err(git_err("cannot read HEAD's tree", e)),
                },
                None => None,
            };
            if in_head != Some(blob) && keep(&rel) && listed.insert(rel.clone()) {
                out.push(rel);
            }
        }
        out.sort();
        Ok((out, None))
    }

    /// The files under `.nexo/` that differ from HEAD, as `git status`
    /// finds them: from the stat data in git's index, which nexo keeps
    /// exact, instead of reading and hashing every file (seconds, not a
    /// minute, at 100,000 runs). Ignored files too, since nexo's paths are
    /// nexo's whatever a `.gitignore` says; links, folders (a nested
    /// repository) and nexo's temporary files are not. `None` when git
    /// cannot say: every file is then compared by hand.
    fn changed_per_git(&self) -> Result<Option<Vec<String>>> {
        // Never rewriting git's index behind nexo's writes.
        let out = self.cli().run(&[
            "--no-optional-locks",
            "status",
            "--porcelain=v1",
            "-z",
            "--untracked-files=all",
            "--ignored=traditional",
            "--no-renames",
            "--",
            NEXO_DIR,
        ])?;
        if !out.status.success() {
            return Ok(None);
        }
        let mut changed = Vec::new();
        for entry in out.stdout.split(|&b| b == 0) {
            let Some(path) = entry.get(3..) else { continue };
            let rel = String::from_utf8_lossy(path).into_owned();
            let name = rel.rsplit('/').next().unwrap_or_default();
            if rel.ends_with('/') || name.starts_with(".nexo-tmp-") {
                continue;
            }
            if std::fs::symlink_metadata(self.workdir.join(&rel)).is_ok_and(|m| m.is_file()) {
                changed.push(rel);
            }
        }
        Ok(Some(changed))
    }

    /// Where we remember the index file we last wrote: its stat data and
    /// checksum. If the index still has exactly that stat data, nobody has
    /// replaced it since, and its checksum (which we computed) needs no
    /// second verification. Any git command that rewrites the index
    /// changes the inode and times, and then we verify as usual.
    fn index_stamp_path(&self) -> PathBuf {
        self.repo.git_dir().join("nexo-index-stamp")
    }

    #[cfg(not(unix))]
    fn index_fingerprint(&self) -> Option<String> {
        None
    }

    #[cfg(unix)]
    fn index_fingerprint(&self) -> Option<String> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(self.repo.index_path()).ok()?;
        Some(format!(
            "{} {} {} {}.{} {}.{}",
            m.dev(),
            m.ino(),
            m.size(),
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec()
        ))
    }

    pub(super) fn remember_index(&self, hash: gix::ObjectId) {
        if let Some(fp) = self.index_fingerprint() {
            // Only an optimisation: failing to write it costs a re-check.
            let _ = std::fs::write(self.index_stamp_path(), format!("{fp} {hash}\n"));
        }
    }

    pub(super) fn index_is_ours(&self, raw: &index::RawIndex) -> bool {
        let Some(fp) = self.index_fingerprint() else {
            return false;
        };
        let Ok(stamp) = std::fs::read_to_string(self.index_stamp_path()) else {
            return false;
        };
        let expected = format!(
            "{fp} {}\n",
            gix::ObjectId::from_bytes_or_panic(raw.stored_checksum())
        );
        stamp == expected
    }
}

/// Whether a folder above `rel` is a submodule (a gitlink) in `tree`.
fn below_gitlink(tree: &gix::Tree<'_>, rel: &str) -> bool {
    let mut above = rel;
    while let Some((folder, _)) = above.rsplit_once('/') {
        if let Ok(Some(e)) = tree.lookup_entry_by_path(folder)
            && e.mode().is_commit()
        {
            return true;
        }
        above = folder;
    }
    false
}
