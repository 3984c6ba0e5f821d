//! Reading a page and its records in as few passes as the text allows.
//!
//! A page used to be read five times: checked as a document, its top level
//! read for the records' pointer, the records' array read again for its
//! elements, the top level once more for the pagination's pointer, and each
//! record for its key. [`page`] does the first four in one checked pass;
//! [`field`] finds a top-level field of a record already checked by
//! skipping over the others (strings with `memchr`, containers by depth)
//! instead of checking them again.
//!
//! Both give up (`None`, [`Skimmed::Unsure`]) wherever their answer could
//! differ from the careful readers' in `super` (a member name with escapes,
//! a pointer through an array, records that are not an array); the callers
//! then take the careful way, so the answers are always the same
//! (`sdk/tests/raw_pages.rs` holds the fast and the parsing path to it).
//!
//! [`super::scan`] now reads most pages first, in one pass that also finds
//! each record's key; [`page`] reads the pages it is unsure of, and
//! [`field`] still finds fields in records checked before.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::{Name, pointer_raw};

/// A page's body read once: the records' elements, and the top level's
/// other members for the pagination to look in.
#[derive(Debug)]
pub struct PageText<'a> {
    /// The elements of the array at the records' pointer, as text.
    pub items: Vec<&'a RawValue>,
    /// The top level's members, but the one the records are in.
    top: BTreeMap<Cow<'a, str>, &'a RawValue>,
    /// The records' member at the top level (`None`: the document).
    walked: Option<String>,
    text: &'a str,
}

impl<'a> PageText<'a> {
    /// The value at `pointer`, as [`pointer_raw`] on the document finds it.
    pub fn at(&self, pointer: &str) -> Option<&'a RawValue> {
        let split = first_token(pointer);
        let through_records = |(first, _): &(Cow<'_, str>, &str)| {
            self.walked.is_none() || self.walked.as_deref() == Some(&**first)
        };
        let Some((first, tail)) = split.filter(|s| !through_records(s)) else {
            // The document itself, or a path through the records: not
            // kept, so read the document again (rare).
            let doc = serde_json::from_str::<&RawValue>(self.text).ok()?;
            return pointer_raw(doc, pointer);
        };
        let value = *self.top.get(&*first)?;
        if tail.is_empty() {
            Some(value)
        } else {
            pointer_raw(value, tail)
        }
    }
}

/// `text` checked as one JSON document and read for the array at
/// `pointer` in the same pass; `None` when it is not JSON or the records
/// are not plainly an array (or `null`) at a pointer through objects: the
/// caller then reads it the careful way, which says why.
pub fn page<'a>(text: &'a str, pointer: &str) -> Option<PageText<'a>> {
    let tokens = tokens(pointer)?;
    let mut de = serde_json::Deserializer::from_str(text);
    let (items, top) = match tokens.split_first() {
        None => (Walk(&[]).deserialize(&mut de).ok()?, BTreeMap::new()),
        Some((first, rest)) => Top { first, rest }.deserialize(&mut de).ok()?,
    };
    de.end().ok()?;
    Some(PageText {
        items: items?,
        top,
        walked: tokens.first().cloned(),
        text,
    })
}

/// A JSON pointer's tokens as member names (none for `""`, the whole
/// document); `None` for a pointer not starting with `/`.
pub(crate) fn tokens(pointer: &str) -> Option<Vec<String>> {
    if pointer.is_empty() {
        return Some(Vec::new());
    }
    let rest = pointer.strip_prefix('/')?;
    Some(rest.split('/').map(|t| unescape(t).into_owned()).collect())
}

/// A JSON pointer's first token as a member name, and the pointer after
/// it (`""` or starting with `/`); `None` for the pointer `""` (the whole
/// document) or one not starting with `/`.
pub(crate) fn first_token(pointer: &str) -> Option<(Cow<'_, str>, &str)> {
    let rest = pointer.strip_prefix('/')?;
    // Bytes, not chars: a pointer is short, and a char search costs more
    // to set up than to run on it.
    let (first, tail) = rest
        .bytes()
        .position(|b| b == b'/')
        .map_or((rest, ""), |i| rest.split_at(i));
    Some((unescape(first), tail))
}

/// A JSON pointer's token as a member name (`~1` is `/`, `~0` is `~`),
/// copied only when it has escapes: most lookups copy nothing.
pub(crate) fn unescape(token: &str) -> Cow<'_, str> {
    if token.bytes().any(|b| b == b'~') {
        Cow::Owned(token.replace("~1", "/").replace("~0", "~"))
    } else {
        Cow::Borrowed(token)
    }
}

type Items<'de> = Option<Vec<&'de RawValue>>;

/// The top level: the member `first` walked into, every other kept.
struct Top<'p> {
    first: &'p str,
    rest: &'p [String],
}

impl<'de> DeserializeSeed<'de> for Top<'_> {
    type Value = (Items<'de>, BTreeMap<Cow<'de, str>, &'de RawValue>);
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = (Items<'de>, BTreeMap<Cow<'de, str>, &'de RawValue>);
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut found, mut top) = (None, BTreeMap::new());
        while let Some(name) = map.next_key_seed(Name)? {
            if name == self.first {
                // With duplicate names the last wins, as in a parse.
                found = map.next_value_seed(Walk(self.rest))?;
            } else {
                top.insert(name, map.next_value()?);
            }
        }
        Ok((found, top))
    }
}

/// Down a pointer through objects to an array (its elements) or `null`
/// (none); anything else is the careful reader's to judge.
struct Walk<'p>(&'p [String]);

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = Items<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = Items<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("objects down to an array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        if !self.0.is_empty() {
            return Err(serde::de::Error::custom("an index into an array"));
        }
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(64));
        while let Some(item) = seq.next_element::<&'de RawValue>()? {
            items.push(item);
        }
        Ok(Some(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Some((first, rest)) = self.0.split_first() else {
            return Err(serde::de::Error::custom("an object as the one record"));
        };
        let mut found = None;
        while let Some(name) = map.next_key_seed(Name)? {
            if name == first.as_str() {
                found = map.next_value_seed(Walk(rest))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        if self.0.is_empty() {
            Ok(Some(Vec::new()))
        } else {
            Err(E::custom("a pointer through null"))
        }
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Err(E::custom("not records"))
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Err(E::custom("not records"))
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Err(E::custom("not records"))
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Err(E::custom("not records"))
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Err(E::custom("not records"))
    }
}

/// What [`field`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skimmed<'a> {
    /// The field's value as written (the last, with duplicate names).
    Found(&'a str),
    /// No member has that name.
    Absent,
    /// A member name has escapes (or the text is not an object): ask a
    /// parser.
    Unsure,
}

/// The top-level member `name` of `object`, the text of a JSON object
/// checked before (a record's data): one pass that compares names and
/// skips values without checking them again.
pub fn field<'a>(object: &'a str, name: &str) -> Skimmed<'a> {
    let bytes = object.as_bytes();
    let mut i = skip_space(bytes, 0);
    if bytes.get(i) != Some(&b'{') {
        return Skimmed::Unsure;
    }
    let mut found = Skimmed::Absent;
    i = skip_space(bytes, i + 1);
    if bytes.get(i) == Some(&b'}') {
        return found;
    }
    loop {
        if bytes.get(i) != Some(&b'"') {
            return Skimmed::Unsure;
        }
        let Some(len) = memchr::memchr2(b'"', b'\\', &bytes[i + 1..]) else {
            return Skimmed::Unsure;
        };
        if bytes[i + 1 + len] == b'\\' {
            return Skimmed::Unsure;
        }
        let key = &bytes[i + 1..i + 1 + len];
        i = skip_space(bytes, i + len + 2);
        if bytes.get(i) != Some(&b':') {
            return Skimmed::Unsure;
        }
        let start = skip_space(bytes, i + 1);
        let Some(end) = skip_value(bytes, start) else {
            return Skimmed::Unsure;
        };
        if key == name.as_bytes() {
            found = Skimmed::Found(&object[start..end]);
        }
        i = skip_space(bytes, end);
        match bytes.get(i) {
            Some(b',') => i = skip_space(bytes, i + 1),
            Some(b'}') => return found,
            _ => return Skimmed::Unsure,
        }
    }
}

fn skip_space(bytes: &[u8], mut i: usize) -> usize {
    while matches!(bytes.get(i), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        i += 1;
    }
    i
}

/// The end of the string whose opening quote is at `i`.
fn skip_string(bytes: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    loop {
        i += memchr::memchr2(b'"', b'\\', bytes.get(i..)?)?;
        if bytes[i] == b'"' {
            return Some(i + 1);
        }
        i += 2;
    }
}

/// The end of the value that starts at `i`.
fn skip_value(bytes: &[u8], i: usize) -> Option<usize> {
    match *bytes.get(i)? {
        b'"' => skip_string(bytes, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut at = i;
            loop {
                match *bytes.get(at)? {
                    b'"' => {
                        at = skip_string(bytes, at)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(at + 1);
                        }
                    }
                    _ => {}
                }
                at += 1;
            }
        }
        _ => {
            let mut at = i;
            while !matches!(
                bytes.get(at),
                None | Some(b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t')
            ) {
                at += 1;
            }
            (at > i).then_some(at)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skimmed_field_is_the_parsed_one() {
        let text =
            r#" { "a" : [1, {"b": "}"}], "k": "x\"y", "n": -1.5e3 , "k": 7, "e\u0041": 1 } "#;
        assert_eq!(field(text, "k"), Skimmed::Unsure, "a name with an escape");
        let text = r#" { "a" : [1, {"b": "}"}], "k": "x\"y", "n": -1.5e3 , "k": 7 } "#;
        assert_eq!(field(text, "k"), Skimmed::Found("7"));
        assert_eq!(field(text, "n"), Skimmed::Found("-1.5e3"));
        assert_eq!(field(text, "a"), Skimmed::Found(r#"[1, {"b": "}"}]"#));
        assert_eq!(field(text, "b"), Skimmed::Absent);
        assert_eq!(field("{}", "b"), Skimmed::Absent);
        assert_eq!(field("[1]", "b"), Skimmed::Unsure);
        for broken in [
            r#"{"a""#,
            r#"{"a":"#,
            r#"{"a":"x"#,
            r#"{"a":[1"#,
            "{",
            r#"{"a":1"#,
        ] {
            assert_eq!(field(broken, "a"), Skimmed::Unsure, "{broken}");
        }
    }

    #[test]
    fn a_page_read_once_finds_what_pointers_find() {
        let text = r#"{"meta": {"next": "c2"}, "data": {"rows": [{"id": 1}, 2, "x"]}, "n": 3}"#;
        let page = page(text, "/data/rows").unwrap();
        let items: Vec<&str> = page.items.iter().map(|r| r.get()).collect();
        assert_eq!(items, [r#"{"id": 1}"#, "2", r#""x""#]);
        assert_eq!(page.at("/meta/next").unwrap().get(), r#""c2""#);
        assert_eq!(page.at("/n").unwrap().get(), "3");
        assert_eq!(page.at("/data/rows/0/id").unwrap().get(), "1");
        assert!(page.at("/none").is_none());
        assert!(
            super::page(r#"{"data": null}"#, "/data")
                .unwrap()
                .items
                .is_empty()
        );
        assert_eq!(super::page("[1, 2]", "").unwrap().items.len(), 2);
        // What the careful reader must judge.
        for (text, pointer) in [
            (r#"{"data": {"id": 1}}"#, "/data"),
            (r#"{"data": [[1]]}"#, "/data/0"),
            (r#"{"data": 1}"#, "/data"),
            (r#"{"other": []}"#, "/data"),
            (r#"{"data": []} x"#, "/data"),
            (r#"{"data": [1,]}"#, "/data"),
            ("[1, 2]", "/data"),
        ] {
            assert!(super::page(text, pointer).is_none(), "{text} at {pointer}");
        }
    }
}
