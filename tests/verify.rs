//! `nexo verify --trusted`: a base branch with a signed policy, and pull
//! request branches that each try to get past a gate (docs/approvals.md,
//! "Verifying a pull request"). Real repositories, real `ssh-keygen`
//! keys, and the real `git`.

mod common;

use common::gates::*;
use common::{nexo_in, parse_json, stderr, stdout};

#[test]
fn an_approval_signed_by_a_key_the_base_lists_passes() {
    let b = Base::signed();
    b.sign_with("release-manager");
    nexo_json(
        b.path(),
        &["approve", &b.run, "publish", "--actor", "release-manager"],
    );
    b.update("publish", "completed", "codex");
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
    b.walk_through("codex");
    let r = b.fails_with("update_cannot_pass");
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
    let r = b.fails_with("signer_not_trusted");
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
    let r = b.fails_with("not_an_approver");
    assert_eq!(
        changed_paths(&r),
        [".nexo/config.yaml", ".nexo/allowed_signers"]
    );
}

#[test]
fn a_hand_forged_approval_line_fails() {
    for signature in [
        None,
        Some("-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n"),
    ] {
        let b = Base::signed();
        forge_approval(&b, signature);
        let r = b.fails_with("unverified");
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
    let r = b.fails_with("not_an_approver");
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
    b.update("publish", "completed", "codex");
    write_config(b.path(), "explicit", &["release-manager"]);
    b.commit_all("Tighten the policy");
    b.repo.git(&["switch", "-q", "-C", "pr"]);
    b.update("build", "completed", "codex");
    let (code, r) = b.verify();
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["runs_judged"], 1);
}

#[test]
fn the_markdown_report_names_the_gate_and_the_reason_escaped() {
    let b = Base::signed();
    b.walk_through("a|<b>");
    let out = nexo_in(
        b.path(),
        &["verify", "--trusted", "main", "--format", "markdown"],
    );
    assert_eq!(out.status.code(), Some(EXIT_VIOLATIONS));
    let md = stdout(&out);
    assert!(
        md.starts_with("### nexo verify: ❌ 1 violation under main's policy"),
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

#[test]
fn a_run_judged_clean_is_cached_as_one_digest_and_an_older_cache_is_dropped() {
    // At 100,000 runs a cache holding every verdict in full cost 75 MB:
    // a run whose judging found nothing is one line, its key's digest.
    let b = Base::signed();
    forge_approval(&b, None);
    nexo_json(
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
    let dir = b.path().join(".git/nexo-cache/verify");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("0123abcd.json"), "{}").unwrap();
    let verify = || {
        let out = nexo_in(b.path(), &["verify", "--format", "json"]);
        assert_eq!(out.status.code(), Some(EXIT_VIOLATIONS), "{}", stderr(&out));
        parse_json(&out)
    };
    let first = verify();
    assert_eq!(first["runs_judged"], 2, "{first:#}");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "the older format's file is gone: {files:?}");
    assert_eq!(files[0].extension().unwrap(), "lines");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_by_key(|l| l.len());
    assert_eq!(lines.len(), 2, "{text}");
    let is_digest = |s: &str| s.len() == 64 && s.bytes().all(|c| c.is_ascii_hexdigit());
    assert!(is_digest(lines[0]), "the clean run: {text}");
    let (digest, judged) = lines[1].split_once(' ').unwrap();
    assert!(is_digest(digest), "{text}");
    assert!(judged.contains("unverified"), "the forged approval: {text}");
    assert_eq!(
        verify(),
        first,
        "a second verify answers alike, from its cache"
    );
    std::fs::write(&files[0], "not a cache\n").unwrap();
    assert_eq!(verify(), first, "a damaged cache is judged anew");
}
