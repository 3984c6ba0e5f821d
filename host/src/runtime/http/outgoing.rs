//! `wasi:http/outgoing-handler`, served by the same capability as
//! `wharf:connector/http.send`.
//!
//! Toolchains for other languages reach the network through WASI's HTTP
//! interface (`fetch()` in ComponentizeJS, the `poll_loop` client in
//! componentize-py), not through the contract. `wasmtime-wasi-http` provides
//! the interface's resources (fields, bodies, futures); every request it
//! would send comes here instead, is turned into a contract request and goes
//! through [`HttpSession::send`]: the same egress policy and grants, budget,
//! rate gates, placeholder substitution, redirects, decoding, redaction,
//! counters and cassette. Nothing reaches the network any other way.
//!
//! What `http.send` bounds by blocking the guest, this module bounds
//! itself, as the guest runs on while its requests are out: at most
//! [`MAX_IN_FLIGHT`] requests per call at once (more are refused with
//! `connection-limit-reached`), and the bodies the host holds for them
//! (requests being read, responses not yet read) within the call's memory
//! limit. Their waits at the rate gate do not move the call's deadline.
//!
//! What the interface cannot say: a refusal reaches the guest as
//! `http-request-denied` (the reason is in the call's log, as for
//! `http.send`); a transport failure as `internal-error` with the host's
//! (redacted) message. The guest's request options (timeouts) are ignored:
//! the host's own time limits apply. Signing keys and blobs are only
//! reachable through the contract.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use wasmtime_wasi_http::{Error as WasiHttpError, RequestOptions, WasiBody, WasiHttpHooks};

use super::super::bindings::wharf::connector::http::{HttpError, Request, Response};
use super::HttpSession;
use super::state::Refusals;

/// Headers an HTTP client library sets by itself, which the host sets
/// (or frames) on its own: dropped rather than refused, so a client works
/// unchanged. Any other header the host owns is refused by `send`, as it
/// is for the contract.
const CLIENT_SET_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "accept-encoding",
    "te",
];

/// Requests of one call out at once; more are refused.
pub const MAX_IN_FLIGHT: usize = 16;
/// The most a guest writes to a request body per write (the crate's
/// default is 1 MiB, buffered per request).
const BODY_CHUNK: usize = 64 << 10;

/// The `wasi:http` hooks of one call: where its requests go.
pub struct OutgoingHooks {
    session: Arc<HttpSession>,
    refusals: Arc<Refusals>,
    in_flight: Arc<AtomicUsize>,
    held: Arc<HeldBytes>,
}

impl OutgoingHooks {
    /// Hooks whose bodies the host holds within `memory_bytes`.
    pub(super) fn new(
        session: Arc<HttpSession>,
        refusals: Arc<Refusals>,
        memory_bytes: usize,
    ) -> Self {
        Self {
            session,
            refusals,
            in_flight: Arc::default(),
            held: Arc::new(HeldBytes {
                bytes: AtomicUsize::new(0),
                limit: memory_bytes,
            }),
        }
    }
}

impl OutgoingHooks {
    /// Whether no request is out and no body held: nothing of a call
    /// would run on into the next one of the same instance.
    pub(crate) fn idle(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) == 0 && self.held.bytes.load(Ordering::Relaxed) == 0
    }
}

/// Body bytes the host holds for one call's `wasi:http` requests.
struct HeldBytes {
    bytes: AtomicUsize,
    limit: usize,
}

impl HeldBytes {
    /// Hold `n` more bytes, unless that passes the limit.
    fn take(&self, n: usize) -> bool {
        self.bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
                held.checked_add(n).filter(|t| *t <= self.limit)
            })
            .is_ok()
    }

    fn give_back(&self, n: usize) {
        self.bytes.fetch_sub(n, Ordering::Relaxed);
    }
}

/// One request of the call out; given back when it ends.
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), WasiHttpError>> + Send>,
                ),
                WasiHttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for OutgoingHooks {
    /// The host derives `Host` from the checked URL itself.
    fn set_host_header(&mut self) -> bool {
        false
    }

    fn p2_outgoing_body_chunk_size(&mut self) -> usize {
        BODY_CHUNK
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _response_done: Box<dyn Future<Output = Result<(), WasiHttpError>> + Send>,
    ) -> SendFuture {
        let session = self.session.clone();
        let refusals = self.refusals.clone();
        let held = self.held.clone();
        let out = self.in_flight.fetch_add(1, Ordering::Relaxed);
        let in_flight = InFlight(self.in_flight.clone());
        Box::new(async move {
            let _in_flight = in_flight;
            if out >= MAX_IN_FLIGHT {
                return Err(WasiHttpError::ConnectionLimitReached);
            }
            if refusals.exceeded() {
                return Err(WasiHttpError::HttpRequestDenied);
            }
            let head = request.method() == http::Method::HEAD;
            let request = contract_request(request, session.request_cap, &held).await?;
            let sent = request.body.as_ref().map_or(0, Vec::len);
            // Checked again: requests started together all passed above.
            let result = if refusals.exceeded() {
                Err(HttpError::Denied(
                    "too many requests refused in this call".into(),
                ))
            } else {
                session.send_detached(request).await
            };
            held.give_back(sent);
            if let Err(HttpError::Denied(why)) = &result {
                // Past the limit the call ends at its next epoch tick
                // (`Ctx`'s deadline callback), as a store-less task cannot
                // end it here.
                let _ = refusals.note(why);
            }
            let response = wasi_response(result.map_err(wasi_error)?, head, held)?;
            let done: Box<dyn Future<Output = Result<(), WasiHttpError>> + Send> =
                Box::new(async { Ok(()) });
            Ok((response, done))
        })
    }
}

/// The contract's request for a `wasi:http` one: headers as text,
/// placeholders as the contract writes them, the body read whole (at most
/// `cap` bytes, held within the call's budget).
async fn contract_request(
    request: http::Request<WasiBody>,
    cap: usize,
    held: &HeldBytes,
) -> Result<Request, WasiHttpError> {
    let (parts, body) = request.into_parts();
    let mut headers = Vec::with_capacity(parts.headers.len());
    for (name, value) in &parts.headers {
        if CLIENT_SET_HEADERS.contains(&name.as_str()) {
            continue;
        }
        let value = value.to_str().map_err(|_| {
            WasiHttpError::InternalError(Some(format!(
                "invalid request: the value of header `{name}` is not text"
            )))
        })?;
        headers.push((name.as_str().to_string(), value.to_string()));
    }
    let announced = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let bytes = read_body(body, cap, announced, held).await?;
    Ok(Request {
        method: parts.method.as_str().to_string(),
        url: unescape_placeholders(&parts.uri.to_string()),
        headers,
        body: (!bytes.is_empty()).then_some(bytes),
        body_blob: None,
        sign: None,
        keep_body: false,
    })
}

/// A request body whole: at most `cap` bytes, each held within the call's
/// budget (all given back if it fails), and as long as the guest announced
/// (a body dropped without finishing ends early, as if it had ended).
async fn read_body(
    mut body: WasiBody,
    cap: usize,
    announced: Option<u64>,
    held: &HeldBytes,
) -> Result<Vec<u8>, WasiHttpError> {
    let mut bytes = Vec::new();
    let read = async {
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                if bytes.len() + data.len() > cap {
                    return Err(WasiHttpError::HttpRequestBodySize(Some(cap as u64)));
                }
                if !held.take(data.len()) {
                    return Err(WasiHttpError::HttpRequestBodySize(Some(bytes.len() as u64)));
                }
                bytes.extend_from_slice(&data);
            }
        }
        match announced {
            Some(n) if n != bytes.len() as u64 => {
                Err(WasiHttpError::HttpRequestBodySize(Some(bytes.len() as u64)))
            }
            _ => Ok(()),
        }
    };
    match read.await {
        Ok(()) => Ok(bytes),
        Err(e) => {
            held.give_back(bytes.len());
            Err(e)
        }
    }
}

/// `{{secret:NAME}}` in a URL's path, percent-encoded by the guest's URL
/// parser (`%7B%7Bsecret:NAME%7D%7D`), back to the placeholder: the guest
/// could have written the braces, and substitution still happens only for
/// a granted origin the secret is bound to. Only in the path: a URL
/// parser leaves braces in the query as they are, so there an encoded
/// brace is data.
fn unescape_placeholders(url: &str) -> String {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    let (path, rest) = url.split_at(end);
    let mut out = unescape_path(path);
    out.push_str(rest);
    out
}

fn unescape_path(url: &str) -> String {
    const OPEN: &str = "%7B%7B";
    const CLOSE: &str = "%7D%7D";
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(start) = find_ignore_case(rest, OPEN) {
        let after = &rest[start + OPEN.len()..];
        let Some(end) = find_ignore_case(after, CLOSE) else {
            break;
        };
        let inner = &after[..end];
        out.push_str(&rest[..start]);
        if !inner.is_empty()
            && inner
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b))
        {
            out.push_str("{{");
            out.push_str(inner);
            out.push_str("}}");
        } else {
            out.push_str(&rest[start..start + OPEN.len() + end + CLOSE.len()]);
        }
        rest = &after[end + CLOSE.len()..];
    }
    out.push_str(rest);
    out
}

fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// The `wasi:http` response for the contract's: the body whole (held
/// within the call's budget until the guest drops it), its length the one
/// the guest gets (redaction may have changed it). A response to `HEAD`
/// keeps the length the server gave; 1xx, 204 and 304 have none.
fn wasi_response(
    response: Response,
    head: bool,
    held: Arc<HeldBytes>,
) -> Result<http::Response<WasiBody>, WasiHttpError> {
    let length = response.body.len();
    if !held.take(length) {
        return Err(WasiHttpError::HttpResponseBodySize(Some(length as u64)));
    }
    let body = HeldBody {
        inner: Full::new(Bytes::from(response.body)),
        held,
        length,
    };
    let bodiless = matches!(response.status, 100..=199 | 204 | 304);
    let mut builder = http::Response::builder().status(response.status);
    for (name, value) in &response.headers {
        if name == "transfer-encoding" || (name == "content-length" && !head) {
            continue;
        }
        builder = builder.header(name, value);
    }
    if !head && !bodiless {
        builder = builder.header(http::header::CONTENT_LENGTH, length);
    }
    builder
        .body(body.map_err(|never| match never {}).boxed_unsync())
        .map_err(|e| WasiHttpError::InternalError(Some(format!("bad response: {e}"))))
}

/// A response body the host holds for the guest, counted until dropped.
struct HeldBody {
    inner: Full<Bytes>,
    held: Arc<HeldBytes>,
    length: usize,
}

impl http_body::Body for HeldBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for HeldBody {
    fn drop(&mut self) {
        self.held.give_back(self.length);
    }
}

/// The `wasi:http` error code closest to the contract's error.
fn wasi_error(e: HttpError) -> WasiHttpError {
    match e {
        HttpError::Denied(_) => WasiHttpError::HttpRequestDenied,
        HttpError::Timeout => WasiHttpError::HttpResponseTimeout,
        HttpError::TooLarge => WasiHttpError::HttpResponseBodySize(None),
        HttpError::Connect(m) => WasiHttpError::InternalError(Some(m)),
        HttpError::Invalid(m) => {
            WasiHttpError::InternalError(Some(format!("invalid request: {m}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(limit: usize) -> Arc<HeldBytes> {
        Arc::new(HeldBytes {
            bytes: AtomicUsize::new(0),
            limit,
        })
    }

    fn body(bytes: Vec<u8>) -> WasiBody {
        Full::new(Bytes::from(bytes))
            .map_err(|never| match never {})
            .boxed_unsync()
    }

    #[test]
    fn encoded_placeholders_are_restored_in_the_path_only() {
        assert_eq!(
            unescape_placeholders(
                "https://a.test/v1/%7B%7Bsecret:key%7D%7D/x?q=%7b%7bsecret:k2%7d%7d"
            ),
            "https://a.test/v1/{{secret:key}}/x?q=%7b%7bsecret:k2%7d%7d"
        );
        assert_eq!(
            unescape_placeholders("https://a.test/%7b%7bsecret:key%7d%7d"),
            "https://a.test/{{secret:key}}"
        );
        // Not a placeholder's name: left as the guest sent it.
        assert_eq!(
            unescape_placeholders("https://a.test/%7B%7B%2F..%7D%7D/%7B%7B"),
            "https://a.test/%7B%7B%2F..%7D%7D/%7B%7B"
        );
        assert_eq!(unescape_placeholders("https://a.test/"), "https://a.test/");
    }

    #[tokio::test]
    async fn a_request_becomes_the_contracts_without_the_clients_own_headers() {
        let request = http::Request::post("https://a.test/x")
            .header("host", "a.test")
            .header("content-length", "7")
            .header("authorization", "Bearer {{secret:t}}")
            .body(body(b"{\"a\":1}".to_vec()))
            .unwrap();
        let budget = held(1000);
        let r = contract_request(request, 100, &budget).await.unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.url, "https://a.test/x");
        assert_eq!(
            r.headers,
            vec![(
                "authorization".to_string(),
                "Bearer {{secret:t}}".to_string()
            )]
        );
        assert_eq!(r.body.as_deref(), Some(&b"{\"a\":1}"[..]));
        assert_eq!(budget.bytes.load(Ordering::Relaxed), 7, "held until sent");
    }

    #[tokio::test]
    async fn a_body_over_the_cap_the_budget_or_its_announced_length_is_refused() {
        let request = http::Request::put("https://a.test/x")
            .body(body(vec![b'x'; 101]))
            .unwrap();
        let e = contract_request(request, 100, &held(1000))
            .await
            .unwrap_err();
        assert!(
            matches!(e, WasiHttpError::HttpRequestBodySize(Some(100))),
            "{e:?}"
        );

        let budget = held(50);
        let request = http::Request::put("https://a.test/x")
            .body(body(vec![b'x'; 80]))
            .unwrap();
        let e = contract_request(request, 100, &budget).await.unwrap_err();
        assert!(matches!(e, WasiHttpError::HttpRequestBodySize(_)), "{e:?}");
        assert_eq!(budget.bytes.load(Ordering::Relaxed), 0, "given back");

        // The guest announced 10 bytes and dropped the body after 4.
        let request = http::Request::put("https://a.test/x")
            .header("content-length", "10")
            .body(body(b"abcd".to_vec()))
            .unwrap();
        let e = contract_request(request, 100, &budget).await.unwrap_err();
        assert!(
            matches!(e, WasiHttpError::HttpRequestBodySize(Some(4))),
            "{e:?}"
        );
        assert_eq!(budget.bytes.load(Ordering::Relaxed), 0);
    }

    fn response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Response {
        Response {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.to_vec(),
            blob: None,
        }
    }

    #[test]
    fn a_response_carries_the_length_of_the_body_the_guest_gets() {
        let budget = held(100);
        let r = wasi_response(
            response(
                201,
                &[("content-length", "999"), ("x-a", "b")],
                b"[REDACTED]",
            ),
            false,
            budget.clone(),
        )
        .unwrap();
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["content-length"], "10");
        assert_eq!(r.headers()["x-a"], "b");
        assert_eq!(
            budget.bytes.load(Ordering::Relaxed),
            10,
            "held while the guest may read it"
        );
        drop(r);
        assert_eq!(budget.bytes.load(Ordering::Relaxed), 0);

        // HEAD keeps the server's length; 204 has none.
        let r = wasi_response(
            response(200, &[("content-length", "999")], b""),
            true,
            budget.clone(),
        )
        .unwrap();
        assert_eq!(r.headers()["content-length"], "999");
        let r = wasi_response(response(204, &[], b""), false, budget.clone()).unwrap();
        assert!(r.headers().get("content-length").is_none());

        // Past the call's budget: refused.
        let e = wasi_response(response(200, &[], &[b'x'; 101]), false, budget).unwrap_err();
        assert!(
            matches!(e, WasiHttpError::HttpResponseBodySize(Some(101))),
            "{e:?}"
        );
    }
}
