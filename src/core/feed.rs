//! The feed of `nexo watch` and `nexo events`: what happened to runs, told
//! from the fold's states before and after each new event (a gate asked
//! for or decided, a step failed, a run completed or blocked), and from
//! the clock for leases that ran out (no event marks that). Where a feed
//! stopped is a [`Cursor`].
//!
//! Pure: no files, processes or git.

use serde::{Deserialize, Serialize};

use crate::core::error::{Error, Result};
use crate::core::event::Event;
use crate::core::fold::{Run, RunBefore, Step};
use crate::core::model::{FeedKind, RunStatus, StepStatus};
use crate::core::words::one_line;

/// One thing that happened, as a line of the feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub kind: FeedKind,
    pub run_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_key: Option<String>,
    /// One line, for a person.
    pub summary: String,
    /// The event that made it happen; none for an expired claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// When: the event's time, or the lease's end.
    pub at: String,
    /// Who: the event's actor, or the claim's holder.
    pub actor: String,
}

/// What `event` did to a run that was `before` and is `after` it.
pub fn happened(before: &RunBefore, event: &Event, after: &Run) -> Vec<Item> {
    let item = |kind, step: Option<&Step>, summary: String| Item {
        kind,
        run_id: after.run_id.to_string(),
        step_key: step.map(|s| s.step_key.clone()),
        summary: one_line(&summary),
        event_id: Some(event.id.to_string()),
        at: event.at.clone(),
        actor: event.actor.clone(),
    };
    let mut items = Vec::new();
    for s in &after.steps {
        let was = before.step(&s.step_key);
        let asked = s.gate_event.as_deref() == Some(event.id.as_str())
            && was.is_none_or(|w| w.gate_event != s.gate_event)
            && s.awaits_approval();
        if asked {
            let text = format!(
                "{}: step {} ({}) waits for approval, asked by {}",
                after.run_id, s.step_key, s.title, event.actor
            );
            items.push(item(FeedKind::GateRequested, Some(s), text));
        }
        if let Some(a) = &s.approval
            && was.is_none_or(|w| w.approval.as_ref() != Some(a))
        {
            let note = match a.note.is_empty() {
                true => String::new(),
                false => format!(": {}", a.note),
            };
            let text = format!(
                "{}: step {} {} by {}{note}",
                after.run_id, s.step_key, a.decision, a.by
            );
            items.push(item(FeedKind::GateDecided, Some(s), text));
        }
        if s.status == StepStatus::Failed && was.is_none_or(|w| w.status != StepStatus::Failed) {
            let why = s
                .last_summary
                .as_deref()
                .map(|w| format!(": {w}"))
                .unwrap_or_default();
            let text = format!("{}: step {} failed{why}", after.run_id, s.step_key);
            items.push(item(FeedKind::StepFailed, Some(s), text));
        }
    }
    for (status, kind) in [
        (RunStatus::Completed, FeedKind::RunCompleted),
        (RunStatus::Blocked, FeedKind::RunBlocked),
    ] {
        if after.status == status && before.status != status {
            let text = format!("{}: run {status} ({})", after.run_id, after.goal);
            items.push(item(kind, None, text));
        }
    }
    items
}

/// The claims of `run` whose leases ended after `from` and no later than
/// `to` (RFC 3339 both): one `claim_expired` each. A lease renewed since
/// ends later, and is told then, if it does.
pub fn expired(
    run_id: &str,
    steps: &[(String, Vec<crate::core::fold::Claim>)],
    from: &str,
    to: &str,
) -> Vec<Item> {
    let (Some(from), Some(to)) = (
        crate::core::claim::parse_time(from),
        crate::core::claim::parse_time(to),
    ) else {
        return Vec::new();
    };
    let mut items = Vec::new();
    for (key, claims) in steps {
        let Some(c) = claims.first() else { continue };
        let Some(end) = crate::core::claim::parse_time(&c.lease_until) else {
            continue;
        };
        if from < end && end <= to {
            items.push(Item {
                kind: FeedKind::ClaimExpired,
                run_id: run_id.to_string(),
                step_key: Some(key.clone()),
                summary: one_line(&format!(
                    "{run_id}: {}'s claim on step {key} expired at {}",
                    c.holder, c.lease_until
                )),
                event_id: None,
                at: c.lease_until.clone(),
                actor: c.holder.clone(),
            });
        }
    }
    items
}

/// Where a feed stopped: the commit whose runs it had told, and the time
/// up to which it had told expired leases. Written `<commit>@<unix ms>`
/// (`-` for no commit: every event is new), so a script keeps it as one
/// word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub commit: Option<String>,
    pub ms: i64,
}

impl Cursor {
    /// The cursor before anything: every event and lease is new.
    pub fn start() -> Cursor {
        Cursor {
            commit: None,
            ms: 0,
        }
    }

    pub fn parse(text: &str) -> Result<Cursor> {
        let bad = || {
            Error::invalid(format!(
                "cursor {} is not one nexo wrote: expected <commit>@<unix milliseconds>, as the \"cursor\" of a previous answer (or leave it out to start from the beginning)",
                crate::core::limits::quote(text)
            ))
        };
        let (commit, ms) = text.trim().split_once('@').ok_or_else(bad)?;
        let ms: i64 = ms.parse().map_err(|_| bad())?;
        let commit = match commit {
            "-" => None,
            hex if (hex.len() == 40 || hex.len() == 64)
                && hex.bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                Some(hex.to_ascii_lowercase())
            }
            _ => return Err(bad()),
        };
        if ms < 0 {
            return Err(bad());
        }
        Ok(Cursor { commit, ms })
    }

    /// The time as RFC 3339, for comparing with leases.
    pub fn time(&self) -> String {
        chrono::DateTime::from_timestamp_millis(self.ms)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.commit.as_deref().unwrap_or("-"), self.ms)
    }
}

/// Where a watch stands, kept between runs of it: the cursor up to which
/// everything was delivered, and the batch being delivered (up to which
/// cursor, and how many of its items already), so a watch stopped halfway
/// through a batch takes it up at the next item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchState {
    pub cursor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pending {
    pub to: String,
    pub delivered: usize,
}

/// The name of a watch's cursor: one per filter, so a watch of gates and
/// a watch of failures never move each other's cursor. `all` without
/// filters; else the kinds (sorted) and the run.
pub fn watch_name(run: Option<&str>, kinds: &[FeedKind]) -> String {
    let mut kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let mut name = match kinds.is_empty() {
        true => "all".to_string(),
        false => kinds.join("+"),
    };
    if let Some(run) = run {
        name.push('.');
        name.push_str(run);
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::event::Body;
    use crate::core::fold::fold_noting;
    use crate::core::testkit::{History, status_of};

    /// Every item the events after the first `seen` tell.
    fn feed(h: &History, seen: usize) -> Vec<(FeedKind, Option<String>)> {
        let new: Vec<String> = h.events[seen..].iter().map(|e| e.id.to_string()).collect();
        let mut items = Vec::new();
        fold_noting(
            h.events.clone(),
            Default::default(),
            usize::MAX,
            &|e| new.contains(&e.id.to_string()),
            &mut |b, e, a| items.extend(happened(b, e, a)),
        )
        .unwrap();
        items.into_iter().map(|i| (i.kind, i.step_key)).collect()
    }

    fn k(kind: FeedKind, step: Option<&str>) -> (FeedKind, Option<String>) {
        (kind, step.map(str::to_string))
    }

    #[test]
    fn a_gate_asked_for_and_decided_is_told_once_each() {
        let mut h = History::open(&["build", "publish"]);
        h.step("build", StepStatus::Completed);
        h.update(crate::core::event::Updated {
            step_key: Some("publish".into()),
            requires_approval: Some(true),
            step_status: Some(StepStatus::Blocked),
            ..Default::default()
        });
        h.approve("publish", "alice");
        assert_eq!(
            feed(&h, 1),
            vec![
                k(FeedKind::GateRequested, Some("publish")),
                k(FeedKind::GateDecided, Some("publish"))
            ]
        );
        // Only what is new is told.
        assert_eq!(feed(&h, 3), vec![k(FeedKind::GateDecided, Some("publish"))]);
        assert_eq!(feed(&h, 4), vec![]);
    }

    #[test]
    fn failures_completions_and_blocks_are_told() {
        let mut h = History::open(&["build"]);
        h.step("build", StepStatus::Failed);
        h.update(crate::core::event::Updated {
            run_status: Some(RunStatus::Blocked),
            ..Default::default()
        });
        h.step("build", StepStatus::Completed);
        h.update(crate::core::event::Updated {
            run_status: Some(RunStatus::Completed),
            ..Default::default()
        });
        let told = feed(&h, 1);
        assert!(
            told.contains(&k(FeedKind::StepFailed, Some("build"))),
            "{told:?}"
        );
        assert!(told.contains(&k(FeedKind::RunBlocked, None)), "{told:?}");
        assert!(told.contains(&k(FeedKind::RunCompleted, None)), "{told:?}");
        // A handoff tells nothing.
        let mut quiet = History::open(&["build"]);
        quiet.push("codex", Body::HandedOff(Default::default()));
        quiet.update(status_of("build", StepStatus::Running));
        assert_eq!(feed(&quiet, 1), vec![]);
    }

    #[test]
    fn a_lease_that_ends_inside_the_window_is_told() {
        let mut h = History::open(&["build"]);
        h.claim("codex", "build", 60);
        let run = h.fold();
        let steps: Vec<_> = run
            .steps
            .iter()
            .map(|s| (s.step_key.clone(), s.claims.clone()))
            .collect();
        let end = run.steps[0].claims[0].lease_until.clone();
        let told = expired(&run.run_id, &steps, "2000-01-01T00:00:00Z", &end);
        assert_eq!(told.len(), 1);
        assert_eq!(told[0].kind, FeedKind::ClaimExpired);
        assert!(expired(&run.run_id, &steps, &end, "9999-01-01T00:00:00Z").is_empty());
    }

    #[test]
    fn each_filter_has_a_cursor_of_its_own() {
        use FeedKind::*;
        assert_eq!(watch_name(None, &[]), "all");
        assert_eq!(
            watch_name(Some("WF-AB"), &[StepFailed, GateRequested, StepFailed]),
            "gate_requested+step_failed.WF-AB"
        );
    }

    #[test]
    fn cursors_round_trip_and_strangers_are_refused() {
        let c = Cursor {
            commit: Some("a".repeat(40)),
            ms: 1_700_000_000_000,
        };
        assert_eq!(Cursor::parse(&c.to_string()).unwrap(), c);
        assert_eq!(Cursor::parse("-@0").unwrap(), Cursor::start());
        for bad in ["", "abc", "-@x", "zz@1", "-@-5", "; rm -rf /@1"] {
            assert!(Cursor::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
