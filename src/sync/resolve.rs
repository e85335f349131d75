//! `resolve`: settling the `.nexo/` paths of a merge or rebase that git
//! stopped, in a clone where nexo's merge driver was missing.

use std::collections::{BTreeMap, HashSet};

use crate::wire::sync::ResolveReport;

use crate::core::error::Result;
use crate::core::event::Event;
use crate::core::layout::ARCHIVE_DIR;
use crate::git::cli::GitCli;
use crate::store::{GITATTRIBUTES, HISTORY, NEXO_DIR};
use crate::workspace::Nexo;

use crate::git::is_marker;

impl Nexo {
    /// Settles every conflicted `.nexo/` path of a merge or rebase in
    /// progress: histories become the union of both sides (each event
    /// once), views are regenerated from them, and the paths are staged.
    /// Conflicts in the user's own files are left alone.
    pub fn resolve(&self) -> Result<ResolveReport> {
        let root = self.store().root().to_path_buf();
        let git = self.repo().cli();
        let conflicted = git.ok(&["diff", "--name-only", "--diff-filter=U"])?;
        let (ours, others): (Vec<&str>, Vec<&str>) = conflicted
            .lines()
            .filter(|l| !l.is_empty())
            .partition(|p| p.starts_with(&format!("{NEXO_DIR}/")));
        let _lock = self.lock()?;
        let mut runs = BTreeMap::new();
        let mut staged = Vec::new();
        for path in &ours {
            // An archived run's history (a peer's line carried along the
            // rename): both sides' events, each once. Its views and note
            // are staged as they are; it comes back, views regenerated, at
            // the next refresh when it gained an event.
            if path.starts_with(&format!("{ARCHIVE_DIR}/")) {
                if path.ends_with(&format!("/{HISTORY}")) {
                    let merged = self.union_of_sides(&git, path)?;
                    self.store().replace(path, merged.as_bytes())?;
                }
                staged.push(path.to_string());
                continue;
            }
            let run = match crate::core::layout::record_of_path(path) {
                Some((id, false)) => id.to_string(),
                // A run still in layout 1's place (a peer that had not
                // upgraded): its file is staged as the merge left it, and
                // the upgrade that follows unites it with the run's
                // folder in layout 2, each event once.
                Some((_, true)) => {
                    staged.push(path.to_string());
                    continue;
                }
                None => {
                    // .nexo/.gitattributes or config: take the merged side's
                    // content if it is ours, else leave it to the user.
                    if *path == format!("{NEXO_DIR}/.gitattributes") {
                        self.store().replace(path, GITATTRIBUTES.as_bytes())?;
                        staged.push(path.to_string());
                    }
                    continue;
                }
            };
            runs.insert(run, ());
        }
        for run in runs.keys() {
            staged.extend(self.settle_history(&git, run)?);
        }
        // Conflicted paths we did not regenerate (a deleted view, say).
        for path in &ours {
            if !staged.iter().any(|s| s == path) && root.join(path).exists() {
                staged.push(path.to_string());
            }
        }
        staged.sort();
        staged.dedup();
        if !staged.is_empty() {
            let mut args = vec!["add", "--"];
            args.extend(staged.iter().map(String::as_str));
            git.ok(&args)?;
        }
        let gd = self.repo().git_dir();
        let rebase = gd.join("rebase-merge").exists() || gd.join("rebase-apply").exists();
        let next = next_step(&others, staged.is_empty(), rebase);
        Ok(ResolveReport {
            ok: true,
            resolved: staged,
            still_conflicted: others.into_iter().map(String::from).collect(),
            next,
        })
    }
}

impl Nexo {
    /// Rebuilds one run's or goal's conflicted history as both sides'
    /// events (stages 2 and 3, plus the working tree's), each once, and
    /// regenerates its views. Returns the paths to stage.
    fn settle_history(&self, git: &GitCli, id: &str) -> Result<Vec<String>> {
        let rel = crate::core::layout::history_rel(id);
        let merged = self.union_of_sides(git, &rel)?;
        self.store().replace(&rel, merged.as_bytes())?;
        let mut staged = vec![rel.clone()];
        let history = crate::store::parse_history(merged.as_bytes(), &rel)?;
        for (path, bytes) in self.render_events(id, history.events)? {
            self.store().write_if_changed(&path, &bytes)?;
            staged.push(path);
        }
        Ok(staged)
    }

    /// The conflicted history `rel` as both sides' events (stages 2 and 3,
    /// plus the working tree's), each once, markers and unreadable lines
    /// left out.
    fn union_of_sides(&self, git: &GitCli, rel: &str) -> Result<String> {
        let mut lines = Vec::new();
        for spec in [format!(":2:{rel}"), format!(":3:{rel}")] {
            if let Ok(out) = git.run(&["show", &spec])
                && out.status.success()
            {
                lines.extend(
                    String::from_utf8_lossy(&out.stdout)
                        .lines()
                        .map(String::from),
                );
            }
        }
        if let Some(t) = self.store().read(rel)? {
            lines.extend(String::from_utf8_lossy(&t).lines().map(String::from));
        }
        let mut seen = HashSet::new();
        let mut merged = String::new();
        for line in lines {
            if line.trim().is_empty() || is_marker(&line) {
                continue;
            }
            let Ok(e) = Event::from_line(&line, rel) else {
                continue;
            };
            if seen.insert(e.id) {
                merged.push_str(&line);
                merged.push('\n');
            }
        }
        Ok(merged)
    }
}

/// What the person does next, after `.nexo/` is settled.
fn next_step(others: &[&str], nothing_staged: bool, rebase: bool) -> String {
    let finish = if rebase {
        "`git rebase --continue`"
    } else {
        "`git commit`"
    };
    if !others.is_empty() {
        format!(
            "Your own files still conflict ({}); resolve them, then {finish}.",
            others.join(", ")
        )
    } else if nothing_staged {
        "Nothing in .nexo/ was conflicted.".into()
    } else if rebase {
        "Finish with `git rebase --continue`.".into()
    } else {
        "Finish the merge with `git commit`.".into()
    }
}
