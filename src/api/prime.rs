//! `prime`: what a new session should know first, small enough for a
//! session-start hook. Runs are ordered by what needs attention (a gate
//! waiting for a person, then running or blocked high-priority work, then
//! the most recent), a budget in bytes may cut the list, and a run in
//! progress is never cut. With no runs, a short primer teaches the verbs.

use crate::core::error::Result;
use crate::core::model::{Priority, RunStatus};
use crate::core::words::{clip, count};
use crate::index::summaries::Summary;
use crate::wire::response::ReadyItem;
use crate::wire::response::{PrimeResponse, PrimeRun};
use crate::workspace::Nexo;

/// What an agent needs to start using nexo, in about 1.5 KB.
pub const PRIMER: &str = "\
nexo keeps multi-step work (a release, a migration, an audit) as a durable run in this git \
repository: goal, ordered steps, status, evidence, approval gates, owner and the next action. \
No open runs here yet.

Open a run when work has several steps or will outlive this session:
  nexo_workflow_open {\"sid\":\"<session>\",\"goal\":\"Publish v3.1.1\",\"steps\":[{\"key\":\"test\",\"title\":\"Run the tests\"},{\"key\":\"publish\",\"title\":\"Publish\",\"requires_approval\":true}],\"next_action\":\"Run the tests.\"}
Record each step as it moves, with evidence:
  nexo_workflow_update {\"run_id\":\"WF-...\",\"step_key\":\"test\",\"step_status\":\"completed\",\"summary\":\"all green\",\"evidence\":\"ci run 812\",\"next_action\":\"Publish.\"}
At the start of every session, ask for the next honest action instead of guessing:
  nexo_workflow_resume {\"run_id\":\"WF-...\"}
Hand over to another agent or person:
  nexo_workflow_handoff {\"run_id\":\"WF-...\",\"actor\":\"codex\",\"new_owner\":\"claude_code\",\"handoff_note\":\"what they need to know\",\"next_action\":\"Publish.\"}
A gate waits for a person: nexo approve WF-... publish --note \"reviewed\"

Habits: keep next_action concrete (a command, not \"continue\"); attach evidence to every \
update; follow resume_state (waiting_approval means stop and ask); run `nexo sync` after a \
handoff so other machines see it. On the command line: nexo open | update | resume | handoff | \
approve | list | show.
";

impl Nexo {
    /// The open runs by what needs attention, at most `limit` (runs in
    /// progress always), within `max_bytes` of text when given.
    pub fn prime(&self, limit: usize, max_bytes: Option<usize>) -> Result<PrimeResponse> {
        let summaries = self.open_summaries()?;
        let unreadable = &summaries.unreadable;
        let mut open: Vec<&Summary> = summaries
            .all
            .iter()
            .filter(|s| !s.status.is_closed())
            .collect();
        let total = open.len();
        // Stable: within a rank, most recently updated first.
        open.sort_by_key(|s| attention(s));
        let mut text = match total {
            0 => PRIMER.to_string(),
            n => format!(
                "nexo: {} here. Before acting on one, call nexo_workflow_resume (or `nexo resume <id>`).\n",
                count(n, "open workflow run")
            ),
        };
        let actor = self.actor(None, None);
        let ranked =
            super::ready::rank(self, &summaries, &actor, &crate::trace::now_text(), false)?;
        let ready: Vec<ReadyItem> = ranked
            .into_iter()
            .map(|r| r.item)
            .filter(|i| i.ready)
            .collect();
        let budget = max_bytes.unwrap_or(usize::MAX);
        let lead = ready_text(&ready);
        if text.len() + lead.len() <= budget {
            text.push_str(&lead);
        }
        let templates = self.template_names();
        let line = templates_text(&templates);
        if text.len() + line.len() <= budget {
            text.push_str(&line);
        }
        let mut runs = Vec::new();
        for summary in &open {
            let in_progress = summary.status == RunStatus::Running;
            let fits_count = runs.len() < limit;
            if !in_progress && !fits_count {
                continue;
            }
            let entry = summaries.prime(summary)?;
            let lines = entry_text(&entry);
            let fits = fits_count && text.len() + lines.len() <= budget;
            if in_progress || fits {
                text.push_str(&lines);
                runs.push(entry);
            }
        }
        if total > runs.len() {
            text.push_str(&format!("  (+{} more: nexo list)\n", total - runs.len()));
        }
        if !unreadable.is_empty() {
            text.push_str(&format!(
                "  ({} could not be read: nexo doctor)\n",
                count(unreadable.len(), "run")
            ));
        }
        // Another session's runs must never stop this one's primer.
        let elsewhere = self.prime_elsewhere().unwrap_or_default();
        if text.len() + elsewhere.len() <= budget {
            text.push_str(&elsewhere);
        }
        let mut goals_text = String::new();
        let goals = self.prime_goals(&mut goals_text)?;
        if text.len() + goals_text.len() <= budget {
            text.push_str(&goals_text);
        }
        Ok(PrimeResponse {
            ok: true,
            ready_count: ready.len(),
            ready: ready.into_iter().take(READY_SHOWN).collect(),
            count: runs.len(),
            total_open: total,
            runs,
            goals,
            templates,
            text,
        })
    }
}

/// How many ready steps prime names.
const READY_SHOWN: usize = 3;

/// The lead, one line: how many steps any agent may take now, and the
/// best few.
fn ready_text(ready: &[ReadyItem]) -> String {
    if ready.is_empty() {
        return String::new();
    }
    let best: Vec<String> = ready
        .iter()
        .take(READY_SHOWN)
        .map(|i| format!("{} {}", i.run_id, clip(&i.step_key, 24)))
        .collect();
    format!(
        "Ready now: {}, best {} (nexo ready --claim takes one).\n",
        count(ready.len(), "step"),
        best.join(", ")
    )
}

/// The templates line, one line: a session that knows them opens a
/// team's procedure instead of typing its own.
fn templates_text(names: &[String]) -> String {
    if names.is_empty() {
        return String::new();
    }
    format!(
        "Templates here: {}. Open one with nexo_workflow_open {{\"template\":\"NAME\",\"vars\":{{...}}}} (nexo template show NAME lists its variables).\n",
        clip(&names.join(", "), 200)
    )
}

/// Lower ranks first: a gate waiting for a person, then running or
/// blocked high-priority work, then everything else.
fn attention(s: &Summary) -> u8 {
    let urgent = matches!(s.priority, Priority::High | Priority::Critical);
    match s.status {
        _ if s.requires_approval => 0,
        RunStatus::Running | RunStatus::Blocked if urgent => 1,
        _ => 2,
    }
}

/// A run's two lines in the summary.
fn entry_text(p: &PrimeRun) -> String {
    let owner = match p.owner.as_str() {
        "" => String::new(),
        o => format!(" (owner {})", clip(o, 20)),
    };
    let mut s = format!(
        "- {} [{}] {}{owner}\n  ",
        p.run_id,
        p.status,
        clip(&p.goal, 60)
    );
    if let (Some(k), Some(st)) = (&p.step_key, p.step_status) {
        s.push_str(&format!("step {}: {st}; ", clip(k, 24)));
    }
    s.push_str(&format!("resume: {}", p.resume_state));
    if p.requires_approval {
        s.push_str(" (APPROVAL NEEDED)");
    }
    if !p.next_action.is_empty() {
        s.push_str(&format!("; next: {}", clip(&p.next_action, 70)));
    }
    s.push('\n');
    s
}
