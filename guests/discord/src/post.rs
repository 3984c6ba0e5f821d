//! Posting through the webhook: one message per record, each confirmed
//! (`wait=true`); Discord's rate-limit headers read after every post and an
//! empty bucket waited out before the next; Discord's refusals sorted into
//! "this message" (rejected) and "this webhook" (the batch stops).

use wharf_sdk::prelude::*;
use wharf_sdk::{Secret, template};

use crate::Config;

const TOKEN: Secret = Secret::new("webhook_token");

/// The most a push waits in all (for empty buckets and `429`s) once
/// messages of the batch went out, within the call's 30 s.
const MAX_WAIT_MID_BATCH_MS: u64 = 12_000;

/// The webhook's URL. The token (letters, digits, `-`, `_`) goes in as
/// a path segment: the `url` encoder a path gets by default would write
/// its `-` and `_` as `%2D`, `%5F`.
fn webhook_url(config: &Config) -> String {
    format!(
        "{}/api/v10/webhooks/{}/{{{{secret:{}|path}}}}",
        config.base(),
        config.webhook_id,
        TOKEN.name()
    )
}

/// `GET` the webhook with its token: proves both, names the channel.
pub fn check(config: &Config) -> Result<()> {
    let response = Request::get(webhook_url(config)).send()?;
    match response.status {
        200 => {
            let hook: Value = response.json()?;
            wharf_sdk::log::info(format!(
                "posting as {} to channel {}",
                hook["name"].as_str().unwrap_or("?"),
                hook["channel_id"].as_str().unwrap_or("?")
            ));
            Ok(())
        }
        s => Err(refusal(s, &response).into_error()),
    }
}

/// Post one message per record.
pub fn push(config: &Config, records: Vec<Record>) -> Result<PushResult> {
    let mut result = PushResult::default();
    let mut sent = 0usize;
    let mut waited_ms = 0u64;
    for (index, record) in records.iter().enumerate() {
        if record.op == Op::Delete {
            result.reject(
                index,
                None,
                "Discord messages are not deleted by this connector",
            );
            continue;
        }
        let body = message(config, record);
        if body.get("content").is_none() && body.get("embeds").is_none() {
            result.reject(
                index,
                Some("content"),
                "no content: set the connection's `content` template or give the record a `content` field",
            );
            continue;
        }
        let answer = loop {
            let mut url = format!("{}?wait=true", webhook_url(config));
            if let Some(thread) = &config.thread_id {
                url.push_str(&format!("&thread_id={}", wharf_sdk::http::encode(thread)));
            }
            let request = Request::post(url)
                .json_data(&body)?
                .rate_limit_retries(if sent == 0 { 2 } else { 0 });
            match request.send() {
                Err(Error::RateLimited(secs))
                    if sent > 0 && waited_ms + u64::from(secs) * 1000 <= MAX_WAIT_MID_BATCH_MS =>
                {
                    sleep_ms(u64::from(secs) * 1000, &mut waited_ms);
                }
                Err(e) if sent == 0 => return Err(e),
                Err(e) => {
                    result.reject_rest(index, records.len(), &e.to_string());
                    return Ok(result);
                }
                Ok(response) => break response,
            }
        };
        match answer.status {
            200..=299 => {
                sent += 1;
                result.created += 1;
                // An empty bucket: wait for it before the next post rather
                // than be refused (Discord counts refusals against an IP).
                if answer.header("x-ratelimit-remaining") == Some("0")
                    && let Some(ms) = answer
                        .header("x-ratelimit-reset-after")
                        .and_then(|v| v.trim().parse::<f64>().ok())
                        .map(|s| (s * 1000.0).ceil() as u64)
                    && index + 1 < records.len()
                {
                    if waited_ms + ms > MAX_WAIT_MID_BATCH_MS {
                        result.reject_rest(
                            index + 1,
                            records.len(),
                            "the webhook's rate limit would outlast this call",
                        );
                        return Ok(result);
                    }
                    sleep_ms(ms, &mut waited_ms);
                }
            }
            status => match refusal(status, &answer) {
                Refusal::Message(field, why) => result.reject(index, field.as_deref(), why),
                other if sent == 0 => return Err(other.into_error()),
                other => {
                    result.reject_rest(index, records.len(), &other.into_error().to_string());
                    return Ok(result);
                }
            },
        }
    }
    Ok(result)
}

fn sleep_ms(ms: u64, waited: &mut u64) {
    std::thread::sleep(std::time::Duration::from_millis(ms));
    *waited += ms;
}

/// The webhook body of `record`.
fn message(config: &Config, record: &Record) -> Map<String, Value> {
    let field = |name: &str| {
        record
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let mut body = Map::new();
    let content = match &config.content {
        Some(t) => Some(template::text(t, record, template::plain)).filter(|c| !c.is_empty()),
        None => field("content").or_else(|| field("text")),
    };
    if let Some(c) = content {
        body.insert("content".into(), Value::String(c));
    }
    let embeds = match &config.embeds {
        Some(t) => Some(template::value(t, record, template::plain)),
        None => record.get("embeds").filter(|e| e.is_array()).cloned(),
    };
    if let Some(e) = embeds.filter(|e| e.as_array().is_some_and(|a| !a.is_empty())) {
        body.insert("embeds".into(), e);
    }
    if let Some(u) = &config.username {
        body.insert("username".into(), Value::String(u.clone()));
    }
    if let Some(a) = &config.avatar_url {
        body.insert("avatar_url".into(), Value::String(a.clone()));
    }
    // Nobody is pinged by what a record says (`@everyone`, a role).
    body.insert("allowed_mentions".into(), json!({"parse": []}));
    body
}

/// What Discord refused.
enum Refusal {
    /// This message (the field at fault, if Discord named one).
    Message(Option<String>, String),
    Auth(String),
    Transient(String),
    Fatal(String),
}

impl Refusal {
    fn into_error(self) -> Error {
        match self {
            Self::Message(_, m) | Self::Fatal(m) => Error::Fatal(m),
            Self::Auth(m) => Error::Auth(m),
            Self::Transient(m) => Error::Transient(m),
        }
    }
}

/// Sort an error answer by Discord's JSON error code and status.
fn refusal(status: u16, response: &Response) -> Refusal {
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    let code = body["code"].as_i64().unwrap_or(0);
    let message = body["message"].as_str().unwrap_or("").to_string();
    let said = format!("Discord: {message} ({code})");
    match (status, code) {
        (400, _) => {
            let (field, detail) = first_error(&body["errors"], String::new())
                .map_or((None, None), |(f, d)| (Some(f), Some(d)));
            let why = match detail {
                Some(d) => format!("{said}: {} {d}", field.clone().unwrap_or_default()),
                None => said,
            };
            Refusal::Message(field, why)
        }
        (401 | 403 | 404, _) => Refusal::Auth(format!("{said}: check the webhook id and token")),
        (s, _) if s >= 500 => Refusal::Transient(format!("Discord answered HTTP {s}")),
        (s, _) => Refusal::Fatal(format!("Discord answered HTTP {s}: {message}")),
    }
}

/// The first `_errors` entry of Discord's nested `errors` object, with its
/// path (`embeds.0.fields.6.value`).
fn first_error(errors: &Value, path: String) -> Option<(String, String)> {
    let fields = errors.as_object()?;
    if let Some(list) = fields.get("_errors").and_then(Value::as_array) {
        let first = list.first()?;
        return Some((
            path,
            first["message"].as_str().unwrap_or("invalid").to_string(),
        ));
    }
    fields.iter().find_map(|(k, v)| {
        let at = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        first_error(v, at)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discords_nested_errors_name_the_field() {
        let errors = json!({"embeds": {"0": {"fields": {"6": {"value": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 1024 or fewer in length."}]}}}}}});
        assert_eq!(
            first_error(&errors, String::new()),
            Some((
                "embeds.0.fields.6.value".into(),
                "Must be 1024 or fewer in length.".into()
            ))
        );
        assert_eq!(first_error(&json!(null), String::new()), None);
    }

    #[test]
    fn records_become_messages_without_pings() {
        let config: Config = serde_json::from_value(
            json!({"webhook_id": "123456", "content": "**{name}** failed: {error}",
            "embeds": [{"title": "{name}", "fields": "{fields}"}]}),
        )
        .unwrap();
        let record = Record::from_value(
            "runs",
            json!({"name": "xero", "error": "@everyone boom",
            "fields": [{"name": "Rows", "value": "3"}]}),
        )
        .unwrap();
        let body = message(&config, &record);
        assert_eq!(body["content"], "**xero** failed: @everyone boom");
        assert_eq!(
            body["embeds"],
            json!([{"title": "xero", "fields": [{"name": "Rows", "value": "3"}]}])
        );
        assert_eq!(body["allowed_mentions"], json!({"parse": []}));
    }
}
