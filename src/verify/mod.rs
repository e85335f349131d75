//! `nexo verify`: every run in HEAD's `.nexo/` judged by a policy the
//! branch cannot change (docs/approvals.md, "Verifying a pull request").
//! A verb of its own beside `crate::api`; may import: `core`, `store`,
//! `git`, `index`, `wire`, `workspace`, `trace`.
//!
//! Everything is read from git's objects (HEAD's commit, the trusted ref's
//! commit): no checkout, no link followed, nothing written but the cache.
//! A run whose folder is the same on the trusted ref holds nothing the
//! base has not already accepted, so it is counted, not folded.

mod brought;
mod cache;
mod origin;
mod policy;
mod templates;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use gix::ObjectId;
use serde::{Deserialize, Serialize};

use brought::erased;
use cache::Verdicts;
use origin::Origin;
use policy::Side;

use crate::core::approval::signed_decisions;
use crate::core::approval::{Approvals, Policy, Rules};
use crate::core::check::same_run;
use crate::core::error::{Error, Result};
use crate::core::event::Event;
use crate::core::id::EventId;
use crate::core::verify::{Policies, RunVerdict, TrustedRef, VerifyProblem, VerifyReport, judge};
use crate::git::sign::Verifier;
use crate::workspace::Nexo;

/// What judging one run found, as cached.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Judged {
    verdict: RunVerdict,
    /// Why the run, or part of it, cannot be judged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    problems: Vec<String>,
    /// The run's folder where the branch began, when the verdict needed
    /// it (`Origin`): a cached verdict holds only while that is the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    origin: Option<String>,
}

impl Judged {
    fn problem(message: String) -> Judged {
        Judged {
            problems: vec![message],
            ..Judged::default()
        }
    }
}

/// The copies of HEAD's runs that HEAD is weighed against: the trusted
/// ref's (what the base already accepted) and the merge base's (what
/// the branch started from, so it can only have added to it).
#[derive(Default)]
struct Bases {
    trusted: BTreeMap<String, ObjectId>,
    /// `None` when the merge base is the trusted ref (in CI HEAD merges
    /// the base): one map, not two copies of 100,000 runs.
    fork: Option<BTreeMap<String, ObjectId>>,
    /// Where the branch began, found when a run needs it.
    origin: Option<Origin>,
}

impl Bases {
    /// The runs at the merge base.
    fn fork(&self) -> &BTreeMap<String, ObjectId> {
        self.fork.as_ref().unwrap_or(&self.trusted)
    }
}

/// One run's copies on the refs HEAD is weighed against.
#[derive(Clone, Copy)]
struct Copies {
    base: Option<ObjectId>,
    fork: Option<ObjectId>,
}

/// Everything a run's verdict depends on besides its own folders.
struct Judging {
    applied: Approvals,
    trusted: Side,
    branch: Option<Side>,
    key: String,
}

impl Nexo {
    /// Judges HEAD's runs under `trusted`'s policy made stricter by the
    /// branch's own; without `trusted`, under the working tree's policy.
    pub fn verify(&self, trusted: Option<&str>) -> Result<VerifyReport> {
        let head = self.repo.commit_of("HEAD")?.ok_or_else(|| {
            Error::not_found("HEAD has no commit yet: there is nothing to verify")
                .with_hint("commit first; verify judges what a merge would take")
        })?;
        let mut problems = Vec::new();
        let (judging, trusted_at) = match trusted {
            Some(name) => {
                let commit = self.repo.commit_of(name)?.ok_or_else(|| {
                    Error::not_found(format!("--trusted {}: no such commit", crate::core::limits::quote(name)))
                        .with_hint("fetch it first (git fetch origin main; in GitHub Actions, actions/checkout with fetch-depth: 0)")
                })?;
                let side = self.side_at(commit, name).map_err(|e| {
                    let hint = format!("the trusted policy is {name}'s own: fix it there");
                    e.with_hint(hint)
                })?;
                let branch = self.side_at(head, "HEAD").unwrap_or_else(|e| {
                    problems.push(VerifyProblem {
                        run_id: None,
                        message: format!("this branch's policy cannot be read ({}); the trusted one alone applies", e.message),
                    });
                    Side::default()
                });
                (Judging::new(side, Some(branch)), Some((name, commit)))
            }
            None => (Judging::new(self.side_here(), None), None),
        };
        let runs = self.runs_of_commit(head, &mut problems);
        let templates = self.verify_templates(head, &mut problems);
        let (bases, policy_changes) = match trusted_at {
            Some((_, commit)) => {
                let fork = self.repo.merge_base(head, commit)?.unwrap_or(commit);
                let runs_at = |c| -> BTreeMap<String, ObjectId> {
                    self.runs_of_commit(c, &mut Vec::new())
                        .into_iter()
                        .collect()
                };
                let trusted = runs_at(commit);
                let fork_runs = (fork != commit).then(|| runs_at(fork));
                let bases = Bases {
                    trusted,
                    fork: fork_runs,
                    origin: Some(Origin::new(head, commit, fork)),
                };
                (bases, self.policy_changes(fork, head))
            }
            None => (Bases::default(), Vec::new()),
        };
        let here: HashSet<&str> = runs.iter().map(|(id, _)| id.as_str()).collect();
        for gone in bases.fork().keys().filter(|id| !here.contains(id.as_str())) {
            problems.push(VerifyProblem {
                run_id: Some(gone.clone()),
                message: "this run, present at the merge base, is gone here: nexo never deletes a run, and its events were acknowledged".into(),
            });
        }
        let mut report = VerifyReport {
            ok: false,
            head: head.to_string(),
            trusted: trusted_at.map(|(name, commit)| TrustedRef {
                r#ref: name.to_string(),
                commit: commit.to_string(),
            }),
            policy: Policies {
                trusted: judging.trusted.out(),
                branch: judging.branch.as_ref().map(Side::out),
                applied: judging.applied.clone(),
            },
            policy_changes,
            runs: runs.len(),
            runs_judged: 0,
            templates,
            gates: Vec::new(),
            violations: Vec::new(),
            stale: Vec::new(),
            problems,
        };
        self.verdicts_of(&judging, &runs, &bases, &mut report);
        report.ok = report.violations.is_empty() && report.problems.is_empty();
        Ok(report)
    }

    /// The run folders of `commit`'s `.nexo/runs`; a `.nexo` or
    /// `.nexo/runs` that is not a folder is a problem, never followed.
    fn runs_of_commit(
        &self,
        commit: ObjectId,
        problems: &mut Vec<VerifyProblem>,
    ) -> Vec<(String, ObjectId)> {
        for rel in [
            crate::store::NEXO_DIR.to_string(),
            format!("{}/runs", crate::store::NEXO_DIR),
        ] {
            match self.repo.file_at(commit, &rel) {
                Ok(
                    crate::git::refs::FileAt::NotAFile("a folder")
                    | crate::git::refs::FileAt::Missing,
                ) => {}
                Ok(crate::git::refs::FileAt::NotAFile(kind)) => problems.push(VerifyProblem {
                    run_id: None,
                    message: format!("{rel} is {kind}: nexo reads no runs through it"),
                }),
                Ok(crate::git::refs::FileAt::File(..)) => problems.push(VerifyProblem {
                    run_id: None,
                    message: format!("{rel} is a file where a folder belongs"),
                }),
                Err(e) => problems.push(VerifyProblem {
                    run_id: None,
                    message: e.message,
                }),
            }
        }
        let mut runs: Vec<(String, ObjectId)> = Vec::new();
        // Archived runs are runs too: judged like the others, and never
        // "gone" for having moved (`nexo archive`).
        for (tree, dir) in [
            (self.repo.commit_runs(commit).1, crate::store::RUNS_DIR),
            (
                self.repo.commit_archive(commit),
                crate::core::layout::ARCHIVE_DIR,
            ),
        ] {
            let Some(tree) = tree else { continue };
            for (path, kind) in self.repo.not_plain(tree, dir, true).unwrap_or_default() {
                problems.push(VerifyProblem {
                    run_id: None,
                    message: format!("{path} is {kind}: nexo reads nothing through it"),
                });
            }
            match self.repo.runs_in(tree) {
                Ok(found) => {
                    // A run in both places (a merge git could not pair) is
                    // judged once, by its live folder.
                    let live: HashSet<String> = runs.iter().map(|(id, _)| id.clone()).collect();
                    runs.extend(found.into_iter().filter(|(id, _)| !live.contains(id)));
                }
                Err(e) => problems.push(VerifyProblem {
                    run_id: None,
                    message: e.message,
                }),
            }
        }
        runs
    }

    fn verdicts_of(
        &self,
        judging: &Judging,
        runs: &[(String, ObjectId)],
        bases: &Bases,
        report: &mut VerifyReport,
    ) {
        let path = self.store.cache_dir().join("verify").join(format!(
            "{}.{}",
            judging.key,
            cache::EXTENSION
        ));
        let old = Verdicts::read(&path);
        let mut kept = Verdicts::default();
        let mut verifiers = Verifiers::new(self, judging);
        let skip_unchanged = judging.adds_nothing();
        for (id, folder) in runs {
            let copies = Copies {
                base: bases.trusted.get(id).copied(),
                fork: bases.fork().get(id).copied(),
            };
            let base = copies.base.as_ref();
            if skip_unchanged && base == Some(folder) {
                continue;
            }
            report.runs_judged += 1;
            let name = |f: Option<ObjectId>| f.map(|b| b.to_string()).unwrap_or_default();
            let key = cache::key(id, *folder, copies.base, copies.fork);
            let cached = old.get(&key).filter(|j| match (&j.origin, &bases.origin) {
                (Some(then), Some(o)) => *then == name(o.folder(self, bases, id)),
                _ => true,
            });
            let judged = match cached {
                Some(j) => j,
                None => self.verdict_of(judging, &mut verifiers, (id, *folder), (copies, bases)),
            };
            // A run the branch left as it is, judged only because its
            // policy could honour more, shows its gates only if one fails.
            let unchanged = base == Some(folder);
            if !unchanged || !judged.verdict.violations.is_empty() {
                report.gates.extend(judged.verdict.gates.iter().cloned());
            }
            report
                .violations
                .extend(judged.verdict.violations.iter().cloned());
            report.stale.extend(judged.verdict.stale.iter().cloned());
            report
                .problems
                .extend(judged.problems.iter().map(|message| VerifyProblem {
                    run_id: Some(id.clone()),
                    message: message.clone(),
                }));
            if verifiers.took() {
                kept.insert(key, judged);
            }
        }
        verifiers.save();
        kept.seal();
        if kept != old {
            kept.write(&self.store, &path);
            forget_old_judgings(path.parent().expect("a file in a folder"));
        }
    }

    /// Folds one run of HEAD under the applied rules and judges what it
    /// brings that the trusted ref's copy does not have; and checks that
    /// it kept every line of its copy at the merge base (`fork`), and that
    /// what it adds follows what the run had where the branch began.
    fn verdict_of(
        &self,
        judging: &Judging,
        verifiers: &mut Verifiers,
        (id, folder): (&str, ObjectId),
        (copies, bases): (Copies, &Bases),
    ) -> Judged {
        let rel = crate::core::layout::history_rel(id);
        let folder_rel = rel.rsplit_once('/').map_or(rel.as_str(), |(f, _)| f);
        match self.repo.not_plain(folder, folder_rel, false) {
            Ok(odd) if odd.is_empty() => {}
            Ok(odd) => {
                let (path, kind) = &odd[0];
                return Judged::problem(format!(
                    "cannot be judged: {path} is {kind}, and a run folder holds plain files only"
                ));
            }
            Err(e) => return Judged::problem(format!("cannot be judged: {}", e.message)),
        }
        let place = format!("HEAD:{rel}");
        let events = match self
            .repo
            .history_of_folder(folder)
            .and_then(|b| crate::store::parse_history(&b, &place))
        {
            Ok(h) => h.events,
            Err(e) => return Judged::problem(format!("cannot be judged: {}", e.message)),
        };
        let base = copies
            .base
            .and_then(|b| self.events_of(b))
            .unwrap_or_default();
        let fork = match copies.fork {
            Some(f) if Some(f) == copies.base => Some(base.clone()),
            Some(f) => self.events_of(f),
            None => None,
        };
        let lost = match copies.fork {
            Some(f) if f == folder => None,
            _ => fork.as_ref().and_then(|then| lost_lines(then, &events)),
        };
        let at = (id, copies, bases);
        let (events, inherited, brought, used_origin) =
            self.brought(at, events, &base, fork.as_deref());
        let judged =
            self.judge_events(judging, verifiers, id, (events, &base), &inherited, brought);
        match judged {
            Ok(verdict) => Judged {
                verdict,
                problems: lost.into_iter().collect(),
                origin: used_origin,
            },
            Err(message) => Judged::problem(message),
        }
    }

    /// Folds a run's events under the applied rules and judges them.
    fn judge_events(
        &self,
        judging: &Judging,
        verifiers: &mut Verifiers,
        id: &str,
        (events, base): (Vec<Event>, &[Event]),
        inherited: &HashSet<EventId>,
        mut brought: crate::core::verify::Provenance,
    ) -> std::result::Result<RunVerdict, String> {
        let (verified, on_branch) = verifiers.check(judging, &events);
        let rules = Rules {
            approvals: judging.applied.clone(),
            verified,
        };
        let run = crate::core::fold::fold_with(events.clone(), rules.clone(), 1)
            .map_err(|e| format!("cannot be judged: {}", e.message))?;
        same_run(id, &run.run_id).map_err(|e| e.message)?;
        brought.erased = erased(&run, base, inherited, rules);
        // An event the base already has is the branch's to answer for only
        // if the branch's own policy honours what the trusted one does not
        // (a key the branch added, say): then the branch shows a gate
        // passed that the base does not.
        let refused_here = match &judging.branch {
            Some(b)
                if run
                    .unhonoured
                    .iter()
                    .any(|u| inherited.contains(&u.event_id)) =>
            {
                let rules = Rules {
                    approvals: b.approvals.clone(),
                    verified: on_branch.clone(),
                };
                crate::core::fold::fold_with(events, rules, 1)
                    .ok()
                    .map(|r| refused(&r))
            }
            _ => None,
        };
        let answers_for = |e: &EventId| {
            !inherited.contains(e) || refused_here.as_ref().is_some_and(|r| !r.contains(e))
        };
        Ok(judge(&run, answers_for, &on_branch, &brought))
    }

    /// The events a base's copy of a run holds: every line that reads.
    /// A line the base cannot read either is nothing it has, so a branch
    /// whose `doctor --fix` moved that line to quarantine lost nothing.
    pub(super) fn events_of(&self, folder: ObjectId) -> Option<Vec<Event>> {
        let bytes = self.repo.history_of_folder(folder).ok()?;
        let lines = bytes.split(|&b| b == b'\n');
        let text = lines.filter_map(|l| std::str::from_utf8(l).ok());
        Some(text.filter_map(|l| Event::from_line(l, "").ok()).collect())
    }
}

/// A problem when `now` lacks a line of `then` (the history at the merge
/// base): a history only grows, so one rewritten or cut short (a gate
/// dropped from it, say) is named.
fn lost_lines(then: &[Event], now: &[Event]) -> Option<String> {
    let now: HashSet<String> = now.iter().map(Event::to_line).collect();
    let mut gone: Vec<&Event> = then
        .iter()
        .filter(|e| !now.contains(&e.to_line()))
        .collect();
    gone.sort_by(|a, b| a.id.cmp(&b.id));
    gone.dedup_by(|a, b| a.to_line() == b.to_line());
    let first = &gone.first()?.id;
    Some(format!(
        "{} event(s) of this run's history at the merge base are missing or rewritten here (first: {first}): a history only grows",
        gone.len()
    ))
}

/// The events a fold did not honour, for whatever reason.
pub(super) fn refused(run: &crate::core::fold::Run) -> HashSet<EventId> {
    run.unhonoured
        .iter()
        .map(|u| u.event_id.clone())
        .chain(run.ignored.iter().map(|i| i.event_id.clone()))
        .collect()
}

/// How many judgings (policy and keys) keep their cache: a few trusted
/// refs and policy changes, not every state a repository's policy was in.
const JUDGINGS_KEPT: usize = 8;

/// Removes all but the newest [`JUDGINGS_KEPT`] cache files, and every
/// file of an older format (a JSON map of 12 MB at 100,000 runs).
fn forget_old_judgings(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(std::time::SystemTime, std::path::PathBuf)> = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().is_none_or(|x| x != cache::EXTENSION) {
            let _ = std::fs::remove_file(&path);
        } else if let Ok(modified) = e.metadata().and_then(|m| m.modified()) {
            files.push((modified, path));
        }
    }
    if files.len() <= JUDGINGS_KEPT {
        return;
    }
    files.sort();
    for (_, path) in &files[..files.len() - JUDGINGS_KEPT] {
        let _ = std::fs::remove_file(path);
    }
}

impl Judging {
    fn new(trusted: Side, branch: Option<Side>) -> Judging {
        let applied = match &branch {
            Some(b) => trusted.approvals.stricter(&b.approvals),
            None => trusted.approvals.clone(),
        };
        let key = cache_key(&applied, &trusted, branch.as_ref());
        Judging {
            applied,
            trusted,
            branch,
            key,
        }
    }

    /// Whether the branch's own policy honours nothing the trusted one
    /// refuses (the same keys, and rules at least as strict): then a run
    /// the same on both refs holds nothing to judge.
    fn adds_nothing(&self) -> bool {
        self.branch.as_ref().is_none_or(|b| {
            b.signers == self.trusted.signers
                && b.approvals.stricter(&self.trusted.approvals) == b.approvals
        })
    }

    /// Whose keys a decision's signature must verify against: the
    /// trusted file when the trusted policy signs, the branch's when the
    /// branch signs (a branch may only add a requirement).
    fn needs(&self) -> (bool, bool) {
        let signs = |s: &Side| s.approvals.policy == Policy::Signed;
        (
            signs(&self.trusted),
            self.branch.as_ref().is_some_and(signs),
        )
    }
}

/// Names one judging: the applied policy and both signer files, so a
/// changed key or policy re-judges every run.
fn cache_key(applied: &Approvals, trusted: &Side, branch: Option<&Side>) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let parts: [&[u8]; 4] = [
        b"nexo-verify-run/1",
        &serde_json::to_vec(applied).expect("a policy serializes"),
        trusted.signers.as_deref().unwrap_or_default(),
        branch
            .and_then(|b| b.signers.as_deref())
            .unwrap_or_default(),
    ];
    for part in parts {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.update([branch.is_some() as u8]);
    crate::core::id::hex(&h.finalize())
}

/// The signature checks of one `verify`: against the trusted keys, and
/// against the branch's own (to tell `signer_not_trusted` apart).
struct Verifiers {
    trusted: Verifier,
    branch: BranchKeys,
    /// `ssh-keygen` could not be run since the last [`Verifiers::took`]:
    /// the verdict fails closed but must not be cached.
    failed: bool,
}

/// The branch's allowed signers, as far as checking goes.
enum BranchKeys {
    /// No branch to weigh, or the same file as the trusted one.
    AsTrusted,
    Own(Verifier),
    /// The branch has no allowed signers: nothing verifies on it.
    None,
}

impl Verifiers {
    fn new(nexo: &Nexo, judging: &Judging) -> Verifiers {
        let cache = nexo.repo.git_dir().join("nexo-verified");
        let branch = match &judging.branch {
            Some(b) if b.signers == judging.trusted.signers => BranchKeys::AsTrusted,
            Some(b) if b.signers.is_none() => BranchKeys::None,
            Some(b) => BranchKeys::Own(Verifier::new(b.signers.clone(), &cache)),
            None => BranchKeys::AsTrusted,
        };
        Verifiers {
            trusted: Verifier::new(judging.trusted.signers.clone(), &cache),
            branch,
            failed: false,
        }
    }

    /// The decisions that verify as the applied policy requires, and
    /// those that verify against the branch's keys.
    fn check(
        &mut self,
        judging: &Judging,
        events: &[Event],
    ) -> (BTreeSet<EventId>, BTreeSet<EventId>) {
        let (trusted_signs, branch_signs) = judging.needs();
        let (mut applied, mut on_branch) = (BTreeSet::new(), BTreeSet::new());
        if !trusted_signs && !branch_signs {
            return (applied, on_branch);
        }
        for (e, content, signature) in signed_decisions(events) {
            // ssh-keygen missing: nothing verifies, so nothing passes.
            let mut verify = |v: &mut Verifier| {
                let verdict = v.verify(&e.actor, &content, signature);
                self.failed |= verdict.is_err();
                verdict.unwrap_or(false)
            };
            let by_trusted = verify(&mut self.trusted);
            let by_branch = match &mut self.branch {
                BranchKeys::Own(v) => verify(v),
                BranchKeys::AsTrusted => by_trusted,
                BranchKeys::None => false,
            };
            if by_branch {
                on_branch.insert(e.id.clone());
            }
            let ok = match (trusted_signs, branch_signs) {
                (true, true) => by_trusted && by_branch,
                (true, false) => by_trusted,
                _ => by_branch,
            };
            if ok {
                applied.insert(e.id.clone());
            }
        }
        (applied, on_branch)
    }

    /// Whether every check since the last call could be made.
    fn took(&mut self) -> bool {
        !std::mem::take(&mut self.failed)
    }

    fn save(&mut self) {
        self.trusted.save();
        if let BranchKeys::Own(b) = &mut self.branch {
            b.save();
        }
    }
}
