//! Checking requests against a run's state, before anything is written,
//! and turning them into event payloads. Every refusal here names what is
//! wrong and what would be right.

use serde_json::{Map, Value};

use crate::core::error::{Error, ErrorKind, Result};
use crate::core::event::{StepSpec, Updated};
use crate::core::fold::{Run, Step};
use crate::core::limits::{Text, opt_text};
use crate::core::model::{StepStatus, validate_name};
use crate::core::ready::RunNeed;
use crate::wire::request::UpdateRequest;
use crate::workspace::non_empty;

/// A limit, where 0 means "the default" as in the original runtime.
pub(super) fn limit_or(v: Option<usize>, default: usize) -> usize {
    v.filter(|&n| n > 0).unwrap_or(default)
}

pub(super) fn existing_step<'a>(run: &'a Run, key: &str) -> Result<&'a Step> {
    run.step(key)
        .ok_or_else(|| Error::not_found(unknown_step(run, key)))
}

/// That run has no step `key`, and the steps it has.
fn unknown_step(run: &Run, key: &str) -> String {
    format!(
        "unknown step '{key}' in run {}; its steps are: {}",
        run.run_id,
        if run.steps.is_empty() {
            "(none)".to_string()
        } else {
            run.step_keys()
        }
    )
}

/// Checks a JSON map a caller stores (depth and size).
pub(super) fn check_map(value: Option<&Map<String, Value>>, field: &str) -> Result<()> {
    crate::core::check::map(field, value)
}

/// Checks the steps a run is opened with (the same rules a read applies).
pub(super) fn check_steps(steps: &[StepSpec]) -> Result<()> {
    crate::core::check::steps(steps)
}

/// Checks an update against the run it applies to and turns it into an
/// event payload.
pub(super) fn validate_update(
    run: &Run,
    req: UpdateRequest,
    shared_state: Option<Map<String, Value>>,
    state_patch: Option<Map<String, Value>>,
) -> Result<Updated> {
    check_update_text(&req)?;
    let step_key = non_empty(req.step_key.clone());
    check_step_key(run, &req, step_key.as_deref())?;
    let anything = step_key.is_some()
        || req.run_status.is_some()
        || req.checkpoint_label.is_some()
        || req.summary.is_some()
        || req.evidence.is_some()
        || req.next_action.is_some()
        || shared_state.is_some()
        || state_patch.is_some()
        || req.owner.is_some()
        || req.needs.is_some()
        || req.not_before.is_some();
    if !anything {
        return Err(nothing_to_update());
    }
    // A rejected gate is not lifted by simply carrying on: the rejection
    // must be answered by a new approval request or an explicit approval.
    if let (Some(key), Some(status)) = (&step_key, req.step_status)
        && let Some(step) = run.step(key)
        && step.is_rejected()
        && (status.is_active() || status == StepStatus::Completed)
        && req.requires_approval != Some(true)
    {
        let a = step
            .approval
            .as_ref()
            .expect("rejected steps carry a decision");
        let (key, by, at, run_id) = (key.clone(), a.by.clone(), a.at.clone(), run.run_id.clone());
        return Err(Error::naming(ErrorKind::Conflict, move |n| {
            format!(
                "step '{key}' was rejected by {by} at {at}; approve it explicitly (nexo approve {run_id} {key}) or ask for approval again ({} true)",
                n("requires_approval")
            )
        }));
    }
    // Needs on other runs go apart (`after`, checked against the other
    // runs by the caller); a step that had some keeps them cleared only
    // when told, so a plain update of needs stays schema 6.
    let (needs, after) = match req.needs {
        None => (None, None),
        Some(all) => {
            let (cross, same): (Vec<String>, Vec<String>) =
                all.into_iter().partition(|n| RunNeed::is_one(n));
            let had = step_key
                .as_deref()
                .and_then(|k| run.step(k))
                .is_some_and(|s| !s.after.is_empty());
            (Some(same), (had || !cross.is_empty()).then_some(cross))
        }
    };
    Ok(Updated {
        step_key,
        step_title: req.step_title,
        step_status: req.step_status,
        run_status: req.run_status,
        checkpoint_label: req.checkpoint_label,
        summary: req.summary,
        evidence: req.evidence,
        next_action: req.next_action,
        shared_state,
        state_patch,
        retry_after: req.retry_after,
        retry_policy: req.retry_policy,
        compensation: req.compensation,
        owner: req.owner,
        max_retries: req.max_retries,
        requires_approval: req.requires_approval,
        needs,
        after,
        not_before: req
            .not_before
            .as_deref()
            .map(|t| crate::core::claim::timer("not_before", t, &crate::trace::now_text()))
            .transpose()?,
    })
    .and_then(|u| {
        crate::core::fold::check_needs(run, &u)?;
        Ok(u)
    })
}

/// The fields that need `step_key` are refused without it; a step key
/// must be a plain name, and name a step of the run unless `step_title`
/// adds it.
fn check_step_key(run: &Run, req: &UpdateRequest, step_key: Option<&str>) -> Result<()> {
    let step_fields = [
        ("step_title", req.step_title.is_some()),
        ("step_status", req.step_status.is_some()),
        ("max_retries", req.max_retries.is_some()),
        ("requires_approval", req.requires_approval.is_some()),
        ("retry_after", req.retry_after.is_some()),
        ("retry_policy", req.retry_policy.is_some()),
        ("compensation", req.compensation.is_some()),
        ("needs", req.needs.is_some()),
        ("not_before", req.not_before.is_some()),
    ];
    match step_key {
        None => {
            if let Some(&(field, _)) = step_fields.iter().find(|(_, set)| *set) {
                let steps = if run.steps.is_empty() {
                    "(none yet)".to_string()
                } else {
                    run.step_keys()
                };
                return Err(Error::naming(ErrorKind::Invalid, move |n| {
                    format!(
                        "{} needs {}: name the step it applies to (steps: {steps})",
                        n(field),
                        n("step_key")
                    )
                }));
            }
        }
        Some(key) => {
            validate_name("step_key", key)?;
            if run.step(key).is_none() && non_empty(req.step_title.clone()).is_none() {
                let known = unknown_step(run, key);
                return Err(Error::naming(ErrorKind::NotFound, move |n| {
                    format!("{known}. To add a new step, also pass {}", n("step_title"))
                }));
            }
        }
    }
    Ok(())
}

/// An update that would change nothing.
pub fn nothing_to_update() -> Error {
    Error::naming(ErrorKind::Invalid, |n| {
        let [key, status, rest @ ..] = [
            "step_key",
            "step_status",
            "summary",
            "evidence",
            "next_action",
            "run_status",
            "owner",
            "shared_state",
            "state_patch",
        ]
        .map(n);
        format!(
            "nothing to update: pass {key} with {status}, or {}",
            rest.join(", ")
        )
    })
}

pub(super) fn update_subject(u: &Updated) -> String {
    match (&u.step_key, u.step_status, u.run_status) {
        (Some(k), Some(s), _) => format!("{k} → {s}"),
        (_, _, Some(r)) => format!("run → {r}"),
        (Some(k), None, None) => format!("{k} updated"),
        _ => "checkpoint".to_string(),
    }
}

fn check_update_text(req: &UpdateRequest) -> Result<()> {
    opt_text("step_title", req.step_title.as_deref(), Text::Line)?;
    for (field, value) in [
        ("checkpoint_label", &req.checkpoint_label),
        ("retry_after", &req.retry_after),
        ("owner", &req.owner),
    ] {
        opt_text(field, value.as_deref(), Text::Name)?;
    }
    for (field, value) in [
        ("summary", &req.summary),
        ("evidence", &req.evidence),
        ("next_action", &req.next_action),
        ("retry_policy", &req.retry_policy),
        ("compensation", &req.compensation),
    ] {
        opt_text(field, value.as_deref(), Text::Prose)?;
    }
    Ok(())
}
