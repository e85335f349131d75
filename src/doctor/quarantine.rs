//! `doctor --fix`'s quarantine: the lines of a history that no nexo can
//! read, moved beside it byte for byte (`quarantine.jsonl`), so the
//! history reads again and nothing anyone wrote is lost (docs/format.md).

use std::collections::HashSet;

use serde::Serialize;

use super::{Problem, ProblemKind};
use crate::core::error::Result;
use crate::store::Store;

/// A line `--fix` moved out of a history.
#[derive(Debug, Clone, Serialize)]
pub struct Quarantined {
    /// The history it stood in, and at which line.
    pub path: String,
    pub line: usize,
    /// The file that keeps it now, at its end.
    pub to: String,
    /// Its length in bytes, without the newline.
    pub bytes: usize,
    /// It was there already (a merge brought the line back into the
    /// history): it is not kept twice.
    pub already_there: bool,
}

impl Quarantined {
    /// What `doctor --fix` says it did, and how to look at the line.
    pub fn describe(&self) -> String {
        format!(
            "moved line {} of {} ({} no nexo can read) to {}{}, bytes unchanged; look at it with `cat -v {}`",
            self.line,
            self.path,
            crate::core::words::count(self.bytes, "byte"),
            self.to,
            if self.already_there {
                " (it was there already: a merge had brought it back)"
            } else {
                ""
            },
            self.to
        )
    }
}

/// Appends the `lines` of history `rel` that its quarantine file does not
/// hold yet to it, before the history is rewritten without them, so a
/// crash in between leaves a line in both places, never in neither.
/// Returns the quarantine file's path when it changed, and each line.
pub(super) fn quarantine(
    store: &Store,
    rel: &str,
    lines: &[(usize, Vec<u8>, String)],
) -> Result<(Option<String>, Vec<Quarantined>)> {
    let to = crate::core::layout::quarantine_rel(rel);
    let mut kept = store.read(&to)?.unwrap_or_default();
    let held: HashSet<Vec<u8>> = kept.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    if !kept.is_empty() && !kept.ends_with(b"\n") {
        kept.push(b'\n');
    }
    let mut moved = Vec::new();
    let mut added = false;
    for (line, bytes, _) in lines {
        let already_there = held.contains(bytes);
        if !already_there {
            kept.extend_from_slice(bytes);
            kept.push(b'\n');
            added = true;
        }
        moved.push(Quarantined {
            path: rel.to_string(),
            line: *line,
            to: to.clone(),
            bytes: bytes.len(),
            already_there,
        });
    }
    if added {
        store.replace(&to, &kept)?;
    }
    Ok((added.then_some(to), moved))
}

/// When history `rel` holds an unreadable line that cannot be moved aside
/// (a newer nexo's event), `--fix` leaves the whole file as it is: every
/// other problem of it is then not fixable either, and says why, so
/// `--fix` never claims a repair it will not make. Returns whether it is
/// so.
pub(super) fn hold_if_blocked(rel: &str, read: &mut super::lenient::Lenient) -> bool {
    let Some(line) = read
        .problems
        .iter()
        .find(|p| p.kind == ProblemKind::UnreadableEvent && !p.fixable)
        .and_then(|p| p.line)
    else {
        return false;
    };
    let held = format!("leaves {rel} as it is while line {line} stays unreadable");
    for p in read.problems.iter_mut().filter(|p| p.fixable) {
        p.fixable = false;
        let why = read
            .aside
            .iter()
            .find(|(n, _, _)| p.kind == ProblemKind::UnreadableEvent && Some(*n) == p.line)
            .map(|(_, _, why)| why);
        p.message = match why {
            Some(why) => format!("{why}; --fix would move it aside, but {held}"),
            None => format!("{}; but --fix {held}", p.message),
        };
    }
    read.aside.clear();
    true
}

/// The paths `--fix` will not commit: histories (and segments) that still
/// hold a line nexo cannot read once it has done what it can. It never
/// commits what it cannot read.
pub(super) fn unreadable_paths(problems: &[Problem]) -> HashSet<String> {
    problems
        .iter()
        .filter(|p| p.kind == ProblemKind::UnreadableEvent && !p.fixable)
        .map(|p| p.path.clone())
        .collect()
}
