//! A process killed at every named point of the write path (SIGKILL, via
//! the debug-build hook `NEXO_CRASH_AT`) for open, update and approve. After
//! each kill the next nexo command must succeed with no help from a person,
//! and then: every acknowledged event is in HEAD, `git status` is clean for
//! `.nexo/`, `git fsck --strict` is clean, no lock or temporary file is
//! left, and the user's next `git commit` leaves `.nexo/` as it was.

mod common;

use std::os::unix::process::ExitStatusExt;

use common::*;
use serde_json::{Value, json};

/// Every crash point of the write path, in the order a write passes them.
const POINTS: &[&str] = &[
    "index-lock-recorded",
    "index-lock-taken",
    "before-append",
    "before-rename",
    "after-append",
    "views-written",
    "before-commit",
    "commit-written",
    "head-moved",
    "index-before-rename",
    "index-renamed",
];

struct Scenario {
    repo: Repo,
    run: String,
    /// Event ids the commands that succeeded reported.
    acknowledged: Vec<String>,
}

impl Scenario {
    fn new() -> Scenario {
        let repo = Repo::new();
        for i in 0..20 {
            std::fs::write(repo.path().join(format!("file{i}.txt")), "user file\n").unwrap();
        }
        repo.git(&["add", "."]);
        repo.git(&["commit", "-q", "-m", "user files"]);
        let run = repo.open_release();
        let mut s = Scenario {
            repo,
            run,
            acknowledged: Vec::new(),
        };
        s.ack(
            "nexo_workflow_update",
            json!({"step_key": "doctor", "step_status": "completed", "summary": "clean"}),
        );
        s.ack(
            "nexo_workflow_update",
            json!({"step_key": "package", "step_status": "blocked", "requires_approval": true}),
        );
        s
    }

    fn input(&self, fields: Value) -> Value {
        let mut v = fields;
        v["run_id"] = json!(self.run);
        v
    }

    fn ack(&mut self, tool: &str, fields: Value) {
        let v = self.repo.call(tool, &self.input(fields));
        self.acknowledged
            .push(v["event_id"].as_str().unwrap().to_string());
    }

    fn crash(&self, point: &str, tool: &str, input: &Value) {
        let out = nexo_cmd()
            .current_dir(self.repo.path())
            .env("NEXO_CRASH_AT", point)
            .args(["call", tool, "--input", &input.to_string()])
            .output()
            .unwrap();
        assert_eq!(
            out.status.signal(),
            Some(libc_sigkill()),
            "{tool} did not pass {point}: {}{}",
            stdout(&out),
            stderr(&out)
        );
    }

    /// The checks that hold after every recovery.
    fn assert_whole(&self, context: &str) {
        let repo = &self.repo;
        let path = format!("HEAD:{}/history.jsonl", run_rel(&self.run));
        let committed = repo.git(&["show", &path]);
        for id in &self.acknowledged {
            assert!(
                committed.contains(id.as_str()),
                "{context}: event {id} is not in HEAD"
            );
        }
        assert_eq!(
            repo.git(&[
                "status",
                "--porcelain",
                "--untracked-files=all",
                "--",
                ".nexo"
            ]),
            "",
            "{context}: .nexo/ is not clean"
        );
        let fsck = repo.git_output(&["fsck", "--strict", "--no-dangling"]);
        assert!(fsck.status.success(), "{context}: {}", stderr(&fsck));
        for stale in ["index.lock", "HEAD.lock", "refs/heads/main.lock"] {
            assert!(
                !repo.path().join(".git").join(stale).exists(),
                "{context}: {stale} left"
            );
        }
        let doctor = repo.nexo(&["doctor"]);
        assert!(doctor.status.success(), "{context}: {}", stdout(&doctor));
        // The user's next commit of their own work leaves .nexo/ intact.
        let tree = repo.git(&["rev-parse", "HEAD:.nexo"]);
        std::fs::write(repo.path().join("file0.txt"), format!("{context}\n")).unwrap();
        repo.git(&["commit", "-q", "-am", "user work"]);
        assert_eq!(repo.git(&["rev-parse", "HEAD:.nexo"]), tree, "{context}");
        assert_eq!(
            repo.git(&["show", "--name-only", "--format=", "HEAD"]),
            "file0.txt\n",
            "{context}"
        );
    }
}

fn libc_sigkill() -> i32 {
    9
}

#[test]
fn an_update_killed_at_any_point_is_finished_by_the_next_command() {
    for point in POINTS {
        let mut s = Scenario::new();
        let input = s.input(json!({"step_key": "doctor", "summary": "killed"}));
        s.crash(point, "nexo_workflow_update", &input);
        s.ack(
            "nexo_workflow_update",
            json!({"summary": "after the crash"}),
        );
        s.assert_whole(&format!("update killed at {point}"));
    }
}

#[test]
fn an_approval_killed_at_any_point_is_finished_by_the_next_command() {
    for point in POINTS {
        let mut s = Scenario::new();
        let input =
            s.input(json!({"step_key": "package", "actor": "release-manager", "note": "go"}));
        s.crash(point, "nexo_workflow_approve", &input);
        // Retrying the approval either records it or says it is recorded.
        let out = s.repo.nexo(&[
            "call",
            "nexo_workflow_approve",
            "--input",
            &input.to_string(),
        ]);
        let v = parse_json(&out);
        match out.status.code() {
            Some(0) => s
                .acknowledged
                .push(v["event_id"].as_str().unwrap().to_string()),
            Some(5) => assert!(
                v["error"].as_str().unwrap().contains("already approved"),
                "{v}"
            ),
            other => panic!("approve after a kill at {point}: {other:?} {v}"),
        }
        s.assert_whole(&format!("approve killed at {point}"));
    }
}

#[test]
fn an_open_killed_at_any_point_leaves_no_empty_or_partial_run() {
    for point in POINTS {
        let mut s = Scenario::new();
        let input = json!({"sid": "s2", "goal": "A second run", "steps": [{"key": "a"}]});
        s.crash(point, "nexo_workflow_open", &input);
        s.ack(
            "nexo_workflow_update",
            json!({"summary": "after the crash"}),
        );
        s.assert_whole(&format!("open killed at {point}"));
        // Whatever run the killed open left is whole: it reads back.
        let list = s.repo.call("nexo_workflow_list", &json!({}));
        assert!(
            list["unreadable"].as_array().is_none_or(|u| u.is_empty()),
            "{point}: {list}"
        );
        for run in list["runs"].as_array().unwrap() {
            let id = run["run_id"].as_str().unwrap();
            let committed = s.repo.git(&[
                "show",
                &format!("HEAD:{rr}/history.jsonl", rr = run_rel(id)),
            ]);
            assert!(
                committed.starts_with("{") && committed.ends_with("}\n"),
                "{point}: {committed:?}"
            );
        }
    }
}

#[test]
fn doctor_reports_what_a_kill_left_and_fix_repairs_it() {
    let s = Scenario::new();
    let input = s.input(json!({"summary": "killed after HEAD moved"}));
    s.crash("head-moved", "nexo_workflow_update", &input);
    std::fs::write(
        s.repo
            .path()
            .join(format!("{}/.nexo-tmp-orphan", run_rel(&s.run))),
        "x",
    )
    .unwrap();
    let doctor = s.repo.nexo(&["doctor", "--json"]);
    assert!(!doctor.status.success());
    let report = parse_json(&doctor);
    let kinds: Vec<&str> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    for expected in ["index_out_of_date", "uncommitted", "temporary_file"] {
        assert!(kinds.contains(&expected), "{expected} not in {kinds:?}");
    }
    let fixed = s.repo.nexo(&["doctor", "--fix"]);
    assert!(
        fixed.status.success(),
        "{}{}",
        stdout(&fixed),
        stderr(&fixed)
    );
    s.assert_whole("doctor --fix after a kill");
}

#[test]
fn an_update_killed_at_any_point_with_a_split_index_is_finished_by_the_next_command() {
    // 0%: every write makes a new shared base; 100%: none does.
    for (point, max_percent) in POINTS.iter().zip(["0", "100"].iter().cycle()) {
        let mut s = Scenario::new();
        s.repo.git(&["config", "core.splitIndex", "true"]);
        s.repo
            .git(&["config", "splitIndex.maxPercentChange", max_percent]);
        s.repo.git(&["update-index", "--split-index"]);
        let input = s.input(json!({"step_key": "doctor", "summary": "killed"}));
        s.crash(point, "nexo_workflow_update", &input);
        s.ack(
            "nexo_workflow_update",
            json!({"summary": "after the crash"}),
        );
        let index = std::fs::read(s.repo.path().join(".git/index")).unwrap();
        assert!(index.windows(4).any(|w| w == b"link"), "{point}: not split");
        s.assert_whole(&format!(
            "update killed at {point}, split at {max_percent}%"
        ));
    }
}
