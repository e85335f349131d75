//! What nexo derives from the committed files and keeps under `.git`
//! (`nexo-cache/`), never committed: the fold cache (a run's folded state,
//! so a read does not fold its whole history again),
//! and the summary index (one line a run, what `list`, `ready` and
//! `prime` read). Delete any of it and every answer is byte-identical,
//! only slower.
//!
//! May import: `core`, `store`, `wire`, `trace`.

use std::io::Write;

use crate::store::Store;

mod fold_cache;
mod ids;
pub mod summaries;

pub use fold_cache::{FORMAT as FOLD_FORMAT, FoldCache};

/// Writes one cache file whole (a temporary file renamed into place).
/// Best effort: a cache that cannot be written costs a refold later.
pub fn write_file(store: &Store, path: &std::path::Path, bytes: &[u8]) -> bool {
    let dir = store.cache_dir();
    let _ = std::fs::create_dir_all(&dir);
    let Ok(mut tmp) = tempfile::NamedTempFile::new_in(&dir) else {
        return false;
    };
    tmp.write_all(bytes).is_ok() && tmp.persist(path).is_ok()
}
