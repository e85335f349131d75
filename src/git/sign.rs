//! SSH signatures for approval decisions, made and checked by the user's
//! own `ssh-keygen`, exactly as git signs commits with `gpg.format=ssh`:
//! `-Y sign` with the key of git's `user.signingkey` (so ssh-agent,
//! passphrases and hardware keys work as they do for git), and
//! `-Y verify` against `.nexo/allowed_signers` (git's allowed-signers
//! format, principals = approver names), in the `nexo` namespace.
//!
//! The few files `ssh-keygen` needs (the allowed signers, a signature, a
//! literal public key: nothing secret) are made in the system's temporary
//! folder, as git makes them, never under `.nexo/`.
//!
//! Verdicts are cached in the git directory (`nexo-verified`), keyed by a
//! SHA-256 of everything a verdict depends on (the allowed-signers file,
//! the principal, the signed content and the signature), so reading a run
//! does not start a process per approval each time.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use crate::core::approval::NAMESPACE;
use crate::core::error::{Error, Result};

/// Where the signing key comes from: git's `user.signingkey`, a path to
/// a key file or a literal public key (`key::ssh-ed25519 AAAA...`), whose
/// private half ssh-agent holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigningKey {
    File(PathBuf),
    Literal(String),
}

impl SigningKey {
    /// Reads git's `user.signingkey` value as git does for SSH keys.
    pub fn from_git_config(value: &str) -> SigningKey {
        let v = value.trim();
        if let Some(key) = v.strip_prefix("key::") {
            return SigningKey::Literal(key.to_string());
        }
        if v.starts_with("ssh-") || v.starts_with("ecdsa-") || v.starts_with("sk-") {
            return SigningKey::Literal(v.to_string());
        }
        match v.strip_prefix("~/") {
            Some(rest) => SigningKey::File(
                std::env::var_os("HOME")
                    .map(PathBuf::from)
                    .unwrap_or_default()
                    .join(rest),
            ),
            None => SigningKey::File(PathBuf::from(v)),
        }
    }
}

/// Signs `message` with `key` in the `nexo` namespace; returns the
/// armored signature.
pub fn sign(key: &SigningKey, message: &[u8]) -> Result<String> {
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-Y", "sign", "-n", NAMESPACE, "-f"]);
    let _literal = match key {
        SigningKey::File(path) => {
            cmd.arg(path);
            None
        }
        SigningKey::Literal(text) => {
            let file = temp_file(format!("{text}\n").as_bytes())?;
            cmd.arg(file.path()).arg("-U");
            Some(file)
        }
    };
    let out = run(&mut cmd, message)?;
    if !out.status.success() {
        return Err(Error::conflict(format!(
            "ssh-keygen could not sign the decision: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
        .with_hint("check git's user.signingkey (as for `git commit -S` with gpg.format=ssh) and that ssh-agent holds the key"));
    }
    String::from_utf8(out.stdout)
        .map_err(|_| Error::conflict("ssh-keygen wrote a signature that is not text"))
}

/// Checks signatures, remembering verdicts in `cache`.
pub struct Verifier {
    allowed_signers: Option<Vec<u8>>,
    cache_path: PathBuf,
    cache: HashMap<String, bool>,
    added: Vec<(String, bool)>,
}

impl Verifier {
    /// A verifier for `allowed_signers` (the bytes of
    /// `.nexo/allowed_signers`, if it exists), with its cache at
    /// `cache_path`.
    pub fn new(allowed_signers: Option<Vec<u8>>, cache_path: &Path) -> Verifier {
        let cache = std::fs::read_to_string(cache_path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let (key, verdict) = l.split_once(' ')?;
                Some((key.to_string(), verdict == "ok"))
            })
            .collect();
        Verifier {
            allowed_signers,
            cache_path: cache_path.to_path_buf(),
            cache,
            added: Vec::new(),
        }
    }

    /// Whether `signature` is `principal`'s signature of `message` by a
    /// key `.nexo/allowed_signers` lists for them. An error means
    /// `ssh-keygen` could not be run: nothing is known.
    pub fn verify(&mut self, principal: &str, message: &[u8], signature: &str) -> Result<bool> {
        let Some(allowed) = &self.allowed_signers else {
            return Ok(false);
        };
        let mut h = Sha256::new();
        for part in [
            b"nexo-verify/1".as_slice(),
            allowed,
            principal.as_bytes(),
            message,
            signature.as_bytes(),
        ] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
        let key = crate::core::id::hex(&h.finalize());
        if let Some(&verdict) = self.cache.get(&key) {
            return Ok(verdict);
        }
        let verdict = self.run_verify(allowed, principal, message, signature)?;
        self.cache.insert(key.clone(), verdict);
        self.added.push((key, verdict));
        Ok(verdict)
    }

    fn run_verify(
        &self,
        allowed: &[u8],
        principal: &str,
        message: &[u8],
        signature: &str,
    ) -> Result<bool> {
        // A principal is a name nexo accepted as an actor; ssh-keygen reads
        // it as a pattern list, so one with pattern characters is refused.
        if principal.is_empty() || principal.contains([',', '*', '?', '!']) {
            return Ok(false);
        }
        let allowed_file = temp_file(allowed)?;
        let sig_file = temp_file(signature.as_bytes())?;
        let mut cmd = Command::new("ssh-keygen");
        cmd.args(["-Y", "verify", "-n", NAMESPACE, "-I", principal, "-f"])
            .arg(allowed_file.path())
            .arg("-s")
            .arg(sig_file.path());
        Ok(run(&mut cmd, message)?.status.success())
    }

    /// Appends the verdicts learnt since `new` to the cache. Best effort:
    /// a lost cache costs a re-check, never a wrong answer.
    pub fn save(&mut self) {
        if self.added.is_empty() {
            return;
        }
        let text: String = self
            .added
            .drain(..)
            .map(|(k, v)| format!("{k} {}\n", if v { "ok" } else { "bad" }))
            .collect();
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.cache_path)
        {
            let _ = f.write_all(text.as_bytes());
        }
    }
}

/// Runs `cmd` with `input` on its standard input.
fn run(cmd: &mut Command, input: &[u8]) -> Result<std::process::Output> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            Error::repo(format!("cannot run ssh-keygen: {e}"))
                .with_hint("install OpenSSH's ssh-keygen (Debian: openssh-client), which the signed approval policy uses as git does")
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A write error shows as the process's failure below.
        let _ = stdin.write_all(input);
    }
    child
        .wait_with_output()
        .map_err(|e| Error::repo(format!("ssh-keygen failed: {e}")))
}

fn temp_file(bytes: &[u8]) -> Result<tempfile::NamedTempFile> {
    let dir = std::env::temp_dir();
    let mut f = tempfile::Builder::new()
        .prefix("nexo-ssh-")
        .tempfile_in(&dir)
        .map_err(|e| Error::io("create a file in", &dir, e))?;
    f.write_all(bytes)
        .and_then(|()| f.flush())
        .map_err(|e| Error::io("write", f.path(), e))?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_keys_are_read_as_git_reads_them() {
        assert_eq!(
            SigningKey::from_git_config("key::ssh-ed25519 AAAA x"),
            SigningKey::Literal("ssh-ed25519 AAAA x".into())
        );
        assert_eq!(
            SigningKey::from_git_config("ssh-ed25519 AAAA"),
            SigningKey::Literal("ssh-ed25519 AAAA".into())
        );
        assert_eq!(
            SigningKey::from_git_config("/k/id.pub"),
            SigningKey::File("/k/id.pub".into())
        );
    }
}
