//! `list --all --limit N`: the N most recently updated runs, open or
//! closed, without reading every closed run. The closed part's sorted
//! lines are in the order the list promises (most recently updated
//! first, then by id), so they are read from the start and merged with
//! what may be newer than them: the open part, the closed part's
//! appended lines, and every run the tree diff since the closed part's
//! tree (or a pending write) names, folded again. Once N runs are found
//! the rest of the closed part is not read.

use std::collections::HashSet;

use super::order::{order, sort};
use super::read::fold_stale;
use super::text::Text;
use super::{Result, Run, Stamp, Summaries, Summary, SummaryIndex};

impl SummaryIndex<'_> {
    /// The `limit` most recently updated runs, open or closed (fewer when
    /// there are fewer), as [`SummaryIndex::read`] would list them first.
    pub fn read_newest(
        &self,
        limit: usize,
        fold: impl Fn(&str) -> Result<Run>,
    ) -> Result<Summaries> {
        match self.try_newest(limit, &fold)? {
            Some(s) => Ok(s),
            None => self.read_all(&fold),
        }
    }

    fn try_newest(
        &self,
        limit: usize,
        fold: &dyn Fn(&str) -> Result<Run>,
    ) -> Result<Option<Summaries>> {
        let mut text = Text::read(&self.store.cache_dir());
        let Some((o, c)) = text.headers() else {
            return Ok(None);
        };
        let Some((changed, folder)) = self.changed_since_part(&o, c.tree.as_deref())? else {
            return Ok(None);
        };
        // Reading every run records a newer tree for the next time.
        if changed.len() > super::MAX_CHANGED {
            return Ok(None);
        }
        let Some(later) = text.current(
            c.sorted_end..c.sorted_end,
            &[c.sorted_end..c.end, o.start..o.end],
        ) else {
            return Ok(None);
        };
        let others: Vec<String> = {
            let known: HashSet<&str> = later.iter().map(|s| text.get(s.id.clone())).collect();
            changed
                .into_iter()
                .filter(|id| id.starts_with(crate::core::id::RUN_PREFIX))
                .filter(|id| !known.contains(id.as_str()))
                .collect()
        };
        let n_others = others.len();
        let ids = later.iter().map(|s| text.get(s.id.clone()));
        let Some((names, stamps)) =
            self.stamped(&o, &folder, ids.chain(others.iter().map(String::as_str)))
        else {
            return Ok(None);
        };
        // Every run looked at here: none is taken from the closed part's
        // sorted lines (a newer line of it, or none when it is unreadable).
        let looked: Vec<String> = names
            .iter()
            .map(|n| n.rsplit('/').next().unwrap_or(n).to_string())
            .collect();
        let mut newer = Vec::with_capacity(later.len());
        let mut stale: Vec<(String, Stamp)> = Vec::new();
        for (s, &st) in later.into_iter().zip(&stamps) {
            match st == s.stamp {
                true => newer.push(s),
                false => stale.push((text.get(s.id.clone()).to_string(), st)),
            }
        }
        stale.extend(
            others
                .into_iter()
                .zip(stamps[looked.len() - n_others..].to_vec()),
        );
        let (_, unreadable) = fold_stale(&mut text, &mut newer, stale, fold)?;
        sort(&text, &mut newer);
        let Some(all) = merge(&text, newer, &looked, (c.start, c.sorted_end), limit) else {
            return Ok(None);
        };
        Ok(Some(Summaries {
            text,
            all,
            unreadable,
            closed_out: 0,
        }))
    }
}

/// The first `limit` of `newer` (sorted) and of the closed part's sorted
/// lines between `at` and `to`, in the list's order; a run `looked` at
/// is not taken from the closed part. `None`: a damaged line was met.
fn merge(
    text: &Text,
    newer: Vec<Summary>,
    looked: &[String],
    (mut at, to): (usize, usize),
    limit: usize,
) -> Option<Vec<Summary>> {
    let skip: HashSet<&[u8]> = looked.iter().map(|id| id.as_bytes()).collect();
    let damaged = std::cell::Cell::new(false);
    let mut next_closed = || {
        while at < to {
            let (line, next) = text.line_at(at, to);
            at = next;
            match line {
                None => damaged.set(true),
                Some(s) if skip.contains(text.raw(s.id.clone())) => {}
                Some(s) => return Some(s),
            }
        }
        None
    };
    let mut out = Vec::with_capacity(limit.min(1024));
    let mut newer = newer.into_iter().peekable();
    let mut closed = next_closed();
    while out.len() < limit && !damaged.get() {
        let take_newer = match (newer.peek(), &closed) {
            (Some(n), Some(c)) => order(text, n, c) != std::cmp::Ordering::Greater,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        match take_newer {
            true => out.extend(newer.next()),
            false => {
                out.extend(closed.take());
                closed = next_closed();
            }
        }
    }
    (!damaged.get()).then_some(out)
}
