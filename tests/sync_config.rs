//! `nexo sync` on every pull configuration, with git's defaults (an empty
//! global config: HOME is a fresh folder), and racing writers. In every
//! case every acknowledged event reaches every clone and the `.nexo/` trees
//! end identical, or sync stops before changing anything and says why.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Rng, git_cmd, nexo_cmd, run_rel};
use serde_json::{Value, json};

/// A bare remote and clones that see no global or system git config.
struct World {
    dir: tempfile::TempDir,
    home: PathBuf,
}

impl World {
    fn new() -> World {
        let dir = tempfile::Builder::new()
            .prefix("nexo-syncfg-")
            .tempdir()
            .unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir(&home).unwrap();
        let w = World { dir, home };
        w.git(
            w.dir.path(),
            &["init", "-q", "--bare", "-b", "main", "remote.git"],
        );
        let a = w.dir.path().join("a");
        std::fs::create_dir(&a).unwrap();
        w.git(&a, &["init", "-q", "-b", "main"]);
        w.identity(&a, "a");
        std::fs::write(a.join("README.md"), "shared\n").unwrap();
        w.git(&a, &["add", "README.md"]);
        w.git(&a, &["commit", "-q", "-m", "initial"]);
        w.git(&a, &["remote", "add", "origin", "../remote.git"]);
        w.git(&a, &["push", "-q", "-u", "origin", "main"]);
        w
    }

    fn clone(&self, name: &str) -> PathBuf {
        self.git(self.dir.path(), &["clone", "-q", "remote.git", name]);
        let path = self.dir.path().join(name);
        self.identity(&path, name);
        path
    }

    /// Clone `a` and a second clone `b` (with `config` set), sharing a
    /// run that both have synced.
    fn shared_run(&self, config: &[(&str, &str)]) -> (PathBuf, PathBuf, String) {
        let (a, b) = (self.a(), self.clone("b"));
        for (key, value) in config {
            self.git(&b, &["config", key, value]);
        }
        let run = self.open(&a);
        self.sync(&a);
        self.sync(&b);
        (a, b, run)
    }

    fn a(&self) -> PathBuf {
        self.dir.path().join("a")
    }

    fn identity(&self, dir: &Path, name: &str) {
        self.git(dir, &["config", "user.name", name]);
        self.git(
            dir,
            &["config", "user.email", &format!("{name}@example.com")],
        );
    }

    fn env(&self, cmd: &mut Command) {
        cmd.env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env_remove("GIT_CONFIG_GLOBAL")
            .env_remove("NEXO_ACTOR")
            .env_remove("NEXO_SESSION_ID");
    }

    fn git_output(&self, dir: &Path, args: &[&str]) -> Output {
        let mut cmd = git_cmd();
        cmd.current_dir(dir).args(args);
        self.env(&mut cmd);
        cmd.output().unwrap()
    }

    fn git(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.git_output(dir, args);
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn nexo(&self, dir: &Path, args: &[&str]) -> Output {
        let mut cmd = nexo_cmd();
        cmd.current_dir(dir).args(args);
        self.env(&mut cmd);
        cmd.output().unwrap()
    }

    fn call(&self, dir: &Path, tool: &str, input: Value) -> Value {
        let out = self.nexo(dir, &["call", tool, "--input", &input.to_string()]);
        assert!(
            out.status.success(),
            "{tool}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn sync(&self, dir: &Path) -> Value {
        let out = self.nexo(dir, &["--json", "sync"]);
        assert!(
            out.status.success(),
            "sync in {}: {}{}",
            dir.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn open(&self, dir: &Path) -> String {
        let v = self.call(
            dir,
            "nexo_workflow_open",
            json!({"sid": "s", "goal": "shared", "steps": [{"key": "x"}]}),
        );
        v["run_id"].as_str().unwrap().to_string()
    }

    fn update(&self, dir: &Path, run: &str, summary: &str) -> String {
        let v = self.call(
            dir,
            "nexo_workflow_update",
            json!({"run_id": run, "summary": summary}),
        );
        v["event_id"].as_str().unwrap().to_string()
    }

    /// `.nexo/` as committed at HEAD, path by path.
    fn tree(&self, dir: &Path) -> String {
        self.git(dir, &["ls-tree", "-r", "HEAD", ".nexo"])
    }

    fn assert_converged(&self, clones: &[&Path], run: &str, events: &[String]) {
        let first = self.tree(clones[0]);
        for c in clones {
            assert_eq!(self.tree(c), first, "{} differs", c.display());
            assert_eq!(
                self.git(c, &["status", "--porcelain"]),
                "",
                "{} is dirty",
                c.display()
            );
            let history = self.git(
                c,
                &[
                    "show",
                    &format!("HEAD:{rr}/history.jsonl", rr = run_rel(run)),
                ],
            );
            for e in events {
                assert!(
                    history.contains(e.as_str()),
                    "{e} missing in {}",
                    c.display()
                );
            }
        }
    }
}

#[test]
fn with_gits_defaults_diverged_clones_sync_by_merging() {
    let w = World::new();
    let (a, b, run) = w.shared_run(&[]);
    let events = vec![w.update(&a, &run, "from a"), w.update(&b, &run, "from b")];
    w.sync(&a);
    let v = w.sync(&b);
    assert_eq!(v["pulled"], true, "{v}");
    w.sync(&a);
    w.assert_converged(&[&a, &b], &run, &events);
}

#[test]
fn pull_rebase_true_replays_a_user_commit_and_nexos_on_top() {
    let w = World::new();
    let (a, b, run) = w.shared_run(&[("pull.rebase", "true")]);
    let mut events = vec![w.update(&b, &run, "b before")];
    std::fs::write(b.join("notes.txt"), "the user's own work\n").unwrap();
    w.git(&b, &["add", "notes.txt"]);
    w.git(&b, &["commit", "-q", "-m", "user work"]);
    events.push(w.update(&b, &run, "b after"));
    events.push(w.update(&a, &run, "from a"));
    w.sync(&a);
    w.sync(&b);
    w.sync(&a);
    w.assert_converged(&[&a, &b], &run, &events);
    assert_eq!(
        w.git(&b, &["rev-list", "--merges", "--count", "HEAD"]),
        "0\n",
        "not rebased"
    );
    assert!(w.git(&a, &["log", "--format=%s"]).contains("user work"));
}

#[test]
fn pull_ff_only_replays_only_nexos_own_commits() {
    let w = World::new();
    let (a, b, run) = w.shared_run(&[("pull.ff", "only")]);
    let events = vec![w.update(&a, &run, "from a"), w.update(&b, &run, "from b")];
    w.sync(&a);
    w.sync(&b);
    w.sync(&a);
    w.assert_converged(&[&a, &b], &run, &events);
    assert_eq!(
        w.git(&b, &["rev-list", "--merges", "--count", "HEAD"]),
        "0\n"
    );
}

#[test]
fn pull_ff_only_with_a_user_commit_stops_before_changing_anything() {
    let w = World::new();
    let (a, b, run) = w.shared_run(&[("pull.ff", "only")]);
    w.update(&a, &run, "from a");
    w.sync(&a);
    w.update(&b, &run, "from b");
    std::fs::write(b.join("notes.txt"), "mine\n").unwrap();
    w.git(&b, &["add", "notes.txt"]);
    w.git(&b, &["commit", "-q", "-m", "user work"]);
    let head = w.git(&b, &["rev-parse", "HEAD"]);
    let out = w.nexo(&b, &["sync"]);
    assert_eq!(out.status.code(), Some(5));
    let msg = String::from_utf8_lossy(&out.stderr);
    assert!(
        msg.contains("pull.ff=only") && msg.contains("git pull --rebase"),
        "{msg}"
    );
    assert!(msg.contains("nexo changed nothing"), "{msg}");
    assert_eq!(w.git(&b, &["rev-parse", "HEAD"]), head);
    assert_eq!(w.git(&b, &["status", "--porcelain"]), "");
    // Once the user combines them, sync finishes the job.
    w.git(&b, &["pull", "-q", "--rebase"]);
    w.sync(&b);
    w.sync(&a);
    assert_eq!(w.tree(&a), w.tree(&b));
}

#[test]
fn a_sync_racing_local_writers_and_a_remote_writer_loses_nothing() {
    let w = World::new();
    let (a, b, run) = w.shared_run(&[]);
    let events = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for writer in 0..3 {
            let (w, a, run, events) = (&w, &a, &run, &events);
            s.spawn(move || {
                for i in 0..5 {
                    let e = w.update(a, run, &format!("local {writer}.{i}"));
                    events.lock().unwrap().push(e);
                }
            });
        }
        let (wr, b, run, events) = (&w, &b, &run, &events);
        s.spawn(move || {
            let w = wr;
            for i in 0..4 {
                let e = w.update(b, run, &format!("remote {i}"));
                events.lock().unwrap().push(e);
                w.sync(b);
            }
        });
        let (w, a) = (&w, &a);
        s.spawn(move || {
            let mut rng = Rng(7);
            for _ in 0..4 {
                w.sync(a);
                std::thread::sleep(std::time::Duration::from_millis(rng.below(30) as u64));
            }
        });
    });
    for c in [&a, &b, &a] {
        w.sync(c);
    }
    let events = events.into_inner().unwrap();
    assert_eq!(events.len(), 19);
    w.assert_converged(&[&a, &b], &run, &events);
}

#[test]
fn a_plain_git_pull_landing_mid_write_is_read_again_not_written_over() {
    let w = World::new();
    let (a, b, run) = w.shared_run(&[]);
    let remote_event = w.update(&b, &run, "from b");
    w.sync(&b);
    // a's write reads the history, then pauses before committing...
    let pause = a.join(".git/paused");
    let mut cmd = nexo_cmd();
    cmd.current_dir(&a)
        .env("NEXO_PAUSE_AT", "folded")
        .env("NEXO_PAUSE_FILE", &pause)
        .args(["call", "nexo_workflow_update", "--input"])
        .arg(json!({"run_id": run, "step_key": "x", "step_status": "running"}).to_string());
    w.env(&mut cmd);
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    while !pause.exists() {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // ...while the user pulls b's event with plain git.
    w.git(&a, &["pull", "-q", "--no-rebase", "--no-edit"]);
    std::fs::remove_file(&pause).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let ours: Value = serde_json::from_slice(&out.stdout).unwrap();
    let history = w.git(
        &a,
        &[
            "show",
            &format!("HEAD:{rr}/history.jsonl", rr = run_rel(&run)),
        ],
    );
    assert!(
        history.contains(&remote_event),
        "the pulled event was written over"
    );
    assert!(history.contains(ours["event_id"].as_str().unwrap()));
    // Our event followed the pulled one: it saw it.
    let last = history.lines().last().unwrap();
    assert!(
        last.contains(&remote_event),
        "parents should name the pulled event: {last}"
    );
    assert_eq!(w.git(&a, &["status", "--porcelain"]), "");
    let doctor = w.nexo(&a, &["doctor"]);
    assert!(
        doctor.status.success(),
        "{}",
        String::from_utf8_lossy(&doctor.stdout)
    );
}
