//! A history file read leniently, for `doctor`: every line judged on its
//! own (bytes first, so a line that is not UTF-8 is named, never patched
//! over), every event kept once, and what is wrong with the rest.

use std::collections::HashMap;

use super::{Problem, ProblemKind};
use crate::event::Event;
use crate::id::EventId;
use crate::sync::is_marker;

/// What `read_lenient` found.
pub(super) struct Lenient {
    pub events: Vec<Event>,
    /// Where each event's first copy stands: (file, line).
    pub places: HashMap<EventId, (String, usize)>,
    /// The file without duplicate events or conflict markers, when that
    /// differs from what is on disk.
    pub cleaned: Option<Vec<u8>>,
    pub problems: Vec<Problem>,
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
}

/// The longest stretch of a line quoted in a report.
const QUOTE: usize = 300;

fn quote(line: &str) -> String {
    if line.chars().count() <= QUOTE {
        return line.to_string();
    }
    format!("{}…", line.chars().take(QUOTE).collect::<String>())
}

/// Reads history `rel` (its `bytes`) line by line.
pub(super) fn read_lenient(rel: &str, bytes: &[u8]) -> Lenient {
    let mut out = Lenient {
        events: Vec::new(),
        places: HashMap::new(),
        cleaned: None,
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
                let message = format!(
                    "{rel}:{n}: the line is not UTF-8 (invalid byte at column {}); every command refuses this run until it is mended by hand",
                    e.valid_up_to() + 1
                );
                out.problem(ProblemKind::UnreadableEvent, rel, n, message, false);
                keep(&mut kept);
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
                    if *copy == e {
                        let message = format!("{rel}:{n}: event {} appears again", e.id);
                        out.problem(ProblemKind::DuplicateEvent, rel, n, message, true);
                        dirty = true;
                        continue;
                    }
                    let message = format!(
                        "{rel}:{n}: event {} also stands at line {first} with other content, so neither copy is honoured (a forged or hand-edited line); line {first}: {} — line {n}: {}",
                        e.id,
                        quote(&copy.to_line()),
                        quote(line)
                    );
                    out.problem(ProblemKind::ConflictingEvent, rel, n, message, false);
                    out.events.push(e);
                    keep(&mut kept);
                    continue;
                }
                seen.insert(e.id.clone(), (n, e.clone()));
                out.places.insert(e.id.clone(), (rel.to_string(), n));
                out.events.push(e);
                keep(&mut kept);
            }
            Err(_) if last && torn => {
                let message = format!(
                    "{rel}:{n}: a partial last line (a crash mid-write); the next write cuts it"
                );
                out.problem(ProblemKind::TornTail, rel, n, message, true);
                dirty = true;
            }
            Err(e) => {
                out.problem(ProblemKind::UnreadableEvent, rel, n, e.message, false);
                keep(&mut kept);
            }
        }
    }
    // `split` yields an empty last piece after a final newline; it was
    // kept as nothing, so the cleaned file ends as the original did.
    out.cleaned = dirty.then_some(kept);
    out
}
