//! A record as a Slack message: the config's templates filled with the
//! record's fields, or the record's own `text`, `blocks`, `channel` and
//! `thread_ts` (what a mapper wrote).

use wharf_sdk::prelude::*;

use crate::Config;

/// What one record posts.
#[derive(Debug, PartialEq)]
pub struct Message {
    pub channel: Option<String>,
    pub text: Option<String>,
    pub blocks: Option<Value>,
    pub thread_ts: Option<String>,
}

/// The message of `record`.
pub fn of(config: &Config, record: &Record) -> Message {
    let field = |name: &str| {
        record
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let text = match &config.text {
        Some(template) => Some(fill_text(template, record)),
        None => field("text"),
    };
    let blocks = match &config.blocks {
        Some(template) => Some(fill_value(template, record)),
        None => record.get("blocks").filter(|b| b.is_array()).cloned(),
    };
    let thread_ts = match &config.thread_ts {
        Some(template) => Some(fill_text(template, record)).filter(|t| !t.is_empty()),
        None => field("thread_ts"),
    };
    Message {
        channel: field("channel").or_else(|| config.channel.clone()),
        text,
        blocks,
        thread_ts,
    }
}

/// The value at a dotted path (`customer.name`), or a top-level field
/// whose name has dots.
fn lookup<'a>(record: &'a Record, path: &str) -> Option<&'a Value> {
    record.get(path).or_else(|| {
        let pointer = format!(
            "/{}",
            path.replace('~', "~0").replace('/', "~1").replace('.', "/")
        );
        record.pointer(&pointer)
    })
}

/// `template` with each `{path}` replaced by the record's value there,
/// escaped for mrkdwn (`&`, `<`, `>`, as Slack asks); unknown paths are
/// empty. `{{` and `}}` stand for literal braces.
fn fill_text(template: &str, record: &Record) -> String {
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
                let path = tail[1..end].trim();
                if let Some(value) = lookup(record, path) {
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

/// A template value with every string filled; a string that is exactly
/// one `{path}` takes the value there as it is (a list of fields for a
/// section, a number).
fn fill_value(template: &Value, record: &Record) -> Value {
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
            Value::String(fill_text(s, record))
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| fill_value(v, record)).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), fill_value(v, record)))
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

/// mrkdwn's three control characters, as Slack's formatting guide asks.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(v: Value) -> Config {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn templates_fill_from_the_record() {
        let record = Record::from_value(
            "runs",
            json!({"sync": "xero → store", "error": "<b>boom</b> & more", "counts": {"records": 42},
                   "fields": [{"type": "mrkdwn", "text": "*a*"}]}),
        )
        .unwrap();
        let c = config(json!({
            "channel": "#carbon",
            "text": "Sync {sync} failed: {error} ({counts.records} records) {{literal}} {missing}",
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*{sync}*"}, "fields": "{fields}"}]
        }));
        let m = of(&c, &record);
        assert_eq!(m.channel.as_deref(), Some("#carbon"));
        assert_eq!(
            m.text.as_deref(),
            Some(
                "Sync xero → store failed: &lt;b&gt;boom&lt;/b&gt; &amp; more (42 records) {literal} "
            )
        );
        assert_eq!(
            m.blocks.unwrap(),
            json!([{"type": "section", "text": {"type": "mrkdwn", "text": "*xero → store*"}, "fields": [{"type": "mrkdwn", "text": "*a*"}]}])
        );
    }

    #[test]
    fn without_templates_the_record_is_the_message() {
        let record = Record::from_value(
            "out",
            json!({"channel": "C0CARBON1", "text": "hi", "blocks": [{"type": "divider"}], "thread_ts": "1.2"}),
        )
        .unwrap();
        let m = of(&config(json!({"channel": "#general"})), &record);
        assert_eq!(
            m,
            Message {
                channel: Some("C0CARBON1".into()),
                text: Some("hi".into()),
                blocks: Some(json!([{"type": "divider"}])),
                thread_ts: Some("1.2".into())
            }
        );
    }
}
