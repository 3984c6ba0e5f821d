//! GraphQL Admin API calls, with Shopify's cost-based throttling: every
//! answer reports the bucket (`extensions.cost.throttleStatus`); a query
//! the bucket cannot pay for is refused with `THROTTLED` (HTTP 200, or 429
//! on some versions), and the wait is what is missing divided by the
//! restore rate.

use wharf_sdk::prelude::*;

use crate::Config;
use crate::rest::errors;

/// Run `query` with `variables`; its `data`.
pub fn call(config: &Config, query: &str, variables: Value) -> Result<Value> {
    let request = Request::post(config.admin_url("graphql.json"))
        .header("X-Shopify-Access-Token", "{{oauth:access_token}}")
        .header("Accept", "application/json")
        .json(&json!({"query": query, "variables": variables}))?;
    let response = request.send();
    let response = match response {
        Err(Error::RateLimited(s)) => return Err(Error::RateLimited(s)),
        other => other?,
    };
    let body: Value = if response.status == 429 {
        serde_json::from_slice(&response.body).unwrap_or(Value::Null)
    } else {
        errors().check(response)?.json()?
    };
    if let Some(wait) = throttled(&body) {
        return Err(Error::RateLimited(wait));
    }
    if let Some(first) = body["errors"].as_array().and_then(|e| e.first()) {
        let code = first["extensions"]["code"].as_str().unwrap_or("");
        let message = first["message"].as_str().unwrap_or("GraphQL error");
        return Err(match code {
            "ACCESS_DENIED" => Error::Auth(format!("{code}: {message}")),
            "INTERNAL_SERVER_ERROR" => Error::Transient(format!("{code}: {message}")),
            _ => Error::Fatal(format!("GraphQL: {message}")),
        });
    }
    Ok(body["data"].clone())
}

/// Seconds until the bucket holds what the refused query asked for.
pub fn throttled(body: &Value) -> Option<u32> {
    let is = body["errors"]
        .as_array()?
        .iter()
        .any(|e| e["extensions"]["code"] == "THROTTLED");
    if !is {
        return None;
    }
    let cost = &body["extensions"]["cost"];
    let requested = cost["requestedQueryCost"].as_f64().unwrap_or(0.0);
    let status = &cost["throttleStatus"];
    let available = status["currentlyAvailable"].as_f64().unwrap_or(0.0);
    let rate = status["restoreRate"]
        .as_f64()
        .filter(|r| *r > 0.0)
        .unwrap_or(50.0);
    Some((((requested - available) / rate).ceil()).clamp(1.0, 60.0) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_is_what_is_missing_over_the_restore_rate() {
        let body = json!({"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED"}}],
            "extensions":{"cost":{"requestedQueryCost":752,"actualQueryCost":null,
                "throttleStatus":{"maximumAvailable":1000.0,"currentlyAvailable":666,"restoreRate":50.0}}}});
        assert_eq!(throttled(&body), Some(2));
        assert_eq!(throttled(&json!({"data": {}})), None);
    }
}
