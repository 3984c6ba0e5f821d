//! The Gmail API: the `gmail` build's spec (Google OAuth2, the per-user
//! quota as a rate budget), its check, and the requests and errors every
//! call shares.
//!
//! - OAuth2 authorization code with PKCE, `access_type=offline` and
//!   `prompt=consent` (so Google issues a refresh token on every consent),
//!   scope `gmail.readonly` (a restricted scope: a public app needs
//!   Google's verification).
//! - Google's error envelope (`error.errors[].reason`); quota errors come
//!   as 429, or as 403 with `rateLimitExceeded` / `userRateLimitExceeded`,
//!   which mean "wait", not "no access".
//! - Per user 15,000 quota units a minute; the calls made here cost 5
//!   (`messages.list`, `messages.get`, `attachments.get`) or less, so 3,000
//!   requests a minute stay within it.

use wharf_sdk::OAuth2;
use wharf_sdk::catalog::{Catalog, Category, RateBudget};
use wharf_sdk::http::encode;
use wharf_sdk::prelude::*;
use wharf_sdk::rest::ErrorMap;

use crate::{ATTACHMENTS, Config, MESSAGES};

/// Gmail's origin.
pub const API: &str = "https://gmail.googleapis.com";

const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect x="6" y="14" width="52" height="36" rx="4" fill="#fff" stroke="#ea4335" stroke-width="3"/><path d="M8 17l24 18 24-18" stroke="#ea4335" stroke-width="4" fill="none"/></svg>"##;

/// The `gmail` build's spec.
pub fn spec() -> Spec {
    let api = format!("{{config.base_url|{API}}}");
    Spec::new("gmail", env!("CARGO_PKG_VERSION"))
        .description(
            "Gmail: a label's messages (headers, text and HTML bodies), a first pass by search \
             then incremental by the mailbox history with deletes; attachments as blobs.",
        )
        .role(Role::Source)
        .stream(
            StreamSpec::new(MESSAGES)
                .description("Messages of the label: ids, thread, labels, From/To/Cc/Subject/Date, the text and HTML bodies, attachment names; deletes for messages deleted or taken out of the label")
                .key_field("id")
                .cursor_field("internalDate"),
        )
        .stream(
            StreamSpec::new(ATTACHMENTS)
                .description("Attachments of the label's messages: name, content type, size, message id; the file as the record's blob")
                .key_field("key")
                .cursor_field("received_at"),
        )
        .config_schema(config_schema())
        .host(api.clone())
        .oauth2(
            OAuth2::authorization_code(
                "{config.auth_url|https://accounts.google.com/o/oauth2/v2/auth}",
                "{config.token_url|https://oauth2.googleapis.com/token}",
            )
            .scope("https://www.googleapis.com/auth/gmail.readonly")
            .authorize_param("access_type", "offline")
            .authorize_param("prompt", "consent")
            .token_lifetime_secs(3600),
        )
        // 15,000 quota units a minute per user; 5 units a call at most
        // (https://developers.google.com/workspace/gmail/api/reference/quota).
        .rate_budget(RateBudget::new(api).per(3_000, 60))
        .catalog(
            Catalog::new("Gmail")
                .category(Category::Messaging)
                .icon_svg(ICON)
                .documentation_url("https://developers.google.com/workspace/gmail/api/guides")
                .publisher("Wharf"),
        )
}

fn config_schema() -> Value {
    let mut props = crate::common_properties();
    let own = json!({
        "label": {"type": "string", "default": "INBOX", "title": "Label", "description": "The label read: INBOX, SENT, IMPORTANT, or a user label's id (Label_…); empty reads all mail"},
        "query": {"type": "string", "title": "Search query", "description": "Gmail search syntax (from:billing@example.com has:attachment newer_than:1y) limiting the first pass; later passes read every change of the label"},
        "include_spam_trash": {"type": "boolean", "default": false, "title": "Spam and trash", "description": "The first pass also reads messages in spam and trash"},
        "base_url": {"type": "string", "format": "uri", "title": "API URL", "description": "Leave empty for https://gmail.googleapis.com"},
        "auth_url": {"type": "string", "format": "uri", "title": "Authorization URL", "description": "Leave empty for Google's"},
        "token_url": {"type": "string", "format": "uri", "title": "Token URL", "description": "Leave empty for Google's"}
    });
    if let Value::Object(own) = own {
        props.extend(own);
    }
    json!({"type": "object", "additionalProperties": false, "properties": props})
}

/// `GET {base}/gmail/v1/users/me/{path}` with the token.
pub fn get(config: &Config, path: &str) -> Request {
    Request::get(format!("{}/gmail/v1/users/me/{path}", config.base()))
        .header("Accept", "application/json")
        .oauth_bearer()
}

/// `messages/{id}` and the like: an id as one path segment.
pub fn message_path(id: &str) -> String {
    format!("messages/{}", encode(id))
}

/// A 401 is an expired token (the host refreshes it and calls again).
pub fn errors() -> ErrorMap {
    ErrorMap::new().renewable(true).decoder(message)
}

/// Google's envelope: the first error's reason with the message.
fn message(body: &Value) -> Option<String> {
    let e = &body["error"];
    let text = e["message"].as_str()?;
    Some(match reason(body) {
        Some(r) => format!("{r}: {text}"),
        None => text.to_string(),
    })
}

fn reason(body: &Value) -> Option<&str> {
    body["error"]["errors"][0]["reason"].as_str()
}

/// An answer, or the error it means; a quota refusal (429, or 403 with a
/// rate reason) is a wait whatever its status.
pub fn checked(response: Response) -> Result<Response> {
    if response.status == 403 {
        let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        if let Some(r) = reason(&body)
            && matches!(r, "rateLimitExceeded" | "userRateLimitExceeded")
        {
            return Err(Error::RateLimited(
                response.retry_after().unwrap_or(60).max(1),
            ));
        }
    }
    errors().check(response)
}

/// Send and check.
pub fn send(request: Request) -> Result<Response> {
    checked(request.send()?)
}

/// The consent reads the mailbox (the profile), and the label exists.
pub fn check(config: &Config) -> Result<()> {
    let profile: Value = send(get(config, "profile"))?.json()?;
    let label = config.label.trim();
    if !label.is_empty() {
        // Listing one message of the label proves it exists, for 5 units.
        let response = get(config, "messages")
            .query("labelIds", label)
            .query("maxResults", 1)
            .send()?;
        if response.status == 400 || response.status == 404 {
            return Err(Error::Config(format!(
                "Gmail has no label `{label}` for this account: {}",
                errors().message(&response)
            )));
        }
        checked(response)?;
    }
    wharf_sdk::log::info(format!(
        "signed in as {} ({} messages)",
        profile["emailAddress"].as_str().unwrap_or("?"),
        profile["messagesTotal"]
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(status: u16, body: Value) -> Response {
        Response::new(status, vec![], body.to_string().into_bytes())
    }

    #[test]
    fn quota_errors_wait_and_others_keep_google_words() {
        let quota = json!({"error": {"code": 403, "message": "User-rate limit exceeded",
            "errors": [{"domain": "usageLimits", "reason": "userRateLimitExceeded", "message": "User-rate limit exceeded"}]}});
        assert_eq!(checked(r(403, quota)).unwrap_err(), Error::RateLimited(60));
        let denied = json!({"error": {"code": 403, "message": "Request had insufficient authentication scopes.",
            "errors": [{"domain": "global", "reason": "insufficientPermissions", "message": "x"}], "status": "PERMISSION_DENIED"}});
        assert_eq!(
            checked(r(403, denied)).unwrap_err(),
            Error::Auth("HTTP 403: insufficientPermissions: Request had insufficient authentication scopes.".into())
        );
        assert!(matches!(
            checked(r(401, json!({}))),
            Err(Error::AuthExpired(_))
        ));
        assert_eq!(message_path("18c/a b"), "messages/18c%2Fa%20b");
    }
}
