//! A fake Gmail on one loopback origin: Google's OAuth 2.0 endpoints
//! ([`auth`]) and the Gmail API v1, from Google's documentation (more in
//! `docs/vendors/mail.md`):
//!
//! - `users.getProfile`, `users.messages.list` (`labelIds` all matched,
//!   `q` with `has:attachment`, `includeSpamTrash`, `maxResults` ≤ 500,
//!   `pageToken`; `messages` absent when none), `users.messages.get`
//!   (`format=full`: the MIME tree with base64url bodies; `minimal`,
//!   `metadata`), `users.messages.attachments.get` (base64url without
//!   padding) and `users.history.list` (`startHistoryId` required, a
//!   too-old one 404; `historyTypes`, `labelId`, `maxResults`,
//!   `pageToken`; `history` absent when nothing changed; the mailbox's
//!   `historyId`)
//!   (<https://developers.google.com/workspace/gmail/api/reference/rest>,
//!   <https://developers.google.com/workspace/gmail/api/guides/sync>).
//! - Google's error envelope (`error.errors[].reason`, `status`); 401
//!   `authError`, 403 `insufficientPermissions` for a scope the method
//!   does not list, 429 `rateLimitExceeded` for [`Gmail::throttle`]
//!   (<https://developers.google.com/workspace/gmail/api/guides/handle-errors>).
//! - **Every API request is checked against Gmail's discovery document**
//!   (`tests/e2e/vendors/specs/gmail-v1.json`) by [`discovery`], into
//!   [`Gmail::violations`].

mod auth;
pub mod discovery;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::support::Upstream;

pub const CLIENT_ID: &str =
    "318046256581-k3bq9nl5fe0hkbufd4ucr7a0fv2m8jt6.apps.googleusercontent.com";
pub const CLIENT_SECRET: &str = "GOCSPX-fakeGmailSecret-4rT9wQ2zX";
pub const EMAIL: &str = "ana.pop@example.com";
/// History ids grow by this much per change (they are not contiguous).
const GAP: u64 = 17;

/// An attachment of a message.
#[derive(Clone, Debug)]
pub struct Part {
    pub filename: String,
    pub mime: String,
    pub bytes: Vec<u8>,
    pub inline: bool,
    pub attachment_id: String,
}

#[derive(Clone, Debug)]
pub struct Message {
    pub id: String,
    pub labels: Vec<String>,
    pub from: String,
    pub subject: String,
    pub internal_ms: i64,
    pub text: String,
    pub attachments: Vec<Part>,
    pub history_id: u64,
}

/// A change of the mailbox: its kind, the message, the labels it is about.
#[derive(Clone, Debug)]
pub struct Change {
    pub id: u64,
    pub kind: &'static str,
    pub message: String,
    pub labels: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub uri: String,
    pub status: u16,
}

#[derive(Default)]
pub struct Gmail {
    pub messages: BTreeMap<String, Message>,
    pub history: Vec<Change>,
    pub history_id: u64,
    /// The oldest `startHistoryId` still answered.
    pub floor: u64,
    pub violations: Vec<String>,
    pub seen: Vec<Seen>,
    /// Answer the next this many API calls 429.
    pub throttle: u32,
    pub refreshes: u32,
    /// Every access and refresh token issued, for leak checks.
    pub issued: Vec<String>,
    /// History requests answered 404.
    pub expired: u32,
    consents: u32,
    codes: BTreeMap<String, auth::Code>,
    access: BTreeMap<String, (String, Instant)>,
    refresh: BTreeMap<String, String>,
    next: u64,
}

pub type Shared = Arc<Mutex<Gmail>>;

pub fn lock(g: &Shared) -> MutexGuard<'_, Gmail> {
    g.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Gmail {
    fn fresh(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}{:012x}", self.next * 104_729)
    }

    fn change(&mut self, kind: &'static str, message: &str, labels: Vec<String>) -> u64 {
        self.history_id += GAP;
        let id = self.history_id;
        self.history.push(Change {
            id,
            kind,
            message: message.into(),
            labels,
        });
        id
    }

    /// An attachment with a fresh id.
    pub fn file(&mut self, filename: &str, mime: &str, bytes: &[u8]) -> Part {
        Part {
            filename: filename.into(),
            mime: mime.into(),
            bytes: bytes.to_vec(),
            inline: false,
            attachment_id: self
                .fresh("ANGjdJ8w7Yqz3kP0rLmN5sTvX2bC4dF6gH8jK1lM3nQ5pR7tU9wY0aB2cD4eF6h"),
        }
    }

    /// A message arrives with these labels.
    pub fn receive(
        &mut self,
        labels: &[&str],
        subject: &str,
        text: &str,
        attachments: Vec<Part>,
    ) -> String {
        let id = format!("{:016x}", 0x18c2_f0a1_0000_0000_u64 + self.next * 4099 + 1);
        self.next += 1;
        let labels: Vec<String> = labels.iter().map(|l| l.to_string()).collect();
        let history_id = self.change("messageAdded", &id, labels.clone());
        let message = Message {
            id: id.clone(),
            labels,
            from: "Ion Popescu <ion@example.org>".into(),
            subject: subject.into(),
            internal_ms: 1_767_261_600_000 + self.next as i64 * 60_000,
            text: text.into(),
            attachments,
            history_id,
        };
        self.messages.insert(id.clone(), message);
        id
    }

    /// The user deletes a message for good.
    pub fn delete(&mut self, id: &str) {
        let m = self.messages.remove(id).expect("a message");
        self.change("messageDeleted", id, m.labels);
    }

    /// The user archives a message: it leaves the Inbox.
    pub fn archive(&mut self, id: &str) {
        let m = self.messages.get_mut(id).expect("a message");
        m.labels.retain(|l| l != "INBOX");
        self.change("labelRemoved", id, vec!["INBOX".into()]);
        let hid = self.history_id;
        self.messages.get_mut(id).expect("a message").history_id = hid;
    }

    /// Google no longer keeps the history before now (typically after a
    /// week): an older `startHistoryId` is answered 404.
    pub fn expire_history(&mut self) {
        self.floor = self.history_id;
    }

    /// Every access token stops working, as after an hour.
    pub fn expire_access_tokens(&mut self) {
        self.access.clear();
    }

    /// An access token for `scope`, as a consent gives one, for a test
    /// that runs the connector straight on the runtime (no OAuth flow).
    pub fn grant(&mut self, scope: &str) -> String {
        let access = self.fresh("ya29.a0AeDClZFakeGmail-");
        let until = Instant::now() + Duration::from_secs(3599);
        self.access
            .insert(access.clone(), (scope.to_string(), until));
        self.issued.push(access.clone());
        access
    }
}

/// A mailbox: three Inbox messages (one with a PDF and an inline logo)
/// and one sent message.
pub fn mailbox() -> Gmail {
    let mut g = Gmail {
        history_id: 9000,
        ..Gmail::default()
    };
    let pdf = g.file(
        "invoice-2026-001.pdf",
        "application/pdf",
        b"%PDF-1.7\n% invoice 2026-001\n%%EOF\n",
    );
    let mut logo = g.file("logo.png", "image/png", b"\x89PNG\r\n\x1a\nlogo");
    logo.inline = true;
    g.receive(
        &["INBOX", "UNREAD"],
        "Invoice 2026-001",
        "Please find the invoice attached.",
        vec![pdf, logo],
    );
    g.receive(
        &["INBOX"],
        "Meeting notes",
        "Notes from Monday.",
        Vec::new(),
    );
    g.receive(
        &["INBOX", "IMPORTANT"],
        "Contract renewal",
        "The contract renews in March.",
        Vec::new(),
    );
    g.receive(&["SENT"], "Re: Meeting notes", "Thanks!", Vec::new());
    g
}

pub async fn start(gmail: Gmail) -> (Upstream, Shared) {
    let shared = Arc::new(Mutex::new(gmail));
    let app = Router::new().fallback(serve).with_state(shared.clone());
    (Upstream::start(app).await, shared)
}

fn google_error(status: StatusCode, reason: &str, message: &str) -> Response {
    let name = match status.as_u16() {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        _ => "UNKNOWN",
    };
    let body = json!({"error": {"code": status.as_u16(), "message": message,
        "errors": [{"message": message, "domain": "global", "reason": reason}], "status": name}});
    (status, axum::Json(body)).into_response()
}

async fn serve(State(g): State<Shared>, request: Request) -> Response {
    let method = request.method().to_string();
    let uri = request.uri().to_string();
    let path = request.uri().path().to_string();
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(request.uri().query().unwrap_or_default()).unwrap_or_default();
    let headers = request.headers().clone();
    let body = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let mut s = lock(&g);
    let response = match (method.as_str(), path.as_str()) {
        ("GET", "/o/oauth2/v2/auth") => auth::authorize(&mut s, &query),
        ("POST", "/token") => auth::token(&mut s, &headers, &body),
        _ => api(&mut s, &method, &path, &query, &headers),
    };
    let status = response.status().as_u16();
    s.seen.push(Seen {
        method,
        uri,
        status,
    });
    response
}

fn api(
    s: &mut Gmail,
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
) -> Response {
    if let Some(v) = discovery::violation(method, path, query) {
        s.violations.push(v);
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let access = bearer.and_then(|t| s.access.get(t));
    let Some((scope, _)) = access.filter(|a| a.1 > Instant::now()) else {
        let mut r = google_error(
            StatusCode::UNAUTHORIZED,
            "authError",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        );
        let challenge = "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\"";
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, challenge.parse().unwrap());
        return r;
    };
    if let Some(m) = discovery::find(method, path)
        && !discovery::allowed(m, scope)
    {
        return google_error(
            StatusCode::FORBIDDEN,
            "insufficientPermissions",
            "Request had insufficient authentication scopes.",
        );
    }
    if s.throttle > 0 {
        s.throttle -= 1;
        let mut r = google_error(
            StatusCode::TOO_MANY_REQUESTS,
            "rateLimitExceeded",
            "Rate Limit Exceeded",
        );
        r.headers_mut().insert(header::RETRY_AFTER, 1.into());
        return r;
    }
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let all = |k: &str| -> Vec<String> {
        query
            .iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let parts: Vec<String> = path
        .split('/')
        .map(|p| {
            percent_encoding::percent_decode_str(p)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let rest = match parts.as_slice() {
        ["", "gmail", "v1", "users", user, rest @ ..] if *user == "me" || *user == EMAIL => rest,
        _ => {
            return google_error(
                StatusCode::NOT_FOUND,
                "notFound",
                "Requested entity was not found.",
            );
        }
    };
    match (method, rest) {
        ("GET", ["profile"]) => axum::Json(
            json!({"emailAddress": EMAIL, "messagesTotal": s.messages.len(),
            "threadsTotal": s.messages.len(), "historyId": s.history_id.to_string()}),
        )
        .into_response(),
        ("GET", ["messages"]) => list(s, &q, &all),
        ("GET", ["messages", id]) => match s.messages.get(*id) {
            Some(m) => {
                let format = q("format");
                let format = format.as_deref().unwrap_or("full");
                if format == "raw" {
                    s.violations
                        .push("messages.get: format=raw is not modelled".into());
                }
                axum::Json(message_json(m, format)).into_response()
            }
            None => google_error(
                StatusCode::NOT_FOUND,
                "notFound",
                "Requested entity was not found.",
            ),
        },
        ("GET", ["messages", id, "attachments", aid]) => {
            let found = s
                .messages
                .get(*id)
                .and_then(|m| m.attachments.iter().find(|a| a.attachment_id == *aid));
            match found {
                Some(a) => axum::Json(
                    json!({"attachmentId": a.attachment_id, "size": a.bytes.len(),
                    "data": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&a.bytes)}),
                )
                .into_response(),
                None => google_error(
                    StatusCode::NOT_FOUND,
                    "notFound",
                    "Requested entity was not found.",
                ),
            }
        }
        ("GET", ["history"]) => history(s, &q, &all),
        _ => {
            s.violations
                .push(format!("{method} {path}: not in the fake"));
            google_error(
                StatusCode::NOT_FOUND,
                "notFound",
                "Requested entity was not found.",
            )
        }
    }
}

fn list(
    s: &mut Gmail,
    q: &dyn Fn(&str) -> Option<String>,
    all: &dyn Fn(&str) -> Vec<String>,
) -> Response {
    let max: usize = q("maxResults").and_then(|m| m.parse().ok()).unwrap_or(100);
    if max > 500 {
        return google_error(
            StatusCode::BAD_REQUEST,
            "invalidArgument",
            "Invalid maxResults: at most 500",
        );
    }
    let mut attachments_only = false;
    for term in q("q").unwrap_or_default().split_whitespace() {
        match term {
            "has:attachment" => attachments_only = true,
            other => s.violations.push(format!(
                "messages.list: the search term `{other}` is not modelled"
            )),
        }
    }
    let labels = all("labelIds");
    let spam_trash = q("includeSpamTrash").as_deref() == Some("true");
    let mut matching: Vec<&Message> = s
        .messages
        .values()
        .filter(|m| labels.iter().all(|l| m.labels.contains(l)))
        .filter(|m| spam_trash || !m.labels.iter().any(|l| l == "SPAM" || l == "TRASH"))
        .filter(|m| !attachments_only || !m.attachments.is_empty())
        .collect();
    // Newest first, as Gmail lists.
    matching.sort_by_key(|m| std::cmp::Reverse(m.internal_ms));
    let skip: usize = q("pageToken")
        .and_then(|t| t.strip_prefix('0').and_then(|n| n.parse().ok()))
        .unwrap_or(0);
    let page: Vec<Value> = matching
        .iter()
        .skip(skip)
        .take(max)
        .map(|m| json!({"id": m.id, "threadId": m.id}))
        .collect();
    let mut body = json!({"resultSizeEstimate": matching.len()});
    if !page.is_empty() {
        body["messages"] = json!(page);
    }
    if skip + max < matching.len() {
        body["nextPageToken"] = json!(format!("0{:019}", skip + max));
    }
    axum::Json(body).into_response()
}

fn history(
    s: &mut Gmail,
    q: &dyn Fn(&str) -> Option<String>,
    all: &dyn Fn(&str) -> Vec<String>,
) -> Response {
    let Some(start) = q("startHistoryId").and_then(|h| h.parse::<u64>().ok()) else {
        s.violations
            .push("history.list without a startHistoryId".into());
        return google_error(
            StatusCode::BAD_REQUEST,
            "invalidArgument",
            "Missing or invalid startHistoryId",
        );
    };
    if start < s.floor || start == 0 {
        s.expired += 1;
        return google_error(
            StatusCode::NOT_FOUND,
            "notFound",
            "Requested entity was not found.",
        );
    }
    let types = all("historyTypes");
    let label = q("labelId");
    let max: usize = q("maxResults")
        .and_then(|m| m.parse().ok())
        .unwrap_or(100)
        .clamp(1, 500);
    let records: Vec<&Change> = s
        .history
        .iter()
        .filter(|c| c.id > start)
        .filter(|c| types.is_empty() || types.iter().any(|t| t == c.kind))
        .filter(|c| label.as_ref().is_none_or(|l| c.labels.contains(l)))
        .collect();
    let skip: usize = q("pageToken").and_then(|t| t.parse().ok()).unwrap_or(0);
    let page: Vec<Value> = records
        .iter()
        .skip(skip)
        .take(max)
        .map(|c| {
            let labels = s.messages.get(&c.message).map_or(c.labels.clone(), |m| m.labels.clone());
            let message = json!({"id": c.message, "threadId": c.message, "labelIds": labels});
            let field = match c.kind {
                "messageAdded" => "messagesAdded",
                "messageDeleted" => "messagesDeleted",
                "labelAdded" => "labelsAdded",
                _ => "labelsRemoved",
            };
            let mut entry = json!({"message": message});
            if c.kind.starts_with("label") {
                entry["labelIds"] = json!(c.labels);
            }
            let mut record = json!({"id": c.id.to_string(), "messages": [{"id": c.message, "threadId": c.message}]});
            record[field] = json!([entry]);
            record
        })
        .collect();
    let mut body = json!({"historyId": s.history_id.to_string()});
    if !page.is_empty() {
        body["history"] = json!(page);
    }
    if skip + max < records.len() {
        body["nextPageToken"] = json!((skip + max).to_string());
    }
    axum::Json(body).into_response()
}

fn header_list(m: &Message) -> Value {
    json!([{"name": "From", "value": m.from}, {"name": "To", "value": EMAIL},
        {"name": "Subject", "value": m.subject}, {"name": "Date", "value": "Thu, 1 Jan 2026 10:00:00 +0000"},
        {"name": "Message-ID", "value": format!("<{}@mail.example.org>", m.id)},
        {"name": "MIME-Version", "value": "1.0"}])
}

/// A message as `messages.get` answers in `format`.
fn message_json(m: &Message, format: &str) -> Value {
    let b64 = base64::engine::general_purpose::URL_SAFE;
    let mut v = json!({"id": m.id, "threadId": m.id, "labelIds": m.labels, "snippet": m.text.chars().take(100).collect::<String>(),
        "historyId": m.history_id.to_string(), "internalDate": m.internal_ms.to_string(), "sizeEstimate": 2048 + m.text.len()});
    if format == "minimal" {
        return v;
    }
    let text = json!({"partId": "0.0", "mimeType": "text/plain", "filename": "",
        "headers": [{"name": "Content-Type", "value": "text/plain; charset=\"UTF-8\""}],
        "body": {"size": m.text.len(), "data": b64.encode(m.text.as_bytes())}});
    let html_text = format!("<div dir=\"ltr\">{}</div>", m.text);
    let html = json!({"partId": "0.1", "mimeType": "text/html", "filename": "",
        "headers": [{"name": "Content-Type", "value": "text/html; charset=\"UTF-8\""}],
        "body": {"size": html_text.len(), "data": b64.encode(html_text.as_bytes())}});
    let mut parts = vec![
        json!({"partId": "0", "mimeType": "multipart/alternative", "filename": "",
        "headers": [{"name": "Content-Type", "value": "multipart/alternative; boundary=\"000000000000a1b2\""}],
        "body": {"size": 0}, "parts": [text, html]}),
    ];
    for (i, a) in m.attachments.iter().enumerate() {
        let disposition = if a.inline { "inline" } else { "attachment" };
        parts.push(json!({"partId": (i + 1).to_string(), "mimeType": a.mime, "filename": a.filename,
            "headers": [{"name": "Content-Type", "value": format!("{}; name=\"{}\"", a.mime, a.filename)},
                {"name": "Content-Disposition", "value": format!("{disposition}; filename=\"{}\"", a.filename)},
                {"name": "Content-Transfer-Encoding", "value": "base64"}],
            "body": {"attachmentId": a.attachment_id, "size": a.bytes.len()}}));
    }
    let mut payload = json!({"partId": "", "mimeType": "multipart/mixed", "filename": "", "headers": header_list(m),
        "body": {"size": 0}, "parts": parts});
    if format == "metadata" {
        payload = json!({"partId": "", "mimeType": "multipart/mixed", "filename": "", "headers": header_list(m), "body": {"size": 0}});
    }
    v["payload"] = payload;
    v
}
