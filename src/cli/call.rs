//! `nexo call <tool> --input <json>`: the original runtime's interface.

use std::io::Read;

use serde_json::Value;

use super::Ctx;
use nexo::call;
use nexo::core::error::{Error, Result};
use nexo::wire::json::parse_lenient;

/// The help's list of tools, from their one declaration (`call::Tool`).
pub fn after_help() -> String {
    let tools: Vec<&str> = call::Tool::ALL.iter().map(|t| t.name()).collect();
    format!(
        "Tools: {}.\nExample:\n  nexo call nexo_workflow_resume --input '{{\"run_id\":\"WF-7K2D\"}}'\n\
         Prints exactly one JSON object; on failure {{\"ok\": false, \"error\": \"...\"}} and a non-zero exit.",
        tools.join(", ")
    )
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The tool's name, e.g. nexo_workflow_open.
    pub tool: String,
    /// The input object as JSON; `-` reads it from standard input.
    #[arg(long, short = 'i', value_name = "JSON")]
    pub input: Option<String>,
}

pub fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    if !call::is_tool(&a.tool) {
        return Err(call::unknown_tool(&a.tool));
    }
    let text = match a.input.as_deref() {
        Some("-") => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).map_err(|e| {
                Error::invalid(format!("cannot read --input from standard input: {e}"))
            })?;
            s
        }
        Some(s) => s.to_string(),
        None => String::new(),
    };
    let value = if text.trim().is_empty() {
        Value::Null
    } else {
        parse_lenient(&text, "--input")?
    };
    let out = call::call(&ctx.nexo()?, &a.tool, value)?;
    outln!("{}", super::pretty(&out));
    Ok(())
}
