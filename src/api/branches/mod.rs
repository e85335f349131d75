//! Runs on every branch and worktree: seen from anywhere (`list
//! --branches`), found by id from anywhere (read-only `resume`, `show`,
//! `get`, `replay`), carried over on purpose (`bring`). A run on several
//! refs is the fold of the union of its histories there, which is what a
//! merge of those refs would give.

use std::collections::BTreeMap;

mod bring;
mod list;
pub use bring::BringResponse;

use gix::ObjectId;

use crate::core::error::{Error, ErrorKind, Result};
use crate::core::event::Event;
use crate::core::fold::Run;
use crate::git::refs::NexoRef;
use crate::wire::response::{Elsewhere, Place};
use crate::workspace::Nexo;

/// A run's folders on the refs other than this checkout, and where each
/// ref is.
#[derive(Default)]
pub(super) struct OnRefs {
    /// Each ref, with the run's folder tree there.
    pub(super) places: Vec<(Place, ObjectId)>,
    /// Distinct folder trees, each read once.
    pub(super) folders: Vec<ObjectId>,
}

impl OnRefs {
    /// The refs, each with why its copy could not be read when it could
    /// not (`unreadable`, by folder).
    pub(super) fn lives_on(&self, unreadable: &[(ObjectId, String)]) -> Vec<Place> {
        self.places
            .iter()
            .map(|(place, folder)| Place {
                unreadable: unreadable
                    .iter()
                    .find(|(f, _)| f == folder)
                    .map(|(_, why)| why.clone()),
                ..place.clone()
            })
            .collect()
    }
}

/// A run's union, folded from the copies that read, and why each of the
/// others did not (by folder).
pub(super) struct Union {
    /// `None` when no copy read (and the run is not here).
    pub(super) run: Option<Run>,
    pub(super) unreadable: Vec<(ObjectId, String)>,
}

/// The error of a run no copy of which reads: each ref with what is wrong
/// with its copy, so the person knows which branch to mend.
pub(super) fn unreadable_everywhere(id: &str, places: &[Place]) -> Error {
    unreadable_copies(
        format!(
            "run {id} is not in this working tree, and no copy of it on another ref can be read"
        ),
        places,
    )
}

/// `lead`, then each ref of `places` with what is wrong with its copy
/// there (refs whose copies fail alike named together), as an error
/// (exit 7) with the way to find every bad line.
pub(super) fn unreadable_copies(lead: String, places: &[Place]) -> Error {
    let mut by_why: Vec<(&str, Vec<Place>)> = Vec::new();
    for p in places {
        let why = p.unreadable.as_deref().unwrap_or("not read");
        // Named with its reason beside it, not marked again.
        let named = Place {
            unreadable: None,
            ..p.clone()
        };
        match by_why.iter_mut().find(|(w, _)| *w == why) {
            Some((_, refs)) => refs.push(named),
            None => by_why.push((why, vec![named])),
        }
    }
    let each: Vec<String> = by_why
        .iter()
        .map(|(why, refs)| format!("on {}: {why}", crate::wire::response::places(refs)))
        .collect();
    let first =
        crate::core::limits::quote_name(places.first().map_or("", |p| &p.r#ref)).into_owned();
    Error::corrupt(format!("{lead}: {}", each.join("; "))).with_hint(format!(
        "the line named is a peer's or a hand edit: `nexo doctor` in a checkout of {first} names every bad line there, and `nexo doctor --fix` moves it aside"
    ))
}

/// What reading other refs learnt, kept in the git directory
/// (`nexo-cache/refs/index`) so a ref whose commit did not move costs one
/// lookup: each commit's `.nexo/runs` tree and time, and each runs tree's
/// folders that differ from HEAD's (valid for one HEAD tree).
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct RefCache {
    format: u32,
    head: String,
    commits: std::collections::HashMap<String, (Option<String>, i64)>,
    trees: std::collections::HashMap<String, Vec<(String, String)>>,
}

const REF_CACHE_FORMAT: u32 = 2;

/// One ref, as the cache knows it.
pub(super) struct SeenRef {
    pub(super) r: NexoRef,
    pub(super) time: i64,
    /// Its runs whose folder differs from HEAD's (or that HEAD has not),
    /// with their folders.
    pub(super) diverged: Vec<(String, ObjectId)>,
}

impl Nexo {
    fn ref_cache_path(&self) -> std::path::PathBuf {
        self.store.cache_dir().join("refs").join("index")
    }

    /// Every ref with its runs, through the cache.
    pub(super) fn seen_refs(&self) -> Result<Vec<SeenRef>> {
        let refs = self.repo.nexo_refs()?;
        crate::trace::mark("refs listed");
        let head_runs = refs
            .iter()
            .find(|r| r.current)
            .and_then(|r| self.repo.commit_runs(r.commit).1);
        let head_key = head_runs.map(|t| t.to_string()).unwrap_or_default();
        let path = self.ref_cache_path();
        let mut cache: RefCache = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .filter(|c: &RefCache| c.format == REF_CACHE_FORMAT)
            .unwrap_or_default();
        if cache.head != head_key {
            cache.trees.clear();
            cache.head = head_key;
        }
        cache.format = REF_CACHE_FORMAT;
        // What is read of HEAD's runs tree, read once for every ref.
        let mut head_seen = crate::git::refs::BaseRuns::default();
        let mut changed = false;
        let mut out = Vec::new();
        for r in refs {
            let key = r.commit.to_string();
            let (runs_tree, time) = match cache.commits.get(&key) {
                Some((t, time)) => (
                    t.as_deref()
                        .and_then(|t| ObjectId::from_hex(t.as_bytes()).ok()),
                    *time,
                ),
                None => {
                    let (time, t) = self.repo.commit_runs(r.commit);
                    cache.commits.insert(key, (t.map(|t| t.to_string()), time));
                    changed = true;
                    (t, time)
                }
            };
            // This checkout's own branch, and a ref that has not moved
            // from it, differ in no run: no runs tree is read for them.
            let Some(t) = runs_tree.filter(|t| Some(*t) != head_runs) else {
                out.push(SeenRef {
                    r,
                    time,
                    diverged: Vec::new(),
                });
                continue;
            };
            let tkey = t.to_string();
            if !cache.trees.contains_key(&tkey) {
                // Only what differs from HEAD: most branches differ in a
                // run or two, and the rest is the working tree's.
                crate::trace::mark("a runs tree read");
                let entries = match head_runs {
                    Some(h) => self.repo.runs_differing(t, h, &mut head_seen)?,
                    None => self.repo.runs_in(t)?,
                };
                let listed = entries
                    .into_iter()
                    .map(|(id, f)| (id, f.to_string()))
                    .collect();
                cache.trees.insert(tkey.clone(), listed);
                changed = true;
            }
            let listed = &cache.trees[&tkey];
            out.push(SeenRef {
                time,
                diverged: listed
                    .iter()
                    .filter_map(|(id, f)| {
                        Some((id.clone(), ObjectId::from_hex(f.as_bytes()).ok()?))
                    })
                    .collect(),
                r,
            });
        }
        if changed && let Ok(bytes) = serde_json::to_vec(&cache) {
            // Best effort: a cache that cannot be written costs a re-read.
            let _ = std::fs::create_dir_all(path.parent().expect("a file in a folder"));
            crate::index::write_file(&self.store, &path, &bytes);
        }
        Ok(out)
    }

    /// The runs of other refs that differ from this checkout's, by id:
    /// the refs they differ on (where they live beyond here), and their
    /// folders there, each read once. A run the same on a ref as here is
    /// this working tree's: it is not labelled with every branch that
    /// carries it unchanged.
    pub(super) fn runs_on_refs(&self) -> Result<BTreeMap<String, OnRefs>> {
        let mut out: BTreeMap<String, OnRefs> = BTreeMap::new();
        for seen in self.seen_refs()? {
            if seen.r.current {
                continue;
            }
            let place = place_of(&seen.r);
            for (id, folder) in &seen.diverged {
                let entry = out.entry(id.clone()).or_default();
                entry.places.push((place.clone(), *folder));
                if !entry.folders.contains(folder) {
                    entry.folders.push(*folder);
                }
            }
        }
        Ok(out)
    }

    /// The events of run `id`'s copy in `folder` (a folder tree of another
    /// ref), read as a history on disk is: an error names the file and line.
    pub(crate) fn read_copy(&self, id: &str, folder: ObjectId) -> Result<Vec<Event>> {
        let mut events = Vec::new();
        let files = self.repo.history_files_of_folder(folder).map_err(|e| {
            let rel = crate::core::layout::run_rel(id);
            Error::corrupt(format!("{rel}: {}", e.message))
        })?;
        for (name, bytes) in files {
            let place = format!("{}/{name}", crate::core::layout::run_rel(id));
            events.extend(crate::store::parse_history(&bytes, &place)?.events);
        }
        Ok(events)
    }

    /// Run `id` folded from the union of its copies in `folders` (and its
    /// history in this working tree, when it is here): what a merge would
    /// give. A copy that cannot be read, or that will not fold even on its
    /// own, is left out and named; a peer's bad line harms only its own
    /// copy, never the run's copies elsewhere.
    pub(super) fn fold_union(&self, id: &str, folders: &[ObjectId]) -> Result<Union> {
        let here = self.store.resolve(id).is_ok_and(|found| found == id);
        let mine = match here {
            true => self.store.read_history(id)?.events,
            false => Vec::new(),
        };
        let mut unreadable = Vec::new();
        let mut copies = Vec::new();
        for f in folders {
            match self.read_copy(id, *f) {
                Ok(events) => copies.push((*f, events)),
                Err(e) => unreadable.push((*f, e.message)),
            }
        }
        if !here && copies.is_empty() {
            return Ok(Union {
                run: None,
                unreadable,
            });
        }
        let union = |copies: &[(ObjectId, Vec<Event>)]| {
            let mut all = mine.clone();
            all.extend(copies.iter().flat_map(|(_, e)| e.iter().cloned()));
            all
        };
        if let Ok(run) = self.fold_run_checked(id, union(&copies)) {
            return Ok(Union {
                run: Some(run),
                unreadable,
            });
        }
        // Rare: a copy that reads line by line but does not fold (a
        // history that opens another run, say). Each is tried alone.
        copies.retain(
            |(f, events)| match self.fold_run_checked(id, events.clone()) {
                Ok(_) => true,
                Err(e) => {
                    let rel = crate::core::layout::history_rel(id);
                    let why = match e.message.starts_with(&rel) {
                        true => e.message,
                        false => format!("{rel}: {}", e.message),
                    };
                    unreadable.push((*f, why));
                    false
                }
            },
        );
        let run = match (here, copies.is_empty()) {
            (false, true) => None,
            _ => Some(self.fold_run_checked(id, union(&copies))?),
        };
        Ok(Union { run, unreadable })
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
        let union = self.fold_union(id, &found.folders)?;
        let lives_on = found.lives_on(&union.unreadable);
        let Some(run) = union.run else {
            return Err(unreadable_everywhere(id, &lives_on));
        };
        let elsewhere = Elsewhere {
            how: how_to_continue(id, &lives_on),
            lives_on,
        };
        Ok((run, Some(elsewhere)))
    }

    /// Why a write to `run_id` cannot be made here, when the run lives on
    /// another ref: the same refusal as for an unknown run (exit 3), with
    /// where it is and how to work on it.
    pub(crate) fn not_here(&self, run_id: &str, missing: Error) -> Error {
        let Ok(on_refs) = self.runs_on_refs() else {
            return missing;
        };
        let Some((id, found)) = find_prefix(&on_refs, run_id) else {
            return missing;
        };
        let places = found.lives_on(&[]);
        Error::new(
            ErrorKind::NotFound,
            format!(
                "run {id} is not in this working tree: it lives on {}; nothing was written",
                crate::wire::response::places(&places)
            ),
        )
        .with_hint(how_to_continue(id, &places))
    }
}

/// The run on the refs whose id `given` is or begins (case-insensitive,
/// as local prefixes are), when exactly one is.
pub(super) fn find_prefix<'a>(
    on: &'a BTreeMap<String, OnRefs>,
    given: &str,
) -> Option<(&'a str, &'a OnRefs)> {
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
/// branch to switch to, else bringing it here; a ref whose copy reads
/// first. Names are quoted when they are odd, so a hostile branch name
/// cannot pass for part of the command.
pub(super) fn how_to_continue(id: &str, places: &[Place]) -> String {
    let mut there: Vec<&Place> = places.iter().filter(|p| !p.here).collect();
    there.sort_by_key(|p| p.unreadable.is_some());
    if let Some(w) = there.iter().find_map(|p| p.worktree.as_ref()) {
        let w = crate::core::limits::quote_name(w);
        return format!(
            "it is checked out in the worktree {w}: work on it there (cd {w}), or nexo bring {id} to carry it to this branch"
        );
    }
    match there.first() {
        Some(p) => {
            let branch = p
                .r#ref
                .split_once('/')
                .filter(|_| p.r#ref.contains('/'))
                .map_or(p.r#ref.as_str(), |(_, b)| b);
            format!(
                "git switch {} to work on it there, or nexo bring {id} --from {} to carry it to this branch",
                crate::core::limits::quote_name(branch),
                crate::core::limits::quote_name(&p.r#ref)
            )
        }
        None => format!("nexo bring {id} to carry it to this branch"),
    }
}

/// How recent a remote-tracking branch's commit must be for `prime` to
/// name its runs: work that moved in the last two weeks.
const RECENT_SECONDS: i64 = 14 * 24 * 3600;

/// How many runs of other sessions `prime` names.
const ELSEWHERE_SHOWN: usize = 5;

impl Nexo {
    /// `prime`'s lines on the open runs other sessions are working on:
    /// those in other worktrees of this repository, and on remote-tracking
    /// branches that moved in the last 14 days, with their claimed steps,
    /// so an agent does not start what another session has.
    pub(super) fn prime_elsewhere(&self) -> Result<String> {
        let now = crate::trace::now();
        let since = now.timestamp() - RECENT_SECONDS;
        let now_text = crate::trace::now_text();
        let mut found: BTreeMap<String, (Vec<Place>, Vec<ObjectId>)> = BTreeMap::new();
        for seen in self.seen_refs()? {
            let other_worktree = seen.r.worktree.is_some() && !seen.r.current;
            let recent_remote = seen.r.name.contains('/') && seen.time >= since;
            if !(other_worktree || recent_remote) {
                continue;
            }
            let place = place_of(&seen.r);
            for (id, folder) in seen.diverged {
                let entry = found.entry(id).or_default();
                entry.0.push(place.clone());
                entry.1.push(folder);
            }
        }
        // A session start folds at most a few unions: the first open ones
        // it meets, and counts the rest without folding them.
        let mut lines = Vec::new();
        let mut unread = 0;
        for (id, (places, folders)) in &found {
            if lines.len() == ELSEWHERE_SHOWN {
                unread += 1;
                continue;
            }
            let Ok(Some(run)) = self.fold_union(id, folders).map(|u| u.run) else {
                continue;
            };
            if run.status.is_closed() {
                continue;
            }
            let claims: Vec<String> = run
                .live_claims(&now_text)
                .iter()
                .map(|(step, c)| format!("{step} by {}", c.holder))
                .collect();
            let mut line = format!(
                "  - {} [{}] {} on {}",
                run.run_id,
                run.status,
                crate::core::words::clip(&run.goal, 50),
                crate::wire::response::places(places)
            );
            if !claims.is_empty() {
                line.push_str(&format!("; claimed: {}", claims.join(", ")));
            }
            lines.push(line);
        }
        if lines.is_empty() {
            return Ok(String::new());
        }
        let mut text = format!(
            "Other sessions' open runs (other worktrees, remote branches of the last 14 days; nexo list --branches):\n{}\n",
            lines.join("\n")
        );
        if unread > 0 {
            text.push_str(&format!(
                "  (+{unread} more runs on other refs: nexo list --branches)\n"
            ));
        }
        Ok(text)
    }
}

/// Where a ref other than this checkout is, as answers name it.
pub(super) fn place_of(r: &NexoRef) -> Place {
    Place {
        r#ref: r.name.clone(),
        worktree: r.worktree.as_ref().map(|w| w.display().to_string()),
        here: false,
        unreadable: None,
    }
}
