//! The runs folder in layout 2: `.nexo/runs/<c1>/<c2>/<RUN_ID>/` (see
//! `core::layout`). Listing it reads 1 + 32 + 1,024 small folders instead
//! of one with an entry per run; the leaves are read on two threads.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::folder::{names_at, open_dir_nofollow, stat_all};
use super::{Stamp, Store, nofollow};
use crate::core::error::{Error, Result};
use crate::core::id::{GOAL_PREFIX, RUN_PREFIX};
use crate::core::layout::{ARCHIVE_DIR, GOALS_DIR, RUNS_DIR, is_shard};

/// A leaf folder of the fan-out, open.
struct Leaf {
    file: File,
    path: PathBuf,
}

impl Store {
    /// The fan-out folders below `.nexo/runs` (`None`: no runs folder), as
    /// paths relative to the working tree; a folder that is a link is left
    /// out (`nexo doctor` reports it).
    pub fn run_leaves(&self) -> Result<Option<Vec<String>>> {
        self.leaves_below(RUNS_DIR)
    }

    /// The runs in the archive (`nexo archive`), sorted: a listing of its
    /// fan-out, for `list --archived` and `doctor`, never for live reads.
    pub fn archived_run_ids(&self) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        for leaf in self.leaves_below(ARCHIVE_DIR)?.unwrap_or_default() {
            for (name, link) in nofollow::read_dir(&self.root, Path::new(&leaf))? {
                if !link
                    && crate::core::model::validate_name("run_id", &name).is_ok()
                    && self.root.join(&leaf).join(&name).is_dir()
                {
                    ids.push(name);
                }
            }
        }
        ids.sort_unstable();
        Ok(ids)
    }

    /// The fan-out folders below `base` (`.nexo/runs` or the archive).
    fn leaves_below(&self, base: &str) -> Result<Option<Vec<String>>> {
        let runs = Path::new(base);
        if !nofollow::check(&self.root, runs)? {
            return Ok(None);
        }
        let mut leaves = Vec::new();
        for (first, link) in nofollow::read_dir(&self.root, runs)? {
            if link || !is_shard(&first) {
                continue;
            }
            let mid = runs.join(&first);
            if !self.root.join(&mid).is_dir() {
                continue;
            }
            for (second, link) in nofollow::read_dir(&self.root, &mid)? {
                if !link && is_shard(&second) {
                    leaves.push(format!("{base}/{first}/{second}"));
                }
            }
        }
        leaves.sort_unstable();
        Ok(Some(leaves))
    }

    /// Every folder that holds records' folders directly, with the prefix
    /// of their ids: the fan-out's leaves, then the goals folder.
    pub fn record_folders(&self) -> Result<Vec<(String, &'static str)>> {
        let mut out: Vec<(String, &'static str)> = match crate::trace::flat_layout() {
            true => vec![(RUNS_DIR.to_string(), RUN_PREFIX)],
            false => (self.run_leaves()?.unwrap_or_default().into_iter())
                .map(|leaf| (leaf, RUN_PREFIX))
                .collect(),
        };
        out.push((GOALS_DIR.to_string(), GOAL_PREFIX));
        Ok(out)
    }

    /// Every run id with its history's [`Stamp`], in no particular order:
    /// one lstat a run, the leaves on two threads.
    pub(super) fn stamped_fanned(&self) -> Result<Vec<(String, Stamp)>> {
        let Some(leaves) = self.run_leaves()? else {
            return Ok(Vec::new());
        };
        let read = |leaves: &[String]| -> Result<Vec<(String, Stamp)>> {
            let mut out = Vec::new();
            for rel in leaves {
                let path = self.root.join(rel);
                let Some(file) = open_dir_nofollow(&path) else {
                    out.extend(self.stamped_slowly(rel)?);
                    continue;
                };
                let leaf = Leaf { file, path };
                let names = names_at(&leaf.file, RUN_PREFIX)
                    .map_err(|e| Error::io("read", &leaf.path, e))?;
                let stamps = stat_all(&leaf.file, &names);
                out.extend(
                    names
                        .into_iter()
                        .zip(stamps)
                        .filter_map(|(name, stamp)| Some((name, stamp?))),
                );
            }
            Ok(out)
        };
        let (first, second) = leaves.split_at(leaves.len() / 2);
        std::thread::scope(|s| {
            let one = s.spawn(|| read(first));
            let mut two = read(second)?;
            let mut all = one.join().expect("listing threads do not panic")?;
            all.append(&mut two);
            Ok(all)
        })
    }

    /// How many runs one fan-out leaf (`7/K`, below `.nexo/runs`) holds,
    /// links left out, and those whose folder changed (its inode's change
    /// time) at or after `since` (nanoseconds; `None`: every one): where a
    /// run came since the folders were last trusted. A run folder comes by
    /// a rename or a creation, both of which set it; one that was there
    /// and untouched is not looked at again.
    pub fn runs_in_leaf(&self, leaf: &str, since: Option<i128>) -> Result<(usize, Vec<String>)> {
        let rel = Path::new(RUNS_DIR).join(leaf);
        let names = self.run_names_in(&rel)?;
        let total = names.len();
        let Some(since) = since else {
            return Ok((total, names));
        };
        let dir = self.root.join(rel);
        let changed = |name: &String| {
            std::fs::symlink_metadata(dir.join(name)).map_or(true, |m| change_time(&m) >= since)
        };
        Ok((total, names.into_iter().filter(changed).collect()))
    }

    /// The names of the runs in folder `rel`, links left out.
    fn run_names_in(&self, rel: &Path) -> Result<Vec<String>> {
        Ok(nofollow::read_dir(&self.root, rel)?
            .into_iter()
            .filter(|(name, link)| !link && name.starts_with(RUN_PREFIX))
            .map(|(name, _)| name)
            .collect())
    }

    /// A leaf read by paths, where a folder cannot be opened as a file.
    fn stamped_slowly(&self, rel: &str) -> Result<Vec<(String, Stamp)>> {
        let names = self.run_names_in(Path::new(rel))?;
        let stamps = super::Folder {
            file: None,
            path: self.root.join(rel),
        }
        .stamps(&names);
        Ok(names
            .into_iter()
            .zip(stamps)
            .filter_map(|(name, stamp)| Some((name, stamp?)))
            .collect())
    }

    /// The stamps of the fan-out folders, by full paths (where a folder
    /// cannot be opened as a file).
    fn shard_stamps_by_path(&self, runs: &Path) -> Option<Vec<(String, Stamp)>> {
        let mut all = Vec::new();
        for (first, link) in nofollow::read_dir(&self.root, runs).ok()? {
            if link || !is_shard(&first) {
                continue;
            }
            let mid = runs.join(&first);
            let m = std::fs::symlink_metadata(self.root.join(&mid)).ok()?;
            all.push((first.clone(), Stamp::of(&m)));
            for (second, link) in nofollow::read_dir(&self.root, &mid).ok()? {
                if !link && is_shard(&second) {
                    let m = std::fs::symlink_metadata(self.root.join(&mid).join(&second)).ok()?;
                    all.push((format!("{first}/{second}"), Stamp::of(&m)));
                }
            }
        }
        Some(all)
    }

    /// A stamp of the runs folder and every fan-out folder in it: it
    /// changes whenever a run appears, disappears or is replaced anywhere
    /// below (each folder's modification time does), at 1,057 lstats.
    /// Its time is the newest of theirs; its inode a digest of all.
    pub fn runs_folder_stamp(&self) -> Option<Stamp> {
        self.runs_folder_stamps().map(|all| digest(&all))
    }

    /// The stamps [`Store::runs_folder_stamp`] is made of, by each
    /// folder's path below `.nexo/runs` (`""` for the runs folder itself,
    /// then `7` and `7/K`): what tells which folders a run came or went
    /// in.
    pub fn runs_folder_stamps(&self) -> Option<Vec<(String, Stamp)>> {
        let runs = Path::new(RUNS_DIR);
        let top = std::fs::symlink_metadata(self.root.join(runs)).ok()?;
        if !top.is_dir() || nofollow::check(&self.root, runs).is_err() {
            return None;
        }
        let mut all = vec![(String::new(), Stamp::of(&top))];
        if !crate::trace::flat_layout() {
            match open_dir_nofollow(&self.root.join(runs)) {
                // Relative to the open folders: a full path's walk for
                // each of 1,056 folders was most of what `list` cost.
                Some(dir) => all.extend(super::folder::shard_stamps(&dir)?),
                None => all.extend(self.shard_stamps_by_path(runs)?),
            }
        }
        Some(all)
    }
}

/// One stamp for many folders: its time is the newest of theirs, its
/// inode a digest of all (a sum of each folder's digest, so the order
/// folders are read in does not matter).
pub fn digest(all: &[(String, Stamp)]) -> Stamp {
    let digest = all.iter().fold(0u64, |sum, (_, s)| {
        let one = [s.ino, s.mtime_ns as u64, (s.mtime_ns >> 64) as u64]
            .iter()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, v| {
                (h ^ v).wrapping_mul(0x0000_0100_0000_01b3)
            });
        sum.wrapping_add(one)
    });
    Stamp {
        len: all.len() as u64,
        mtime_ns: all.iter().map(|(_, s)| s.mtime_ns).max().unwrap_or(0),
        ino: digest,
    }
}

/// A file's inode change time in nanoseconds (its modification time where
/// there is none).
fn change_time(m: &std::fs::Metadata) -> i128 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec())
    }
    #[cfg(not(unix))]
    {
        Stamp::of(m).mtime_ns
    }
}
