//! `.nexo/config.yaml`: per-repository settings, committed with the runs.
//! Unknown keys are refused, like every other input.

use serde::Deserialize;

use crate::core::approval::{Approvals, Policy};
use crate::core::error::{Error, Result};
use crate::store::NEXO_DIR;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// How changes are committed: coalesced (the default, `true`), one
    /// commit each (`each`), or not at all (`false`).
    #[serde(default)]
    pub commit: CommitMode,
    /// Who may pass approval gates, and how (docs/approvals.md).
    #[serde(default)]
    pub approvals: Approvals,
    /// How long claims last (docs/cli.md, "Claims").
    #[serde(default)]
    pub claims: Claims,
    /// How long a sync keeps trying while others move the remote.
    #[serde(default)]
    pub sync: Sync,
    /// The layout of `.nexo/` (`core::layout::LAYOUT`), written by nexo
    /// when it first writes layout 2: a nexo that knows no such key (any
    /// before layout 2) refuses the repository instead of finding no runs
    /// where it looks and writing new ones where nobody else would.
    #[serde(default)]
    pub layout: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sync {
    /// How long `sync`, `claim --sync` and `ready --claim --sync` go on
    /// pushing while other clones keep moving the remote: `30s`, `2m`.
    #[serde(default)]
    pub timeout: Option<String>,
}

/// How long a sync keeps trying when `sync.timeout` says nothing.
pub const DEFAULT_SYNC_TIMEOUT_SECONDS: u64 = 30;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// A claim's lease when the caller gives none: `30m`, `2h`, seconds.
    #[serde(default)]
    pub ttl: Option<String>,
}

impl Config {
    /// How long a sync keeps trying while others move the remote
    /// (checked when the config is read).
    pub fn sync_timeout(&self) -> u64 {
        self.sync
            .timeout
            .as_deref()
            .and_then(|t| crate::core::claim::parse_ttl("sync.timeout", t).ok())
            .unwrap_or(DEFAULT_SYNC_TIMEOUT_SECONDS)
    }

    /// The lease a claim gets when its caller names none.
    pub fn claim_ttl(&self) -> u64 {
        self.claims
            .ttl
            .as_deref()
            .and_then(|t| crate::core::claim::parse_ttl("claims.ttl", t).ok())
            .unwrap_or(crate::core::claim::DEFAULT_TTL_SECONDS)
    }
}

/// How nexo commits its changes (docs/git.md, "Coalescing").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CommitMode {
    /// A burst of changes becomes one commit: a write amends HEAD when HEAD
    /// is nexo's own commit that nothing else points at yet.
    #[default]
    Coalesce,
    /// One commit per change.
    Each,
    /// Leave changes in the working tree for `nexo commit` or the user.
    Off,
}

impl<'de> Deserialize<'de> for CommitMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Word(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bool(true) => Ok(CommitMode::Coalesce),
            Raw::Bool(false) => Ok(CommitMode::Off),
            Raw::Word(w) => match w.as_str() {
                "coalesce" => Ok(CommitMode::Coalesce),
                "each" => Ok(CommitMode::Each),
                other => Err(serde::de::Error::custom(format!(
                    "commit: {} is not one of true, false, each, coalesce",
                    crate::core::limits::quote(other)
                ))),
            },
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            commit: CommitMode::Coalesce,
            approvals: Approvals::default(),
            claims: Claims::default(),
            sync: Sync::default(),
            layout: None,
        }
    }
}

impl Config {
    pub const FILE: &'static str = "config.yaml";

    /// Reads the config under `root`, or the defaults when there is none.
    pub fn load(root: &std::path::Path) -> Result<Config> {
        let path = root.join(NEXO_DIR).join(Self::FILE);
        let rel = std::path::Path::new(NEXO_DIR).join(Self::FILE);
        // Never through a link: a planted one could point anywhere.
        match crate::store::nofollow::read(root, &rel)? {
            Some(bytes) => Config::parse(&bytes, &path.display().to_string()),
            None => Ok(Config::default()),
        }
    }

    /// Parses a config's bytes; `place` names it in errors (a path, or
    /// `origin/main:.nexo/config.yaml`).
    pub fn parse(bytes: &[u8], place: &str) -> Result<Config> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| Error::invalid(format!("{place}: not UTF-8")))?;
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        let config: Config = serde_yaml::from_str(text).map_err(|e| {
            Error::invalid(format!(
                "{place}: {e} (valid keys: commit: true|false|each; approvals: {{policy: update|explicit|signed, approvers: [names], self_approval: true|false}}; claims: {{ttl: 30m}}; sync: {{timeout: 30s}}; layout: {}, written by nexo)",
                crate::core::layout::LAYOUT
            ))
        })?;
        config.check(std::path::Path::new(place))?;
        Ok(config)
    }

    /// A strict approval policy with nobody allowed to approve would hold
    /// every gate for ever: refuse it where it is written.
    fn check(&self, path: &std::path::Path) -> Result<()> {
        if let Some(layout) = self.layout
            && layout > crate::core::layout::LAYOUT
        {
            return Err(Error::invalid(format!(
                "{}: layout {layout} is newer than this nexo knows (it reads layouts 1 to {}): upgrade nexo",
                path.display(),
                crate::core::layout::LAYOUT
            ))
            .with_hint("nothing was read or written; a newer nexo keeps runs where this one would not find them"));
        }
        if let Some(ttl) = &self.claims.ttl {
            crate::core::claim::parse_ttl("claims.ttl", ttl)
                .map_err(|e| Error::invalid(format!("{}: {}", path.display(), e.message)))?;
        }
        if let Some(t) = &self.sync.timeout {
            crate::core::claim::parse_ttl("sync.timeout", t)
                .map_err(|e| Error::invalid(format!("{}: {}", path.display(), e.message)))?;
        }
        let a = &self.approvals;
        if a.policy != Policy::Update && a.approvers.iter().all(|n| n.trim().is_empty()) {
            return Err(Error::invalid(format!(
                "{}: approvals.policy is {} but approvals.approvers names nobody",
                path.display(),
                a.policy.as_str()
            ))
            .with_hint("list who may approve, e.g. approvers: [release-manager, oncall-lead]"));
        }
        for name in &a.approvers {
            crate::core::limits::text(
                "approvals.approvers",
                name,
                crate::core::limits::Text::Name,
            )?;
            // ssh-keygen reads a principal as a pattern list: such a name
            // could never verify, so the approver could never decide.
            if a.policy == Policy::Signed && name.contains([',', '*', '?', '!', ' ']) {
                return Err(Error::invalid(format!(
                    "{}: approver {name:?} cannot sign under the signed policy: an allowed-signers principal has no ',', '*', '?', '!' or space",
                    path.display()
                ))
                .with_hint("name approvers as they act, e.g. release-manager"));
            }
        }
        Ok(())
    }
}

/// What nexo adds to `.nexo/config.yaml` when it first writes layout 2.
fn layout_lines() -> String {
    format!(
        "# Written by nexo: runs live in .nexo/runs/<c>/<c>/<RUN_ID>/ (layout {0}). A nexo that\n# refuses this key is older than layout {0}: upgrade it.\nlayout: {0}\n",
        crate::core::layout::LAYOUT
    )
}

impl crate::store::Store {
    /// Records the layout in `.nexo/config.yaml` (creating it, or adding
    /// a line to the user's) unless it is there; returns its path when it
    /// wrote it. Only the key is added: the user's lines stay as they are.
    pub fn ensure_layout_marker(&self) -> Result<Option<String>> {
        if crate::trace::flat_layout() {
            return Ok(None);
        }
        let rel = format!("{NEXO_DIR}/{}", Config::FILE);
        let old = self.read(&rel)?.unwrap_or_default();
        let place = self.abs(&rel).display().to_string();
        if Config::parse(&old, &place)?.layout.is_some() {
            return Ok(None);
        }
        let mut text = old;
        if !text.is_empty() && !text.ends_with(b"\n") {
            text.push(b'\n');
        }
        text.extend_from_slice(layout_lines().as_bytes());
        // A config written in flow style (`{commit: each}`) takes no line
        // added after it: say so rather than write one nexo cannot read.
        Config::parse(&text, &place).map_err(|e| {
            Error::invalid(format!(
                "cannot record the layout in {place}: {}",
                e.message
            ))
            .with_hint(format!(
                "add the line `layout: {}` to it yourself",
                crate::core::layout::LAYOUT
            ))
        })?;
        self.replace(&rel, &text)?;
        Ok(Some(rel))
    }
}
