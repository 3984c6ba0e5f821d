//! Records as the host handles them: checked JSON, serde for the API, the
//! CLI's JSON lines and the store; converted to and from the contract's types
//! at the sandbox boundary.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// What a destination should do with a record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// Create or replace.
    #[default]
    Upsert,
    /// Remove.
    Delete,
}

/// One unit of data. `data` is always a JSON object.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    /// Stream name.
    pub stream: String,
    /// Identity in the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Upsert or delete.
    #[serde(default)]
    pub op: Op,
    /// The record's fields, as JSON text of an object.
    pub data: Box<RawValue>,
    /// A blob of the run that belongs to the record (a file's content), for
    /// a destination to read or send on. Blobs live as long as their run, so
    /// the records store keeps only the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob: Option<String>,
}

impl PartialEq for Record {
    fn eq(&self, other: &Self) -> bool {
        self.stream == other.stream
            && self.key == other.key
            && self.op == other.op
            && self.data.get() == other.data.get()
    }
}

/// Record data that is not a JSON object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record {index} of stream `{stream}`: data is not a JSON object ({reason})")]
pub struct InvalidRecord {
    /// Position in its batch.
    pub index: usize,
    /// Its stream.
    pub stream: String,
    /// What is wrong.
    pub reason: String,
}

impl Record {
    /// A record from parts; fails unless `data` is the text of a JSON object.
    pub fn new(
        stream: impl Into<String>,
        key: Option<String>,
        op: Op,
        data: String,
    ) -> Result<Self, String> {
        let data = RawValue::from_string(data).map_err(|e| e.to_string())?;
        if !data.get().trim_start().starts_with('{') {
            return Err("expected an object".into());
        }
        Ok(Self {
            stream: stream.into(),
            key,
            op,
            data,
            blob: None,
        })
    }

    /// Size in bytes, for limits and counters.
    pub fn size(&self) -> usize {
        self.stream.len() + self.key.as_ref().map_or(0, String::len) + self.data.get().len()
    }

    /// The data parsed as a map.
    pub fn fields(&self) -> serde_json::Map<String, serde_json::Value> {
        serde_json::from_str(self.data.get()).unwrap_or_default()
    }
}

/// Whether arrays and objects in JSON `text` nest deeper than `limit`.
/// One pass over the bytes that builds nothing; strings are skipped. It
/// does not check the syntax (the caller does), so it runs first and keeps
/// every later parser of the text within its own recursion limit.
pub fn nests_deeper_than(text: &str, limit: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in text.as_bytes() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// A validator for a JSON Schema that came from outside (a connector's
/// spec, a sync's settings): `pattern`s use the linear-time `regex` engine,
/// so no schema can make validation backtrack for hours.
pub fn schema_validator(schema: &serde_json::Value) -> Result<jsonschema::Validator, String> {
    jsonschema::options()
        .with_pattern_options(jsonschema::PatternOptions::regex())
        .build(schema)
        .map_err(|e| e.to_string())
}

/// One page returned by a source.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Page {
    /// Records of the page.
    pub records: Vec<Record>,
    /// Where to resume.
    pub cursor: Option<String>,
    /// Whether another page follows.
    pub more: bool,
    /// Nothing yet: fetch again with `cursor` after this many seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<u32>,
    /// Rows the source could not read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub row_errors: Vec<RowError>,
}

/// The stream of a mapper's output record that refuses the input record in
/// its place (the SDK's `Record::rejection`): contract 0.2's `map` has no
/// list of rejections, so a mapper says it with a record of this stream,
/// whose data is `{"stream", "key", "field", "message"}`.
pub const REJECTED_STREAM: &str = "wharf:rejected";

/// The row error a mapper's output record stands for, if it refuses its
/// input (see [`REJECTED_STREAM`]).
pub fn mapper_rejection(record: &Record) -> Option<RowError> {
    if record.stream != REJECTED_STREAM {
        return None;
    }
    #[derive(Deserialize)]
    struct Refusal {
        #[serde(default)]
        stream: Option<String>,
        #[serde(default)]
        key: Option<String>,
        #[serde(default)]
        field: Option<String>,
        #[serde(default)]
        message: Option<String>,
    }
    let refusal: Refusal = serde_json::from_str(record.data.get()).unwrap_or(Refusal {
        stream: None,
        key: None,
        field: None,
        message: None,
    });
    Some(RowError {
        stream: refusal.stream.unwrap_or_default(),
        row: refusal
            .key
            .or_else(|| record.key.clone())
            .unwrap_or_default(),
        field: refusal.field,
        message: refusal
            .message
            .filter(|m| !m.trim().is_empty())
            .unwrap_or_else(|| "the mapper refused the record without saying why".into()),
    })
}

/// The record standing for a mapper's refusal `e` (after the host
/// redacted and clipped its words).
pub fn rejection_record(e: &RowError) -> Record {
    let data = serde_json::json!({"stream": e.stream, "key": e.row, "field": e.field, "message": e.message});
    Record::new(
        REJECTED_STREAM,
        Some(e.row.clone()),
        Op::Upsert,
        data.to_string(),
    )
    .expect("an object is a record")
}

/// A stream among `records` that only the host may name (`wharf:…`): a
/// source or a webhook delivery that returns one breaks the contract.
pub fn reserved_stream(records: &[Record]) -> Option<&str> {
    records
        .iter()
        .map(|r| r.stream.as_str())
        .find(|s| s.starts_with("wharf:"))
}

/// A row a source could not read (a bad line of a file).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RowError {
    /// The stream it was meant for.
    pub stream: String,
    /// Where it was (row number, line, item id).
    pub row: String,
    /// Field at fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Why.
    pub message: String,
}

/// A record a destination refused.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Rejection {
    /// Position in the pushed batch.
    pub index: u32,
    /// Field at fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Why.
    pub message: String,
}

/// What a destination did with a batch.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PushResult {
    /// New records.
    pub created: u32,
    /// Replaced records.
    pub updated: u32,
    /// Removed records.
    pub deleted: u32,
    /// Refused records.
    pub rejected: Vec<Rejection>,
    /// Accepted for processing later: the external job id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_job: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_must_be_an_object() {
        assert!(Record::new("s", None, Op::Upsert, r#"{"a":1}"#.into()).is_ok());
        assert!(Record::new("s", None, Op::Upsert, "[1]".into()).is_err());
        assert!(Record::new("s", None, Op::Upsert, "{oops".into()).is_err());
    }

    #[test]
    fn nesting_is_measured_outside_strings() {
        assert!(!nests_deeper_than(r#"{"a":[{"b":"[[[[["}]}"#, 3));
        assert!(nests_deeper_than(r#"{"a":[{"b":[1]}]}"#, 3));
        assert!(!nests_deeper_than(r#"{"a":"\"[[[["}"#, 1));
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(nests_deeper_than(&deep, 64));
    }

    #[test]
    fn json_lines_round_trip() {
        let line = r#"{"stream":"items","key":"1","op":"delete","data":{"id":1}}"#;
        let r: Record = serde_json::from_str(line).unwrap();
        assert_eq!(r.op, Op::Delete);
        assert_eq!(serde_json::to_string(&r).unwrap(), line);
        let r: Record = serde_json::from_str(r#"{"stream":"s","data":{}}"#).unwrap();
        assert_eq!(r.op, Op::Upsert);
    }

    #[test]
    fn a_mapper_refuses_with_a_record_of_the_rejected_stream() {
        let kept = Record::new("out", Some("1".into()), Op::Upsert, "{}".into()).unwrap();
        let refused = Record::new(
            REJECTED_STREAM,
            Some("7".into()),
            Op::Upsert,
            r#"{"stream":"bank","key":"7","field":"code","message":"no factor"}"#.into(),
        )
        .unwrap();
        let silent = Record::new(REJECTED_STREAM, None, Op::Upsert, "{}".into()).unwrap();
        assert_eq!(mapper_rejection(&kept), None);
        let errors = [
            mapper_rejection(&refused).unwrap(),
            mapper_rejection(&silent).unwrap(),
        ];
        assert_eq!(
            mapper_rejection(&rejection_record(&errors[0])).unwrap(),
            errors[0]
        );
        assert_eq!(reserved_stream(&[kept, refused]), Some(REJECTED_STREAM));
        assert_eq!(
            errors[0],
            RowError {
                stream: "bank".into(),
                row: "7".into(),
                field: Some("code".into()),
                message: "no factor".into()
            }
        );
        assert_eq!(
            errors[1].message,
            "the mapper refused the record without saying why"
        );
    }
}
