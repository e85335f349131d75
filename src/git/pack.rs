//! The new blobs and trees of a long commit, written as packs.
//!
//! Regenerating every view of 100,000 runs makes 400,000 new blobs and
//! 200,000 new trees. As loose objects they were 600,000 files made and
//! renamed into place (most of a migration's time here, in the kernel),
//! and a repository that `git gc` then has to pack at once. git writes a
//! large import as a pack (`fast-import`); so does nexo when it commits
//! in batches (`bulk`): each new blob is compressed into a temporary pack
//! as it is read, and each new tree as the batch's edits make it, a new
//! pack every 65,536 objects. A later batch reads back the trees of the
//! pack in the making from its file (`Packs::tree`): no one else can read
//! them before it is in place. Before HEAD moves, the pack gets its header's count,
//! its checksum and an index (version 2), and goes into place under its
//! name, the index last, as git does: a pack without its index is not
//! read. A kill before then leaves `objects/pack/tmp_pack_nexo_*`, which
//! no commit refers to: the next long commit removes it once it is a
//! minute old and no process holds its lock (worktrees share the folder,
//! not nexo's lock; the name is nexo's own, never a pack git is
//! receiving), and `git gc` removes it as it does its own temporaries.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use gix::ObjectId;
use gix_zlib::Compression;
use gix_zlib::stream::deflate::Compress;
use sha1::Digest;

use crate::core::error::{Error, Result};

const TREE: u8 = 2;
const BLOB: u8 = 3;
/// What a pack in the making is called until it is complete.
pub(super) const TEMP_PREFIX: &str = "tmp_pack_nexo_";

/// How many objects a pack holds before the next one starts: what a
/// pack in the making keeps in memory (its index entries and ids, and
/// where its trees are, about 6 MB) stays the same however many objects
/// the commit makes, and a commit of 400,000 new blobs and 200,000 trees
/// makes ten packs, under git's `gc.autoPackLimit` of 50.
const PACK_OBJECTS: usize = 65_536;

/// The new blobs of one commit, in as many packs as they need, each
/// started when the first blob comes that needs it.
pub(super) struct Packs {
    objects: PathBuf,
    level: Compression,
    current: Option<Pack>,
    limit: usize,
    /// Where each tree of the pack in the making is in it, and its length
    /// there: no one else can read them until the pack is in place, and a
    /// later batch edits the folders above. Read back from the file, not
    /// held: 200,000 trees at 100,000 runs.
    trees: HashMap<ObjectId, (u64, usize)>,
}

impl Packs {
    pub(super) fn new(objects: &Path, level: Compression) -> Packs {
        Packs {
            objects: objects.to_path_buf(),
            level,
            current: None,
            limit: crate::trace::test_size("PACK_OBJECTS", PACK_OBJECTS),
            trees: HashMap::new(),
        }
    }

    /// Adds blob `id` with content `data`. A blob already in an earlier
    /// pack of this commit may go in again: git reads either copy.
    pub(super) fn add_blob(&mut self, id: ObjectId, data: &[u8]) -> Result<()> {
        self.open()?.add(BLOB, id, data).map(drop)
    }

    /// Adds tree `id` with content `data`, readable by [`Packs::tree`]
    /// until its pack is in place, and by git's reads after.
    pub(super) fn add_tree(&mut self, id: ObjectId, data: &[u8]) -> Result<()> {
        let pack = self.open()?;
        if let Some(place) = pack.add(TREE, id, data)? {
            self.trees.insert(id, place);
        }
        Ok(())
    }

    /// A tree of the pack in the making, read back from it.
    pub(super) fn tree(&mut self, id: &ObjectId) -> Result<Option<Vec<u8>>> {
        match (self.trees.get(id), &mut self.current) {
            (Some(&place), Some(pack)) => pack.read_back(place).map(Some),
            _ => Ok(None),
        }
    }

    /// The pack to add to: a new one when the last is full.
    fn open(&mut self) -> Result<&mut Pack> {
        if let Some(full) = self.current.take_if(|p| p.entries.len() >= self.limit) {
            full.finish()?;
            // In place: git's reads find them now.
            self.trees.clear();
        }
        if self.current.is_none() {
            self.current = Some(Pack::new(&self.objects, self.level)?);
        }
        Ok(self.current.as_mut().expect("opened above"))
    }

    /// Puts the last pack in place with its index.
    pub(super) fn finish(self) -> Result<()> {
        self.current.map_or(Ok(()), Pack::finish)
    }
}

/// A pack being written.
struct Pack {
    out: BufWriter<File>,
    temp: tempfile::TempPath,
    dir: PathBuf,
    /// Each object's id, the CRC-32 of its bytes in the pack, and where
    /// they start.
    entries: Vec<(ObjectId, u32, u64)>,
    /// The ids written, so a blob two paths share goes in once.
    written: HashSet<ObjectId>,
    at: u64,
    compress: Compress,
    scratch: Vec<u8>,
}

fn io<'p>(what: &'static str, path: &'p Path) -> impl Fn(std::io::Error) -> Error + 'p {
    move |e| Error::io(what, path, e)
}

impl Pack {
    /// A new pack in `objects/pack/`, compressed at `level`.
    fn new(objects: &Path, level: Compression) -> Result<Pack> {
        let dir = objects.join("pack");
        std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        let (file, temp) = read_only_temp(&dir)?.into_parts();
        // Held while the pack is written: another worktree's nexo (its
        // lock is its own) sweeps only what no process holds (`sweep`).
        let _ = file.try_lock();
        let mut out = BufWriter::with_capacity(256 * 1024, file);
        // The count is filled in by `finish`.
        out.write_all(b"PACK\0\0\0\x02\0\0\0\0")
            .map_err(io("write", &temp))?;
        Ok(Pack {
            out,
            temp,
            dir,
            entries: Vec::new(),
            written: HashSet::new(),
            at: 12,
            compress: Compress::new(level),
            scratch: Vec::new(),
        })
    }

    /// Adds object `id` of pack type `kind` with content `data`, unless
    /// it is in already. Where it went and its length there, when it did.
    fn add(&mut self, kind: u8, id: ObjectId, data: &[u8]) -> Result<Option<(u64, usize)>> {
        if !self.written.insert(id) {
            return Ok(None);
        }
        self.scratch.clear();
        // The type and size: four bits of size in the first byte, seven
        // in each next one, the high bit for "more".
        let mut size = data.len() as u64;
        let mut byte = (kind << 4) | (size & 0x0f) as u8;
        size >>= 4;
        while size != 0 {
            self.scratch.push(byte | 0x80);
            byte = (size & 0x7f) as u8;
            size >>= 7;
        }
        self.scratch.push(byte);
        self.compress.reset();
        super::loose::deflate(&mut self.compress, &[data], &mut self.scratch)?;
        self.out
            .write_all(&self.scratch)
            .map_err(io("write", &self.temp))?;
        let crc = crc32fast::hash(&self.scratch);
        self.entries.push((id, crc, self.at));
        let place = (self.at, self.scratch.len());
        self.at += self.scratch.len() as u64;
        Ok(Some(place))
    }

    /// The content of the object `add` put at `place`.
    fn read_back(&mut self, (at, len): (u64, usize)) -> Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        self.out.flush().map_err(io("write", &self.temp))?;
        let mut entry = vec![0; len];
        self.out
            .get_ref()
            .read_exact_at(&mut entry, at)
            .map_err(io("read", &self.temp))?;
        // The type and size, as `add` wrote them.
        let mut size = u64::from(entry[0] & 0x0f);
        let (mut shift, mut i) = (4, 0);
        while entry[i] & 0x80 != 0 {
            i += 1;
            size |= u64::from(entry[i] & 0x7f) << shift;
            shift += 7;
        }
        let mut out = vec![0; size as usize];
        let mut inflate = gix_zlib::Inflate::default();
        let unreadable =
            |why: String| Error::repo(format!("cannot read back a tree nexo packed: {why}"));
        let (status, _, written) = inflate
            .once(&entry[i + 1..], &mut out)
            .map_err(|e| unreadable(e.to_string()))?;
        if status != gix_zlib::Status::StreamEnd || written as u64 != size {
            return Err(unreadable(format!("{written} of its {size} bytes")));
        }
        Ok(out)
    }

    /// Puts the pack in place with its index; nothing when it is empty.
    fn finish(self) -> Result<()> {
        let Pack {
            out,
            temp,
            dir,
            mut entries,
            ..
        } = self;
        if entries.is_empty() {
            return Ok(());
        }
        let mut file = out
            .into_inner()
            .map_err(|e| Error::io("write", &temp, e.into_error()))?;
        let count = u32::try_from(entries.len())
            .map_err(|_| Error::repo("more than 4 billion objects in one commit"))?;
        file.seek(SeekFrom::Start(8)).map_err(io("write", &temp))?;
        file.write_all(&count.to_be_bytes())
            .map_err(io("write", &temp))?;
        let sum = checksum(&mut file, &temp)?;
        file.write_all(&sum).map_err(io("write", &temp))?;
        drop(file);
        entries.sort_unstable_by_key(|e| e.0);
        let index = index_v2(&entries, &sum);
        let hex = ObjectId::from_bytes_or_panic(&sum).to_string();
        let mut idx = read_only_temp(&dir)?;
        let _ = idx.as_file().try_lock();
        idx.write_all(&index).map_err(io("write", idx.path()))?;
        let pack_path = dir.join(format!("pack-{hex}.pack"));
        temp.persist(&pack_path)
            .map_err(|e| Error::io("move into place", &pack_path, e.error))?;
        let idx_path = dir.join(format!("pack-{hex}.idx"));
        idx.persist(&idx_path)
            .map_err(|e| Error::io("move into place", &idx_path, e.error))?;
        Ok(())
    }
}

/// A new file in `dir` named as nexo's packs in the making are, made
/// read-only less the umask, as git makes its packs and their indexes.
fn read_only_temp(dir: &Path) -> Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o444));
    builder
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)
        .map_err(|e| Error::io("create a temporary file in", dir, e))
}

/// Removes the packs in the making that a killed nexo left in
/// `objects/pack`. Worktrees share the folder but not nexo's lock, so a
/// file is left alone while a process holds its lock (a pack being
/// written) or was touched in the last minute (made, not yet locked).
pub(super) fn sweep(objects: &Path) {
    let dir = objects.join("pack");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let recent = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    for e in entries.filter_map(|e| e.ok()) {
        if !e.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            continue;
        }
        let Ok(file) = File::open(e.path()) else {
            continue;
        };
        let old = file
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t < recent);
        if old && file.try_lock().is_ok() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// The SHA-1 of the file's bytes so far, read again from the start.
fn checksum(file: &mut File, path: &Path) -> Result<[u8; 20]> {
    file.seek(SeekFrom::Start(0)).map_err(io("read", path))?;
    let mut hasher = sha1::Sha1::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io("read", path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().into())
}

/// A version 2 pack index of `entries` (sorted by id) for the pack whose
/// checksum is `sum`.
fn index_v2(entries: &[(ObjectId, u32, u64)], sum: &[u8; 20]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + 1024 + entries.len() * 28 + 40);
    out.extend_from_slice(b"\xfftOc\0\0\0\x02");
    let mut fanout = [0u32; 256];
    for (id, _, _) in entries {
        fanout[id.as_bytes()[0] as usize] += 1;
    }
    let mut total = 0;
    for n in fanout {
        total += n;
        out.extend_from_slice(&total.to_be_bytes());
    }
    for (id, _, _) in entries {
        out.extend_from_slice(id.as_bytes());
    }
    for (_, crc, _) in entries {
        out.extend_from_slice(&crc.to_be_bytes());
    }
    // Offsets past 2 GB go in a table of 8-byte offsets, named by index
    // with the high bit set.
    let mut large = Vec::new();
    for (_, _, at) in entries {
        match u32::try_from(*at).ok().filter(|a| a & 0x8000_0000 == 0) {
            Some(small) => out.extend_from_slice(&small.to_be_bytes()),
            None => {
                let n = 0x8000_0000 | large.len() as u32;
                out.extend_from_slice(&n.to_be_bytes());
                large.push(*at);
            }
        }
    }
    for at in large {
        out.extend_from_slice(&at.to_be_bytes());
    }
    out.extend_from_slice(sum);
    let own: [u8; 20] = sha1::Sha1::digest(&out).into();
    out.extend_from_slice(&own);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sweep takes what a killed process left (old and unlocked), never
    /// a pack another worktree's nexo is writing (locked) or has just made.
    #[test]
    fn the_sweep_leaves_a_pack_in_the_making_alone() {
        let objects = tempfile::tempdir().unwrap();
        let dir = objects.path().join("pack");
        std::fs::create_dir(&dir).unwrap();
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(600);
        let make = |name: &str, when: Option<std::time::SystemTime>| {
            let file = File::create(dir.join(name)).unwrap();
            if let Some(when) = when {
                file.set_modified(when).unwrap();
            }
            file
        };
        drop(make(&format!("{TEMP_PREFIX}left"), Some(old)));
        let held = make(&format!("{TEMP_PREFIX}held"), Some(old));
        held.try_lock().unwrap();
        drop(make(&format!("{TEMP_PREFIX}new"), None));
        drop(make("tmp_pack_gits", Some(old)));
        sweep(objects.path());
        let mut left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        let expected = [
            "tmp_pack_gits".to_string(),
            format!("{TEMP_PREFIX}held"),
            format!("{TEMP_PREFIX}new"),
        ];
        assert_eq!(left, expected);
        drop(held);
    }

    /// A tree of the pack in the making reads back byte for byte, whatever
    /// its size (one to three bytes of size before its data), between
    /// blobs, and still after more objects went in behind it; one of a
    /// pack already closed is no longer the pack in the making's to read.
    #[test]
    fn trees_read_back_from_the_pack_in_the_making() {
        let objects = tempfile::tempdir().unwrap();
        let mut packs = Packs::new(objects.path(), Compression::new(6).unwrap());
        packs.limit = 4;
        let id = |n: u8| ObjectId::from_bytes_or_panic(&[n; 20]);
        let small = vec![7u8; 12];
        let large: Vec<u8> = (0..40_000u32).map(|i| (i * 31 % 251) as u8).collect();
        packs.add_blob(id(1), b"a blob").unwrap();
        packs.add_tree(id(2), &small).unwrap();
        packs.add_tree(id(3), &large).unwrap();
        packs.add_blob(id(4), b"another").unwrap();
        assert_eq!(packs.tree(&id(2)).unwrap().as_deref(), Some(&small[..]));
        assert_eq!(packs.tree(&id(3)).unwrap().as_deref(), Some(&large[..]));
        assert_eq!(packs.tree(&id(1)).unwrap(), None, "a blob is not a tree");
        // The fifth object starts a new pack: the first is in place.
        packs.add_tree(id(5), &small).unwrap();
        assert_eq!(packs.tree(&id(3)).unwrap(), None);
        assert_eq!(packs.tree(&id(5)).unwrap().as_deref(), Some(&small[..]));
        packs.finish().unwrap();
    }

    #[test]
    fn offsets_past_2_gb_go_in_the_table_of_large_offsets() {
        let id = |b: u8| ObjectId::from_bytes_or_panic(&[b; 20]);
        let entries = [(id(1), 7, 12), (id(2), 8, 3 << 30), (id(9), 9, 5 << 30)];
        let index = index_v2(&entries, &[0xab; 20]);
        let fanout =
            |i: usize| u32::from_be_bytes(index[8 + 4 * i..12 + 4 * i].try_into().unwrap());
        assert_eq!((fanout(0), fanout(1), fanout(2), fanout(255)), (0, 1, 2, 3));
        let offsets = 8 + 1024 + 3 * 20 + 3 * 4;
        let word = |i: usize| {
            u32::from_be_bytes(
                index[offsets + 4 * i..offsets + 4 * i + 4]
                    .try_into()
                    .unwrap(),
            )
        };
        assert_eq!((word(0), word(1), word(2)), (12, 0x8000_0000, 0x8000_0001));
        let large = offsets + 12;
        let long = |i: usize| {
            u64::from_be_bytes(index[large + 8 * i..large + 8 * i + 8].try_into().unwrap())
        };
        assert_eq!((long(0), long(1)), (3 << 30, 5 << 30));
        assert_eq!(index.len(), large + 16 + 40);
        assert_eq!(&index[large + 16..large + 36], &[0xab; 20]);
    }
}

#[cfg(test)]
mod git_reads {
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Empty, large and incompressible blobs, and one twice, across packs.
    #[test]
    fn git_reads_empty_large_and_shared_blobs_across_packs() {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "-q"]);
        let objects = dir.path().join(".git/objects");
        let mut packs = Packs::new(&objects, Compression::new(1).unwrap());
        packs.limit = 2;
        let mut state = 0x1234_5678_u64;
        let mut noise = |n: usize| {
            (0..n)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect::<Vec<u8>>()
        };
        let blobs = [
            Vec::new(),
            noise(20 * 1024),
            noise(3 << 20),
            b"same".to_vec(),
            vec![b'a'; 5 << 20],
            b"same".to_vec(),
            Vec::new(),
        ];
        for data in &blobs {
            let id = gix::objs::compute_hash(gix::hash::Kind::Sha1, gix::objs::Kind::Blob, data)
                .unwrap();
            packs.add_blob(id, data).unwrap();
        }
        packs.finish().unwrap();
        for e in std::fs::read_dir(objects.join("pack")).unwrap() {
            let path = e.unwrap().path();
            if path.extension().is_some_and(|x| x == "idx") {
                git(dir.path(), &["verify-pack", "-v", path.to_str().unwrap()]);
                let pack = path.with_extension("pack");
                git(
                    dir.path(),
                    &["index-pack", "--verify", pack.to_str().unwrap()],
                );
            }
        }
        git(dir.path(), &["fsck", "--strict", "--no-progress"]);
        for data in &blobs {
            let id = gix::objs::compute_hash(gix::hash::Kind::Sha1, gix::objs::Kind::Blob, data)
                .unwrap()
                .to_string();
            let size = git(dir.path(), &["cat-file", "-s", &id]);
            assert_eq!(size.trim(), data.len().to_string());
        }
        git(dir.path(), &["repack", "-adq"]);
        git(dir.path(), &["fsck", "--strict", "--no-progress"]);
    }
}
