//! A template and the bases it `extends`, read in order and merged: a
//! base's variables and steps first, each later file adding to them or
//! overriding one by its name or key.

use std::collections::HashMap;

use super::model::{RawStep, RawTemplate, RawVar};
use super::yaml::{self, Loc, Seg};
use super::{Load, MAX_EXTENDS, Source};
use crate::core::error::{Error, Result};

/// One file of a template's chain, parsed.
pub(super) struct Parsed {
    pub src: Source,
    pub raw: RawTemplate,
}

impl Parsed {
    /// Where the node at `path` is (its key with `at_key`); the file's
    /// start when it cannot be found.
    pub fn loc(&self, path: &[Seg], at_key: bool) -> Loc {
        // A node that is not there (a list written as one value) is
        // placed at its nearest parent that is.
        (0..=path.len())
            .rev()
            .find_map(|n| yaml::locate(&self.src.text, &path[..n], at_key && n == path.len()))
            .unwrap_or(Loc { line: 1, column: 1 })
    }

    /// `place:line:column` of the node at `path`.
    pub fn at(&self, path: &[Seg], at_key: bool) -> String {
        yaml::where_(&self.src.place, self.loc(path, at_key))
    }

    /// An error at the node at `path`.
    pub fn err(&self, path: &[Seg], message: impl std::fmt::Display) -> Error {
        yaml::at(&self.src.place, self.loc(path, false), message)
    }

    /// An error at the key of the node at `path`.
    pub fn err_key(&self, path: &[Seg], message: impl std::fmt::Display) -> Error {
        yaml::at(&self.src.place, self.loc(path, true), message)
    }

    /// Where `needle` is written in the node at `path`.
    pub fn err_in(&self, path: &[Seg], needle: &str, message: impl std::fmt::Display) -> Error {
        let loc = yaml::find_after(&self.src.text, self.loc(path, false), needle);
        yaml::at(&self.src.place, loc, message)
    }
}

/// `steps[i]`, then `field`.
pub(super) fn step_path(i: usize, field: &str) -> Vec<Seg> {
    vec![yaml::key("steps"), Seg::Index(i), yaml::key(field)]
}

/// `vars.<name>`, then `field` when given.
pub(super) fn var_path(name: &str, field: Option<&str>) -> Vec<Seg> {
    let mut p = vec![yaml::key("vars"), yaml::key(name)];
    p.extend(field.map(yaml::key));
    p
}

/// Template `name`, then each base it extends, in that order.
pub(super) fn read(name: &str, load: Load) -> Result<Vec<Parsed>> {
    super::check_name(name)?;
    let mut files: Vec<Parsed> = Vec::new();
    let mut next = name.to_string();
    loop {
        let referrer = files.last();
        let extends = || vec![yaml::key("extends")];
        if let Some(at) = files.iter().position(|f| f.src.name == next) {
            let mut names: Vec<&str> = files[at..].iter().map(|f| f.src.name.as_str()).collect();
            names.push(&next);
            let r = referrer.expect("a loop has a referrer");
            return Err(r.err(
                &extends(),
                format!("extends makes a loop: {}", names.join(" → ")),
            ));
        }
        if files.len() > MAX_EXTENDS {
            let r = referrer.expect("a chain has a referrer");
            return Err(r.err(
                &extends(),
                format!("extends goes more than {MAX_EXTENDS} templates deep"),
            ));
        }
        if let Some(r) = referrer {
            super::check_name(&next).map_err(|e| r.err(&extends(), e.message))?;
        }
        let src = match (load(&next)?, referrer) {
            (Some(src), _) => src,
            (None, None) => {
                return Err(Error::not_found(format!(
                    "no template {next}: {} does not exist",
                    crate::core::layout::template_rel(&next)
                )));
            }
            (None, Some(r)) => {
                return Err(r.err(
                    &extends(),
                    format!(
                        "extends {next}, which is not a template here ({} does not exist)",
                        crate::core::layout::template_rel(&next)
                    ),
                ));
            }
        };
        let file = parsed(src)?;
        let base = file.raw.extends.clone();
        files.push(file);
        match base {
            Some(base) => next = base.trim().to_string(),
            None => return Ok(files),
        }
    }
}

/// One file parsed, its declared name checked against its file's.
fn parsed(src: Source) -> Result<Parsed> {
    let raw = yaml::parse(&src)?;
    let file = Parsed { src, raw };
    if let Some(name) = &file.raw.name
        && *name != file.src.name
    {
        return Err(file.err(
            &[yaml::key("name")],
            format!(
                "name is {name:?}, but the file is {}: a template is named by its file",
                crate::core::layout::template_rel(&file.src.name)
            ),
        ));
    }
    Ok(file)
}

/// A variable of the merged template, and the file that declared it.
pub(super) struct VarAt<'a> {
    pub name: &'a str,
    pub decl: &'a RawVar,
    pub file: usize,
}

/// A step of the merged template: where it is written (file, index).
pub(super) struct StepAt<'a> {
    pub step: &'a RawStep,
    pub file: usize,
    pub index: usize,
}

/// A text field of the merged template, and the file it is from.
pub(super) struct FieldAt<'a> {
    pub text: &'a str,
    pub file: usize,
}

/// The chain merged: each later file (nearer the template) overrides
/// its base's variables by name and steps by key, in place, and adds
/// the others after them.
pub(super) struct Merged<'a> {
    pub vars: Vec<VarAt<'a>>,
    pub steps: Vec<StepAt<'a>>,
    pub goal: Option<FieldAt<'a>>,
    pub next_action: Option<FieldAt<'a>>,
    pub kind: Option<FieldAt<'a>>,
    pub priority: Option<FieldAt<'a>>,
    pub description: Option<&'a str>,
}

pub(super) fn merge<'a>(files: &'a [Parsed]) -> Result<Merged<'a>> {
    let mut m = Merged {
        vars: Vec::new(),
        steps: Vec::new(),
        goal: None,
        next_action: None,
        kind: None,
        priority: None,
        description: None,
    };
    for (file, parsed) in files.iter().enumerate().rev() {
        let raw = &parsed.raw;
        let field = |t: &'a Option<String>| t.as_deref().map(|text| FieldAt { text, file });
        m.goal = field(&raw.goal).or(m.goal);
        m.next_action = field(&raw.next_action).or(m.next_action);
        m.kind = field(&raw.kind).or(m.kind);
        m.priority = field(&raw.priority).or(m.priority);
        m.description = raw.description.as_deref().or(m.description);
        for (name, decl) in &raw.vars.0 {
            let var = VarAt { name, decl, file };
            match m.vars.iter().position(|v| v.name == name) {
                Some(i) => m.vars[i] = var,
                None => m.vars.push(var),
            }
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (index, step) in raw.steps.iter().enumerate() {
            if let Some(first) = seen.insert(&step.key, index) {
                let at = parsed.at(&step_path(first, "key"), false);
                return Err(parsed.err(
                    &step_path(index, "key"),
                    format!(
                        "step key {:?} is written twice in this file (first at {at})",
                        step.key
                    ),
                ));
            }
            let at = StepAt { step, file, index };
            match m.steps.iter().position(|s| s.step.key == step.key) {
                Some(i) => m.steps[i] = at,
                None => m.steps.push(at),
            }
        }
    }
    Ok(m)
}
