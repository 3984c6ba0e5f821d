//! Records as JSON text. A record crosses the contract as the text of a JSON
//! object, so a connector that only moves records (slices them out of a
//! response, passes them on, sends them in a batch) never needs to build a
//! value tree and print it again. [`RawRecord`] holds that text;
//! [`pointer_raw`] and [`records_raw`] find values in a document by reading
//! it, borrowing from it and building nothing; a field is parsed only when
//! asked for ([`RawRecord::get`]).
//!
//! ```
//! use wharf_sdk::raw::{RawRecord, document, records_raw};
//!
//! let body = r#"{"data": [{"id": 7, "name": "Ada"}, {"id": 8, "name": "Grace"}]}"#;
//! let doc = document(body).unwrap();
//! let records: Vec<RawRecord> = records_raw(doc, "/data")
//!     .unwrap()
//!     .into_iter()
//!     .map(|r| RawRecord::from_raw("people", r).map(|r| r.key_from("id")))
//!     .collect::<wharf_sdk::Result<_>>()
//!     .unwrap();
//! assert_eq!(records[1].key.as_deref(), Some("8"));
//! assert_eq!(records[0].data(), r#"{"id": 7, "name": "Ada"}"#);
//! ```
//!
//! Text read this way means what `serde_json::Value` would make of it, with
//! one difference in form: the record keeps the source's spelling (key order,
//! spaces, escapes, `1.50`), so it is the same JSON, not the same bytes.
//! [`plain`] says whether a document is free of what only a full parse
//! judges the same way (numbers beyond `f64`, lone UTF-16 surrogates in
//! escapes, nesting past `serde_json`'s limit); callers take the parsing
//! path for the rare document that is not.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::record::{Op, Record, scalar_text};
use crate::{Error, Result};

mod find;
mod object;
mod plain_run;
pub(crate) mod scan;
pub(crate) mod skim;

pub use object::{JsonText, ObjectWriter, RawObject};

use find::{element_of, field_of_checked, index};

/// One record whose data is the text of a JSON object, as it came.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawRecord {
    /// The stream it belongs to.
    pub stream: String,
    /// Identity in the source.
    pub key: Option<String>,
    /// Upsert or delete.
    pub op: Op,
    /// The text of a JSON object (checked when made).
    data: String,
    /// A blob of the run that belongs to the record.
    pub blob: Option<String>,
}

impl RawRecord {
    /// An upsert of the object `data` (a value borrowed from a document).
    pub fn from_raw(stream: impl Into<String>, data: &RawValue) -> Result<Self> {
        let text = data.get().trim();
        if !text.starts_with('{') {
            return Err(Error::Fatal(format!(
                "a record must be a JSON object, got {}",
                kind_of(text)
            )));
        }
        Ok(Self {
            stream: stream.into(),
            key: None,
            op: Op::Upsert,
            data: text.to_string(),
            blob: None,
        })
    }

    /// An upsert of `text`, the text of a JSON object checked by
    /// [`scan`], with its key.
    pub(crate) fn checked_object(stream: &str, text: &str, key: Option<String>) -> Self {
        Self {
            stream: stream.to_string(),
            key,
            op: Op::Upsert,
            data: text.to_string(),
            blob: None,
        }
    }

    /// An upsert of `text`, which must be a JSON object.
    pub fn from_text(stream: impl Into<String>, text: &str) -> Result<Self> {
        let raw = document(text)?;
        Self::from_raw(stream, raw)
    }

    /// The record's data as text, as [`Record`] would print it.
    pub fn from_record(r: Record) -> Self {
        Self {
            stream: r.stream,
            key: r.key,
            op: r.op,
            data: Value::Object(r.data).to_string(),
            blob: r.blob,
        }
    }

    /// Made from parts the host handed over: its records are JSON objects
    /// already checked (`from_wit` of the glue).
    pub(crate) fn trusted(
        stream: String,
        key: Option<String>,
        op: Op,
        data: String,
        blob: Option<String>,
    ) -> Self {
        Self {
            stream,
            key,
            op,
            data,
            blob,
        }
    }

    /// The record with its data parsed.
    pub fn to_record(&self) -> Result<Record> {
        let data: Map<String, Value> = serde_json::from_str(&self.data).map_err(|e| {
            Error::Fatal(format!(
                "a record of stream `{}` is not a JSON object: {e}",
                self.stream
            ))
        })?;
        Ok(Record {
            stream: self.stream.clone(),
            key: self.key.clone(),
            op: self.op,
            data,
            blob: self.blob.clone(),
        })
    }

    /// The data: the text of a JSON object.
    pub fn data(&self) -> &str {
        &self.data
    }

    /// The data, taken.
    pub fn into_data(self) -> String {
        self.data
    }

    /// Stream, key, op, data and blob, taken.
    pub(crate) fn into_parts(self) -> (String, Option<String>, Op, String, Option<String>) {
        (self.stream, self.key, self.op, self.data, self.blob)
    }

    /// A top-level field as it is written, without parsing the rest
    /// (with duplicate names, the last one, as a parse would keep).
    pub fn field_raw(&self, field: &str) -> Option<&RawValue> {
        // The data was checked when the record was made.
        field_of_checked(&self.data, field)
    }

    /// A top-level field, parsed.
    pub fn get(&self, field: &str) -> Option<Value> {
        self.field_raw(field)
            .and_then(|v| serde_json::from_str(v.get()).ok())
    }

    /// A value by JSON pointer, parsed.
    pub fn pointer(&self, pointer: &str) -> Option<Value> {
        if pointer.is_empty() {
            return serde_json::from_str(&self.data).ok();
        }
        // The data is an object checked when the record was made: its
        // first member is skimmed for, the rest read within it.
        let (first, tail) = skim::first_token(pointer)?;
        let value = field_of_checked(&self.data, &first)?;
        let value = if tail.is_empty() {
            value
        } else {
            pointer_raw(value, tail)?
        };
        serde_json::from_str(value.get()).ok()
    }

    /// Set the key from a field (string, number or bool); unchanged if
    /// absent, as [`Record::key_from`].
    pub fn key_from(mut self, field: &str) -> Self {
        self.key = self
            .field_raw(field)
            .and_then(|v| key_text(v.get()))
            .or(self.key);
        self
    }

    /// Set the key.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Make it a delete.
    pub fn with_op(mut self, op: Op) -> Self {
        self.op = op;
        self
    }

    /// Attach a blob of the run.
    pub fn with_blob(mut self, blob: &crate::blob::Blob) -> Self {
        self.blob = Some(blob.0.clone());
        self
    }
}

/// The key a field's value text gives (a string, number or bool; see
/// [`scalar_text`]).
pub(crate) fn key_text(value: &str) -> Option<String> {
    // An object or array is no key: not worth building (a page's key
    // member may be large).
    if value.trim_start().starts_with(['{', '[']) {
        return None;
    }
    serde_json::from_str::<Value>(value)
        .ok()
        .as_ref()
        .and_then(scalar_text)
}

/// `text` as a JSON document, checked and borrowed; nothing is built.
pub fn document(text: &str) -> Result<&RawValue> {
    serde_json::from_str(text).map_err(|e| Error::Fatal(format!("not JSON: {e}")))
}

/// The value at `pointer` (RFC 6901, as `serde_json::Value::pointer`
/// reads it) in `doc`; `""` is the document.
pub fn pointer_raw<'a>(doc: &'a RawValue, pointer: &str) -> Option<&'a RawValue> {
    if pointer.is_empty() {
        return Some(doc);
    }
    let rest = pointer.strip_prefix('/')?;
    let mut at = doc;
    for token in rest.split('/') {
        let token = skim::unescape(token);
        let text = at.get().trim_start();
        at = if text.starts_with('{') {
            field_of_checked(at.get(), &token)?
        } else if text.starts_with('[') {
            element_of(at.get(), index(&token)?)?
        } else {
            return None;
        };
    }
    Some(at)
}

/// The records at `pointer` in `doc`: an array's elements, an object as
/// one record, nothing for `null`; otherwise the error
/// [`records_at`](crate::rest::records_at) gives.
pub fn records_raw<'a>(doc: &'a RawValue, pointer: &str) -> Result<Vec<&'a RawValue>> {
    let missing = || {
        Error::Config(format!(
            "the response has no records at JSON pointer `{pointer}`"
        ))
    };
    let target = pointer_raw(doc, pointer).ok_or_else(missing)?;
    let text = target.get().trim_start();
    if text.starts_with('[') {
        serde_json::from_str(target.get()).map_err(Error::fatal)
    } else if text.starts_with('{') {
        Ok(vec![target])
    } else if text.starts_with('n') {
        Ok(Vec::new())
    } else {
        Err(missing())
    }
}

/// The records at `pointer` in the page `text`, as [`records_raw`] finds
/// them, each with the key its member `key` gives (as
/// [`RawRecord::key_from`] reads it; none when absent). One checked pass
/// where it can ([`scan`]), the careful readers otherwise, so the answer is
/// the same either way. Errors: not JSON, no records at `pointer`, a record
/// that is not an object, a document that is not [`plain`], more than `max`
/// records (found without holding more than `max` of them on the fast way).
pub fn keyed_records<'a>(
    text: &'a str,
    pointer: &str,
    key: Option<&str>,
    max: usize,
) -> Result<Vec<(&'a str, Option<String>)>> {
    let too_many = || Error::Fatal(format!("the page has more than {max} records"));
    match scan::page_within(text, pointer, key, max) {
        Ok(Some(page)) => {
            return Ok(page
                .items
                .iter()
                .map(|item| (item.text, item.key.and_then(key_text)))
                .collect());
        }
        Ok(None) => {}
        Err(scan::TooMany) => return Err(too_many()),
    }
    let doc = document(text)?;
    if let Some(why) = beyond(text, READABLE_DEPTH) {
        return Err(Error::Fatal(match why {
            Beyond::Depth => format!("arrays and objects nest deeper than {READABLE_DEPTH}"),
            Beyond::Unreadable(why) => why,
        }));
    }
    let items = records_raw(doc, pointer)?;
    if items.len() > max {
        return Err(too_many());
    }
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            let text = item.get().trim();
            if !text.starts_with('{') {
                return Err(Error::Fatal(format!(
                    "record {index} must be a JSON object, got {}",
                    kind_of(text)
                )));
            }
            let key = key
                .and_then(|k| field_of_checked(text, k))
                .and_then(|v| key_text(v.get()));
            Ok((text, key))
        })
        .collect()
}

/// Whether `text` holds nothing that [`document`] accepts but a full parse
/// into `serde_json::Value` refuses (see [`beyond`]): such a text reads the
/// same whether sliced or parsed.
pub fn plain(text: &str) -> bool {
    beyond(text, READABLE_DEPTH).is_none()
}

/// The deepest nesting a parse into `serde_json::Value` reads (its
/// recursion limit is 128 levels, the outermost included).
pub const READABLE_DEPTH: usize = 127;

/// What a syntax check (`RawValue`, which builds nothing) lets through in
/// JSON text but the host must refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Beyond {
    /// Arrays and objects nest deeper than the limit.
    Depth,
    /// A value no parse into values reads: a number beyond `f64` or a lone
    /// UTF-16 surrogate in a `\u` escape. Stored, such a record could not
    /// be read back.
    Unreadable(String),
}

/// The first thing in JSON `text` that [`Beyond`] describes, nesting
/// measured against `depth_limit`. One pass over the bytes that builds
/// nothing; it does not check the syntax (the caller does, with
/// [`document`]), so it runs first and keeps every later parser of the text
/// within its own recursion limit.
pub fn beyond(text: &str, depth_limit: usize) -> Option<Beyond> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                // Strings are most of a record: jump to the next quote or
                // backslash (memchr compares many bytes at a time).
                while let Some(at) = bytes
                    .get(i..)
                    .and_then(|rest| memchr::memchr2(b'"', b'\\', rest))
                {
                    i += at;
                    if bytes[i] == b'"' {
                        break;
                    }
                    if bytes.get(i + 1) == Some(&b'u') {
                        match unicode_escape(bytes, i) {
                            Ok(len) => i += len,
                            Err(why) => return Some(Beyond::Unreadable(why)),
                        }
                    } else {
                        i += 2;
                    }
                }
            }
            b'{' | b'[' => {
                depth += 1;
                if depth > depth_limit {
                    return Some(Beyond::Depth);
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'-' | b'0'..=b'9' => {
                let start = i;
                let mut exponent = false;
                while i + 1 < bytes.len()
                    && matches!(bytes[i + 1], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
                {
                    exponent |= matches!(bytes[i + 1], b'e' | b'E');
                    i += 1;
                }
                let number = &text[start..=i];
                // Without an exponent only a number of more than 300
                // digits can pass f64's range; those few are read by the
                // same parser the records store reads them back with.
                if (exponent || number.len() > 300)
                    && serde_json::from_str::<serde_json::Number>(number).is_err()
                {
                    return Some(Beyond::Unreadable(format!(
                        "the number {} is beyond what a 64-bit float holds",
                        number.chars().take(40).collect::<String>()
                    )));
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Whether `text` is the text of one JSON object and nothing around it,
/// nested at most `depth_limit` levels, that a parse into values reads back
/// (what [`beyond`] and a syntax check find together), checked in one pass;
/// `false` for anything else, where those checks say why. The host checks
/// records this way.
pub fn is_plain_object(text: &str, depth_limit: usize) -> bool {
    scan::plain_object(text, depth_limit)
}

/// At `bytes[at..]`, a `\u` escape: its length (12 for a surrogate
/// pair), or why it is a lone surrogate (a leading one must be followed at
/// once by a trailing one). Syntax is the caller's: what is not four hex
/// digits counts as one escaped character.
fn unicode_escape(bytes: &[u8], at: usize) -> Result<usize, String> {
    let unit = |i: usize| {
        let hex = bytes.get(i + 2..i + 6)?;
        u16::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
    };
    match unit(at) {
        Some(n @ 0xD800..=0xDBFF) => {
            let paired = bytes.get(at + 6) == Some(&b'\\')
                && bytes.get(at + 7) == Some(&b'u')
                && unit(at + 6).is_some_and(|m| (0xDC00..=0xDFFF).contains(&m));
            if paired {
                Ok(12)
            } else {
                Err(format!("a lone leading surrogate \\u{n:04x} in a string"))
            }
        }
        Some(n @ 0xDC00..=0xDFFF) => {
            Err(format!("a lone trailing surrogate \\u{n:04x} in a string"))
        }
        Some(_) => Ok(6),
        None => Ok(2),
    }
}

/// A member name, borrowed unless it has escapes.
struct Name;

impl<'de> DeserializeSeed<'de> for Name {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Name {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a member name")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }
}

fn kind_of(text: &str) -> &'static str {
    match text.as_bytes().first() {
        Some(b'n') => "null",
        Some(b't' | b'f') => "a boolean",
        Some(b'"') => "a string",
        Some(b'[') => "an array",
        Some(b'{') => "an object",
        _ => "a number",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_read_as_value_pointer_does() {
        let text = r#"{"a": {"b~c/d": [10, {"x": 1, "x": 2}]}, "e\u0041": 3}"#;
        let doc = document(text).unwrap();
        let value: Value = serde_json::from_str(text).unwrap();
        for p in [
            "",
            "/a",
            "/a/b~0c~1d",
            "/a/b~0c~1d/1/x",
            "/a/b~0c~1d/01",
            "/eA",
            "/nope",
            "a",
            "/a/b~0c~1d/+1",
        ] {
            let raw = pointer_raw(doc, p).map(|v| serde_json::from_str::<Value>(v.get()).unwrap());
            assert_eq!(raw.as_ref(), value.pointer(p), "{p}");
        }
    }

    #[test]
    fn what_only_a_parse_judges_is_not_plain() {
        assert!(plain(r#"{"a": [1.5, -2e10, "\u00e9 \\ud800"]}"#));
        assert!(!plain(r#"{"a": 1e400}"#));
        assert!(plain(r#"{"a": "\ud83d\ude00"}"#));
        assert!(!plain(r#"{"a": "\ud800"}"#));
        assert!(!plain(&"[".repeat(128)));
        assert!(plain(&format!("[{}]", "9".repeat(300))));
        assert!(!plain(&format!("[{}]", "9".repeat(400))));
    }

    #[test]
    fn records_and_their_keys() {
        let doc = document(r#"{"d": [{"id": 1.0}, {"id": "x"}, 3]}"#).unwrap();
        let items = records_raw(doc, "/d").unwrap();
        let first = RawRecord::from_raw("s", items[0]).unwrap().key_from("id");
        assert_eq!(first.key.as_deref(), Some("1.0"));
        let e = RawRecord::from_raw("s", items[2]).unwrap_err();
        assert!(e.to_string().contains("got a number"), "{e}");
        assert!(records_raw(doc, "/x").is_err());
        assert!(
            records_raw(document("null").unwrap(), "")
                .unwrap()
                .is_empty()
        );
    }
}
