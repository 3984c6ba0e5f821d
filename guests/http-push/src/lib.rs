//! `http-push`: a generic HTTP destination.
//!
//! Each record is sent as JSON to a URL template (`{key}` and `{stream}`
//! are replaced, percent-encoded), with a method per operation (default
//! `PUT` for upserts, `DELETE` for deletes) and headers that may carry
//! secret placeholders. Or, with `batch`, all records of a call go in one
//! request as a JSON array.
//!
//! Statuses say what happened: 201 created, other 2xx updated (or deleted),
//! 404 on a delete counts as deleted (it is gone either way), other 4xx
//! reject that record with the response's message, 401/403 stop with an
//! auth error, 429 and 5xx stop with a retryable error (the host retries the
//! whole batch; destinations upsert by key, so nothing is doubled).

use std::collections::BTreeMap;

use serde::Deserialize;
use wharf_sdk::http::{Request, Response, encode};
use wharf_sdk::prelude::*;
use wharf_sdk::raw::RawRecord;

/// The connection config.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// URL template, e.g. `https://api.example.com/items/{key}`.
    url: String,
    #[serde(default)]
    methods: Methods,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// Send every record of a call in one request instead.
    #[serde(default)]
    batch: Option<Batch>,
    /// What goes in the body: the record's `data` (default), the whole
    /// record (`stream`, `key`, `op`, `data`), or the record's file
    /// (`blob`).
    #[serde(default)]
    body: Body,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Methods {
    #[serde(default = "put")]
    upsert: String,
    #[serde(default = "delete")]
    delete: String,
}

impl Default for Methods {
    fn default() -> Self {
        Self {
            upsert: put(),
            delete: delete(),
        }
    }
}

fn put() -> String {
    "PUT".into()
}

fn delete() -> String {
    "DELETE".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    url: String,
    #[serde(default = "post")]
    method: String,
}

fn post() -> String {
    "POST".into()
}

#[derive(Deserialize, Default, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum Body {
    #[default]
    Data,
    Record,
    /// The record's blob (a file) as it is; its data when it has none.
    Blob,
}

pub struct HttpPush;

impl Connector for HttpPush {
    type Config = Config;

    fn spec() -> Spec {
        Spec::new("http-push", env!("CARGO_PKG_VERSION"))
            .description(
                "Generic HTTP destination: each record (or a batch) as JSON to a URL template, \
                 a method per operation, secret placeholders in headers.",
            )
            .role(Role::Destination)
            .config_schema(config_schema())
            .host("{config.url}")
            .secret(
                SecretSpec::new("api_token")
                    .description("use {{secret:api_token}} in a header")
                    .host("{config.url}")
                    .optional(),
            )
    }

    fn check(config: &Config) -> Result<()> {
        if !config.url.starts_with("http://") && !config.url.starts_with("https://") {
            return Err(Error::config("`url` must start with http:// or https://"));
        }
        Ok(())
    }

    /// In batch mode the records' text is put together into the body as
    /// it came, never parsed; one by one, each record is parsed for its
    /// URL and body.
    fn push_raw(config: &Config, records: Vec<RawRecord>) -> Result<PushResult> {
        let Some(batch) = &config.batch else {
            let records = records
                .iter()
                .map(RawRecord::to_record)
                .collect::<Result<Vec<_>>>()?;
            return Self::push(config, records);
        };
        let mut body =
            String::with_capacity(2 + records.iter().map(|r| r.data().len() + 64).sum::<usize>());
        body.push('[');
        for (i, r) in records.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            match config.body {
                Body::Data | Body::Blob => body.push_str(r.data()),
                // The members in name order, as the parsed path prints them.
                Body::Record => {
                    body.push_str("{\"data\":");
                    body.push_str(r.data());
                    body.push_str(",\"key\":");
                    body.push_str(&json_text(&r.key)?);
                    body.push_str(",\"op\":");
                    body.push_str(&json_text(&r.op)?);
                    body.push_str(",\"stream\":");
                    body.push_str(&json_text(&r.stream)?);
                    body.push('}');
                }
            }
        }
        body.push(']');
        let ops: Vec<Op> = records.iter().map(|r| r.op).collect();
        send_batch(config, batch, &body, &ops)
    }

    fn push(config: &Config, records: Vec<Record>) -> Result<PushResult> {
        match &config.batch {
            Some(batch) => push_batch(config, batch, &records),
            None => {
                let mut result = PushResult::default();
                for (i, record) in records.iter().enumerate() {
                    push_one(config, i, record, &mut result)?;
                }
                Ok(result)
            }
        }
    }
}

fn body_of(config: &Config, record: &Record) -> Value {
    match config.body {
        Body::Data | Body::Blob => Value::Object(record.data.clone()),
        Body::Record => json!({
            "stream": record.stream,
            "key": record.key,
            "op": record.op,
            "data": record.data,
        }),
    }
}

fn with_headers(config: &Config, req: Request) -> Request {
    config.headers.iter().fold(req, |r, (k, v)| r.header(k, v))
}

fn expand(template: &str, record: &Record) -> Result<String> {
    let mut url = template.replace("{stream}", &encode(&record.stream));
    if url.contains("{key}") {
        let key = record.key.as_deref().ok_or_else(|| {
            Error::Fatal(format!(
                "a record of stream `{}` has no key, but the URL template needs {{key}}",
                record.stream
            ))
        })?;
        url = url.replace("{key}", &encode(key));
    }
    Ok(url)
}

fn push_one(config: &Config, index: usize, record: &Record, result: &mut PushResult) -> Result<()> {
    let url = expand(&config.url, record)?;
    let delete = record.op == Op::Delete;
    let method = if delete {
        &config.methods.delete
    } else {
        &config.methods.upsert
    };
    let mut req = with_headers(config, Request::new(method.as_str(), url));
    if !delete {
        req = match (config.body, &record.blob) {
            // The record's file as the body, as it is.
            (Body::Blob, Some(id)) => req.body_blob(&wharf_sdk::blob::Blob(id.clone())),
            _ => req.json_data(&body_of(config, record))?,
        };
    }
    let response = req.send()?;
    match response.status {
        201 if !delete => result.created += 1,
        200..=299 if delete => result.deleted += 1,
        404 if delete => result.deleted += 1,
        200..=299 => result.updated += 1,
        401 | 403 | 408 | 429 | 500..=599 => {
            response.error_for_status()?;
        }
        _ => {
            let (field, message) = explain(&response);
            result.reject(index, field.as_deref(), message);
        }
    }
    Ok(())
}

fn push_batch(config: &Config, batch: &Batch, records: &[Record]) -> Result<PushResult> {
    let body: Vec<Value> = records.iter().map(|r| body_of(config, r)).collect();
    let body = serde_json::to_string(&body).map_err(Error::fatal)?;
    let ops: Vec<Op> = records.iter().map(|r| r.op).collect();
    send_batch(config, batch, &body, &ops)
}

fn json_text<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(Error::fatal)
}

/// Send a batch whose JSON `body` holds records with these `ops`.
fn send_batch(config: &Config, batch: &Batch, body: &str, ops: &[Op]) -> Result<PushResult> {
    let mut result = PushResult::default();
    if ops.is_empty() {
        return Ok(result);
    }
    let req = with_headers(
        config,
        Request::new(batch.method.as_str(), batch.url.as_str()),
    )
    .json_data_text(body);
    let response = req.send()?;
    match response.status {
        200..=299 => {
            for op in ops {
                match op {
                    Op::Delete => result.deleted += 1,
                    Op::Upsert if response.status == 201 => result.created += 1,
                    Op::Upsert => result.updated += 1,
                }
            }
        }
        401 | 403 | 408 | 429 | 500..=599 => {
            response.error_for_status()?;
        }
        _ => {
            let (field, message) = explain(&response);
            for i in 0..ops.len() {
                result.reject(i, field.as_deref(), format!("batch refused: {message}"));
            }
        }
    }
    Ok(result)
}

fn explain(response: &Response) -> (Option<String>, String) {
    let parsed: Option<Value> = response.json().ok();
    let field = parsed
        .as_ref()
        .and_then(|v| v.get("field"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let message = parsed
        .as_ref()
        .and_then(|v| v.get("message").or_else(|| v.get("error")))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| response.text().chars().take(300).collect());
    (
        field,
        format!("HTTP {}: {}", response.status, message.trim()),
    )
}

fn config_schema() -> Value {
    json!({
        "type": "object",
        "required": ["url"],
        "additionalProperties": false,
        "properties": {
            "url": { "type": "string", "description": "URL template; {key} and {stream} are replaced" },
            "methods": {
                "type": "object",
                "additionalProperties": false,
                "properties": { "upsert": { "type": "string" }, "delete": { "type": "string" } }
            },
            "headers": { "type": "object", "additionalProperties": { "type": "string" } },
            "batch": {
                "type": "object",
                "required": ["url"],
                "additionalProperties": false,
                "properties": { "url": { "type": "string" }, "method": { "type": "string" } }
            },
            "body": { "enum": ["data", "record", "blob"] }
        }
    })
}

wharf_sdk::export_connector!(HttpPush);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_templates() {
        let r = Record::from_value("items", json!({}))
            .unwrap()
            .with_key("a/b c");
        assert_eq!(
            expand("http://x/{stream}/{key}", &r).unwrap(),
            "http://x/items/a%2Fb%20c"
        );
        let r = Record::from_value("items", json!({})).unwrap();
        assert!(expand("http://x/{key}", &r).is_err());
        assert_eq!(expand("http://x/all", &r).unwrap(), "http://x/all");
    }

    #[test]
    fn refusals_are_explained() {
        let r = Response::new(
            422,
            vec![],
            br#"{"field":"email","message":"invalid email"}"#.to_vec(),
        );
        assert_eq!(
            explain(&r),
            (Some("email".into()), "HTTP 422: invalid email".into())
        );
        let r = Response::new(400, vec![], b"bad".to_vec());
        assert_eq!(explain(&r), (None, "HTTP 400: bad".into()));
    }
}
