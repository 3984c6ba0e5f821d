//! Requests to the Accounting API v3.1: the headers every call carries,
//! Sage's list envelope, and Sage's errors in its own words.

use wharf_sdk::prelude::*;
use wharf_sdk::rest::ErrorMap;

use crate::Config;

/// Where v3.1 lives below the API origin.
const VERSION: &str = "/v3.1";

/// `GET {base}/v3.1{path}`, asking for JSON, with the host's OAuth2 token.
pub fn get(config: &Config, path: &str) -> Request {
    Request::get(format!("{}{VERSION}{path}", config.base()))
        .header("Accept", "application/json")
        .oauth_bearer()
}

/// Send `request` for the business `business`; an error answer as the
/// error it means. Sage names the business that answered in its own
/// `X-Business` header: an answer for another one (Sage routing to the
/// user's lead business) would mix two sets of books, so it is refused.
pub fn send(business: &str, request: Request) -> Result<Response> {
    let response = errors().check(request.header("X-Business", business).send()?)?;
    if let Some(answered) = response.header("x-business").map(str::trim)
        && !answered.is_empty()
        && !answered.eq_ignore_ascii_case(business)
    {
        return Err(Error::Fatal(format!(
            "Sage answered for the business {answered}, not {business}; the request was routed elsewhere"
        )));
    }
    Ok(response)
}

/// What Sage's statuses mean. A 401 reaches the connector only after the
/// host has refreshed the token and sent the request again, so it is a
/// refusal (no active subscription, access to the business withdrawn),
/// not an expiry; asking for another refresh would only spend a refresh
/// token. A 404 on a list is the wrong API URL or an endpoint this
/// business's product (Start, Standard, Plus) or country does not offer.
pub fn errors() -> ErrorMap {
    ErrorMap::new().decoder(message).config_on(404)
}

/// Sage's error body: an array of `{"$severity", "$dataCode", "$message",
/// "$source"}` (one object in some answers), as `dataCode: message
/// (source)` joined by `; `.
pub fn message(body: &Value) -> Option<String> {
    let items: Vec<&Value> = match body {
        Value::Array(items) => items.iter().collect(),
        Value::Object(o) if o.contains_key("$message") || o.contains_key("$dataCode") => {
            vec![body]
        }
        _ => return None,
    };
    let parts: Vec<String> = items
        .iter()
        .filter_map(|e| {
            let text = |k: &str| e[k].as_str().map(str::trim).filter(|s| !s.is_empty());
            let (code, message) = (text("$dataCode"), text("$message"));
            let head = match (code, message) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(t), None) | (None, Some(t)) => t.to_string(),
                (None, None) => return None,
            };
            Some(match text("$source") {
                Some(source) => format!("{head} ({source})"),
                None => head,
            })
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// One page of a list: its items, and whether another follows.
pub struct Listed {
    pub items: Vec<Value>,
    pub more: bool,
}

/// Sage's list envelope (`$total`, `$page`, `$next`, `$back`,
/// `$itemsPerPage`, `$items`) for the page `page` of `per_page`.
pub fn listed(mut body: Value, page: u32, per_page: u32) -> Result<Listed> {
    let items = match body.get_mut("$items").map(Value::take) {
        Some(Value::Array(items)) => items,
        Some(Value::Null) | None if body.get("$total").is_some() => Vec::new(),
        _ => {
            return Err(Error::Fatal(
                "Sage's answer is not a list (no `$items`)".into(),
            ));
        }
    };
    // Sage answers a page past the end with the last page again: those
    // records were read already, and the list is over.
    if body["$page"].as_u64().is_some_and(|p| p < u64::from(page)) {
        return Ok(Listed {
            items: Vec::new(),
            more: false,
        });
    }
    let more = match body.get("$next") {
        Some(Value::String(next)) => !next.is_empty() && !items.is_empty(),
        Some(_) => false,
        // No link at all: a full page may have a next one, unless `$total`
        // says this was the last.
        None => {
            let seen = u64::from(page) * u64::from(per_page);
            items.len() >= per_page as usize && body["$total"].as_u64().is_none_or(|t| seen < t)
        }
    };
    Ok(Listed { items, more })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sage_messages() {
        let invalid = json!([{"$severity": "error", "$dataCode": "RecordInvalid",
            "$message": "Date can't be blank", "$source": "date"}]);
        assert_eq!(
            message(&invalid).unwrap(),
            "RecordInvalid: Date can't be blank (date)"
        );
        let subscription = json!([{"$severity": "error", "$dataCode": "AuthorizationFailure",
            "$message": "No active subscription. (MSE)", "$source": ""}]);
        assert_eq!(
            message(&subscription).unwrap(),
            "AuthorizationFailure: No active subscription. (MSE)"
        );
        let two = json!([{"$dataCode": "A", "$message": "one"}, {"$message": "two"}]);
        assert_eq!(message(&two).unwrap(), "A: one; two");
        assert_eq!(message(&json!({"error": "invalid_grant"})), None);
        assert_eq!(message(&json!([])), None);
    }

    #[test]
    fn pages_end_where_next_does() {
        let page = |v: Value, p, n| listed(v, p, n).unwrap();
        let first = page(
            json!({"$total": 3, "$page": 1, "$next": "/ledger_accounts?page=2&items_per_page=2",
                "$back": null, "$itemsPerPage": 2, "$items": [{"id": "a"}, {"id": "b"}]}),
            1,
            2,
        );
        assert_eq!((first.items.len(), first.more), (2, true));
        let last = page(
            json!({"$total": 3, "$page": 2, "$next": null, "$items": [{"id": "c"}]}),
            2,
            2,
        );
        assert_eq!((last.items.len(), last.more), (1, false));
        // Past the end, Sage repeats the last page.
        let past = page(
            json!({"$total": 3, "$page": 2, "$next": null, "$items": [{"id": "c"}]}),
            3,
            2,
        );
        assert_eq!((past.items.len(), past.more), (0, false));
        let unlinked = page(
            json!({"$total": 4, "$items": [{"id": "a"}, {"id": "b"}]}),
            1,
            2,
        );
        assert!(unlinked.more);
        let empty = page(json!({"$total": 0, "$items": []}), 1, 20);
        assert!(!empty.more);
        assert!(listed(json!([{"id": "x"}]), 1, 20).is_err());
    }
}
