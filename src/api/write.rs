//! The write path of every verb on an existing run: the run resolved by
//! id or prefix (or, when it lives on another branch only, named there),
//! then `workspace`'s write.

use crate::core::error::Result;
use crate::core::event::{Body, Event};
use crate::core::fold::Run;
use crate::wire::response::CommitInfo;
use crate::workspace::Nexo;

impl Nexo {
    /// The shared write path for every verb on an existing run.
    pub(super) fn write<F>(&self, run_id: &str, build: F) -> Result<(Run, Event, CommitInfo)>
    where
        F: FnOnce(&Run) -> Result<(String, Body, String)>,
    {
        let build = |run: &Run| build(run).map(|(actor, body, s)| (actor, body, move |_: &Run| s));
        self.write_saying(run_id, build)
    }

    /// [`Nexo::write`], with the commit subject a function of the run
    /// after the event (what the event did to it).
    pub(super) fn write_saying<F, S>(
        &self,
        run_id: &str,
        build: F,
    ) -> Result<(Run, Event, CommitInfo)>
    where
        F: FnOnce(&Run) -> Result<(String, Body, S)>,
        S: FnOnce(&Run) -> String,
    {
        crate::trace::mark("discovered");
        self.refresh()?;
        let id = match self.store.resolve(run_id) {
            Ok(id) => id,
            // A run one branch away is named, with how to work on it.
            Err(e) if e.kind == crate::core::error::ErrorKind::NotFound => {
                return Err(self.not_here(run_id, e));
            }
            Err(e) => return Err(e),
        };
        self.write_sealed(&id, build, None)
    }
}
