//! The fixture of `nexo verify`'s tests: a base branch with a policy and
//! a gated run, and a pull-request branch that tries something.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Repo, keygen, nexo_in, nexo_ok, open_gated, parse_json};

pub const EXIT_VIOLATIONS: i32 = 11;

/// A `main` whose policy is `policy` with `approvers`, whose allowed
/// signers list release-manager's and oncall's keys, and with one run
/// whose `publish` step waits at its gate; the test works on branch `pr`.
pub struct Base {
    pub repo: Repo,
    pub run: String,
    pub keys: tempfile::TempDir,
}

impl Base {
    pub fn new(policy: &str, approvers: &[&str]) -> Base {
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

    pub fn signed() -> Base {
        Base::new("signed", &["release-manager", "oncall"])
    }

    pub fn path(&self) -> &Path {
        self.repo.path()
    }

    pub fn key(&self, name: &str) -> PathBuf {
        self.keys.path().join(name)
    }

    pub fn sign_with(&self, name: &str) {
        let key = self.key(name);
        self.repo
            .git(&["config", "user.signingkey", key.to_str().unwrap()]);
    }

    /// `nexo verify --trusted main --format json`: the exit code and the
    /// report.
    pub fn verify(&self) -> (i32, Value) {
        let out = nexo_in(
            self.path(),
            &["verify", "--trusted", "main", "--format", "json"],
        );
        (out.status.code().unwrap(), parse_json(&out))
    }

    /// The run's live history file in the working tree.
    pub fn history(&self) -> PathBuf {
        self.path()
            .join(super::run_rel(&self.run))
            .join("history.jsonl")
    }

    /// `verify`, which must fail on exactly one violation: `reason` on
    /// the gated `publish` step. Returns the report.
    pub fn fails_with(&self, reason: &str) -> Value {
        let (code, r) = self.verify();
        assert_eq!(code, EXIT_VIOLATIONS, "{r:#}");
        assert_eq!(
            reasons(&r),
            [("publish".to_string(), reason.to_string())],
            "{r:#}"
        );
        r
    }

    pub fn commit_all(&self, message: &str) {
        self.repo.git(&["add", "-A", ".nexo"]);
        self.repo.git(&["commit", "-q", "-m", message]);
    }

    /// `nexo update RUN STEP --status STATUS --actor ACTOR`, on this run.
    pub fn update(&self, step: &str, status: &str, actor: &str) -> Value {
        let args = [
            "update", &self.run, step, "--status", status, "--actor", actor,
        ];
        nexo_json(self.path(), &args)
    }

    /// The branch sets `policy: update` and `actor` completes the gated
    /// step by an update.
    pub fn walk_through(&self, actor: &str) {
        write_config(self.path(), "update", &[]);
        self.commit_all("Loosen the policy");
        self.update("publish", "completed", actor);
    }
}

pub fn public(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{name}.pub")))
        .unwrap()
        .trim()
        .to_string()
}

pub fn write_config(dir: &Path, policy: &str, approvers: &[&str]) {
    std::fs::write(
        dir.join(".nexo/config.yaml"),
        format!(
            "approvals:\n  policy: {policy}\n  approvers: [{}]\n",
            approvers.join(", ")
        ),
    )
    .unwrap();
}

pub fn nexo_json(dir: &Path, args: &[&str]) -> Value {
    nexo_ok(dir, &[&["--json"], args].concat())
}

pub fn reasons(report: &Value) -> Vec<(String, String)> {
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

pub fn changed_paths(report: &Value) -> Vec<String> {
    report["policy_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap().to_string())
        .collect()
}

/// A line written by hand after the last event, as an agent without the
/// key would write it: right shape, right place in the order.
pub fn forge(b: &Base, id: &str, actor: &str, kind: &str, data: Value) {
    let path = b.history();
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

pub fn forge_approval(b: &Base, signature: Option<&str>) {
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

pub fn append_line(b: &Base, line: &str) {
    let h = b.history();
    let text = std::fs::read_to_string(&h).unwrap();
    std::fs::write(&h, format!("{text}{line}\n")).unwrap();
}
