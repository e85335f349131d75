//! The house in layers (docs/architecture.md), held against the code: each
//! room of `src/` may import only the rooms below it. A file in `core/`
//! that imports the store, git, sync, the verbs or an adapter fails this
//! test; so does an adapter that reaches past the verbs into the stores.
//!
//! Imports are read as text (`crate::room`, `nexo::room`), comments and
//! string literals left out, as a reviewer would read them.

use std::collections::BTreeMap;
use std::path::Path;

/// What each room may import besides itself. Rooms are `src/`'s folders
/// and top-level files; the binary's rooms (`cli`, `mcp`, `serve`, `setup`,
/// `demo`, `main`) reach the library as `nexo::`.
fn allowed(room: &str) -> Option<&'static [&'static str]> {
    const VERBS_BELOW: &[&str] = &[
        "core",
        "store",
        "git",
        "index",
        "wire",
        "workspace",
        "trace",
        "memory",
    ];
    // Adapters: the verbs and the shapes they answer in, never below.
    const ADAPTER: &[&str] = &[
        "api",
        "verify",
        "doctor",
        "sync",
        "call",
        "render",
        "wire",
        "core",
        "trace",
        "cli",
        "mcp",
        "serve",
        "setup",
        "demo",
        "Nexo",
        "Options",
        "Error",
        "ErrorKind",
        "Result",
    ];
    Some(match room {
        "trace" | "memory" => &[],
        "core" => &["trace"],
        "store" => &["core", "trace"],
        "git" => &["core", "store", "trace", "memory"],
        "wire" => &["core", "git"],
        "index" => &["core", "store", "wire", "trace", "memory"],
        "workspace" => VERBS_BELOW,
        "sync" => VERBS_BELOW,
        "api" => &[
            "core",
            "store",
            "git",
            "index",
            "wire",
            "workspace",
            "sync",
            "trace",
            "memory",
        ],
        "verify" | "doctor" => VERBS_BELOW,
        "render" => &["core", "wire"],
        "call" => &["api", "core", "wire"],
        "cli" | "mcp" | "serve" | "setup" | "demo" | "main" => ADAPTER,
        _ => return None,
    })
}

/// The room of a file under `src/`.
fn room_of(rel: &str) -> String {
    let rel = rel.trim_start_matches("src/");
    match rel.split_once('/') {
        Some((dir, _)) => dir.to_string(),
        None => rel.trim_end_matches(".rs").to_string(),
    }
}

/// The code of a file without comments and string literals.
fn code_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_str = false;
        let mut escaped = false;
        let mut prev = ' ';
        for c in line.chars() {
            if in_str {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => in_str = false,
                    _ => {}
                }
                continue;
            }
            if c == '/' && prev == '/' {
                out.pop();
                break;
            }
            if c == '"' {
                in_str = true;
            }
            out.push(c);
            prev = c;
        }
        out.push('\n');
    }
    out
}

/// The rooms a path after `crate::` names: one, or each of a group's
/// (`crate::{core::id, store::Store}`).
fn first_segments(rest: &str) -> Vec<String> {
    let word = |t: &str| -> String {
        t.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let Some(group) = rest.strip_prefix('{') else {
        return vec![word(rest)]
            .into_iter()
            .filter(|w| !w.is_empty())
            .collect();
    };
    let (mut depth, mut out, mut start) = (0, Vec::new(), 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                out.push(word(&group[start..i]));
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(word(&group[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    out.into_iter().filter(|w| !w.is_empty()).collect()
}

/// Every import of another room that `rel` makes and may not.
fn forbidden(rel: &str, text: &str) -> Vec<String> {
    let room = room_of(rel);
    let Some(allowed) = allowed(&room) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let code = code_of(text);
    for root in ["crate::", "nexo::"] {
        for (at, _) in code.match_indices(root) {
            let before = code[..at].chars().last().unwrap_or(' ');
            if before.is_alphanumeric() || before == '_' || before == ':' {
                continue;
            }
            // In the binary, `crate::` names its own rooms (`cli`,
            // `mcp`, ...) and `nexo::` the library's: both are rooms.
            for name in first_segments(&code[at + root.len()..]) {
                if name == room || allowed.contains(&name.as_str()) {
                    continue;
                }
                let line = code[..at].matches('\n').count() + 1;
                found.push(format!("{rel}:{line}: {room} imports {root}{name}"));
            }
        }
    }
    found
}

fn sources(dir: &Path, out: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path
                .strip_prefix(env!("CARGO_MANIFEST_DIR"))
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.insert(rel, std::fs::read_to_string(&path).unwrap());
        }
    }
}

#[test]
fn every_room_imports_only_the_rooms_below_it() {
    let mut files = BTreeMap::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    assert!(files.len() > 100, "the sources were found");
    let rooms: std::collections::BTreeSet<String> = files.keys().map(|f| room_of(f)).collect();
    for room in &rooms {
        assert!(
            allowed(room).is_some() || room == "lib",
            "room {room} has no place in the layers: add it to tests/architecture.rs and docs/architecture.md"
        );
    }
    let broken: Vec<String> = files
        .iter()
        .flat_map(|(rel, text)| forbidden(rel, text))
        .collect();
    assert!(
        broken.is_empty(),
        "imports that run against the layers (docs/architecture.md):\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_check_fails_on_a_forbidden_import() {
    let core = "use crate::core::event::Event;\nuse crate::store::Store;\n";
    assert_eq!(
        forbidden("src/core/fold/mod.rs", core),
        ["src/core/fold/mod.rs:2: core imports crate::store"]
    );
    let adapter = "// nexo::git in a comment is fine\nlet r = nexo::git::Repo::discover(p);\n";
    assert_eq!(
        forbidden("src/cli/setup.rs", adapter),
        ["src/cli/setup.rs:2: cli imports nexo::git"]
    );
    let text = "let s = \"crate::api is only text\";\nuse crate::core::id;\n";
    assert!(forbidden("src/store/mod.rs", text).is_empty());
    assert_eq!(
        forbidden("src/index/mod.rs", "use crate::workspace::Nexo;"),
        ["src/index/mod.rs:1: index imports crate::workspace"]
    );
    assert_eq!(
        forbidden(
            "src/core/a.rs",
            "use crate::{core::id, api::{Nexo, Options}};"
        ),
        ["src/core/a.rs:1: core imports crate::api"]
    );
}
