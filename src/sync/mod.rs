//! Exchanging runs with other clones through an ordinary git remote:
//! `sync` (here), `resolve`, and the claims a clone yields to the remote,
//! over the user's own git (`git::cli`). `doctor` is a room of its own.
//!
//! Fetching, merging, rebasing and pushing go through the user's `git`
//! program, so their credentials, ssh config and pull settings apply.
//! Histories merge as a union (see `.nexo/.gitattributes`), views are
//! regenerated from the merged history, so `.nexo/` never needs a person
//! to resolve a conflict.
//!
//! May import: `core`, `store`, `git`, `index`, `wire`, `workspace`,
//! `trace`; the verbs of `crate::api` are built on it, not the other way.

use std::time::{Duration, Instant};

use crate::core::error::{Error, ErrorKind, Result};
use crate::git::cli::{GitCli, Push, text};
use crate::store::NEXO_DIR;
pub use crate::wire::sync::{ResolveReport, SyncReport, Yielded};
use crate::workspace::Nexo;
pub(crate) use claim_refs::{AfterFetch, ClaimPush, Looked};

mod claim_refs;
mod claims;
mod replay;
mod resolve;

impl Nexo {
    /// Commits what is pending, brings the upstream's commits in
    /// (`pull`), and pushes; when the push finds the remote moved, it goes
    /// round again, with a jittered pause, until the sync timeout
    /// (`sync.timeout` in `.nexo/config.yaml`, 30 s by default): then it
    /// stops with `contended` (exit 12, retryable), everything safe here.
    ///
    /// nexo's lock is held while the branch and working tree change (from
    /// committing pending work to regenerating views), so no nexo write in
    /// this clone interleaves with them; fetching and pushing, which touch
    /// neither, run without it, so writers wait only for local work.
    ///
    /// Before each push, a claim of this clone's that a claim already at
    /// the remote contends yields to it (`claims`).
    pub fn sync(&self) -> Result<SyncReport> {
        self.sync_within(self.sync_timeout())
    }

    /// [`Nexo::sync`], giving up on a remote that keeps moving after
    /// `within`.
    pub fn sync_within(&self, within: Duration) -> Result<SyncReport> {
        let remote = self.remote()?;
        let mut report = SyncReport::new(&remote.target.name);
        // Before the remote is asked, so work is committed even when it
        // cannot be reached. Each pull then commits only what nexo's own
        // writers left since: a comparison of every file under `.nexo/`
        // with HEAD costs seconds at 100,000 runs, and made one more each
        // time the remote moved.
        report.committed = self.commit_pending()?.commit;
        let deadline = Instant::now() + within;
        for attempt in 1.. {
            report.attempts = attempt;
            // A push just refused says the remote moved: no need to ask.
            let look = if attempt == 1 { Look::Ask } else { Look::Fetch };
            self.pull_committing(&remote, &mut report, look, false)?;
            if self.push(&remote, deadline, attempt)? {
                report.pushed = true;
                return Ok(report);
            }
        }
        unreachable!("the loop returns")
    }

    /// The upstream this branch syncs with, checked for a sync: no merge
    /// or rebase in progress, the views' merge driver registered.
    pub(crate) fn remote(&self) -> Result<Remote> {
        let git = self.repo().cli();
        if self.repo().operation_in_progress() {
            return Err(Error::conflict(
                "a merge, rebase or similar is in progress: finish it first (`nexo resolve` settles .nexo/ conflicts)",
            ));
        }
        let target = Upstream::of(&git)?;
        // Before the pull: it is what keeps the pull from stopping on views.
        self.see_to_merge_driver();
        Ok(Remote { git, target })
    }

    /// Brings the upstream's commits into this branch: when the remote's
    /// tip moved (asked first, without fetching), fetches the branch,
    /// integrates it, settles `.nexo/` and regenerates views; then yields
    /// the claims of this clone's that a claim at the remote contends.
    pub(crate) fn pull(&self, remote: &Remote, report: &mut SyncReport) -> Result<()> {
        self.pull_looking(remote, report, Look::Ask)
    }

    /// [`Nexo::pull`], fetching whatever the remote's tip says when `look`
    /// is [`Look::Fetch`].
    pub(crate) fn pull_looking(
        &self,
        remote: &Remote,
        report: &mut SyncReport,
        look: Look<'_>,
    ) -> Result<()> {
        self.pull_committing(remote, report, look, true)
    }

    /// [`Nexo::pull_looking`]; `compare`: every file under `.nexo/`
    /// compared with HEAD before the pull, else only the paths nexo's
    /// pending list names committed.
    fn pull_committing(
        &self,
        remote: &Remote,
        report: &mut SyncReport,
        look: Look<'_>,
        compare: bool,
    ) -> Result<()> {
        let (git, target) = (&remote.git, &remote.target);
        let fetch = match look {
            Look::Fetch => true,
            Look::Ask => target.moved(git),
            Look::Tip(tip) => tip.is_none_or(|t| git.rev("@{u}").ok().as_deref() != Some(t)),
        };
        if fetch {
            // Only this branch: a remote with many branches costs one.
            let branch = format!("+{}:{}", target.branch_ref, target.tracking_ref);
            git.ok(&["fetch", "--quiet", &target.remote, &branch])
                .map_err(|e| Error::repo(format!("{}; nothing was changed", e.message)))?;
        }
        let _lock = self.lock()?;
        // Writers may have left work uncommitted (--no-commit).
        let committed = match compare {
            true => self.commit_pending()?,
            false => self.commit_listed()?,
        };
        if let Some(c) = committed.commit {
            report.committed = Some(c);
        }
        // Both sides in one layout before they meet: a pull of an
        // upgraded remote then merges runs folder by folder.
        self.upgrade_layout()?;
        let before = git.rev("HEAD")?;
        self.integrate(git, target, report)?;
        report.pulled |= git.rev("HEAD")? != before;
        report.refreshed.extend(self.refresh()?);
        report.yielded.extend(self.yield_unpushed_claims(git)?);
        Ok(())
    }

    /// Pushes HEAD when the upstream lacks some of it: `true` once the
    /// remote has it, `false` when the remote moved meanwhile (after a
    /// pause: pull again), and `contended` once `deadline` has passed.
    pub(crate) fn push(&self, remote: &Remote, deadline: Instant, attempt: usize) -> Result<bool> {
        let (git, target) = (&remote.git, &remote.target);
        if git.count("@{u}..HEAD")? == 0 {
            return Ok(true);
        }
        match git.push(&target.remote, &target.branch_ref)? {
            Push::Pushed => Ok(true),
            Push::Behind(why) if Instant::now() >= deadline => {
                Err(contended(&target.name, attempt, &why))
            }
            Push::Behind(_) => {
                backoff(attempt);
                Ok(false)
            }
            Push::Failed(why) => Err(Error::repo(format!("git push failed: {why}"))
                .with_hint("your commits are safe in this clone; run `nexo sync` again")),
        }
    }

    /// How long a sync (or a claim at the remote) keeps trying while others
    /// move the remote.
    pub fn sync_timeout(&self) -> Duration {
        Duration::from_secs(self.sync_timeout_seconds)
    }

    /// Brings the upstream's fetched commits into HEAD. nexo's own commits
    /// (only `.nexo/`, nexo's trailers) are replayed on the upstream's tip,
    /// whatever the pull configuration says: a fleet then leaves one commit
    /// per change and no merge commits. Anything of the user's is merged or
    /// rebased as their configuration says.
    fn integrate(&self, git: &GitCli, target: &Upstream, report: &mut SyncReport) -> Result<()> {
        let behind = git.count("HEAD..@{u}")?;
        if behind == 0 {
            return Ok(());
        }
        let ahead = git.count("@{u}..HEAD")?;
        let how = match ahead {
            0 => Integration::FastForward,
            _ if target.local_commits_are_nexos(git)? => {
                if self.replay_own(git)? {
                    return Ok(());
                }
                Integration::Rebase { merges: false }
            }
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

/// How a pull learns whether the remote moved.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Look<'a> {
    /// Ask for the remote's tip first, and fetch only when it moved.
    Ask,
    /// Fetch: a push was just overtaken.
    Fetch,
    /// The remote's tip was just asked for (`look`): fetch when it moved.
    Tip(Option<&'a str>),
}

/// The upstream a sync exchanges with, and the git that reaches it.
pub(crate) struct Remote {
    git: GitCli,
    target: Upstream,
}

impl Remote {
    /// The upstream as people name it (`origin/main`).
    pub(crate) fn name(&self) -> &str {
        &self.target.name
    }

    /// Whether the remote's branch may have moved since the last fetch,
    /// asked without fetching (one `git ls-remote`).
    pub(crate) fn moved(&self) -> bool {
        self.target.moved(&self.git)
    }
}

/// Others kept moving the remote until the time ran out: nothing is lost,
/// and running the command again is the answer.
fn contended(upstream: &str, attempts: usize, why: &str) -> Error {
    Error::new(
        ErrorKind::Contended,
        format!(
            "{upstream} kept moving: {attempts} pushes were each overtaken by another clone's ({})",
            why.lines().last().unwrap_or_default()
        ),
    )
    .with_hint("everything is committed in this clone; run the command again (it is safe to retry), or give it longer with --timeout")
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
    /// Where the upstream branch is fetched into (`refs/remotes/origin/main`).
    tracking_ref: String,
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
    /// Whether the remote's branch may have moved since the last fetch:
    /// its tip, asked without fetching, differs from `@{u}`. An idle clone
    /// then learns that nothing changed for one small request; when the
    /// remote cannot be asked, the fetch that follows says why.
    fn moved(&self, git: &GitCli) -> bool {
        if self.remote == "." {
            return false;
        }
        let tip = git
            .run(&["ls-remote", "--quiet", &self.remote, &self.branch_ref])
            .ok()
            .filter(|o| o.status.success())
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .next()
                    .map(str::to_string)
            })
            .unwrap_or_default();
        tip.is_none_or(|tip| git.rev("@{u}").ok().as_deref() != Some(tip.as_str()))
    }

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
        let tracking_ref = git
            .ok(&["rev-parse", "--symbolic-full-name", "@{u}"])
            .map_err(|_| none())?
            .trim()
            .to_string();
        Ok(Upstream {
            name,
            remote,
            branch_ref,
            branch,
            tracking_ref,
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
    // Short: a clone asleep while the others push only falls further
    // behind; the jitter alone keeps them out of step.
    let ceiling = (20u64 << attempt.min(3)).min(160);
    std::thread::sleep(std::time::Duration::from_millis(
        10 + crate::core::id::random_below(ceiling),
    ));
}
