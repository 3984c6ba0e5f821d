//! The HTTP capability: `wharf:connector/http.send`, performed by the host.
//!
//! Every request, and every redirect hop, is checked by the egress policy
//! of the connection (`crate::egress`) before anything is sent, and names
//! resolve through its guarded resolver. Here is what belongs to the
//! capability itself: the request's shape (methods, headers the host owns,
//! sizes), substituting secrets only after the origin is known to be granted
//! and bound to them, redirects that lose credentials across origins,
//! decoding and redacting what comes back, and the session's budget.
//!
//! Kept whole though over 600 lines: `send` → `send_with` → `perform` is one
//! request path (budget, tokens, substitution, signing, each hop, decoding,
//! redaction, counters) best read top to bottom; its checks already live in
//! `prepare`, and one call's view in `state`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use reqwest::Method;
use tokio::sync::Semaphore;
use url::Url;

use super::bindings::wharf::connector::blobs::BlobError;
use super::bindings::wharf::connector::http::{HttpError, Request, Response};
use super::blobs::BlobStore;
use super::cassette::Tape;
use super::limits::Limits;
use super::placeholders::{self, Encoding};
use super::rate::{Held, RateGate, WaitClock, within};

mod outgoing;
mod prepare;
mod quota;
mod state;

use super::secrets::{Placement, SecretBook, Tokens};
use super::signing::Unsigned;
use crate::egress::client::{Timeouts, guarded_client};
use crate::egress::coding;
use crate::egress::policy::EgressPolicy;
use crate::egress::resolver::blocked_in;
use crate::model::limits::ConnectionQuotas;
use crate::model::redact::Redactor;
use prepare::Prepared;
pub use quota::QUOTA_REFUSAL;
use quota::Quota;
pub use state::HttpState;

const MAX_REDIRECTS: usize = 5;

tokio::task_local! {
    /// Set while a `wasi:http` request is performed ([`HttpSession::send_detached`]).
    static DETACHED: ();
}

/// Headers the host owns: it derives `Host` from the checked URL, frames
/// the body itself, chooses the content codings it can decode (so it can
/// redact what comes back), and speaks to no proxy. A guest that sets one of
/// them gets `invalid`, naming it.
const HOST_OWNED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "te",
    "trailer",
    "upgrade",
    "expect",
    "accept-encoding",
];

/// At most this many request headers...
pub const MAX_REQUEST_HEADERS: usize = 100;
/// ...with names and values of at most this many bytes in all.
pub const MAX_REQUEST_HEADER_BYTES: usize = 64 << 10;
/// The longest URL a guest may send.
pub const MAX_URL_BYTES: usize = 32 << 10;
/// Substitution and redaction of texts larger than this run on the blocking
/// pool, so they never hold an async worker (heartbeats, the API) for long.
const OFFLOAD_BYTES: usize = 256 << 10;

/// The HTTP side of one session: client, grants, budget and counters.
pub struct HttpSession {
    client: reqwest::Client,
    policy: EgressPolicy,
    secrets: Arc<SecretBook>,
    blobs: Arc<BlobStore>,
    kept_body_cap: usize,
    remaining: AtomicU32,
    budget: u32,
    concurrency: Semaphore,
    response_cap: usize,
    request_cap: usize,
    request_timeout: Duration,
    sent: AtomicU64,
    bytes_in: AtomicU64,
    by_class: [AtomicU64; 5],
    busy_nanos: AtomicU64,
    /// The connection's rate budgets, if it has any, and the time spent
    /// waiting at them.
    rate: Option<Arc<dyn RateGate>>,
    rate_waits: WaitClock,
    /// Rate waits of `wasi:http` requests (`outgoing`): the guest runs on
    /// while they wait, so they must not move the call's deadline.
    detached_waits: WaitClock,
    /// The provider's refusal of the connection's credentials, when the
    /// host's login for a request was refused: the call's error is then
    /// `auth`, whatever the connector made of the denied request.
    refused: std::sync::Mutex<Option<String>>,
    /// The session's tape: exchanges are recorded on it, or answered from it.
    tape: Option<Arc<Tape>>,
    denied: AtomicU64,
    /// Requests and bytes per origin.
    origins: std::sync::Mutex<std::collections::BTreeMap<String, OriginUse>>,
    bytes_out: AtomicU64,
    /// The connection's quotas.
    quota: Quota,
}

/// One origin's requests and bytes in a session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct OriginUse {
    /// Requests sent (redirect hops included).
    pub requests: u64,
    /// Request body bytes sent.
    pub bytes_out: u64,
    /// Response body bytes received (after content decoding).
    pub bytes_in: u64,
}

/// Status classes counted per session: 2xx, 3xx, 4xx, 5xx, and requests
/// that got no response.
pub const STATUS_CLASSES: [&str; 5] = ["2xx", "3xx", "4xx", "5xx", "error"];

/// Counters of a session's HTTP use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct HttpCounters {
    /// Requests sent (redirect hops included).
    pub requests: u64,
    /// Response body bytes received.
    pub bytes_in: u64,
    /// Request body bytes sent (redirect hops included).
    pub bytes_out: u64,
    /// Requests by [`STATUS_CLASSES`].
    pub by_class: [u64; 5],
    /// Time spent performing requests, in nanoseconds.
    pub busy_nanos: u64,
    /// Requests the host refused (a grant, the budget, a rule of the
    /// capability); nothing was sent for them.
    pub denied: u64,
}

impl HttpSession {
    /// How long this session's requests have waited at the rate gate
    /// while the guest was blocked on them (`http.send`): the call's
    /// deadline moves by it.
    pub fn rate_waited(&self) -> Duration {
        self.rate_waits.waited()
    }

    /// The clock this request's rate waits go on: a `wasi:http` request's
    /// waits never move the call's deadline, as the guest runs meanwhile.
    fn wait_clock(&self) -> &WaitClock {
        if DETACHED.try_with(|_| ()).is_ok() {
            &self.detached_waits
        } else {
            &self.rate_waits
        }
    }

    /// Perform a request the guest does not wait on in a host call
    /// (`wasi:http`, see `outgoing`): as [`Self::send`], but time spent
    /// waiting at the rate gate does not extend the call's deadline.
    pub async fn send_detached(&self, req: Request) -> Result<Response, HttpError> {
        DETACHED.scope((), self.send(req)).await
    }

    /// Exchanges are recorded on `tape`, or answered from it.
    pub fn with_tape(mut self, tape: Option<Arc<Tape>>) -> Self {
        self.tape = tape;
        self
    }

    /// Requests wait for their turn at `gate` (the connection's rate
    /// budgets).
    pub fn with_rate(mut self, gate: Option<Arc<dyn RateGate>>) -> Self {
        self.rate = gate;
        self
    }

    /// A session with its own client, whose resolver enforces `policy`.
    pub fn new(
        policy: EgressPolicy,
        secrets: Arc<SecretBook>,
        blobs: Arc<BlobStore>,
        limits: &Limits,
    ) -> Result<Self, reqwest::Error> {
        let client = guarded_client(
            &policy.networks,
            Timeouts {
                connect: limits.http_connect_timeout,
                total: None,
            },
            policy.tls_ca.as_deref(),
        )?;
        Ok(Self {
            client,
            policy,
            secrets,
            blobs,
            kept_body_cap: limits.kept_body_bytes,
            remaining: AtomicU32::new(limits.http_requests_per_session),
            budget: limits.http_requests_per_session,
            concurrency: Semaphore::new(limits.http_concurrency.max(1)),
            response_cap: limits.http_response_bytes,
            request_cap: limits.http_request_bytes,
            request_timeout: limits.http_request_timeout,
            sent: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            by_class: Default::default(),
            rate: None,
            rate_waits: WaitClock::default(),
            detached_waits: WaitClock::default(),
            busy_nanos: AtomicU64::new(0),
            refused: std::sync::Mutex::new(None),
            tape: None,
            denied: AtomicU64::new(0),
            origins: Default::default(),
            bytes_out: AtomicU64::new(0),
            quota: Quota::default(),
        })
    }

    /// A token the host could not get, as the request's error; a refusal
    /// of the credentials is remembered for [`Self::credentials_refused`].
    fn deny(&self, e: super::secrets::SecretDenied) -> HttpError {
        if let super::secrets::SecretDenied::Refused(m) = &e {
            *self.refused.lock().expect("refusal lock") = Some(m.clone());
        }
        deny(e)
    }

    /// The provider's refusal of the credentials, if a login was refused
    /// in this session.
    pub fn credentials_refused(&self) -> Option<String> {
        self.refused.lock().expect("refusal lock").clone()
    }

    /// Requests and bytes so far.
    pub fn counters(&self) -> HttpCounters {
        HttpCounters {
            requests: self.sent.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            by_class: std::array::from_fn(|i| self.by_class[i].load(Ordering::Relaxed)),
            busy_nanos: self.busy_nanos.load(Ordering::Relaxed),
            denied: self.denied.load(Ordering::Relaxed),
        }
    }

    /// The origins requests went to, with the requests (redirect hops
    /// included) and bytes of each: the grants this session used.
    pub fn origins(&self) -> Vec<(String, OriginUse)> {
        let origins = self.origins.lock().expect("origins lock");
        origins.iter().map(|(o, u)| (o.clone(), *u)).collect()
    }

    /// Perform a guest's request.
    pub async fn send(&self, req: Request) -> Result<Response, HttpError> {
        let started = std::time::Instant::now();
        let result = match &self.tape {
            Some(tape) => {
                tape.exchange(req, &self.blobs, |req| self.send_inner(req))
                    .await
            }
            None => self.send_inner(req).await,
        };
        if let Err(HttpError::Denied(_)) = &result {
            self.denied.fetch_add(1, Ordering::Relaxed);
        }
        self.busy_nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        result
    }

    async fn send_inner(&self, req: Request) -> Result<Response, HttpError> {
        let _permit = self
            .concurrency
            .acquire()
            .await
            .map_err(|_| HttpError::Denied("session closed".into()))?;
        // Tokens are fetched when a request asks for them, so one that
        // expires in the middle of a run is refreshed, not sent stale.
        // A body that is not UTF-8 is never substituted into
        // (`substitute_body`), so it asks for no token. Checked once: a
        // batch body is megabytes.
        let body_text = req
            .body
            .as_deref()
            .and_then(|b| std::str::from_utf8(b).ok());
        let mentions = |needle: fn(&str) -> bool| {
            needle(&req.url)
                || req.headers.iter().any(|(_, v)| needle(v))
                || body_text.is_some_and(needle)
        };
        let wants_oauth = mentions(placeholders::wants_oauth);
        let wants_session = mentions(placeholders::wants_session);
        let mut tokens = Tokens::default();
        if wants_oauth {
            tokens.oauth = Some(self.secrets.token(true).await.map_err(|e| self.deny(e))?);
        }
        if wants_session {
            tokens.session = Some(self.secrets.token(false).await.map_err(|e| self.deny(e))?);
        }
        // A request that carried a token and was refused with 401 by the
        // token's own host is sent once more with a renewed token.
        let retry = (wants_oauth || wants_session).then(|| req.clone());
        let response = self.send_with(req, &tokens).await?;
        let Some(req) = retry else {
            return Ok(response);
        };
        let url = Url::parse(&req.url).ok();
        let mut renewed = false;
        for (oauth, held) in [(true, &mut tokens.oauth), (false, &mut tokens.session)] {
            if let (Some(token), Some(url)) = (held.as_mut(), &url)
                && self.secrets.token_goes_to(oauth, url)
                && self.secrets.renews_on(oauth, response.status)
            {
                *token = self
                    .secrets
                    .renew_token(oauth, token)
                    .await
                    .map_err(|e| self.deny(e))?;
                renewed = true;
            }
        }
        if !renewed {
            return Ok(response);
        }
        self.send_with(req, &tokens).await
    }

    async fn send_with(&self, mut req: Request, tokens: &Tokens) -> Result<Response, HttpError> {
        let body_encoding = placeholders::body_encoding(&req.headers);
        let sign = req.sign.take();
        // A blob as the body: sent as is (no placeholders are looked for in
        // it: it is data, not a template), within the request cap.
        let blob_body = match req.body_blob.take() {
            Some(id) => {
                if req.body.is_some() {
                    return Err(HttpError::Invalid(
                        "a request has a body or a body blob, not both".into(),
                    ));
                }
                let bytes = self.blobs.bytes(&id).map_err(|_| {
                    HttpError::Invalid(format!("no blob `{}` in this run", clip(&id)))
                })?;
                if bytes.len() > self.request_cap {
                    return Err(HttpError::Invalid(format!(
                        "the request body is {} bytes; at most {} are allowed",
                        bytes.len(),
                        self.request_cap
                    )));
                }
                Some(bytes)
            }
            None => None,
        };
        let keep_body = req.keep_body;
        let (mut prepared, body) = self.prepare(req, tokens)?;
        prepared.keep_body = keep_body;
        if let Some(bytes) = blob_body {
            prepared.body = Some(bytes.as_ref().clone());
        }
        if let Some(body) = body {
            let (body, had_secret) = self
                .substitute_body(body, &prepared.url, body_encoding, tokens)
                .await?;
            prepared.body = Some(body);
            prepared.body_has_secret = had_secret;
        }
        if let Some(name) = sign {
            // After substitution, so what is signed is what is sent.
            if name.len() > 64 {
                return Err(HttpError::Invalid(
                    "a signing key name is at most 64 bytes".into(),
                ));
            }
            let now = crate::clock::now_ms() / 1000;
            let body = prepared.body.take();
            let signed = self
                .secrets
                .signers()
                .sign(
                    &name,
                    Unsigned {
                        method: &prepared.method,
                        url: &mut prepared.url,
                        headers: &mut prepared.headers,
                        body: body.as_deref().unwrap_or_default(),
                    },
                    now,
                )
                .map_err(|e| HttpError::Denied(e.to_string()))?;
            prepared.body = body;
            prepared.secret_headers.extend(signed.headers);
            prepared.url_has_secret |= signed.in_query;
        }
        // The timeout leaves out the wait for the rate budget's turn.
        let waits = self.wait_clock();
        match within(self.perform(prepared), self.request_timeout, || {
            waits.waited()
        })
        .await
        {
            Ok(result) => result,
            Err(_) => Err(HttpError::Timeout),
        }
    }

    /// Substitute placeholders in a request body (on the blocking pool when
    /// it is large).
    async fn substitute_body(
        &self,
        body: Vec<u8>,
        url: &Url,
        encoding: Encoding,
        tokens: &Tokens,
    ) -> Result<(Vec<u8>, bool), HttpError> {
        let substitute = move |book: &SecretBook, body: Vec<u8>, url: &Url, tokens: &Tokens| {
            let text = match String::from_utf8(body) {
                Ok(text) => text,
                Err(e) => return Ok((e.into_bytes(), false)),
            };
            if !SecretBook::has_placeholder(&text) {
                return Ok((text.into_bytes(), false));
            }
            let out = book
                .substitute(&text, url, Placement::Body(encoding), tokens)
                .map_err(deny)?;
            Ok((out.into_owned().into_bytes(), true))
        };
        if body.len() > OFFLOAD_BYTES {
            let book = self.secrets.clone();
            let url = url.clone();
            let tokens = Tokens {
                oauth: tokens.oauth.clone(),
                session: tokens.session.clone(),
            };
            tokio::task::spawn_blocking(move || substitute(&book, body, &url, &tokens))
                .await
                .map_err(|_| HttpError::Invalid("the request body could not be prepared".into()))?
        } else {
            substitute(&self.secrets, body, url, tokens)
        }
    }

    /// Enforce the connection's quotas on `quotas`.
    pub fn with_quotas(mut self, quotas: ConnectionQuotas) -> Self {
        self.quota = Quota::new(quotas);
        self
    }

    fn take_budget(&self) -> Result<(), HttpError> {
        self.remaining
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .map(|_| ())
            .map_err(|_| {
                HttpError::Denied(format!(
                    "request budget exhausted: at most {} requests per run",
                    self.budget
                ))
            })
    }

    async fn perform(&self, mut p: Prepared) -> Result<Response, HttpError> {
        // Every origin of the chain: what comes back is redacted for each
        // secret that may have been sent to one of them.
        let mut redactor = self.secrets.redactor_for(&p.url);
        for hop in 0..=MAX_REDIRECTS {
            // The quota first: a request it refuses does not spend the
            // run's request budget.
            let used =
                self.bytes_in.load(Ordering::Relaxed) + self.bytes_out.load(Ordering::Relaxed);
            self.quota
                .take(&p.url, p.body.as_ref().map_or(0, |b| b.len() as u64), used)
                .map_err(HttpError::Denied)?;
            self.take_budget()?;
            // Held until this hop's answer is read: concurrency budgets
            // count requests in flight.
            let _turn = match &self.rate {
                Some(gate) => {
                    let _waiting = self.wait_clock().begin();
                    Some(Held::take(gate, &p.url).await.map_err(HttpError::Denied)?)
                }
                None => None,
            };
            let mut builder = self
                .client
                .request(p.method.clone(), p.url.clone())
                .headers(p.headers.clone())
                .header(reqwest::header::ACCEPT_ENCODING, coding::ACCEPT_ENCODING);
            if let Some(body) = &p.body {
                builder = builder.body(body.clone());
            }
            self.sent.fetch_add(1, Ordering::Relaxed);
            let sent_bytes = p.body.as_ref().map_or(0, |b| b.len() as u64);
            self.bytes_out.fetch_add(sent_bytes, Ordering::Relaxed);
            let origin = p.url.origin().ascii_serialization();
            {
                let mut origins = self.origins.lock().expect("origins lock");
                let used = origins.entry(origin.clone()).or_default();
                used.requests += 1;
                used.bytes_out += sent_bytes;
            }
            let mut resp = match builder.send().await {
                Ok(r) => r,
                Err(e) => {
                    self.by_class[4].fetch_add(1, Ordering::Relaxed);
                    return Err(transport_error(e, &redactor));
                }
            };
            let status = resp.status();
            let class = (status.as_u16() / 100).clamp(2, 5) as usize - 2;
            self.by_class[class].fetch_add(1, Ordering::Relaxed);
            let location = resp.headers().get(reqwest::header::LOCATION).cloned();
            if let (true, Some(location)) = (status.is_redirection(), location) {
                if hop == MAX_REDIRECTS {
                    return Err(HttpError::Denied(format!(
                        "too many redirects (more than {MAX_REDIRECTS})"
                    )));
                }
                // A bound host that echoes a secret into its Location would
                // otherwise have the host carry it to the next origin.
                if redactor.finds_in(location.as_bytes()) {
                    return Err(HttpError::Denied(
                        "redirect refused: its location contains a secret".into(),
                    ));
                }
                let location = location
                    .to_str()
                    .map_err(|_| HttpError::Invalid("bad redirect location".into()))?;
                let next = p
                    .url
                    .join(location)
                    .map_err(|e| HttpError::Invalid(format!("bad redirect location: {e}")))?;
                self.policy
                    .check_url(&next)
                    .map_err(|why| HttpError::Denied(format!("redirect refused: {why}")))?;
                p.redirect(status, next)?;
                if !redactor_covers(&self.secrets, &redactor, &p.url) {
                    redactor = redactor.union(&self.secrets.redactor_for(&p.url));
                }
                continue;
            }
            // A body kept as a blob may be larger than one the guest holds.
            let cap = if p.keep_body {
                self.kept_body_cap
            } else {
                self.response_cap
            };
            // Room for the length the upstream announces (up to 1 MiB, so a
            // false one reserves little): a page is not copied again each
            // time the buffer doubles.
            let announced = resp.content_length().unwrap_or(0) as usize;
            let mut body = Vec::with_capacity(announced.min(cap).min(1 << 20));
            while let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| transport_error(e, &redactor))?
            {
                if body.len() + chunk.len() > cap {
                    return Err(HttpError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            let mut headers = resp.headers().clone();
            let content_coding = headers
                .get_all(reqwest::header::CONTENT_ENCODING)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect::<Vec<_>>()
                .join(",");
            let codings = coding::codings(&content_coding);
            if !codings.is_empty() {
                if coding::decodable(&codings) {
                    // Decoding is CPU work bounded by the response cap; it
                    // runs on the blocking pool, before redaction.
                    body = tokio::task::spawn_blocking(move || coding::decode(&codings, body, cap))
                        .await
                        .map_err(|_| {
                            HttpError::Invalid("the response could not be decoded".into())
                        })?
                        .map_err(|e| match e {
                            coding::DecodeError::TooLarge(_) => HttpError::TooLarge,
                            other => HttpError::Invalid(other.to_string()),
                        })?;
                    headers.remove(reqwest::header::CONTENT_ENCODING);
                    headers.remove(reqwest::header::CONTENT_LENGTH);
                } else if !redactor.is_empty() {
                    // Opaque bytes from a host a secret may have been sent
                    // to (now or in an earlier request): the redactor cannot
                    // look inside, so they do not reach the guest.
                    return Err(HttpError::Denied(format!(
                        "the response is encoded as `{content_coding}`, which the host cannot decode and check for secrets bound to this host"
                    )));
                }
            }
            self.bytes_in
                .fetch_add(body.len() as u64, Ordering::Relaxed);
            self.origins
                .lock()
                .expect("origins lock")
                .entry(origin)
                .or_default()
                .bytes_in += body.len() as u64;
            let headers = headers
                .iter()
                .map(|(k, v)| {
                    let v = String::from_utf8_lossy(v.as_bytes());
                    (k.as_str().to_string(), redactor.redact_str(&v).into_owned())
                })
                .collect();
            let body = if redactor.is_empty() {
                body
            } else if body.len() > OFFLOAD_BYTES {
                tokio::task::spawn_blocking(move || redact_owned(&redactor, body))
                    .await
                    .map_err(|_| HttpError::Invalid("the response could not be checked".into()))?
            } else {
                redact_owned(&redactor, body)
            };
            if p.keep_body {
                // What the guest reads from the blob was redacted like any
                // body it is handed.
                let blob = self.blobs.keep(body).map_err(|e| match e {
                    BlobError::Quota(why) => HttpError::Denied(why),
                    other => HttpError::Invalid(format!("{other:?}")),
                })?;
                return Ok(Response {
                    status: status.as_u16(),
                    headers,
                    body: Vec::new(),
                    blob: Some(blob),
                });
            }
            return Ok(Response {
                status: status.as_u16(),
                headers,
                body,
                blob: None,
            });
        }
        unreachable!("the loop returns on its last hop")
    }
}
/// The methods a request may use: any RFC 9110 method token (WebDAV's
/// `PROPFIND`, `MKCOL`, `MOVE`… among them) except `CONNECT`, which would
/// open a tunnel the host cannot see into, and `TRACE`/`TRACK`, which echo
/// the request (credentials included) back.
fn allowed_method(method: &str) -> Result<Method, HttpError> {
    let upper = method.to_ascii_uppercase();
    let refused = || HttpError::Invalid(format!("method `{}` is not allowed", clip(method)));
    if matches!(upper.as_str(), "CONNECT" | "TRACE" | "TRACK") || upper.len() > 32 {
        return Err(refused());
    }
    Method::from_bytes(upper.as_bytes()).map_err(|_| refused())
}

/// A request failed in transport: the message, with secret values redacted.
fn transport_error(e: reqwest::Error, redactor: &Redactor) -> HttpError {
    if e.is_timeout() {
        return HttpError::Timeout;
    }
    if let Some(blocked) = blocked_in(&e) {
        return HttpError::Denied(blocked.to_string());
    }
    let e = e.without_url();
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(err) = source {
        message.push_str(": ");
        message.push_str(&err.to_string());
        source = err.source();
    }
    HttpError::Connect(redactor.redact_str(&message).into_owned())
}

fn deny(e: super::secrets::SecretDenied) -> HttpError {
    HttpError::Denied(e.to_string())
}

/// At most 64 characters of guest text in an error message.
fn clip(text: &str) -> String {
    let mut end = text.len().min(64);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    if end < text.len() {
        format!("{}…", &text[..end])
    } else {
        text.to_string()
    }
}

fn redact_owned(redactor: &Redactor, body: Vec<u8>) -> Vec<u8> {
    match redactor.redact_bytes(&body) {
        std::borrow::Cow::Borrowed(_) => body,
        std::borrow::Cow::Owned(b) => b,
    }
}

/// Whether `redactor` already covers the secrets bound to `url`'s origin.
fn redactor_covers(book: &SecretBook, redactor: &Redactor, url: &Url) -> bool {
    let more = book.redactor_for(url);
    more.is_empty() || more.values().iter().all(|v| redactor.values().contains(v))
}
