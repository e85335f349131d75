//! How nexo puts things in words, in one place: text on one line, text
//! clipped to a width.

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
