//! `nexo watch` and `nexo events`: each event delivered exactly once
//! across a restart, a failing or hanging `--exec` reported and survived,
//! and shell characters in an `--exec` argument taken as plain text.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Repo, nexo_cmd, nexo_ok, open_gated, stderr};
use serde_json::Value;

/// Waits (up to a minute, checking often) until `done` holds.
fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `nexo watch ARGS` started in `dir`, once its cursor is recorded (so
/// what happens next is after it).
fn start_watch(dir: &Path, args: &[&str]) -> Child {
    let child = nexo_cmd()
        .current_dir(dir)
        .arg("watch")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let git_dir = dir.join(".git");
    until("the watch's cursor", || {
        std::fs::read_dir(&git_dir).unwrap().any(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("nexo-watch-")
        })
    });
    child
}

/// Stops a watch as Ctrl-C would (SIGTERM), and waits for it.
fn stop(child: Child) -> Output {
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "watch: {}", stderr(&out));
    out
}

fn fail_step(dir: &Path, run: &str, step: &str) {
    nexo_ok(dir, &["--json", "update", run, step, "--status", "running"]);
    nexo_ok(
        dir,
        &[
            "--json",
            "update",
            run,
            step,
            "--status",
            "failed",
            "--summary",
            "broke",
        ],
    );
}

/// A log the `--exec` command appends each item's JSON to.
fn log_exec(log: &Path) -> Vec<String> {
    ["sh", "-c", "cat >> \"$0\"", log.to_str().unwrap()]
        .map(str::to_string)
        .to_vec()
}

#[test]
fn each_event_is_delivered_exactly_once_across_a_restart() {
    let repo = Repo::new();
    let run = open_gated(repo.path());
    let log: PathBuf = repo.path().join(".git/delivered.jsonl");
    let exec = log_exec(&log);
    let mut args = vec!["--json", "--exec"];
    args.extend(exec.iter().map(String::as_str));

    let watch = start_watch(repo.path(), &args);
    fail_step(repo.path(), &run, "build");
    until("the failure", || lines(&log).len() == 1);
    let first = stop(watch);
    assert_eq!(common::stdout(&first).lines().count(), 1);

    // While nobody watches.
    nexo_ok(
        repo.path(),
        &["--json", "approve", &run, "publish", "--actor", "alice"],
    );
    nexo_ok(
        repo.path(),
        &["--json", "update", &run, "--run-status", "blocked"],
    );
    let watch = start_watch(repo.path(), &args);
    until("what happened meanwhile", || lines(&log).len() >= 3);
    // A poll or two more, to show nothing comes twice.
    fail_step(repo.path(), &run, "build");
    until("the second failure", || lines(&log).len() >= 4);
    stop(watch);

    let kinds: Vec<Value> = lines(&log).iter().map(|l| l["kind"].clone()).collect();
    assert_eq!(
        kinds,
        ["step_failed", "gate_decided", "run_blocked", "step_failed"].map(Value::from),
        "{:?}",
        lines(&log)
    );
    let mut ids: Vec<String> = lines(&log)
        .iter()
        .map(|l| l["event_id"].as_str().unwrap().to_string())
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 4, "an event came twice");
}

#[test]
fn a_failing_and_a_hanging_exec_are_reported_and_the_watch_goes_on() {
    let repo = Repo::new();
    let run = open_gated(repo.path());
    let log = repo.path().join(".git/delivered.jsonl");
    let script = "case \"$NEXO_EVENT_KIND\" in step_failed) exit 3;; gate_decided) sleep 60;; esac; cat >> \"$0\"";
    let watch = start_watch(
        repo.path(),
        &[
            "--exec-timeout",
            "1s",
            "--exec",
            "sh",
            "-c",
            script,
            log.to_str().unwrap(),
        ],
    );
    fail_step(repo.path(), &run, "build");
    nexo_ok(
        repo.path(),
        &["--json", "approve", &run, "publish", "--actor", "alice"],
    );
    nexo_ok(
        repo.path(),
        &["--json", "update", &run, "--run-status", "blocked"],
    );
    until("the item after the failing and hanging ones", || {
        lines(&log).len() == 1
    });
    let out = stop(watch);
    assert_eq!(lines(&log)[0]["kind"], "run_blocked");
    let err = stderr(&out);
    assert!(
        err.contains("failed (exit status: 3) on step_failed"),
        "{err}"
    );
    assert!(
        err.contains("ran longer than 1s on gate_decided") && err.contains("killed"),
        "{err}"
    );
}

#[test]
fn shell_characters_in_an_exec_argument_are_plain_text() {
    let repo = Repo::new();
    let run = open_gated(repo.path());
    let pwned = repo.path().join(".git/pwned");
    let got = repo.path().join(".git/argument");
    let hostile = format!(
        "$(touch {0}); `touch {0}`; touch {0} | touch {0} && touch {0} > x",
        pwned.display()
    );
    // The command receives the argument as one word of its argv, byte for
    // byte, and writes it down; nexo puts no shell in between.
    let watch = start_watch(
        repo.path(),
        &[
            "--exec",
            "sh",
            "-c",
            "printf '%s' \"$1\" > \"$0\"",
            got.to_str().unwrap(),
            &hostile,
        ],
    );
    fail_step(repo.path(), &run, "build");
    until("the delivery", || got.exists());
    stop(watch);
    until("the argument written", || {
        std::fs::read_to_string(&got).unwrap_or_default() == hostile
    });
    assert!(!pwned.exists(), "a shell ran the argument");
}

#[test]
fn events_answers_with_a_cursor_that_the_next_call_starts_from() {
    let repo = Repo::new();
    let run = open_gated(repo.path());
    let all = nexo_ok(repo.path(), &["--json", "events"]);
    assert_eq!(all["events"][0]["kind"], "gate_requested", "{all}");
    let cursor = all["cursor"].as_str().unwrap().to_string();
    let none = nexo_ok(repo.path(), &["--json", "events", "--since", &cursor]);
    assert_eq!(none["count"], 0, "{none}");
    fail_step(repo.path(), &run, "build");
    let next = nexo_ok(
        repo.path(),
        &[
            "--json",
            "events",
            "--since",
            &cursor,
            "--on",
            "step_failed",
        ],
    );
    assert_eq!(next["count"], 1, "{next}");
    assert_eq!(next["events"][0]["step_key"], "build");
    let bad = repo.nexo(&["events", "--since", "$(reboot)@1"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn a_sync_watch_tells_a_decision_made_in_another_clone() {
    use std::io::BufRead;
    let repo = Repo::new();
    let shared = repo.share();
    let run = open_gated(repo.path());
    assert!(common::nexo_in(repo.path(), &["sync"]).status.success());
    assert!(common::nexo_in(&shared.other, &["sync"]).status.success());
    let mut watch = start_watch(repo.path(), &["--sync", "--json", "--on", "gate_decided"]);
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = watch.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let _ = tx.send(line.unwrap());
        }
    });
    nexo_ok(
        &shared.other,
        &["--json", "approve", &run, "publish", "--actor", "alice"],
    );
    assert!(common::nexo_in(&shared.other, &["sync"]).status.success());
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the decision from the remote");
    stop(watch);
    let told: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(told["kind"], "gate_decided");
    assert_eq!(told["actor"], "alice");
    assert!(rx.try_recv().is_err(), "told twice");
}

/// `events` folds a run's copy in a commit as it reads it while its lines
/// come in fold order (sealed segments, then the live file), and reads it
/// whole when they do not (a merge may leave them in any order): the same
/// answer either way, and an answer from a cursor tells exactly what the
/// answer from the beginning adds to the one that gave the cursor.
#[test]
fn events_read_in_order_or_whole_answer_the_same() {
    let repo = Repo::new();
    let run = open_gated(repo.path());
    let first = nexo_ok(repo.path(), &["--json", "events"]);
    let cursor = first["cursor"].as_str().unwrap().to_string();
    for args in [
        &["approve", &run, "publish", "--actor", "alice"][..],
        &["update", &run, "build", "--status", "running"],
        &[
            "update",
            &run,
            "build",
            "--status",
            "failed",
            "--summary",
            "broke",
        ],
        &["update", &run, "--run-status", "blocked"],
        &["update", &run, "build", "--status", "completed"],
        &["update", &run, "--run-status", "completed"],
    ] {
        let out = nexo_cmd()
            .current_dir(repo.path())
            .env("NEXO_SEAL_BYTES", "700")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    let folder = repo.path().join(common::run_rel(&run));
    assert!(folder.join("history").is_dir(), "the history was sealed");
    let answers = || {
        let all = nexo_ok(repo.path(), &["--json", "events"]);
        let since = nexo_ok(repo.path(), &["--json", "events", "--since", &cursor]);
        let text = common::stdout(&repo.nexo(&["events"]));
        let text = text.rsplit_once("cursor: ").unwrap().0.to_string();
        (all["events"].clone(), since["events"].clone(), text)
    };
    let (all, since, text) = answers();
    let kinds: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "gate_requested",
            "gate_decided",
            "step_failed",
            "run_blocked",
            "run_completed"
        ]
    );
    let mut joined = first["events"].as_array().unwrap().clone();
    joined.extend(since.as_array().unwrap().iter().cloned());
    assert_eq!(all, Value::Array(joined));
    // Every line, the segments' and the live file's, into the live file
    // newest first: what only the whole fold reads.
    let segments = folder.join("history");
    let mut names: Vec<_> = std::fs::read_dir(&segments).unwrap().flatten().collect();
    names.sort_by_key(|e| e.file_name());
    let mut lines: Vec<String> = Vec::new();
    for e in names {
        let text = std::fs::read_to_string(e.path()).unwrap();
        lines.extend(text.lines().map(str::to_string));
    }
    std::fs::remove_dir_all(segments).unwrap();
    lines.extend(
        common::history_text(repo.path(), &run)
            .lines()
            .map(str::to_string),
    );
    lines.reverse();
    std::fs::write(folder.join("history.jsonl"), lines.join("\n") + "\n").unwrap();
    repo.git(&["add", "-A", ".nexo"]);
    repo.git(&["commit", "-q", "-m", "reorder the history"]);
    assert_eq!(answers(), (all, since, text));
}

/// `events` writes its answer as the feed tells it, never holding it
/// whole (the JSON's items go through a file, as its count comes first):
/// the bytes are those of the whole answer serialized at once, with
/// items, filtered, and with none; the lines for a person tell the same
/// items in the same order.
#[test]
fn events_written_as_told_are_the_whole_answer_byte_for_byte() {
    use nexo::core::feed::Item;
    use nexo::wire::feed::EventsResponse;
    let repo = Repo::new();
    let gated = open_gated(repo.path());
    fail_step(repo.path(), &gated, "build");
    let mut done = Vec::new();
    for _ in 0..3 {
        let run = open_gated(repo.path());
        nexo_ok(
            repo.path(),
            &["--json", "update", &run, "--run-status", "completed"],
        );
        done.push(run);
    }
    for args in [
        &[][..],
        &["--on", "run_completed,step_failed"],
        &["--run", &done[1]],
        &["--on", "claim_expired"],
    ] {
        let json = repo.nexo(&[&["--json", "events"][..], args].concat());
        assert!(json.status.success(), "{args:?}: {}", stderr(&json));
        let json = common::stdout(&json);
        let answer: Value = serde_json::from_str(&json).unwrap();
        let items: Vec<Item> = serde_json::from_value(answer["events"].clone()).unwrap();
        let whole = EventsResponse {
            ok: true,
            count: items.len(),
            events: items.clone(),
            cursor: answer["cursor"].as_str().unwrap().to_string(),
        };
        assert_eq!(json, serde_json::to_string_pretty(&whole).unwrap() + "\n");
        let text = common::stdout(&repo.nexo(&[&["events"][..], args].concat()));
        let (told, cursor) = text.rsplit_once("cursor: ").unwrap();
        assert!(
            cursor.ends_with('\n') && !cursor.trim().contains('\n'),
            "{text}"
        );
        let lines: String = items
            .iter()
            .map(|i| format!("{}  {:<14}  {}\n", i.at, i.kind.as_str(), i.summary))
            .collect();
        assert_eq!(told, lines, "{args:?}");
        let kinds: Vec<&str> = items.iter().map(|i| i.kind.as_str()).collect();
        let expected: &[&str] = match args.first().copied() {
            // Each run asks for its gate as it opens.
            None => &[
                "gate_requested",
                "gate_requested",
                "gate_requested",
                "gate_requested",
                "step_failed",
                "run_completed",
                "run_completed",
                "run_completed",
            ],
            Some("--run") => &["gate_requested", "run_completed"],
            _ if args[1] == "claim_expired" => &[],
            _ => &[
                "step_failed",
                "run_completed",
                "run_completed",
                "run_completed",
            ],
        };
        let mut sorted = kinds.clone();
        sorted.sort_unstable();
        let mut want = expected.to_vec();
        want.sort_unstable();
        assert_eq!(sorted, want, "{args:?}: {json}");
    }
}
