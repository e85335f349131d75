//! The vocabulary of a workflow: statuses, priorities and the names of runs
//! and steps. Parsing is strict: an unknown word is an error that lists the
//! words that would be right, never a silent default.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::core::error::{Error, Result};

/// Declares a closed set of lowercase words with parsing, display and serde.
/// `aliases` are accepted on input and never written.
macro_rules! word_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $what:literal {
            $($variant:ident => $word:literal),+ $(,)?
        }
        aliases { $($alias:literal => $target:ident),* $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $word),+ }
            }

            /// Parses a word, accepting the documented aliases.
            pub fn parse(input: &str) -> Result<Self> {
                let word = input.trim().to_ascii_lowercase();
                match word.as_str() {
                    $($word => Ok($name::$variant),)+
                    $($alias => Ok($name::$target),)*
                    _ => Err(Error::invalid(format!(
                        "unknown {} {}{}: expected one of {}{}",
                        $what,
                        $crate::core::limits::quote(input),
                        did_you_mean(&word, Self::ALL.iter().map(|v| v.as_str()).chain([$($alias),*])),
                        Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", "),
                        {
                            let aliases: &[(&str, &str)] = &[$(($alias, $name::$target.as_str())),*];
                            if aliases.is_empty() {
                                String::new()
                            } else {
                                format!(
                                    " (also accepted: {})",
                                    aliases.iter().map(|(a, t)| format!("{a} = {t}")).collect::<Vec<_>>().join(", ")
                                )
                            }
                        }
                    ))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s).map_err(serde::de::Error::custom)
            }
        }

        impl std::str::FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> { $name::parse(s) }
        }
    };
}

/// `" (did you mean X?)"` when one of `words` is close to `typed` (a
/// typo, a missing letter, a prefix), else nothing.
pub(crate) fn did_you_mean<'a>(typed: &str, words: impl Iterator<Item = &'a str>) -> String {
    let best = words
        .map(|w| (distance(typed, w), w))
        .filter(|(d, w)| *d <= 2.max(typed.len() / 4) || (typed.len() >= 3 && w.starts_with(typed)))
        .min_by_key(|(d, _)| *d);
    match best {
        Some((_, w)) => format!(" (did you mean {w}?)"),
        None => String::new(),
    }
}

/// Levenshtein distance, on characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let next = (row[j + 1] + 1).min(row[j] + 1).min(prev + cost);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

word_enum! {
    /// Where a run stands as a whole.
    RunStatus, "run status" {
        Open => "open",
        Running => "running",
        Blocked => "blocked",
        WaitingApproval => "waiting_approval",
        Failed => "failed",
        Completed => "completed",
        Cancelled => "cancelled",
    }
    aliases { "in_progress" => Running, "canceled" => Cancelled }
}

impl RunStatus {
    /// Closed runs are hidden from `list` by default and stamp `closed_at`.
    pub fn is_closed(self) -> bool {
        matches!(
            self,
            RunStatus::Failed | RunStatus::Completed | RunStatus::Cancelled
        )
    }

    /// Completed or cancelled: nothing is left to do, so a next action
    /// recorded before is stale (a failed run still has its choices).
    pub fn is_finished(self) -> bool {
        matches!(self, RunStatus::Completed | RunStatus::Cancelled)
    }
}

word_enum! {
    /// Where one step stands.
    StepStatus, "step status" {
        Pending => "pending",
        Running => "running",
        Blocked => "blocked",
        WaitingApproval => "waiting_approval",
        Failed => "failed",
        Completed => "completed",
        Skipped => "skipped",
        Retrying => "retrying",
    }
    aliases { "in_progress" => Running }
}

impl StepStatus {
    /// Completed and skipped steps need no more work.
    pub fn is_done(self) -> bool {
        matches!(self, StepStatus::Completed | StepStatus::Skipped)
    }

    /// Statuses that mean "the work of this step is being done": entering one
    /// counts an attempt, and entering one past an approval gate approves it.
    pub fn is_active(self) -> bool {
        matches!(self, StepStatus::Running | StepStatus::Retrying)
    }
}

word_enum! {
    /// Where a goal stands (the original's goal stack).
    GoalStatus, "goal status" {
        Active => "active",
        Blocked => "blocked",
        Abandoned => "abandoned",
        Completed => "completed",
        Cancelled => "cancelled",
    }
    aliases { "canceled" => Cancelled }
}

impl GoalStatus {
    /// Closed goals are hidden from `goal list` by default and accept no
    /// new runs.
    pub fn is_closed(self) -> bool {
        matches!(
            self,
            GoalStatus::Abandoned | GoalStatus::Completed | GoalStatus::Cancelled
        )
    }
}

word_enum! {
    /// What `nexo wait` waits for (`core::wait`).
    Condition, "condition" {
        Decided => "decided",
        Done => "done",
        Ready => "ready",
        Changed => "changed",
    }
    aliases {}
}

word_enum! {
    /// What happened, as `nexo watch` and `nexo events` tell it
    /// (`core::feed`).
    FeedKind, "event kind" {
        GateRequested => "gate_requested",
        GateDecided => "gate_decided",
        StepFailed => "step_failed",
        ClaimExpired => "claim_expired",
        RunCompleted => "run_completed",
        RunBlocked => "run_blocked",
    }
    aliases {}
}

word_enum! {
    Priority, "priority" {
        Low => "low",
        Normal => "normal",
        High => "high",
        Critical => "critical",
    }
    aliases {}
}

/// The longest run id or step key we accept: long enough for any honest
/// name, short enough to stay a sane file name everywhere.
pub const MAX_NAME_LEN: usize = 80;

/// Checks that `name` can be used as a single path component on every
/// platform git runs on, so a step key can never escape its folder.
pub fn validate_name(what: &str, name: &str) -> Result<()> {
    let hint = "use letters, digits, '-', '_' or '.', starting with a letter or digit";
    // `what` is the caller's field: each interface names it its own way.
    let refuse = |rest: String| -> Result<()> {
        let what = what.to_string();
        Err(Error::naming(
            crate::core::error::ErrorKind::Invalid,
            move |n| format!("{} {rest}", n(&what)),
        ))
    };
    if name.is_empty() {
        return refuse(format!("is empty: {hint}"));
    }
    let quoted = crate::core::limits::quote(name);
    if name.len() > MAX_NAME_LEN {
        return refuse(format!(
            "{quoted} is {} characters long; at most {MAX_NAME_LEN} are allowed",
            name.len()
        ));
    }
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !first_ok || !rest_ok || name.contains("..") || name.ends_with('.') {
        return refuse(format!(
            "{quoted} is not a plain name: {hint} (no slashes, spaces, '..' or control characters)"
        ));
    }
    // Names that Windows reserves would break checkouts there.
    let stem = name.split('.').next().unwrap_or("").to_ascii_uppercase();
    let reserved = matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.len() == 4
            && stem.as_bytes()[3].is_ascii_digit());
    if reserved {
        return refuse(format!(
            "{quoted} is a reserved device name on Windows; choose another"
        ));
    }
    Ok(())
}

/// The key of a step declared by its title alone. The original made it as
/// `title.lower().replace(" ", "-")[:80]`; that key is kept whenever it is
/// a plain name. Otherwise every character a key cannot hold becomes `-`,
/// and a title with nothing usable gives `step-<index>` (1-based).
pub fn key_from_title(title: &str, index: usize) -> String {
    let original: String = title
        .trim()
        .to_lowercase()
        .replace(' ', "-")
        .chars()
        .take(MAX_NAME_LEN)
        .collect();
    if validate_name("key", &original).is_ok() {
        return original;
    }
    let mut key = String::new();
    for c in title.trim().to_lowercase().chars() {
        let c = if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '-'
        };
        if !(c == '-' && (key.is_empty() || key.ends_with('-'))) {
            key.push(c);
        }
    }
    let key: String = key.chars().take(MAX_NAME_LEN).collect();
    let key = key.trim_end_matches('-').to_string();
    if validate_name("key", &key).is_ok() {
        key
    } else {
        format!("step-{index}")
    }
}

/// A step's need on another run: `WF-X` (the run completed) or
/// `WF-X:step` (that step completed or skipped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunNeed {
    pub run: String,
    pub step: Option<String>,
}

impl RunNeed {
    /// Whether a `needs` entry names another run rather than a step of
    /// the same one: it starts with the run prefix.
    pub fn is_one(entry: &str) -> bool {
        entry.starts_with(crate::core::id::RUN_PREFIX)
    }

    /// Reads `WF-X` or `WF-X:step`; `what` names the field.
    pub fn parse(what: &str, entry: &str) -> crate::core::error::Result<RunNeed> {
        let (run, step) = match entry.split_once(':') {
            Some((r, s)) => (r, Some(s)),
            None => (entry, None),
        };
        if !Self::is_one(run) {
            return Err(crate::core::error::Error::invalid(format!(
                "{what} {} is not a need on another run: write WF-XXXX or WF-XXXX:step",
                crate::core::limits::quote(entry)
            )));
        }
        crate::core::model::validate_name(what, run)?;
        if let Some(s) = step {
            crate::core::model::validate_name(what, s)?;
        }
        Ok(RunNeed {
            run: run.to_string(),
            step: step.map(str::to_string),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_progress_is_running() {
        assert_eq!(
            StepStatus::parse("in_progress").unwrap(),
            StepStatus::Running
        );
        assert_eq!(RunStatus::parse("IN_PROGRESS").unwrap(), RunStatus::Running);
    }

    #[test]
    fn a_misspelt_word_suggests_the_closest_one() {
        let err = |w: &str| StepStatus::parse(w).unwrap_err().to_string();
        assert!(
            err("complted").contains("(did you mean completed?)"),
            "{}",
            err("complted")
        );
        assert!(err("compl").contains("(did you mean completed?)"));
        assert!(err("waiting-approval").contains("did you mean waiting_approval?"));
        assert!(err("inprogress").contains("did you mean in_progress?"));
        assert!(!err("zzzz").contains("did you mean"), "{}", err("zzzz"));
        let p = Priority::parse("hihg").unwrap_err().to_string();
        assert!(p.contains("did you mean high?"), "{p}");
    }

    #[test]
    fn unknown_status_lists_valid_ones() {
        let err = StepStatus::parse("done").unwrap_err().to_string();
        assert!(err.contains("\"done\""), "{err}");
        assert!(err.contains("pending, running, blocked"), "{err}");
        assert!(err.contains("in_progress = running"), "{err}");
    }

    #[test]
    fn keys_from_titles_are_the_originals_where_they_can_be() {
        assert_eq!(key_from_title("Build It", 1), "build-it");
        assert_eq!(key_from_title("Run checks (all)!", 2), "run-checks-all");
        assert_eq!(key_from_title("Déployer v3.1", 3), "d-ployer-v3-1");
        assert_eq!(key_from_title("   ", 4), "step-4");
        assert_eq!(key_from_title("../etc", 5), "etc");
        assert_eq!(key_from_title("CON", 6), "step-6");
        assert!(key_from_title(&"x y ".repeat(50), 7).len() <= MAX_NAME_LEN);
    }

    #[test]
    fn names_cannot_escape() {
        for bad in [
            "",
            "../x",
            "a/b",
            "a\\b",
            "..",
            ".hidden",
            "a b",
            "a\nb",
            "x..y",
            "nul",
            "COM1.txt",
            "trailing.",
        ] {
            assert!(validate_name("step key", bad).is_err(), "{bad:?} accepted");
        }
        assert!(validate_name("step key", &"a".repeat(81)).is_err());
        for good in ["doctor", "step-1", "v3.1.1", "a_b", &"a".repeat(80)] {
            validate_name("step key", good).unwrap();
        }
    }
}
