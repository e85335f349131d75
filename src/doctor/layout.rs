//! `doctor` on the layout of `.nexo/` (`core::layout`): run folders still
//! in layout 1's place, a layout not recorded in `.nexo/config.yaml`, and
//! archived runs a later event is to bring back.

use super::{Problem, ProblemKind};
use crate::core::error::Result;
use crate::core::layout::{LAYOUT, RUNS_DIR};
use crate::store::NEXO_DIR;
use crate::workspace::Nexo;

/// The advice for a `.nexo/runs` folder far larger than its entries.
pub(super) fn runs_folder_advice(bloat: crate::store::Bloat) -> String {
    format!(
        "{RUNS_DIR} is a folder of {} KB for {} entries (ext4 never shrinks a folder; the layout \
         upgrade emptied it): every listing of it reads them all. `nexo doctor --fix` gives it a \
         new folder; nothing is committed",
        bloat.bytes / 1024,
        bloat.entries
    )
}

impl Nexo {
    /// With `fix`, upgrades the layout (its own commit, as the first
    /// write would make) and records it.
    pub(super) fn old_layout(&self, fix: bool, fixed: &mut Vec<String>) -> Result<Vec<Problem>> {
        let mut problems = Vec::new();
        let legacy = self.legacy_runs()?;
        if !legacy.is_empty() {
            problems.push(Problem {
                kind: ProblemKind::OldLayout,
                path: RUNS_DIR.to_string(),
                line: None,
                message: format!(
                    "{} in layout 1's place ({RUNS_DIR}/<RUN_ID>/, e.g. {RUNS_DIR}/{}/): --fix, or the next nexo command, moves them to {RUNS_DIR}/<c>/<c>/<RUN_ID>/ in one commit",
                    match legacy.len() {
                        1 => "1 run is".to_string(),
                        n => format!("{n} runs are"),
                    },
                    legacy[0]
                ),
                fixable: true,
            });
            if fix {
                self.upgrade_layout()?;
            }
            return Ok(problems);
        }
        // A folder left large by an upgrade (an earlier nexo's, too).
        if fix {
            self.compact_runs_folder(self.lock()?.held())?;
        }
        let rel = format!("{NEXO_DIR}/config.yaml");
        let recorded = crate::store::config::Config::load(self.store().root())
            .map(|c| c.layout.is_some())
            .unwrap_or(true);
        if !recorded && !self.store().run_ids()?.is_empty() {
            problems.push(Problem {
                kind: ProblemKind::OldLayout,
                path: rel.clone(),
                line: None,
                message: format!(
                    "{rel} does not record the layout (layout: {LAYOUT}): a nexo older than layout {LAYOUT} would find no runs here and write new ones where no other nexo looks; --fix adds it"
                ),
                fixable: true,
            });
            if fix {
                fixed.extend(self.store().ensure_layout_marker()?);
            }
        }
        Ok(problems)
    }

    /// Archived runs that a merge gave a later event, or left with a live
    /// folder too: the next refresh brings them back; `fix` does now.
    pub(super) fn archived_later(
        &self,
        fix: bool,
        fixed: &mut Vec<String>,
    ) -> Result<Vec<Problem>> {
        let mut problems = Vec::new();
        let archive = std::path::Path::new(crate::core::layout::ARCHIVE_DIR);
        // A link there is reported (and removed) as a link.
        if crate::store::nofollow::is_link_at(self.store().root(), archive) {
            return Ok(problems);
        }
        for id in self.store().archived_run_ids()? {
            match self.archived_but_later(&id) {
                Ok(true) => {}
                Ok(false) => continue,
                // A link in its folder: reported as a link.
                Err(e) if e.kind == crate::core::error::ErrorKind::Corrupt => continue,
                Err(e) => return Err(e),
            }
            let path = crate::core::layout::archive_rel(&id);
            problems.push(Problem {
                kind: ProblemKind::ArchivedLater,
                path: path.clone(),
                line: None,
                message: format!(
                    "{id} is archived but has a later event, or a live folder too: --fix, or the next nexo command after a pull, brings it back to {RUNS_DIR}/"
                ),
                fixable: true,
            });
            if fix && self.settle_one(&id, false)? {
                fixed.push(path);
            }
        }
        Ok(problems)
    }
}
