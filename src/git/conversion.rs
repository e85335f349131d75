//! Whether git may convert files between the index and the working tree
//! (line ends, filters, encodings). nexo's own status pass (`status`)
//! hashes files as they are on disk, which is git's answer only when git
//! converts nothing; otherwise git is asked. Read conservatively: a
//! setting that might apply to `.nexo/` sends the question to git, which
//! costs memory at scale but never a wrong answer.

use std::path::PathBuf;

use super::Repo;

/// Attributes that make git convert a file on its way in or out.
const CONVERTING: [&str; 6] = [
    "text",
    "eol",
    "crlf",
    "filter",
    "ident",
    "working-tree-encoding",
];

/// Whether an attributes file's lines set any converting attribute, for
/// any pattern (patterns are not matched: any such line counts).
pub(super) fn converts(text: &[u8]) -> bool {
    String::from_utf8_lossy(text).lines().any(|line| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return false;
        }
        line.split_whitespace().skip(1).any(|attr| {
            let name = attr.trim_start_matches(['-', '!']);
            let name = name.split('=').next().unwrap_or_default();
            CONVERTING.contains(&name)
        })
    })
}

impl Repo {
    /// Whether git's configuration, or an attributes file outside
    /// `.nexo/`, may convert files (those inside are seen by the walk).
    pub(super) fn may_convert(&self) -> bool {
        let config = self.repo.config_snapshot();
        let autocrlf = config.string("core.autocrlf").is_some_and(|v| {
            !matches!(
                v.to_string().to_lowercase().as_str(),
                "false" | "no" | "off" | "0"
            )
        });
        if autocrlf {
            return true;
        }
        let mut files = vec![
            self.workdir.join(".gitattributes"),
            self.repo.common_dir().join("info/attributes"),
        ];
        files.extend(global_attributes(
            config.string("core.attributesFile").map(|v| v.to_string()),
        ));
        files
            .iter()
            .any(|f| std::fs::read(f).is_ok_and(|text| converts(&text)))
    }
}

/// The user's own attributes file: `core.attributesFile`, else git's
/// default under `$XDG_CONFIG_HOME` or `~/.config`.
fn global_attributes(configured: Option<String>) -> Option<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    if let Some(path) = configured {
        return match path.strip_prefix("~/") {
            Some(rest) => home.map(|h| h.join(rest)),
            None => Some(PathBuf::from(path)),
        };
    }
    match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(xdg) => Some(PathBuf::from(xdg).join("git/attributes")),
        None => home.map(|h| h.join(".config/git/attributes")),
    }
}

#[cfg(test)]
mod tests {
    use super::converts;

    #[test]
    fn only_converting_attributes_count() {
        assert!(!converts(crate::store::GITATTRIBUTES.as_bytes()));
        assert!(!converts(b"# * text=auto\n*.png binary merge=union\n"));
        assert!(converts(b"* text=auto\n"));
        assert!(converts(b"*.yaml -text\n"));
        assert!(converts(b"*.yaml eol=crlf\n"));
        assert!(converts(b"x filter=lfs diff=lfs\n"));
        assert!(converts(b"x working-tree-encoding=UTF-16\n"));
    }
}
