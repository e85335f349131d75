//! Whether the fold honours an event. A history is pulled from peers, and
//! a peer can push any line: so before an event changes anything it must
//! meet the write side's rules (`crate::core::check`) and keep the causal
//! order, which no clock a peer writes can bend:
//!
//! - its clock is above the clock of every line of the history that a
//!   parent it names stands for (a parent the history does not hold is no
//!   evidence either way), and at most `MAX_CLOCK_STEP` above the highest
//!   of its honoured parents (0 when it has none);
//! - it comes after the run's opening.
//!
//! An event that fails is kept in the history, listed in `Run::ignored`
//! with the reason, and changes nothing: it is neither a head nor an
//! ancestor, so honest writers never name it as a parent.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::Run;
use crate::core::check::{self, MAX_CLOCK_STEP};
use crate::core::event::Event;
use crate::core::id::EventId;

/// Why the fold did not honour an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "reason", content = "detail")]
pub enum Flaw {
    /// A field the write side refuses (a step key that is not a name, a
    /// control character, a value nested too deep, a clock out of range).
    Invalid(String),
    /// The clock does not follow the parents' clocks, or the event sorts
    /// before the run's opening.
    Causality(String),
    /// Two different events carry this id: no line order may choose one.
    DuplicateId(String),
}

impl Flaw {
    pub fn as_str(&self) -> &'static str {
        match self {
            Flaw::Invalid(_) => "invalid",
            Flaw::Causality(_) => "causality",
            Flaw::DuplicateId(_) => "duplicate_id",
        }
    }
}

impl std::fmt::Display for Flaw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Flaw::Invalid(why) => write!(f, "not a valid event: {why}"),
            Flaw::Causality(why) | Flaw::DuplicateId(why) => f.write_str(why),
        }
    }
}

/// An event in the history that the fold did not honour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ignored {
    pub event_id: EventId,
    pub clock: u64,
    pub actor: String,
    pub at: String,
    #[serde(flatten)]
    pub flaw: Flaw,
    /// The reason in words.
    pub message: String,
}

/// The clock of every line of a history the fold sees whole (the largest,
/// for an id with several contents), so a parent that sorts after its
/// child is still compared.
pub(super) type Lookahead = HashMap<EventId, u64>;

pub(super) fn lookahead<'a>(lines: impl Iterator<Item = &'a Event>) -> Lookahead {
    let mut clocks = Lookahead::new();
    for e in lines {
        let c = clocks.entry(e.id.clone()).or_default();
        *c = (*c).max(e.clock);
    }
    clocks
}

/// Whether `run` may honour `e`, which sorts after everything folded so
/// far; `saw_all` says that `e` names exactly the current heads.
pub(super) fn admit(
    run: &Run,
    e: &Event,
    saw_all: bool,
    ahead: Option<&Lookahead>,
) -> Result<(), Flaw> {
    check::event(e).map_err(|err| Flaw::Invalid(err.message))?;
    // `above`: the highest clock of any line its parents stand for, which
    // its own must exceed. `reach`: the highest of its honoured parents',
    // which bounds how far ahead it may run (a parent the fold dropped
    // cannot lend a peer's line its clock). An event that names every head
    // follows the highest clock folded, which is always a head's: no
    // lookup needed (a cached run keeps no ancestry).
    let (above, reach) = if saw_all {
        (run.clock, run.clock)
    } else {
        let (mut above, mut reach) = (0, 0);
        for p in &e.parents {
            if let Some(c) = run.causality.clock_of(p) {
                (above, reach) = (above.max(c), reach.max(c));
            } else if let Some(&c) = ahead.and_then(|a| a.get(p)) {
                above = above.max(c);
            }
        }
        (above, reach)
    };
    if !e.parents.is_empty() && e.clock <= above {
        return Err(Flaw::Causality(format!(
            "its clock {} is not above its parents' ({above})",
            e.clock
        )));
    }
    if e.clock - reach > MAX_CLOCK_STEP {
        return Err(Flaw::Causality(format!(
            "its clock {} runs more than {MAX_CLOCK_STEP} ahead of its parents' ({reach})",
            e.clock
        )));
    }
    Ok(())
}

/// Records that `run` does not honour `e`.
pub(super) fn ignore(run: &mut Run, e: &Event, flaw: Flaw) {
    run.ignored_ids.insert(e.id.clone());
    run.ignored.push(Ignored {
        event_id: e.id.clone(),
        clock: e.clock,
        actor: e.actor.clone(),
        at: e.at.clone(),
        message: flaw.to_string(),
        flaw,
    });
}

/// The flaw of an id that stands for `copies` different events.
pub(super) fn conflict(copies: &[Event]) -> Flaw {
    Flaw::DuplicateId(format!(
        "{} different events carry the id {}; none of them is honoured (nexo doctor lists them)",
        copies.len(),
        copies[0].id
    ))
}
