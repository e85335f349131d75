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
use crate::model::{Priority, RunStatus, StepStatus};
use crate::response::{ListItem, PrimeRun, Unreadable};
use crate::resume::resume;
use crate::store::Stamp;

/// Bumped when a line's shape changes.
const FORMAT: &str = "nexo-summaries 2";

/// One run, as `list` and `prime` need it.
pub(crate) struct Summary {
    pub id: String,
    stamp: Stamp,
    pub updated_at: String,
    pub status: RunStatus,
    pub priority: Priority,
    pub requires_approval: bool,
    pub goal_id: String,
    json: Json,
}

/// What is shown, as JSON: a range of the index's text (no copy per run)
/// or text of its own (a run folded just now).
enum Json {
    InIndex(std::ops::Range<usize>),
    Own(String),
}

/// Every run's summary, and the index text they point into.
pub(crate) struct Summaries {
    text: String,
    pub all: Vec<Summary>,
    pub unreadable: Vec<Unreadable>,
}

#[derive(Serialize, Deserialize)]
struct Shown {
    item: ListItem,
    progress: (usize, usize),
    /// The step prime names (the one resume points at, else the current).
    step_key: Option<String>,
    step_status: Option<StepStatus>,
}

impl Summaries {
    fn json<'a>(&'a self, s: &'a Summary) -> &'a str {
        match &s.json {
            Json::InIndex(r) => &self.text[r.clone()],
            Json::Own(t) => t,
        }
    }

    fn shown(&self, s: &Summary) -> Result<Shown> {
        serde_json::from_str(self.json(s)).map_err(|e| {
            Error::new(
                ErrorKind::Corrupt,
                format!("a run summary is unreadable ({e}); delete .git/nexo-cache"),
            )
        })
    }

    /// What `list` shows of the run.
    pub fn item(&self, s: &Summary) -> Result<ListItem> {
        let shown = self.shown(s)?;
        let mut item = shown.item;
        item.progress = shown.progress;
        Ok(item)
    }

    /// What `prime` shows of the run.
    pub fn prime(&self, s: &Summary) -> Result<PrimeRun> {
        let shown = self.shown(s)?;
        let i = shown.item;
        Ok(PrimeRun {
            run_id: i.run_id,
            goal: i.goal,
            status: i.status,
            owner: i.owner,
            step_key: shown.step_key,
            step_status: shown.step_status,
            resume_state: i.resume_state,
            requires_approval: s.requires_approval,
            next_action: i.next_action,
        })
    }
}

impl Summary {
    fn of(run: &Run, stamp: Stamp) -> Summary {
        let r = resume(run);
        let prime = super::prime::prime_run(run);
        let shown = Shown {
            item: super::list_item(run),
            progress: crate::render::progress(run),
            step_key: prime.step_key,
            step_status: prime.step_status,
        };
        Summary {
            id: run.run_id.to_string(),
            stamp,
            updated_at: run.updated_at.clone(),
            status: run.status,
            priority: run.priority,
            requires_approval: r.requires_approval,
            goal_id: run.goal_id.clone(),
            json: Json::Own(serde_json::to_string(&shown).expect("summaries serialize")),
        }
    }

    fn line(&self, json: &str) -> String {
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
            json
        )
    }

    /// The line that starts at byte `start` of the index's text.
    fn parse(line: &str, start: usize) -> Option<Summary> {
        let json_at = start + line.match_indices('\t').nth(8)?.0 + 1;
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
            json: Json::InIndex(json_at..start + line.len()),
        })
    }
}

impl Nexo {
    /// Every run's summary, most recently updated first, and the runs
    /// whose history cannot be read (one damaged history must not hide
    /// the others; `nexo doctor` tells what is wrong with it).
    pub(crate) fn summaries(&self) -> Result<Summaries> {
        self.refresh()?;
        let path = self.store.cache_dir().join("summaries");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let mut known: HashMap<String, Summary> = HashMap::new();
        if text.starts_with(&format!("{FORMAT}\n")) {
            let mut start = FORMAT.len() + 1;
            for line in text[start..].split_inclusive('\n') {
                if let Some(s) = Summary::parse(line.trim_end_matches('\n'), start) {
                    known.insert(s.id.clone(), s);
                }
                start += line.len();
            }
        }
        let mut all = Vec::new();
        let mut unreadable = Vec::new();
        let ids = self.store.stamped_run_ids()?;
        let mut changed = known.len() != ids.len();
        for (id, stamp) in ids {
            match known.remove(&id) {
                Some(s) if s.stamp == stamp => all.push(s),
                _ => {
                    changed = true;
                    match Run::read(self, &id) {
                        Ok(run) => all.push(Summary::of(&run, stamp)),
                        Err(e) if e.kind == ErrorKind::Corrupt => unreadable.push(Unreadable {
                            run_id: id.into(),
                            error: e.message,
                        }),
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        all.sort_by(|a, b| {
            b.updated_at
                .cmp(&a.updated_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        let summaries = Summaries {
            text,
            all,
            unreadable,
        };
        if changed {
            self.write_summaries(&summaries);
        }
        Ok(summaries)
    }

    /// Best effort: an index that cannot be written is rebuilt later.
    fn write_summaries(&self, s: &Summaries) {
        let dir = self.store.cache_dir();
        let _ = std::fs::create_dir_all(&dir);
        let mut text = String::with_capacity(s.all.len() * 400);
        text.push_str(FORMAT);
        text.push('\n');
        for one in &s.all {
            text.push_str(&one.line(s.json(one)));
        }
        if let Ok(mut tmp) = tempfile::NamedTempFile::new_in(&dir)
            && tmp.write_all(text.as_bytes()).is_ok()
        {
            let _ = tmp.persist(dir.join("summaries"));
        }
    }
}
