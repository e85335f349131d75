//! Which lines of the index still hold: each checked against its run's
//! history's stamp, a block at a time and in the index's order, so a read
//! of every run holds the summaries it keeps and little else (at 100,000
//! runs: 13 MB of them, where the lines are 51 MB).

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use super::text::{Header, Part, Text, supersede};
use super::{Result, Stamp, Summary, SummaryIndex, is_final};

/// The index's lines still current, and the runs to fold again.
pub(super) struct Checked {
    pub kept: Vec<Summary>,
    /// Whether a run of the index is gone.
    pub gone: bool,
    pub stale: Vec<(String, Stamp)>,
    /// How many of `kept`, first, are in the list's order already.
    pub sorted: usize,
}

/// The lines of a part checked against the histories, in the order met.
#[derive(Default)]
struct Settled {
    kept: Vec<Summary>,
    gone: bool,
    stale: Vec<(String, Stamp)>,
}

impl Settled {
    fn append(&mut self, mut other: Settled) {
        self.kept.append(&mut other.kept);
        self.gone |= other.gone;
        self.stale.append(&mut other.stale);
    }
}

/// Lines stat'ed this many at a time.
const BLOCK: usize = 256;
/// No line of the index is shorter (its fields and JSON's braces).
const MIN_LINE: usize = 32;

/// What checks a line against its run's history.
struct Check<'a> {
    text: &'a Text,
    folder: &'a crate::store::Folder,
    /// The runs changed since the closed part's tree (`None`: any may be).
    changed: Option<&'a HashSet<String>>,
}

impl Check<'_> {
    /// A closed run no commit or pending write changed since the closed
    /// part's tree keeps its line unstat'ed.
    fn trusted(&self, s: &Summary) -> bool {
        is_final(s.status)
            && self.text.part_of(s.line.start) == Some(Part::Closed)
            && self
                .changed
                .is_some_and(|c| !c.contains(self.text.get(s.id.clone())))
    }

    /// The lines of `r` but those of runs `newer` lines replace, checked
    /// a block at a time.
    fn lines(&self, r: Range<usize>, newer: &HashSet<&[u8]>, out: &mut Settled) {
        let mut block = Vec::with_capacity(BLOCK);
        let mut at = r.start;
        while at < r.end {
            let (line, next) = self.text.line_at(at, r.end);
            at = next;
            block.extend(line.filter(|s| !newer.contains(self.text.raw(s.id.clone()))));
            if block.len() == BLOCK {
                self.settle(
                    std::mem::replace(&mut block, Vec::with_capacity(BLOCK)),
                    out,
                );
            }
        }
        self.settle(block, out);
    }

    /// Each line kept when its history's stamp is the line's, in order;
    /// else its run is stale, or gone.
    fn settle(&self, block: Vec<Summary>, out: &mut Settled) {
        let names: Vec<String> = block
            .iter()
            .filter(|s| !self.trusted(s))
            .map(|s| crate::core::layout::run_in_runs(self.text.get(s.id.clone())))
            .collect();
        let mut stamps = self.folder.stamps(&names).into_iter();
        for s in block {
            let stamp = match self.trusted(&s) {
                true => Some(s.stamp),
                false => stamps.next().flatten(),
            };
            match stamp {
                Some(st) if st == s.stamp => out.kept.push(s),
                Some(st) => out
                    .stale
                    .push((self.text.get(s.id.clone()).to_string(), st)),
                None => out.gone = true,
            }
        }
    }
}

impl SummaryIndex<'_> {
    /// Both parts' lines against the histories, the folders unchanged:
    /// the closed part's appended lines, then the open part's, win over
    /// the closed part's sorted ones. Every run the index was written
    /// with must be found once; else a line was lost (a damaged part) and
    /// the folders are read.
    pub(super) fn check_lines(
        &self,
        text: &Text,
        (o, c): &(Header, Header),
        changed: Option<&std::collections::HashSet<String>>,
    ) -> Result<Checked> {
        let later = [c.sorted_end..c.end, o.start..o.end];
        let checked =
            self.unchanged_by_place(text, c.start..c.sorted_end, &later, changed, o.runs)?;
        if checked.gone || checked.kept.len() + checked.stale.len() == o.runs {
            return Ok(checked);
        }
        self.unchanged_by_id(text, c.start..c.sorted_end, &later)
    }

    /// With the runs those of the index (the folders are unchanged): each
    /// half of the closed part's sorted lines parsed and stat'ed on its
    /// own core, in the index's order and a block at a time (so what is
    /// kept stays in the list's order, and nothing but it is held), then
    /// the `later` lines, which win over them.
    fn unchanged_by_place(
        &self,
        text: &Text,
        first: Range<usize>,
        later: &[Range<usize>],
        changed: Option<&std::collections::HashSet<String>>,
        runs: usize,
    ) -> Result<Checked> {
        let Some(folder) = self.store.runs_folder()? else {
            return self.unchanged_by_id(text, 0..0, &[]);
        };
        let (appended, newer) = later_lines(text, later);
        let check = Check {
            text,
            folder: &folder,
            changed,
        };
        let mid = text.line_end_after(first.start.midpoint(first.end), first.end);
        // Room for every run the index was written with, so that neither
        // half's summaries are copied as they grow, nor when joined; no
        // more than the lines there can be (a damaged header's count is
        // no size to allocate).
        let room = runs.min(first.len() / MIN_LINE + appended.len() + 1);
        let mut out = Settled::default();
        out.kept.reserve(room);
        let two = std::thread::scope(|s| {
            let two = s.spawn(|| {
                let mut two = Settled::default();
                two.kept.reserve(room / 2 + 1);
                check.lines(mid..first.end, &newer, &mut two);
                two
            });
            check.lines(first.start..mid, &newer, &mut out);
            two.join().expect("parsing threads do not panic")
        });
        out.append(two);
        let sorted = out.kept.len();
        check.settle(appended, &mut out);
        Ok(Checked {
            kept: out.kept,
            gone: out.gone,
            stale: out.stale,
            sorted,
        })
    }

    /// [`SummaryIndex::unchanged_by_place`] when the folders may hold
    /// other runs: they are read, and their runs matched to the index's
    /// lines by id, the lines read in order (`first`, then the `later`
    /// ones, which win over them), each once.
    pub(super) fn unchanged_by_id(
        &self,
        text: &Text,
        first: Range<usize>,
        later: &[Range<usize>],
    ) -> Result<Checked> {
        let (appended, newer) = later_lines(text, later);
        let ids = self.store.stamped_run_ids()?;
        let at: HashMap<&str, usize> = ids
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (id.as_str(), i))
            .collect();
        let mut matched = vec![false; ids.len()];
        let mut kept = Vec::with_capacity(ids.len());
        // A line whose run is gone, changed or met twice is not kept.
        let mut gone = false;
        let mut take = |s: Summary| match at.get(text.get(s.id.clone())) {
            Some(&i) if ids[i].1 == s.stamp && !matched[i] => {
                matched[i] = true;
                kept.push(s);
                1
            }
            _ => {
                gone = true;
                0
            }
        };
        let mut sorted = 0;
        let mut pos = first.start;
        while pos < first.end {
            let (line, next) = text.line_at(pos, first.end);
            pos = next;
            if let Some(s) = line.filter(|s| !newer.contains(text.raw(s.id.clone()))) {
                sorted += take(s);
            }
        }
        for s in appended {
            take(s);
        }
        drop(newer);
        drop(at);
        let stale = ids
            .into_iter()
            .zip(matched)
            .filter_map(|(id, m)| (!m).then_some(id))
            .collect();
        Ok(Checked {
            kept,
            gone,
            stale,
            sorted,
        })
    }
}

/// The lines appended after the sorted ones, the last of each run (it
/// wins over the run's earlier lines), and the ids of their runs, whose
/// sorted lines are left out.
fn later_lines<'t>(text: &'t Text, later: &[Range<usize>]) -> (Vec<Summary>, HashSet<&'t [u8]>) {
    let appended: Vec<Summary> = later
        .iter()
        .flat_map(|r| text.lines(r.start, r.end))
        .collect();
    let keep = supersede(text, &[], &appended);
    let lines: Vec<Summary> = appended
        .into_iter()
        .zip(keep)
        .filter_map(|(s, k)| k.then_some(s))
        .collect();
    let ids = lines.iter().map(|s| text.raw(s.id.clone())).collect();
    (lines, ids)
}
