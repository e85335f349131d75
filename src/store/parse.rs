//! Reading a history's bytes: its lines as events, and what its end holds
//! when a write was cut short.

use crate::core::error::{Error, Result};
use crate::core::event::Event;

use super::{Flow, History, Tail};

/// Parses history bytes; `place` names the file in errors.
pub fn parse_history(bytes: &[u8], place: &str) -> Result<History> {
    let mut events = Vec::new();
    let torn_tail = each_history_event(bytes, place, |e| {
        events.push(e);
        Ok(Flow::Continue)
    })?;
    let unterminated = !bytes.is_empty() && !bytes.ends_with(b"\n");
    Ok(History {
        events,
        torn_tail,
        whole_len: (!unterminated).then_some(bytes.len() as u64),
    })
}

/// Each event of history bytes in line order, as [`parse_history`] reads
/// them, handed over one at a time so that no copy of the whole history
/// need be held: a torn last line is skipped (and `true` answered), any
/// other unreadable line is an error naming `place` and its line.
pub fn each_history_event(
    bytes: &[u8],
    place: &str,
    mut each: impl FnMut(Event) -> Result<Flow>,
) -> Result<bool> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| Error::corrupt(format!("{place}: not UTF-8 ({e})")))?;
    let unterminated = !text.is_empty() && !text.ends_with('\n');
    let mut lines = text.split('\n').enumerate().peekable();
    while let Some((i, line)) = lines.next() {
        let last = lines.peek().is_none();
        if line.trim().is_empty() {
            continue;
        }
        let event = if last && unterminated && is_torn_write(line.as_bytes()) {
            // Only a line that is not terminated may be torn (a fragment of
            // nexo's own write); a whole event that lacks only its newline
            // is still an event.
            match Event::from_line(line, "") {
                Ok(e) => e,
                Err(_) => return Ok(true),
            }
        } else {
            Event::from_line(line, &format!("{place}:{}", i + 1))?
        };
        if each(event)? == Flow::Stop {
            break;
        }
    }
    Ok(false)
}

/// What the end of `bytes` holds; see [`Tail`].
pub fn classify_tail(bytes: &[u8]) -> Tail {
    if bytes.is_empty() || bytes.ends_with(b"\n") {
        return Tail::Clean;
    }
    let start = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    let whole = std::str::from_utf8(&bytes[start..])
        .ok()
        .is_some_and(|line| Event::from_line(line, "").is_ok());
    match (whole, is_torn_write(&bytes[start..])) {
        (true, _) => Tail::MissingNewline,
        (false, true) => Tail::Torn,
        (false, false) => Tail::Foreign,
    }
}

/// Whether an unterminated last line is what a killed nexo leaves: nexo
/// writes each event as one line that begins `{"v":`, so a fragment of one
/// begins so too (or is shorter) and is not yet whole JSON. Anything else
/// was written by someone else, and is never cut.
pub fn is_torn_write(fragment: &[u8]) -> bool {
    const START: &[u8] = b"{\"v\":";
    let begins = match fragment.len() < START.len() {
        true => START.starts_with(fragment),
        false => fragment.starts_with(START),
    };
    begins && serde_json::from_slice::<serde_json::Value>(fragment).is_err()
}
