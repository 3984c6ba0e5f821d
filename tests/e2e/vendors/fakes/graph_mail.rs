//! A fake Microsoft Graph for mail on one loopback origin: the Microsoft
//! identity platform's OAuth 2.0 endpoints ([`identity`]), the mail API
//! below, and Graph's side of change notifications ([`notify`]). Graph's
//! OpenAPI description is too large to keep, so the fake checks requests
//! against the rules the documentation states, into [`Graph::violations`]:
//!
//! - Delta (<https://learn.microsoft.com/en-us/graph/api/message-delta>,
//!   <https://learn.microsoft.com/en-us/graph/delta-query-messages>,
//!   <https://learn.microsoft.com/en-us/graph/delta-query-overview>):
//!   `GET /me/mailFolders/{id}/messages/delta` with `$select`, `$top`,
//!   `$filter` (only `receivedDateTime ge|gt`), `$orderby` (only
//!   `receivedDateTime desc`) and `changeType`, on the first request only;
//!   no `$search`. Pages of `Prefer: odata.maxpagesize` (10 by default)
//!   linked by absolute `@odata.nextLink` (`$skiptoken`), the last with
//!   `@odata.deltaLink` (`$deltatoken`); removed messages as
//!   `{"id", "@removed": {"reason": "deleted"}}`; an unknown or expired token
//!   410 `SyncStateNotFound`.
//! - Messages and attachments
//!   (<https://learn.microsoft.com/en-us/graph/api/message-get>,
//!   <https://learn.microsoft.com/en-us/graph/api/message-list-attachments>,
//!   <https://learn.microsoft.com/en-us/graph/api/attachment-get>,
//!   <https://learn.microsoft.com/en-us/graph/api/resources/fileattachment>):
//!   `$select` of known properties only, `contentBytes` in standard base64,
//!   raw bytes at `/attachments/{id}/$value`; `Prefer:
//!   outlook.body-content-type` and `IdType="ImmutableId"`
//!   (<https://learn.microsoft.com/en-us/graph/outlook-immutable-id>).
//! - Errors (<https://learn.microsoft.com/en-us/graph/errors>):
//!   `{"error": {"code", "message", "innerError"}}`; 401
//!   `InvalidAuthenticationToken`, 403 `ErrorAccessDenied` without
//!   `Mail.Read`, 404 `ErrorItemNotFound`.
//! - Limits (<https://learn.microsoft.com/en-us/graph/throttling-limits#outlook-service-limits>):
//!   4 requests at once per app and mailbox, past which 429
//!   `MailboxConcurrency` with `Retry-After`; [`Graph::throttle`] and
//!   [`Graph::unavailable`] answer the next calls 429 or 503 with
//!   `Retry-After: 1` (<https://learn.microsoft.com/en-us/graph/throttling>).

mod delta;
mod identity;
pub mod notify;
mod resources;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::support::Upstream;
use delta::delta;
use resources::{attachment_json, check_select, message_json, select, select_of};

pub const CLIENT_ID: &str = "6731de76-14a6-49ae-97bc-6eba6914391e";
pub const CLIENT_SECRET: &str = "Qx18Q~fakeGraphSecret.k2ZbWq3T9vLrN0pY5sAeHdU";
/// The directory (tenant) the app and the mailbox live in.
pub const TENANT_ID: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";
/// The mailbox owner's object id (notifications name it).
pub const USER_ID: &str = "aa8b2e4c-1d3f-4a6b-9c7e-5f1a2b3c4d5e";
/// The Inbox's folder id (`inbox` is its well-known name).
pub const INBOX_ID: &str = "AQMkADAwATM0MDAAMS1iNTcwLWI2NTEtMDACLTAwCgAuAAADy3a2EhyHhEeKRMOtOcOgCAEAwGIJgrqQ2kqbLwxVJdKXPgAAAgEMAAAA";
const SENT_ID: &str = "AQMkADAwATM0MDAAMS1iNTcwLWI2NTEtMDACLTAwCgAuAAADy3a2EhyHhEeKRMOtOcOgCAEAwGIJgrqQ2kqbLwxVJdKXPgAAAgEJAAAA";

/// The message properties `$select` may name (the v1.0 message resource).
const MESSAGE_PROPS: &str = "id createdDateTime lastModifiedDateTime changeKey categories \
    receivedDateTime sentDateTime hasAttachments internetMessageId subject bodyPreview importance \
    parentFolderId conversationId conversationIndex isDeliveryReceiptRequested \
    isReadReceiptRequested isRead isDraft webLink inferenceClassification body uniqueBody sender \
    from toRecipients ccRecipients bccRecipients replyTo flag internetMessageHeaders";
const ATTACHMENT_PROPS: &str =
    "id lastModifiedDateTime name contentType size isInline contentBytes contentId contentLocation";
/// Outlook: requests one app may have open on one mailbox.
const CONCURRENCY: usize = 4;

/// A file (or item) attachment.
#[derive(Clone, Debug)]
pub struct Attachment {
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
    pub inline: bool,
    /// An attached message (`itemAttachment`), not a file.
    pub item: bool,
}

#[derive(Clone, Debug)]
pub struct Message {
    pub id: String,
    pub folder: String,
    pub subject: String,
    pub from: (String, String),
    pub to: Vec<(String, String)>,
    pub received: String,
    pub text: String,
    pub read: bool,
    pub attachments: Vec<Attachment>,
    /// The change that last touched it.
    pub version: u64,
}

#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub uri: String,
    pub status: u16,
}

/// The rest of a round: what its next pages hold.
#[derive(Clone)]
struct Round {
    items: Vec<Value>,
    seq: u64,
    folder: String,
    select: Option<Vec<String>>,
}

/// A deltaLink's state: the folder, the properties, the change it follows.
#[derive(Clone)]
struct Delta {
    folder: String,
    select: Option<Vec<String>>,
    seq: u64,
}

#[derive(Default)]
pub struct Graph {
    pub messages: BTreeMap<String, Message>,
    /// Messages removed: (change, id, folder).
    pub removed: Vec<(u64, String, String)>,
    /// The last change.
    pub seq: u64,
    pub violations: Vec<String>,
    pub seen: Vec<Seen>,
    /// Answer the next this many API calls 429 (`Retry-After: 1`).
    pub throttle: u32,
    /// Answer the next this many API calls 503 (`Retry-After: 1`).
    pub unavailable: u32,
    /// Status and code of each throttled answer.
    pub refused: Vec<(u16, String)>,
    /// The `Prefer` headers API calls carried.
    pub prefer: Vec<String>,
    /// Answers 410 for an expired delta or next link.
    pub gone: u32,
    pub max_in_flight: usize,
    /// Refresh grants answered.
    pub refreshes: u32,
    /// Every access and refresh token issued, for leak checks.
    pub issued: Vec<String>,
    pub subscriptions: Vec<notify::Subscription>,
    in_flight: usize,
    rounds: BTreeMap<String, Round>,
    deltas: BTreeMap<String, Delta>,
    codes: BTreeMap<String, identity::Code>,
    access: BTreeMap<String, (String, Instant)>,
    refresh: BTreeMap<String, String>,
    next: u64,
}

pub type Shared = Arc<Mutex<Graph>>;

pub fn lock(g: &Shared) -> MutexGuard<'_, Graph> {
    g.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Graph {
    fn fresh(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}{:010}AAA=", self.next * 7919)
    }

    /// A message arrives in the Inbox.
    pub fn deliver(&mut self, subject: &str, text: &str, attachments: Vec<Attachment>) -> String {
        let id = self.fresh("AAMkADAwATM0MDAAMS1iNTcwLWI2NTEtMDACLTAwCgBGAAAD");
        self.seq += 1;
        let minute = self.next % 60;
        let message = Message {
            id: id.clone(),
            folder: INBOX_ID.into(),
            subject: subject.into(),
            from: ("Megan Bowen".into(), "MeganB@contoso.com".into()),
            to: vec![("Adele Vance".into(), "AdeleV@contoso.com".into())],
            received: format!("2026-01-05T09:{minute:02}:00Z"),
            text: text.into(),
            read: false,
            attachments,
            version: self.seq,
        };
        self.messages.insert(id.clone(), message);
        id
    }

    /// A file attachment with a fresh id.
    pub fn file(&mut self, name: &str, content_type: &str, bytes: &[u8]) -> Attachment {
        Attachment {
            id: self.fresh("AAMkADAwATM0MDAAMS1iNTcwLWI2NTEtMDACLTAwCgBGAAAD-BEgAQA"),
            name: name.into(),
            content_type: content_type.into(),
            bytes: bytes.to_vec(),
            inline: false,
            item: false,
        }
    }

    /// The user reads a message (an update in the delta).
    pub fn mark_read(&mut self, id: &str) {
        self.seq += 1;
        let m = self.messages.get_mut(id).expect("a message");
        m.read = true;
        m.version = self.seq;
    }

    /// The user deletes a message (a removal in the delta).
    pub fn delete(&mut self, id: &str) {
        let m = self.messages.remove(id).expect("a message");
        self.seq += 1;
        self.removed.push((self.seq, id.to_string(), m.folder));
    }

    /// Every delta and next link stops working, as when Outlook's delta
    /// token cache evicts them.
    pub fn expire_delta_tokens(&mut self) {
        self.rounds.clear();
        self.deltas.clear();
    }

    /// Every access token stops working, as after an hour.
    pub fn expire_access_tokens(&mut self) {
        self.access.clear();
    }

    /// An access token for `scope`, as the identity platform issues one,
    /// for a test that runs the connector straight on the runtime (no
    /// OAuth flow).
    pub fn grant(&mut self, scope: &str) -> String {
        let access = self.fresh("eyJ0eXAiOiJKV1QiLCJub25jZSI6IkZha2UiLCJhbGciOiJSUzI1NiJ9.");
        let until = Instant::now() + Duration::from_secs(3599);
        self.access
            .insert(access.clone(), (scope.to_string(), until));
        self.issued.push(access.clone());
        access
    }
}

/// A mailbox with a few messages, one with a PDF, an inline image and an
/// attached message.
pub fn mailbox() -> Graph {
    let mut g = Graph::default();
    let pdf = g.file(
        "Contoso Q4 report.pdf",
        "application/pdf",
        b"%PDF-1.4\n% quarterly numbers\n%%EOF\n",
    );
    let mut logo = g.file("logo.png", "image/png", b"\x89PNG\r\n\x1a\nlogo");
    logo.inline = true;
    let mut forwarded = g.file("Fwd: budget", "message/rfc822", b"");
    forwarded.item = true;
    g.deliver(
        "Q4 report",
        "Please find the Q4 report attached.",
        vec![pdf, logo, forwarded],
    );
    g.deliver(
        "Lunch on Friday?",
        "Shall we try the new place?",
        Vec::new(),
    );
    for n in 1..=3 {
        g.deliver(
            &format!("Weekly digest #{n}"),
            "What happened this week.",
            Vec::new(),
        );
    }
    g
}

pub async fn start(graph: Graph) -> (Upstream, Shared) {
    let shared = Arc::new(Mutex::new(graph));
    let app = Router::new().fallback(serve).with_state(shared.clone());
    (Upstream::start(app).await, shared)
}

/// Graph's error body.
pub(super) fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"error": {"code": code, "message": message, "innerError": {
        "date": "2026-01-05T10:00:00", "request-id": "b5a1e3c6-2f4d-4e8a-9b1c-0d2e3f4a5b6c",
        "client-request-id": "b5a1e3c6-2f4d-4e8a-9b1c-0d2e3f4a5b6c"}}});
    (status, axum::Json(body)).into_response()
}

/// One request open on the mailbox, closed when dropped.
struct Open(Shared);

impl Drop for Open {
    fn drop(&mut self) {
        let mut g = lock(&self.0);
        g.in_flight = g.in_flight.saturating_sub(1);
    }
}

async fn serve(State(g): State<Shared>, request: Request) -> Response {
    let method = request.method().to_string();
    let uri = request.uri().to_string();
    let path = request.uri().path().to_string();
    let raw = request.uri().query().unwrap_or_default().to_string();
    let query: Vec<(String, String)> = serde_urlencoded::from_str(&raw).unwrap_or_default();
    let headers = request.headers().clone();
    let body = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let response = if let Some((tenant, endpoint)) = identity::endpoint(&path) {
        let mut s = lock(&g);
        match (method.as_str(), endpoint) {
            ("GET", "authorize") => identity::authorize(&mut s, tenant, &query),
            ("POST", "token") => identity::token(&mut s, tenant, &headers, &body),
            _ => error(StatusCode::METHOD_NOT_ALLOWED, "invalid_request", &method),
        }
    } else {
        api(&g, &method, &path, &query, &headers).await
    };
    let status = response.status().as_u16();
    lock(&g).seen.push(Seen {
        method,
        uri,
        status,
    });
    response
}

async fn api(
    g: &Shared,
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
) -> Response {
    {
        let mut s = lock(g);
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let access = bearer.and_then(|t| s.access.get(t));
        let Some((scope, _)) = access.filter(|a| a.1 > Instant::now()) else {
            return error(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "Access token has expired or is not yet valid.",
            );
        };
        if !scope
            .split(' ')
            .any(|x| x == "Mail.Read" || x == "Mail.ReadWrite")
        {
            return error(
                StatusCode::FORBIDDEN,
                "ErrorAccessDenied",
                "Access is denied. Check credentials and try again.",
            );
        }
        if let Some(p) = headers.get("prefer").and_then(|v| v.to_str().ok()) {
            s.prefer.push(p.to_string());
        }
        let throttled = if s.in_flight >= CONCURRENCY {
            Some((StatusCode::TOO_MANY_REQUESTS, "MailboxConcurrency"))
        } else if s.throttle > 0 {
            s.throttle -= 1;
            Some((StatusCode::TOO_MANY_REQUESTS, "ApplicationThrottled"))
        } else if s.unavailable > 0 {
            s.unavailable -= 1;
            Some((StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable"))
        } else {
            None
        };
        if let Some((status, code)) = throttled {
            s.refused.push((status.as_u16(), code.to_string()));
            let mut r = error(
                status,
                code,
                "Application is over its MailboxConcurrency limit.",
            );
            r.headers_mut().insert(header::RETRY_AFTER, 1.into());
            return r;
        }
        s.in_flight += 1;
        s.max_in_flight = s.max_in_flight.max(s.in_flight);
    }
    let _open = Open(g.clone());
    tokio::time::sleep(Duration::from_millis(3)).await;
    let mut s = lock(g);
    if method != "GET" {
        s.violations
            .push(format!("{method} {path}: the connector only reads"));
        return error(StatusCode::METHOD_NOT_ALLOWED, "Request_BadRequest", method);
    }
    let origin = format!(
        "http://{}",
        headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost")
    );
    let html = headers
        .get("prefer")
        .and_then(|v| v.to_str().ok())
        .is_none_or(|p| !p.contains("outlook.body-content-type=\"text\""));
    let segments: Vec<String> = path
        .trim_start_matches("/v1.0/")
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    if !path.starts_with("/v1.0/") {
        s.violations.push(format!("GET {path}: not under /v1.0"));
        return error(StatusCode::NOT_FOUND, "UnknownError", "");
    }
    match segs.as_slice() {
        ["me", folders, folder, "messages", "delta"]
            if folders.eq_ignore_ascii_case("mailFolders") =>
        {
            let prefer = headers.get("prefer").and_then(|v| v.to_str().ok());
            delta(&mut s, &origin, folder, query, prefer, html)
        }
        ["me", link, "messages", "delta"]
            if link.to_ascii_lowercase().starts_with("mailfolders('") =>
        {
            let folder = link[13..].trim_end_matches("')");
            let prefer = headers.get("prefer").and_then(|v| v.to_str().ok());
            delta(&mut s, &origin, folder, query, prefer, html)
        }
        ["me", folders, folder] if folders.eq_ignore_ascii_case("mailFolders") => {
            check_select(
                &mut s,
                path,
                query,
                "id displayName parentFolderId childFolderCount unreadItemCount totalItemCount sizeInBytes isHidden",
            );
            match folder_id(folder) {
                Some(id) => {
                    let total = s.messages.values().filter(|m| m.folder == id).count();
                    axum::Json(json!({"id": id, "displayName": if id == INBOX_ID { "Inbox" } else { "Sent Items" },
                        "totalItemCount": total, "unreadItemCount": total, "childFolderCount": 0})).into_response()
                }
                None => not_found(),
            }
        }
        ["me", "messages", id] => {
            check_select(&mut s, path, query, MESSAGE_PROPS);
            match s.messages.get(*id) {
                Some(m) => {
                    axum::Json(select(message_json(m, html), select_of(query))).into_response()
                }
                None => not_found(),
            }
        }
        ["me", "messages", id, "attachments"] => {
            check_select(&mut s, path, query, ATTACHMENT_PROPS);
            let Some(m) = s.messages.get(*id) else {
                return not_found();
            };
            let list: Vec<Value> = m
                .attachments
                .iter()
                .map(|a| select(attachment_json(a), select_of(query)))
                .collect();
            axum::Json(json!({"@odata.context": format!("{origin}/v1.0/$metadata#users('{USER_ID}')/messages('{id}')/attachments"), "value": list})).into_response()
        }
        ["me", "messages", id, "attachments", aid, "$value"] => {
            let found = s
                .messages
                .get(*id)
                .and_then(|m| m.attachments.iter().find(|a| a.id == *aid));
            match found {
                Some(a) if a.item => (
                    [(header::CONTENT_TYPE, "text/plain")],
                    "MIME-Version: 1.0\r\nSubject: budget\r\n\r\n",
                )
                    .into_response(),
                Some(a) => (
                    [(header::CONTENT_TYPE, a.content_type.clone())],
                    a.bytes.clone(),
                )
                    .into_response(),
                None => not_found(),
            }
        }
        _ => {
            s.violations
                .push(format!("GET {path}: not a documented mail endpoint"));
            not_found()
        }
    }
}

fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "ErrorItemNotFound",
        "The specified object was not found in the store.",
    )
}

fn folder_id(name: &str) -> Option<&'static str> {
    match name {
        n if n.eq_ignore_ascii_case("inbox") || n == INBOX_ID => Some(INBOX_ID),
        n if n.eq_ignore_ascii_case("sentitems") || n == SENT_ID => Some(SENT_ID),
        _ => None,
    }
}
