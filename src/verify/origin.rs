//! Where a branch began: the bar every event it adds must clear
//! (docs/decisions.md, "Lines a branch writes by hand"). Finding it walks
//! the branch's first-parent line through the user's git, so it is found
//! once, and only for a run where some event does not follow the merge
//! base (what follows the merge base follows this older commit too).

use std::cell::OnceCell;
use std::collections::BTreeMap;

use gix::ObjectId;

use super::Bases;
use crate::workspace::Nexo;

pub(super) struct Origin {
    head: ObjectId,
    trusted: ObjectId,
    fork: ObjectId,
    found: OnceCell<Found>,
}

struct Found {
    /// The commit where the branch began.
    commit: ObjectId,
    /// Its runs, unless it is the merge base (whose runs `Bases` has).
    runs: Option<BTreeMap<String, ObjectId>>,
}

impl Origin {
    pub(super) fn new(head: ObjectId, trusted: ObjectId, fork: ObjectId) -> Origin {
        Origin {
            head,
            trusted,
            fork,
            found: OnceCell::new(),
        }
    }

    fn found(&self, nexo: &Nexo) -> &Found {
        self.found.get_or_init(|| {
            // A line git cannot walk, or that never reaches the base (a
            // history rooted elsewhere, the base merged in), began nowhere
            // the base knows: the merge base is the bar, fail closed.
            let commit = nexo
                .repo
                .branch_origin(self.head, self.trusted)
                .ok()
                .flatten()
                .unwrap_or(self.fork);
            let runs = (commit != self.fork).then(|| {
                nexo.runs_of_commit(commit, &mut Vec::new())
                    .into_iter()
                    .collect()
            });
            Found { commit, runs }
        })
    }

    /// Run `id`'s folder where the branch began, if it had one.
    pub(super) fn folder(&self, nexo: &Nexo, bases: &Bases, id: &str) -> Option<ObjectId> {
        let found = self.found(nexo);
        match &found.runs {
            Some(runs) => runs.get(id).copied(),
            None => bases.fork().get(id).copied(),
        }
    }

    /// The commit as people read it (short).
    pub(super) fn name(&self, nexo: &Nexo) -> String {
        self.found(nexo).commit.to_hex_with_len(7).to_string()
    }
}
