//! The suite is sealed from the machine it runs on: a developer's own
//! `~/.gitconfig` (pull.rebase, commit.gpgsign, hooks, another default
//! branch) must change no result. The check runs a flow of the suite's
//! in a process of its own whose home holds exactly such a config.

mod common;

use std::process::Command;

use common::*;
use serde_json::json;

/// Run by `a_hostile_global_git_config_changes_no_result`, in a process
/// whose home holds a hostile `.gitconfig`; passes by itself too.
#[test]
#[ignore = "run by a_hostile_global_git_config_changes_no_result"]
fn a_flow_under_the_machines_own_git_config() {
    let repo = Repo::new();
    assert_eq!(repo.git(&["branch", "--show-current"]).trim(), "main");
    let id = repo.open_release();
    let shared = repo.share();
    repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "step_key": "doctor", "step_status": "completed"}),
    );
    let out = repo.nexo(&["sync"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = nexo_in(&shared.other, &["sync"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r = parse_json(&nexo_in(&shared.other, &["--json", "resume", &id]));
    assert_eq!(r["next_step"]["step_key"], "package", "{r}");
    // No commit of the suite's was signed or stopped by a hook.
    let log = repo.git(&["log", "--format=%G? %s"]);
    assert!(log.lines().all(|l| l.starts_with("N ")), "{log}");
}

#[test]
fn a_hostile_global_git_config_changes_no_result() {
    let home = tempfile::tempdir().unwrap();
    let hooks = home.path().join("hooks");
    std::fs::create_dir(&hooks).unwrap();
    for hook in [
        "pre-commit",
        "commit-msg",
        "pre-push",
        "post-checkout",
        "pre-merge-commit",
    ] {
        let path = hooks.join(hook);
        std::fs::write(&path, "#!/bin/sh\necho hostile hook >&2\nexit 1\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::write(
        home.path().join(".gitconfig"),
        format!(
            "[init]\n\tdefaultBranch = trunk\n[pull]\n\trebase = true\n[commit]\n\tgpgsign = true\n\
             [gpg]\n\tformat = ssh\n[user]\n\tsigningkey = /nonexistent/key\n\tname = Hostile\n\
             [core]\n\thooksPath = {}\n[push]\n\tdefault = nothing\n",
            hooks.display()
        ),
    )
    .unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_flow_under_the_machines_own_git_config",
            "--ignored",
            "--test-threads",
            "1",
        ])
        .env("HOME", home.path())
        .env_remove("GIT_CONFIG_GLOBAL")
        .env_remove("GIT_CONFIG_NOSYSTEM")
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .unwrap();
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "{text}");
}
