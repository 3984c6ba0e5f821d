//! Cassettes: the calls of one session and every input its connector got
//! from the host, kept as JSON so the same calls can run again offline.
//!
//! A connector reaches nothing but through the host, so its inputs are the
//! call's arguments, the HTTP responses it was handed, the connection's
//! state it read, the clocks it read and the randomness it drew. A cassette
//! keeps, per call: the operation and its arguments, each HTTP exchange in
//! order (the request as the connector wrote it, placeholders and all, and
//! the response or error it got), each state read, each clock reading, the
//! seed of its randomness, and the result.
//! [`Tape`] records one while a session runs, or plays one back: requests
//! are answered from the cassette and compared with it, and the first
//! request or result that differs is reported as a [`Mismatch`] that names
//! the difference.
//!
//! Every string of a cassette passes through a redactor before the
//! cassette leaves the tape: the session's (its secrets in every form the
//! host derives, and the tokens it fetched), and the credentials the
//! connector obtained itself, learned from the cassette: the values of
//! credential headers (`Authorization`, cookies, API-key headers) and of
//! credential fields in JSON and form bodies (`access_token`, `password`,
//! …). The connector's requests carry placeholders, which the host fills
//! in only after the request left the connector. A redacted token reads
//! the same (`[REDACTED]`) where it came back and where it was sent again,
//! so a replay still matches.
//!
//! `wharf dev --record` keeps every call. A run on a server keeps only the
//! calls that failed (the last few), so recording costs a run nothing but a
//! copy of each response while a call is in flight; when the run fails they
//! are stored with it (`GET /api/v1/runs/{id}/cassette`).

mod clock;
mod credentials;
mod diff;
mod state;
mod tape;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::limits::ConnectorLimits;

use super::bindings::wharf::connector::http::{HttpError, Request, Response};
use super::blobs::BlobStore;
use crate::model::redact::Redactor;

pub use diff::first_difference;
pub use diff::request_difference;
pub use state::TapedState;
pub use tape::{CallInputs, Mismatch, Tape};

/// The version of the cassette format this build writes and reads.
pub const FORMAT: u32 = 1;

/// The largest response body a cassette keeps (a kept body can be far
/// larger than a cassette may be); a larger one is replaced by a note of
/// its size, which a replay hands the connector instead.
pub const MAX_TAPED_BODY: usize = 16 << 20;

/// The bodies one call may keep on a tape in all: past it, bodies are
/// replaced by notes of their size, so a connector that sends request
/// after request cannot grow the host's memory through its tape.
pub const MAX_TAPED_BYTES_PER_CALL: usize = 32 << 20;

/// Requests one call may keep on a tape.
pub const MAX_TAPED_EXCHANGES_PER_CALL: usize = 10_000;

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
    /// The connector's own memory and time limits (set at upload), which a
    /// replay applies unless told otherwise: a call that broke one breaks
    /// it again.
    #[serde(default, skip_serializing_if = "ConnectorLimits::is_default")]
    pub limits: ConnectorLimits,
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
    /// The connection's `state` the connector read, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub state: Vec<StateRead>,
    /// `{"ok": …}` with what the call returned, or `{"error": {"kind",
    /// "message"}}`; not compared when absent (a cassette written by hand).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub result: Value,
}

/// One read of the connection's `state`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct StateRead {
    /// The key.
    pub key: String,
    /// What it held (none: missing or expired).
    pub value: Option<String>,
}

/// One request and what came back.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Exchange {
    /// The request as the connector wrote it.
    pub request: TapedRequest,
    /// The response or the error the connector got.
    pub outcome: TapedOutcome,
    /// Another request of the call was still out when this one was made
    /// (`fetch()` calls in flight together): a replay may meet the two in
    /// either order.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_flight: bool,
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

    /// The cassette with every string passed through `redactor` and the
    /// credentials learned from the cassette itself ([`Self::credentials`]).
    pub fn redacted(self, redactor: &Redactor) -> Self {
        let learned = self.credentials();
        let redactor = &redactor.union(&Redactor::new(learned.iter().map(String::as_str)));
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
                            in_flight: e.in_flight,
                        })
                        .collect(),
                    result: redact_value(c.result, redactor),
                    state: c
                        .state
                        .into_iter()
                        .map(|s| StateRead {
                            key: s.key,
                            value: s.value.map(|v| redactor.redact_str(&v).into_owned()),
                        })
                        .collect(),
                    ..c
                })
                .collect(),
            ..self
        }
    }

    /// Credentials a connector obtained or sent that the session's
    /// redactor cannot know: credential header values (after their scheme:
    /// `Bearer x` gives `x`), cookies, and credential fields of JSON and form
    /// bodies. Placeholders are not credentials; values shorter than 8
    /// bytes are left alone (they would redact ordinary words).
    pub fn credentials(&self) -> Vec<String> {
        credentials::learned(self)
    }

    /// The cassette as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a cassette serializes")
    }
}

impl Body {
    /// `bytes`, or a note of their size when they are more than `room`.
    fn new(bytes: &[u8], room: usize) -> Self {
        if bytes.len() > room.min(MAX_TAPED_BODY) {
            return Body::Text(format!(
                "(a body of {} bytes: beyond what a cassette keeps)",
                bytes.len()
            ));
        }
        match std::str::from_utf8(bytes) {
            Ok(text) => Body::Text(text.to_string()),
            Err(_) => Body::Base64(base64::engine::general_purpose::STANDARD.encode(bytes)),
        }
    }

    /// Bytes it holds (as kept).
    pub fn len(&self) -> usize {
        match self {
            Body::Text(t) => t.len(),
            Body::Base64(b) => b.len(),
        }
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
    /// `req` as the connector wrote it (a body beyond `room` bytes noted
    /// by its size).
    pub fn new(req: &Request, room: usize) -> Self {
        Self {
            method: req.method.clone(),
            url: req.url.clone(),
            headers: req.headers.clone(),
            body: req.body.as_deref().map(|b| Body::new(b, room)),
            body_blob: req.body_blob.clone(),
            sign: req.sign.clone(),
            keep_body: req.keep_body,
        }
    }

    /// The request with every string redacted.
    pub fn redacted(self, redactor: &Redactor) -> Self {
        let r = |s: String| redactor.redact_str(&s).into_owned();
        Self {
            method: r(self.method),
            url: r(self.url),
            headers: redact_pairs(self.headers, redactor),
            body: self.body.map(|b| b.redacted(redactor)),
            body_blob: self.body_blob.map(r),
            sign: self.sign.map(r),
            keep_body: self.keep_body,
        }
    }
}

fn redact_pairs(pairs: Vec<(String, String)>, redactor: &Redactor) -> Vec<(String, String)> {
    let r = |s: String| redactor.redact_str(&s).into_owned();
    pairs.into_iter().map(|(k, v)| (r(k), r(v))).collect()
}

impl TapedOutcome {
    /// A request still out, its outcome not known yet.
    pub(crate) fn is_pending(&self) -> bool {
        matches!(self, Self::Error { kind, .. } if kind == "pending")
    }

    /// What a request got (a body beyond `room` bytes noted by its size);
    /// a kept body is read from `blobs`.
    pub fn new(result: &Result<Response, HttpError>, blobs: &BlobStore, room: usize) -> Self {
        let r = |s: &str| s.to_string();
        match result {
            Ok(resp) => {
                let kept = resp.blob.as_ref().and_then(|id| blobs.bytes(id).ok());
                let body: &[u8] = match &kept {
                    Some(bytes) => bytes,
                    None => &resp.body,
                };
                let body = Body::new(body, room);
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
                    // A request still in flight when its call was stopped.
                    "timeout" | "pending" => HttpError::Timeout,
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
