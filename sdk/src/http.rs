//! HTTP through the host: a request builder, responses with JSON and
//! status helpers, Link-header pagination, and waiting on `429`.
//!
//! Requests leave the sandbox only through the host, which checks them
//! against the connection's grants. A refused request is an
//! [`Error::Config`]: an administrator has to grant the host or fix the
//! config.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::wharf::connector::http as wit;
use crate::error::{Error, Result};
use crate::secret::Secret;

/// How long [`Request::send`] waits by itself on a `429` before handing the
/// wait to the host as [`Error::RateLimited`] (the host can wait without
/// holding a sandbox).
pub const MAX_INLINE_WAIT_SECS: u32 = 5;

/// An HTTP request, built step by step.
///
/// ```
/// use wharf_sdk::{Secret, http::Request};
///
/// let req = Request::get("https://api.example.com/orders")
///     .query("status", "open")
///     .query("page", 2)
///     .bearer(&Secret::new("token"))
///     .header("Accept", "application/json");
/// assert_eq!(req.url(), "https://api.example.com/orders?status=open&page=2");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    body_blob: Option<String>,
    sign: Option<String>,
    keep_body: bool,
    rate_limit_retries: u32,
}

impl Request {
    /// A request with any method.
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            method: method.into(),
            url: url.into(),
            headers: Vec::new(),
            body: None,
            body_blob: None,
            sign: None,
            keep_body: false,
            rate_limit_retries: 2,
        }
    }
    /// `GET url`.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new("GET", url)
    }
    /// `POST url`.
    pub fn post(url: impl Into<String>) -> Self {
        Self::new("POST", url)
    }
    /// `PUT url`.
    pub fn put(url: impl Into<String>) -> Self {
        Self::new("PUT", url)
    }
    /// `PATCH url`.
    pub fn patch(url: impl Into<String>) -> Self {
        Self::new("PATCH", url)
    }
    /// `DELETE url`.
    pub fn delete(url: impl Into<String>) -> Self {
        Self::new("DELETE", url)
    }

    /// The URL, query included.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The method.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The body, if one is set.
    pub fn body_bytes(&self) -> Option<&[u8]> {
        self.body.as_deref()
    }

    /// The headers added so far.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The same request for another URL (the next page a server named).
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }

    /// Append a query parameter (name and value are percent-encoded).
    pub fn query(mut self, name: &str, value: impl ToString) -> Self {
        self.push_query(&encode(name), &encode(&value.to_string()));
        self
    }

    /// Append a query parameter whose value is a secret (e.g. `api_key`).
    pub fn query_secret(mut self, name: &str, secret: &Secret) -> Self {
        self.push_query(&encode(name), &secret.placeholder());
        self
    }

    fn push_query(&mut self, name: &str, value: &str) {
        let sep = if self.url.contains('?') { '&' } else { '?' };
        self.url.push(sep);
        self.url.push_str(name);
        self.url.push('=');
        self.url.push_str(value);
    }

    /// Add a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Add a header whose value is a secret, e.g. `X-Api-Key`.
    pub fn header_secret(self, name: impl Into<String>, secret: &Secret) -> Self {
        self.header(name, secret.placeholder())
    }

    /// `Authorization: Bearer <secret>`.
    pub fn bearer(self, secret: &Secret) -> Self {
        self.header("Authorization", secret.bearer())
    }

    /// `Authorization: Bearer <the connection's OAuth2 access token>`: the
    /// host obtains and refreshes the token; your code never sees it.
    pub fn oauth_bearer(self) -> Self {
        self.header("Authorization", "Bearer {{oauth:access_token}}")
    }

    /// A JSON body (and `Content-Type: application/json`).
    pub fn json<T: Serialize + ?Sized>(self, body: &T) -> Result<Self> {
        let bytes = serde_json::to_vec(body).map_err(Error::fatal)?;
        Ok(self.header("Content-Type", "application/json").body(bytes))
    }

    /// A JSON body of data that came from records (and
    /// `Content-Type: application/json; charset=utf-8`): every `{` that
    /// starts a `{{` is written `\u007b`, which the receiver reads as the
    /// same text but the host does not take for a placeholder. So a record
    /// whose text says `{{secret:bot_token}}` is sent as that text, never
    /// with the secret in it. Use [`json`](Self::json) only for bodies you
    /// write yourself, with placeholders meant to be filled.
    ///
    /// ```
    /// use wharf_sdk::{http::Request, json};
    ///
    /// let r = Request::post("https://slack.com/api/chat.postMessage")
    ///     .json_data(&json!({"text": "{{secret:bot_token}} {{{"}))
    ///     .unwrap();
    /// let body = String::from_utf8(r.body_bytes().unwrap().to_vec()).unwrap();
    /// assert!(!body.contains("{{"));
    /// let back: wharf_sdk::Value = serde_json::from_str(&body).unwrap();
    /// assert_eq!(back["text"], "{{secret:bot_token}} {{{");
    /// ```
    pub fn json_data<T: Serialize + ?Sized>(self, body: &T) -> Result<Self> {
        let text = serde_json::to_string(body).map_err(Error::fatal)?;
        Ok(self.json_data_text(&text))
    }

    /// [`json_data`](Self::json_data) for a body that is JSON text already
    /// (records as text, put together without parsing them: see
    /// [`crate::raw`]); the same placeholder escaping applies.
    pub fn json_data_text(self, text: &str) -> Self {
        self.header("Content-Type", "application/json; charset=utf-8")
            .body(escape_placeholders(text))
    }

    /// `Authorization: Basic` from two secrets (user and password), which
    /// the host encodes; neither reaches your code.
    pub fn basic_auth(self, user: &Secret, password: &Secret) -> Self {
        self.header(
            "Authorization",
            format!("Basic {{{{basic:{}:{}}}}}", user.name(), password.name()),
        )
    }

    /// `Authorization: Bearer <the login session's token>`: the host logs
    /// in (the spec's `login`) and keeps the session.
    pub fn session_bearer(self) -> Self {
        self.header("Authorization", "Bearer {{session:token}}")
    }

    /// A form body (`application/x-www-form-urlencoded`). Values may hold
    /// placeholders (`Secret::placeholder`): the host form-encodes what it
    /// substitutes.
    pub fn form(self, fields: &[(&str, &str)]) -> Self {
        let body = fields
            .iter()
            .map(|(k, v)| {
                let v = if v.contains("{{") {
                    v.to_string()
                } else {
                    form_encode(v)
                };
                format!("{}={v}", form_encode(k))
            })
            .collect::<Vec<_>>()
            .join("&");
        self.header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.into_bytes())
    }

    /// A `multipart/form-data` body of text fields and files.
    pub fn multipart(self, parts: &[Part]) -> Self {
        let boundary = "wharf-boundary-7MA4YWxkTrZu0gW";
        let mut body = Vec::new();
        for p in parts {
            body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            match &p.filename {
                Some(f) => body.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: {}\r\n\r\n",
                        p.name.replace('"', "%22"),
                        f.replace('"', "%22"),
                        p.content_type.as_deref().unwrap_or("application/octet-stream")
                    )
                    .as_bytes(),
                ),
                None => body.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{}\"\r\n\r\n",
                        p.name.replace('"', "%22")
                    )
                    .as_bytes(),
                ),
            }
            body.extend_from_slice(&p.data);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        self.header(
            "Content-Type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
    }

    /// Have the host sign the request with the spec's signing key `name`
    /// (AWS SigV4, HMAC, JWT), after substitution, for the key's hosts only.
    pub fn sign(mut self, key: &str) -> Self {
        self.sign = Some(key.into());
        self
    }

    /// Keep the response body in the host as a blob (large downloads):
    /// read it with [`crate::blob::Blob`].
    pub fn keep_body(mut self) -> Self {
        self.keep_body = true;
        self
    }

    /// Send a blob as the body (large uploads).
    pub fn body_blob(mut self, blob: &crate::blob::Blob) -> Self {
        self.body_blob = Some(blob.0.clone());
        self
    }

    /// A raw body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// How often to wait out a short `429` before giving up (default 2).
    pub fn rate_limit_retries(mut self, n: u32) -> Self {
        self.rate_limit_retries = n;
        self
    }

    /// Send it once and return whatever comes back, a `429` included: for
    /// an API that says how long to wait in headers of its own (Azure's
    /// `x-ms-ratelimit-*-retry-after`), which [`send`](Self::send) does not
    /// read.
    pub fn send_once(self) -> Result<Response> {
        Ok(Response::from(wit::send(&self.into_wit())?))
    }

    /// The request as the host takes it, without copying its body (a
    /// batch can be megabytes).
    fn into_wit(self) -> wit::Request {
        wit::Request {
            method: self.method,
            url: self.url,
            headers: self.headers,
            body: self.body,
            body_blob: self.body_blob,
            sign: self.sign,
            keep_body: self.keep_body,
        }
    }

    /// Send it. A `429` whose `Retry-After` is at most
    /// [`MAX_INLINE_WAIT_SECS`] is waited out and retried; a longer one is
    /// returned as [`Error::RateLimited`] so the host can wait instead.
    pub fn send(self) -> Result<Response> {
        let mut tries = 0;
        let retries = self.rate_limit_retries;
        let request = self.into_wit();
        loop {
            let response = Response::from(wit::send(&request)?);
            if response.status != 429 {
                return Ok(response);
            }
            let wait = response.retry_after().unwrap_or(MAX_INLINE_WAIT_SECS + 1);
            if wait > MAX_INLINE_WAIT_SECS || tries >= retries {
                return Err(Error::RateLimited(wait.max(1)));
            }
            tries += 1;
            std::thread::sleep(std::time::Duration::from_secs(u64::from(wait)));
        }
    }
}

/// JSON text with every `{` that is followed by another written as
/// `\u007b`. Outside strings JSON never has `{{`, so only string contents
/// change, and they decode to the same text.
///
/// Batches of records are megabytes: the text is copied in runs between
/// braces (found with `memchr`), not character by character.
fn escape_placeholders(json: &str) -> String {
    let bytes = json.as_bytes();
    let mut out = String::with_capacity(json.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(at) = memchr::memchr(b'{', &bytes[from..]) {
        let at = from + at;
        from = at + 1;
        if bytes.get(at + 1) == Some(&b'{') {
            out.push_str(&json[copied..at]);
            out.push_str("\\u007b");
            // The second brace is kept: it may begin the next pair.
            copied = at + 1;
        }
    }
    out.push_str(&json[copied..]);
    out
}

/// One part of a `multipart/form-data` body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// Field name.
    pub name: String,
    /// File name, for a file part.
    pub filename: Option<String>,
    /// Media type of a file part.
    pub content_type: Option<String>,
    /// The bytes.
    pub data: Vec<u8>,
}

impl Part {
    /// A text field.
    pub fn text(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            filename: None,
            content_type: None,
            data: value.into().into_bytes(),
        }
    }

    /// A file.
    pub fn file(
        name: impl Into<String>,
        filename: impl Into<String>,
        content_type: impl Into<String>,
        data: Vec<u8>,
    ) -> Self {
        Self {
            name: name.into(),
            filename: Some(filename.into()),
            content_type: Some(content_type.into()),
            data,
        }
    }
}

/// Form-encode a value (`application/x-www-form-urlencoded`).
pub fn form_encode(text: &str) -> String {
    encode(text).replace("%20", "+")
}

/// Percent-encode everything but unreserved characters (RFC 3986).
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An HTTP response.
///
/// ```
/// use wharf_sdk::http::Response;
///
/// let r = Response {
///     status: 200,
///     headers: vec![("link".into(), r#"<https://api.example.com/x?page=2>; rel="next""#.into())],
///     body: br#"{"items": [1, 2]}"#.to_vec(),
///     blob: None,
/// };
/// assert_eq!(r.next_link().as_deref(), Some("https://api.example.com/x?page=2"));
/// let v: wharf_sdk::Value = r.json().unwrap();
/// assert_eq!(v["items"][1], 2);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names in lowercase.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
    /// The body kept in the host, when [`Request::keep_body`] was asked.
    pub blob: Option<String>,
}

impl Response {
    /// A response held in memory; for a connector's unit tests, which can
    /// then call their own parsing on it without a host.
    pub fn new(status: u16, headers: Vec<(String, String)>, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers,
            body: body.into(),
            blob: None,
        }
    }
}

impl From<wit::Response> for Response {
    fn from(r: wit::Response) -> Self {
        Self {
            status: r.status,
            headers: r.headers,
            body: r.body,
            blob: r.blob,
        }
    }
}

impl Response {
    /// A header by name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::Fatal(format!(
                "response (status {}) is not the expected JSON: {e}",
                self.status
            ))
        })
    }

    /// `Retry-After` in seconds: the delay form, whole or decimal
    /// (Shopify sends `2.0`) rounded up; an HTTP date counts as 60.
    pub fn retry_after(&self) -> Option<u32> {
        let v = self.header("retry-after")?.trim();
        Some(match v.parse::<f64>() {
            Ok(secs) if secs.is_finite() && secs >= 0.0 => {
                secs.ceil().min(f64::from(u32::MAX)) as u32
            }
            _ => 60,
        })
    }

    /// Turn error statuses into the error that tells the host what to do:
    /// 401/403 → [`Error::Auth`], 429 → [`Error::RateLimited`],
    /// 408/5xx → [`Error::Transient`], other 4xx → [`Error::Fatal`].
    ///
    /// ```
    /// use wharf_sdk::{Error, http::Response};
    /// let r = |status| Response { status, headers: vec![], body: b"nope".to_vec(), blob: None };
    /// assert!(r(200).error_for_status().is_ok());
    /// assert!(matches!(r(401).error_for_status(), Err(Error::Auth(_))));
    /// assert!(matches!(r(503).error_for_status(), Err(Error::Transient(_))));
    /// assert!(matches!(r(404).error_for_status(), Err(Error::Fatal(_))));
    /// ```
    pub fn error_for_status(self) -> Result<Self> {
        let snippet = || {
            let text = self.text();
            let text: String = text.chars().take(200).collect();
            format!("HTTP {}: {}", self.status, text.trim())
        };
        match self.status {
            200..=399 => Ok(self),
            401 | 403 => Err(Error::Auth(snippet())),
            429 => Err(Error::RateLimited(self.retry_after().unwrap_or(60).max(1))),
            408 | 500..=599 => Err(Error::Transient(snippet())),
            _ => Err(Error::Fatal(snippet())),
        }
    }

    /// The `rel="next"` target of the `Link` header, if any.
    pub fn next_link(&self) -> Option<String> {
        self.header("link").and_then(|v| link_with_rel(v, "next"))
    }

    /// The next page of an OData answer (Microsoft Graph, Dynamics,
    /// SAP Business One): `@odata.nextLink` (or `odata.nextLink`).
    pub fn odata_next_link(&self) -> Option<String> {
        let v: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        ["@odata.nextLink", "odata.nextLink"]
            .iter()
            .find_map(|k| v.get(k).and_then(|l| l.as_str()).map(str::to_string))
    }
}

/// The target of the first link with relation `rel` in a `Link` header
/// (RFC 8288).
///
/// ```
/// let header = r#"<https://x.test/a?page=1>; rel="prev", <https://x.test/a?page=3>; rel="next last""#;
/// assert_eq!(wharf_sdk::http::link_with_rel(header, "next").as_deref(), Some("https://x.test/a?page=3"));
/// assert_eq!(wharf_sdk::http::link_with_rel(header, "first"), None);
/// ```
pub fn link_with_rel(header: &str, rel: &str) -> Option<String> {
    let mut rest = header;
    while let Some(start) = rest.find('<') {
        let end = start + rest[start..].find('>')?;
        let target = &rest[start + 1..end];
        let params_end = rest[end..].find('<').map_or(rest.len(), |i| end + i);
        let params = &rest[end + 1..params_end];
        let matches = params.split(';').any(|p| {
            let Some((k, v)) = p.split_once('=') else {
                return false;
            };
            k.trim().eq_ignore_ascii_case("rel")
                && v.trim()
                    .trim_end_matches(',')
                    .trim_end()
                    .trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|r| r.eq_ignore_ascii_case(rel))
        });
        if matches {
            return Some(target.to_string());
        }
        rest = &rest[params_end..];
    }
    None
}

#[cfg(test)]
mod tests;
