//! The tools, declared once: each one's name and description, from which
//! the dispatch (`call`), the MCP server's list and schemas, and `nexo call
//! --help` are derived. A match on `Tool` is exhaustive, so a tool cannot
//! be added without its handler and its schema.

macro_rules! tools {
    ($($variant:ident => $name:literal, $description:literal;)+) => {
        /// One tool of NEXO's interface.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Tool {
            $($variant,)+
        }

        impl Tool {
            /// Every tool, in the order they are listed.
            pub const ALL: &'static [Tool] = &[$(Tool::$variant,)+];

            /// The name callers use (`nexo_workflow_open`).
            pub fn name(self) -> &'static str {
                match self {
                    $(Tool::$variant => $name,)+
                }
            }

            /// One line on what the tool does (shown by `nexo call --help`
            /// and served to MCP clients).
            pub fn description(self) -> &'static str {
                match self {
                    $(Tool::$variant => $description,)+
                }
            }

            /// The tool of that name, if there is one.
            pub fn parse(name: &str) -> Option<Tool> {
                match name {
                    $($name => Some(Tool::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

tools! {
    WorkflowOpen => "nexo_workflow_open",
        "Open a durable workflow run: a goal, ordered steps, an owner and a next action.";
    WorkflowUpdate => "nexo_workflow_update",
        "Record progress on a run: a step's status, summary, evidence, retries, approval gate, next action.";
    WorkflowResume => "nexo_workflow_resume",
        "Ask for the next honest action on a run.";
    WorkflowReplay => "nexo_workflow_replay",
        "Show a run's recent execution history, newest first.";
    WorkflowHandoff => "nexo_workflow_handoff",
        "Hand a run to another owner (client, agent or person) with a note and next action.";
    WorkflowGet => "nexo_workflow_get",
        "Show a run's full stored state, its steps and recent checkpoints.";
    WorkflowList => "nexo_workflow_list",
        "List runs, most recently updated first; closed runs are hidden unless asked for.";
    WorkflowCompensation => "nexo_workflow_compensation",
        "Show the compensating actions for the work a run has done, in the order to apply them.";
    WorkflowApprove => "nexo_workflow_approve",
        "Approve a step that waits at an approval gate, recording who approved and why.";
    WorkflowReject => "nexo_workflow_reject",
        "Reject a step that waits at an approval gate, recording who rejected it and why.";
    WorkflowClaim => "nexo_workflow_claim",
        "Claim a step for a while (a lease) so other agents leave it to you; sync: true makes the claim hold at the git remote. Without step_key, claims the step resume offers you.";
    WorkflowRelease => "nexo_workflow_release",
        "Let go of your claim on a step, so another agent can take it.";
    WorkflowReady => "nexo_workflow_ready",
        "List the steps any agent may take now across every open run, best first (priority, then the run's age); claim: true takes the best one for you, as nexo_workflow_claim does, and moves on if another agent wins it.";
    WorkflowWait => "nexo_workflow_wait",
        "Wait until a run's step gate is decided, a step (or the run) is done, a step is ready, or anything changes; answers as nexo_workflow_get. sync: true also watches the git remote (cheaply: no fetch until it moves). Gives up with a retryable timed_out error after timeout_seconds (default 60, at most 300): call it again to keep waiting.";
    WorkflowSync => "nexo_workflow_sync",
        "Share this repository's runs with other machines: commit pending changes, pull (merge or rebase as git is configured), settle .nexo/, push. Call it after a handoff.";
    GoalOpen => "nexo_goal_open",
        "Open a durable goal so multi-session objectives stay explicit; runs link to it through goal_id.";
    GoalUpdate => "nexo_goal_update",
        "Update a goal: active, blocked, abandoned, completed or cancelled, its next action and blocker.";
    GoalGet => "nexo_goal_get",
        "Read a goal with its run counts, and its linked runs when include_runs is true.";
    GoalList => "nexo_goal_list",
        "List goals, most recently updated first; closed goals are hidden unless asked for.";
}

impl std::fmt::Display for Tool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back_to_its_tool() {
        for &t in Tool::ALL {
            assert_eq!(Tool::parse(t.name()), Some(t));
        }
        assert_eq!(Tool::parse("nexo_workflow_nope"), None);
    }
}
