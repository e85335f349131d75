//! `nexo serve`, the read-only web board, as a browser and an attacker
//! would use it: pages, changes appearing without a restart, writes and
//! foreign hosts refused, hostile text escaped, and the board rendered by
//! headless Chromium.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use common::*;
use serde_json::json;

/// A running `nexo serve --port 0`, stopped when dropped.
struct Server {
    child: Child,
    url: String,
    /// host:port, as a browser sends it.
    host: String,
}

impl Server {
    fn start(repo: &Repo) -> Server {
        Server::start_with(repo, &[])
    }

    fn start_with(repo: &Repo, env: &[(&str, &std::path::Path)]) -> Server {
        let mut child = nexo_cmd()
            .current_dir(repo.path())
            .args(["serve", "--port", "0"])
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line.trim().to_string();
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "the first line is the URL: {url:?}"
        );
        let host = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        Server { child, url, host }
    }

    /// One HTTP/1.1 request; returns (status, headers, body).
    fn request(&self, method: &str, path: &str, host: &str) -> (u16, String, String) {
        let mut s = TcpStream::connect(&self.host).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        )
        .unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        (status, head.to_ascii_lowercase(), body.to_string())
    }

    fn get(&self, path: &str) -> (u16, String, String) {
        let host = self.host.clone();
        self.request("GET", path, &host)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_board_and_a_run_page_show_the_runs_and_follow_new_writes() {
    let repo = Repo::new();
    let id = repo.open_release();
    let server = Server::start(&repo);
    let (status, head, body) = server.get("/");
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(body.contains("Prepare and publish v3.1.1"), "{body}");
    assert!(body.contains("0/3 steps"), "{body}");
    // Written after the server started: seen on the next request.
    repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "step_key": "doctor", "step_status": "completed", "summary": "doctor clean"}),
    );
    let (status, _, page) = server.get(&format!("/runs/{id}"));
    assert_eq!(status, 200);
    assert!(
        page.contains("doctor clean") && page.contains("1/3 steps"),
        "{page}"
    );
    let (_, _, board) = server.get("/");
    assert!(board.contains("1/3 steps"), "{board}");
    let (status, head, _) = server.get("/style.css");
    assert_eq!(status, 200);
    assert!(head.contains("text/css"), "{head}");
    assert_eq!(server.get("/runs/WF-NOSUCHRUN00000").0, 404);
    assert_eq!(server.get("/nothing-here").0, 404);
}

#[test]
fn a_page_that_is_slow_to_read_stalls_no_other_request() {
    let repo = Repo::new();
    let id = repo.open_release();
    let dir = tempfile::tempdir().unwrap();
    let pause = dir.path().join("paused");
    let at = std::path::Path::new("render-run");
    let server = std::sync::Arc::new(Server::start_with(
        &repo,
        &[("NEXO_PAUSE_AT", at), ("NEXO_PAUSE_FILE", &pause)],
    ));
    let slow = {
        let server = server.clone();
        std::thread::spawn(move || server.get(&format!("/runs/{id}")).0)
    };
    // The run page is held mid-read (the pause file appears) ...
    while !pause.exists() {
        std::thread::yield_now();
    }
    // ... while the stylesheet and the board still answer.
    assert_eq!(server.get("/style.css").0, 200);
    assert_eq!(server.get("/").0, 200);
    assert!(
        !slow.is_finished(),
        "the other requests waited for the run page"
    );
    std::fs::remove_file(&pause).unwrap();
    assert_eq!(slow.join().unwrap(), 200);
}

#[test]
fn only_get_is_served_and_only_for_this_host() {
    let repo = Repo::new();
    let id = repo.open_release();
    let server = Server::start(&repo);
    let host = server.host.clone();
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        let (status, head, _) = server.request(method, &format!("/runs/{id}"), &host);
        assert_eq!(status, 405, "{method}");
        assert!(head.contains("allow: get, head"), "{head}");
    }
    let (status, _, _) = server.request("GET", "/", "evil.example:80");
    assert_eq!(
        status, 421,
        "a page elsewhere cannot reach the board by DNS rebinding"
    );
    let port = host.rsplit(':').next().unwrap();
    assert_eq!(
        server.request("GET", "/", &format!("localhost:{port}")).0,
        200
    );
    assert_eq!(repo.commit_count(), 2, "nothing was written");
}

#[test]
fn hostile_text_is_escaped_and_a_strict_policy_goes_with_every_page() {
    let repo = Repo::new();
    let open = repo.call(
        "nexo_workflow_open",
        &json!({"sid": "s", "goal": "<script>alert('x')</script> & <img src=x onerror=alert(1)>",
                "steps": [{"key": "a", "title": "<b>bold</b>\"quoted\""}]}),
    );
    let id = open["run_id"].as_str().unwrap();
    let server = Server::start(&repo);
    for path in ["/".to_string(), format!("/runs/{id}")] {
        let (_, head, body) = server.get(&path);
        assert!(!body.contains("<script>"), "{path}: {body}");
        assert!(!body.contains("<img"), "{path}: {body}");
        assert!(
            body.contains("&#60;script&#62;") || body.contains("&lt;script&gt;"),
            "shown, escaped: {body}"
        );
        assert!(
            head.contains("content-security-policy: default-src 'none'"),
            "{head}"
        );
        assert!(head.contains("x-content-type-options: nosniff"), "{head}");
        assert!(
            !body.contains("http://") && !body.contains("https://"),
            "no external asset: {body}"
        );
    }
}

/// The Chromium binary, if the machine has one.
fn chromium() -> Option<String> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(String::from)
}

#[test]
fn headless_chromium_renders_the_board() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs Chromium (.ci/run); it must be there"
        );
        skip("Chromium is not installed, so the board is not checked in a browser");
        return;
    };
    let repo = Repo::new();
    let id = repo.open_release();
    repo.call(
        "nexo_workflow_update",
        &json!({"run_id": id, "step_key": "doctor", "step_status": "completed"}),
    );
    let server = Server::start(&repo);
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("{}runs/{id}", server.url))
        .output()
        .unwrap();
    let dom = stdout(&out);
    assert!(
        dom.contains("Prepare and publish v3.1.1"),
        "{dom}\n{}",
        stderr(&out)
    );
    assert!(dom.contains("<table class=\"steps\">"), "{dom}");
    assert!(dom.contains("1/3 steps"), "{dom}");
}
