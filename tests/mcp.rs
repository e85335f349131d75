//! `nexo mcp` driven by the official MCP Python SDK: initialize, tools/list
//! and a whole open → update → gate → approve → handoff → resume → replay
//! flow, checking the answers and the commits made.
//!
//! The SDK lives in a virtual environment: `$NEXO_TEST_PYTHON` if set,
//! else one this test creates once in `target/tmp/mcp-venv` (`.ci/run`
//! and `cargo test` share it), the SDK's pin declared here only.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;
use serde_json::Value;

const MCP_SDK: &str = "mcp==2.3.0";

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("NEXO_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("mcp-venv");
    let py = venv.join("bin").join("python");
    let ready = venv.join(".installed");
    if std::fs::read_to_string(&ready).is_ok_and(|pin| pin == MCP_SDK) {
        return py;
    }
    // Quietly, what they said kept for a failure: pip's notices are not
    // the suite's output.
    let run = |cmd: &mut Command, what: &str| {
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{what} failed:\n{}{}",
            stdout(&out),
            stderr(&out)
        );
    };
    let _ = std::fs::remove_dir_all(&venv);
    run(
        Command::new("python3").args(["-m", "venv"]).arg(&venv),
        "python3 -m venv",
    );
    run(
        Command::new(&py).args([
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            MCP_SDK,
        ]),
        &format!("pip install {MCP_SDK}"),
    );
    std::fs::write(&ready, MCP_SDK).unwrap();
    py
}

fn step<'a>(flow: &'a [Value], name: &str) -> &'a Value {
    &flow
        .iter()
        .find(|s| s[0] == name)
        .unwrap_or_else(|| panic!("no step {name}"))[1]
}

#[test]
fn an_mcp_client_runs_the_whole_flow() {
    let repo = Repo::new();
    std::fs::create_dir_all(repo.path().join(".nexo/templates")).unwrap();
    std::fs::write(
        repo.path().join(".nexo/templates/ship.yaml"),
        "goal: Ship {{what}}\nvars:\n  what: {required: true}\n  targets: {type: list}\nsteps:\n  - key: build\n    for_each: targets\n  - key: ship\n    needs: build-*\n",
    )
    .unwrap();
    repo.git(&["add", ".nexo"]);
    repo.git(&["commit", "-q", "-m", "a template"]);
    let client = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mcp/client.py");
    let commits = repo.commit_count();
    let out = seal(&mut Command::new(python()))
        .arg(client)
        .arg(nexo_bin())
        .arg(repo.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "client failed:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();

    assert_eq!(v["initialize"]["server"], "nexo");
    assert_eq!(v["initialize"]["tools_capability"], true);
    let tools = v["tools"].as_object().unwrap();
    assert_eq!(tools.len(), nexo::call::Tool::ALL.len());
    for tool in nexo::call::Tool::ALL {
        let name = tool.name();
        let schema = &tools[name];
        assert_eq!(schema["type"], "object", "{name}");
        assert!(
            name == "nexo_workflow_sync" || !schema["properties"].as_object().unwrap().is_empty(),
            "{name}"
        );
    }
    // The primer is served as a prompt, so clients that support prompts
    // get it without a hook.
    assert_eq!(v["prompts"], serde_json::json!(["nexo_primer"]));
    assert!(
        v["primer"].as_str().unwrap().contains("nexo_workflow_open"),
        "{}",
        v["primer"]
    );
    // open's schema is derived from the declaration `nexo call` decodes
    // with: the template fields are listed, described, and goal may be
    // left to a template.
    let open = &tools["nexo_workflow_open"];
    assert_eq!(open["required"], serde_json::json!(["sid"]));
    assert_eq!(
        serde_json::Value::Object(
            nexo::call::derived_schema(nexo::call::Tool::WorkflowOpen).unwrap()
        ),
        *open,
        "tools/list serves the derived schema as it is"
    );
    for field in ["template", "vars"] {
        let description = open["properties"][field]["description"].as_str().unwrap();
        assert!(description.contains("template"), "{field}: {description}");
    }
    assert!(open["properties"]["steps"]["items"]["properties"]["step_key"].is_object());
    assert!(
        tools["nexo_workflow_update"]["properties"]["step_status"]["enum"]
            .as_array()
            .unwrap()
            .contains(&"in_progress".into())
    );

    let flow = v["flow"].as_array().unwrap();
    for ok in [
        "goal_open",
        "goal_get",
        "open",
        "open_template",
        "update",
        "gate",
        "resume_gated",
        "approve",
        "handoff",
        "resume",
        "replay",
    ] {
        assert_eq!(
            step(flow, ok)["is_error"],
            false,
            "{ok}: {}",
            step(flow, ok)
        );
        assert_eq!(step(flow, ok)["result"]["ok"], true, "{ok}");
    }
    let run = step(flow, "open")["result"]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        step(flow, "open")["result"]["steps"],
        serde_json::json!(["Run release readiness checks", "Publish release"])
    );
    let templated = &step(flow, "open_template")["result"];
    assert_eq!(
        templated["step_keys"],
        serde_json::json!(["build-web", "build-pdf", "ship"])
    );
    assert_eq!(templated["template"]["name"], "ship");
    assert_eq!(step(flow, "gate")["result"]["status"], "waiting_approval");
    let gated = &step(flow, "resume_gated")["result"];
    assert_eq!(gated["resume_state"], "waiting_approval");
    assert_eq!(gated["requires_approval"], true);
    assert_eq!(gated["can_resume"], false);
    assert_eq!(step(flow, "approve")["result"]["by"], "release-manager");
    let resumed = &step(flow, "resume")["result"];
    assert_eq!(resumed["owner"], "claude_code");
    assert_eq!(resumed["resume_state"], "ready");
    assert_eq!(resumed["next_action"], "Publish.");
    assert_eq!(step(flow, "replay")["result"]["count"], 5);
    // The update was made by the server's actor (NEXO_ACTOR).
    assert_eq!(
        step(flow, "replay")["result"]["checkpoints"][3]["actor"],
        "claude_code"
    );

    // Claims: the holder's lease, another agent held off, the release.
    let claim = &step(flow, "claim")["result"];
    assert_eq!(
        (claim["step_key"].clone(), claim["holder"].clone()),
        ("publish".into(), "claude_code".into())
    );
    let taken = step(flow, "claim_taken");
    assert_eq!(taken["is_error"], true, "{taken}");
    assert_eq!(taken["result"]["error_kind"], "claim_held");
    assert_eq!(taken["result"]["holder"], "claude_code");
    let other = &step(flow, "resume_other")["result"];
    assert_eq!(
        (other["resume_state"].clone(), other["can_resume"].clone()),
        ("claimed".into(), false.into())
    );
    assert_eq!(step(flow, "release")["result"]["token"], claim["token"]);
    let ready = &step(flow, "ready")["result"];
    assert_eq!(ready["claimed"]["step_key"], "publish", "{ready}");
    assert_eq!(ready["claimed"]["holder"], "claude_code");
    assert_eq!(ready["resume"]["resume_state"], "ready");

    // Errors are tool errors carrying the CLI's message.
    let bad = step(flow, "bad_status");
    assert_eq!(bad["is_error"], true);
    assert!(
        bad["result"]["error"]
            .as_str()
            .unwrap()
            .contains("unknown step status \"done\": expected one of pending")
    );
    let cli = repo.nexo(&[
        "call",
        "nexo_workflow_update",
        "--input",
        &format!(r#"{{"run_id":"{run}","step_key":"publish","step_status":"done"}}"#),
    ]);
    assert_eq!(parse_json(&cli)["error"], bad["result"]["error"]);
    assert_eq!(
        step(flow, "unknown_run")["result"]["error_kind"],
        "not_found"
    );

    // Sync is a tool; with no remote it says so as a tool error.
    let sync = step(flow, "sync_without_remote");
    assert_eq!(sync["is_error"], true, "{sync}");
    assert!(
        !sync["result"]["error"].as_str().unwrap().is_empty(),
        "{sync}"
    );

    // The goal tools work over MCP too, and the run counts under its goal.
    let goal = &step(flow, "goal_get")["result"]["goal"];
    assert_eq!(goal["run_count"], 1);
    assert_eq!(goal["runs"][0]["run_id"], run.as_str());

    // Writes committed exactly as the CLI does: a burst coalesced into one
    // commit of .nexo/ paths, listing each change.
    assert_eq!(repo.commit_count(), commits + 1);
    let msg = repo.git(&["log", "-1", "--format=%B"]);
    assert_eq!(
        msg.lines()
            .filter(|l| l.starts_with(&format!("- {run} ")))
            .count(),
        8,
        "{msg}"
    );
    assert!(msg.contains("claude_code claims publish"), "{msg}");
    assert!(
        repo.git(&["show", "--name-only", "--format=", "HEAD"])
            .lines()
            .all(|p| p.starts_with(".nexo/"))
    );
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
}

#[test]
fn prime_is_small_and_says_what_to_do() {
    let repo = Repo::new();
    let mut ids = Vec::new();
    for i in 0..12 {
        let id = repo.open_release();
        if i == 11 {
            repo.call("nexo_workflow_update", &serde_json::json!({"run_id": id, "step_key": "publish", "step_status": "blocked", "requires_approval": true,
                "next_action": "Wait for the release manager to approve publishing; this next action is deliberately long to test clipping of long text in the summary."}));
        }
        ids.push(id);
    }
    repo.call(
        "nexo_workflow_update",
        &serde_json::json!({"run_id": ids[0], "run_status": "completed"}),
    );
    let out = repo.nexo(&["prime"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.len() <= 2048, "{} bytes:\n{text}", text.len());
    assert!(
        text.starts_with("nexo: 11 open workflow runs here."),
        "{text}"
    );
    assert!(text.contains("(+1 more: nexo list)"), "{text}");
    assert!(!text.contains(&ids[0]), "a closed run is listed");
    // It leads with what is ready: the eleven runs' first steps.
    let lead = text.lines().nth(1).unwrap();
    assert!(lead.starts_with("Ready now: 10 steps, best "), "{text}");
    // The most recently touched run comes first, with its gate.
    let first = text.lines().nth(2).unwrap();
    assert!(
        first.contains(&ids[11]) && first.contains("[waiting_approval]"),
        "{text}"
    );
    let second = text.lines().nth(3).unwrap();
    assert!(
        second.contains("step publish: blocked") && second.contains("APPROVAL NEEDED"),
        "{second}"
    );
    assert!(
        second.contains("…"),
        "long next action not clipped: {second}"
    );

    let v = parse_json(&repo.nexo(&["--json", "prime", "-n", "3"]));
    assert_eq!(v["count"], 3);
    assert_eq!(v["total_open"], 11);
    assert_eq!(v["runs"][0]["requires_approval"], true);

    // With no runs, a primer teaches the verbs instead of one bare line.
    let empty = Repo::new();
    let primer = stdout(&empty.nexo(&["prime"]));
    assert!(
        (1000..=2048).contains(&primer.len()),
        "{} bytes",
        primer.len()
    );
    for verb in [
        "nexo_workflow_open",
        "nexo_workflow_update",
        "nexo_workflow_resume",
        "nexo_workflow_handoff",
        "nexo approve",
    ] {
        assert!(
            primer.contains(verb),
            "{verb} missing from the primer:\n{primer}"
        );
    }
}

/// Raw JSON-RPC lines, as a broken or hostile client would send them: every
/// request gets an answer and the server keeps serving.
#[test]
fn malformed_oversized_and_misshapen_lines_are_answered_and_serving_goes_on() {
    use std::io::{BufRead, BufReader, Write};
    let repo = Repo::new();
    let mut child = nexo_cmd()
        .current_dir(repo.path())
        .arg("mcp")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let mut output = BufReader::new(child.stdout.take().unwrap());
    let mut answer = |line: &[u8]| -> Value {
        input.write_all(line).unwrap();
        input.write_all(b"\n").unwrap();
        input.flush().unwrap();
        let mut got = String::new();
        output.read_line(&mut got).unwrap();
        serde_json::from_str(&got).unwrap_or_else(|e| panic!("{e}: {got}"))
    };
    let init = answer(br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#);
    assert_eq!(init["id"], 1);
    let parse = answer(b"{this is not json");
    assert_eq!(parse["error"]["code"], -32700, "{parse}");
    assert_eq!(parse["id"], Value::Null);
    let huge = [b"\"".as_slice(), &vec![b'x'; 17 << 20], b"\""].concat();
    let too_long = answer(&huge);
    assert_eq!(too_long["error"]["code"], -32600, "{too_long}");
    let array_args = answer(br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"nexo_workflow_list","arguments":[1]}}"#);
    assert_eq!(array_args["id"], 2);
    assert_eq!(array_args["error"]["code"], -32602, "{array_args}");
    let wrong_type = answer(br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"nexo_workflow_list","arguments":{"limit":"many"}}}"#);
    assert_eq!(wrong_type["error"]["code"], -32602, "{wrong_type}");
    assert!(
        wrong_type["error"]["message"]
            .as_str()
            .unwrap()
            .contains("limit")
    );
    let missing = answer(br#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"nexo_workflow_resume","arguments":{}}}"#);
    assert_eq!(missing["error"]["code"], -32602, "{missing}");
    for (id, call) in [
        (6, r#"{"jsonrpc":"2.0","id":6,"method":"tools/call"}"#),
        (
            7,
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"arguments":{}}}"#,
        ),
        (
            8,
            r#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":[1]}"#,
        ),
    ] {
        let got = answer(call.as_bytes());
        assert_eq!(got["id"], id, "{got}");
        assert_eq!(got["error"]["code"], -32602, "no params or no name: {got}");
    }
    // A 10 MB bad value is quoted clipped, not echoed whole (twice: as
    // text and as structured content).
    let huge_value = format!(
        r#"{{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{{"name":"nexo_workflow_resume","arguments":{{"run_id":"{}"}}}}}}"#,
        "x".repeat(10 << 20)
    );
    let got = answer(huge_value.as_bytes());
    assert_eq!(got["id"], 9);
    assert!(
        got.to_string().len() < 4_000,
        "{} bytes",
        got.to_string().len()
    );
    // Still serving: a good call works.
    let list = answer(br#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"nexo_workflow_list","arguments":{}}}"#);
    assert_eq!(list["id"], 5);
    assert_eq!(list["result"]["structuredContent"]["ok"], true, "{list}");
    drop(input);
    assert!(child.wait().unwrap().success());
}
