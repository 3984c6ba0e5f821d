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
    /// A record from parts; fails unless `data` is the text of a JSON object
    /// that a parse into values reads back (see [`beyond`]).
    pub fn new(
        stream: impl Into<String>,
        key: Option<String>,
        op: Op,
        data: String,
    ) -> Result<Self, String> {
        let data = match record_text(data, READABLE_DEPTH) {
            Ok(data) => data,
            Err(Refused::Depth) => {
                return Err(format!(
                    "arrays and objects nest deeper than {READABLE_DEPTH}"
                ));
            }
            Err(Refused::Invalid(why)) => return Err(why),
        };
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

/// `data` as record data: the syntax of one JSON object, checked without
/// building anything (what [`beyond`] checks is the caller's).
pub fn object_text(data: String) -> Result<Box<RawValue>, String> {
    let data = RawValue::from_string(data).map_err(|e| e.to_string())?;
    if !data.get().trim_start().starts_with('{') {
        return Err("expected an object".into());
    }
    Ok(data)
}

/// Why text is not record data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Arrays and objects nest deeper than the limit.
    Depth,
    /// Not one JSON object that a parse reads back: why.
    Invalid(String),
}

/// `data` as record data, nested at most `depth` levels: in one pass when
/// it is a plain JSON object with nothing around it (nearly always), else
/// checked by [`beyond`] (nesting first) and [`object_text`], which say why
/// it is refused.
pub fn record_text(data: String, depth: usize) -> Result<Box<RawValue>, Refused> {
    let data = match plain_object_text(data, depth) {
        Ok(data) => return Ok(data),
        Err(data) => data,
    };
    match beyond(&data, depth) {
        Some(Beyond::Depth) => Err(Refused::Depth),
        Some(Beyond::Unreadable(why)) => Err(Refused::Invalid(why)),
        None => object_text(data).map_err(Refused::Invalid),
    }
}

/// `data` as record data in one pass, when it is one plain JSON object
/// nested at most `depth` levels with nothing around it
/// ([`wharf_sdk::raw::is_plain_object`]); `Err(data)` otherwise. Two passes
/// were ~7 % of a fetch → map.
#[allow(unsafe_code)]
fn plain_object_text(data: String, depth: usize) -> Result<Box<RawValue>, String> {
    if !wharf_sdk::raw::is_plain_object(&data, depth) {
        return Err(data);
    }
    // SAFETY: `is_plain_object` takes only one well-formed JSON value with
    // no space around it: it checks the syntax as serde_json does (held to
    // a parse by property tests here and in the SDK's `raw`).
    Ok(unsafe { RawValue::from_string_unchecked(data) })
}

pub use wharf_sdk::raw::{Beyond, READABLE_DEPTH, beyond};

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
        let deeper = |t: &str, limit| beyond(t, limit) == Some(Beyond::Depth);
        assert!(!deeper(r#"{"a":[{"b":"[[[[["}]}"#, 3));
        assert!(deeper(r#"{"a":[{"b":[1]}]}"#, 3));
        assert!(!deeper(r#"{"a":"\"[[[["}"#, 1));
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(deeper(&deep, 64));
    }

    #[test]
    fn what_a_parse_would_refuse_is_refused() {
        for bad in [
            r#"{"a":1e400}"#,
            r#"{"a":-1.8e308}"#,
            r#"{"a":"\ud800"}"#,
            r#"{"a":"\udc00"}"#,
            r#"{"a":"\ud800\u0041"}"#,
        ] {
            assert!(
                matches!(beyond(bad, 64), Some(Beyond::Unreadable(_))),
                "{bad}"
            );
            assert!(
                Record::new("s", None, Op::Upsert, bad.into()).is_err(),
                "{bad}"
            );
            assert!(
                serde_json::from_str::<serde_json::Value>(bad).is_err(),
                "{bad}"
            );
        }
        let big = format!("{{\"a\":{}}}", "9".repeat(400));
        assert!(beyond(&big, 64).is_some());
        for good in [
            r#"{"a":"\ud83d\ude00 \\ud800","b":[1e300,-0,4.9e-324,1e-400]}"#,
            "{}",
        ] {
            assert_eq!(beyond(good, 64), None, "{good}");
            assert!(Record::new("s", None, Op::Upsert, good.into()).is_ok());
        }
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(127), "]".repeat(127));
        assert!(Record::new("s", None, Op::Upsert, deep).is_err());
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

        /// The syntax check and [`beyond`] together accept exactly what a
        /// parse into values accepts: text from a JSON-ish alphabet, and
        /// JSON with the numbers and escapes at the edges.
        #[test]
        fn the_checks_accept_what_a_parse_accepts(
            text in prop_oneof![
                "[\\[\\]{}:,\"\\\\u0-9a-fA-FeE.+\\- ntrl]{0,40}".prop_map(|s: String| s),
                prop::collection::vec(prop::sample::select(vec![
                    "{", "}", "[", "]", ",", ":", "\"a\"", "\"\\ud83d\\ude00\"", "\"\\ud800\"",
                    "\"\\udc00\"", "\"\\ud800\\ud800\"", "\"\\u00e9\\\\ud800\"", "1e308", "1.8e308",
                    "-1e400", "1e-400", "0", "-0.5", "12345678901234567890123", "null", "true", " ",
                ]), 0..24).prop_map(|parts| parts.concat()),
            ]
        ) {
            let ours = beyond(&text, READABLE_DEPTH).is_none()
                && RawValue::from_string(text.clone()).is_ok();
            let parse = serde_json::from_str::<serde_json::Value>(&text).is_ok();
            prop_assert_eq!(ours, parse, "{}", text);
            // The one pass takes only what both checks take, an object
            // with nothing around it, and nests as `beyond` counts.
            for depth in [1, 2, READABLE_DEPTH] {
                if wharf_sdk::raw::is_plain_object(&text, depth) {
                    prop_assert!(parse && beyond(&text, depth).is_none(), "{}", text);
                    prop_assert!(text.starts_with('{') && text.trim() == text, "{}", text);
                } else if depth == READABLE_DEPTH && parse && text.starts_with('{') && text.trim() == text {
                    prop_assert!(false, "a plain object the pass refused: {}", text);
                }
            }
        }
    }

    /// The one pass counts nesting as [`beyond`] does, so the host's depth
    /// limit holds on either path.
    #[test]
    fn the_one_pass_counts_nesting_as_beyond_does() {
        for (text, nesting) in [
            ("{}", 1),
            (r#"{"a":{}}"#, 2),
            (r#"{"a":[{"b":1}],"c":"[[{"}"#, 3),
            (r#"{"a":[[1]],"b":{"c":[]}}"#, 3),
        ] {
            for depth in 0..=4 {
                assert_eq!(
                    wharf_sdk::raw::is_plain_object(text, depth),
                    nesting <= depth,
                    "{text} within {depth}"
                );
                assert_eq!(beyond(text, depth).is_none(), nesting <= depth, "{text}");
            }
        }
        // What records usually are takes the one pass.
        let record =
            r#"{"id":7,"name":"caf\u00e9 \"x\"","tags":["a","b"],"price":{"amount":1.5e2}}"#;
        assert!(plain_object_text(record.into(), 64).is_ok());
        for refused in [" {}", "{} ", "[]", "{\"a\":1.8e308}", "{\"a\":\"\\ud800\"}"] {
            assert!(plain_object_text(refused.into(), 64).is_err(), "{refused}");
        }
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
