//! Claims held at the remote by a ref of their own
//! (`refs/nexo/claims/<RUN>/<STEP>`), created only if it does not exist:
//! the remote's compare-and-swap on that one name decides who holds the
//! step, so claims on different steps never contend, and a fleet does not
//! queue behind one branch to take work (docs/decisions.md, "A fleet on
//! one remote"). The claim's event still goes into the run's history and
//! reaches the branch with the next push; the ref only arbitrates.
//!
//! Which claim refs are this clone's own is kept in local refs
//! (`refs/nexo/held/<RUN>/<STEP>`, the commit pushed); they are never
//! pushed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{Look, Remote, SyncReport};
use crate::core::error::Result;
use crate::workspace::Nexo;

const CLAIMS: &str = "refs/nexo/claims/";
const HELD: &str = "refs/nexo/held/";

/// What the remote said when asked once: its branch's tip, and every claim
/// ref with the commit it points at.
pub(crate) struct Looked {
    pub(crate) tip: Option<String>,
    claims: BTreeMap<(String, String), String>,
    /// This clone's own claim refs, as it last pushed them.
    held: BTreeMap<(String, String), String>,
}

/// Where a claim stands once the branch it could not push to is fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AfterFetch {
    /// It holds its step.
    Holds,
    /// The step was done at the remote before the claim reached it.
    Done,
    /// A rival's claim the remote has comes first: this one yielded.
    Behind,
}

/// What a claim's push did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ClaimPush {
    /// The claim ref is ours; `branch`: the branch took HEAD too.
    Held { branch: bool },
    /// Another clone's claim ref names the step.
    Taken,
    /// The remote refuses refs of nexo's own: claims go by the branch.
    Unsupported,
}

impl Looked {
    /// The steps another clone holds a claim ref on.
    pub(crate) fn taken_by_others(&self) -> Vec<(String, String, String)> {
        self.claims_where(|held| !held)
    }

    /// Another clone's claim ref on `step` of `run`, with its commit.
    pub(crate) fn other_on(&self, run: &str, step: &str) -> Option<(String, String, String)> {
        self.taken_by_others()
            .into_iter()
            .find(|(r, s, _)| r == run && s == step)
    }

    /// The claim refs of this clone's.
    pub(crate) fn ours(&self) -> Vec<(String, String, String)> {
        self.claims_where(|held| held)
    }

    fn claims_where(&self, keep: impl Fn(bool) -> bool) -> Vec<(String, String, String)> {
        self.claims
            .iter()
            .filter(|(key, sha)| keep(self.held.get(*key) == Some(*sha)))
            .map(|((r, s), sha)| (r.clone(), s.clone(), sha.clone()))
            .collect()
    }
}

/// This clone's claim refs: (run, step) to the commit it pushed.
fn held_refs(git: &crate::git::cli::GitCli) -> Result<BTreeMap<(String, String), String>> {
    let listed = git.ok(&["for-each-ref", "--format=%(objectname)\t%(refname)", HELD])?;
    Ok(listed
        .lines()
        .filter_map(|line| {
            let (sha, name) = line.split_once('\t')?;
            let (run, step) = name.strip_prefix(HELD)?.split_once('/')?;
            Some(((run.to_string(), step.to_string()), sha.to_string()))
        })
        .collect())
}

fn claim_ref(run: &str, step: &str) -> String {
    format!("{CLAIMS}{run}/{step}")
}

impl Nexo {
    /// The steps this clone holds a claim ref on, as it last pushed them.
    pub(crate) fn held_claim_refs(
        &self,
        git: &crate::git::cli::GitCli,
    ) -> Result<std::collections::BTreeSet<(String, String)>> {
        Ok(held_refs(git)?.into_keys().collect())
    }

    /// Asks the remote, in one request, for its branch's tip and its
    /// claim refs.
    pub(crate) fn look(&self, remote: &Remote) -> Result<Looked> {
        let (git, target) = (&remote.git, &remote.target);
        let pattern = format!("{CLAIMS}*");
        let out = git.run(&[
            "ls-remote",
            "--quiet",
            &target.remote,
            &target.branch_ref,
            &pattern,
        ])?;
        let mut looked = Looked {
            tip: None,
            claims: BTreeMap::new(),
            held: BTreeMap::new(),
        };
        if !out.status.success() {
            return Ok(looked);
        }
        looked.held = held_refs(git)?;
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let Some((sha, name)) = line.split_once('\t') else {
                continue;
            };
            if name == target.branch_ref {
                looked.tip = Some(sha.to_string());
            } else if let Some((run, step)) =
                name.strip_prefix(CLAIMS).and_then(|r| r.split_once('/'))
            {
                looked
                    .claims
                    .insert((run.to_string(), step.to_string()), sha.to_string());
            }
        }
        Ok(looked)
    }

    /// Creates the claim ref of step `step` of run `run` at the remote,
    /// pointing at HEAD (which holds the claim's event), only if no such
    /// ref exists; in the same push offers HEAD to the branch, which may
    /// refuse it without harm (the claim's event then waits for the next
    /// push).
    /// `replacing`: the commit of a lapsed claim ref this claim takes
    /// over, compare-and-swap on that value; else the ref must not exist.
    pub(crate) fn push_claim(
        &self,
        remote: &Remote,
        (run, step): (&str, &str),
        replacing: Option<&str>,
    ) -> Result<ClaimPush> {
        let (git, target) = (&remote.git, &remote.target);
        let name = claim_ref(run, step);
        let lease = format!(
            "--force-with-lease={name}:{}",
            replacing.unwrap_or_default()
        );
        let claim = format!("HEAD:{name}");
        let branch = format!("HEAD:{}", target.branch_ref);
        let out = git.run(&[
            "push",
            "--porcelain",
            &lease,
            &target.remote,
            &claim,
            &branch,
        ])?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let status = |dst: &str| {
            text.lines()
                .find(|l| {
                    l.split('\t')
                        .nth(1)
                        .is_some_and(|r| r.ends_with(&format!(":{dst}")))
                })
                .map(|l| l.to_string())
        };
        let ok = |l: &Option<String>| {
            l.as_deref()
                .is_some_and(|l| l.starts_with([' ', '*', '+', '=']))
        };
        let claimed = status(&name);
        if ok(&claimed) {
            let head = git.rev("HEAD")?;
            git.ok(&["update-ref", &format!("{HELD}{run}/{step}"), &head])?;
            return Ok(ClaimPush::Held {
                branch: ok(&status(&target.branch_ref)),
            });
        }
        // Another clone's ref is there, or was being made in the same
        // instant (the remote's lock on the name): taken. A remote that
        // refuses refs of nexo's own says why in other words (denied, a
        // hook declined): the branch alone arbitrates there.
        const TAKEN: [&str; 6] = [
            "stale info",
            "already exists",
            "fetch first",
            "non-fast-forward",
            "failed to update ref",
            "lock",
        ];
        match claimed.as_deref() {
            Some(l) if TAKEN.iter().any(|t| l.contains(t)) => Ok(ClaimPush::Taken),
            Some(_) => Ok(ClaimPush::Unsupported),
            None => Err(crate::core::error::Error::repo(format!(
                "git push failed: {}",
                crate::git::cli::text(&out)
            ))
            .with_hint("your claim is committed here; run the command again")),
        }
    }

    /// Where claim `token`, whose ref this clone just created while the
    /// branch refused its push, stands once that branch is fetched. The
    /// ref alone cannot tell: between this clone's look and its push, the
    /// step's last holder may have finished it, pushed the branch and
    /// dropped its ref (the remote lists refs one by one, not as one
    /// snapshot). Or a rival's claim made at the same moment reached the
    /// branch though its ref push lost: it comes first in the fold's
    /// order until its yield (written as it lost) reaches the branch too,
    /// which is waited for until `until`, polling the remote's tip with a
    /// backoff. A claim that does not hold its step then yields, so that
    /// it never becomes the holder behind the caller's back, and gives its
    /// ref back.
    pub(crate) fn holds_after_fetch(
        &self,
        remote: &Remote,
        report: &mut SyncReport,
        (run, step, token): (&str, &str, &str),
        until: Instant,
    ) -> Result<AfterFetch> {
        let mut look = Look::Fetch;
        for round in 0u32.. {
            self.pull_looking(remote, report, look)?;
            let now = crate::trace::now_text();
            let loaded = self.load(run)?;
            let s = loaded.step(step);
            let after = match s {
                Some(s) if s.held_by(token, &now) => return Ok(AfterFetch::Holds),
                Some(s) if !s.status.is_done() => AfterFetch::Behind,
                _ => AfterFetch::Done,
            };
            if after == AfterFetch::Behind && Instant::now() < until {
                std::thread::sleep(
                    Duration::from_millis(100 << round.min(3))
                        .min(until.saturating_duration_since(Instant::now())),
                );
                look = Look::Ask;
                continue;
            }
            if let Some(s) = s
                && let Some(mine) = s.claims.iter().find(|c| c.token.as_str() == token)
            {
                let to = s.live_holder(&now).map_or("another clone", |c| &c.holder);
                self.yield_claim(run, step, &mine.holder, token, to)?;
            }
            let key = (run.to_string(), step.to_string());
            if let Some(sha) = held_refs(&remote.git)?.remove(&key) {
                self.drop_claim_refs(remote, &[(key.0, key.1, sha)]);
            }
            return Ok(after);
        }
        unreachable!("the loop returns")
    }

    /// Of other clones' claim refs (`(run, step, commit)`), those whose
    /// holder vanished: every claim on the step at the ref's commit has
    /// lapsed, and the branch shows no live renewal either. Their commits
    /// are fetched first, since only their holder had them. A ref that
    /// cannot be fetched or read has not lapsed. `mine`: the token of a
    /// claim this clone just made on the step, which is no renewal.
    pub(crate) fn lapsed_claim_refs(
        &self,
        remote: &Remote,
        refs: &[(String, String, String)],
        mine: Option<&str>,
    ) -> BTreeMap<(String, String), String> {
        let mut lapsed = BTreeMap::new();
        let now = crate::trace::now_text();
        // Only steps the branch shows free are worth a fetch: a step done,
        // or held by a claim the branch has, keeps its ref for a reason.
        let refs: Vec<_> = refs
            .iter()
            .filter(|(run, step, _)| self.free_here(run, step, &now, mine))
            .collect();
        if refs.is_empty() {
            return lapsed;
        }
        let mut args = vec![
            "fetch".to_string(),
            "--quiet".into(),
            remote.target.remote.clone(),
        ];
        args.extend(refs.iter().map(|(run, step, _)| claim_ref(run, step)));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        if !remote.git.run(&args).is_ok_and(|o| o.status.success()) {
            return lapsed;
        }
        for (run, step, sha) in refs {
            if self.ref_lapsed((run, step, sha), &now) {
                lapsed.insert((run.clone(), step.clone()), sha.clone());
            }
        }
        lapsed
    }

    /// Whether the branch, as fetched, has `step` of `run` not done and
    /// held by no live claim but `mine`.
    fn free_here(&self, run: &str, step: &str, now: &str, mine: Option<&str>) -> bool {
        self.load(run).is_ok_and(|r| {
            r.step(step).is_some_and(|s| {
                !s.status.is_done()
                    && s.claims
                        .iter()
                        .all(|c| !c.protects(now) || Some(c.token.as_str()) == mine)
            })
        })
    }

    fn ref_lapsed(&self, (run, step, sha): (&str, &str, &str), now: &str) -> bool {
        let Ok(id) = gix::ObjectId::from_hex(sha.as_bytes()) else {
            return false;
        };
        let rel = crate::core::layout::run_rel(run);
        let Ok(Some(bytes)) = self.repo().history_at(id, &rel) else {
            return false;
        };
        let events: Vec<_> = String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|l| crate::core::event::Event::from_line(l, "").ok())
            .collect();
        crate::core::fold::lapsed(&events, step, now)
    }

    /// Deletes this clone's claim refs on steps the remote's branch has
    /// done (their completion there, every clone can see the step is not
    /// free): best effort, each only while it still names our commit.
    pub(crate) fn drop_claim_refs(&self, remote: &Remote, done: &[(String, String, String)]) {
        if done.is_empty() {
            return;
        }
        let mut args = vec!["push".to_string(), "--porcelain".into(), "--quiet".into()];
        for (run, step, sha) in done {
            args.push(format!("--force-with-lease={}:{sha}", claim_ref(run, step)));
        }
        args.push(remote.target.remote.clone());
        for (run, step, _) in done {
            args.push(format!(":{}", claim_ref(run, step)));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        if remote.git.run(&args).is_ok_and(|o| o.status.success()) {
            for (run, step, _) in done {
                let _ = remote
                    .git
                    .run(&["update-ref", "-d", &format!("{HELD}{run}/{step}")]);
            }
        }
    }
}
