//! Microsoft Graph: the `mail` build's spec (OAuth2 on the Microsoft
//! identity platform, the rate budget of Outlook's limits, change
//! notifications), its check, and the requests and errors every Graph
//! call shares.
//!
//! - OAuth2 authorization code with PKCE at
//!   `{login_url}/{tenant}/oauth2/v2.0/{authorize,token}` (tenant `common`
//!   by default; `organizations`, `consumers`, a tenant id or domain
//!   otherwise), scopes `offline_access Mail.Read`.
//! - Every request prefers immutable ids (`Prefer: IdType="ImmutableId"`),
//!   so a message keeps its id when it moves between folders, and bodies as
//!   text unless the config asks for HTML.
//! - Outlook's limits per app and mailbox (10,000 requests in 10 minutes,
//!   4 at once) are the connection's rate budget.

use wharf_sdk::OAuth2;
use wharf_sdk::WebhookScheme;
use wharf_sdk::catalog::{Catalog, Category, RateBudget};
use wharf_sdk::http::encode;
use wharf_sdk::prelude::*;
use wharf_sdk::rest::ErrorMap;
use wharf_sdk::webhook::{Handshake, Webhook};

use crate::{ATTACHMENTS, BodyFormat, Config, MESSAGES};

/// Graph's origin.
pub const API: &str = "https://graph.microsoft.com";
/// The identity platform's origin (national clouds have their own).
pub const LOGIN: &str = "https://login.microsoftonline.com";

/// The message properties read: what a mail archive or a ticketing
/// pipeline needs, without the MIME headers (`internetMessageHeaders`),
/// which Graph returns only on a single GET.
pub const MESSAGE_FIELDS: &str = "id,subject,from,sender,toRecipients,ccRecipients,bccRecipients,\
replyTo,receivedDateTime,sentDateTime,createdDateTime,lastModifiedDateTime,hasAttachments,\
importance,isRead,isDraft,conversationId,internetMessageId,parentFolderId,bodyPreview,body,\
categories,flag,webLink";

/// The properties the attachments stream needs of a message.
pub const ATTACHMENT_MESSAGE_FIELDS: &str = "id,subject,receivedDateTime,hasAttachments";

/// Graph puts the subscription's `clientState` in the body of each
/// notification: the host checks that every one of them carries the
/// connection's `webhook_secret` there.
pub const CLIENT_STATE: &str = "json:/value/*/clientState";

const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect x="6" y="14" width="52" height="36" rx="4" fill="#0078d4"/><path d="M8 17l24 18 24-18" stroke="#fff" stroke-width="4" fill="none"/></svg>"##;

/// The `mail` build's spec.
pub fn spec() -> Spec {
    let api = format!("{{config.base_url|{API}}}");
    let login = format!("{{config.login_url|{LOGIN}}}/{{config.tenant|common}}/oauth2/v2.0");
    Spec::new("mail", env!("CARGO_PKG_VERSION"))
        .description(
            "Outlook / Microsoft 365 mail through Microsoft Graph: a folder's messages by delta \
             query (deletes included), file attachments as blobs, change notifications as records.",
        )
        .role(Role::Source)
        .stream(
            StreamSpec::new(MESSAGES)
                .description("Messages of the folder (Graph's message properties, body as text or HTML); deletes for messages removed or moved out")
                .key_field("id")
                .cursor_field("receivedDateTime"),
        )
        .stream(
            StreamSpec::new(ATTACHMENTS)
                .description("File attachments of the folder's messages: name, content type, size, message id; the file as the record's blob")
                .key_field("key")
                .cursor_field("received_at"),
        )
        .config_schema(config_schema())
        .host(api.clone())
        .oauth2(
            OAuth2::authorization_code(format!("{login}/authorize"), format!("{login}/token"))
                // offline_access: a refresh token; Mail.Read: messages and
                // attachments (Mail.ReadBasic has neither bodies nor files).
                .scope("offline_access")
                .scope("Mail.Read"),
        )
        // Per app and mailbox: 10,000 requests in 10 minutes, 4 at once
        // (https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits).
        .rate_budget(RateBudget::new(api).per(10_000, 600).concurrency(4))
        .webhook(
            Webhook::new(WebhookScheme::StaticToken(CLIENT_STATE.into()))
                .handshake(Handshake::EchoQuery("validationToken".into())),
        )
        .catalog(
            Catalog::new("Outlook mail (Microsoft Graph)")
                .category(Category::Messaging)
                .icon_svg(ICON)
                .documentation_url("https://learn.microsoft.com/graph/api/resources/mail-api-overview")
                .publisher("Wharf"),
        )
}

fn config_schema() -> Value {
    let mut props = crate::common_properties();
    let own = json!({
        "folder": {"type": "string", "default": "inbox", "title": "Folder", "description": "A well-known folder name (inbox, sentitems, archive, drafts, deleteditems) or a folder id"},
        "body_format": {"type": "string", "enum": ["text", "html"], "default": "text", "title": "Body format", "description": "Message bodies as plain text or as the stored HTML"},
        "tenant": {"type": "string", "pattern": "^[A-Za-z0-9.-]+$", "default": "common", "title": "Tenant", "description": "common (work, school and personal accounts), organizations, consumers, or the tenant's id or domain"},
        "base_url": {"type": "string", "format": "uri", "title": "Graph URL", "description": "Leave empty for https://graph.microsoft.com (national clouds: https://graph.microsoft.us, https://microsoftgraph.chinacloudapi.cn)"},
        "login_url": {"type": "string", "format": "uri", "title": "Sign-in URL", "description": "Leave empty for https://login.microsoftonline.com"}
    });
    if let Value::Object(own) = own {
        props.extend(own);
    }
    json!({"type": "object", "additionalProperties": false, "properties": props})
}

/// `GET {base}/v1.0/{path}` with the token and the shared preferences.
pub fn get(config: &Config, path: &str) -> Request {
    prefer(
        config,
        Request::get(format!("{}/v1.0/{path}", config.base())),
        None,
    )
}

/// A request with the token and one `Prefer` header: immutable ids, the
/// body format, and a page size (`odata.maxpagesize`) where one is given.
pub fn prefer(config: &Config, request: Request, page_size: Option<u32>) -> Request {
    let body = match config.body_format {
        BodyFormat::Text => "text",
        BodyFormat::Html => "html",
    };
    let mut preferences = format!("IdType=\"ImmutableId\", outlook.body-content-type=\"{body}\"");
    if let Some(n) = page_size {
        preferences = format!("odata.maxpagesize={n}, {preferences}");
    }
    request
        .header("Accept", "application/json")
        .header("Prefer", preferences)
        .oauth_bearer()
}

/// The path of the configured folder's messages (`me/mailFolders/inbox`).
pub fn folder_path(config: &Config) -> String {
    format!("me/mailFolders/{}", encode(config.folder.trim()))
}

/// A 401 is an expired token (the host refreshes it and calls again); 403
/// is a consent without `Mail.Read` or a mailbox the user cannot open.
pub fn errors() -> ErrorMap {
    ErrorMap::new().renewable(true).decoder(message)
}

/// Graph's error body: `{"error": {"code": "…", "message": "…"}}`.
pub fn message(body: &Value) -> Option<String> {
    let e = &body["error"];
    match (e["code"].as_str(), e["message"].as_str()) {
        (Some(c), Some(m)) => Some(format!("{c}: {m}")),
        (Some(c), None) => Some(c.to_string()),
        (None, Some(m)) => Some(m.to_string()),
        (None, None) => None,
    }
}

/// Graph's error code in an answer, if it has one.
pub fn code(response: &Response) -> Option<String> {
    let v: Value = serde_json::from_slice(&response.body).ok()?;
    v["error"]["code"].as_str().map(str::to_string)
}

/// The folder exists and the consent reads it: one cheap call.
pub fn check(config: &Config) -> Result<()> {
    let request =
        get(config, &folder_path(config)).query("$select", "id,displayName,totalItemCount");
    let response = request.send()?;
    if response.status == 404 {
        return Err(Error::Config(format!(
            "the mailbox has no folder `{}` (a well-known name such as inbox, or a folder id): {}",
            config.folder,
            errors().message(&response)
        )));
    }
    let folder: Value = errors().check(response)?.json()?;
    wharf_sdk::log::info(format!(
        "reading the folder {} ({} messages)",
        folder["displayName"].as_str().unwrap_or("?"),
        folder["totalItemCount"]
    ));
    Ok(())
}

/// A message as a record: Graph's properties without the OData
/// annotations (`@odata.etag`, `@odata.type`), which change with every
/// read and are no data.
pub fn message_record(mut item: Value) -> Result<Record> {
    if let Value::Object(fields) = &mut item {
        fields.retain(|k, _| !k.starts_with("@odata."));
    }
    Ok(Record::from_value(MESSAGES, item)?.key_from("id"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_error_messages() {
        let body = json!({"error": {"code": "ErrorItemNotFound", "message": "The specified object was not found in the store.",
            "innerError": {"date": "2026-01-01T10:00:00", "request-id": "x"}}});
        assert_eq!(
            message(&body).unwrap(),
            "ErrorItemNotFound: The specified object was not found in the store."
        );
        assert_eq!(message(&json!({"error": "x"})), None);
        let r = Response::new(
            410,
            vec![],
            br#"{"error":{"code":"SyncStateNotFound","message":"gone"}}"#.to_vec(),
        );
        assert_eq!(code(&r).as_deref(), Some("SyncStateNotFound"));
    }

    #[test]
    fn records_drop_odata_annotations() {
        let r = message_record(json!({"@odata.etag": "W/\"x\"", "@odata.type": "#microsoft.graph.message", "id": "AAMk1", "subject": "Hi"})).unwrap();
        assert_eq!(r.key.as_deref(), Some("AAMk1"));
        assert!(r.data.keys().all(|k| !k.starts_with('@')));
        let c: Config = serde_json::from_value(json!({"folder": "Archive 2024"})).unwrap();
        assert_eq!(folder_path(&c), "me/mailFolders/Archive%202024");
    }
}
