//! Requests to the Drive API v3 and what its errors mean. Google's error
//! body is `{"error": {"code", "message", "errors": [{"reason", …}]}}`; the
//! reason decides: `userRateLimitExceeded` and `rateLimitExceeded` (403 or
//! 429) are waited out, other 403s (`insufficientFilePermissions`,
//! `storageQuotaExceeded`, `appNotAuthorizedToFile`) are refusals, 401 is an
//! expired token the host renews.

use wharf_sdk::http::{Request, Response, encode};
use wharf_sdk::prelude::*;

use crate::Config;

/// The file fields the connector reads.
pub const FILE_FIELDS: &str = "id,name,mimeType,size,md5Checksum,modifiedTime,createdTime,parents,trashed,version,webViewLink";

/// `GET {base}/drive/v3/{path}` with the connection's token.
pub fn get(config: &Config, path: &str) -> Request {
    Request::get(format!("{}/drive/v3/{path}", config.base())).oauth_bearer()
}

/// Ask for files in shared drives too (without it they answer 404); only
/// where the method takes the parameter (the discovery document says which:
/// not `export`, not `about`).
pub fn all_drives(request: Request) -> Request {
    request.query("supportsAllDrives", "true")
}

/// A file's URL segment.
pub fn file(id: &str) -> String {
    format!("files/{}", encode(id))
}

/// Send and check.
pub fn send(request: Request) -> Result<Response> {
    check(request.send()?)
}

/// The answer, or the error its status and reason mean.
pub fn check(response: Response) -> Result<Response> {
    if response.status < 400 {
        return Ok(response);
    }
    let (reason, message) = reason(&response);
    let text = format!(
        "HTTP {}: {message}{}",
        response.status,
        reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    );
    Err(match (response.status, reason.as_deref()) {
        (401, _) => Error::AuthExpired(text),
        (403 | 429, Some("userRateLimitExceeded" | "rateLimitExceeded" | "dailyLimitExceeded"))
        | (429, _) => Error::RateLimited(response.retry_after().unwrap_or(30).max(1)),
        (403, _) => Error::Auth(text),
        (404, _) => Error::Config(text),
        (408 | 500..=599, _) => Error::Transient(text),
        _ => Error::Fatal(text),
    })
}

/// The first reason and the message of a Google error body.
pub fn reason(response: &Response) -> (Option<String>, String) {
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    let error = &body["error"];
    let reason = error["errors"][0]["reason"].as_str().map(str::to_string);
    let message = error["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| response.text().chars().take(200).collect());
    (reason, message)
}
