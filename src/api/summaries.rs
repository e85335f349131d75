//! Run summaries for `list`, `prime` and goal counts: one index file in
//! the git directory (`nexo-cache/summaries`, never committed), one line
//! per run, keyed by its history's stamp (length, modification time,
//! inode). Listing 10,000 runs is one read of that file and one lstat per
//! run; only a run whose history changed is folded again (through the
//! per-run cache), and only the runs shown are decoded from JSON.
//!
//! A line is tab-separated: id, length, mtime, inode, updated_at, status,
//! priority, whether a gate waits, goal id, then the JSON of what `list`
//! and `prime` show. Values never hold tabs: names and times are refused
//! with control characters in them (docs/format.md, "Limits").

use std::collections::HashMap;
use std::io::Write;

use serde::{Deserialize, Serialize};

use super::Nexo;
use super::record::Record;
use crate::error::{Error, ErrorKind, Result};
use crate::fold::Run;
use crate::model::{Priority, RunStatus};
use crate::response::{ListItem, PrimeRun, Unreadable};
use crate::resume::resume;
use crate::store::Stamp;

/// Bumped when a line's shape changes.
const FORMAT: &str = "nexo-summaries 1";

/// One run, as `list` and `prime` need it.
pub(crate) struct Summary {
    pub id: String,
    stamp: Stamp,
    pub updated_at: String,
    pub status: RunStatus,
    pub priority: Priority,
    pub requires_approval: bool,
    pub goal_id: String,
    json: String,
}

#[derive(Serialize, Deserialize)]
struct Shown {
    item: ListItem,
    progress: (usize, usize),
    prime: PrimeRun,
}

impl Summary {
    fn of(run: &Run, stamp: Stamp) -> Summary {
        let r = resume(run);
        let shown = Shown {
            item: super::list_item(run),
            progress: crate::render::progress(run),
            prime: super::prime::prime_run(run),
        };
        Summary {
            id: run.run_id.to_string(),
            stamp,
            updated_at: run.updated_at.clone(),
            status: run.status,
            priority: run.priority,
            requires_approval: r.requires_approval,
            goal_id: run.goal_id.clone(),
            json: serde_json::to_string(&shown).expect("summaries serialize"),
        }
    }

    fn shown(&self) -> Result<Shown> {
        serde_json::from_str(&self.json).map_err(|e| {
            Error::new(
                ErrorKind::Corrupt,
                format!("a run summary is unreadable ({e}); delete .git/nexo-cache"),
            )
        })
    }

    /// What `list` shows of the run.
    pub fn item(&self) -> Result<ListItem> {
        let shown = self.shown()?;
        let mut item = shown.item;
        item.progress = shown.progress;
        Ok(item)
    }

    /// What `prime` shows of the run.
    pub fn prime(&self) -> Result<PrimeRun> {
        Ok(self.shown()?.prime)
    }

    fn line(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            self.id,
            self.stamp.len,
            self.stamp.mtime_ns,
            self.stamp.ino,
            self.updated_at,
            self.status,
            self.priority,
            u8::from(self.requires_approval),
            self.goal_id,
            self.json
        )
    }

    fn parse(line: &str) -> Option<Summary> {
        let mut f = line.splitn(10, '\t');
        let mut next = || f.next();
        Some(Summary {
            id: next()?.to_string(),
            stamp: Stamp {
                len: next()?.parse().ok()?,
                mtime_ns: next()?.parse().ok()?,
                ino: next()?.parse().ok()?,
            },
            updated_at: next()?.to_string(),
            status: RunStatus::parse(next()?).ok()?,
            priority: Priority::parse(next()?).ok()?,
            requires_approval: next()? == "1",
            goal_id: next()?.to_string(),
            json: next()?.to_string(),
        })
    }
}

impl Nexo {
    /// Every run's summary, most recently updated first, and the runs
    /// whose history cannot be read (one damaged history must not hide
    /// the others; `nexo doctor` tells what is wrong with it).
    pub(crate) fn summaries(&self) -> Result<(Vec<Summary>, Vec<Unreadable>)> {
        self.refresh()?;
        let path = self.store.cache_dir().join("summaries");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let mut lines = text.lines();
        let mut known: HashMap<String, Summary> = match lines.next() {
            Some(FORMAT) => lines
                .filter_map(Summary::parse)
                .map(|s| (s.id.clone(), s))
                .collect(),
            _ => HashMap::new(),
        };
        let mut out = Vec::new();
        let mut unreadable = Vec::new();
        let mut changed = false;
        let ids = self.store.stamped_run_ids()?;
        changed |= known.len() != ids.len();
        for (id, stamp) in ids {
            match known.remove(&id) {
                Some(s) if s.stamp == stamp => out.push(s),
                _ => {
                    changed = true;
                    match Run::read(self, &id) {
                        Ok(run) => out.push(Summary::of(&run, stamp)),
                        Err(e) if e.kind == ErrorKind::Corrupt => unreadable.push(Unreadable {
                            run_id: id.into(),
                            error: e.message,
                        }),
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        out.sort_by(|a, b| {
            b.updated_at
                .cmp(&a.updated_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        if changed {
            self.write_summaries(&out);
        }
        Ok((out, unreadable))
    }

    /// Best effort: an index that cannot be written is rebuilt later.
    fn write_summaries(&self, all: &[Summary]) {
        let dir = self.store.cache_dir();
        let _ = std::fs::create_dir_all(&dir);
        let mut text = String::with_capacity(all.len() * 512);
        text.push_str(FORMAT);
        text.push('\n');
        for s in all {
            text.push_str(&s.line());
        }
        if let Ok(mut tmp) = tempfile::NamedTempFile::new_in(&dir)
            && tmp.write_all(text.as_bytes()).is_ok()
        {
            let _ = tmp.persist(dir.join("summaries"));
        }
    }
}
