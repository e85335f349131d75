//! The user's own `git` program, for what must behave exactly as the user
//! configured it: fetch, merge, rebase and push (credentials, hooks, merge
//! drivers). Every call names the repository explicitly (`GIT_DIR`,
//! `GIT_WORK_TREE`, as discovered), so an inherited relative `GIT_DIR`
//! cannot point it elsewhere, and runs in the C locale, so nexo reads
//! git's exit codes and porcelain output, never translated text.

use std::path::PathBuf;
use std::process::{Command, Output};

use crate::core::error::{Error, Result};

pub struct GitCli {
    workdir: PathBuf,
    git_dir: PathBuf,
}

/// What a push did.
pub enum Push {
    Pushed,
    /// The remote has commits this clone lacks: fetch, integrate, retry.
    Behind(String),
    /// Refused for another reason (a hook, permissions, the network).
    Failed(String),
}

impl super::Repo {
    /// The user's git, pointed at this repository.
    pub fn cli(&self) -> GitCli {
        GitCli {
            workdir: self.workdir.clone(),
            git_dir: self.git_dir().to_path_buf(),
        }
    }
}

impl GitCli {
    pub fn run(&self, args: &[&str]) -> Result<Output> {
        Command::new("git")
            .current_dir(&self.workdir)
            .env("GIT_DIR", &self.git_dir)
            .env("GIT_WORK_TREE", &self.workdir)
            .env("LC_ALL", "C")
            .env_remove("LANGUAGE")
            // Never stop to ask for a commit message.
            .env("GIT_EDITOR", "true")
            .env("GIT_MERGE_AUTOEDIT", "no")
            .args(args)
            .output()
            .inspect(|_| crate::trace::mark(&format!("git {}", args.join(" "))))
            .map_err(|e| Error::repo(format!("cannot run git: {e}")))
    }

    /// Runs git and returns its standard output, or an error with its words.
    pub fn ok(&self, args: &[&str]) -> Result<String> {
        let out = self.run(args)?;
        if !out.status.success() {
            return Err(Error::repo(format!(
                "git {} failed: {}",
                args.join(" "),
                text(&out)
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// A config value, if set.
    pub fn config(&self, key: &str) -> Option<String> {
        let out = self.run(&["config", "--get", key]).ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    pub fn rev(&self, spec: &str) -> Result<String> {
        Ok(self
            .ok(&["rev-parse", "--verify", "--quiet", spec])?
            .trim()
            .to_string())
    }

    pub fn count(&self, range: &str) -> Result<usize> {
        self.ok(&["rev-list", "--count", range])?
            .trim()
            .parse()
            .map_err(|e| Error::repo(format!("git rev-list --count {range}: {e}")))
    }

    /// Pushes HEAD to `remote`'s `branch_ref`, telling a rejection because
    /// the remote moved from any other failure by git's porcelain status
    /// flags, not its messages.
    pub fn push(&self, remote: &str, branch_ref: &str) -> Result<Push> {
        let refspec = format!("HEAD:{branch_ref}");
        let out = self.run(&["push", "--porcelain", remote, &refspec])?;
        if out.status.success() {
            return Ok(Push::Pushed);
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        // `!<tab>src:dst<tab>[rejected] (fetch first|non-fast-forward)`, or
        // `[remote rejected] (failed to update ref)` when the remote's
        // branch moved between the negotiation and the update.
        let behind = stdout.lines().any(|l| {
            l.starts_with('!')
                && ((l.contains("[rejected]")
                    && (l.contains("(fetch first)") || l.contains("(non-fast-forward)")))
                    || (l.contains("[remote rejected]") && l.contains("(failed to update ref)")))
        });
        Ok(match behind {
            true => Push::Behind(text(&out)),
            false => Push::Failed(text(&out)),
        })
    }
}

/// git's output and errors, trimmed, for messages.
pub fn text(out: &Output) -> String {
    let mut s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let err = String::from_utf8_lossy(&out.stderr);
    if !err.trim().is_empty() {
        if !s.is_empty() {
            s.push('\n');
        }
        s.push_str(err.trim());
    }
    s
}
