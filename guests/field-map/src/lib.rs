//! `field-map`: a generic mapper, configured with rules per stream.
//!
//! A rule picks fields by JSON pointer into new names, sets constants,
//! fills defaults, casts (`string`, `number`, `integer`, `bool`, `date`),
//! drops records matching a condition, and sets the output stream and key:
//! the "custom field mapping" every integration module ends up needing.

use serde::Deserialize;
use wharf_sdk::prelude::*;
use wharf_sdk::raw::{ObjectWriter, RawObject, RawRecord};

/// The connection config.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    rules: Vec<Rule>,
    /// What to do with records no rule matches: `pass` (default) or `drop`.
    #[serde(default)]
    unmatched: Unmatched,
}

#[derive(Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Unmatched {
    #[default]
    Pass,
    Drop,
}

/// How records of one input stream are mapped.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Input stream (`*` for any).
    stream: String,
    /// Output stream (default: the input stream).
    #[serde(default)]
    output_stream: Option<String>,
    /// JSON pointer into the input whose value becomes the key (default:
    /// the input key).
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    fields: Vec<FieldRule>,
    /// Copy input fields that no field rule names (default false).
    #[serde(default)]
    keep_unmapped: bool,
    /// Drop a record when any condition holds.
    #[serde(default)]
    drop_if: Vec<Condition>,
    /// On a failed cast: `fail` the call (default), set `null`, or `drop`
    /// the record.
    #[serde(default)]
    on_cast_error: OnCastError,
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum OnCastError {
    #[default]
    Fail,
    Null,
    Drop,
}

/// One output field.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldRule {
    to: String,
    #[serde(default)]
    from: Option<String>,
    #[serde(default, rename = "const")]
    constant: Option<Value>,
    #[serde(default)]
    default: Option<Value>,
    #[serde(default)]
    cast: Option<Cast>,
}

#[derive(Deserialize, Clone, Copy, Debug)]
#[serde(rename_all = "snake_case")]
enum Cast {
    String,
    Number,
    Integer,
    Bool,
    Date,
}

/// A drop condition on the input record.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    field: String,
    #[serde(default)]
    equals: Option<Value>,
    #[serde(default)]
    not_equals: Option<Value>,
    #[serde(default, rename = "in")]
    one_of: Option<Vec<Value>>,
    #[serde(default)]
    missing: Option<bool>,
}

impl Condition {
    /// Whether the condition holds for a record whose values at pointers
    /// `value_at` gives.
    fn holds(&self, value_at: impl Fn(&str) -> Option<Value>) -> bool {
        let value = value_at(&self.field).filter(|v| !v.is_null());
        if let Some(missing) = self.missing
            && value.is_none() == missing
        {
            return true;
        }
        match value {
            Some(v) => {
                self.equals.as_ref() == Some(&v)
                    || self.not_equals.as_ref().is_some_and(|n| *n != v)
                    || self.one_of.as_ref().is_some_and(|set| set.contains(&v))
            }
            None => false,
        }
    }
}

pub struct FieldMap;

impl Connector for FieldMap {
    type Config = Config;

    fn spec() -> Spec {
        Spec::new("field-map", env!("CARGO_PKG_VERSION"))
            .description(
                "Generic mapper: rename fields by JSON pointer, constants, defaults, casts, \
                 drop conditions, output stream and key, per input stream.",
            )
            .role(Role::Mapper)
            .config_schema(config_schema())
    }

    fn check(config: &Config) -> Result<()> {
        if config.rules.is_empty() {
            return Err(Error::config("`rules` is empty: add at least one rule"));
        }
        for (i, rule) in config.rules.iter().enumerate() {
            for f in &rule.fields {
                if f.from.is_none() && f.constant.is_none() && f.default.is_none() {
                    return Err(Error::Config(format!(
                        "rules[{i}]: field `{}` needs `from`, `const` or `default`",
                        f.to
                    )));
                }
                if let Some(from) = &f.from
                    && !from.starts_with('/')
                {
                    return Err(Error::Config(format!(
                        "rules[{i}]: `from` of field `{}` must be a JSON pointer like `/{from}`",
                        f.to
                    )));
                }
            }
        }
        Ok(())
    }

    fn map(config: &Config, records: Vec<Record>) -> Result<Vec<Record>> {
        let mut out = Vec::with_capacity(records.len());
        for record in records {
            match rule_for(config, &record.stream) {
                Some(rule) => out.extend(apply(rule, record)?),
                None if config.unmatched == Unmatched::Pass => out.push(record),
                None => {}
            }
        }
        Ok(out)
    }

    /// The same as `map`, on records as text: each record's top level is
    /// read once, only the values a rule looks at are parsed, and values
    /// copied without a cast (and the unmapped fields kept) are copied as
    /// they are written.
    fn map_raw(config: &Config, records: Vec<RawRecord>) -> Result<Vec<RawRecord>> {
        let mut out = Vec::with_capacity(records.len());
        for record in records {
            match rule_for(config, &record.stream) {
                Some(rule) => out.extend(apply_raw(rule, record)?),
                None if config.unmatched == Unmatched::Pass => out.push(record),
                None => {}
            }
        }
        Ok(out)
    }
}

fn rule_for<'c>(config: &'c Config, stream: &str) -> Option<&'c Rule> {
    config
        .rules
        .iter()
        .find(|r| r.stream == stream || r.stream == "*")
}

/// The record's key under `rule`.
fn key_of(
    rule: &Rule,
    value_at: impl Fn(&str) -> Option<Value>,
    key: &Option<String>,
) -> Option<String> {
    match &rule.key {
        Some(pointer) => value_at(pointer)
            .as_ref()
            .and_then(scalar_text)
            .or(key.clone()),
        None => key.clone(),
    }
}

/// The top-level field a `from` pointer names, if it names one.
fn top_field(from: &str) -> Option<&str> {
    from.strip_prefix('/').filter(|t| !t.contains('/'))
}

/// A field's value under its rule, from the value at its `from`:
/// `Ok(None)` drops the record.
fn field_value(
    rule: &Rule,
    f: &FieldRule,
    from: Option<Value>,
    stream: &str,
    key: Option<&str>,
) -> Result<Option<Value>> {
    let source = match &f.constant {
        Some(c) => Some(c.clone()),
        None => from.filter(|v| !v.is_null()),
    };
    let value = source.or_else(|| f.default.clone()).unwrap_or(Value::Null);
    match f.cast {
        Some(cast) if !value.is_null() => match cast_value(&value, cast) {
            Ok(v) => Ok(Some(v)),
            Err(why) => match rule.on_cast_error {
                OnCastError::Null => Ok(Some(Value::Null)),
                OnCastError::Drop => Ok(None),
                OnCastError::Fail => Err(Error::Fatal(format!(
                    "stream `{stream}`, record {}: field `{}`: {why}",
                    key.unwrap_or("(no key)"),
                    f.to
                ))),
            },
        },
        _ => Ok(Some(value)),
    }
}

fn apply(rule: &Rule, record: Record) -> Result<Option<Record>> {
    let value_at = |p: &str| record.pointer(p).cloned();
    if rule.drop_if.iter().any(|c| c.holds(value_at)) {
        return Ok(None);
    }
    let key = key_of(rule, value_at, &record.key);
    let mut data = if rule.keep_unmapped {
        let mut copy = record.data.clone();
        for f in &rule.fields {
            if let Some(top) = f.from.as_deref().and_then(top_field) {
                copy.remove(top);
            }
        }
        copy
    } else {
        Map::new()
    };
    for f in &rule.fields {
        let from = f.from.as_deref().and_then(value_at);
        match field_value(rule, f, from, &record.stream, key.as_deref())? {
            Some(value) => data.insert(f.to.clone(), value),
            None => return Ok(None),
        };
    }
    Ok(Some(Record {
        stream: rule.output_stream.clone().unwrap_or(record.stream),
        key,
        op: record.op,
        data,
        blob: record.blob,
    }))
}

fn apply_raw(rule: &Rule, record: RawRecord) -> Result<Option<RawRecord>> {
    let object = RawObject::parse(record.data())?;
    let value_at = |p: &str| {
        object
            .pointer(p)
            .and_then(|v| serde_json::from_str::<Value>(v.get()).ok())
    };
    if rule.drop_if.iter().any(|c| c.holds(value_at)) {
        return Ok(None);
    }
    let key = key_of(rule, value_at, &record.key);
    let mut data = ObjectWriter::default();
    if rule.keep_unmapped {
        for (name, value) in object.iter() {
            data.raw(name, value);
        }
        for f in &rule.fields {
            if let Some(top) = f.from.as_deref().and_then(top_field) {
                data.remove(top);
            }
        }
    }
    for f in &rule.fields {
        let raw = f
            .from
            .as_deref()
            .and_then(|p| object.pointer(p))
            .filter(|v| v.get() != "null");
        // A value taken as it is: its text is copied.
        if let (None, None, Some(raw)) = (&f.constant, f.cast, raw) {
            data.raw(f.to.as_str(), raw);
            continue;
        }
        let from = raw.and_then(|v| serde_json::from_str::<Value>(v.get()).ok());
        match field_value(rule, f, from, &record.stream, key.as_deref())? {
            Some(value) => data.value(f.to.as_str(), value),
            None => return Ok(None),
        }
    }
    let stream = rule
        .output_stream
        .clone()
        .unwrap_or_else(|| record.stream.clone());
    let mut mapped = data.into_record(stream).with_op(record.op);
    mapped.key = key;
    mapped.blob = record.blob;
    Ok(Some(mapped))
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn cast_value(v: &Value, cast: Cast) -> std::result::Result<Value, String> {
    let fail = || format!("cannot cast {v} to {cast:?}").to_lowercase();
    match cast {
        Cast::String => scalar_text(v).map(Value::String).ok_or_else(fail),
        Cast::Number => match v {
            Value::Number(_) => Ok(v.clone()),
            Value::Bool(b) => Ok(json!(u8::from(*b))),
            Value::String(s) => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(number)
                .ok_or_else(fail),
            _ => Err(fail()),
        },
        Cast::Integer => match cast_value(v, Cast::Number)? {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
                .map(|i| json!(i))
                .ok_or_else(fail),
            _ => Err(fail()),
        },
        Cast::Bool => match v {
            Value::Bool(_) => Ok(v.clone()),
            Value::Number(n) if n.as_f64() == Some(0.0) => Ok(json!(false)),
            Value::Number(n) if n.as_f64() == Some(1.0) => Ok(json!(true)),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "y" | "1" | "on" => Ok(json!(true)),
                "false" | "no" | "n" | "0" | "off" | "" => Ok(json!(false)),
                _ => Err(fail()),
            },
            _ => Err(fail()),
        },
        Cast::Date => to_date(v).map(Value::String).ok_or_else(fail),
    }
}

/// Integral floats become integers, so `"42"` casts to `42`, not `42.0`.
fn number(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        json!(f as i64)
    } else {
        json!(f)
    }
}

/// `YYYY-MM-DD` from an ISO 8601 date or date-time, or from Unix seconds.
fn to_date(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => {
            let secs = n.as_f64()?;
            let (y, m, d) = wharf_sdk::time::civil((secs / 86_400.0).floor() as i64);
            Some(format!("{y:04}-{m:02}-{d:02}"))
        }
        Value::String(s) => {
            let s = s.trim();
            let date = s.get(..10)?;
            let b = date.as_bytes();
            let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
            let shape =
                digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10);
            let rest_ok = s.len() == 10 || matches!(s.as_bytes()[10], b'T' | b't' | b' ');
            let month: u32 = date[5..7].parse().ok()?;
            let day: u32 = date[8..10].parse().ok()?;
            (shape && rest_ok && (1..=12).contains(&month) && (1..=31).contains(&day))
                .then(|| date.to_string())
        }
        _ => None,
    }
}

fn config_schema() -> Value {
    json!({
        "type": "object",
        "required": ["rules"],
        "additionalProperties": false,
        "properties": {
            "unmatched": { "enum": ["pass", "drop"] },
            "rules": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["stream"],
                    "additionalProperties": false,
                    "properties": {
                        "stream": { "type": "string" },
                        "output_stream": { "type": "string" },
                        "key": { "type": "string", "description": "JSON pointer into the input record" },
                        "keep_unmapped": { "type": "boolean" },
                        "on_cast_error": { "enum": ["fail", "null", "drop"] },
                        "fields": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["to"],
                                "additionalProperties": false,
                                "properties": {
                                    "to": { "type": "string" },
                                    "from": { "type": "string", "description": "JSON pointer into the input record" },
                                    "const": {},
                                    "default": {},
                                    "cast": { "enum": ["string", "number", "integer", "bool", "date"] }
                                }
                            }
                        },
                        "drop_if": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["field"],
                                "properties": {
                                    "field": { "type": "string" },
                                    "equals": {},
                                    "not_equals": {},
                                    "in": { "type": "array" },
                                    "missing": { "type": "boolean" }
                                }
                            }
                        }
                    }
                }
            }
        }
    })
}

wharf_sdk::export_connector!(FieldMap);

#[cfg(test)]
mod tests {
    use super::*;

    fn config(v: Value) -> Config {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn maps_casts_defaults_and_drops() {
        let cfg = config(json!({
            "rules": [{
                "stream": "items",
                "output_stream": "products",
                "key": "/sku",
                "fields": [
                    {"to": "code", "from": "/sku", "cast": "string"},
                    {"to": "price", "from": "/price/amount", "cast": "number"},
                    {"to": "qty", "from": "/qty", "cast": "integer", "default": 0},
                    {"to": "active", "from": "/status", "cast": "bool"},
                    {"to": "day", "from": "/created", "cast": "date"},
                    {"to": "source", "const": "shop"}
                ],
                "drop_if": [{"field": "/archived", "equals": true}]
            }]
        }));
        let input = vec![
            Record::from_value("items", json!({"sku": 7, "price": {"amount": "9.50"}, "status": "yes", "created": "2024-03-01T10:00:00Z"})).unwrap(),
            Record::from_value("items", json!({"sku": 8, "archived": true})).unwrap(),
            Record::from_value("other", json!({"x": 1})).unwrap(),
        ];
        let out = FieldMap::map(&cfg, input).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].stream, "products");
        assert_eq!(out[0].key.as_deref(), Some("7"));
        assert_eq!(
            Value::Object(out[0].data.clone()),
            json!({"code": "7", "price": 9.5, "qty": 0, "active": true, "day": "2024-03-01", "source": "shop"})
        );
        assert_eq!(out[1].stream, "other");
    }

    #[test]
    fn cast_errors_follow_the_policy() {
        let rule = |policy: &str| {
            config(
                json!({"rules": [{"stream": "*", "on_cast_error": policy, "fields": [{"to": "n", "from": "/n", "cast": "number"}]}]}),
            )
        };
        let bad = || vec![Record::from_value("s", json!({"n": "abc"})).unwrap()];
        assert!(
            matches!(FieldMap::map(&rule("fail"), bad()), Err(Error::Fatal(m)) if m.contains("field `n`"))
        );
        assert_eq!(FieldMap::map(&rule("drop"), bad()).unwrap().len(), 0);
        assert_eq!(
            FieldMap::map(&rule("null"), bad()).unwrap()[0].data["n"],
            Value::Null
        );
    }

    /// `map_raw` (what the host calls) gives what `map` gives, as JSON.
    #[test]
    fn the_raw_path_maps_as_the_parsed_one() {
        let cfg = config(json!({
            "rules": [{
                "stream": "items", "key": "/sku", "keep_unmapped": true, "on_cast_error": "null",
                "fields": [
                    {"to": "code", "from": "/sku", "cast": "string"},
                    {"to": "name", "from": "/name"},
                    {"to": "price", "from": "/price/amount", "cast": "number"},
                    {"to": "city", "from": "/addr/city", "default": "?"},
                    {"to": "sku", "const": 1}
                ],
                "drop_if": [{"field": "/archived", "equals": true}, {"field": "/kind", "in": ["x", "y"]}]
            }, {"stream": "drop", "fields": [{"to": "n", "from": "/n", "cast": "integer"}], "on_cast_error": "drop"}]
        }));
        let inputs = [
            json!({"sku": 7, "name": "a\"b é", "price": {"amount": "9.50"}, "extra": [1, {"z": null}], "addr": {"city": null}}),
            json!({"sku": "s-1", "archived": true}),
            json!({"sku": 2.5, "kind": "y"}),
            json!({"sku": 3, "kind": "z", "name": null, "price": {"amount": "n/a"}}),
        ];
        let records = |stream: &str| -> Vec<Record> {
            inputs
                .iter()
                .map(|v| Record::from_value(stream, v.clone()).unwrap().with_key("k"))
                .collect()
        };
        for stream in ["items", "drop", "other"] {
            let parsed = FieldMap::map(&cfg, records(stream)).unwrap();
            let raw: Vec<Record> = FieldMap::map_raw(
                &cfg,
                records(stream)
                    .into_iter()
                    .map(RawRecord::from_record)
                    .collect(),
            )
            .unwrap()
            .iter()
            .map(|r| r.to_record().unwrap())
            .collect();
            assert_eq!(parsed, raw, "stream {stream}");
        }
        let bad = vec![RawRecord::from_text("s", r#"{"n": "abc"}"#).unwrap()];
        let fail = config(
            json!({"rules": [{"stream": "*", "fields": [{"to": "n", "from": "/n", "cast": "number"}]}]}),
        );
        assert!(
            matches!(FieldMap::map_raw(&fail, bad), Err(Error::Fatal(m)) if m.contains("field `n`"))
        );
    }

    #[test]
    fn dates_from_timestamps() {
        assert_eq!(to_date(&json!(0)).unwrap(), "1970-01-01");
        assert_eq!(to_date(&json!(1_709_251_200)).unwrap(), "2024-03-01");
        assert_eq!(to_date(&json!("2024-13-01")), None);
        assert_eq!(to_date(&json!("01/02/2024")), None);
    }
}
