//! Commit messages that git and every remote accept: no NUL (git fsck's
//! `nulInCommit`), no other control characters but the newline, so a
//! hostile value can never reach a commit unescaped even if it got past
//! validation (a peer's history, an older nexo).

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

#[cfg(test)]
mod tests {
    use super::sanitize;

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
