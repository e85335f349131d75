//! The lines of runs folded just now: held in memory while they are few,
//! then written to a file of the cache folder and mapped, so that a read
//! that folds every run (the index rebuilt at 100,000 runs: 51 MB of
//! lines) holds the lines the way it holds the index's own parts, as
//! pages of the page cache it can hand back (`Text::release`), not as
//! heap it cannot.

use std::fs::File;
use std::path::Path;

/// Past this many bytes the lines go to a file.
const HOLD_AT_MOST: usize = 4 << 20;
/// Lines gathered before one write to the file.
const WRITE_EVERY: usize = 1 << 16;

pub(super) enum Extra {
    Held(String),
    Spilled(Spill),
    /// Held for good: a file of this read failed once, and every later
    /// try would copy every line held so far.
    Kept(String),
}

pub(super) struct Spill {
    file: File,
    /// Bytes in the file, all written.
    written: usize,
    /// Bytes not yet written, which follow them.
    pending: Vec<u8>,
    /// The file mapped, once sealed and until the next line.
    map: Option<memmap2::Mmap>,
}

impl Extra {
    pub(super) fn len(&self) -> usize {
        match self {
            Extra::Held(s) | Extra::Kept(s) => s.len(),
            Extra::Spilled(s) => s.written + s.pending.len(),
        }
    }

    /// The lines' bytes. A spill not sealed since its last line is not
    /// readable: [`Extra::seal`] comes between adding lines and reading.
    pub(super) fn bytes(&self) -> &[u8] {
        match self {
            Extra::Held(s) | Extra::Kept(s) => s.as_bytes(),
            Extra::Spilled(s) => {
                debug_assert!(s.map.is_some(), "a spill is sealed before it is read");
                s.map.as_deref().unwrap_or_default()
            }
        }
    }

    pub(super) fn map(&self) -> Option<&memmap2::Mmap> {
        match self {
            Extra::Spilled(s) => s.map.as_ref(),
            Extra::Held(_) | Extra::Kept(_) => None,
        }
    }

    /// Adds `line` and its newline; past [`HOLD_AT_MOST`] the lines move
    /// to a file in `dir`. Any failure of the file keeps them in memory:
    /// a read is never refused for want of room for its scratch file.
    pub(super) fn push(&mut self, dir: &Path, line: &str) {
        match self {
            Extra::Held(s) => {
                s.push_str(line);
                s.push('\n');
                if s.len() > HOLD_AT_MOST {
                    *self = match Spill::of(dir, s.as_bytes()) {
                        Some(spill) => Extra::Spilled(spill),
                        None => Extra::Kept(std::mem::take(s)),
                    };
                }
            }
            Extra::Kept(s) => {
                s.push_str(line);
                s.push('\n');
            }
            Extra::Spilled(s) => {
                s.map = None;
                s.pending.extend_from_slice(line.as_bytes());
                s.pending.push(b'\n');
                if s.pending.len() >= WRITE_EVERY && !s.write_pending() {
                    self.hold();
                }
            }
        }
    }

    /// Writes what is pending and maps the file, so the lines can be read.
    pub(super) fn seal(&mut self) {
        let Extra::Spilled(s) = self else { return };
        if s.map.is_some() {
            return;
        }
        if !s.write_pending() {
            return self.hold();
        }
        // SAFETY: the file is this process's own, unnamed (`tempfile`), so
        // no other process can reach it; it is written only through
        // `write_pending` before the mapping is made, and `push` drops the
        // mapping (it takes `&mut`, so no slice of it is alive) before it
        // writes again.
        #[allow(unsafe_code)]
        match unsafe { memmap2::Mmap::map(&s.file) } {
            Ok(m) => s.map = Some(m),
            Err(_) => self.hold(),
        }
    }

    /// Back to memory, with every line: what was written is read back.
    fn hold(&mut self) {
        let Extra::Spilled(s) = self else { return };
        let mut bytes = vec![0; s.written];
        let read = {
            #[cfg(unix)]
            {
                use std::os::unix::fs::FileExt;
                s.file.read_exact_at(&mut bytes, 0)
            }
            #[cfg(not(unix))]
            {
                use std::io::{Read, Seek};
                (&s.file)
                    .seek(std::io::SeekFrom::Start(0))
                    .and_then(|_| (&s.file).read_exact(&mut bytes))
            }
        };
        // A file that cannot give back what it took is a machine failing;
        // its bytes become NULs, the same length, so every later line
        // keeps its place (no line of NULs parses: the index is rebuilt).
        if read.is_err() {
            bytes.fill(0);
        }
        let mut held = String::from_utf8(bytes).unwrap_or_else(|_| "\0".repeat(s.written));
        held.push_str(std::str::from_utf8(&s.pending).unwrap_or_default());
        *self = Extra::Kept(held);
    }
}

impl Spill {
    fn of(dir: &Path, bytes: &[u8]) -> Option<Spill> {
        std::fs::create_dir_all(dir).ok()?;
        let file = tempfile::tempfile_in(dir).ok()?;
        let mut spill = Spill {
            file,
            written: 0,
            pending: bytes.to_vec(),
            map: None,
        };
        spill.write_pending().then_some(spill)
    }

    /// Writes the pending bytes after the written ones; on failure they
    /// stay pending and the file's first `written` bytes stay good.
    fn write_pending(&mut self) -> bool {
        if self.pending.is_empty() {
            return true;
        }
        let done = {
            #[cfg(unix)]
            {
                use std::os::unix::fs::FileExt;
                self.file.write_all_at(&self.pending, self.written as u64)
            }
            #[cfg(not(unix))]
            {
                use std::io::{Seek, Write};
                (&self.file)
                    .seek(std::io::SeekFrom::Start(self.written as u64))
                    .and_then(|_| (&self.file).write_all(&self.pending))
            }
        };
        if done.is_err() {
            return false;
        }
        self.written += self.pending.len();
        self.pending.clear();
        true
    }
}
