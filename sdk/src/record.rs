//! Records, pages and push results, with serde helpers.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The stream of a mapper's output record that refuses its input record
/// instead of mapping it (see [`Record::rejection`]); contract 0.2 has no
/// rejection list for `map`, so the host reads this stream as one.
pub const REJECTED_STREAM: &str = "wharf:rejected";

/// What a destination should do with a record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// Create, or replace the record with the same key.
    #[default]
    Upsert,
    /// Remove the record with this key.
    Delete,
}

/// One unit of data: a JSON object in a stream, with an optional key.
///
/// ```
/// use wharf_sdk::{Record, json};
///
/// let r = Record::from_value("orders", json!({"id": 7, "total": "9.50"}))
///     .unwrap()
///     .key_from("id");
/// assert_eq!(r.key.as_deref(), Some("7"));
/// assert_eq!(r.get("total"), Some(&json!("9.50")));
///
/// #[derive(serde::Deserialize)]
/// struct Order { id: u64 }
/// assert_eq!(r.deserialize::<Order>().unwrap().id, 7);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The stream it belongs to.
    pub stream: String,
    /// Identity in the source, for upserts and de-duplication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Upsert or delete.
    #[serde(default)]
    pub op: Op,
    /// The fields.
    pub data: Map<String, Value>,
    /// A blob of the run that belongs to the record (a file's content).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob: Option<String>,
}

impl Record {
    /// An upsert of `data` into `stream`.
    pub fn upsert(stream: impl Into<String>, data: Map<String, Value>) -> Self {
        Self {
            stream: stream.into(),
            key: None,
            op: Op::Upsert,
            data,
            blob: None,
        }
    }

    /// A delete of `key` from `stream`.
    pub fn delete(stream: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            stream: stream.into(),
            key: Some(key.into()),
            op: Op::Delete,
            data: Map::new(),
            blob: None,
        }
    }

    /// In a mapper's output, in place of `input`: the record is refused
    /// with `message` (and the field at fault, if one is known). The host
    /// stores it with the run's errors under the input's key, counts it
    /// against the sync's error threshold and passes nothing on; the rest
    /// of the page goes on.
    ///
    /// ```
    /// use wharf_sdk::{Record, json};
    ///
    /// let input = Record::from_value("bank", json!({"code": "999"})).unwrap().key_from("code");
    /// let r = Record::rejection(&input, Some("code"), "no emission factor for account 999");
    /// assert_eq!(r.stream, wharf_sdk::REJECTED_STREAM);
    /// assert_eq!(r.get("key"), Some(&json!("999")));
    /// ```
    pub fn rejection(input: &Record, field: Option<&str>, message: impl Into<String>) -> Self {
        let mut data = Map::new();
        data.insert("stream".into(), Value::String(input.stream.clone()));
        if let Some(key) = &input.key {
            data.insert("key".into(), Value::String(key.clone()));
        }
        if let Some(field) = field {
            data.insert("field".into(), Value::String(field.into()));
        }
        data.insert("message".into(), Value::String(message.into()));
        Self {
            key: input.key.clone(),
            ..Self::upsert(REJECTED_STREAM, data)
        }
    }

    /// An upsert from a JSON value, which must be an object.
    pub fn from_value(stream: impl Into<String>, value: Value) -> Result<Self> {
        match value {
            Value::Object(data) => Ok(Self::upsert(stream, data)),
            other => Err(Error::Fatal(format!(
                "a record must be a JSON object, got {}",
                kind(&other)
            ))),
        }
    }

    /// An upsert from any serializable struct.
    pub fn from_serialize<T: Serialize>(stream: impl Into<String>, value: &T) -> Result<Self> {
        Self::from_value(stream, serde_json::to_value(value).map_err(Error::fatal)?)
    }

    /// The data as a typed struct.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T> {
        T::deserialize(Value::Object(self.data.clone())).map_err(|e| {
            Error::Fatal(format!(
                "record of stream `{}` does not fit: {e}",
                self.stream
            ))
        })
    }

    /// Set the key.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Attach a blob of the run (a file's content, an attachment): a
    /// destination of the same sync reads it with [`Record::blob`].
    pub fn with_blob(mut self, blob: &crate::blob::Blob) -> Self {
        self.blob = Some(blob.0.clone());
        self
    }

    /// Set the key from a field (string or number); unchanged if absent.
    pub fn key_from(mut self, field: &str) -> Self {
        self.key = self.data.get(field).and_then(scalar_text).or(self.key);
        self
    }

    /// A field of the data.
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.data.get(field)
    }

    /// A value by JSON pointer (`/customer/email`).
    pub fn pointer(&self, pointer: &str) -> Option<&Value> {
        let (first, tail) = crate::raw::skim::first_token(pointer)?;
        let value = self.data.get(first.as_ref())?;
        if tail.is_empty() {
            Some(value)
        } else {
            value.pointer(tail)
        }
    }
}

/// The text of a string, number or bool; `None` for other values.
pub fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// One page of a stream.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page {
    /// The records.
    pub records: Vec<Record>,
    /// Records as JSON text (see [`crate::raw`]), handed over after
    /// `records` without being parsed or printed again.
    pub raw: Vec<crate::raw::RawRecord>,
    /// Where to resume after this page.
    pub cursor: Option<String>,
    /// Whether another page follows.
    pub more: bool,
    /// Nothing yet: fetch again with `cursor` after this many seconds.
    pub pending: Option<u32>,
    /// Rows the source could not read.
    pub row_errors: Vec<RowError>,
}

/// A row a source could not read (a bad line of a file); stored with the
/// run's errors while the rest goes on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    /// The stream it was meant for.
    pub stream: String,
    /// Where it was: a row number, a line, an item id.
    pub row: String,
    /// The field at fault.
    pub field: Option<String>,
    /// Why.
    pub message: String,
}

impl Page {
    /// A page with its cursor and whether more follow.
    pub fn new(records: Vec<Record>, cursor: Option<String>, more: bool) -> Self {
        Self {
            records,
            cursor,
            more,
            ..Self::default()
        }
    }

    /// A page of records as JSON text.
    pub fn from_raw(raw: Vec<crate::raw::RawRecord>, cursor: Option<String>, more: bool) -> Self {
        Self {
            raw,
            cursor,
            more,
            ..Self::default()
        }
    }

    /// Nothing yet (an export job is still running): the host calls
    /// `fetch` again with `cursor` after `secs` seconds, without counting
    /// a failure, up to the sync's `max_pending_secs`.
    pub fn pending(cursor: impl Into<String>, secs: u32) -> Self {
        Self {
            cursor: Some(cursor.into()),
            more: true,
            pending: Some(secs.max(1)),
            ..Self::default()
        }
    }

    /// Report a row that could not be read, with its place and reason.
    pub fn row_error(
        mut self,
        stream: impl Into<String>,
        row: impl ToString,
        field: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        self.row_errors.push(RowError {
            stream: stream.into(),
            row: row.to_string(),
            field: field.map(str::to_string),
            message: message.into(),
        });
        self
    }

    /// The last page of a stream.
    pub fn last(records: Vec<Record>, cursor: Option<String>) -> Self {
        Self::new(records, cursor, false)
    }
}

/// A record a destination refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// Position in the batch.
    pub index: u32,
    /// Field at fault.
    pub field: Option<String>,
    /// Why.
    pub message: String,
}

/// What a destination did with a batch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PushResult {
    /// New records.
    pub created: u32,
    /// Replaced records.
    pub updated: u32,
    /// Removed records.
    pub deleted: u32,
    /// Refused records.
    pub rejected: Vec<Rejection>,
    /// Accepted for processing later (an import job): the external job id.
    pub accepted_job: Option<String>,
}

impl PushResult {
    /// Refuse the record at `index`.
    pub fn reject(&mut self, index: usize, field: Option<&str>, message: impl Into<String>) {
        self.rejected.push(Rejection {
            index: index as u32,
            field: field.map(str::to_string),
            message: message.into(),
        });
    }

    /// Refuse the records from `from` to the end of a batch of `len`, for a
    /// destination that cannot undo what it already sent (a chat message):
    /// an error now would make the host send the whole batch again, so the
    /// rest is refused instead, saying why.
    ///
    /// ```
    /// let mut r = wharf_sdk::PushResult::default();
    /// r.created = 2;
    /// r.reject_rest(2, 4, "the webhook was revoked");
    /// assert_eq!(r.rejected.len(), 2);
    /// assert!(r.rejected[1].message.contains("not posted twice"));
    /// ```
    pub fn reject_rest(&mut self, from: usize, len: usize, why: &str) {
        let why =
            format!("not sent, so that the batch's earlier messages are not posted twice: {why}");
        for index in from..len {
            self.reject(index, None, why.clone());
        }
    }
}

/// A verified incoming webhook delivery.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// `POST`, or `GET` for senders that deliver that way.
    pub method: String,
    /// Headers, names in lowercase.
    pub headers: Vec<(String, String)>,
    /// The query string, decoded.
    pub query: Vec<(String, String)>,
    /// Raw body.
    pub body: Vec<u8>,
}

impl Delivery {
    /// A header by name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::Fatal(format!("webhook body is not the expected JSON: {e}")))
    }
}
