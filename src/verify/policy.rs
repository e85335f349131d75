//! The two policies `verify` weighs: the trusted one, read from a ref the
//! branch cannot change (or the working tree's, without `--trusted`), and
//! the branch's own, read from HEAD; and what the branch changed in them.

use gix::ObjectId;

use crate::core::approval::Approvals;
use crate::core::error::{Error, Result};
use crate::core::verify::{PolicyChange, PolicyOut};
use crate::git::refs::FileAt;
use crate::store::NEXO_DIR;
use crate::store::config::Config;
use crate::workspace::Nexo;

use crate::core::layout::ALLOWED_SIGNERS;

/// A policy and the keys it trusts.
#[derive(Debug, Clone, Default)]
pub(super) struct Side {
    pub(super) approvals: Approvals,
    /// `.nexo/allowed_signers`, if there is one.
    pub(super) signers: Option<Vec<u8>>,
}

impl Side {
    pub(super) fn out(&self) -> PolicyOut {
        let signers = self.signers.as_deref().map_or(0, |b| {
            String::from_utf8_lossy(b)
                .lines()
                .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
                .count()
        });
        PolicyOut {
            approvals: self.approvals.clone(),
            signers,
        }
    }
}

pub(super) fn config_rel() -> String {
    format!("{NEXO_DIR}/{}", Config::FILE)
}

pub(super) fn signers_rel() -> String {
    format!("{NEXO_DIR}/{ALLOWED_SIGNERS}")
}

impl Nexo {
    /// The policy at `commit` (`name` in messages). An error means it
    /// cannot be read as a policy.
    pub(super) fn side_at(&self, commit: ObjectId, name: &str) -> Result<Side> {
        let place = |rel: &str| format!("{name}:{rel}");
        let approvals = match self.repo.file_at(commit, &config_rel())? {
            FileAt::Missing => Approvals::default(),
            FileAt::File(_, bytes) => Config::parse(&bytes, &place(&config_rel()))?.approvals,
            FileAt::NotAFile(kind) => {
                return Err(Error::invalid(format!(
                    "{} is {kind}, not a file: nexo never follows one",
                    place(&config_rel())
                )));
            }
        };
        let signers = match self.repo.file_at(commit, &signers_rel())? {
            FileAt::Missing => None,
            FileAt::File(_, bytes) => Some(bytes),
            FileAt::NotAFile(kind) => {
                return Err(Error::invalid(format!(
                    "{} is {kind}, not a file: nexo never follows one",
                    place(&signers_rel())
                )));
            }
        };
        Ok(Side { approvals, signers })
    }

    /// The working tree's own policy, as every other command applies it.
    pub(super) fn side_here(&self) -> Side {
        Side {
            approvals: self.approvals().clone(),
            signers: self.store().read(&signers_rel()).ok().flatten(),
        }
    }

    /// What HEAD changed in the policy's files since `base`.
    pub(super) fn policy_changes(&self, base: ObjectId, head: ObjectId) -> Vec<PolicyChange> {
        let mut out = Vec::new();
        for rel in [config_rel(), signers_rel()] {
            let before = self.repo.file_at(base, &rel).unwrap_or(FileAt::Missing);
            let after = self.repo.file_at(head, &rel).unwrap_or(FileAt::Missing);
            let change = match (&before, &after) {
                (FileAt::File(a, _), FileAt::File(b, _)) if a == b => continue,
                (FileAt::Missing, FileAt::Missing) => continue,
                (_, FileAt::NotAFile(_)) => "not_a_file",
                (FileAt::Missing, _) => "added",
                (_, FileAt::Missing) => "removed",
                _ => "modified",
            };
            let (added, removed) = line_changes(bytes_of(&before), bytes_of(&after));
            out.push(PolicyChange {
                path: rel,
                since: base.to_string(),
                change,
                added,
                removed,
            });
        }
        out
    }
}

fn bytes_of(f: &FileAt) -> &[u8] {
    match f {
        FileAt::File(_, bytes) => bytes,
        _ => &[],
    }
}

/// The lines only `after` has, and those only `before` has.
fn line_changes(before: &[u8], after: &[u8]) -> (Vec<String>, Vec<String>) {
    let (before, after) = (
        String::from_utf8_lossy(before),
        String::from_utf8_lossy(after),
    );
    let only = |a: &str, b: &str| -> Vec<String> {
        let others: std::collections::HashSet<&str> = b.lines().collect();
        a.lines()
            .filter(|l| !l.trim().is_empty() && !others.contains(l))
            .take(50)
            .map(|l| crate::core::words::clip(l, 160))
            .collect()
    };
    (only(&after, &before), only(&before, &after))
}

#[cfg(test)]
mod tests {
    #[test]
    fn line_changes_name_what_each_side_lacks() {
        let (added, removed) = super::line_changes(
            b"lead ssh-ed25519 A\n",
            b"lead ssh-ed25519 A\nmallory ssh-ed25519 M\n",
        );
        assert_eq!(added, ["mallory ssh-ed25519 M"]);
        assert!(removed.is_empty());
    }
}
