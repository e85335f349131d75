//! The library's verbs, one file per family: the run verbs of the
//! original's tool interface (`runs`), claims, gates, goals, compensation,
//! `ready` and `prime`. The CLI, `nexo call` and the MCP server are thin
//! adapters over these.
//!
//! Every write follows the same path (`crate::workspace`): take the lock,
//! read and fold the run's history, validate the request against that
//! state, append exactly one event, regenerate the views, commit.
//! Validation happens before anything is written, so a refused request
//! leaves no trace.
//!
//! May import: `core`, `store`, `git`, `index`, `wire`, `workspace`, and
//! the verbs it is built on (`crate::sync`, `crate::branches`).

mod after;
mod archive;
mod branches;
pub use branches::BringResponse;
mod claims;
mod compensation;
mod feed;
mod gates;
mod goals;
mod prime;
mod ready;
mod remote_claim;
pub(crate) mod runs;
mod templates;
pub use templates::STARTERS;
mod validate;
pub mod wait;
mod write;

pub use validate::nothing_to_update;

pub use crate::workspace::{LockGuard, Nexo, Options};

/// A temporary file in a folder, with an ordinary file's mode, never
/// through a link: how `nexo setup` writes a file whole.
pub use crate::store::Flow;
pub use crate::store::nofollow::temp_file_in;
