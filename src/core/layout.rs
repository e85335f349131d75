//! Where each record's files live in the working tree, as relative paths
//! with `/`: the one place that names them (docs/format.md, "Layout").

use crate::core::id::GOAL_PREFIX;

pub const NEXO_DIR: &str = ".nexo";
pub const HISTORY: &str = "history.jsonl";
/// Beside a history: the lines `doctor --fix` moved out of it because no
/// nexo can read them, byte for byte, one a line (docs/format.md).
pub const QUARANTINE: &str = "quarantine.jsonl";

/// The keys whose SSH signatures the `signed` approval policy accepts,
/// in git's allowed-signers format, beside `config.yaml`.
pub const ALLOWED_SIGNERS: &str = "allowed_signers";

/// Where a repository's workflow templates are: `<name>.yaml` each.
pub const TEMPLATES_DIR: &str = ".nexo/templates";

/// The file of template `name`.
pub fn template_rel(name: &str) -> String {
    format!("{TEMPLATES_DIR}/{name}.yaml")
}

/// A run's folder.
pub fn run_rel(run_id: &str) -> String {
    format!("{NEXO_DIR}/runs/{run_id}")
}

/// A goal's folder.
pub fn goal_rel(goal_id: &str) -> String {
    format!("{NEXO_DIR}/goals/{goal_id}")
}

/// A record's history: a goal's for a `WG-` id, else a run's.
pub fn history_rel(id: &str) -> String {
    if id.starts_with(GOAL_PREFIX) {
        format!("{}/{HISTORY}", goal_rel(id))
    } else {
        format!("{}/{HISTORY}", run_rel(id))
    }
}

/// Where `doctor --fix` keeps the unreadable lines it moves out of
/// history `rel` (a record's live history): beside it.
pub fn quarantine_rel(history_rel: &str) -> String {
    match history_rel.strip_suffix(HISTORY) {
        Some(dir) => format!("{dir}{QUARANTINE}"),
        None => format!("{history_rel}.{QUARANTINE}"),
    }
}

/// The id of a history path (`.nexo/runs/<id>/history.jsonl` or
/// `.nexo/goals/<id>/history.jsonl`).
pub fn record_of_history(rel: &str) -> Option<&str> {
    let rest = rel.strip_prefix(NEXO_DIR)?.strip_prefix('/')?;
    let id = rest
        .strip_prefix("runs/")
        .or_else(|| rest.strip_prefix("goals/"))?
        .strip_suffix(HISTORY)?
        .strip_suffix('/')?;
    (!id.contains('/') && history_rel(id) == rel).then_some(id)
}
