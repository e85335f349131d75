//! `nexo verify --trusted`: a base branch with a signed policy, and pull
//! request branches that each try to get past a gate (docs/approvals.md,
//! "Verifying a pull request"). Real repositories, real `ssh-keygen`
//! keys, and the real `git`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Repo, keygen, nexo_in, nexo_ok, open_gated, parse_json, stderr, stdout};
use serde_json::Value;

const EXIT_VIOLATIONS: i32 = 11;

/// A `main` whose policy is `policy` with `approvers`, whose allowed
/// signers list release-manager's and oncall's keys, and with one run
/// whose `publish` step waits at its gate; the test works on branch `pr`.
struct Base {
    repo: Repo,
    run: String,
    keys: tempfile::TempDir,
}

impl Base {
    fn new(policy: &str, approvers: &[&str]) -> Base {
        let keys = tempfile::tempdir().unwrap();
        let repo = Repo::new();
        let mut signers = String::new();
        for name in ["release-manager", "oncall", "mallory"] {
            keygen(keys.path(), name);
        }
        for name in ["release-manager", "oncall"] {
            signers.push_str(&format!("{name} {}\n", public(keys.path(), name)));
        }
        std::fs::create_dir_all(repo.path().join(".nexo")).unwrap();
        std::fs::write(repo.path().join(".nexo/allowed_signers"), signers).unwrap();
        write_config(repo.path(), policy, approvers);
        repo.git(&["add", ".nexo"]);
        repo.git(&["commit", "-q", "-m", "The approval policy"]);
        let run = open_gated(repo.path());
        repo.git(&["switch", "-q", "-c", "pr"]);
        Base { repo, run, keys }
    }

    fn signed() -> Base {
        Base::new("signed", &["release-manager", "oncall"])
    }

    fn path(&self) -> &Path {
        self.repo.path()
    }

    fn key(&self, name: &str) -> PathBuf {
        self.keys.path().join(name)
    }

    fn sign_with(&self, name: &str) {
        let key = self.key(name);
        self.repo
            .git(&["config", "user.signingkey", key.to_str().unwrap()]);
    }

    /// `nexo verify --trusted main --format json`: the exit code and the
    /// report.
    fn verify(&self) -> (i32, Value) {
        let out = nexo_in(
            self.path(),
            &["verify", "--trusted", "main", "--format", "json"],
        );
        (out.status.code().unwrap(), parse_json(&out))
    }

    fn commit_all(&self, message: &str) {
        self.repo.git(&["add", "-A", ".nexo"]);
        self.repo.git(&["commit", "-q", "-m", message]);
    }
}

fn public(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{name}.pub")))
        .unwrap()
        .trim()
        .to_string()
}

fn write_config(dir: &Path, policy: &str, approvers: &[&str]) {
    std::fs::write(
        dir.join(".nexo/config.yaml"),
        format!(
            "approvals:\n  policy: {policy}\n  approvers: [{}]\n",
            approvers.join(", ")
        ),
    )
    .unwrap();
}

fn nexo_json(dir: &Path, args: &[&str]) -> Value {
    nexo_ok(dir, &[&["--json"], args].concat())
}

fn reasons(report: &Value) -> Vec<(String, String)> {
    report["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["step_key"].as_str().unwrap_or("-").to_string(),
                v["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn changed_paths(report: &Value) -> Vec<String> {
    report["policy_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn an_approval_signed_by_a_key_the_base_lists_passes() {
    let b = Base::signed();
    b.sign_with("release-manager");
    nexo_json(
        b.path(),
        &["approve", &b.run, "publish", "--actor", "release-manager"],
    );
    nexo_json(
        b.path(),
        &[
            "update",
            &b.run,
            "publish",
            "--status",
            "completed",
            "--actor",
            "codex",
        ],
    );
    let (code, r) = b.verify();
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["ok"], true);
    assert_eq!(r["runs_judged"], 1);
    let gate = &r["gates"][0];
    assert_eq!(gate["step_key"], "publish");
    assert_eq!(gate["passed"], true);
    assert_eq!(gate["by"], "release-manager");
    assert_eq!(gate["verified"], true);
    assert!(changed_paths(&r).is_empty(), "{r:#}");
}

#[test]
fn a_branch_that_sets_the_update_policy_and_walks_through_the_gate_fails() {
    let b = Base::signed();
    write_config(b.path(), "update", &[]);
    b.commit_all("Loosen the policy");
    nexo_json(
        b.path(),
        &[
            "update",
            &b.run,
            "publish",
            "--status",
            "completed",
            "--actor",
            "codex",
        ],
    );
    let (code, r) = b.verify();
    assert_eq!(code, EXIT_VIOLATIONS, "{r:#}");
    assert_eq!(
        reasons(&r),
        [("publish".to_string(), "update_cannot_pass".to_string())]
    );
    assert_eq!(r["violations"][0]["run_id"], b.run.as_str());
    assert_eq!(r["policy"]["applied"]["policy"], "signed");
    assert_eq!(r["policy"]["branch"]["policy"], "update");
    assert_eq!(changed_paths(&r), [".nexo/config.yaml"]);
    // A person reads the same in the terminal: the gate and the reason.
    let out = nexo_in(b.path(), &["verify", "--trusted", "main"]);
    assert_eq!(out.status.code(), Some(EXIT_VIOLATIONS));
    let text = stdout(&out);
    assert!(
        text.contains(&format!("violation: {} step publish", b.run)),
        "{text}"
    );
    assert!(text.contains("update_cannot_pass"), "{text}");
    assert!(
        text.contains("policy changed: .nexo/config.yaml modified"),
        "{text}"
    );
}

#[test]
fn a_branch_that_adds_its_own_key_and_signs_fails_with_signer_not_trusted() {
    let b = Base::signed();
    let mut signers = std::fs::read_to_string(b.path().join(".nexo/allowed_signers")).unwrap();
    signers.push_str(&format!(
        "release-manager {}\n",
        public(b.keys.path(), "mallory")
    ));
    std::fs::write(b.path().join(".nexo/allowed_signers"), signers).unwrap();
    b.commit_all("Add a key");
    b.sign_with("mallory");
    // On the branch the signature verifies: its own file lists the key.
    let approved = nexo_json(
        b.path(),
        &["approve", &b.run, "publish", "--actor", "release-manager"],
    );
    assert_eq!(approved["verified"], true);
    let (code, r) = b.verify();
    assert_eq!(code, EXIT_VIOLATIONS, "{r:#}");
    assert_eq!(
        reasons(&r),
        [("publish".to_string(), "signer_not_trusted".to_string())]
    );
    assert_eq!(r["gates"][0]["passed"], false, "{r:#}");
    assert_eq!(changed_paths(&r), [".nexo/allowed_signers"]);
    let added = r["policy_changes"][0]["added"][0].as_str().unwrap();
    assert!(added.starts_with("release-manager ssh-ed25519 "), "{added}");
}

#[test]
fn a_new_approver_of_the_branchs_own_making_is_not_an_approver() {
    let b = Base::signed();
    let mut signers = std::fs::read_to_string(b.path().join(".nexo/allowed_signers")).unwrap();
    signers.push_str(&format!("mallory {}\n", public(b.keys.path(), "mallory")));
    std::fs::write(b.path().join(".nexo/allowed_signers"), signers).unwrap();
    write_config(
        b.path(),
        "signed",
        &["release-manager", "oncall", "mallory"],
    );
    b.commit_all("Add an approver");
    b.sign_with("mallory");
    nexo_json(
        b.path(),
        &["approve", &b.run, "publish", "--actor", "mallory"],
    );
    let (code, r) = b.verify();
    assert_eq!(code, EXIT_VIOLATIONS, "{r:#}");
    assert_eq!(
        reasons(&r),
        [("publish".to_string(), "not_an_approver".to_string())]
    );
    assert_eq!(
        changed_paths(&r),
        [".nexo/config.yaml", ".nexo/allowed_signers"]
    );
}

/// A line written by hand after the last event, as an agent without the
/// key would write it: right shape, right place in the order.
fn forge(b: &Base, id: &str, actor: &str, kind: &str, data: Value) {
    let path = b
        .path()
        .join(".nexo/runs")
        .join(&b.run)
        .join("history.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let line = serde_json::json!({
        "v": 4,
        "id": id,
        "clock": last["clock"].as_u64().unwrap() + 1,
        "parents": [last["id"]],
        "at": "2026-12-02T12:00:00.000Z",
        "actor": actor,
        "type": kind,
        "data": data,
    });
    append_line(b, &line.to_string());
}

fn forge_approval(b: &Base, signature: Option<&str>) {
    let mut data = serde_json::json!({"step_key": "publish", "note": "lgtm"});
    if let Some(sig) = signature {
        data["signature"] = sig.into();
    }
    forge(
        b,
        "01KZZZZZZZZZZZZZZZZZZZZZZZ",
        "release-manager",
        "approved",
        data,
    );
    b.commit_all("Approve publish");
}

#[test]
fn a_hand_forged_approval_line_fails() {
    for signature in [
        None,
        Some("-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n"),
    ] {
        let b = Base::signed();
        forge_approval(&b, signature);
        let (code, r) = b.verify();
        assert_eq!(code, EXIT_VIOLATIONS, "{r:#}");
        assert_eq!(
            reasons(&r),
            [("publish".to_string(), "unverified".to_string())]
        );
        assert_eq!(r["violations"][0]["event_id"], "01KZZZZZZZZZZZZZZZZZZZZZZZ");
    }
}

#[test]
fn a_branch_that_tightens_the_policy_has_its_stricter_rule_applied() {
    let b = Base::new("explicit", &["release-manager", "oncall"]);
    nexo_json(
        b.path(),
        &["approve", &b.run, "publish", "--actor", "oncall"],
    );
    let (code, r) = b.verify();
    assert_eq!(code, 0, "oncall is an approver on both sides: {r:#}");
    write_config(b.path(), "explicit", &["release-manager"]);
    b.commit_all("Only the release manager approves");
    let (code, r) = b.verify();
    assert_eq!(code, EXIT_VIOLATIONS, "{r:#}");
    assert_eq!(
        reasons(&r),
        [("publish".to_string(), "not_an_approver".to_string())]
    );
    assert_eq!(
        r["policy"]["applied"]["approvers"],
        serde_json::json!(["release-manager"])
    );
}

#[test]
fn a_branch_with_no_gates_passes() {
    let b = Base::signed();
    let opened = nexo_json(
        b.path(),
        &[
            "open",
            "Fix the docs",
            "--step",
            "edit:Edit",
            "--actor",
            "codex",
        ],
    );
    let id = opened["run_id"].as_str().unwrap();
    nexo_json(
        b.path(),
        &[
            "update",
            id,
            "edit",
            "--status",
            "completed",
            "--actor",
            "codex",
        ],
    );
    let (code, r) = b.verify();
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["runs"], 2);
    assert_eq!(r["runs_judged"], 1, "the base's run is as on main: {r:#}");
    assert!(r["gates"].as_array().unwrap().is_empty());
}

#[test]
fn what_the_base_already_accepted_is_not_judged_again() {
    // A gate passed on main under its old, looser policy, then main
    // tightened: a pull request carrying that run unchanged still passes.
    let b = Base::new("update", &[]);
    b.repo.git(&["switch", "-q", "main"]);
    nexo_json(
        b.path(),
        &[
            "update",
            &b.run,
            "publish",
            "--status",
            "completed",
            "--actor",
            "codex",
        ],
    );
    write_config(b.path(), "explicit", &["release-manager"]);
    b.commit_all("Tighten the policy");
    b.repo.git(&["switch", "-q", "-C", "pr"]);
    nexo_json(
        b.path(),
        &[
            "update",
            &b.run,
            "build",
            "--status",
            "completed",
            "--actor",
            "codex",
        ],
    );
    let (code, r) = b.verify();
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["runs_judged"], 1);
}

#[test]
fn the_markdown_report_names_the_gate_and_the_reason_escaped() {
    let b = Base::signed();
    write_config(b.path(), "update", &[]);
    b.commit_all("Loosen");
    nexo_json(
        b.path(),
        &[
            "update",
            &b.run,
            "publish",
            "--status",
            "completed",
            "--actor",
            "a|<b>",
        ],
    );
    let out = nexo_in(
        b.path(),
        &["verify", "--trusted", "main", "--format", "markdown"],
    );
    assert_eq!(out.status.code(), Some(EXIT_VIOLATIONS));
    let md = stdout(&out);
    assert!(
        md.starts_with("### nexo verify: ❌ 1 violation(s) under main's policy"),
        "{md}"
    );
    assert!(md.contains("#### Violations"), "{md}");
    assert!(md.contains("`update_cannot_pass`"), "{md}");
    assert!(md.contains("a\\|&lt;b&gt;"), "values are escaped: {md}");
    assert!(
        md.contains("This branch changes `.nexo/config.yaml`"),
        "{md}"
    );
    assert!(md.contains("#### Gates checked"), "{md}");
}

#[test]
fn an_unknown_trusted_ref_is_refused_by_name() {
    let b = Base::signed();
    for bad in ["--trusted=origin/nope", "--trusted=--output=/tmp/x"] {
        let out = nexo_in(b.path(), &["verify", bad]);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        assert!(stderr(&out).contains("--trusted"), "{}", stderr(&out));
    }
}

#[test]
fn without_trusted_the_working_trees_policy_judges_every_run() {
    let b = Base::signed();
    forge_approval(&b, None);
    let out = nexo_in(b.path(), &["verify", "--format", "json"]);
    assert_eq!(out.status.code(), Some(EXIT_VIOLATIONS));
    let r = parse_json(&out);
    assert_eq!(r["runs_judged"], 1);
    assert!(r.get("trusted").is_none());
    assert_eq!(
        reasons(&r),
        [("publish".to_string(), "unverified".to_string())]
    );
}

/// A hostile branch gets a verdict, not a hang or a crash: each case is
/// committed on `pr` and must fail the check, naming what is wrong.
#[test]
fn a_hostile_branch_gets_a_verdict() {
    type Plant = fn(&Base);
    let cases: [(&str, Plant, &str); 7] = [
        (
            "a history that is a link",
            |b| {
                let h = b
                    .path()
                    .join(".nexo/runs")
                    .join(&b.run)
                    .join("history.jsonl");
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
                let h = b
                    .path()
                    .join(".nexo/runs")
                    .join(&b.run)
                    .join("history.jsonl");
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
                let from = b.path().join(".nexo/runs").join(&b.run);
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

fn append_line(b: &Base, line: &str) {
    let h = b
        .path()
        .join(".nexo/runs")
        .join(&b.run)
        .join("history.jsonl");
    let text = std::fs::read_to_string(&h).unwrap();
    std::fs::write(&h, format!("{text}{line}\n")).unwrap();
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
    let (code, r) = b.verify();
    assert_eq!(code, EXIT_VIOLATIONS, "{r:#}");
    assert_eq!(
        reasons(&r),
        [("publish".to_string(), "signer_not_trusted".to_string())]
    );
}
