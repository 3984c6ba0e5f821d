//! Requests to TikTok's API for Business (Marketing API v1.3) and its
//! answers read through their envelope.
//!
//! Every call carries the long-term token as `Access-Token` (not
//! `Authorization`; TikTok refuses a `Bearer ` prefix), filled in by the
//! host from the `access_token` secret. TikTok answers almost everything
//! with HTTP 200 and `{"code", "message", "request_id", "data"}`: a code
//! other than 0 is the error, and the code, not the status, says what the
//! host should do ([`error_for`]).

use serde_json::Value;
use wharf_sdk::blob::Blob;
use wharf_sdk::prelude::*;
use wharf_sdk::rest::ErrorMap;

use crate::Config;

/// The long-term access token of TikTok's `auth_code` exchange.
pub const TOKEN: Secret = Secret::new("access_token");

/// Longest QPS refusal waited out here before the host is asked to wait:
/// TikTok's limits are per second, so a short pause usually clears them
/// without giving up the sandbox (the SDK does the same for a short 429).
const INLINE_WAIT_SECS: u32 = 2;

/// `GET {base}/{path}`, authenticated.
pub fn get(config: &Config, path: &str) -> Request {
    Request::get(format!("{}/{path}", config.base())).header_secret("Access-Token", &TOKEN)
}

/// `POST {base}/{path}` with a JSON body, authenticated. The body holds
/// config values (advertiser ids, metric names), so it is written as data:
/// no `{{…}}` in it can become a placeholder.
pub fn post(config: &Config, path: &str, body: &Value) -> Result<Request> {
    Request::post(format!("{}/{path}", config.base()))
        .header_secret("Access-Token", &TOKEN)
        .json_data(body)
}

/// A successful answer: its `data` and the response's headers.
pub struct Answer {
    pub data: Value,
    headers: Vec<(String, String)>,
}

impl Answer {
    /// A header of the answer (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Send `request` and read TikTok's envelope: its `data`, or the error its
/// code means.
pub fn send(request: Request) -> Result<Answer> {
    let response = send_response(request)?;
    let mut body: Value = serde_json::from_slice(&response.body).map_err(|_| {
        let text: String = response.text().chars().take(200).collect();
        Error::Fatal(format!(
            "TikTok answered HTTP {} with something other than its JSON envelope: {}",
            response.status,
            text.trim()
        ))
    })?;
    Ok(Answer {
        data: body["data"].take(),
        headers: response.headers,
    })
}

/// Send `request` (a QPS refusal waited out once), failing on an error
/// status or an envelope with a code other than 0. A body kept as a blob
/// (a report file) is looked into only when it is JSON: TikTok sends its
/// envelope instead of the file when it refuses.
pub fn send_response(request: Request) -> Result<Response> {
    let mut waited = false;
    loop {
        match attempt(&request) {
            Err(Error::RateLimited(secs)) if !waited && secs <= INLINE_WAIT_SECS => {
                waited = true;
                wharf_sdk::log::info(format!(
                    "TikTok's per-second limit was reached; waiting {secs} s"
                ));
                std::thread::sleep(std::time::Duration::from_secs(u64::from(secs)));
            }
            other => return other,
        }
    }
}

fn attempt(request: &Request) -> Result<Response> {
    let response = errors().check(request.clone().send()?)?;
    let envelope = match &response.blob {
        None => serde_json::from_slice::<Value>(&response.body).ok(),
        Some(id) => {
            let blob = Blob(id.clone());
            let json = response
                .header("content-type")
                .is_some_and(|t| t.contains("json"))
                || blob.read(0, 64)?.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
            if json {
                serde_json::from_slice::<Value>(&blob.read_all()?).ok()
            } else {
                None
            }
        }
    };
    if let Some(envelope) = envelope {
        check_code(&envelope)?;
    }
    Ok(response)
}

/// An envelope's code as the error it means (none for 0).
pub fn check_code(envelope: &Value) -> Result<()> {
    let Some(code) = envelope.get("code").and_then(Value::as_i64) else {
        // A plain JSON answer without TikTok's envelope: not an error by
        // itself; the caller finds what it needs in it or says so.
        return Ok(());
    };
    if code == 0 {
        return Ok(());
    }
    let message = envelope["message"].as_str().unwrap_or("no message");
    let request_id = envelope["request_id"].as_str().unwrap_or("");
    Err(error_for(code, message, request_id))
}

/// What TikTok's return code means for the host. Codes from TikTok's
/// return-code appendix as integrations meet them (see
/// `docs/vendors/ads.md`): 40100 is the app's QPS/QPM/QPD limit, 40133 an
/// advertiser's QPS limit on one path; 40101–40110 are credentials (app
/// id and secret, an expired, empty or revoked token, a bad `auth_code`);
/// 40001 is a missing permission (an advertiser the token does not cover,
/// a report type the app is not allowlisted for) and 40002 a parameter
/// TikTok refuses (a metric, a date range); 5xxxx are TikTok's own.
pub fn error_for(code: i64, message: &str, request_id: &str) -> Error {
    let mut text = format!("TikTok refused the call (code {code}): {message}");
    if !request_id.is_empty() {
        text.push_str(&format!(" [request_id {request_id}]"));
    }
    match code {
        40100 | 40133 | 51021 => Error::RateLimited(wait_for(message)),
        40101..=40110 => Error::Auth(format!(
            "{text}; put a new long-term access token (from TikTok's auth_code exchange) in the connection's `access_token` secret"
        )),
        40001 => Error::Config(format!(
            "{text}; check that the advertisers in `advertiser_ids` authorized this app with the reporting and ad management scopes"
        )),
        40002 | 40000 => Error::Config(text),
        50000..=59999 => Error::Transient(text),
        _ => Error::Fatal(text),
    }
}

/// How long a rate refusal asks to wait: TikTok names the limit it
/// enforces in the message (`reaches the QPS limit 10`, QPM, QPD) and
/// sends no `Retry-After`.
fn wait_for(message: &str) -> u32 {
    let m = message.to_ascii_uppercase();
    if m.contains("QPD") || m.contains(" DAY") {
        3600
    } else if m.contains("QPM") || m.contains("MINUTE") {
        60
    } else {
        INLINE_WAIT_SECS
    }
}

/// HTTP-level failures (a proxy's 502, a 429 from a gateway) in TikTok's
/// words where it sent its envelope.
fn errors() -> ErrorMap {
    ErrorMap::new().message_at("/message")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_tell_the_host_what_to_do() {
        let e = |code| error_for(code, "m", "r1");
        assert_eq!(e(40100), Error::RateLimited(2), "App reaches the QPS limit");
        assert_eq!(
            error_for(40100, "App 7 reaches the QPM limit 600", ""),
            Error::RateLimited(60)
        );
        assert_eq!(e(40133), Error::RateLimited(2));
        assert!(matches!(e(40105), Error::Auth(m) if m.contains("[request_id r1]")));
        assert!(matches!(e(40104), Error::Auth(_)));
        assert!(matches!(e(40001), Error::Config(_)));
        assert!(matches!(e(40002), Error::Config(_)));
        assert!(matches!(e(50000), Error::Transient(_)));
        assert!(matches!(e(41000), Error::Fatal(_)));
        assert!(check_code(&json!({"code": 0, "message": "OK"})).is_ok());
        assert!(
            check_code(
                &json!({"code": 40105, "message": "Access token is incorrect or has been revoked."})
            )
            .is_err()
        );
    }
}
