//! Runs on every branch and worktree: seen from anywhere (`list
//! --branches`), found by id from anywhere (read-only `resume`, `show`,
//! `get`, `replay`), carried over on purpose (`bring`). A run on several
//! refs is the fold of the union of its histories there, which is what a
//! merge of those refs would give.

use std::collections::BTreeMap;

use gix::ObjectId;
use serde::Serialize;

use super::Nexo;
use super::record::Record;
use crate::error::{Error, ErrorKind, Result};
use crate::event::Event;
use crate::fold::Run;
use crate::git::refs::NexoRef;
use crate::response::{Elsewhere, Place};

/// A run's folders on the refs other than this checkout, and where each
/// ref is.
#[derive(Default)]
pub(super) struct OnRefs {
    pub(super) places: Vec<Place>,
    /// Distinct folder trees, each read once.
    pub(super) folders: Vec<ObjectId>,
}

impl Nexo {
    /// Every run on every ref but this checkout's own branch (whose runs
    /// are this working tree's), by id. Folders identical to HEAD's are
    /// left out: the working tree already holds them.
    pub(super) fn runs_on_refs(&self) -> Result<BTreeMap<String, OnRefs>> {
        let refs = self.repo.nexo_refs()?;
        let head: BTreeMap<String, ObjectId> = match refs.iter().find(|r| r.current) {
            Some(NexoRef { runs: Some(t), .. }) => self.repo.runs_in(*t)?.into_iter().collect(),
            _ => BTreeMap::new(),
        };
        let mut trees: BTreeMap<ObjectId, Vec<(String, ObjectId)>> = BTreeMap::new();
        let mut out: BTreeMap<String, OnRefs> = BTreeMap::new();
        for r in &refs {
            let Some(t) = r.runs else { continue };
            if let std::collections::btree_map::Entry::Vacant(e) = trees.entry(t) {
                e.insert(self.repo.runs_in(t)?);
            }
            for (id, folder) in &trees[&t] {
                let entry = out.entry(id.clone()).or_default();
                entry.places.push(Place {
                    r#ref: r.name.clone(),
                    worktree: r.worktree.as_ref().map(|p| p.display().to_string()),
                    here: r.current,
                });
                if !r.current && head.get(id) != Some(folder) && !entry.folders.contains(folder) {
                    entry.folders.push(*folder);
                }
            }
        }
        Ok(out)
    }

    /// The events of run `id` in `folders` (and in this working tree, when
    /// it is here), as one history: the union a merge would make.
    pub(super) fn union_events(&self, id: &str, folders: &[ObjectId]) -> Result<Vec<Event>> {
        let here = self.store.resolve(id).is_ok_and(|found| found == id);
        let mut events = match here {
            true => self.store.read_history(id)?.events,
            false => Vec::new(),
        };
        for f in folders {
            let bytes = self.repo.history_of_folder(*f)?;
            let text = String::from_utf8_lossy(&bytes);
            for (n, line) in text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
            {
                let place = format!("{id} on another ref, line {}", n + 1);
                events.push(Event::from_line(line, &place)?);
            }
        }
        Ok(events)
    }

    /// Run `run_id` (an id or unique prefix), folded here if it is here,
    /// else from the refs it lives on, read-only; with where it lives
    /// when that is not only here.
    pub fn load_anywhere(&self, run_id: &str, keep: usize) -> Result<(Run, Option<Elsewhere>)> {
        let missing = match self.load_keeping(run_id, keep) {
            Ok(run) => return Ok((run, None)),
            Err(e) if e.kind == ErrorKind::NotFound => e,
            Err(e) => return Err(e),
        };
        let on_refs = self.runs_on_refs()?;
        let (id, found) = match find_prefix(&on_refs, run_id) {
            Some(found) => found,
            None => return Err(missing),
        };
        let events = self.union_events(id, &found.folders)?;
        let run = <Run as Record>::fold(self, events)?;
        let elsewhere = Elsewhere {
            how: how_to_continue(id, &found.places),
            lives_on: found.places.clone(),
        };
        Ok((run, Some(elsewhere)))
    }

    /// Why a write to `run_id` cannot be made here, when the run lives on
    /// another ref: the same refusal as for an unknown run (exit 3), with
    /// where it is and how to work on it.
    pub(super) fn not_here(&self, run_id: &str, missing: Error) -> Error {
        let Ok(on_refs) = self.runs_on_refs() else {
            return missing;
        };
        let Some((id, found)) = find_prefix(&on_refs, run_id) else {
            return missing;
        };
        let refs: Vec<&str> = found.places.iter().map(|p| p.r#ref.as_str()).collect();
        Error::new(
            ErrorKind::NotFound,
            format!(
                "run {id} is not in this working tree: it lives on {}; nothing was written",
                refs.join(", ")
            ),
        )
        .with_hint(how_to_continue(id, &found.places))
    }
}

/// The run on the refs whose id `given` is or begins (case-insensitive,
/// as local prefixes are), when exactly one is.
fn find_prefix<'a>(on: &'a BTreeMap<String, OnRefs>, given: &str) -> Option<(&'a str, &'a OnRefs)> {
    let g = given.trim().to_ascii_uppercase();
    let g = if g.starts_with("WF-") {
        g
    } else {
        format!("WF-{g}")
    };
    if let Some((id, v)) = on.get_key_value(&g) {
        return Some((id.as_str(), v));
    }
    let mut matches = on
        .iter()
        .filter(|(id, _)| g.len() >= 7 && id.starts_with(&g));
    let one = matches.next()?;
    matches.next().is_none().then_some((one.0.as_str(), one.1))
}

/// How to work on a run that lives elsewhere: its worktree, else the
/// branch to switch to, else bringing it here.
fn how_to_continue(id: &str, places: &[Place]) -> String {
    if let Some(w) = places
        .iter()
        .find_map(|p| p.worktree.as_ref().filter(|_| !p.here))
    {
        return format!(
            "it is checked out in the worktree {w}: work on it there (cd {w}), or nexo bring {id} to carry it to this branch"
        );
    }
    match places.iter().find(|p| !p.here) {
        Some(p) => {
            let branch = p
                .r#ref
                .split_once('/')
                .filter(|_| p.r#ref.contains('/'))
                .map_or(p.r#ref.as_str(), |(_, b)| b);
            format!(
                "git switch {branch} to work on it there, or nexo bring {id} --from {} to carry it to this branch",
                p.r#ref
            )
        }
        None => format!("nexo bring {id} to carry it to this branch"),
    }
}

impl Nexo {
    /// `list --branches`: the runs of this working tree and of every other
    /// ref, each once, a run on several refs folded from the union of its
    /// histories, each labelled with where it lives.
    pub(super) fn list_branches(
        &self,
        req: &crate::request::ListRequest,
        limit: usize,
    ) -> Result<crate::response::ListResponse> {
        let summaries = self.summaries()?;
        let on_refs = self.runs_on_refs()?;
        let mut items = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for s in &summaries.all {
            let id = summaries.id(s).to_string();
            let mut item = match on_refs.get(&id) {
                Some(found) if !found.folders.is_empty() => {
                    let run = <Run as Record>::fold(self, self.union_events(&id, &found.folders)?)?;
                    super::list_item(&run)
                }
                _ => summaries.item(s)?,
            };
            item.lives_on = on_refs
                .get(&id)
                .map(|f| f.places.clone())
                .unwrap_or_default();
            if item.lives_on.iter().all(|p| !p.here) {
                item.lives_on.insert(0, here());
            }
            seen.insert(id);
            items.push(item);
        }
        for (id, found) in &on_refs {
            if seen.contains(id) {
                continue;
            }
            // A damaged run on another branch must not hide the others.
            let Ok(run) = self
                .union_events(id, &found.folders)
                .and_then(|events| <Run as Record>::fold(self, events))
            else {
                continue;
            };
            let mut item = super::list_item(&run);
            item.lives_on = found.places.clone();
            items.push(item);
        }
        items.retain(|i| match req.status {
            Some(st) => i.status == st,
            None => req.include_closed.unwrap_or(false) || !i.status.is_closed(),
        });
        items.sort_by(|a, b| {
            b.updated_at
                .cmp(&a.updated_at)
                .then(a.run_id.cmp(&b.run_id))
        });
        items.truncate(limit);
        Ok(crate::response::ListResponse {
            ok: true,
            count: items.len(),
            runs: items,
            unreadable: summaries.unreadable,
        })
    }
}

/// This working tree, as a place.
fn here() -> Place {
    Place {
        r#ref: "(working tree)".into(),
        worktree: None,
        here: true,
    }
}

/// What `bring` did.
#[derive(Debug, Clone, Serialize)]
pub struct BringResponse {
    pub ok: bool,
    pub run_id: crate::id::RunId,
    /// The refs whose history was brought.
    pub from: Vec<String>,
    /// How many events were new here.
    pub events_brought: usize,
    pub message: String,
    pub commit: crate::response::CommitInfo,
}

impl Nexo {
    /// Copies run `run_id`'s union history from the refs it lives on (or
    /// from `from` alone) into this working tree, as one commit. The union
    /// merge keeps this safe when the branches meet: the same lines are
    /// counted once, and nothing conflicts.
    pub fn bring(&self, run_id: &str, from: Option<&str>) -> Result<BringResponse> {
        self.refresh()?;
        let on_refs = self.runs_on_refs()?;
        let Some((id, found)) = find_prefix(&on_refs, run_id) else {
            return Err(Error::not_found(format!(
                "no other branch, remote-tracking branch or worktree has a run {run_id}"
            ))
            .with_hint("nexo list --branches lists the runs on every ref"));
        };
        let id = id.to_string();
        let (refs, folders) = match from {
            None => (
                found
                    .places
                    .iter()
                    .filter(|p| !p.here)
                    .map(|p| p.r#ref.clone())
                    .collect(),
                found.folders.clone(),
            ),
            Some(r) => (vec![r.to_string()], vec![self.folder_on(&id, r)?]),
        };
        let lock = self.lock()?;
        let here = self.store.resolve(&id).is_ok_and(|f| f == id);
        let known: std::collections::HashSet<crate::id::EventId> = match here {
            true => self
                .store
                .read_history(&id)?
                .events
                .into_iter()
                .map(|e| e.id)
                .collect(),
            false => Default::default(),
        };
        let events = crate::event::in_fold_order(self.union_events(&id, &folders)?).events;
        let new: Vec<&Event> = events.iter().filter(|e| !known.contains(&e.id)).collect();
        // The run must fold before any of it is written here.
        <Run as Record>::fold(self, events.clone())?;
        let plan = self.repo.plan_commit(self.options.no_commit)?;
        let mut paths = vec![crate::store::Store::history_rel(&id)];
        self.repo.add_pending(&paths)?;
        for (i, e) in new.iter().enumerate() {
            match (here, i) {
                (false, 0) => self.store.create_history(lock.held(), &id, e)?,
                _ => self.store.append(lock.held(), &id, e)?,
            }
        }
        paths.extend(self.write_files(self.render_record(&id)?)?);
        paths.extend(self.store.ensure_gitattributes()?);
        let message = format!(
            "nexo: bring {id} from {}\n\n{}\n",
            refs.join(", "),
            super::record::trailer(&id)
        );
        let commit = match new.is_empty() {
            true => crate::response::CommitInfo::pending(Some("nothing new to bring".into())),
            false => self.repo.finish(plan, &paths, &message)?,
        };
        Ok(BringResponse {
            ok: true,
            message: format!(
                "Brought {} event{} of {id} from {}.",
                new.len(),
                if new.len() == 1 { "" } else { "s" },
                refs.join(", ")
            ),
            run_id: id.into(),
            from: refs,
            events_brought: new.len(),
            commit,
        })
    }

    /// The folder of run `id` on ref `name`.
    fn folder_on(&self, id: &str, name: &str) -> Result<ObjectId> {
        let refs = self.repo.nexo_refs()?;
        let r = refs.iter().find(|r| r.name == name).ok_or_else(|| {
            Error::not_found(format!("no branch or remote-tracking branch named {name}"))
                .with_hint("nexo list --branches says where each run lives")
        })?;
        let runs = r
            .runs
            .map(|t| self.repo.runs_in(t))
            .transpose()?
            .unwrap_or_default();
        runs.into_iter()
            .find(|(run, _)| run == id)
            .map(|(_, folder)| folder)
            .ok_or_else(|| Error::not_found(format!("{name} has no run {id}")))
    }
}
