//! The real agent clients read what `nexo setup` writes: Claude Code's
//! `claude mcp list` reports the nexo server connected, and Codex's
//! `codex mcp list` lists it enabled. Both are the npm packages, pinned
//! here only and installed here on first use, into `target/tmp/agent-clients`
//! (`.ci/run` and `cargo test` share it), or taken from
//! `$NEXO_TEST_CLIENTS`; skipped, and said so, only where npm is missing.
//! Neither needs an account for this.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::*;

const CLAUDE_CODE: &str = "@anthropic-ai/claude-code@2.1.332";
const CODEX: &str = "@openai/codex@0.171.0";

/// The folder the clients are installed in, or `None` without npm.
fn clients() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os("NEXO_TEST_CLIENTS") {
            return Some(PathBuf::from(dir));
        }
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("agent-clients");
        // What is installed, by its pins: new pins install again.
        let marker = dir.join(".installed");
        let pins = format!("{CLAUDE_CODE} {CODEX}\n");
        if std::fs::read_to_string(&marker).is_ok_and(|m| m == pins) {
            return Some(dir);
        }
        if Command::new("npm").arg("--version").output().is_err() {
            return None;
        }
        // Quietly: npm's engine warnings and "added N packages" are not
        // the suite's output. What it said is kept for a failure.
        let out = Command::new("npm")
            .args([
                "install",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                "--prefix",
            ])
            .arg(&dir)
            .args([CLAUDE_CODE, CODEX])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "npm could not install {CLAUDE_CODE} and {CODEX}:\n{}{}",
            stdout(&out),
            stderr(&out)
        );
        std::fs::write(&marker, pins).unwrap();
        Some(dir)
    })
    .as_deref()
}

/// The clients, or a skip said where npm is missing.
fn clients_or_skip() -> Option<&'static Path> {
    let dir = clients();
    if dir.is_none() {
        skip("npm is missing, so the real Claude Code and Codex clients are not checked");
    }
    dir
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
    let Some(dir) = clients_or_skip() else {
        return;
    };
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
    let Some(dir) = clients_or_skip() else {
        return;
    };
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
