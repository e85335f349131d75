//! What a branch brought to a run, beside what the fold judges: copies of
//! inherited events it rewrote, events it added that do not follow where
//! it began, and inherited events its lines made the fold refuse.

use std::collections::HashSet;

use super::{Bases, Copies};
use crate::core::approval::Rules;
use crate::core::event::Event;
use crate::core::fold::Run;
use crate::core::id::EventId;
use crate::core::verify::{Provenance, heads_of, unfollowed};
use crate::workspace::Nexo;

impl Nexo {
    /// HEAD's events of run `id` to judge (the base's copies standing in
    /// for what the branch rewrote or cut), the inherited ones, and what
    /// the branch brought; with the run's folder where the branch began,
    /// when that was needed (for the verdict's cache).
    pub(super) fn brought(
        &self,
        (id, copies, bases): (&str, Copies, &Bases),
        events: Vec<Event>,
        base: &[Event],
        fork: Option<&[Event]>,
    ) -> (Vec<Event>, HashSet<EventId>, Provenance, Option<String>) {
        let lines = Lines::of(base.iter().chain(fork.into_iter().flatten()));
        let (events, rewrites) = lines.keep_inherited(events, fork.unwrap_or_default());
        let inherited: HashSet<EventId> = match lines.by_id.is_empty() {
            true => HashSet::new(),
            false => events
                .iter()
                .filter(|e| lines.has(e))
                .map(|e| e.id.clone())
                .collect(),
        };
        let brought_new = |bar: &[Event], heads: fn(&[Event]) -> Vec<EventId>| {
            unfollowed(&events, &heads(bar))
                .into_iter()
                .filter(|(e, _)| !inherited.contains(&e.id))
                .map(|(e, h)| (e.clone(), h))
                .collect::<Vec<_>>()
        };
        // What follows the merge base's lines follows where the branch
        // began (an ancestor of it) and the heads its fold honours: the
        // first-parent line is walked, and the bar folded, only for a run
        // where something does not.
        let mut not_after = brought_new(fork.unwrap_or_default(), heads_of);
        let (mut used_origin, mut origin_name) = (None, String::new());
        if let (false, Some(o)) = (not_after.is_empty(), &bases.origin) {
            let at = o.folder(self, bases, id);
            used_origin = Some(at.map(|f| f.to_string()).unwrap_or_default());
            origin_name = o.name(self);
            let bar = match at {
                Some(f) if Some(f) == copies.fork => fork.map(<[Event]>::to_vec),
                Some(f) => self.events_of(f),
                None => None,
            };
            not_after = brought_new(&bar.unwrap_or_default(), honoured_heads);
        }
        let brought = Provenance {
            not_after,
            rewrites,
            origin: origin_name,
            erased: Vec::new(),
        };
        (events, inherited, brought, used_origin)
    }
}

/// The heads of a history that its fold honours: a line every fold
/// ignores is never named as a parent by an honest writer, so it is no
/// bar for what came after it.
fn honoured_heads(events: &[Event]) -> Vec<EventId> {
    match crate::core::fold::fold_with(events.to_vec(), Rules::default(), 1) {
        Ok(run) => run.heads,
        Err(_) => heads_of(events),
    }
}

/// Inherited events that HEAD's fold does not honour but the base's copy,
/// folded under the same rules, does: the branch's lines changed what
/// they mean (a line sorted before a request, say, that made it close a
/// cycle). Folds the base only when some inherited event is refused.
pub(super) fn erased(
    run: &Run,
    base: &[Event],
    inherited: &HashSet<EventId>,
    rules: Rules,
) -> Vec<Event> {
    let refused_here = super::refused(run);
    let suspects: Vec<&EventId> = refused_here
        .iter()
        .filter(|e| inherited.contains(*e))
        .collect();
    if suspects.is_empty() || base.is_empty() {
        return Vec::new();
    }
    let Ok(then) = crate::core::fold::fold_with(base.to_vec(), rules, 1) else {
        return Vec::new();
    };
    let refused_then = super::refused(&then);
    base.iter()
        .filter(|e| suspects.contains(&&e.id) && !refused_then.contains(&e.id))
        .cloned()
        .collect()
}

/// The lines of a run that the base has, by content and by id.
struct Lines {
    lines: HashSet<String>,
    by_id: std::collections::HashMap<EventId, Vec<Event>>,
}

impl Lines {
    fn of<'a>(events: impl Iterator<Item = &'a Event>) -> Lines {
        let mut out = Lines {
            lines: HashSet::new(),
            by_id: Default::default(),
        };
        for e in events {
            if out.lines.insert(e.to_line()) {
                out.by_id.entry(e.id.clone()).or_default().push(e.clone());
            }
        }
        out
    }

    /// Whether the base has this very event.
    fn has(&self, e: &Event) -> bool {
        self.lines.contains(&e.to_line())
    }

    /// Splits HEAD's events into those to judge and the copies that carry
    /// an inherited id with other content. The base's copies stand in for
    /// what a rewrite would erase, and the merge base's (`fork`) for what
    /// a cut would: a branch cannot remove an event from the judgement by
    /// writing a second version of it, or none.
    fn keep_inherited(&self, events: Vec<Event>, fork: &[Event]) -> (Vec<Event>, Vec<Event>) {
        let (mut kept, mut rewrites) = (Vec::new(), Vec::new());
        for e in events {
            match self.by_id.get(&e.id) {
                Some(copies) if !copies.contains(&e) => rewrites.push(e),
                _ => kept.push(e),
            }
        }
        if rewrites.is_empty() && fork.is_empty() {
            return (kept, rewrites);
        }
        let mut present: HashSet<String> = kept.iter().map(Event::to_line).collect();
        let erased = rewrites
            .iter()
            .filter_map(|r| self.by_id.get(&r.id))
            .flatten();
        for e in erased.chain(fork) {
            if present.insert(e.to_line()) {
                kept.push(e.clone());
            }
        }
        (kept, rewrites)
    }
}
