//! Merging nexo's entries into an agent's own configuration files, as
//! pure functions of the old text: every other key, server, hook and
//! paragraph is kept, in its place; running a merge on its own output
//! changes nothing.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use nexo::core::error::{Error, Result};

/// A JSON value whose objects keep their keys in file order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Json {
    Object(IndexMap<String, Json>),
    Array(Vec<Json>),
    Scalar(Value),
}

impl Json {
    fn parse(text: &str, path: &str) -> Result<Json> {
        if text.trim().is_empty() {
            return Ok(Json::Object(IndexMap::new()));
        }
        let v: Json = serde_json::from_str(text).map_err(|e| {
            Error::invalid(format!(
                "{path} is not valid JSON ({e}); nexo leaves it alone"
            ))
            .with_hint(format!("fix {path} by hand, then run nexo setup again"))
        })?;
        match v {
            Json::Object(_) => Ok(v),
            _ => Err(Error::invalid(format!(
                "{path} is not a JSON object; nexo leaves it alone"
            ))),
        }
    }

    /// An object with these keys, in this order.
    fn object_of(fields: Vec<(&str, Json)>) -> Json {
        Json::Object(
            fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    }

    fn text(s: &str) -> Json {
        Json::Scalar(Value::String(s.to_string()))
    }

    /// The object at `key`, made if absent; an error if it is something else.
    fn object(&mut self, key: &str, path: &str) -> Result<&mut Json> {
        let Json::Object(map) = self else {
            unreachable!("objects only: checked by parse and by this function")
        };
        let entry = map
            .entry(key.to_string())
            .or_insert_with(|| Json::Object(IndexMap::new()));
        match entry {
            Json::Object(_) => Ok(entry),
            _ => Err(Error::invalid(format!(
                "{path}: \"{key}\" is not an object; nexo leaves the file alone"
            ))),
        }
    }

    fn render(&self) -> String {
        let mut out = serde_json::to_string_pretty(self).expect("JSON values serialize");
        out.push('\n');
        out
    }
}

/// `.mcp.json` (or `~/.claude.json`) with the nexo MCP server, as
/// `claude mcp add --scope project nexo -- nexo mcp` writes it. An
/// existing `nexo` entry is the user's and is kept as it is.
pub fn mcp_json(old: &str, path: &str) -> Result<String> {
    let mut root = Json::parse(old, path)?;
    let servers = root.object("mcpServers", path)?;
    if let Json::Object(map) = servers {
        map.entry("nexo".into()).or_insert_with(|| {
            Json::object_of(vec![
                ("type", Json::text("stdio")),
                ("command", Json::text("nexo")),
                ("args", Json::Array(vec![Json::text("mcp")])),
                ("env", Json::Object(IndexMap::new())),
            ])
        });
    }
    Ok(root.render())
}

/// The command Claude Code's SessionStart hook runs.
pub const PRIME_HOOK: &str = "nexo prime --max-bytes 4000";

/// `.claude/settings.json` with a SessionStart hook that runs `nexo
/// prime`, unless one already runs it.
pub fn claude_settings(old: &str, path: &str) -> Result<String> {
    let mut root = Json::parse(old, path)?;
    let hooks = root.object("hooks", path)?;
    let Json::Object(map) = hooks else {
        unreachable!("object() returns objects")
    };
    let start = map
        .entry("SessionStart".to_string())
        .or_insert_with(|| Json::Array(Vec::new()));
    let Json::Array(groups) = start else {
        return Err(Error::invalid(format!(
            "{path}: hooks.SessionStart is not a list; nexo leaves the file alone"
        )));
    };
    let has_prime = serde_json::to_string(groups)
        .expect("JSON values serialize")
        .contains("nexo prime");
    if !has_prime {
        groups.push(Json::object_of(vec![(
            "hooks",
            Json::Array(vec![Json::object_of(vec![
                ("type", Json::text("command")),
                ("command", Json::text(PRIME_HOOK)),
            ])]),
        )]));
    }
    Ok(root.render())
}

/// `.codex/config.toml` with `[mcp_servers.nexo]`, keeping comments,
/// order and formatting. An existing `nexo` server is kept as it is.
pub fn codex_toml(old: &str, path: &str) -> Result<String> {
    let mut doc: toml_edit::DocumentMut = old.parse().map_err(|e| {
        Error::invalid(format!(
            "{path} is not valid TOML ({e}); nexo leaves it alone"
        ))
    })?;
    let servers = doc
        .entry("mcp_servers")
        .or_insert_with(|| {
            let mut t = toml_edit::Table::new();
            t.set_implicit(true);
            toml_edit::Item::Table(t)
        })
        .as_table_mut()
        .ok_or_else(|| {
            Error::invalid(format!(
                "{path}: mcp_servers is not a table; nexo leaves the file alone"
            ))
        })?;
    if !servers.contains_key("nexo") {
        let mut nexo = toml_edit::Table::new();
        nexo["command"] = toml_edit::value("nexo");
        let mut args = toml_edit::Array::new();
        args.push("mcp");
        nexo["args"] = toml_edit::value(args);
        servers.insert("nexo", toml_edit::Item::Table(nexo));
    }
    Ok(doc.to_string())
}

const BEGIN: &str = "<!-- nexo:begin (written by `nexo setup`; edit outside these markers) -->";
const END: &str = "<!-- nexo:end -->";

/// What agents are told about nexo, in AGENTS.md and CLAUDE.md.
pub const GUIDANCE: &str = "\
## Durable workflow runs (nexo)

This repository keeps multi-step work as nexo runs (`.nexo/`, committed with the code).

- At the start of a session, run `nexo prime` (or call `nexo_workflow_list`) and, before acting
  on a run, `nexo_workflow_resume`: follow its `resume_state` instead of reconstructing the
  state from memory. `waiting_approval` means stop and ask a person.
- Open a run (`nexo_workflow_open`) for work with several steps or that will outlive this
  session: ordered steps with stable keys, an owner and a concrete `next_action`.
- Record every step as it moves (`nexo_workflow_update`) with a summary and evidence (a
  command, a log, a CI link), and keep `next_action` concrete: a command, not \"continue\".
- Hand over with `nexo_workflow_handoff` (`new_owner`, `handoff_note`, `next_action`), then run
  `nexo sync` so other machines see it.";

/// `old` Markdown with nexo's marked block: replaced in place when
/// present, appended otherwise; the rest of the file is untouched.
pub fn marked_block(old: &str) -> String {
    let block = format!("{BEGIN}\n{GUIDANCE}\n{END}\n");
    if let (Some(b), Some(e)) = (old.find(BEGIN), old.find(END))
        && b < e
    {
        let end = e + END.len();
        let end = if old[end..].starts_with('\n') {
            end + 1
        } else {
            end
        };
        return format!("{}{block}{}", &old[..b], &old[end..]);
    }
    match old {
        "" => block,
        o if o.ends_with("\n\n") => format!("{o}{block}"),
        o if o.ends_with('\n') => format!("{o}\n{block}"),
        o => format!("{o}\n\n{block}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcp_json_keeps_other_servers_keys_and_their_order() {
        let old = r#"{"zeta": 1, "mcpServers": {"github": {"command": "gh-mcp", "args": ["x"]}}, "alpha": true}"#;
        let new = mcp_json(old, ".mcp.json").unwrap();
        let z = new.find("zeta").unwrap();
        let m = new.find("mcpServers").unwrap();
        let a = new.find("alpha").unwrap();
        assert!(z < m && m < a, "key order kept: {new}");
        assert!(
            new.find("github").unwrap() < new.find("\"nexo\"").unwrap(),
            "{new}"
        );
        let entry = &new[new.find("\"nexo\"").unwrap()..];
        let order: Vec<usize> = ["type", "command", "args", "env"]
            .iter()
            .map(|k| entry.find(k).unwrap())
            .collect();
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "as claude mcp add writes it: {entry}"
        );
        assert_eq!(mcp_json(&new, ".mcp.json").unwrap(), new, "idempotent");
    }

    #[test]
    fn a_users_own_nexo_server_is_kept() {
        let old =
            r#"{"mcpServers": {"nexo": {"command": "/opt/nexo", "args": ["mcp", "--repo", "x"]}}}"#;
        assert!(mcp_json(old, "x").unwrap().contains("/opt/nexo"));
    }

    #[test]
    fn the_session_hook_is_added_once_beside_other_hooks() {
        let old = r#"{"permissions": {"allow": ["Bash(ls)"]}, "hooks": {"SessionStart": [{"hooks": [{"type": "command", "command": "echo hi"}]}], "Stop": []}}"#;
        let new = claude_settings(old, "s").unwrap();
        assert!(
            new.contains("echo hi") && new.contains(PRIME_HOOK) && new.contains("Bash(ls)"),
            "{new}"
        );
        assert_eq!(claude_settings(&new, "s").unwrap(), new);
    }

    #[test]
    fn codex_toml_keeps_comments_and_formatting() {
        let old =
            "# my settings\nmodel = \"o3\"  # fast\n\n[mcp_servers.github]\ncommand = \"gh-mcp\"\n";
        let new = codex_toml(old, "c").unwrap();
        assert!(new.starts_with(old), "{new}");
        assert!(
            new.contains("[mcp_servers.nexo]\ncommand = \"nexo\"\nargs = [\"mcp\"]"),
            "{new}"
        );
        assert_eq!(codex_toml(&new, "c").unwrap(), new);
    }

    #[test]
    fn the_marked_block_is_replaced_in_place_and_nothing_else_moves() {
        let old = "# Project\n\nOur rules.\n";
        let once = marked_block(old);
        assert!(once.starts_with(old) && once.contains(GUIDANCE));
        assert_eq!(marked_block(&once), once);
        let edited = once.replace("## Durable workflow runs (nexo)", "## old text") + "\nAfter.\n";
        let again = marked_block(&edited);
        assert!(
            again.contains(GUIDANCE)
                && again.ends_with("\nAfter.\n")
                && !again.contains("old text"),
            "{again}"
        );
    }

    #[test]
    fn files_that_are_not_what_they_should_be_are_left_alone() {
        assert!(mcp_json("[1]", "x").is_err());
        assert!(mcp_json("{not json", "x").is_err());
        assert!(mcp_json(r#"{"mcpServers": 3}"#, "x").is_err());
        assert!(claude_settings(r#"{"hooks": {"SessionStart": {}}}"#, "x").is_err());
        assert!(codex_toml("mcp_servers = 1", "x").is_err());
    }
}
