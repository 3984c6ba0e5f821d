//! Requests to the Accounting API: the headers every call carries, and
//! Xero's errors in its own words.

use wharf_sdk::prelude::*;
use wharf_sdk::rest::ErrorMap;

use crate::Config;

/// `GET {base}/api.xro/2.0/{path}`, asking for JSON (Xero's default is
/// XML) with the host's OAuth2 token.
pub fn get(config: &Config, path: &str) -> Request {
    Request::get(format!("{}/api.xro/2.0/{path}", config.base()))
        .header("Accept", "application/json")
        .oauth_bearer()
}

/// Send `request` for the organisation `tenant`; an error answer as the
/// error it means.
pub fn send(_config: &Config, tenant: &str, request: Request) -> Result<Response> {
    errors().check(request.header("Xero-Tenant-Id", tenant).send()?)
}

/// A 401 is an expired token (the host refreshes it and calls again); a
/// 403 means the organisation disconnected the app or the tenant id is
/// not one the consent covers.
pub fn errors() -> ErrorMap {
    ErrorMap::new().renewable(true).decoder(message)
}

/// Xero's error bodies: a `ValidationException` with the messages of each
/// element, the `Title`/`Detail` problem form, or OAuth's `error`.
fn message(body: &Value) -> Option<String> {
    if let Some(elements) = body["Elements"].as_array() {
        let details: Vec<&str> = elements
            .iter()
            .flat_map(|e| e["ValidationErrors"].as_array().into_iter().flatten())
            .filter_map(|v| v["Message"].as_str())
            .collect();
        let head = body["Message"].as_str().unwrap_or("validation failed");
        return Some(if details.is_empty() {
            head.to_string()
        } else {
            format!("{head}: {}", details.join("; "))
        });
    }
    match (body["Title"].as_str(), body["Detail"].as_str()) {
        (Some(t), Some(d)) => Some(format!("{t}: {d}")),
        (Some(t), None) => Some(t.to_string()),
        (None, Some(d)) => Some(d.to_string()),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xero_messages() {
        let validation = json!({"ErrorNumber": 10, "Type": "ValidationException", "Message": "A validation exception occurred",
            "Elements": [{"ValidationErrors": [{"Message": "Please enter a unique Name."}]}]});
        assert_eq!(
            message(&validation).unwrap(),
            "A validation exception occurred: Please enter a unique Name."
        );
        assert_eq!(
            message(&json!({"Title": "Forbidden", "Detail": "AuthenticationUnsuccessful", "Status": 403})).unwrap(),
            "Forbidden: AuthenticationUnsuccessful"
        );
        assert_eq!(message(&json!({"error": "invalid_grant"})), None);
    }
}
