//! Requests to the Service Layer and its answers: the service root
//! (`{base_url}/b1s/v2`), the session cookies the host fills in, the next
//! page of a collection, and SAP's errors in SAP's words.
//!
//! SAP's error body is `{"error": {"code": …, "message": …}}`: under
//! OData v3 (`/b1s/v1`) the code is a number and the message an object
//! `{"lang": "en-us", "value": "…"}`; under OData v4 (`/b1s/v2`) the code is
//! text and the message a string, sometimes with `details`. A 401 is an
//! ended session (`301`, "Invalid session or session already timeout."):
//! the host logs in again and sends the request once more before the
//! connector sees it.

use wharf_sdk::prelude::*;
use wharf_sdk::rest::ErrorMap;

use crate::Config;

/// `GET url` with the session's cookies, asking for JSON.
pub fn get(url: &str) -> Request {
    session(Request::get(url))
}

/// The session cookies (`B1SESSION`, `ROUTEID`) the host keeps, and JSON.
pub fn session(request: Request) -> Request {
    request
        .header("Accept", "application/json")
        .header("Cookie", "{{session:token}}")
}

/// A collection request: `Prefer: odata.maxpagesize=N`, which the Service
/// Layer answers with that many entities and a next link (20 without it).
pub fn page(url: &str, config: &Config) -> Request {
    get(url).header(
        "Prefer",
        format!("odata.maxpagesize={}", config.page_size.clamp(1, 5000)),
    )
}

/// Send a read; an error answer as the error it means. A 404 names an
/// entity set this Service Layer does not have: the config must change.
pub fn read(request: Request) -> Result<Response> {
    errors().config_on(404).check(request.send()?)
}

/// A 401 that reaches the connector (the host's new session was refused
/// too) renews once more; 5xx are retried; the message is SAP's.
pub fn errors() -> ErrorMap {
    ErrorMap::new().renewable(true).decoder(message)
}

/// SAP's message, with its code: both error shapes, and the `details` of
/// the v4 one when they say more.
pub fn message(body: &Value) -> Option<String> {
    let error = body.get("error")?;
    let text = match error.get("message")? {
        Value::String(s) => s.trim().to_string(),
        Value::Object(m) => m.get("value")?.as_str()?.trim().to_string(),
        _ => return None,
    };
    let details: Vec<&str> = error
        .get("details")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|d| d.get("message").and_then(Value::as_str))
        .map(str::trim)
        .filter(|m| !m.is_empty() && *m != text)
        .collect();
    let mut out = text;
    if !details.is_empty() {
        out = format!("{out} ({})", details.join("; "));
    }
    match error.get("code").and_then(wharf_sdk::scalar_text) {
        Some(code) if !code.is_empty() => Some(format!("{out} [SAP {code}]")),
        _ => Some(out),
    }
}

/// The field SAP names in a message, as `[RDR1.ItemCode]` (table and
/// column), if any.
pub fn field_of(message: &str) -> Option<String> {
    let mut rest = message;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let close = after.find(']')?;
        let inside = &after[..close];
        if let Some((table, column)) = inside.split_once('.')
            && !table.is_empty()
            && !column.is_empty()
            && inside
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_')
        {
            return Some(inside.to_string());
        }
        rest = &after[close..];
    }
    None
}

/// The next page of an answer: the next link (`Items?$skip=20`, relative
/// to the service root) resolved against the request's URL. A link to
/// another origin is refused: the session's cookies go nowhere else.
pub fn next_url(config: &Config, request_url: &str, response: &Response) -> Result<Option<String>> {
    let Some(link) = response.odata_next_link().filter(|l| !l.is_empty()) else {
        return Ok(None);
    };
    let url = wharf_sdk::rest::resolve(request_url, &link).replace(' ', "%20");
    let root = config.root();
    let origin = origin(&root);
    if url.starts_with(&format!("{origin}/")) {
        Ok(Some(url))
    } else {
        Err(Error::Fatal(format!(
            "the Service Layer's next link `{link}` leaves {origin}; not followed"
        )))
    }
}

/// `scheme://host:port` of a URL.
fn origin(url: &str) -> &str {
    let start = url.find("://").map_or(0, |i| i + 3);
    url[start..].find('/').map_or(url, |i| &url[..start + i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_error_shapes() {
        let v1 = json!({"error": {"code": 301, "message": {"lang": "en-us", "value": "Invalid session or session already timeout."}}});
        assert_eq!(
            message(&v1).unwrap(),
            "Invalid session or session already timeout. [SAP 301]"
        );
        let v2 = json!({"error": {"code": "-2028", "details": [{"code": "", "message": ""}],
            "message": "No matching records found (ODBC -2028)"}});
        assert_eq!(
            message(&v2).unwrap(),
            "No matching records found (ODBC -2028) [SAP -2028]"
        );
        let more = json!({"error": {"code": "-10", "message": "Update failed", "details": [{"code": "", "message": "Quantity falls into negative inventory"}]}});
        assert_eq!(
            message(&more).unwrap(),
            "Update failed (Quantity falls into negative inventory) [SAP -10]"
        );
        assert_eq!(message(&json!({"value": []})), None);
        assert_eq!(
            field_of("Enter valid code [RDR1.ItemCode][line: 1] , 'A9'").as_deref(),
            Some("RDR1.ItemCode")
        );
        assert_eq!(field_of("[line: 1] no field"), None);
        assert_eq!(
            origin("https://sap.test:50000/b1s/v2"),
            "https://sap.test:50000"
        );
    }
}
