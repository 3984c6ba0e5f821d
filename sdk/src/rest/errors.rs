//! Which error an answer means, in the vendor's own words: the status
//! decides what the host does (renew a token, wait, retry, stop), and the
//! message is taken from the error body where the vendor puts it.

use serde_json::Value;

use super::rate::wait_from_headers;
use crate::http::Response;
use crate::{Error, Result};

/// Reads the message out of an error body whose shape a pointer cannot
/// reach (Frappe's `_server_messages`: JSON text inside JSON text).
pub type Decoder = fn(&Value) -> Option<String>;

/// Where the API puts its error messages, and what its statuses mean.
#[derive(Clone, Debug)]
pub struct ErrorMap {
    pointers: Vec<String>,
    decoder: Option<Decoder>,
    renewable: bool,
    config: Vec<u16>,
}

/// Where most APIs put the message of an error body.
const COMMON: &[&str] = &[
    "/message",
    "/error/message",
    "/error_description",
    "/errors/0/message",
    "/errors/0/detail",
    "/errors",
    "/error",
    "/detail",
    "/title",
    "/exception",
    "/Message",
];

impl Default for ErrorMap {
    fn default() -> Self {
        Self::new()
    }
}

impl ErrorMap {
    /// The common places for a message; 401 is a wrong credential.
    pub fn new() -> Self {
        Self {
            pointers: Vec::new(),
            decoder: None,
            renewable: false,
            config: Vec::new(),
        }
    }

    /// Look for the message at `pointer` first (Frappe's `/exception`,
    /// Shopify's `/errors`).
    pub fn message_at(mut self, pointer: impl Into<String>) -> Self {
        self.pointers.push(pointer.into());
        self
    }

    /// Ask `decoder` first for the message of a JSON error body; the
    /// pointers are the fallback when it finds none.
    pub fn decoder(mut self, decoder: Decoder) -> Self {
        self.decoder = Some(decoder);
        self
    }

    /// A 401 means the host's token or session expired: it renews it and
    /// the call is made once more ([`Error::AuthExpired`]).
    pub fn renewable(mut self, yes: bool) -> Self {
        self.renewable = yes;
        self
    }

    /// `status` means the config is wrong (a 404 for a wrong base URL or
    /// company id): an administrator must act.
    pub fn config_on(mut self, status: u16) -> Self {
        self.config.push(status);
        self
    }

    /// The vendor's message in an answer, or the start of its body.
    pub fn message(&self, response: &Response) -> String {
        let from_json = serde_json::from_slice::<Value>(&response.body)
            .ok()
            .and_then(|v| {
                if let Some(found) = self.decoder.and_then(|d| d(&v)) {
                    return Some(found);
                }
                self.pointers
                    .iter()
                    .map(String::as_str)
                    .chain(COMMON.iter().copied())
                    .find_map(|p| match v.pointer(p)? {
                        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
                        Value::Null => None,
                        other @ (Value::Object(_) | Value::Array(_)) => Some(other.to_string()),
                        _ => None,
                    })
            });
        let text = from_json.unwrap_or_else(|| response.text().trim().to_string());
        let text: String = text.chars().take(300).collect();
        format!("HTTP {}: {text}", response.status)
    }

    /// The answer, or the error it means: 401 → [`Error::Auth`] (or
    /// [`Error::AuthExpired`] when [`renewable`](Self::renewable)), 403 →
    /// `Auth`, 429 (and a 503 with `Retry-After`) → [`Error::RateLimited`]
    /// for as long as the headers say, 408 and 5xx → [`Error::Transient`],
    /// the [`config_on`](Self::config_on) statuses → [`Error::Config`],
    /// any other 4xx → [`Error::Fatal`].
    pub fn check(&self, response: Response) -> Result<Response> {
        let status = response.status;
        if status < 400 {
            return Ok(response);
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let wait = wait_from_headers(&response, now);
        let message = self.message(&response);
        Err(match status {
            401 if self.renewable => Error::AuthExpired(message),
            401 | 403 => Error::Auth(message),
            429 => Error::RateLimited(wait.unwrap_or(60)),
            503 if wait.is_some() => Error::RateLimited(wait.unwrap_or(60)),
            s if self.config.contains(&s) => Error::Config(message),
            408 | 500..=599 => Error::Transient(message),
            _ => Error::Fatal(message),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        Response::new(
            status,
            headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body.as_bytes().to_vec(),
        )
    }

    #[test]
    fn statuses_and_vendor_messages() {
        let map = ErrorMap::new();
        assert!(map.check(r(200, &[], "{}")).is_ok());
        assert_eq!(
            map.check(r(
                401,
                &[],
                r#"{"errors": "[API] Invalid API key or access token"}"#
            ))
            .unwrap_err(),
            Error::Auth("HTTP 401: [API] Invalid API key or access token".into())
        );
        assert!(matches!(
            ErrorMap::new().renewable(true).check(r(401, &[], "")),
            Err(Error::AuthExpired(_))
        ));
        assert_eq!(
            map.check(r(429, &[("Retry-After", "2.5")], ""))
                .unwrap_err(),
            Error::RateLimited(3),
            "Shopify's decimal Retry-After, rounded up"
        );
        assert_eq!(
            map.check(r(
                429,
                &[("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT")],
                ""
            ))
            .unwrap_err(),
            Error::RateLimited(60),
            "a date counts as a minute"
        );
        assert_eq!(
            map.check(r(429, &[("Retry-After", "2")], "")).unwrap_err(),
            Error::RateLimited(2)
        );
        assert_eq!(
            map.check(r(503, &[("Retry-After", "5")], "")).unwrap_err(),
            Error::RateLimited(5)
        );
        assert!(
            matches!(map.check(r(502, &[], "<html>bad gateway</html>")), Err(Error::Transient(m)) if m.contains("bad gateway"))
        );
        let frappe = r(
            417,
            &[],
            r#"{"exc_type": "ValidationError", "exception": "frappe.exceptions.ValidationError: Item Code is mandatory"}"#,
        );
        assert_eq!(
            map.check(frappe).unwrap_err(),
            Error::Fatal(
                "HTTP 417: frappe.exceptions.ValidationError: Item Code is mandatory".into()
            )
        );
        let nested = r(
            400,
            &[],
            r#"{"error": {"code": 1, "message": "Invalid filter"}}"#,
        );
        assert_eq!(
            map.check(nested).unwrap_err(),
            Error::Fatal("HTTP 400: Invalid filter".into())
        );
        assert!(matches!(
            ErrorMap::new().config_on(404).check(r(404, &[], "")),
            Err(Error::Config(_))
        ));
        fn wrapped_text(v: &Value) -> Option<String> {
            let inner: Value = serde_json::from_str(v.get("wrapped")?.as_str()?).ok()?;
            inner["text"].as_str().map(str::to_string)
        }
        let decoded = ErrorMap::new().decoder(wrapped_text);
        assert_eq!(
            decoded.message(&r(
                417,
                &[],
                r#"{"wrapped": "{\"text\": \"inner\"}", "message": "outer"}"#
            )),
            "HTTP 417: inner"
        );
        assert_eq!(
            decoded.message(&r(417, &[], r#"{"message": "outer"}"#)),
            "HTTP 417: outer",
            "the pointers when the decoder finds nothing"
        );
        let own = ErrorMap::new().message_at("/fault/faultstring");
        assert_eq!(
            own.check(r(
                400,
                &[],
                r#"{"message": "generic", "fault": {"faultstring": "specific"}}"#
            ))
            .unwrap_err(),
            Error::Fatal("HTTP 400: specific".into())
        );
    }
}
