//! `nexo setup claude|codex` (an adapter over `nexo::api`): one command
//! that wires nexo into an agent's
//! own configuration (its MCP server list, a session-start hook where the
//! agent has one, and a short marked block in AGENTS.md / CLAUDE.md).
//! Files are merged, never replaced: every other key and paragraph stays,
//! and a second run changes nothing. These are the user's files, outside
//! `.nexo/`: setup writes only the ones it names, when asked, and never
//! stages or commits them.

pub mod merge;
pub mod workflow;

use std::path::{Path, PathBuf};

use nexo::core::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Agent {
    /// Claude Code: .mcp.json, a SessionStart hook in .claude/settings.json, CLAUDE.md and AGENTS.md.
    Claude,
    /// Codex: [mcp_servers.nexo] in .codex/config.toml, and AGENTS.md.
    Codex,
}

/// One file setup would write.
#[derive(Debug)]
pub struct Change {
    pub path: PathBuf,
    /// The file as it is (None: it does not exist).
    pub old: Option<String>,
    pub new: String,
}

enum Kind {
    McpJson,
    ClaudeSettings,
    CodexToml,
    Markdown,
}

/// The files for `agent` under `root` (the repository, or the home folder
/// with `user`).
fn targets(agent: Agent, root: &Path, user: bool) -> Vec<(PathBuf, Kind)> {
    match (agent, user) {
        (Agent::Claude, false) => vec![
            (root.join(".mcp.json"), Kind::McpJson),
            (root.join(".claude/settings.json"), Kind::ClaudeSettings),
            (root.join("CLAUDE.md"), Kind::Markdown),
            (root.join("AGENTS.md"), Kind::Markdown),
        ],
        (Agent::Claude, true) => vec![
            (root.join(".claude.json"), Kind::McpJson),
            (root.join(".claude/settings.json"), Kind::ClaudeSettings),
            (root.join(".claude/CLAUDE.md"), Kind::Markdown),
        ],
        (Agent::Codex, false) => vec![
            (root.join(".codex/config.toml"), Kind::CodexToml),
            (root.join("AGENTS.md"), Kind::Markdown),
        ],
        (Agent::Codex, true) => vec![
            (root.join(".codex/config.toml"), Kind::CodexToml),
            (root.join(".codex/AGENTS.md"), Kind::Markdown),
        ],
    }
}

/// What setup would change, file by file; files already right are left
/// out. Reading follows a link the user made (CLAUDE.md → AGENTS.md).
pub fn plan(agent: Agent, root: &Path, user: bool) -> Result<Vec<Change>> {
    let mut changes: Vec<Change> = Vec::new();
    for (path, kind) in targets(agent, root, user) {
        let real = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        // A link to a file already planned (CLAUDE.md → AGENTS.md) builds
        // on that plan.
        let planned = changes
            .iter()
            .find(|c| c.path == real)
            .map(|c| c.new.clone());
        let old = match planned {
            Some(text) => Some(text),
            None => match std::fs::read_to_string(&real) {
                Ok(t) => Some(t),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(Error::io("read", &real, e)),
            },
        };
        let text = old.as_deref().unwrap_or("");
        let shown = path.display().to_string();
        let new = match kind {
            Kind::McpJson => merge::mcp_json(text, &shown)?,
            Kind::ClaudeSettings => merge::claude_settings(text, &shown)?,
            Kind::CodexToml => merge::codex_toml(text, &shown)?,
            Kind::Markdown => merge::marked_block(text),
        };
        if old.as_deref() == Some(new.as_str()) {
            continue;
        }
        changes.retain(|c| c.path != real);
        changes.push(Change {
            path: real,
            old,
            new,
        });
    }
    Ok(changes)
}

/// What `setup ci github` would change: the workflow, merged.
pub fn plan_ci(root: &Path) -> Result<Vec<Change>> {
    let path = root.join(workflow::PATH);
    // Never through a link: the workflow is the repository's own file.
    let old = match std::fs::symlink_metadata(&path) {
        Ok(m) if !m.is_file() => {
            return Err(Error::invalid(format!(
                "{} is not a regular file; nexo leaves it alone",
                workflow::PATH
            )));
        }
        Ok(_) => Some(std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io("read", &path, e)),
    };
    let new = workflow::merge(old.as_deref().unwrap_or(""), workflow::PATH)?;
    Ok(match old.as_deref() == Some(new.as_str()) {
        true => Vec::new(),
        false => vec![Change { path, old, new }],
    })
}

/// Writes the planned files, each whole or not at all (written aside,
/// then renamed over the old one).
pub fn apply(changes: &[Change]) -> Result<()> {
    for c in changes {
        let dir = c.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        // A new file gets an ordinary file's mode (0666 less the umask);
        // an existing one keeps its own.
        let mut tmp = nexo::api::temp_file_in(dir)?;
        std::io::Write::write_all(&mut tmp, c.new.as_bytes())
            .map_err(|e| Error::io("write", &c.path, e))?;
        if let Ok(m) = std::fs::metadata(&c.path) {
            let _ = std::fs::set_permissions(tmp.path(), m.permissions());
        }
        tmp.persist(&c.path)
            .map_err(|e| Error::io("replace", &c.path, e.error))?;
    }
    Ok(())
}

/// The change as a diff: the lines between the common start and end.
pub fn diff(c: &Change) -> String {
    let old: Vec<&str> = c.old.as_deref().unwrap_or("").lines().collect();
    let new: Vec<&str> = c.new.lines().collect();
    let head = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    let tail = old[head..]
        .iter()
        .rev()
        .zip(new[head..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let mut out = format!(
        "--- {}\n+++ {}\n@@ line {} @@\n",
        if c.old.is_some() {
            c.path.display().to_string()
        } else {
            "/dev/null".into()
        },
        c.path.display(),
        head + 1
    );
    for l in &old[head..old.len() - tail] {
        out.push_str(&format!("-{l}\n"));
    }
    for l in &new[head..new.len() - tail] {
        out.push_str(&format!("+{l}\n"));
    }
    out
}
