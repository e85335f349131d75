//! What the snapshot tests share: a command's whole outcome as one text,
//! and the filters that keep it the same on every machine.

use super::{Repo, stderr, stdout};

/// stdout, stderr and the exit code of `nexo ARGS`, as one text.
pub fn run(repo: &Repo, args: &[&str]) -> String {
    let out = repo.nexo(args);
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        out.status.code().unwrap_or(-1),
        stdout(&out),
        stderr(&out)
    )
}

/// Each command runs with ids and a time of its own, the same on every
/// run (`Repo::deterministic`), so only commit ids and the repository's
/// temporary path are redacted.
pub fn settings(repo: &Repo) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_prepend_module_to_snapshot(false);
    let path = regex_escape(&repo.path().to_string_lossy());
    s.add_filter(&path, "[REPO]");
    s.add_filter(r"\b[0-9a-f]{40}\b", "[COMMIT]");
    s.add_filter(r"committed [0-9a-f]{12}\b", "committed [COMMIT]");
    s
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '.' | '+' | '*' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '|' | '^' | '$' | '\\' => {
                format!("\\{c}")
            }
            c => c.to_string(),
        })
        .collect()
}

/// Asserts the snapshot `$name` of `nexo $args` in `$repo`.
#[macro_export]
macro_rules! snap {
    ($name:expr, $repo:expr, $args:expr) => {{
        let repo = &$repo;
        $crate::common::snap::settings(repo)
            .bind(|| insta::assert_snapshot!($name, $crate::common::snap::run(repo, $args)));
    }};
}
