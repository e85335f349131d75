//! Installing and onboarding: `nexo setup` merging into realistic agent
//! configuration, `nexo prime` ordering and budgeting what a session sees,
//! completions the shells accept, the man page, and errors in the command
//! line's own terms.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::{Value, json};

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// A repository with the files a team using Claude Code and Codex
/// already has.
fn configured_repo() -> Repo {
    let repo = Repo::new();
    let p = repo.path();
    std::fs::write(
        p.join(".mcp.json"),
        "{\n  \"mcpServers\": {\n    \"github\": {\"command\": \"github-mcp\", \"args\": [\"--ro\"]}\n  },\n  \"zzz\": true\n}\n",
    )
    .unwrap();
    std::fs::create_dir_all(p.join(".claude")).unwrap();
    std::fs::write(
        p.join(".claude/settings.json"),
        r#"{"permissions": {"allow": ["Bash(cargo test)"]}, "hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "audit"}]}]}}"#,
    )
    .unwrap();
    std::fs::write(
        p.join("AGENTS.md"),
        "# Contributing\n\nRun `cargo test` before every commit.\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("AGENTS.md", p.join("CLAUDE.md")).unwrap();
    std::fs::create_dir_all(p.join(".codex")).unwrap();
    std::fs::write(
        p.join(".codex/config.toml"),
        "# team defaults\nmodel = \"o4\"   # keep\n\n[mcp_servers.github]\ncommand = \"github-mcp\"\n",
    )
    .unwrap();
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "agent config"]);
    repo
}

fn setup(repo: &Repo, args: &[&str]) -> String {
    let mut all = vec!["setup"];
    all.extend_from_slice(args);
    let out = repo.nexo(&all);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

#[test]
fn setup_claude_merges_into_existing_files_and_a_second_run_changes_nothing() {
    let repo = configured_repo();
    let p = repo.path();
    let dry = setup(&repo, &["claude", "--dry-run"]);
    assert!(
        dry.contains("+      \"command\": \"nexo\"") && dry.contains("(dry run: nothing written)"),
        "{dry}"
    );
    assert_eq!(
        repo.git(&["status", "--porcelain"]),
        "",
        "a dry run writes nothing"
    );
    setup(&repo, &["claude"]);
    let mcp: Value = serde_json::from_str(&read(&p.join(".mcp.json"))).unwrap();
    assert_eq!(mcp["mcpServers"]["github"]["args"], json!(["--ro"]));
    assert_eq!(
        mcp["mcpServers"]["nexo"],
        json!({"type": "stdio", "command": "nexo", "args": ["mcp"], "env": {}})
    );
    assert_eq!(mcp["zzz"], true);
    let text = read(&p.join(".mcp.json"));
    assert!(
        text.find("github").unwrap() < text.find("\"nexo\"").unwrap(),
        "key order kept: {text}"
    );
    let settings: Value = serde_json::from_str(&read(&p.join(".claude/settings.json"))).unwrap();
    assert_eq!(
        settings["permissions"]["allow"],
        json!(["Bash(cargo test)"])
    );
    assert_eq!(settings["hooks"]["PreToolUse"][0]["matcher"], "Bash");
    assert!(
        settings["hooks"]["SessionStart"][0]["hooks"][0]["command"]
            .as_str()
            .unwrap()
            .starts_with("nexo prime")
    );
    let agents = read(&p.join("AGENTS.md"));
    assert!(
        agents.starts_with("# Contributing\n\nRun `cargo test` before every commit.\n"),
        "{agents}"
    );
    assert_eq!(agents.matches("<!-- nexo:begin").count(), 1, "{agents}");
    assert!(
        std::fs::symlink_metadata(p.join("CLAUDE.md"))
            .unwrap()
            .file_type()
            .is_symlink(),
        "the user's link is kept"
    );
    let before: Vec<_> = [".mcp.json", ".claude/settings.json", "AGENTS.md"]
        .iter()
        .map(|f| read(&p.join(f)))
        .collect();
    assert!(setup(&repo, &["claude"]).contains("already in place"));
    let after: Vec<_> = [".mcp.json", ".claude/settings.json", "AGENTS.md"]
        .iter()
        .map(|f| read(&p.join(f)))
        .collect();
    assert_eq!(before, after, "idempotent");
    // Nothing staged or committed: these are the user's files.
    assert_eq!(repo.commit_count(), 2);
    assert!(repo.git(&["diff", "--cached", "--name-only"]).is_empty());
}

#[test]
fn setup_codex_keeps_the_tomls_comments_and_is_idempotent() {
    let repo = configured_repo();
    let p = repo.path();
    setup(&repo, &["codex"]);
    let toml = read(&p.join(".codex/config.toml"));
    assert!(toml.starts_with("# team defaults\nmodel = \"o4\"   # keep\n\n[mcp_servers.github]\ncommand = \"github-mcp\"\n"), "{toml}");
    assert!(
        toml.contains("[mcp_servers.nexo]\ncommand = \"nexo\"\nargs = [\"mcp\"]"),
        "{toml}"
    );
    assert!(read(&p.join("AGENTS.md")).contains("nexo_workflow_resume"));
    assert!(setup(&repo, &["codex"]).contains("already in place"));
    assert_eq!(read(&p.join(".codex/config.toml")), toml);
}

#[test]
fn setup_user_writes_in_the_home_folder_only() {
    let repo = Repo::new();
    let home = tempfile::tempdir().unwrap();
    let out = nexo_cmd()
        .current_dir(repo.path())
        .args(["setup", "codex", "--user"])
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(read(&home.path().join(".codex/config.toml")).contains("[mcp_servers.nexo]"));
    assert!(read(&home.path().join(".codex/AGENTS.md")).contains("nexo:begin"));
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
}

#[test]
fn setup_leaves_a_broken_file_alone_and_says_so() {
    let repo = Repo::new();
    std::fs::write(repo.path().join(".mcp.json"), "{ not json").unwrap();
    let out = repo.nexo(&["setup", "claude"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not valid JSON"), "{}", stderr(&out));
    assert_eq!(read(&repo.path().join(".mcp.json")), "{ not json");
    assert!(
        !repo.path().join("AGENTS.md").exists(),
        "nothing written when one file cannot be merged"
    );
}

fn open(repo: &Repo, goal: &str, priority: &str) -> String {
    let v = repo.call(
        "nexo_workflow_open",
        &json!({"sid": "s", "goal": goal, "priority": priority, "steps": [{"key": "a", "requires_approval": goal.contains("gate")}, {"key": "b"}]}),
    );
    v["run_id"].as_str().unwrap().to_string()
}

fn step(repo: &Repo, id: &str, status: &str) {
    repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "step_key": "b", "step_status": status}),
    );
}

#[test]
fn prime_puts_what_needs_attention_first_and_never_cuts_the_run_in_progress() {
    let repo = Repo::new();
    let in_progress = open(&repo, "long migration", "low");
    step(&repo, &in_progress, "running");
    let urgent = open(&repo, "urgent hotfix", "critical");
    step(&repo, &urgent, "blocked");
    let gate = open(&repo, "gate before publish", "normal");
    repo.call(
        "nexo_workflow_update",
        &json!({"run_id": gate, "step_key": "a", "step_status": "blocked"}),
    );
    for i in 0..8 {
        open(&repo, &format!("recent {i}"), "normal");
    }
    let v = parse_json(&repo.nexo(&["--json", "prime", "-n", "3"]));
    let ids: Vec<&str> = v["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids[0], gate, "a gate waiting for a person first: {ids:?}");
    assert_eq!(ids[1], urgent, "then urgent work: {ids:?}");
    assert!(
        ids.contains(&in_progress.as_str()),
        "the run in progress is never cut: {ids:?}"
    );
    // A tight budget drops the least urgent runs, never the one in progress.
    let tight = parse_json(&repo.nexo(&["--json", "prime", "--max-bytes", "200"]));
    let text = tight["text"].as_str().unwrap();
    assert!(text.contains(&in_progress), "{text}");
    assert!(!text.contains("recent 0"), "{text}");
    assert!(text.contains("more: nexo list"), "{text}");
}

#[test]
fn prime_outside_a_repository_is_a_notice_not_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let out = nexo_in(dir.path(), &["prime"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 1, "{}", stdout(&out));
    assert!(stdout(&out).contains("not in a git repository"));
}

/// `shell` (run with `check` and the script) accepts nexo's completion
/// script for it; where the shell is missing the check is skipped, and
/// says so (CI installs every one).
fn completions_accepted_by(shell: &str, check: &[&str]) {
    if Command::new(shell).arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none() && shell != "bash",
            "{shell} is missing; CI installs it (.ci/run)"
        );
        skip(&format!(
            "{shell} is not installed, so its completions are not checked"
        ));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = nexo_in(dir.path(), &["completions", shell]);
    assert!(out.status.success());
    let file = dir.path().join(format!("nexo.{shell}"));
    std::fs::write(&file, &out.stdout).unwrap();
    let res = Command::new(shell).args(check).arg(&file).output().unwrap();
    assert!(
        res.status.success(),
        "{shell} refused its completions: {}",
        stderr(&res)
    );
}

#[test]
fn bash_accepts_its_completions() {
    completions_accepted_by("bash", &["-c", "source \"$0\" && complete -p nexo"]);
}

#[test]
fn zsh_accepts_its_completions() {
    completions_accepted_by("zsh", &["-n"]);
}

#[test]
fn fish_accepts_its_completions() {
    completions_accepted_by("fish", &["-n"]);
}

#[test]
fn the_man_page_and_help_document_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let man = stdout(&nexo_in(dir.path(), &["man"]));
    assert!(man.contains(".TH nexo 1"), "{man}");
    let out = nexo_in(
        dir.path(),
        &["man", "--dir", dir.path().join("man").to_str().unwrap()],
    );
    assert!(out.status.success());
    assert!(dir.path().join("man/nexo-show.1").exists());
    for cmd in [
        "open", "update", "show", "serve", "setup", "goal", "prime", "sync",
    ] {
        let help = stdout(&nexo_in(dir.path(), &[cmd, "--help"]));
        assert!(
            help.contains("Example"),
            "nexo {cmd} --help has no examples:\n{help}"
        );
    }
    // The flags every command takes are listed apart from its own.
    let list = stdout(&nexo_in(dir.path(), &["list", "--help"]));
    let (own, global) = list
        .split_once("Global options:")
        .unwrap_or_else(|| panic!("no global options heading:\n{list}"));
    assert!(!own.contains("--no-commit"), "{list}");
    for flag in ["-C <DIR>", "--json", "--no-commit", "--actor <NAME>"] {
        assert!(
            global.contains(flag),
            "{flag} is not under its heading:\n{list}"
        );
    }
}

#[test]
fn command_line_errors_name_flags_and_suggest_the_closest_status() {
    let repo = Repo::new();
    let id = repo.open_release();
    let out = repo.nexo(&["update", &id, "nope", "--status", "running"]);
    assert!(
        stderr(&out).contains("also pass --title"),
        "{}",
        stderr(&out)
    );
    let out = repo.nexo(&["update", &id, "doctor", "--status", "complted"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("did you mean completed?"),
        "{}",
        stderr(&out)
    );
    // The tool interface keeps its field names.
    let (_, v) = repo.call_err(
        "nexo_workflow_update",
        &json!({"run_id": id, "step_key": "nope", "step_status": "running"}).to_string(),
    );
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("also pass step_title"),
        "{v}"
    );
}

/// Runs nexo under `umask`, as a shell would.
fn under_umask(repo: &Repo, umask: &str, args: &str) {
    let out = seal(&mut std::process::Command::new("sh"))
        .current_dir(repo.path())
        .args(["-c", &format!("umask {umask}; exec \"$0\" {args}")])
        .arg(nexo_bin())
        .output()
        .unwrap();
    assert!(out.status.success(), "{args}: {}", stderr(&out));
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn files_nexo_creates_have_an_ordinary_files_mode_under_the_umask() {
    for (umask, want) in [("0022", 0o644), ("0002", 0o664)] {
        let repo = Repo::new();
        under_umask(&repo, umask, "setup claude");
        under_umask(&repo, umask, "setup codex");
        under_umask(&repo, umask, "open Ship --step a:A");
        let list = repo.nexo(&["--json", "list"]);
        let id = parse_json(&list)["runs"][0]["run_id"]
            .as_str()
            .unwrap()
            .to_string();
        let run = PathBuf::from(run_rel(&id));
        for rel in [
            Path::new(".mcp.json"),
            Path::new(".claude/settings.json"),
            Path::new("CLAUDE.md"),
            Path::new("AGENTS.md"),
            Path::new(".codex/config.toml"),
            Path::new(".nexo/.gitattributes"),
            &run.join("history.jsonl"),
            &run.join("run.yaml"),
            &run.join("steps/a.yaml"),
        ] {
            assert_eq!(
                mode(&repo.path().join(rel)),
                want,
                "{} under umask {umask}",
                rel.display()
            );
        }
    }
}
