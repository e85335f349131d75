//! Workflow templates end to end: a run opened from a template reads the
//! same on every clone after the template is edited or deleted; for_each
//! and `needs: build-*` make the graph `ready` walks; every refusal the
//! issue lists, with its exact message, writes nothing; verify and doctor
//! fail on a broken template.

mod common;

use std::path::Path;

use common::*;
use serde_json::{Value, json};

const RELEASE: &str = "\
description: Build everywhere, then publish
version: 2
goal: Release {{version}}
kind: release
vars:
  version:
    required: true
  platforms:
    type: list
    default: [linux, mac]
steps:
  - key: checks
    title: Check {{version}}
  - key: build
    for_each: platforms
    title: Build {{version}} for {{item}}
    needs: checks
  - key: publish
    title: Publish {{version}}
    needs: build-*
    requires_approval: true
";

/// Writes `.nexo/templates/<name>.yaml` in `dir`.
fn write_template(dir: &Path, name: &str, text: &str) {
    let folder = dir.join(".nexo/templates");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join(format!("{name}.yaml")), text).unwrap();
}

/// Writes and commits a template.
fn commit_template(dir: &Path, name: &str, text: &str) {
    write_template(dir, name, text);
    git_in(dir, &["add", ".nexo/templates"]);
    git_in(dir, &["commit", "-q", "-m", &format!("template {name}")]);
}

fn opened_line(dir: &Path, run: &str) -> Value {
    let text = history_text(dir, run);
    serde_json::from_str(text.lines().next().unwrap()).unwrap()
}

#[test]
fn the_opening_records_the_template_and_its_expanded_steps() {
    let repo = Repo::new();
    commit_template(repo.path(), "release", RELEASE);
    let r = nexo_ok(
        repo.path(),
        &[
            "--json",
            "open",
            "--template",
            "release",
            "--var",
            "version=3.2",
            "--var",
            "platforms=linux,mac,win",
        ],
    );
    assert_eq!(
        r["step_keys"],
        json!(["checks", "build-linux", "build-mac", "build-win", "publish"])
    );
    assert_eq!(r["workflow_kind"], "release");
    assert_eq!(r["template"]["name"], "release");
    let run = r["run_id"].as_str().unwrap();
    let line = opened_line(repo.path(), run);
    assert_eq!(line["v"], 7, "an opening from a template is schema 7");
    let data = &line["data"];
    assert_eq!(data["goal"], "Release 3.2");
    let t = &data["template"];
    assert_eq!(
        (t["name"].clone(), t["version"].clone()),
        (json!("release"), json!("2"))
    );
    use sha2::Digest;
    let hash = sha2::Sha256::digest(RELEASE.as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(t["hash"], hex.as_str(), "the hash is the file's SHA-256");
    assert_eq!(
        t["vars"],
        json!({"platforms": ["linux", "mac", "win"], "version": "3.2"})
    );
    assert_eq!(
        data["steps"][4]["needs"],
        json!(["build-linux", "build-mac", "build-win"])
    );
    assert_eq!(data["steps"][1]["title"], "Build 3.2 for linux");
    // A run typed out the same way stays schema 6 (needs) or 2.
    let typed = nexo_ok(repo.path(), &["--json", "open", "Typed", "-s", "a"]);
    assert_eq!(
        opened_line(repo.path(), typed["run_id"].as_str().unwrap())["v"],
        2
    );
}

#[test]
fn for_each_and_wildcard_needs_make_the_graph_ready_walks() {
    let repo = Repo::new();
    commit_template(repo.path(), "release", RELEASE);
    let r = nexo_ok(
        repo.path(),
        &[
            "--json",
            "open",
            "--template",
            "release",
            "--var",
            "version=1",
            "--var",
            "platforms=linux,mac,win",
        ],
    );
    let run = r["run_id"].as_str().unwrap();
    let ready = |all: bool| -> Vec<(String, bool)> {
        let mut args = vec!["--json", "ready"];
        if all {
            args.push("--all");
        }
        let v = nexo_ok(repo.path(), &args);
        v["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["step_key"].as_str().unwrap().to_string(),
                    s["ready"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(ready(false), [("checks".to_string(), true)]);
    let done = |key: &str| {
        nexo_ok(
            repo.path(),
            &["--json", "update", run, key, "--status", "completed"],
        );
    };
    done("checks");
    let now: Vec<String> = ready(false).into_iter().map(|(k, _)| k).collect();
    assert_eq!(now, ["build-linux", "build-mac", "build-win"]);
    let waiting = ready(true);
    assert!(
        waiting.contains(&("publish".to_string(), false)),
        "{waiting:?}"
    );
    done("build-linux");
    done("build-mac");
    assert!(
        ready(true).contains(&("publish".to_string(), false)),
        "publish waits on build-win"
    );
    done("build-win");
    // Every build done: publish waits only on its approval gate.
    let v = nexo_ok(repo.path(), &["--json", "ready", "--all"]);
    let publish = &v["steps"][0];
    assert_eq!(
        (
            publish["step_key"].clone(),
            publish["wait"]["reason"].clone()
        ),
        (json!("publish"), json!("gate"))
    );
}

#[test]
fn a_run_reads_the_same_after_its_template_is_edited_then_deleted_on_another_clone() {
    let repo = Repo::new();
    commit_template(repo.path(), "release", RELEASE);
    let shared = repo.share();
    let r = nexo_ok(
        repo.path(),
        &[
            "--json",
            "open",
            "--template",
            "release",
            "--var",
            "version=5.0",
            "--var",
            "platforms=arm",
        ],
    );
    let run = r["run_id"].as_str().unwrap().to_string();
    nexo_ok(
        repo.path(),
        &[
            "--json",
            "update",
            &run,
            "checks",
            "--status",
            "completed",
            "--summary",
            "green",
        ],
    );
    nexo_ok(repo.path(), &["--json", "sync"]);
    let answers = |dir: &Path| -> (Value, Value, Value) {
        (
            nexo_ok(dir, &["--json", "resume", &run]),
            nexo_ok(dir, &["--json", "replay", &run]),
            nexo_ok(dir, &["--json", "get", &run]),
        )
    };
    let before = answers(repo.path());

    let other = shared.other.parent().unwrap().join("third");
    clone_as(&shared.bare, &other, "claude");
    assert_eq!(answers(&other), before, "a fresh clone reads the same run");
    // The template changes: other steps, another version.
    commit_template(
        &other,
        "release",
        "version: 3\nsteps:\n  - key: only\n    title: Something else\n",
    );
    assert_eq!(answers(&other), before, "after the template was edited");
    git_in(&other, &["rm", "-q", ".nexo/templates/release.yaml"]);
    git_in(&other, &["commit", "-q", "-m", "no more template"]);
    assert_eq!(answers(&other), before, "after the template was deleted");
    git_in(&other, &["push", "-q"]);
    nexo_ok(repo.path(), &["--json", "sync"]);
    assert!(!repo.path().join(".nexo/templates/release.yaml").exists());
    assert_eq!(answers(repo.path()), before, "and where it was opened");
    let v = nexo_ok(
        &other,
        &[
            "--json",
            "update",
            &run,
            "build-arm",
            "--status",
            "completed",
        ],
    );
    assert_eq!(
        v["current_step_key"], "publish",
        "the run goes on without its template"
    );
}

/// `nexo open --template t` in a repository whose template `t` is
/// `text`: the exit code and standard error, after checking nothing was
/// written.
fn refused_open(text: &str, vars: &[&str]) -> (i32, String) {
    let repo = Repo::new();
    commit_template(repo.path(), "t", text);
    let commits = repo.commit_count();
    let mut args = vec!["open", "--template", "t"];
    for v in vars {
        args.extend(["--var", v]);
    }
    let out = repo.nexo(&args);
    assert!(!out.status.success(), "{args:?} opened a run");
    assert_eq!(repo.commit_count(), commits, "a refusal commits nothing");
    assert!(
        !repo.path().join(".nexo/runs").exists(),
        "a refusal writes nothing"
    );
    (out.status.code().unwrap(), stderr(&out))
}

#[test]
fn every_refusal_names_the_file_line_and_column_and_writes_nothing() {
    let cases: Vec<(&str, String, Vec<&str>, &str)> = vec![
        (
            "unknown variable in a text",
            "vars: {version: {required: true}}\nsteps:\n  - key: a\n    title: Ship {{verison}}\n".into(),
            vec!["version=1"],
            "error: .nexo/templates/t.yaml:4:17: unknown variable verison (did you mean version?); its variables are version\n",
        ),
        (
            "missing required variable",
            "vars:\n  version:\n    required: true\n    description: what to ship\nsteps: [{key: a}]\n".into(),
            vec![],
            "error: .nexo/templates/t.yaml:2:3: variable version (string: what to ship) is required and was not given: pass --var version\n",
        ),
        (
            "wrong type",
            "vars:\n  retries: {type: integer, default: 1}\nsteps: [{key: a}]\n".into(),
            vec!["retries=many"],
            "error: .nexo/templates/t.yaml:2:3: --var retries is \"many\", not an integer\n",
        ),
        (
            "needs on an unknown step",
            "steps:\n  - key: build\n  - key: publish\n    needs: [biuld]\n".into(),
            vec![],
            "error: .nexo/templates/t.yaml:4:13: needs \"biuld\", which is not a step of the template (did you mean build?); its steps are build, publish\n",
        ),
        (
            "a cycle",
            "steps:\n  - key: a\n    needs: b\n  - key: b\n    needs: a\n".into(),
            vec![],
            "error: .nexo/templates/t.yaml:3:12: the steps' needs make a cycle, so none of them could ever be ready: a → b → a\n",
        ),
        (
            "a duplicate key after expansion",
            "vars: {os: {type: list, default: [linux]}}\nsteps:\n  - key: build-linux\n  - key: build\n    for_each: os\n".into(),
            vec![],
            "error: .nexo/templates/t.yaml:5:15: two steps have the key \"build-linux\" once expanded (the other: .nexo/templates/t.yaml:3:10): each step needs its own key\n",
        ),
        (
            "an unknown base",
            "extends: base\nsteps: []\n".into(),
            vec![],
            "error: .nexo/templates/t.yaml:1:10: extends base, which is not a template here (.nexo/templates/base.yaml does not exist)\n",
        ),
    ];
    for (what, text, vars, expected) in cases {
        let (code, err) = refused_open(&text, &vars);
        assert_eq!(code, 2, "{what}: {err}");
        assert_eq!(err, expected, "{what}");
    }
}

#[test]
fn hostile_templates_are_refused_by_their_limits() {
    // A list of 100,000 items, sent to the tool interface (too long for
    // a command line).
    let repo = Repo::new();
    commit_template(
        repo.path(),
        "t",
        "vars: {os: {type: list}}\nsteps:\n  - key: build\n    for_each: os\n",
    );
    let items: Vec<String> = (0..100_000).map(|i| format!("p{i}")).collect();
    let input = json!({"sid": "s", "template": "t", "vars": {"os": items}}).to_string();
    let mut child = nexo_cmd()
        .current_dir(repo.path())
        .args(["call", "nexo_workflow_open", "--input", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        parse_json(&out)["error"],
        ".nexo/templates/t.yaml:1:8: vars.os has 100000 items; a list may hold at most 1000"
    );
    assert!(!repo.path().join(".nexo/runs").exists());
    // A list within its limit, twice, past the most steps a run may have.
    let items: Vec<String> = (0..600).map(|i| format!("p{i}")).collect();
    let arg = format!("os={}", items.join(","));
    let text = "vars: {os: {type: list}}\nsteps:\n  - key: build\n    for_each: os\n  - key: test\n    for_each: os\n";
    let (_, err) = refused_open(text, &[&arg]);
    assert_eq!(
        err,
        "error: .nexo/templates/t.yaml:6:15: the template expands to more than 1000 steps, the most a run may have (os has 600 items)\n"
    );
    // A 10 MB file is refused by its size, before it is read.
    let big = format!("steps: []\n#{}\n", "x".repeat(10 << 20));
    let (code, err) = refused_open(&big, &[]);
    assert_eq!(code, 2);
    assert_eq!(
        err,
        format!(
            "error: .nexo/templates/t.yaml is {} bytes; a template may be at most 262144 bytes (256 KiB)\nhint: split it with extends, or repeat a step with for_each\n",
            big.len()
        )
    );
    // YAML anchors that explode.
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    bomb.push_str("steps: []\n");
    let (code, err) = refused_open(&bomb, &[]);
    assert_eq!(code, 2);
    assert_eq!(
        err,
        "error: .nexo/templates/t.yaml: the YAML expands to more than 100000 nodes once its aliases (*name) are resolved: a template may hold at most 100000\n"
    );
}

#[test]
fn an_extends_loop_is_named_at_the_file_that_closes_it() {
    let repo = Repo::new();
    write_template(repo.path(), "a", "extends: b\nsteps: []\n");
    write_template(repo.path(), "b", "steps: []\nextends: a\n");
    let out = repo.nexo(&["open", "--template", "a"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: .nexo/templates/b.yaml:2:10: extends makes a loop: a → b → a\n"
    );
    let out = repo.nexo(&["template", "check"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "check exits 2 on a broken template"
    );
    assert_eq!(
        stdout(&out),
        "broken a: .nexo/templates/b.yaml:2:10: extends makes a loop: a → b → a\nbroken b: .nexo/templates/a.yaml:1:10: extends makes a loop: b → a → b\n"
    );
}

#[test]
fn the_tool_interface_names_its_fields() {
    let repo = Repo::new();
    commit_template(repo.path(), "release", RELEASE);
    let (code, v) = repo.call_err("nexo_workflow_open", r#"{"sid":"s","template":"release"}"#);
    assert_eq!(code, 2);
    assert_eq!(
        v["error"],
        ".nexo/templates/release.yaml:6:3: variable version (string) is required and was not given: pass vars.version"
    );
    let (_, v) = repo.call_err(
        "nexo_workflow_open",
        r#"{"sid":"s","template":"release","vars":{"version":"1","platforms":{"a":1}}}"#,
    );
    assert_eq!(
        v["error"],
        ".nexo/templates/release.yaml:8:3: vars.platforms is {\"a\":1}, not a list"
    );
    let (_, v) = repo.call_err(
        "nexo_workflow_open",
        r#"{"sid":"s","goal":"g","vars":{"version":"1"}}"#,
    );
    assert_eq!(
        v["error"],
        "vars are a template's variables: name the template with template"
    );
    let (_, v) = repo.call_err(
        "nexo_workflow_open",
        r#"{"sid":"s","template":"release","steps":["a"]}"#,
    );
    assert_eq!(
        v["error"],
        "give steps or template, not both: the template's steps are the run's (add a step later with an update that gives step_title)"
    );
    let (code, v) = repo.call_err("nexo_workflow_open", r#"{"sid":"s","template":"relase"}"#);
    assert_eq!(code, 3);
    assert_eq!(
        v["error"],
        "no template relase: .nexo/templates/relase.yaml does not exist"
    );
    assert_eq!(v["hint"], "its templates: release (nexo template list)");
    // JSON values by type; the caller's goal wins over the template's.
    let r = repo.call(
        "nexo_workflow_open",
        &json!({"sid": "s", "goal": "Ship it", "template": "release", "vars": {"version": 4, "platforms": ["x"]}}),
    );
    assert_eq!(r["step_keys"], json!(["checks", "build-x", "publish"]));
    assert_eq!(r["steps"][0], "Check 4");
    let get = repo.call("nexo_workflow_get", &json!({"run_id": r["run_id"]}));
    assert_eq!(get["run"]["goal"], "Ship it");
    assert_eq!(
        get["run"]["template"]["vars"],
        json!({"platforms": ["x"], "version": "4"})
    );
}

#[test]
fn a_template_is_never_read_through_a_link() {
    let repo = Repo::new();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("t.yaml"), "steps: [{key: a}]\n").unwrap();
    std::fs::create_dir_all(repo.path().join(".nexo/templates")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("t.yaml"),
        repo.path().join(".nexo/templates/t.yaml"),
    )
    .unwrap();
    let out = repo.nexo(&["open", "--template", "t"]);
    assert_eq!(out.status.code(), Some(7));
    assert!(
        stderr(&out)
            .starts_with("error: refusing to follow the symbolic link .nexo/templates/t.yaml"),
        "{}",
        stderr(&out)
    );
    let out = repo.nexo(&["doctor"]);
    assert_eq!(out.status.code(), Some(7));
    assert!(
        stdout(&out).contains("symlink: .nexo/templates/t.yaml is a symbolic link"),
        "{}",
        stdout(&out)
    );
    // The folder itself as a link: never listed through, named by verify.
    std::fs::remove_file(repo.path().join(".nexo/templates/t.yaml")).unwrap();
    std::fs::remove_dir(repo.path().join(".nexo/templates")).unwrap();
    std::os::unix::fs::symlink(outside.path(), repo.path().join(".nexo/templates")).unwrap();
    repo.git(&["add", ".nexo"]);
    repo.git(&["commit", "-q", "-m", "a linked templates folder"]);
    let out = repo.nexo(&["verify"]);
    assert_eq!(out.status.code(), Some(11));
    assert!(
        stdout(&out).contains("HEAD:.nexo/templates is a symbolic link"),
        "{}",
        stdout(&out)
    );
    let out = repo.nexo(&["open", "--template", "t"]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    let out = repo.nexo(&["open", "--template", "../runs/x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--template \"../runs/x\" is not a plain name"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn init_writes_the_starters_once_and_never_over_a_file() {
    let repo = Repo::new();
    write_template(
        repo.path(),
        "release",
        "description: ours\nsteps: [{key: ours}]\n",
    );
    let commits = repo.commit_count();
    let v = nexo_ok(repo.path(), &["--json", "template", "init"]);
    assert_eq!(v["created"], json!([".nexo/templates/migration.yaml"]));
    assert_eq!(v["kept"], json!([".nexo/templates/release.yaml"]));
    assert_eq!(
        std::fs::read_to_string(repo.path().join(".nexo/templates/release.yaml")).unwrap(),
        "description: ours\nsteps: [{key: ours}]\n"
    );
    assert_eq!(repo.commit_count(), commits + 1);
    let changed = repo.git(&["show", "--name-only", "--format=", "HEAD"]);
    assert_eq!(
        changed, ".nexo/templates/migration.yaml\n",
        "only the new starter is committed"
    );
    let again = nexo_ok(repo.path(), &["--json", "template", "init"]);
    assert_eq!(again["created"], json!([]));
    assert_eq!(repo.commit_count(), commits + 1);
    // The starters are sound as written, and open as they say they do.
    let fresh = Repo::new();
    nexo_ok(fresh.path(), &["--json", "template", "init"]);
    let check = nexo_ok(fresh.path(), &["--json", "template", "check"]);
    assert_eq!(check["ok"], true, "{check}");
    let r = nexo_ok(
        fresh.path(),
        &[
            "--json",
            "open",
            "--template",
            "release",
            "--var",
            "version=1.0.0",
        ],
    );
    assert_eq!(r["step_count"], 6);
    let m = nexo_ok(
        fresh.path(),
        &[
            "--json",
            "open",
            "--template",
            "migration",
            "--var",
            "database=orders",
            "--var",
            "change=index",
        ],
    );
    assert_eq!(
        m["step_keys"],
        json!(["plan", "backup", "rehearse", "apply", "verify"])
    );
    let prime = stdout(&fresh.nexo(&["prime"]));
    assert!(
        prime.contains("Templates here: migration, release."),
        "{prime}"
    );
}

#[test]
fn verify_and_doctor_fail_on_a_broken_template() {
    let repo = Repo::new();
    commit_template(repo.path(), "good", "steps: [{key: a}]\n");
    commit_template(
        repo.path(),
        "bad",
        "steps:\n  - key: a\n    needs: [nope]\n",
    );
    let out = repo.nexo(&["verify"]);
    assert_eq!(out.status.code(), Some(11), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains("problem: HEAD:.nexo/templates/bad.yaml:3:13: needs \"nope\", which is not a step of the template; its steps are a"),
        "{text}"
    );
    assert!(text.contains("2 templates checked"), "{text}");
    let out = repo.nexo(&["--json", "doctor"]);
    assert_eq!(out.status.code(), Some(7));
    let v = parse_json(&out);
    assert_eq!(v["templates_checked"], 2);
    assert_eq!(v["problems"][0]["kind"], "template");
    assert_eq!(v["problems"][0]["path"], ".nexo/templates/bad.yaml");
    assert_eq!(v["problems"][0]["line"], 3);
    // Fixed and committed: both pass.
    commit_template(
        repo.path(),
        "bad",
        "steps:\n  - key: a\n  - key: b\n    needs: [a]\n",
    );
    assert!(repo.nexo(&["verify"]).status.success());
    assert!(repo.nexo(&["doctor"]).status.success());
}

/// docs/template.schema.json is what `nexo template schema` derives from
/// the types that decode a template, so editors and nexo never disagree.
#[test]
fn the_schema_file_for_editors_is_the_derived_one() {
    let repo = Repo::new();
    let out = repo.nexo(&["template", "schema"]);
    assert!(out.status.success());
    let file = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/template.schema.json"
    ))
    .unwrap();
    assert_eq!(
        stdout(&out),
        file,
        "regenerate it: nexo template schema > docs/template.schema.json"
    );
}
