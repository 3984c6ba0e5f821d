//! Message templates: `{field}` or `{a.b}` in a text filled from a record,
//! for destinations that turn records into messages (Slack, Teams,
//! Discord). `{{` and `}}` stand for literal braces; a path the record
//! does not have is empty.
//!
//! ```
//! use wharf_sdk::{Record, json, template};
//!
//! let r = Record::from_value("runs", json!({"sync": "xero", "counts": {"n": 3}})).unwrap();
//! assert_eq!(template::text("{sync}: {counts.n} {{x}} {nope}", &r, template::plain), "xero: 3 {x} ");
//! let card = template::value(&json!({"title": "{sync}", "facts": "{counts}"}), &r, template::plain);
//! assert_eq!(card, json!({"title": "xero", "facts": {"n": 3}}));
//! ```

use serde_json::Value;

use crate::Record;

/// Values as they are.
pub fn plain(text: &str) -> String {
    text.to_string()
}

/// The value at a dotted path (`customer.name`), or a top-level field whose
/// name has dots.
pub fn lookup<'a>(record: &'a Record, path: &str) -> Option<&'a Value> {
    record.get(path).or_else(|| {
        let pointer = format!(
            "/{}",
            path.replace('~', "~0").replace('/', "~1").replace('.', "/")
        );
        record.pointer(&pointer)
    })
}

/// `template` with each `{path}` replaced by the record's value there,
/// passed through `escape` (a string as its text, other values as JSON).
pub fn text(template: &str, record: &Record, escape: fn(&str) -> String) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("{{").or_else(|| tail.strip_prefix("}}")) {
            out.push_str(&tail[..1]);
            rest = after;
            continue;
        }
        match (tail.starts_with('{'), tail.find('}')) {
            (true, Some(end)) => {
                if let Some(value) = lookup(record, tail[1..end].trim()) {
                    out.push_str(&escape(&text_of(value)));
                }
                rest = &tail[end + 1..];
            }
            _ => {
                out.push_str(&tail[..1]);
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A JSON template (Block Kit blocks, an Adaptive Card, embeds) with every
/// string filled by [`text`]; a string that is exactly one `{path}` takes
/// the value there as it is (a list of fields, a number).
pub fn value(template: &Value, record: &Record, escape: fn(&str) -> String) -> Value {
    match template {
        Value::String(s) => {
            let whole = s
                .strip_prefix('{')
                .and_then(|r| r.strip_suffix('}'))
                .filter(|p| !p.contains(['{', '}']));
            if let Some(value) = whole.and_then(|p| lookup(record, p.trim()))
                && !value.is_string()
            {
                return value.clone();
            }
            Value::String(text(s, record, escape))
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| value(v, record, escape)).collect())
        }
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), value(v, record, escape)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}
