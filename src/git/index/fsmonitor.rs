//! git's fsmonitor extension (`FSMN`) carried across a splice.
//!
//! With `core.fsmonitor`, git records which entries it must still check
//! (changed since the file system monitor's last answer) as a bitmap by
//! entry position. A splice that adds or removes entries moves the
//! positions after them: the bitmap is renumbered so each mark stays on
//! its entry. Entries nexo writes are marked for checking (a cheap stat
//! each); entries it removes take their marks with them. Dropping the
//! extension instead would be correct but make git check every file of
//! the repository at its next command, after every nexo write.

use std::ops::Range;

use super::ewah;

/// Where the old entries went: kept ranges (old positions, new start)
/// and the new positions of entries written, in order.
#[derive(Default)]
pub(super) struct Moves {
    kept: Vec<(Range<usize>, usize)>,
    added: Vec<usize>,
    /// How many entries the new index has so far.
    at: usize,
}

impl Moves {
    /// Old entries `old` are the next ones of the new index.
    pub(super) fn keep(&mut self, old: Range<usize>) {
        if !old.is_empty() {
            self.at += old.len();
            self.kept.push((old.clone(), self.at - old.len()));
        }
    }

    /// A new entry is the next one of the new index.
    pub(super) fn add(&mut self) {
        self.added.push(self.at);
        self.at += 1;
    }

    fn new_position(&self, old: usize) -> Option<usize> {
        let i = self.kept.partition_point(|(r, _)| r.end <= old);
        let (range, start) = self.kept.get(i)?;
        range.contains(&old).then(|| start + (old - range.start))
    }
}

/// Writes the `FSMN` extension whose body is `body`, renumbered by
/// `moves`, to `out`; `false` (nothing written) when the body is not one
/// git writes (versions 1 and 2): then it is dropped, and git checks
/// every entry once.
pub(super) fn renumbered(body: &[u8], moves: &Moves, out: &mut Vec<u8>) -> bool {
    let Some((head, bits)) = split(body) else {
        return false;
    };
    let Ok((old, rest)) = ewah::decode(bits) else {
        return false;
    };
    if !rest.is_empty() {
        return false;
    }
    let mut marks: Vec<usize> = old
        .into_iter()
        .filter_map(|b| moves.new_position(b))
        .chain(moves.added.iter().copied())
        .collect();
    marks.sort_unstable();
    marks.dedup();
    let mut bitmap = Vec::new();
    ewah::encode(&marks, &mut bitmap);
    out.extend_from_slice(b"FSMN");
    let len = head.len() + 4 + bitmap.len();
    out.extend_from_slice(&(len as u32).to_be_bytes());
    out.extend_from_slice(head);
    out.extend_from_slice(&(bitmap.len() as u32).to_be_bytes());
    out.extend_from_slice(&bitmap);
    true
}

/// The body's version and token (kept as they are), and its bitmap.
fn split(body: &[u8]) -> Option<(&[u8], &[u8])> {
    let version = u32::from_be_bytes(body.get(..4)?.try_into().ok()?);
    let head_len = match version {
        1 => 4 + 8,
        2 => 4 + body.get(4..)?.iter().position(|&b| b == 0)? + 1,
        _ => return None,
    };
    let size_at = head_len;
    let size = u32::from_be_bytes(body.get(size_at..size_at + 4)?.try_into().ok()?) as usize;
    let bits = body.get(size_at + 4..)?;
    (bits.len() == size).then(|| (&body[..head_len], bits))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(version: u32, marks: &[usize]) -> Vec<u8> {
        let mut b = version.to_be_bytes().to_vec();
        match version {
            1 => b.extend_from_slice(&7u64.to_be_bytes()),
            _ => b.extend_from_slice(b"token\0"),
        }
        let mut bitmap = Vec::new();
        ewah::encode(marks, &mut bitmap);
        b.extend_from_slice(&(bitmap.len() as u32).to_be_bytes());
        b.extend_from_slice(&bitmap);
        b
    }

    fn marks_of(ext: &[u8]) -> Vec<usize> {
        assert_eq!(&ext[..4], b"FSMN");
        let len = u32::from_be_bytes(ext[4..8].try_into().unwrap()) as usize;
        assert_eq!(ext.len(), 8 + len);
        let (_, bits) = split(&ext[8..]).unwrap();
        ewah::decode(bits).unwrap().0
    }

    #[test]
    fn marks_follow_their_entries_and_new_entries_are_marked() {
        // Old entries 0..10; 2 and 3 replaced by one new entry; one new
        // entry after 7; 8 and 9 kept.
        let mut m = Moves::default();
        m.keep(0..2);
        m.add();
        m.keep(4..8);
        m.add();
        m.keep(8..10);
        for version in [1, 2] {
            let mut out = Vec::new();
            assert!(renumbered(&body(version, &[1, 3, 5, 9]), &m, &mut out));
            // 1 stays 1; 3 went with its entry; 5 is now 4; 9 is now 9;
            // the new entries are 2 and 7.
            assert_eq!(marks_of(&out), vec![1, 2, 4, 7, 9]);
        }
    }

    #[test]
    fn a_body_git_would_not_write_is_dropped() {
        let m = Moves::default();
        let mut out = Vec::new();
        assert!(!renumbered(&body(3, &[1]), &m, &mut out));
        let mut short = body(2, &[1]);
        short.pop();
        assert!(!renumbered(&short, &m, &mut out));
        assert!(!renumbered(b"", &m, &mut out));
        assert!(out.is_empty());
    }
}
