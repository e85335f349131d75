//! The two files of the summaries index, mapped, as one address space
//! for [`Summary`]'s ranges: the open part, then the closed part, then
//! the lines of runs folded just now.

use std::collections::HashMap;
use std::io::Write;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::spill::Extra;
use super::{FORMAT, Summary};

/// Which file of the index a line lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Part {
    /// Every run not completed or cancelled: what `list`, `ready` and
    /// `prime` read.
    Open,
    /// Completed and cancelled runs: read by `list --all` and goal counts.
    Closed,
}

impl Part {
    pub(super) fn file(self) -> &'static str {
        match self {
            Part::Open => "summaries",
            Part::Closed => "summaries-closed",
        }
    }
}

pub(super) struct Text {
    /// Mapped, not read: nexo replaces the files by rename and otherwise
    /// only appends to them or writes the open part's tree anew in its
    /// header (`move_tree`), so no mapped byte past the header changes.
    open: Option<memmap2::Mmap>,
    closed: Option<memmap2::Mmap>,
    /// Each part's first bytes, read, not mapped: the first line is the
    /// one another reader may write (`move_tree`), so it is never
    /// looked at through the mapping.
    heads: [Vec<u8>; 2],
    /// The open part's file as mapped (device, inode): what was read of
    /// it is what moving its tree on vouches for, so only that file's
    /// tree is moved (`move_tree`), never a part written anew since.
    open_file: Option<(u64, u64)>,
    /// The lines of runs folded just now, and where they spill to.
    extra: Extra,
    dir: std::path::PathBuf,
    /// Bytes read through the mappings since their pages were last
    /// handed back (a field read alone counts as a fault's pages).
    touched: AtomicUsize,
}

/// Bytes read through the mappings between two hand-backs of their
/// pages: a read of every run touches the whole closed part (51 MB at
/// 100,000 runs), and every page touched counts against the process
/// until it is handed back.
const RELEASE_EVERY: usize = 8 << 20;
/// What a read of a few bytes alone costs: a fault maps the pages
/// around it too (Linux's `fault_around_bytes`, 64 KB), whatever
/// `madvise` says of the mapping.
const FAULT: usize = 64 << 10;

/// What a part's first line says.
pub(super) struct Header {
    /// Where the first line of a run starts.
    pub start: usize,
    /// Where the lines written sorted end; lines appended since follow
    /// (a run folded again since: its newer line wins).
    pub sorted_end: usize,
    /// Where the part ends.
    pub end: usize,
    /// Both parts of one index carry the same token: a part written by
    /// another rebuild is not paired with this one.
    pub token: String,
    /// How many runs the repository held when the index was last written
    /// whole (the open part's; every run not in it is closed).
    pub runs: usize,
    /// HEAD's `.nexo` tree when the part was written (hex), if known.
    pub tree: Option<String>,
    pub folder: Option<(i128, u64)>,
}

/// What a part's header is written with.
pub(super) struct Meta<'a> {
    pub token: &'a str,
    pub runs: usize,
    pub tree: Option<&'a str>,
    pub folder: Option<(i128, u64)>,
}

/// The file's device and inode, where they are known.
fn file_id(f: &std::fs::File) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        f.metadata().ok().map(|m| (m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = f;
        None
    }
}

/// The longest first line read (a header is about 150 bytes).
const HEAD: u64 = 1024;

/// A part mapped, its file's identity, and its first bytes as read.
type Mapped = (memmap2::Mmap, Option<(u64, u64)>, Vec<u8>);

fn map(path: &Path) -> Option<Mapped> {
    use std::io::Read;
    let f = std::fs::File::open(path).ok()?;
    let id = file_id(&f);
    let mut head = Vec::new();
    (&f).take(HEAD).read_to_end(&mut head).ok()?;
    // SAFETY: the file is nexo's own, in the git directory, and is only
    // ever replaced by rename, appended to, or given a tree id of the
    // same length over the header's (`move_tree`): the mapping never
    // shrinks, and no mapped byte past the first line changes. The first
    // line is read from the file instead (`Text::header`), never through
    // the mapping.
    #[allow(unsafe_code)]
    let mapped = unsafe { memmap2::Mmap::map(&f) }.ok()?;
    Some((mapped, id, head))
}

impl Text {
    pub(super) fn read(dir: &Path) -> Text {
        let (open, open_file, open_head) = match map(&dir.join(Part::Open.file())) {
            Some((m, id, head)) => (Some(m), id, head),
            None => (None, None, Vec::new()),
        };
        let (closed, closed_head) = match map(&dir.join(Part::Closed.file())) {
            Some((m, _, head)) => (Some(m), head),
            None => (None, Vec::new()),
        };
        Text {
            open,
            closed,
            heads: [open_head, closed_head],
            open_file,
            extra: Extra::Held(String::new()),
            dir: dir.to_path_buf(),
            touched: AtomicUsize::new(0),
        }
    }

    /// Counts `n` bytes read at `at` through a mapping; past
    /// [`RELEASE_EVERY`] every mapping's pages are handed back. A mapping
    /// smaller than that is not counted: all of it resident costs less
    /// than handing it back (10,000 open runs sorted: 4,000 hand-backs
    /// and 10% more time for `list`).
    fn touch(&self, at: usize, n: usize) {
        let size = match self.part_of(at) {
            Some(p) => self.part(p).len(),
            None => self.extra.map().map_or(0, |m| m.len()),
        };
        if size < RELEASE_EVERY {
            return;
        }
        let before = self.touched.fetch_add(n, Ordering::Relaxed);
        if before + n >= RELEASE_EVERY {
            self.touched.store(0, Ordering::Relaxed);
            self.release();
        }
    }

    /// Hands back the pages of every mapping: the next read of a line
    /// faults it in again from the page cache.
    fn release(&self) {
        #[cfg(unix)]
        for map in [self.open.as_ref(), self.closed.as_ref(), self.extra.map()]
            .into_iter()
            .flatten()
        {
            // SAFETY: each mapping is read-only, of a file
            // that no one changes in place where a slice may point: the
            // parts are replaced by rename, appended to past the mapped
            // length, or given a new tree id in their first line, which is
            // never read through the mapping (`header`); the spill is
            // written before it is mapped. MADV_DONTNEED then drops only
            // this process's page-table entries, and a slice alive across
            // it reads the same bytes, faulted in again from the file. An
            // error is a missed saving.
            #[allow(unsafe_code)]
            let _ = unsafe { map.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
        }
    }

    fn part(&self, p: Part) -> &[u8] {
        match p {
            Part::Open => self.open.as_deref().unwrap_or_default(),
            Part::Closed => self.closed.as_deref().unwrap_or_default(),
        }
    }

    fn base(&self, p: Part) -> usize {
        match p {
            Part::Open => 0,
            Part::Closed => self.part(Part::Open).len(),
        }
    }

    fn mapped(&self) -> usize {
        self.part(Part::Open).len() + self.part(Part::Closed).len()
    }

    /// The part that holds byte `at` (`None`: a line folded just now).
    pub(super) fn part_of(&self, at: usize) -> Option<Part> {
        match at {
            _ if at >= self.mapped() => None,
            _ if at >= self.base(Part::Closed) => Some(Part::Closed),
            _ => Some(Part::Open),
        }
    }

    /// The bytes `at` lies in, and where they start.
    fn holding(&self, at: usize) -> (&[u8], usize) {
        match self.part_of(at) {
            Some(p) => (self.part(p), self.base(p)),
            None => (self.extra.bytes(), self.mapped()),
        }
    }

    pub(super) fn get(&self, r: Range<usize>) -> &str {
        std::str::from_utf8(self.raw(r)).unwrap_or_default()
    }

    /// The bytes of a range, for comparing without decoding.
    pub(super) fn raw(&self, r: Range<usize>) -> &[u8] {
        // A field may lie anywhere (a sort, a lookup by id).
        self.touch(r.start, r.len().max(FAULT));
        let (bytes, base) = self.holding(r.start);
        bytes.get(r.start - base..r.end - base).unwrap_or_default()
    }

    /// Adds `line` (without its newline) and returns its summary. The
    /// lines added are read only once [`Text::seal`]ed.
    pub(super) fn push(&mut self, line: &str) -> Summary {
        let start = self.mapped() + self.extra.len();
        self.extra.push(&self.dir, line);
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        Summary::parse(&bytes, start).expect("a line just made parses")
    }

    /// Makes the lines added readable.
    pub(super) fn seal(&mut self) {
        self.extra.seal();
    }

    /// Both parts' headers, when both are this format and of one index.
    pub(super) fn headers(&self) -> Option<(Header, Header)> {
        let open = self.header(Part::Open)?;
        let closed = self.header(Part::Closed)?;
        (open.token == closed.token).then_some((open, closed))
    }

    /// A part's first line: `FORMAT`, where the sorted lines end, the
    /// token, the count of runs, the tree and the trusted `runs/` folder
    /// stamp if any. `None`: no such part, or not this format.
    pub(super) fn header(&self, p: Part) -> Option<Header> {
        let bytes = self.part(p);
        let base = self.base(p);
        // As read, not mapped: another reader may write the tree anew
        // meanwhile (a half-written id is a tree that does not exist).
        let head = &self.heads[p as usize];
        let end = head.iter().position(|&b| b == b'\n')?;
        let first = std::str::from_utf8(&head[..end]).ok()?;
        let mut f = first.split('\t');
        if f.next() != Some(FORMAT) {
            return None;
        }
        let sorted_end: usize = f.next()?.parse().ok()?;
        let token = f.next()?.to_string();
        let runs = f.next()?.parse().ok()?;
        let tree = f.next()?;
        let tree = (tree != "-").then(|| tree.to_string());
        let folder = f
            .next()
            .and_then(|m| m.parse().ok())
            .zip(f.next().and_then(|i| i.parse().ok()));
        (end < sorted_end && sorted_end <= bytes.len()).then_some(Header {
            start: base + end + 1,
            sorted_end: base + sorted_end,
            end: base + bytes.len(),
            token,
            runs,
            tree,
            folder,
        })
    }

    /// Where the line that holds byte `at` ends (just past its newline),
    /// at most `end` (both in one part).
    pub(super) fn line_end_after(&self, at: usize, end: usize) -> usize {
        if at >= end {
            return end;
        }
        let (bytes, base) = self.holding(at);
        let next = bytes[at - base..end - base]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(end, |p| at + p + 1);
        self.touch(at, next - at);
        next
    }

    /// How many lines lie between `start` and `end` (one part).
    pub(super) fn count_lines(&self, r: Range<usize>) -> usize {
        if r.start >= r.end {
            return 0;
        }
        self.touch(r.start, r.len());
        let (bytes, base) = self.holding(r.start);
        bytecount(&bytes[r.start - base..r.end - base])
    }

    /// Every line between `start` and `end` (one part) that parses.
    pub(super) fn lines(&self, mut start: usize, end: usize) -> Vec<Summary> {
        let mut out = Vec::new();
        while start < end {
            let (line, next) = self.line_at(start, end);
            out.extend(line);
            start = next;
        }
        out
    }

    /// The lines of `first`, then of `later` (each range in one part), a
    /// later line of a run winning over its earlier ones; `None` when a
    /// line does not parse (damaged: reading every run finds its run).
    pub(super) fn current(
        &self,
        first: Range<usize>,
        later: &[Range<usize>],
    ) -> Option<Vec<Summary>> {
        // Every line must parse: one that does not is damaged.
        let parsed = |r: &Range<usize>| {
            let mut lines = Vec::new();
            let mut at = r.start;
            while at < r.end {
                let (line, next) = self.line_at(at, r.end);
                lines.push(line?);
                at = next;
            }
            Some(lines)
        };
        let mut lines = parsed(&first)?;
        let mut after = Vec::new();
        for r in later {
            after.extend(parsed(r)?);
        }
        let keep = supersede(self, &lines, &after);
        lines.extend(after);
        Some(
            lines
                .into_iter()
                .zip(keep)
                .filter_map(|(s, k)| k.then_some(s))
                .collect(),
        )
    }

    /// The line at `at` if it parses, and where the next starts (at most
    /// `end`, in the same part).
    pub(super) fn line_at(&self, at: usize, end: usize) -> (Option<Summary>, usize) {
        let (bytes, base) = self.holding(at);
        let bytes = &bytes[at - base..end - base];
        // A line says how long its JSON is, so the bulk of the index is
        // stepped over, not scanned.
        let (line, next) = match Summary::parse(bytes, at) {
            Some(s) => {
                let next = s.line.end + 1;
                (Some(s), next)
            }
            None => {
                let next = bytes
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(end, |p| at + p + 1);
                (None, next)
            }
        };
        self.touch(at, next - at);
        (line, next)
    }
}

fn bytecount(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

/// A token for an index written whole: its time and this process.
pub(super) fn new_token() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{now:x}.{:x}", std::process::id())
}

/// Writes a part whole, `lines` in order. Best effort: an index that
/// cannot be written is rebuilt later; false when it was not written.
pub(super) fn write_part<'a>(
    dir: &Path,
    p: Part,
    lines: impl Iterator<Item = &'a [u8]>,
    meta: &Meta,
) -> bool {
    let _ = std::fs::create_dir_all(dir);
    let rest = format!(
        "\t{}\t{}\t{}{}",
        meta.token,
        meta.runs,
        meta.tree.unwrap_or("-"),
        meta.folder
            .map_or(String::new(), |(mtime, ino)| format!("\t{mtime}\t{ino}"))
    );
    // Where the sorted lines end, counting the header itself: 20 digits,
    // so the header's length is known before the lines are, and it is
    // written over its placeholder once they are. The lines go out as
    // they come, each read once: gathered first, or read twice, a
    // rebuild at 100,000 runs held all 51 MB of them.
    let head_len = FORMAT.len() + 1 + 20 + rest.len() + 1;
    let Ok(tmp) = tempfile::NamedTempFile::new_in(dir) else {
        return false;
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 16, tmp);
    let mut body_len = 0;
    let written = out.write_all(&vec![b'\n'; head_len]).is_ok()
        && lines.into_iter().all(|l| {
            body_len += l.len() + 1;
            out.write_all(l).is_ok() && out.write_all(b"\n").is_ok()
        });
    let header = format!("{FORMAT}\t{:020}{rest}\n", head_len + body_len);
    debug_assert_eq!(header.len(), head_len);
    written
        && out.into_inner().is_ok_and(|mut tmp| {
            use std::io::{Seek, SeekFrom};
            tmp.as_file_mut().seek(SeekFrom::Start(0)).is_ok()
                && tmp.as_file_mut().write_all(header.as_bytes()).is_ok()
                && tmp.persist(dir.join(p.file())).is_ok()
        })
}

/// Appends the lines of runs folded again to a part: a write changes one
/// run, and rewriting 10,000 lines for it cost more than the listing.
/// False when they could not be appended.
pub(super) fn append_part(dir: &Path, p: Part, text: &Text, lines: &[Range<usize>]) -> bool {
    let mut out = Vec::new();
    for line in lines {
        out.extend_from_slice(text.raw(line.clone()));
        out.push(b'\n');
    }
    std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join(p.file()))
        .and_then(|mut f| f.write_all(&out))
        .is_ok()
}

/// Moves the open part's tree on from `from` to `to` in place: the id is
/// written over the header's, the rest of the file unchanged, where
/// rewriting the part (1,000 open runs: 650 KB) would cost what it saves.
/// Only between ids of one length (one hash), only in the file `text`
/// mapped (a part written anew meanwhile, even at the same tree, may lack
/// a run only the diff from that tree names: it is left alone), and only
/// when its header still names `from`. A reader that meets an id half
/// written finds no such tree and reads every run.
#[cfg(unix)]
pub(super) fn move_tree(dir: &Path, text: &Text, from: &str, to: &str) -> bool {
    use std::io::Read;
    use std::os::unix::fs::FileExt;
    if from.len() != to.len() || from == to {
        return false;
    }
    let Ok(mut file) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.join(Part::Open.file()))
    else {
        return false;
    };
    // The mapping holds the inode it read: no other file can have it.
    if text.open_file.is_none() || file_id(&file) != text.open_file {
        return false;
    }
    let mut head = Vec::new();
    if (&mut file).take(HEAD).read_to_end(&mut head).is_err() {
        return false;
    }
    let Some(end) = head.iter().position(|&b| b == b'\n') else {
        return false;
    };
    // FORMAT, where the sorted lines end, the token, the count of runs,
    // then the tree.
    let mut fields = head[..end].split(|&b| b == b'\t');
    // Never into a part of another format, whatever its fields.
    if fields.next() != Some(FORMAT.as_bytes()) {
        return false;
    }
    let before: usize =
        FORMAT.len() + 1 + fields.by_ref().take(3).map(|f| f.len() + 1).sum::<usize>();
    fields.next() == Some(from.as_bytes())
        && file.write_all_at(to.as_bytes(), before as u64).is_ok()
}

#[cfg(not(unix))]
pub(super) fn move_tree(_: &Path, _: &Text, _: &str, _: &str) -> bool {
    false
}

/// Which of the first lines, then of the later ones, still count: a later
/// line replaces the run's earlier one (the last wins).
pub(super) fn supersede(text: &Text, first: &[Summary], later: &[Summary]) -> Vec<bool> {
    let mut keep = vec![true; first.len() + later.len()];
    if later.is_empty() {
        return keep;
    }
    let newest: HashMap<&[u8], usize> = later
        .iter()
        .enumerate()
        .map(|(i, s)| (text.raw(s.id.clone()), first.len() + i))
        .collect();
    for (i, s) in first.iter().chain(later).enumerate() {
        keep[i] = newest.get(text.raw(s.id.clone())).is_none_or(|&n| n == i);
    }
    keep
}
