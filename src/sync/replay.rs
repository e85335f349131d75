//! nexo's own unpushed commit replayed on the fetched upstream, in process
//! (docs/sync.md, "A fleet on one remote"). Histories are append-only, so
//! their merge is a union of lines, each event once; views follow from the
//! merged histories; anything else may have changed on one side only.
//! Whatever does not fit (the upstream changed something of the user's,
//! both sides changed one other file, a sealed segment, a file removed,
//! more than one commit to replay) is left to `git rebase`.

use std::collections::{BTreeSet, HashSet};

use crate::core::error::Result;
use crate::core::layout::{HISTORY, QUARANTINE};
use crate::git::Sides;
use crate::git::cli::GitCli;
use crate::workspace::Nexo;

impl Nexo {
    /// Replays HEAD, nexo's one commit ahead of `@{u}`, on `@{u}`; `false`
    /// when it does not fit (then git rebases). Under the lock.
    pub(super) fn replay_own(&self, git: &GitCli) -> Result<bool> {
        if git.count("@{u}..HEAD")? != 1 {
            return Ok(false);
        }
        let oid = |spec: &str| -> Result<Option<gix::ObjectId>> {
            Ok(gix::ObjectId::from_hex(git.rev(spec)?.as_bytes()).ok())
        };
        let (Some(ours), Some(theirs)) = (oid("HEAD")?, oid("@{u}")?) else {
            return Ok(false);
        };
        let Some(base) = self.repo().merge_base(ours, theirs)? else {
            return Ok(false);
        };
        let repo = self.repo();
        if !repo.nexo_only_since(base, theirs)? || !repo.nexo_only_since(base, ours)? {
            return Ok(false);
        }
        let Some(files) = merged(repo.nexo_sides(base, ours, theirs)?) else {
            return Ok(false);
        };
        let records: BTreeSet<String> = files
            .iter()
            .filter_map(|(p, _)| crate::core::layout::record_of_history(p))
            .map(str::to_string)
            .collect();
        // Every path the replay decides goes into the commit, whether or
        // not its file here already holds it: the commit is built on the
        // upstream's tree, which has none of ours.
        let mut paths: Vec<String> = files.iter().map(|(p, _)| p.clone()).collect();
        self.write_files(files)?;
        for id in &records {
            // A record that does not fold is doctor's to report.
            if let Ok(views) = self.render_record(id) {
                paths.extend(views.iter().map(|(p, _)| p.clone()));
                self.write_files(views)?;
            }
        }
        paths.sort();
        paths.dedup();
        let message = git.ok(&["log", "-1", "--format=%B", "HEAD"])?;
        let plan = repo.plan_commit(false)?;
        let info = repo.finish_onto(plan, theirs, ours, &paths, message.trim_end())?;
        Ok(info.committed)
    }
}

/// The content of every path after the replay, or `None` when some path
/// does not fit a replay.
fn merged(sides: Vec<Sides>) -> Option<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::with_capacity(sides.len());
    for s in sides {
        let content = match (s.base, s.ours, s.theirs) {
            // A sealed segment, or a file gone on either side: git's.
            _ if s.path.contains("/history/") => return None,
            (Some(_), None, _) | (Some(_), _, None) => return None,
            (_, Some(ours), Some(theirs)) if is_history(&s.path) => union(&theirs, &ours),
            // Views are regenerated from the merged histories.
            (_, _, Some(theirs)) if is_view(&s.path) => theirs,
            (_, Some(ours), None) => ours,
            (_, None, Some(theirs)) => theirs,
            (base, Some(ours), Some(theirs)) => {
                match (Some(&ours) == base.as_ref(), Some(&theirs) == base.as_ref()) {
                    (true, _) => theirs,
                    (_, true) => ours,
                    _ if ours == theirs => ours,
                    _ => return None,
                }
            }
            (_, None, None) => continue,
        };
        out.push((s.path, content));
    }
    Some(out)
}

fn is_history(path: &str) -> bool {
    path.ends_with(&format!("/{HISTORY}")) || path.ends_with(&format!("/{QUARANTINE}"))
}

fn is_view(path: &str) -> bool {
    path.ends_with(".yaml") && crate::core::layout::record_of_path(path).is_some()
}

/// `theirs`, then every line of `ours` it lacks, in `ours`'s order: each
/// event once, whatever either side had.
fn union(theirs: &[u8], ours: &[u8]) -> Vec<u8> {
    let mut out = theirs.to_vec();
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    let mut seen: HashSet<&[u8]> = theirs.split(|&b| b == b'\n').collect();
    for line in ours.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        if seen.insert(line) {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_union_keeps_each_line_once_theirs_first() {
        assert_eq!(union(b"a\nb\n", b"a\nc\nb\nd\n"), b"a\nb\nc\nd\n");
        assert_eq!(union(b"a", b"b\n"), b"a\nb\n");
        assert_eq!(union(b"", b"x\n"), b"x\n");
    }

    #[test]
    fn what_does_not_fit_is_left_to_git() {
        let side = |path: &str, b: Option<&str>, o: Option<&str>, t: Option<&str>| Sides {
            path: path.into(),
            base: b.map(|s| s.as_bytes().to_vec()),
            ours: o.map(|s| s.as_bytes().to_vec()),
            theirs: t.map(|s| s.as_bytes().to_vec()),
        };
        let h = ".nexo/runs/WF-A/history.jsonl";
        let fits = merged(vec![side(h, Some("a\n"), Some("a\nb\n"), Some("a\nc\n"))]).unwrap();
        assert_eq!(fits[0].1, b"a\nc\nb\n");
        let config = ".nexo/config.yaml";
        assert!(merged(vec![side(config, Some("x"), Some("y"), Some("z"))]).is_none());
        assert!(merged(vec![side(config, Some("x"), Some("x"), Some("z"))]).is_some());
        let segment = ".nexo/runs/WF-A/history/0001.jsonl";
        assert!(merged(vec![side(segment, None, Some("a"), None)]).is_none());
        assert!(merged(vec![side(h, Some("a\n"), None, Some("a\n"))]).is_none());
    }
}
