//! nexo: durable workflow runs for coding agents, kept as plain files in
//! the user's own git repository.
//!
//! The core knows nothing of files, git or command lines:
//! - [`model`]: statuses, priorities, names;
//! - [`approval`]: who may pass a gate, and what a signature covers;
//! - [`event`]: one line of a run's history;
//! - [`check`]: the rules every event meets, on write and on read;
//! - [`fold`]: events to state, order-independent (claims included);
//! - [`claim`]: lease times and the skew margin, the same on every machine;
//! - [`divergence`]: concurrent changes from two clones, detected;
//! - [`goal`]: the goal stack, folded like runs;
//! - [`graph`]: steps' dependencies, and the cycles refused;
//! - [`ready`]: which steps any agent may take now;
//! - [`resume`]: state to the next honest action;
//! - [`view`]: state to the YAML files people read;
//! - [`render`]: state to what people look at: terminal, Markdown, Mermaid;
//! - [`verify`]: a branch's gates judged by a policy it cannot change.
//!
//! Around it:
//! - [`store`]: `.nexo/` on disk (append, lock, atomic views);
//! - [`git`]: one commit per write, touching only `.nexo/`;
//! - [`api`]: the verbs, over store and git;
//! - [`request`], [`response`], [`json`]: the tool interface's shapes;
//! - [`sync`]: pull, push, resolve and doctor through the user's git;
//! - [`call`]: the tool interface (`nexo call <tool> --input <json>`),
//!   shared by the command line and the MCP server.
//!
//! The command line, the MCP server and the demo belong to the binary
//! (`src/main.rs`, `src/cli/`, `src/mcp/`, `src/demo.rs`); the library
//! builds without clap, rmcp or tokio (`--no-default-features`).

// Five audited exceptions, each with a SAFETY comment: the index mmap
// (git/index.rs), preallocating the new index (git/mod.rs), the test hook
// that kills the process (trace.rs), the summaries index mmap
// (api/summaries.rs) and the fold cache's id set mmap (api/cache/ids.rs).
// The runs folder is read and stat'ed through rustix, without any.
#![deny(unsafe_code)]

pub mod api;
pub mod call;
pub mod core;
pub mod doctor;
pub mod git;
pub mod index;
pub mod render;
pub mod store;
pub mod sync;
pub mod trace;
pub mod verify;
pub mod wire;
pub mod workspace;

pub use core::error::{Error, ErrorKind, Result};
pub use workspace::{Nexo, Options};
