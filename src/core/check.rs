//! The rules every event meets, checked when it is written and again when
//! it is read. A line pulled from a peer is untrusted input: what the
//! write side would refuse (a step key that is a path, a control
//! character, a value nested too deep, a clock out of range) the fold
//! does not honour either (`fold::admit`). One set of rules serves both
//! sides, so a clone never accepts from a peer what it would refuse from
//! its own caller.
//!
//! Pure: no files, processes or git.

use serde_json::{Map, Value};

use crate::core::error::{Error, ErrorKind, Result};
use crate::core::event::{
    Body, CLAIM_VERSION, Claimed, Decision, Event, GoalOpened, GoalUpdated, HandedOff,
    NEEDS_VERSION, Opened, Released, StepSpec, TEMPLATE_VERSION, TIMER_VERSION, TemplateRef,
    Updated,
};
use crate::core::limits::{self, Text, opt_text};
use crate::core::model::validate_name;

/// The largest logical clock: 2^53 - 1, the largest integer every JSON
/// reader holds exactly. A clock above it is out of range.
pub const MAX_CLOCK: u64 = (1 << 53) - 1;

/// How far an event's clock may run ahead of its highest parent's. An
/// honest writer always writes exactly one more; the slack admits
/// hand-made histories, and the bound keeps a peer from pushing a run's
/// clock to the end of its range in one line.
pub const MAX_CLOCK_STEP: u64 = 1 << 20;

/// The most parents one event may name: the heads its writer saw, one per
/// clone that wrote concurrently.
pub const MAX_PARENTS: usize = 1_000;

/// The longest signature a decision may carry (an armored SSHSIG is well
/// under 1 KiB for every key type ssh-keygen makes).
const MAX_SIGNATURE: usize = 16 * 1024;

/// Checks everything in `e` that does not depend on the rest of its
/// history: its header, and every field of its body by the rules the write
/// side applies to the request that made it. The error names the field.
pub fn event(e: &Event) -> Result<()> {
    if e.clock == 0 || e.clock > MAX_CLOCK {
        return Err(Error::invalid(format!(
            "clock {} is out of range (1 to {MAX_CLOCK})",
            e.clock
        )));
    }
    if e.parents.len() > MAX_PARENTS {
        return Err(Error::invalid(format!(
            "the event names {} parents; the limit is {MAX_PARENTS}",
            e.parents.len()
        )));
    }
    if let Some(p) = e.parents.iter().find(|p| !crate::core::id::is_event_id(p)) {
        return Err(Error::invalid(format!(
            "parent {} is not an event id",
            crate::core::limits::quote(p)
        )));
    }
    limits::text("actor", &e.actor, Text::Name)?;
    limits::text("session", &e.session, Text::Name)?;
    limits::text("at", &e.at, Text::Name)?;
    if chrono::DateTime::parse_from_rfc3339(&e.at).is_err() {
        return Err(Error::invalid(format!(
            "at {} is not an RFC 3339 time (as nexo writes them: 2026-12-06T10:00:00.000Z)",
            limits::quote(&e.at)
        )));
    }
    if e.body.declares_needs() && e.v < NEEDS_VERSION {
        return Err(Error::invalid(format!(
            "steps' needs are written as schema {NEEDS_VERSION}, not {}",
            e.v
        )));
    }
    if matches!(&e.body, Body::Updated(u) if u.not_before.is_some() || u.after.is_some())
        && e.v < TIMER_VERSION
    {
        return Err(Error::invalid(format!(
            "a step's timer or needs on other runs are written as schema {TIMER_VERSION}, not {}",
            e.v
        )));
    }
    if matches!(&e.body, Body::Opened(o) if o.template.is_some()) && e.v < TEMPLATE_VERSION {
        return Err(Error::invalid(format!(
            "an opening from a template is written as schema {TEMPLATE_VERSION}, not {}",
            e.v
        )));
    }
    if matches!(e.body, Body::Claimed(_) | Body::Released(_)) && e.v < CLAIM_VERSION {
        return Err(Error::invalid(format!(
            "a {} event is written as schema {CLAIM_VERSION}, not {}",
            e.body.type_name(),
            e.v
        )));
    }
    match &e.body {
        Body::Opened(o) => opened(o),
        Body::Updated(u) => updated(u),
        Body::HandedOff(h) => handed_off(h),
        Body::Approved(d) | Body::Rejected(d) => decision(d),
        Body::GoalOpened(g) => goal_opened(g),
        Body::GoalUpdated(g) => goal_updated(g),
        Body::Claimed(c) => claimed(e, c),
        Body::Released(r) => released(e, r),
    }
}

pub use crate::core::claim::MAX_TTL_SECONDS;

fn claimed(e: &Event, c: &Claimed) -> Result<()> {
    validate_name("step_key", &c.step_key)?;
    holder_is_actor(e, &c.holder)?;
    if !(1..=MAX_TTL_SECONDS).contains(&c.ttl_seconds) {
        return Err(Error::invalid(format!(
            "ttl_seconds {} is out of range (1 to {MAX_TTL_SECONDS})",
            c.ttl_seconds
        )));
    }
    token(&c.token)?;
    // The lease follows from the write's time and ttl: a reader never
    // has to trust one without the other.
    let expected = crate::core::claim::lease_end(&e.at, c.ttl_seconds).ok_or_else(|| {
        Error::invalid(format!(
            "at {} is not an RFC 3339 time a lease can start from",
            limits::quote(&e.at)
        ))
    })?;
    if c.lease_until != expected {
        return Err(Error::invalid(format!(
            "lease_until {} is not at plus ttl_seconds ({expected})",
            limits::quote(&c.lease_until)
        )));
    }
    Ok(())
}

fn released(e: &Event, r: &Released) -> Result<()> {
    validate_name("step_key", &r.step_key)?;
    holder_is_actor(e, &r.holder)?;
    token(&r.token)
}

fn holder_is_actor(e: &Event, holder: &str) -> Result<()> {
    limits::text("holder", holder, Text::Name)?;
    if holder != e.actor {
        return Err(Error::invalid(format!(
            "holder {} is not the event's actor {}: only a holder claims or releases for itself",
            limits::quote(holder),
            limits::quote(&e.actor)
        )));
    }
    Ok(())
}

fn token(t: &str) -> Result<()> {
    if !crate::core::id::is_event_id(t) {
        return Err(Error::invalid(format!(
            "token {} is not an event id",
            limits::quote(t)
        )));
    }
    Ok(())
}

/// Checks the steps a run is opened with: plain, unique keys, titles
/// within limits, not too many.
pub fn steps(steps: &[StepSpec]) -> Result<()> {
    if steps.len() > limits::MAX_STEPS {
        return Err(Error::invalid(format!(
            "steps has {} entries; the limit is {}",
            steps.len(),
            limits::MAX_STEPS
        )));
    }
    for (i, s) in steps.iter().enumerate() {
        validate_name(&format!("steps[{i}].key"), &s.key)?;
        if steps[..i].iter().any(|p| p.key == s.key) {
            let key = s.key.clone();
            return Err(Error::naming(ErrorKind::Invalid, move |n| {
                format!(
                    "duplicate step key '{key}' in {}: each step needs its own key",
                    n("steps")
                )
            }));
        }
        limits::text(&format!("steps[{i}].title"), &s.title, Text::Line)?;
        opt_text(
            &format!("steps[{i}].retry_after"),
            s.retry_after.as_deref(),
            Text::Name,
        )?;
        for (field, value) in [
            ("retry_policy", &s.retry_policy),
            ("compensation", &s.compensation),
        ] {
            opt_text(
                &format!("steps[{i}].{field}"),
                value.as_deref(),
                Text::Prose,
            )?;
        }
    }
    let graph: Vec<(&str, &[String])> = steps
        .iter()
        .map(|s| (s.key.as_str(), s.needs.as_slice()))
        .collect();
    crate::core::graph::check(&graph, &|i| format!("steps[{i}].needs"))
}

/// Checks a JSON map a caller stores (depth and size).
pub fn map(field: &str, value: Option<&Map<String, Value>>) -> Result<()> {
    match value {
        Some(map) => limits::json(field, &Value::Object(map.clone())),
        None => Ok(()),
    }
}

fn names(fields: &[(&str, &str)]) -> Result<()> {
    fields
        .iter()
        .try_for_each(|(f, v)| limits::text(f, v, Text::Name))
}

fn opt(fields: &[(&str, &Option<String>)], kind: Text) -> Result<()> {
    fields
        .iter()
        .try_for_each(|(f, v)| opt_text(f, v.as_deref(), kind))
}

fn opened(o: &Opened) -> Result<()> {
    // The run id names the run's folder.
    validate_name("run_id", &o.run_id)?;
    names(&[
        ("sid", &o.sid),
        ("goal_id", &o.goal_id),
        ("owner", &o.owner),
        ("workflow_kind", &o.workflow_kind),
        ("idempotency_key", &o.idempotency_key),
        ("protocol_task_id", &o.protocol_task_id),
    ])?;
    limits::text("goal", &o.goal, Text::Line)?;
    limits::text("next_action", &o.next_action, Text::Prose)?;
    steps(&o.steps)?;
    if let Some(t) = &o.template {
        template(t)?;
    }
    map("shared_state", Some(&o.shared_state))
}

/// The template an opening names: plain names, a SHA-256 in hex, and
/// values within a JSON value's limits.
fn template(t: &TemplateRef) -> Result<()> {
    validate_name("template.name", &t.name)?;
    for (i, base) in t.extends.iter().enumerate() {
        validate_name(&format!("template.extends[{i}]"), base)?;
    }
    limits::text("template.version", &t.version, Text::Name)?;
    if t.hash.len() != 64
        || !t
            .hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(Error::invalid(format!(
            "template.hash {} is not a SHA-256 in lowercase hex",
            limits::quote(&t.hash)
        )));
    }
    map("template.vars", Some(&t.vars))
}

fn updated(u: &Updated) -> Result<()> {
    if let Some(key) = &u.step_key {
        validate_name("step_key", key)?;
    }
    opt_text("step_title", u.step_title.as_deref(), Text::Line)?;
    opt(
        &[
            ("checkpoint_label", &u.checkpoint_label),
            ("retry_after", &u.retry_after),
            ("owner", &u.owner),
        ],
        Text::Name,
    )?;
    opt(
        &[
            ("summary", &u.summary),
            ("evidence", &u.evidence),
            ("next_action", &u.next_action),
            ("retry_policy", &u.retry_policy),
            ("compensation", &u.compensation),
        ],
        Text::Prose,
    )?;
    map("shared_state", u.shared_state.as_ref())?;
    map("state_patch", u.state_patch.as_ref())?;
    if let Some(needs) = &u.needs {
        if needs.len() > limits::MAX_STEPS {
            return Err(Error::invalid(format!(
                "needs has {} entries; the limit is {}",
                needs.len(),
                limits::MAX_STEPS
            )));
        }
        for (i, n) in needs.iter().enumerate() {
            validate_name(&format!("needs[{i}]"), n)?;
        }
    }
    if let Some(after) = &u.after {
        if after.len() > limits::MAX_STEPS {
            return Err(Error::invalid(format!(
                "after has {} entries; the limit is {}",
                after.len(),
                limits::MAX_STEPS
            )));
        }
        for (i, n) in after.iter().enumerate() {
            crate::core::model::RunNeed::parse(&format!("after[{i}]"), n)?;
        }
    }
    // Any RFC 3339 time is harmless on read (a timer in the year 9999
    // keeps its step waiting, saying so); the write side refuses one
    // too far ahead (`claim::timer`).
    if let Some(t) = u.not_before.as_deref().filter(|t| !t.is_empty()) {
        limits::text("not_before", t, Text::Name)?;
        if crate::core::claim::parse_time(t).is_none() {
            return Err(Error::invalid(format!(
                "not_before {} is not an RFC 3339 time",
                limits::quote(t)
            )));
        }
    }
    Ok(())
}

fn handed_off(h: &HandedOff) -> Result<()> {
    opt_text("new_owner", h.new_owner.as_deref(), Text::Name)?;
    opt(
        &[("note", &h.note), ("next_action", &h.next_action)],
        Text::Prose,
    )?;
    map("shared_state", h.shared_state.as_ref())
}

fn decision(d: &Decision) -> Result<()> {
    validate_name("step_key", &d.step_key)?;
    limits::text("note", &d.note, Text::Prose)?;
    opt_text("next_action", d.next_action.as_deref(), Text::Prose)?;
    match &d.signature {
        Some(s) if s.len() > MAX_SIGNATURE => Err(Error::invalid(format!(
            "signature is {} bytes long; the limit is {MAX_SIGNATURE}",
            s.len()
        ))),
        Some(s) => limits::text("signature", s, Text::Prose),
        None => Ok(()),
    }
}

fn goal_opened(g: &GoalOpened) -> Result<()> {
    validate_name("goal_id", &g.goal_id)?;
    names(&[
        ("sid", &g.sid),
        ("parent_goal_id", &g.parent_goal_id),
        ("owner", &g.owner),
    ])?;
    limits::text("title", &g.title, Text::Line)?;
    for (f, v) in [
        ("objective", &g.objective),
        ("next_action", &g.next_action),
        ("success_signal", &g.success_signal),
    ] {
        limits::text(f, v, Text::Prose)?;
    }
    map("shared_state", Some(&g.shared_state))
}

fn goal_updated(g: &GoalUpdated) -> Result<()> {
    opt_text("title", g.title.as_deref(), Text::Line)?;
    opt(
        &[("parent_goal_id", &g.parent_goal_id), ("owner", &g.owner)],
        Text::Name,
    )?;
    opt(
        &[
            ("objective", &g.objective),
            ("next_action", &g.next_action),
            ("success_signal", &g.success_signal),
            ("blocker_reason", &g.blocker_reason),
        ],
        Text::Prose,
    )?;
    map("shared_state", g.shared_state.as_ref())
}

/// A history must open the run whose folder it is in: a peer's history in
/// `runs/WF-A/` that opens `WF-B` would otherwise write its views over
/// WF-B's.
pub fn same_run(folder: &str, opened: &str) -> Result<()> {
    if folder == opened {
        return Ok(());
    }
    Err(Error::corrupt(format!(
        "{} opens run {opened:?}, not {folder}: a history belongs in its own run's folder",
        crate::core::layout::history_rel(folder)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testkit::event as make;

    fn update(key: &str) -> Event {
        make(
            1,
            2,
            vec![],
            "codex",
            Body::Updated(Updated {
                step_key: Some(key.into()),
                ..Default::default()
            }),
        )
    }

    #[test]
    fn a_step_key_that_is_a_path_is_refused_by_name() {
        for key in ["../x", "/tmp/abs", "a/b", ""] {
            let err = event(&update(key)).unwrap_err();
            assert!(err.message.contains("step_key"), "{key}: {err}");
        }
        assert!(event(&update("publish")).is_ok());
    }

    #[test]
    fn clocks_outside_the_range_are_refused() {
        for clock in [0, MAX_CLOCK + 1, u64::MAX] {
            let mut e = update("a");
            e.clock = clock;
            let err = event(&e).unwrap_err();
            assert!(err.message.contains("clock"), "{err}");
        }
    }

    #[test]
    fn an_opening_from_a_template_is_schema_7_and_names_its_template_plainly() {
        let mut h = crate::core::testkit::History::open(&["a"]);
        let e = &mut h.events[0];
        let Body::Opened(o) = &mut e.body else {
            unreachable!()
        };
        o.template = Some(TemplateRef {
            name: "release".into(),
            version: "2".into(),
            hash: "ab".repeat(32),
            extends: vec![],
            vars: Default::default(),
        });
        assert_eq!(e.body.written_version(), TEMPLATE_VERSION);
        e.v = TEMPLATE_VERSION;
        assert!(event(e).is_ok());
        e.v = NEEDS_VERSION;
        assert!(event(e).unwrap_err().message.contains("schema 7, not 6"));
        e.v = TEMPLATE_VERSION;
        let Body::Opened(o) = &mut e.body else {
            unreachable!()
        };
        o.template.as_mut().unwrap().name = "../x".into();
        assert!(event(e).unwrap_err().message.contains("template.name"));
        let Body::Opened(o) = &mut e.body else {
            unreachable!()
        };
        o.template.as_mut().unwrap().name = "release".into();
        o.template.as_mut().unwrap().hash = "not a hash".into();
        assert!(event(e).unwrap_err().message.contains("template.hash"));
    }

    #[test]
    fn header_fields_follow_the_write_sides_rules() {
        let mut e = update("a");
        e.actor = "\u{1b}[2Jroot".into();
        assert!(event(&e).unwrap_err().message.contains("actor"));
        let mut e = update("a");
        e.parents = vec!["../../etc".into()];
        assert!(event(&e).unwrap_err().message.contains("parent"));
    }
}
