//! What the template verbs answer (`nexo template list|show|check|init`).

use serde::Serialize;

use crate::core::template::Expanded;
use crate::git::CommitInfo;

/// `nexo template list`: every template of the repository.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateListResponse {
    pub ok: bool,
    pub count: usize,
    pub templates: Vec<TemplateSummary>,
}

/// One template, in a line.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateSummary {
    pub name: String,
    pub path: String,
    pub description: String,
    pub version: String,
    /// Its variables' names, in order.
    pub vars: Vec<String>,
    /// How many steps it makes with its example values.
    pub steps: usize,
    /// Why it cannot be used, when it cannot (see `nexo template check`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `nexo template show NAME`: a template's declaration, and its steps
/// expanded with its example values.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateShowResponse {
    pub ok: bool,
    pub path: String,
    #[serde(flatten)]
    pub template: Expanded,
}

/// `nexo template check [NAME]`: each template expanded with example
/// values, and what is wrong with those that do not expand.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateCheckResponse {
    /// Every template checked expands.
    pub ok: bool,
    pub checked: usize,
    pub templates: Vec<TemplateVerdict>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TemplateVerdict {
    pub name: String,
    pub ok: bool,
    /// How many steps it makes with its example values.
    pub steps: usize,
    /// What is wrong, at its file, line and column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `nexo template init`: the starters written, and those left alone
/// because a file of that name was there.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateInitResponse {
    pub ok: bool,
    pub created: Vec<String>,
    pub kept: Vec<String>,
    #[serde(flatten)]
    pub commit: CommitInfo,
}
