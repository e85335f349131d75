//! A history file read leniently, for `doctor`: every line judged on its
//! own (bytes first, so a line that is not UTF-8 is named, never patched
//! over), every event kept once, and what is wrong with the rest.

use std::collections::HashMap;

use super::{Problem, ProblemKind};
use crate::core::event::Event;
use crate::core::id::EventId;
use crate::git::is_marker;

/// What `read_lenient` found.
pub(super) struct Lenient {
    pub events: Vec<Event>,
    /// Where each event's first copy stands: (file, line).
    pub places: HashMap<EventId, (String, usize)>,
    /// The file without duplicate events, conflict markers or the lines
    /// to move aside, when that differs from what is on disk.
    pub cleaned: Option<Vec<u8>>,
    /// The lines no nexo can read, to move aside: (line, bytes, what is
    /// wrong with it).
    pub aside: Vec<(usize, Vec<u8>, String)>,
    pub problems: Vec<Problem>,
}

/// Where a file's unreadable lines may go.
#[derive(Clone, Copy)]
pub(super) enum Aside<'a> {
    /// Into this quarantine file (`--fix`), beside a live history.
    To(&'a str),
    /// Nowhere: a sealed segment is never rewritten (its name hashes its
    /// bytes).
    Sealed,
}

impl Lenient {
    fn problem(&mut self, kind: ProblemKind, rel: &str, n: usize, message: String, fixable: bool) {
        self.problems.push(Problem {
            kind,
            path: rel.into(),
            line: Some(n),
            message,
            fixable,
        });
    }

    /// Line `n` of `rel` (`raw`), which does not read (`why`): to be moved
    /// aside when it can be, else named with what a person can do. Returns
    /// whether it goes aside (and so out of the cleaned file).
    fn unreadable(&mut self, rel: &str, n: usize, raw: &[u8], why: String, aside: Aside) -> bool {
        self.set_aside(rel, n, raw, why, aside, true)
    }

    /// A line to move aside with its bytes kept: one no nexo can read
    /// (`refuses`: every command refuses the run until it is moved), or
    /// one that holds more than nexo reads.
    fn set_aside(
        &mut self,
        rel: &str,
        n: usize,
        raw: &[u8],
        why: String,
        aside: Aside,
        refuses: bool,
    ) -> bool {
        let newer = std::str::from_utf8(raw).is_ok_and(crate::core::event::is_newer_schema);
        let (message, fixable) = match aside {
            // A newer nexo's event is an event: moving it would hide it from
            // the nexo that wrote it.
            _ if newer => (
                format!("{why}; it is a newer nexo's event, not damage, so --fix leaves it"),
                false,
            ),
            Aside::Sealed => (
                format!(
                    "{why}; it is in a sealed segment, which --fix never rewrites: see who wrote it with `git log -p -- {rel}`, and mend it by hand"
                ),
                false,
            ),
            Aside::To(to) => {
                let blocked = match refuses {
                    true => "every command refuses this run until it is moved: ",
                    false => "",
                };
                let message =
                    format!("{why}; {blocked}--fix moves the line to {to}, its bytes kept");
                self.aside.push((n, raw.to_vec(), why));
                (message, true)
            }
        };
        self.problem(ProblemKind::UnreadableEvent, rel, n, message, fixable);
        fixable
    }
}

/// Whether two lines hold the same JSON (whatever their keys' order and
/// spacing): a copy that carries more than its event is not a copy.
fn same_json(line: &str, other: &[u8]) -> bool {
    let a = serde_json::from_str::<serde_json::Value>(line);
    let b = serde_json::from_slice::<serde_json::Value>(other);
    matches!((a, b), (Ok(a), Ok(b)) if a == b)
}

/// The longest stretch of a line quoted in a report.
const QUOTE: usize = 300;

fn quote(line: &str) -> String {
    if line.chars().count() <= QUOTE {
        return line.to_string();
    }
    format!("{}…", line.chars().take(QUOTE).collect::<String>())
}

/// Reads history `rel` (its `bytes`) line by line; its unreadable lines
/// may go `aside`.
pub(super) fn read_lenient(rel: &str, bytes: &[u8], aside: Aside) -> Lenient {
    let mut out = Lenient {
        events: Vec::new(),
        places: HashMap::new(),
        cleaned: None,
        aside: Vec::new(),
        problems: Vec::new(),
    };
    // Each id's first copy: where it stands and what it says.
    let mut seen: HashMap<EventId, (usize, Event)> = HashMap::new();
    let mut kept = Vec::with_capacity(bytes.len());
    let mut dirty = false;
    let torn = !bytes.is_empty() && !bytes.ends_with(b"\n");
    let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    for (i, raw) in lines.iter().enumerate() {
        let n = i + 1;
        let last = i + 1 == lines.len();
        let keep = |kept: &mut Vec<u8>| {
            kept.extend_from_slice(raw);
            kept.push(b'\n');
        };
        let line = match std::str::from_utf8(raw) {
            Ok(line) => line,
            Err(e) => {
                let why = format!(
                    "{rel}:{n}: the line is not UTF-8 (invalid byte at column {})",
                    e.valid_up_to() + 1
                );
                match out.unreadable(rel, n, raw, why, aside) {
                    true => dirty = true,
                    false => keep(&mut kept),
                }
                continue;
            }
        };
        if line.trim().is_empty() {
            if !last {
                kept.push(b'\n');
            }
            continue;
        }
        if is_marker(line) {
            let message = format!("{rel}:{n}: a merge conflict marker");
            out.problem(ProblemKind::ConflictMarker, rel, n, message, true);
            dirty = true;
            continue;
        }
        match Event::from_line(line, &format!("{rel}:{n}")) {
            Ok(e) => {
                if last && torn {
                    let message = format!(
                        "{rel}:{n}: the last event lacks its final newline; the next write adds it"
                    );
                    out.problem(ProblemKind::MissingNewline, rel, n, message, true);
                    dirty = true;
                }
                if let Some((first, copy)) = seen.get(&e.id) {
                    let earlier = (*first, copy, lines[*first - 1]);
                    let (changed, keeps) =
                        repeated(&mut out, (rel, n), (line, raw), e, earlier, aside);
                    dirty |= changed;
                    if keeps {
                        keep(&mut kept);
                    }
                    continue;
                }
                seen.insert(e.id.clone(), (n, e.clone()));
                out.places.insert(e.id.clone(), (rel.to_string(), n));
                out.events.push(e);
                keep(&mut kept);
            }
            Err(_) if last && torn && crate::store::is_torn_write(raw) => {
                let message = format!(
                    "{rel}:{n}: a partial last line (a crash mid-write); the next write cuts it"
                );
                out.problem(ProblemKind::TornTail, rel, n, message, true);
                dirty = true;
            }
            Err(e) => match out.unreadable(rel, n, raw, e.message, aside) {
                true => dirty = true,
                false => keep(&mut kept),
            },
        }
    }
    // `split` yields an empty last piece after a final newline; it was
    // kept as nothing, so the cleaned file ends as the original did.
    out.cleaned = dirty.then_some(kept);
    out
}

/// A line whose id line `first` already has: a copy to drop, the same
/// event with fields nexo does not read (bytes set aside), or other
/// content (neither copy honoured, both kept). Returns whether the file
/// changed, and whether the line stays in it.
fn repeated(
    out: &mut Lenient,
    (rel, n): (&str, usize),
    (line, raw): (&str, &[u8]),
    e: Event,
    (first, copy, first_line): (usize, &Event, &[u8]),
    aside: Aside,
) -> (bool, bool) {
    if *copy == e && same_json(line, first_line) {
        let message = format!("{rel}:{n}: event {} appears again", e.id);
        out.problem(ProblemKind::DuplicateEvent, rel, n, message, true);
        return (true, false);
    }
    if *copy == e {
        let why = format!(
            "{rel}:{n}: event {} appears again with fields nexo does not read (first at line {first})",
            e.id
        );
        let moved = out.set_aside(rel, n, raw, why, aside, false);
        return (moved, !moved);
    }
    let message = format!(
        "{rel}:{n}: event {} also stands at line {first} with other content, so neither copy is honoured (a forged or hand-edited line); line {first}: {} — line {n}: {}",
        e.id,
        quote(&copy.to_line()),
        quote(line)
    );
    out.problem(ProblemKind::ConflictingEvent, rel, n, message, false);
    out.events.push(e);
    (false, true)
}
