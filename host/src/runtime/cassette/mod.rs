//! Cassettes: the calls of one session and every input its connector got
//! from the host, kept as JSON so the same calls can run again offline.
//!
//! A connector reaches nothing but through the host, so its inputs are the
//! call's arguments, the HTTP responses it was handed, the clocks it read
//! and the randomness it drew. A cassette keeps, per call: the operation
//! and its arguments, each HTTP exchange in order (the request as the
//! connector wrote it, placeholders and all, and the response or error it
//! got), each clock reading, the seed of its randomness, and the result.
//! [`Tape`] records one while a session runs, or plays one back: requests
//! are answered from the cassette and compared with it, and the first
//! request or result that differs is reported as a [`Mismatch`] that names
//! the difference.
//!
//! Every string of a cassette passes through the session's redactor before
//! the cassette leaves the tape, so a cassette holds no secret value (the
//! connector's requests carry placeholders, which the host fills in only
//! after the request left the connector, and responses reach the connector
//! already redacted for the hosts a secret went to; the tape redacts every
//! secret of the session everywhere).
//!
//! `wharf dev --record` keeps every call. A run on a server keeps only the
//! calls that failed (the last few), so recording costs a run nothing but a
//! copy of each response while a call is in flight; when the run fails they
//! are stored with it (`GET /api/v1/runs/{id}/cassette`).

mod clock;
mod diff;
mod tape;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::bindings::wharf::connector::http::{HttpError, Request, Response};
use super::blobs::BlobStore;
use crate::model::redact::Redactor;

pub use diff::first_difference;
pub use diff::request_difference;
pub use tape::{CallInputs, Mismatch, Tape};

/// The version of the cassette format this build writes and reads.
pub const FORMAT: u32 = 1;

/// The largest response body a cassette keeps (a kept body can be far
/// larger than a cassette may be); a larger one is replaced by a note of
/// its size, which a replay hands the connector instead.
pub const MAX_TAPED_BODY: usize = 16 << 20;

/// One session's calls and inputs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Cassette {
    /// [`FORMAT`].
    pub wharf_cassette: u32,
    /// The connector it was recorded with.
    pub connector: TapedConnector,
    /// When it was recorded, in milliseconds since the Unix epoch.
    pub recorded_at_ms: i64,
    /// The session's config (not secret: secrets are kept apart from it).
    pub config: Value,
    /// The calls, in order (a run's cassette keeps only its failed calls).
    pub calls: Vec<TapedCall>,
}

/// Which connector a cassette was recorded with.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct TapedConnector {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The sha256 digest of its component.
    pub digest: String,
}

/// One call and what the connector got during it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct TapedCall {
    /// `check`, `discover`, `fetch`, `map`, `push` or `receive`.
    pub op: String,
    /// The call's arguments (the config is the cassette's); not compared
    /// when absent.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub args: Value,
    /// The seed of the call's randomness (32 bytes, hex; zeros when absent).
    #[serde(default)]
    pub seed: String,
    /// Each reading of the wall clock, in nanoseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wall_clock: Vec<u64>,
    /// Each reading of the monotonic clock, in nanoseconds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub monotonic_clock: Vec<u64>,
    /// The HTTP exchanges, in order.
    #[serde(default)]
    pub exchanges: Vec<Exchange>,
    /// `{"ok": …}` with what the call returned, or `{"error": {"kind",
    /// "message"}}`; not compared when absent (a cassette written by hand).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub result: Value,
}

/// One request and what came back.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Exchange {
    /// The request as the connector wrote it.
    pub request: TapedRequest,
    /// The response or the error the connector got.
    pub outcome: TapedOutcome,
}

/// A request as the connector wrote it (before the host filled in secrets).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct TapedRequest {
    /// The method.
    pub method: String,
    /// The URL.
    pub url: String,
    /// Header names and values, in the connector's order.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Body>,
    /// A blob sent as the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_blob: Option<String>,
    /// The signing key the host was asked to sign with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign: Option<String>,
    /// Whether the response body was to be kept as a blob.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_body: bool,
}

/// Bytes, as text when they are UTF-8.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Body {
    /// UTF-8 text.
    Text(String),
    /// Anything else, in standard base64.
    Base64(String),
}

/// A scripted answer (a test's, instead of a server's): requests with this
/// method and URL get `outcome`; a URL ending in `*` matches every URL that
/// starts with what precedes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Scripted {
    /// The method (any case).
    pub method: String,
    /// The URL, or a prefix followed by `*`.
    pub url: String,
    /// What such a request gets.
    pub outcome: TapedOutcome,
}

impl Scripted {
    /// Whether `request` is one this answers.
    pub fn answers(&self, request: &TapedRequest) -> bool {
        self.method.eq_ignore_ascii_case(&request.method)
            && match self.url.strip_suffix('*') {
                Some(prefix) => request.url.starts_with(prefix),
                None => self.url == request.url,
            }
    }
}

/// What a request got.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TapedOutcome {
    /// A response.
    Response {
        /// Status code.
        status: u16,
        /// Header names and values.
        headers: Vec<(String, String)>,
        /// The body (kept as a blob when the request asked so).
        body: Body,
        /// Whether the body was kept as a blob.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        kept: bool,
    },
    /// An error: `denied`, `timeout`, `connect`, `too_large` or `invalid`.
    Error {
        /// The error's kind.
        kind: String,
        /// Its message, for the kinds that have one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
}

impl Cassette {
    /// Read a cassette, refusing other formats with a message that says
    /// which.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| format!("not a cassette (not JSON: {e})"))?;
        match value.get("wharf_cassette").and_then(Value::as_u64) {
            Some(v) if v == u64::from(FORMAT) => {}
            Some(v) => {
                return Err(format!(
                    "cassette format {v}; this wharf reads format {FORMAT}"
                ));
            }
            None => return Err("not a cassette (no `wharf_cassette` version)".into()),
        }
        serde_json::from_value(value).map_err(|e| format!("not a cassette: {e}"))
    }

    /// The cassette with every string passed through `redactor`.
    pub fn redacted(self, redactor: &Redactor) -> Self {
        Self {
            config: redact_value(self.config, redactor),
            calls: self
                .calls
                .into_iter()
                .map(|c| TapedCall {
                    args: redact_value(c.args, redactor),
                    exchanges: c
                        .exchanges
                        .into_iter()
                        .map(|e| Exchange {
                            request: e.request.redacted(redactor),
                            outcome: e.outcome.redacted(redactor),
                        })
                        .collect(),
                    result: redact_value(c.result, redactor),
                    ..c
                })
                .collect(),
            ..self
        }
    }

    /// The cassette as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a cassette serializes")
    }
}

impl Body {
    fn new(bytes: &[u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(text) => Body::Text(text.to_string()),
            Err(_) => Body::Base64(base64::engine::general_purpose::STANDARD.encode(bytes)),
        }
    }

    fn redacted(self, redactor: &Redactor) -> Self {
        match self {
            Body::Text(t) => Body::Text(redactor.redact_str(&t).into_owned()),
            Body::Base64(b) => match base64::engine::general_purpose::STANDARD.decode(&b) {
                Ok(bytes) => Body::Base64(
                    base64::engine::general_purpose::STANDARD.encode(redactor.redact_bytes(&bytes)),
                ),
                Err(_) => Body::Base64(b),
            },
        }
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        match self {
            Body::Text(t) => Ok(t.as_bytes().to_vec()),
            Body::Base64(b) => base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|e| format!("a body in the cassette is not base64: {e}")),
        }
    }
}

impl TapedRequest {
    /// `req` as the connector wrote it.
    pub fn new(req: &Request) -> Self {
        Self {
            method: req.method.clone(),
            url: req.url.clone(),
            headers: req.headers.clone(),
            body: req.body.as_deref().map(Body::new),
            body_blob: req.body_blob.clone(),
            sign: req.sign.clone(),
            keep_body: req.keep_body,
        }
    }

    fn redacted(self, redactor: &Redactor) -> Self {
        let r = |s: String| redactor.redact_str(&s).into_owned();
        Self {
            url: r(self.url),
            headers: redact_pairs(self.headers, redactor),
            body: self.body.map(|b| b.redacted(redactor)),
            ..self
        }
    }
}

fn redact_pairs(pairs: Vec<(String, String)>, redactor: &Redactor) -> Vec<(String, String)> {
    let r = |s: String| redactor.redact_str(&s).into_owned();
    pairs.into_iter().map(|(k, v)| (r(k), r(v))).collect()
}

impl TapedOutcome {
    /// What a request got; a kept body is read from `blobs`.
    pub fn new(result: &Result<Response, HttpError>, blobs: &BlobStore) -> Self {
        let r = |s: &str| s.to_string();
        match result {
            Ok(resp) => {
                let kept = resp.blob.as_ref().and_then(|id| blobs.bytes(id).ok());
                let body: &[u8] = match &kept {
                    Some(bytes) => bytes,
                    None => &resp.body,
                };
                let body = if body.len() > MAX_TAPED_BODY {
                    Body::Text(format!(
                        "(a body of {} bytes: too large for a cassette)",
                        body.len()
                    ))
                } else {
                    Body::new(body)
                };
                Self::Response {
                    status: resp.status,
                    headers: resp.headers.clone(),
                    body,
                    kept: resp.blob.is_some(),
                }
            }
            Err(e) => {
                let (kind, message) = match e {
                    HttpError::Denied(m) => ("denied", Some(r(m))),
                    HttpError::Timeout => ("timeout", None),
                    HttpError::Connect(m) => ("connect", Some(r(m))),
                    HttpError::TooLarge => ("too_large", None),
                    HttpError::Invalid(m) => ("invalid", Some(r(m))),
                };
                Self::Error {
                    kind: kind.into(),
                    message,
                }
            }
        }
    }

    fn redacted(self, redactor: &Redactor) -> Self {
        match self {
            Self::Response {
                status,
                headers,
                body,
                kept,
            } => Self::Response {
                status,
                headers: redact_pairs(headers, redactor),
                body: body.redacted(redactor),
                kept,
            },
            Self::Error { kind, message } => Self::Error {
                kind,
                message: message.map(|m| redactor.redact_str(&m).into_owned()),
            },
        }
    }

    /// The outcome handed to the connector again; a kept body becomes a
    /// blob of this session.
    pub fn replay(&self, blobs: &BlobStore) -> Result<Response, HttpError> {
        match self {
            Self::Response {
                status,
                headers,
                body,
                kept,
            } => {
                let bytes = body.bytes().map_err(HttpError::Invalid)?;
                let (body, blob) = if *kept {
                    let id = blobs
                        .keep(bytes)
                        .map_err(|e| HttpError::Invalid(format!("replay: {e:?}")))?;
                    (Vec::new(), Some(id))
                } else {
                    (bytes, None)
                };
                Ok(Response {
                    status: *status,
                    headers: headers.clone(),
                    body,
                    blob,
                })
            }
            Self::Error { kind, message } => {
                let m = message.clone().unwrap_or_default();
                Err(match kind.as_str() {
                    "denied" => HttpError::Denied(m),
                    "timeout" => HttpError::Timeout,
                    "connect" => HttpError::Connect(m),
                    "too_large" => HttpError::TooLarge,
                    _ => HttpError::Invalid(m),
                })
            }
        }
    }
}

/// `value` with every string (and object key) redacted.
pub fn redact_value(value: Value, redactor: &Redactor) -> Value {
    if redactor.is_empty() {
        return value;
    }
    match value {
        Value::String(s) => Value::String(redactor.redact_str(&s).into_owned()),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| redact_value(v, redactor))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    (
                        redactor.redact_str(&k).into_owned(),
                        redact_value(v, redactor),
                    )
                })
                .collect(),
        ),
        other => other,
    }
}
