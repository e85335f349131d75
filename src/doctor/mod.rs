//! `doctor`: every irregularity in `.nexo/` that a crash, a merge, a
//! person or a peer can leave, reported, and with `fix` repaired where
//! that loses no event. A verb of its own beside `crate::api`; may
//! import: `core`, `store`, `git`, `index`, `wire`, `workspace`, `trace`.

use std::collections::HashSet;
use std::path::Path;

use serde::Serialize;

use crate::core::error::Result;
use crate::store::{GITATTRIBUTES, HISTORY, NEXO_DIR, nofollow};
use crate::workspace::Nexo;

pub use quarantine::Quarantined;

mod found;
mod gitlinks;
mod layout;
mod lenient;
mod quarantine;
mod records;
mod templates;

/// What kind of problem `doctor` found; serialized in snake_case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    StaleView,
    MissingView,
    ExtraView,
    ConflictMarker,
    DuplicateEvent,
    UnreadableEvent,
    ConflictingEvent,
    IgnoredEvent,
    NotAFile,
    TornTail,
    MissingNewline,
    EmptyHistory,
    UnreadableRun,
    Gitattributes,
    Symlink,
    Gitlink,
    TemporaryFile,
    Uncommitted,
    IndexOutOfDate,
    DatedAhead,
    Template,
    OldLayout,
    ArchivedLater,
}

impl ProblemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::StaleView => "stale_view",
            ProblemKind::MissingView => "missing_view",
            ProblemKind::ExtraView => "extra_view",
            ProblemKind::ConflictMarker => "conflict_marker",
            ProblemKind::DuplicateEvent => "duplicate_event",
            ProblemKind::UnreadableEvent => "unreadable_event",
            ProblemKind::ConflictingEvent => "conflicting_event",
            ProblemKind::IgnoredEvent => "ignored_event",
            ProblemKind::NotAFile => "not_a_file",
            ProblemKind::TornTail => "torn_tail",
            ProblemKind::MissingNewline => "missing_newline",
            ProblemKind::EmptyHistory => "empty_history",
            ProblemKind::UnreadableRun => "unreadable_run",
            ProblemKind::Gitattributes => "gitattributes",
            ProblemKind::Symlink => "symlink",
            ProblemKind::Gitlink => "gitlink",
            ProblemKind::TemporaryFile => "temporary_file",
            ProblemKind::Uncommitted => "uncommitted",
            ProblemKind::IndexOutOfDate => "index_out_of_date",
            ProblemKind::DatedAhead => "dated_ahead",
            ProblemKind::Template => "template",
            ProblemKind::OldLayout => "old_layout",
            ProblemKind::ArchivedLater => "archived_later",
        }
    }
}

impl std::fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem `doctor` found.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    pub message: String,
    /// Whether `doctor --fix` repairs it.
    pub fixable: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    pub ok: bool,
    pub runs_checked: usize,
    pub goals_checked: usize,
    /// Templates in `.nexo/templates/`, each checked as opening a run
    /// from it would (a broken one is a problem, kind `template`).
    #[serde(skip_serializing_if = "crate::core::limits::is_zero")]
    pub templates_checked: usize,
    /// Every problem `--fix` cannot repair, and the first
    /// `core::limits::LISTED` of those it can.
    pub problems: Vec<Problem>,
    /// How many more problems `--fix` repairs were found, by kind: past
    /// the first `core::limits::LISTED` they are counted, not listed.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub problems_not_listed: std::collections::BTreeMap<ProblemKind, usize>,
    /// Decisions (and gate-passing updates) the approval policy does not
    /// honour, by run, event and reason. Reported, not failed on: a
    /// history is append-only, and a policy made stricter leaves earlier
    /// updates here (docs/approvals.md).
    pub unhonoured: Vec<UnhonouredDecision>,
    /// Writes to claimed steps by someone other than the holder (not a
    /// problem of the files: exit status unchanged).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trespasses: Vec<RunTrespass>,
    /// Events dated more than `claim::FUTURE_SKEW_SECONDS` ahead of this
    /// machine's clock (kind `dated_ahead`): they extend no lease until
    /// then. Named for a person to look at, not failed on: a history line
    /// is never rewritten, so nothing could clear them but time.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dated_ahead: Vec<Problem>,
    /// Suggestions about the repository, not problems: the exit status
    /// is unchanged (a large index written whole, say).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub advice: Vec<String>,
    /// Paths `--fix` rewrote: the first `core::limits::LISTED`.
    pub fixed: Vec<String>,
    /// How many more paths `--fix` rewrote, not listed.
    #[serde(skip_serializing_if = "crate::core::limits::is_zero")]
    pub fixed_not_listed: usize,
    /// Lines `--fix` moved out of histories because no nexo can read them,
    /// each kept byte for byte in the history's quarantine file.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub quarantined: Vec<Quarantined>,
    pub commit: Option<String>,
    /// Why the repairs were not committed, when they were not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_committed: Option<String>,
}

/// A write to a claimed step by someone other than its holder, that the
/// holder has not answered yet (`fold::Trespass`): kept, as every write is,
/// and listed for a person to check.
#[derive(Debug, Clone, Serialize)]
pub struct RunTrespass {
    pub run_id: String,
    #[serde(flatten)]
    pub trespass: crate::core::fold::Trespass,
}

#[derive(Debug, Clone, Serialize)]
pub struct UnhonouredDecision {
    pub run_id: String,
    #[serde(flatten)]
    pub decision: crate::core::fold::Unhonoured,
}

impl Nexo {
    /// Checks every run: histories readable, each event once, no conflict
    /// markers, views matching the history. With `fix`, rewrites what can
    /// be rewritten without losing an event, and commits it.
    pub fn doctor(&self, fix: bool) -> Result<DoctorReport> {
        let store = self.store();
        // Taking the lock also finishes a write a killed nexo left.
        let _lock = if fix { Some(self.lock()?) } else { None };
        if fix {
            self.see_to_merge_driver();
            self.repo().sweep(found::SPILL_PREFIX);
        }
        let mut found = found::Found::new(self.repo().git_dir());
        let mut fixed = Vec::new();
        let attributes = format!("{NEXO_DIR}/.gitattributes");
        // Links first: a link at .nexo/runs stops every listing below.
        found.problems(self.links(fix, &mut fixed)?);
        found.problems(self.not_files(fix, &mut fixed)?);
        found.problems(self.gitlinks()?);
        found.problems(self.old_layout(fix, &mut fixed)?);
        found.problems(self.archived_later(fix, &mut fixed)?);
        crate::trace::mark("doctor: links, layout and archive checked");
        let ids = store.run_ids()?;
        let goals = store.goal_ids()?;
        if !(ids.is_empty() && goals.is_empty())
            && store
                .read(&attributes)?
                .is_none_or(|t| t != GITATTRIBUTES.as_bytes())
        {
            found.problem(Problem {
                kind: ProblemKind::Gitattributes,
                path: format!("{NEXO_DIR}/.gitattributes"),
                line: None,
                message:
                    ".nexo/.gitattributes is missing or not nexo's: pulls may conflict on .nexo/"
                        .into(),
                fixable: true,
            });
            if fix && let Some(rel) = store.ensure_gitattributes()? {
                fixed.push(rel);
            }
        }
        found.fixed_all(fixed)?;
        let records: Vec<&str> = ids.iter().chain(&goals).map(String::as_str).collect();
        let mut checked = records::Checked::default();
        records::Checker::new(self, fix)
            .check_all(&records, &mut |block| checked.append(block, &mut found))?;
        crate::trace::mark("doctor: records checked");
        let templates_checked = self.check_templates(&mut found)?;
        let unreadable = quarantine::unreadable_paths(&found.problems);
        self.uncommitted(fix, &mut found, &unreadable)?;
        crate::trace::mark("doctor: uncommitted paths judged");
        // The commit's batches are the peak: what only the check needed
        // goes first (6 MB of ids and 5 MB of hashes at 100,000 runs).
        let (runs_checked, goals_checked) = (ids.len(), goals.len());
        drop(records);
        drop((ids, goals));
        found.forget_which_fixed();
        crate::memory::phase_done();
        let (commit, not_committed) = match fix && found.fixed_count > 0 {
            true => self.commit_repairs(&mut found)?,
            false => (None, None),
        };
        let remaining = if fix {
            found.problems.iter().any(|p| !p.fixable)
        } else {
            !found.problems.is_empty()
        };
        Ok(DoctorReport {
            ok: !remaining,
            runs_checked,
            goals_checked,
            templates_checked,
            problems: found.problems,
            problems_not_listed: found.not_listed,
            unhonoured: checked.unhonoured,
            trespasses: checked.trespasses,
            dated_ahead: checked.dated_ahead,
            advice: self.advice()?,
            fixed_not_listed: found.fixed_count - found.fixed.len(),
            fixed: found.fixed,
            quarantined: checked.quarantined,
            commit,
            not_committed,
        })
    }

    /// Suggestions about the repository (`DoctorReport::advice`).
    fn advice(&self) -> Result<Vec<String>> {
        let mut advice: Vec<String> = self.repo.split_index_advice().into_iter().collect();
        advice.extend(
            self.store()
                .runs_folder_bloat()?
                .map(layout::runs_folder_advice),
        );
        Ok(advice)
    }

    /// Commits every path `--fix` repaired: those past the listed ones
    /// join the pending list from their file first, so a kill at any
    /// point leaves the next command all of them.
    fn commit_repairs(&self, found: &mut found::Found) -> Result<(Option<String>, Option<String>)> {
        found.take_spilled(|paths| self.repo().append_pending(paths))?;
        // The repairs are written: a commit that cannot be made now (git's
        // index locked, say) is reported, and the next command makes it.
        let plan = match self.repo().plan_commit(self.no_commit()) {
            Ok(plan) => plan,
            Err(e) => {
                self.repo().add_pending(&found.fixed)?;
                let why = format!(
                    "{}. The repairs are written to .nexo/ and will be committed by the next nexo command or `nexo commit`",
                    e.message_with_causes()
                );
                return Ok((None, Some(why)));
            }
        };
        let message = format!(
            "nexo: doctor --fix repaired {}\n",
            crate::core::words::count(found.fixed_count, "file")
        );
        let info = self.repo().finish(plan, &found.fixed, &message)?;
        Ok((info.commit, info.pending_reason))
    }

    /// `.nexo/` paths not committed (left by --no-commit, a merge in
    /// progress, or a crash no writer has finished yet) and index entries
    /// that differ from HEAD (which a user's `git commit` would commit).
    /// `--fix` commits them.
    fn uncommitted(
        &self,
        fix: bool,
        found: &mut found::Found,
        unreadable: &HashSet<String>,
    ) -> Result<()> {
        let git = self.repo().cli();
        // What this --fix rewrote is committed with the repair: not
        // listed again (nor held: every view of 100,000 runs).
        let (pending, staged) = {
            let fixed: &found::Found = found;
            let keep = |p: &str| !(fix && fixed.was_fixed(p));
            self.repo().pending_and_staged(&keep)?
        };
        let mut report = |path: String, kind: ProblemKind, message: String| -> Result<()> {
            // A path this --fix rewrote is committed with the repair.
            if fix && found.was_fixed(&path) {
                return Ok(());
            }
            // What nexo cannot read, it never commits.
            let held = unreadable.contains(&path);
            found.problem(Problem {
                kind,
                message: match held {
                    true => format!(
                        "{path} is not committed, and --fix will not commit it while it holds a line nexo cannot read (named above)"
                    ),
                    false => message,
                },
                path: path.clone(),
                line: None,
                fixable: !held,
            });
            match fix && !held {
                true => found.fixed(path),
                false => Ok(()),
            }
        };
        for path in pending {
            let message = format!("{path} is written but not committed; --fix commits it");
            report(path, ProblemKind::Uncommitted, message)?;
        }
        let staged = match staged {
            Some(staged) => staged,
            None => staged_per_git(&git)?,
        };
        for path in staged {
            let message = format!(
                "git's index holds another version of {path} than HEAD, which your next `git commit` would commit; --fix brings it up to date"
            );
            report(path, ProblemKind::IndexOutOfDate, message)?;
        }
        Ok(())
    }

    /// Histories that are not regular files (a folder, a FIFO, a device):
    /// commands skip or refuse them, and never block on one. `--fix`
    /// removes what can hold no data (a FIFO, a socket, a device); a
    /// folder is the user's to look at.
    fn not_files(&self, fix: bool, fixed: &mut Vec<String>) -> Result<Vec<Problem>> {
        let root = self.store().root();
        let mut problems = Vec::new();
        for (folder, prefix) in self.store().record_folders()? {
            for (name, link) in nofollow::read_dir(root, Path::new(&folder))? {
                if link || !name.starts_with(prefix) {
                    continue;
                }
                let rel = format!("{folder}/{name}/{HISTORY}");
                let Ok(m) = std::fs::symlink_metadata(root.join(&rel)) else {
                    continue;
                };
                let Some(what) = nofollow::not_a_file(&m).filter(|_| !m.file_type().is_symlink())
                else {
                    continue;
                };
                let removable = !m.is_dir();
                let remedy = match removable {
                    true => "--fix removes it".to_string(),
                    false => format!(
                        "move it away, then `git checkout -- {rel}` restores the committed history"
                    ),
                };
                problems.push(Problem {
                    kind: ProblemKind::NotAFile,
                    message: format!(
                        "{rel} is {what}, not a history: every listing skips the run and every command refuses it; {remedy}"
                    ),
                    path: rel.clone(),
                    line: None,
                    fixable: removable,
                });
                if fix && removable {
                    self.store().remove(&rel)?;
                    fixed.push(rel);
                }
            }
        }
        Ok(problems)
    }

    /// Symbolic links under `.nexo/`: nexo never follows them, so each one
    /// is reported. `--fix` removes a link (never what it points to); views
    /// are then regenerated; `.nexo` itself as a link is removed too (the
    /// committed `.nexo/` comes back with `git checkout -- .nexo`).
    fn links(&self, fix: bool, fixed: &mut Vec<String>) -> Result<Vec<Problem>> {
        let root = self.store().root();
        let mut problems = Vec::new();
        if std::fs::symlink_metadata(root.join(NEXO_DIR)).is_ok_and(|m| m.file_type().is_symlink())
        {
            problems.push(Problem {
                kind: ProblemKind::Symlink,
                path: NEXO_DIR.into(),
                line: None,
                message: format!("{}", nofollow::link_error(Path::new(NEXO_DIR))),
                fixable: true,
            });
            if fix {
                // The link itself, never what it points to.
                std::fs::remove_file(root.join(NEXO_DIR)).map_err(|e| {
                    crate::core::error::Error::io("remove", &root.join(NEXO_DIR), e)
                })?;
                fixed.push(NEXO_DIR.into());
            }
            return Ok(problems);
        }
        let walk = walkdir::WalkDir::new(root.join(NEXO_DIR)).follow_links(false);
        for entry in walk.into_iter().filter_map(|e| e.ok()) {
            let temporary = entry
                .file_name()
                .to_string_lossy()
                .starts_with(nofollow::TMP_PREFIX);
            if !entry.path_is_symlink() && !temporary {
                continue;
            }
            let rel = entry
                .path()
                .strip_prefix(root)
                .expect("walked below the root")
                .to_string_lossy()
                .replace('\\', "/");
            let (kind, message) = match temporary {
                true => (
                    ProblemKind::TemporaryFile,
                    format!("{rel} was left by a killed nexo"),
                ),
                false => (
                    ProblemKind::Symlink,
                    format!("{rel} is a symbolic link; nexo never follows links under .nexo/"),
                ),
            };
            problems.push(Problem {
                kind,
                path: rel.clone(),
                line: None,
                message,
                fixable: true,
            });
            if fix {
                self.store().remove(&rel)?;
                fixed.push(rel);
            }
        }
        Ok(problems)
    }
}

/// The `.nexo/` paths whose index entry differs from HEAD, per git.
fn staged_per_git(git: &crate::git::cli::GitCli) -> Result<Vec<String>> {
    let staged = git.run(&[
        "diff",
        "--cached",
        "--name-only",
        "-z",
        "--no-renames",
        "--",
        NEXO_DIR,
    ])?;
    if !staged.status.success() {
        return Ok(Vec::new());
    }
    // NUL-separated: a line each would come quoted (`"\303\251"` for
    // `é`) as `core.quotePath` has it, and name no file.
    Ok(staged
        .stdout
        .split(|&b| b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect())
}
