//! Requests to Autodesk Platform Services and what their answers mean:
//! the host's OAuth2 token on every API call, JSON:API paging links,
//! APS's two error shapes, and APS's timestamps.

use wharf_sdk::http::encode;
use wharf_sdk::prelude::*;
use wharf_sdk::rest::ErrorMap;

use crate::Config;

/// `GET {base}{path}` on the Data Management API, which answers JSON:API.
pub fn dm(config: &Config, path: &str) -> Request {
    Request::get(format!("{}{path}", config.base()))
        .header("Accept", "application/vnd.api+json")
        .oauth_bearer()
}

/// `GET {base}{path}` on an API that answers plain JSON (OSS, Issues).
pub fn json(config: &Config, path: &str) -> Request {
    Request::get(format!("{}{path}", config.base()))
        .header("Accept", "application/json")
        .oauth_bearer()
}

/// A path segment: APS ids are URNs (`urn:adsk.wipprod:fs.file:vf.x?version=2`)
/// whose `:` and `?` must not reach the path as they are.
pub fn seg(id: &str) -> String {
    encode(id)
}

/// Send and check.
pub fn send(request: Request) -> Result<Response> {
    errors().check(request.send()?)
}

/// Send a request for one folder, item or project's listing. A `403`
/// (the user may not see that folder, or has no access to the project's
/// issues) or `404` (deleted since it was listed) skips that one with a
/// warning instead of failing the run: BIM 360 permissions are per folder,
/// and one locked folder must not stop a project's sync.
pub fn send_or_skip(request: Request, what: &str) -> Result<Option<Response>> {
    let response = request.send()?;
    if matches!(response.status, 403 | 404) {
        wharf_sdk::log::warn(format!("{what} skipped: {}", errors().message(&response)));
        return Ok(None);
    }
    errors().check(response).map(Some)
}

/// A `401` is a token that expired or was revoked (the host renews it and
/// calls again); `403` a refusal; `429` waits for `Retry-After`.
pub fn errors() -> ErrorMap {
    ErrorMap::new().renewable(true).decoder(message)
}

/// APS's error bodies: the Data Management API's JSON:API `errors[]`
/// (`status`, `code`, `title`, `detail`), and the gateway's and OSS's
/// `{"developerMessage", "errorCode", "more info"}`. The Issues API's
/// `title`/`detail` are found by the common pointers.
fn message(body: &Value) -> Option<String> {
    if let Some(first) = body["errors"].as_array().and_then(|e| e.first()) {
        let text = match (first["title"].as_str(), first["detail"].as_str()) {
            (Some(t), Some(d)) if t != d => format!("{t}: {d}"),
            (Some(t), _) => t.to_string(),
            (None, Some(d)) => d.to_string(),
            (None, None) => first.to_string(),
        };
        return Some(match first["code"].as_str() {
            Some(code) => format!("{text} ({code})"),
            None => text,
        });
    }
    let developer = body["developerMessage"].as_str()?;
    Some(match body["errorCode"].as_str().or(body["code"].as_str()) {
        Some(code) => format!("{developer} ({code})"),
        None => developer.to_string(),
    })
}

/// The next page a JSON:API answer names in `links.next.href`, as a path
/// and query on the configured API. APS writes these links absolute
/// (`https://developer.api.autodesk.com/project/v1/…`), rooted
/// (`/data/v1/…`) or relative (`project/v1/…`); only the path and query are
/// kept, so the next page goes where this one went (a configured base URL
/// included) and never to a host an answer names.
pub fn next_page(body: &Value) -> Option<String> {
    let href = body.pointer("/links/next/href")?.as_str()?.trim();
    if href.is_empty() {
        return None;
    }
    let path = match href.find("://") {
        Some(i) => {
            let rest = &href[i + 3..];
            &rest[rest.find('/').unwrap_or(rest.len())..]
        }
        None => href,
    };
    let path = path.trim_start_matches('/');
    (!path.is_empty()).then(|| format!("/{path}"))
}

/// The warnings a hubs listing carries in `meta.warnings`: APS lists the
/// hubs it could read and names the regions it could not (`Unable to get
/// hubs from BIM360DM EMEA.`, when the app is not a custom integration of
/// that BIM 360 / ACC account).
pub fn warnings(body: &Value) -> Vec<String> {
    let field = |w: &Value, k: &str| {
        let lower = k.to_ascii_lowercase();
        w[k].as_str()
            .or(w[lower.as_str()].as_str())
            .map(str::to_string)
    };
    body.pointer("/meta/warnings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|w| {
            let parts: Vec<String> = ["Title", "Detail"]
                .iter()
                .filter_map(|k| field(w, k))
                .collect();
            if parts.is_empty() {
                w.to_string()
            } else {
                parts.join(" ")
            }
        })
        .collect()
}

/// Unix milliseconds of an APS time: `2015-11-27T11:11:27.000Z` or
/// `2016-10-15T13:11:36.0000000Z` (UTC, up to seven fraction digits).
pub fn ms_of(text: &str) -> Option<i64> {
    let secs = wharf_sdk::time::from_rfc3339_utc(text.trim())?;
    let fraction = text
        .split_once('.')
        .map_or("", |(_, f)| f.trim_end_matches('Z'));
    let digits: String = fraction
        .chars()
        .take_while(char::is_ascii_digit)
        .take(3)
        .collect();
    let millis: i64 = if digits.is_empty() {
        0
    } else {
        format!("{digits:0<3}").parse().ok()?
    };
    Some(secs * 1000 + millis)
}

/// The milliseconds of a field holding an APS time, if it has one.
pub fn ms_at(value: &Value, pointer: &str) -> Option<i64> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .and_then(ms_of)
}

/// An APS time of Unix milliseconds: `2024-05-02T11:40:00.125Z`, the form
/// the Issues API's date filters take.
pub fn iso_ms(ms: i64) -> String {
    let mut text = wharf_sdk::time::rfc3339(ms.div_euclid(1000));
    text.insert_str(text.len() - 1, &format!(".{:03}", ms.rem_euclid(1000)));
    text
}

/// A project id for the Construction (ACC) APIs: the Data Management id
/// without its `b.` prefix (`b.c8b0c73d-3ae9` → `c8b0c73d-3ae9`), as
/// APS documents the translation between the two.
pub fn acc_id(dm_id: &str) -> &str {
    dm_id.strip_prefix("b.").unwrap_or(dm_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aps_messages() {
        let jsonapi = json!({"jsonapi": {"version": "1.0"}, "errors": [{"id": "6ffd", "status": "400",
            "code": "BAD_INPUT", "title": "One or more input values in the request were bad",
            "detail": "The limit value is invalid."}]});
        assert_eq!(
            message(&jsonapi).unwrap(),
            "One or more input values in the request were bad: The limit value is invalid. (BAD_INPUT)"
        );
        let gateway =
            json!({"developerMessage": "The access token is invalid.", "errorCode": "Auth-006"});
        assert_eq!(
            message(&gateway).unwrap(),
            "The access token is invalid. (Auth-006)"
        );
        assert_eq!(message(&json!({"detail": "x"})), None);
    }

    #[test]
    fn next_pages_in_every_form_aps_writes() {
        let body = |href: &str| json!({"links": {"next": {"href": href}}});
        for href in [
            "https://developer.api.autodesk.com/project/v1/hubs/b.1/projects?page%5Bnumber%5D=1",
            "/project/v1/hubs/b.1/projects?page%5Bnumber%5D=1",
            "project/v1/hubs/b.1/projects?page%5Bnumber%5D=1",
        ] {
            assert_eq!(
                next_page(&body(href)).as_deref(),
                Some("/project/v1/hubs/b.1/projects?page%5Bnumber%5D=1"),
                "{href}"
            );
        }
        assert_eq!(next_page(&json!({"links": {"self": {"href": "/x"}}})), None);
        assert_eq!(next_page(&body("")), None);
    }

    #[test]
    fn aps_times() {
        assert_eq!(ms_of("2015-11-27T11:11:27.000Z"), Some(1_448_622_687_000));
        assert_eq!(
            ms_of("2016-10-15T13:11:36.1234567Z"),
            Some(1_476_537_096_123)
        );
        assert_eq!(ms_of("2016-10-15T13:11:36Z"), Some(1_476_537_096_000));
        assert_eq!(ms_of("2016-10-15T13:11:36.5Z"), Some(1_476_537_096_500));
        assert_eq!(ms_of("yesterday"), None);
        assert_eq!(iso_ms(1_476_537_096_123), "2016-10-15T13:11:36.123Z");
        assert_eq!(acc_id("b.c8b0c73d-3ae9"), "c8b0c73d-3ae9");
        assert_eq!(acc_id("c8b0c73d-3ae9"), "c8b0c73d-3ae9");
    }
}
