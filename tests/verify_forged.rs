//! `nexo verify` against lines a branch writes by hand to skip a gate
//! (issue 33): a second copy of an inherited event, a back-dated
//! completion, a run folder that is a link or a submodule; and the honest
//! flows that must still pass (the base merged into the branch, the
//! branch merged into the base, a pull request's merge commit).

mod common;

use std::path::Path;

use serde_json::{Value, json};

use common::gates::*;
use common::{nexo_ok, run_rel};

/// The lines of the run's history on the branch, parsed.
fn lines(b: &Base) -> Vec<Value> {
    std::fs::read_to_string(b.history())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The base's request for approval of `publish` (the second line).
fn request(b: &Base) -> Value {
    let all = lines(b);
    assert_eq!(all[1]["data"]["requires_approval"], true, "{all:#?}");
    all[1].clone()
}

fn step_status(b: &Base, step: &str) -> String {
    let got = nexo_ok(b.path(), &["--json", "get", &b.run]);
    let steps = got["run"]["steps"].as_array().unwrap();
    let s = steps.iter().find(|s| s["step_key"] == step).unwrap();
    s["status"].as_str().unwrap().to_string()
}

#[test]
fn a_second_copy_of_an_inherited_event_does_not_erase_it() {
    for base in [Base::new("explicit", &["release-manager"]), Base::signed()] {
        let b = &base;
        // The gate's request again, under its own id, saying "done".
        let mut copy = request(b);
        copy["data"] = json!({"step_key": "publish", "step_status": "completed"});
        append_line(b, &copy.to_string());
        b.commit_all("Same id, other body");
        let r = b.fails_with("rewrites_inherited");
        let v = &r["violations"][0];
        assert_eq!(v["event_id"], copy["id"], "{r:#}");
        assert!(
            v["message"].as_str().unwrap().starts_with(&format!(
                "rewrites inherited event {}",
                copy["id"].as_str().unwrap()
            )),
            "{r:#}"
        );
        assert_eq!(
            r["gates"][0]["passed"], false,
            "the base's copy is judged: {r:#}"
        );
    }
}

/// The forgery: a completion naming only the opening, with the
/// request's clock and an id that sorts before the request's.
fn back_date_a_completion(b: &Base) -> Value {
    let all = lines(b);
    let line = json!({
        "v": 2,
        "id": "01AAAAAAAAAAAAAAAAAAAAAAAA",
        "clock": all[1]["clock"],
        "parents": [all[0]["id"]],
        "at": all[1]["at"],
        "actor": "mallory",
        "type": "updated",
        "data": {"step_key": "publish", "step_status": "completed"},
    });
    append_line(b, &line.to_string());
    b.commit_all("Done long ago");
    line
}

#[test]
fn a_back_dated_completion_passes_no_gate_under_a_strict_policy() {
    for base in [Base::new("explicit", &["release-manager"]), Base::signed()] {
        let b = &base;
        let forged = back_date_a_completion(b);
        let r = b.fails_with("not_after_base");
        assert_eq!(r["violations"][0]["event_id"], forged["id"], "{r:#}");
        assert_eq!(r["gates"][0]["passed"], false, "{r:#}");
        // The fold agrees with verify: the step waits at its gate, as the
        // request left it.
        assert_eq!(step_status(b, "publish"), "blocked");
    }
}

#[test]
fn a_back_dated_completion_passes_no_gate_under_the_seed_policy_either() {
    let b = Base::new("update", &[]);
    back_date_a_completion(&b);
    b.fails_with("unseen_gate");
    assert_eq!(step_status(&b, "publish"), "blocked");
}

#[test]
fn a_run_folder_that_is_a_link_or_a_submodule_is_a_violation() {
    // A link in place of a run folder, to a folder of the branch.
    let b = Base::signed();
    let folder = b.path().join(run_rel(&b.run));
    std::fs::rename(&folder, b.path().join("elsewhere")).unwrap();
    std::os::unix::fs::symlink("../../../../elsewhere", &folder).unwrap();
    b.repo.git(&["add", "-A", "elsewhere"]);
    b.commit_all("A run that lives elsewhere");
    let (code, r) = b.verify();
    assert_eq!(code, EXIT_VIOLATIONS, "{r:#}");
    let path = format!("{} is a symbolic link", run_rel(&b.run));
    assert!(r["problems"].to_string().contains(&path), "{r:#}");

    // A submodule (gitlink) among the runs.
    let b = Base::signed();
    let head = b.repo.git(&["rev-parse", "HEAD"]);
    let entry = format!("160000,{},.nexo/runs/WF-SUBMODULE0000000", head.trim());
    b.repo
        .git(&["update-index", "--add", "--cacheinfo", &entry]);
    b.repo
        .git(&["commit", "-q", "-m", "A run that is a submodule"]);
    let (code, r) = b.verify();
    assert_eq!(code, EXIT_VIOLATIONS, "{r:#}");
    let path = ".nexo/runs/WF-SUBMODULE0000000 is a submodule";
    assert!(r["problems"].to_string().contains(path), "{r:#}");

    // A file of a run folder that is a link.
    let b = Base::signed();
    let view = b.path().join(run_rel(&b.run)).join("run.yaml");
    std::fs::remove_file(&view).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", &view).unwrap();
    b.commit_all("A view that is a link");
    let (code, r) = b.verify();
    assert_eq!(code, EXIT_VIOLATIONS, "{r:#}");
    let path = format!("{}/run.yaml is a symbolic link", run_rel(&b.run));
    assert!(r["problems"].to_string().contains(&path), "{r:#}");
}

/// The branch approves its gate as the policy wants (the signed policy,
/// release-manager's key) and completes the step.
fn approve_and_complete(b: &Base) {
    b.sign_with("release-manager");
    let args = ["approve", &b.run, "publish", "--actor", "release-manager"];
    nexo_json(b.path(), &args);
    b.update("publish", "completed", "codex");
}

#[test]
fn the_base_merged_into_the_branch_midway_still_passes() {
    let b = Base::signed();
    b.update("build", "completed", "codex");
    // main moves on meanwhile, in the same run.
    b.repo.git(&["switch", "-q", "main"]);
    let args = [
        "update",
        &b.run,
        "--next",
        "Ship it soon",
        "--actor",
        "lead",
    ];
    nexo_json(b.path(), &args);
    b.repo.git(&["switch", "-q", "pr"]);
    // "Update branch": main merged into the pull request.
    b.repo.git(&["merge", "-q", "--no-edit", "main"]);
    approve_and_complete(&b);
    let (code, r) = b.verify();
    assert_eq!(code, 0, "{r:#}");
    // And as CI sees it: a merge of the branch into main, main first.
    b.repo.git(&["switch", "-q", "--detach", "main"]);
    b.repo.git(&["merge", "-q", "--no-edit", "pr"]);
    let (code, r) = b.verify();
    assert_eq!(code, 0, "{r:#}");
}

#[test]
fn a_branch_merged_into_the_base_twice_still_passes() {
    let b = Base::signed();
    b.update("build", "completed", "codex");
    b.repo.git(&["switch", "-q", "main"]);
    b.repo.git(&["merge", "-q", "--no-ff", "--no-edit", "pr"]);
    b.repo.git(&["switch", "-q", "pr"]);
    approve_and_complete(&b);
    let (code, r) = b.verify();
    assert_eq!(code, 0, "{r:#}");
    b.repo.git(&["switch", "-q", "main"]);
    b.repo.git(&["merge", "-q", "--no-ff", "--no-edit", "pr"]);
    b.repo.git(&["switch", "-q", "pr"]);
    let (code, r) = b.verify();
    assert_eq!(code, 0, "{r:#}");
}

#[test]
fn a_line_doctor_moved_to_quarantine_is_not_a_lost_line() {
    let b = Base::signed();
    b.repo.git(&["switch", "-q", "main"]);
    append_line(&b, "{\"garbage\":");
    b.commit_all("A line nobody can read");
    b.repo.git(&["switch", "-q", "-C", "pr"]);
    let out = common::nexo_in(b.path(), &["doctor", "--fix"]);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    let quarantine = b.history().with_file_name("quarantine.jsonl");
    assert!(
        std::fs::read_to_string(quarantine)
            .unwrap()
            .contains("garbage")
    );
    let (code, r) = b.verify();
    assert_eq!(code, 0, "{r:#}");
}

// Found by a review of issue 33, each by hand: a request made with no
// status, completed around; a branch rooted elsewhere; honest flows that
// must pass (a sibling branch taken in, an ignored line on the base, a
// merge queue, a stray file); a line voiding part of an inherited event.

fn history_of(dir: &Path, run: &str) -> std::path::PathBuf {
    dir.join(run_rel(run)).join("history.jsonl")
}

fn lines_at(b: &Base, rev: &str, run: &str) -> Vec<Value> {
    let text = b.repo.git(&[
        "show",
        &format!("{rev}:{rr}/history.jsonl", rr = run_rel(run)),
    ]);
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn append(dir: &Path, run: &str, line: &Value) {
    let h = history_of(dir, run);
    let text = std::fs::read_to_string(&h).unwrap();
    std::fs::write(&h, format!("{text}{line}\n")).unwrap();
}

fn get(b: &Base, run: &str) -> Value {
    nexo_ok(b.path(), &["--json", "get", run])["run"].clone()
}

/// On `main`: a run opened, a commit, then a request for approval of
/// `publish` with no status (`nexo update RUN publish --requires-approval`,
/// a flag the CLI offers on its own). Returns the run and the commit
/// before the request.
fn run_gated_by_a_bare_request(b: &Base) -> (String, String) {
    b.repo.git(&["switch", "-q", "main"]);
    let opened = nexo_json(
        b.path(),
        &[
            "open",
            "Ship v2",
            "--step",
            "build:Build",
            "--step",
            "publish:Publish",
            "--actor",
            "codex",
        ],
    );
    let run = opened["run_id"].as_str().unwrap().to_string();
    b.repo
        .git(&["commit", "-q", "--allow-empty", "-m", "before the gate"]);
    let before = b.repo.git(&["rev-parse", "HEAD"]).trim().to_string();
    nexo_json(
        b.path(),
        &[
            "update",
            &run,
            "publish",
            "--requires-approval",
            "--actor",
            "codex",
        ],
    );
    (run, before)
}

/// `run_status: completed`, naming only the opening, with the request's
/// clock and an id that sorts before the request's: exactly what a
/// branch that began before the request could have written.
fn completion_of_the_run(b: &Base, run: &str) -> Value {
    let main = lines_at(b, "main", run);
    assert_eq!(main[1]["data"]["requires_approval"], true);
    json!({
        "v": 2,
        "id": "01AAAAAAAAAAAAAAAAAAAAAAAA",
        "clock": main[1]["clock"],
        "parents": [main[0]["id"]],
        "at": main[0]["at"],
        "actor": "mallory",
        "type": "updated",
        "data": {"run_status": "completed"},
    })
}

/// the fold honours a `run_status: completed` that sorts before
/// a request for approval made by an update, and nothing takes it back
/// when the request comes: the run reads completed with its gate closed
/// ("Closed: completing the run past a gate" in docs/approvals.md). The
/// bar `not_after_base` sets is where the branch's first-parent line
/// began, which the branch author chooses: branch off the commit before
/// the request and merge main, and `verify --trusted main` exits 0.
#[test]
fn a_run_completed_beside_a_request_is_taken_back_even_from_a_branch_begun_before_it() {
    let mut passed = Vec::new();
    for (policy, base) in [
        ("explicit", Base::new("explicit", &["release-manager"])),
        ("signed", Base::signed()),
    ] {
        let b = &base;
        let (run, before) = run_gated_by_a_bare_request(b);
        let forged = completion_of_the_run(b, &run);

        // Control: on a branch begun after the request, the rule holds.
        b.repo.git(&["switch", "-q", "-C", "pr", "main"]);
        append(b.path(), &run, &forged);
        b.commit_all("Done");
        let (code, r) = b.verify();
        assert_eq!(code, EXIT_VIOLATIONS, "{r:#}");

        // The same line, on a branch begun one commit earlier (plain git:
        // branch, commit, merge main).
        b.repo.git(&["switch", "-q", "-C", "pr", &before]);
        append(b.path(), &run, &forged);
        b.commit_all("Done");
        b.repo.git(&["merge", "-q", "--no-edit", "main"]);
        let state = get(b, &run);
        let publish = state["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["step_key"] == "publish")
            .unwrap()
            .clone();
        assert_eq!(publish["requires_approval"], true, "{state:#}");
        assert_eq!(publish["status"], "pending", "{state:#}");
        let (code, r) = b.verify();
        if code != EXIT_VIOLATIONS || state["status"] == "completed" {
            passed.push(format!(
                "{policy}: verify exits {code} (ok: {}, violations: {}) and the run reads {} while its gate is closed",
                r["ok"], r["violations"], state["status"]
            ));
        }
    }
    assert!(passed.is_empty(), "{passed:#?}");
}

/// where the branch began is whatever its first-parent line
/// reaches, and a line that reaches a root commit (a history begun with
/// `git checkout --orphan`, the base merged in as a second parent) sets
/// no bar at all: `Origin::folder` is `None` and `not_after` is emptied.
#[test]
fn a_branch_whose_first_parent_line_is_rooted_elsewhere_is_held_to_the_merge_base() {
    let b = Base::signed();
    let (run, _) = run_gated_by_a_bare_request(&b);
    b.repo.git(&["switch", "-q", "-C", "pr", "main"]);
    append(b.path(), &run, &completion_of_the_run(&b, &run));
    b.commit_all("Done");
    let (code, r) = b.verify();
    assert_eq!(code, EXIT_VIOLATIONS, "control: {r:#}");
    // The same tree, its first-parent line rooted in an orphan commit.
    let tree = b.repo.git(&["rev-parse", "HEAD^{tree}"]);
    let root = b
        .repo
        .git(&["commit-tree", tree.trim(), "-m", "a fresh start"]);
    let merged = b.repo.git(&[
        "commit-tree",
        tree.trim(),
        "-p",
        root.trim(),
        "-p",
        "main",
        "-m",
        "Merge main",
    ]);
    b.repo.git(&["reset", "-q", "--hard", merged.trim()]);
    let (code, r) = b.verify();
    assert_eq!(code, EXIT_VIOLATIONS, "verify passes it: {r:#}");
}

/// two branches off main at different times
/// both work on one run, and one takes the other's work in, by `git
/// merge` or by `nexo bring` (docs/cli.md, "Runs on other branches").
/// The other branch's events did not see what main added to the run in
/// between, so under `explicit` and `signed` each is `not_after_base`,
/// though every one of them was written by nexo, honestly.
#[test]
fn a_sibling_branch_begun_earlier_and_taken_in_is_not_a_forgery() {
    for how in ["merge", "bring"] {
        let b = Base::signed();
        b.repo.git(&["switch", "-q", "-c", "feature", "main"]);
        b.update("build", "completed", "codex");
        b.repo.git(&["switch", "-q", "main"]);
        let args = [
            "update",
            &b.run,
            "--next",
            "Ship it soon",
            "--actor",
            "lead",
        ];
        nexo_json(b.path(), &args);
        b.repo.git(&["switch", "-q", "-C", "pr", "main"]);
        match how {
            "merge" => {
                // pr's own work first, then the sibling merged in.
                let args = ["update", &b.run, "--next", "Review", "--actor", "codex"];
                nexo_json(b.path(), &args);
                b.repo.git(&["merge", "-q", "--no-edit", "feature"]);
            }
            _ => {
                nexo_json(b.path(), &["bring", &b.run, "--from", "feature"]);
            }
        }
        let (code, r) = b.verify();
        assert_eq!(
            (code, reasons(&r)),
            (0, vec![]),
            "{how}: an honest event of a sibling branch is named: {:#}",
            r["violations"]
        );
    }
}

/// the bar is `heads_of` the run's raw lines
/// where the branch began, and a line the fold ignores there (a forged
/// clock, a copy with other content, anything `doctor` lists as not
/// honoured) is one of them. The fold never makes an ignored line a head,
/// so no honest writer ever names it as a parent: from then on every
/// event any branch adds to that run is `not_after_base`, forever.
#[test]
fn an_ignored_line_on_the_base_does_not_fail_every_later_branch() {
    let b = Base::signed();
    b.repo.git(&["switch", "-q", "main"]);
    let all = lines_at(&b, "main", &b.run);
    // A line whose clock does not follow its parent: ignored by every fold.
    let ignored = json!({
        "v": 2,
        "id": "01M0000000000000000000ZZZZ",
        "clock": all[1]["clock"],
        "parents": [all[1]["id"]],
        "at": all[1]["at"],
        "actor": "someone",
        "type": "updated",
        "data": {"step_key": "build", "summary": "hand-edited long ago"},
    });
    append(b.path(), &b.run, &ignored);
    b.commit_all("An old hand edit on main");
    b.repo.git(&["switch", "-q", "-C", "pr", "main"]);
    // Honest work on the branch, through nexo.
    b.update("build", "completed", "codex");
    let (code, r) = b.verify();
    assert_eq!((code, reasons(&r)), (0, vec![]), "{:#}", r["violations"]);
}

/// a merge queue's commit for the second pull
/// request in line merges it onto the first one's queue commit, which is
/// not on main yet. `branch_origin` only recognises a merge whose first
/// parent is on the base, so it walks the queue's own line to main's tip
/// and takes that as where the branch began: the pull request's events,
/// which began before main moved, are `not_after_base`. The same pull
/// request merged directly passes.
#[test]
fn a_merge_queues_second_commit_judges_the_pull_request_as_merged_directly() {
    let b = Base::signed();
    // pr: honest work on the run, begun at main's current commit.
    b.update("build", "completed", "codex");
    // main moves on in the same run meanwhile.
    b.repo.git(&["switch", "-q", "main"]);
    let args = [
        "update",
        &b.run,
        "--next",
        "Ship it soon",
        "--actor",
        "lead",
    ];
    nexo_json(b.path(), &args);
    // Another pull request, first in the queue, unrelated to the run.
    b.repo.git(&["switch", "-q", "-c", "other", "main"]);
    std::fs::write(b.path().join("README"), "hello\n").unwrap();
    b.repo.git(&["add", "README"]);
    b.repo.git(&["commit", "-q", "-m", "Docs"]);
    // As GitHub's merge queue builds them: main + other, then + pr.
    b.repo.git(&["switch", "-q", "--detach", "main"]);
    b.repo
        .git(&["merge", "-q", "--no-ff", "--no-edit", "other"]);
    let direct = {
        b.repo.git(&["switch", "-q", "--detach", "main"]);
        b.repo.git(&["merge", "-q", "--no-edit", "pr"]);
        b.verify()
    };
    assert_eq!(direct.0, 0, "control, merged directly: {:#}", direct.1);
    b.repo.git(&["switch", "-q", "--detach", "main"]);
    b.repo
        .git(&["merge", "-q", "--no-ff", "--no-edit", "other"]);
    b.repo.git(&["merge", "-q", "--no-edit", "pr"]);
    let (code, r) = b.verify();
    assert_eq!(
        (code, reasons(&r)),
        (0, vec![]),
        "second in the queue: {:#}",
        r["violations"]
    );
}

/// whether the fold admits an update
/// depends on the run's state when it is met (`admit` runs `check_needs`:
/// no cycle). An inherited request for approval that also sets its
/// step's needs (`nexo update RUN publish --requires-approval --needs
/// build`) is ignored when a line sorted before it made `build` need
/// `publish`: the gate is gone from the fold. The request is inherited,
/// so verify never answers for it being ignored; the line that did it
/// sets no gate-related field; and the completion that follows passes no
/// gate. `verify --trusted main` exits 0, and after the merge `get` on
/// main shows `publish` completed without approval.
#[test]
fn a_line_that_makes_an_inherited_request_invalid_does_not_remove_its_gate() {
    let mut passed = Vec::new();
    for (policy, base) in [
        ("explicit", Base::new("explicit", &["release-manager"])),
        ("signed", Base::signed()),
    ] {
        let b = &base;
        b.repo.git(&["switch", "-q", "main"]);
        let opened = nexo_json(
            b.path(),
            &[
                "open",
                "Ship v2",
                "--step",
                "build:Build",
                "--step",
                "publish:Publish",
                "--actor",
                "codex",
            ],
        );
        let run = opened["run_id"].as_str().unwrap().to_string();
        b.repo
            .git(&["commit", "-q", "--allow-empty", "-m", "before the gate"]);
        let before = b.repo.git(&["rev-parse", "HEAD"]).trim().to_string();
        nexo_json(
            b.path(),
            &[
                "update",
                &run,
                "publish",
                "--requires-approval",
                "--needs",
                "build",
                "--status",
                "blocked",
                "--actor",
                "codex",
            ],
        );
        let main = lines_at(b, "main", &run);
        // The branch, begun before the request: `build` needs `publish`.
        b.repo.git(&["switch", "-q", "-C", "pr", &before]);
        append(
            b.path(),
            &run,
            &json!({
                "v": 6,
                "id": "01AAAAAAAAAAAAAAAAAAAAAAAA",
                "clock": main[1]["clock"],
                "parents": [main[0]["id"]],
                "at": main[0]["at"],
                "actor": "mallory",
                "type": "updated",
                "data": {"step_key": "build", "needs": ["publish"]},
            }),
        );
        b.commit_all("Build after publish");
        b.repo.git(&["merge", "-q", "--no-edit", "main"]);
        // nexo itself refuses to complete the step: its gate stands.
        let args = [
            "update",
            &run,
            "publish",
            "--status",
            "completed",
            "--actor",
            "mallory",
        ];
        let out = common::nexo_in(b.path(), &args);
        assert!(!out.status.success(), "{policy}: {}", common::stderr(&out));
        let (code, r) = b.verify();
        // What main would show after the merge.
        b.repo.git(&["switch", "-q", "main"]);
        b.repo.git(&["merge", "-q", "--no-edit", "pr"]);
        let state = get(b, &run);
        let publish = state["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["step_key"] == "publish")
            .unwrap()
            .clone();
        let erased = reasons(&r).iter().any(|(_, why)| why == "erases_inherited");
        if code != EXIT_VIOLATIONS || !erased || publish["status"] == "completed" {
            passed.push(format!(
                "{policy}: verify exits {code} (violations {}); on main after the merge publish is {} (requires_approval {}, approval {})",
                r["violations"], publish["status"], publish["requires_approval"], publish["approval"]
            ));
        }
    }
    assert!(passed.is_empty(), "{passed:#?}");
}

/// a stray plain file directly in
/// `.nexo/runs` (a `.gitkeep`, a Mac's `.DS_Store` committed with `git add
/// -A`) fails every pull request, though no nexo command reads it and it
/// is neither a link nor a submodule, which is what issue 33 asked to
/// refuse.
#[test]
fn a_plain_file_beside_the_run_folders_is_not_a_violation() {
    let b = Base::signed();
    std::fs::write(b.path().join(".nexo/runs/.gitkeep"), "").unwrap();
    b.commit_all("Keep the folder");
    assert!(
        common::nexo_in(b.path(), &["doctor"]).status.success(),
        "doctor finds nothing wrong"
    );
    let (code, r) = b.verify();
    assert_eq!(code, 0, "{:#}", r["problems"]);
}
