//! `archive` and `list --archived`: closed runs out of the live folder,
//! still read by id (`workspace::archive`).

use crate::core::error::{Error, ErrorKind, Result};
use crate::wire::archive::{ArchiveRequest, ArchiveResponse};
use crate::wire::request::ListRequest;
use crate::wire::response::{ListItem, ListResponse};
use crate::workspace::Nexo;

/// What `archive` archives when not told: runs closed a month ago.
const DEFAULT_CLOSED_BEFORE: &str = "30d";

impl Nexo {
    pub fn archive(&self, req: ArchiveRequest) -> Result<ArchiveResponse> {
        let given = req
            .closed_before
            .as_deref()
            .unwrap_or(DEFAULT_CLOSED_BEFORE);
        let cutoff = crate::workspace::archive::cutoff(given)?;
        let dry_run = req.dry_run.unwrap_or(false);
        let done = self.archive_closed(&cutoff, dry_run)?;
        let runs = crate::core::words::count(done.runs.len(), "run");
        let message = match (dry_run, done.runs.len()) {
            (_, 0) => format!("No run closed before {cutoff} to archive."),
            (true, _) => format!("Would archive {runs} closed before {cutoff}."),
            (false, _) => format!(
                "Archived {runs} closed before {cutoff}: `nexo list --archived` lists them."
            ),
        };
        Ok(ArchiveResponse {
            ok: true,
            dry_run,
            closed_before: cutoff,
            count: done.runs.len(),
            runs: done.runs,
            commit: done.commit,
            message,
        })
    }

    /// The archived runs, most recently archived first, up to `limit`.
    pub(crate) fn list_archived(&self, req: &ListRequest, limit: usize) -> Result<ListResponse> {
        // Archived runs are closed and on this branch: a filter that
        // would narrow them otherwise is refused, not silently dropped.
        let with = match (req.status.is_some(), req.branches.unwrap_or(false)) {
            (true, _) => Some("status"),
            (_, true) => Some("branches"),
            _ => None,
        };
        if let Some(field) = with {
            return Err(Error::naming(ErrorKind::Invalid, move |name| {
                format!(
                    "{} lists the archived runs of this working tree, all closed: it does not combine with {}; ask for one or the other",
                    name("archived"),
                    name(field)
                )
            }));
        }
        let mut runs = Vec::new();
        let mut unreadable = Vec::new();
        for (id, _) in self.archived_runs()?.into_iter().take(limit) {
            match self.fold_run_file(&id, 1) {
                Ok(run) => runs.push(ListItem::of(&run)),
                Err(e) => unreadable.push(crate::wire::response::Unreadable {
                    run_id: id.into(),
                    error: e.message,
                }),
            }
        }
        Ok(ListResponse {
            ok: true,
            count: runs.len(),
            runs,
            unreadable,
            closed_left_out: 0,
        })
    }
}
