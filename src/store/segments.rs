//! A history in parts: sealed segments, then the live file.
//!
//! ```text
//! .nexo/runs/<c>/<c>/<RUN_ID>/history/000001-<hash>.jsonl   sealed, never changed again
//! .nexo/runs/<c>/<c>/<RUN_ID>/history/000002-<hash>.jsonl
//! .nexo/runs/<c>/<c>/<RUN_ID>/history.jsonl                 the live end, appended to
//! ```
//!
//! Why: git stores a file whole. A 23 MB history appended to on every
//! write made every commit hash and compress 23 MB again (and store it
//! again, until the next gc). Once the live file passes [`SEAL_BYTES`], the
//! write that finds it so seals it: its lines move, unchanged and in order,
//! into segments of about that size, and the live file starts again with
//! that write's event. A write then costs the same however long the run.
//!
//! The history is the segments in sequence order followed by the live
//! file, as if concatenated: the same bytes as before the seal, so a fold
//! cached over them stays valid. A segment's name carries its sequence
//! number and a hash of its bytes, so two clones that seal concurrently
//! make different files (both kept by a merge; the fold drops the events
//! they share) and a seal that a crash interrupted, done again, finds its
//! segments already there.
//!
//! Readers open the live file before listing segments: a seal finishing
//! in between can then only show some events twice (which the fold
//! drops), never hide them.

use std::fs::File;
use std::io::{BufRead, Read, Seek, SeekFrom, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::nofollow;
use crate::core::error::{Error, Result};
use crate::core::event::Event;

/// The folder of a record's sealed segments, beside its live file.
pub const SEGMENTS: &str = "history";

/// The size from which the live file is sealed, and about the size of
/// each segment. 256 KiB: a write hashes at most this much of the history
/// (about 0.7 ms on the project's machine), and a 100,000-event run is
/// about 90 segments.
const SEAL_BYTES: u64 = 256 * 1024;

/// The live file's size from which a write seals it. Tests lower it with
/// `NEXO_SEAL_BYTES`, honoured only in debug builds (what `cargo test`
/// builds), so an installed nexo never reads it.
pub fn seal_bytes() -> u64 {
    #[cfg(debug_assertions)]
    if let Some(n) = std::env::var("NEXO_SEAL_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return n;
    }
    SEAL_BYTES
}

/// A segment's sequence number, if `name` is a segment's name:
/// `<six or more digits>-<16 hex digits>.jsonl`.
pub fn segment_seq(name: &str) -> Option<u64> {
    let (seq, rest) = name.strip_suffix(".jsonl")?.split_once('-')?;
    let hex = rest.len() == 16 && rest.bytes().all(|b| b.is_ascii_hexdigit());
    let digits = seq.len() >= 6 && seq.bytes().all(|b| b.is_ascii_digit());
    (hex && digits).then(|| seq.parse().ok())?
}

/// One file of a history: a segment, or the live file (always last).
struct Part {
    rel: String,
    len: u64,
    file: Option<File>,
}

/// A record's history as the sequence of its files, read as one stream.
/// Offsets count bytes across the files, segments first.
pub struct Parts {
    parts: Vec<Part>,
    root: std::path::PathBuf,
}

/// Where one event came from, for [`Parts::each_event`].
pub struct Place {
    /// Offset (across all the files) just past the event's line.
    pub end: u64,
    /// Whether that line ended in a newline (only the live file's last
    /// line may not).
    pub terminated: bool,
}

impl Parts {
    /// Opens the history whose live file is `rel`: the live file first,
    /// then the segments beside it (see the module's note on order).
    pub(super) fn open(root: &Path, rel: &str, live: File) -> Result<Parts> {
        let live_len = live
            .metadata()
            .map_err(|e| Error::io("read", &root.join(rel), e))?
            .len();
        let mut parts = Vec::new();
        for (name, len) in segments(root, rel)? {
            parts.push(Part {
                rel: segment_rel(rel, &name),
                len,
                file: None,
            });
        }
        parts.push(Part {
            rel: rel.to_string(),
            len: live_len,
            file: Some(live),
        });
        Ok(Parts {
            parts,
            root: root.to_path_buf(),
        })
    }

    /// The history's length in bytes, all files together.
    pub fn len(&self) -> u64 {
        self.parts.iter().map(|p| p.len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn file(&mut self, i: usize) -> Result<&mut File> {
        let part = &mut self.parts[i];
        if part.file.is_none() {
            let opened =
                nofollow::open_read(&self.root, Path::new(&part.rel))?.ok_or_else(|| {
                    Error::corrupt(format!(
                        "{}: the segment disappeared while reading",
                        part.rel
                    ))
                })?;
            part.file = Some(opened);
        }
        Ok(part.file.as_mut().expect("opened above"))
    }

    /// The `n` bytes that end at offset `end` (fewer at the start).
    pub fn bytes_before(&mut self, end: u64, n: u64) -> Result<Vec<u8>> {
        let start = end.saturating_sub(n);
        let mut out = Vec::with_capacity((end - start) as usize);
        let mut base = 0;
        for i in 0..self.parts.len() {
            let (rel, len) = (self.parts[i].rel.clone(), self.parts[i].len);
            let (from, to) = (start.max(base), end.min(base + len));
            if from < to {
                let file = self.file(i)?;
                let mut buf = vec![0u8; (to - from) as usize];
                file.seek(SeekFrom::Start(from - base))
                    .and_then(|_| file.read_exact(&mut buf))
                    .map_err(|e| Error::io("read", Path::new(&rel), e))?;
                out.extend_from_slice(&buf);
            }
            base += len;
        }
        if (out.len() as u64) < end - start {
            return Err(Error::corrupt("a history is shorter than its cache says"));
        }
        Ok(out)
    }

    /// Hands every event from offset `from` (a line's start) on to `each`,
    /// in order, one line at a time, so memory does not grow with the
    /// history; `each` may stop early. A torn last line of the live file
    /// is skipped; any other unreadable line is an error naming its file
    /// and line.
    pub fn each_event(
        &mut self,
        from: u64,
        mut each: impl FnMut(Event, Place) -> Result<super::Flow>,
    ) -> Result<()> {
        let mut base = 0;
        let last = self.parts.len() - 1;
        for i in 0..=last {
            let (rel, len) = (self.parts[i].rel.clone(), self.parts[i].len);
            // The live file is read to its end: it may have grown since
            // it was opened.
            if i < last && base + len <= from {
                base += len;
                continue;
            }
            let start = from.saturating_sub(base);
            let file = self.file(i)?;
            file.seek(SeekFrom::Start(start))
                .map_err(|e| Error::io("read", Path::new(&rel), e))?;
            let reader = std::io::BufReader::with_capacity(64 * 1024, &mut *file);
            let stop = each_line(reader, &rel, base + start, i == last, &mut each)?;
            if stop {
                return Ok(());
            }
            base += len;
        }
        Ok(())
    }

    /// Every event, read whole, and whether the live file ends torn.
    pub fn read_all(&mut self) -> Result<super::History> {
        let mut events = Vec::new();
        let mut whole_len = Some(0u64);
        let mut torn_tail = false;
        for i in 0..self.parts.len() {
            let rel = self.parts[i].rel.clone();
            let mut bytes = Vec::new();
            let file = self.file(i)?;
            file.seek(SeekFrom::Start(0))
                .and_then(|_| file.read_to_end(&mut bytes))
                .map_err(|e| Error::io("read", Path::new(&rel), e))?;
            let part = super::parse_history(&bytes, &rel)?;
            if i + 1 < self.parts.len() && part.whole_len.is_none() {
                return Err(Error::corrupt(format!(
                    "{rel}: a sealed segment ends in the middle of a line"
                )));
            }
            events.extend(part.events);
            torn_tail = part.torn_tail;
            whole_len = whole_len.zip(part.whole_len).map(|(a, b)| a + b);
        }
        Ok(super::History {
            events,
            torn_tail,
            whole_len,
        })
    }
}

/// Reads lines from `reader` (which starts at offset `at` of the whole
/// history) into events for `each`. Returns whether `each` stopped.
fn each_line(
    mut reader: impl BufRead,
    rel: &str,
    mut at: u64,
    live: bool,
    each: &mut impl FnMut(Event, Place) -> Result<super::Flow>,
) -> Result<bool> {
    let mut buf = Vec::new();
    for number in 1.. {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| Error::io("read", Path::new(rel), e))?;
        if n == 0 {
            break;
        }
        at += n as u64;
        let terminated = buf.ends_with(b"\n");
        let place = format!("{rel}:{number}");
        let line = std::str::from_utf8(&buf)
            .map_err(|e| Error::corrupt(format!("{place}: not UTF-8 ({e})")))?;
        if line.trim().is_empty() {
            continue;
        }
        let event = match Event::from_line(line.trim_end_matches('\n'), &place) {
            Ok(e) => e,
            // Only the live file's unterminated last line may be torn, and
            // only by nexo's own write: anything else is unreadable.
            Err(_) if !terminated && live && super::is_torn_write(line.as_bytes()) => break,
            Err(e) => return Err(e),
        };
        let place = Place {
            end: at,
            // A segment's last line is whole, with or without a newline.
            terminated: terminated || !live,
        };
        if each(event, place)? == super::Flow::Stop {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `<folder of rel>/history/<name>`.
pub fn segment_rel(live_rel: &str, name: &str) -> String {
    let dir = live_rel.rsplit_once('/').map_or("", |(d, _)| d);
    format!("{dir}/{SEGMENTS}/{name}")
}

fn segments_dir(live_rel: &str) -> String {
    let dir = live_rel.rsplit_once('/').map_or("", |(d, _)| d);
    format!("{dir}/{SEGMENTS}")
}

/// The segments beside the live file `rel`, in sequence order (then by
/// name), with their sizes. Other names are not segments; a link with a
/// segment's name is refused (its events would otherwise go unread).
pub fn segments(root: &Path, rel: &str) -> Result<Vec<(String, u64)>> {
    let dir = segments_dir(rel);
    let mut found = Vec::new();
    for (name, link) in nofollow::read_dir(root, Path::new(&dir))? {
        let Some(seq) = segment_seq(&name) else {
            continue;
        };
        if link {
            return Err(nofollow::link_error(&Path::new(&dir).join(&name)));
        }
        let path = root.join(&dir).join(&name);
        let m = std::fs::symlink_metadata(&path).map_err(|e| Error::io("read", &path, e))?;
        if !m.is_file() {
            return Err(Error::corrupt(format!(
                "{dir}/{name} is not a file: a sealed segment of the history must be one"
            )));
        }
        found.push((seq, name, m.len()));
    }
    found.sort();
    Ok(found
        .into_iter()
        .map(|(_, name, len)| (name, len))
        .collect())
}

/// Segments written aside (in nexo's temporary folder), named, and ready
/// to be moved into place.
pub struct Sealing {
    written: Vec<(tempfile::NamedTempFile, String)>,
    /// Every segment's path, including ones a crashed seal left in place.
    pub rels: Vec<String>,
}

/// Splits the live file `rel` (already settled: whole lines) into
/// segments of about `SEAL_BYTES`, written aside and flushed. A segment
/// already in place with the same bytes (a seal a crash interrupted) is
/// not written again.
pub fn prepare(root: &Path, rel: &str, tmp_dir: &Path) -> Result<Sealing> {
    let existing = segments(root, rel)?;
    let mut seq = existing
        .iter()
        .filter_map(|(n, _)| segment_seq(n))
        .max()
        .unwrap_or(0);
    let file = nofollow::open_read(root, Path::new(rel))?
        .ok_or_else(|| Error::not_found(format!("{rel} does not exist")))?;
    let mut reader = std::io::BufReader::with_capacity(64 * 1024, file);
    let mut sealing = Sealing {
        written: Vec::new(),
        rels: Vec::new(),
    };
    let mut chunk = Vec::new();
    loop {
        let before = chunk.len();
        let n = reader
            .read_until(b'\n', &mut chunk)
            .map_err(|e| Error::io("read", &root.join(rel), e))?;
        let full = chunk.len() as u64 >= seal_bytes();
        if (n == 0 || full) && !chunk.is_empty() {
            // Cut after a whole line; the one that overflowed starts the next.
            let cut = if full && before > 0 {
                before
            } else {
                chunk.len()
            };
            let rest = chunk.split_off(cut);
            seq += 1;
            add_segment(rel, tmp_dir, &existing, seq, &chunk, &mut sealing)?;
            chunk = rest;
        }
        if n == 0 && chunk.is_empty() {
            break;
        }
    }
    Ok(sealing)
}

fn add_segment(
    rel: &str,
    tmp_dir: &Path,
    existing: &[(String, u64)],
    seq: u64,
    bytes: &[u8],
    sealing: &mut Sealing,
) -> Result<()> {
    let hash = crate::core::id::hex(&Sha256::digest(bytes)[..8]);
    if let Some((name, _)) = existing
        .iter()
        .find(|(n, _)| n.contains(&format!("-{hash}.")))
    {
        sealing.rels.push(segment_rel(rel, name));
        return Ok(());
    }
    let name = format!("{seq:06}-{hash}.jsonl");
    let _ = std::fs::create_dir(tmp_dir);
    let mut tmp = nofollow::temp_file_in(tmp_dir)?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_data())
        .map_err(|e| Error::io("write", tmp.path(), e))?;
    let seg = segment_rel(rel, &name);
    sealing.rels.push(seg.clone());
    sealing.written.push((tmp, seg));
    Ok(())
}

/// Moves the segments into place and flushes their folder, so they are
/// on disk before the live file is cut.
pub fn install(root: &Path, sealing: Sealing) -> Result<()> {
    let Some((_, first)) = sealing.written.first() else {
        return Ok(());
    };
    let dir_rel = Path::new(first)
        .parent()
        .expect("a segment has a folder")
        .to_path_buf();
    nofollow::create_dir_all(root, &dir_rel)?;
    for (tmp, rel) in sealing.written {
        let path = root.join(&rel);
        nofollow::check(root, &dir_rel)?;
        if std::fs::symlink_metadata(&path).is_ok() {
            // A concurrent clone's segment by this name has these bytes.
            continue;
        }
        crate::trace::crash_point("seal-before-rename");
        tmp.persist(&path)
            .map_err(|e| Error::io("move into place", &path, e.error))?;
    }
    let dir = root.join(&dir_rel);
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("flush", &dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names() {
        assert_eq!(segment_seq("000001-0123456789abcdef.jsonl"), Some(1));
        assert_eq!(segment_seq("1234567-0123456789abcdef.jsonl"), Some(1234567));
        for bad in [
            "000001-0123456789abcde.jsonl",
            "00001-0123456789abcdef.jsonl",
            "000001-0123456789abcdeg.jsonl",
            "000001-0123456789abcdef.json",
            "history.jsonl",
            "x00001-0123456789abcdef.jsonl",
        ] {
            assert_eq!(segment_seq(bad), None, "{bad}");
        }
    }

    #[test]
    fn segment_paths_sit_beside_the_live_file() {
        assert_eq!(
            segment_rel(
                ".nexo/runs/WF-1/history.jsonl",
                "000001-0123456789abcdef.jsonl"
            ),
            ".nexo/runs/WF-1/history/000001-0123456789abcdef.jsonl"
        );
    }
}
