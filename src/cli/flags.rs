//! Errors in the command line's own terms. The library names the tool
//! interface's fields ("also pass step_title"); a person at the command
//! line typed flags, so each field is shown as the flag of the command
//! that was run ("also pass --title").

use super::Command;

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
        ],
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
        ],
        Command::Handoff(_) => &[
            ("new_owner", "--to"),
            ("handoff_note", "--note"),
            ("next_action", "--next"),
            ("actor", "--actor"),
        ],
        Command::Approve(_) | Command::Reject(_) => &[
            ("next_action", "--next"),
            ("\"reason\"", "--reason"),
            ("step_key", "STEP"),
        ],
        Command::Goal(_) => &[
            ("parent_goal_id", "--parent"),
            ("next_action", "--next"),
            ("success_signal", "--success-signal"),
            ("blocker_reason", "--blocker"),
            ("shared_state", "--state"),
        ],
        _ => &[],
    }
}

/// `message` with the tool interface's field names replaced by `cmd`'s
/// flags, where they stand as whole words.
pub fn in_flags(cmd: &Command, message: &str) -> String {
    let mut out = message.to_string();
    for (field, flag) in table(cmd) {
        out = replace_word(&out, field, flag);
    }
    out
}

fn replace_word(text: &str, word: &str, with: &str) -> String {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(word) {
        let before = rest[..i].chars().next_back();
        let after = rest[i + word.len()..].chars().next();
        out.push_str(&rest[..i]);
        if before.is_some_and(is_word) || after.is_some_and(is_word) {
            out.push_str(word);
        } else {
            out.push_str(with);
        }
        rest = &rest[i + word.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_words_are_replaced() {
        assert_eq!(
            replace_word("pass step_title", "step_title", "--title"),
            "pass --title"
        );
        assert_eq!(
            replace_word("my_step_title x", "step_title", "--title"),
            "my_step_title x"
        );
        assert_eq!(
            replace_word("a step_title.", "step_title", "--title"),
            "a --title."
        );
    }
}
