//! Each fan-out folder's stamp as the open part last trusted them
//! (`summaries-folders`, beside the parts). A run that comes or goes
//! changes the digest the open part records; with each folder's stamp
//! kept too, a read lists only the leaves that changed (about a hundred
//! runs each at 100,000 runs) instead of reading every run.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use super::text::Header;
use super::{Result, SummaryIndex, folder_key, settled};
use crate::store::{Folder, Stamp};

const FILE: &str = "summaries-folders";

/// Each folder's stamp by its path below `.nexo/runs`.
pub(super) type Stamps = [(String, Stamp)];

/// Each folder's inode, modification time and how many runs it held.
pub(super) type Recorded = HashMap<String, (u64, i128, usize)>;

/// How the leaves' counts of runs were made, last on the file's first
/// line: by a read of every run (`all`), which vouches for both parts at
/// these stamps, or by a quick read that listed the leaves that changed
/// (`leaves`), which vouches for the open part alone: it cannot tell a
/// closed run gone from the closed part's lines when another came (the
/// counts stay), so `list --all` reads every run once before trusting
/// the closed part at these stamps.
const EVERY_RUN_READ: &str = "all";
const LEAVES_LISTED: &str = "leaves";

/// Writes the stamps the folder key `key` was made of, with how many runs
/// each leaf held (`runs`) and whether every run was read to count them
/// (`every`), best effort: a file that is missing or of another key only
/// costs a read of every run.
pub(super) fn write(
    dir: &Path,
    key: (i128, u64),
    all: &[(String, Stamp)],
    runs: &HashMap<String, usize>,
    every: bool,
) -> bool {
    let how = if every { EVERY_RUN_READ } else { LEAVES_LISTED };
    // When the stamps were recorded: a run folder untouched since, in a
    // leaf that changed later, was there then.
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut out = format!("{}\t{}\t{how}\t{at}\n", key.0, key.1);
    for (path, s) in all {
        let n = runs.get(path).copied().unwrap_or(0);
        out.push_str(&format!("{path}\t{}\t{}\t{n}\n", s.ino, s.mtime_ns));
    }
    let Ok(mut tmp) = tempfile::NamedTempFile::new_in(dir) else {
        return false;
    };
    tmp.write_all(out.as_bytes()).is_ok() && tmp.persist(dir.join(FILE)).is_ok()
}

/// Whether the stamps of the folder key `key` are recorded by a read of
/// every run (its first line alone is read): then both parts held every
/// run at them.
pub(super) fn every_run_read_at(dir: &Path, key: (i128, u64)) -> bool {
    use std::io::BufRead;
    let Ok(file) = std::fs::File::open(dir.join(FILE)) else {
        return false;
    };
    let mut first = String::new();
    let _ = std::io::BufReader::new(file).read_line(&mut first);
    first.starts_with(&format!("{}\t{}\t{EVERY_RUN_READ}\t", key.0, key.1))
}

/// The stamps recorded with the folder key `key`, by folder (`None`: no
/// such file, or one of another key, or damaged),
/// and when they were recorded (nanoseconds).
pub(super) fn read(dir: &Path, key: (i128, u64)) -> Option<(Recorded, i128)> {
    let text = std::fs::read_to_string(dir.join(FILE)).ok()?;
    let mut lines = text.lines();
    let mut first = lines.next()?.split('\t');
    let found: (i128, u64) = (first.next()?.parse().ok()?, first.next()?.parse().ok()?);
    let _how = first.next()?;
    let at: i128 = first.next()?.parse().ok()?;
    if found != key {
        return None;
    }
    let recorded = lines
        .map(|l| {
            let mut f = l.split('\t');
            let path = f.next()?.to_string();
            let (ino, mtime) = (f.next()?.parse().ok()?, f.next()?.parse().ok()?);
            Some((path, (ino, mtime, f.next()?.parse().ok()?)))
        })
        .collect::<Option<Recorded>>()?;
    Some((recorded, at))
}

/// The leaves (`7/K`) whose runs may differ from what was recorded: each
/// whose stamp changed, and each new one. `None` when a leaf recorded is
/// gone (its runs went; reading every run tells which). The runs folder
/// and the first-level folders hold no run, so their own changes (a leaf
/// made, a stray file) are told by the leaves alone.
pub(super) fn changed_leaves(recorded: &Recorded, now: &[(String, Stamp)]) -> Option<Vec<String>> {
    let mut leaves = Vec::new();
    let mut found = 0;
    for (path, s) in now.iter().filter(|(p, _)| p.contains('/')) {
        match recorded.get(path) {
            Some(&(ino, mtime, _)) => {
                found += 1;
                if (ino, mtime) != (s.ino, s.mtime_ns) {
                    leaves.push(path.clone());
                }
            }
            None => leaves.push(path.clone()),
        }
    }
    let recorded_leaves = recorded.keys().filter(|p| p.contains('/')).count();
    (found == recorded_leaves).then_some(leaves)
}

/// A folder key to record, with the stamps it was made of and how many
/// runs each leaf holds.
pub(super) type Record = ((i128, u64), Vec<(String, Stamp)>, HashMap<String, usize>);

/// What the folders say since the open part last trusted them.
#[derive(Default)]
pub(super) struct Came {
    /// The runs in the leaves that changed: each may have come there.
    pub runs: Vec<String>,
    /// How many more runs the changed leaves hold than were recorded.
    pub more: i64,
    /// The folder key to record, once its stamps are settled.
    pub record: Option<Record>,
}

impl SummaryIndex<'_> {
    /// The stamps of the histories `names` (below `.nexo/runs`), and what
    /// the folders say since the part `o` trusted them: the runs of every
    /// leaf that changed. `None` when they cannot tell (nothing recorded
    /// to compare with, a leaf gone) or a history is missing: reading
    /// every run tells then.
    pub(super) fn stamped_since(
        &self,
        o: &Header,
        folder: &Folder,
        names: &[String],
    ) -> Result<Option<(Vec<Stamp>, Came)>> {
        let Some(trusted) = o.folder else {
            return Ok(None);
        };
        let (now, stamps) = self.while_folders_read(names.len(), || folder.stamps(names));
        let (Some(now), Some(stamps)) = (now, stamps.into_iter().collect::<Option<Vec<_>>>())
        else {
            return Ok(None);
        };
        let digest = crate::store::fanout::digest(&now);
        let key = folder_key(digest);
        if key == trusted {
            return Ok(Some((stamps, Came::default())));
        }
        // Layout 1 keeps its runs in the runs folder itself: no leaf tells
        // where a run came.
        if crate::trace::flat_layout() {
            return Ok(None);
        }
        let Some((recorded, at)) = read(&self.store.cache_dir(), trusted) else {
            return Ok(None);
        };
        // A run folder that came since was made or renamed after the
        // recording; the kernel's clock for that may lag the one read
        // then by a tick, and two seconds of margin cost a few folds.
        let since = at - super::SETTLED.as_nanos() as i128;
        let Some(leaves) = changed_leaves(&recorded, &now) else {
            return Ok(None);
        };
        let mut counts: HashMap<String, usize> = (recorded.iter())
            .map(|(path, &(_, _, n))| (path.clone(), n))
            .collect();
        let (mut runs, mut more) = (Vec::new(), 0i64);
        for leaf in leaves {
            // Only a run whose folder changed since the recording may
            // have come (the rest were there, as recorded); in a new leaf
            // every one.
            let since = recorded.contains_key(&leaf).then_some(since);
            let (total, came) = self.store.runs_in_leaf(&leaf, since)?;
            more += total as i64 - counts.get(&leaf).copied().unwrap_or(0) as i64;
            counts.insert(leaf, total);
            runs.extend(came);
        }
        let record = settled(&digest).then_some((key, now, counts));
        Ok(Some((stamps, Came { runs, more, record })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(ino: u64, mtime_ns: i128) -> Stamp {
        Stamp {
            len: 0,
            mtime_ns,
            ino,
        }
    }

    #[test]
    fn a_changed_or_new_leaf_is_listed_and_a_gone_one_reads_every_run() {
        let dir = tempfile::tempdir().unwrap();
        let all = vec![
            (String::new(), stamp(1, 10)),
            ("7".to_string(), stamp(2, 10)),
            ("7/K".to_string(), stamp(3, 10)),
            ("7/M".to_string(), stamp(4, 10)),
        ];
        let runs = HashMap::from([("7/K".to_string(), 3)]);
        assert!(write(dir.path(), (10, 99), &all, &runs, false));
        assert!(!every_run_read_at(dir.path(), (10, 99)), "leaves listed");
        assert!(read(dir.path(), (10, 98)).is_none(), "another key");
        let (recorded, _) = read(dir.path(), (10, 99)).unwrap();
        assert_eq!(recorded["7/K"], (3, 10, 3));
        assert_eq!(recorded["7/M"].2, 0);
        assert_eq!(changed_leaves(&recorded, &all), Some(vec![]));
        let mut now = all.clone();
        now[1].1 = stamp(2, 20);
        now[2].1 = stamp(3, 20);
        now.push(("7/N".to_string(), stamp(5, 20)));
        assert_eq!(
            changed_leaves(&recorded, &now),
            Some(vec!["7/K".to_string(), "7/N".to_string()])
        );
        now.retain(|(p, _)| p != "7/M");
        assert_eq!(changed_leaves(&recorded, &now), None);
        assert!(write(dir.path(), (10, 99), &all, &runs, true));
        assert!(every_run_read_at(dir.path(), (10, 99)));
        assert!(!every_run_read_at(dir.path(), (10, 98)));
        assert_eq!(read(dir.path(), (10, 99)).map(|(r, _)| r), Some(recorded));
    }
}
