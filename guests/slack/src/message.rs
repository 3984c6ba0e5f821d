//! A record as a Slack message: the config's templates filled with the
//! record's fields, or the record's own `text`, `blocks`, `channel` and
//! `thread_ts` (what a mapper wrote).

use wharf_sdk::prelude::*;
use wharf_sdk::template;

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
        Some(template) => Some(template::text(template, record, escape)),
        None => field("text"),
    };
    let blocks = match &config.blocks {
        Some(template) => Some(template::value(template, record, escape)),
        None => record.get("blocks").filter(|b| b.is_array()).cloned(),
    };
    let thread_ts = match &config.thread_ts {
        Some(template) => {
            Some(template::text(template, record, template::plain)).filter(|t| !t.is_empty())
        }
        None => field("thread_ts"),
    };
    Message {
        channel: field("channel").or_else(|| config.channel.clone()),
        text,
        blocks,
        thread_ts,
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
