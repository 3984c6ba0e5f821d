//! A fake Discord webhook, from Discord's documentation (details and sources
//! in `docs/vendors/teams-discord.md`):
//!
//! - **Execute webhook**
//!   (<https://discord.com/developers/docs/resources/webhook#execute-webhook>):
//!   `POST /api/webhooks/{webhook.id}/{webhook.token}` (or under `/api/v10`,
//!   `/api/v9`), no auth header, the token is in the URL. A JSON object (a
//!   body that is not, 400 `50109`; one not sent as `application/json` or a
//!   form reads as empty) with at least one of `content`, `embeds`,
//!   `components` or `poll`, else 400 `50006 Cannot send an empty message`.
//!   `?wait=true` → 200 and the message object (`id` a growing snowflake,
//!   `author.bot`, `type: 0`, <https://discord.com/developers/docs/resources/message>),
//!   else 204; `thread_id` must be a snowflake. `GET` on the same URL gives
//!   the webhook object (Get Webhook with Token).
//! - **Errors** (<https://discord.com/developers/docs/topics/opcodes-and-status-codes#json>,
//!   <https://github.com/abahmed/kwatch/issues/194>): 404 `10015 Unknown
//!   Webhook`, 401 `50027 Invalid Webhook Token`, and 400 `50035 Invalid Form
//!   Body` whose `errors` follow the offending field's path
//!   (`{"embeds":{"0":{"fields":{"6":{"value":{"_errors":[…]}}}}}}`).
//! - **Limits** (<https://discord.com/developers/docs/resources/message#embed-object-embed-limits>,
//!   <https://sapphirejs.dev/docs/Documentation/api-utilities/@sapphire/discord-utilities/variables/EmbedLimits>,
//!   <https://hexdocs.pm/kitazith/0.1.3/kitazith/embed.html>): `content`
//!   2000 characters, 10 embeds, `title` 256, `description` 4096, 25
//!   `fields` (`name` 256, `value` 1024, both required), `footer.text` 2048,
//!   `author.name` 256; over 6000 in all embeds together,
//!   `MAX_EMBED_SIZE_EXCEEDED` on `embeds` (as reported in
//!   <https://github.com/NelsonDane/auto-rsa/pull/451>).
//! - **Rate limits** (<https://discord.com/developers/docs/topics/rate-limits>,
//!   <https://www.mintlify.com/discord-jda/JDA/advanced/rate-limiting>): a
//!   bucket per webhook of [`Discord::bucket_size`] requests per
//!   [`Discord::bucket_window`] (the folklore 5 per 2 s); every answer has
//!   `X-RateLimit-Limit`, `-Remaining`, `-Reset` (epoch seconds), `-Reset-After`
//!   (seconds) and `-Bucket`; past it, 429 with `Retry-After` (whole seconds),
//!   `X-RateLimit-Scope: user`, `X-RateLimit-Global: false` and
//!   `{"message":"You are being rate limited.","retry_after":<seconds>,"global":false}`.
//! - **Invalid requests**
//!   (<https://support-dev.discord.com/hc/en-us/articles/6223003921559-My-Bot-is-Being-Rate-Limited>):
//!   too many get an IP banned, so [`Discord::bad_requests`] counts the 4xx
//!   answers other than 429 for a test to bound.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use sha2::Digest as _;

use crate::support::Upstream;

/// The webhook's id (a snowflake).
pub const WEBHOOK_ID: &str = "1187456325468975104";
/// The webhook's token, the secret part of its URL.
pub const WEBHOOK_TOKEN: &str =
    "q3Xv7Yk2Hn0pLr5Tz8Wb1Mc4Jd6Fs9Ga-Ue3Io7Py2Qt5Rw8Ex1Zc4Vb6Nm9Kl0Hj3Gf5Ds8";
/// The channel the webhook posts to.
pub const CHANNEL_ID: &str = "1187456012345678901";
pub const GUILD_ID: &str = "1187455998877665544";
/// 2015-01-01T00:00:00Z, where snowflakes count from.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

#[derive(Clone, Debug, Default)]
pub struct Posted {
    pub content: Option<String>,
    pub embeds: Option<Value>,
    /// The `username` the post set in place of the webhook's name.
    pub username: Option<String>,
    pub thread_id: Option<String>,
    /// Asked `?wait=true`.
    pub wait: bool,
}

pub struct Discord {
    /// The webhook's name: its messages' author unless a post sets `username`.
    pub name: String,
    /// Messages accepted, oldest first.
    pub posted: Vec<Posted>,
    /// Calls answered HTTP 429.
    pub refused_429: u32,
    /// Answer the next this many posts 429 with `retry_after` 1.5.
    pub throttle_next: u32,
    /// Answers 4xx other than 429 (Discord bans IPs that send many).
    pub bad_requests: u32,
    /// Requests a webhook's bucket holds per [`Discord::bucket_window`].
    pub bucket_size: usize,
    pub bucket_window: Duration,
    /// Every request's path and when it came.
    pub calls: Vec<(String, Instant)>,
    /// Open buckets by webhook id: when the window began, requests taken.
    buckets: BTreeMap<String, (Instant, usize)>,
    /// When each of [`Discord::posted`] was accepted.
    accepted: Vec<Instant>,
    last_id: u64,
}

pub type Shared = Arc<Mutex<Discord>>;

impl Default for Discord {
    fn default() -> Self {
        Discord {
            name: "Wharf Alerts".into(),
            posted: Vec::new(),
            refused_429: 0,
            throttle_next: 0,
            bad_requests: 0,
            bucket_size: 5,
            bucket_window: Duration::from_secs(2),
            calls: Vec::new(),
            buckets: BTreeMap::new(),
            accepted: Vec::new(),
            last_id: 0,
        }
    }
}

/// A bucket after a request: what the `X-RateLimit-*` headers say.
struct Bucket {
    limit: usize,
    remaining: usize,
    reset_after: Duration,
    id: String,
}

impl Bucket {
    fn headers(&self, headers: &mut HeaderMap) {
        let reset = unix_now().as_secs_f64() + self.reset_after.as_secs_f64();
        let values = [
            ("x-ratelimit-limit", self.limit.to_string()),
            ("x-ratelimit-remaining", self.remaining.to_string()),
            ("x-ratelimit-reset", format!("{reset:.3}")),
            (
                "x-ratelimit-reset-after",
                format!("{:.3}", self.reset_after.as_secs_f64()),
            ),
            ("x-ratelimit-bucket", self.id.clone()),
        ];
        for (name, value) in values {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        }
    }
}

impl Discord {
    /// The most posts accepted within any `window`.
    pub fn max_in_window(&self, window: Duration) -> usize {
        let times = &self.accepted;
        let (mut best, mut start) = (0, 0);
        for (end, t) in times.iter().enumerate() {
            while t.duration_since(times[start]) >= window {
                start += 1;
            }
            best = best.max(end + 1 - start);
        }
        best
    }

    /// Take one request that came `now` (if `consume`) from the webhook's
    /// bucket; `true` if it was empty.
    fn take(&mut self, webhook: &str, consume: bool, now: Instant) -> (Bucket, bool) {
        let (window, size) = (self.bucket_window, self.bucket_size);
        let open = self.buckets.entry(webhook.to_string()).or_insert((now, 0));
        if now.duration_since(open.0) >= window {
            *open = (now, 0);
        }
        let over = open.1 >= size;
        open.1 += usize::from(consume && !over);
        let digest = sha2::Sha256::digest(webhook.as_bytes());
        let bucket = Bucket {
            limit: size,
            remaining: size.saturating_sub(open.1),
            reset_after: window.saturating_sub(now.duration_since(open.0)),
            id: hex::encode(&digest[..16]),
        };
        (bucket, over)
    }

    /// A new snowflake: milliseconds since [`DISCORD_EPOCH_MS`], shifted 22.
    fn snowflake(&mut self) -> u64 {
        let ms = unix_now().as_millis() as u64;
        let id = ms.saturating_sub(DISCORD_EPOCH_MS) << 22;
        self.last_id = id.max(self.last_id + 1);
        self.last_id
    }
}

pub async fn start(state: Discord) -> (Upstream, Shared) {
    let shared = Arc::new(Mutex::new(state));
    let app = Router::new().fallback(serve).with_state(shared.clone());
    (Upstream::start(app).await, shared)
}

fn lock(shared: &Shared) -> MutexGuard<'_, Discord> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

fn unix_now() -> Duration {
    let now = SystemTime::now().duration_since(UNIX_EPOCH);
    now.unwrap_or_default()
}

fn answer(status: StatusCode, body: Value) -> Response {
    let json = [(header::CONTENT_TYPE, "application/json")];
    (status, json, body.to_string()).into_response()
}

fn error(status: StatusCode, code: u32, message: &str) -> Response {
    answer(status, json!({"code": code, "message": message}))
}

/// 429 as Discord sends it: `Retry-After` in whole seconds, the body's
/// `retry_after` with decimals.
fn rate_limited(retry_after: f64) -> Response {
    let body = json!({"message": "You are being rate limited.", "retry_after": retry_after,
        "global": false});
    let mut r = answer(StatusCode::TOO_MANY_REQUESTS, body);
    let h = r.headers_mut();
    let seconds = retry_after.ceil().max(1.0) as u64;
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        h.insert(header::RETRY_AFTER, value);
    }
    h.insert("x-ratelimit-scope", HeaderValue::from_static("user"));
    h.insert("x-ratelimit-global", HeaderValue::from_static("false"));
    r
}

async fn serve(State(discord): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 16 << 20).await;
    let path = parts.uri.path().to_string();
    let query = serde_urlencoded::from_str(parts.uri.query().unwrap_or_default());
    let call = Call {
        headers: parts.headers,
        query: query.unwrap_or_default(),
        body: body.unwrap_or_default().to_vec(),
    };
    let mut d = lock(&discord);
    d.calls.push((path.clone(), Instant::now()));
    let prefixes = ["/api/v10/", "/api/v9/", "/api/"];
    let rest = prefixes.iter().find_map(|p| path.strip_prefix(*p));
    let segments: Vec<&str> = rest.map(|r| r.split('/').collect()).unwrap_or_default();
    let &["webhooks", id, token] = segments.as_slice() else {
        d.bad_requests += 1;
        return error(StatusCode::NOT_FOUND, 0, "404: Not Found");
    };
    if parts.method == Method::POST {
        return post(&mut d, id, token, &call);
    }
    let response = if parts.method == Method::GET {
        webhook_object(&d, id, token)
    } else {
        error(StatusCode::METHOD_NOT_ALLOWED, 0, "405: Method Not Allowed")
    };
    d.bad_requests += u32::from(response.status().is_client_error());
    response
}

/// The webhook object, as Get Webhook with Token answers it.
fn webhook_object(d: &Discord, id: &str, token: &str) -> Response {
    if id != WEBHOOK_ID {
        return error(StatusCode::NOT_FOUND, 10015, "Unknown Webhook");
    }
    if token != WEBHOOK_TOKEN {
        return error(StatusCode::UNAUTHORIZED, 50027, "Invalid Webhook Token");
    }
    answer(
        StatusCode::OK,
        json!({"application_id": null, "avatar": null, "channel_id": CHANNEL_ID,
            "guild_id": GUILD_ID, "id": WEBHOOK_ID, "name": d.name, "type": 1,
            "token": WEBHOOK_TOKEN}),
    )
}

/// A request as it came.
struct Call {
    headers: HeaderMap,
    query: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Execute webhook: the bucket first, then the webhook, then the message.
fn post(d: &mut Discord, id: &str, token: &str, call: &Call) -> Response {
    let (forced, arrived) = (d.throttle_next > 0, Instant::now());
    let (mut bucket, over) = d.take(id, !forced, arrived);
    let mut response = if forced {
        d.throttle_next -= 1;
        d.refused_429 += 1;
        (bucket.remaining, bucket.reset_after) = (0, Duration::from_millis(1500));
        rate_limited(1.5)
    } else if over {
        d.refused_429 += 1;
        rate_limited(bucket.reset_after.as_millis() as f64 / 1000.0)
    } else {
        execute(d, (id, token), call, arrived)
    };
    let status = response.status();
    let invalid = status.is_client_error() && status != StatusCode::TOO_MANY_REQUESTS;
    d.bad_requests += u32::from(invalid);
    bucket.headers(response.headers_mut());
    response
}

/// One `50035` complaint: the field's path (dot-separated) and why.
struct FormError {
    path: String,
    code: &'static str,
    message: String,
}

fn complain(errors: &mut Vec<FormError>, path: &str, code: &'static str, why: impl Into<String>) {
    let (path, message) = (path.to_string(), why.into());
    errors.push(FormError {
        path,
        code,
        message,
    });
}

fn too_long(errors: &mut Vec<FormError>, path: &str, max: usize) {
    let why = format!("Must be {max} or fewer in length.");
    complain(errors, path, "BASE_TYPE_MAX_LENGTH", why);
}

/// Add `entry` to the `_errors` of the object at `path` under `node`.
fn nest(node: &mut Map<String, Value>, path: &[&str], entry: Value) {
    let Some((first, rest)) = path.split_first() else {
        let list = node.entry("_errors").or_insert_with(|| json!([]));
        if let Value::Array(list) = list {
            list.push(entry);
        }
        return;
    };
    let child = node.entry(*first).or_insert_with(|| json!({}));
    if let Value::Object(map) = child {
        nest(map, rest, entry);
    }
}

/// 400 `50035 Invalid Form Body`, `errors` nested along each path.
fn invalid_form(errors: &[FormError]) -> Response {
    let mut tree = Map::new();
    for e in errors {
        let path: Vec<&str> = e.path.split('.').collect();
        nest(
            &mut tree,
            &path,
            json!({"code": e.code, "message": e.message}),
        );
    }
    let body = json!({"code": 50035, "errors": tree, "message": "Invalid Form Body"});
    answer(StatusCode::BAD_REQUEST, body)
}

/// The length of `v` if a string (else 0); a complaint at `at` past `max`.
fn text_len(errors: &mut Vec<FormError>, at: &str, v: Option<&Value>, max: usize) -> usize {
    let n = v.and_then(Value::as_str).map_or(0, |t| t.chars().count());
    if n > max {
        too_long(errors, at, max);
    }
    n
}

fn is_snowflake(s: &str) -> bool {
    !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The embeds' limits, each complaint at its field's path; their total size.
fn check_embeds(errors: &mut Vec<FormError>, embeds: &[Value]) -> usize {
    if embeds.len() > 10 {
        too_long(errors, "embeds", 10);
    }
    let mut total = 0;
    for (i, embed) in embeds.iter().enumerate() {
        let at = format!("embeds.{i}");
        let Some(e) = embed.as_object() else {
            let why = "Only dictionaries may be used in a DictType";
            complain(errors, &at, "DICT_TYPE_CONVERT", why);
            continue;
        };
        for (key, max) in [("title", 256), ("description", 4096)] {
            total += text_len(errors, &format!("{at}.{key}"), e.get(key), max);
        }
        for (outer, key, max) in [("footer", "text", 2048), ("author", "name", 256)] {
            let text = e.get(outer).and_then(|o| o.get(key));
            total += text_len(errors, &format!("{at}.{outer}.{key}"), text, max);
        }
        let fields = e.get("fields").and_then(Value::as_array);
        let fields = fields.map(Vec::as_slice).unwrap_or_default();
        if fields.len() > 25 {
            too_long(errors, &format!("{at}.fields"), 25);
        }
        for (j, field) in fields.iter().enumerate() {
            for (key, max) in [("name", 256), ("value", 1024)] {
                let path = format!("{at}.fields.{j}.{key}");
                let text = field.get(key).and_then(Value::as_str);
                if text.is_none_or(|t| t.trim().is_empty()) {
                    complain(
                        errors,
                        &path,
                        "BASE_TYPE_REQUIRED",
                        "This field is required",
                    );
                }
                total += text_len(errors, &path, field.get(key), max);
            }
        }
    }
    total
}

/// The message a body describes, or Discord's refusal.
fn message(body: &Map<String, Value>) -> Result<Posted, Response> {
    let mut errors = Vec::new();
    let content = match body.get("content") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            let message = format!("Could not interpret \"{other}\" as string.");
            complain(&mut errors, "content", "STRING_TYPE_CONVERT", message);
            None
        }
    };
    text_len(&mut errors, "content", body.get("content"), 2000);
    let username = body.get("username").and_then(Value::as_str);
    let bad_name = |u: &str| u.trim().is_empty() || u.chars().count() > 80;
    if username.is_some_and(bad_name) {
        let why = "Must be between 1 and 80 in length.";
        complain(&mut errors, "username", "BASE_TYPE_BAD_LENGTH", why);
    }
    let embeds = match body.get("embeds") {
        None | Some(Value::Null) => None,
        Some(Value::Array(list)) => {
            if check_embeds(&mut errors, list) > 6000 {
                let why = "Embed size exceeds maximum size of 6000";
                complain(&mut errors, "embeds", "MAX_EMBED_SIZE_EXCEEDED", why);
            }
            Some(list.clone()).filter(|l| !l.is_empty())
        }
        Some(_) => {
            let why = "Only iterables may be used in a ListType";
            complain(&mut errors, "embeds", "LIST_TYPE_CONVERT", why);
            None
        }
    };
    if !errors.is_empty() {
        return Err(invalid_form(&errors));
    }
    let components = body.get("components").and_then(Value::as_array);
    let has_components = components.is_some_and(|c| !c.is_empty());
    let has_poll = body.get("poll").is_some_and(Value::is_object);
    let content = content.filter(|c| !c.is_empty());
    if content.is_none() && embeds.is_none() && !has_components && !has_poll {
        let why = "Cannot send an empty message";
        return Err(error(StatusCode::BAD_REQUEST, 50006, why));
    }
    Ok(Posted {
        content,
        embeds: embeds.map(Value::Array),
        username: username.map(str::to_string),
        ..Posted::default()
    })
}

/// The request's fields: JSON, or a form (Discord reads both); any other
/// body, none.
fn fields(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, Response> {
    let typed = headers.get(header::CONTENT_TYPE).map(HeaderValue::to_str);
    let typed = typed.and_then(Result::ok).unwrap_or_default();
    let media = typed.split(';').next().unwrap_or_default();
    let not_json = || {
        let message = "The request body contains invalid JSON.";
        error(StatusCode::BAD_REQUEST, 50109, message)
    };
    match media.trim().to_ascii_lowercase().as_str() {
        "application/json" => match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(not_json()),
        },
        "application/x-www-form-urlencoded" => {
            let pairs = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body);
            let pairs = pairs.map_err(|_| not_json())?.into_iter();
            Ok(pairs.map(|(k, v)| (k, Value::String(v))).collect())
        }
        _ => Ok(Map::new()),
    }
}

/// A post the bucket let through, which came at `arrived` (the time the
/// bucket counts, so [`Discord::max_in_window`] sees what the bucket saw).
fn execute(d: &mut Discord, (id, token): (&str, &str), call: &Call, arrived: Instant) -> Response {
    if id != WEBHOOK_ID {
        return error(StatusCode::NOT_FOUND, 10015, "Unknown Webhook");
    }
    if token != WEBHOOK_TOKEN {
        return error(StatusCode::UNAUTHORIZED, 50027, "Invalid Webhook Token");
    }
    let q = |k: &str| {
        call.query
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    let mut errors = Vec::new();
    let wait = match q("wait") {
        None | Some("false" | "False" | "0") => false,
        Some("true" | "True" | "1") => true,
        Some(v) => {
            let message = format!("Value \"{v}\" is not a boolean.");
            complain(&mut errors, "wait", "BOOLEAN_TYPE_COERCE", message);
            false
        }
    };
    let thread_id = q("thread_id").map(str::to_string);
    if let Some(t) = thread_id.as_deref().filter(|t| !is_snowflake(t)) {
        let message = format!("Value \"{t}\" is not snowflake.");
        complain(&mut errors, "thread_id", "NUMBER_TYPE_COERCE", message);
    }
    if !errors.is_empty() {
        return invalid_form(&errors);
    }
    let fields = match fields(&call.headers, &call.body) {
        Ok(fields) => fields,
        Err(refused) => return refused,
    };
    let mut posted = match message(&fields) {
        Ok(posted) => posted,
        Err(refused) => return refused,
    };
    (posted.wait, posted.thread_id) = (wait, thread_id);
    let snowflake = d.snowflake();
    d.accepted.push(arrived);
    let reply = message_object(d, snowflake, &posted);
    d.posted.push(posted);
    if wait {
        answer(StatusCode::OK, reply)
    } else {
        StatusCode::NO_CONTENT.into_response()
    }
}

/// The message object `?wait=true` answers with.
fn message_object(d: &Discord, snowflake: u64, p: &Posted) -> Value {
    let ms = (snowflake >> 22) + DISCORD_EPOCH_MS;
    let secs = wharf_sdk::time::rfc3339((ms / 1000) as i64);
    let timestamp = format!("{}.{:03}000+00:00", secs.trim_end_matches('Z'), ms % 1000);
    let mut embeds = p.embeds.clone().unwrap_or_else(|| json!([]));
    for embed in embeds.as_array_mut().into_iter().flatten() {
        if let Some(e) = embed.as_object_mut() {
            e.entry("type").or_insert_with(|| json!("rich"));
        }
    }
    let username = p.username.clone().unwrap_or_else(|| d.name.clone());
    let channel = p.thread_id.as_deref().unwrap_or(CHANNEL_ID);
    json!({
        "id": snowflake.to_string(), "type": 0, "channel_id": channel,
        "content": p.content.clone().unwrap_or_default(), "embeds": embeds,
        "author": {"bot": true, "id": WEBHOOK_ID, "username": username, "avatar": null,
            "discriminator": "0000"},
        "attachments": [], "mentions": [], "mention_roles": [], "mention_everyone": false,
        "pinned": false, "tts": false, "timestamp": timestamp, "edited_timestamp": null,
        "flags": 0, "components": [], "webhook_id": WEBHOOK_ID
    })
}
