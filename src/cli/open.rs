//! `nexo open`: a new run.

use super::{Ctx, commit_line, json_arg};
use nexo::core::error::{Error, Result};
use nexo::core::event::StepSpec;
use nexo::core::limits::quote;
use nexo::core::model::{Priority, key_from_title, validate_name};
use nexo::core::template::Given;
use nexo::core::words::count;
use nexo::wire::request::OpenRequest;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  nexo open \"Prepare and publish v3.1.1\" --step doctor:\"Run release readiness checks\" --step publish:\"Publish release\" --next \"Run doctor.\"\n  nexo open --template release --var version=3.2 --var platforms=linux,mac   # steps from .nexo/templates/release.yaml"
)]
pub struct Args {
    /// What the run should achieve (a template may give it).
    pub goal: Option<String>,
    /// Open the run from .nexo/templates/NAME.yaml: its steps, and its goal, kind and next action where not given (see `nexo template list`).
    #[arg(long, short = 't', value_name = "NAME", conflicts_with_all = ["steps", "needs"])]
    pub template: Option<String>,
    /// A value for one of the template's variables, as NAME=VALUE; repeat per variable. A list is comma-separated (platforms=linux,mac).
    #[arg(long = "var", value_name = "NAME=VALUE", requires = "template")]
    pub vars: Vec<String>,
    /// A step as KEY or KEY:TITLE; repeat in order.
    #[arg(long = "step", short = 's', value_name = "KEY[:TITLE]")]
    pub steps: Vec<String>,
    /// What a step needs done first, as STEP=DEP[,DEP]; repeat per step. A run with needs is
    /// a graph: steps whose needs are done can run side by side (see `nexo ready`).
    #[arg(long = "needs", value_name = "STEP=DEP[,DEP]")]
    pub needs: Vec<String>,
    /// Who owns the run (a client, agent or person).
    #[arg(long)]
    pub owner: Option<String>,
    /// low, normal, high or critical (default normal).
    #[arg(long)]
    pub priority: Option<Priority>,
    /// The kind of work (release, migration, audit, ...).
    #[arg(long = "kind")]
    pub workflow_kind: Option<String>,
    /// The first concrete action.
    #[arg(long)]
    pub next: Option<String>,
    /// The session id (default: $NEXO_SESSION_ID, else "cli").
    #[arg(long)]
    pub sid: Option<String>,
    /// Reuse the open run with this key (and session) instead of opening another.
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// Initial shared state as a JSON object.
    #[arg(long, value_name = "JSON")]
    pub state: Option<String>,
    /// The open goal this run serves (a goal id or unique prefix; see `nexo goal list`).
    #[arg(long = "goal", value_name = "GOAL")]
    pub goal_id: Option<String>,
    /// The caller's task id in its own protocol, stored and shown (nexo does not check it).
    #[arg(long, value_name = "ID")]
    pub protocol_task: Option<String>,
}

/// One `--step KEY[:TITLE]` value (the `i`th). A key that is not a plain
/// name is refused in the flag's own terms, with the value to type
/// instead: a newcomer's `-s "build it"` meant a title. No title, or an
/// empty one (`-s build:`), is the key.
fn step(given: &str, i: usize) -> Result<StepSpec> {
    let (key, title) = given.split_once(':').unwrap_or((given, ""));
    let (key, title) = (key.trim(), title.trim());
    let title = if title.is_empty() { key } else { title };
    if let Err(e) = validate_name("key", key) {
        let suggested = key_from_title(if key.is_empty() { title } else { key }, i + 1);
        return Err(Error::invalid(format!(
            "--step {}: a step is KEY or KEY:TITLE, and its key {}",
            quote(given),
            e.message.trim_start_matches("key ")
        ))
        .with_hint(format!("--step {suggested}:{}", quote(title))));
    }
    Ok(StepSpec {
        key: key.to_string(),
        title: title.to_string(),
        ..Default::default()
    })
}

pub fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    let n = ctx.nexo()?;
    let mut steps: Vec<StepSpec> = a
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| step(s, i))
        .collect::<Result<_>>()?;
    for given in &a.needs {
        let (key, deps) = given.split_once('=').ok_or_else(|| {
            Error::invalid(format!(
                "--needs {}: write STEP=DEP[,DEP], e.g. --needs publish=build-linux,build-mac",
                quote(given)
            ))
        })?;
        let step = steps
            .iter_mut()
            .find(|s| s.key == key.trim())
            .ok_or_else(|| {
                Error::invalid(format!(
                    "--needs {}: '{}' is not one of the --step keys",
                    quote(given),
                    key.trim()
                ))
            })?;
        step.needs.extend(super::list_arg(deps));
    }
    let req = OpenRequest {
        sid: a
            .sid
            .clone()
            .or_else(|| ctx.options().session)
            .unwrap_or_else(|| "cli".into()),
        goal: a.goal.clone().unwrap_or_default(),
        owner: a.owner.clone(),
        priority: a.priority,
        workflow_kind: a.workflow_kind.clone(),
        steps,
        next_action: a.next.clone(),
        shared_state: json_arg(a.state.as_deref(), "--state")?,
        idempotency_key: a.idempotency_key.clone(),
        goal_id: a.goal_id.clone(),
        protocol_task_id: a.protocol_task.clone(),
        actor: ctx.actor.clone(),
        template: a.template.clone(),
        vars: var_args(&a.vars)?,
        warnings: Vec::new(),
    };
    let r = n.open(req)?;
    ctx.emit(&r, || {
        let verb = if r.reused_existing {
            "Reused"
        } else {
            "Opened"
        };
        let from = match &r.template {
            Some(t) if t.version.is_empty() => format!(" from template {}", t.name),
            Some(t) => format!(" from template {} version {}", t.name, t.version),
            None => String::new(),
        };
        let mut s = format!(
            "{verb} {} ({}, {}){from}\n",
            r.run_id,
            r.status,
            count(r.step_count, "step")
        );
        for (k, t) in r.step_keys.iter().zip(&r.steps) {
            s.push_str(&format!("  - {k}: {t}\n"));
        }
        if !r.next_action.is_empty() {
            s.push_str(&format!("Next: {}\n", r.next_action));
        }
        s + &commit_line(&r.commit)
    })
}

/// `--var NAME=VALUE` flags, in order, as a template's given values.
pub fn var_args(given: &[String]) -> Result<Vec<(String, Given)>> {
    given
        .iter()
        .map(|v| match v.split_once('=') {
            Some((name, value)) => Ok((name.trim().to_string(), Given::Text(value.to_string()))),
            None => Err(nexo::core::error::Error::invalid(format!(
                "--var {}: write NAME=VALUE, e.g. --var version=3.2",
                nexo::core::limits::quote(v)
            ))),
        })
        .collect()
}
