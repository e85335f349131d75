//! nexo: durable workflow runs for coding agents, kept as plain files in
//! the user's own git repository.
//!
//! The code is a house in layers, each folder a room that imports only
//! the rooms below it: `core` (pure), `store` and `git`, `wire`, `index`,
//! `workspace`, the verbs (`sync`, `api`, `verify`, `doctor`), and the
//! adapters (`call`, `render`, and the binary's `cli`, `mcp`, `serve`,
//! `setup`). docs/architecture.md draws it and says where each concept
//! lives; tests/architecture.rs holds it against the code.
//!
//! The library builds without clap, rmcp or tokio
//! (`--no-default-features`).

// Five audited exceptions, each with a SAFETY comment: the index mmap
// (git/index.rs), preallocating the new index (git/mod.rs), the test hook
// that kills the process (trace.rs), the summaries index mmap
// (index/summaries.rs) and the fold cache's id set mmap (index/ids.rs).
// The runs folder is read and stat'ed through rustix, without any.
#![deny(unsafe_code)]

pub mod api;
pub mod call;
pub mod core;
pub mod doctor;
pub mod git;
pub mod index;
pub mod memory;
pub mod render;
pub mod store;
pub mod sync;
pub mod trace;
pub mod verify;
pub mod wire;
pub mod workspace;

pub use core::error::{Error, ErrorKind, Result};
pub use workspace::{Nexo, Options};
