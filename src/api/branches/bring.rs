//! `bring`: a run from other refs carried to this branch on purpose, as
//! one commit of the events this branch lacks; or, when it lacks none,
//! nothing at all.

use gix::ObjectId;
use serde::Serialize;

use super::{OnRefs, find_prefix, unreadable_copies};
use crate::core::error::{Error, Result};
use crate::core::event::Event;
use crate::wire::response::Place;
use crate::workspace::Nexo;

/// What `bring` did.
#[derive(Debug, Clone, Serialize)]
pub struct BringResponse {
    pub ok: bool,
    pub run_id: crate::core::id::RunId,
    /// The refs whose history was read.
    pub from: Vec<String>,
    /// How many events were new here (0: the copies are already the same
    /// as this branch's, and nothing was written).
    pub events_brought: usize,
    /// Refs whose copy could not be read, each with the file, line and
    /// what is wrong: nothing was brought from them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<Place>,
    pub message: String,
    pub commit: crate::wire::response::CommitInfo,
}

/// The refs to read a run from, each with its folder there.
type Sources = Vec<(Place, ObjectId)>;

impl Nexo {
    /// Copies run `run_id`'s union history from the refs it lives on (or
    /// from `from` alone) into this working tree, as one commit. The union
    /// merge keeps this safe when the branches meet: the same lines are
    /// counted once, and nothing conflicts. A ref whose copy cannot be read
    /// is left out and named (with `from`, that is an error); copies that
    /// hold nothing new leave everything as it was.
    pub fn bring(&self, run_id: &str, from: Option<&str>) -> Result<BringResponse> {
        self.refresh()?;
        let on_refs = self.runs_on_refs()?;
        let (id, sources) = self.bring_sources(&on_refs, run_id, from)?;
        let folders: Vec<ObjectId> = sources.iter().map(|(_, f)| *f).collect();
        let lock = self.lock()?;
        let union = self.fold_union(&id, &folders)?;
        let places = OnRefs {
            places: sources,
            folders,
        };
        let lives_on = places.lives_on(&union.unreadable);
        let (unreadable, read): (Vec<Place>, Vec<Place>) =
            lives_on.into_iter().partition(|p| p.unreadable.is_some());
        // With --from, the one ref asked for must read; without, nothing
        // that reads is an error too: there would be nothing to bring.
        let none_read = read.is_empty() && !unreadable.is_empty();
        if union.run.is_none() || none_read || (from.is_some() && !unreadable.is_empty()) {
            return Err(unreadable_copies(
                format!(
                    "cannot bring {id}, nothing was written: a copy to bring it from cannot be read"
                ),
                &unreadable,
            ));
        }
        let here = self.store.resolve(&id).is_ok_and(|f| f == id);
        let read_folders: Vec<ObjectId> = places
            .folders
            .iter()
            .filter(|f| !union.unreadable.iter().any(|(bad, _)| bad == *f))
            .copied()
            .collect();
        let new = self.events_to_bring(&id, here, &read_folders)?;
        let refs: Vec<String> = read.iter().map(|p| p.r#ref.clone()).collect();
        let named = crate::wire::response::places(&read);
        if new.is_empty() {
            // Nothing to append: no file is touched, so nothing is left
            // pending for doctor to find, and nothing is reported changed.
            let message = match read.is_empty() {
                true => format!(
                    "Already the same: no other ref has a copy of {id} that differs from this branch's; nothing to bring."
                ),
                false => format!(
                    "Already the same: {id} on {named} has no event this branch lacks; nothing to bring."
                ),
            };
            return Ok(BringResponse {
                ok: true,
                message,
                run_id: id.into(),
                from: refs,
                events_brought: 0,
                unreadable,
                commit: crate::wire::response::CommitInfo::made(None),
            });
        }
        let plan = self.repo.plan_commit(self.options.no_commit)?;
        let mut paths = vec![crate::core::layout::history_rel(&id)];
        self.repo.add_pending(&paths)?;
        for (i, e) in new.iter().enumerate() {
            match (here, i) {
                (false, 0) => self.store.create_history(lock.held(), &id, e)?,
                _ => self.store.append(lock.held(), &id, e)?,
            }
        }
        paths.extend(self.write_files(self.render_record(&id)?)?);
        paths.extend(self.store.ensure_gitattributes()?);
        paths.extend(self.store.ensure_layout_marker()?);
        let message = format!(
            "nexo: bring {id} from {}\n\n{}\n",
            refs.join(", "),
            crate::workspace::record::trailer(&id)
        );
        let commit = self.repo.finish(plan, &paths, &message)?;
        Ok(BringResponse {
            ok: true,
            message: format!(
                "Brought {} of {id} from {named}.",
                crate::core::words::count(new.len(), "event")
            ),
            run_id: id.into(),
            from: refs,
            events_brought: new.len(),
            unreadable,
            commit,
        })
    }

    /// The events of run `id`'s copies in `folders` that this working tree
    /// does not have (all of them when the run is not `here`), in fold
    /// order.
    fn events_to_bring(&self, id: &str, here: bool, folders: &[ObjectId]) -> Result<Vec<Event>> {
        let known: std::collections::HashSet<crate::core::id::EventId> = match here {
            true => self
                .store
                .read_history(id)?
                .events
                .into_iter()
                .map(|e| e.id)
                .collect(),
            false => Default::default(),
        };
        let mut events = Vec::new();
        for folder in folders {
            events.extend(self.read_copy(id, *folder)?);
        }
        let mut ordered = crate::core::event::in_fold_order(events).events;
        ordered.retain(|e| !known.contains(&e.id));
        Ok(ordered)
    }

    /// The run `run_id` names and the refs to bring it from: `from` alone,
    /// else every ref where its folder differs from this checkout's (none,
    /// when it is here and the same everywhere).
    fn bring_sources(
        &self,
        on_refs: &std::collections::BTreeMap<String, OnRefs>,
        run_id: &str,
        from: Option<&str>,
    ) -> Result<(String, Sources)> {
        let found = find_prefix(on_refs, run_id);
        let id = match (found, self.store.resolve(run_id)) {
            (Some((id, _)), _) => id.to_string(),
            (None, Ok(id)) => id,
            (None, Err(_)) => match self.archived_on_refs(run_id)? {
                Some((id, sources)) if from.is_none() => return Ok((id, sources)),
                Some((id, _)) => id,
                None => {
                    return Err(Error::not_found(format!(
                        "no other branch, remote-tracking branch or worktree has a run {}",
                        crate::core::limits::quote(run_id)
                    ))
                    .with_hint("nexo list --branches lists the runs on every ref (an archived run: give its full id)"));
                }
            },
        };
        match from {
            Some(r) => {
                let place = Place {
                    r#ref: r.to_string(),
                    worktree: None,
                    here: false,
                    unreadable: None,
                };
                Ok((id.clone(), vec![(place, self.folder_on(&id, r)?)]))
            }
            None => Ok((
                id,
                found.map_or(Vec::new(), |(_, f)| {
                    f.places.iter().filter(|(p, _)| !p.here).cloned().collect()
                }),
            )),
        }
    }

    /// The folder of run `id` on ref `name`.
    fn folder_on(&self, id: &str, name: &str) -> Result<ObjectId> {
        let refs = self.repo.nexo_refs()?;
        let quoted = crate::core::limits::quote_name(name);
        let r = refs.iter().find(|r| r.name == name).ok_or_else(|| {
            Error::not_found(format!(
                "no branch or remote-tracking branch named {quoted}"
            ))
            .with_hint("nexo list --branches says where each run lives")
        })?;
        let runs = self
            .repo
            .commit_runs(r.commit)
            .1
            .map(|t| self.repo.runs_in(t))
            .transpose()?
            .unwrap_or_default();
        if let Some((_, folder)) = runs.into_iter().find(|(run, _)| run == id) {
            return Ok(folder);
        }
        self.repo
            .folder_at(r.commit, &crate::core::layout::archive_rel(id))?
            .ok_or_else(|| Error::not_found(format!("{quoted} has no run {id}")))
    }

    /// The refs other than this checkout that keep run `given` in their
    /// archive, with its folder there. Archives are not listed ref by ref
    /// (`list --branches` shows live runs), so this takes a full id.
    fn archived_on_refs(&self, given: &str) -> Result<Option<(String, Sources)>> {
        let id = given.trim().to_ascii_uppercase();
        let body = id.strip_prefix(crate::core::id::RUN_PREFIX).unwrap_or("");
        if body.is_empty() || body.len() > 64 || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Ok(None);
        }
        let rel = crate::core::layout::archive_rel(&id);
        let mut sources = Vec::new();
        for r in self.repo.nexo_refs()? {
            if r.current {
                continue;
            }
            if let Some(folder) = self.repo.folder_at(r.commit, &rel)? {
                sources.push((super::place_of(&r), folder));
            }
        }
        Ok((!sources.is_empty()).then_some((id, sources)))
    }
}
