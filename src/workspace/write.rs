//! The one write path every verb shares: lock, read and fold the record,
//! validate with the verb's own check, make the one event, append it,
//! regenerate the views, commit. Validation happens before anything is
//! written, so a refused request leaves no trace.

use crate::core::error::{Error, Result};
use crate::core::event::{Body, Event, SEALING_VERSION};
use crate::core::limits::{self, Text, opt_text};
use crate::git::CommitPlan;
use crate::store::Held;
use crate::wire::response::CommitInfo;
use crate::workspace::Nexo;
use crate::workspace::record::{Record, trailer};

/// Finishes an event before it is written (signs a decision); refusing
/// leaves nothing written.
pub(crate) type Seal<'a> = Option<&'a dyn Fn(&str, &mut Event) -> Result<()>>;

/// Where a validated write goes: nexo's lock, the commit plan, the
/// record, and the seal to finish its event with.
pub(crate) struct Write<'a> {
    pub(crate) held: &'a Held,
    pub(crate) plan: CommitPlan,
    pub(crate) id: &'a str,
    pub(crate) seal: Seal<'a>,
}

pub(crate) fn now() -> (String, u64) {
    let t = crate::trace::now();
    (
        t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        t.timestamp_millis().max(0) as u64,
    )
}

impl Nexo {
    /// The next event after `prior`: one clock above everything it folded,
    /// naming its heads. Refused, never wrapped, at the end of the clock's
    /// range (`check::MAX_CLOCK`), which no honest history reaches.
    pub(crate) fn new_event<R: Record>(
        &self,
        prior: Option<&R>,
        actor: String,
        body: Body,
    ) -> Result<Event> {
        let (at, ms) = now();
        let clock = match prior {
            None => 1,
            Some(r) => r
                .clock()
                .checked_add(1)
                .filter(|&c| c <= crate::core::check::MAX_CLOCK)
                .ok_or_else(|| {
                    Error::corrupt(format!(
                        "{} has reached the end of its logical clock ({}); nothing was written",
                        r.id(),
                        r.clock()
                    ))
                    .with_hint("nexo doctor names the events that pushed it there")
                })?,
        };
        let id = crate::core::id::new_event_id(ms);
        let mut body = body;
        body.stamp(&id, &at);
        Ok(Event {
            v: body.written_version(),
            id,
            clock,
            parents: prior.map_or_else(Vec::new, |r| r.heads().to_vec()),
            at,
            actor,
            session: self.options.session.clone().unwrap_or_default(),
            body,
        })
    }

    /// The shared write path for every verb on an existing record (`id`
    /// resolved): lock, read, validate with `build`, append, commit.
    pub(crate) fn write_record<R: Record, F>(
        &self,
        id: &str,
        build: F,
    ) -> Result<(R, Event, CommitInfo)>
    where
        F: FnOnce(&R) -> Result<(String, Body, String)>,
    {
        let build = |r: &R| build(r).map(|(actor, body, s)| (actor, body, move |_: &R| s));
        self.write_sealed(id, build, None)
    }

    /// [`Nexo::write_record`], with `seal` finishing the event once its id
    /// and parents exist and before anything is written (a signature).
    /// `build` gives the commit subject as a function of the record after
    /// the event, for a subject that says what the event did to it.
    pub(crate) fn write_sealed<R: Record, F, S>(
        &self,
        id: &str,
        build: F,
        seal: Seal,
    ) -> Result<(R, Event, CommitInfo)>
    where
        F: FnOnce(&R) -> Result<(String, Body, S)>,
        S: FnOnce(&R) -> String,
    {
        let id = id.to_string();
        let lock = self.lock()?;
        // An archived run a merge left in both places is united before it
        // is read; one only archived is read there.
        self.settle_one(&id, false)?;
        // Read under the lock: another process may have just appended.
        let stamp = self.store.history_stamp(&id);
        let mut run = R::read(self, &id)?;
        crate::trace::pause_point("folded");
        let plan = self.repo.plan_commit(self.options.no_commit)?;
        // nexo's lock keeps other nexo processes out, but the user's own
        // `git pull` may have merged this history since it was read; it
        // cannot any more, now that git's index lock is held. So if the
        // file changed, read it again: the event is validated against,
        // and appended to, what is on disk.
        if self.store.history_stamp(&id) != stamp {
            run = R::read(self, &id)?;
        }
        let (actor, body, subject) = build(&run)?;
        // An archived run comes back with its first later event, once the
        // event is accepted: a refused one moves nothing.
        self.bring_back(&id)?;
        crate::trace::mark("folded");
        let write = Write {
            held: lock.held(),
            plan,
            id: &id,
            seal,
        };
        self.append_and_publish(write, Some(run), actor, body, subject)
    }

    /// What every write does once its request is validated: decide on the
    /// commit (refusals still leave nothing written), mark the history
    /// pending, append the one event, regenerate views, commit.
    pub(crate) fn append_and_publish<R: Record>(
        &self,
        write: Write,
        prior: Option<R>,
        actor: String,
        body: Body,
        subject: impl FnOnce(&R) -> String,
    ) -> Result<(R, Event, CommitInfo)> {
        let Write {
            held,
            plan,
            id,
            seal,
        } = write;
        self.check_identity(&actor)?;
        self.see_to_merge_driver();
        crate::trace::mark("planned commit");
        let is_new = prior.is_none();
        let sealing = match is_new {
            false => self.store.prepare_seal(held, id)?,
            true => None,
        };
        let mut event = self.new_event(prior.as_ref(), actor, body)?;
        if sealing.is_some() {
            event.v = event.v.max(SEALING_VERSION);
        }
        if let Some(seal) = seal {
            seal(id, &mut event)?;
        }
        // The rules a reader applies to every line: whatever nexo writes,
        // every clone honours.
        crate::core::check::event(&event)?;
        let run = match prior {
            Some(mut run) => {
                if seal.is_some() {
                    // The seal verified what it signed.
                    run.admit_verified(&event.id);
                }
                run.apply(&event);
                run
            }
            None => R::fold(self, vec![event.clone()])?,
        };
        let views = self.stale(run.files())?;
        // Pending before anything is written: a process killed at any
        // later point leaves the next command the full list to commit.
        let mut paths = vec![crate::core::layout::history_rel(id)];
        paths.extend(sealing.iter().flat_map(|s| s.rels.iter().cloned()));
        paths.extend(views.iter().map(|(p, _)| p.clone()));
        self.repo.add_pending(&paths)?;
        crate::trace::crash_point("before-append");
        match (is_new, sealing) {
            (false, None) => self.store.append(held, id, &event)?,
            (false, Some(sealing)) => self.store.seal(held, id, sealing, &event)?,
            // A new run's history appears whole or not at all.
            (true, _) => self.store.create_history(held, id, &event)?,
        }
        crate::trace::crash_point("after-append");
        crate::trace::mark("appended");
        for (rel, bytes) in &views {
            self.store.replace(rel, bytes)?;
        }
        let subject = subject(&run);
        let commit = self.publish(plan, id, &event, paths, &subject)?;
        Ok((run, event, commit))
    }

    /// Commits `paths` (the run's history and views, already written),
    /// with whatever earlier writes left pending.
    pub(crate) fn publish(
        &self,
        plan: CommitPlan,
        id: &str,
        event: &Event,
        mut changed: Vec<String>,
        subject: &str,
    ) -> Result<CommitInfo> {
        changed.extend(self.store.ensure_gitattributes()?);
        changed.extend(self.store.ensure_layout_marker()?);
        // What earlier writes left pending (--no-commit, a merge in
        // progress) rides along with this commit. Their views were written
        // with their events, and a killed writer's work was finished when
        // the lock was taken, so only the histories' ends need settling,
        // and only when something is committed: a write's cost must not
        // grow with the number of runs left pending.
        if matches!(plan, CommitPlan::Commit { .. }) {
            self.settle_pending()?;
        }
        crate::trace::mark("views written");
        crate::trace::crash_point("views-written");
        let message = crate::git::message::single(
            id,
            subject,
            &[trailer(id), format!("Nexo-Event: {}", event.id)],
        );
        self.repo.finish(plan, &changed, &message)
    }

    /// Settles the end of every history left pending (by a killed writer,
    /// or --no-commit), so no commit ever holds a partial or empty one: a
    /// whole last event gets its newline, a fragment is cut, and an empty
    /// history (a run whose opening never completed) is removed.
    pub(crate) fn settle_pending(&self) -> Result<()> {
        for rel in self.repo.read_pending() {
            if crate::core::layout::record_of_history(&rel).is_none() {
                continue;
            }
            self.store.settle_history(&rel)?;
            if self.store.is_empty_file(&rel) {
                self.store.remove(&rel)?;
            }
        }
        Ok(())
    }

    /// Checks who is acting before anything is written: the actor and the
    /// session id come from requests and from the environment.
    pub(crate) fn check_identity(&self, actor: &str) -> Result<()> {
        limits::text("actor", actor, Text::Name)?;
        opt_text(
            "session id (NEXO_SESSION_ID)",
            self.options.session.as_deref(),
            Text::Name,
        )
    }

    /// The view files whose bytes differ from what is on disk: the only
    /// ones a write rewrites and commits.
    pub(crate) fn stale(&self, files: Vec<(String, Vec<u8>)>) -> Result<Vec<(String, Vec<u8>)>> {
        let mut stale = Vec::new();
        for (rel, bytes) in files {
            if self.store.read(&rel)?.as_deref() != Some(bytes.as_slice()) {
                stale.push((rel, bytes));
            }
        }
        Ok(stale)
    }

    /// The views of record `id` (a run or a goal), from its history.
    pub(crate) fn render_record(&self, id: &str) -> Result<Vec<(String, Vec<u8>)>> {
        match crate::workspace::record::is_goal(id) {
            true => self.render_events(id, self.store.read_history(id)?.events),
            false => Ok(self.fold_run_file(id, 1)?.files()),
        }
    }

    /// Rewrites the stale ones of `files`, recording their paths as
    /// pending first, so a kill halfway leaves them for the next commit.
    /// Returns the paths written.
    pub(crate) fn write_files(&self, files: Vec<(String, Vec<u8>)>) -> Result<Vec<String>> {
        let stale = self.stale(files)?;
        let paths: Vec<String> = stale.iter().map(|(p, _)| p.clone()).collect();
        if !paths.is_empty() {
            self.repo.add_pending(&paths)?;
        }
        for (rel, bytes) in &stale {
            self.store.replace(rel, bytes)?;
        }
        Ok(paths)
    }
}
