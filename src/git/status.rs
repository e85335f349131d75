//! What `git status` and `git diff --cached` say of `.nexo/`, found in one
//! ordered pass instead of asking git.
//!
//! In a repository of 100,000 runs each of those git commands decodes the
//! whole index (500,000 entries) and peaks at 140 MB, the status taking
//! seconds besides. Three streams come in the same order (git's path
//! order): the index read entry by entry (`index::stream`), HEAD's
//! `.nexo` tree walked depth first, and the working tree walked with each
//! folder's names in tree order. Each path is judged as it passes, so
//! memory holds one folder's listing per level, not the repository.
//!
//! A file's contents are read only when its stat data does not match its
//! index entry, or matches too closely to trust (git's "racy" case). nexo
//! hashes files as they are on disk, as its commits do.

use std::path::{Path, PathBuf};

use gix::ObjectId;
use gix::index::entry::Stat;

use super::index::stream::{Entry, Stream};
use super::{Repo, git_err};
use crate::core::error::{Error, Result};
use crate::store::NEXO_DIR;
use crate::store::nofollow::TMP_PREFIX;

const GITLINK: u32 = 0o160000;
const EXECUTABLE: u32 = 0o100755;
const SYMLINK: u32 = 0o120000;

/// `.nexo/`'s differences from HEAD.
pub struct Changes {
    /// Files that differ from HEAD, or are not in it, as `git status`
    /// lists them (existing regular files only): what `nexo commit` commits.
    pub pending: Vec<String>,
    /// Paths whose index entry differs from HEAD's (`git diff --cached`).
    pub staged: Vec<String>,
    /// Paths git's index holds (stage 0) that are not files on disk.
    pub missing: Vec<String>,
}

/// Whether a path as git spells it lies below `.nexo/`: asked of every
/// index entry, so without building the prefix each time.
fn below_nexo(path: &[u8]) -> bool {
    path.strip_prefix(NEXO_DIR.as_bytes())
        .is_some_and(|rest| rest.first() == Some(&b'/'))
}

/// One index entry without its path.
struct Staged {
    stage: u16,
    mode: u32,
    id: ObjectId,
    stat: Stat,
    assumed: bool,
}

impl Repo {
    /// `.nexo/`'s changes, or `None` when git must be asked: no index yet,
    /// a split or sparse index, a skip-worktree or intent-to-add entry or
    /// a folder holding a `.git` under `.nexo/`, or a setting that makes
    /// git convert files (`conversion`).
    pub(crate) fn nexo_changes(&self) -> Result<Option<Changes>> {
        self.nexo_changes_of(&|_| true)
    }

    /// `nexo_changes` of the paths `keep` admits: the others are not even
    /// held (400,000 new views `doctor --fix` has just written itself).
    pub(crate) fn nexo_changes_of(&self, keep: &dyn Fn(&str) -> bool) -> Result<Option<Changes>> {
        let path = self.repo.index_path();
        let kind = self.repo.object_hash();
        if self.may_convert() {
            return Ok(None);
        }
        let Some(stream) = self.plain_index()? else {
            return Ok(None);
        };
        let racy_from = gix::index::fs::Metadata::from_path_no_follow(&path)
            .ok()
            .and_then(|m| Stat::from_fs(&m).ok())
            .map(|s| s.mtime)
            .unwrap_or_default();
        let config = self.repo.config_snapshot();
        let mut pass = Pass {
            repo: self,
            index: IndexWalk::new(stream, kind)?,
            head: HeadWalk::new(self)?,
            files: FileWalk::new(&self.workdir),
            racy_from,
            exec_bit: config.boolean("core.fileMode").unwrap_or(true),
            symlinks: config.boolean("core.symlinks").unwrap_or(true),
            keep,
            changes: Changes {
                pending: Vec::new(),
                staged: Vec::new(),
                missing: Vec::new(),
            },
        };
        while let Some(key) = pass.next_path() {
            if !pass.judge(&key)? {
                return Ok(None);
            }
        }
        crate::memory::release();
        // git still compares a tracked file inside a folder holding a
        // `.git` (and lists its untracked files when that `.git` is no
        // repository); the walk leaves such folders out.
        if pass.files.nested || pass.files.converts {
            return Ok(None);
        }
        Ok(Some(pass.changes))
    }

    /// The `.nexo/` paths git's index holds as submodules; `None` when git
    /// must be asked.
    pub(crate) fn nexo_gitlinks(&self) -> Result<Option<Vec<String>>> {
        let Some(mut stream) = self.plain_index()? else {
            return Ok(None);
        };
        let mut e = Entry::new(self.repo.object_hash());
        let mut out = Vec::new();
        while stream.next_entry(&mut e)? {
            if e.mode() == GITLINK && below_nexo(&e.path) {
                out.push(String::from_utf8_lossy(&e.path).into_owned());
            }
        }
        Ok(Some(out))
    }

    /// The index, opened at its first entry, when it holds its entries
    /// itself: not split (most are in a shared file) nor sparse (an entry
    /// may stand for a folder). Read through once to see its extensions:
    /// ~60 ms at 500,000 entries, against git's seconds.
    fn plain_index(&self) -> Result<Option<Stream>> {
        let path = self.repo.index_path();
        let kind = self.repo.object_hash();
        let plain = match Stream::open(&path, kind)? {
            Some(s) => !s.split_or_sparse()?,
            None => false,
        };
        match plain {
            true => Stream::open(&path, kind),
            false => Ok(None),
        }
    }
}

struct Pass<'r> {
    repo: &'r Repo,
    index: IndexWalk,
    head: HeadWalk<'r>,
    files: FileWalk,
    /// An entry written in the same instant as the index (or later) may
    /// describe an older version of its file with the same stat data.
    racy_from: gix::index::entry::stat::Time,
    /// `core.fileMode`: false where the file system's executable bits
    /// mean nothing (a FAT drive, a Windows mount), and git ignores them.
    exec_bit: bool,
    /// `core.symlinks`: false where links cannot be made (Windows).
    symlinks: bool,
    keep: &'r dyn Fn(&str) -> bool,
    changes: Changes,
}

impl Pass<'_> {
    /// The least path any stream holds next.
    fn next_path(&self) -> Option<Vec<u8>> {
        [self.index.peek(), self.head.peek(), self.files.peek()]
            .into_iter()
            .flatten()
            .min()
            .map(<[u8]>::to_vec)
    }

    /// Takes `key` from every stream and records how it differs; `false`
    /// when an entry needs git's own judgement.
    fn judge(&mut self, key: &[u8]) -> Result<bool> {
        let Some(entries) = self.index.take(key)? else {
            return Ok(false);
        };
        let tip = self.head.take(key)?;
        let file = self.files.take(key)?;
        let stage0 = entries.iter().find(|e| e.stage == 0);
        let conflicted = entries.iter().any(|e| e.stage != 0);
        let staged = conflicted
            || match (stage0, tip) {
                (Some(e), Some((mode, id))) => e.id != id || e.mode != mode,
                (None, None) => false,
                _ => true,
            };
        let path = String::from_utf8_lossy(key).into_owned();
        if !(self.keep)(&path) {
            return Ok(true);
        }
        if staged {
            self.changes.staged.push(path.clone());
        }
        let Some(file) = file else {
            if stage0.is_some() {
                self.changes.missing.push(path);
            }
            return Ok(true);
        };
        let pending = match stage0 {
            _ if staged => true,
            None => true,
            Some(e) if e.assumed => false,
            Some(e) => self.worktree_differs(e, &file)?,
        };
        if pending {
            self.changes.pending.push(path);
        }
        Ok(true)
    }

    fn worktree_differs(&self, e: &Staged, file: &Path) -> Result<bool> {
        // Without symbolic links git checks a link out as a plain file
        // holding its target, and compares that file's contents.
        let link_as_file = !self.symlinks && e.mode & 0o170000 == SYMLINK;
        if e.mode & 0o170000 != 0o100000 && !link_as_file {
            return Ok(true);
        }
        let meta = gix::index::fs::Metadata::from_path_no_follow(file)
            .map_err(|err| Error::io("stat", file, err))?;
        if self.exec_bit && !link_as_file && meta.is_executable() != (e.mode == EXECUTABLE) {
            return Ok(true);
        }
        let racy = e.stat.mtime >= self.racy_from;
        if !racy && Stat::from_fs(&meta).is_ok_and(|s| s == e.stat) {
            return Ok(false);
        }
        let bytes = std::fs::read(file).map_err(|err| Error::io("read", file, err))?;
        let id =
            gix::objs::compute_hash(self.repo.repo.object_hash(), gix::objs::Kind::Blob, &bytes)
                .map_err(|err| git_err("cannot hash", err))?;
        Ok(id != e.id)
    }
}

/// The index's `.nexo/` entries, one path (all its stages) at a time.
struct IndexWalk {
    stream: Stream,
    current: Entry,
    has: bool,
}

impl IndexWalk {
    fn new(mut stream: Stream, kind: gix::hash::Kind) -> Result<IndexWalk> {
        let mut current = Entry::new(kind);
        let prefix = format!("{NEXO_DIR}/");
        let mut has = stream.next_entry(&mut current)?;
        while has && current.path.as_slice() < prefix.as_bytes() {
            has = stream.next_entry(&mut current)?;
        }
        let mut walk = IndexWalk {
            stream,
            current,
            has,
        };
        walk.stop_past_nexo();
        Ok(walk)
    }

    fn stop_past_nexo(&mut self) {
        if self.has && !below_nexo(&self.current.path) {
            self.has = false;
        }
    }

    fn peek(&self) -> Option<&[u8]> {
        self.has.then_some(self.current.path.as_slice())
    }

    /// The entries named `key` (none is `Some(empty)`); `None` when one is
    /// skip-worktree or intent-to-add.
    fn take(&mut self, key: &[u8]) -> Result<Option<Vec<Staged>>> {
        let mut out = Vec::new();
        while self.has && self.current.path == key {
            if self.current.special {
                return Ok(None);
            }
            out.push(Staged {
                stage: self.current.stage,
                mode: self.current.mode(),
                id: self.current.id,
                stat: self.current.fs_stat(),
                assumed: self.current.assumed,
            });
            self.has = self.stream.next_entry(&mut self.current)?;
            self.stop_past_nexo();
        }
        Ok(Some(out))
    }
}

/// A tree entry: name, mode and id.
type TreeItem = (Vec<u8>, u32, ObjectId);

/// HEAD's `.nexo` tree, depth first in tree order: every blob, link and
/// submodule with its mode and id.
struct HeadWalk<'r> {
    repo: &'r gix::Repository,
    hash_len: usize,
    /// Per level: the folder's path with a trailing `/`, its tree object's
    /// bytes (read entry by entry as the walk goes: layout 1's runs tree
    /// holds 100,000 of them), and where the next entry starts.
    stack: Vec<(Vec<u8>, Vec<u8>, usize)>,
    next: Option<TreeItem>,
}

impl<'r> HeadWalk<'r> {
    fn new(repo: &'r Repo) -> Result<HeadWalk<'r>> {
        let mut walk = HeadWalk {
            repo: &repo.repo,
            hash_len: repo.repo.object_hash().len_in_bytes(),
            stack: Vec::new(),
            next: None,
        };
        if let Some(tree) = repo.head_tree()?
            && let Some(e) = tree
                .lookup_entry_by_path(NEXO_DIR)
                .map_err(|e| git_err("cannot read HEAD's tree", e))?
            && e.mode().is_tree()
        {
            walk.push(format!("{NEXO_DIR}/").into_bytes(), e.object_id())?;
        }
        walk.advance()?;
        Ok(walk)
    }

    fn push(&mut self, folder: Vec<u8>, id: ObjectId) -> Result<()> {
        crate::memory::read_one();
        let tree = self
            .repo
            .find_tree(id)
            .map_err(|e| git_err("cannot read a tree", e))?;
        self.stack.push((folder, tree.detach().data, 0));
        Ok(())
    }

    fn advance(&mut self) -> Result<()> {
        self.next = None;
        while let Some((folder, data, at)) = self.stack.last_mut() {
            if *at == data.len() {
                self.stack.pop();
                continue;
            }
            let (name, mode, id, len) = super::tree::tree_entry(&data[*at..], self.hash_len)
                .ok_or_else(|| Error::repo("a tree in HEAD's .nexo is damaged"))?;
            *at += len;
            let mut path = folder.clone();
            path.extend_from_slice(name);
            if mode & 0o170000 == 0o040000 {
                path.push(b'/');
                self.push(path, id)?;
                continue;
            }
            self.next = Some((path, canonical(mode), id));
            return Ok(());
        }
        Ok(())
    }

    fn peek(&self) -> Option<&[u8]> {
        self.next.as_ref().map(|(p, _, _)| p.as_slice())
    }

    fn take(&mut self, key: &[u8]) -> Result<Option<(u32, ObjectId)>> {
        match &self.next {
            Some((p, mode, id)) if p == key => {
                let found = (*mode, *id);
                self.advance()?;
                Ok(Some(found))
            }
            _ => Ok(None),
        }
    }
}

/// A tree entry's mode as git reads it (`canon_mode`): an old or
/// hand-made tree's `100664` is a plain file, not a change of mode.
fn canonical(mode: u32) -> u32 {
    match mode & 0o170000 {
        0o100000 if mode & 0o100 != 0 => EXECUTABLE,
        0o100000 => 0o100644,
        0o120000 | 0o040000 => mode & 0o170000,
        _ => GITLINK,
    }
}

/// The regular files below `.nexo/` in git's path order, leaving out
/// nexo's temporary files and any nested repository (git lists one as a
/// folder, never its files).
struct FileWalk {
    workdir: PathBuf,
    /// Per level: the folder, its entries in tree order, how many taken.
    stack: Vec<(PathBuf, Vec<Listed>, usize)>,
    next: Option<(Vec<u8>, PathBuf)>,
    /// A `.git` was met, whose folder's files the walk did not judge.
    nested: bool,
    /// A `.gitattributes` under `.nexo/` sets an attribute that makes git
    /// convert files (`conversion`): git must be asked.
    converts: bool,
}

/// A folder's entry: its name as git spells it (a folder's with `/`
/// after it, so that plain byte order is git's tree order), and whether
/// it is a folder or a regular file.
struct Listed {
    key: Vec<u8>,
    name: std::ffi::OsString,
    folder: bool,
    file: bool,
}

impl FileWalk {
    fn new(workdir: &Path) -> FileWalk {
        let root = workdir.join(NEXO_DIR);
        let mut files = FileWalk {
            workdir: workdir.to_path_buf(),
            stack: Vec::new(),
            next: None,
            nested: false,
            converts: false,
        };
        // `.nexo` itself as a link or a file holds nothing to walk.
        if std::fs::symlink_metadata(&root).is_ok_and(|m| m.is_dir())
            && let Some(listed) = list(&root, false, &mut files.nested)
        {
            files.stack.push((root, listed, 0));
            files.advance();
        }
        files
    }

    fn advance(&mut self) {
        self.next = None;
        while let Some((folder, listed, taken)) = self.stack.last_mut() {
            let Some(entry) = listed.get(*taken) else {
                self.stack.pop();
                continue;
            };
            *taken += 1;
            let path = folder.join(&entry.name);
            if entry.folder {
                if let Some(inner) = list(&path, true, &mut self.nested) {
                    self.stack.push((path, inner, 0));
                }
                continue;
            }
            let temporary = entry.key.starts_with(TMP_PREFIX.as_bytes());
            if entry.file && entry.name == ".gitattributes" {
                self.converts |=
                    std::fs::read(&path).is_ok_and(|t| super::conversion::converts(&t));
            }
            if let (true, false, Ok(rel)) =
                (entry.file, temporary, path.strip_prefix(&self.workdir))
            {
                self.next = Some((git_path(rel), path));
                return;
            }
        }
    }

    fn peek(&self) -> Option<&[u8]> {
        self.next.as_ref().map(|(p, _)| p.as_slice())
    }

    fn take(&mut self, key: &[u8]) -> Result<Option<PathBuf>> {
        match &self.next {
            Some((p, abs)) if p == key => {
                let abs = abs.clone();
                self.advance();
                Ok(Some(abs))
            }
            _ => Ok(None),
        }
    }
}

/// `folder`'s entries in tree order, its `.git` left out (and `git_met`
/// set); `None` when `nested` and a `.git` makes it a repository of its
/// own, or when it cannot be read. The types come with the names (no
/// stat per entry).
fn list(folder: &Path, nested: bool, git_met: &mut bool) -> Option<Vec<Listed>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(folder).ok()? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        if name == ".git" {
            *git_met = true;
            if nested {
                return None;
            }
            continue;
        }
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let mut key = git_path(Path::new(&name));
        if kind.is_dir() {
            key.push(b'/');
        }
        out.push(Listed {
            key,
            name,
            folder: kind.is_dir(),
            file: kind.is_file(),
        });
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Some(out)
}

/// A path below the working tree as git's index spells it.
fn git_path(rel: &Path) -> Vec<u8> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        rel.as_os_str().as_bytes().to_vec()
    }
    #[cfg(not(unix))]
    {
        rel.to_string_lossy().replace('\\', "/").into_bytes()
    }
}
