//! File access under `.nexo/` that never follows a symbolic link.
//!
//! A peer can commit `.nexo/runs/<id>/steps -> ../../..`; git checks the
//! link out as a link, and a naive `write` through it would overwrite the
//! user's files outside `.nexo/`. So every component of every path below
//! the working tree is checked with `lstat` before use, and the final file
//! is opened with `O_NOFOLLOW`. A link anywhere is refused with an error
//! naming it. (A local process racing nexo to swap a checked directory for
//! a link is out of scope: it could write those files itself.)

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind as IoKind, Write};
use std::path::{Component, Path, PathBuf};

use crate::core::error::{Error, ErrorKind, Result};

/// The error for a link found at `rel` (relative to the working tree).
pub fn link_error(rel: &Path) -> Error {
    let rel = rel.to_string_lossy().replace('\\', "/");
    Error::new(
        ErrorKind::Corrupt,
        format!(
            "refusing to follow the symbolic link {rel}: nexo never reads or writes through a link under .nexo/"
        ),
    )
    .with_hint(format!(
        "`nexo doctor --fix` removes it (never what it points to) and regenerates the views; or `git rm {rel}`"
    ))
}

/// What one component of a path turned out to be.
enum Step {
    Missing,
    Dir,
    Other,
}

/// Walks `rel` below `root` one component at a time, refusing a link at
/// any of them, and calls `visit` with each component's absolute path,
/// its path relative to `root`, and what it is. `visit` returns whether
/// to go on.
fn walk(
    root: &Path,
    rel: &Path,
    mut visit: impl FnMut(&Path, &Path, Step) -> Result<bool>,
) -> Result<bool> {
    let mut path = root.to_path_buf();
    let mut so_far = PathBuf::new();
    for comp in rel.components() {
        let Component::Normal(name) = comp else {
            return Err(Error::invalid(format!(
                "{} is not a plain relative path",
                rel.display()
            )));
        };
        path.push(name);
        so_far.push(name);
        let step = match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => return Err(link_error(&so_far)),
            Ok(m) if m.is_dir() => Step::Dir,
            Ok(_) => Step::Other,
            Err(e) if e.kind() == IoKind::NotFound => Step::Missing,
            Err(e) => return Err(Error::io("inspect", &path, e)),
        };
        if !visit(&path, &so_far, step)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Checks every component of `rel` below `root` that exists: none may be a
/// symbolic link. Returns whether the whole path exists.
pub fn check(root: &Path, rel: &Path) -> Result<bool> {
    walk(root, rel, |_, _, step| Ok(!matches!(step, Step::Missing)))
}

/// Creates the directory `rel` and its parents, refusing links on the way.
pub fn create_dir_all(root: &Path, rel: &Path) -> Result<()> {
    walk(root, rel, |path, so_far, step| {
        match step {
            Step::Dir => return Ok(true),
            Step::Other => {
                return Err(Error::new(
                    ErrorKind::Corrupt,
                    format!("{} is a file where nexo needs a folder", so_far.display()),
                ));
            }
            Step::Missing => {}
        }
        match fs::create_dir(path) {
            Ok(()) => Ok(true),
            // Created by someone else between the check and now: check again.
            Err(e) if e.kind() == IoKind::AlreadyExists => {
                if fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
                    return Err(link_error(so_far));
                }
                Ok(true)
            }
            Err(e) => Err(Error::io("create", path, e)),
        }
    })
    .map(|_| ())
}

/// Never through a link, and never blocking: a FIFO planted where a file
/// belongs would otherwise hang the command until it is killed (the
/// flag changes nothing for a regular file).
fn no_follow(opts: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    opts
}

/// What a path holds instead of a regular file, in words, if it does.
pub fn not_a_file(m: &fs::Metadata) -> Option<&'static str> {
    let t = m.file_type();
    if t.is_file() {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return Some("a named pipe (FIFO)");
        }
        if t.is_socket() {
            return Some("a socket");
        }
        if t.is_block_device() || t.is_char_device() {
            return Some("a device");
        }
    }
    Some(if t.is_dir() {
        "a folder"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    })
}

/// The error for something other than a regular file at `rel`.
pub fn not_a_file_error(rel: &Path, what: &str) -> Error {
    let rel = rel.to_string_lossy().replace('\\', "/");
    Error::new(
        ErrorKind::Corrupt,
        format!("{rel} is {what} where nexo keeps a file; nexo reads only regular files under .nexo/"),
    )
    .with_hint(format!(
        "see `nexo doctor`; remove it (`rm {rel}`, or `git rm -r {rel}` for a folder) and `git checkout -- {rel}` restores the committed file"
    ))
}

/// Whether a folder on the way to `rel` is a file (not a link: those are
/// refused by name).
fn below_a_file(root: &Path, rel: &Path) -> bool {
    rel.ancestors()
        .skip(1)
        .filter(|a| !a.as_os_str().is_empty())
        .any(|a| fs::symlink_metadata(root.join(a)).is_ok_and(|m| m.is_file()))
}

/// Opens the regular file `rel` with `opts`, never through a link and
/// never blocking; anything else there (a folder, a FIFO, a device) is
/// refused by name. `Ok(None)` when it does not exist (and `opts` does not
/// create it).
pub fn open(root: &Path, rel: &Path, opts: &OpenOptions) -> Result<Option<File>> {
    if let Some(parent) = rel.parent() {
        check(root, parent)?;
    }
    let path = root.join(rel);
    let mut opts = opts.clone();
    match no_follow(&mut opts).open(&path) {
        Ok(f) => {
            let m = f.metadata().map_err(|e| Error::io("inspect", &path, e))?;
            match not_a_file(&m) {
                Some(what) => Err(not_a_file_error(rel, what)),
                None => Ok(Some(f)),
            }
        }
        // A FIFO opened for writing with no reader.
        #[cfg(unix)]
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
            Err(not_a_file_error(rel, "a named pipe (FIFO)"))
        }
        // A folder opened for writing.
        Err(e) if fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) => {
            let _ = e;
            Err(not_a_file_error(rel, "a folder"))
        }
        Err(e) if e.kind() == IoKind::NotFound => Ok(None),
        // O_NOFOLLOW on a link fails with ELOOP.
        Err(e) if is_link_refusal(&e) || fs::symlink_metadata(&path).is_ok_and(is_link) => {
            Err(link_error(rel))
        }
        Err(e) => Err(Error::io("open", &path, e)),
    }
}

/// Whether `rel` below `root` is itself a symbolic link.
pub fn is_link_at(root: &Path, rel: &Path) -> bool {
    fs::symlink_metadata(root.join(rel)).is_ok_and(is_link)
}

fn is_link(m: fs::Metadata) -> bool {
    m.file_type().is_symlink()
}

fn is_link_refusal(e: &std::io::Error) -> bool {
    #[cfg(unix)]
    {
        e.raw_os_error() == Some(libc::ELOOP)
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

/// Reads `rel` whole; `Ok(None)` when it does not exist.
pub fn read(root: &Path, rel: &Path) -> Result<Option<Vec<u8>>> {
    let mut file = match open_beneath(root, rel) {
        Some(found) => match regular(root, rel, found, true)? {
            Some(file) => file,
            None => return Ok(None),
        },
        None => {
            // A folder where a file is expected holds no file content
            // (git's view too: the path as a file is gone); a FIFO or
            // device is refused.
            if fs::symlink_metadata(root.join(rel)).is_ok_and(|m| m.is_dir()) {
                check(root, rel)?;
                return Ok(None);
            }
            // Below a file (a folder that became a file): no such file,
            // as git sees it, rather than an error no commit gets past.
            if below_a_file(root, rel) {
                return Ok(None);
            }
            let Some(file) = open(root, rel, OpenOptions::new().read(true))? else {
                return Ok(None);
            };
            file
        }
    };
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut file, &mut bytes)
        .map_err(|e| Error::io("read", &root.join(rel), e))?;
    Ok(Some(bytes))
}

/// `open` for reading: the same refusals, in one system call where the
/// kernel can make them.
pub fn open_read(root: &Path, rel: &Path) -> Result<Option<File>> {
    match open_beneath(root, rel) {
        Some(found) => regular(root, rel, found, false),
        None => open(root, rel, OpenOptions::new().read(true)),
    }
}

/// What `open_beneath` opened, if it is a regular file; a folder is no
/// file (`Ok(None)`) when `folder_is_none`, else refused like a FIFO.
fn regular(
    root: &Path,
    rel: &Path,
    found: Option<File>,
    folder_is_none: bool,
) -> Result<Option<File>> {
    let Some(file) = found else { return Ok(None) };
    let m = file
        .metadata()
        .map_err(|e| Error::io("inspect", &root.join(rel), e))?;
    match not_a_file(&m) {
        None => Ok(Some(file)),
        Some(_) if folder_is_none && m.is_dir() => Ok(None),
        Some(what) => Err(not_a_file_error(rel, what)),
    }
}

/// Opens `rel` read-only with one call that refuses a link at any of its
/// components (`RESOLVE_NO_SYMLINKS`) and any way out of `root`
/// (`RESOLVE_BENEATH`), where `check` spends an lstat per component: a
/// run's view is six folders deep, and `doctor` reads 500,000 files at
/// 100,000 runs. `Some(None)`: missing. `None` leaves the decision to
/// the checked walk: no openat2 (an old kernel, a sandbox), a link met
/// (the walk names it), or any other error.
#[cfg(target_os = "linux")]
fn open_beneath(root: &Path, rel: &Path) -> Option<Option<File>> {
    use rustix::fs::OFlags;
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK;
    beneath(root, rel, flags).map(|found| found.map(File::from))
}

/// `read_dir`'s listing by the same one call: `None` leaves it to the
/// checked walk.
#[cfg(target_os = "linux")]
fn list_beneath(root: &Path, rel: &Path) -> Option<Vec<(String, bool)>> {
    use rustix::fs::{AtFlags, FileType, OFlags};
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW;
    let Some(fd) = beneath(root, rel, flags)? else {
        return Some(Vec::new());
    };
    let mut out = Vec::new();
    let mut dir = rustix::fs::Dir::new(fd).ok()?;
    while let Some(entry) = dir.read() {
        let entry = entry.ok()?;
        let Ok(name) = entry.file_name().to_str() else {
            continue;
        };
        if name == "." || name == ".." {
            continue;
        }
        // A file system that leaves types out of its listings (DT_UNKNOWN:
        // XFS without ftype, some FUSE and network mounts) is asked per
        // name, as std's `file_type` does: else a link passes for a file.
        let kind = match entry.file_type() {
            FileType::Unknown => {
                let at = dir.fd().ok()?;
                let st =
                    rustix::fs::statat(at, entry.file_name(), AtFlags::SYMLINK_NOFOLLOW).ok()?;
                FileType::from_raw_mode(st.st_mode)
            }
            known => known,
        };
        out.push((name.to_string(), kind == FileType::Symlink));
    }
    out.sort();
    Some(out)
}

#[cfg(target_os = "linux")]
fn beneath(
    root: &Path,
    rel: &Path,
    flags: rustix::fs::OFlags,
) -> Option<Option<rustix::fd::OwnedFd>> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    if rel.as_os_str().is_empty() || rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    // Opened afresh each time: a cached descriptor would outlive a working
    // tree removed and made again at the same path.
    let dir = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let how = ResolveFlags::NO_SYMLINKS | ResolveFlags::BENEATH;
    match rustix::fs::openat2(&dir, rel, flags | OFlags::CLOEXEC, Mode::empty(), how) {
        Ok(fd) => Some(Some(fd)),
        Err(rustix::io::Errno::NOENT) => Some(None),
        Err(_) => None,
    }
}

#[cfg(not(target_os = "linux"))]
fn open_beneath(_: &Path, _: &Path) -> Option<Option<File>> {
    None
}

#[cfg(not(target_os = "linux"))]
fn list_beneath(_: &Path, _: &Path) -> Option<Vec<(String, bool)>> {
    None
}

/// Prefix of nexo's temporary files.
pub const TMP_PREFIX: &str = ".nexo-tmp-";

/// Replaces `rel` with `bytes` by writing a temporary file and renaming it
/// over, so readers never see half a file. The target may not be a link.
/// The temporary file is made in `tmp_dir` (nexo's folder in the git
/// directory), so a process killed halfway leaves nothing in `.nexo/`;
/// only when that folder is on another file system is it made beside the
/// target. Not flushed: views are derived and rewritten whenever they do
/// not match the history.
pub fn write_atomic(root: &Path, rel: &Path, bytes: &[u8], tmp_dir: &Path) -> Result<()> {
    replace(root, rel, bytes, tmp_dir, false)
}

/// `write_atomic`, flushed to disk with the folder entry before returning:
/// for a new history, the one file that is the truth.
pub fn write_durable(root: &Path, rel: &Path, bytes: &[u8], tmp_dir: &Path) -> Result<()> {
    replace(root, rel, bytes, tmp_dir, true)
}

fn replace(root: &Path, rel: &Path, bytes: &[u8], tmp_dir: &Path, durable: bool) -> Result<()> {
    let dir_rel = rel.parent().unwrap_or(Path::new(""));
    create_dir_all(root, dir_rel)?;
    let path = root.join(rel);
    if fs::symlink_metadata(&path).is_ok_and(is_link) {
        return Err(link_error(rel));
    }
    let _ = fs::create_dir(tmp_dir);
    let tmp = temporary(tmp_dir, &path, bytes, durable)?;
    crate::trace::crash_point("before-rename");
    let tmp = match tmp.persist(&path) {
        Ok(_) => None,
        Err(e) if e.error.raw_os_error() == Some(EXDEV) => Some(e.file),
        Err(e) => return Err(Error::io("replace", &path, e.error)),
    };
    if let Some(tmp) = tmp {
        drop(tmp);
        temporary(&root.join(dir_rel), &path, bytes, durable)?
            .persist(&path)
            .map_err(|e| Error::io("replace", &path, e.error))?;
    }
    if durable {
        File::open(root.join(dir_rel))
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io("flush", &root.join(dir_rel), e))?;
    }
    Ok(())
}

#[cfg(unix)]
const EXDEV: i32 = libc::EXDEV;
#[cfg(not(unix))]
const EXDEV: i32 = 17;

fn temporary(
    dir: &Path,
    target: &Path,
    bytes: &[u8],
    durable: bool,
) -> Result<tempfile::NamedTempFile> {
    let mut tmp = temp_file_in(dir)?;
    tmp.write_all(bytes)
        .map_err(|e| Error::io("write", target, e))?;
    if durable {
        tmp.as_file()
            .sync_data()
            .map_err(|e| Error::io("flush", target, e))?;
    }
    Ok(tmp)
}

/// A temporary file in `dir` with the mode of an ordinary new file: 0666
/// less the umask, as git and every editor create files (tempfile's own
/// default, 0600, would survive the rename into place, and files that are
/// committed and shared would come out private).
pub fn temp_file_in(dir: &Path) -> Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(TMP_PREFIX);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    builder
        .tempfile_in(dir)
        .map_err(|e| Error::io("create a temporary file in", dir, e))
}

/// Removes `rel` if it is a file or a link (a link is removed, never
/// followed). Missing is fine.
pub fn remove_file(root: &Path, rel: &Path) -> Result<()> {
    if let Some(parent) = rel.parent() {
        check(root, parent)?;
    }
    let path = root.join(rel);
    match fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == IoKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", &path, e)),
    }
}

/// The names in folder `rel`, with whether each is a link; empty when the
/// folder does not exist. The folder itself may not be a link.
pub fn read_dir(root: &Path, rel: &Path) -> Result<Vec<(String, bool)>> {
    if let Some(found) = list_beneath(root, rel) {
        return Ok(found);
    }
    if !check(root, rel)? {
        return Ok(Vec::new());
    }
    let path = root.join(rel);
    let entries = match fs::read_dir(&path) {
        Ok(e) => e,
        Err(e) if e.kind() == IoKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("read", &path, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("read", &path, e))?;
        let Some(name) = entry.file_name().to_str().map(String::from) else {
            continue;
        };
        let link = entry.file_type().is_ok_and(|t| t.is_symlink());
        out.push((name, link));
    }
    out.sort();
    Ok(out)
}

/// Removes temporary files a killed nexo left in folder `rel`. Only called
/// under nexo's lock, when no other nexo process can be writing one.
pub fn sweep_temporaries(root: &Path, rel: &Path) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for (name, _) in read_dir(root, rel)? {
        if name.starts_with(TMP_PREFIX) {
            let file = rel.join(&name);
            remove_file(root, &file)?;
            removed.push(file);
        }
    }
    Ok(removed)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree() -> (tempfile::TempDir, tempfile::TempDir) {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join(".nexo/runs/R")).unwrap();
        (root, outside)
    }

    #[test]
    fn a_link_at_any_level_is_refused_by_name() {
        let (root, outside) = tree();
        symlink(outside.path(), root.path().join(".nexo/runs/R/steps")).unwrap();
        let rel = Path::new(".nexo/runs/R/steps/a.yaml");
        let e = write_atomic(root.path(), rel, b"x", outside.path()).unwrap_err();
        assert!(
            e.message.contains("symbolic link .nexo/runs/R/steps"),
            "{}",
            e.message
        );
        assert!(read(root.path(), rel).is_err());
        assert!(check(root.path(), rel).is_err());
        assert!(create_dir_all(root.path(), Path::new(".nexo/runs/R/steps/x")).is_err());
        assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_link_as_the_file_itself_is_neither_read_nor_replaced() {
        let (root, outside) = tree();
        let secret = outside.path().join("secret");
        fs::write(&secret, "secret").unwrap();
        let rel = Path::new(".nexo/runs/R/history.jsonl");
        symlink(&secret, root.path().join(rel)).unwrap();
        assert!(read(root.path(), rel).is_err());
        assert!(write_atomic(root.path(), rel, b"x", outside.path()).is_err());
        let mut append = OpenOptions::new();
        append.append(true);
        assert!(open(root.path(), rel, &append).is_err());
        assert_eq!(fs::read_to_string(&secret).unwrap(), "secret");
        // Removing the link removes the link, never its target.
        remove_file(root.path(), rel).unwrap();
        assert!(secret.exists());
    }

    #[test]
    fn plain_files_are_written_whole_and_read_back() {
        let (root, _) = tree();
        let tmp = root.path().join("tmp");
        let rel = Path::new(".nexo/runs/R/steps/a.yaml");
        write_atomic(root.path(), rel, b"one", &tmp).unwrap();
        write_durable(root.path(), rel, b"two", &tmp).unwrap();
        assert_eq!(read(root.path(), rel).unwrap().unwrap(), b"two");
        assert_eq!(fs::read_dir(&tmp).unwrap().count(), 0, "no temporary left");
        assert_eq!(read(root.path(), Path::new(".nexo/none")).unwrap(), None);
    }

    #[test]
    fn reads_refuse_links_and_what_is_not_a_file_on_either_path() {
        let (root, outside) = tree();
        fs::write(outside.path().join("secret"), "secret").unwrap();
        symlink(outside.path(), root.path().join(".nexo/runs/L")).unwrap();
        let through = Path::new(".nexo/runs/L/secret");
        assert!(read(root.path(), through).is_err());
        assert!(open_read(root.path(), through).is_err());
        // A folder where a file belongs: no file to read, refused to open.
        let folder = Path::new(".nexo/runs/R");
        assert_eq!(read(root.path(), folder).unwrap(), None);
        assert!(open_read(root.path(), folder).is_err());
        let fifo = root.path().join(".nexo/runs/R/pipe");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let rel = Path::new(".nexo/runs/R/pipe");
        assert!(read(root.path(), rel).unwrap_err().message.contains("FIFO"));
        assert!(open_read(root.path(), rel).is_err());
        assert!(
            open_read(root.path(), Path::new(".nexo/runs/R/none"))
                .unwrap()
                .is_none()
        );
        assert!(
            open_read(root.path(), Path::new(".nexo/missing/none"))
                .unwrap()
                .is_none()
        );
    }
}
