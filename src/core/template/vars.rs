//! A template's variables: the values callers give, read by each
//! variable's declared type.

use serde_json::Value;

use super::model::{Kind, RawVar};
use crate::core::limits::{self, MAX_STEPS, Text};

/// The most items a list variable may hold: a for_each over it makes that
/// many steps, and a run holds at most [`MAX_STEPS`].
pub const MAX_LIST_ITEMS: usize = MAX_STEPS;

/// A value as a caller gives it: text from the command line (`--var
/// k=v`), JSON from the tool interface (`vars: {"k": ...}`), or a default
/// or example written in the template.
#[derive(Debug, Clone, PartialEq)]
pub enum Given {
    Text(String),
    Json(Value),
}

/// A variable's value, of its declared type.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Text(String),
    Int(i64),
    Bool(bool),
    List(Vec<String>),
}

impl Val {
    /// The value as `{{name}}` puts it in a text: a list's items joined
    /// by ", ".
    pub fn render(&self) -> String {
        match self {
            Val::Text(s) => s.clone(),
            Val::Int(n) => n.to_string(),
            Val::Bool(b) => b.to_string(),
            Val::List(items) => items.join(", "),
        }
    }

    /// The value as the run's `opened` event records it.
    pub fn to_json(&self) -> Value {
        match self {
            Val::Text(s) => Value::String(s.clone()),
            Val::Int(n) => Value::from(*n),
            Val::Bool(b) => Value::Bool(*b),
            Val::List(items) => Value::from(items.clone()),
        }
    }
}

/// How a given value reads in an error: quoted text, or its JSON.
fn shown(given: &Given) -> String {
    match given {
        Given::Text(s) => limits::quote(s).to_string(),
        Given::Json(Value::String(s)) => limits::quote(s).to_string(),
        Given::Json(v) => limits::clip_message(v.to_string()),
    }
}

/// The text of a given value, if it is one (a JSON number reads as its
/// digits).
fn text_of(given: &Given) -> Option<String> {
    match given {
        Given::Text(s) | Given::Json(Value::String(s)) => Some(s.clone()),
        Given::Json(Value::Number(n)) => Some(n.to_string()),
        Given::Json(_) => None,
    }
}

/// `given` read as `decl`'s type, or why it cannot be, in words that
/// follow the value's name ("is \"abc\", not an integer").
pub fn read(decl: &RawVar, given: &Given) -> Result<Val, String> {
    let not = |what: &str| format!("is {}, not {what}", shown(given));
    let val = match decl.kind {
        Kind::String | Kind::OneOf => Val::Text(text_of(given).ok_or_else(|| not("a text"))?),
        Kind::Integer => match given {
            Given::Json(Value::Number(n)) => Val::Int(n.as_i64().ok_or_else(|| not("an integer"))?),
            other => Val::Int(
                text_of(other)
                    .and_then(|s| s.trim().parse().ok())
                    .ok_or_else(|| not("an integer"))?,
            ),
        },
        Kind::Boolean => match given {
            Given::Json(Value::Bool(b)) => Val::Bool(*b),
            other => match text_of(other).as_deref().map(str::trim) {
                Some("true") => Val::Bool(true),
                Some("false") => Val::Bool(false),
                _ => return Err(not("true or false")),
            },
        },
        Kind::List => Val::List(list(given).ok_or_else(|| not("a list"))?),
    };
    check(decl, &val)?;
    Ok(val)
}

/// A list: a JSON array of texts, or a text of items separated by commas
/// (`linux,mac`), each trimmed, empty ones left out.
fn list(given: &Given) -> Option<Vec<String>> {
    match given {
        Given::Json(Value::Array(items)) => items
            .iter()
            .map(|i| text_of(&Given::Json(i.clone())))
            .collect::<Option<Vec<_>>>()
            .map(|v| v.into_iter().map(|s| s.trim().to_string()).collect()),
        other => text_of(other).map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        }),
    }
}

/// What every value of `decl` must meet beyond its type.
fn check(decl: &RawVar, val: &Val) -> Result<(), String> {
    let text = |s: &str, kind: Text| {
        limits::text("value", s, kind)
            .map_err(|e| e.message.trim_start_matches("value ").to_string())
    };
    match val {
        Val::Text(s) if decl.kind == Kind::OneOf && !decl.values.contains(s) => Err(format!(
            "is {}, not one of {}",
            limits::quote(s),
            decl.values.join(", ")
        )),
        Val::Text(s) => text(s, Text::Prose),
        Val::List(items) if items.len() > MAX_LIST_ITEMS => Err(format!(
            "has {} items; a list may hold at most {MAX_LIST_ITEMS}",
            items.len()
        )),
        Val::List(items) => items.iter().try_for_each(|i| text(i, Text::Name)),
        Val::Int(_) | Val::Bool(_) => Ok(()),
    }
}

/// The value a variable takes when a caller gives none and it has no
/// default: empty for the types that have an empty value.
pub fn empty(kind: Kind) -> Option<Val> {
    match kind {
        Kind::String => Some(Val::Text(String::new())),
        Kind::Boolean => Some(Val::Bool(false)),
        Kind::List => Some(Val::List(Vec::new())),
        Kind::Integer | Kind::OneOf => None,
    }
}

/// A value of `decl`'s type for `nexo template check` to expand with:
/// its example, else its default, else one made up for the type (two
/// items for a list, so a for_each's keys are checked too).
pub fn example(decl: &RawVar) -> Given {
    if let Some(v) = decl.example.clone().or_else(|| decl.default.clone()) {
        return Given::Json(v);
    }
    Given::Json(match decl.kind {
        Kind::String => Value::from("example"),
        Kind::Integer => Value::from(1),
        Kind::Boolean => Value::Bool(true),
        Kind::List => Value::from(vec!["a", "b"]),
        Kind::OneOf => Value::from(decl.values.first().cloned().unwrap_or_default()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decl(kind: Kind) -> RawVar {
        RawVar {
            kind,
            values: vec!["stable".into(), "beta".into()],
            ..Default::default()
        }
    }

    #[test]
    fn values_are_read_by_type_from_text_and_json() {
        let t = |s: &str| Given::Text(s.into());
        assert_eq!(read(&decl(Kind::Integer), &t(" 3 ")), Ok(Val::Int(3)));
        assert_eq!(read(&decl(Kind::Boolean), &t("true")), Ok(Val::Bool(true)));
        assert_eq!(
            read(&decl(Kind::List), &t("linux, mac,")),
            Ok(Val::List(vec!["linux".into(), "mac".into()]))
        );
        let j = |v: Value| Given::Json(v);
        assert_eq!(
            read(&decl(Kind::String), &j(serde_json::json!(3.2))),
            Ok(Val::Text("3.2".into()))
        );
        assert_eq!(
            read(&decl(Kind::List), &j(serde_json::json!(["a", "b"]))),
            Ok(Val::List(vec!["a".into(), "b".into()]))
        );
    }

    #[test]
    fn a_wrong_type_says_what_it_got_and_what_was_wanted() {
        let t = |s: &str| Given::Text(s.into());
        assert_eq!(
            read(&decl(Kind::Integer), &t("abc")).unwrap_err(),
            "is \"abc\", not an integer"
        );
        assert_eq!(
            read(&decl(Kind::Boolean), &t("yes")).unwrap_err(),
            "is \"yes\", not true or false"
        );
        assert_eq!(
            read(&decl(Kind::OneOf), &t("nightly")).unwrap_err(),
            "is \"nightly\", not one of stable, beta"
        );
        assert_eq!(
            read(&decl(Kind::String), &Given::Json(Value::Bool(true))).unwrap_err(),
            "is true, not a text"
        );
        let many = Given::Json(Value::from(vec!["x"; MAX_LIST_ITEMS + 1]));
        assert!(
            read(&decl(Kind::List), &many)
                .unwrap_err()
                .contains("at most 1000")
        );
    }
}
