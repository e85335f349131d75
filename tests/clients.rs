//! The real agent clients read what `nexo setup` writes: Claude Code's
//! `claude mcp list` reports the nexo server connected, and Codex's
//! `codex mcp list` lists it enabled. Both are the npm packages, pinned
//! and installed under `target/` (by `.ci/run`, or here on first use);
//! skipped only where npm is missing. Neither needs an account for this.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::*;

// Pinned here and in .ci/run.
const CLAUDE_CODE: &str = "@anthropic-ai/claude-code@2.1.332";
const CODEX: &str = "@openai/codex@0.171.0";

/// The folder the clients are installed in, or `None` without npm.
fn clients() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::var_os("NEXO_TEST_CLIENTS")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("agent-clients"));
        let bin = dir.join("node_modules/.bin");
        if bin.join("claude").exists() && bin.join("codex").exists() {
            return Some(dir);
        }
        if Command::new("npm").arg("--version").output().is_err() {
            eprintln!("npm is missing: the real-client checks are skipped");
            return None;
        }
        let ok = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .args([CLAUDE_CODE, CODEX])
            .status()
            .unwrap()
            .success();
        assert!(ok, "npm could not install {CLAUDE_CODE} and {CODEX}");
        Some(dir)
    })
    .as_deref()
}

/// `client` (`claude` or `codex`) run in `repo` with `home` as its home,
/// nexo first on its PATH.
fn client(dir: &Path, name: &str, repo: &Repo, home: &Path) -> Command {
    let mut cmd = Command::new(dir.join("node_modules/.bin").join(name));
    seal(&mut cmd);
    let nexo_dir = nexo_bin().parent().unwrap().to_path_buf();
    let path = std::env::join_paths(
        std::iter::once(nexo_dir).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    cmd.current_dir(repo.path())
        .env("PATH", path)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"));
    cmd
}

fn run(mut cmd: Command) -> String {
    let out = cmd.output().unwrap();
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "{text}");
    text
}

#[test]
fn claude_code_connects_to_the_server_setup_wrote() {
    let Some(dir) = clients() else { return };
    let repo = Repo::new();
    assert!(repo.nexo(&["setup", "claude"]).status.success());
    // What a person does once: trust the folder and approve the project's
    // server (Claude Code keeps both outside the repository's shared files).
    let home = tempfile::tempdir().unwrap();
    let trusted = serde_json::json!({"projects": {
        repo.path().canonicalize().unwrap().to_str().unwrap(): {"hasTrustDialogAccepted": true}
    }});
    std::fs::write(home.path().join(".claude.json"), trusted.to_string()).unwrap();
    std::fs::write(
        repo.path().join(".claude/settings.local.json"),
        r#"{"enabledMcpjsonServers": ["nexo"]}"#,
    )
    .unwrap();
    let mut cmd = client(dir, "claude", &repo, home.path());
    cmd.args(["mcp", "list"]);
    let text = run(cmd);
    let line = text
        .lines()
        .find(|l| l.starts_with("nexo:"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("Connected"), "{text}");
}

#[test]
fn codex_lists_the_server_setup_wrote_as_enabled() {
    let Some(dir) = clients() else { return };
    let repo = Repo::new();
    assert!(repo.nexo(&["setup", "codex"]).status.success());
    let home = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let codex_home = home.path().join("codex");
    std::fs::create_dir(&codex_home).unwrap();
    let folder = repo.path().canonicalize().unwrap();
    std::fs::write(
        codex_home.join("config.toml"),
        format!(
            "[projects.{:?}]\ntrust_level = \"trusted\"\n",
            folder.to_str().unwrap()
        ),
    )
    .unwrap();
    let mut cmd = client(dir, "codex", &repo, home.path());
    cmd.env("CODEX_HOME", &codex_home).args(["mcp", "list"]);
    let text = run(cmd);
    let line = text
        .lines()
        .find(|l| l.starts_with("nexo "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("mcp") && line.contains("enabled"), "{text}");
}
