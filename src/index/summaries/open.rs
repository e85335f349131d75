//! The open runs' summaries from the open part alone: what `list`,
//! `ready` and `prime` read, at the cost of the open runs.
//!
//! The open part can answer alone while the `runs/` folders are those it
//! recorded (no run added or removed), and HEAD's `.nexo` tree then is
//! known: every run not in it was closed at that tree, so a run open now
//! is in the open part or named by the tree diff since (or the pending
//! writes). Those named runs are folded again; one that a later event
//! reopened joins the open part. Otherwise every run is read.

use std::collections::HashSet;
use std::ops::Range;

use super::folders::{self, Record};
use super::order::sort;
use super::read::{Fresh, fold_stale};
use super::text::{Meta, Part, Text, append_part, move_tree, write_part};
use super::{MAX_APPENDED, Result, Run, Stamp, Summaries, SummaryIndex, is_final};

impl SummaryIndex<'_> {
    /// The summaries of every run not completed or cancelled, most
    /// recently updated first, with how many others there are; from the
    /// open part alone when it can answer, else from every run's
    /// ([`SummaryIndex::read`], closed runs included).
    pub fn read_open(&self, fold: impl Fn(&str) -> Result<Run>) -> Result<Summaries> {
        match self.try_open(&fold)? {
            Some(s) => Ok(s),
            None => self.read_all(&fold),
        }
    }

    fn try_open(&self, fold: &dyn Fn(&str) -> Result<Run>) -> Result<Option<Summaries>> {
        let dir = self.store.cache_dir();
        let mut text = Text::read(&dir);
        let Some((o, _)) = text.headers() else {
            return Ok(None);
        };
        let (Some(committed), Some(since)) = (&self.committed, o.tree.as_deref()) else {
            return Ok(None);
        };
        let Some((changed, folder)) = self.changed_since_part(&o, Some(since))? else {
            return Ok(None);
        };
        let had_appended = text.count_lines(o.sorted_end..o.end);
        let appended = o.sorted_end..o.end;
        let Some(lines) = text.current(o.start..o.sorted_end, std::slice::from_ref(&appended))
        else {
            return Ok(None);
        };
        // Runs changed since the part's tree that it does not hold: closed
        // at that tree, perhaps reopened since (goals are named too).
        let others: Vec<String> = if changed.is_empty() {
            Vec::new()
        } else {
            let known: HashSet<&str> = lines.iter().map(|s| text.get(s.id.clone())).collect();
            let mut others: Vec<String> = changed
                .into_iter()
                .filter(|id| id.starts_with(crate::core::id::RUN_PREFIX))
                .filter(|id| !known.contains(id.as_str()))
                .collect();
            others.sort();
            others
        };
        let ids = lines.iter().map(|s| text.get(s.id.clone()));
        let names: Vec<String> = (ids.chain(others.iter().map(String::as_str)))
            .map(crate::core::layout::run_in_runs)
            .collect();
        let Some((stamps, came)) = self.stamped_since(&o, &folder, &names)? else {
            return Ok(None);
        };
        let (stamps, other_stamps) = stamps.split_at(lines.len());
        let mut others: Vec<(String, Stamp)> =
            others.into_iter().zip(other_stamps.to_vec()).collect();
        let came_more = came.more;
        if !came.runs.is_empty() {
            let known = (lines.iter().map(|s| text.get(s.id.clone())))
                .chain(others.iter().map(|(id, _)| id.as_str()))
                .collect();
            let Some(new) = came_unknown(&folder, came.runs, known) else {
                return Ok(None);
            };
            others.extend(new);
        }
        let mut all = Vec::with_capacity(lines.len());
        let mut stale = Vec::new();
        for (s, &st) in lines.into_iter().zip(stamps) {
            match st == s.stamp {
                true => all.push(s),
                false => stale.push((text.get(s.id.clone()).to_string(), st)),
            }
        }
        let (fresh, mut unreadable) = fold_stale(&mut text, &mut all, stale, fold)?;
        let (fresh_other, bad) = fold_stale(&mut text, &mut all, others, fold)?;
        unreadable.extend(bad);
        all.retain(|s| !is_final(s.status));
        if had_appended > 0 || !fresh.is_empty() || !fresh_other.is_empty() {
            sort(&text, &mut all);
        }
        // New runs in the leaves that changed count among the runs.
        let runs_now = (o.runs as i64 + came_more).max(0) as usize;
        let closed_out = runs_now.saturating_sub(all.len() + unreadable.len());
        let summaries = Summaries {
            text,
            all,
            unreadable,
            closed_out,
        };
        let meta = Meta {
            token: &o.token,
            runs: o.runs,
            tree: Some(&committed.tree),
            folder: o.folder,
        };
        write_after_open(
            &dir,
            &summaries,
            (&meta, since),
            came.record,
            had_appended,
            [&fresh, &fresh_other],
        );
        Ok(Some(summaries))
    }
}

/// The runs in a leaf that changed that neither the part nor the diff
/// names (not `known`), with their histories' stamps: each may have come
/// since (a closed one stays out). `None` when a history is missing.
fn came_unknown(
    folder: &crate::store::Folder,
    runs: Vec<String>,
    known: HashSet<&str>,
) -> Option<Vec<(String, Stamp)>> {
    let new: Vec<String> = (runs.into_iter())
        .filter(|id| !known.contains(id.as_str()))
        .collect();
    let names: Vec<String> = new
        .iter()
        .map(|id| crate::core::layout::run_in_runs(id))
        .collect();
    let stamps = folder
        .stamps(&names)
        .into_iter()
        .collect::<Option<Vec<_>>>()?;
    Some(new.into_iter().zip(stamps).collect())
}

/// Brings the open part up to date: written again when a run of it
/// closed (its line appended to the closed part first), when the folders'
/// new stamps are recorded, or when too many lines were appended; else
/// the lines folded again appended (a run not in it that is open now
/// too), and its tree moved on in place (`since`, the tree it had): the
/// part now holds every open run as of HEAD's tree, and the next read's
/// diff starts there, not at an older tree in a pack.
/// `fresh`: the lines of runs of the part, then of others.
fn write_after_open(
    dir: &std::path::Path,
    s: &Summaries,
    (meta, since): (&Meta, &str),
    record: Option<Record>,
    had_appended: usize,
    [fresh, fresh_other]: [&[Fresh]; 2],
) {
    // A test hook: other reads and writes between this read's look at the
    // part and what it writes of it.
    crate::trace::pause_point("summaries-open-write");
    let opened: Vec<Range<usize>> = fresh
        .iter()
        .chain(fresh_other)
        .filter(|f| !f.1)
        .map(|f| f.0.clone())
        .collect();
    let closing: Vec<Range<usize>> = fresh.iter().filter(|f| f.1).map(|f| f.0.clone()).collect();
    let rewrite = s.unreadable.is_empty()
        && (record.is_some() || !closing.is_empty() || had_appended + opened.len() > MAX_APPENDED);
    if !rewrite {
        let appended = opened.is_empty() || append_part(dir, Part::Open, &s.text, &opened);
        if let Some(tree) = meta.tree.filter(|_| appended && s.unreadable.is_empty()) {
            move_tree(dir, &s.text, since, tree);
        }
        return;
    }
    // The closed line first: a run in neither part would be lost to
    // `list --all` while the folders are trusted.
    if closing.is_empty() || append_part(dir, Part::Closed, &s.text, &closing) {
        let lines = s.all.iter().map(|x| s.text.raw(x.line.clone()));
        // The folders' new key, its stamps written first: a part naming a
        // key whose stamps are not there only costs a read of every run.
        let (folder, runs) = match record {
            Some((key, all, counts)) if folders::write(dir, key, &all, &counts, false) => {
                (Some(key), counts.values().sum())
            }
            _ => (meta.folder, meta.runs),
        };
        let meta = Meta {
            folder,
            runs,
            ..*meta
        };
        write_part(dir, Part::Open, lines, &meta);
    }
}
