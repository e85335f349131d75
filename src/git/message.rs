//! Commit messages that git and every remote accept: no NUL (git fsck's
//! `nulInCommit`), no other control characters but the newline, so a
//! hostile value can never reach a commit unescaped even if it got past
//! validation (a peer's history, an older nexo).

use crate::core::words::{clip, count, one_line, runs_and_goals};

/// `message` with every control character other than `\n` written as a
/// visible escape (`\u{1b}`), tabs as a space.
pub fn sanitize(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for c in message.chars() {
        match c {
            '\n' => out.push('\n'),
            '\t' => out.push(' '),
            c if c.is_control() => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    out
}

/// The longest subject nexo writes, as git's own advice has it.
pub const SUBJECT_MAX: usize = 72;

/// A commit message for one change to record `id`: the change as the
/// subject (cut to 72 characters), in full as the body's one line, then
/// the trailers. Coalescing reads the lines back (`coalesce`).
pub fn single(id: &str, change: &str, trailers: &[String]) -> String {
    let line = one_line(&format!("{id} {change}"));
    format!(
        "{}\n\n- {line}\n\n{}\n",
        subject(&format!("nexo: {line}")),
        trailers.join("\n")
    )
}

/// Whether `message` is one nexo wrote: it carries nexo's trailers.
pub fn is_nexos(message: &str) -> bool {
    message.lines().any(|l| {
        ["Nexo-Event: ", "Nexo-Run: ", "Nexo-Goal: "]
            .iter()
            .any(|t| l.starts_with(t))
    })
}

/// One message for a commit that replaces `previous` (nexo's own) with
/// `previous`'s changes and `next`'s: a subject that counts them, a body
/// line per change, every trailer once.
pub fn coalesce(previous: &str, next: &str) -> String {
    let (mut changes, mut trailers) = parse(previous);
    let (more, more_trailers) = parse(next);
    changes.extend(more);
    for t in more_trailers {
        if !trailers.contains(&t) {
            trailers.push(t);
        }
    }
    // Records first, then events: the order git shows trailers in.
    trailers.sort_by_key(|t| !t.starts_with("Nexo-Run: ") && !t.starts_with("Nexo-Goal: "));
    let records: Vec<&str> = trailers
        .iter()
        .filter_map(|t| {
            t.strip_prefix("Nexo-Run: ")
                .or_else(|| t.strip_prefix("Nexo-Goal: "))
        })
        .collect();
    let what = match records.as_slice() {
        [one] => one.to_string(),
        many => runs_and_goals(many.iter().copied()),
    };
    let head = subject(&format!(
        "nexo: {} to {what}",
        count(changes.len(), "change")
    ));
    let body: Vec<String> = changes.iter().map(|c| format!("- {c}")).collect();
    format!("{head}\n\n{}\n\n{}\n", body.join("\n"), trailers.join("\n"))
}

/// The change lines and the trailers of a nexo message. One without
/// change lines (an older nexo's, a crash recovery's) is its subject.
fn parse(message: &str) -> (Vec<String>, Vec<String>) {
    let mut changes = Vec::new();
    let mut trailers = Vec::new();
    let mut lines = message.lines();
    let subject = lines
        .next()
        .unwrap_or("")
        .trim_start_matches("nexo: ")
        .to_string();
    for l in lines {
        if let Some(c) = l.strip_prefix("- ") {
            changes.push(c.to_string());
        } else if l.starts_with("Nexo-") && l.contains(": ") {
            trailers.push(l.to_string());
        }
    }
    if changes.is_empty() {
        changes.push(subject);
    }
    (changes, trailers)
}

/// `text` cut to the subject's length, with an ellipsis.
fn subject(text: &str) -> String {
    clip(text, SUBJECT_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_change_has_its_line_and_trailers() {
        let m = single(
            "WF-A",
            "publish → completed: smoke test clean",
            &["Nexo-Run: WF-A".into(), "Nexo-Event: E1".into()],
        );
        assert_eq!(
            m,
            "nexo: WF-A publish → completed: smoke test clean\n\n- WF-A publish → completed: smoke test clean\n\nNexo-Run: WF-A\nNexo-Event: E1\n"
        );
        assert!(is_nexos(&m));
        assert!(!is_nexos("fix the build\n\nSigned-off-by: x"));
    }

    #[test]
    fn subjects_stay_within_72_characters() {
        let m = single("WF-A", &"x".repeat(200), &[]);
        let subject = m.lines().next().unwrap();
        assert_eq!(subject.chars().count(), 72);
        assert!(subject.ends_with('…'));
        assert!(m.contains(&"x".repeat(200)), "the body keeps it whole");
    }

    #[test]
    fn coalescing_counts_changes_and_keeps_every_line_and_trailer() {
        let a = single(
            "WF-A",
            "doctor → completed",
            &["Nexo-Run: WF-A".into(), "Nexo-Event: E1".into()],
        );
        let b = single(
            "WF-A",
            "package → completed",
            &["Nexo-Run: WF-A".into(), "Nexo-Event: E2".into()],
        );
        let c = single(
            "WG-B",
            "goal updated",
            &["Nexo-Goal: WG-B".into(), "Nexo-Event: E3".into()],
        );
        let ab = coalesce(&a, &b);
        assert!(ab.starts_with("nexo: 2 changes to WF-A\n\n- WF-A doctor → completed\n- WF-A package → completed\n\n"), "{ab}");
        assert!(
            ab.ends_with("Nexo-Run: WF-A\nNexo-Event: E1\nNexo-Event: E2\n"),
            "{ab}"
        );
        let abc = coalesce(&ab, &c);
        assert!(
            abc.starts_with("nexo: 3 changes to 1 run and 1 goal"),
            "{abc}"
        );
        assert!(
            abc.contains("Nexo-Goal: WG-B\nNexo-Event: E1"),
            "records before events: {abc}"
        );
    }

    #[test]
    fn an_older_message_without_change_lines_reads_as_its_subject() {
        let old = "nexo: WF-A doctor → completed\n\nNexo-Run: WF-A\nNexo-Event: E1\n";
        let new = single(
            "WF-A",
            "package → completed",
            &["Nexo-Run: WF-A".into(), "Nexo-Event: E2".into()],
        );
        assert!(
            coalesce(old, &new).contains("- WF-A doctor → completed\n- WF-A package → completed")
        );
    }

    #[test]
    fn control_characters_are_escaped_and_newlines_kept() {
        assert_eq!(
            sanitize("a\u{0}b\nc\u{1b}[31m\td"),
            "a\\u{0}b\nc\\u{1b}[31m d"
        );
        assert_eq!(sanitize("plain → text"), "plain → text");
        assert_eq!(sanitize("cr\r\n"), "cr\\u{d}\n");
    }
}
