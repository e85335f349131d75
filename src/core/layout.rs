//! Where each record's files live in the working tree, as relative paths
//! with `/`: the one place that names them (docs/format.md, "Layout").

use crate::core::id::{GOAL_PREFIX, RUN_PREFIX};

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

/// Where the runs are: each in `<c1>/<c2>/<RUN_ID>/` below it (see
/// [`run_rel`]).
pub const RUNS_DIR: &str = ".nexo/runs";
/// [`RUNS_DIR`]'s name in `.nexo`'s tree.
pub const RUNS: &str = "runs";
/// [`GOALS_DIR`]'s name in `.nexo`'s tree.
pub const GOALS: &str = "goals";
/// Where the goals are: each in `<GOAL_ID>/` below it (goals are few).
pub const GOALS_DIR: &str = ".nexo/goals";

/// The layout of `.nexo/` this nexo writes: 2, runs fanned out in two
/// levels by their id's first characters. Layout 1 kept every run in
/// `.nexo/runs/<RUN_ID>/`, so every write made git store a new copy of a
/// tree with an entry per run (docs/decisions.md, "Runs fanned out").
pub const LAYOUT: u32 = 2;

/// The character of a run id that names the folder at `level` (0 or 1):
/// the id's characters after `WF-`, uppercased; `_` where the id is too
/// short or the character is not a letter or digit, so every id has a
/// folder and no folder is named `.` or `-`.
fn shard_char(run_id: &str, level: usize) -> char {
    let body = run_id.strip_prefix(RUN_PREFIX).unwrap_or(run_id);
    body.chars()
        .nth(level)
        .filter(char::is_ascii_alphanumeric)
        .map_or('_', |c| c.to_ascii_uppercase())
}

/// A run's folder relative to [`RUNS_DIR`]: `7/K/WF-7K2D…`. Two levels of
/// the 32 letters of run ids make 1,024 folders: about a hundred runs
/// each at 100,000 runs, so a write rewrites three small trees, not one
/// with an entry per run.
pub fn run_in_runs(run_id: &str) -> String {
    if crate::trace::flat_layout() {
        return run_id.to_string();
    }
    format!(
        "{}/{}/{run_id}",
        shard_char(run_id, 0),
        shard_char(run_id, 1)
    )
}

/// A run's folder: `.nexo/runs/7/K/WF-7K2D…`.
pub fn run_rel(run_id: &str) -> String {
    format!("{RUNS_DIR}/{}", run_in_runs(run_id))
}

/// Where layout 1 kept a run's folder: `.nexo/runs/<RUN_ID>`.
pub fn legacy_run_rel(run_id: &str) -> String {
    format!("{RUNS_DIR}/{run_id}")
}

/// Where `nexo archive` moves closed runs: each in `<c1>/<c2>/<RUN_ID>/`
/// below it, as in [`RUNS_DIR`], its files byte for byte (so git sees a
/// rename, and a peer's later line follows the file), with an
/// [`ARCHIVED`] note beside them.
pub const ARCHIVE_DIR: &str = ".nexo/archive";
/// In an archived run's folder: when it was archived and how many events
/// it had, so that a later event (a peer's, merged in) brings it back.
pub const ARCHIVED: &str = "archived.yaml";

/// An archived run's folder: `.nexo/archive/7/K/WF-7K2D…`.
pub fn archive_rel(run_id: &str) -> String {
    format!("{ARCHIVE_DIR}/{}", fanned(run_id))
}

/// Whether `name`, an entry of [`RUNS_DIR`] or of one of its folders, is a
/// fan-out folder (one character) rather than a run's folder.
pub fn is_shard(name: &str) -> bool {
    name.len() == 1 && (name == "_" || name.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// The record a path of `.nexo/` belongs to, in either layout: `(id,
/// legacy)` for a path in a run's folder (`legacy`: in layout 1's place),
/// `(id, false)` in a goal's; `None` for anything else.
pub fn record_of_path(rel: &str) -> Option<(&str, bool)> {
    let rest = rel.strip_prefix(NEXO_DIR)?.strip_prefix('/')?;
    if let Some(goal) = rest.strip_prefix("goals/") {
        let id = goal.split('/').next().filter(|id| !id.is_empty())?;
        return Some((id, false));
    }
    let mut parts = rest.strip_prefix("runs/")?.split('/');
    let first = parts.next().filter(|p| !p.is_empty())?;
    let (second, third) = (parts.next(), parts.next());
    match (second, third) {
        (Some(second), Some(id))
            if is_shard(first)
                && is_shard(second)
                && !id.is_empty()
                && format!("{first}/{second}/{id}") == fanned(id) =>
        {
            Some((id, false))
        }
        _ if is_shard(first) => None,
        _ => Some((first, true)),
    }
}

/// [`run_in_runs`] in layout 2 whatever the test switch says.
fn fanned(run_id: &str) -> String {
    format!(
        "{}/{}/{run_id}",
        shard_char(run_id, 0),
        shard_char(run_id, 1)
    )
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

/// The id of a live history path (`.nexo/runs/<c>/<c>/<id>/history.jsonl`
/// or `.nexo/goals/<id>/history.jsonl`), in the layout this nexo writes.
pub fn record_of_history(rel: &str) -> Option<&str> {
    let dir = rel.strip_suffix(HISTORY)?.strip_suffix('/')?;
    let id = dir.rsplit('/').next()?;
    (history_rel(id) == rel).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_fan_out_by_their_first_two_characters() {
        assert_eq!(
            history_rel("WF-7K2D000000000000"),
            ".nexo/runs/7/K/WF-7K2D000000000000/history.jsonl"
        );
        assert_eq!(run_rel("WF-a"), ".nexo/runs/A/_/WF-a");
        assert_eq!(run_rel("x.y"), ".nexo/runs/X/_/x.y");
        assert_eq!(history_rel("WG-1234"), ".nexo/goals/WG-1234/history.jsonl");
    }

    #[test]
    fn paths_name_their_record_in_either_layout() {
        let id = "WF-7K2D000000000000";
        assert_eq!(record_of_history(&history_rel(id)), Some(id));
        assert_eq!(
            record_of_history(&format!("{}/{HISTORY}", legacy_run_rel(id))),
            None
        );
        assert_eq!(record_of_path(&history_rel(id)), Some((id, false)));
        let step = format!("{}/steps/a.yaml", run_rel(id));
        assert_eq!(record_of_path(&step), Some((id, false)));
        let old = format!("{}/steps/a.yaml", legacy_run_rel(id));
        assert_eq!(record_of_path(&old), Some((id, true)));
        assert_eq!(record_of_path(".nexo/runs/7/K"), None);
        assert_eq!(record_of_path(".nexo/runs/7/Q/WF-7K2D000000000000"), None);
        assert_eq!(
            record_of_path(".nexo/goals/WG-1/goal.yaml"),
            Some(("WG-1", false))
        );
        assert_eq!(record_of_path(".nexo/config.yaml"), None);
    }
}
