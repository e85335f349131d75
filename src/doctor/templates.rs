//! `doctor` checks the working tree's templates as opening a run from
//! them would, so a template broken by an edit is named before a run is
//! opened from it. Nothing here is fixable: a template is a person's text.

use std::path::Path;

use crate::core::error::Result;
use crate::core::layout::TEMPLATES_DIR;
use crate::core::template;
use crate::store::templates::EXTENSION;
use crate::workspace::Nexo;

use super::{Problem, ProblemKind};

impl Nexo {
    /// Every entry of `.nexo/templates/` that is meant as a template:
    /// each `<name>.yaml` checked, and a `.yml` (never read) named. Links
    /// are named by `links`. Returns how many templates it checked.
    pub(super) fn check_templates(&self, found: &mut super::found::Found) -> Result<usize> {
        let store = self.store();
        let mut checked = 0;
        // `.nexo/templates` itself as a link is named by `links`.
        let Ok(entries) = store.template_entries() else {
            return Ok(0);
        };
        for (file, link) in entries {
            let rel = format!("{TEMPLATES_DIR}/{file}");
            if link || store.root().join(&rel).is_dir() {
                continue;
            }
            let message = match file.strip_suffix(EXTENSION) {
                Some(name) if template::check_name(name).is_err() => Some(format!(
                    "{rel} is never read: a template's name is a plain name (letters, digits, - _ .)"
                )),
                Some(name) => {
                    checked += 1;
                    template::check(name, &|n| store.read_template(n))
                        .err()
                        .map(|e| e.message)
                }
                None if file.ends_with(".yml") => Some(format!(
                    "{rel} is never read: templates end in .yaml (git mv {rel} {})",
                    Path::new(&rel).with_extension("yaml").display()
                )),
                None => None,
            };
            if let Some(message) = message {
                found.problem(Problem {
                    kind: ProblemKind::Template,
                    line: line_of(&message, &rel),
                    path: rel,
                    message,
                    fixable: false,
                });
            }
        }
        Ok(checked)
    }
}

/// The line a located message (`path:line:column: ...`) names in `rel`.
fn line_of(message: &str, rel: &str) -> Option<usize> {
    let rest = message.strip_prefix(rel)?.strip_prefix(':')?;
    rest.split(':').next()?.parse().ok()
}
