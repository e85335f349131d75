//! `nexo setup ci github`: the workflow it writes parses as YAML, and its
//! `run:` steps, executed in a checkout of a pull request's merge commit
//! with the environment a GitHub runner gives them, pass an honest pull
//! request and fail one that walks through a gate.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Repo, git_in, nexo_bin, nexo_in, open_gated, seal, stderr, stdout};
use serde_yaml::Value;

/// A bare remote whose `main` has an explicit policy, the workflow and a
/// run whose `publish` waits at its gate; `pr` is pushed by `work`.
struct Project {
    _dir: tempfile::TempDir,
    bare: PathBuf,
    run: String,
    workflow: String,
}

impl Project {
    fn new(work: impl Fn(&Path, &str)) -> Project {
        let repo = Repo::new();
        let p = repo.path();
        std::fs::create_dir_all(p.join(".nexo")).unwrap();
        std::fs::write(
            p.join(".nexo/config.yaml"),
            "approvals:\n  policy: explicit\n  approvers: [release-manager]\n",
        )
        .unwrap();
        let setup = nexo_in(p, &["setup", "ci", "github"]);
        assert!(setup.status.success(), "{}", stderr(&setup));
        assert!(
            stdout(&setup).contains("created ")
                && stdout(&setup).contains(".github/workflows/nexo.yml"),
            "{}",
            stdout(&setup)
        );
        let again = nexo_in(p, &["setup", "ci", "github"]);
        assert!(
            stdout(&again).contains("already in place"),
            "{}",
            stdout(&again)
        );
        repo.git(&["add", ".nexo", ".github"]);
        repo.git(&["commit", "-q", "-m", "Gates and their check"]);
        let run = open_gated(p);
        repo.git(&["switch", "-q", "-c", "pr"]);
        work(p, &run);
        let dir = tempfile::tempdir().unwrap();
        let bare = dir.path().join("origin.git");
        git_in(
            dir.path(),
            &["clone", "-q", "--bare", p.to_str().unwrap(), "origin.git"],
        );
        let workflow = std::fs::read_to_string(p.join(".github/workflows/nexo.yml")).unwrap();
        Project {
            _dir: dir,
            bare,
            run,
            workflow,
        }
    }

    /// What actions/checkout with `fetch-depth: 0` leaves for a pull
    /// request: a clone on the merge commit of `pr` into `main`, with
    /// every branch as `origin/*`, and no git identity.
    fn checkout(&self, at: &Path) -> String {
        git_in(
            at.parent().unwrap(),
            &[
                "clone",
                "-q",
                self.bare.to_str().unwrap(),
                at.to_str().unwrap(),
            ],
        );
        git_in(at, &["checkout", "-q", "--detach", "origin/main"]);
        git_in(
            at,
            &[
                "-c",
                "user.name=GitHub",
                "-c",
                "user.email=noreply@github.com",
                "merge",
                "-q",
                "--no-ff",
                "-m",
                "Merge pr into main",
                "origin/pr",
            ],
        );
        git_in(at, &["rev-parse", "HEAD"]).trim().to_string()
    }
}

/// What one step left: its name and exit code.
struct Ran {
    name: String,
    code: i32,
    /// What the step printed, kept for a failure's message rather than
    /// spilled into the test output.
    output: String,
}

/// Runs the job's `run:` steps as a runner does: expressions evaluated
/// first, each script by `bash --noprofile --norc -eo pipefail`, a step
/// after a failure only when its `if:` is `always()`.
fn run_job(workflow: &str, checkout: &Path, sha: &str, summary: &Path) -> Vec<Ran> {
    let doc: Value = serde_yaml::from_str(workflow).expect("the workflow parses as YAML");
    assert!(
        doc["on"].get("pull_request").is_some(),
        "runs on pull requests"
    );
    let job = &doc["jobs"]["nexo-verify"];
    assert_eq!(
        job["if"].as_str(),
        Some("github.event_name == 'pull_request'")
    );
    let bin: PathBuf = nexo_bin().parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let temp = tempfile::tempdir().unwrap();
    let mut failed = false;
    let mut out = Vec::new();
    for (i, step) in job["steps"].as_sequence().unwrap().iter().enumerate() {
        let Some(script) = step["run"].as_str() else {
            // The runner's own actions: the checkout is made above, and a
            // cache of a built nexo has nothing to restore in a test.
            let action = step["uses"].as_str().unwrap();
            assert!(
                action.starts_with("actions/checkout@") || action.starts_with("actions/cache@"),
                "{action}"
            );
            continue;
        };
        if failed && step["if"].as_str() != Some("always()") {
            continue;
        }
        assert!(
            !script.contains("${{"),
            "values reach scripts as variables only: {script}"
        );
        let file = temp.path().join(format!("step-{i}.sh"));
        std::fs::write(&file, script).unwrap();
        let mut cmd = Command::new("bash");
        seal(&mut cmd)
            .args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&file)
            .current_dir(checkout)
            .env("PATH", &path)
            .env("CI", "true")
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_EVENT_NAME", "pull_request")
            .env("GITHUB_BASE_REF", "main")
            .env("GITHUB_HEAD_REF", "pr")
            .env("GITHUB_REF", "refs/pull/1/merge")
            .env("GITHUB_SHA", sha)
            .env("GITHUB_WORKSPACE", checkout)
            .env("GITHUB_STEP_SUMMARY", summary)
            .env("RUNNER_TEMP", temp.path());
        if let Some(env) = step["env"].as_mapping() {
            for (k, v) in env {
                cmd.env(k.as_str().unwrap(), expression(v.as_str().unwrap()));
            }
        }
        let ran = cmd.output().unwrap();
        let code = ran.status.code().unwrap_or(-1);
        failed |= code != 0;
        out.push(Ran {
            name: step["name"].as_str().unwrap_or("").to_string(),
            code,
            output: format!("{}{}", stdout(&ran), stderr(&ran)),
        });
    }
    out
}

/// The few expressions the workflow uses, as a runner evaluates them
/// (an unset repository variable is the empty string).
fn expression(value: &str) -> String {
    match value.trim() {
        "${{ vars.NEXO_GIT }}" => String::new(),
        v if v.contains("${{") => panic!("an expression the test does not know: {v}"),
        v => v.to_string(),
    }
}

fn code_of<'a>(ran: &'a [Ran], name: &str) -> &'a Ran {
    ran.iter()
        .find(|r| r.name.starts_with(name))
        .unwrap_or_else(|| panic!("no step {name}"))
}

#[test]
fn an_honest_pull_request_passes_the_check_and_is_summarised() {
    let project = Project::new(|p, run| {
        let ok = [
            "approve",
            run,
            "publish",
            "--actor",
            "release-manager",
            "--note",
            "notes read",
        ];
        assert!(nexo_in(p, &ok).status.success());
    });
    let dir = tempfile::tempdir().unwrap();
    let at = dir.path().join("checkout");
    let sha = project.checkout(&at);
    let summary = dir.path().join("summary.md");
    let ran = run_job(&project.workflow, &at, &sha, &summary);
    for r in &ran {
        assert_eq!(r.code, 0, "step {}: {}", r.name, r.output);
    }
    assert_eq!(ran.len(), 3, "install, verify, show");
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.contains("### nexo verify: ✅ every gate holds under origin/main's policy"),
        "{md}"
    );
    assert!(md.contains("| ✅ approved | release-manager |"), "{md}");
    assert!(
        md.contains(&format!("### {} — Release v3.1.1", project.run)),
        "{md}"
    );
    // Nothing was committed or left behind in the checkout.
    assert_eq!(git_in(&at, &["rev-parse", "HEAD"]).trim(), sha);
    assert_eq!(git_in(&at, &["status", "--porcelain"]).trim(), "");
}

#[test]
fn a_pull_request_that_walks_through_a_gate_fails_the_check() {
    let project = Project::new(|p, run| {
        std::fs::write(
            p.join(".nexo/config.yaml"),
            "approvals:\n  policy: update\n",
        )
        .unwrap();
        git_in(p, &["commit", "-q", "-am", "Loosen the policy"]);
        let walk = [
            "update",
            run,
            "publish",
            "--status",
            "completed",
            "--actor",
            "codex",
        ];
        assert!(nexo_in(p, &walk).status.success());
    });
    let dir = tempfile::tempdir().unwrap();
    let at = dir.path().join("checkout");
    let sha = project.checkout(&at);
    let summary = dir.path().join("summary.md");
    let ran = run_job(&project.workflow, &at, &sha, &summary);
    assert_eq!(
        code_of(&ran, "Verify").code,
        11,
        "the job fails on the violation"
    );
    assert_eq!(
        code_of(&ran, "Show").code,
        0,
        "the summary is still written"
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.contains("❌ 1 violation under origin/main's policy"),
        "{md}"
    );
    assert!(md.contains("`update_cannot_pass`"), "{md}");
    assert!(
        md.contains("This branch changes `.nexo/config.yaml`"),
        "{md}"
    );
}

#[test]
fn setup_ci_refuses_what_it_cannot_do_and_writes_nothing() {
    let repo = Repo::new();
    for args in [
        &["setup", "ci"][..],
        &["setup", "claude", "github"],
        &["setup", "ci", "github", "--user"],
    ] {
        let out = nexo_in(repo.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            !repo.path().join(".github").exists(),
            "{args:?} wrote nothing"
        );
    }
    // A workflow of the user's own that has no jobs: mapping is kept.
    let path = repo.path().join(".github/workflows/nexo.yml");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, "name: mine\non: push\n").unwrap();
    let out = nexo_in(repo.path(), &["setup", "ci", "github"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no `jobs:` mapping"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "name: mine\non: push\n"
    );
}
