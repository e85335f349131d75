//! `doctor`: every irregularity in `.nexo/` that a crash, a merge, a
//! person or a peer can leave, reported, and with `fix` repaired where
//! that loses no event.

use std::collections::HashSet;
use std::path::Path;

use serde::Serialize;

use crate::api::Nexo;
use crate::error::Result;
use crate::event::Event;
use crate::id::GOAL_PREFIX;
use crate::store::{GITATTRIBUTES, HISTORY, NEXO_DIR, Store, nofollow};

use super::is_marker;

/// What kind of problem `doctor` found; serialized in snake_case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    StaleView,
    MissingView,
    ExtraView,
    ConflictMarker,
    DuplicateEvent,
    UnreadableEvent,
    TornTail,
    MissingNewline,
    EmptyHistory,
    UnreadableRun,
    Gitattributes,
    Symlink,
    TemporaryFile,
    Uncommitted,
    IndexOutOfDate,
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
            ProblemKind::TornTail => "torn_tail",
            ProblemKind::MissingNewline => "missing_newline",
            ProblemKind::EmptyHistory => "empty_history",
            ProblemKind::UnreadableRun => "unreadable_run",
            ProblemKind::Gitattributes => "gitattributes",
            ProblemKind::Symlink => "symlink",
            ProblemKind::TemporaryFile => "temporary_file",
            ProblemKind::Uncommitted => "uncommitted",
            ProblemKind::IndexOutOfDate => "index_out_of_date",
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
    pub problems: Vec<Problem>,
    /// Decisions (and gate-passing updates) the approval policy does not
    /// honour, by run, event and reason. Reported, not failed on: a
    /// history is append-only, and a policy made stricter leaves earlier
    /// updates here (docs/approvals.md).
    pub unhonoured: Vec<UnhonouredDecision>,
    /// Paths `--fix` rewrote.
    pub fixed: Vec<String>,
    pub commit: Option<String>,
    /// Why the repairs were not committed, when they were not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_committed: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UnhonouredDecision {
    pub run_id: String,
    #[serde(flatten)]
    pub decision: crate::fold::Unhonoured,
}

/// A history file read leniently: every parseable event once, and what
/// was wrong with the rest.
struct Lenient {
    events: Vec<Event>,
    /// The file without duplicate events or conflict markers, when that
    /// differs from what is on disk.
    cleaned: Option<String>,
    problems: Vec<Problem>,
}

fn read_lenient(rel: &str, bytes: &[u8]) -> Lenient {
    let text = String::from_utf8_lossy(bytes);
    let mut seen = HashSet::new();
    let mut events = Vec::new();
    let mut problems = Vec::new();
    let mut kept = String::with_capacity(text.len());
    let mut dirty = false;
    let torn = !text.is_empty() && !text.ends_with('\n');
    let lines: Vec<&str> = text.split('\n').collect();
    for (i, line) in lines.iter().enumerate() {
        let n = i + 1;
        let last = i + 1 == lines.len();
        if line.trim().is_empty() {
            if !last {
                kept.push('\n');
            }
            continue;
        }
        if is_marker(line) {
            problems.push(Problem {
                kind: ProblemKind::ConflictMarker,
                path: rel.into(),
                line: Some(n),
                message: format!("{rel}:{n}: a merge conflict marker"),
                fixable: true,
            });
            dirty = true;
            continue;
        }
        match Event::from_line(line, &format!("{rel}:{n}")) {
            Ok(e) => {
                if last && torn {
                    problems.push(Problem {
                        kind: ProblemKind::MissingNewline,
                        path: rel.into(),
                        line: Some(n),
                        message: format!(
                            "{rel}:{n}: the last event lacks its final newline; the next write adds it"
                        ),
                        fixable: true,
                    });
                    dirty = true;
                }
                if !seen.insert(e.id.clone()) {
                    problems.push(Problem {
                        kind: ProblemKind::DuplicateEvent,
                        path: rel.into(),
                        line: Some(n),
                        message: format!("{rel}:{n}: event {} appears again", e.id),
                        fixable: true,
                    });
                    dirty = true;
                    continue;
                }
                events.push(e);
                kept.push_str(line);
                kept.push('\n');
            }
            Err(_) if last && torn => {
                problems.push(Problem {
                    kind: ProblemKind::TornTail,
                    path: rel.into(),
                    line: Some(n),
                    message: format!(
                        "{rel}:{n}: a partial last line (a crash mid-write); the next write cuts it"
                    ),
                    fixable: true,
                });
                dirty = true;
            }
            Err(e) => {
                problems.push(Problem {
                    kind: ProblemKind::UnreadableEvent,
                    path: rel.into(),
                    line: Some(n),
                    message: e.message,
                    fixable: false,
                });
                kept.push_str(line);
                kept.push('\n');
            }
        }
    }
    Lenient {
        events,
        cleaned: dirty.then_some(kept),
        problems,
    }
}

impl Nexo {
    /// Checks every run: histories readable, each event once, no conflict
    /// markers, views matching the history. With `fix`, rewrites what can
    /// be rewritten without losing an event, and commits it.
    pub fn doctor(&self, fix: bool) -> Result<DoctorReport> {
        let store = self.store();
        // Taking the lock also finishes a write a killed nexo left.
        let _lock = if fix { Some(self.lock()?) } else { None };
        let mut problems = Vec::new();
        let mut fixed = Vec::new();
        let attributes = format!("{NEXO_DIR}/.gitattributes");
        let ids = store.run_ids()?;
        let goals = store.goal_ids()?;
        problems.extend(self.links(fix, &mut fixed)?);
        if !(ids.is_empty() && goals.is_empty())
            && store
                .read(&attributes)?
                .is_none_or(|t| t != GITATTRIBUTES.as_bytes())
        {
            problems.push(Problem {
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
        let mut unhonoured = Vec::new();
        for id in ids.iter().chain(&goals) {
            unhonoured.extend(self.check_record(id, fix, &mut problems, &mut fixed)?);
        }
        problems.extend(self.uncommitted(fix, &mut fixed)?);
        let mut commit = None;
        let mut not_committed = None;
        if fix && !fixed.is_empty() {
            let plan = self.repo().plan_commit(self.no_commit())?;
            let message = format!(
                "nexo: doctor --fix repaired {} file{}\n",
                fixed.len(),
                if fixed.len() == 1 { "" } else { "s" }
            );
            let info = self.repo().finish(plan, &fixed, &message)?;
            commit = info.commit;
            not_committed = info.pending_reason;
        }
        let remaining = if fix {
            problems.iter().any(|p| !p.fixable)
        } else {
            !problems.is_empty()
        };
        Ok(DoctorReport {
            ok: !remaining,
            runs_checked: ids.len(),
            goals_checked: goals.len(),
            problems,
            unhonoured,
            fixed,
            commit,
            not_committed,
        })
    }

    /// One run's or goal's history and views, for `doctor`; returns the
    /// decisions the approval policy does not honour.
    fn check_record(
        &self,
        id: &str,
        fix: bool,
        problems: &mut Vec<Problem>,
        fixed: &mut Vec<String>,
    ) -> Result<Vec<UnhonouredDecision>> {
        let store = self.store();
        let rel = Store::history_rel(id);
        let dir = rel
            .strip_suffix(&format!("/{HISTORY}"))
            .unwrap_or(&rel)
            .to_string();
        let bytes = store.read(&rel)?.unwrap_or_default();
        let mut events = Vec::new();
        let sealed = crate::store::segments::segments(store.root(), &rel)?;
        for (name, _) in &sealed {
            // Sealed segments are never rewritten (their names hash their
            // bytes): what is wrong in one is reported, not fixed.
            let seg = crate::store::segments::segment_rel(&rel, name);
            let read = read_lenient(&seg, &store.read(&seg)?.unwrap_or_default());
            problems.extend(read.problems.into_iter().map(|p| Problem {
                fixable: false,
                ..p
            }));
            events.extend(read.events);
        }
        if bytes.is_empty() && sealed.is_empty() {
            problems.push(Problem {
                kind: ProblemKind::EmptyHistory,
                path: rel.clone(),
                line: None,
                message: format!(
                    "{rel} is empty: a run whose opening never completed; --fix removes it"
                ),
                fixable: true,
            });
            if fix {
                store.remove(&rel)?;
                fixed.push(rel);
            }
            return Ok(Vec::new());
        }
        let lenient = read_lenient(&rel, &bytes);
        let unfixable = lenient.problems.iter().any(|p| !p.fixable);
        problems.extend(lenient.problems);
        if fix
            && !unfixable
            && let Some(clean) = &lenient.cleaned
        {
            store.replace(&rel, clean.as_bytes())?;
            fixed.push(rel.clone());
        }
        events.extend(lenient.events);
        let unhonoured = match Store::record_of_history(&rel) {
            Some(run) if self.approvals().policy.is_strict() && !run.starts_with(GOAL_PREFIX) => {
                self.fold_run(events.clone())
                    .map(|r| r.unhonoured)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|decision| UnhonouredDecision {
                        run_id: run.to_string(),
                        decision,
                    })
                    .collect()
            }
            _ => Vec::new(),
        };
        let views = match self.render_events(id, events) {
            Ok(views) => views,
            Err(e) => {
                problems.push(Problem {
                    kind: ProblemKind::UnreadableRun,
                    path: rel.clone(),
                    line: None,
                    message: format!("{rel}: {}", e.message),
                    fixable: false,
                });
                return Ok(unhonoured);
            }
        };
        self.check_views(&views, &dir, fix, problems, fixed)?;
        Ok(unhonoured)
    }

    /// One record's views against the ones its history renders, for
    /// `doctor`.
    fn check_views(
        &self,
        views: &[(String, Vec<u8>)],
        dir: &str,
        fix: bool,
        problems: &mut Vec<Problem>,
        fixed: &mut Vec<String>,
    ) -> Result<()> {
        let store = self.store();
        let expected: HashSet<&str> = views.iter().map(|(p, _)| p.as_str()).collect();
        for (path, bytes) in views {
            let (kind, message) = match store.read(path) {
                Ok(Some(old)) if &old == bytes => continue,
                Ok(Some(old)) if String::from_utf8_lossy(&old).lines().any(is_marker) => (
                    ProblemKind::ConflictMarker,
                    format!("{path}: conflict markers in a view"),
                ),
                Ok(Some(_)) => (
                    ProblemKind::StaleView,
                    format!("{path} does not match the history"),
                ),
                Ok(None) => (ProblemKind::MissingView, format!("{path} is missing")),
                // A link: reported, and removed by --fix, by `links`.
                Err(_) => continue,
            };
            problems.push(Problem {
                kind,
                path: path.clone(),
                line: None,
                message,
                fixable: true,
            });
            if fix && store.write_if_changed(path, bytes)? {
                fixed.push(path.clone());
            }
        }
        let steps_dir = format!("{dir}/steps");
        if let Ok(entries) = nofollow::read_dir(store.root(), Path::new(&steps_dir)) {
            let extra: Vec<String> = entries
                .into_iter()
                .map(|(name, _)| format!("{steps_dir}/{name}"))
                .filter(|p| !expected.contains(p.as_str()))
                .collect();
            for path in extra {
                problems.push(Problem {
                    kind: ProblemKind::ExtraView,
                    message: format!("{path} belongs to no step of the run"),
                    path: path.clone(),
                    line: None,
                    fixable: true,
                });
                if fix {
                    store.remove(&path)?;
                    fixed.push(path);
                }
            }
        }
        Ok(())
    }

    /// `.nexo/` paths not committed (left by --no-commit, a merge in
    /// progress, or a crash no writer has finished yet) and index entries
    /// that differ from HEAD (which a user's `git commit` would commit).
    /// `--fix` commits them.
    fn uncommitted(&self, fix: bool, fixed: &mut Vec<String>) -> Result<Vec<Problem>> {
        let mut problems = Vec::new();
        let git = self.repo().cli();
        let mut report = |path: String, kind: ProblemKind, message: String| {
            problems.push(Problem {
                kind,
                path: path.clone(),
                line: None,
                message,
                fixable: true,
            });
            if fix && !fixed.contains(&path) {
                fixed.push(path);
            }
        };
        for path in self.repo().pending_paths()? {
            let message = format!("{path} is written but not committed; --fix commits it");
            report(path, ProblemKind::Uncommitted, message);
        }
        let staged = git.run(&[
            "diff",
            "--cached",
            "--name-only",
            "--no-renames",
            "--",
            NEXO_DIR,
        ])?;
        if staged.status.success() {
            for path in String::from_utf8_lossy(&staged.stdout).lines() {
                let message = format!(
                    "git's index holds another version of {path} than HEAD, which your next `git commit` would commit; --fix brings it up to date"
                );
                report(path.to_string(), ProblemKind::IndexOutOfDate, message);
            }
        }
        Ok(problems)
    }

    /// Symbolic links under `.nexo/`: nexo never follows them, so each one
    /// is reported. `--fix` removes a link (never what it points to); views
    /// are then regenerated. `.nexo` itself being a link is left to the
    /// user.
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
                fixable: false,
            });
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
