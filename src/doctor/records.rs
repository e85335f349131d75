//! `doctor`'s check of each run and goal: its history read and folded,
//! what the fold leaves aside named, its views compared with the ones the
//! history renders (and with `fix`, rewritten). Each record is checked on
//! its own, touching only its own files, so a large repository's records
//! are shared between threads; what they find is put back in id order, so
//! the report is the one a check of one record after another makes.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::lenient::{Aside, read_lenient};
use super::{Problem, ProblemKind, Quarantined, RunTrespass, UnhonouredDecision, quarantine};
use crate::core::error::Result;
use crate::core::event::Event;
use crate::core::id::GOAL_PREFIX;
use crate::git::is_marker;
use crate::store::{HISTORY, Store, nofollow};
use crate::workspace::{Folding, Nexo};

/// Where each event's first copy stands: (file, line).
type Places = std::collections::HashMap<crate::core::id::EventId, (String, usize)>;

/// Below this many records they are checked on the calling thread: a small
/// repository's check is over before a second thread would have helped.
const THREADS_FROM: usize = 2_000;

/// At most this many threads: a check is bound by opening and reading
/// files, and the machines nexo runs on are often shared.
const MAX_THREADS: usize = 2;

/// How many records a thread takes at a time, at most: few enough that
/// neither thread is left with a long tail, many enough that the shared
/// counter and the putting back in order cost nothing beside the reads.
const BLOCK: usize = 64;

/// Blocks a thread takes, at least (smaller blocks for fewer records):
/// a slow record holds its block's thread, not the whole check.
const BLOCKS_PER_THREAD: usize = 8;

/// What checking records found, in the order of their ids.
#[derive(Default)]
pub(super) struct Checked {
    pub problems: Vec<Problem>,
    /// Paths `fix` rewrote or removed.
    pub fixed: Vec<String>,
    pub quarantined: Vec<Quarantined>,
    pub unhonoured: Vec<UnhonouredDecision>,
    pub trespasses: Vec<RunTrespass>,
    pub dated_ahead: Vec<Problem>,
}

impl Checked {
    /// `later`'s findings after this one's, but its problems and repaired
    /// paths, which go to `found`.
    pub(super) fn append(&mut self, later: Checked, found: &mut super::found::Found) -> Result<()> {
        found.problems(later.problems);
        found.fixed_all(later.fixed)?;
        self.quarantined.extend(later.quarantined);
        self.unhonoured.extend(later.unhonoured);
        self.trespasses.extend(later.trespasses);
        self.dated_ahead.extend(later.dated_ahead);
        Ok(())
    }
}

/// Blocks checked, merged in order as they come in.
struct InOrder<'m> {
    next: usize,
    waiting: BTreeMap<usize, Result<Checked>>,
    merge: &'m mut (dyn FnMut(Checked) -> Result<()> + Send),
    error: Option<crate::core::error::Error>,
}

impl InOrder<'_> {
    /// Block `block`'s result arrives; every block now in order is
    /// merged. False once an error is the answer.
    fn arrive(&mut self, block: usize, result: Result<Checked>) -> bool {
        self.waiting.insert(block, result);
        while self.error.is_none()
            && let Some(result) = self.waiting.remove(&self.next)
        {
            self.next += 1;
            if let Err(e) = result.and_then(|found| (self.merge)(found)) {
                self.error = Some(e);
            }
        }
        self.error.is_none()
    }
}

/// What checking a record reads and writes: the store and the fold's
/// rules, both shareable between threads (a `Nexo` is not).
pub(super) struct Checker<'a> {
    store: &'a Store,
    folding: Folding<'a>,
    fix: bool,
}

impl<'a> Checker<'a> {
    pub(super) fn new(nexo: &'a Nexo, fix: bool) -> Checker<'a> {
        Checker {
            store: nexo.store(),
            folding: nexo.folding(),
            fix,
        }
    }

    /// Checks records `ids`, on more than one thread when there are many,
    /// handing what each block of them found to `merge` in id order as
    /// soon as the blocks before it are in: a block waits for the ones
    /// before it, not for the whole check. The first error in id order is
    /// the answer, as it would be checking one after another; the other
    /// thread then takes no more records.
    pub(super) fn check_all(
        &self,
        ids: &[&str],
        merge: &mut (dyn FnMut(Checked) -> Result<()> + Send),
    ) -> Result<()> {
        let threads = match ids.len() < crate::trace::threads_from(THREADS_FROM) {
            true => 1,
            false => std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_THREADS)),
        };
        if threads == 1 {
            for block in ids.chunks(BLOCK) {
                let mut found = Checked::default();
                for id in block {
                    self.check_record(id, &mut found)?;
                }
                merge(found)?;
            }
            return Ok(());
        }
        let block_len = ids
            .len()
            .div_ceil(threads * BLOCKS_PER_THREAD)
            .clamp(1, BLOCK);
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let order = Mutex::new(InOrder {
            next: 0,
            waiting: BTreeMap::new(),
            merge,
            error: None,
        });
        // Blocks are taken in id order, and each taken block is finished:
        // every block before a failed one is merged.
        let work = || {
            while !failed.load(Ordering::Relaxed) {
                let block = next.fetch_add(1, Ordering::Relaxed);
                let Some(block_ids) = ids.chunks(block_len).nth(block) else {
                    break;
                };
                let mut found = Checked::default();
                let result = block_ids
                    .iter()
                    .try_for_each(|id| self.check_record(id, &mut found));
                let mut order = order.lock().unwrap_or_else(|p| p.into_inner());
                if !order.arrive(block, result.map(|()| found)) {
                    failed.store(true, Ordering::Relaxed);
                }
            }
        };
        std::thread::scope(|scope| {
            let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
            work();
            for helper in helpers {
                if let Err(panic) = helper.join() {
                    std::panic::resume_unwind(panic);
                }
            }
        });
        let order = order.into_inner().unwrap_or_else(|p| p.into_inner());
        order.error.map_or(Ok(()), Err)
    }

    /// One run's or goal's history and views: what is wrong with them, the
    /// decisions the approval policy does not honour and the unanswered
    /// writes to claimed steps, added to `out`.
    fn check_record(&self, id: &str, out: &mut Checked) -> Result<()> {
        let rel = crate::core::layout::history_rel(id);
        let dir = rel
            .strip_suffix(&format!("/{HISTORY}"))
            .unwrap_or(&rel)
            .to_string();
        // A healthy run is folded as it is read, without a copy of its
        // history in memory; anything else is read leniently, to be named
        // at its line.
        if !id.starts_with(GOAL_PREFIX)
            && let Some(run) = self.folding.fold_healthy(id)?
        {
            judge_run(&run, &Places::new(), out);
            out.trespasses.extend(trespasses_of(id, &run));
            let views = crate::core::view::render(&run, &crate::core::resume::resume(&run));
            return self.check_views(&views, &dir, out);
        }
        let Some((events, places)) = self.read_record(&rel, out)? else {
            return Ok(());
        };
        // A run is folded once: what it leaves aside, and its views.
        out.dated_ahead.extend(dated_ahead(&events, &places, &rel));
        let views = match id.starts_with(GOAL_PREFIX) {
            true => self.folding.render_events(id, events),
            false => self.folding.fold_run_checked(id, events).map(|run| {
                judge_run(&run, &places, out);
                out.trespasses.extend(trespasses_of(id, &run));
                crate::core::view::render(&run, &crate::core::resume::resume(&run))
            }),
        };
        let views = match views {
            Ok(views) => views,
            Err(e) => {
                out.problems.push(Problem {
                    kind: ProblemKind::UnreadableRun,
                    path: rel.clone(),
                    line: None,
                    message: format!("{rel}: {}", e.message),
                    fixable: false,
                });
                return Ok(());
            }
        };
        self.check_views(&views, &dir, out)
    }

    /// A record's events, segments and live file, read leniently, with
    /// where each stands; `None` when there are none (an empty history,
    /// reported and with `fix` removed). With `fix`, the live file's
    /// unreadable lines are moved to its quarantine file.
    fn read_record(&self, rel: &str, out: &mut Checked) -> Result<Option<(Vec<Event>, Places)>> {
        let store = self.store;
        let bytes = store.read(rel)?.unwrap_or_default();
        let mut events = Vec::new();
        let mut places = Places::new();
        let sealed = crate::store::segments::segments(store.root(), rel)?;
        for (name, _) in &sealed {
            // Sealed segments are never rewritten (their names hash their
            // bytes): what is wrong in one is reported, not fixed.
            let seg = crate::store::segments::segment_rel(rel, name);
            let read = read_lenient(&seg, &store.read(&seg)?.unwrap_or_default(), Aside::Sealed);
            out.problems
                .extend(read.problems.into_iter().map(|p| Problem {
                    fixable: false,
                    ..p
                }));
            events.extend(read.events);
            places.extend(read.places);
        }
        if bytes.is_empty() && sealed.is_empty() {
            out.problems.push(Problem {
                kind: ProblemKind::EmptyHistory,
                path: rel.to_string(),
                line: None,
                message: format!(
                    "{rel} is empty: a run whose opening never completed; --fix removes it"
                ),
                fixable: true,
            });
            if self.fix {
                store.remove(rel)?;
                out.fixed.push(rel.to_string());
            }
            return Ok(None);
        }
        let aside = crate::core::layout::quarantine_rel(rel);
        let mut lenient = read_lenient(rel, &bytes, Aside::To(&aside));
        let held = quarantine::hold_if_blocked(rel, &mut lenient);
        out.problems.extend(lenient.problems);
        if self.fix
            && !held
            && let Some(clean) = &lenient.cleaned
        {
            // The lines go aside first: a crash between the two writes
            // leaves a line in both files, never in neither.
            let (to, moved) = quarantine::quarantine(store, rel, &lenient.aside)?;
            out.fixed.extend(to);
            out.quarantined.extend(moved);
            store.replace(rel, clean)?;
            out.fixed.push(rel.to_string());
        }
        events.extend(lenient.events);
        for (id, place) in lenient.places {
            places.entry(id).or_insert(place);
        }
        Ok(Some((events, places)))
    }

    /// One record's views against the ones its history renders.
    fn check_views(&self, views: &[(String, Vec<u8>)], dir: &str, out: &mut Checked) -> Result<()> {
        let store = self.store;
        let expected: HashSet<&str> = views.iter().map(|(p, _)| p.as_str()).collect();
        for (path, bytes) in views {
            let (kind, message) = match store.read(path) {
                Ok(Some(old)) if &old == bytes => continue,
                Ok(Some(old)) if String::from_utf8_lossy(&old).lines().any(is_marker) => (
                    ProblemKind::ConflictMarker,
                    format!("{path}: conflict markers in a view"),
                ),
                Ok(Some(_)) => (
                    ProblemKind::StaleView,
                    format!("{path} does not match the history"),
                ),
                Ok(None) => (ProblemKind::MissingView, format!("{path} is missing")),
                // A link: reported, and removed by --fix, by `links`.
                Err(_) => continue,
            };
            out.problems.push(Problem {
                kind,
                path: path.clone(),
                line: None,
                message,
                fixable: true,
            });
            if self.fix && store.write_if_changed(path, bytes)? {
                out.fixed.push(path.clone());
            }
        }
        let steps_dir = format!("{dir}/steps");
        if let Ok(entries) = nofollow::read_dir(store.root(), Path::new(&steps_dir)) {
            let extra: Vec<String> = entries
                .into_iter()
                .map(|(name, _)| format!("{steps_dir}/{name}"))
                .filter(|p| !expected.contains(p.as_str()))
                .collect();
            for path in extra {
                out.problems.push(Problem {
                    kind: ProblemKind::ExtraView,
                    message: format!("{path} belongs to no step of the run"),
                    path: path.clone(),
                    line: None,
                    fixable: true,
                });
                if self.fix {
                    store.remove(&path)?;
                    out.fixed.push(path);
                }
            }
        }
        Ok(())
    }
}

/// What the fold of run `run` leaves aside: every event it does not
/// honour, as a problem at its line (not fixable: a history line is never
/// rewritten), and the decisions and updates the approval rules do not
/// honour (reported, not failed on).
fn judge_run(folded: &crate::core::fold::Run, places: &Places, out: &mut Checked) {
    let run = folded.run_id.as_str();
    for ignored in &folded.ignored {
        let (path, line) = match places.get(&ignored.event_id) {
            Some((path, line)) => (path.clone(), Some(*line)),
            None => (crate::core::layout::history_rel(run), None),
        };
        let at = line.map_or(String::new(), |n| format!(":{n}"));
        out.problems.push(Problem {
            kind: ProblemKind::IgnoredEvent,
            message: format!(
                "{path}{at}: event {} ({}) is not honoured: {}",
                ignored.event_id,
                ignored.flaw.as_str(),
                ignored.message
            ),
            path,
            line,
            fixable: false,
        });
    }
    // Under the update policy only the rules of every policy refuse
    // anything (a decision or an update that did not see its gate's
    // request): those are named too.
    out.unhonoured
        .extend(folded.unhonoured.iter().map(|decision| UnhonouredDecision {
            run_id: run.to_string(),
            decision: decision.clone(),
        }));
}

/// The writes to claimed steps run `id` folds, as doctor lists them.
fn trespasses_of(id: &str, run: &crate::core::fold::Run) -> Vec<RunTrespass> {
    run.trespasses
        .iter()
        .map(|t| RunTrespass {
            run_id: id.to_string(),
            trespass: t.clone(),
        })
        .collect()
}

/// Every event dated further ahead of now than clocks disagree
/// (`claim::FUTURE_SKEW_SECONDS`), at its line. Such a line extends no
/// lease, but a clone whose clock runs that far ahead, or a hand-written
/// line, is worth a person's look.
fn dated_ahead(events: &[Event], places: &Places, rel: &str) -> Vec<Problem> {
    let now = crate::trace::now_text();
    let mut out = Vec::new();
    for e in events
        .iter()
        .filter(|e| crate::core::claim::is_ahead(&e.at, &now))
    {
        let (path, line) = match places.get(&e.id) {
            Some((path, line)) => (path.clone(), Some(*line)),
            None => (rel.to_string(), None),
        };
        let at = line.map_or(String::new(), |n| format!(":{n}"));
        out.push(Problem {
            kind: ProblemKind::DatedAhead,
            message: format!(
                "{path}{at}: event {} by {} is dated {}, more than {} minutes ahead of this machine's clock: it extends no lease until then",
                e.id,
                crate::core::limits::quote_name(&e.actor),
                crate::core::limits::quote_name(&e.at),
                crate::core::claim::FUTURE_SKEW_SECONDS / 60
            ),
            path,
            line,
            fixable: false,
        });
    }
    out
}
