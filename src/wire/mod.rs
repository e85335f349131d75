//! The tool interface's shapes: what the verbs take (`request`), what they
//! answer (`response`), and the lenient JSON reading of what callers send
//! (`json`), and what exchanging runs with other clones reports (`sync`). Shared by the verbs and every adapter (CLI, `call`, MCP).
//!
//! May import: `core`, and the types of the layers below it (a commit's
//! info from `git`, a sync's report from `sync`).

pub mod archive;
pub mod claims;
pub mod feed;
pub mod goals;
pub mod json;
pub mod request;
pub mod response;
pub mod sync;
pub mod templates;
