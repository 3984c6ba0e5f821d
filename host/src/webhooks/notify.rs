//! Events posted through a destination connection (a `slack`, `teams` or
//! `discord` connection) instead of to a URL: the event becomes one record
//! of the stream `notifications` (its key the message id, so a retry is
//! the same record) with a `text` filled from the subscription's template,
//! and the connection's `push` sends it. "Alert on failed syncs" needs no
//! glue: subscribe a Slack connection to `run.failed`.

use serde_json::{Value, json};

use crate::app::App;
use crate::model::record::{Op, Record};
use crate::model::spec::Role;
use crate::runtime::{CallError, ConnectorError};
use crate::store::StoreError;
use crate::store::outbox::MessageRow;

/// The stream of notification records.
pub const STREAM: &str = "notifications";

/// Why a notification was not posted.
#[derive(Debug)]
pub enum NotifyError {
    /// Try again later (after this many seconds, if the connector said).
    Retry(String, Option<u64>),
    /// The connection refused this message; sending it again will not help.
    Refused(String),
}

/// Why `connection` cannot post events, if it cannot (for the API).
pub async fn destination_problem(
    app: &App,
    connection: &str,
) -> Result<Option<String>, StoreError> {
    let Some(c) = app.store.connection(connection).await? else {
        return Ok(Some(format!("no connection {connection}")));
    };
    let Some(k) = app.store.connector(&c.connector, &c.version).await? else {
        return Ok(Some(format!("the connector of `{}` is gone", c.name)));
    };
    Ok((!k.spec.has_role(Role::Destination)).then(|| {
        format!(
            "connection `{}` ({}@{}) is not a destination, so it cannot post messages",
            c.name, k.name, k.version
        )
    }))
}

/// The default text of each event, for subscriptions without a template.
fn default_template(event: &str) -> &'static str {
    match event {
        "run.failed" => {
            "Sync {data.sync_name} failed ({data.error_kind}): {data.error} (run {data.run})"
        }
        "run.succeeded" => {
            "Sync {data.sync_name} succeeded: {data.counters.created} created, {data.counters.updated} updated, {data.counters.rejected} rejected (run {data.run})"
        }
        "connection.error" => "Connection {data.name} is in error: {data.reason}",
        "connection.needs_reauth" => "Connection {data.name} must be authorized again",
        "connector.uploaded" => "Connector {data.name}@{data.version} was uploaded",
        _ => "{type}: {data}",
    }
}

/// `template` with each `{a.b}` replaced by the text at that path of the
/// event (empty when absent); `{{` and `}}` are literal braces.
pub fn fill(template: &str, event: &Value) -> String {
    let mut out = String::with_capacity(template.len() + 64);
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
                let pointer = format!("/{}", tail[1..end].trim().replace('.', "/"));
                match event.pointer(&pointer) {
                    Some(Value::String(s)) => out.push_str(s),
                    Some(Value::Null) | None => {}
                    Some(other) => out.push_str(&other.to_string()),
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

/// The record a message becomes: the event's envelope with `text`.
pub fn record(message: &MessageRow, template: Option<&str>) -> Record {
    let text = fill(
        template.unwrap_or_else(|| default_template(&message.event)),
        &message.payload,
    );
    let mut data = match &message.payload {
        Value::Object(m) => m.clone(),
        other => json!({"data": other})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    };
    data.insert("text".into(), Value::String(text));
    let mut data = Value::Object(data);
    defuse_placeholders(&mut data);
    Record::new(
        STREAM,
        Some(message.id.clone()),
        Op::Upsert,
        data.to_string(),
    )
    .expect("an object is a record")
}

/// Break every `{{` in the event's strings with a zero-width space: names
/// and error texts come from API users and vendors, and a destination that
/// sends record data with plain `Request::json` would have the host fill a
/// `{{secret:…}}` in them into a message other people read.
fn defuse_placeholders(value: &mut Value) {
    match value {
        Value::String(s) if s.contains("{{") => {
            while s.contains("{{") {
                *s = s.replace("{{", "{\u{200b}{");
            }
        }
        Value::Array(items) => items.iter_mut().for_each(defuse_placeholders),
        Value::Object(fields) => fields.values_mut().for_each(defuse_placeholders),
        _ => {}
    }
}

/// Post `message` through `connection`.
pub async fn deliver(
    app: &App,
    connection: &str,
    template: Option<&str>,
    message: &MessageRow,
) -> Result<(), NotifyError> {
    let retry = |e: String| NotifyError::Retry(e, None);
    let row = app
        .store
        .connection(connection)
        .await
        .map_err(|e| retry(e.to_string()))?
        .ok_or_else(|| retry(format!("connection {connection} was deleted")))?;
    let (_, session) = crate::connections::open(app, &row)
        .await
        .map_err(|e| retry(format!("connection `{}`: {e}", row.name)))?;
    let record = record(message, template);
    let result = match session.push(std::slice::from_ref(&record)).await {
        Ok(r) => r,
        Err(CallError::Connector(ConnectorError::RateLimited(secs))) => {
            return Err(NotifyError::Retry(
                format!("connection `{}` is rate limited", row.name),
                Some(u64::from(secs)),
            ));
        }
        Err(e) => return Err(retry(format!("connection `{}`: {e}", row.name))),
    };
    match result.rejected.first() {
        Some(r) => Err(NotifyError::Refused(format!(
            "connection `{}` refused the message: {}",
            row.name, r.message
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_from_the_event() {
        let event = json!({"type": "run.failed", "data": {"sync_name": "xero", "error": "boom", "counters": {"created": 3}, "run": "r1", "error_kind": null}});
        assert_eq!(
            fill(default_template("run.failed"), &event),
            "Sync xero failed (): boom (run r1)"
        );
        assert_eq!(
            fill("{{x}} {data.counters.created} {nope}", &event),
            "{x} 3 "
        );
        assert_eq!(fill("{type", &event), "{type");
    }

    #[test]
    fn no_placeholder_survives_in_a_notification() {
        let message = MessageRow {
            id: "msg_1".into(),
            webhook_id: "w".into(),
            event: "run.failed".into(),
            payload: json!({"type": "run.failed", "data": {"sync_name": "{{secret:bot_token}}", "error": "{{{oauth:access_token}}}"}}),
            status: "pending".into(),
            attempts: 0,
            next_attempt_at: 0,
            last_status: None,
            last_error: None,
            created_at: 0,
            delivered_at: None,
        };
        let r = record(&message, None);
        assert!(!r.data.get().contains("{{"), "{}", r.data.get());
        assert_eq!(r.key.as_deref(), Some("msg_1"));
    }
}
