//! `nexo doctor` finds what a bad merge or a hand edit left behind, and
//! `--fix` repairs it without losing an event.

mod common;

use common::*;
use serde_json::json;

#[test]
fn a_healthy_repository_passes() {
    let repo = Repo::new();
    repo.open_release();
    let out = repo.nexo(&["doctor"]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains("1 run checked: healthy"));
}

#[test]
fn problems_are_reported_with_file_and_line_and_fixed() {
    let repo = Repo::new();
    let id = repo.open_release();
    repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "step_key": "doctor", "step_status": "completed"}),
    );
    let dir = repo.path().join(run_rel(&id));
    let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    let lines: Vec<&str> = history.lines().collect();
    // A duplicated event, conflict markers around a line, a stale view,
    // a view for a step that does not exist.
    let broken = format!(
        "{}\n<<<<<<< HEAD\n{}\n=======\n{}\n>>>>>>> theirs\n",
        lines[0], lines[1], lines[1]
    );
    std::fs::write(dir.join("history.jsonl"), broken).unwrap();
    std::fs::write(dir.join("run.yaml"), "status: hand-edited\n").unwrap();
    std::fs::write(dir.join("steps/ghost.yaml"), "x: 1\n").unwrap();

    let out = repo.nexo(&["--json", "doctor"]);
    assert_eq!(out.status.code(), Some(7));
    let v = parse_json(&out);
    let kinds: Vec<&str> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    for k in [
        "conflict_marker",
        "duplicate_event",
        "stale_view",
        "extra_view",
    ] {
        assert!(kinds.contains(&k), "{k} not reported: {kinds:?}");
    }
    let marker = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "conflict_marker")
        .unwrap();
    assert_eq!(marker["line"], 2);
    assert!(
        marker["message"]
            .as_str()
            .unwrap()
            .contains(&format!("{rr}/history.jsonl:2", rr = run_rel(&id)))
    );

    let commits = repo.commit_count();
    let out = repo.nexo(&["doctor", "--fix"]);
    assert!(out.status.success(), "{}", stdout(&out));
    // The damage was never committed and the repair restores HEAD's
    // content exactly, so there is nothing to commit.
    assert_eq!(repo.commit_count(), commits);
    let fixed = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    assert_eq!(
        fixed, history,
        "the history must come back to its two events"
    );
    assert!(!dir.join("steps/ghost.yaml").exists());
    assert!(repo.nexo(&["doctor"]).status.success());
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
}

/// The live history of run `id`.
fn history_path(repo: &Repo, id: &str) -> std::path::PathBuf {
    repo.path().join(run_rel(id)).join("history.jsonl")
}

/// Appends `bytes` to run `id`'s live history by hand.
fn append_by_hand(repo: &Repo, id: &str, bytes: &[u8]) {
    let path = history_path(repo, id);
    let mut all = std::fs::read(&path).unwrap();
    all.extend_from_slice(bytes);
    std::fs::write(&path, all).unwrap();
}

/// The issue's new user: `{"garbage":` appended to a history, then
/// `doctor --fix`. The line goes to the quarantine file byte for byte, the
/// history reads again, what was moved where is said, and the next doctor
/// is healthy: no loop back to `--fix`.
#[test]
fn doctor_fix_moves_an_unreadable_line_aside_and_stops_pointing_at_itself() {
    let repo = Repo::new();
    let id = repo.open_release();
    let history = std::fs::read(history_path(&repo, &id)).unwrap();
    append_by_hand(&repo, &id, b"{\"garbage\":\n");
    let rel = format!("{rr}/history.jsonl", rr = run_rel(&id));
    let aside = format!("{rr}/quarantine.jsonl", rr = run_rel(&id));
    let unreadable = format!(
        "unreadable_event: {rel}:2: not a JSON event: EOF while parsing a value at line 1 column 11; every command refuses this run until it is moved: --fix moves the line to {aside}, its bytes kept\n"
    );

    let out = repo.nexo(&["doctor"]);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(
        stdout(&out),
        format!(
            "{unreadable}uncommitted: {rel} is written but not committed; --fix commits it\n1 run checked: 2 problems; `nexo doctor --fix` repairs them\n"
        )
    );

    let out = repo.nexo(&["doctor", "--fix"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.starts_with(&unreadable), "{text}");
    assert!(
        text.contains(&format!(
            "quarantined: moved line 2 of {rel} (11 bytes no nexo can read) to {aside}, bytes unchanged; look at it with `cat -v {aside}`\n"
        )),
        "{text}"
    );
    assert!(text.ends_with("1 run checked: repaired\n"), "{text}");
    assert_eq!(std::fs::read(history_path(&repo, &id)).unwrap(), history);
    assert_eq!(
        std::fs::read(repo.path().join(&aside)).unwrap(),
        b"{\"garbage\":\n"
    );
    // Committed: the history without the line, the line beside it.
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    assert!(
        !repo
            .git(&["show", &format!("HEAD:{rel}")])
            .contains("garbage")
    );
    assert_eq!(
        repo.git(&["show", &format!("HEAD:{aside}")]),
        "{\"garbage\":\n"
    );

    let out = repo.nexo(&["doctor"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(stdout(&out), "1 run checked: healthy\n");
    assert!(repo.nexo(&["resume", &id]).status.success());
}

/// A line that is not UTF-8, between two good ones, is moved aside with
/// exactly its bytes; the events after it count again.
#[test]
fn a_line_that_is_not_utf8_is_moved_aside_byte_for_byte() {
    let repo = Repo::new();
    let id = repo.open_release();
    repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "step_key": "doctor", "step_status": "completed"}),
    );
    let path = history_path(&repo, &id);
    let good = std::fs::read(&path).unwrap();
    let first = good.iter().position(|&b| b == b'\n').unwrap() + 1;
    let bad: &[u8] = b"\xff\xfe{\"v\":1,\"id\":\"\x1b[31m\"}";
    let mut broken = good[..first].to_vec();
    broken.extend_from_slice(bad);
    broken.push(b'\n');
    broken.extend_from_slice(&good[first..]);
    std::fs::write(&path, &broken).unwrap();
    repo.git(&["commit", "-q", "-am", "a hand edit"]);
    let rel = format!("{rr}/history.jsonl", rr = run_rel(&id));

    let out = repo.nexo(&["doctor"]);
    assert_eq!(out.status.code(), Some(7));
    assert!(
        stdout(&out).contains(&format!(
            "unreadable_event: {rel}:2: the line is not UTF-8 (invalid byte at column 1); every command refuses this run until it is moved"
        )),
        "{}",
        stdout(&out)
    );
    assert_eq!(repo.nexo(&["resume", &id]).status.code(), Some(7));

    let out = repo.nexo(&["doctor", "--fix"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(std::fs::read(&path).unwrap(), good);
    let mut kept = bad.to_vec();
    kept.push(b'\n');
    let aside = repo.path().join(run_rel(&id)).join("quarantine.jsonl");
    assert_eq!(std::fs::read(&aside).unwrap(), kept);
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    let r = repo.call("nexo_workflow_resume", &json!({"run_id": id}));
    assert_eq!(r["current_step_key"], "package", "{r}");
}

/// A newer nexo's event is not damage: `--fix` leaves it (and the rest of
/// its file) where it is, never commits the file, and says so instead of
/// pointing at itself.
#[test]
fn a_newer_nexos_event_is_left_where_it_is_and_fix_says_so() {
    let repo = Repo::new();
    let id = repo.open_release();
    let newer = "{\"v\":99,\"id\":\"01ZZZZZZZZZZZZZZZZZZZZZZZZ\"}\n";
    append_by_hand(&repo, &id, format!("{newer}{{\"garbage\":\n").as_bytes());
    let before = std::fs::read(history_path(&repo, &id)).unwrap();
    let commits = repo.commit_count();
    let rel = format!("{rr}/history.jsonl", rr = run_rel(&id));

    let out = repo.nexo(&["doctor"]);
    assert_eq!(out.status.code(), Some(7));
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "unreadable_event: {rel}:2: event schema version 99 is newer than this nexo understands"
        )) && text
            .contains("upgrade nexo; it is a newer nexo's event, not damage, so --fix leaves it\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "unreadable_event: {rel}:3: not a JSON event: EOF while parsing a value at line 1 column 11; --fix would move it aside, but leaves {rel} as it is while line 2 stays unreadable\n"
        )),
        "the garbage line is held with it: {text}"
    );
    assert!(
        text.contains(&format!(
            "uncommitted: {rel} is not committed, and --fix will not commit it while it holds a line nexo cannot read (named above)\n"
        )),
        "{text}"
    );
    assert!(
        text.ends_with(
            "1 run checked: 3 problems, none of which --fix can repair; each says what to do\n"
        ),
        "{text}"
    );

    let out = repo.nexo(&["doctor", "--fix"]);
    assert_eq!(out.status.code(), Some(7));
    assert!(
        stdout(&out).ends_with(
            "1 run checked: 3 problems left that --fix cannot repair; each says what to do\n"
        ),
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains("--fix` repairs"), "{}", stdout(&out));
    assert_eq!(std::fs::read(history_path(&repo, &id)).unwrap(), before);
    assert_eq!(repo.commit_count(), commits, "nothing committed");
    assert!(
        !repo
            .path()
            .join(run_rel(&id))
            .join("quarantine.jsonl")
            .exists()
    );
}

/// A sealed segment is never rewritten: a bad line there is named with
/// what a person can do, and `--fix` does not claim it.
#[test]
fn a_bad_line_in_a_sealed_segment_is_named_not_moved() {
    let repo = Repo::new();
    let id = repo.open_release();
    let dir = repo.path().join(run_rel(&id));
    let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    std::fs::create_dir_all(dir.join("history")).unwrap();
    let segment = "history/000001-0123456789abcdef.jsonl";
    std::fs::write(dir.join(segment), format!("{history}{{\"garbage\":\n")).unwrap();
    std::fs::write(dir.join("history.jsonl"), "").unwrap();
    repo.git(&["add", "-A", ".nexo"]);
    repo.git(&["commit", "-q", "-m", "a hand-made segment"]);
    let rel = format!("{rr}/{segment}", rr = run_rel(&id));
    let out = repo.nexo(&["doctor", "--fix"]);
    assert_eq!(out.status.code(), Some(7));
    assert!(
        stdout(&out).contains(&format!(
            "unreadable_event: {rel}:2: not a JSON event: EOF while parsing a value at line 1 column 11; it is in a sealed segment, which --fix never rewrites: see who wrote it with `git log -p -- {rel}`, and mend it by hand\n"
        )),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).ends_with("1 problem left that --fix cannot repair; each says what to do\n"),
        "{}",
        stdout(&out)
    );
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
}

/// A branch that still carries a moved line, with events after it, brings
/// it back when merged (git's union merge keeps both sides). `--fix` then
/// takes it out again and keeps one copy: a merge and a repair never feed
/// each other in a loop.
#[test]
fn a_line_a_merge_brings_back_is_moved_aside_again_and_kept_once() {
    let repo = Repo::new();
    let id = repo.open_release();
    repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "step_key": "doctor", "step_status": "completed"}),
    );
    let path = history_path(&repo, &id);
    let good = std::fs::read_to_string(&path).unwrap();
    let (first, second) = good.split_once('\n').unwrap();
    std::fs::write(&path, format!("{first}\n{{\"garbage\":\n")).unwrap();
    repo.git(&["commit", "-q", "-am", "a peer's bad line"]);
    repo.git(&["switch", "-q", "-c", "peer"]);
    std::fs::write(&path, format!("{first}\n{{\"garbage\":\n{second}")).unwrap();
    repo.git(&["commit", "-q", "-am", "the peer writes on after it"]);
    repo.git(&["switch", "-q", "main"]);
    assert!(repo.nexo(&["doctor", "--fix"]).status.success());
    let aside = repo.path().join(run_rel(&id)).join("quarantine.jsonl");
    assert_eq!(std::fs::read_to_string(&aside).unwrap(), "{\"garbage\":\n");

    repo.git(&["merge", "-q", "--no-edit", "peer"]);
    assert!(std::fs::read_to_string(&path).unwrap().contains("garbage"));
    let out = repo.nexo(&["doctor", "--fix"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("(it was there already: a merge had brought it back)"),
        "{}",
        stdout(&out)
    );
    assert_eq!(std::fs::read_to_string(&aside).unwrap(), "{\"garbage\":\n");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), good);
    assert!(repo.nexo(&["doctor"]).status.success());
}

/// A peer that syncs after the repair gets the history without the line
/// and the quarantine beside it; its own later syncs never bring the line
/// back.
#[test]
fn a_peer_syncs_the_repair_and_the_line_does_not_come_back() {
    let repo = Repo::new();
    let shared = repo.share();
    let id = repo.open_release();
    assert!(repo.nexo(&["sync"]).status.success());
    assert!(nexo_in(&shared.other, &["sync"]).status.success());
    // A hostile push: the line committed and pushed with plain git.
    let other_history = shared.other.join(run_rel(&id)).join("history.jsonl");
    let mut text = std::fs::read_to_string(&other_history).unwrap();
    text.push_str("{\"garbage\":\n");
    std::fs::write(&other_history, text).unwrap();
    git_in(&shared.other, &["commit", "-q", "-am", "a bad line"]);
    git_in(&shared.other, &["push", "-q"]);

    assert!(repo.nexo(&["sync"]).status.success());
    assert_eq!(repo.nexo(&["resume", &id]).status.code(), Some(7));
    assert!(repo.nexo(&["doctor", "--fix"]).status.success());
    assert!(repo.nexo(&["sync"]).status.success());

    let out = nexo_in(&shared.other, &["sync"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !std::fs::read_to_string(&other_history)
            .unwrap()
            .contains("garbage")
    );
    assert!(nexo_in(&shared.other, &["doctor"]).status.success());
    nexo_ok(
        &shared.other,
        &["update", &id, "doctor", "--status", "running", "--json"],
    );
    assert!(nexo_in(&shared.other, &["sync"]).status.success());
    assert!(repo.nexo(&["sync"]).status.success());
    assert!(!history_text(repo.path(), &id).contains("garbage"));
    let aside = repo.path().join(run_rel(&id)).join("quarantine.jsonl");
    assert_eq!(std::fs::read_to_string(aside).unwrap(), "{\"garbage\":\n");
    let out = repo.nexo(&["doctor"]);
    assert_eq!(stdout(&out), "1 run checked: healthy\n");
}

#[test]
fn views_changed_behind_nexos_back_are_regenerated_by_the_next_command() {
    let repo = Repo::new();
    let id = repo.open_release();
    // Someone commits a hand edit to a view (as a bad merge would).
    let view = repo.path().join(run_rel(&id)).join("run.yaml");
    let good = std::fs::read_to_string(&view).unwrap();
    std::fs::write(&view, "hand edited\n").unwrap();
    repo.git(&["commit", "-q", "-am", "edit a view"]);
    let commits = repo.commit_count();
    // The next nexo command, even a read, notices and repairs it.
    repo.call("nexo_workflow_list", &json!({}));
    assert_eq!(std::fs::read_to_string(&view).unwrap(), good);
    assert_eq!(repo.commit_count(), commits + 1);
    assert!(
        repo.git(&["log", "-1", "--format=%s"])
            .contains("regenerate views")
    );
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    // And then it is quiet again.
    repo.call("nexo_workflow_list", &json!({}));
    assert_eq!(repo.commit_count(), commits + 1);
}

#[test]
fn one_damaged_run_does_not_hide_the_others_from_list_and_prime() {
    let repo = Repo::new();
    let good = repo.open_release();
    let bad = repo.open_release();
    let path = repo.path().join(run_rel(&bad)).join("history.jsonl");
    std::fs::write(&path, "{\"v\":1,\"no\":\"id\"}\n").unwrap();
    let out = repo.nexo(&["--json", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = parse_json(&out);
    assert_eq!(v["count"], 1);
    assert_eq!(v["runs"][0]["run_id"], good.as_str());
    assert_eq!(v["unreadable"][0]["run_id"], bad.as_str());
    assert!(
        v["unreadable"][0]["error"]
            .as_str()
            .unwrap()
            .contains("history.jsonl:1")
    );
    let out = repo.nexo(&["list"]);
    assert!(
        stderr(&out).contains(&format!("warning: {bad} could not be read")),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&repo.nexo(&["prime"])).contains("1 run could not be read: nexo doctor"));
    // Asking for that run by name is still an error naming file and line.
    let (code, v) = repo.call_err(
        "nexo_workflow_resume",
        &serde_json::json!({"run_id": bad}).to_string(),
    );
    assert_eq!(code, 7);
    assert!(
        v["error"].as_str().unwrap().contains("history.jsonl:1"),
        "{v}"
    );
}

#[test]
fn views_are_rechecked_once_after_an_upgrade() {
    let repo = Repo::new();
    let id = repo.open_release();
    let view = repo.path().join(run_rel(&id)).join("run.yaml");
    let good = std::fs::read_to_string(&view).unwrap();
    std::fs::write(&view, "rendered by an older nexo\n").unwrap();
    repo.git(&["commit", "-q", "-am", "old rendering"]);
    // nexo had already seen this tree, but rendered by another version.
    let tree = repo.git(&["rev-parse", "HEAD:.nexo/runs"]);
    std::fs::write(
        repo.path().join(".git/nexo-seen"),
        format!("{} nexo-0.0.0\n", tree.trim()),
    )
    .unwrap();
    repo.call("nexo_workflow_resume", &json!({"run_id": id}));
    assert_eq!(std::fs::read_to_string(&view).unwrap(), good);
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
}

// Found by a review of issue 33: bytes a person wrote, kept by --fix.

/// Every byte of the run's folder, history and quarantine together, at
/// HEAD after `doctor --fix`.
fn kept_anywhere(repo: &Repo, id: &str) -> String {
    let dir = repo.path().join(run_rel(id));
    let mut all = String::new();
    for name in ["history.jsonl", "quarantine.jsonl"] {
        all.push_str(&std::fs::read_to_string(dir.join(name)).unwrap_or_default());
    }
    all
}

/// A last line without its newline that nexo did not write is never cut
/// as a crash's leftover, whatever it holds: a complete JSON
/// object a person appended with `printf` (or an editor that does not end
/// files with a newline), or a newer nexo's event, which the change
/// promises never to move. `--fix` then commits the history without it
/// and the bytes are nowhere in the working tree or in HEAD.
#[test]
fn a_last_line_without_its_newline_is_not_lost() {
    let mut lost = Vec::new();
    for (what, line) in [
        ("a note", r#"{"note":"rotate the deploy key before publishing"}"#.to_string()),
        (
            "a newer nexo's event",
            r#"{"v":99,"id":"01M0000000000000000000NEW0","clock":9,"parents":[],"at":"2026-12-02T12:00:00.000Z","actor":"codex","type":"paused","data":{}}"#
                .to_string(),
        ),
    ] {
        let repo = Repo::new();
        let id = repo.open_release();
        let path = history_path(&repo, &id);
        let mut all = std::fs::read(&path).unwrap();
        all.extend_from_slice(line.as_bytes());
        std::fs::write(&path, all).unwrap();
        let out = repo.nexo(&["doctor", "--fix"]);
        let kept = kept_anywhere(&repo, &id);
        if !kept.contains(&line) {
            lost.push(format!(
                "{what}: gone after `doctor --fix` (exit {:?}): {}",
                out.status.code(),
                stdout(&out)
            ));
        }
    }
    assert!(lost.is_empty(), "{lost:#?}");
}

/// two lines with one id whose bytes differ only in a field the
/// event's header does not know (serde drops unknown top-level fields)
/// count as "the same event again", and `--fix` drops the second line
/// with the bytes it alone carried.
#[test]
fn a_second_copy_that_carries_more_bytes_is_not_dropped() {
    let repo = Repo::new();
    let id = repo.open_release();
    let path = history_path(&repo, &id);
    let text = std::fs::read_to_string(&path).unwrap();
    let last = text.lines().last().unwrap();
    let annotated = format!(
        "{},\"reviewer_note\":\"approved on the phone by Dana, ticket 4411\"}}",
        last.strip_suffix('}').unwrap()
    );
    std::fs::write(&path, format!("{text}{annotated}\n")).unwrap();
    let out = repo.nexo(&["doctor", "--fix"]);
    assert!(
        kept_anywhere(&repo, &id).contains("ticket 4411"),
        "gone after --fix: {}",
        stdout(&out)
    );
}

/// The write path settles a history's end as doctor does: a last line
/// without its newline that nexo did not write keeps its bytes.
#[test]
fn a_write_never_cuts_a_line_nexo_did_not_write() {
    let repo = Repo::new();
    let id = repo.open_release();
    let path = history_path(&repo, &id);
    let note = r#"{"note":"rotate the deploy key before publishing"}"#;
    let mut all = std::fs::read(&path).unwrap();
    all.extend_from_slice(note.as_bytes());
    std::fs::write(&path, all).unwrap();
    // The run now holds a line no nexo reads: the write is refused, as
    // every read of the run is until `doctor --fix` moves it, and the
    // line stays.
    let out = repo.nexo(&["update", &id, "doctor", "--summary", "checked"]);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(stderr(&out).contains("doctor"), "{}", stderr(&out));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.trim_end().ends_with(note), "{text}");
}

/// `nexo` in `dir`, checking records on threads from the first one on
/// (`NEXO_TEST_THREADS_FROM`, debug builds) when `threaded`.
fn doctor_in(dir: &std::path::Path, threaded: bool, args: &[&str]) -> std::process::Output {
    let mut cmd = nexo_cmd();
    cmd.current_dir(dir).args(args);
    if threaded {
        cmd.env("NEXO_TEST_THREADS_FROM", "1");
    }
    cmd.output().unwrap()
}

/// A large repository's records are checked on two threads: what they
/// find is put back in id order, so the report and the repairs are the
/// ones a check of one record after another makes, byte for byte.
#[test]
fn records_checked_on_threads_are_reported_and_repaired_as_one_by_one() {
    let repo = Repo::new();
    let ids: Vec<String> = (0..9).map(|_| repo.open_release()).collect();
    let dir = |i: usize| repo.path().join(run_rel(&ids[i]));
    std::fs::write(dir(1).join("run.yaml"), "status: hand-edited\n").unwrap();
    append_by_hand(&repo, &ids[2], b"{\"garbage\":\n");
    std::fs::write(dir(4).join("steps/ghost.yaml"), "x: 1\n").unwrap();
    std::fs::remove_file(dir(5).join("run.yaml")).unwrap();
    std::fs::write(history_path(&repo, &ids[7]), "").unwrap();
    append_by_hand(&repo, &ids[8], b"not json\n");
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "damage"]);
    // The same damage in a second clone, to repair one by one.
    let copy = Repo::empty();
    copy.git(&["pull", "-q", repo.path().to_str().unwrap(), "main"]);

    for args in [&["doctor"][..], &["--json", "doctor"]] {
        let threaded = doctor_in(repo.path(), true, args);
        let one_by_one = doctor_in(repo.path(), false, args);
        assert_eq!(threaded.status.code(), Some(7), "{}", stderr(&threaded));
        assert_eq!(stdout(&threaded), stdout(&one_by_one), "{args:?}");
    }
    let report = |out: &std::process::Output| {
        let mut v = parse_json(out);
        v.as_object_mut().unwrap().remove("commit");
        v
    };
    let threaded = doctor_in(repo.path(), true, &["--json", "doctor", "--fix"]);
    let one_by_one = doctor_in(copy.path(), false, &["--json", "doctor", "--fix"]);
    assert_eq!(report(&threaded), report(&one_by_one));
    assert!(!report(&threaded)["fixed"].as_array().unwrap().is_empty());
    assert_eq!(repo.nexo_files(), copy.nexo_files());
}
