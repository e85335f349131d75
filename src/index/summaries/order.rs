//! The list's order, most recently updated first, then by id, and how a
//! read of every run gets there without reading every line again: the
//! lines written sorted are in that order already, so only the others
//! are sorted, by keys copied out once, and put in place by bisection.
//! A sort that compared lines in the text would read all of it again, in
//! no order, where the pages of a read of every run are handed back as
//! it goes (`Text::release`).

use std::cmp::{Ordering, Reverse};

use super::Summary;
use super::text::Text;

/// Most recently updated first, then by id.
pub(super) fn sort(text: &Text, all: &mut [Summary]) {
    all.sort_by(|a, b| order(text, a, b));
}

/// The list's order: most recently updated first, then by id.
pub(super) fn order(text: &Text, a: &Summary, b: &Summary) -> Ordering {
    (text
        .raw(b.updated_at.clone())
        .cmp(text.raw(a.updated_at.clone())))
    .then_with(|| text.raw(a.id.clone()).cmp(text.raw(b.id.clone())))
}

/// Sorts `all`, whose first `sorted` summaries are in the list's order
/// already.
pub(super) fn sort_after(text: &Text, all: &mut Vec<Summary>, sorted: usize) {
    let sorted = sorted.min(all.len());
    sort_by_keys(text, &mut all[sorted..]);
    if sorted == 0 || sorted == all.len() {
        return;
    }
    let rest = all.split_off(sorted);
    // Where each goes among the sorted ones (`rest` is in order, so the
    // places never go back).
    let places: Vec<usize> = rest
        .iter()
        .map(|r| all.partition_point(|s| order(text, s, r) == Ordering::Less))
        .collect();
    // Merged from the back, each summary moved once.
    let mut from = all.len();
    all.resize_with(all.len() + rest.len(), Summary::placeholder);
    let mut to = all.len();
    for (r, place) in rest.into_iter().zip(places).rev() {
        while from > place {
            from -= 1;
            to -= 1;
            all.swap(from, to);
        }
        to -= 1;
        all[to] = r;
    }
}

/// A timestamp or id longer than this is compared in the text.
const KEY: usize = 40;

/// What a summary sorts by, copied: zero-padded, which keeps the order of
/// text that holds no NUL (nexo refuses control characters in both).
type Key = (Reverse<[u8; KEY]>, [u8; KEY]);

fn key_of(text: &Text, s: &Summary) -> Option<Key> {
    let copy = |bytes: &[u8]| {
        let mut k = [0; KEY];
        k.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(k)
    };
    Some((
        Reverse(copy(text.raw(s.updated_at.clone()))?),
        copy(text.raw(s.id.clone()))?,
    ))
}

fn sort_by_keys(text: &Text, all: &mut [Summary]) {
    if all.len() < 64 {
        return sort(text, all);
    }
    let keys: Option<Vec<(Key, usize)>> = all
        .iter()
        .enumerate()
        .map(|(i, s)| Some((key_of(text, s)?, i)))
        .collect();
    let Some(mut by) = keys else {
        return sort(text, all);
    };
    by.sort_unstable();
    // Each cycle of the permutation followed once: place `i` takes the
    // summary at `by[i].1`, and a place done is marked.
    for start in 0..by.len() {
        let mut i = start;
        while by[i].1 != usize::MAX {
            let from = std::mem::replace(&mut by[i].1, usize::MAX);
            if from == start {
                break;
            }
            all.swap(i, from);
            i = from;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, updated_at: &str) -> String {
        let json = format!("{{\"id\":\"{id}\"}}");
        format!(
            "{id}\t10\t20\t30\t{updated_at}\tcompleted\tnormal\t0\t0\t\t{}\t{json}",
            json.len()
        )
    }

    /// A text of `n` lines folded just now, spilled past 4 MB as a read
    /// of every run does, with updated times that repeat (ties go by id).
    fn text_of(dir: &std::path::Path, n: usize) -> (Text, Vec<Summary>) {
        let mut text = Text::read(dir);
        let all = (0..n)
            .map(|i| {
                let id = format!("WF-{:016}", (i * 7919) % n);
                let at = format!("2026-12-{:02}T10:00:00.000Z", 1 + (i * 31) % 28);
                text.push(&line(&id, &at))
            })
            .collect();
        text.seal();
        (text, all)
    }

    fn ids(text: &Text, all: &[Summary]) -> Vec<String> {
        all.iter()
            .map(|s| text.get(s.id.clone()).to_string())
            .collect()
    }

    #[test]
    fn sorting_after_a_sorted_prefix_gives_the_full_sort() {
        let dir = tempfile::tempdir().unwrap();
        // 60,000 lines of about 90 bytes: past the 4 MB held in memory.
        let (text, mut expected) = text_of(dir.path(), 60_000);
        sort(&text, &mut expected);
        let want = ids(&text, &expected);
        for sorted in [0, 1, 17, 30_000, 59_999, 60_000] {
            let (text, all) = text_of(dir.path(), 60_000);
            let mut prefix: Vec<Summary> = Vec::new();
            let mut rest: Vec<Summary> = Vec::new();
            let mut all = all;
            sort(&text, &mut all);
            // The first `sorted` of the list stay in order; the rest are
            // shuffled after them.
            for (i, s) in all.into_iter().enumerate() {
                match i < sorted {
                    true => prefix.push(s),
                    false => rest.push(s),
                }
            }
            rest.reverse();
            let split = rest.len() / 2;
            rest.rotate_left(split);
            prefix.extend(rest);
            sort_after(&text, &mut prefix, sorted);
            assert_eq!(ids(&text, &prefix), want, "{sorted} sorted first");
        }
    }

    #[test]
    fn lines_added_after_a_seal_are_read_after_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let (mut text, mut all) = text_of(dir.path(), 50_000);
        let first = ids(&text, &all);
        all.push(text.push(&line("WF-LATER", "2027-01-01T00:00:00.000Z")));
        text.seal();
        let mut want = first;
        want.push("WF-LATER".to_string());
        assert_eq!(ids(&text, &all), want);
        sort_after(&text, &mut all, 0);
        assert_eq!(text.get(all[0].id.clone()), "WF-LATER");
    }

    /// Ids longer than a key, and updated times that tie, sort as the
    /// full sort does (keys are given up for the comparison in the text).
    #[test]
    fn long_ids_and_ties_sort_as_the_full_sort() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = Text::read(dir.path());
        let lines: Vec<String> = (0..300)
            .map(|i| {
                let id = match i % 3 {
                    0 => format!("WF-{}-{:04}", "X".repeat(45), (i * 37) % 300),
                    _ => format!("WF-{:04}", (i * 37) % 300),
                };
                let at = format!("2026-12-{:02}T10:00:00.000Z", 1 + i % 4);
                line(&id, &at)
            })
            .collect();
        let mut three: Vec<Vec<Summary>> = (0..3)
            .map(|_| lines.iter().map(|l| text.push(l)).collect())
            .collect();
        text.seal();
        let (mut all, mut prefix, mut want) = (three.remove(0), three.remove(0), three.remove(0));
        sort(&text, &mut want);
        let want = ids(&text, &want);
        sort(&text, &mut prefix[..100]);
        sort_after(&text, &mut prefix, 100);
        assert_eq!(ids(&text, &prefix), want);
        sort_after(&text, &mut all, 0);
        assert_eq!(ids(&text, &all), want);
    }
}
