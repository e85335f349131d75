//! `events` and what `watch` delivers: what happened to runs between two
//! cursors (`core::feed`).
//!
//! A cursor names a commit, so the feed is git's: the runs whose folders
//! differ between the two commits' trees (a few trees read, not every
//! run), and in each the events the newer commit has and the older one
//! had not, read from git's objects. The union merge may put a pulled
//! event anywhere in a history, so "new" is by id, never by line. Each new
//! event is told by what it changed in the fold of the whole history, the
//! same on every clone. Expired leases are told by the clock, between the
//! two cursors' times.

use std::collections::HashSet;

use gix::ObjectId;

use crate::core::error::{Error, Result};
use crate::core::feed::{Cursor, Item, expired, happened};
use crate::core::layout::{NEXO_DIR, run_rel};
use crate::core::model::RunStatus;
use crate::wire::feed::{EventsResponse, FeedFilter};
use crate::workspace::Nexo;
use crate::workspace::record::is_goal;

impl Nexo {
    /// `nexo events`: what happened since `since` (the beginning when
    /// absent), and the cursor to ask from next time.
    pub fn events(&self, since: Option<&str>, filter: &FeedFilter) -> Result<EventsResponse> {
        let from = match since {
            Some(text) => Cursor::parse(text)?,
            None => Cursor::start(),
        };
        let to = self.cursor_now()?;
        let events = self.feed(&from, &to, filter)?;
        Ok(EventsResponse {
            ok: true,
            count: events.len(),
            events,
            cursor: to.to_string(),
        })
    }

    /// Where a feed stands now: HEAD, and this moment.
    pub fn cursor_now(&self) -> Result<Cursor> {
        Ok(Cursor {
            commit: self.repo().head_commit()?.map(|c| c.to_string()),
            ms: crate::trace::now().timestamp_millis(),
        })
    }

    /// What happened between `from` and `to`, run by run (by id), each
    /// run's events in fold order, then the leases that ran out.
    pub fn feed(&self, from: &Cursor, to: &Cursor, filter: &FeedFilter) -> Result<Vec<Item>> {
        let only = match &filter.run_id {
            Some(given) => Some(self.store().resolve(given)?),
            None => None,
        };
        let (old, new) = (self.commit_of(from)?, self.commit_of(to)?);
        let tree = |c: Option<ObjectId>| match c {
            Some(c) => self.repo().folder_at(c, NEXO_DIR),
            None => Ok(None),
        };
        let mut items = Vec::new();
        for id in self.repo().changed_records(tree(old)?, tree(new)?)? {
            if is_goal(&id) || only.as_ref().is_some_and(|o| *o != id) {
                continue;
            }
            // A run whose copy does not read is left out (`nexo doctor`
            // names it): one bad line never stops the feed.
            if let Ok(told) = self.told_of(&id, old, new) {
                items.extend(told);
            }
        }
        items.extend(self.expired_between(from, to, only.as_deref())?);
        if !filter.kinds.is_empty() {
            items.retain(|i| filter.kinds.contains(&i.kind));
        }
        Ok(items)
    }

    /// The commit a cursor names, which this clone must have.
    fn commit_of(&self, c: &Cursor) -> Result<Option<ObjectId>> {
        let Some(hex) = &c.commit else {
            return Ok(None);
        };
        let id = ObjectId::from_hex(hex.as_bytes())
            .map_err(|_| Error::invalid(format!("cursor {c}: not a commit id")))?;
        if self.repo().folder_at(id, NEXO_DIR).is_err() {
            return Err(Error::not_found(format!(
                "cursor {c} names commit {hex}, which this clone does not have"
            ))
            .with_hint(
                "ask again without --since (everything), or with a cursor this clone wrote",
            ));
        }
        Ok(Some(id))
    }

    /// The events of run `id` that `new` has and `old` had not, told.
    fn told_of(&self, id: &str, old: Option<ObjectId>, new: Option<ObjectId>) -> Result<Vec<Item>> {
        let events_at = |c: Option<ObjectId>| -> Result<Vec<crate::core::event::Event>> {
            let folder = match c {
                Some(c) => self.repo().folder_at(c, &run_rel(id))?,
                None => None,
            };
            match folder {
                Some(f) => self.read_copy(id, f),
                None => Ok(Vec::new()),
            }
        };
        let seen: HashSet<String> = events_at(old)?
            .into_iter()
            .map(|e| e.id.to_string())
            .collect();
        let events = events_at(new)?;
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let mut items = Vec::new();
        self.fold_run_noting(
            events,
            &|e| !seen.contains(e.id.as_str()),
            &mut |before, e, after| items.extend(happened(before, e, after)),
        )?;
        Ok(items)
    }

    /// Leases of open runs that ended after `from`'s time and no later
    /// than `to`'s, as this working tree's runs have them.
    fn expired_between(&self, from: &Cursor, to: &Cursor, only: Option<&str>) -> Result<Vec<Item>> {
        let (start, end) = (from.time(), to.time());
        let summaries = self.open_summaries()?;
        let mut items = Vec::new();
        for s in &summaries.all {
            if matches!(s.status, RunStatus::Completed | RunStatus::Cancelled) {
                continue;
            }
            let Ok(ready) = summaries.ready(s) else {
                continue;
            };
            let id = ready.item.run_id.to_string();
            if only.is_some_and(|o| o != id) {
                continue;
            }
            let steps: Vec<_> = ready.ready.into_iter().map(|c| (c.key, c.claims)).collect();
            items.extend(expired(&id, &steps, &start, &end));
        }
        items.sort_by(|a, b| (&a.at, &a.run_id).cmp(&(&b.at, &b.run_id)));
        Ok(items)
    }
}
