//! Workflow templates: a team's release, migration or audit written once
//! as `.nexo/templates/<name>.yaml`, and expanded into a run's steps when
//! a run is opened from it (docs/cli.md, "Templates").
//!
//! Pure: the files come in as [`Source`]s, read by the store from disk or
//! by `verify` from git's objects. Every refusal names the file, line and
//! column, and a hostile template (too large, an alias bomb, a list that
//! would make 100,000 steps, an `extends` loop) is refused by a limit
//! documented here and in docs/cli.md.

mod chain;
mod expand;
pub mod model;
pub mod text;
pub mod vars;
pub mod yaml;

#[cfg(test)]
mod tests;

pub use expand::{Expanded, VarInfo};
pub use model::schema;
pub use vars::{Given, MAX_LIST_ITEMS};

use crate::core::error::Result;

/// The largest template file read: far above any procedure a person
/// writes, far below what costs a reader.
pub const MAX_TEMPLATE_BYTES: usize = 256 * 1024;

/// The most YAML nodes a template may hold once its aliases are
/// resolved: a "billion laughs" of anchors is refused at this count,
/// before it costs memory.
pub const MAX_YAML_NODES: usize = 100_000;

/// The longest chain of `extends`: a template, its base, its base's base...
pub const MAX_EXTENDS: usize = 8;

/// The variable a `for_each` step's texts name its item by.
pub const ITEM: &str = "item";

/// One template file's text, and where it was read from.
#[derive(Debug, Clone)]
pub struct Source {
    /// The template's name: the file's name without `.yaml`.
    pub name: String,
    /// Where errors say it is: `.nexo/templates/release.yaml`, or
    /// `HEAD:.nexo/templates/release.yaml` for `verify`.
    pub place: String,
    pub text: String,
}

/// Reads the template of a name: `Ok(None)` when there is none.
pub type Load<'a> = &'a dyn Fn(&str) -> Result<Option<Source>>;

/// Template `name` expanded with the caller's values (`given`, in the
/// order given), the bases it extends read through `load`.
pub fn expand(name: &str, load: Load, given: &[(String, Given)]) -> Result<Expanded> {
    let files = chain::read(name, load)?;
    expand::expand(&files, given, false)
}

/// Template `name` expanded with example values, as `nexo template
/// check`, `verify` and `doctor` judge it: every refusal opening from it
/// could meet, other than those about a caller's values.
pub fn check(name: &str, load: Load) -> Result<Expanded> {
    let files = chain::read(name, load)?;
    expand::expand(&files, &[], true)
}

/// Checks a template's name: a plain name, as its file's.
pub fn check_name(name: &str) -> Result<()> {
    crate::core::model::validate_name("template", name)
}
