//! Posting a query and reading Azure's answer: the URL, the host's bearer
//! token, Azure Resource Manager's error shape
//! (`{"error": {"code", "message"}}`) as the error kind it means, and
//! Cost Management's throttling headers as the wait it asks for.

use wharf_sdk::prelude::*;
use wharf_sdk::rest::ErrorMap;

use crate::{Config, scope};

/// `POST {base}{scope}/providers/Microsoft.CostManagement/query?api-version=…`.
pub fn query_url(config: &Config) -> Result<String> {
    Ok(format!(
        "{}{}/providers/Microsoft.CostManagement/query?api-version={}",
        config.base(),
        scope::path(&config.scope)?,
        config.api_version
    ))
}

/// A `nextLink` to post to: only on the API's own origin, so an answer
/// cannot send the token elsewhere (the host would refuse an ungranted
/// host anyway; this says why).
pub fn next_link(config: &Config, link: &str) -> Result<String> {
    let same = origin(link)
        .zip(origin(config.base()))
        .is_some_and(|(a, b)| a.eq_ignore_ascii_case(b));
    if !same {
        return Err(Error::Fatal(format!(
            "Cost Management's nextLink leaves {}: {link}",
            config.base()
        )));
    }
    Ok(link.to_string())
}

/// `scheme://authority` of a URL.
fn origin(url: &str) -> Option<&str> {
    let rest = url.find("://")? + 3;
    let end = url[rest..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| rest + i);
    (end > rest).then(|| &url[..end])
}

/// What a query came back as.
pub enum Answer {
    /// The result: `{"properties": {"columns", "rows", "nextLink"}}`.
    Table(Value),
    /// A `nextLink` Azure no longer takes (400 or 404 on a following page):
    /// the window is read again from its first page.
    StaleLink(String),
}

/// Post `body` to `url` with the host's token. `following`: the URL is a
/// `nextLink`.
pub fn post(url: &str, body: &Value, following: bool) -> Result<Answer> {
    let request = Request::post(url)
        .oauth_bearer()
        .header("Accept", "application/json")
        // Escapes `{{` in filter values: config text is data, never a
        // placeholder.
        .json_data(body)?;
    // Not `send`: Cost Management says how long to wait in headers of
    // its own, which only the answer shows.
    let response = request.send_once()?;
    match response.status {
        // "No Content. Resource is not available": nothing for the scope.
        204 => Ok(Answer::Table(
            json!({"properties": {"columns": [], "rows": []}}),
        )),
        200..=299 => {
            note_quota(&response);
            Ok(Answer::Table(response.json()?))
        }
        400 | 404 if following => Ok(Answer::StaleLink(errors().message(&response))),
        _ => Err(error(response)),
    }
}

/// 401: the token expired or was refused (the host renews it and calls
/// again); 403: the app lacks a role on the scope; 400 (a query Azure
/// refuses: an unknown dimension or column) and 404 (no such scope): the
/// config is wrong; 429 and a 503 with a wait: rate limited.
fn errors() -> ErrorMap {
    ErrorMap::new()
        .renewable(true)
        .config_on(400)
        .config_on(404)
        .decoder(message)
}

/// The error an answer means, in Azure's words.
pub fn error(response: Response) -> Error {
    let wait = retry_after(&response);
    if response.status == 429 || (response.status == 503 && wait.is_some()) {
        return Error::RateLimited(wait.unwrap_or(60));
    }
    let status = response.status;
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    match errors().check(response) {
        // A token from another directory: `tenant_id` is not the scope's.
        Err(Error::AuthExpired(m)) if code == "InvalidAuthenticationTokenTenant" => {
            Error::Config(format!("{m} (set tenant_id to the scope's directory)"))
        }
        Err(Error::Auth(m)) if status == 403 => Error::Auth(format!(
            "{m} (give the app the Cost Management Reader role on the scope)"
        )),
        Err(Error::Config(m)) if status == 404 => Error::Config(format!("{m} (check `scope`)")),
        Err(e) => e,
        Ok(r) => Error::Fatal(format!("unexpected HTTP {}", r.status)),
    }
}

/// Azure's error body: `code: message`.
fn message(body: &Value) -> Option<String> {
    let e = &body["error"];
    match (e["code"].as_str(), e["message"].as_str()) {
        (Some(c), Some(m)) => Some(format!("{c}: {}", m.trim())),
        (None, Some(m)) => Some(m.trim().to_string()),
        (Some(c), None) => Some(c.to_string()),
        (None, None) => None,
    }
}

/// The longest wait a throttled answer asks for, in seconds: Cost
/// Management names one per quota that ran out
/// (`x-ms-ratelimit-microsoft.costmanagement-{qpu,entity,tenant,clienttype}-retry-after`,
/// `x-ms-ratelimit-microsoft.consumption-retry-after`), ARM and the 503s
/// `Retry-After`. Waiting for a shorter one only earns another 429.
pub fn retry_after(response: &Response) -> Option<u32> {
    let mut longest: Option<u32> = None;
    for (name, value) in &response.headers {
        let name = name.to_ascii_lowercase();
        let ours = name.starts_with("x-ms-ratelimit-") && name.ends_with("-retry-after");
        if !ours {
            continue;
        }
        if let Ok(secs) = value.trim().parse::<f64>()
            && secs.is_finite()
            && secs >= 0.0
        {
            let secs = secs.ceil().min(3600.0) as u32;
            longest = Some(longest.map_or(secs, |l| l.max(secs)));
        }
    }
    if let Some(secs) = response.retry_after() {
        longest = Some(longest.map_or(secs, |l| l.max(secs)));
    }
    longest.map(|s| s.clamp(1, 3600))
}

/// Say when a query processing unit quota is spent
/// (`x-ms-ratelimit-microsoft.costmanagement-qpu-remaining:
/// QueriesPerHour:577,QueriesPerMin:0`): the next query will wait.
fn note_quota(response: &Response) {
    let Some(remaining) = response.header("x-ms-ratelimit-microsoft.costmanagement-qpu-remaining")
    else {
        return;
    };
    let spent: Vec<&str> = remaining
        .split(',')
        .filter_map(|q| q.split_once(':'))
        .filter(|(_, n)| n.trim().parse::<f64>().is_ok_and(|n| n <= 0.0))
        .map(|(name, _)| name.trim())
        .collect();
    if !spent.is_empty() {
        wharf_sdk::log::warn(format!(
            "Cost Management query quota spent for the tenant: {}; the next query waits",
            spent.join(", ")
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        let headers = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Response::new(status, headers, body.as_bytes().to_vec())
    }

    #[test]
    fn the_longest_throttling_wait_wins() {
        let throttled = r(
            429,
            &[
                (
                    "x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after",
                    "1",
                ),
                (
                    "x-ms-ratelimit-microsoft.costmanagement-entity-retry-after",
                    "3",
                ),
                (
                    "x-ms-ratelimit-microsoft.costmanagement-tenant-retry-after",
                    "2.5",
                ),
                (
                    "x-ms-ratelimit-remaining-microsoft.costmanagement-entity-requests",
                    "DefaultQuota:0",
                ),
                (
                    "x-ms-ratelimit-microsoft.costmanagement-qpu-remaining",
                    "QueriesPerHour:577,QueriesPerMin:0",
                ),
            ],
            r#"{"error":{"code":"429","message":"Too many requests. Please retry."}}"#,
        );
        assert_eq!(error(throttled), Error::RateLimited(3));
        let arm = r(429, &[("Retry-After", "17")], "");
        assert_eq!(error(arm), Error::RateLimited(17));
        assert_eq!(error(r(429, &[], "")), Error::RateLimited(60));
        assert_eq!(
            error(r(503, &[("Retry-After", "5")], "")),
            Error::RateLimited(5)
        );
        assert!(matches!(error(r(503, &[], "")), Error::Transient(_)));
    }

    #[test]
    fn azure_errors_in_azure_words() {
        let grouping = r#"{"error":{"code":"BadRequest","message":"Invalid query definition: Invalid dataset grouping: 'owner'"}}"#;
        assert_eq!(
            error(r(400, &[], grouping)),
            Error::Config(
                "HTTP 400: BadRequest: Invalid query definition: Invalid dataset grouping: 'owner'"
                    .into()
            )
        );
        let expired = r#"{"error":{"code":"ExpiredAuthenticationToken","message":"The access token expiry UTC time is earlier than current UTC time."}}"#;
        assert!(matches!(error(r(401, &[], expired)), Error::AuthExpired(_)));
        let tenant = r#"{"error":{"code":"InvalidAuthenticationTokenTenant","message":"The access token is from the wrong issuer."}}"#;
        assert!(matches!(error(r(401, &[], tenant)), Error::Config(m) if m.contains("tenant_id")));
        let denied = r#"{"error":{"code":"AuthorizationFailed","message":"The client 'x' does not have authorization to perform action 'Microsoft.CostManagement/query/action'."}}"#;
        assert!(
            matches!(error(r(403, &[], denied)), Error::Auth(m) if m.contains("Cost Management Reader"))
        );
        let missing = r#"{"error":{"code":"SubscriptionNotFound","message":"The subscription 's' could not be found."}}"#;
        assert!(
            matches!(error(r(404, &[], missing)), Error::Config(m) if m.contains("check `scope`"))
        );
        assert!(matches!(error(r(500, &[], "")), Error::Transient(_)));
    }

    #[test]
    fn next_links_stay_on_the_api() {
        let config: Config =
            serde_json::from_value(json!({"tenant_id": "t", "scope": "/subscriptions/s",
            "base_url": "http://127.0.0.1:8080/"}))
            .unwrap();
        let link = "http://127.0.0.1:8080/subscriptions/s/providers/Microsoft.CostManagement/Query?api-version=2023-11-01&$skiptoken=AQAAAA%3D%3D";
        assert_eq!(next_link(&config, link).unwrap(), link);
        assert!(next_link(&config, "http://127.0.0.1:8081/x").is_err());
        assert!(next_link(&config, "http://127.0.0.1:8080.evil.net/x").is_err());
        assert!(next_link(&config, "/relative").is_err());
        assert_eq!(
            query_url(&config).unwrap(),
            "http://127.0.0.1:8080/subscriptions/s/providers/Microsoft.CostManagement/query?api-version=2023-11-01"
        );
    }
}
