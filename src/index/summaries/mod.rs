//! Run summaries for `list`, `prime` and goal counts: one index file in
//! the git directory (`nexo-cache/summaries`, never committed), one line
//! per run, keyed by its history's stamp (length, modification time,
//! inode). Listing 10,000 runs is one mapped read of that file and one
//! lstat per run; only a run whose history changed is folded again
//! (through the per-run cache), and only the runs shown are decoded from
//! JSON.
//!
//! The first line names the format, says where the lines written sorted
//! (most recently updated first) end, and, when it can be trusted, gives
//! the stamp of the `runs/` folder itself. After a write, the lines of
//! the runs folded again are appended, and win over their earlier lines;
//! past 64 of them the file is written sorted again. As for the folder:
//! its modification time changes whenever an entry is added, removed or
//! replaced, so while it is unchanged the index's ids are the runs there
//! are and the folder need not be read again. A stamp is recorded only once it is two seconds
//! old (a change within the file system's timestamp resolution could
//! otherwise go unseen), and never while a run is unreadable (those are
//! not in the index).
//!
//! A line is tab-separated: id, length, mtime, inode, updated_at, status,
//! priority, whether a gate waits, how many steps are ready, goal id, the length of the JSON, then
//! the JSON of what `list` and `prime` show. Values never hold tabs: names and times are refused
//! with control characters in them (docs/format.md, "Limits").

use std::collections::HashMap;
use std::io::Write;
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
/// honoured; 7: the steps `ready` reads), so an upgraded nexo never
/// trusts a summary an older fold made.
const FORMAT: &str = "nexo-summaries 11";

/// How many lines may be appended to the index before it is written
/// sorted again.
const MAX_APPENDED: usize = 64;

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

/// The index's bytes, then the lines of runs folded just now: one
/// address space for [`Summary`]'s ranges.
struct Text {
    /// Mapped, not read: nexo replaces the file by rename and never
    /// writes it in place.
    index: Option<memmap2::Mmap>,
    extra: String,
}

/// What the index's first line says (see [`Text::header`]).
struct Header {
    /// Where the first line of a run starts.
    start: usize,
    /// Where the lines written sorted end; lines appended since follow
    /// (a run folded again since: its newer line wins).
    sorted_end: usize,
    /// HEAD's `.nexo` tree when the index was written (hex), if known.
    tree: Option<String>,
    folder: Option<(i128, u64)>,
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

/// Every run's summary, and the text they point into.
pub struct Summaries {
    text: Text,
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

impl Text {
    fn read(path: &std::path::Path) -> Text {
        let index = std::fs::File::open(path).ok().and_then(|f| {
            // SAFETY: the file is nexo's own, in the git directory, and is
            // only ever replaced by rename, so the mapping's bytes do not
            // change or shrink while it is held.
            #[allow(unsafe_code)]
            unsafe { memmap2::Mmap::map(&f) }.ok()
        });
        Text {
            index,
            extra: String::new(),
        }
    }

    fn bytes(&self) -> &[u8] {
        self.index.as_deref().unwrap_or_default()
    }

    fn get(&self, r: Range<usize>) -> &str {
        std::str::from_utf8(self.raw(r)).unwrap_or_default()
    }

    /// Adds `line` (without its newline) and returns its summary.
    fn push(&mut self, line: &str) -> Summary {
        let start = self.bytes().len() + self.extra.len();
        self.extra.push_str(line);
        self.extra.push('\n');
        Summary::parse(&self.extra.as_bytes()[start - self.bytes().len()..], start)
            .expect("a line just made parses")
    }

    /// The index's first line: `FORMAT`, where the sorted lines end, and
    /// the trusted `runs/` folder stamp if any. `None`: no index, or not
    /// this format.
    fn header(&self) -> Option<Header> {
        let bytes = self.bytes();
        let end = bytes.iter().position(|&b| b == b'\n')?;
        let first = std::str::from_utf8(&bytes[..end]).ok()?;
        let mut f = first.split('\t');
        if f.next() != Some(FORMAT) {
            return None;
        }
        let sorted_end: usize = f.next()?.parse().ok()?;
        let tree = f.next().filter(|t| *t != "-").map(String::from);
        let folder = f
            .next()
            .and_then(|m| m.parse().ok())
            .zip(f.next().and_then(|i| i.parse().ok()));
        (end < sorted_end && sorted_end <= bytes.len()).then_some(Header {
            start: end + 1,
            sorted_end,
            tree,
            folder,
        })
    }

    /// The bytes of a range, for comparing without decoding.
    fn raw(&self, r: Range<usize>) -> &[u8] {
        let base = self.bytes().len();
        match r.start >= base {
            true => &self.extra.as_bytes()[r.start - base..r.end - base],
            false => &self.bytes()[r],
        }
    }

    /// Where the line that holds byte `at` ends (just past its newline),
    /// at most `end`.
    fn line_end_after(&self, at: usize, end: usize) -> usize {
        self.bytes()[at.min(end)..end]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(end, |p| at + p + 1)
    }

    /// Every line between `start` and `end` that parses.
    fn lines(&self, mut start: usize, end: usize) -> Vec<Summary> {
        let bytes = &self.bytes()[..end];
        let mut out = Vec::new();
        while start < bytes.len() {
            // A line says how long its JSON is, so the bulk of the index
            // is stepped over, not scanned.
            match Summary::parse(&bytes[start..], start) {
                Some(s) => {
                    start = s.line.end + 1;
                    out.push(s);
                }
                None => {
                    start = bytes[start..]
                        .iter()
                        .position(|&b| b == b'\n')
                        .map_or(bytes.len(), |p| start + p + 1);
                }
            }
        }
        out
    }
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

impl SummaryIndex<'_> {
    /// Every run's summary, most recently updated first, and the runs
    /// whose history cannot be read (one damaged history must not hide
    /// the others; `nexo doctor` tells what is wrong with it). `fold`
    /// reads and folds a run whose line is missing or stale.
    pub fn read(&self, fold: impl Fn(&str) -> Result<Run>) -> Result<Summaries> {
        let path = self.store.cache_dir().join("summaries");
        let mut text = Text::read(&path);
        let header = text.header();
        // Taken before the folder is read: a change after it moves it.
        let folder = self.store.runs_folder_stamp();
        let trusted = header.as_ref().and_then(|h| h.folder);
        // The runs that may have changed since the index's tree (`None`:
        // every run may have).
        let changed = match (
            &self.committed,
            header.as_ref().and_then(|h| h.tree.as_ref()),
        ) {
            (Some(c), Some(tree)) => (c.changed_since)(tree),
            _ => None,
        };
        let (kept, stale) = match &header {
            Some(h) if trusted.is_some() && trusted == folder.map(folder_key) => {
                self.unchanged_by_place(&text, h, changed.as_ref())?
            }
            Some(h) => self.unchanged_by_id(
                &text,
                text.lines(h.start, h.sorted_end),
                text.lines(h.sorted_end, text.bytes().len()),
            )?,
            None => self.unchanged_by_id(&text, Vec::new(), Vec::new())?,
        };
        let ((mut all, gone), had_appended) = kept;
        let mut unreadable = Vec::new();
        let mut fresh = Vec::new();
        for (id, stamp) in stale {
            match fold(&id) {
                Ok(run) => {
                    let summary = text.push(&line_of(&run, stamp));
                    fresh.push(summary.line.clone());
                    all.push(summary);
                }
                Err(e) if e.kind == ErrorKind::Corrupt => unreadable.push(Unreadable {
                    run_id: id.into(),
                    error: e.message_with_causes(),
                }),
                Err(e) => return Err(e),
            }
        }
        if had_appended > 0 || !fresh.is_empty() {
            // Nearly sorted: the lines written sorted still are.
            all.sort_by(|a, b| {
                (text
                    .raw(b.updated_at.clone())
                    .cmp(text.raw(a.updated_at.clone())))
                .then_with(|| text.raw(a.id.clone()).cmp(text.raw(b.id.clone())))
            });
        }
        let settled = folder
            .filter(|f| unreadable.is_empty() && settled(f))
            .map(folder_key);
        let summaries = Summaries {
            text,
            all,
            unreadable,
        };
        let rewrite = header.is_none()
            || gone
            || settled != trusted
            || had_appended + fresh.len() > MAX_APPENDED;
        let tree = self.committed.as_ref().map(|c| c.tree.as_str());
        // A tree recorded once serves on: what changed since an older
        // tree is more than since a newer, never less.
        let rewrite =
            rewrite || (header.as_ref().is_some_and(|h| h.tree.is_none()) && tree.is_some());
        if rewrite {
            self.write_summaries(&summaries, tree, settled);
        } else if !fresh.is_empty() {
            append_summaries(&path, &summaries.text, &fresh);
        }
        Ok(summaries)
    }

    /// With the runs those of the index (the folder is unchanged): each
    /// history stat'ed in the index's order, each half of the index
    /// parsed and stat'ed on its own core. Returns the lines still current
    /// (whether any run is gone, how many lines were appended) and the
    /// runs to fold again.
    #[allow(clippy::type_complexity)]
    fn unchanged_by_place(
        &self,
        text: &Text,
        h: &Header,
        changed: Option<&std::collections::HashSet<String>>,
    ) -> Result<(((Vec<Summary>, bool), usize), Vec<(String, Stamp)>)> {
        let Some(folder) = self.store.runs_folder()? else {
            return self.unchanged_by_id(text, Vec::new(), Vec::new());
        };
        // A closed run no commit or pending write changed since the
        // index's tree keeps its line unstat'ed.
        let trusted = |s: &Summary| {
            changed.is_some_and(|c| !c.contains(text.get(s.id.clone())))
                && matches!(s.status, RunStatus::Completed | RunStatus::Cancelled)
        };
        let stamped = |from, to| {
            let lines = text.lines(from, to);
            let names: Vec<String> = lines
                .iter()
                .filter(|s| !trusted(s))
                .map(|s| crate::core::layout::run_in_runs(text.get(s.id.clone())))
                .collect();
            let mut stamps = folder.stamps(&names).into_iter();
            lines
                .into_iter()
                .map(|s| {
                    let stamp = match trusted(&s) {
                        true => Some(s.stamp),
                        false => stamps.next().flatten(),
                    };
                    (s, stamp)
                })
                .collect::<Vec<_>>()
        };
        let mid = text.line_end_after((h.start + h.sorted_end) / 2, h.sorted_end);
        let (mut sorted, appended) = std::thread::scope(|s| {
            let first = s.spawn(|| stamped(h.start, mid));
            let second = stamped(mid, h.sorted_end);
            let appended = stamped(h.sorted_end, text.bytes().len());
            let mut sorted = first.join().expect("parsing threads do not panic");
            sorted.extend(second);
            (sorted, appended)
        });
        let had_appended = appended.len();
        let keep = supersede(text, &sorted, &appended);
        sorted.extend(appended);
        let mut stale = Vec::new();
        let mut gone = false;
        let mut kept = Vec::with_capacity(sorted.len());
        for ((s, stamp), keep) in sorted.into_iter().zip(keep) {
            match stamp {
                _ if !keep => {}
                Some(st) if st == s.stamp => kept.push(s),
                Some(st) => stale.push((text.get(s.id.clone()).to_string(), st)),
                None => gone = true,
            }
        }
        Ok((((kept, gone), had_appended), stale))
    }

    /// [`Nexo::unchanged_by_place`] when the folder may hold other runs:
    /// it is read, and its runs matched to the index's lines by id.
    #[allow(clippy::type_complexity)]
    fn unchanged_by_id(
        &self,
        text: &Text,
        mut parsed: Vec<Summary>,
        appended: Vec<Summary>,
    ) -> Result<(((Vec<Summary>, bool), usize), Vec<(String, Stamp)>)> {
        let had_appended = appended.len();
        let keep = supersede(text, &parsed, &appended);
        parsed.extend(appended);
        let parsed: Vec<Summary> = parsed
            .into_iter()
            .zip(keep)
            .filter_map(|(s, k)| k.then_some(s))
            .collect();
        let ids = self.store.stamped_run_ids()?;
        let mut kept = vec![false; parsed.len()];
        let mut stale = Vec::new();
        {
            let known: HashMap<&str, usize> = parsed
                .iter()
                .enumerate()
                .map(|(i, s)| (text.get(s.id.clone()), i))
                .collect();
            for (id, stamp) in ids {
                match known.get(id.as_str()) {
                    Some(&i) if parsed[i].stamp == stamp && !kept[i] => kept[i] = true,
                    _ => stale.push((id, stamp)),
                }
            }
        }
        let gone = kept.iter().any(|k| !k);
        let all = parsed
            .into_iter()
            .zip(kept)
            .filter_map(|(s, k)| k.then_some(s))
            .collect();
        Ok((((all, gone), had_appended), stale))
    }

    /// Best effort: an index that cannot be written is rebuilt later.
    fn write_summaries(&self, s: &Summaries, tree: Option<&str>, folder: Option<(i128, u64)>) {
        let dir = self.store.cache_dir();
        let _ = std::fs::create_dir_all(&dir);
        let mut body = Vec::with_capacity(s.all.len() * 400);
        for one in &s.all {
            body.extend_from_slice(s.text.raw(one.line.clone()));
            body.push(b'\n');
        }
        let folder = format!(
            "\t{}{}",
            tree.unwrap_or("-"),
            folder.map_or(String::new(), |(mtime, ino)| format!("\t{mtime}\t{ino}"))
        );
        // Where the sorted lines end, counting the header itself (20
        // digits, so its own length is known).
        let end = FORMAT.len() + 1 + 20 + folder.len() + 1 + body.len();
        let header = format!("{FORMAT}\t{end:020}{folder}\n");
        if let Ok(mut tmp) = tempfile::NamedTempFile::new_in(&dir)
            && tmp.write_all(header.as_bytes()).is_ok()
            && tmp.write_all(&body).is_ok()
        {
            let _ = tmp.persist(dir.join("summaries"));
        }
    }
}

/// Appends the lines of runs folded again to the index: a write changes
/// one run, and rewriting 10,000 lines for it cost more than the listing.
/// Best effort, like the rest of the index.
fn append_summaries(path: &std::path::Path, text: &Text, lines: &[Range<usize>]) {
    let mut out = Vec::new();
    for line in lines {
        out.extend_from_slice(text.raw(line.clone()));
        out.push(b'\n');
    }
    if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(path) {
        let _ = f.write_all(&out);
    }
}

/// Which of the sorted lines, then of the appended ones, still count:
/// an appended line replaces the run's earlier one (the last appended
/// wins).
fn supersede<T: AsSummary>(text: &Text, sorted: &[T], appended: &[T]) -> Vec<bool> {
    let mut keep = vec![true; sorted.len() + appended.len()];
    if appended.is_empty() {
        return keep;
    }
    let newest: HashMap<&[u8], usize> = appended
        .iter()
        .enumerate()
        .map(|(i, s)| (text.raw(s.summary().id.clone()), sorted.len() + i))
        .collect();
    for (i, s) in sorted.iter().chain(appended).enumerate() {
        keep[i] = newest
            .get(text.raw(s.summary().id.clone()))
            .is_none_or(|&n| n == i);
    }
    keep
}

/// A summary, alone or with the stamp its history has now.
trait AsSummary {
    fn summary(&self) -> &Summary;
}

impl AsSummary for Summary {
    fn summary(&self) -> &Summary {
        self
    }
}

impl AsSummary for (Summary, Option<Stamp>) {
    fn summary(&self) -> &Summary {
        &self.0
    }
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
