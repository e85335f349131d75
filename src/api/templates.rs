//! The template verbs: a run opened from a template, and `nexo template
//! list | show | check | init`. Templates are read from the working tree
//! (`store::templates`) and expanded by the pure core (`core::template`).

use crate::core::error::{Error, ErrorKind, Result};
use crate::core::event::TemplateRef;
use crate::core::layout::template_rel;
use crate::core::template::{self, Expanded, Source};
use crate::wire::request::OpenRequest;
use crate::wire::templates::*;
use crate::workspace::{Nexo, non_empty};

/// The starters `nexo template init` writes: small, and useful as they
/// are, to be edited into a team's own procedure.
pub const STARTERS: &[(&str, &str)] = &[
    ("release", include_str!("starters/release.yaml")),
    ("migration", include_str!("starters/migration.yaml")),
];

impl Nexo {
    /// Reads template `name` from the working tree.
    fn load_template(&self, name: &str) -> Result<Option<Source>> {
        self.store.read_template(name)
    }

    /// Template `name` expanded with `given`, a missing template told
    /// with the ones there are.
    fn expand_template(&self, name: &str, given: &[(String, template::Given)]) -> Result<Expanded> {
        template::expand(name, &|n| self.load_template(n), given)
            .map_err(|e| self.with_templates(e))
    }

    /// A "no template" error, with the templates there are as its hint.
    fn with_templates(&self, e: Error) -> Error {
        if e.kind != ErrorKind::NotFound || e.hint.is_some() {
            return e;
        }
        let names = self.store.template_names().unwrap_or_default();
        match names.is_empty() {
            true => e.with_hint(
                "this repository has no templates: `nexo template init` writes two starters",
            ),
            false => e.with_hint(format!(
                "its templates: {} (nexo template list)",
                names.join(", ")
            )),
        }
    }

    /// Fills `req` from its template, if it names one: the steps, and the
    /// goal, kind, priority and next action the caller did not give.
    /// Returns what the opening records of the template.
    pub(super) fn expand_into(&self, req: &mut OpenRequest) -> Result<Option<TemplateRef>> {
        let Some(name) = non_empty(req.template.clone()) else {
            if !req.vars.is_empty() {
                return Err(Error::naming(ErrorKind::Invalid, |n| {
                    format!(
                        "{} are a template's variables: name the template with {}",
                        n("vars"),
                        n("template")
                    )
                }));
            }
            return Ok(None);
        };
        if !req.steps.is_empty() {
            return Err(Error::naming(ErrorKind::Invalid, |n| {
                format!(
                    "give {} or {}, not both: the template's steps are the run's (add a step later with an update that gives {})",
                    n("steps"),
                    n("template"),
                    n("step_title")
                )
            }));
        }
        let e = self.expand_template(name.trim(), &req.vars)?;
        if req.goal.trim().is_empty() {
            req.goal = e.goal.clone().unwrap_or_default();
        }
        req.workflow_kind = non_empty(req.workflow_kind.take()).or(e.kind.clone());
        req.priority = req.priority.or(e.priority);
        req.next_action = non_empty(req.next_action.take()).or(e.next_action.clone());
        req.steps = e.steps;
        Ok(Some(TemplateRef {
            name: e.name,
            version: e.version,
            hash: e.hash,
            extends: e.extends,
            vars: e.values,
        }))
    }

    /// Every template here, with what it makes from its example values.
    pub fn template_list(&self) -> Result<TemplateListResponse> {
        let mut templates = Vec::new();
        for name in self.store.template_names()? {
            let checked = template::check(&name, &|n| self.load_template(n));
            templates.push(match checked {
                Ok(e) => TemplateSummary {
                    path: template_rel(&name),
                    description: e.description,
                    version: e.version,
                    vars: e.vars.into_iter().map(|v| v.name).collect(),
                    steps: e.steps.len(),
                    error: None,
                    name,
                },
                Err(err) => TemplateSummary {
                    path: template_rel(&name),
                    description: String::new(),
                    version: String::new(),
                    vars: Vec::new(),
                    steps: 0,
                    error: Some(err.message),
                    name,
                },
            });
        }
        Ok(TemplateListResponse {
            ok: true,
            count: templates.len(),
            templates,
        })
    }

    /// Template `name`: its declaration, and its steps from its example
    /// values (or from `given`).
    pub fn template_show(
        &self,
        name: &str,
        given: &[(String, template::Given)],
    ) -> Result<TemplateShowResponse> {
        let expanded = match given.is_empty() {
            true => template::check(name, &|n| self.load_template(n))
                .map_err(|e| self.with_templates(e))?,
            false => self.expand_template(name, given)?,
        };
        Ok(TemplateShowResponse {
            ok: true,
            path: template_rel(&expanded.name),
            template: expanded,
        })
    }

    /// Each template (or `name` alone) expanded with example values.
    pub fn template_check(&self, name: Option<&str>) -> Result<TemplateCheckResponse> {
        let asked = name.is_some();
        let names = match name {
            Some(n) => vec![n.to_string()],
            None => self.store.template_names()?,
        };
        let mut templates = Vec::new();
        for name in names {
            let checked = template::check(&name, &|n| self.load_template(n))
                .map_err(|e| self.with_templates(e));
            // A template asked for by name that is not there is the
            // caller's mistake, not a verdict on a template.
            if let Err(e) = &checked
                && asked
                && e.kind == ErrorKind::NotFound
            {
                return Err(e.clone());
            }
            templates.push(match checked {
                Ok(e) => TemplateVerdict {
                    name,
                    ok: true,
                    steps: e.steps.len(),
                    error: None,
                },
                Err(e) => TemplateVerdict {
                    name,
                    ok: false,
                    steps: 0,
                    error: Some(e.message),
                },
            });
        }
        Ok(TemplateCheckResponse {
            ok: templates.iter().all(|t| t.ok),
            checked: templates.len(),
            templates,
        })
    }

    /// Writes the starters that are not there yet, and commits them. A
    /// file of that name is the team's own: it is left as it is.
    pub fn template_init(&self) -> Result<TemplateInitResponse> {
        let _lock = self.lock()?;
        let mut fresh = Vec::new();
        let mut kept = Vec::new();
        for (name, text) in STARTERS {
            let rel = template_rel(name);
            match self.store.read(&rel)? {
                Some(_) => kept.push(rel),
                None => fresh.push((rel, *text)),
            }
        }
        let created: Vec<String> = fresh.iter().map(|(rel, _)| rel.clone()).collect();
        if created.is_empty() {
            return Ok(TemplateInitResponse {
                ok: true,
                created,
                kept,
                commit: crate::git::CommitInfo::pending(Some("nothing was written".into())),
            });
        }
        let plan = self.repo.plan_commit(self.options.no_commit)?;
        // Pending before anything is written: a process killed halfway
        // leaves the next command the list to commit.
        self.repo.add_pending(&created)?;
        for (rel, text) in &fresh {
            self.store.create_file(rel, text.as_bytes())?;
        }
        let message = format!("nexo: template init: {}\n", created.join(", "));
        let commit = self.repo.finish(plan, &created, &message)?;
        Ok(TemplateInitResponse {
            ok: true,
            created,
            kept,
            commit,
        })
    }

    /// The names of the templates here, for `prime`.
    pub(super) fn template_names(&self) -> Vec<String> {
        self.store.template_names().unwrap_or_default()
    }
}
