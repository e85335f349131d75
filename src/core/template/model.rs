//! A template file as written: the YAML's shape, decoded strictly (an
//! unknown key is an error naming the valid ones). The same types give
//! the JSON Schema editors read (`nexo template schema`), so the format
//! is declared once.

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// A workflow template: a team's procedure, written once in
/// `.nexo/templates/<name>.yaml` and opened with `nexo open --template
/// <name>`. Any text may use `{{var}}`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "nexo workflow template")]
pub struct RawTemplate {
    /// The template's name: its file's name without `.yaml`. Optional;
    /// when given it must be that name.
    #[serde(default)]
    pub name: Option<String>,
    /// What the template is for, in a line (`nexo template list`).
    #[serde(default)]
    pub description: Option<String>,
    /// The template's own version, recorded in every run opened from it.
    #[serde(default)]
    pub version: Option<Version>,
    /// Another template of this repository whose variables and steps this
    /// one adds to, or overrides by key.
    #[serde(default)]
    pub extends: Option<String>,
    /// The run's goal (the caller's goal wins). May use {{var}}.
    #[serde(default)]
    pub goal: Option<String>,
    /// The run's workflow_kind: release, migration, audit, ...
    #[serde(default)]
    pub kind: Option<String>,
    /// The run's priority: low, normal, high or critical.
    #[serde(default)]
    #[schemars(with = "Option<PriorityWord>")]
    pub priority: Option<String>,
    /// The run's first concrete action. May use {{var}}.
    #[serde(default)]
    pub next_action: Option<String>,
    /// The variables a caller gives (`--var name=value`, or `vars` of
    /// nexo_workflow_open), in the order they are listed.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawVar>")]
    pub vars: Vars,
    /// The run's steps, in order.
    #[serde(default)]
    pub steps: Vec<RawStep>,
}

/// How urgent the run is.
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum PriorityWord {
    Low,
    Normal,
    High,
    Critical,
}

/// A template's version: a number or a text, kept as text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Version(pub String);

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(Version(s)),
            Value::Number(n) => Ok(Version(n.to_string())),
            other => Err(serde::de::Error::custom(format!(
                "version is {other}: write a number (3) or a text (\"3.1\")"
            ))),
        }
    }
}

impl JsonSchema for Version {
    fn schema_name() -> Cow<'static, str> {
        "Version".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": ["string", "number"]})
    }
}

/// The variables of a template, in the order they are written.
#[derive(Debug, Clone, Default)]
pub struct Vars(pub Vec<(String, RawVar)>);

impl<'de> Deserialize<'de> for Vars {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Ordered;
        impl<'de> serde::de::Visitor<'de> for Ordered {
            type Value = Vars;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of variable names to their declarations")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Vars, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, RawVar>()? {
                    out.push((k, v));
                }
                Ok(Vars(out))
            }
        }
        d.deserialize_map(Ordered)
    }
}

/// One variable: its type, whether a caller must give it, its default.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawVar {
    /// string (the default), integer, boolean, list (of texts, for
    /// for_each) or one_of (one of `values`).
    #[serde(default, rename = "type")]
    pub kind: Kind,
    /// What the variable means, shown by `nexo template show`.
    #[serde(default)]
    pub description: Option<String>,
    /// A caller must give it (it has no default).
    #[serde(default)]
    pub required: bool,
    /// The value when a caller gives none.
    #[serde(default)]
    pub default: Option<Value>,
    /// With type one_of: the values it may take.
    #[serde(default)]
    pub values: Vec<String>,
    /// A value `nexo template check` expands with when there is no
    /// default.
    #[serde(default)]
    pub example: Option<Value>,
}

/// The type of a variable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    #[default]
    String,
    Integer,
    Boolean,
    List,
    OneOf,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Integer => "integer",
            Kind::Boolean => "boolean",
            Kind::List => "list",
            Kind::OneOf => "one_of",
        }
    }
}

/// One step as written; `for_each` makes several of it.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    /// A plain name: letters, digits, - _ . With for_each, each item is
    /// added to it: build-linux, build-mac.
    pub key: String,
    /// The step's title (default: its key). May use {{var}}, and {{item}}
    /// in a for_each step.
    #[serde(default)]
    pub title: Option<String>,
    /// Keys of the steps that must be completed or skipped first; `build-*`
    /// names every step a for_each step `build` made. May use {{item}}.
    #[serde(default)]
    pub needs: Needs,
    /// The step is an approval gate.
    #[serde(default)]
    pub requires_approval: bool,
    /// Attempts allowed before resume stops offering a retry.
    #[serde(default)]
    pub max_retries: Option<u32>,
    /// How to retry. May use {{var}}.
    #[serde(default)]
    pub retry_policy: Option<String>,
    /// When a retry makes sense. May use {{var}}.
    #[serde(default)]
    pub retry_after: Option<String>,
    /// How to undo this step's work. May use {{var}}.
    #[serde(default)]
    pub compensation: Option<String>,
    /// A boolean variable: the step is in the run only when it is true.
    #[serde(default)]
    pub when: Option<String>,
    /// A list variable: the step is repeated for each of its items, its key
    /// suffixed with the item.
    #[serde(default)]
    pub for_each: Option<String>,
}

/// A step's needs: one key (`needs: build-*`) or a list of them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Needs(pub Vec<String>);

impl<'de> Deserialize<'de> for Needs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        match OneOrMany::deserialize(d) {
            Ok(OneOrMany::One(s)) => Ok(Needs(vec![s])),
            Ok(OneOrMany::Many(v)) => Ok(Needs(v)),
            Err(_) => Err(serde::de::Error::custom(
                "needs must be a step key or a list of them: needs: [build-*, test]",
            )),
        }
    }
}

impl JsonSchema for Needs {
    fn schema_name() -> Cow<'static, str> {
        "Needs".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]})
    }
}

/// The JSON Schema of a template file, for editors (`nexo template
/// schema`, docs/template.schema.json).
pub fn schema() -> Value {
    let settings = schemars::generate::SchemaSettings::draft07();
    let schema = settings
        .into_generator()
        .into_root_schema_for::<RawTemplate>();
    schema.to_value()
}
