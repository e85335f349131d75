//! `nexo verify` against lines a branch writes by hand to skip a gate
//! (issue 33): a second copy of an inherited event, a back-dated
//! completion, a run folder that is a link or a submodule; and the honest
//! flows that must still pass (the base merged into the branch, the
//! branch merged into the base, a pull request's merge commit).

mod common;

use serde_json::{Value, json};

use common::gates::*;
use common::nexo_ok;

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
    let runs = b.path().join(".nexo/runs");
    std::fs::rename(runs.join(&b.run), b.path().join("elsewhere")).unwrap();
    std::os::unix::fs::symlink("../../elsewhere", runs.join(&b.run)).unwrap();
    b.repo.git(&["add", "-A", "elsewhere"]);
    b.commit_all("A run that lives elsewhere");
    let (code, r) = b.verify();
    assert_eq!(code, EXIT_VIOLATIONS, "{r:#}");
    let path = format!(".nexo/runs/{} is a symbolic link", b.run);
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
    let view = b.path().join(".nexo/runs").join(&b.run).join("run.yaml");
    std::fs::remove_file(&view).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", &view).unwrap();
    b.commit_all("A view that is a link");
    let (code, r) = b.verify();
    assert_eq!(code, EXIT_VIOLATIONS, "{r:#}");
    let path = format!(".nexo/runs/{}/run.yaml is a symbolic link", b.run);
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
