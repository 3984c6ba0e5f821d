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
//! What the interface cannot say: a refusal reaches the guest as
//! `http-request-denied` (the reason is in the call's log, as for
//! `http.send`); a transport failure as `internal-error` with the host's
//! (redacted) message. The guest's request options (timeouts) are ignored:
//! the host's own time limits apply. Signing keys and blobs are only
//! reachable through the contract.

use std::future::Future;
use std::sync::Arc;

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

/// The `wasi:http` hooks of one call: where its requests go.
pub struct OutgoingHooks {
    session: Arc<HttpSession>,
    refusals: Arc<Refusals>,
}

impl OutgoingHooks {
    pub(super) fn new(session: Arc<HttpSession>, refusals: Arc<Refusals>) -> Self {
        Self { session, refusals }
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

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _response_done: Box<dyn Future<Output = Result<(), WasiHttpError>> + Send>,
    ) -> SendFuture {
        let session = self.session.clone();
        let refusals = self.refusals.clone();
        Box::new(async move {
            if refusals.exceeded() {
                return Err(WasiHttpError::HttpRequestDenied);
            }
            let request = contract_request(request, session.request_cap).await?;
            let result = session.send(request).await;
            if let Err(HttpError::Denied(why)) = &result {
                // Past the limit the call ends at its next epoch tick
                // (`Ctx`'s deadline callback), as a store-less task cannot
                // end it here.
                let _ = refusals.note(why);
            }
            let response = wasi_response(result.map_err(wasi_error)?)?;
            let done: Box<dyn Future<Output = Result<(), WasiHttpError>> + Send> =
                Box::new(async { Ok(()) });
            Ok((response, done))
        })
    }
}

/// The contract's request for a `wasi:http` one: the body read whole (at
/// most `cap` bytes), headers as text, placeholders as the contract writes
/// them.
async fn contract_request(
    request: http::Request<WasiBody>,
    cap: usize,
) -> Result<Request, WasiHttpError> {
    let (parts, mut body) = request.into_parts();
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > cap {
                return Err(WasiHttpError::HttpRequestBodySize(Some(cap as u64)));
            }
            bytes.extend_from_slice(&data);
        }
    }
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

/// `{{secret:NAME}}` in a URL's path, percent-encoded by the guest's URL
/// parser (`%7B%7Bsecret:NAME%7D%7D`), back to the placeholder: the guest
/// could have written the braces, and substitution still happens only for
/// a granted origin the secret is bound to.
fn unescape_placeholders(url: &str) -> String {
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

/// The `wasi:http` response for the contract's: the body whole, its length
/// the one the guest gets (redaction may have changed it).
fn wasi_response(response: Response) -> Result<http::Response<WasiBody>, WasiHttpError> {
    let mut builder = http::Response::builder().status(response.status);
    for (name, value) in &response.headers {
        if matches!(name.as_str(), "content-length" | "transfer-encoding") {
            continue;
        }
        builder = builder.header(name, value);
    }
    let length = response.body.len();
    builder
        .header(http::header::CONTENT_LENGTH, length)
        .body(
            Full::new(Bytes::from(response.body))
                .map_err(|never| match never {})
                .boxed_unsync(),
        )
        .map_err(|e| WasiHttpError::InternalError(Some(format!("bad response: {e}"))))
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

    #[test]
    fn encoded_placeholders_are_restored_and_nothing_else() {
        assert_eq!(
            unescape_placeholders(
                "https://a.test/v1/%7B%7Bsecret:key%7D%7D/x?q=%7b%7bsecret:k2%7d%7d"
            ),
            "https://a.test/v1/{{secret:key}}/x?q={{secret:k2}}"
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
        let body = Full::new(Bytes::from_static(b"{\"a\":1}"))
            .map_err(|never| match never {})
            .boxed_unsync();
        let request = http::Request::post("https://a.test/x")
            .header("host", "a.test")
            .header("content-length", "7")
            .header("authorization", "Bearer {{secret:t}}")
            .body(body)
            .unwrap();
        let r = contract_request(request, 100).await.unwrap();
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
    }

    #[tokio::test]
    async fn a_body_over_the_cap_is_refused() {
        let body = Full::new(Bytes::from(vec![b'x'; 101]))
            .map_err(|never| match never {})
            .boxed_unsync();
        let request = http::Request::put("https://a.test/x").body(body).unwrap();
        let e = contract_request(request, 100).await.unwrap_err();
        assert!(
            matches!(e, WasiHttpError::HttpRequestBodySize(Some(100))),
            "{e:?}"
        );
    }

    #[test]
    fn a_response_carries_the_length_of_the_body_the_guest_gets() {
        let r = wasi_response(Response {
            status: 201,
            headers: vec![
                ("content-length".into(), "999".into()),
                ("x-a".into(), "b".into()),
            ],
            body: b"[REDACTED]".to_vec(),
            blob: None,
        })
        .unwrap();
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["content-length"], "10");
        assert_eq!(r.headers()["x-a"], "b");
    }
}
