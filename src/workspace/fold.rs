//! A record's fold under the repository's rules: the approval policy of
//! `.nexo/config.yaml` and, under `signed`, the decisions whose SSH
//! signatures verify (docs/approvals.md); streamed from the file when its
//! lines are in fold order, through the fold cache (`crate::index`).

use std::collections::BTreeSet;
use std::path::Path;

use crate::core::approval::{Approvals, Policy, Rules, signed_decisions};
use crate::core::check::same_run;
use crate::core::error::{Error, Result};
use crate::core::event::Event;
use crate::core::fold::{self, Run};
use crate::core::layout::{ALLOWED_SIGNERS, NEXO_DIR};
use crate::git::sign::Verifier;
use crate::store::{Flow, Store};

use super::Nexo;

/// What a fold under the repository's rules reads: the store, the
/// approval policy, and the verdicts on signatures cached in the git
/// directory. Unlike a `Nexo` (whose gix repository and per-process cells
/// are not `Sync`) it can be shared between threads, so `doctor` folds a
/// large repository's records on more than one.
#[derive(Clone, Copy)]
pub(crate) struct Folding<'a> {
    store: &'a Store,
    approvals: &'a Approvals,
    git_dir: &'a Path,
}

impl Nexo {
    /// The approval policy in force (`.nexo/config.yaml`).
    pub fn approvals(&self) -> &Approvals {
        &self.approvals
    }

    /// This repository's folds, to be shared between threads.
    pub(crate) fn folding(&self) -> Folding<'_> {
        Folding {
            store: &self.store,
            approvals: &self.approvals,
            git_dir: self.repo.git_dir(),
        }
    }

    /// Folds a run's events under the repository's approval rules: under
    /// `signed`, each decision's signature is checked first.
    pub(crate) fn fold_run(&self, events: Vec<Event>) -> Result<Run> {
        self.folding()
            .fold_run_keeping(events, crate::workspace::KEEP_CHECKPOINTS)
    }

    /// Folds run `id` from its file. When the lines are in fold order (a
    /// history only ever appended to, the common case) they are folded as
    /// they are read, one at a time, so memory does not grow with the
    /// history; otherwise (after a merge) they are read whole and sorted.
    /// The signed policy verifies every decision first, so it reads whole.
    pub(crate) fn fold_run_file(&self, id: &str, keep: usize) -> Result<Run> {
        let run = self
            .fold_run_file_unchecked(id, keep)
            .and_then(|run| same_run(id, &run.run_id).map(|()| run));
        run.map_err(|e| match (e.kind, &e.hint) {
            (crate::core::error::ErrorKind::Corrupt, None) => e.with_hint(
                "nexo doctor names what is wrong; nexo doctor --fix moves a line no nexo reads aside, its bytes kept",
            ),
            _ => e,
        })
    }

    fn fold_run_file_unchecked(&self, id: &str, keep: usize) -> Result<Run> {
        let keep = keep.max(crate::workspace::KEEP_CHECKPOINTS);
        if self.approvals.policy == Policy::Signed {
            return self
                .folding()
                .fold_run_keeping(self.store.read_history(id)?.events, keep);
        }
        let rules = Rules {
            approvals: self.approvals.clone(),
            verified: BTreeSet::new(),
        };
        if let Some(run) = self.fold_cache().cached_run(id, &rules, keep)? {
            return Ok(run);
        }
        let InOrder {
            run,
            in_order,
            end,
            whole_lines,
            last,
        } = self
            .folding()
            .fold_as_read(id, &rules, keep, &mut |_| true)?;
        match (in_order, run, last) {
            (true, Some(run), Some(last)) => {
                // A last line without its newline is settled by the next
                // write; the cache waits for it.
                if whole_lines {
                    self.fold_cache().store_run(id, &run, end, last);
                }
                Ok(run)
            }
            (true, _, _) => Err(Error::corrupt(format!(
                "{}: the run's history is empty",
                crate::core::layout::history_rel(id)
            ))),
            // A merge reordered the lines: read whole and sort, then cache
            // the result, so appends after the merge fold incrementally.
            (false, _, _) => {
                let history = self.store.read_history(id)?;
                let last = history.events.iter().map(|e| (e.clock, e.id.clone())).max();
                let run = self.folding().fold_run_keeping(history.events, keep)?;
                if let (Some(len), Some(last)) = (history.whole_len, last) {
                    self.fold_cache().store_run(id, &run, len, last);
                }
                Ok(run)
            }
        }
    }

    /// A fold fed one event at a time under the repository's rules, for a
    /// history read from elsewhere (`fold::Stream`); `None` under
    /// `signed`, whose decisions are verified over the whole history first.
    pub(crate) fn stream_fold(&self) -> Option<fold::Stream> {
        let rules = Rules {
            approvals: self.approvals.clone(),
            verified: BTreeSet::new(),
        };
        let keep = crate::workspace::KEEP_CHECKPOINTS;
        (self.approvals.policy != Policy::Signed).then(|| fold::Stream::new(rules, keep))
    }

    /// [`Nexo::fold_run`], handing `note` the run before and after each
    /// event `noted` picks (`fold::fold_noting`).
    pub(crate) fn fold_run_noting(
        &self,
        events: Vec<Event>,
        noted: &dyn Fn(&Event) -> bool,
        note: &mut fold::Noted<'_>,
    ) -> Result<Run> {
        let rules = self.folding().rules_for(&events);
        fold::fold_noting(
            events,
            rules,
            crate::workspace::KEEP_CHECKPOINTS,
            noted,
            note,
        )
    }

    fn fold_cache(&self) -> crate::index::FoldCache<'_> {
        crate::index::FoldCache { store: &self.store }
    }
}

impl Folding<'_> {
    /// Run `id` folded as it is read, when its history is plainly healthy:
    /// every line a readable event, in fold order, each once, none dated
    /// ahead of the clock or left aside by the fold, the live file ending
    /// in a newline, and no signed policy to verify first. `doctor` then
    /// needs no copy of the history in memory; `None` sends it to the
    /// lenient read, which names what is wrong at its line.
    pub(crate) fn fold_healthy(self, id: &str) -> Result<Option<Run>> {
        if self.approvals.policy == Policy::Signed {
            return Ok(None);
        }
        let rules = Rules {
            approvals: self.approvals.clone(),
            verified: BTreeSet::new(),
        };
        let now = crate::trace::now_text();
        let keep = crate::workspace::KEEP_CHECKPOINTS;
        let ahead = |e: &Event| !crate::core::claim::is_ahead(&e.at, &now);
        let Ok(read) = self.fold_as_read(id, &rules, keep, &mut |e| ahead(e)) else {
            return Ok(None);
        };
        let live = crate::core::layout::history_rel(id);
        let ends_whole = self.store.last_byte(&live)? == Some(b'\n');
        Ok(match read {
            InOrder {
                run: Some(run),
                in_order: true,
                whole_lines: true,
                ..
            } if ends_whole && run.ignored.is_empty() && run.run_id.as_str() == id => Some(run),
            _ => None,
        })
    }

    /// Folds run `id` as its lines are read, one at a time, while they
    /// come in fold order and `also` accepts each; stops (`in_order`
    /// false) at the first that does not.
    fn fold_as_read(
        self,
        id: &str,
        rules: &Rules,
        keep: usize,
        also: &mut dyn FnMut(&Event) -> bool,
    ) -> Result<InOrder> {
        let mut stream = fold::Stream::new(rules.clone(), keep);
        let (mut in_order, mut end, mut whole_lines) = (true, 0, true);
        self.store.each_event(id, 0, |e, offset, terminated| {
            if !stream.follows(&e) || !also(&e) {
                in_order = false;
                return Ok(Flow::Stop);
            }
            stream.push(&e)?;
            (end, whole_lines) = (offset, whole_lines && terminated);
            Ok(Flow::Continue)
        })?;
        let last = stream.last().cloned();
        Ok(InOrder {
            run: stream.into_run(),
            in_order,
            end,
            whole_lines,
            last,
        })
    }

    /// [`Nexo::fold_run`], keeping the newest `keep` checkpoints.
    pub(crate) fn fold_run_keeping(self, events: Vec<Event>, keep: usize) -> Result<Run> {
        let rules = self.rules_for(&events);
        fold::fold_with(events, rules, keep)
    }

    /// Run `id` folded from `events` under the repository's rules, refused
    /// when the history opens another run.
    pub(crate) fn fold_run_checked(self, id: &str, events: Vec<Event>) -> Result<Run> {
        let run = self.fold_run_keeping(events, crate::workspace::KEEP_CHECKPOINTS)?;
        same_run(id, &run.run_id)?;
        Ok(run)
    }

    fn rules_for(self, events: &[Event]) -> Rules {
        let mut rules = Rules {
            approvals: self.approvals.clone(),
            verified: BTreeSet::new(),
        };
        if rules.policy() != Policy::Signed {
            return rules;
        }
        let mut verifier = self.verifier();
        for (e, content, signature) in signed_decisions(events) {
            // ssh-keygen missing: nothing verifies, and `doctor` says why.
            if verifier
                .verify(&e.actor, &content, signature)
                .unwrap_or(false)
            {
                rules.verified.insert(e.id.clone());
            }
        }
        verifier.save();
        rules
    }

    pub(crate) fn verifier(self) -> Verifier {
        let rel = format!("{NEXO_DIR}/{ALLOWED_SIGNERS}");
        // Never through a link; unreadable is the same as absent: nothing
        // verifies, and doctor reports the decisions it leaves unhonoured.
        let allowed = self.store.read(&rel).ok().flatten();
        Verifier::new(allowed, &self.git_dir.join("nexo-verified"))
    }
}

/// What folding a history as it is read found.
struct InOrder {
    run: Option<Run>,
    /// Every line came in fold order (and was accepted).
    in_order: bool,
    /// Where the last folded line ends.
    end: u64,
    /// Every folded line ended in a newline.
    whole_lines: bool,
    last: Option<(u64, crate::core::id::EventId)>,
}
