//! Helpers shared by the integration tests: real git repositories in
//! temporary folders, the real `git` binary, and the built `nexo` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod gates;
pub mod snap;

use serde_json::Value;

/// The home folder of every process a test starts: empty, so nothing of
/// the machine's own configuration (a `~/.gitconfig` with `pull.rebase`,
/// `commit.gpgsign` or hooks) reaches the suite, as jj's TestEnvironment
/// keeps it out.
fn test_home() -> &'static Path {
    static HOME: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    HOME.get_or_init(|| {
        let home = Path::new(env!("CARGO_TARGET_TMPDIR")).join("home");
        std::fs::create_dir_all(home.join(".config")).unwrap();
        home
    })
}

/// Seals `cmd` from the machine it runs on: no global or system git
/// config, a home folder of the suite's own, and none of git's or nexo's
/// variables that would point it elsewhere.
pub fn seal(cmd: &mut Command) -> &mut Command {
    let home = test_home();
    cmd.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_SYSTEM", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("LC_ALL", "C");
    for var in [
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_CEILING_DIRECTORIES",
        "GIT_CONFIG_COUNT",
        "NEXO_ACTOR",
        "NEXO_SESSION_ID",
        "NEXO_TRACE",
        "NEXO_TEST_FLAT_LAYOUT",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// The real `git`, sealed (see [`seal`]).
pub fn git_cmd() -> Command {
    let mut cmd = Command::new("git");
    seal(&mut cmd);
    cmd
}

/// The built `nexo`, sealed (see [`seal`]).
pub fn nexo_cmd() -> Command {
    let mut cmd = Command::new(nexo_bin());
    seal(&mut cmd);
    cmd
}

pub fn nexo_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_nexo"))
}

/// A throwaway git repository with an identity and one commit.
pub struct Repo {
    pub dir: tempfile::TempDir,
    /// With [`Repo::deterministic`]: how many nexo commands ran, which
    /// gives each the seed of its ids and its time.
    commands: Option<std::sync::atomic::AtomicU64>,
}

impl Repo {
    pub fn new() -> Repo {
        let repo = Repo::empty();
        std::fs::write(repo.path().join("README.md"), "# test\n").unwrap();
        repo.git(&["add", "README.md"]);
        repo.git(&["commit", "-q", "-m", "initial"]);
        repo
    }

    /// `git init` with an identity but no commit.
    pub fn empty() -> Repo {
        let dir = tempfile::Builder::new()
            .prefix("nexo-test-")
            .tempdir()
            .unwrap();
        let repo = Repo {
            dir,
            commands: None,
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.git(&["config", "user.name", "Test User"]);
        repo.git(&["config", "user.email", "test@example.com"]);
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn git(&self, args: &[&str]) -> String {
        git_in(self.path(), args)
    }

    pub fn git_output(&self, args: &[&str]) -> Output {
        git_cmd()
            .arg("-C")
            .arg(self.path())
            .args(args)
            .output()
            .unwrap()
    }

    /// This repository with every nexo command given ids and a time of its
    /// own, the same on every run (`NEXO_TEST_SEED` and `NEXO_TEST_NOW`,
    /// which debug builds read; commits take the same time): what the
    /// snapshots use, as jj's TestEnvironment does.
    pub fn deterministic(mut self) -> Repo {
        self.commands = Some(std::sync::atomic::AtomicU64::new(0));
        self
    }

    /// Runs nexo with `args` in this repository.
    pub fn nexo(&self, args: &[&str]) -> Output {
        let mut cmd = nexo_cmd();
        cmd.current_dir(self.path()).args(args);
        if let Some(n) = &self.commands {
            let n = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            // 2026-11-25T10:00:00Z, and a minute a command.
            let ms = 1_795_600_800_000 + n * 60_000;
            let date = format!("@{} +0000", ms / 1000);
            cmd.env("NEXO_TEST_SEED", n.to_string())
                .env("NEXO_TEST_NOW", ms.to_string())
                .env("GIT_COMMITTER_DATE", &date)
                .env("GIT_AUTHOR_DATE", &date);
        }
        cmd.output().unwrap()
    }

    /// Runs `nexo call TOOL --input JSON` and returns the parsed output,
    /// asserting success.
    pub fn call(&self, tool: &str, input: &Value) -> Value {
        let out = self.nexo(&["call", tool, "--input", &input.to_string()]);
        let v = parse_json(&out);
        assert!(
            out.status.success(),
            "{tool} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        v
    }

    /// Runs a tool expecting failure; returns (exit code, output object).
    pub fn call_err(&self, tool: &str, input: &str) -> (i32, Value) {
        let out = self.nexo(&["call", tool, "--input", input]);
        assert!(
            !out.status.success(),
            "{tool} unexpectedly succeeded: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let v = parse_json(&out);
        assert_eq!(v["ok"], false);
        (out.status.code().unwrap(), v)
    }

    /// `commit: each` in `.nexo/config.yaml`, committed: one commit per
    /// change, for the tests about individual commits.
    pub fn commit_each(&self) {
        std::fs::create_dir_all(self.path().join(".nexo")).unwrap();
        std::fs::write(self.path().join(".nexo/config.yaml"), "commit: each\n").unwrap();
        self.git(&["add", ".nexo/config.yaml"]);
        self.git(&["commit", "-q", "-m", "one commit per nexo change"]);
    }

    /// Shares this repository: a bare remote it is pushed to (as
    /// `origin`, upstream of `main`) and a second clone of it with its own
    /// identity and `pull.rebase=false`.
    pub fn share(&self) -> Shared {
        let dir = tempfile::Builder::new()
            .prefix("nexo-shared-")
            .tempdir()
            .unwrap();
        let bare = dir.path().join("remote.git");
        git_in(
            dir.path(),
            &["init", "-q", "--bare", "-b", "main", bare.to_str().unwrap()],
        );
        self.git(&["remote", "add", "origin", bare.to_str().unwrap()]);
        self.git(&["push", "-q", "-u", "origin", "main"]);
        let other = dir.path().join("other");
        git_in(
            dir.path(),
            &[
                "clone",
                "-q",
                bare.to_str().unwrap(),
                other.to_str().unwrap(),
            ],
        );
        for (k, v) in [
            ("user.name", "Other"),
            ("user.email", "other@example.com"),
            ("pull.rebase", "false"),
        ] {
            git_in(&other, &["config", k, v]);
        }
        Shared {
            _dir: dir,
            bare,
            other,
        }
    }

    /// Opens the seed's release run and returns its id.
    pub fn open_release(&self) -> String {
        let out = self.call(
            "nexo_workflow_open",
            &serde_json::json!({
                "sid": "s1",
                "goal": "Prepare and publish v3.1.1",
                "owner": "codex",
                "priority": "high",
                "workflow_kind": "release",
                "steps": [
                    {"key": "doctor", "title": "Run release readiness checks"},
                    {"key": "package", "title": "Build and verify artifacts"},
                    {"key": "publish", "title": "Publish release"}
                ],
                "next_action": "Run doctor and capture the first checkpoint."
            }),
        );
        out["run_id"].as_str().unwrap().to_string()
    }

    /// Every file under .nexo/, as (relative path, bytes), sorted.
    pub fn nexo_files(&self) -> Vec<(String, Vec<u8>)> {
        let root = self.path().join(".nexo");
        let mut out = Vec::new();
        if !root.exists() {
            return out;
        }
        for e in walkdir::WalkDir::new(&root).sort_by_file_name() {
            let e = e.unwrap();
            if e.file_type().is_file() {
                let rel = e
                    .path()
                    .strip_prefix(self.path())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.push((rel, std::fs::read(e.path()).unwrap()));
            }
        }
        out
    }

    pub fn commit_count(&self) -> usize {
        self.git(&["rev-list", "--count", "HEAD"])
            .trim()
            .parse()
            .unwrap()
    }
}

/// A repository's remote and second clone (see [`Repo::share`]).
pub struct Shared {
    _dir: tempfile::TempDir,
    pub bare: PathBuf,
    pub other: PathBuf,
}

pub fn git_in(dir: &Path, args: &[&str]) -> String {
    let out = git_cmd().arg("-C").arg(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// How a test that skipped its check says so, at the start of a line of
/// its own: `.ci/run` counts these lines apart from the passes.
pub const SKIPPED: &str = "nexo-test: skipped";

/// Says that the running test skips its check, and why (a tool this
/// machine lacks). libtest cannot report a skip, so the test still shows
/// `ok`; this line, written to standard error past libtest's capture of
/// `eprintln!`, is what tells it apart from a pass.
pub fn skip(why: &str) {
    use std::io::Write;
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    let _ = writeln!(std::io::stderr().lock(), "{SKIPPED} {test}: {why}");
}

pub fn nexo_in(dir: &Path, args: &[&str]) -> Output {
    nexo_cmd().current_dir(dir).args(args).output().unwrap()
}

/// A new ed25519 key `name` in `dir`, without passphrase, made by the real
/// `ssh-keygen` (the signed approval policy's tests need OpenSSH).
pub fn keygen(dir: &Path, name: &str) -> PathBuf {
    let key = dir.join(name);
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen (OpenSSH) is needed for the signed policy's tests")
        .success();
    assert!(ok);
    key
}

pub fn parse_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "output is not one JSON object ({e}):\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Runs nexo with `args` in `dir`, asserting success, and parses its
/// JSON answer.
pub fn nexo_ok(dir: &Path, args: &[&str]) -> Value {
    let out = nexo_in(dir, args);
    assert!(
        out.status.success(),
        "nexo {args:?}: {}\n{}",
        stdout(&out),
        stderr(&out)
    );
    parse_json(&out)
}

/// Opens a release run in `dir` whose `publish` step waits at its
/// approval gate (codex asked for it); returns the run's id.
pub fn open_gated(dir: &Path) -> String {
    let opened = nexo_ok(
        dir,
        &[
            "--json",
            "open",
            "Release v3.1.1",
            "--step",
            "build:Build",
            "--step",
            "publish:Publish",
            "--actor",
            "codex",
        ],
    );
    let run = opened["run_id"].as_str().unwrap().to_string();
    nexo_ok(
        dir,
        &[
            "--json",
            "update",
            &run,
            "publish",
            "--requires-approval",
            "--status",
            "blocked",
            "--actor",
            "codex",
        ],
    );
    run
}

/// The live history file of run `run` in the working tree at `dir`.
pub fn history_text(dir: &Path, run: &str) -> String {
    std::fs::read_to_string(dir.join(run_rel(run)).join("history.jsonl")).unwrap()
}

/// Run `run`'s folder, relative to the working tree
/// (`.nexo/runs/<c>/<c>/<RUN_ID>`).
pub fn run_rel(run: &str) -> String {
    nexo::core::layout::run_rel(run)
}

/// Another clone of `bare` at `dir`, as agent `name` (own identity,
/// `pull.rebase=false`).
pub fn clone_as(bare: &Path, dir: &Path, name: &str) {
    let parent = dir.parent().expect("a folder in a folder");
    git_in(
        parent,
        &["clone", "-q", bare.to_str().unwrap(), dir.to_str().unwrap()],
    );
    for (k, v) in [
        ("user.name", name.to_string()),
        ("user.email", format!("{name}@example.com")),
        ("pull.rebase", "false".into()),
    ] {
        git_in(dir, &["config", k, &v]);
    }
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// xorshift64*: a tiny deterministic generator, so randomized tests
/// reproduce exactly from their seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// `git ARGS` in `dir` with `input` on its standard input; its output.
pub fn git_with_input(dir: &Path, args: &[&str], input: &str) -> String {
    use std::io::Write;
    let mut child = git_cmd()
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "git {args:?} failed");
    String::from_utf8(out.stdout).unwrap()
}

/// `git update-index --index-info` in `dir` with `lines` on its input.
pub fn index_info(dir: &Path, lines: &str) {
    git_with_input(dir, &["update-index", "--index-info"], lines);
}

/// Opens a goal titled `title` with the original's tool; its id.
pub fn goal(repo: &Repo, title: &str) -> String {
    let g = repo.call(
        "nexo_goal_open",
        &serde_json::json!({"sid": "s", "title": title}),
    );
    assert_eq!(g["status"], "active", "{g}");
    g["goal_id"].as_str().unwrap().to_string()
}

/// Ages `.nexo/runs` and its fan-out folders to `when`, so the summaries
/// index may trust and record their stamps (only stamps two seconds old
/// are): a time other than the last one, or folders changed by hand would
/// look as they were.
pub fn age_runs_folder_to(dir: &Path, when: &str) {
    let out = std::process::Command::new("find")
        .arg(dir.join(".nexo/runs"))
        .args(["-maxdepth", "2", "-type", "d", "-exec", "touch", "-m"])
        .args(["-d", when, "{}", "+"])
        .output()
        .unwrap();
    assert!(out.status.success());
}

/// [`age_runs_folder_to`] 2020.
pub fn age_runs_folder(dir: &Path) {
    age_runs_folder_to(dir, "2020-01-01T00:00:00");
}
