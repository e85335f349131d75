//! Needs on other runs (`WF-X`, `WF-X:step`): checked against those runs
//! when written (the run must exist here and be readable, the step must be
//! one of its steps, and no cycle may go through runs), and judged when
//! asked, since the fold sees one run. A run that cannot be read (a link,
//! a bad line) meets no need: the step waits, saying on what.

use std::collections::{BTreeSet, HashMap};

use crate::core::error::{Error, ErrorKind, Result};
use crate::core::event::Updated;
use crate::core::fold::{Run, Step};
use crate::core::model::RunStatus;
use crate::core::ready::{RunNeed, Wait, after_wait};
use crate::workspace::Nexo;

/// The runs a judgement read, each once.
#[derive(Default)]
pub(crate) struct Others(std::cell::RefCell<HashMap<String, Option<Run>>>);

impl Nexo {
    /// Checks an update's needs on other runs and writes each with its
    /// run's full id.
    pub(super) fn check_after(&self, run: &Run, u: &mut Updated) -> Result<()> {
        let Some(after) = u.after.as_mut() else {
            return Ok(());
        };
        let mut runs = BTreeSet::new();
        for (i, entry) in after.iter_mut().enumerate() {
            let need = RunNeed::parse(&format!("needs[{i}]"), entry)?;
            let id = self.store().resolve(&need.run).map_err(|e| match e.kind {
                ErrorKind::NotFound => Error::not_found(format!(
                    "needs {}: there is no run {} here; a need names a run this repository has (nexo list --all)",
                    crate::core::limits::quote(entry),
                    need.run
                )),
                _ => e,
            })?;
            if id == run.run_id.as_str() {
                return Err(Error::invalid(format!(
                    "needs {}: that is this run; name its step alone (--needs STEP)",
                    crate::core::limits::quote(entry)
                )));
            }
            let other = self.other(&id)?;
            if let Some(step) = &need.step
                && other.step(step).is_none()
            {
                return Err(Error::not_found(format!(
                    "needs {}: {id} has no step '{step}' (its steps: {})",
                    crate::core::limits::quote(entry),
                    other.step_keys()
                )));
            }
            *entry = match &need.step {
                Some(step) => format!("{id}:{step}"),
                None => id.clone(),
            };
            runs.insert(id);
        }
        self.refuse_run_cycle(run.run_id.as_str(), &runs)
    }

    /// Refuses needs that would make runs wait on each other in a circle,
    /// naming it: `from` would need `needed`, and each of those what its
    /// steps need, by run.
    fn refuse_run_cycle(&self, from: &str, needed: &BTreeSet<String>) -> Result<()> {
        let mut stack: Vec<Vec<String>> = needed
            .iter()
            .map(|r| vec![from.to_string(), r.clone()])
            .collect();
        let mut seen = BTreeSet::new();
        while let Some(path) = stack.pop() {
            let last = path.last().expect("a path has a run").clone();
            if last == from {
                return Err(Error::invalid(format!(
                    "needs would make runs wait on each other: {}; leave one of these needs out",
                    path.join(" → ")
                )));
            }
            if !seen.insert(last.clone()) {
                continue;
            }
            let Ok(other) = self.other(&last) else {
                continue;
            };
            let next: BTreeSet<String> = other
                .steps
                .iter()
                .flat_map(|s| s.after.iter())
                .filter_map(|n| RunNeed::parse("after", n).ok())
                .map(|n| n.run)
                .collect();
            for n in next {
                let mut p = path.clone();
                p.push(n);
                stack.push(p);
            }
        }
        Ok(())
    }

    /// Another run, by its full id, folded without taking the lock (a
    /// write holds it while it checks its needs); never through a link.
    fn other(&self, id: &str) -> Result<Run> {
        if crate::core::model::validate_name("run", id).is_err() || self.store().resolve(id)? != id
        {
            return Err(Error::not_found(format!("no run {id}")));
        }
        self.fold_run_file(id, crate::workspace::KEEP_CHECKPOINTS)
    }

    /// What `step` waits on among its needs on other runs, judged now.
    pub(crate) fn after_waits(&self, step_after: &[String], others: &Others) -> Option<Wait> {
        if step_after.is_empty() {
            return None;
        }
        after_wait(step_after, &|entry| self.need_met(entry, others))
    }

    /// Whether the run or step `entry` names is completed (a step:
    /// completed or skipped).
    fn need_met(&self, entry: &str, others: &Others) -> bool {
        let Ok(need) = RunNeed::parse("after", entry) else {
            return false;
        };
        let mut cache = others.0.borrow_mut();
        let run = cache
            .entry(need.run.clone())
            .or_insert_with(|| self.other(&need.run).ok());
        match (run, &need.step) {
            (None, _) => false,
            (Some(r), None) => r.status == RunStatus::Completed,
            (Some(r), Some(s)) => r.step(s).is_some_and(|s: &Step| s.status.is_done()),
        }
    }
}
