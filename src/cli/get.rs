//! `nexo get`: a run's full state.

use serde_json::Value;

use super::{Ctx, RunArg, checkpoint_lines};
use nexo::core::error::Result;
use nexo::core::words::{cell, column, one_line};
use nexo::wire::request::GetRequest;
use nexo::wire::response::{GetResponse, StepOut};

#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  nexo get WF-7K2D --checkpoints 3")]
pub struct Args {
    #[command(flatten)]
    pub run: RunArg,
    /// Leave the steps out.
    #[arg(long)]
    pub no_steps: bool,
    /// How many recent checkpoints to show.
    #[arg(long, default_value_t = 8)]
    pub checkpoints: usize,
}

pub fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    let r = ctx.nexo()?.get(GetRequest {
        run_id: a.run.run.clone(),
        include_steps: Some(!a.no_steps),
        checkpoint_limit: Some(a.checkpoints),
    })?;
    ctx.emit(&r, || render_get(&r))
}

/// The steps, one a line, the current one marked, in columns a long key
/// cannot push out of line.
fn step_lines(steps: &[StepOut], current: Option<&str>) -> String {
    let key = column(steps.iter().map(|o| o.step.step_key.as_str()), 4, 24);
    let mut s = String::new();
    for out in steps {
        let st = &out.step;
        let marker = if current == Some(st.step_key.as_str()) {
            ">"
        } else {
            " "
        };
        let mut line = format!(
            "{marker} {}  {:<16} {}",
            cell(&st.step_key, key),
            st.status.as_str(),
            one_line(&st.title)
        );
        if let Some(attempts) = nexo::render::attempts(st) {
            line.push_str(&format!("  (attempt {attempts})"));
        }
        if let Some(gate) = nexo::render::text::gate(st) {
            line.push_str(&format!("  [{gate}]"));
        }
        s.push_str(&line);
        s.push('\n');
    }
    s
}

pub fn render_get(r: &GetResponse) -> String {
    let run = &r.run;
    let mut s = format!("{}  {}\n", run.run_id, run.goal);
    s.push_str(&format!(
        "kind: {}   status: {}   priority: {}   owner: {}\n",
        run.workflow_kind,
        run.status,
        run.priority,
        nexo::core::words::who(&run.owner)
    ));
    s.push_str(&format!(
        "opened {}   updated {}\n",
        run.opened_at, run.updated_at
    ));
    match &run.steps {
        Some(steps) if steps.is_empty() => s.push_str("steps: none\n"),
        Some(steps) => {
            s.push_str("steps:\n");
            s.push_str(&step_lines(steps, run.current_step_key.as_deref()));
        }
        None => {}
    }
    if !run.next_action.is_empty() && !run.status.is_finished() {
        s.push_str(&format!("next action: {}\n", run.next_action));
    }
    s.push_str(&format!("resume: {} — {}\n", r.resume_state, r.message));
    if !run.shared_state.is_empty() {
        s.push_str(&format!(
            "shared state: {}\n",
            Value::Object(run.shared_state.clone())
        ));
    }
    if let Some(e) = &r.elsewhere {
        s.push_str(&super::elsewhere_line(&run.run_id, e));
    }
    if !r.checkpoints.is_empty() {
        s.push_str("recent checkpoints:\n");
        s.push_str(&checkpoint_lines(&r.checkpoints, "  "));
    }
    s
}
