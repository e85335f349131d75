//! Run summaries for `list`, `ready`, `prime` and goal counts: an index
//! in the git directory (`nexo-cache/`, never committed), one line per
//! run, keyed by its history's stamp (length, modification time, inode),
//! in two files: the open part (`summaries`: every run not completed or
//! cancelled) and the closed part (`summaries-closed`). `list` (open
//! runs), `ready` and `prime` map and parse the open part alone, so their
//! cost follows the open runs, not all of them (docs/performance.md,
//! "100,000 runs"); `list --all` and goal counts read both. Only a run
//! whose history changed is folded again (through the per-run cache), and
//! only the runs shown are decoded from JSON.
//!
//! Each part's first line names the format, says where the lines written
//! sorted (most recently updated first) end, carries a token shared by
//! the two parts of one index (a part of another rebuild is not paired),
//! the count of runs when the index was written whole, HEAD's `.nexo`
//! tree when the part was written, and in the open part, when it can be
//! trusted, the stamp of the `runs/` folders. After a write, the lines of
//! the runs folded again are appended, and win over their earlier lines
//! (a line in the open part over one in the closed part); past 64 of them
//! the part is written sorted again. A run that closes is appended to the
//! closed part and the open part is written again without it; a closed
//! run that a later event reopens is named by the tree diff since the
//! open part's tree, folded, and joins the open part.
//!
//! As for the folders: their modification times change whenever an entry
//! is added, removed or replaced, so while they are unchanged the
//! index's ids are the runs there are and the folders need not be read
//! again. A stamp is recorded only once it is two seconds old (a change
//! within the file system's timestamp resolution could otherwise go
//! unseen), and never while a run is unreadable (those are not in the
//! index).
//!
//! A line is tab-separated: id, length, mtime, inode, updated_at, status,
//! priority, whether a gate waits, how many steps are ready, goal id, the length of the JSON, then
//! the JSON of what `list` and `prime` show. Values never hold tabs: names and times are refused
//! with control characters in them (docs/format.md, "Limits").

mod check;
mod folders;
mod newest;
mod open;
mod order;
mod read;
mod spill;
mod text;

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::core::error::{Error, ErrorKind, Result};
use crate::core::fold::Claim;
use crate::core::fold::Run;
use crate::core::model::{Priority, RunStatus, StepStatus};
use crate::core::ready::Wait;
use crate::core::resume::resume;
use crate::store::Stamp;
use crate::store::Store;
use crate::wire::response::{ListItem, PrimeRun, Unreadable};

/// Bumped when a line's shape changes, or what the fold makes of a
/// history does (5: lines a peer could not have written honestly are not
/// honoured; 7: the steps `ready` reads; 12: open and closed runs in
/// two parts), so an upgraded nexo never trusts a summary an older fold
/// made.
const FORMAT: &str = "nexo-summaries 12";

/// How many lines may be appended to a part before it is written sorted
/// again.
const MAX_APPENDED: usize = 64;
/// Runs changed since the closed part's tree past which a read writes
/// the index whole, recording today's tree: each read checks every run
/// changed since, so a bulk commit (views regenerated in every run) would
/// otherwise cost each `list --all` seconds from then on.
const MAX_CHANGED: usize = 1024;

/// How old the `runs/` folder's modification time must be to be trusted.
const SETTLED: std::time::Duration = std::time::Duration::from_secs(2);
/// One run, as `list` and `prime` need it: a line of the index text,
/// with its fields' places in it (no copy per run: listing 10,000 runs
/// must not allocate 30,000 strings).
pub struct Summary {
    line: Range<usize>,
    id: Range<usize>,
    updated_at: Range<usize>,
    goal_id: Range<usize>,
    json: Range<usize>,
    stamp: Stamp,
    pub status: RunStatus,
    pub priority: Priority,
    pub requires_approval: bool,
    /// How many of its steps are ready, claims aside: `ready` decodes
    /// only the runs that have some.
    pub ready: u32,
}

/// What the caller (who reads git) knows of the committed runs: a
/// closed run that no commit since the index was written changed, and
/// that no write left pending, is taken from the index without a stat,
/// so `list` costs the open runs, not the closed ones (docs/performance.md).
pub struct Committed<'a> {
    /// HEAD's `.nexo` tree now (hex).
    pub tree: String,
    /// The runs whose folders differ between the `.nexo` tree given (hex)
    /// and HEAD's, with every run written but not committed; `None` when
    /// that cannot be told (the tree is gone).
    pub changed_since: &'a dyn Fn(&str) -> Option<std::collections::HashSet<String>>,
}

/// Every run's summary (or, read for the open runs, every run not
/// completed or cancelled), and the text they point into.
pub struct Summaries {
    text: text::Text,
    pub all: Vec<Summary>,
    pub unreadable: Vec<Unreadable>,
    /// How many completed or cancelled runs were left out of `all` (read
    /// for the open runs only).
    pub closed_out: usize,
}

#[derive(Serialize, Deserialize)]
struct Shown {
    item: ListItem,
    progress: (usize, usize),
    /// The step prime names (the one resume points at, else the current).
    step_key: Option<String>,
    step_status: Option<StepStatus>,
    opened_at: String,
    /// The steps still to do, for `ready`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    ready: Vec<Candidate>,
}

/// What `ready` reads of [`Shown`]: the run, its age, its steps still to
/// do (nothing else is decoded).
#[derive(Deserialize)]
pub struct ForReady {
    pub item: ReadyRun,
    pub opened_at: String,
    #[serde(default)]
    pub ready: Vec<Candidate>,
}

#[derive(Deserialize)]
pub struct ReadyRun {
    pub run_id: crate::core::id::RunId,
    pub goal: String,
    pub priority: Priority,
}

/// [`Shown`] without what only `ready` reads: `list` and `prime` step
/// over the steps still to do instead of building them.
#[derive(Deserialize)]
struct Listed {
    item: ListItem,
    progress: (usize, usize),
    step_key: Option<String>,
    step_status: Option<StepStatus>,
}

impl Summaries {
    pub fn id(&self, s: &Summary) -> &str {
        self.text.get(s.id.clone())
    }

    /// The goal the run serves, or "".
    pub fn goal_id(&self, s: &Summary) -> &str {
        self.text.get(s.goal_id.clone())
    }

    fn json(&self, s: &Summary) -> &str {
        self.text.get(s.json.clone())
    }

    fn shown<T: serde::de::DeserializeOwned>(&self, s: &Summary) -> Result<T> {
        serde_json::from_str(self.json(s)).map_err(|e| {
            Error::new(
                ErrorKind::Corrupt,
                format!("a run summary is unreadable ({e}); delete .git/nexo-cache"),
            )
        })
    }

    /// What `list` shows of the run.
    pub fn item(&self, s: &Summary) -> Result<ListItem> {
        let shown: Listed = self.shown(s)?;
        let mut item = shown.item;
        item.progress = shown.progress;
        Ok(item)
    }

    /// What `ready` reads of the run: its list item, when it was opened,
    /// and its steps still to do.
    pub fn ready(&self, s: &Summary) -> Result<ForReady> {
        self.shown(s)
    }

    /// What `prime` shows of the run.
    pub fn prime(&self, s: &Summary) -> Result<PrimeRun> {
        let shown: Listed = self.shown(s)?;
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

/// A step of an open run as the summaries keep it for `ready`: what it
/// waits on, claims aside (the fold's part), and its claims, judged
/// when asked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Candidate {
    pub key: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<Wait>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<Claim>,
    /// Its needs on other runs, judged when asked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
    /// Its timer, judged when asked, as claims are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
}

impl Candidate {
    /// Ready, claims aside.
    pub fn is_ready(&self) -> bool {
        self.wait.is_none()
    }
}

/// The steps of `run` still to do, for its summary (none for a run that
/// is closed: nothing in it is ever ready).
pub fn candidates(run: &Run) -> Vec<Candidate> {
    if matches!(
        run.status,
        crate::core::model::RunStatus::Completed | crate::core::model::RunStatus::Cancelled
    ) {
        return Vec::new();
    }
    let readiness = crate::core::resume::readiness(run);
    run.steps
        .iter()
        .filter(|s| !s.status.is_done())
        .map(|s| Candidate {
            key: s.step_key.clone(),
            title: s.title.clone(),
            wait: readiness.waits(s),
            claims: s.claims.clone(),
            after: s.after.clone(),
            not_before: s.not_before.clone(),
        })
        .collect()
}

/// The index line of `run`, whose history has `stamp`.
fn line_of(run: &Run, stamp: Stamp) -> String {
    let r = resume(run);
    let prime = PrimeRun::of(run);
    let shown = Shown {
        item: ListItem::of(run),
        progress: run.progress(),
        step_key: prime.step_key,
        step_status: prime.step_status,
        opened_at: run.opened_at.clone(),
        ready: candidates(run),
    };
    let ready = shown.ready.iter().filter(|c| c.is_ready()).count();
    let json = serde_json::to_string(&shown).expect("summaries serialize");
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
        run.run_id,
        stamp.len,
        stamp.mtime_ns,
        stamp.ino,
        run.updated_at,
        run.status,
        run.priority,
        u8::from(r.requires_approval),
        ready,
        run.goal_id,
        json.len(),
        json,
    )
}

impl Summary {
    /// A summary of nothing, held only while a sort moves summaries.
    fn placeholder() -> Summary {
        Summary {
            line: 0..0,
            id: 0..0,
            updated_at: 0..0,
            goal_id: 0..0,
            json: 0..0,
            stamp: Stamp {
                len: 0,
                mtime_ns: 0,
                ino: 0,
            },
            status: RunStatus::Open,
            priority: Priority::Normal,
            requires_approval: false,
            ready: 0,
        }
    }

    /// The line at the start of `bytes`, which start at `start` of the
    /// text; its end is `line.end` (a newline follows it).
    fn parse(bytes: &[u8], start: usize) -> Option<Summary> {
        let mut at = 0;
        let mut field = || -> Option<(Range<usize>, &[u8])> {
            // Every field but the JSON is short: the search stays near.
            let len = bytes.iter().skip(at).take(128).position(|&b| b == b'\t')?;
            let r = at..at + len;
            at += len + 1;
            Some((start + r.start..start + r.end, &bytes[r]))
        };
        let (id, _) = field()?;
        let stamp = Stamp {
            len: number(field()?.1)? as u64,
            mtime_ns: number(field()?.1)?,
            ino: number(field()?.1)? as u64,
        };
        let (updated_at, _) = field()?;
        let status = RunStatus::parse(std::str::from_utf8(field()?.1).ok()?).ok()?;
        let priority = Priority::parse(std::str::from_utf8(field()?.1).ok()?).ok()?;
        let requires_approval = field()?.1 == b"1";
        let ready = number(field()?.1)? as u32;
        let (goal_id, _) = field()?;
        let json_len = number(field()?.1)? as usize;
        let end = at.checked_add(json_len)?;
        (bytes.get(end) == Some(&b'\n')).then_some(Summary {
            json: start + at..start + end,
            line: start..start + end,
            id,
            updated_at,
            goal_id,
            stamp,
            status,
            priority,
            requires_approval,
            ready,
        })
    }
}

/// The summary index of one repository.
pub struct SummaryIndex<'a> {
    pub store: &'a Store,
    pub committed: Option<Committed<'a>>,
}

/// A field of digits, as written by [`line_of`] (a stamp's numbers are
/// never negative; anything else is not a line nexo wrote).
fn number(digits: &[u8]) -> Option<i128> {
    if digits.is_empty() || digits.len() > 38 {
        return None;
    }
    digits.iter().try_fold(0i128, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + i128::from(d - b'0'))
    })
}

fn folder_key(s: Stamp) -> (i128, u64) {
    (s.mtime_ns, s.ino)
}

/// Whether the folder's modification time is old enough that any later
/// change gives it another.
fn settled(folder: &Stamp) -> bool {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128);
    folder.mtime_ns < now - SETTLED.as_nanos() as i128
}

/// Whether a run of this status lives in the closed part: nothing in a
/// completed or cancelled run is ever ready (a failed run may be retried).
fn is_final(status: RunStatus) -> bool {
    matches!(status, RunStatus::Completed | RunStatus::Cancelled)
}
