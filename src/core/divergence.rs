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

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

/// The parent graph of the events folded so far: each event's clock and
/// parents, a few dozen bytes an event. "Did b see a" is a search from b
/// back through parents that never goes below a's clock (an ancestor
/// always has a smaller clock), so its cost is the distance between the
/// two, not the history's length; the common linear case is answered
/// without searching at all (see `Frontiers::set`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Causality {
    index: HashMap<String, u32>,
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq)]
struct Node {
    clock: u64,
    parents: Vec<u32>,
}

impl Causality {
    /// Registers an event after all of its parents; returns its sequence
    /// number. Parents missing from the history are ignored.
    pub fn add(&mut self, id: &str, clock: u64, parents: &[crate::core::id::EventId]) -> usize {
        let seq = self.nodes.len();
        let parents = parents
            .iter()
            .filter_map(|p| self.index.get(p.as_str()).copied())
            .collect();
        self.index.insert(id.to_string(), seq as u32);
        self.nodes.push(Node { clock, parents });
        seq
    }

    /// The clock of folded event `id`.
    pub fn clock_of(&self, id: &str) -> Option<u64> {
        self.seq_of(id).map(|i| self.nodes[i].clock)
    }

    /// The sequence number of folded event `id`.
    pub fn seq_of(&self, id: &str) -> Option<usize> {
        self.index.get(id).map(|&i| i as usize)
    }

    /// The ids of every event folded.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.index.keys().map(String::as_str)
    }

    /// Did event `b` see event `a`?
    pub fn saw(&self, b: usize, a: usize) -> bool {
        if a == b {
            return true;
        }
        let (Some(target), Some(from)) = (self.nodes.get(a), self.nodes.get(b)) else {
            return false;
        };
        let mut stack: Vec<u32> = from.parents.clone();
        let mut seen = HashSet::new();
        while let Some(x) = stack.pop() {
            if x as usize == a {
                return true;
            }
            let node = &self.nodes[x as usize];
            if node.clock <= target.clock || !seen.insert(x) {
                continue;
            }
            stack.extend(&node.parents);
        }
        false
    }
}

/// One clone's value for a diverged field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Side {
    pub value: String,
    pub actor: String,
    pub at: String,
    pub event_id: String,
    #[serde(skip)]
    seq: usize,
}

/// A field that concurrent events set to different values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// The frontier of setters of each watched field. Serialized as a list
/// (JSON has no tuple keys), so a fold's state can be cached; a frontier
/// read back answers "did b see a" only for events folded after it that
/// saw everything (the only ones a cached fold applies).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Vec<FieldFrontier>", into = "Vec<FieldFrontier>")]
pub struct Frontiers {
    fields: BTreeMap<(Option<String>, String), Vec<Side>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FieldFrontier {
    step_key: Option<String>,
    field: String,
    sides: Vec<Side>,
}

impl From<Vec<FieldFrontier>> for Frontiers {
    fn from(v: Vec<FieldFrontier>) -> Self {
        Frontiers {
            fields: v
                .into_iter()
                .map(|f| ((f.step_key, f.field), f.sides))
                .collect(),
        }
    }
}

impl From<Frontiers> for Vec<FieldFrontier> {
    fn from(f: Frontiers) -> Self {
        f.fields
            .into_iter()
            .map(|((step_key, field), sides)| FieldFrontier {
                step_key,
                field,
                sides,
            })
            .collect()
    }
}

impl Frontiers {
    /// Records that event `seq` set `field` (of `step_key`, if any).
    /// `saw_all`: the event followed every event folded before it (the
    /// linear case), so it replaces the frontier without a search.
    #[allow(clippy::too_many_arguments)]
    pub fn set(
        &mut self,
        causality: &Causality,
        saw_all: bool,
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
        if saw_all {
            frontier.clear();
        } else {
            frontier.retain(|s| !causality.saw(seq, s.seq));
        }
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
        let root = c.add("a", 1, &[]);
        let left = c.add("l", 2, &["a".into()]);
        let right = c.add("r", 2, &["a".into()]);
        f.set(
            &c,
            true,
            root,
            Some("s"),
            "status",
            "pending",
            "x",
            "t0",
            "a",
        );
        f.set(
            &c,
            false,
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
            false,
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
        let merge = c.add("m", 3, &["l".into(), "r".into()]);
        assert!(c.saw(merge, root) && c.saw(merge, left) && !c.saw(left, right));
        f.set(
            &c,
            false,
            merge,
            Some("s"),
            "status",
            "completed",
            "me",
            "t3",
            "m",
        );
        assert!(f.divergences().is_empty());
    }

    #[test]
    fn the_same_value_set_twice_is_no_divergence() {
        let mut c = Causality::default();
        let mut f = Frontiers::default();
        c.add("a", 1, &[]);
        let l = c.add("l", 2, &["a".into()]);
        let r = c.add("r", 2, &["a".into()]);
        f.set(&c, false, l, None, "owner", "bob", "x", "t", "l");
        f.set(&c, false, r, None, "owner", "bob", "y", "t", "r");
        assert!(f.divergences().is_empty());
    }
}
