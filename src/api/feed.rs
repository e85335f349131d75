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
use crate::core::event::Event;
use crate::core::feed::{Cursor, Item, expired, happened};
use crate::core::id::EventId;
use crate::core::layout::{NEXO_DIR, run_rel};
use crate::core::model::RunStatus;
use crate::store::Flow;
use crate::wire::feed::{EventsResponse, FeedFilter};
use crate::workspace::Nexo;
use crate::workspace::record::is_goal;

impl Nexo {
    /// `nexo events`: what happened since `since` (the beginning when
    /// absent), and the cursor to ask from next time.
    pub fn events(&self, since: Option<&str>, filter: &FeedFilter) -> Result<EventsResponse> {
        let mut events = Vec::new();
        let cursor = self.each_event(since, filter, &mut |item| {
            events.push(item);
            Ok(Flow::Continue)
        })?;
        Ok(EventsResponse {
            ok: true,
            count: events.len(),
            events,
            cursor,
        })
    }

    /// [`Nexo::events`], each item handed to `each` as it is told instead
    /// of kept: the answer to "everything" is one item a completed run,
    /// 26 MB of items at 100,000 runs. Gives the cursor.
    pub fn each_event(
        &self,
        since: Option<&str>,
        filter: &FeedFilter,
        each: &mut dyn FnMut(Item) -> Result<Flow>,
    ) -> Result<String> {
        let from = match since {
            Some(text) => Cursor::parse(text)?,
            None => Cursor::start(),
        };
        let to = self.cursor_now()?;
        self.each_feed_item(&from, &to, filter, each)?;
        Ok(to.to_string())
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
        let mut items = Vec::new();
        self.each_feed_item(from, to, filter, &mut |item| {
            items.push(item);
            Ok(Flow::Continue)
        })?;
        Ok(items)
    }

    /// [`Nexo::feed`], one item at a time to `each`, until it stops.
    /// Everything that can fail but the walk's own reads is done before
    /// the first item, so a reader that writes items as they come never
    /// writes half an answer before an error.
    pub fn each_feed_item(
        &self,
        from: &Cursor,
        to: &Cursor,
        filter: &FeedFilter,
        each: &mut dyn FnMut(Item) -> Result<Flow>,
    ) -> Result<()> {
        let only = match &filter.run_id {
            Some(given) => Some(self.store().resolve(given)?),
            None => None,
        };
        let (old, new) = (self.commit_of(from)?, self.commit_of(to)?);
        let tree = |c: Option<ObjectId>| match c {
            Some(c) => self.repo().folder_at(c, NEXO_DIR),
            None => Ok(None),
        };
        let expired = self.expired_between(from, to, only.as_deref())?;
        let changed = self.repo().changed_records_at(tree(old)?, tree(new)?)?;
        // The listing read every fan-out tree of the runs folder; their
        // pack pages are not read again.
        crate::memory::phase_done();
        let mut give =
            |item: Item| match filter.kinds.is_empty() || filter.kinds.contains(&item.kind) {
                true => each(item),
                false => Ok(Flow::Continue),
            };
        for (id, folder) in changed {
            if is_goal(&id) || only.as_ref().is_some_and(|o| *o != id) {
                continue;
            }
            // A run whose copy does not read is left out (`nexo doctor`
            // names it): one bad line never stops the feed.
            let Ok(told) = self.told_of(&id, old, folder) else {
                continue;
            };
            for item in told {
                if give(item)? == Flow::Stop {
                    return Ok(());
                }
            }
        }
        for item in expired {
            if give(item)? == Flow::Stop {
                break;
            }
        }
        Ok(())
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

    /// The events of run `id` whose folder is `new` that commit `old`'s
    /// copy had not, told. Neither copy is held whole when it need not be:
    /// `old` gives only its ids, and `new` is folded as it is read while
    /// its lines come in fold order (a history only appended to);
    /// otherwise (after a merge, or under `signed`) it is read whole and
    /// sorted.
    fn told_of(&self, id: &str, old: Option<ObjectId>, new: Option<ObjectId>) -> Result<Vec<Item>> {
        let mut seen: HashSet<EventId> = HashSet::new();
        let was = match old {
            Some(c) => self.repo().folder_at(c, &run_rel(id))?,
            None => None,
        };
        if let Some(f) = was {
            self.each_copy_event(id, f, &mut |e| {
                seen.insert(e.id);
                Ok(Flow::Continue)
            })?;
        }
        let Some(new) = new else {
            return Ok(Vec::new());
        };
        let noted = |e: &Event| !seen.contains(e.id.as_str());
        if let Some(items) = self.told_as_read(id, new, &noted)? {
            return Ok(items);
        }
        let events = self.read_copy(id, new)?;
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let mut items = Vec::new();
        self.fold_run_noting(events, &noted, &mut |before, e, after| {
            items.extend(happened(before, e, after))
        })?;
        Ok(items)
    }

    /// What the events of run `id`'s copy in `folder` that `noted` picks
    /// did, folded as the copy is read; `None` when its lines do not come
    /// in fold order (or the policy is `signed`): the copy is for the
    /// whole fold.
    fn told_as_read(
        &self,
        id: &str,
        folder: ObjectId,
        noted: &dyn Fn(&Event) -> bool,
    ) -> Result<Option<Vec<Item>>> {
        let Some(mut stream) = self.stream_fold() else {
            return Ok(None);
        };
        let (mut items, mut in_order) = (Vec::new(), true);
        self.each_copy_event(id, folder, &mut |e| {
            if !stream.follows(&e) {
                in_order = false;
                return Ok(Flow::Stop);
            }
            stream.push_noting(&e, noted, &mut |before, e, after| {
                items.extend(happened(before, e, after))
            })?;
            Ok(Flow::Continue)
        })?;
        Ok(in_order.then_some(items))
    }

    /// Each event of run `id`'s copy in `folder` (a folder tree of some
    /// commit), read as [`Nexo::read_copy`] reads it, until `each` stops:
    /// one file's bytes held at a time, and no event kept.
    fn each_copy_event(
        &self,
        id: &str,
        folder: ObjectId,
        each: &mut dyn FnMut(Event) -> Result<Flow>,
    ) -> Result<()> {
        let mut flow = Flow::Continue;
        self.repo().each_history_file(folder, &mut |name, bytes| {
            let place = format!("{}/{name}", run_rel(id));
            crate::store::each_history_event(&bytes, &place, |e| {
                flow = each(e)?;
                Ok(flow)
            })?;
            Ok(flow)
        })
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
