//! What the goal verbs answer: open, update, get, list, and goals in
//! `prime`.

use serde::Serialize;

use crate::core::goal::Goal;
use crate::core::id::{EventId, GoalId};
use crate::core::model::{GoalStatus, Priority};
use crate::git::CommitInfo;
use crate::wire::response::RunOut;

#[derive(Debug, Clone, Serialize)]
pub struct GoalOpenResponse {
    pub ok: bool,
    pub goal_id: GoalId,
    pub status: GoalStatus,
    pub title: String,
    pub priority: Priority,
    pub parent_goal_id: String,
    pub next_action: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    pub event_id: EventId,
    #[serde(flatten)]
    pub commit: CommitInfo,
}

/// How many runs link to a goal and how many goals name it as parent.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct GoalCounts {
    pub run_count: usize,
    pub open_run_count: usize,
    pub child_count: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct GoalUpdateResponse {
    pub ok: bool,
    pub goal_id: GoalId,
    pub status: GoalStatus,
    pub title: String,
    pub next_action: String,
    pub blocker_reason: String,
    #[serde(flatten)]
    pub counts: GoalCounts,
    pub event_id: EventId,
    #[serde(flatten)]
    pub commit: CommitInfo,
}

/// A goal with its counts, and its runs when asked for.
#[derive(Debug, Clone, Serialize)]
pub struct GoalOut {
    #[serde(flatten)]
    pub goal: Goal,
    #[serde(flatten)]
    pub counts: GoalCounts,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runs: Option<Vec<RunOut>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GoalGetResponse {
    pub ok: bool,
    pub goal: GoalOut,
}

#[derive(Debug, Clone, Serialize)]
pub struct GoalListItem {
    pub goal_id: GoalId,
    pub session_id: String,
    pub title: String,
    pub status: GoalStatus,
    pub priority: Priority,
    pub parent_goal_id: String,
    pub next_action: String,
    pub blocker_reason: String,
    #[serde(flatten)]
    pub counts: GoalCounts,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct GoalListResponse {
    pub ok: bool,
    pub count: usize,
    pub goals: Vec<GoalListItem>,
    /// Goals whose history could not be read, with the reason.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<UnreadableGoal>,
    /// How many closed goals were left out for not being asked for (not
    /// in the tool interface's answer, as for runs).
    #[serde(skip)]
    pub closed_left_out: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct UnreadableGoal {
    pub goal_id: String,
    pub error: String,
}
