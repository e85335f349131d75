//! `wait`: block until something holds of a run (a gate decided, a step
//! or the run done, a step ready, any new event), then answer as `get`
//! does; or give up after a timeout with `timed_out` (exit 13).
//!
//! No daemon and no busy loop. This clone is watched by its run's
//! history stamp (one `lstat` every [`LOCAL_POLL`]); the run is folded
//! again only when the stamp moved. With `sync`, the remote is asked for
//! its tip (`git ls-remote`, no fetch) after [`REMOTE_FIRST`], then after
//! twice as long each time it had not moved, up to [`REMOTE_CAP`]; a
//! fetch and pull happen only when it moved, and the pause starts over.
//! The condition is judged again on every tick, as `ready` depends on the
//! time (leases end).

use std::time::{Duration, Instant};

use crate::core::error::{Error, ErrorKind, Result};
use crate::core::ready::Viewer;
use crate::core::wait::Watched;
use crate::sync::{Look, Remote, SyncReport};
use crate::trace::now_text;
use crate::wire::request::{GetRequest, WaitRequest};
use crate::wire::response::GetResponse;
use crate::workspace::Nexo;

/// How often this clone's copy of the run is looked at.
pub const LOCAL_POLL: Duration = Duration::from_millis(250);
/// The first pause before asking the remote again.
pub const REMOTE_FIRST: Duration = Duration::from_secs(1);
/// The longest pause between two looks at an idle remote.
pub const REMOTE_CAP: Duration = Duration::from_secs(16);

impl Nexo {
    pub fn wait(&self, req: WaitRequest) -> Result<GetResponse> {
        let id = self.store().resolve(&req.run_id)?;
        let actor = self.actor(req.actor.clone(), None);
        let mut run = self.load(&id)?;
        let start = run.heads.clone();
        let watched = Watched {
            condition: req.condition,
            step: req.step_key.as_deref(),
            start: &start,
        };
        watched.check(&run)?;
        let began = Instant::now();
        let deadline = req.timeout_seconds.map(|s| began + Duration::from_secs(s));
        let mut remote = match req.sync.unwrap_or(false) {
            true => Some(self.remote_watch()?),
            false => None,
        };
        let mut stamp = self.store().history_stamp(&id);
        loop {
            let now = now_text();
            let viewer = Viewer {
                actor: &actor,
                now: &now,
            };
            let others = super::after::Others::default();
            let outside = |s: &crate::core::fold::Step| self.after_waits(&s.after, &others);
            let Some(awaited) = watched.awaits(&run, viewer, &outside) else {
                return self.get(GetRequest {
                    run_id: id,
                    include_steps: Some(true),
                    checkpoint_limit: None,
                });
            };
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(timed_out(&req, &id, &awaited, began.elapsed()));
            }
            if let Some(remote) = &mut remote {
                remote.poll(self)?;
            }
            let now_stamp = self.store().history_stamp(&id);
            if now_stamp != stamp {
                stamp = now_stamp;
                run = self.load(&id)?;
                continue;
            }
            let left = deadline.map_or(LOCAL_POLL, |d| d.saturating_duration_since(Instant::now()));
            std::thread::sleep(left.min(LOCAL_POLL));
        }
    }
}

/// A remote watched cheaply: asked for its tip when the pause is over,
/// pulled only when it moved ([`REMOTE_FIRST`] to [`REMOTE_CAP`]).
pub struct RemoteWatch {
    remote: Remote,
    next_look: Instant,
    pause: Duration,
}

impl Nexo {
    /// The upstream of this branch, to watch (refused as `sync` refuses
    /// it: no upstream, a merge in progress).
    pub fn remote_watch(&self) -> Result<RemoteWatch> {
        Ok(RemoteWatch {
            remote: self.remote()?,
            next_look: Instant::now(),
            pause: REMOTE_FIRST,
        })
    }
}

impl RemoteWatch {
    /// Looks at the remote if the pause is over, and pulls if it moved:
    /// whether it pulled.
    pub fn poll(&mut self, nexo: &Nexo) -> Result<bool> {
        if Instant::now() < self.next_look {
            return Ok(false);
        }
        let moved = self.remote.moved();
        self.pause = match moved {
            true => {
                let mut report = SyncReport::new(self.remote.name());
                nexo.pull_looking(&self.remote, &mut report, Look::Fetch)?;
                REMOTE_FIRST
            }
            false => (self.pause * 2).min(REMOTE_CAP),
        };
        self.next_look = Instant::now() + self.pause;
        Ok(moved)
    }
}

/// The wait gave up: what was awaited, and how to wait again.
fn timed_out(req: &WaitRequest, id: &str, awaited: &str, waited: Duration) -> Error {
    let step = req
        .step_key
        .as_deref()
        .map(|s| format!(" {s}"))
        .unwrap_or_default();
    Error::new(
        ErrorKind::TimedOut,
        format!(
            "{id}{step} is still not {} after {}s: {awaited}",
            req.condition,
            waited.as_secs()
        ),
    )
    .with_hint(format!(
        "wait again (nothing is wrong): nexo wait {id}{step} --for {}{}",
        req.condition,
        if req.sync.unwrap_or(false) {
            " --sync"
        } else {
            ""
        }
    ))
    .with_detail("awaited", awaited.to_string())
}
