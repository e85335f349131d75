//! The sync layer: exchanging runs with other clones through an ordinary
//! git remote, and keeping `.nexo/` healthy after merges.
//!
//! Pulling and pushing go through the user's own `git` program, so their
//! credentials, ssh config and pull settings (merge or rebase) apply.
//! Histories merge as a union (see `.nexo/.gitattributes`), views are
//! regenerated from the merged history, so `.nexo/` never needs a person
//! to resolve a conflict.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::Serialize;

use crate::api::Nexo;
use crate::error::{Error, ErrorKind, Result};
use crate::event::Event;
use crate::fold;
use crate::git::cli::{GitCli, Push, text};
use crate::resume::resume;
use crate::store::{GITATTRIBUTES, HISTORY, NEXO_DIR, Store, nofollow};
use crate::view;

/// How many times `sync` pulls again after a rejected push.
const PUSH_ATTEMPTS: usize = 10;

/// One problem `doctor` found.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// stale_view, missing_view, extra_view, conflict_marker, duplicate_event,
    /// unreadable_event, torn_tail, missing_newline, empty_history,
    /// unreadable_run, gitattributes, symlink, temporary_file, uncommitted,
    /// index_out_of_date.
    pub kind: &'static str,
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
    pub problems: Vec<Problem>,
    /// Paths `--fix` rewrote.
    pub fixed: Vec<String>,
    pub commit: Option<String>,
    /// Why the repairs were not committed, when they were not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_committed: Option<String>,
}

fn is_marker(line: &str) -> bool {
    ["<<<<<<<", "=======", ">>>>>>>", "|||||||"]
        .iter()
        .any(|m| line.starts_with(m))
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
                kind: "conflict_marker",
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
                        kind: "missing_newline",
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
                        kind: "duplicate_event",
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
                    kind: "torn_tail",
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
                    kind: "unreadable_event",
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
        problems.extend(self.links(fix, &mut fixed)?);
        if !ids.is_empty()
            && store
                .read(&attributes)?
                .is_none_or(|t| t != GITATTRIBUTES.as_bytes())
        {
            problems.push(Problem {
                kind: "gitattributes",
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
        for id in &ids {
            self.check_run(id, fix, &mut problems, &mut fixed)?;
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
            problems,
            fixed,
            commit,
            not_committed,
        })
    }

    /// One run's history and views, for `doctor`.
    fn check_run(
        &self,
        id: &str,
        fix: bool,
        problems: &mut Vec<Problem>,
        fixed: &mut Vec<String>,
    ) -> Result<()> {
        let store = self.store();
        let dir = Store::run_rel(id);
        let rel = format!("{dir}/{HISTORY}");
        let bytes = store.read(&rel)?.unwrap_or_default();
        if bytes.is_empty() {
            problems.push(Problem {
                kind: "empty_history",
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
            return Ok(());
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
        let run = match fold::fold(lenient.events) {
            Ok(run) => run,
            Err(e) => {
                problems.push(Problem {
                    kind: "unreadable_run",
                    path: rel.clone(),
                    line: None,
                    message: format!("{rel}: {}", e.message),
                    fixable: false,
                });
                return Ok(());
            }
        };
        self.check_views(&run, &dir, fix, problems, fixed)
    }

    /// One run's views against its history, for `doctor`.
    fn check_views(
        &self,
        run: &fold::Run,
        dir: &str,
        fix: bool,
        problems: &mut Vec<Problem>,
        fixed: &mut Vec<String>,
    ) -> Result<()> {
        let store = self.store();
        let views = view::render(run, &resume(run));
        let expected: HashSet<&str> = views.iter().map(|(p, _)| p.as_str()).collect();
        for (path, bytes) in &views {
            let (kind, message) = match store.read(path) {
                Ok(Some(old)) if &old == bytes => continue,
                Ok(Some(old)) if String::from_utf8_lossy(&old).lines().any(is_marker) => (
                    "conflict_marker",
                    format!("{path}: conflict markers in a view"),
                ),
                Ok(Some(_)) => ("stale_view", format!("{path} does not match the history")),
                Ok(None) => ("missing_view", format!("{path} is missing")),
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
                    kind: "extra_view",
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
        let mut report = |path: String, kind: &'static str, message: String| {
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
            report(path, "uncommitted", message);
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
                report(path.to_string(), "index_out_of_date", message);
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
                kind: "symlink",
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
                true => ("temporary_file", format!("{rel} was left by a killed nexo")),
                false => (
                    "symlink",
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
            let mut parts = path.split('/');
            let run = match (parts.next(), parts.next(), parts.next()) {
                (Some(NEXO_DIR), Some("runs"), Some(run)) => run.to_string(),
                _ => {
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
            let rel = format!("{}/{HISTORY}", Store::run_rel(run));
            // Both sides of the history (stages 2 and 3), plus whatever is
            // in the working tree, each event once.
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
            if let Some(t) = self.store().read(&rel)? {
                lines.extend(String::from_utf8_lossy(&t).lines().map(String::from));
            }
            let mut seen = HashSet::new();
            let mut merged = String::new();
            for line in lines {
                if line.trim().is_empty() || is_marker(&line) {
                    continue;
                }
                let Ok(e) = Event::from_line(&line, &rel) else {
                    continue;
                };
                if seen.insert(e.id) {
                    merged.push_str(&line);
                    merged.push('\n');
                }
            }
            self.store().replace(&rel, merged.as_bytes())?;
            staged.push(rel.clone());
            let history = crate::store::parse_history(merged.as_bytes(), &rel)?;
            let run = fold::fold(history.events)?;
            for (path, bytes) in view::render(&run, &resume(&run)) {
                self.store().write_if_changed(&path, &bytes)?;
                staged.push(path);
            }
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
        let next = if !others.is_empty() {
            format!(
                "Your own files still conflict ({}); resolve them, then {}.",
                others.join(", "),
                if rebase {
                    "`git rebase --continue`"
                } else {
                    "`git commit`"
                }
            )
        } else if staged.is_empty() {
            "Nothing in .nexo/ was conflicted.".into()
        } else if rebase {
            "Finish with `git rebase --continue`.".into()
        } else {
            "Finish the merge with `git commit`.".into()
        };
        Ok(ResolveReport {
            ok: true,
            resolved: staged,
            still_conflicted: others.into_iter().map(String::from).collect(),
            next,
        })
    }

    /// Commits what is pending, fetches, integrates the upstream's commits
    /// (merge, rebase or fast-forward, as the user's git configuration
    /// says, or a merge when it says nothing), settles `.nexo/`,
    /// regenerates views and pushes; when the push finds the remote moved,
    /// it goes round again.
    ///
    /// nexo's lock is held while the branch and working tree change (from
    /// committing pending work to regenerating views), so no nexo write in
    /// this clone interleaves with them; fetching and pushing, which touch
    /// neither, run without it, so writers wait only for local work.
    pub fn sync(&self) -> Result<SyncReport> {
        let git = self.repo().cli();
        if self.repo().operation_in_progress() {
            return Err(Error::conflict(
                "a merge, rebase or similar is in progress: finish it first (`nexo resolve` settles .nexo/ conflicts)",
            ));
        }
        let target = Upstream::of(&git)?;
        let mut report = SyncReport {
            ok: true,
            upstream: target.name.clone(),
            committed: self.commit_pending()?.commit,
            pulled: false,
            resolved: Vec::new(),
            refreshed: Vec::new(),
            pushed: false,
            attempts: 0,
        };
        for attempt in 1..=PUSH_ATTEMPTS {
            report.attempts = attempt;
            git.ok(&["fetch", "--quiet", &target.remote])
                .map_err(|e| Error::repo(format!("{}; nothing was changed", e.message)))?;
            {
                let _lock = self.lock()?;
                // Writers may have left work uncommitted (--no-commit).
                if let Some(c) = self.commit_pending()?.commit {
                    report.committed = Some(c);
                }
                let before = git.rev("HEAD")?;
                self.integrate(&git, &target, &mut report)?;
                report.pulled |= git.rev("HEAD")? != before;
                report.refreshed.extend(self.refresh()?);
            }
            match git.push(&target.remote, &target.branch_ref)? {
                Push::Pushed => {
                    report.pushed = true;
                    return Ok(report);
                }
                Push::Behind(_) if attempt < PUSH_ATTEMPTS => backoff(attempt),
                Push::Behind(why) | Push::Failed(why) => {
                    return Err(Error::repo(format!(
                        "git push failed: {why}\nYour commits are safe in this clone; run `nexo sync` again."
                    )));
                }
            }
        }
        unreachable!("the loop returns")
    }

    /// Brings the upstream's fetched commits into HEAD.
    fn integrate(&self, git: &GitCli, target: &Upstream, report: &mut SyncReport) -> Result<()> {
        let behind = git.count("HEAD..@{u}")?;
        if behind == 0 {
            return Ok(());
        }
        let ahead = git.count("@{u}..HEAD")?;
        let how = match ahead {
            0 => Integration::FastForward,
            _ => target.integration(git)?,
        };
        let (verb, args): (&str, Vec<&str>) = match &how {
            Integration::FastForward => ("merge", vec!["merge", "--ff-only", "@{u}"]),
            Integration::Merge => ("merge", vec!["merge", "--no-edit", "@{u}"]),
            Integration::Rebase { merges: false } => ("rebase", vec!["rebase", "@{u}"]),
            Integration::Rebase { merges: true } => {
                ("rebase", vec!["rebase", "--rebase-merges", "@{u}"])
            }
            Integration::Refuse(why) => return Err(Error::conflict(why.clone())),
        };
        let out = git.run(&args)?;
        if out.status.success() {
            return Ok(());
        }
        self.finish_pull(git, verb, &text(&out), report)
    }

    /// A merge or rebase stopped: settle `.nexo/` and carry it on, or leave
    /// the user's own conflicts to them, saying so.
    fn finish_pull(
        &self,
        git: &GitCli,
        verb: &str,
        why: &str,
        report: &mut SyncReport,
    ) -> Result<()> {
        for _ in 0..1000 {
            if !self.repo().operation_in_progress() {
                return Err(Error::repo(format!(
                    "git {verb} stopped before changing anything: {why}\nnexo changed nothing either; fix that, then run `nexo sync` again."
                )));
            }
            let r = self.resolve()?;
            report.resolved.extend(r.resolved);
            if !r.still_conflicted.is_empty() {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    format!(
                        "the {verb} left conflicts in your own files: {}. nexo settled .nexo/; resolve the rest and finish the {verb} ({}), then run `nexo sync` again",
                        r.still_conflicted.join(", "),
                        if verb == "rebase" {
                            "`git rebase --continue`"
                        } else {
                            "`git commit`"
                        }
                    ),
                ));
            }
            let gd = self.repo().git_dir();
            let rebasing = gd.join("rebase-merge").exists() || gd.join("rebase-apply").exists();
            let out = match rebasing {
                true => git.run(&["rebase", "--continue"])?,
                false => git.run(&["commit", "--no-edit"])?,
            };
            let in_progress = self.repo().operation_in_progress();
            if out.status.success() && !in_progress {
                return Ok(());
            }
            if !out.status.success() && !in_progress {
                return Err(Error::repo(format!(
                    "git could not finish the {verb}: {}",
                    text(&out)
                )));
            }
            // A rebase stopped again on its next commit: settle that too.
        }
        Err(Error::repo(format!(
            "the {verb} did not finish after 1000 steps; finish it with git, then run `nexo sync`"
        )))
    }
}

/// Where this branch syncs to.
struct Upstream {
    /// `origin/main`, for messages.
    name: String,
    remote: String,
    /// `refs/heads/main` on the remote.
    branch_ref: String,
    /// The local branch's short name.
    branch: String,
}

/// How to bring the upstream's commits in.
enum Integration {
    FastForward,
    Merge,
    Rebase {
        merges: bool,
    },
    /// The configuration forbids every way that would work.
    Refuse(String),
}

impl Upstream {
    fn of(git: &GitCli) -> Result<Upstream> {
        let none = || {
            Error::repo(
                "this branch has no upstream to sync with: push it once with `git push -u <remote> <branch>`",
            )
        };
        let branch = git
            .ok(&["symbolic-ref", "--quiet", "--short", "HEAD"])
            .map_err(|_| Error::repo("HEAD is detached: check out a branch to sync"))?
            .trim()
            .to_string();
        let remote = git
            .config(&format!("branch.{branch}.remote"))
            .ok_or_else(none)?;
        let branch_ref = git
            .config(&format!("branch.{branch}.merge"))
            .ok_or_else(none)?;
        let name = git
            .ok(&["rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{u}"])
            .map_err(|_| none())?
            .trim()
            .to_string();
        Ok(Upstream {
            name,
            remote,
            branch_ref,
            branch,
        })
    }

    /// The user's choice between merge and rebase (`branch.<name>.rebase`,
    /// then `pull.rebase`), and `pull.ff=only`, for a branch that has
    /// diverged from its upstream. With nothing configured, a merge: the
    /// union and view drivers make it clean for `.nexo/`.
    fn integration(&self, git: &GitCli) -> Result<Integration> {
        let rebase = git
            .config(&format!("branch.{}.rebase", self.branch))
            .or_else(|| git.config("pull.rebase"))
            .map(|v| v.to_ascii_lowercase());
        match rebase.as_deref() {
            Some("true" | "yes" | "on" | "1" | "interactive" | "i") => {
                return Ok(Integration::Rebase { merges: false });
            }
            Some("merges" | "m" | "preserve" | "p") => {
                return Ok(Integration::Rebase { merges: true });
            }
            _ => {}
        }
        if git.config("pull.ff").as_deref() != Some("only") {
            return Ok(Integration::Merge);
        }
        // Fast-forward only: nexo may replay its own commits on top of the
        // upstream (nothing of the user's is rewritten), nothing else.
        if self.local_commits_are_nexos(git)? {
            return Ok(Integration::Rebase { merges: false });
        }
        Ok(Integration::Refuse(format!(
            "pull.ff=only is set and this branch has commits of your own that {} does not have, so it cannot fast-forward; nexo changed nothing. Combine them yourself (`git pull --rebase`, or `git pull --no-ff`), then run `nexo sync`",
            self.name
        )))
    }

    fn local_commits_are_nexos(&self, git: &GitCli) -> Result<bool> {
        let merges = git.ok(&["rev-list", "--count", "--merges", "@{u}..HEAD"])?;
        if merges.trim() != "0" {
            return Ok(false);
        }
        let subjects = git.ok(&["log", "--format=%s", "@{u}..HEAD"])?;
        let paths = git.ok(&["log", "--format=", "--name-only", "@{u}..HEAD"])?;
        Ok(subjects.lines().all(|s| s.starts_with("nexo: "))
            && paths
                .lines()
                .all(|p| p.is_empty() || p.starts_with(&format!("{NEXO_DIR}/"))))
    }
}

/// A jittered, growing pause before fetching and pushing again ("full
/// jitter" exponential backoff), so clones that keep rejecting each
/// other's pushes fall out of step instead of colliding in lockstep.
fn backoff(attempt: usize) {
    let ceiling = (25u64 << attempt.min(6)).min(1500);
    std::thread::sleep(std::time::Duration::from_millis(
        10 + crate::id::random_below(ceiling),
    ));
}

#[derive(Debug, Clone, Serialize)]
pub struct ResolveReport {
    pub ok: bool,
    pub resolved: Vec<String>,
    pub still_conflicted: Vec<String>,
    pub next: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SyncReport {
    pub ok: bool,
    pub upstream: String,
    /// The commit of pending changes made before pulling.
    pub committed: Option<String>,
    pub pulled: bool,
    pub resolved: Vec<String>,
    pub refreshed: Vec<String>,
    pub pushed: bool,
    pub attempts: usize,
}
