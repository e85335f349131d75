//! The derived-state cache changes no answer: over randomised histories,
//! across union merges of two clones, with the cache present, deleted or
//! corrupt, every read answers byte for byte the same.

mod common;

use std::path::Path;

use common::*;
use serde_json::{Value, json};

fn call(dir: &Path, tool: &str, input: Value) -> String {
    let out = nexo_in(dir, &["call", tool, "--input", &input.to_string()]);
    assert!(out.status.success(), "{tool} {input}: {}", stdout(&out));
    stdout(&out)
}

/// What the reads answer for `id` in `dir`.
fn answers(dir: &Path, id: &str) -> Vec<String> {
    vec![
        call(
            dir,
            "nexo_workflow_get",
            json!({"run_id": id, "checkpoint_limit": 30}),
        ),
        call(dir, "nexo_workflow_resume", json!({"run_id": id})),
        call(
            dir,
            "nexo_workflow_replay",
            json!({"run_id": id, "limit": 300}),
        ),
        call(dir, "nexo_workflow_list", json!({"include_closed": true})),
    ]
}

/// The answers with the cache as it is, after deleting it, and with every
/// entry corrupt, must be the same.
fn same_without_cache(dir: &Path, id: &str) {
    let cache = dir.join(".git/nexo-cache");
    let with = answers(dir, id);
    assert!(cache.exists(), "reads made a cache");
    std::fs::remove_dir_all(&cache).unwrap();
    assert_eq!(answers(dir, id), with, "answers changed without the cache");
    for e in std::fs::read_dir(&cache).unwrap() {
        std::fs::write(e.unwrap().path(), "{ corrupt").unwrap();
    }
    assert_eq!(
        answers(dir, id),
        with,
        "answers changed with a corrupt cache"
    );
}

fn random_write(dir: &Path, id: &str, rng: &mut Rng, n: usize) {
    let steps = ["doctor", "package", "publish"];
    let statuses = [
        "running",
        "completed",
        "failed",
        "blocked",
        "retrying",
        "pending",
    ];
    let step = steps[rng.below(3)];
    let input = match rng.below(5) {
        0 => json!({"run_id": id, "step_key": step, "step_status": statuses[rng.below(6)],
                    "summary": format!("write {n}"), "max_retries": rng.below(3)}),
        1 => json!({"run_id": id, "summary": format!("note {n}"), "state_patch": {"n": n}}),
        2 => {
            json!({"run_id": id, "step_key": step, "requires_approval": true, "step_status": "blocked"})
        }
        3 => {
            let out = call(
                dir,
                "nexo_workflow_handoff",
                json!({"run_id": id, "actor": format!("agent{}", n % 3),
                "new_owner": format!("owner{}", n % 4), "handoff_note": "over to you"}),
            );
            assert!(out.contains("\"ok\": true"));
            return;
        }
        _ => {
            json!({"run_id": id, "step_key": step, "step_status": "completed", "evidence": format!("ci {n}")})
        }
    };
    call(dir, "nexo_workflow_update", input);
}

#[test]
fn answers_are_the_same_with_and_without_the_cache() {
    for seed in [1, 2, 3] {
        let repo = Repo::new();
        let id = repo.open_release();
        let mut rng = Rng(seed);
        for n in 0..25 {
            random_write(repo.path(), &id, &mut rng, n);
            if n % 6 == 5 {
                same_without_cache(repo.path(), &id);
            }
        }
        same_without_cache(repo.path(), &id);
    }
}

#[test]
fn a_union_merge_is_detected_and_refolded() {
    let a = Repo::new();
    let id = a.open_release();
    let shared = a.share();
    let b = shared.other.clone();
    let mut rng = Rng(42);
    for round in 0..3 {
        // Both clones write concurrently, read (so each has a cache), then
        // pull the other's lines with a plain git pull: a union merge.
        for n in 0..4 {
            random_write(a.path(), &id, &mut rng, round * 10 + n);
            random_write(&b, &id, &mut rng, round * 10 + n + 5);
        }
        answers(a.path(), &id);
        answers(&b, &id);
        a.git(&["pull", "-q", "--no-rebase", "--no-edit", "origin", "main"]);
        a.git(&["push", "-q", "origin", "main"]);
        git_in(&b, &["pull", "-q", "--no-edit", "origin", "main"]);
        git_in(&b, &["push", "-q", "origin", "main"]);
        a.git(&["pull", "-q", "--no-rebase", "--no-edit", "origin", "main"]);
        same_without_cache(a.path(), &id);
        same_without_cache(&b, &id);
        assert_eq!(
            answers(a.path(), &id)[0],
            answers(&b, &id)[0],
            "both clones fold the merged history alike"
        );
    }
}

fn listed(dir: &Path) -> String {
    call(
        dir,
        "nexo_workflow_list",
        json!({"include_closed": true, "limit": 500}),
    )
}

/// The list with the index as it is must be the list without it.
fn list_same_without_index(dir: &Path) -> String {
    let with = listed(dir);
    std::fs::remove_file(dir.join(".git/nexo-cache/summaries")).unwrap();
    assert_eq!(
        listed(dir),
        with,
        "the list changed without the summaries index"
    );
    with
}

/// Closed runs are taken from the index unstat'ed while no commit since
/// it changed them: a commit that does (a pull, a hand edit committed) is
/// seen, and so is a write left uncommitted.
#[test]
fn a_closed_run_changed_by_a_commit_or_a_pending_write_is_seen() {
    let repo = Repo::new();
    let run = repo.open_release();
    let out = repo.nexo(&["update", &run, "--run-status", "completed"]);
    assert!(out.status.success(), "{}", stderr(&out));
    age_runs_folder(repo.path());
    listed(repo.path());
    assert!(listed(repo.path()).contains("\"completed\""));
    // Reopened by a commit made behind nexo's back (as a pull would).
    let path = repo.path().join(run_rel(&run)).join("history.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    last["id"] = json!("01ZZZZZZZZZZZZZZZZZZZZZZZZ");
    last["clock"] = json!(last["clock"].as_u64().unwrap() + 1);
    last["data"] = json!({"run_status": "blocked"});
    std::fs::write(&path, format!("{text}{last}\n")).unwrap();
    repo.git(&["commit", "-qam", "by hand"]);
    age_runs_folder(repo.path());
    assert!(listed(repo.path()).contains("\"blocked\""));
    list_same_without_index(repo.path());
    // A write left uncommitted.
    let out = repo.nexo(&["--no-commit", "update", &run, "--run-status", "cancelled"]);
    assert!(out.status.success(), "{}", stderr(&out));
    age_runs_folder(repo.path());
    assert!(listed(repo.path()).contains("\"cancelled\""));
    list_same_without_index(repo.path());
}

#[test]
fn a_trusted_summaries_index_still_sees_every_change() {
    let repo = Repo::new();
    let first = repo.open_release();
    let second = repo.open_release();
    age_runs_folder(repo.path());
    listed(repo.path());
    listed(repo.path());
    let index = std::fs::read_to_string(repo.path().join(".git/nexo-cache/summaries")).unwrap();
    let header = index.lines().next().unwrap();
    assert_eq!(
        header.split('\t').count(),
        7,
        "the tree is recorded and the folder trusted: {header}"
    );

    // A write to one run: its line is appended, then wins.
    call(
        repo.path(),
        "nexo_workflow_update",
        json!({"run_id": first, "step_key": "doctor", "step_status": "running"}),
    );
    assert!(listed(repo.path()).contains("\"status\": \"running\""));
    list_same_without_index(repo.path());

    // A history changed by hand (git would do the same on a pull).
    let history = repo.path().join(run_rel(&second)).join("history.jsonl");
    let text = std::fs::read_to_string(&history).unwrap();
    let mut lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut last = lines.last().unwrap().clone();
    last["id"] = json!("01M8AAAAAAAAAAAAAAAAAAAAAA");
    last["clock"] = json!(99);
    last["parents"] = json!([lines.last().unwrap()["id"]]);
    last["type"] = json!("updated");
    last["data"] = json!({"step_key": "publish", "step_status": "blocked"});
    lines.push(last);
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&history, body).unwrap();
    assert!(listed(repo.path()).contains("\"status\": \"blocked\""));

    // A run removed, and one added, behind the index's back.
    age_runs_folder(repo.path());
    listed(repo.path());
    let folder = repo.path().join(run_rel(&second));
    std::fs::rename(&folder, repo.path().join("moved-away")).unwrap();
    let now = listed(repo.path());
    assert!(!now.contains(&second), "a removed run is not listed");
    age_runs_folder(repo.path());
    listed(repo.path());
    std::fs::rename(repo.path().join("moved-away"), &folder).unwrap();
    assert!(
        listed(repo.path()).contains(&second),
        "an added run is listed"
    );
    list_same_without_index(repo.path());

    // Past 64 appended lines the index is written sorted again.
    age_runs_folder(repo.path());
    for n in 0..70 {
        call(
            repo.path(),
            "nexo_workflow_update",
            json!({"run_id": if n % 2 == 0 { &first } else { &second }, "summary": format!("n{n}")}),
        );
        listed(repo.path());
    }
    let index = std::fs::read_to_string(repo.path().join(".git/nexo-cache/summaries")).unwrap();
    assert!(
        index.lines().count() < 40,
        "compacted: {} lines",
        index.lines().count()
    );
    list_same_without_index(repo.path());
}

/// One part of the summaries index, as text.
fn part(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(".git/nexo-cache").join(name)).unwrap()
}

/// The open runs' list (what reads the open part alone).
fn listed_open(dir: &Path) -> String {
    call(dir, "nexo_workflow_list", json!({"limit": 500}))
}

/// Both lists with the index as it is must be those without it.
fn same_without_index(dir: &Path) -> (String, String) {
    let with = (listed_open(dir), listed(dir));
    for name in ["summaries", "summaries-closed"] {
        let _ = std::fs::remove_file(dir.join(".git/nexo-cache").join(name));
    }
    let without = (listed_open(dir), listed(dir));
    assert_eq!(
        with, without,
        "the lists changed without the summaries index"
    );
    with
}

fn nexo_ok_in(dir: &Path, args: &[&str]) {
    let out = nexo_in(dir, args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
}

/// A run that closes leaves the open part for the closed part; a closed
/// run that a peer's event reopens (pulled with a plain `git pull`) comes
/// back to the open part, both while the index is trusted.
#[test]
fn a_run_moves_between_the_open_and_closed_parts() {
    let a = Repo::new();
    let first = a.open_release();
    let second = a.open_release();
    let shared = a.share();
    let b = shared.other.clone();
    age_runs_folder(a.path());
    listed(a.path());
    listed_open(a.path());
    assert!(part(a.path(), "summaries").contains(&first));

    nexo_ok_in(a.path(), &["update", &first, "--run-status", "completed"]);
    let open = listed_open(a.path());
    assert!(!open.contains(&first) && open.contains(&second), "{open}");
    assert!(
        !part(a.path(), "summaries").contains(&first),
        "left the open part"
    );
    assert!(
        part(a.path(), "summaries-closed").contains(&first),
        "joined the closed part"
    );
    assert!(listed(a.path()).contains(&first));
    same_without_index(a.path());

    // A peer reopens it; this clone pulls with plain git.
    age_runs_folder(a.path());
    listed(a.path());
    a.git(&["push", "-q", "origin", "main"]);
    git_in(&b, &["pull", "-q", "--no-edit", "origin", "main"]);
    nexo_ok_in(&b, &["update", &first, "--run-status", "blocked"]);
    git_in(&b, &["push", "-q", "origin", "main"]);
    a.git(&["pull", "-q", "--no-rebase", "--no-edit", "origin", "main"]);
    let open = listed_open(a.path());
    assert!(
        open.contains(&first) && open.contains("\"blocked\""),
        "{open}"
    );
    assert!(
        part(a.path(), "summaries").contains(&first),
        "back in the open part"
    );
    let all = listed(a.path());
    assert_eq!(all.matches(&first).count(), 1, "listed once: {all}");
    same_without_index(a.path());

    // Closed again here, then read whole first: the same.
    nexo_ok_in(a.path(), &["update", &first, "--run-status", "cancelled"]);
    assert!(listed(a.path()).contains("\"cancelled\""));
    assert!(!listed_open(a.path()).contains(&first));
    same_without_index(a.path());

    // Every run closed: the open part alone still counts them.
    nexo_ok_in(a.path(), &["update", &second, "--run-status", "completed"]);
    age_runs_folder(a.path());
    listed(a.path());
    let out = a.nexo(&["list"]);
    assert_eq!(
        stdout(&out),
        "No open runs (2 closed: `nexo list --all`).\n",
        "{}",
        stderr(&out)
    );

    // A run added: the open part takes it, the closed part stands.
    let closed = part(a.path(), "summaries-closed");
    let third = a.open_release();
    age_runs_folder(a.path());
    listed(a.path());
    assert!(listed_open(a.path()).contains(&third));
    assert_eq!(part(a.path(), "summaries-closed"), closed);
    same_without_index(a.path());
}

/// A closed part that is not the open part's (another rebuild's), or
/// with a line damaged, and an index an older nexo wrote, are not
/// trusted: the answers are those without an index.
#[test]
fn a_stale_or_damaged_closed_part_or_an_older_index_is_rebuilt() {
    let repo = Repo::new();
    let dir = repo.path();
    let first = repo.open_release();
    let second = repo.open_release();
    nexo_ok_in(dir, &["update", &first, "--run-status", "completed"]);
    age_runs_folder(dir);
    listed(dir);
    let earlier = part(dir, "summaries-closed");

    // Another rebuild (a run added), then the earlier closed part back.
    nexo_ok_in(dir, &["update", &second, "--run-status", "cancelled"]);
    let third = repo.open_release();
    age_runs_folder(dir);
    listed(dir);
    std::fs::write(dir.join(".git/nexo-cache/summaries-closed"), &earlier).unwrap();
    let (open, all) = same_without_index(dir);
    assert!(open.contains(&third) && !open.contains(&second), "{open}");
    assert!(all.contains(&first) && all.contains(&second), "{all}");

    // A line of the closed part damaged in place.
    age_runs_folder(dir);
    listed(dir);
    let closed = part(dir, "summaries-closed");
    let damaged = closed.replacen(&format!("{first}\t"), &format!("{first}x"), 1);
    assert_ne!(closed, damaged);
    std::fs::write(dir.join(".git/nexo-cache/summaries-closed"), damaged).unwrap();
    assert_eq!(listed(dir), all, "a damaged line hides no run");
    same_without_index(dir);

    // The one file an older nexo wrote (format 11), with no closed part.
    let old = format!(
        "nexo-summaries 11\t00000000000000000040\t-\n{second}\t1\t2\t3\tx\topen\tnormal\t0\t0\t\t2\t{{}}\n"
    );
    std::fs::write(dir.join(".git/nexo-cache/summaries"), old).unwrap();
    let _ = std::fs::remove_file(dir.join(".git/nexo-cache/summaries-closed"));
    assert_eq!(listed(dir), all);
    assert!(part(dir, "summaries").starts_with("nexo-summaries 12\t"));
    same_without_index(dir);
}

/// `list --all --limit N` stops early in the closed part: it must list
/// what the whole list starts with, for every N, through closes, a
/// reopening commit and a pending write.
#[test]
fn the_newest_runs_are_the_start_of_the_whole_list() {
    let repo = Repo::new();
    let dir = repo.path();
    let runs: Vec<String> = (0..6).map(|_| repo.open_release()).collect();
    for run in &runs[..4] {
        nexo_ok_in(dir, &["update", run, "--run-status", "completed"]);
    }
    age_runs_folder(dir);
    listed(dir);
    let ids = |v: &Value| -> Vec<String> {
        v["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["run_id"].as_str().unwrap().to_string())
            .collect()
    };
    let check = |step: &str| {
        let newest = |n: usize| -> Vec<String> {
            let out = call(
                dir,
                "nexo_workflow_list",
                json!({"include_closed": true, "limit": n}),
            );
            ids(&serde_json::from_str(&out).unwrap())
        };
        let limited: Vec<Vec<String>> = (1..=7).map(newest).collect();
        let (_, whole) = same_without_index(dir);
        let whole = ids(&serde_json::from_str(&whole).unwrap());
        assert_eq!(whole.len(), 6, "{step}");
        for (n, got) in (1..=7).zip(limited) {
            assert_eq!(got, whole[..n.min(6)].to_vec(), "{step}: the first {n}");
        }
        age_runs_folder(dir);
        listed(dir);
    };
    check("closed runs");
    // An older closed run updated again: it moves up.
    nexo_ok_in(dir, &["update", &runs[0], "--summary", "late note"]);
    check("a closed run updated");
    nexo_ok_in(dir, &["update", &runs[1], "--run-status", "blocked"]);
    check("a closed run reopened");
    nexo_ok_in(
        dir,
        &[
            "--no-commit",
            "update",
            &runs[4],
            "--run-status",
            "cancelled",
        ],
    );
    check("a pending close");
}

/// A closed run written by hand as the benches write them (a history
/// alone, no views): opened with one step, the step and the run completed.
fn write_closed_run(dir: &Path, n: usize) {
    let (folder, id) = hand_run(n);
    let line =
        |k: usize, parents: &[usize], kind: &str, data: Value| event_line(k, parents, kind, data);
    let lines = [
        line(
            1,
            &[],
            "opened",
            json!({"run_id": id, "sid": "t", "goal": format!("goal {n}"), "priority": "normal",
            "workflow_kind": "general", "steps": [{"key": "s0", "title": "Step"}]}),
        ),
        line(
            2,
            &[1],
            "updated",
            json!({"step_key": "s0", "step_status": "completed"}),
        ),
        line(3, &[2], "updated", json!({"run_status": "completed"})),
    ];
    let folder = dir.join(folder);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("history.jsonl"), lines.join("\n") + "\n").unwrap();
}

fn append_summary(dir: &Path, n: usize) {
    use std::io::Write;
    let (folder, _) = hand_run(n);
    let line = event_line(4, &[3], "updated", json!({"summary": "reviewed"}));
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join(folder).join("history.jsonl"))
        .unwrap();
    writeln!(f, "{line}").unwrap();
}

fn event_line(k: usize, parents: &[usize], kind: &str, data: Value) -> String {
    let parents: Vec<String> = parents.iter().map(|p| format!("01{p:024}")).collect();
    json!({"v": 2, "id": format!("01{k:024}"), "clock": k, "parents": parents,
           "at": "2026-11-27T10:00:00.000Z", "actor": "t", "type": kind, "data": data})
    .to_string()
}

/// Run `n`'s folder (relative) and id, spread over the fan-out folders.
fn hand_run(n: usize) -> (String, String) {
    const CROCKFORD: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut x = (n as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let body: String = (0..16)
        .map(|_| {
            x ^= x >> 29;
            x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
            CROCKFORD[(x >> 59) as usize] as char
        })
        .collect();
    let id = format!("WF-{body}");
    (
        format!(".nexo/runs/{}/{}/{id}", &body[..1], &body[1..2]),
        id,
    )
}

/// A commit that touches every run (a peer's bulk change, or `doctor
/// --fix` writing the views of runs written without them) must not leave every later
/// `list --all --limit N` checking each of those runs again: the first
/// read after it records the new tree.
#[test]
fn a_bulk_commit_moves_the_closed_parts_tree_forward() {
    let repo = Repo::new();
    let dir = repo.path();
    repo.open_release();
    for n in 0..1100 {
        write_closed_run(dir, n);
    }
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "runs by hand"]);
    nexo_ok_in(dir, &["list", "--all", "--limit", "5"]);
    let tree_of = |name: &str| {
        let p = part(dir, name);
        p.lines()
            .next()
            .unwrap()
            .rsplit('\t')
            .next()
            .unwrap()
            .to_string()
    };
    age_runs_folder(dir);
    nexo_ok_in(dir, &["list", "--all", "--limit", "5"]);
    let before = tree_of("summaries-closed");
    // A peer's bulk commit, pulled: a summary added to every run.
    for n in 0..1100 {
        append_summary(dir, n);
    }
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "a summary in every run"]);
    age_runs_folder(dir);
    nexo_ok_in(dir, &["list", "--all", "--limit", "5"]);
    let after = tree_of("summaries-closed");
    assert_ne!(
        before, after,
        "the closed part still dates from before the bulk commit"
    );
    same_without_index(dir);
}

/// A read after a write moves the open part's tree on to HEAD's in place
/// (the same file, its header's id written over), so the next read's diff
/// starts there instead of at the tree the part was last written whole
/// at; each change is still seen, and the lists are those without index.
#[test]
fn a_read_moves_the_open_parts_tree_on_in_place() {
    use std::os::unix::fs::MetadataExt;
    let repo = Repo::new();
    let first = repo.open_release();
    repo.open_release();
    age_runs_folder(repo.path());
    listed_open(repo.path());
    listed_open(repo.path());
    let file = repo.path().join(".git/nexo-cache/summaries");
    let tree = || {
        let text = part(repo.path(), "summaries");
        text.lines()
            .next()
            .unwrap()
            .split('\t')
            .nth(4)
            .unwrap()
            .to_string()
    };
    let head = || repo.git(&["rev-parse", "HEAD:.nexo"]).trim().to_string();
    assert_eq!(tree(), head(), "written whole at HEAD's tree");
    for status in ["running", "blocked", "running"] {
        call(
            repo.path(),
            "nexo_workflow_update",
            json!({"run_id": first, "step_key": "doctor", "step_status": status}),
        );
        let before = std::fs::metadata(&file).unwrap().ino();
        assert_ne!(tree(), head());
        assert!(listed_open(repo.path()).contains(&format!("\"status\": \"{status}\"")));
        assert_eq!(tree(), head(), "{status}: the tree moved on");
        assert_eq!(
            std::fs::metadata(&file).unwrap().ino(),
            before,
            "{status}: in place, not written anew"
        );
    }
    same_without_index(repo.path());
}

/// `list` in `dir`, paused where it writes the open part (`NEXO_PAUSE_AT`)
/// until the file `name` beside the repository is removed.
fn paused_list(dir: &Path, name: &str) -> (std::process::Child, std::path::PathBuf) {
    let pause = dir.with_file_name(format!(
        "{}-{name}",
        dir.file_name().unwrap().to_string_lossy()
    ));
    let child = nexo_cmd()
        .current_dir(dir)
        .env("NEXO_PAUSE_AT", "summaries-open-write")
        .env("NEXO_PAUSE_FILE", &pause)
        .args(["call", "nexo_workflow_list", "--input", r#"{"limit":500}"#])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while !pause.exists() {
        assert!(start.elapsed().as_secs() < 60, "{name} reached its pause");
        std::thread::yield_now();
    }
    (child, pause)
}

fn resume((child, pause): (std::process::Child, std::path::PathBuf)) {
    std::fs::remove_file(pause).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

/// A read moves the tree on in place only in the part it read. Another
/// read that began before a commit writes the part anew at the tree it
/// had, without a run reopened since (named by the diff from that tree
/// alone): its tree moved on, the run would be lost to `list`.
#[test]
fn a_tree_moved_on_in_place_is_that_of_the_part_read() {
    let repo = Repo::new();
    let dir = repo.path();
    let kept = repo.open_release();
    let closing = repo.open_release();
    let reopened = repo.open_release();
    nexo_ok_in(dir, &["update", &reopened, "--run-status", "completed"]);
    age_runs_folder(dir);
    listed(dir);
    listed_open(dir);
    // A commit closes a run; a slow read sees it, to write the part anew
    // without it at this tree.
    nexo_ok_in(dir, &["update", &closing, "--run-status", "completed"]);
    let slow = paused_list(dir, "slow");
    listed_open(dir);
    // A pending write reopens a run: a read appends its line; then the
    // write is committed, and a read finds the run in the part it read.
    nexo_ok_in(
        dir,
        &[
            "--no-commit",
            "update",
            &reopened,
            "--run-status",
            "blocked",
        ],
    );
    listed_open(dir);
    nexo_ok_in(dir, &["commit"]);
    let mover = paused_list(dir, "mover");
    resume(slow);
    resume(mover);
    let open = listed_open(dir);
    assert!(open.contains(&kept) && !open.contains(&closing), "{open}");
    assert!(
        open.contains(&reopened),
        "the reopened run is listed: {open}"
    );
    same_without_index(dir);
}

/// An open part whose tree no diff can start from (a tree pruned since,
/// or an id half written when it was moved on) is written anew at HEAD's
/// tree by the next read, which reads every run once; the lists are
/// those without the index.
#[test]
fn an_open_part_whose_tree_is_gone_is_written_anew() {
    let repo = Repo::new();
    repo.open_release();
    repo.open_release();
    age_runs_folder(repo.path());
    listed_open(repo.path());
    listed_open(repo.path());
    let tree = |dir: &Path| {
        let text = part(dir, "summaries");
        text.lines()
            .next()
            .unwrap()
            .split('\t')
            .nth(4)
            .unwrap()
            .to_string()
    };
    let head = repo.git(&["rev-parse", "HEAD:.nexo"]).trim().to_string();
    assert_eq!(tree(repo.path()), head);
    // Hex of the right length, and no such tree.
    let file = repo.path().join(".git/nexo-cache/summaries");
    let text = std::fs::read_to_string(&file).unwrap();
    let gone = "0123456789abcdef0123456789abcdef01234567";
    std::fs::write(&file, text.replacen(&head, gone, 1)).unwrap();
    let listed = listed_open(repo.path());
    assert_eq!(tree(repo.path()), head, "written anew at HEAD's tree");
    assert_eq!(listed, same_without_index(repo.path()).0);
}

/// A short history of a completed run gets no fold cache entry (a clone's
/// first read of 100,000 such runs wrote 200,000 files for them); an open
/// run's does, and the answers are the same either way.
#[test]
fn a_short_closed_run_is_not_kept_in_the_fold_cache() {
    let repo = Repo::new();
    let open = repo.open_release();
    let done = repo.open_release();
    let update = json!({"run_id": done, "run_status": "completed", "actor": "codex"});
    repo.call("nexo_workflow_update", &update);
    let cache = repo.path().join(".git/nexo-cache");
    std::fs::remove_dir_all(&cache).unwrap();
    let with = answers(repo.path(), &done);
    assert!(
        cache.join(format!("{open}.json")).exists(),
        "the open run is kept"
    );
    assert!(
        !cache.join(format!("{done}.json")).exists(),
        "the closed run is not"
    );
    assert_eq!(answers(repo.path(), &done), with);
}
