//! `nexo verify` against branches that do not play fair: hostile files,
//! rewritten histories, revived keys, a missing ssh-keygen, and the cache
//! that must not outlive any of them.

mod common;

use std::path::Path;
use std::process::Command;

use common::gates::*;
use common::{nexo_in, parse_json, run_rel, stderr};

/// A hostile branch gets a verdict, not a hang or a crash: each case is
/// committed on `pr` and must fail the check, naming what is wrong.
#[test]
fn a_hostile_branch_gets_a_verdict() {
    type Plant = fn(&Base);
    let cases: [(&str, Plant, &str); 7] = [
        (
            "a history that is a link",
            |b| {
                let h = b.history();
                std::fs::remove_file(&h).unwrap();
                std::os::unix::fs::symlink("/etc/passwd", &h).unwrap();
            },
            "cannot be judged",
        ),
        (
            "a runs folder that is a link",
            |b| {
                let runs = b.path().join(".nexo/runs");
                std::fs::rename(&runs, b.path().join("elsewhere")).unwrap();
                std::os::unix::fs::symlink("../elsewhere", &runs).unwrap();
                b.repo.git(&["add", "-A", "elsewhere"]);
            },
            ".nexo/runs is a symbolic link",
        ),
        (
            "a line nested 100,000 deep",
            |b| {
                let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
                append_line(b, &deep);
            },
            "not a JSON event",
        ),
        (
            "a note of 4 MB",
            |b| {
                let huge = "x".repeat(4 << 20);
                forge_with_note(b, &huge);
            },
            "ignored",
        ),
        (
            "bytes that are not UTF-8",
            |b| {
                let h = b.history();
                let mut bytes = std::fs::read(&h).unwrap();
                bytes.extend_from_slice(b"\xff\xfe\n");
                std::fs::write(&h, bytes).unwrap();
            },
            "not UTF-8",
        ),
        (
            "a config that does not parse",
            |b| {
                std::fs::write(b.path().join(".nexo/config.yaml"), "approvals: [: nope\n").unwrap();
            },
            "this branch's policy cannot be read",
        ),
        (
            "a history that opens another run",
            |b| {
                let from = b.path().join(run_rel(&b.run));
                let to = b.path().join(".nexo/runs/WF-ZZZZZZZZZZZZZZZZ");
                copy_folder(&from, &to);
            },
            "not WF-ZZZZZZZZZZZZZZZZ",
        ),
    ];
    for (what, plant, expected) in cases {
        let b = Base::signed();
        plant(&b);
        b.commit_all(what);
        let out = nexo_in(
            b.path(),
            &["verify", "--trusted", "main", "--format", "json"],
        );
        assert_eq!(
            out.status.code(),
            Some(EXIT_VIOLATIONS),
            "{what}: {}",
            stderr(&out)
        );
        let r = parse_json(&out);
        let found = serde_json::to_string(&r).unwrap();
        assert!(
            found.contains(expected),
            "{what}: expected {expected:?} in {r:#}"
        );
        assert_eq!(r["ok"], false, "{what}");
    }
}

fn forge_with_note(b: &Base, note: &str) {
    let data = serde_json::json!({"step_key": "build", "summary": note});
    forge(b, "01KZZZZZZZZZZZZZZZZZZZZZZY", "codex", "updated", data);
}

fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn cached_verdicts_follow_the_trusted_keys() {
    let b = Base::signed();
    b.sign_with("mallory");
    let mut signers = std::fs::read_to_string(b.path().join(".nexo/allowed_signers")).unwrap();
    signers.push_str(&format!(
        "release-manager {}\n",
        public(b.keys.path(), "mallory")
    ));
    std::fs::write(b.path().join(".nexo/allowed_signers"), &signers).unwrap();
    b.commit_all("Add a key");
    nexo_json(
        b.path(),
        &["approve", &b.run, "publish", "--actor", "release-manager"],
    );
    let first = b.verify();
    assert_eq!(first.0, EXIT_VIOLATIONS);
    assert_eq!(
        b.verify().1,
        first.1,
        "a second verify answers alike, from its cache"
    );
    // main comes to trust the key: the same branch now passes.
    b.repo.git(&["switch", "-q", "main"]);
    std::fs::write(b.path().join(".nexo/allowed_signers"), &signers).unwrap();
    b.commit_all("Trust the key");
    b.repo.git(&["switch", "-q", "pr"]);
    let (code, r) = b.verify();
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["gates"][0]["verified"], true);
}

#[test]
fn without_ssh_keygen_nothing_verifies_and_nothing_sticks() {
    let b = Base::signed();
    b.sign_with("release-manager");
    nexo_json(
        b.path(),
        &["approve", &b.run, "publish", "--actor", "release-manager"],
    );
    // The approval's own check cached its verdict; forget it, and give a
    // PATH with git and nothing else: ssh-keygen cannot be run.
    std::fs::remove_file(b.path().join(".git/nexo-verified")).unwrap();
    let bin = tempfile::tempdir().unwrap();
    let git = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v git"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    std::os::unix::fs::symlink(git.trim(), bin.path().join("git")).unwrap();
    let out = common::nexo_cmd()
        .current_dir(b.path())
        .env("PATH", bin.path())
        .args(["verify", "--trusted", "main", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(EXIT_VIOLATIONS),
        "fails closed: {}",
        stderr(&out)
    );
    assert_eq!(
        reasons(&parse_json(&out)),
        [("publish".to_string(), "unverified".to_string())]
    );
    let (code, r) = b.verify();
    assert_eq!(
        code, 0,
        "the verdict without ssh-keygen was not cached: {r:#}"
    );
}

#[test]
fn a_key_the_branch_adds_back_cannot_revive_an_approval_the_base_refuses() {
    // main once trusted mallory's key as release-manager's, took an
    // approval signed with it, then removed the key: on main the gate
    // is closed again.
    let b = Base::signed();
    b.repo.git(&["switch", "-q", "main"]);
    let path = b.path().join(".nexo/allowed_signers");
    let trusted = std::fs::read_to_string(&path).unwrap();
    let planted = format!(
        "{trusted}release-manager {}\n",
        public(b.keys.path(), "mallory")
    );
    std::fs::write(&path, &planted).unwrap();
    b.commit_all("Trust a key for a while");
    b.sign_with("mallory");
    nexo_json(
        b.path(),
        &["approve", &b.run, "publish", "--actor", "release-manager"],
    );
    std::fs::write(&path, &trusted).unwrap();
    b.commit_all("Revoke it");
    b.repo.git(&["switch", "-q", "-C", "pr"]);
    let (code, r) = b.verify();
    assert_eq!(code, 0, "a branch that leaves the keys alone passes: {r:#}");
    // The branch lists the key again: the old approval passes its gate
    // there, though it carries that run unchanged.
    std::fs::write(&path, &planted).unwrap();
    b.commit_all("Trust the key again");
    b.fails_with("signer_not_trusted");
}

#[test]
fn a_history_rewritten_without_its_gate_is_named() {
    let b = Base::signed();
    // The whole history written anew: the same run, its gate gone, its
    // steps done. The lines it lost give it away, and the gate is judged
    // as the merge base had it: the completion never saw it.
    let path = b.history();
    let opening = std::fs::read_to_string(&path).unwrap();
    let opening = opening.lines().next().unwrap().to_string();
    std::fs::write(&path, format!("{opening}\n")).unwrap();
    let data = serde_json::json!({"step_key": "publish", "step_status": "completed"});
    forge(&b, "01KZZZZZZZZZZZZZZZZZZZZZZX", "codex", "updated", data);
    b.commit_all("A cleaner history");
    let (code, r) = b.verify();
    assert_eq!(code, EXIT_VIOLATIONS, "{r:#}");
    assert_eq!(
        reasons(&r),
        [("publish".to_string(), "not_after_base".to_string())],
        "{r:#}"
    );
    assert_eq!(r["gates"][0]["passed"], false, "{r:#}");
    let message = r["problems"][0]["message"].as_str().unwrap();
    assert!(message.contains("missing or rewritten"), "{message}");
    assert_eq!(r["problems"][0]["run_id"], b.run.as_str());
}

#[test]
fn a_run_deleted_by_the_branch_is_named() {
    let b = Base::signed();
    std::fs::remove_dir_all(b.path().join(run_rel(&b.run))).unwrap();
    b.commit_all("Tidy up");
    let (code, r) = b.verify();
    assert_eq!(code, EXIT_VIOLATIONS, "{r:#}");
    assert_eq!(r["problems"][0]["run_id"], b.run.as_str());
    assert!(
        r["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("gone here"),
        "{r:#}"
    );
}
