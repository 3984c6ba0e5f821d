//! `http-json`: a generic REST/JSON source, configured, not coded.
//!
//! Each stream is a path under `base_url`, a JSON pointer to the array of
//! records in the response, a key field, an optional incremental cursor
//! field (and the query parameter that takes its last value), and a
//! pagination style: `none`, `page_number`, `cursor` (a JSON pointer to the
//! next cursor and the query parameter that takes it) or `link_header`.
//! Headers may carry `{{secret:api_token}}` or `{{secret:api_key}}`.
//!
//! The fetch cursor holds everything needed to resume: the next page, the
//! incremental lower bound of this run, and the highest cursor value seen.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use wharf_sdk::http::{Request, Response};
use wharf_sdk::prelude::*;

/// The connection config.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    base_url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// Path requested by `check` (default: the first stream's path).
    #[serde(default)]
    check_path: Option<String>,
    streams: BTreeMap<String, StreamConfig>,
}

/// How one stream is read.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    path: String,
    /// JSON pointer to the records array; empty when the body is the array.
    #[serde(default)]
    records: String,
    /// Field holding the record's key.
    #[serde(default)]
    key: Option<String>,
    /// Field that orders records for incremental syncs.
    #[serde(default)]
    cursor_field: Option<String>,
    /// Query parameter that takes the last cursor value.
    #[serde(default)]
    cursor_param: Option<String>,
    /// Extra query parameters.
    #[serde(default)]
    query: BTreeMap<String, String>,
    #[serde(default)]
    pagination: Pagination,
}

/// Pagination styles.
#[derive(Deserialize, Default)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Pagination {
    /// One request returns everything.
    #[default]
    None,
    /// `?page=N`, stopping at an empty or short page.
    PageNumber {
        #[serde(default = "default_page_param")]
        param: String,
        #[serde(default = "default_start")]
        start: u64,
        #[serde(default)]
        size_param: Option<String>,
        #[serde(default)]
        size: Option<u64>,
    },
    /// A token in the body, passed back as a query parameter.
    Cursor { next: String, param: String },
    /// The `rel="next"` target of the `Link` header.
    LinkHeader,
}

fn default_page_param() -> String {
    "page".into()
}

fn default_start() -> u64 {
    1
}

/// Where a stream stands between calls; serialised into the fetch cursor.
#[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
struct State {
    /// The next page of this run, if one follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next: Option<Next>,
    /// Lower bound of this run (incremental).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<String>,
    /// Highest cursor value seen so far in this run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
#[serde(rename_all = "snake_case")]
enum Next {
    Page(u64),
    Token(String),
    Url(String),
}

pub struct HttpJson;

impl Connector for HttpJson {
    type Config = Config;

    fn spec() -> Spec {
        Spec::new("http-json", env!("CARGO_PKG_VERSION"))
            .description(
                "Generic REST/JSON source: streams, record location, keys, incremental \
                 cursors and pagination are configured, not coded.",
            )
            .role(Role::Source)
            .config_schema(config_schema())
            .host("{config.base_url}")
            .secret(
                SecretSpec::new("api_token")
                    .description("Bearer token or password; use {{secret:api_token}} in a header")
                    .host("{config.base_url}")
                    .optional(),
            )
            .secret(
                SecretSpec::new("api_key")
                    .description("API key; use {{secret:api_key}} in a header")
                    .host("{config.base_url}")
                    .optional(),
            )
    }

    fn check(config: &Config) -> Result<()> {
        let path = match &config.check_path {
            Some(p) => p.clone(),
            None => config
                .streams
                .values()
                .next()
                .map(|s| s.path.clone())
                .ok_or_else(|| Error::config("no streams configured"))?,
        };
        request(config, &join(&config.base_url, &path))
            .send()?
            .error_for_status()?;
        Ok(())
    }

    /// The streams of this connection's config, with their keys and
    /// cursor fields (their schemas are not known before a fetch).
    fn discover(config: &Config) -> Result<Vec<StreamSpec>> {
        Ok(config
            .streams
            .iter()
            .map(|(name, sc)| {
                let mut s = StreamSpec::new(name.clone());
                if let Some(k) = &sc.key {
                    s = s.key_field(k.clone());
                }
                if let Some(c) = &sc.cursor_field {
                    s = s.cursor_field(c.clone());
                }
                s
            })
            .collect())
    }

    fn fetch(config: &Config, stream: &str, cursor: Option<&str>) -> Result<Page> {
        let sc = config.streams.get(stream).ok_or_else(|| {
            let known: Vec<&str> = config.streams.keys().map(String::as_str).collect();
            Error::Config(format!(
                "unknown stream `{stream}` (configured: {})",
                known.join(", ")
            ))
        })?;
        let mut state: State = match cursor {
            Some(c) => serde_json::from_str(c)
                .map_err(|e| Error::Fatal(format!("unreadable cursor `{c}`: {e}")))?,
            None => State::default(),
        };
        let url = page_url(config, sc, &state)?;
        let response = request(config, &url).send()?.error_for_status()?;
        let mut body: Value = response.json()?;
        let count = locate(&mut body, &sc.records)?.len() as u64;
        let next = next_page(sc, &state, &response, &body, count);
        let items = std::mem::take(locate(&mut body, &sc.records)?);
        let mut records = Vec::with_capacity(items.len());
        for item in items {
            if let Some(field) = &sc.cursor_field
                && let Some(text) = item.get(field).and_then(scalar)
                && state
                    .max
                    .as_ref()
                    .is_none_or(|m| compare(&text, m) == Ordering::Greater)
            {
                state.max = Some(text);
            }
            let mut record = Record::from_value(stream, item)?;
            if let Some(key) = &sc.key {
                record = record.key_from(key);
                if record.key.is_none() {
                    return Err(Error::Fatal(format!(
                        "a record of stream `{stream}` has no key field `{key}`"
                    )));
                }
            }
            records.push(record);
        }
        state.next = next;
        let more = state.next.is_some();
        if !more {
            // The run is complete: the next run starts after the highest
            // value seen (or where this one started, if nothing was new).
            state.since = state.max.take().or(state.since.take());
        }
        let cursor = if more || state.since.is_some() {
            Some(serde_json::to_string(&state).map_err(Error::fatal)?)
        } else {
            None
        };
        Ok(Page::new(records, cursor, more))
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Numbers compare as numbers; anything else (ISO 8601 times) as text.
fn compare(a: &str, b: &str) -> Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => a.cmp(b),
    }
}

fn request(config: &Config, url: &str) -> Request {
    config.headers.iter().fold(
        Request::get(url).header("Accept", "application/json"),
        |r, (k, v)| r.header(k, v),
    )
}

fn join(base: &str, path: &str) -> String {
    if path.starts_with("http://") || path.starts_with("https://") {
        return path.to_string();
    }
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

fn page_url(config: &Config, sc: &StreamConfig, state: &State) -> Result<String> {
    if let Some(Next::Url(url)) = &state.next {
        return Ok(url.clone());
    }
    let mut req = Request::get(join(&config.base_url, &sc.path));
    for (k, v) in &sc.query {
        req = req.query(k, v);
    }
    if let (Some(param), Some(since)) = (&sc.cursor_param, &state.since) {
        req = req.query(param, since);
    }
    match (&sc.pagination, &state.next) {
        (
            Pagination::PageNumber {
                param,
                start,
                size_param,
                size,
            },
            next,
        ) => {
            let page = match next {
                Some(Next::Page(p)) => *p,
                _ => *start,
            };
            req = req.query(param, page);
            if let (Some(sp), Some(size)) = (size_param, size) {
                req = req.query(sp, size);
            }
        }
        (Pagination::Cursor { param, .. }, Some(Next::Token(token))) => {
            req = req.query(param, token);
        }
        _ => {}
    }
    Ok(req.url().to_string())
}

fn locate<'a>(body: &'a mut Value, pointer: &str) -> Result<&'a mut Vec<Value>> {
    let target = if pointer.is_empty() {
        Some(body)
    } else {
        body.pointer_mut(pointer)
    };
    target.and_then(Value::as_array_mut).ok_or_else(|| {
        Error::Config(format!(
            "the response has no array at JSON pointer `{pointer}`; set `records` to where the records are"
        ))
    })
}

fn next_page(
    sc: &StreamConfig,
    state: &State,
    response: &Response,
    body: &Value,
    count: u64,
) -> Option<Next> {
    match &sc.pagination {
        Pagination::None => None,
        Pagination::PageNumber { start, size, .. } => {
            let full = size.is_none_or(|s| count >= s);
            let current = match state.next {
                Some(Next::Page(p)) => p,
                _ => *start,
            };
            (count > 0 && full).then_some(Next::Page(current + 1))
        }
        Pagination::Cursor { next, .. } => match body.pointer(next) {
            Some(Value::String(s)) if !s.is_empty() => Some(Next::Token(s.clone())),
            Some(Value::Number(n)) => Some(Next::Token(n.to_string())),
            _ => None,
        },
        Pagination::LinkHeader => response.next_link().map(Next::Url),
    }
}

fn config_schema() -> Value {
    json!({
        "type": "object",
        "required": ["base_url", "streams"],
        "additionalProperties": false,
        "properties": {
            "base_url": { "type": "string", "format": "uri", "description": "API root, e.g. https://api.example.com/v1" },
            "headers": { "type": "object", "additionalProperties": { "type": "string" }, "description": "Sent with every request; may contain {{secret:api_token}} or {{secret:api_key}}" },
            "check_path": { "type": "string" },
            "streams": {
                "type": "object",
                "minProperties": 1,
                "additionalProperties": {
                    "type": "object",
                    "required": ["path"],
                    "additionalProperties": false,
                    "properties": {
                        "path": { "type": "string" },
                        "records": { "type": "string", "description": "JSON pointer to the records array; empty if the body is the array" },
                        "key": { "type": "string" },
                        "cursor_field": { "type": "string" },
                        "cursor_param": { "type": "string" },
                        "query": { "type": "object", "additionalProperties": { "type": "string" } },
                        "pagination": {
                            "type": "object",
                            "required": ["type"],
                            "properties": {
                                "type": { "enum": ["none", "page_number", "cursor", "link_header"] },
                                "param": { "type": "string" },
                                "start": { "type": "integer" },
                                "size_param": { "type": "string" },
                                "size": { "type": "integer", "minimum": 1 },
                                "next": { "type": "string" }
                            }
                        }
                    }
                }
            }
        }
    })
}

wharf_sdk::export_connector!(HttpJson);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_compares() {
        let s = State {
            next: Some(Next::Page(3)),
            since: Some("a".into()),
            max: None,
        };
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(text, r#"{"next":{"page":3},"since":"a"}"#);
        assert_eq!(serde_json::from_str::<State>(&text).unwrap(), s);
        assert_eq!(compare("10", "9"), Ordering::Greater);
        assert_eq!(compare("2024-01-02", "2024-01-10"), Ordering::Less);
    }

    #[test]
    fn join_paths() {
        assert_eq!(join("http://x/api/", "/items"), "http://x/api/items");
        assert_eq!(join("http://x", "https://y/z"), "https://y/z");
    }
}
