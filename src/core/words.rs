//! How nexo puts things in words, in one place: text on one line, text
//! clipped to a width, a count with its noun ("1 step", "2 steps"), and
//! how a missing value is written. Every adapter, report and commit
//! message says these the same way because they all ask here.

/// `s` on one line: every run of white space (line breaks too) is one
/// space.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `s` on one line, cut to at most `max` characters with an ellipsis.
pub fn clip(s: &str, max: usize) -> String {
    let line = one_line(s);
    if line.chars().count() <= max {
        return line;
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = line.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// The first line of `s`, cut to at most `max` characters: a goal or title
/// as a commit subject or a one-line listing names it.
pub fn headline(s: &str, max: usize) -> String {
    clip(s.lines().next().unwrap_or(""), max)
}

/// `s` clipped to `width` characters and padded to exactly that width:
/// one cell of a column, which a long value can never push out of line.
pub fn cell(s: &str, width: usize) -> String {
    format!("{:<width$}", clip(s, width))
}

/// The width of a column holding `values`: the widest, at most `cap`, at
/// least `min` (the header's width, say).
pub fn column<'a>(values: impl IntoIterator<Item = &'a str>, min: usize, cap: usize) -> usize {
    values
        .into_iter()
        .map(|v| one_line(v).chars().count())
        .max()
        .unwrap_or(0)
        .clamp(min, cap.max(min))
}

/// `n` of a thing, with the noun in the number it takes: "0 steps",
/// "1 step", "2 steps". English's regular plurals: "entry" → "entries",
/// "match" → "matches".
pub fn count(n: usize, noun: &str) -> String {
    format!("{n} {}", plural(n, noun))
}

/// `noun` as `n` of it takes it ("step" for 1, "steps" otherwise).
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        return noun.to_string();
    }
    let consonant_y = noun.ends_with('y')
        && !noun
            .chars()
            .rev()
            .nth(1)
            .is_some_and(|c| "aeiou".contains(c));
    if consonant_y {
        format!("{}ies", &noun[..noun.len() - 1])
    } else if ["s", "x", "z", "ch", "sh"]
        .iter()
        .any(|e| noun.ends_with(e))
    {
        format!("{noun}es")
    } else {
        format!("{noun}s")
    }
}

/// Records by their ids, runs and goals counted apart: "2 runs", "1 goal",
/// "1 run and 2 goals".
pub fn runs_and_goals<'a>(ids: impl IntoIterator<Item = &'a str>) -> String {
    let (mut runs, mut goals) = (0, 0);
    for id in ids {
        match id.starts_with(crate::core::id::GOAL_PREFIX) {
            true => goals += 1,
            false => runs += 1,
        }
    }
    match (runs, goals) {
        (runs, 0) => count(runs, "run"),
        (0, goals) => count(goals, "goal"),
        (runs, goals) => format!("{} and {}", count(runs, "run"), count(goals, "goal")),
    }
}

/// How a missing person is written: a run with no owner is owned by
/// "nobody", in a sentence, a table and a commit message alike.
pub const NOBODY: &str = "nobody";

/// How any other missing value is written (a current step, a list with
/// nothing in it).
pub const NONE: &str = "none";

/// A person's name, or [`NOBODY`] when there is none.
pub fn who(name: &str) -> &str {
    if name.trim().is_empty() { NOBODY } else { name }
}

/// A value, or [`NONE`] when there is none.
pub fn or_none(value: Option<&str>) -> &str {
    match value {
        Some(v) if !v.trim().is_empty() => v,
        _ => NONE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_take_the_noun_in_their_number() {
        assert_eq!(count(0, "step"), "0 steps");
        assert_eq!(count(1, "step"), "1 step");
        assert_eq!(count(2, "compensation"), "2 compensations");
        assert_eq!(count(1, "problem"), "1 problem");
        assert_eq!(count(3, "entry"), "3 entries");
        assert_eq!(count(2, "day"), "2 days");
        assert_eq!(count(2, "branch"), "2 branches");
        assert_eq!(count(2, "path"), "2 paths");
    }

    #[test]
    fn a_missing_value_has_one_spelling() {
        assert_eq!(who(""), "nobody");
        assert_eq!(who("  "), "nobody");
        assert_eq!(who("codex"), "codex");
        assert_eq!(or_none(None), "none");
        assert_eq!(or_none(Some("")), "none");
        assert_eq!(or_none(Some("build")), "build");
    }

    #[test]
    fn cells_keep_their_column() {
        assert_eq!(cell("ab", 4), "ab  ");
        assert_eq!(cell("abcdef", 4), "abc…");
        assert_eq!(column(["a", "abcdef"], 3, 4), 4);
        assert_eq!(column(["a"], 3, 10), 3);
        assert_eq!(column([], 5, 10), 5);
    }
}
