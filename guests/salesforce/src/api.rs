//! Requests to an org's REST API: where the org is (the token response's
//! `instance_url`, or the config's `base_url`), the headers every call
//! carries, the org's daily API usage from `Sforce-Limit-Info`, and
//! Salesforce's errors (`[{"message", "errorCode", "fields"}]`) as the error
//! that tells the host what to do.

use std::sync::Mutex;

use serde_json::Value;
use wharf_sdk::prelude::*;

use crate::Config;

/// The REST API version used unless the config names another (Winter '25).
pub const DEFAULT_VERSION: &str = "62.0";

/// How long a spent daily quota is waited for: Salesforce counts the last
/// 24 hours, so an hour frees some of it.
const DAILY_LIMIT_WAIT_SECS: u32 = 3600;
/// How long a refusal for too many long-running requests at once is waited.
const CONCURRENCY_WAIT_SECS: u32 = 30;

/// The org's API usage as the last answer reported it (used, allowed).
static USAGE: Mutex<Option<(u64, u64)>> = Mutex::new(None);

/// An org's REST API.
#[derive(Debug)]
pub struct Api {
    origin: String,
    version: String,
    usage_limit_percent: Option<u32>,
}

/// An error answer in Salesforce's words.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Problem {
    /// `errorCode` (`INVALID_FIELD`), or OAuth's `error`.
    pub code: String,
    /// `message`, on one line.
    pub message: String,
    /// `fields` at fault, if named.
    pub fields: Vec<String>,
}

impl Api {
    /// The org of this connection.
    pub fn new(config: &Config) -> Result<Self> {
        let configured = config
            .base_url
            .as_deref()
            .map(str::trim)
            .filter(|b| !b.is_empty());
        let origin = match configured {
            Some(b) => b.to_string(),
            None => wharf_sdk::oauth_fact("instance_url").ok_or_else(|| {
                Error::Config(
                    "the org's instance URL is not known yet: connect the connection (OAuth2), \
                     or set base_url to https://MyDomain.my.salesforce.com"
                        .into(),
                )
            })?,
        };
        let version = config
            .api_version
            .trim()
            .trim_start_matches('v')
            .to_string();
        let valid = version
            .split_once('.')
            .is_some_and(|(a, b)| is_digits(a) && is_digits(b));
        if !valid {
            return Err(Error::Config(format!(
                "api_version `{}` is not a version like {DEFAULT_VERSION}",
                config.api_version
            )));
        }
        Ok(Self {
            origin: origin.trim_end_matches('/').to_string(),
            version,
            usage_limit_percent: config.api_usage_limit_percent,
        })
    }

    /// The org's origin (`https://MyDomain.my.salesforce.com`).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The API version (`62.0`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// `{origin}/services/data/v{version}/{path}`.
    pub fn data(&self, path: &str) -> String {
        format!("{}/services/data/v{}/{path}", self.origin, self.version)
    }

    /// A path Salesforce handed out (`nextRecordsUrl`) as a URL on this org;
    /// anything but a data path is refused, so an answer cannot send the
    /// token elsewhere.
    pub fn at(&self, path: &str) -> Result<String> {
        if !path.starts_with("/services/data/") || path.contains("..") {
            return Err(Error::Fatal(format!(
                "Salesforce returned an unexpected next page `{path}`"
            )));
        }
        Ok(format!("{}{path}", self.origin))
    }

    /// A JSON request with the connection's session.
    pub fn request(&self, method: &str, url: impl Into<String>) -> Request {
        Request::new(method, url)
            .header("Accept", "application/json")
            .oauth_bearer()
    }

    /// Send; any error answer as the error it means.
    pub fn send(&self, request: Request) -> Result<Response> {
        let response = self.send_raw(request)?;
        if response.status < 300 {
            Ok(response)
        } else {
            Err(error(&response))
        }
    }

    /// Send, keeping error answers (a destination turns them into
    /// rejections); only the usage is checked.
    pub fn send_raw(&self, request: Request) -> Result<Response> {
        let response = request.send()?;
        self.note_usage(&response)?;
        Ok(response)
    }

    /// Remember `Sforce-Limit-Info`; warn past 80 %, stop past the
    /// configured share.
    fn note_usage(&self, response: &Response) -> Result<()> {
        let Some((used, max)) = response.header("sforce-limit-info").and_then(parse_usage) else {
            return Ok(());
        };
        let before = USAGE
            .lock()
            .map(|mut u| u.replace((used, max)))
            .unwrap_or(None);
        let percent = |(u, m): (u64, u64)| u.saturating_mul(100) / m.max(1);
        if percent((used, max)) >= 80 && before.is_none_or(|b| percent(b) < 80) {
            wharf_sdk::log::warn(format!(
                "the org has used {used} of its {max} daily API requests"
            ));
        }
        if let Some(limit) = self.usage_limit_percent
            && percent((used, max)) >= u64::from(limit)
        {
            wharf_sdk::log::warn(format!(
                "stopping: the org has used {used} of {max} daily API requests, \
                 at or over this connection's api_usage_limit_percent ({limit} %)"
            ));
            return Err(Error::RateLimited(DAILY_LIMIT_WAIT_SECS));
        }
        Ok(())
    }
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `api-usage=N/M` of a `Sforce-Limit-Info` header (which may list
/// `per-app-api-usage` too).
pub fn parse_usage(header: &str) -> Option<(u64, u64)> {
    let item = header
        .split(',')
        .map(str::trim)
        .find_map(|i| i.strip_prefix("api-usage="))?;
    let (used, max) = item.split_once('/')?;
    Some((used.trim().parse().ok()?, max.trim().parse().ok()?))
}

/// The last usage seen, for a log line (` (API usage 12/15000)`).
pub fn usage_text() -> String {
    match USAGE.lock().ok().and_then(|u| *u) {
        Some((used, max)) => format!("; API usage {used}/{max} today"),
        None => String::new(),
    }
}

/// The first error of an answer: Salesforce's array, one such object, or
/// OAuth's `{"error", "error_description"}`.
pub fn problem(response: &Response) -> Problem {
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    let first = match &body {
        Value::Array(items) => items.first().cloned().unwrap_or(Value::Null),
        other => other.clone(),
    };
    let text = |v: &Value| v.as_str().map(one_line);
    let code = text(&first["errorCode"])
        .or_else(|| text(&first["error"]))
        .unwrap_or_default();
    let message = text(&first["message"])
        .or_else(|| text(&first["error_description"]))
        .unwrap_or_else(|| {
            let raw = one_line(&response.text());
            raw.chars().take(300).collect()
        });
    let fields = first["fields"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Problem {
        code,
        message,
        fields,
    }
}

/// Salesforce's query errors point at the statement over several lines.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What an error answer means for the host.
pub fn error(response: &Response) -> Error {
    let p = problem(response);
    let text = if p.code.is_empty() {
        format!("HTTP {}: {}", response.status, p.message)
    } else {
        format!("HTTP {} {}: {}", response.status, p.code, p.message)
    };
    match (response.status, p.code.as_str()) {
        // INVALID_SESSION_ID: the session expired or was revoked; the host
        // renews it and calls again.
        (401, _) => Error::AuthExpired(text),
        (403, "REQUEST_LIMIT_EXCEEDED") if p.message.contains("Concurrent") => {
            Error::RateLimited(CONCURRENCY_WAIT_SECS)
        }
        (403, "REQUEST_LIMIT_EXCEEDED") => Error::RateLimited(DAILY_LIMIT_WAIT_SECS),
        // API_DISABLED_FOR_ORG, INSUFFICIENT_ACCESS: an administrator acts.
        (403, _) => Error::Auth(text),
        (429, _) => Error::RateLimited(response.retry_after().unwrap_or(60).max(1)),
        (503, _) if response.retry_after().is_some() => {
            Error::RateLimited(response.retry_after().unwrap_or(60).max(1))
        }
        (_, "QUERY_TIMEOUT" | "UNABLE_TO_LOCK_ROW" | "SERVER_UNAVAILABLE") => {
            Error::Transient(text)
        }
        // A wrong object, field or version is the config's.
        (
            400,
            "INVALID_FIELD"
            | "INVALID_TYPE"
            | "MALFORMED_QUERY"
            | "INVALID_QUERY_FILTER_OPERATOR"
            | "NOT_FOUND",
        )
        | (404, _) => Error::Config(text),
        (408 | 500..=599, _) => Error::Transient(text),
        _ => Error::Fatal(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Response {
        Response::new(status, Vec::new(), body.as_bytes().to_vec())
    }

    #[test]
    fn usage_header() {
        assert_eq!(
            parse_usage("api-usage=10018/100000"),
            Some((10018, 100_000))
        );
        assert_eq!(
            parse_usage("api-usage=25/15000,per-app-api-usage=17/250(appName=sample-app)"),
            Some((25, 15000))
        );
        assert_eq!(parse_usage("per-app-api-usage=17/250"), None);
    }

    #[test]
    fn salesforce_errors() {
        let expired = answer(
            401,
            r#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#,
        );
        assert_eq!(
            error(&expired),
            Error::AuthExpired("HTTP 401 INVALID_SESSION_ID: Session expired or invalid".into())
        );
        let spent = answer(
            403,
            r#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#,
        );
        assert_eq!(error(&spent), Error::RateLimited(3600));
        let busy = answer(
            403,
            r#"[{"message":"ConcurrentPerOrgLongTxn Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#,
        );
        assert_eq!(error(&busy), Error::RateLimited(30));
        let field = answer(
            400,
            "[{\"message\":\"\\nSELECT Foo FROM Account\\n       ^\\nERROR at Row:1:Column:8\\nNo such column 'Foo' on entity 'Account'.\",\"errorCode\":\"INVALID_FIELD\"}]",
        );
        let Error::Config(m) = error(&field) else {
            panic!("a config error")
        };
        assert!(
            m.contains("INVALID_FIELD: SELECT Foo FROM Account ^ ERROR"),
            "{m}"
        );
        let p = problem(&answer(
            400,
            r#"[{"message":"Required fields are missing: [Name]","errorCode":"REQUIRED_FIELD_MISSING","fields":["Name"]}]"#,
        ));
        assert_eq!(p.fields, ["Name"]);
        assert!(matches!(error(&answer(503, "down")), Error::Transient(_)));
        let oauth = problem(&answer(
            400,
            r#"{"error":"invalid_grant","error_description":"expired access/refresh token"}"#,
        ));
        assert_eq!(oauth.code, "invalid_grant");
    }
}
