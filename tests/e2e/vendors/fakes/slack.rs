//! A fake Slack, from Slack's documentation (details and sources in
//! `docs/vendors/slack.md`):
//!
//! - **Web API** (<https://api.slack.com/web>): arguments in the query, a
//!   form or a JSON body (`charset=utf-8`, else a `missing_charset`
//!   warning); the token in `Authorization: Bearer`, or as a form's `token`
//!   (<https://api.slack.com/changelog/2017-10-keeping-up-with-the-jsons>).
//!   Refusals are HTTP 200 `{"ok":false,"error":…}` (`not_authed`,
//!   `invalid_auth`, `unknown_method`, `invalid_json`, …).
//! - **`chat.postMessage`** (<https://api.slack.com/methods/chat.postMessage>):
//!   `channel` by ID, `#name` or `name`; `channel_not_found`, `is_archived`,
//!   `not_in_channel`, `no_text`, `msg_too_long` (over 40,000 characters);
//!   success as the spec's example, `ts` growing. `auth.test` as well.
//! - **Block Kit** (<https://api.slack.com/reference/block-kit/blocks>): at
//!   most 50 blocks of known types, `header` text `plain_text` ≤ 150,
//!   `section` text ≤ 3000, ≤ 10 `fields` ≤ 2000; else `invalid_blocks`,
//!   with `response_metadata.messages` (`[ERROR] … [json-pointer:…]`).
//! - **Rate limits** (<https://api.slack.com/apis/rate-limits>): about one
//!   message per second per channel, with bursts: past [`Slack::burst`] in a
//!   second, HTTP 429, `Retry-After: 1`, `{"ok":false,"error":"ratelimited"}`.
//! - **Incoming webhooks** (<https://api.slack.com/messaging/webhooks>,
//!   <https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks>):
//!   JSON posts to one channel; `200 ok`, else plain text: 400
//!   `invalid_payload` / `no_text` / `invalid_blocks`, 403 `invalid_token`,
//!   404 `channel_not_found`, 410 `channel_is_archived`.
//! - **Every Web API call is checked against Slack's OpenAPI 2.0 file**
//!   (`tests/e2e/vendors/specs/slack_web_openapi_v2.json`, from
//!   <https://github.com/slackapi/slack-api-specs>) into [`Slack::violations`].
//! - **Events API** (<https://api.slack.com/apis/events-api>,
//!   <https://api.slack.com/events/url_verification>,
//!   <https://api.slack.com/events/message>), signed as in
//!   <https://api.slack.com/authentication/verifying-requests-from-slack>:
//!   helpers forge what Slack sends to Wharf's webhook.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hmac::Mac;
use serde_json::{Map, Value, json};

use super::openapi::Described;
use crate::support::Upstream;

/// The app's bot token; valid while in [`Slack::tokens`].
pub const BOT_TOKEN: &str = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy";
/// The incoming webhook; it posts to [`Slack::webhook_channel`].
pub const WEBHOOK_PATH: &str = "/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX";
/// The app's signing secret (Basic Information → App Credentials).
pub const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
/// The deprecated verification token event payloads still carry.
pub const VERIFICATION_TOKEN: &str = "Jhj5dZrVaK7ZwHHjRyZWjbDl";
pub const TEAM_ID: &str = "T0001";
pub const APP_ID: &str = "A0001";
pub const BOT_ID: &str = "B0001";
/// The bot user.
pub const BOT_USER_ID: &str = "U0001";
/// The person whose messages [`event_callback`] reports.
pub const HUMAN_USER_ID: &str = "U0002";

const JSON_UTF8: &str = "application/json; charset=utf-8";
const BLOCK_TYPES: &str =
    "actions context divider file header image input markdown rich_text section video";

#[derive(Clone, Debug)]
pub struct Channel {
    pub id: String,
    /// Without the `#`.
    pub name: String,
    pub archived: bool,
    /// Whether the bot user is in it.
    pub member: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Posted {
    /// The channel's ID.
    pub channel: String,
    pub ts: String,
    pub text: Option<String>,
    pub blocks: Option<Value>,
    pub attachments: Option<Value>,
    pub thread_ts: Option<String>,
    /// Came through the incoming webhook, not `chat.postMessage`.
    pub webhook: bool,
}

pub struct Slack {
    /// By ID.
    pub channels: BTreeMap<String, Channel>,
    /// Tokens the Web API accepts (clear it to revoke [`BOT_TOKEN`]).
    pub tokens: Vec<String>,
    /// The ID of the channel the incoming webhook posts to.
    pub webhook_channel: String,
    /// Messages accepted, oldest first.
    pub posted: Vec<Posted>,
    /// Web API requests the OpenAPI file does not allow.
    pub violations: Vec<String>,
    /// Calls answered HTTP 429.
    pub refused_429: u32,
    /// Answer the next this many calls 429 with `Retry-After: 2`.
    pub throttle_next: u32,
    /// Messages one channel accepts within a second.
    pub burst: usize,
    /// Every request's path and when it came.
    pub calls: Vec<(String, Instant)>,
    recent: BTreeMap<String, Vec<Instant>>,
    last_micros: u64,
}

pub type Shared = Arc<Mutex<Slack>>;

impl Default for Slack {
    fn default() -> Self {
        Slack {
            channels: BTreeMap::new(),
            tokens: vec![BOT_TOKEN.into()],
            webhook_channel: "C1H9RESGL".into(),
            posted: Vec::new(),
            violations: Vec::new(),
            refused_429: 0,
            throttle_next: 0,
            burst: 5,
            calls: Vec::new(),
            recent: BTreeMap::new(),
            last_micros: 0,
        }
    }
}

impl Slack {
    /// `#general` and `#carbon` (the bot in both), an archived `#old`, and
    /// `#private-ish`, which the bot is not in.
    pub fn workspace() -> Slack {
        let mut s = Slack::default();
        for (id, name, archived, member) in [
            ("C1H9RESGL", "general", false, true),
            ("C0CARBON1", "carbon", false, true),
            ("C0ARCHIVE", "old", true, true),
            ("C0NOTMEMB", "private-ish", false, false),
        ] {
            let (id, name) = (id.to_string(), name.to_string());
            let channel = Channel {
                id: id.clone(),
                name,
                archived,
                member,
            };
            s.channels.insert(id, channel);
        }
        s
    }

    /// The channel `channel` names: an ID, `#name` or `name`.
    pub fn resolve(&self, channel: &str) -> Option<&Channel> {
        let name = channel.strip_prefix('#').unwrap_or(channel);
        let by_name = || self.channels.values().find(|c| c.name == name);
        self.channels.get(channel).or_else(by_name)
    }

    /// What was posted to a channel (ID or name), oldest first.
    pub fn posted_to(&self, channel: &str) -> Vec<&Posted> {
        let id = self.resolve(channel).map_or(channel, |c| c.id.as_str());
        self.posted.iter().filter(|p| p.channel == id).collect()
    }

    /// A refusal forced by [`Slack::throttle_next`]: its `Retry-After`.
    fn forced(&mut self) -> Option<&'static str> {
        if self.throttle_next == 0 {
            return None;
        }
        self.throttle_next -= 1;
        self.refused_429 += 1;
        Some("2")
    }

    /// Whether one more message to this channel now is over its rate.
    fn over_rate(&mut self, channel: &str) -> bool {
        let now = Instant::now();
        let recent = self.recent.entry(channel.to_string()).or_default();
        recent.retain(|t| now.duration_since(*t) < Duration::from_secs(1));
        let over = recent.len() >= self.burst;
        self.refused_429 += u32::from(over);
        over
    }

    /// Keep a message, with a new `ts`; counts towards the channel's rate.
    fn store(&mut self, mut posted: Posted) -> &Posted {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        self.last_micros = (now.as_micros() as u64).max(self.last_micros + 1);
        let (secs, fraction) = (self.last_micros / 1_000_000, self.last_micros % 1_000_000);
        posted.ts = format!("{secs}.{fraction:06}");
        let recent = self.recent.entry(posted.channel.clone()).or_default();
        recent.push(Instant::now());
        self.posted.push(posted);
        self.posted.last().unwrap()
    }
}

pub async fn start(state: Slack) -> (Upstream, Shared) {
    let shared = Arc::new(Mutex::new(state));
    let app = Router::new().fallback(serve).with_state(shared.clone());
    (Upstream::start(app).await, shared)
}

/// A request as it came.
struct Call {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// What the OpenAPI file says is wrong with a Web API call.
fn violation(call: &Call, form_token: Option<&str>) -> Option<String> {
    static SPEC: OnceLock<Described> = OnceLock::new();
    let spec = SPEC.get_or_init(|| Described::load("slack_web_openapi_v2.json"));
    let (mut headers, mut body) = (call.headers.clone(), call.body.clone());
    // The file has the token as a header parameter only; Slack also takes it
    // as a form argument, so check such a call as if it came in the header.
    if let Some(token) = form_token {
        if let Ok(bearer) = HeaderValue::from_str(&format!("Bearer {token}")) {
            headers.insert(header::AUTHORIZATION, bearer);
        }
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
        let rest: Vec<_> = pairs.into_iter().filter(|(k, _)| k != "token").collect();
        body = serde_urlencoded::to_string(rest).unwrap().into_bytes();
    }
    let (path, query) = (call.path.as_str(), call.query.as_slice());
    let found = spec.violation(&call.method, path, query, &headers, &body)?;
    // Slack takes every method by GET or POST ("a mix of both GET and POST
    // parameters", <https://api.slack.com/web>); the file gives each one
    // verb, GET for `auth.test`.
    let as_get = spec.violation("GET", path, query, &headers, &body);
    (call.method != "POST" || as_get.is_some()).then_some(found)
}

/// A Web API call's arguments, from its query and body.
#[derive(Default)]
struct Args {
    map: Map<String, Value>,
    /// The `token` argument of a form body.
    form_token: Option<String>,
    warnings: Vec<&'static str>,
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> &str {
    let value = headers.get(name).map(HeaderValue::to_str);
    value.and_then(Result::ok).unwrap_or_default()
}

fn arguments(call: &Call) -> Result<Args, &'static str> {
    let mut pairs = call.query.clone();
    let mut args = Args::default();
    let content_type = header_str(&call.headers, header::CONTENT_TYPE).to_ascii_lowercase();
    let media_type = content_type.split(';').next().unwrap_or_default();
    match (call.body.is_empty(), media_type.trim()) {
        (true, _) => {}
        (false, "") => return Err("missing_post_type"),
        (false, "application/json") => {
            if !content_type.contains("charset=") {
                args.warnings.push("missing_charset");
            }
            let value: Value = serde_json::from_slice(&call.body).map_err(|_| "invalid_json")?;
            let Value::Object(object) = value else {
                return Err("json_not_object");
            };
            // A JSON call authenticates with the header only.
            args.map = object;
            args.map.remove("token");
        }
        (false, "application/x-www-form-urlencoded") => {
            let form = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&call.body);
            for (k, v) in form.map_err(|_| "invalid_form_data")? {
                if k == "token" {
                    args.form_token = Some(v);
                } else {
                    pairs.push((k, v));
                }
            }
        }
        (false, _) => return Err("invalid_post_type"),
    }
    for (k, v) in pairs.into_iter().filter(|(k, _)| k != "token") {
        args.map.entry(k).or_insert(Value::String(v));
    }
    Ok(args)
}

fn api(body: Value) -> Response {
    ([(header::CONTENT_TYPE, JSON_UTF8)], body.to_string()).into_response()
}

fn api_error(code: &str) -> Response {
    api(json!({"ok": false, "error": code}))
}

fn ratelimited(retry_after: &'static str) -> Response {
    let mut r = api_error("ratelimited");
    *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    let value = HeaderValue::from_static(retry_after);
    r.headers_mut().insert(header::RETRY_AFTER, value);
    r
}

async fn serve(State(slack): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 16 << 20).await;
    let query = parts.uri.query().unwrap_or_default();
    let call = Call {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: serde_urlencoded::from_str(query).unwrap_or_default(),
        headers: parts.headers,
        body: body.unwrap_or_default().to_vec(),
    };
    let mut s = slack.lock().unwrap();
    s.calls.push((call.path.clone(), Instant::now()));
    if call.path.starts_with("/services/") {
        return webhook(&mut s, &call);
    }
    let Some(name) = call.path.strip_prefix("/api/") else {
        return (StatusCode::NOT_FOUND, "Not Found").into_response();
    };
    let args = arguments(&call);
    let form_token = args.as_ref().ok().and_then(|a| a.form_token.clone());
    if let Some(v) = violation(&call, form_token.as_deref()) {
        s.violations.push(v);
    }
    if !["auth.test", "chat.postMessage"].contains(&name) {
        return api_error("unknown_method");
    }
    let args = match args {
        Ok(args) => args,
        Err(code) => return api_error(code),
    };
    let bearer = header_str(&call.headers, header::AUTHORIZATION).strip_prefix("Bearer ");
    let bearer = bearer.map(str::to_string);
    let Some(token) = bearer.or(form_token) else {
        return api_error("not_authed");
    };
    if !s.tokens.contains(&token) {
        return api_error("invalid_auth");
    }
    if name == "auth.test" {
        let me = json!({"ok": true, "url": "https://wharf-demo.slack.com/", "team": "Wharf Demo",
            "user": "wharf", "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID});
        return api(me);
    }
    post_message(&mut s, &args)
}

/// An argument that is JSON: a JSON value, or a string holding one (as in a
/// form body); `Err` if the string is not JSON.
fn json_argument(args: &Map<String, Value>, key: &str) -> Result<Option<Value>, ()> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => serde_json::from_str(s).map(Some).map_err(|_| ()),
        Some(v) => Ok(Some(v.clone())),
    }
}

fn string_argument(args: &Map<String, Value>, key: &str) -> Option<String> {
    let value = args.get(key).and_then(Value::as_str);
    value.filter(|v| !v.is_empty()).map(str::to_string)
}

/// The message `args` describe, or the error code Slack answers and, for
/// blocks, the reason it gives.
fn message(args: &Map<String, Value>) -> Result<Posted, (&'static str, Option<String>)> {
    let text = string_argument(args, "text");
    let blocks = json_argument(args, "blocks")
        .map_err(|()| bad("/blocks", "must provide a JSON array"))
        .and_then(|b| b.as_ref().map_or(Ok(()), check_blocks).map(|()| b))
        .map_err(|reason| ("invalid_blocks", Some(format!("[ERROR] {reason}"))))?;
    let attachments = json_argument(args, "attachments");
    let attachments = attachments.map_err(|()| ("invalid_attachments", None::<String>))?;
    if attachments.as_ref().is_some_and(|a| !a.is_array()) {
        return Err(("invalid_attachments", None));
    }
    let non_empty = |v: &Value| v.as_array().is_some_and(|a| !a.is_empty());
    let (blocks, attachments) = (blocks.filter(non_empty), attachments.filter(non_empty));
    if text.is_none() && blocks.is_none() && attachments.is_none() {
        return Err(("no_text", None));
    }
    if text.as_deref().is_some_and(|t| t.chars().count() > 40_000) {
        return Err(("msg_too_long", None));
    }
    let thread_ts = string_argument(args, "thread_ts");
    Ok(Posted {
        text,
        blocks,
        attachments,
        thread_ts,
        ..Posted::default()
    })
}

/// Block Kit's reason, `why [json-pointer:at]`.
fn bad(at: &str, why: &str) -> String {
    format!("{why} [json-pointer:{at}]")
}

/// Why Block Kit refuses `blocks`, if it does.
fn check_blocks(blocks: &Value) -> Result<(), String> {
    let Some(list) = blocks.as_array() else {
        return Err(bad("/blocks", "must provide an array"));
    };
    if list.len() > 50 {
        return Err(bad("/blocks", "no more than 50 items allowed"));
    }
    let any = ["plain_text", "mrkdwn"];
    for (i, block) in list.iter().enumerate() {
        let at = format!("/blocks/{i}");
        let kind = block.get("type").and_then(Value::as_str);
        let Some(kind) = kind.filter(|k| BLOCK_TYPES.split(' ').any(|t| t == *k)) else {
            return Err(bad(&format!("{at}/type"), "must be a known block type"));
        };
        let (text, fields) = (block.get("text"), block.get("fields"));
        if kind == "header" {
            text_object(&block["text"], &format!("{at}/text"), &["plain_text"], 150)?;
        } else if kind == "section" {
            if text.is_none() && fields.is_none() {
                return Err(bad(&at, "must provide either text or fields"));
            }
            if let Some(text) = text {
                text_object(text, &format!("{at}/text"), &any, 3000)?;
            }
            let Some(fields) = fields else { continue };
            let Some(fields) = fields.as_array().filter(|f| f.len() <= 10) else {
                let why = "must be an array of at most 10";
                return Err(bad(&format!("{at}/fields"), why));
            };
            for (j, field) in fields.iter().enumerate() {
                text_object(field, &format!("{at}/fields/{j}"), &any, 2000)?;
            }
        }
    }
    Ok(())
}

/// A text composition object of one of `kinds`, 1 to `max` characters.
fn text_object(t: &Value, at: &str, kinds: &[&str], max: usize) -> Result<(), String> {
    let kind = t.get("type").and_then(Value::as_str);
    if !kind.is_some_and(|k| kinds.contains(&k)) {
        let why = format!("must be a {} text object", kinds.join(" or "));
        return Err(bad(at, &why));
    }
    let text = t.get("text").and_then(Value::as_str);
    let at = format!("{at}/text");
    match text.map(|s| s.chars().count()) {
        None | Some(0) => Err(bad(&at, "must be a non-empty string")),
        Some(n) if n > max => Err(bad(&at, &format!("must be at most {max} characters"))),
        Some(_) => Ok(()),
    }
}

fn post_message(s: &mut Slack, args: &Args) -> Response {
    if let Some(retry_after) = s.forced() {
        return ratelimited(retry_after);
    }
    let asked = args.map.get("channel").and_then(Value::as_str);
    let Some(channel) = s.resolve(asked.unwrap_or_default()).cloned() else {
        return api_error("channel_not_found");
    };
    if channel.archived {
        return api_error("is_archived");
    }
    if !channel.member {
        return api_error("not_in_channel");
    }
    if s.over_rate(&channel.id) {
        return ratelimited("1");
    }
    let mut posted = match message(&args.map) {
        Ok(posted) => posted,
        Err((code, reason)) => {
            let mut body = json!({"ok": false, "error": code});
            if let Some(reason) = reason {
                body["response_metadata"] = json!({"messages": [reason]});
            }
            return api(body);
        }
    };
    posted.channel = channel.id.clone();
    let p = s.store(posted);
    let mut message = json!({"type": "message", "subtype": "bot_message", "ts": p.ts,
        "text": p.text.clone().unwrap_or_default(), "username": "wharf", "bot_id": BOT_ID});
    for (key, value) in [("blocks", &p.blocks), ("attachments", &p.attachments)] {
        if let Some(v) = value {
            message[key] = v.clone();
        }
    }
    if let Some(t) = &p.thread_ts {
        message["thread_ts"] = json!(t);
    }
    let mut body = json!({"ok": true, "channel": channel.id, "ts": p.ts, "message": message});
    if !args.warnings.is_empty() {
        body["warning"] = json!(args.warnings.join(","));
        body["response_metadata"] = json!({"warnings": args.warnings});
    }
    api(body)
}

fn plain(status: StatusCode, text: &str) -> Response {
    let content_type = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
    (status, content_type, text.to_string()).into_response()
}

fn webhook(s: &mut Slack, call: &Call) -> Response {
    if call.path != WEBHOOK_PATH {
        return plain(StatusCode::FORBIDDEN, "invalid_token");
    }
    let too_many = |retry_after: &'static str| {
        let mut r = plain(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
        let value = HeaderValue::from_static(retry_after);
        r.headers_mut().insert(header::RETRY_AFTER, value);
        r
    };
    if let Some(retry_after) = s.forced() {
        return too_many(retry_after);
    }
    let Ok(Value::Object(args)) = serde_json::from_slice::<Value>(&call.body) else {
        return plain(StatusCode::BAD_REQUEST, "invalid_payload");
    };
    let Some(channel) = s.channels.get(&s.webhook_channel).cloned() else {
        return plain(StatusCode::NOT_FOUND, "channel_not_found");
    };
    if channel.archived {
        return plain(StatusCode::GONE, "channel_is_archived");
    }
    if s.over_rate(&channel.id) {
        return too_many("1");
    }
    let mut posted = match message(&args) {
        Ok(posted) => posted,
        Err((code, _)) => return plain(StatusCode::BAD_REQUEST, code),
    };
    (posted.channel, posted.webhook) = (channel.id, true);
    s.store(posted);
    plain(StatusCode::OK, "ok")
}

fn unix_now() -> i64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    now.as_secs() as i64
}

/// `X-Slack-Signature` for a request sent at `timestamp` (Unix seconds):
/// `v0=` and the hex HMAC-SHA256, keyed with [`SIGNING_SECRET`], of
/// `v0:{timestamp}:{body}`.
pub fn sign(timestamp: i64, body: &[u8]) -> String {
    let key = SIGNING_SECRET.as_bytes();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key");
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// The `url_verification` Slack sends when the Request URL is set; the app
/// must answer with the `challenge`.
pub fn url_verification(challenge: &str) -> Vec<u8> {
    json!({"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"})
        .to_string()
        .into_bytes()
}

/// An `event_callback` with a `message` event: [`HUMAN_USER_ID`] wrote
/// `text` in `#general`. Each call has a new `event_id` and `ts`.
pub fn event_callback(text: &str) -> Vec<u8> {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let now = unix_now();
    let ts = format!("{now}.{:06}", n % 1_000_000);
    json!({
        "token": VERIFICATION_TOKEN,
        "team_id": TEAM_ID,
        "api_app_id": APP_ID,
        "event": {"type": "message", "channel": "C1H9RESGL", "user": HUMAN_USER_ID, "text": text,
            "ts": ts, "event_ts": ts, "channel_type": "channel"},
        "type": "event_callback",
        "event_id": format!("Ev{n:08X}"),
        "event_time": now,
        "authorizations": [{"enterprise_id": null, "team_id": TEAM_ID, "user_id": BOT_USER_ID,
            "is_bot": true, "is_enterprise_install": false}],
        "is_ext_shared_channel": false
    })
    .to_string()
    .into_bytes()
}
