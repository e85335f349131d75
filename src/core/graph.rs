//! Steps' dependencies (`needs`): which keys a step may name, and the
//! cycles that would leave a step never ready. One set of checks for the
//! write side (a request) and the read side (a peer's line).
//!
//! Pure: no files, processes or git.

use std::collections::HashMap;

use crate::core::error::{Error, ErrorKind, Result};
use crate::core::model::validate_name;

/// Checks the dependencies of a whole set of steps, given as
/// `(key, needs)` in order: every name a step of the set, none its own,
/// none twice, and no cycle. `field` names the needs of step `i` in the
/// caller's terms (`steps[2].needs`).
pub fn check<'a>(steps: &[(&'a str, &'a [String])], field: &dyn Fn(usize) -> String) -> Result<()> {
    for (i, (key, needs)) in steps.iter().enumerate() {
        for (j, n) in needs.iter().enumerate() {
            validate_name(&format!("{}[{j}]", field(i)), n)?;
            // The field is named by each interface its own way (`--needs`).
            let refuse = |kind, rest: String| {
                let (at, key) = (field(i), key.to_string());
                Err(Error::naming(kind, move |name| {
                    format!("{}: step '{key}' {rest}", name(&at))
                }))
            };
            if n == key {
                return refuse(ErrorKind::Invalid, "cannot need itself".into());
            }
            if needs[..j].contains(n) {
                return refuse(ErrorKind::Invalid, format!("names '{n}' twice"));
            }
            if !steps.iter().any(|(k, _)| k == n) {
                let keys: Vec<&str> = steps.iter().map(|(k, _)| *k).collect();
                return refuse(
                    ErrorKind::NotFound,
                    format!(
                        "needs '{n}', which is not a step of the run; its steps are: {}",
                        keys.join(", ")
                    ),
                );
            }
        }
    }
    match cycle(steps) {
        Some(path) => Err(Error::invalid(format!(
            "steps' needs make a cycle, so none of its steps could ever be ready: {}",
            path.join(" → ")
        ))
        .with_hint("remove one of those dependencies")),
        None => Ok(()),
    }
}

/// A cycle among the steps' needs, as the keys along it with the first
/// repeated at the end (`a → b → a`), if there is one. Found by depth-first
/// search from each step in order, so the same steps give the same cycle.
pub fn cycle(steps: &[(&str, &[String])]) -> Option<Vec<String>> {
    let index: HashMap<&str, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, (k, _))| (*k, i))
        .collect();
    // 0: not visited, 1: on the current path, 2: done.
    let mut state = vec![0u8; steps.len()];
    let mut path: Vec<usize> = Vec::new();
    for start in 0..steps.len() {
        if state[start] == 0
            && let Some(c) = visit(start, steps, &index, &mut state, &mut path)
        {
            return Some(c);
        }
    }
    None
}

fn visit(
    at: usize,
    steps: &[(&str, &[String])],
    index: &HashMap<&str, usize>,
    state: &mut [u8],
    path: &mut Vec<usize>,
) -> Option<Vec<String>> {
    state[at] = 1;
    path.push(at);
    for need in steps[at].1 {
        let Some(&next) = index.get(need.as_str()) else {
            continue;
        };
        match state[next] {
            1 => {
                let from = path.iter().position(|&p| p == next).expect("on the path");
                let mut keys: Vec<String> = path[from..]
                    .iter()
                    .map(|&p| steps[p].0.to_string())
                    .collect();
                keys.push(steps[next].0.to_string());
                return Some(keys);
            }
            0 => {
                if let Some(c) = visit(next, steps, index, state, path) {
                    return Some(c);
                }
            }
            _ => {}
        }
    }
    path.pop();
    state[at] = 2;
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(keys: &[&str]) -> Vec<String> {
        keys.iter().map(|k| k.to_string()).collect()
    }

    fn field(i: usize) -> String {
        format!("steps[{i}].needs")
    }

    #[test]
    fn a_graph_without_cycles_passes() {
        let (none, a, ab) = (v(&[]), v(&["a"]), v(&["a", "b"]));
        let steps = [
            ("a", none.as_slice()),
            ("b", a.as_slice()),
            ("c", ab.as_slice()),
        ];
        assert!(check(&steps, &field).is_ok());
        assert_eq!(cycle(&steps), None);
    }

    #[test]
    fn a_cycle_is_named_whole() {
        let (c, a, b) = (v(&["c"]), v(&["a"]), v(&["b"]));
        let steps = [
            ("a", c.as_slice()),
            ("b", a.as_slice()),
            ("c", b.as_slice()),
        ];
        let err = check(&steps, &field).unwrap_err();
        assert!(err.message.contains("a → c → b → a"), "{}", err.message);
    }

    #[test]
    fn unknown_own_and_repeated_names_are_refused_by_field() {
        let cases: [(&[&str], &str); 4] = [
            (&["nope"], "needs 'nope', which is not a step"),
            (&["a"], "cannot need itself"),
            (&["b", "b"], "names 'b' twice"),
            (&["../x"], "steps[0].needs[0]"),
        ];
        for (needs, expected) in cases {
            let needs = v(needs);
            let none = v(&[]);
            let steps = [("a", needs.as_slice()), ("b", none.as_slice())];
            let err = check(&steps, &field).unwrap_err();
            assert!(err.message.contains(expected), "{needs:?}: {}", err.message);
        }
    }
}
