//! `verify` checks HEAD's templates as opening a run from them would:
//! a broken template fails the pull request that brings it, before
//! anyone opens a run from it. Read from git's objects, like the runs.

use gix::ObjectId;

use crate::core::error::{Error, Result};
use crate::core::layout::{TEMPLATES_DIR, template_rel};
use crate::core::template::{self, Source};
use crate::core::verify::VerifyProblem;
use crate::git::refs::FileAt;
use crate::store::templates::{EXTENSION, source};
use crate::workspace::Nexo;

impl Nexo {
    /// Checks every `<name>.yaml` in `commit`'s `.nexo/templates/`,
    /// naming each broken one in `problems`; returns how many it checked.
    pub(super) fn verify_templates(
        &self,
        commit: ObjectId,
        problems: &mut Vec<VerifyProblem>,
    ) -> usize {
        match self.repo.file_at(commit, TEMPLATES_DIR) {
            Ok(FileAt::Missing | FileAt::NotAFile("a folder")) => {}
            Ok(FileAt::NotAFile(kind)) => {
                problems.push(VerifyProblem {
                    run_id: None,
                    message: format!(
                        "HEAD:{TEMPLATES_DIR} is {kind}: nexo reads no template through it"
                    ),
                });
                return 0;
            }
            Ok(FileAt::File(..)) => {
                problems.push(VerifyProblem {
                    run_id: None,
                    message: format!(
                        "HEAD:{TEMPLATES_DIR} is a file where a folder of templates belongs"
                    ),
                });
                return 0;
            }
            Err(e) => {
                problems.push(VerifyProblem {
                    run_id: None,
                    message: e.message,
                });
                return 0;
            }
        }
        let names = match self.repo.names_at(commit, TEMPLATES_DIR) {
            Ok(names) => names,
            Err(e) => {
                problems.push(VerifyProblem {
                    run_id: None,
                    message: e.message,
                });
                return 0;
            }
        };
        let load = |name: &str| self.template_at(commit, name);
        let mut checked = 0;
        for (file, kind) in names {
            let Some(name) = file.strip_suffix(EXTENSION) else {
                continue;
            };
            let rel = format!("{TEMPLATES_DIR}/{file}");
            let message = match kind {
                Some(kind) => Some(format!(
                    "HEAD:{rel} is {kind}: a template is a plain file, and nexo reads nothing through anything else"
                )),
                None => {
                    checked += 1;
                    template::check(name, &load).err().map(|e| e.message)
                }
            };
            if let Some(message) = message {
                problems.push(VerifyProblem {
                    run_id: None,
                    message,
                });
            }
        }
        checked
    }

    /// Template `name` as `commit` has it.
    fn template_at(&self, commit: ObjectId, name: &str) -> Result<Option<Source>> {
        let rel = template_rel(name);
        match self.repo.file_at(commit, &rel)? {
            FileAt::Missing => Ok(None),
            FileAt::File(_, bytes) => source(name, format!("HEAD:{rel}"), bytes).map(Some),
            FileAt::NotAFile(kind) => Err(Error::invalid(format!(
                "HEAD:{rel} is {kind}: a template is a plain file"
            ))),
        }
    }
}
