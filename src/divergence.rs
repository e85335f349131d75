//! Honest divergence: detecting changes that two clones made to the same
//! field without seeing each other.
//!
//! Every event names the heads it followed (its parents), so "B saw A" is
//! "A is an ancestor of B". For each watched field (a step's status, the
//! run's owner) we keep the *frontier* of events that set it: setters not
//! followed by a later setter. A later setter that saw them all replaces
//! them (someone decided); one that did not joins them. A frontier with two
//! different values is a divergence. The fold still picks a deterministic
//! winner (the last in (clock, id) order), but resume reports both sides.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

/// Ancestry of the events folded so far, as one bit set per event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Causality {
    index: HashMap<String, usize>,
    ancestors: Vec<Vec<u64>>,
}

impl Causality {
    /// Registers an event after all of its parents; returns its sequence
    /// number. Parents missing from the history are ignored.
    pub fn add(&mut self, id: &str, parents: &[crate::id::EventId]) -> usize {
        let seq = self.ancestors.len();
        let mut bits = vec![0u64; seq / 64 + 1];
        for p in parents {
            if let Some(&j) = self.index.get(p.as_str()) {
                bits[j / 64] |= 1 << (j % 64);
                for (w, b) in self.ancestors[j].iter().enumerate() {
                    bits[w] |= b;
                }
            }
        }
        self.index.insert(id.to_string(), seq);
        self.ancestors.push(bits);
        seq
    }

    /// Did event `b` see event `a`?
    pub fn saw(&self, b: usize, a: usize) -> bool {
        a == b
            || self
                .ancestors
                .get(b)
                .and_then(|bits| bits.get(a / 64))
                .is_some_and(|w| w & (1 << (a % 64)) != 0)
    }
}

/// One clone's value for a diverged field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Side {
    pub value: String,
    pub actor: String,
    pub at: String,
    pub event_id: String,
    #[serde(skip)]
    seq: usize,
}

/// A field that concurrent events set to different values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Divergence {
    /// `status` of a step, or `owner` of the run.
    pub field: String,
    pub step_key: Option<String>,
    /// The values, in the order the fold applied them; the last one won.
    pub sides: Vec<Side>,
}

impl Divergence {
    pub fn describe(&self) -> String {
        let what = match &self.step_key {
            Some(k) => format!("step '{k}' {}", self.field),
            None => format!("run {}", self.field),
        };
        let sides = self
            .sides
            .iter()
            .map(|s| format!("'{}' by {} at {}", s.value, s.actor, s.at))
            .collect::<Vec<_>>()
            .join(" vs ");
        format!("{what} was set concurrently: {sides}")
    }
}

/// The frontier of setters of each watched field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frontiers {
    fields: BTreeMap<(Option<String>, String), Vec<Side>>,
}

impl Frontiers {
    /// Records that event `seq` set `field` (of `step_key`, if any).
    #[allow(clippy::too_many_arguments)]
    pub fn set(
        &mut self,
        causality: &Causality,
        seq: usize,
        step_key: Option<&str>,
        field: &str,
        value: &str,
        actor: &str,
        at: &str,
        event_id: &str,
    ) {
        let frontier = self
            .fields
            .entry((step_key.map(String::from), field.to_string()))
            .or_default();
        frontier.retain(|s| !causality.saw(seq, s.seq));
        frontier.push(Side {
            value: value.to_string(),
            actor: actor.to_string(),
            at: at.to_string(),
            event_id: event_id.to_string(),
            seq,
        });
    }

    /// Fields whose frontier holds different values, in a stable order.
    pub fn divergences(&self) -> Vec<Divergence> {
        self.fields
            .iter()
            .filter(|(_, sides)| sides.iter().any(|s| s.value != sides[0].value))
            .map(|((step, field), sides)| Divergence {
                field: field.clone(),
                step_key: step.clone(),
                sides: sides.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_setters_diverge_until_one_sees_both() {
        let mut c = Causality::default();
        let mut f = Frontiers::default();
        let root = c.add("a", &[]);
        let left = c.add("l", &["a".into()]);
        let right = c.add("r", &["a".into()]);
        f.set(&c, root, Some("s"), "status", "pending", "x", "t0", "a");
        f.set(
            &c,
            left,
            Some("s"),
            "status",
            "completed",
            "laptop",
            "t1",
            "l",
        );
        f.set(
            &c,
            right,
            Some("s"),
            "status",
            "failed",
            "server",
            "t2",
            "r",
        );
        let d = f.divergences();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].sides.len(), 2);
        assert!(
            d[0].describe()
                .contains("'completed' by laptop at t1 vs 'failed' by server at t2")
        );
        let merge = c.add("m", &["l".into(), "r".into()]);
        f.set(&c, merge, Some("s"), "status", "completed", "me", "t3", "m");
        assert!(f.divergences().is_empty());
    }

    #[test]
    fn the_same_value_set_twice_is_no_divergence() {
        let mut c = Causality::default();
        let mut f = Frontiers::default();
        c.add("a", &[]);
        let l = c.add("l", &["a".into()]);
        let r = c.add("r", &["a".into()]);
        f.set(&c, l, None, "owner", "bob", "x", "t", "l");
        f.set(&c, r, None, "owner", "bob", "y", "t", "r");
        assert!(f.divergences().is_empty());
    }
}
