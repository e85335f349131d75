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

const REF_CACHE_FORMAT: u32 = 1;

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
        let mut head: Option<BTreeMap<String, ObjectId>> = None;
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
            let Some(t) = runs_tree else {
                out.push(SeenRef {
                    r,
                    time,
                    diverged: Vec::new(),
                });
                continue;
            };
            let tkey = t.to_string();
            if !cache.trees.contains_key(&tkey) {
                let head = match &mut head {
                    Some(h) => h,
                    None => head.insert(match head_runs {
                        Some(h) => self.repo.runs_in(h)?.into_iter().collect(),
                        None => BTreeMap::new(),
                    }),
                };
                // Only what differs from HEAD: most branches differ in a
                // run or two, and the rest is the working tree's.
                let entries = self.repo.runs_in(t)?;
                let listed = entries
                    .into_iter()
                    .filter(|(id, f)| head.get(id) != Some(f))
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
            self.write_cache_file(&path, &bytes);
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
            let place = Place {
                r#ref: seen.r.name.clone(),
                worktree: seen.r.worktree.as_ref().map(|p| p.display().to_string()),
                here: false,
            };
            for (id, folder) in &seen.diverged {
                let entry = out.entry(id.clone()).or_default();
                entry.places.push(place.clone());
                if !entry.folders.contains(folder) {
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
        crate::trace::mark("summaries");
        let on_refs = self.runs_on_refs()?;
        crate::trace::mark("refs read");
        let mut unions = UnionCache::read(self);
        crate::trace::mark("union cache read");
        let here = Place {
            r#ref: self.repo.current_branch().unwrap_or_else(|| "HEAD".into()),
            worktree: Some(self.repo.workdir().display().to_string()),
            here: true,
        };
        let mut items = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for s in &summaries.all {
            let id = summaries.id(s).to_string();
            let mut item = match on_refs.get(&id) {
                // A peer's bad line on another branch harms only that
                // union: the run is shown as it is here.
                Some(found) if !found.folders.is_empty() => {
                    match unions.item(self, &id, &found.folders) {
                        Ok(item) => item,
                        Err(_) => summaries.item(s)?,
                    }
                }
                _ => summaries.item(s)?,
            };
            item.lives_on = on_refs
                .get(&id)
                .map(|f| f.places.clone())
                .unwrap_or_default();
            item.lives_on.insert(0, here.clone());
            seen.insert(id);
            items.push(item);
        }
        for (id, found) in &on_refs {
            if seen.contains(id) {
                continue;
            }
            // A damaged run on another branch must not hide the others.
            let Ok(mut item) = unions.item(self, id, &found.folders) else {
                continue;
            };
            item.lives_on = found.places.clone();
            items.push(item);
        }
        crate::trace::mark("runs listed");
        unions.write(self);
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

/// The list items of runs folded from several refs, by what they were
/// folded from (the run, its folders elsewhere, its history here), kept in
/// the git directory (`nexo-cache/refs/unions`): a branch that did not move
/// costs no fold.
struct UnionCache {
    items: std::collections::HashMap<String, (crate::response::ListItem, (usize, usize))>,
    /// The keys asked for: only they are kept, so the file does not grow
    /// with every state a branch was ever in.
    used: std::collections::HashSet<String>,
    changed: bool,
}

impl UnionCache {
    fn path(nexo: &Nexo) -> std::path::PathBuf {
        nexo.store.cache_dir().join("refs").join("unions")
    }

    fn read(nexo: &Nexo) -> UnionCache {
        let items = std::fs::read(Self::path(nexo))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        UnionCache {
            items,
            used: Default::default(),
            changed: false,
        }
    }

    fn item(
        &mut self,
        nexo: &Nexo,
        id: &str,
        folders: &[ObjectId],
    ) -> Result<crate::response::ListItem> {
        let mut sorted: Vec<String> = folders.iter().map(ToString::to_string).collect();
        sorted.sort();
        let stamp = nexo.store.history_stamp(id).map(|(len, mtime, ino)| {
            let ns = mtime
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            format!("{len}.{ns}.{ino}")
        });
        let key = format!("{id} {} {}", sorted.join(","), stamp.unwrap_or_default());
        self.used.insert(key.clone());
        if let Some((item, progress)) = self.items.get(&key) {
            let mut item = item.clone();
            item.progress = *progress;
            return Ok(item);
        }
        let run = <Run as Record>::fold(nexo, nexo.union_events(id, folders)?)?;
        let mut item = super::list_item(&run);
        item.progress = crate::render::progress(&run);
        self.items.insert(key, (item.clone(), item.progress));
        self.changed = true;
        Ok(item)
    }

    fn write(mut self, nexo: &Nexo) {
        let before = self.items.len();
        self.items.retain(|k, _| self.used.contains(k));
        if !self.changed && self.items.len() == before {
            return;
        }
        let path = Self::path(nexo);
        let _ = std::fs::create_dir_all(path.parent().expect("a file in a folder"));
        if let Ok(bytes) = serde_json::to_vec(&self.items) {
            nexo.write_cache_file(&path, &bytes);
        }
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
        let runs = self
            .repo
            .commit_runs(r.commit)
            .1
            .map(|t| self.repo.runs_in(t))
            .transpose()?
            .unwrap_or_default();
        runs.into_iter()
            .find(|(run, _)| run == id)
            .map(|(_, folder)| folder)
            .ok_or_else(|| Error::not_found(format!("{name} has no run {id}")))
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
        let now_text = super::claims::now_text();
        let mut found: BTreeMap<String, (Vec<String>, Vec<ObjectId>)> = BTreeMap::new();
        for seen in self.seen_refs()? {
            let other_worktree = seen.r.worktree.is_some() && !seen.r.current;
            let recent_remote = seen.r.name.contains('/') && seen.time >= since;
            if !(other_worktree || recent_remote) {
                continue;
            }
            let label = match &seen.r.worktree {
                Some(w) => format!("{} (worktree {})", seen.r.name, w.display()),
                None => seen.r.name.clone(),
            };
            for (id, folder) in seen.diverged {
                let entry = found.entry(id).or_default();
                entry.0.push(label.clone());
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
            let Ok(run) = self
                .union_events(id, folders)
                .and_then(|events| <Run as Record>::fold(self, events))
            else {
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
                crate::render::clip(&run.goal, 50),
                places.join(", ")
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
