//! A fake Microsoft Teams Workflows webhook, from Microsoft's documentation (details and
//! sources in `docs/vendors/teams-discord.md`):
//!
//! - **Workflows webhook**, the Power Automate trigger replacing Office 365
//!   connectors (<https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using>,
//!   <https://devblogs.microsoft.com/microsoft365dev/retirement-of-office-365-connectors-within-microsoft-teams/>,
//!   <https://support.microsoft.com/office/create-incoming-webhooks-with-workflows-for-microsoft-teams-8ae491c7-0394-4861-ba59-055e33f75498>,
//!   <https://learn.microsoft.com/en-us/power-automate/teams/overview>):
//!   `POST /workflows/{id}/triggers/manual/paths/invoke?api-version=…&sp=…&sv=1.0&sig=…`,
//!   the SAS `sig` its secret (401 `DirectApiAuthorizationRequired`; 404
//!   `WorkflowNotFound`); `{"type":"message","attachments":[…]}` of Adaptive
//!   Cards only, no `MessageCard`, `version` ≤ 1.5 and 28 KB at most
//!   (<https://learn.microsoft.com/en-us/microsoftteams/platform/task-modules-and-cards/cards/cards-reference>),
//!   else 400 `InvalidRequestContent` or 413; then 202, empty. `${…}`
//!   bindings left in a card show empty in Teams
//!   (<https://newportg.github.io/Content/Journal/posts/2020-11-19-AdaptiveCard.html>):
//!   accepted, noted in [`Teams::warnings`].
//!
//! Microsoft Graph's channel messages (the `teams-graph` build) are faked
//! in `teams_graph.rs`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::support::Upstream;

pub const WORKFLOW_ID: &str = "5b2e3b1a8c9d4e0f9a7b6c5d4e3f2a1b";
/// The trigger URL's `sig`.
pub const SIG: &str = "Jw8dQp3kX1vZ7mN4bR6tY9uC2eF5hL0aS8gK3jD6wQ";
const ADAPTIVE: &str = "application/vnd.microsoft.card.adaptive";
/// Every refusal, `key status code message` a line.
const REFUSALS: &str = "\
NotPost 405 TriggerRequestMethodNotValid The HTTP method for this request is not valid: expected 'Post'.
NoVersion 400 MissingApiVersionParameter The api-version query parameter (?api-version=) is required for all requests.
NoFlow 404 WorkflowNotFound The workflow could not be found.
NoSig 401 DirectApiAuthorizationRequired The request must be authenticated only by Shared Access scheme.
BadSig 401 DirectApiAuthorizationRequired The provided authorization token is not valid. The request should have a valid authorization header with 'Bearer' scheme or Shared Access Signature.
Throttled 429 WorkflowRequestsThrottled Rate limit is exceeded. Try again in 1 seconds.
TooLarge 413 RequestEntityTooLarge The message is larger than Teams takes (about 28 KB).
NotJson 400 InvalidRequestContent The request content is not valid and could not be deserialized.
MessageCard 400 InvalidRequestContent Workflows post Adaptive Cards only; the MessageCard format is not supported.
NotMessage 400 InvalidRequestContent The body must be {\"type\":\"message\",\"attachments\":[…]} with at least one attachment.
NotAdaptive 400 InvalidRequestContent Each attachment's contentType must be 'application/vnd.microsoft.card.adaptive', its content an Adaptive Card object.
BadCard 400 InvalidRequestContent The card's type must be 'AdaptiveCard', its version one Teams renders (at most 1.5), its body an array.
";

pub struct Teams {
    /// Workflows whose trigger is on.
    pub workflows: Vec<String>,
    /// Cards the Workflows webhook accepted (each attachment's `content`).
    pub posted_workflow: Vec<Value>,
    /// What Teams takes but shows wrong (template bindings left in cards).
    pub warnings: Vec<String>,
    /// Calls answered HTTP 429.
    pub refused_429: u32,
    /// Answer the next this many posts (of either kind) 429, `Retry-After: 1`.
    pub throttle_next: u32,
    /// Every request's path (not its query: `sig` is a secret) and when.
    pub calls: Vec<(String, Instant)>,
}

pub type Shared = Arc<Mutex<Teams>>;

impl Default for Teams {
    fn default() -> Self {
        Teams {
            workflows: vec![WORKFLOW_ID.into()],
            posted_workflow: Vec::new(),
            warnings: Vec::new(),
            refused_429: 0,
            throttle_next: 0,
            calls: Vec::new(),
        }
    }
}

impl Teams {
    /// The workflow [`WORKFLOW_ID`], its trigger on.
    pub fn tenant() -> Teams {
        Teams::default()
    }

    fn forced(&mut self) -> bool {
        let forced = self.throttle_next > 0;
        self.throttle_next -= u32::from(forced);
        self.refused_429 += u32::from(forced);
        forced
    }
}

/// `/workflows/{WORKFLOW_ID}/triggers/manual/paths/invoke?…&sig={SIG}`.
pub fn workflow_path_and_query() -> String {
    let query = "api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0";
    format!("/workflows/{WORKFLOW_ID}/triggers/manual/paths/invoke?{query}&sig={SIG}")
}

pub async fn start(state: Teams) -> (Upstream, Shared) {
    let shared = Arc::new(Mutex::new(state));
    let app = Router::new().fallback(serve).with_state(shared.clone());
    (Upstream::start(app).await, shared)
}

fn lock(shared: &Shared) -> MutexGuard<'_, Teams> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A request as it came.
struct Call {
    method: Method,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Call {
    fn query(&self, key: &str) -> Option<&str> {
        let found = self.query.iter().find(|(k, _)| k == key);
        found.map(|(_, v)| v.as_str())
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

fn now_ms() -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH);
    now.unwrap_or_default().as_millis() as u64
}

/// A fresh value, unique in this process.
fn fresh() -> String {
    static N: AtomicU64 = AtomicU64::new(1);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{n:016x}{:016x}", now_ms())
}

fn json_response(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let typed = [(header::CONTENT_TYPE, "application/json; charset=utf-8")];
    (status, typed, body.to_string()).into_response()
}

fn with_header(mut r: Response, name: &'static str, value: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(value) {
        r.headers_mut().insert(HeaderName::from_static(name), value);
    }
    r
}

/// A refusal's status, code and message in [`REFUSALS`].
fn refusal(key: &str) -> (u16, &'static str, &'static str) {
    let found = REFUSALS
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '));
    let mut parts = found.unwrap_or_default().splitn(3, ' ');
    let status = parts.next().and_then(|s| s.parse().ok()).unwrap_or(400);
    let code = parts.next().unwrap_or("BadRequest");
    (status, code, parts.next().unwrap_or_default())
}

/// The key of the first of `checks` that applies.
fn first(checks: &[(bool, &'static str)]) -> Option<&'static str> {
    checks
        .iter()
        .find(|(applies, _)| *applies)
        .map(|(_, key)| *key)
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)?.as_str()
}

async fn serve(State(teams): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 16 << 20).await;
    let path = parts.uri.path().to_string();
    let query = serde_urlencoded::from_str(parts.uri.query().unwrap_or_default());
    let call = Call {
        method: parts.method,
        query: query.unwrap_or_default(),
        headers: parts.headers,
        body: body.unwrap_or_default().to_vec(),
    };
    let mut t = lock(&teams);
    t.calls.push((path.clone(), Instant::now()));
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["workflows", id, "triggers", "manual", "paths", "invoke"] => workflow(&mut t, id, &call),
        _ => (StatusCode::NOT_FOUND, "Not Found").into_response(),
    }
}

// ---------------------------------------------------------------- Workflows

/// The error envelope of Logic Apps and Power Automate.
fn flow_error(key: &str) -> Response {
    let (status, code, message) = refusal(key);
    let error = json!({"code": code, "message": message});
    json_response(status, &json!({ "error": error }))
}

fn workflow(t: &mut Teams, id: &str, call: &Call) -> Response {
    let sig = call.query("sig");
    let sp = call.query("sp") == Some("/triggers/manual/run");
    let signed = sig == Some(SIG) && sp && call.query("sv") == Some("1.0");
    let refused = first(&[
        (call.method != Method::POST, "NotPost"),
        (call.query("api-version").is_none(), "NoVersion"),
        (!t.workflows.iter().any(|w| w == id), "NoFlow"),
        (sig.is_none(), "NoSig"),
        (!signed, "BadSig"),
    ]);
    if let Some(key) = refused {
        return flow_error(key);
    }
    if t.forced() {
        return with_header(flow_error("Throttled"), "retry-after", "1");
    }
    let cards = match adaptive_cards(call) {
        Ok(cards) => cards,
        Err(key) => return flow_error(key),
    };
    for card in cards {
        if let Some(binding) = template_binding(&card.to_string()) {
            let warning = format!("workflow {id}: card keeps {binding}, which Teams shows empty");
            t.warnings.push(warning);
        }
        t.posted_workflow.push(card);
    }
    let r = StatusCode::ACCEPTED.into_response();
    with_header(r, "x-ms-workflow-run-id", &fresh())
}

/// The first `${…}` in `text`.
fn template_binding(text: &str) -> Option<&str> {
    let start = text.find("${")?;
    let end = text[start..].find('}').map(|e| start + e + 1);
    Some(&text[start..end.unwrap_or(text.len())])
}

/// Whether Teams renders `card`: an `AdaptiveCard`, version 1.0 to 1.5,
/// with a `body`.
fn renders(card: &Value) -> bool {
    let version = text(card, "version").and_then(|v| v.split_once('.'));
    let version = version.map(|(a, b)| (a.parse::<u32>(), b.parse::<u32>()));
    let known = matches!(version, Some((Ok(1), Ok(minor))) if minor <= 5);
    let body = card.get("body").is_some_and(Value::is_array);
    text(card, "type") == Some("AdaptiveCard") && known && body
}

/// The cards a Workflows post carries, or the key of why it is refused.
fn adaptive_cards(call: &Call) -> Result<Vec<Value>, &'static str> {
    if call.body.len() > 28 * 1024 {
        return Err("TooLarge");
    }
    let typed = call.header("content-type").unwrap_or_default();
    let typed = typed.to_ascii_lowercase().starts_with("application/json");
    let message = serde_json::from_slice::<Value>(&call.body).ok();
    let Some(message) = message.filter(|m| typed && m.is_object()) else {
        return Err("NotJson");
    };
    let kinds = [text(&message, "@type"), text(&message, "type")];
    if kinds.contains(&Some("MessageCard")) {
        return Err("MessageCard");
    }
    let attachments = message.get("attachments").and_then(Value::as_array);
    let attachments = attachments.filter(|a| !a.is_empty());
    let Some(attachments) = attachments.filter(|_| kinds[1] == Some("message")) else {
        return Err("NotMessage");
    };
    let mut cards = Vec::new();
    for a in attachments {
        let card = a.get("content").filter(|c| c.is_object());
        let Some(card) = card.filter(|_| text(a, "contentType") == Some(ADAPTIVE)) else {
            let legacy = "application/vnd.microsoft.teams.card.o365connector";
            let old = text(a, "contentType") == Some(legacy);
            return Err(if old { "MessageCard" } else { "NotAdaptive" });
        };
        if !renders(card) {
            return Err("BadCard");
        }
        cards.push(card.clone());
    }
    Ok(cards)
}
