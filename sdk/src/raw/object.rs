//! One JSON object read or written as text: [`RawObject`] reads an
//! object's top level once (by the one checked pass of [`super::scan`], or
//! serde when that pass is unsure) and hands out its values as
//! [`JsonText`], checked text parsed only when asked; [`ObjectWriter`]
//! writes an object from values kept as text and values printed.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use super::find::{element_of, field_of, index};
use super::{Name, RawRecord, scan, skim};
use crate::record::Op;
use crate::{Error, Result};

/// The text of one JSON value, checked when it was found (sliced out of a
/// checked document, or a [`RawValue`]): borrowed, and parsed only when
/// asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JsonText<'a>(&'a str);

impl<'a> JsonText<'a> {
    /// The text, as the document spells it.
    pub fn get(self) -> &'a str {
        self.0
    }

    /// The value, parsed.
    pub fn parse(self) -> Option<Value> {
        serde_json::from_str(self.0).ok()
    }
}

impl<'a> From<&'a RawValue> for JsonText<'a> {
    fn from(value: &'a RawValue) -> Self {
        Self(value.get())
    }
}

/// The value at `pointer` (`""` or starting with `/`) in `value`, checked
/// text: members skimmed for without checking them again (an array, or an
/// object the skim is unsure of, is read by serde).
fn pointer_in_checked<'a>(value: &'a str, pointer: &str) -> Option<&'a str> {
    if pointer.is_empty() {
        return Some(value);
    }
    let mut at = value;
    for token in pointer.strip_prefix('/')?.split('/') {
        let token = skim::unescape(token);
        let text = at.trim_start();
        at = if text.starts_with('{') {
            match skim::field(at, &token) {
                skim::Skimmed::Found(v) => v,
                skim::Skimmed::Absent => return None,
                skim::Skimmed::Unsure => field_of(at, &token)?.get(),
            }
        } else if text.starts_with('[') {
            element_of(at, index(&token)?)?.get()
        } else {
            return None;
        };
    }
    Some(at)
}

/// The top level of a JSON object, its values left as text: read once,
/// then any number of fields and pointers looked up without reading the
/// object again. With duplicate names, the last wins, as in a parse.
#[derive(Debug)]
pub struct RawObject<'a> {
    /// The members in document order.
    fields: Vec<(Cow<'a, str>, &'a str)>,
}

impl<'a> RawObject<'a> {
    /// Read the object `text` (an error if it is not one).
    pub fn parse(text: &'a str) -> Result<Self> {
        // One checked pass for the usual object; serde for one the pass is
        // unsure of (a name with escapes, a value only a parse judges),
        // which also says what is wrong with one that is not JSON.
        if let Some(members) = scan::object(text) {
            return Ok(Self {
                fields: members
                    .into_iter()
                    .map(|(name, value)| (Cow::Borrowed(name), value))
                    .collect(),
            });
        }
        let mut de = serde_json::Deserializer::from_str(text);
        let fields = Fields
            .deserialize(&mut de)
            .and_then(|f| de.end().map(|()| f))
            .map_err(|e| Error::Fatal(format!("not a JSON object: {e}")))?;
        Ok(Self { fields })
    }

    /// A field as it is written.
    pub fn get(&self, field: &str) -> Option<JsonText<'a>> {
        self.fields
            .iter()
            .rev()
            .find(|(name, _)| name == field)
            .map(|(_, value)| JsonText(value))
    }

    /// The value at a JSON pointer (`/customer/email`; `""` is not a field).
    pub fn pointer(&self, pointer: &str) -> Option<JsonText<'a>> {
        let (first, tail) = skim::first_token(pointer)?;
        let value = self.get(&first)?;
        pointer_in_checked(value.0, tail).map(JsonText)
    }

    /// The fields in name order (each name once: its last value).
    pub fn iter(&self) -> impl Iterator<Item = (&str, JsonText<'a>)> {
        let by_name: BTreeMap<&str, &'a str> = self
            .fields
            .iter()
            .map(|(name, value)| (name.as_ref(), *value))
            .collect();
        by_name
            .into_iter()
            .map(|(name, value)| (name, JsonText(value)))
    }
}

/// A JSON object's members, in name order, written as text: each value
/// either kept as it came or printed from a [`Value`].
#[derive(Debug, Default)]
pub struct ObjectWriter<'a> {
    fields: BTreeMap<Cow<'a, str>, Member<'a>>,
}

#[derive(Debug)]
enum Member<'a> {
    Raw(&'a str),
    Value(Value),
}

impl<'a> ObjectWriter<'a> {
    /// Set `name` to text that is already JSON (replacing an earlier one).
    pub fn raw(&mut self, name: impl Into<Cow<'a, str>>, value: impl Into<JsonText<'a>>) {
        self.fields
            .insert(name.into(), Member::Raw(value.into().get()));
    }

    /// Set `name` to a value.
    pub fn value(&mut self, name: impl Into<Cow<'a, str>>, value: Value) {
        self.fields.insert(name.into(), Member::Value(value));
    }

    /// Remove `name`.
    pub fn remove(&mut self, name: &str) {
        self.fields.remove(name);
    }

    /// An upsert of the object into `stream`.
    pub fn into_record(self, stream: impl Into<String>) -> RawRecord {
        RawRecord {
            stream: stream.into(),
            key: None,
            op: Op::Upsert,
            data: self.finish(),
            blob: None,
        }
    }

    /// The object's text.
    pub fn finish(self) -> String {
        let size: usize = self
            .fields
            .iter()
            .map(|(name, member)| {
                name.len()
                    + 4
                    + match member {
                        Member::Raw(r) => r.len(),
                        Member::Value(_) => 16,
                    }
            })
            .sum();
        let mut out = String::with_capacity(size + 2);
        out.push('{');
        for (i, (name, member)) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            // Most names need no escape: written as they are, not printed.
            if name.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
                out.push('"');
                out.push_str(name);
                out.push('"');
            } else {
                out.push_str(&serde_json::to_string(name.as_ref()).expect("a string prints"));
            }
            out.push(':');
            match member {
                Member::Raw(r) => out.push_str(r),
                // serde's writer, not `Display`'s formatter in between.
                Member::Value(v) => {
                    out.push_str(&serde_json::to_string(v).expect("a value prints"));
                }
            }
        }
        out.push('}');
        out
    }
}

/// An object's members in document order, values as text.
struct Fields;

impl<'de> DeserializeSeed<'de> for Fields {
    type Value = Vec<(Cow<'de, str>, &'de str)>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Fields {
    type Value = Vec<(Cow<'de, str>, &'de str)>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = Vec::new();
        while let Some(name) = map.next_key_seed(Name)? {
            let value: &'de RawValue = map.next_value()?;
            fields.push((name, value.get()));
        }
        Ok(fields)
    }
}
