//! A run for a pull request: a Markdown summary (goal, status, a step
//! table, the recent trail) with a Mermaid diagram of the steps, which
//! GitHub and GitLab render. Every value from the run is escaped: a goal
//! or summary can hold `|`, `<script>` or a Mermaid keyword.

use super::{change, one_line, progress, step_symbol, when, who};
use crate::core::fold::{Run, Step};
use crate::core::model::StepStatus;
use crate::core::resume::Resume;

/// The Markdown summary, with the diagram and the newest `events` of the
/// trail.
pub fn markdown(run: &Run, resume: &Resume, events: usize) -> String {
    let (done, all) = progress(run);
    let mut s = format!("### {} — {}\n\n", cell(&run.run_id), cell(&run.goal));
    s.push_str(&format!(
        "**Status:** {} · **Progress:** {done}/{all} steps · **Owner:** {} · **Priority:** {} · **Updated:** {}\n\n",
        run.status,
        cell(who(&run.owner)),
        run.priority,
        when(&run.updated_at)
    ));
    s.push_str(&format!(
        "**Resume:** `{}` — {}\n\n",
        resume.resume_state,
        cell(&resume.message)
    ));
    if !run.steps.is_empty() {
        s.push_str(
            "| | Step | Status | Attempts | Gate | Last summary |\n|---|---|---|---|---|---|\n",
        );
        for step in &run.steps {
            s.push_str(&format!(
                "| {} | `{}` {} | {} | {} | {} | {} |\n",
                step_symbol(step),
                step.step_key,
                cell(&step.title),
                step.status,
                super::attempts(step).unwrap_or_default(),
                cell(&super::gate_and_claim(step)),
                step.last_summary.as_deref().map(cell).unwrap_or_default()
            ));
        }
        s.push('\n');
        s.push_str("```mermaid\n");
        s.push_str(&mermaid(run));
        s.push_str("```\n\n");
    }
    s.push_str(
        "<details><summary>Recent trail</summary>\n\n| When | Who | What |\n|---|---|---|\n",
    );
    for c in run.checkpoints.iter().rev().take(events) {
        s.push_str(&format!(
            "| {} | {} | {} |\n",
            when(&c.created_at),
            cell(&c.actor),
            cell(&change(c))
        ));
    }
    s.push_str("\n</details>\n");
    s
}

/// A Mermaid flowchart of the steps in order, each coloured by status.
pub fn mermaid(run: &Run) -> String {
    let mut s = String::from("flowchart LR\n");
    for (i, step) in run.steps.iter().enumerate() {
        s.push_str(&format!(
            "  s{i}[\"{} {}<br/>{}\"]:::{}\n",
            step_symbol(step),
            label(&step.title),
            label(&step.step_key),
            class(step)
        ));
    }
    // A graph's edges are its dependencies; a sequence's, its order.
    if run.is_graph() {
        for (i, step) in run.steps.iter().enumerate() {
            for need in &step.needs {
                if let Some(j) = run.steps.iter().position(|d| &d.step_key == need) {
                    s.push_str(&format!("  s{j} --> s{i}\n"));
                }
            }
        }
    } else {
        for i in 1..run.steps.len() {
            s.push_str(&format!("  s{} --> s{i}\n", i - 1));
        }
    }
    for (name, style) in [
        ("done", "fill:#d3f9d8,stroke:#2b8a3e,color:#1b4332"),
        ("active", "fill:#d0ebff,stroke:#1864ab,color:#102a43"),
        ("gate", "fill:#fff3bf,stroke:#e67700,color:#5c3d00"),
        ("bad", "fill:#ffe3e3,stroke:#c92a2a,color:#5c0a0a"),
        ("todo", "fill:#f1f3f5,stroke:#868e96,color:#343a40"),
    ] {
        s.push_str(&format!("  classDef {name} {style}\n"));
    }
    s
}

fn class(step: &Step) -> &'static str {
    if step.held_at_gate() {
        return "gate";
    }
    match step.status {
        StepStatus::Completed | StepStatus::Skipped => "done",
        StepStatus::Running | StepStatus::Retrying => "active",
        StepStatus::WaitingApproval => "gate",
        StepStatus::Failed | StepStatus::Blocked => "bad",
        StepStatus::Pending => "todo",
    }
}

/// Text for a Markdown table cell: one line, no `|` that would end the
/// cell, no HTML a renderer would act on.
pub(crate) fn cell(s: &str) -> String {
    one_line(s)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
}

/// Text inside a quoted Mermaid label: Mermaid's own entity codes for
/// what would end the label or be read as markup.
fn label(s: &str) -> String {
    let mut out = String::new();
    for c in one_line(s).chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '#' => out.push_str("#35;"),
            '&' => out.push_str("#amp;"),
            '`' => out.push_str("#96;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::StepStatus::*;
    use crate::core::resume::resume;
    use crate::core::testkit::History;

    #[test]
    fn hostile_text_cannot_break_the_table_or_the_diagram() {
        let mut h = History::open(&["a"]);
        if let crate::core::event::Body::Opened(o) = &mut h.events[0].body {
            o.goal = "Ship <script>alert(1)</script> | now".into();
            o.steps[0].title = "Say \"hi\"]; click s0 call evil() <b>".into();
        }
        h.step("a", Running);
        let run = h.fold();
        let md = markdown(&run, &resume(&run), 5);
        assert!(!md.contains("<script>"), "{md}");
        assert!(md.contains("&lt;script&gt;"), "{md}");
        assert!(md.contains("\\| now"), "{md}");
        let chart = mermaid(&run);
        let node = chart.lines().nth(1).unwrap();
        assert_eq!(node.matches('"').count(), 2, "one quoted label: {node}");
        assert!(!chart.contains("<b>"), "{chart}");
    }

    #[test]
    fn the_diagram_links_steps_in_order_and_colours_them() {
        let mut h = History::open(&["a", "b!", "c"]);
        h.step("a", Completed).step("b", Blocked);
        let chart = mermaid(&h.fold());
        assert!(
            chart.contains("s0 --> s1") && chart.contains("s1 --> s2"),
            "{chart}"
        );
        assert!(
            chart.contains(":::done") && chart.contains(":::gate") && chart.contains(":::todo"),
            "{chart}"
        );
    }
}
