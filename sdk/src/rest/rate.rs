//! How long a server asks a client to wait, from its answer's headers.

use crate::http::Response;

/// Seconds to wait before the next request, if the answer says so:
/// `Retry-After` (seconds; an HTTP date counts as 60); `X-RateLimit-Remaining:
/// 0` (or `RateLimit-Remaining`) with `X-RateLimit-Reset` / `RateLimit-Reset`
/// as seconds to wait or as a Unix time (then `now_secs` decides); Shopify's
/// `X-Shopify-Shop-Api-Call-Limit: 40/40` (a full leaky bucket drains one
/// call in half a second: wait 1 s).
///
/// ```
/// use wharf_sdk::http::Response;
/// use wharf_sdk::rest::wait_from_headers;
/// let r = Response::new(429, vec![("Retry-After".into(), "7".into())], Vec::new());
/// assert_eq!(wait_from_headers(&r, 0), Some(7));
/// ```
pub fn wait_from_headers(response: &Response, now_secs: u64) -> Option<u32> {
    if let Some(secs) = response.retry_after() {
        return Some(secs.max(1));
    }
    let remaining = response
        .header("x-ratelimit-remaining")
        .or_else(|| response.header("ratelimit-remaining"))
        .and_then(|v| v.trim().parse::<f64>().ok());
    if remaining.is_some_and(|r| r <= 0.0) {
        let reset = response
            .header("x-ratelimit-reset")
            .or_else(|| response.header("ratelimit-reset"))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map(|v| v.ceil() as u64);
        return Some(match reset {
            // A Unix time (after 2001), or seconds to wait.
            Some(r) if r > 1_000_000_000 => r.saturating_sub(now_secs).clamp(1, 3600) as u32,
            Some(r) => r.clamp(1, 3600) as u32,
            None => 60,
        });
    }
    if let Some((used, max)) = response
        .header("x-shopify-shop-api-call-limit")
        .and_then(|v| v.split_once('/'))
        .and_then(|(u, m)| Some((u.trim().parse::<u32>().ok()?, m.trim().parse::<u32>().ok()?)))
        && used >= max
    {
        return Some(1);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(headers: &[(&str, &str)]) -> Response {
        Response::new(
            200,
            headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            Vec::new(),
        )
    }

    #[test]
    fn each_convention() {
        assert_eq!(wait_from_headers(&r(&[]), 0), None);
        assert_eq!(wait_from_headers(&r(&[("Retry-After", "0")]), 0), Some(1));
        assert_eq!(
            wait_from_headers(&r(&[("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT")]), 0),
            Some(60)
        );
        assert_eq!(
            wait_from_headers(
                &r(&[("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "12")]),
                0
            ),
            Some(12)
        );
        assert_eq!(
            wait_from_headers(
                &r(&[
                    ("X-RateLimit-Remaining", "0"),
                    ("X-RateLimit-Reset", "1700000030")
                ]),
                1_700_000_000
            ),
            Some(30)
        );
        assert_eq!(
            wait_from_headers(
                &r(&[("X-RateLimit-Remaining", "5"), ("X-RateLimit-Reset", "12")]),
                0
            ),
            None
        );
        assert_eq!(
            wait_from_headers(&r(&[("RateLimit-Remaining", "0")]), 0),
            Some(60)
        );
        assert_eq!(
            wait_from_headers(&r(&[("X-Shopify-Shop-Api-Call-Limit", "40/40")]), 0),
            Some(1)
        );
        assert_eq!(
            wait_from_headers(&r(&[("X-Shopify-Shop-Api-Call-Limit", "12/40")]), 0),
            None
        );
    }
}
