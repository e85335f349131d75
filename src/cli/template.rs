//! `nexo template list | show | check | init | schema`: the repository's
//! workflow templates (`.nexo/templates/<name>.yaml`).

use super::{Ctx, commit_line, open::var_args};
use nexo::core::error::Result;
use nexo::core::template::Expanded;
use nexo::core::words::{NONE, cell, column, count, one_line};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: Sub,
}

#[derive(clap::Subcommand, Debug)]
pub enum Sub {
    /// Every template here, with its variables and how many steps it makes.
    #[command(after_help = "Example:\n  nexo template list")]
    List,
    /// A template's variables, and its steps expanded (with its example values, or --var's).
    #[command(
        after_help = "Examples:\n  nexo template show release\n  nexo template show release --var version=3.2 --var platforms=linux"
    )]
    Show {
        /// The template's name (.nexo/templates/NAME.yaml).
        name: String,
        /// A value for one of its variables, as NAME=VALUE; repeat per variable.
        #[arg(long = "var", value_name = "NAME=VALUE")]
        vars: Vec<String>,
    },
    /// Expand each template (or NAME) with example values and name what is wrong, at its file, line and column.
    #[command(
        after_help = "Examples:\n  nexo template check            # every template; exit 2 if one is broken\n  nexo template check release"
    )]
    Check {
        /// Only this template.
        name: Option<String>,
    },
    /// Write two starters, release and migration, into .nexo/templates/ (never over a file that is there), and commit them.
    #[command(after_help = "Example:\n  nexo template init && nexo template show release")]
    Init,
    /// Print the JSON Schema of a template file, for editors.
    #[command(after_help = "Example:\n  nexo template schema > .vscode/nexo-template.schema.json")]
    Schema,
}

/// Runs the subcommand; `check` exits 2 when a template is broken.
pub fn run(ctx: &Ctx, a: &Args) -> Result<i32> {
    match &a.command {
        Sub::List => list(ctx),
        Sub::Show { name, vars } => show(ctx, name, vars),
        Sub::Check { name } => return check(ctx, name.as_deref()),
        Sub::Init => init(ctx),
        Sub::Schema => {
            outln!("{}", super::pretty(&nexo::core::template::schema()));
            Ok(())
        }
    }
    .map(|()| 0)
}

fn list(ctx: &Ctx) -> Result<()> {
    let r = ctx.nexo()?.template_list()?;
    ctx.emit(&r, || {
        if r.templates.is_empty() {
            return "No templates here (.nexo/templates/). `nexo template init` writes two starters.\n".into();
        }
        // A long name is clipped, never pushing the columns out of line.
        let named = |t: &nexo::wire::templates::TemplateSummary| match t.version.as_str() {
            "" => t.name.clone(),
            v => format!("{} v{v}", t.name),
        };
        let width = column(r.templates.iter().map(named).collect::<Vec<_>>().iter().map(String::as_str), 4, 28);
        let mut s = String::new();
        for t in &r.templates {
            let line = match &t.error {
                Some(e) => format!("{}  BROKEN: {e}", cell(&named(t), width)),
                None => format!(
                    "{}  {:<9}  vars: {}  {}",
                    cell(&named(t), width),
                    count(t.steps, "step"),
                    match t.vars.is_empty() {
                        true => NONE.to_string(),
                        false => t.vars.join(", "),
                    },
                    one_line(&t.description)
                ),
            };
            s.push_str(line.trim_end());
            s.push('\n');
        }
        s
    })
}

fn show(ctx: &Ctx, name: &str, vars: &[String]) -> Result<()> {
    let r = ctx.nexo()?.template_show(name, &var_args(vars)?)?;
    ctx.emit(&r, || render(&r.path, &r.template, vars.is_empty()))
}

/// A template as `show` prints it.
fn render(path: &str, t: &Expanded, examples: bool) -> String {
    let mut s = format!("{} ({path})", t.name);
    if !t.version.is_empty() {
        s.push_str(&format!(" version {}", t.version));
    }
    s.push('\n');
    if !t.description.is_empty() {
        s.push_str(&format!("{}\n", t.description));
    }
    if !t.extends.is_empty() {
        s.push_str(&format!("extends {}\n", t.extends.join(" → ")));
    }
    s.push_str(if t.vars.is_empty() {
        "vars: none\n"
    } else {
        "vars:\n"
    });
    for v in &t.vars {
        let mut line = format!("  {} ({}", v.name, v.kind);
        if v.required {
            line.push_str(", required");
        }
        if let Some(d) = &v.default {
            line.push_str(&format!(", default {d}"));
        }
        if !v.values.is_empty() {
            line.push_str(&format!(", one of {}", v.values.join(", ")));
        }
        line.push(')');
        if !v.description.is_empty() {
            line.push_str(&format!(": {}", v.description));
        }
        s.push_str(&line);
        s.push('\n');
    }
    let with = if examples {
        "example values"
    } else {
        "these values"
    };
    s.push_str(&format!("steps, with {with}:\n"));
    for step in &t.steps {
        let gate = if step.requires_approval {
            " [approval]"
        } else {
            ""
        };
        let needs = match step.needs.is_empty() {
            true => String::new(),
            false => format!(" (needs {})", step.needs.join(", ")),
        };
        s.push_str(&format!("  - {}: {}{needs}{gate}\n", step.key, step.title));
    }
    s
}

fn check(ctx: &Ctx, name: Option<&str>) -> Result<i32> {
    let r = ctx.nexo()?.template_check(name)?;
    ctx.emit(&r, || {
        if r.templates.is_empty() {
            return "No templates here (.nexo/templates/).\n".into();
        }
        let mut s = String::new();
        for t in &r.templates {
            match &t.error {
                None => s.push_str(&format!("ok     {} ({})\n", t.name, count(t.steps, "step"))),
                Some(e) => s.push_str(&format!("broken {}: {e}\n", t.name)),
            }
        }
        s
    })?;
    Ok(if r.ok { 0 } else { 2 })
}

fn init(ctx: &Ctx) -> Result<()> {
    let r = ctx.nexo()?.template_init()?;
    ctx.emit(&r, || {
        let mut s = String::new();
        for path in &r.created {
            s.push_str(&format!("created {path}\n"));
        }
        for path in &r.kept {
            s.push_str(&format!("kept {path} (a file is there: left as it is)\n"));
        }
        if !r.created.is_empty() {
            s.push_str("Next: edit them to your team's procedure (nexo template show release), then open a run: nexo open --template release --var version=1.0.0\n");
            s.push_str(&commit_line(&r.commit));
        }
        s
    })
}
