//! Errors in the command line's own terms. The library writes a message
//! that names the caller's fields once, leaving the naming to the
//! interface (`Error::naming`): the tool interface names `step_title`, and
//! a person at the command line, who typed flags, reads the flag of the
//! command that was run ("also pass --title"). No text is rewritten: the
//! library writes each message and hint once, given how to name a field.

use super::Command;
use super::goal::GoalCommand;
use nexo::core::error::Error;
use nexo::core::limits::quote;

/// The fields each command's flags stand for.
fn table(cmd: &Command) -> &'static [(&'static str, &'static str)] {
    match cmd {
        Command::Open(_) => &[
            ("goal_id", "--goal"),
            ("goal", "GOAL"),
            ("sid", "--sid"),
            ("owner", "--owner"),
            ("priority", "--priority"),
            ("workflow_kind", "--kind"),
            ("next_action", "--next"),
            ("shared_state", "--state"),
            ("idempotency_key", "--idempotency-key"),
            ("protocol_task_id", "--protocol-task"),
            ("steps", "--step"),
            ("template", "--template"),
            ("vars", "--var"),
            ("needs", "--needs"),
        ],
        Command::Template(_) => &[("template", "NAME"), ("vars", "--var")],
        Command::Update(_) => &[
            ("step_key", "STEP"),
            ("step_title", "--title"),
            ("step_status", "--status"),
            ("run_status", "--run-status"),
            ("checkpoint_label", "--label"),
            ("summary", "--summary"),
            ("evidence", "--evidence"),
            ("next_action", "--next"),
            ("shared_state", "--state"),
            ("state_patch", "--patch"),
            ("retry_after", "--retry-after"),
            ("retry_policy", "--retry-policy"),
            ("compensation", "--compensation"),
            ("max_retries", "--max-retries"),
            ("requires_approval", "--requires-approval"),
            ("owner", "--owner"),
            ("needs", "--needs"),
            ("not_before", "--not-before"),
            ("steal", "--steal"),
        ],
        Command::Wait(_) => &[
            ("step_key", "STEP"),
            ("for", "--for"),
            ("timeout_seconds", "--timeout"),
            ("sync", "--sync"),
        ],
        Command::Ready(_) => &[
            ("ttl_seconds", "--ttl"),
            ("sync", "--sync"),
            ("claim", "--claim"),
            ("timeout_seconds", "--timeout"),
        ],
        Command::Claim(_) => &[
            ("ttl_seconds", "--ttl"),
            ("step_key", "STEP"),
            ("timeout_seconds", "--timeout"),
            ("steal", "--steal"),
        ],
        Command::Release(_) => &[("step_key", "STEP")],
        Command::Archive(_) => &[("closed_before", "--closed-before")],
        Command::Handoff(_) => &[
            ("new_owner", "--to"),
            ("handoff_note", "--note"),
            ("next_action", "--next"),
            ("actor", "--actor"),
        ],
        Command::Approve(_) => &[
            ("next_action", "--next"),
            ("note", "--note"),
            ("step_key", "STEP"),
        ],
        Command::Reject(_) => &[
            ("next_action", "--next"),
            ("note", "--reason"),
            ("reason", "--reason"),
            ("step_key", "STEP"),
        ],
        Command::Goal(g) => goal_table(&g.command),
        _ => &[],
    }
}

/// [`table`] for `nexo goal`'s subcommands.
fn goal_table(cmd: &GoalCommand) -> &'static [(&'static str, &'static str)] {
    match cmd {
        GoalCommand::Open(_) => &[
            ("title", "TITLE"),
            ("objective", "--objective"),
            ("parent_goal_id", "--parent"),
            ("priority", "--priority"),
            ("next_action", "--next"),
            ("success_signal", "--success-signal"),
            ("owner", "--owner"),
            ("sid", "--sid"),
            ("session_id", "--sid"),
            ("shared_state", "--state"),
        ],
        GoalCommand::Update(_) => &[
            ("status", "--status"),
            ("title", "--title"),
            ("objective", "--objective"),
            ("parent_goal_id", "--parent"),
            ("next_action", "--next"),
            ("success_signal", "--success-signal"),
            ("blocker_reason", "--blocker"),
            ("owner", "--owner"),
            ("shared_state", "--state"),
        ],
        GoalCommand::Get(_) | GoalCommand::List(_) => &[("goal_id", "GOAL")],
    }
}

/// `err` as the command line shows it: each field its message and hint
/// name is called by `cmd`'s flag for it.
pub fn in_flags(cmd: &Command, err: &Error) -> Error {
    let mut shown = err.clone();
    shown.message = err.message_naming(&|field| flag_for(cmd, field));
    shown.hint = err.hint_naming(&|field| flag_for(cmd, field));
    shown
}

/// The flag (or argument) of `cmd` that stands for `field`; a field inside
/// a list (`steps[2].title`) by its list's flag. A field the command has
/// no flag for keeps its name.
fn flag_for(cmd: &Command, field: &str) -> String {
    if let Some(words) = in_other_words(cmd, field) {
        return words;
    }
    let split = field.find(['[', '.']).unwrap_or(field.len());
    let (head, tail) = field.split_at(split);
    match table(cmd).iter().find(|(f, _)| *f == head) {
        // A template's variable: `vars.version` is `--var version`.
        Some((_, "--var")) if tail.starts_with('.') => format!("--var {}", &tail[1..]),
        Some((_, flag)) => format!("{flag}{tail}"),
        None => field.to_string(),
    }
}

/// Fields a person set some other way than by one flag of this command:
/// a step of `open` is one `--step` value, named as it was typed, and a
/// gate is asked for with `nexo update`, not with approve's flags.
fn in_other_words(cmd: &Command, field: &str) -> Option<String> {
    match cmd {
        Command::Open(a) => {
            let (index, part) = field.strip_prefix("steps[")?.split_once("].")?;
            let given = a.steps.get(index.parse::<usize>().ok()?)?;
            Some(match part {
                "key" | "title" => format!("the {part} in --step {}", quote(given)),
                p if p.starts_with("needs") => "--needs".to_string(),
                _ => format!("--step {}", quote(given)),
            })
        }
        Command::Approve(super::approve::Args { run, step, .. })
        | Command::Reject(super::reject::Args { run, step, .. })
            if field == "requires_approval" =>
        {
            Some(format!(
                "`nexo update {} {step} --requires-approval`",
                run.run
            ))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn update() -> Command {
        super::super::Cli::parse_from(["nexo", "update", "WF-7K2D"]).command
    }

    #[test]
    fn fields_become_the_commands_flags_and_others_keep_their_names() {
        let cmd = update();
        assert_eq!(flag_for(&cmd, "step_title"), "--title");
        assert_eq!(flag_for(&cmd, "step_key"), "STEP");
        assert_eq!(flag_for(&cmd, "sid"), "sid");
        let err = nexo::core::limits::text("summary", "a\u{1}", nexo::core::limits::Text::Prose)
            .unwrap_err();
        assert!(
            in_flags(&cmd, &err)
                .message
                .starts_with("--summary contains")
        );
        // Prose that happens to hold a field's name is left alone.
        let plain = Error::invalid("the summary of the goal");
        assert_eq!(in_flags(&cmd, &plain).message, "the summary of the goal");
    }
}
