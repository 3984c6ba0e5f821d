//! The two BigQuery calls a pass makes, `jobs.query` and
//! `jobs.getQueryResults`, with the host's OAuth2 token, and BigQuery's
//! errors (`{"error": {"code", "message", "errors": [{"reason"}]}}`) as the
//! errors that tell the host what to do
//! (<https://cloud.google.com/bigquery/docs/error-messages>).

use wharf_sdk::http::encode;
use wharf_sdk::prelude::*;

use crate::config::Config;

/// What `getQueryResults` answered.
pub enum Results {
    /// A page, or "still running".
    Answer(Value),
    /// The job (or its results, kept about a day) is gone: the pass must
    /// run its query again.
    Gone(String),
}

/// `POST …/projects/{project}/queries` (`jobs.query`).
pub fn query(config: &Config, body: &Value) -> Result<Value> {
    let url = format!(
        "{}/bigquery/v2/projects/{}/queries",
        config.base(),
        encode(&config.project_id)
    );
    let response = Request::post(url).oauth_bearer().json(body)?.send()?;
    if response.is_success() {
        return response.json();
    }
    Err(error(config, &response))
}

/// `GET …/projects/{project}/queries/{job}` (`jobs.getQueryResults`): the
/// next page after `token`, or the first once the job is done (waiting up
/// to `timeout_ms` for it).
pub fn results(
    config: &Config,
    job: &str,
    location: Option<&str>,
    token: Option<&str>,
) -> Result<Results> {
    let url = format!(
        "{}/bigquery/v2/projects/{}/queries/{}",
        config.base(),
        encode(&config.project_id),
        encode(job)
    );
    let mut request = Request::get(url)
        .oauth_bearer()
        .query("maxResults", config.page_size)
        .query("timeoutMs", config.timeout_ms)
        .query("formatOptions.useInt64Timestamp", "true");
    // Jobs outside the US and EU multi-regions are found only with it.
    if let Some(location) = location {
        request = request.query("location", location);
    }
    if let Some(token) = token {
        request = request.query("pageToken", token);
    }
    let response = request.send()?;
    if response.is_success() {
        return response.json().map(Results::Answer);
    }
    if response.status == 404 {
        return Ok(Results::Gone(said(&response).1));
    }
    Err(error(config, &response))
}

/// The first error's `reason` and the message of an error answer.
fn said(response: &Response) -> (String, String) {
    let v: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    let e = &v["error"];
    let reason = e["errors"][0]["reason"]
        .as_str()
        .or(e["status"].as_str())
        .unwrap_or("")
        .to_string();
    let message = e["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| response.text().chars().take(300).collect());
    (reason, message)
}

/// The error an answer means, by BigQuery's `reason` first (a rate limit
/// comes as a 403, not a 429), then by status.
pub fn error(config: &Config, response: &Response) -> Error {
    let (reason, message) = said(response);
    let status = response.status;
    let told = format!("BigQuery {status} {reason}: {message}");
    match (status, reason.as_str()) {
        // The host renews the token (a new assertion) and calls again.
        (401, _) => Error::AuthExpired(told),
        (_, "rateLimitExceeded") | (429, _) => {
            Error::RateLimited(response.retry_after().unwrap_or(2))
        }
        // Concurrent queries, or a per-day quota: waiting is all that helps.
        (_, "quotaExceeded") => Error::RateLimited(response.retry_after().unwrap_or(60)),
        (
            _,
            "backendError" | "internalError" | "jobBackendError" | "jobInternalError"
            | "tableUnavailable" | "timeout",
        )
        | (500..=599, _) => Error::Transient(told),
        (_, "accessDenied") | (403, "forbidden" | "PERMISSION_DENIED") => Error::Auth(format!(
            "{told} (the service account needs BigQuery Job User on project {} and BigQuery Data Viewer on the billing dataset)",
            config.project_id
        )),
        (_, "bytesBilledLimitExceeded") => Error::Config(format!(
            "{told} (raise maximum_bytes_billed or shorten lookback_days)"
        )),
        // A view has no ingestion-time partitions.
        (_, "invalidQuery") if message.contains("_PARTITIONTIME") => Error::Config(format!(
            "{told} (the table has no partitions, as a view has none: set partition_filter to false)"
        )),
        (_, "responseTooLarge" | "resourcesExceeded") => Error::Config(format!(
            "{told} (lower page_size or group by fewer columns)"
        )),
        (
            _,
            "notFound"
            | "invalidQuery"
            | "invalid"
            | "billingNotEnabled"
            | "billingTierLimitExceeded",
        )
        | (404, _) => Error::Config(told),
        (403, _) => Error::Auth(told),
        _ => Error::Fatal(told),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, reason: &str) -> Response {
        let body = json!({"error": {"code": status, "message": "said", "errors": [{"reason": reason, "domain": "global", "message": "said"}]}});
        Response::new(status, Vec::new(), body.to_string().into_bytes())
    }

    #[test]
    fn reasons_before_statuses() {
        let c: Config = serde_json::from_value(json!({"project_id": "billing-admin-4821", "client_email": "a@b.iam.gserviceaccount.com",
            "table": "billing-admin-4821.billing.gcp_billing_export_v1_X"}))
        .unwrap();
        let e = |s, r| error(&c, &answer(s, r));
        assert_eq!(e(403, "rateLimitExceeded"), Error::RateLimited(2));
        assert_eq!(e(403, "quotaExceeded"), Error::RateLimited(60));
        assert!(matches!(e(401, "authError"), Error::AuthExpired(_)));
        assert!(matches!(e(503, "backendError"), Error::Transient(_)));
        assert!(matches!(e(400, "jobBackendError"), Error::Transient(_)));
        assert!(
            matches!(e(403, "accessDenied"), Error::Auth(m) if m.contains("BigQuery Job User"))
        );
        assert!(matches!(e(400, "invalidQuery"), Error::Config(m) if m.contains("said")));
        assert!(matches!(e(404, "notFound"), Error::Config(_)));
        assert!(matches!(e(400, "somethingNew"), Error::Fatal(_)));
    }
}
