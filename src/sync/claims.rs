//! The remote as the arbiter of claims. After `sync` integrates the
//! remote's work, a claim this clone made that the remote does not have
//! yet yields (`released` as `lost`) to a claim on the same step that the
//! remote has and that it did not see: whoever reached the remote first
//! holds the step. So a claim acknowledged at the remote (`claim --sync`)
//! is never displaced by a clone that pushes after it, with or without
//! `--sync`, and every clone agrees on the holder once the yield is
//! pulled.

use std::collections::BTreeSet;

use crate::core::event::{Body, ReleaseReason, Released};
use crate::core::id::EventId;
use crate::wire::sync::Yielded;

use crate::core::error::Result;
use crate::git::cli::GitCli;
use crate::store::RUNS_DIR;
use crate::workspace::Nexo;

impl Nexo {
    /// Yields every claim of this clone's, not yet at the upstream, that a
    /// claim at the upstream contends without having seen it. Called under
    /// the lock, after integrating and before pushing. Costs one `git diff`
    /// when no step is contended.
    pub(super) fn yield_unpushed_claims(&self, git: &GitCli) -> Result<Vec<Yielded>> {
        let runs_dir = format!("{RUNS_DIR}/");
        // No upstream branch yet (a first push): nothing there to yield to.
        let out = git.run(&["diff", "--name-only", "@{u}", "HEAD", "--", &runs_dir])?;
        if !out.status.success() {
            return Ok(Vec::new());
        }
        let listing = String::from_utf8_lossy(&out.stdout).into_owned();
        let runs: BTreeSet<&str> = listing
            .lines()
            .filter_map(|p| match crate::core::layout::record_of_path(p)? {
                (id, false) => Some(id),
                (_, true) => None,
            })
            .collect();
        let mut yielded = Vec::new();
        let mut held: Option<std::collections::BTreeSet<(String, String)>> = None;
        for id in runs {
            // An unreadable run is doctor's to report, not sync's to stop on.
            let Ok(run) = self.load(id) else { continue };
            for step in run.steps.iter().filter(|s| s.claims.len() > 1) {
                let folder = format!("{}/", crate::core::layout::run_rel(id));
                let at_remote = |token: &str| -> Result<bool> {
                    let args = ["grep", "-q", "-F", "-e", token, "@{u}", "--", &folder];
                    Ok(git.run(&args)?.status.success())
                };
                let mut remote = Vec::new();
                let mut local = Vec::new();
                for c in &step.claims {
                    match at_remote(&c.token)? {
                        true => remote.push(c),
                        false => local.push(c),
                    }
                }
                for mine in local {
                    let Some(rival) = remote.iter().find(|r| !run.follows(&mine.token, &r.token))
                    else {
                        continue;
                    };
                    // A claim this clone holds the claim ref of was decided
                    // at the remote already (`claim_refs`): it stands.
                    let held = match &mut held {
                        Some(h) => h,
                        None => held.insert(self.held_claim_refs(git)?),
                    };
                    if held.contains(&(id.to_string(), step.step_key.clone())) {
                        continue;
                    }
                    self.yield_claim(id, &step.step_key, &mine.holder, &mine.token, &rival.holder)?;
                    yielded.push(Yielded {
                        run_id: id.to_string(),
                        step_key: step.step_key.clone(),
                        holder: mine.holder.clone(),
                        token: mine.token.to_string(),
                        to: rival.holder.clone(),
                    });
                }
            }
        }
        Ok(yielded)
    }

    /// Releases `holder`'s claim `token` as lost to `to`'s.
    pub(super) fn yield_claim(
        &self,
        run_id: &str,
        key: &str,
        holder: &str,
        token: &str,
        to: &str,
    ) -> Result<()> {
        self.write_record::<crate::core::fold::Run, _>(run_id, |_| {
            let body = Body::Released(Released {
                step_key: key.to_string(),
                holder: holder.to_string(),
                token: EventId::from(token),
                reason: ReleaseReason::Lost,
            });
            Ok((
                holder.to_string(),
                body,
                format!("{holder} yields {key} to {to}"),
            ))
        })
        .map(drop)
    }

    /// Releases, as lost, claim `c` made here on a step whose claim ref
    /// another clone created first: it never held the step.
    pub(crate) fn yield_to_claim_ref(&self, c: &crate::wire::claims::ClaimResponse) -> Result<()> {
        self.yield_claim(&c.run_id, &c.step_key, &c.holder, &c.token, "another clone")
    }
}
