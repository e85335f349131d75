//! `{{var}}` in a template's texts. Substitution is one pass: a value's
//! own braces are kept as they are, so no value can expand again, and the
//! result is cut off at [`MAX_TEXT_BYTES`] however often a long value is
//! repeated.

/// The most bytes a text may grow to while its variables are put in;
/// above every text limit of a run (20,000 characters), so what passes
/// here is then judged by those.
pub const MAX_TEXT_BYTES: usize = 128 * 1024;

/// What is wrong with a text's placeholders: the placeholder as written
/// (to find it in the file) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextError {
    pub raw: String,
    pub why: String,
}

/// The variables named in `text`, each with the placeholder as written
/// (`{{ version }}`), in order.
pub fn names(text: &str) -> Result<Vec<(String, String)>, TextError> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            let raw: String = rest[open..].chars().take(24).collect();
            return Err(TextError {
                raw: "{{".into(),
                why: format!(
                    "{} opens a variable that is never closed with }}}}",
                    crate::core::limits::quote(&raw)
                ),
            });
        };
        let raw = &rest[open..open + 2 + close + 2];
        let name = after[..close].trim();
        if !is_var_name(name) {
            return Err(TextError {
                raw: raw.to_string(),
                why: format!(
                    "{} is not a variable: a name is letters, digits, _ and -, starting with a letter or _",
                    crate::core::limits::quote(raw)
                ),
            });
        }
        out.push((name.to_string(), raw.to_string()));
        rest = &after[close + 2..];
    }
    Ok(out)
}

/// Whether `name` can be a variable's name.
pub fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && name.len() <= 64
}

/// `text` with each `{{name}}` replaced by `value(name)`. The names must
/// have been checked with [`names`]; a name without a value is left as
/// written.
pub fn render(text: &str, value: &dyn Fn(&str) -> Option<String>) -> Result<String, TextError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            break;
        };
        let raw = &rest[open..open + 2 + close + 2];
        match value(after[..close].trim()) {
            Some(v) => out.push_str(&v),
            None => out.push_str(raw),
        }
        if out.len() > MAX_TEXT_BYTES {
            return Err(TextError {
                raw: raw.to_string(),
                why: format!(
                    "the text grows past {MAX_TEXT_BYTES} bytes once its variables are put in"
                ),
            });
        }
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found_with_and_without_spaces() {
        let got = names("Release {{version}} to {{ channel }}").unwrap();
        assert_eq!(
            got,
            vec![
                ("version".into(), "{{version}}".into()),
                ("channel".into(), "{{ channel }}".into())
            ]
        );
        assert!(names("no braces").unwrap().is_empty());
    }

    #[test]
    fn a_bad_or_unclosed_placeholder_is_refused() {
        assert!(
            names("{{.Version}}")
                .unwrap_err()
                .why
                .contains("is not a variable")
        );
        assert!(
            names("a {{version")
                .unwrap_err()
                .why
                .contains("never closed")
        );
    }

    #[test]
    fn substitution_is_one_pass_and_bounded() {
        let v = |n: &str| (n == "x").then(|| "{{x}}".to_string());
        assert_eq!(render("a {{x}} b", &v).unwrap(), "a {{x}} b");
        let long = |_: &str| Some("y".repeat(10_000));
        let text = "{{x}}".repeat(100);
        assert!(render(&text, &long).unwrap_err().why.contains("grows past"));
    }
}
