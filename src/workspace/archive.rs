//! Closed runs out of the live folder, and back (`nexo archive`).
//!
//! An archived run's folder moves whole, its files byte for byte, from
//! `.nexo/runs/<c>/<c>/<RUN_ID>/` to `.nexo/archive/<c>/<c>/<RUN_ID>/`
//! (`core::layout`), with a note of when and how many events it had. Live
//! reads (`list`, `ready`, the summaries index) never list the archive;
//! reads by id (`get`, `replay`, `show`, `resume`) find it there.
//!
//! Nothing in it is lost: git sees a rename, so a clone that had not
//! pulled the archiving and appends to the run merges its line into the
//! archived file (or, when git cannot pair them, keeps both folders).
//! Either way the next refresh after the merge sees the archive changed
//! and brings the run back (`settle_archived`); a write to an archived
//! run brings it back first (`bring_back`). See docs/decisions.md,
//! "Archived runs".

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::upgrade::{event_key, files_below, history_lines};
use crate::core::error::{Error, Result};
use crate::core::layout::{ARCHIVED, archive_rel, run_rel};
use crate::store::nofollow;
use crate::wire::archive::ArchivedRun;
use crate::wire::response::CommitInfo;
use crate::workspace::Nexo;

/// The note beside an archived run's files.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchivedNote {
    pub archived_at: String,
    /// Its events when it was archived: more means a later one came.
    pub events: usize,
}

/// What `archive` did.
#[derive(Debug)]
pub struct ArchiveOutcome {
    pub runs: Vec<ArchivedRun>,
    pub commit: Option<CommitInfo>,
}

impl Nexo {
    /// Archives the closed runs last updated before `cutoff` (RFC 3339)
    /// in one commit; `dry_run`: names them and moves nothing.
    pub(crate) fn archive_closed(&self, cutoff: &str, dry_run: bool) -> Result<ArchiveOutcome> {
        let lock = self.lock()?;
        let summaries = self.summaries()?;
        let mut runs = Vec::new();
        for s in summaries.all.iter().filter(|s| s.status.is_closed()) {
            let item = summaries.item(s)?;
            if item.updated_at.as_str() < cutoff {
                runs.push(ArchivedRun {
                    run_id: item.run_id.to_string(),
                    status: item.status,
                    updated_at: item.updated_at,
                });
            }
        }
        if dry_run || runs.is_empty() {
            return Ok(ArchiveOutcome { runs, commit: None });
        }
        let plan = self.repo.plan_commit(self.options.no_commit)?;
        let root = self.store.root();
        let mut paths = Vec::new();
        for r in &runs {
            let (from, to) = (run_rel(&r.run_id), archive_rel(&r.run_id));
            for old in files_below(root, &from)? {
                paths.push(format!("{to}{}", &old[from.len()..]));
                paths.push(old);
            }
            paths.push(format!("{to}/{ARCHIVED}"));
        }
        // Pending before anything moves: a kill at any later point leaves
        // the next command the whole list to commit.
        self.repo.add_pending(&paths)?;
        crate::trace::crash_point("archive-pending");
        let now = crate::trace::now_text();
        for r in &runs {
            let (from, to) = (run_rel(&r.run_id), archive_rel(&r.run_id));
            let events = distinct_events(&self.store, &from)?;
            self.move_folder(&from, &to)?;
            prune_empty_fanout(self.store.root(), &from);
            crate::trace::crash_point("archive-moved");
            let note = ArchivedNote {
                archived_at: now.clone(),
                events,
            };
            let yaml = serde_yaml::to_string(&note).expect("a note serialises");
            self.store
                .replace(&format!("{to}/{ARCHIVED}"), yaml.as_bytes())?;
        }
        crate::trace::crash_point("archive-noted");
        crate::trace::pause_point("archive-noted");
        // The archive's merge rules travel with the first archiving, so a
        // peer's pull merges the archived histories line by line.
        paths.extend(self.store.ensure_gitattributes()?);
        let message = format!(
            "nexo: archive {} closed before {cutoff}\n\n\
             Moved whole from .nexo/runs/ to .nexo/archive/: nexo get, replay and show read them by\n\
             id, nexo list --archived lists them, and a later event brings a run back.\n",
            crate::core::words::count(runs.len(), "run"),
        );
        let commit = self.repo.finish(plan, &paths, &message)?;
        // Held until the commit: the index lock taken with the plan is
        // ours, and the next holder of nexo's lock would take it for a
        // killed writer's and remove it.
        drop(lock);
        Ok(ArchiveOutcome {
            runs,
            commit: Some(commit),
        })
    }

    /// Before a write to run `id`: brings it back from the archive when
    /// it is there (its files moved back whole; united with a live folder
    /// a merge left beside it). Under nexo's lock; the write's commit
    /// takes the moved paths with its own.
    pub(crate) fn bring_back(&self, id: &str) -> Result<bool> {
        if self.store.archived_history(id)?.is_none() {
            return Ok(false);
        }
        self.settle_one(id, true)
    }

    /// After HEAD's `.nexo` moved from `old` to `new` (a merge, a pull):
    /// brings back every archived run the change gave a later event, or
    /// left with a live folder too. Returns their ids (their views are to
    /// be regenerated) and leaves their paths pending.
    pub(crate) fn settle_archived(
        &self,
        old: Option<gix::ObjectId>,
        new: Option<gix::ObjectId>,
    ) -> Result<Vec<String>> {
        let mut back = Vec::new();
        for id in self.repo.changed_archived(old, new)? {
            match self.settle_one(&id, false) {
                Ok(true) => back.push(id),
                Ok(false) => {}
                // A peer's link in the archive harms that run only: doctor
                // reports it, and every other command goes on.
                Err(e) if e.kind == crate::core::error::ErrorKind::Corrupt => {}
                Err(e) => return Err(e),
            }
        }
        Ok(back)
    }

    /// Whether archived run `id` is to come back: a later event reached
    /// its archived history, or a live folder of it is there too (a merge
    /// git could not pair with the archiving).
    pub(crate) fn archived_but_later(&self, id: &str) -> Result<bool> {
        let root = self.store.root();
        let (from, to) = (archive_rel(id), run_rel(id));
        Ok(self.store.is_folder(&from)?
            && (nofollow::check(root, Path::new(&to))? || self.grew_since_archived(&from)?))
    }

    /// Brings archived run `id` back when it must (`always`, or
    /// [`Nexo::archived_but_later`]). Whether it did.
    pub(crate) fn settle_one(&self, id: &str, always: bool) -> Result<bool> {
        let root = self.store.root();
        let (from, to) = (archive_rel(id), run_rel(id));
        if !self.store.is_folder(&from)? {
            return Ok(false);
        }
        let live = nofollow::check(root, Path::new(&to))?;
        if !always && !self.archived_but_later(id)? {
            return Ok(false);
        }
        let mut paths = Vec::new();
        for old in files_below(root, &from)? {
            paths.push(format!("{to}{}", &old[from.len()..]));
            paths.push(old);
        }
        self.repo.add_pending(&paths)?;
        let note = format!("{to}/{ARCHIVED}");
        match live {
            true => self.unite(&from, &to)?,
            false => {
                self.move_folder(&from, &to)?;
                self.store.remove(&note)?;
            }
        }
        prune_empty_fanout(root, &from);
        self.note(format!("{id} is back from the archive"));
        Ok(true)
    }

    /// Whether the archived run at `folder` holds more events than it had
    /// when archived. Without its note (an archive killed between moving
    /// a run and writing it), nothing tells: the run stays where it is,
    /// every event of it still read by id, and its next write brings it
    /// back. A note that is not nexo's brings it back rather than hide an
    /// event.
    fn grew_since_archived(&self, folder: &str) -> Result<bool> {
        let Some(note) = self.store.read(&format!("{folder}/{ARCHIVED}"))? else {
            return Ok(false);
        };
        Ok(match serde_yaml::from_slice::<ArchivedNote>(&note) {
            Ok(n) => distinct_events(&self.store, folder)? > n.events,
            Err(_) => true,
        })
    }

    /// The archived runs, for `list --archived`: each with its note, most
    /// recently archived first.
    pub(crate) fn archived_runs(&self) -> Result<Vec<(String, Option<ArchivedNote>)>> {
        let mut out = Vec::new();
        for id in self.store.archived_run_ids()? {
            let note = self
                .store
                .read(&format!("{}/{ARCHIVED}", archive_rel(&id)))?
                .and_then(|b| serde_yaml::from_slice::<ArchivedNote>(&b).ok());
            out.push((id, note));
        }
        let when = |n: &Option<ArchivedNote>| n.as_ref().map(|n| n.archived_at.clone());
        out.sort_by(|a, b| when(&b.1).cmp(&when(&a.1)).then_with(|| a.0.cmp(&b.0)));
        Ok(out)
    }
}

/// Removes the two fan-out folders above run folder `rel` that moving it
/// left empty (best effort: git tracks no folder, so an empty one is only
/// clutter; one that is not empty, or not there, stays as it is).
fn prune_empty_fanout(root: &Path, rel: &str) {
    let mut folder = Path::new(rel).parent();
    for _ in 0..2 {
        let Some(f) = folder else { return };
        if std::fs::remove_dir(root.join(f)).is_err() {
            return;
        }
        folder = f.parent();
    }
}

/// How many distinct events (or unreadable lines) a run folder's history
/// holds.
fn distinct_events(store: &crate::store::Store, folder: &str) -> Result<usize> {
    let mut seen = HashSet::new();
    for line in history_lines(store, folder)? {
        seen.insert(event_key(&line));
    }
    Ok(seen.len())
}

/// A `closed_before` length (`30d`), as the cutoff time it names; an
/// error names the field in the caller's terms.
pub fn cutoff(text: &str) -> Result<String> {
    let quoted = crate::core::limits::quote(text).to_string();
    let bad = move |why: &'static str| {
        let quoted = quoted.clone();
        Error::naming(crate::core::error::ErrorKind::Invalid, move |name| {
            format!("{} {quoted} {why}", name("closed_before"))
        })
    };
    let seconds = crate::core::claim::seconds_of(text)
        .ok_or_else(|| bad("is not a length of time: write e.g. 30d, 12h or 90m"))?;
    let back = i64::try_from(seconds)
        .ok()
        .and_then(chrono::TimeDelta::try_seconds)
        .and_then(|d| crate::trace::now().checked_sub_signed(d))
        .ok_or_else(|| bad("reaches back before any date"))?;
    Ok(back.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}
