//! Finding one member or element in JSON text without building anything:
//! by a parse that keeps only what it looks for ([`field_of`],
//! [`element_of`]), or, in text checked before, by skimming to it
//! ([`field_of_checked`]).

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::skim;

/// A pointer token as an array index, as `serde_json`'s pointers read it
/// (no sign, no leading zero).
pub(super) fn index(token: &str) -> Option<usize> {
    if token.starts_with('+') || (token.starts_with('0') && token.len() != 1) {
        return None;
    }
    token.parse().ok()
}

/// The member `field` of the object `object` (the last, with duplicate
/// names), the object checked as it is read.
pub(super) fn field_of<'a>(object: &'a str, field: &str) -> Option<&'a RawValue> {
    let mut de = serde_json::Deserializer::from_str(object);
    LastValueOf(field).deserialize(&mut de).ok().flatten()
}

/// [`field_of`] in an object whose text was checked before: skip to the
/// field rather than check every other member again.
pub(super) fn field_of_checked<'a>(object: &'a str, field: &str) -> Option<&'a RawValue> {
    match skim::field(object, field) {
        skim::Skimmed::Found(value) => serde_json::from_str(value).ok(),
        skim::Skimmed::Absent => None,
        skim::Skimmed::Unsure => field_of(object, field),
    }
}

/// The element `n` of the array `array`, the array checked as it is read.
pub(super) fn element_of(array: &str, n: usize) -> Option<&RawValue> {
    let mut de = serde_json::Deserializer::from_str(array);
    NthElement(n).deserialize(&mut de).ok().flatten()
}

/// The last value of a key in an object (a parse keeps the last too).
struct LastValueOf<'k>(&'k str);

impl<'de> DeserializeSeed<'de> for LastValueOf<'_> {
    type Value = Option<&'de RawValue>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for LastValueOf<'_> {
    type Value = Option<&'de RawValue>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(wanted) = map.next_key_seed(KeyIs(self.0))? {
            let value: &'de RawValue = map.next_value()?;
            if wanted {
                found = Some(value);
            }
        }
        Ok(found)
    }
}

/// Whether a key is the one looked for, without keeping it.
struct KeyIs<'k>(&'k str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E>(self, v: &str) -> Result<bool, E> {
        Ok(v == self.0)
    }
}

/// The n-th element of an array.
struct NthElement(usize);

impl<'de> DeserializeSeed<'de> for NthElement {
    type Value = Option<&'de RawValue>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for NthElement {
    type Value = Option<&'de RawValue>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut i = 0;
        let mut found = None;
        while let Some(value) = seq.next_element::<&'de RawValue>()? {
            if i == self.0 {
                found = Some(value);
            }
            i += 1;
        }
        Ok(found)
    }
}
