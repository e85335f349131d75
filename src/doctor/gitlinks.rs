//! Submodules under `.nexo/`: a run's folder must be a plain folder of
//! plain files, and a gitlink (a submodule entry in git's index, or a
//! folder holding a `.git`, which a submodule's or a nested repository's
//! checkout has) is neither. A peer can commit one as easily as a link.
//! Links are `links`'s; these are named here. `--fix` leaves them: the
//! folder may be someone's repository.

use std::path::Path;

use super::{Problem, ProblemKind};
use crate::core::error::Result;
use crate::core::limits::quote_name;
use crate::store::{NEXO_DIR, nofollow};
use crate::workspace::Nexo;

/// The mode git gives a submodule's entry in a tree or the index.
const GITLINK_MODE: &str = "160000";

impl Nexo {
    /// Every gitlink under `.nexo/`, in the working tree and in git's
    /// index, each once, by path.
    pub(super) fn gitlinks(&self) -> Result<Vec<Problem>> {
        let mut problems = Vec::new();
        for path in self.gitlinks_in_index()? {
            problems.push(Problem {
                kind: ProblemKind::Gitlink,
                message: format!(
                    "{} is a submodule (a gitlink in git's index), not a folder of plain files. Remove the entry with `git rm --cached {}`; --fix will not, since it may be someone's repository",
                    quote_name(&path),
                    quote_name(&path)
                ),
                path,
                line: None,
                fixable: false,
            });
        }
        for path in self.gitlinks_in_worktree() {
            if problems.iter().any(|p| p.path == path) {
                continue;
            }
            problems.push(Problem {
                kind: ProblemKind::Gitlink,
                message: format!(
                    "{} holds a .git: it is a git repository or a submodule's checkout, not a folder of plain files. Move it out of {NEXO_DIR}/ by hand; --fix will not, since it may be someone's repository",
                    quote_name(&path)
                ),
                path,
                line: None,
                fixable: false,
            });
        }
        Ok(problems)
    }

    /// The paths under `.nexo/` that git's index holds as submodules.
    fn gitlinks_in_index(&self) -> Result<Vec<String>> {
        if let Ok(Some(found)) = self.repo().nexo_gitlinks() {
            return Ok(found);
        }
        let out = self
            .repo()
            .cli()
            .run(&["ls-files", "--stage", "-z", "--", NEXO_DIR])?;
        if !out.status.success() {
            return Ok(Vec::new());
        }
        Ok(out
            .stdout
            .split(|&b| b == 0)
            .filter_map(|entry| {
                // `<mode> <object> <stage>\t<path>`
                let entry = String::from_utf8_lossy(entry);
                let (meta, path) = entry.split_once('\t')?;
                meta.starts_with(GITLINK_MODE).then(|| path.to_string())
            })
            .collect())
    }

    /// The folders under `.nexo/` that hold a `.git` (a file or a folder),
    /// found without following a link or entering a `.git`.
    fn gitlinks_in_worktree(&self) -> Vec<String> {
        let root = self.store().root();
        // `.nexo` as a link is `links`'s to report; it is never walked.
        if !nofollow::check(root, Path::new(NEXO_DIR)).unwrap_or(false) {
            return Vec::new();
        }
        let mut walk = walkdir::WalkDir::new(root.join(NEXO_DIR))
            .follow_links(false)
            .follow_root_links(false)
            .into_iter();
        let mut out = Vec::new();
        while let Some(entry) = walk.next() {
            let Ok(e) = entry else { continue };
            if e.depth() == 0 || e.file_name() != ".git" {
                continue;
            }
            if let Some(folder) = e.path().parent().and_then(|f| f.strip_prefix(root).ok()) {
                out.push(rel(folder));
            }
            // A repository's insides are its own.
            if e.file_type().is_dir() {
                walk.skip_current_dir();
            }
        }
        out
    }
}

/// A path below the working tree as git writes it (`/` between parts).
fn rel(path: &Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}
