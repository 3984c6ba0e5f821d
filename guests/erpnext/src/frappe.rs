//! The Frappe REST API's conventions (`docs/vendors/frappe.md`): how a
//! request is authenticated, where a document lives, and what an error
//! body says.
//!
//! Frappe's error bodies carry the user-facing message in
//! `_server_messages`: JSON text holding an array of JSON texts, each an
//! object with `message` (which may hold HTML). `exception` (the last
//! traceback line) is only there when tracebacks are enabled for the
//! caller; `exc_type` always is.

use wharf_sdk::http::{Request, encode};
use wharf_sdk::rest::{Auth, ErrorMap};
use wharf_sdk::{Secret, Value};

pub const API_KEY: Secret = Secret::new("api_key");
pub const API_SECRET: Secret = Secret::new("api_secret");

/// `Authorization: token <api_key>:<api_secret>`, filled in by the host.
pub fn auth() -> Auth {
    Auth::Header {
        name: "Authorization".into(),
        value: format!("token {API_KEY}:{API_SECRET}"),
    }
}

/// A request to the site, authenticated, asking for JSON (Frappe answers
/// errors with HTML pages to clients that do not).
pub fn request(method: &str, url: String) -> Request {
    auth().apply(Request::new(method, url).header("Accept", "application/json"))
}

/// `/api/resource/{doctype}[/{name}]`, each segment encoded (a name may
/// hold `/` or spaces).
pub fn resource_url(base: &str, doctype: &str, name: Option<&str>) -> String {
    let mut url = format!(
        "{}/api/resource/{}",
        base.trim_end_matches('/'),
        encode(doctype)
    );
    if let Some(name) = name {
        url.push('/');
        url.push_str(&encode(name));
    }
    url
}

/// Frappe's statuses: 401 a wrong key, 403 no permission, 404 an unknown
/// doctype (the config names it), 417 a validation error, 429 the site's
/// rate limiter, with the message from the body.
pub fn errors() -> ErrorMap {
    ErrorMap::new().decoder(message).config_on(404)
}

/// The message of a Frappe error body: the server messages, else the
/// exception line, else the exception type.
pub fn message(body: &Value) -> Option<String> {
    let from_messages = body
        .get("_server_messages")
        .and_then(Value::as_str)
        .and_then(|text| serde_json::from_str::<Vec<String>>(text).ok())
        .map(|items| {
            items
                .iter()
                .filter_map(|item| {
                    let inner: Value = serde_json::from_str(item).ok()?;
                    inner.get("message").and_then(Value::as_str).map(strip_tags)
                })
                .filter(|m| !m.is_empty())
                .collect::<Vec<_>>()
                .join("; ")
        })
        .filter(|m| !m.is_empty());
    from_messages
        .or_else(|| text_at(body, "exception"))
        .or_else(|| text_at(body, "exc_type"))
}

fn text_at(body: &Value, field: &str) -> Option<String> {
    body.get(field)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Messages are HTML fragments (`<strong>Customer</strong>`): keep the text.
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_sdk::json;

    #[test]
    fn server_messages_are_json_inside_json() {
        let body = json!({
            "exc_type": "MandatoryError",
            "_server_messages": "[\"{\\\"message\\\": \\\"Error: Value missing for <strong>ToDo</strong>: Description\\\", \\\"title\\\": \\\"Message\\\"}\"]"
        });
        assert_eq!(
            message(&body).as_deref(),
            Some("Error: Value missing for ToDo: Description")
        );
        assert_eq!(
            message(&json!({"exc_type": "AuthenticationError"})).as_deref(),
            Some("AuthenticationError")
        );
        assert_eq!(
            message(&json!({"exception": "frappe.exceptions.LinkValidationError: Could not find Territory: Mars", "exc_type": "LinkValidationError"})).as_deref(),
            Some("frappe.exceptions.LinkValidationError: Could not find Territory: Mars")
        );
        assert_eq!(message(&json!({"data": []})), None);
    }

    #[test]
    fn names_are_path_segments() {
        assert_eq!(
            resource_url(
                "https://erp.test/",
                "Sales Invoice",
                Some("ACC-SINV/2024 1")
            ),
            "https://erp.test/api/resource/Sales%20Invoice/ACC-SINV%2F2024%201"
        );
    }
}
