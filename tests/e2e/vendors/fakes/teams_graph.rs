//! A fake Microsoft Graph for Teams channel messages, with the Microsoft
//! identity platform's OAuth 2.0 endpoints, on one loopback origin, from
//! Microsoft's documentation (more in `docs/vendors/teams-discord.md`);
//! what breaks a documented rule goes to [`TeamsGraph::violations`]:
//!
//! - **Identity platform**, authorization code flow
//!   (<https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow>):
//!   `/{tenant}/oauth2/v2.0/{authorize,token}`; unknown tenant or client:
//!   an error page; unknown scope: `invalid_scope` (`AADSTS70011`); the
//!   client secret in the form (or HTTP Basic), else `401 invalid_client`; a
//!   code good once, for ten minutes, for its redirect URI and its S256
//!   PKCE verifier (`AADSTS501481`); a refresh token only with
//!   `offline_access`; access tokens for 3599 s.
//! - **Get channel** (<https://learn.microsoft.com/en-us/graph/api/channel-get>):
//!   `GET /v1.0/teams/{team-id}/channels/{channel-id}`, `$select` of the
//!   channel's properties, delegated `Channel.ReadBasic.All` at the least;
//!   the answer is the page's example.
//! - **Send chatMessage in a channel**
//!   (<https://learn.microsoft.com/en-us/graph/api/channel-post-messages>,
//!   <https://learn.microsoft.com/en-us/graph/api/chatmessage-post> example 3
//!   "Send message containing cards",
//!   <https://learn.microsoft.com/en-us/graph/teams-messaging-overview> card
//!   attachments): `POST …/messages`, `Content-type: application/json`,
//!   delegated `ChannelMessage.Send`; a `body`, here `html` pointing at each
//!   attachment by `<attachment id="…"></attachment>`; each attachment of
//!   type `application/vnd.microsoft.card.adaptive` with `contentUrl: null`
//!   and the card's JSON as a **string** in `content` (an `AdaptiveCard`
//!   with a `version`, <https://learn.microsoft.com/en-us/microsoftteams/platform/task-modules-and-cards/cards/cards-reference>);
//!   `201 Created` with the `chatMessage` of the page's example. About
//!   28 KB at most (recon), else `413`.
//! - **Errors** (<https://learn.microsoft.com/en-us/graph/errors>):
//!   `{"error": {"code", "message", "innerError": {"date", "request-id",
//!   "client-request-id"}}}`; 401 `InvalidAuthenticationToken`, 403
//!   `Forbidden` (a scope missing, or the user not a member of the team:
//!   the wording of these is recon), 404 `NotFound`.
//! - **Limits** (<https://learn.microsoft.com/en-us/graph/throttling-limits#microsoft-teams-service-limits>,
//!   <https://learn.microsoft.com/en-us/graph/throttling>): 4 requests a
//!   second per app on one team or channel ([`TeamsGraph::max_in_window`]
//!   for the test to check); 429 `TooManyRequests` and 503
//!   `ServiceUnavailable` with `Retry-After: 1` when the test asks
//!   ([`TeamsGraph::throttle_on_post`], [`TeamsGraph::unavailable_on_post`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD};
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::support::Upstream;

pub const CLIENT_ID: &str = "2f1b8a4e-7c3d-4e59-a0b6-9d8c7e6f5a41";
pub const CLIENT_SECRET: &str = "Wm82Q~fakeTeamsGraphSecret.r7YbKp4N2vLsX0qDgH3";
/// The directory the app, the user and the teams live in.
pub const TENANT_ID: &str = "2432b57b-0abd-43db-aa7b-16eadd115d34";
/// The team (and channel) of the documentation's examples; the signed-in
/// user is a member.
pub const TEAM_ID: &str = "fbe2bf47-16c8-47cf-b4a5-4b9b187c508b";
pub const CHANNEL_ID: &str = "19:4a95f7d8db4c4e7fae857bcebe0623e6@thread.tacv2";
/// A team the signed-in user is not a member of.
pub const OTHER_TEAM_ID: &str = "893075dd-2487-4122-925f-022c42e20265";
pub const OTHER_CHANNEL_ID: &str = "19:561fbdbbfca848a484f0a6f00ce9dbbd@thread.tacv2";
/// The signed-in user (Robin Kline, as in the examples).
const USER_ID: &str = "8ea0e38b-efb3-4757-924a-5f94061cf8c2";
const ADAPTIVE: &str = "application/vnd.microsoft.card.adaptive";
const MAX_MESSAGE_BYTES: usize = 28 * 1024;
/// Scopes the fake's app registration may ask for.
const SCOPES: &str = "openid profile email offline_access User.Read ChannelMessage.Send \
    Channel.ReadBasic.All ChannelSettings.Read.All Group.ReadWrite.All";
/// The channel properties `$select` may name.
const CHANNEL_PROPS: &str = "id createdDateTime displayName description email isFavoriteByDefault \
    membershipType tenantId webUrl isArchived layoutType summary migrationMode originalCreatedDateTime";

/// A channel: its team, id, name, and whether the signed-in user is in it.
type Channel = (&'static str, &'static str, &'static str, bool);

static CHANNELS: [Channel; 2] = [
    (TEAM_ID, CHANNEL_ID, "General", true),
    (OTHER_TEAM_ID, OTHER_CHANNEL_ID, "Finance", false),
];

/// A message Graph took.
#[derive(Clone, Debug)]
pub struct Posted {
    pub team: String,
    pub channel: String,
    /// The id Graph gave it.
    pub id: String,
    pub subject: Option<String>,
    /// The Adaptive Card, parsed from the attachment's `content`.
    pub card: Value,
    /// The request body as it came.
    pub raw: String,
}

/// An authorization code's redirect URI, scopes, PKCE challenge and age.
type Code = (String, String, Option<String>, Instant);

#[derive(Default)]
pub struct TeamsGraph {
    pub posted: Vec<Posted>,
    pub violations: Vec<String>,
    /// Status and error code of every refusal of the API.
    pub refused: Vec<(u16, String)>,
    /// When this many messages were posted, answer the next post 429.
    pub throttle_on_post: Option<usize>,
    /// When this many messages were posted, answer the next post 503.
    pub unavailable_on_post: Option<usize>,
    /// When this many messages were posted, every access token expires
    /// before the next post is looked at.
    pub expire_on_post: Option<usize>,
    /// The scopes of each authorization.
    pub consented: Vec<String>,
    /// Refresh grants answered.
    pub refreshes: u32,
    /// Every access and refresh token issued, for leak checks.
    pub issued: Vec<String>,
    /// When each API call arrived.
    pub calls: Vec<Instant>,
    codes: BTreeMap<String, Code>,
    access: BTreeMap<String, (String, Instant)>,
    refresh: BTreeMap<String, String>,
    next: u64,
}

pub type Shared = Arc<Mutex<TeamsGraph>>;

pub fn lock(g: &Shared) -> MutexGuard<'_, TeamsGraph> {
    g.lock().unwrap_or_else(PoisonError::into_inner)
}

impl TeamsGraph {
    fn fresh(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}{:012}Q{:08x}", self.next * 7919, self.next)
    }

    /// Every access token stops working, as after an hour.
    pub fn expire_access_tokens(&mut self) {
        self.access.clear();
    }

    /// The most API calls that arrived within `window` of each other.
    pub fn max_in_window(&self, window: Duration) -> usize {
        let at = &self.calls;
        (0..at.len())
            .map(|i| at[i..].iter().filter(|t| **t - at[i] < window).count())
            .max()
            .unwrap_or(0)
    }
}

pub async fn start(state: TeamsGraph) -> (Upstream, Shared) {
    let shared = Arc::new(Mutex::new(state));
    let app = Router::new().fallback(serve).with_state(shared.clone());
    (Upstream::start(app).await, shared)
}

async fn serve(State(shared): State<Shared>, request: Request) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let raw = request.uri().query().unwrap_or_default().to_string();
    let query: Vec<(String, String)> = serde_urlencoded::from_str(&raw).unwrap_or_default();
    let headers = request.headers().clone();
    let body = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let mut g = lock(&shared);
    if let Some((tenant, endpoint)) = identity_endpoint(&path) {
        return match (method.as_str(), endpoint) {
            ("GET", "authorize") => authorize(&mut g, tenant, &query),
            ("POST", "token") => token(&mut g, tenant, &headers, &body),
            _ => page(900561, "The endpoint only accepts POST requests."),
        };
    }
    g.calls.push(Instant::now());
    api(&mut g, &method, &path, &query, &headers, &body)
}

// ------------------------------------------------------------------ Graph

/// A refusal of the API in Graph's error shape, noted in
/// [`TeamsGraph::refused`].
fn refuse(g: &mut TeamsGraph, status: StatusCode, code: &str, message: &str) -> Response {
    g.refused.push((status.as_u16(), code.to_string()));
    let id = "b5a1e3c6-2f4d-4e8a-9b1c-0d2e3f4a5b6c";
    let body = json!({"error": {"code": code, "message": message, "innerError": {
        "date": "2026-01-05T10:00:00", "request-id": id, "client-request-id": id}}});
    (status, axum::Json(body)).into_response()
}

/// A refusal the connector should never have caused.
fn violated(g: &mut TeamsGraph, what: String, code: &str, message: &str) -> Response {
    g.violations.push(what);
    refuse(g, StatusCode::BAD_REQUEST, code, message)
}

/// The scope of the request's bearer token, if it is a live one.
fn bearer(g: &mut TeamsGraph, headers: &HeaderMap) -> Result<String, Response> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let now = Instant::now();
    let live = token
        .and_then(|t| g.access.get(t))
        .filter(|(_, until)| *until > now)
        .map(|(scope, _)| scope.clone());
    let why = "Access token has expired or is not yet valid.";
    let (status, code) = (StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");
    live.ok_or_else(|| refuse(g, status, code, why))
}

fn api(
    g: &mut TeamsGraph,
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let segments: Vec<String> = path
        .split('/')
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let (team, channel, posting) = match segs.as_slice() {
        ["", "v1.0", "teams", team, "channels", channel] if method == "GET" => {
            (team.to_string(), channel.to_string(), false)
        }
        ["", "v1.0", "teams", team, "channels", channel, "messages"] if method == "POST" => {
            (team.to_string(), channel.to_string(), true)
        }
        _ => {
            let what = format!("{method} {path}: not an endpoint the connector uses");
            g.violations.push(what);
            let why = format!("Resource not found for the segment '{path}'.");
            return refuse(g, StatusCode::NOT_FOUND, "NotFound", &why);
        }
    };
    if posting && g.expire_on_post == Some(g.posted.len()) {
        g.expire_on_post = None;
        g.expire_access_tokens();
    }
    let scope = match bearer(g, headers) {
        Ok(scope) => scope,
        Err(refused) => return refused,
    };
    // The least privileged delegated permission first.
    let needs = if posting {
        ["ChannelMessage.Send", "Group.ReadWrite.All"]
    } else {
        ["Channel.ReadBasic.All", "ChannelSettings.Read.All"]
    };
    if !scope.split(' ').any(|s| needs.contains(&s)) {
        let why = format!(
            "Missing scope permissions on the request. API requires one of '{}'. Scopes on the request '{scope}'",
            needs.join(", ")
        );
        let what = format!("{method} {path} without {}", needs[0]);
        g.violations.push(what);
        return refuse(g, StatusCode::FORBIDDEN, "Forbidden", &why);
    }
    let n = Some(g.posted.len());
    let forced = if posting && g.throttle_on_post == n {
        g.throttle_on_post = None;
        let why = "Too many requests. Please retry after the time in the Retry-After header.";
        Some((StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", why))
    } else if posting && g.unavailable_on_post == n {
        g.unavailable_on_post = None;
        let why = "The service is temporarily unavailable. Please retry later.";
        Some((StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", why))
    } else {
        None
    };
    if let Some((status, code, why)) = forced {
        let mut r = refuse(g, status, code, why);
        let wait = HeaderValue::from_static("1");
        r.headers_mut().insert(header::RETRY_AFTER, wait);
        return r;
    }
    let Some(found) = CHANNELS.iter().find(|c| c.0 == team && c.1 == channel) else {
        let why = match CHANNELS.iter().any(|c| c.0 == team) {
            true => format!("Channel {channel} was not found in team {team}."),
            false => format!("No team found with Group Id {team}"),
        };
        return refuse(g, StatusCode::NOT_FOUND, "NotFound", &why);
    };
    if !found.3 {
        let why = "The user is not a member of the team or channel.";
        return refuse(g, StatusCode::FORBIDDEN, "Forbidden", why);
    }
    if posting {
        post(g, found, headers, body)
    } else {
        get_channel(g, found, query)
    }
}

fn get_channel(g: &mut TeamsGraph, c: &Channel, query: &[(String, String)]) -> Response {
    let (team, id, name, _) = *c;
    let encoded = id.replace(':', "%3A").replace('@', "%40");
    let mut channel = json!({
        "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#teams('{team}')/channels/$entity"),
        "id": id, "createdDateTime": "2020-05-27T19:22:25.692Z", "displayName": name,
        "description": "AutoTestTeam_20210311_150740.2550_fim3udfdjen9", "isFavoriteByDefault": null,
        "email": "", "membershipType": "standard", "tenantId": TENANT_ID,
        "isArchived": false, "layoutType": "post",
        "webUrl": format!("https://teams.microsoft.com/l/channel/{encoded}/{name}?groupId={team}&tenantId={TENANT_ID}")});
    let select = query.iter().find(|(k, _)| k == "$select").map(|(_, v)| v);
    if let (Some(select), Value::Object(fields)) = (select, &mut channel) {
        let names: Vec<&str> = select.split(',').map(str::trim).collect();
        let known = |n: &&&str| CHANNEL_PROPS.split_whitespace().any(|p| p == **n);
        if let Some(bad) = names.iter().find(|n| !known(n)) {
            let what = format!("GET channel: $select names `{bad}`, not a channel property");
            let why = format!("Could not find a property named '{bad}' on type 'channel'.");
            return violated(g, what, "BadRequest", &why);
        }
        fields.retain(|k, _| k.starts_with('@') || names.contains(&k.as_str()));
    }
    axum::Json(channel).into_response()
}

/// The Adaptive Card of a `chatMessage` body, or what is wrong with it.
fn card_of(message: &Value) -> Result<Value, String> {
    let body = &message["body"];
    let html = body["contentType"].as_str() == Some("html");
    let Some(content) = body["content"].as_str().filter(|c| !c.is_empty()) else {
        return Err("the chatMessage has no body.content".into());
    };
    let attachments = message["attachments"].as_array().cloned();
    let attachments = attachments.unwrap_or_default();
    let [attachment] = attachments.as_slice() else {
        return Err(format!("{} attachments, not one", attachments.len()));
    };
    let id = attachment["id"].as_str().filter(|i| !i.is_empty());
    let Some(id) = id else {
        return Err("the attachment has no id".into());
    };
    if !html || !content.contains(&format!("<attachment id=\"{id}\"></attachment>")) {
        return Err(format!(
            "html body.content `{content}` misses attachment {id}"
        ));
    }
    let (typed, url) = (&attachment["contentType"], &attachment["contentUrl"]);
    if typed.as_str() != Some(ADAPTIVE) || !url.is_null() {
        return Err(format!("attachment contentType {typed}, contentUrl {url}"));
    }
    let Some(text) = attachment["content"].as_str() else {
        return Err("attachment content must be the card's JSON as a string".into());
    };
    let card: Value =
        serde_json::from_str(text).map_err(|e| format!("attachment content is not JSON: {e}"))?;
    let version = card["version"].as_str().and_then(|v| v.split_once('.'));
    let known = matches!(version, Some(("1", minor)) if minor.parse::<u32>().is_ok_and(|m| m <= 5));
    if card["type"].as_str() != Some("AdaptiveCard") || !known || !card["body"].is_array() {
        return Err(format!("not an Adaptive Card Teams renders: {text}"));
    }
    Ok(card)
}

fn post(g: &mut TeamsGraph, c: &Channel, headers: &HeaderMap, body: &[u8]) -> Response {
    let typed = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.to_ascii_lowercase().starts_with("application/json"));
    if body.len() > MAX_MESSAGE_BYTES {
        let why = "The message is over about 28 KB.";
        return refuse(
            g,
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            why,
        );
    }
    let unreadable = "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.";
    let message = serde_json::from_slice::<Value>(body).ok();
    let message = message.filter(|m| m.is_object());
    let Some(message) = message.filter(|_| typed) else {
        let what = "POST messages: not a JSON chatMessage".to_string();
        return violated(g, what, "BadRequest", unreadable);
    };
    let card = match card_of(&message) {
        Ok(card) => card,
        Err(what) => {
            let why = "Invalid request: the message's attachments do not match its body.";
            return violated(g, format!("POST messages: {what}"), "BadRequest", why);
        }
    };
    let n = 1_616_990_032_035u64 + g.posted.len() as u64 * 1_000;
    let id = n.to_string();
    let subject = message["subject"].as_str().map(str::to_string);
    let (team, channel_id, _, _) = *c;
    g.posted.push(Posted {
        team: team.into(),
        channel: channel_id.into(),
        id: id.clone(),
        subject: subject.clone(),
        card,
        raw: String::from_utf8_lossy(body).into_owned(),
    });
    let channel = channel_id.replace(':', "%3A").replace('@', "%40");
    let answer = json!({
        "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#teams('{team}')/channels('{channel}')/messages/$entity"),
        "id": id, "replyToId": null, "etag": id, "messageType": "message",
        "createdDateTime": "2021-03-29T04:24:11.162Z", "lastModifiedDateTime": "2021-03-29T04:24:11.162Z",
        "lastEditedDateTime": null, "deletedDateTime": null, "subject": subject, "summary": null,
        "chatId": null, "importance": "normal", "locale": "en-us",
        "webUrl": format!("https://teams.microsoft.com/l/message/{channel}/{id}?groupId={team}&tenantId={TENANT_ID}&createdTime={id}&parentMessageId={id}"),
        "policyViolation": null, "eventDetail": null,
        "from": {"application": null, "device": null, "user": {"id": USER_ID, "displayName": "Robin Kline", "userIdentityType": "aadUser"}},
        "body": message["body"], "channelIdentity": {"teamId": team, "channelId": channel_id},
        "attachments": message["attachments"], "mentions": [], "reactions": []});
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

// --------------------------------------------------------------- identity

/// `(tenant, "authorize" | "token")` of an identity platform path.
fn identity_endpoint(path: &str) -> Option<(&str, &str)> {
    let (tenant, rest) = path.strip_prefix('/')?.split_once('/')?;
    let endpoint = rest.strip_prefix("oauth2/v2.0/")?;
    matches!(endpoint, "authorize" | "token").then_some((tenant, endpoint))
}

fn known_tenant(tenant: &str) -> bool {
    let known = ["common", "organizations", TENANT_ID];
    known.iter().any(|t| t.eq_ignore_ascii_case(tenant))
}

fn page(code: u32, what: &str) -> Response {
    let html = format!(
        "<html><body><h1>Sorry, but we're having trouble signing you in.</h1><p>AADSTS{code}: {what}</p></body></html>"
    );
    let typed = [(header::CONTENT_TYPE, "text/html; charset=utf-8")];
    (StatusCode::BAD_REQUEST, typed, html).into_response()
}

fn oauth_error(status: StatusCode, error: &str, code: u32, what: &str) -> Response {
    let trace = "0c7a1f2e-8d3b-4a5c-9e6f-1a2b3c4d5e6f";
    let body = json!({"error": error,
        "error_description": format!("AADSTS{code}: {what} Trace ID: {trace} Correlation ID: {trace} Timestamp: 2026-01-05 10:00:00Z"),
        "error_codes": [code], "timestamp": "2026-01-05 10:00:00Z", "trace_id": trace, "correlation_id": trace});
    (status, axum::Json(body)).into_response()
}

fn authorize(g: &mut TeamsGraph, tenant: &str, query: &[(String, String)]) -> Response {
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if !known_tenant(tenant) {
        return page(90002, &format!("Tenant '{tenant}' not found."));
    }
    if get("client_id") != Some(CLIENT_ID) {
        let what = "Application with identifier was not found in the directory.";
        return page(700016, what);
    }
    let Some(mut back) = get("redirect_uri").and_then(|r| url::Url::parse(r).ok()) else {
        let what = "The redirect URI specified in the request does not match the redirect URIs configured for the application.";
        return page(50011, what);
    };
    if get("response_type") != Some("code") {
        let what = "The request body must contain the following parameter: 'response_type'.";
        return page(900144, what);
    }
    let scope = get("scope").unwrap_or_default().to_string();
    let scopes: Vec<&str> = scope
        .split(' ')
        .map(|s| s.strip_prefix("https://graph.microsoft.com/").unwrap_or(s))
        .collect();
    let known = |s: &&str| SCOPES.split_whitespace().any(|k| k.eq_ignore_ascii_case(s));
    let challenge = match (get("code_challenge"), get("code_challenge_method")) {
        (Some(c), Some("S256")) => Some(c.to_string()),
        (c, m) => {
            let what = format!("authorize without an S256 PKCE challenge ({c:?}, {m:?})");
            g.violations.push(what);
            None
        }
    };
    {
        let mut pairs = back.query_pairs_mut();
        if scope.is_empty() || !scopes.iter().all(known) {
            pairs.append_pair("error", "invalid_scope");
            pairs.append_pair(
                "error_description",
                "AADSTS70011: The provided value for the input parameter 'scope' is not valid.",
            );
        } else {
            let code = g.fresh("1.AXEAe7UyJL0K20OqexbqXRVdNPcode");
            g.consented.push(scopes.join(" "));
            let redirect_uri = get("redirect_uri").unwrap_or_default().to_string();
            let at = Instant::now();
            let scope = scopes.join(" ");
            g.codes
                .insert(code.clone(), (redirect_uri, scope, challenge, at));
            pairs.append_pair("code", &code);
            pairs.append_pair("session_state", "fe1540c3-a69a-469a-9fa3-8a2470936421");
        }
        if let Some(state) = get("state") {
            pairs.append_pair("state", state);
        }
    }
    (StatusCode::FOUND, [(header::LOCATION, back.to_string())]).into_response()
}

fn token(g: &mut TeamsGraph, tenant: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    if !known_tenant(tenant) {
        let what = format!("Tenant '{tenant}' not found.");
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", 90002, &what);
    }
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| B64.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let (id, secret) = match basic.as_deref().and_then(|b| b.split_once(':')) {
        Some((i, s)) => (Some(i.to_string()), Some(s.to_string())),
        None => (field("client_id"), field("client_secret")),
    };
    if id.as_deref() != Some(CLIENT_ID) {
        let what = "Application with identifier was not found in the directory.";
        return oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client", 700016, what);
    }
    if secret.as_deref() != Some(CLIENT_SECRET) {
        let what = "Invalid client secret provided.";
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", 7000215, what);
    }
    let scope = match field("grant_type").as_deref() {
        Some("authorization_code") => {
            let Some(code) = field("code").and_then(|c| g.codes.remove(&c)) else {
                let what = "The provided authorization code or refresh token has expired or was already redeemed.";
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", 70008, what);
            };
            let (redirect_uri, scope, challenge, at) = code;
            let stale = at.elapsed() > Duration::from_secs(600);
            if stale || field("redirect_uri").as_deref() != Some(redirect_uri.as_str()) {
                let what = "The code has expired or was issued for another redirect URI.";
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", 70008, what);
            }
            if let Some(challenge) = &challenge {
                let verifier = field("code_verifier").unwrap_or_default();
                let digest = sha2::Sha256::digest(verifier.as_bytes());
                if URL_SAFE_NO_PAD.encode(digest) != *challenge {
                    let what = "The Code_Verifier does not match the code_challenge supplied in the authorization request.";
                    return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", 501481, what);
                }
            }
            scope
        }
        Some("refresh_token") => {
            let presented = field("refresh_token").unwrap_or_default();
            let Some(scope) = g.refresh.get(&presented).cloned() else {
                let what = "The provided value for 'refresh_token' is not valid.";
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", 70000, what);
            };
            g.refreshes += 1;
            scope
        }
        _ => {
            let what = "The provided value for the input parameter 'grant_type' is not valid.";
            let status = StatusCode::BAD_REQUEST;
            return oauth_error(status, "unsupported_grant_type", 70003, what);
        }
    };
    let access = g.fresh("eyJ0eXAiOiJKV1QiLCJub25jZSI6IlRlYW1zIiwiYWxnIjoiUlMyNTYifQ.");
    let until = Instant::now() + Duration::from_secs(3599);
    // The access token's scopes: offline_access and OpenID's are not
    // Graph's.
    let granted: Vec<&str> = scope
        .split(' ')
        .filter(|s| !["offline_access", "openid", "profile", "email"].contains(s))
        .collect();
    g.access.insert(access.clone(), (granted.join(" "), until));
    g.issued.push(access.clone());
    let mut answer = json!({"token_type": "Bearer", "scope": granted.join(" "), "expires_in": 3599,
        "ext_expires_in": 3599, "access_token": access});
    if scope.split(' ').any(|s| s == "offline_access") {
        let refresh = g.fresh("1.AXEAe7UyJL0K20OqexbqXRVdNPrefresh.");
        g.refresh.insert(refresh.clone(), scope);
        g.issued.push(refresh.clone());
        answer["refresh_token"] = json!(refresh);
    }
    axum::Json(answer).into_response()
}
