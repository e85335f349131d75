//! `list --branches`: the runs of this working tree and of every other
//! ref, each once, a run on several refs folded from the union of its
//! histories (kept in `nexo-cache/refs/unions`).

use std::collections::{BTreeMap, HashSet};

use gix::ObjectId;

use super::{OnRefs, Place, unreadable_everywhere};
use crate::core::error::Result;
use crate::core::fold::Run;
use crate::core::model::RunStatus;
use crate::index::summaries::Summaries;
use crate::wire::request::ListRequest;
use crate::wire::response::{ListItem, ListResponse, Unreadable};
use crate::workspace::Nexo;

/// What `list --branches` gathers before it filters and sorts.
struct Gathered {
    items: Vec<ListItem>,
    unreadable: Vec<Unreadable>,
    /// This branch's runs left out as closed without being decoded.
    closed: usize,
}

impl Nexo {
    /// `list --branches`: the runs of this working tree and of every other
    /// ref, each once, a run on several refs folded from the union of its
    /// histories, each labelled with where it lives.
    ///
    /// This branch's runs are read as plain `list` reads them (the open
    /// ones alone unless closed ones may be shown), and only as many of
    /// them decoded as can be shown: at 100,000 runs, a list item for
    /// every run, closed ones included, was most of the command's memory.
    /// A run another ref changes is folded from its union whatever its
    /// status here, so it is never lost to that narrower read.
    pub(in crate::api) fn list_branches(
        &self,
        req: &ListRequest,
        limit: usize,
    ) -> Result<ListResponse> {
        let on_refs = self.runs_on_refs()?;
        crate::trace::mark("refs read");
        let include_closed = req.include_closed.unwrap_or(false);
        let summaries = match (req.status, include_closed) {
            (Some(st), _) if st.is_closed() => self.summaries()?,
            // As many more as other refs change: a union may be older
            // than the run's line here, and let an older run of this
            // branch into the list.
            (None, true) => self.newest_summaries(limit.saturating_add(on_refs.len()))?,
            _ => self.open_summaries()?,
        };
        crate::trace::mark("summaries");
        let mut unions = UnionCache::read(self);
        crate::trace::mark("union cache read");
        let shown = |st: RunStatus| match req.status {
            Some(s) => st == s,
            None => include_closed || !st.is_closed(),
        };
        let Gathered {
            mut items,
            unreadable,
            closed,
        } = self.gather(summaries, &on_refs, &mut unions, &shown, limit)?;
        crate::trace::mark("runs listed");
        unions.write(self);
        let before = items.len();
        items.retain(|i| shown(i.status));
        let closed_left_out = match (req.status, include_closed) {
            (None, false) => closed + before - items.len(),
            _ => 0,
        };
        items.sort_by(|a, b| {
            b.updated_at
                .cmp(&a.updated_at)
                .then(a.run_id.cmp(&b.run_id))
        });
        items.truncate(limit);
        Ok(ListResponse {
            ok: true,
            count: items.len(),
            runs: items,
            unreadable,
            closed_left_out,
        })
    }

    /// The list items of this branch's runs that `shown` keeps (the first
    /// `limit` of those no other ref changes, in the summaries' order,
    /// which is the list's), and of every run other refs change, folded
    /// from its union; with the runs that did not read.
    fn gather(
        &self,
        mut summaries: Summaries,
        on_refs: &BTreeMap<String, OnRefs>,
        unions: &mut UnionCache,
        shown: &dyn Fn(RunStatus) -> bool,
        limit: usize,
    ) -> Result<Gathered> {
        let here = Place {
            r#ref: self.repo.current_branch().unwrap_or_else(|| "HEAD".into()),
            worktree: Some(self.repo.workdir().display().to_string()),
            here: true,
            unreadable: None,
        };
        let mut items = Vec::new();
        let mut unreadable = std::mem::take(&mut summaries.unreadable);
        let mut closed = summaries.closed_out;
        let mut seen = HashSet::new();
        let mut taken = 0;
        for s in &summaries.all {
            let id = summaries.id(s);
            let Some(found) = on_refs.get(id) else {
                match shown(s.status) {
                    false => closed += 1,
                    true if taken < limit => {
                        taken += 1;
                        let mut item = summaries.item(s)?;
                        item.lives_on = vec![here.clone()];
                        items.push(item);
                    }
                    true => {}
                }
                continue;
            };
            let (item, bad) = unions
                .item(self, id, &found.folders)
                .unwrap_or((None, Vec::new()));
            // A union that does not fold shows the run as it is here.
            let mut item = match item {
                Some(item) => item,
                None => summaries.item(s)?,
            };
            item.lives_on = found.lives_on(&bad);
            item.lives_on.insert(0, here.clone());
            seen.insert(id.to_string());
            items.push(item);
        }
        let unread_here: HashSet<String> =
            unreadable.iter().map(|u| u.run_id.to_string()).collect();
        for (id, found) in on_refs {
            if seen.contains(id) {
                continue;
            }
            // Here but not read above: closed here, and so counted among
            // the closed runs left out; its union tells what it is now.
            let is_here = !unread_here.contains(id) && self.store.history_stamp(id).is_some();
            if is_here {
                closed = closed.saturating_sub(1);
            }
            // A damaged run on another branch must not hide the others:
            // it is listed as unreadable, each ref with what is wrong there.
            let (item, bad) = match unions.item(self, id, &found.folders) {
                Ok(union) => union,
                Err(e) => {
                    unreadable.push(Unreadable {
                        run_id: id.clone().into(),
                        error: e.message,
                    });
                    continue;
                }
            };
            let mut lives_on = found.lives_on(&bad);
            let Some(mut item) = item else {
                let e = unreadable_everywhere(id, &lives_on);
                unreadable.push(Unreadable {
                    run_id: id.clone().into(),
                    error: format!("{}; {}", e.message, e.hint.unwrap_or_default()),
                });
                continue;
            };
            if is_here {
                lives_on.insert(0, here.clone());
            }
            item.lives_on = lives_on;
            items.push(item);
        }
        Ok(Gathered {
            items,
            unreadable,
            closed,
        })
    }
}

/// The list items of runs folded from several refs, by what they were
/// folded from (the run, its folders elsewhere, its history here), kept in
/// the git directory (`nexo-cache/refs/unions`): a branch that did not move
/// costs no fold, and a copy that does not read is not read again.
struct UnionCache {
    items: std::collections::HashMap<String, CachedUnion>,
    /// The keys asked for: only they are kept, so the file does not grow
    /// with every state a branch was ever in.
    used: std::collections::HashSet<String>,
    changed: bool,
}

/// One union as the cache keeps it: the list item (none when no copy
/// read), its progress (which the item does not serialize), and each
/// folder whose copy did not read, with why.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct CachedUnion {
    item: Option<crate::wire::response::ListItem>,
    progress: (usize, usize),
    unreadable: Vec<(String, String)>,
}

/// A union's list item (none when no copy read), and the folders whose
/// copies did not read, with why.
type UnionItem = (
    Option<crate::wire::response::ListItem>,
    Vec<(ObjectId, String)>,
);

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

    fn item(&mut self, nexo: &Nexo, id: &str, folders: &[ObjectId]) -> Result<UnionItem> {
        let mut sorted: Vec<String> = folders.iter().map(ToString::to_string).collect();
        sorted.sort();
        let stamp = nexo.store.history_stamp(id).map(|(len, mtime, ino)| {
            let ns = mtime
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            format!("{len}.{ns}.{ino}")
        });
        // A fold that changes what it makes of a history moves the format:
        // no union an older fold made is trusted.
        let key = format!(
            "{} {id} {} {}",
            crate::index::FOLD_FORMAT,
            sorted.join(","),
            stamp.unwrap_or_default()
        );
        self.used.insert(key.clone());
        let cached = match self.items.get(&key) {
            Some(cached) => cached.clone(),
            None => {
                let union = nexo.fold_union(id, folders)?;
                let item = union.run.as_ref().map(ListItem::of);
                let cached = CachedUnion {
                    progress: union.run.as_ref().map_or((0, 0), Run::progress),
                    item,
                    unreadable: union
                        .unreadable
                        .iter()
                        .map(|(f, why)| (f.to_string(), why.clone()))
                        .collect(),
                };
                self.items.insert(key, cached.clone());
                self.changed = true;
                cached
            }
        };
        let item = cached.item.map(|mut item| {
            item.progress = cached.progress;
            item
        });
        let unreadable = cached
            .unreadable
            .into_iter()
            .filter_map(|(f, why)| Some((ObjectId::from_hex(f.as_bytes()).ok()?, why)))
            .collect();
        Ok((item, unreadable))
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
            crate::index::write_file(&nexo.store, &path, &bytes);
        }
    }
}
