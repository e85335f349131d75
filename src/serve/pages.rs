//! The board's pages: view models filled from the library, rendered by
//! askama templates (`templates/`), which are checked when nexo is
//! compiled and HTML-escape every value they print.

use askama::Template;

use nexo::api::Nexo;
use nexo::core::error::{Error, ErrorKind, Result};
use nexo::core::fold::Run;
use nexo::core::model::RunStatus;
use nexo::core::resume::resume_at;
use nexo::render::{self, ago, change, progress, step_symbol, who};
use nexo::wire::request::ListRequest;

/// How many runs the board shows (most recently updated first).
const BOARD_LIMIT: usize = 500;
/// How many timeline entries a run's page shows.
const TIMELINE: usize = 50;

#[derive(Template)]
#[template(path = "board.html")]
struct BoardPage {
    repo: String,
    empty: bool,
    columns: Vec<Column>,
}

struct Column {
    title: &'static str,
    class: &'static str,
    cards: Vec<Card>,
}

struct Card {
    run_id: String,
    goal: String,
    status: &'static str,
    priority: &'static str,
    owner: String,
    progress: String,
    updated: String,
}

#[derive(Template)]
#[template(path = "run.html")]
struct RunPage {
    repo: String,
    run_id: String,
    goal: String,
    status: &'static str,
    priority: &'static str,
    owner: String,
    progress: String,
    updated: String,
    resume_state: &'static str,
    can_resume: bool,
    message: String,
    next_action: String,
    steps: Vec<StepRow>,
    unhonoured: Vec<String>,
    timeline: Vec<Entry>,
    shared_state: String,
}

struct StepRow {
    symbol: &'static str,
    class: &'static str,
    key: String,
    title: String,
    status: &'static str,
    attempts: String,
    gate: String,
    summary: String,
    evidence: String,
}

struct Entry {
    at: String,
    ago: String,
    actor: String,
    what: String,
}

/// The repository's folder, in full, for the page's header.
fn shown_path(nexo: &Nexo) -> String {
    let root = nexo.store().root();
    std::fs::canonicalize(root)
        .unwrap_or_else(|_| root.to_path_buf())
        .display()
        .to_string()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn html(t: impl Template) -> Result<String> {
    t.render()
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot render the page: {e}")))
}

/// The board: runs in columns by what they need.
pub fn board(nexo: &Nexo) -> Result<String> {
    let repo = shown_path(nexo);
    let list = nexo.list(ListRequest {
        status: None,
        include_closed: Some(true),
        limit: Some(BOARD_LIMIT),
        branches: Some(true),
        archived: None,
    })?;
    let now = now();
    let mut columns = vec![
        column("Needs approval", "approval"),
        column("In progress", "active"),
        column("Blocked or failed", "trouble"),
        column("Done", "done"),
    ];
    for r in &list.runs {
        let i = match r.status {
            RunStatus::WaitingApproval => 0,
            RunStatus::Open | RunStatus::Running => 1,
            RunStatus::Blocked | RunStatus::Failed => 2,
            RunStatus::Completed | RunStatus::Cancelled => 3,
        };
        columns[i].cards.push(Card {
            run_id: r.run_id.to_string(),
            goal: r.goal.clone(),
            status: r.status.as_str(),
            priority: r.priority.as_str(),
            owner: who(&r.owner).to_string(),
            progress: format!("{}/{} steps", r.progress.0, r.progress.1),
            updated: ago(&r.updated_at, now),
        });
    }
    html(BoardPage {
        repo: repo.clone(),
        empty: list.runs.is_empty(),
        columns,
    })
}

fn column(title: &'static str, class: &'static str) -> Column {
    Column {
        title,
        class,
        cards: Vec::new(),
    }
}

/// One run: facts, resume verdict, steps with their gates, timeline.
pub fn run(nexo: &Nexo, id: &str) -> Result<String> {
    let repo = shown_path(nexo);
    let (run, _) = nexo.load_anywhere(id, 1)?;
    let r = resume_at(&run, &nexo::trace::now_text());
    let now = now();
    let (done, all) = progress(&run);
    html(RunPage {
        repo: repo.clone(),
        run_id: run.run_id.to_string(),
        goal: run.goal.clone(),
        status: run.status.as_str(),
        priority: run.priority.as_str(),
        owner: who(&run.owner).to_string(),
        progress: format!("{done}/{all} steps"),
        updated: ago(&run.updated_at, now),
        resume_state: r.resume_state.as_str(),
        can_resume: r.can_resume,
        message: r.message.clone(),
        next_action: run.next_action.clone(),
        steps: steps(&run),
        unhonoured: run
            .unhonoured
            .iter()
            .map(|u| {
                format!(
                    "{} by {} on {} at {}: {}",
                    u.event_id, u.actor, u.step_key, u.at, u.message
                )
            })
            .collect(),
        timeline: run
            .checkpoints
            .iter()
            .rev()
            .take(TIMELINE)
            .map(|c| Entry {
                at: c.created_at.clone(),
                ago: ago(&c.created_at, now),
                actor: c.actor.clone(),
                what: change(c),
            })
            .collect(),
        shared_state: match run.shared_state.is_empty() {
            true => String::new(),
            false => serde_json::to_string_pretty(&run.shared_state).unwrap_or_default(),
        },
    })
}

fn steps(run: &Run) -> Vec<StepRow> {
    run.steps
        .iter()
        .map(|s| StepRow {
            symbol: step_symbol(s),
            class: match render::step_tone(s.status) {
                _ if s.held_at_gate() => "gate",
                render::Tone::Good => "done",
                render::Tone::Busy => "active",
                render::Tone::Bad => "bad",
                render::Tone::Wait => "gate",
                _ => "todo",
            },
            key: s.step_key.clone(),
            title: s.title.clone(),
            status: s.status.as_str(),
            attempts: match (s.attempt_count, s.max_retries) {
                (0, _) => String::new(),
                (n, 0) => n.to_string(),
                (n, m) => format!("{n} of {m}"),
            },
            gate: render::gate_and_claim(s),
            summary: s.last_summary.clone().unwrap_or_default(),
            evidence: s.last_evidence.clone().unwrap_or_default(),
        })
        .collect()
}
