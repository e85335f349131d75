//! Reading a template's YAML within limits, and saying where a node is.
//!
//! A template is read twice at most: once counting its nodes (aliases
//! expanded, so a YAML "billion laughs" is refused before it costs
//! memory), once into the typed model. A node's place is found only when
//! an error needs it, by walking to it again: yaml_serde marks the error a
//! walk raises at the node it stands on with that node's line and column.

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::model::RawTemplate;
use super::{MAX_TEMPLATE_BYTES, MAX_YAML_NODES, Source};
use crate::core::error::{Error, Result};

/// A place in a template file: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Loc {
    pub line: usize,
    pub column: usize,
}

/// One step of a path to a node: a mapping's key or a sequence's index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A path to a node, as `steps[2].title` names it.
pub type Path = Vec<Seg>;

pub fn key(k: &str) -> Seg {
    Seg::Key(k.to_string())
}

/// The typed template in `src`, refusing what is too large or explodes.
pub fn parse(src: &Source) -> Result<RawTemplate> {
    if src.text.len() > MAX_TEMPLATE_BYTES {
        return Err(too_large(&src.place, src.text.len()));
    }
    if src.text.trim().is_empty() {
        return Err(Error::invalid(format!(
            "{}: the template is empty: give it at least steps:",
            src.place
        )));
    }
    let mut count = 0;
    Counter { count: &mut count }
        .deserialize(serde_yaml::Deserializer::from_str(&src.text))
        .map_err(|e| yaml_error(src, e))?;
    serde_yaml::from_str::<RawTemplate>(&src.text).map_err(|e| yaml_error(src, e))
}

/// A template over the size limit.
pub fn too_large(place: &str, len: usize) -> Error {
    Error::invalid(format!(
        "{place} is {len} bytes; a template may be at most {MAX_TEMPLATE_BYTES} bytes (256 KiB)"
    ))
    .with_hint("split it with extends, or repeat a step with for_each")
}

/// What the node counter says when it stops.
const TOO_MANY: &str = "\u{0}nexo: too many nodes";

/// A yaml_serde error, located and in words a template's author reads.
fn yaml_error(src: &Source, e: serde_yaml::Error) -> Error {
    let text = e.to_string();
    let loc = e.location().map(|l| Loc {
        line: l.line(),
        column: l.column(),
    });
    let bomb = text.contains(TOO_MANY) || text.contains("repetition limit exceeded");
    let message = if bomb {
        format!(
            "the YAML expands to more than {MAX_YAML_NODES} nodes once its aliases (*name) are resolved: a template may hold at most {MAX_YAML_NODES}"
        )
    } else if text.contains("recursion limit exceeded") {
        "the YAML is nested deeper than 128 levels".to_string()
    } else {
        match (&loc, e.location()) {
            (Some(_), Some(l)) => text
                .strip_suffix(&format!(" at line {} column {}", l.line(), l.column()))
                .unwrap_or(&text)
                .to_string(),
            _ => text,
        }
    };
    // `title: {{version}}` is a YAML mapping in a mapping, not a text.
    let braces = loc.is_some_and(|l| {
        src.text
            .lines()
            .nth(l.line.saturating_sub(1))
            .is_some_and(|line| line.contains("{{"))
    });
    let message = match braces && message.contains("invalid type: map") {
        true => format!(
            "{message} (a text that begins with {{{{ is a YAML mapping unless it is quoted: write \"{{{{version}}}} ...\")"
        ),
        false => message,
    };
    match loc.filter(|_| !bomb) {
        Some(loc) => at(&src.place, loc, message),
        None => Error::invalid(format!("{}: {message}", src.place)),
    }
}

/// An error at `loc` of the file at `place`, as compilers write them.
pub fn at(place: &str, loc: Loc, message: impl std::fmt::Display) -> Error {
    Error::invalid(format!("{}: {message}", where_(place, loc)))
}

/// `place:line:column`.
pub fn where_(place: &str, loc: Loc) -> String {
    format!("{place}:{}:{}", loc.line, loc.column)
}

/// Counts every node a deserializer walks, aliases expanded, and stops
/// past [`MAX_YAML_NODES`].
struct Counter<'a> {
    count: &'a mut usize,
}

impl<'de> DeserializeSeed<'de> for Counter<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl Counter<'_> {
    fn bump<E: de::Error>(&mut self) -> std::result::Result<(), E> {
        *self.count += 1;
        match *self.count > MAX_YAML_NODES {
            true => Err(E::custom(TOO_MANY)),
            false => Ok(()),
        }
    }
}

impl<'de> Visitor<'de> for Counter<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any YAML")
    }
    fn visit_bool<E: de::Error>(mut self, _: bool) -> std::result::Result<(), E> {
        self.bump()
    }
    fn visit_i64<E: de::Error>(mut self, _: i64) -> std::result::Result<(), E> {
        self.bump()
    }
    fn visit_u64<E: de::Error>(mut self, _: u64) -> std::result::Result<(), E> {
        self.bump()
    }
    fn visit_f64<E: de::Error>(mut self, _: f64) -> std::result::Result<(), E> {
        self.bump()
    }
    fn visit_str<E: de::Error>(mut self, _: &str) -> std::result::Result<(), E> {
        self.bump()
    }
    fn visit_unit<E: de::Error>(mut self) -> std::result::Result<(), E> {
        self.bump()
    }
    fn visit_none<E: de::Error>(mut self) -> std::result::Result<(), E> {
        self.bump()
    }
    fn visit_some<D: Deserializer<'de>>(mut self, d: D) -> std::result::Result<(), D::Error> {
        self.bump()?;
        Counter { count: self.count }.deserialize(d)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(
        mut self,
        d: D,
    ) -> std::result::Result<(), D::Error> {
        self.bump()?;
        Counter { count: self.count }.deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> std::result::Result<(), A::Error> {
        self.bump()?;
        while seq
            .next_element_seed(Counter { count: self.count })?
            .is_some()
        {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> std::result::Result<(), A::Error> {
        self.bump()?;
        while map.next_key_seed(Counter { count: self.count })?.is_some() {
            map.next_value_seed(Counter { count: self.count })?;
        }
        Ok(())
    }
    fn visit_enum<A: de::EnumAccess<'de>>(mut self, data: A) -> std::result::Result<(), A::Error> {
        self.bump()?;
        let (_, variant): (IgnoredAny, _) = data.variant()?;
        de::VariantAccess::newtype_variant_seed(variant, Counter { count: self.count })
    }
}

/// What a locating walk raises at the node it looks for.
const FOUND: &str = "\u{0}nexo: found";

/// Where the node at `path` stands in `text` (the key itself with
/// `at_key`, else its value), if it does.
pub fn locate(text: &str, path: &[Seg], at_key: bool) -> Option<Loc> {
    let walk = Walk { path, at_key };
    match walk.deserialize(serde_yaml::Deserializer::from_str(text)) {
        Err(e) if e.to_string().contains(FOUND) => e.location().map(|l| Loc {
            line: l.line(),
            column: l.column(),
        }),
        _ => None,
    }
}

/// The place of `needle` at or after the node at `loc`: a `{{var}}` in a
/// text is named where it is written, not where its text begins.
pub fn find_after(text: &str, loc: Loc, needle: &str) -> Loc {
    let Some(start) = offset_of(text, loc) else {
        return loc;
    };
    match text[start..].find(needle) {
        Some(i) => loc_of(text, start + i),
        None => loc,
    }
}

/// The byte offset of a 1-based line and column (in characters).
fn offset_of(text: &str, loc: Loc) -> Option<usize> {
    let line_start = match loc.line {
        0 | 1 => 0,
        n => text.match_indices('\n').nth(n - 2)?.0 + 1,
    };
    let line = &text[line_start..];
    let col = line
        .char_indices()
        .nth(loc.column.saturating_sub(1))
        .map_or(line.len(), |(i, _)| i);
    Some(line_start + col)
}

/// The 1-based line and column of a byte offset.
fn loc_of(text: &str, offset: usize) -> Loc {
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Loc {
        line: before.matches('\n').count() + 1,
        column: before[line_start..].chars().count() + 1,
    }
}

/// A walk to one node that raises [`FOUND`] there.
struct Walk<'p> {
    path: &'p [Seg],
    at_key: bool,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        match self.path.is_empty() {
            // Raised from inside the node's own visit, so yaml_serde marks
            // it with that node's line and column.
            true => d.deserialize_any(Raise),
            false => d.deserialize_any(self),
        }
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a mapping or a sequence")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        let Some((Seg::Key(want), rest)) = self.path.split_first() else {
            return Ok(());
        };
        let last = rest.is_empty() && self.at_key;
        while let Some(matched) = map.next_key_seed(KeyIs { want, raise: last })? {
            match matched {
                true => {
                    return map.next_value_seed(Walk {
                        path: rest,
                        at_key: self.at_key,
                    });
                }
                false => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        let Some((Seg::Index(want), rest)) = self.path.split_first() else {
            return Ok(());
        };
        for _ in 0..*want {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
        }
        seq.next_element_seed(Walk {
            path: rest,
            at_key: self.at_key,
        })
        .map(|_| ())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> std::result::Result<(), E> {
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> std::result::Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> std::result::Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> std::result::Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> std::result::Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> std::result::Result<(), E> {
        Ok(())
    }
}

/// Raises [`FOUND`] whatever the node is.
struct Raise;

impl<'de> Visitor<'de> for Raise {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any node")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> std::result::Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> std::result::Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> std::result::Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> std::result::Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> std::result::Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_unit<E: de::Error>(self) -> std::result::Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_none<E: de::Error>(self) -> std::result::Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> std::result::Result<(), A::Error> {
        Err(de::Error::custom(FOUND))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> std::result::Result<(), A::Error> {
        Err(de::Error::custom(FOUND))
    }
}

/// A mapping key compared with the one a walk wants; raises [`FOUND`] on
/// it when the key itself is the node looked for.
struct KeyIs<'a> {
    want: &'a str,
    raise: bool,
}

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl KeyIs<'_> {
    fn is<E: de::Error>(&self, key: &str) -> std::result::Result<bool, E> {
        match (key == self.want, self.raise) {
            (true, true) => Err(E::custom(FOUND)),
            (matched, _) => Ok(matched),
        }
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<bool, E> {
        self.is(v)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<bool, E> {
        self.is(&v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<bool, E> {
        self.is(&v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<bool, E> {
        self.is(&v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<bool, E> {
        self.is(&v.to_string())
    }
    fn visit_unit<E: de::Error>(self) -> std::result::Result<bool, E> {
        Ok(false)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }
}
