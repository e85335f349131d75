//! Hostile files and values: links planted under `.nexo/`, values no
//! reader could read back, locks held by others, a last event without its
//! newline, and git's environment variables. Each is refused loudly with
//! nothing written, or handled without losing an event.

mod common;

use std::path::Path;

use common::*;
use serde_json::{Value, json};

fn history(repo: &Repo, id: &str) -> String {
    std::fs::read_to_string(
        repo.path()
            .join(format!("{rr}/history.jsonl", rr = run_rel(id))),
    )
    .unwrap()
}

fn error_of(repo: &Repo, tool: &str, input: &Value) -> (i32, String) {
    let (code, v) = repo.call_err(tool, &input.to_string());
    (code, v["error"].as_str().unwrap().to_string())
}

/// A run and the state of everything, to show that a refusal wrote nothing.
fn snapshot(repo: &Repo) -> (String, Vec<(String, Vec<u8>)>) {
    (repo.git(&["rev-parse", "HEAD"]), repo.nexo_files())
}

#[test]
fn values_no_reader_could_read_back_are_refused_naming_the_field() {
    let repo = Repo::new();
    let id = repo.open_release();
    let before = snapshot(&repo);
    let mut deep = json!("leaf");
    for _ in 0..126 {
        deep = json!({ "k": deep });
    }
    let cases = [
        (
            "nexo_workflow_update",
            json!({"run_id": id, "shared_state": deep}),
            "shared_state nests 126 levels",
        ),
        (
            "nexo_workflow_update",
            json!({"run_id": id, "state_patch": serde_json::from_str::<Value>(&format!("{{\"a\":{}1{}}}", "[".repeat(33), "]".repeat(33))).unwrap()}),
            "state_patch nests 34 levels",
        ),
        (
            "nexo_workflow_update",
            json!({"run_id": id, "summary": "nul \u{0} byte"}),
            "summary contains the control character \\u{0}",
        ),
        (
            "nexo_workflow_update",
            json!({"run_id": id, "summary": "x".repeat(20_001)}),
            "summary is 20001 characters long; the limit is 20000",
        ),
        (
            "nexo_workflow_update",
            json!({"run_id": id, "owner": "ops\nlead"}),
            "owner contains the control character \\u{a}",
        ),
        (
            "nexo_workflow_update",
            json!({"run_id": id, "summary": "s", "actor": "\u{1b}[2Jroot"}),
            "actor contains the control character \\u{1b}",
        ),
        (
            "nexo_workflow_open",
            json!({"sid": "s", "goal": "ship\u{0}it"}),
            "goal contains the control character \\u{0}",
        ),
        (
            "nexo_workflow_open",
            json!({"sid": "s", "goal": "g", "steps": [{"key": "a", "title": "t\u{202E}"}]}),
            "steps[0].title contains",
        ),
        (
            "nexo_workflow_handoff",
            json!({"run_id": id, "actor": "a", "new_owner": "b\u{7}"}),
            "new_owner contains",
        ),
        (
            "nexo_workflow_approve",
            json!({"run_id": id, "step_key": "doctor", "note": "\u{0}"}),
            "note contains",
        ),
    ];
    for (tool, input, expected) in cases {
        let (code, error) = error_of(&repo, tool, &input);
        assert_eq!(code, 2, "{tool}: {error}");
        assert!(
            error.contains(expected),
            "{tool}: expected {expected:?} in {error:?}"
        );
        assert_eq!(snapshot(&repo), before, "{tool} wrote something");
    }
    let fsck = repo.git_output(&["fsck", "--strict", "--no-dangling"]);
    assert!(fsck.status.success(), "{}", stderr(&fsck));
}

#[test]
fn what_is_accepted_reads_back_and_reaches_no_commit_message_raw() {
    let repo = Repo::new();
    let id = repo.open_release();
    let mut deep = json!("leaf");
    for _ in 0..31 {
        deep = json!({ "k": deep });
    }
    // Line breaks and tabs are accepted where agents send them.
    let v = repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "step_key": "doctor", "step_status": "completed",
                "summary": "line one\n\tline two", "shared_state": {"deep": deep}}),
    );
    assert_eq!(v["committed"], true);
    let got = repo.call("nexo_workflow_get", &json!({"run_id": id}));
    assert!(got["run"]["shared_state"]["deep"]["k"]["k"]["k"].is_object());
    let opened = repo.call(
        "nexo_workflow_open",
        &json!({"sid": "s9", "goal": "first line\nsecond\tline"}),
    );
    let message = repo.git(&["log", "-1", "--format=%B"]);
    assert!(
        message.contains(&format!(
            "\n- {} opened: first line\n",
            opened["run_id"].as_str().unwrap()
        )),
        "a change is one line of the message: {message}"
    );
    let fsck = repo.git_output(&["fsck", "--strict", "--no-dangling"]);
    assert!(fsck.status.success(), "{}", stderr(&fsck));
}

#[test]
fn a_last_event_without_its_newline_is_kept_and_completed() {
    let repo = Repo::new();
    let id = repo.open_release();
    repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "summary": "kept"}),
    );
    let path = repo
        .path()
        .join(format!("{rr}/history.jsonl", rr = run_rel(&id)));
    let text = history(&repo, &id);
    std::fs::write(&path, text.trim_end_matches('\n')).unwrap();
    let doctor = repo.nexo(&["doctor", "--json"]);
    assert!(
        stdout(&doctor).contains("missing_newline"),
        "{}",
        stdout(&doctor)
    );
    let got = repo.call("nexo_workflow_get", &json!({"run_id": id}));
    assert_eq!(got["checkpoints"][0]["summary"], "kept");
    repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "summary": "next"}),
    );
    let after = history(&repo, &id);
    assert!(
        after.starts_with(&text),
        "the event without its newline was cut:\n{after}"
    );
    assert_eq!(after.lines().count(), text.lines().count() + 1);
    assert!(repo.nexo(&["doctor"]).status.success());
}

#[test]
fn a_ref_lock_held_by_someone_else_is_refused_before_anything_is_written() {
    let repo = Repo::new();
    let id = repo.open_release();
    let lock = repo.path().join(".git/refs/heads/main.lock");
    std::fs::write(&lock, "").unwrap();
    let before = snapshot(&repo);
    let (code, error) = error_of(
        &repo,
        "nexo_workflow_update",
        &json!({"run_id": id, "summary": "x"}),
    );
    assert_eq!(code, 8, "{error}");
    assert!(
        error.contains("main.lock") && error.contains("Nothing was written"),
        "{error}"
    );
    assert_eq!(snapshot(&repo), before);
    assert!(lock.exists(), "nexo removed a lock that was not its own");
    std::fs::remove_file(&lock).unwrap();
    // The caller's retry writes the event exactly once.
    repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "summary": "x"}),
    );
    assert_eq!(history(&repo, &id).matches("\"summary\":\"x\"").count(), 1);
}

#[test]
fn an_index_lock_that_is_not_nexos_is_never_removed() {
    let repo = Repo::new();
    let id = repo.open_release();
    let lock = repo.path().join(".git/index.lock");
    std::fs::write(&lock, "git's").unwrap();
    // Even a stale owner record of nexo's must not make it remove git's lock.
    std::fs::write(repo.path().join(".git/nexo-index-owner"), "1 1 1\n").unwrap();
    let (code, error) = error_of(
        &repo,
        "nexo_workflow_update",
        &json!({"run_id": id, "summary": "x"}),
    );
    assert_eq!(code, 8, "{error}");
    assert_eq!(std::fs::read_to_string(&lock).unwrap(), "git's");
}

/// Plants a link committed "by a peer" and checks nexo neither follows it
/// nor writes outside `.nexo/`.
fn plant(repo: &Repo, link: &str, target: &str) {
    let at = repo.path().join(link);
    if at.is_dir() {
        std::fs::remove_dir_all(&at).unwrap();
    } else {
        let _ = std::fs::remove_file(&at);
    }
    std::os::unix::fs::symlink(target, &at).unwrap();
    repo.git(&["add", "-A", ".nexo"]);
    repo.git(&["commit", "-q", "-m", "a peer's link"]);
}

#[test]
fn a_pulled_steps_link_never_makes_nexo_write_outside_nexo() {
    let repo = Repo::new();
    let id = repo.open_release();
    let readme = std::fs::read(repo.path().join("README.md")).unwrap();
    plant(
        &repo,
        &format!("{rr}/steps", rr = run_rel(&id)),
        "../../../..",
    );
    let outside: Vec<_> = std::fs::read_dir(repo.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    // Reads and the refresh after the "pull" write nothing through it.
    let list = repo.nexo(&["list"]);
    assert!(list.status.success(), "{}", stderr(&list));
    let (code, error) = error_of(
        &repo,
        "nexo_workflow_update",
        &json!({"run_id": id, "summary": "x"}),
    );
    assert_eq!(code, 7, "{error}");
    assert!(
        error.contains(&format!("{rr}/steps", rr = run_rel(&id))),
        "{error}"
    );
    let now: Vec<_> = std::fs::read_dir(repo.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(now, outside, "files appeared outside .nexo/");
    assert_eq!(
        std::fs::read(repo.path().join("README.md")).unwrap(),
        readme
    );
    // doctor names it; --fix removes the link (not its target) and
    // regenerates the views.
    let doctor = repo.nexo(&["doctor", "--json"]);
    assert!(!doctor.status.success());
    assert!(
        stdout(&doctor).contains("\"symlink\""),
        "{}",
        stdout(&doctor)
    );
    let fixed = repo.nexo(&["doctor", "--fix"]);
    assert!(
        fixed.status.success(),
        "{}{}",
        stdout(&fixed),
        stderr(&fixed)
    );
    assert!(
        repo.path()
            .join(format!("{rr}/steps/doctor.yaml", rr = run_rel(&id)))
            .is_file()
    );
    assert!(repo.path().join("README.md").is_file());
    repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "summary": "x"}),
    );
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
}

#[test]
fn links_anywhere_under_nexo_are_refused_naming_the_path() {
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().to_str().unwrap().to_string();
    for link in ["history", "run", "runs", "nexo"] {
        let repo = Repo::new();
        let id = repo.open_release();
        let (path, expected) = match link {
            "history" => {
                std::fs::write(outside.path().join("h"), history(&repo, &id)).unwrap();
                (
                    format!("{rr}/history.jsonl", rr = run_rel(&id)),
                    format!("{target}/h"),
                )
            }
            "run" => (run_rel(&id).to_string(), target.clone()),
            "runs" => (".nexo/runs".to_string(), target.clone()),
            _ => (".nexo".to_string(), target.clone()),
        };
        plant(&repo, &path, &expected);
        let before: Vec<_> = walkdir::WalkDir::new(outside.path())
            .into_iter()
            .map(|e| e.unwrap().path().to_owned())
            .collect();
        let out = repo.nexo(&["update", &id, "--summary", "x"]);
        assert!(!out.status.success(), "{link}: {}", stdout(&out));
        let open = repo.nexo(&["open", "another"]);
        if link != "history" && link != "run" {
            assert_eq!(open.status.code(), Some(7), "{link}: {}", stderr(&open));
            assert!(
                stderr(&open).contains("symbolic link"),
                "{link}: {}",
                stderr(&open)
            );
        }
        let after: Vec<_> = walkdir::WalkDir::new(outside.path())
            .into_iter()
            .map(|e| e.unwrap().path().to_owned())
            .collect();
        assert_eq!(before, after, "{link}: nexo wrote through the link");
    }
}

/// The problems `doctor --json` names, as (kind, path, message, fixable).
fn doctor_problems(repo: &Repo, args: &[&str]) -> (i32, Vec<(String, String, String, bool)>) {
    let out = repo.nexo(&[&["--json", "doctor"], args].concat());
    let v = parse_json(&out);
    let problems = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["kind"].as_str().unwrap().to_string(),
                p["path"].as_str().unwrap().to_string(),
                p["message"].as_str().unwrap().to_string(),
                p["fixable"].as_bool().unwrap(),
            )
        })
        .collect();
    (out.status.code().unwrap(), problems)
}

/// A submodule committed under `.nexo/runs` (a nested repository `git add`
/// made a gitlink of), and a run folder holding a `.git` file that points
/// elsewhere: doctor names each by path, exits 7, and `--fix` leaves them.
#[test]
fn doctor_refuses_a_submodule_or_a_git_file_under_runs_naming_the_path() {
    let repo = Repo::new();
    let id = repo.open_release();
    let nested = repo.path().join(".nexo/runs/WF-NESTED0000000000");
    git_in(repo.path(), &["init", "-q", nested.to_str().unwrap()]);
    for (k, v) in [("user.name", "Peer"), ("user.email", "peer@example.com")] {
        git_in(&nested, &["config", k, v]);
    }
    std::fs::write(nested.join("history.jsonl"), history(&repo, &id)).unwrap();
    git_in(&nested, &["add", "history.jsonl"]);
    git_in(&nested, &["commit", "-q", "-m", "a run in a repository"]);
    repo.git(&["add", ".nexo/runs/WF-NESTED0000000000"]);
    repo.git(&["commit", "-q", "-m", "a peer's submodule"]);
    assert!(
        repo.git(&["ls-files", "--stage", ".nexo"])
            .contains("160000 ")
    );
    std::fs::write(
        repo.path().join(format!("{rr}/.git", rr = run_rel(&id))),
        "gitdir: ../../../../elsewhere\n",
    )
    .unwrap();

    let gitlink = "gitlink".to_string();
    let sub = ".nexo/runs/WF-NESTED0000000000".to_string();
    let run_dir = run_rel(&id).to_string();
    for args in [&[][..], &["--fix"][..]] {
        let (code, problems) = doctor_problems(&repo, args);
        assert_eq!(code, 7, "{args:?}: {problems:?}");
        let links: Vec<_> = problems.iter().filter(|p| p.0 == gitlink).collect();
        assert_eq!(links.len(), 2, "each named once: {problems:?}");
        assert_eq!(
            links[0],
            &(
                gitlink.clone(),
                sub.clone(),
                format!(
                    "{sub} is a submodule (a gitlink in git's index), not a folder of plain files. Remove the entry with `git rm --cached {sub}`; --fix will not, since it may be someone's repository"
                ),
                false
            )
        );
        assert_eq!(
            links[1],
            &(
                gitlink.clone(),
                run_dir.clone(),
                format!(
                    "{run_dir} holds a .git: it is a git repository or a submodule's checkout, not a folder of plain files. Move it out of .nexo/ by hand; --fix will not, since it may be someone's repository"
                ),
                false
            )
        );
    }
    assert!(nested.join(".git").is_dir(), "--fix touched the repository");
    assert!(
        repo.path()
            .join(format!("{rr}/.git", rr = run_rel(&id)))
            .is_file()
    );
    let text = stdout(&repo.nexo(&["doctor"]));
    assert!(
        text.ends_with("none of which --fix can repair; each says what to do\n"),
        "{text}"
    );
}

/// A run folder that is a link, and a link inside a run folder: doctor
/// names each by path and exits 7, and nothing is read through them.
#[test]
fn doctor_refuses_a_linked_run_folder_or_a_link_inside_one_naming_the_path() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "not nexo's\n").unwrap();
    let repo = Repo::new();
    let linked = repo.open_release();
    let inside = repo.open_release();
    plant(
        &repo,
        &run_rel(&linked).to_string(),
        outside.path().to_str().unwrap(),
    );
    let secret = outside.path().join("secret");
    plant(
        &repo,
        &format!("{rr}/steps/doctor.yaml", rr = run_rel(&inside)),
        secret.to_str().unwrap(),
    );
    let (code, problems) = doctor_problems(&repo, &[]);
    assert_eq!(code, 7, "{problems:?}");
    for path in [
        run_rel(&linked).to_string(),
        format!("{rr}/steps/doctor.yaml", rr = run_rel(&inside)),
    ] {
        let found = problems.iter().find(|p| p.1 == path).expect(&path);
        assert_eq!(found.0, "symlink");
        assert_eq!(
            found.2,
            format!("{path} is a symbolic link; nexo never follows links under .nexo/")
        );
    }
    assert_eq!(
        std::fs::read_to_string(&secret).unwrap(),
        "not nexo's\n",
        "the target is never written"
    );
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 1);
}

#[test]
fn git_dir_and_work_tree_send_files_and_commit_to_one_repository() {
    let here = Repo::new();
    let there = Repo::new();
    let out = nexo_cmd()
        .current_dir(here.path())
        .env("GIT_DIR", there.path().join(".git"))
        .env("GIT_WORK_TREE", there.path())
        .args(["open", "elsewhere"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!here.path().join(".nexo").exists());
    assert!(
        here.git(&["log", "--format=%s"])
            .lines()
            .all(|l| !l.starts_with("nexo:"))
    );
    assert!(
        there
            .git(&["log", "-1", "--format=%s"])
            .contains("opened: elsewhere")
    );
    assert_eq!(there.git(&["status", "--porcelain"]), "");
}

#[test]
fn git_index_file_is_the_index_nexo_updates() {
    let repo = Repo::new();
    let alt = repo.path().join(".git/alt-index");
    std::fs::copy(repo.path().join(".git/index"), &alt).unwrap();
    let default_index = std::fs::read(repo.path().join(".git/index")).unwrap();
    let out = nexo_cmd()
        .current_dir(repo.path())
        .env("GIT_INDEX_FILE", &alt)
        .args(["open", "alternate index"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(repo.path().join(".git/index")).unwrap(),
        default_index
    );
    let status = git_cmd()
        .current_dir(repo.path())
        .env("GIT_INDEX_FILE", &alt)
        .args(["status", "--porcelain"])
        .output()
        .unwrap();
    assert_eq!(stdout(&status), "");
}

#[test]
fn a_sha256_repository_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    git_in(dir.path(), &["init", "-q", "--object-format=sha256"]);
    let out = nexo_in(dir.path(), &["open", "x"]);
    assert_eq!(out.status.code(), Some(6));
    assert!(stderr(&out).contains("SHA-256"), "{}", stderr(&out));
    assert!(!Path::new(&dir.path().join(".nexo")).exists());
}

#[test]
fn a_ref_lock_git_releases_within_the_wait_does_not_fail_the_write() {
    // `git gc --auto`, which git starts in the background after a commit,
    // holds HEAD.lock while it rewrites reflogs.
    let repo = Repo::new();
    let id = repo.open_release();
    let lock = repo.path().join(".git/HEAD.lock");
    std::fs::write(&lock, "ref: refs/heads/main\n").unwrap();
    let release = {
        let lock = lock.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            std::fs::remove_file(lock).unwrap();
        })
    };
    let v = repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "summary": "waited"}),
    );
    release.join().unwrap();
    assert_eq!(v["committed"], true, "{v}");
}

#[test]
fn an_error_quotes_a_huge_bad_value_clipped() {
    let repo = Repo::new();
    let id = repo.open_release();
    // Within one argument's limit (128 KiB); MCP sends 10 MB (tests/mcp.rs).
    let huge = "x".repeat(100_000);
    for (tool, input) in [
        (
            "nexo_workflow_update",
            json!({"run_id": id, "step_key": huge}),
        ),
        (
            "nexo_workflow_update",
            json!({"run_id": id, "step_status": huge}),
        ),
        ("nexo_workflow_update", json!({"run_id": huge})),
        ("nexo_workflow_replay", json!({"run_id": id, "limit": huge})),
        (
            "nexo_workflow_open",
            json!({"sid": "s", "goal": "g", "priority": huge}),
        ),
        (&huge, json!({})),
    ] {
        // Refused, or (a priority word the original did not know) taken
        // with a warning that quotes it.
        let out = repo.nexo(&["call", tool, "--input", &input.to_string()]);
        let answer = stdout(&out);
        assert!(
            answer.len() < 2_000,
            "{} bytes from {}",
            answer.len(),
            &tool[..tool.len().min(30)]
        );
        assert!(
            answer.contains("characters") || answer.contains("…"),
            "{answer}"
        );
    }
}

#[test]
fn a_git_error_keeps_its_cause_chain() {
    let repo = Repo::new();
    std::fs::write(repo.path().join(".git/refs/heads/main"), "not-a-sha\n").unwrap();
    let out = repo.nexo(&["open", "Ship it"]);
    assert_eq!(out.status.code(), Some(6));
    let err = stderr(&out);
    assert!(
        err.contains("error: cannot read HEAD\ncaused by: "),
        "{err}"
    );
    assert!(err.contains("not-a-sha"), "{err}");
    // One line for the tool interface, cause included.
    let (_, v) = repo.call_err("nexo_workflow_open", r#"{"sid":"s","goal":"g"}"#);
    let message = v["error"].as_str().unwrap();
    assert!(
        message.starts_with("cannot read HEAD: ") && message.contains("not-a-sha"),
        "{v}"
    );
}
