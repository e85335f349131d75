//! Reading the JSON that callers actually send.
//!
//! The seed's commands put raw line breaks inside JSON strings (the `steps`
//! string spans several lines), which strict JSON forbids. We accept raw
//! control characters *inside strings* by escaping them before parsing;
//! everything else stays strict, so malformed input is still refused.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::core::error::{Error, Result};

/// Escapes raw control characters that appear inside JSON string literals.
fn escape_controls_in_strings(input: &str) -> std::borrow::Cow<'_, str> {
    if !input.bytes().any(|b| b < 0x20) {
        return input.into();
    }
    let mut out = String::with_capacity(input.len() + 16);
    let mut in_string = false;
    let mut escaped = false;
    for c in input.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            } else if (c as u32) < 0x20 {
                match c {
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    other => out.push_str(&format!("\\u{:04x}", other as u32)),
                }
                continue;
            }
        } else if c == '"' {
            in_string = true;
        }
        out.push(c);
    }
    out.into()
}

/// Parses caller JSON, tolerating raw line breaks and tabs inside strings.
/// `what` names the input in error messages.
pub fn parse_lenient(input: &str, what: &str) -> Result<Value> {
    let text = escape_controls_in_strings(input);
    serde_json::from_str(&text).map_err(|e| {
        Error::invalid(format!(
            "{what} is not valid JSON: {e} (expected a JSON {})",
            if what.contains("steps") {
                "array"
            } else {
                "object"
            }
        ))
    })
}

/// Deserializes a field that the original sent as a JSON-encoded string and
/// that newer callers send as a real value: both are accepted.
pub fn value_or_encoded<T: DeserializeOwned>(value: Value, field: &str) -> Result<T> {
    let value = match value {
        Value::String(s) => parse_lenient(&s, field)?,
        other => other,
    };
    serde_json::from_value(value)
        .map_err(|e| Error::invalid(crate::core::limits::clip_message(format!("{field}: {e}"))))
}

/// Serializes an absent value as `""`, as the original runtime's answers
/// give it (its columns default to empty text, not NULL).
pub fn none_as_empty<S, T>(value: &Option<T>, s: S) -> std::result::Result<S::Ok, S::Error>
where
    S: serde::Serializer,
    T: serde::Serialize,
{
    match value {
        Some(v) => v.serialize(s),
        None => s.serialize_str(""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_newlines_inside_strings_are_accepted() {
        let v = parse_lenient("{\n\"a\":\"x\ny\",\n\"b\":\"t\tz\"}", "input").unwrap();
        assert_eq!(v["a"], "x\ny");
        assert_eq!(v["b"], "t\tz");
    }

    #[test]
    fn escaped_quotes_do_not_confuse_the_scanner() {
        let v = parse_lenient("{\"a\":\"say \\\"hi\\\"\nthere\"}", "input").unwrap();
        assert_eq!(v["a"], "say \"hi\"\nthere");
    }

    #[test]
    fn malformed_json_is_still_refused() {
        let err = parse_lenient("{\"a\": }", "--input").unwrap_err();
        assert!(
            err.message.starts_with("--input is not valid JSON"),
            "{err}"
        );
        assert!(parse_lenient("{'a': 1}", "x").is_err());
    }
}
