//! `http-json`: a generic REST/JSON source, configured, not coded.
//!
//! Each stream is a path under `base_url`, a JSON pointer to the array of
//! records in the response, a key field, an optional incremental cursor
//! field (and the query parameter that takes its last value), and a
//! pagination style: `none`, `page_number`, `cursor` (a JSON pointer to the
//! next cursor and the query parameter that takes it) or `link_header`.
//! Headers may carry `{{secret:api_token}}` or `{{secret:api_key}}`.
//!
//! Each stream is read by the SDK's REST toolkit (`wharf_sdk::rest`): this
//! file is only the mapping from the config to it. The fetch cursor holds
//! everything needed to resume: the next page, the incremental lower bound
//! of this run, and the highest cursor value seen.

use std::collections::BTreeMap;

use serde::Deserialize;
use wharf_sdk::http::Request;
use wharf_sdk::prelude::*;
use wharf_sdk::rest::{Incremental, Paginator, RestStream};

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
        rest_stream(config, stream, sc).fetch(cursor)
    }
}

/// A configured stream as the SDK's REST toolkit reads it.
fn rest_stream(config: &Config, name: &str, sc: &StreamConfig) -> RestStream {
    let mut first = request(config, &join(&config.base_url, &sc.path));
    for (k, v) in &sc.query {
        first = first.query(k, v);
    }
    let paginator = match &sc.pagination {
        Pagination::None => Paginator::None,
        Pagination::PageNumber {
            param,
            start,
            size_param,
            size,
        } => Paginator::PageNumber {
            param: param.clone(),
            start: *start,
            size_param: size_param.clone(),
            size: *size,
        },
        Pagination::Cursor { next, param } => Paginator::cursor(next, param),
        Pagination::LinkHeader => Paginator::LinkHeader,
    };
    let mut stream = RestStream::new(name, first)
        .paginator(paginator)
        .records(sc.records.clone());
    if let Some(key) = &sc.key {
        stream = stream.key(key);
    }
    if let Some(field) = &sc.cursor_field {
        let param = sc.cursor_param.clone().unwrap_or_default();
        stream = stream.incremental(Incremental::new(field, param));
    }
    stream
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
    fn join_paths() {
        assert_eq!(join("http://x/api/", "/items"), "http://x/api/items");
        assert_eq!(join("http://x", "https://y/z"), "https://y/z");
    }
}
