//! A merged template expanded into a run's steps: the callers' values read
//! by each variable's type, `when` and `for_each` applied, `{{var}}` put
//! in, `needs: build-*` resolved, and the graph checked as a run's is.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use serde_json::{Map, Value};

use super::chain::{self, FieldAt, Merged, Parsed, StepAt, VarAt, step_path, var_path};
use super::model::Kind;
use super::vars::{self, Given, Val};
use super::yaml::{self, Seg};
use super::{ITEM, text};
use crate::core::error::{Error, ErrorKind, Result};
use crate::core::event::StepSpec;
use crate::core::limits::{self, MAX_STEPS, Text};
use crate::core::model::{Priority, did_you_mean, validate_name};

/// A template expanded: what a run opened from it starts with, and what
/// `nexo template show` tells about it.
#[derive(Debug, Clone, Serialize)]
pub struct Expanded {
    pub name: String,
    /// The template's own `version` ("" when it has none).
    pub version: String,
    /// SHA-256 of the template file's bytes, then each base's, in hex.
    pub hash: String,
    pub description: String,
    /// The bases it extends, nearest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extends: Vec<String>,
    pub goal: Option<String>,
    pub kind: Option<String>,
    pub priority: Option<Priority>,
    pub next_action: Option<String>,
    /// The variables it declares, in order.
    pub vars: Vec<VarInfo>,
    /// The value each variable took.
    pub values: Map<String, Value>,
    pub steps: Vec<StepSpec>,
}

/// A variable as a template declares it.
#[derive(Debug, Clone, Serialize)]
pub struct VarInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// The chain `files` expanded with `given` (or, with `example`, with
/// each variable's example value).
pub(super) fn expand(
    files: &[Parsed],
    given: &[(String, Given)],
    example: bool,
) -> Result<Expanded> {
    let m = chain::merge(files)?;
    let values = values(files, &m, given, example)?;
    let steps = steps(files, &m, &values)?;
    let look = Lookup {
        values: &values,
        item: None,
    };
    let top = |f: &Option<FieldAt>, field: &str, kind: Text| -> Result<Option<String>> {
        f.as_ref()
            .map(|f| fill(&files[f.file], &[yaml::key(field)], f.text, &look, kind))
            .transpose()
    };
    let priority = match &m.priority {
        Some(f) => Some(
            Priority::parse(f.text)
                .map_err(|e| files[f.file].err(&[yaml::key("priority")], e.message))?,
        ),
        None => None,
    };
    let template = &files[0];
    Ok(Expanded {
        name: template.src.name.clone(),
        version: template.raw.version.clone().unwrap_or_default().0,
        hash: hash(files),
        description: m.description.unwrap_or_default().to_string(),
        extends: files[1..].iter().map(|f| f.src.name.clone()).collect(),
        goal: top(&m.goal, "goal", Text::Line)?,
        kind: top(&m.kind, "kind", Text::Name)?,
        priority,
        next_action: top(&m.next_action, "next_action", Text::Prose)?,
        vars: m.vars.iter().map(info).collect(),
        values: values
            .iter()
            .map(|(k, v)| (k.clone(), v.to_json()))
            .collect(),
        steps,
    })
}

fn info(v: &VarAt) -> VarInfo {
    VarInfo {
        name: v.name.to_string(),
        kind: v.decl.kind.as_str(),
        required: v.decl.required,
        default: v.decl.default.clone(),
        values: v.decl.values.clone(),
        description: v.decl.description.clone().unwrap_or_default(),
    }
}

/// The content hash a run records: SHA-256 over the bytes of the
/// template and of each base, in that order (`cat release.yaml base.yaml
/// | sha256sum`).
fn hash(files: &[Parsed]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for f in files {
        h.update(f.src.text.as_bytes());
    }
    crate::core::id::hex(&h.finalize())
}

/// What `{{name}}` means where a text is filled in.
struct Lookup<'a> {
    values: &'a BTreeMap<String, Val>,
    /// The item of the for_each step being made.
    item: Option<&'a str>,
}

impl Lookup<'_> {
    fn get(&self, name: &str) -> Option<String> {
        match (name, self.item) {
            (ITEM, Some(item)) => Some(item.to_string()),
            _ => self.values.get(name).map(Val::render),
        }
    }
}

/// `text` (the node at `path` of `file`) with its variables put in, and
/// checked as a run's field of `kind`.
fn fill(file: &Parsed, path: &[Seg], text: &str, look: &Lookup, kind: Text) -> Result<String> {
    let names = text::names(text).map_err(|e| file.err_in(path, &e.raw, e.why))?;
    for (name, raw) in &names {
        if look.get(name).is_some() {
            continue;
        }
        let why = match name.as_str() {
            ITEM => "{{item}} is defined only in a step with for_each".to_string(),
            _ => format!(
                "unknown variable {name}{}; {}",
                did_you_mean(name, look.values.keys().map(String::as_str)),
                known(look.values)
            ),
        };
        return Err(file.err_in(path, raw, why));
    }
    let out = text::render(text, &|n| look.get(n)).map_err(|e| file.err_in(path, &e.raw, e.why))?;
    let field = path
        .iter()
        .rev()
        .find_map(|s| match s {
            Seg::Key(k) => Some(k.as_str()),
            Seg::Index(_) => None,
        })
        .unwrap_or("text")
        .to_string();
    limits::text(&field, &out, kind).map_err(|e| file.err(path, e.message))?;
    Ok(out)
}

/// The template's variables, in words.
fn known(values: &BTreeMap<String, Val>) -> String {
    match values.is_empty() {
        true => "the template declares no variables (vars:)".to_string(),
        false => format!(
            "its variables are {}",
            values.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Each variable's value: the caller's, else its default, else (when it
/// is not required) its type's empty value.
fn values(
    files: &[Parsed],
    m: &Merged,
    given: &[(String, Given)],
    example: bool,
) -> Result<BTreeMap<String, Val>> {
    for v in &m.vars {
        declare(&files[v.file], v)?;
    }
    if let Some((name, _)) = given
        .iter()
        .find(|(n, _)| !m.vars.iter().any(|v| v.name == n))
    {
        return Err(unknown_given(&files[0], m, name));
    }
    let mut out = BTreeMap::new();
    for v in &m.vars {
        let file = &files[v.file];
        let at = file.at(&var_path(v.name, None), true);
        let given = given
            .iter()
            .rev()
            .find(|(n, _)| n == v.name)
            .map(|(_, g)| g.clone());
        let given = given.or_else(|| example.then(|| vars::example(v.decl)));
        let val = match (given, &v.decl.default) {
            (Some(g), _) => vars::read(v.decl, &g).map_err(|why| caller_error(at, v.name, why))?,
            (None, Some(d)) => vars::read(v.decl, &Given::Json(d.clone())).map_err(|why| {
                file.err(&var_path(v.name, Some("default")), format!("default {why}"))
            })?,
            (None, None) if v.decl.required => return Err(missing(at, v)),
            (None, None) => vars::empty(v.decl.kind).expect("declare checked it has one"),
        };
        out.insert(v.name.to_string(), val);
    }
    Ok(out)
}

/// What a variable's declaration must meet, whatever a caller gives.
fn declare(file: &Parsed, v: &VarAt) -> Result<()> {
    let (name, d) = (v.name, v.decl);
    let path = |f: Option<&str>| var_path(name, f);
    if !text::is_var_name(name) || name == ITEM {
        return Err(file.err_key(
            &path(None),
            format!(
                "{name:?} cannot name a variable: use letters, digits, _ and -, starting with a letter or _ ({ITEM} is the item of a for_each)"
            ),
        ));
    }
    match (d.kind, d.values.is_empty()) {
        (Kind::OneOf, true) => {
            return Err(file.err(
                &path(None),
                "a one_of variable lists the values it may take: values: [stable, beta]",
            ));
        }
        (Kind::OneOf, false) => {}
        (kind, false) => {
            return Err(file.err(
                &path(Some("values")),
                format!(
                    "values are for a one_of variable; {name} is {}",
                    kind.as_str()
                ),
            ));
        }
        _ => {}
    }
    for value in &d.values {
        limits::text("values", value, Text::Name)
            .map_err(|e| file.err(&path(Some("values")), e.message))?;
    }
    if d.required && d.default.is_some() {
        return Err(file.err(
            &path(Some("required")),
            "a required variable has no default: drop required, or the default",
        ));
    }
    if !d.required && d.default.is_none() && vars::empty(d.kind).is_none() {
        return Err(file.err(
            &path(None),
            format!(
                "a {} variable needs a default, or required: true",
                d.kind.as_str()
            ),
        ));
    }
    for (field, value) in [("default", &d.default), ("example", &d.example)] {
        if let Some(value) = value {
            vars::read(d, &Given::Json(value.clone()))
                .map_err(|why| file.err(&path(Some(field)), format!("{field} {why}")))?;
        }
    }
    Ok(())
}

/// A caller's value that does not fit its variable, named as the caller
/// names it (`vars.retries`, `--var retries`), at the declaration.
fn caller_error(at: String, name: &str, why: String) -> Error {
    let field = format!("vars.{name}");
    Error::naming(ErrorKind::Invalid, move |n| {
        format!("{at}: {} {why}", n(&field))
    })
}

/// A required variable nobody gave.
fn missing(at: String, v: &VarAt) -> Error {
    let name = v.name.to_string();
    let what = match v.decl.description.as_deref() {
        Some(d) if !d.trim().is_empty() => format!(" ({}: {})", v.decl.kind.as_str(), d.trim()),
        _ => format!(" ({})", v.decl.kind.as_str()),
    };
    let field = format!("vars.{name}");
    Error::naming(ErrorKind::Invalid, move |n| {
        format!(
            "{at}: variable {name}{what} is required and was not given: pass {}",
            n(&field)
        )
    })
}

/// A value given for a variable the template does not declare.
fn unknown_given(template: &Parsed, m: &Merged, name: &str) -> Error {
    let at = template.at(&[yaml::key("vars")], true);
    let names: Vec<&str> = m.vars.iter().map(|v| v.name).collect();
    let list = match names.is_empty() {
        true => "it declares no variables".to_string(),
        false => format!("its variables are {}", names.join(", ")),
    };
    let hint = did_you_mean(name, names.iter().copied());
    let (field, template) = (format!("vars.{name}"), template.src.name.clone());
    Error::naming(ErrorKind::Invalid, move |n| {
        format!(
            "{at}: {} names no variable of template {template}{hint}; {list}",
            n(&field)
        )
    })
}

/// A step made from a template step: for_each makes several.
struct Made {
    spec: StepSpec,
    /// Its needs as written (variables put in), each with its place.
    needs: Vec<(String, Vec<Seg>)>,
    /// The template step it was made from: (file, index).
    from: (usize, usize),
}

/// The run's steps: each template step kept, dropped by `when`, or
/// repeated by `for_each`, then their needs resolved and checked.
fn steps(files: &[Parsed], m: &Merged, values: &BTreeMap<String, Val>) -> Result<Vec<StepSpec>> {
    let mut made: Vec<Made> = Vec::new();
    let mut repeated: HashMap<&str, Vec<String>> = HashMap::new();
    let mut dropped: HashSet<&str> = HashSet::new();
    let mut first_of: HashMap<String, (usize, usize)> = HashMap::new();
    for s in &m.steps {
        let file = &files[s.file];
        validate_name("key", &s.step.key)
            .map_err(|e| file.err(&step_path(s.index, "key"), e.message))?;
        if !included(file, s, values)? {
            dropped.insert(&s.step.key);
            continue;
        }
        let items = items(file, s, values, made.len())?;
        for item in items
            .as_deref()
            .map_or(vec![None], |v| v.iter().map(Some).collect())
        {
            let one = make(file, s, item.map(String::as_str), values)?;
            if let Some(&(f, i)) = first_of.get(&one.spec.key) {
                let first = files[f].at(&step_path(i, "key"), false);
                let path = step_path(s.index, if item.is_some() { "for_each" } else { "key" });
                return Err(file.err(
                    &path,
                    format!("two steps have the key {:?} once expanded (the other: {first}): each step needs its own key", one.spec.key),
                ));
            }
            first_of.insert(one.spec.key.clone(), one.from);
            made.push(one);
        }
        if items.is_some() {
            let keys = made
                .iter()
                .filter(|x| x.from == (s.file, s.index))
                .map(|x| x.spec.key.clone());
            repeated.insert(&s.step.key, keys.collect());
        }
    }
    resolve_needs(files, m, &mut made, &repeated, &dropped)?;
    let specs: Vec<StepSpec> = made.iter().map(|x| x.spec.clone()).collect();
    let graph: Vec<(&str, &[String])> = specs
        .iter()
        .map(|s| (s.key.as_str(), s.needs.as_slice()))
        .collect();
    if let Some(cycle) = crate::core::graph::cycle(&graph) {
        let at = made
            .iter()
            .find(|x| x.spec.key == cycle[0])
            .expect("a cycle of made steps")
            .from;
        return Err(files[at.0].err(
            &step_path(at.1, "needs"),
            format!(
                "the steps' needs make a cycle, so none of them could ever be ready: {}",
                cycle.join(" → ")
            ),
        ));
    }
    crate::core::check::steps(&specs)
        .map_err(|e| Error::invalid(format!("{}: {}", files[0].src.place, e.message)))?;
    Ok(specs)
}

/// Whether a step's `when` (a boolean variable) lets it into the run.
fn included(file: &Parsed, s: &StepAt, values: &BTreeMap<String, Val>) -> Result<bool> {
    let Some(when) = &s.step.when else {
        return Ok(true);
    };
    let name = when.trim();
    match values.get(name) {
        Some(Val::Bool(b)) => Ok(*b),
        Some(_) => Err(file.err(
            &step_path(s.index, "when"),
            format!("when takes a boolean variable, and {name} is not one"),
        )),
        None => Err(file.err(
            &step_path(s.index, "when"),
            format!(
                "when names {name:?}, which is not a variable{}; {}",
                did_you_mean(name, values.keys().map(String::as_str)),
                known(values)
            ),
        )),
    }
}

/// The items a `for_each` step is repeated for, if it has one, checked
/// against the most steps a run may have (`so_far` are made already).
fn items(
    file: &Parsed,
    s: &StepAt,
    values: &BTreeMap<String, Val>,
    so_far: usize,
) -> Result<Option<Vec<String>>> {
    let path = step_path(s.index, "for_each");
    let Some(each) = &s.step.for_each else {
        if so_far + 1 > MAX_STEPS {
            return Err(file.err(&step_path(s.index, "key"), too_many(None)));
        }
        return Ok(None);
    };
    let name = each.trim();
    let items = match values.get(name) {
        Some(Val::List(items)) => items.clone(),
        Some(_) => {
            return Err(file.err(
                &path,
                format!("for_each takes a list variable, and {name} is not one"),
            ));
        }
        None => {
            return Err(file.err(
                &path,
                format!(
                    "for_each names {name:?}, which is not a variable{}; {}",
                    did_you_mean(name, values.keys().map(String::as_str)),
                    known(values)
                ),
            ));
        }
    };
    if so_far + items.len() > MAX_STEPS {
        return Err(file.err(&path, too_many(Some((name, items.len())))));
    }
    Ok(Some(items))
}

fn too_many(list: Option<(&str, usize)>) -> String {
    let why = list.map_or(String::new(), |(name, n)| {
        format!(" ({name} has {n} items)")
    });
    format!("the template expands to more than {MAX_STEPS} steps, the most a run may have{why}")
}

/// One step made from template step `s`, for `item` of its for_each.
fn make(
    file: &Parsed,
    s: &StepAt,
    item: Option<&str>,
    values: &BTreeMap<String, Val>,
) -> Result<Made> {
    let step = s.step;
    let key = match item {
        Some(item) => {
            let key = format!("{}-{item}", step.key);
            validate_name("key", &key).map_err(|_| {
                file.err(
                    &step_path(s.index, "for_each"),
                    format!(
                        "item {} makes the key {}, which is not a plain name: items become part of step keys (letters, digits, - _ .)",
                        limits::quote(item),
                        limits::quote(&key)
                    ),
                )
            })?;
            key
        }
        None => step.key.clone(),
    };
    let look = Lookup { values, item };
    let field = |name: &str, text: &Option<String>, kind: Text| -> Result<Option<String>> {
        text.as_ref()
            .map(|t| fill(file, &step_path(s.index, name), t, &look, kind))
            .transpose()
    };
    let title = field("title", &step.title, Text::Line)?.unwrap_or_else(|| key.clone());
    let mut needs = Vec::new();
    for (j, need) in step.needs.0.iter().enumerate() {
        let mut path = step_path(s.index, "needs");
        path.push(Seg::Index(j));
        needs.push((
            fill(file, &path, need, &look, Text::Name)?
                .trim()
                .to_string(),
            path,
        ));
    }
    Ok(Made {
        spec: StepSpec {
            title,
            requires_approval: step.requires_approval,
            max_retries: step.max_retries,
            retry_policy: field("retry_policy", &step.retry_policy, Text::Prose)?,
            retry_after: field("retry_after", &step.retry_after, Text::Name)?,
            compensation: field("compensation", &step.compensation, Text::Prose)?,
            key,
            ..StepSpec::default()
        },
        needs,
        from: (s.file, s.index),
    })
}

/// Each made step's needs as keys of made steps: `build-*` is every step
/// for_each made of `build`; a need on a step `when` left out is dropped
/// (there is nothing to wait for); anything else must be a made step.
fn resolve_needs(
    files: &[Parsed],
    m: &Merged,
    made: &mut [Made],
    repeated: &HashMap<&str, Vec<String>>,
    dropped: &HashSet<&str>,
) -> Result<()> {
    let keys: HashSet<String> = made.iter().map(|x| x.spec.key.clone()).collect();
    let for_each: Vec<&str> = m
        .steps
        .iter()
        .filter(|s| s.step.for_each.is_some())
        .map(|s| s.step.key.as_str())
        .collect();
    for x in made.iter_mut() {
        let file = &files[x.from.0];
        let mut resolved: Vec<String> = Vec::new();
        for (need, path) in &x.needs {
            let found: Vec<String> = match need.strip_suffix("-*") {
                Some(base) if repeated.contains_key(base) => repeated[base].clone(),
                Some(base) if dropped.contains(base) && for_each.contains(&base) => Vec::new(),
                Some(base) => {
                    return Err(file.err(path, format!(
                        "needs {need:?}, but {base} is not a step repeated with for_each (those are: {})",
                        if for_each.is_empty() { "none".to_string() } else { for_each.join(", ") }
                    )));
                }
                None if need.contains('*') => {
                    return Err(file.err(path, format!(
                        "needs {need:?}: * stands only at the end, after a for_each step's key and -, as in build-*"
                    )));
                }
                None if keys.contains(need) => vec![need.clone()],
                None if repeated.contains_key(need.as_str()) => {
                    return Err(file.err(path, format!(
                        "needs {need:?}, a step repeated with for_each: need {need}-* (every one) or one of {}",
                        repeated[need.as_str()].join(", ")
                    )));
                }
                None if dropped.contains(need.as_str()) => Vec::new(),
                None => {
                    let all: Vec<&str> = m.steps.iter().map(|s| s.step.key.as_str()).collect();
                    return Err(file.err(path, format!(
                        "needs {need:?}, which is not a step of the template{}; its steps are {}",
                        did_you_mean(need, keys.iter().map(String::as_str)),
                        all.join(", ")
                    )));
                }
            };
            if found.contains(&x.spec.key) {
                return Err(file.err(path, format!("step {} cannot need itself", x.spec.key)));
            }
            for key in found {
                if !resolved.contains(&key) {
                    resolved.push(key);
                }
            }
        }
        x.spec.needs = resolved;
    }
    Ok(())
}
