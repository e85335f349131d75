//! Every run's summary: both parts read, each run checked against its
//! history's stamp (a closed run that no change since the closed part's
//! tree names is taken unstat'ed), and the parts brought up to date.

use std::collections::HashMap;
use std::ops::Range;

use super::check::Checked;
use super::text::{Header, Meta, Part, Text, append_part, new_token, write_part};
use super::{
    ErrorKind, MAX_APPENDED, MAX_CHANGED, Result, Run, Stamp, Summaries, Summary, SummaryIndex,
    Unreadable, folder_key, is_final, line_of, settled,
};

/// A line of a run folded just now, and whether the run is closed.
pub(super) type Fresh = (Range<usize>, bool);

impl SummaryIndex<'_> {
    /// Every run's summary, most recently updated first, and the runs
    /// whose history cannot be read (one damaged history must not hide
    /// the others; `nexo doctor` tells what is wrong with it). `fold`
    /// reads and folds a run whose line is missing or stale.
    pub fn read(&self, fold: impl Fn(&str) -> Result<Run>) -> Result<Summaries> {
        self.read_all(&fold)
    }

    pub(super) fn read_all(&self, fold: &dyn Fn(&str) -> Result<Run>) -> Result<Summaries> {
        crate::trace::mark("summaries: every run read");
        let mut text = Text::read(&self.store.cache_dir());
        let headers = text.headers();
        // Taken before the folder is read: a change after it moves it.
        let folders = self.store.runs_folder_stamps();
        let folder = folders.as_deref().map(crate::store::fanout::digest);
        let trusted = headers.as_ref().and_then(|(o, _)| o.folder);
        // The runs that may have changed since the closed part's tree
        // (`None`: every run may have).
        let changed = match (
            &self.committed,
            headers.as_ref().and_then(|(_, c)| c.tree.as_ref()),
        ) {
            (Some(c), Some(tree)) => (c.changed_since)(tree),
            _ => None,
        };
        let stale_tree = changed.as_ref().is_some_and(|c| c.len() > MAX_CHANGED);
        // An open part whose tree no diff can start from (pruned since, or
        // half written when moved on) is written anew at HEAD's: else
        // every read of the open runs would read every run.
        let open_tree_lost = match (&self.committed, headers.as_ref()) {
            (Some(c), Some((o, _))) => o
                .tree
                .as_deref()
                .is_some_and(|t| t != c.tree && (c.changed_since)(t).is_none()),
            _ => false,
        };
        // The diffs read trees from git's packs: their pages go back
        // before every line is read.
        crate::memory::phase_done();
        // The closed part is trusted only at stamps a read of every run
        // recorded: a quick read that listed the leaves vouches for the
        // open part alone.
        let every_run_read =
            trusted.is_some_and(|k| super::folders::every_run_read_at(&self.store.cache_dir(), k));
        let checked = match &headers {
            Some(h) if every_run_read && trusted == folder.map(folder_key) => {
                self.check_lines(&text, h, changed.as_ref())?
            }
            Some((o, c)) => {
                let later = [c.sorted_end..c.end, o.start..o.end];
                self.unchanged_by_id(&text, c.start..c.sorted_end, &later)?
            }
            None => self.unchanged_by_id(&text, 0..0, &[])?,
        };
        let later = headers
            .as_ref()
            .is_some_and(|(o, c)| o.start < o.end || c.sorted_end < c.end);
        let Checked {
            kept: mut all,
            gone,
            stale,
            sorted,
        } = checked;
        let (fresh, unreadable) = fold_stale(&mut text, &mut all, stale, fold)?;
        if later || !fresh.is_empty() {
            super::order::sort_after(&text, &mut all, sorted);
        }
        let settled = folder
            .filter(|f| unreadable.is_empty() && settled(f))
            .map(folder_key);
        let summaries = Summaries {
            text,
            all,
            unreadable,
            closed_out: 0,
        };
        let tree = self.committed.as_ref().map(|c| c.tree.as_str());
        let change = Change {
            gone,
            settled,
            tree,
            stale_tree,
            open_tree_lost,
            fresh: &fresh,
        };
        // Recorded as read in full once the parts hold what was read: a
        // crash between costs a read of every run, never a closed part
        // trusted that lacks a run.
        if self.write_after_all(&summaries, headers.as_ref(), change) {
            self.record_folders(settled, folders.as_deref(), headers.as_ref(), &summaries);
        }
        Ok(summaries)
    }

    /// Each folder's stamp, and how many runs each leaf holds, beside the
    /// folder key the open part records (`settled`): a run that comes
    /// later is then looked for in its leaf alone (`folders`).
    fn record_folders(
        &self,
        settled: Option<(i128, u64)>,
        folders: Option<&super::folders::Stamps>,
        headers: Option<&(Header, Header)>,
        s: &Summaries,
    ) {
        let (Some(key), Some(all)) = (settled, folders) else {
            return;
        };
        let dir = self.store.cache_dir();
        if headers.is_some_and(|(o, _)| o.folder == Some(key))
            && super::folders::every_run_read_at(&dir, key)
        {
            return;
        }
        let mut runs: HashMap<String, usize> = HashMap::new();
        for summary in &s.all {
            let rel = crate::core::layout::run_in_runs(s.id(summary));
            let leaf = rel.rsplit_once('/').map_or("", |(leaf, _)| leaf);
            *runs.entry(leaf.to_string()).or_default() += 1;
        }
        let _ = std::fs::create_dir_all(&dir);
        super::folders::write(&dir, key, all, &runs, true);
    }

    /// Brings the parts up to date after every run was read: written
    /// whole when a run is gone or the closed part grew too long; else
    /// the lines folded again appended, a run that closed appended to the
    /// closed part and the open part written without it (and written
    /// again when the folders or the count of runs changed). Whether
    /// every write went through.
    fn write_after_all(
        &self,
        s: &Summaries,
        headers: Option<&(Header, Header)>,
        c: Change,
    ) -> bool {
        let dir = self.store.cache_dir();
        let text = &s.text;
        let (closing, opening): (Vec<&Fresh>, Vec<&Fresh>) = c.fresh.iter().partition(|f| f.1);
        let closing: Vec<Range<usize>> = closing.into_iter().map(|f| f.0.clone()).collect();
        let opening: Vec<Range<usize>> = opening.into_iter().map(|f| f.0.clone()).collect();
        // A run added changes the folders' stamp and the count of runs,
        // both the open part's: the closed part stands.
        let whole = match headers {
            None => true,
            Some((_, cl)) => {
                c.gone
                    || c.stale_tree
                    || text.count_lines(cl.sorted_end..cl.end) + closing.len() > MAX_APPENDED
                    // A tree recorded once serves on: what changed since
                    // an older tree is more than since a newer, never less.
                    || (cl.tree.is_none() && c.tree.is_some())
            }
        };
        let Some((o, _)) = headers.filter(|_| !whole) else {
            return write_whole(&dir, s, c.tree, c.settled);
        };
        // The closed line first: a run in neither part would be lost to
        // `list --all` while the folders are trusted.
        if !closing.is_empty() && !append_part(&dir, Part::Closed, text, &closing) {
            return false;
        }
        let rewrite = !closing.is_empty()
            || text.count_lines(o.sorted_end..o.end) + opening.len() > MAX_APPENDED
            || o.runs != s.all.len()
            || c.settled != o.folder
            || c.open_tree_lost
            || (o.tree.is_none() && c.tree.is_some());
        if rewrite {
            let meta = Meta {
                token: &o.token,
                runs: s.all.len(),
                tree: c.tree,
                folder: c.settled,
            };
            write_part(&dir, Part::Open, open_lines(s), &meta)
        } else {
            opening.is_empty() || append_part(&dir, Part::Open, text, &opening)
        }
    }
}

/// What a read changed, for deciding what to write.
struct Change<'a> {
    gone: bool,
    settled: Option<(i128, u64)>,
    tree: Option<&'a str>,
    /// Many runs changed since the closed part's tree.
    stale_tree: bool,
    /// The open part's tree cannot be diffed from.
    open_tree_lost: bool,
    fresh: &'a [Fresh],
}

/// The lines of the open part, in `s`'s order.
pub(super) fn open_lines(s: &Summaries) -> impl Iterator<Item = &[u8]> {
    s.all
        .iter()
        .filter(|x| !is_final(x.status))
        .map(|x| s.text.raw(x.line.clone()))
}

/// Writes both parts whole, the closed one first (a reader between the
/// two finds their tokens differ and reads every run). Best effort:
/// whether both went through.
fn write_whole(
    dir: &std::path::Path,
    s: &Summaries,
    tree: Option<&str>,
    folder: Option<(i128, u64)>,
) -> bool {
    let token = new_token();
    let meta = |folder| Meta {
        token: &token,
        runs: s.all.len(),
        tree,
        folder,
    };
    let closed = s
        .all
        .iter()
        .filter(|x| is_final(x.status))
        .map(|x| s.text.raw(x.line.clone()));
    write_part(dir, Part::Closed, closed, &meta(None))
        && write_part(dir, Part::Open, open_lines(s), &meta(folder))
}

/// Folds the `stale` runs again, their lines added to `text` and to `all`.
/// Returns the lines made, and the runs that could not be read.
pub(super) fn fold_stale(
    text: &mut Text,
    all: &mut Vec<Summary>,
    stale: Vec<(String, Stamp)>,
    fold: &dyn Fn(&str) -> Result<Run>,
) -> Result<(Vec<Fresh>, Vec<Unreadable>)> {
    let mut unreadable = Vec::new();
    let mut fresh = Vec::with_capacity(stale.len());
    all.reserve(stale.len());
    for (id, stamp) in stale {
        match fold(&id) {
            Ok(run) => {
                let summary = text.push(&line_of(&run, stamp));
                fresh.push((summary.line.clone(), is_final(summary.status)));
                all.push(summary);
            }
            Err(e) if e.kind == ErrorKind::Corrupt => unreadable.push(Unreadable {
                run_id: id.into(),
                error: e.message_with_causes(),
            }),
            Err(e) => return Err(e),
        }
    }
    text.seal();
    Ok((fresh, unreadable))
}

impl SummaryIndex<'_> {
    /// What a quick read needs before it trusts a part whose tree is
    /// `since`: the runs folders as the open part `open` recorded them
    /// (no run added or removed), HEAD's tree known, and then the records
    /// changed since (a tree diff and the pending writes) and the open
    /// runs folder. `None`: read every run instead.
    pub(super) fn changed_since_part(
        &self,
        open: &super::text::Header,
        since: Option<&str>,
    ) -> Result<Option<(std::collections::HashSet<String>, crate::store::Folder)>> {
        let (Some(committed), Some(since)) = (&self.committed, since) else {
            return Ok(None);
        };
        if open.folder.is_none() {
            return Ok(None);
        }
        let Some(changed) = (committed.changed_since)(since) else {
            return Ok(None);
        };
        Ok(self.store.runs_folder()?.map(|folder| (changed, folder)))
    }

    /// The folders of runs `ids` in the runs folder and the stamps of
    /// their histories, when the runs folders are as `open` recorded them,
    /// a read of every run recorded them (the closed part is trusted) and
    /// every history is there; `None` otherwise (reading every run then
    /// tells what became of them).
    pub(super) fn stamped<'i>(
        &self,
        open: &super::text::Header,
        folder: &crate::store::Folder,
        ids: impl Iterator<Item = &'i str>,
    ) -> Option<(Vec<String>, Vec<Stamp>)> {
        let dir = self.store.cache_dir();
        if !open
            .folder
            .is_some_and(|k| super::folders::every_run_read_at(&dir, k))
        {
            return None;
        }
        let names: Vec<String> = ids.map(crate::core::layout::run_in_runs).collect();
        let stamps = self.while_folders_checked(open, names.len(), || folder.stamps(&names))?;
        let stamps = stamps.into_iter().collect::<Option<Vec<Stamp>>>()?;
        Some((names, stamps))
    }

    /// `work` (stamping the `histories` the part names), when the runs
    /// folders are as `open` recorded them; `None` when a run came or went.
    pub(super) fn while_folders_checked<T>(
        &self,
        open: &super::text::Header,
        histories: usize,
        work: impl FnOnce() -> T,
    ) -> Option<T> {
        let (now, out) = self.while_folders_read(histories, work);
        let key = now.map(|n| folder_key(crate::store::fanout::digest(&n)));
        (open.folder.is_some() && key == open.folder).then_some(out)
    }

    /// `work` (stamping `histories`), and the runs folders' stamps read
    /// meanwhile. From [`crate::store::PARALLEL_STATS`] histories, which
    /// are then stamped on two threads, the folders are stamped on a third
    /// (10,000 open runs: 11,000 `lstat`s). Below that a thread costs more
    /// than it saves on a busy 2-core machine (tried: 15% slower at 1,000).
    pub(super) fn while_folders_read<T>(
        &self,
        histories: usize,
        work: impl FnOnce() -> T,
    ) -> (Option<Vec<(String, Stamp)>>, T) {
        let read = || self.store.runs_folder_stamps();
        if histories < crate::store::PARALLEL_STATS {
            return (read(), work());
        }
        std::thread::scope(|scope| {
            let folders = scope.spawn(read);
            let out = work();
            (
                folders.join().expect("stamping folders does not panic"),
                out,
            )
        })
    }
}
