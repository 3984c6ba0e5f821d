//! A fake Xero on one loopback origin: identity (login.xero.com,
//! identity.xero.com), `/connections` and the Accounting API
//! (api.xero.com), from Xero's documentation (more in `docs/vendors/xero.md`):
//!
//! - OAuth 2.0 authorization code (<https://developer.xero.com/documentation/oauth2/pkce-flow>,
//!   <https://developer.xero.com/documentation/oauth2/troubleshooting>): a bad
//!   client, redirect URI or scope gets an error page, not a redirect; the
//!   token endpoint takes a form and the client by `Authorization: Basic` only
//!   (`client_secret` in the body: `401 invalid_client`); `expires_in: 1800`;
//!   a refresh token only with `offline_access`, rotated on every refresh,
//!   the one it replaced good once more (the grace period), else `400
//!   {"error":"invalid_grant"}` (<https://developer.xero.com/faq/oauth2>,
//!   <https://community.xero.com/developer/discussion/127920775>).
//! - `GET /connections`: the tenants, `tenantId` apart from the connection `id`.
//! - `GET /api.xro/2.0/{Invoices,BankTransactions,Contacts,Accounts,Journals}[/{id}]`
//!   (<https://developer.xero.com/documentation/api/requests-and-responses>,
//!   <http://developer.xero.com/documentation/advanced-docs/dates-and-timestamps-explained/>):
//!   XML unless `Accept: application/json`; `"\/Date(ms+0000)\/"` dates;
//!   `page` and `pageSize` (100, at most 1000) with `pagination`, without
//!   `page` every record without line items; `Accounts` whole; `Journals`
//!   after `offset`, 100 at a time; `If-Modified-Since` (ISO 8601, UTC
//!   without an offset, or an HTTP date) on `UpdatedDateUTC` (journals:
//!   `CreatedDateUTC`), to the second, inclusive. Filters it does not model
//!   (`where`, `order`, `IDs`, …) are violations.
//! - `401 {"Title":"Unauthorized","Detail":"AuthenticationUnsuccessful"}` for
//!   a missing or expired token, `AuthorizationUnsuccessful` without the
//!   operation's scope; `403 … "Forbidden"` for a missing, unknown or
//!   disconnected `Xero-Tenant-Id`.
//! - Per tenant (<https://developer.xero.com/faq/limits>): 60 calls a rolling
//!   minute, 5 at once, 5000 a day; past one, `429`, `Retry-After`,
//!   `X-Rate-Limit-Problem: minute|concurrent|day`; `X-DayLimit-Remaining`,
//!   `X-MinLimit-Remaining`, `X-AppMinLimit-Remaining` on answers to calls
//!   that named a tenant.
//! - **Every API request is checked against Xero's OpenAPI file**
//!   (`specs/xero_accounting.json`, <https://github.com/XeroAPI/Xero-OpenAPI>)
//!   into [`Xero::violations`].
//! - Webhooks (<https://developer.xero.com/documentation/webhooks/configuring-your-server>):
//!   [`sign`], [`intent_to_receive`], [`event`]; records in `xero_data.rs`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};
use sha2::Digest as _;

use super::openapi::Described;
pub use super::xero_data::{Org, demo};
pub use super::xero_data::{event_at, intent_to_receive, now_ms, sign};
use super::xero_data::{iso, list, parse_since, single};
use crate::support::Upstream;

pub const CLIENT_ID: &str = "4A1F0C2E9B8D47C6A3E51D7F0B2C9E84";
pub const CLIENT_SECRET: &str = "xq9VtR2mK7wP4sLz8NcB3hJ6dF1gY5aE0uT2iO7pQ4rW9eS3";
/// The webhook signing key (My Apps → Webhooks).
pub const WEBHOOK_KEY: &str =
    "Yk3pQ9rT2vX8zB4nM6cL1dF7gH5jK0sW3eR9tY2uI8oP4aS6dF1gH7jK5lZ0xC3vB9nM2qW8eR4tY6u==";
/// What an app may ask for: the OpenAPI file's scopes and `offline_access`.
const SCOPES: &str = "openid profile email offline_access accounting.transactions \
    accounting.transactions.read accounting.contacts accounting.contacts.read \
    accounting.settings accounting.settings.read accounting.journals.read \
    accounting.reports.read accounting.reports.tenninetynine.read accounting.attachments \
    accounting.attachments.read accounting.budgets.read paymentservices";
const INVALID_TOKEN: &str = "Bearer error=\"invalid_token\"";
const NO_SCOPE: &str = "Bearer error=\"insufficient_scope\"";
const AUTHN: &str = "AuthenticationUnsuccessful";
const AUTHZ: &str = "AuthorizationUnsuccessful";
const DAY: Duration = Duration::from_secs(86_400);
const RESOURCES: &str = "Invoices BankTransactions Contacts Accounts Journals";
/// Parameters the OpenAPI file allows and the fake does not model.
const UNMODELLED: &str = "where IDs InvoiceNumbers ContactIDs Statuses createdByMyApp \
    summaryOnly searchTerm paymentsOnly";

#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub uri: String,
    pub status: u16,
    /// The tenant an API call was counted against.
    pub tenant: Option<usize>,
}

/// An authorization code's redirect URI, scope, and when it was issued.
struct Code(String, String, Instant);

/// One consent's refresh tokens: the current one and the one it replaced.
struct Lineage {
    scope: String,
    auth_event: String,
    current: String,
    previous: Option<String>,
}

/// An access token's scope, authentication event, and end.
struct Access(String, String, Instant);

pub struct Xero {
    pub orgs: Vec<Org>,
    /// The app's redirect URIs (matched exactly); empty takes any.
    pub redirect_uris: Vec<String>,
    /// What the OpenAPI file refuses, and what the fake does not model.
    pub violations: Vec<String>,
    pub seen: Vec<Seen>,
    /// Refresh grants answered.
    pub refreshes: u32,
    /// Calls per tenant in any `window` (60 in 60 s).
    pub minute_limit: usize,
    pub window: Duration,
    pub concurrent_limit: usize,
    pub day_limit: usize,
    pub app_minute_limit: usize,
    /// How long an admitted API call is held before its answer.
    pub hold: Duration,
    /// Admitted API calls: (tenant, when).
    pub calls: Vec<(usize, Instant)>,
    pub refused_429: u32,
    /// Each 429: (tenant, `X-Rate-Limit-Problem`).
    pub refusals: Vec<(usize, &'static str)>,
    /// The most calls one tenant had open at once, refused ones included.
    pub max_in_flight: usize,
    /// `If-Modified-Since` values: `rfc3339`, `iso` (no offset), `http-date`, `invalid`.
    pub if_modified_since: Vec<(String, &'static str)>,
    /// Every access and refresh token issued, for leak checks.
    pub issued: Vec<String>,
    in_flight: BTreeMap<usize, usize>,
    codes: BTreeMap<String, Code>,
    lineages: Vec<Lineage>,
    access: BTreeMap<String, Access>,
}

impl Default for Xero {
    fn default() -> Self {
        Self {
            orgs: Vec::new(),
            redirect_uris: Vec::new(),
            violations: Vec::new(),
            seen: Vec::new(),
            refreshes: 0,
            minute_limit: 60,
            window: Duration::from_secs(60),
            concurrent_limit: 5,
            day_limit: 5000,
            app_minute_limit: 10_000,
            hold: Duration::from_millis(20),
            calls: Vec::new(),
            refused_429: 0,
            refusals: Vec::new(),
            max_in_flight: 0,
            if_modified_since: Vec::new(),
            issued: Vec::new(),
            in_flight: BTreeMap::new(),
            codes: BTreeMap::new(),
            lineages: Vec::new(),
            access: BTreeMap::new(),
        }
    }
}

pub type Shared = Arc<Mutex<Xero>>;

impl Xero {
    /// Every access token stops working, as after 30 minutes.
    pub fn expire_access_tokens(&mut self) {
        self.access.clear();
    }

    /// The organisation disconnects the app: 403, and gone from `/connections`.
    pub fn disconnect(&mut self, tenant: usize) {
        self.orgs[tenant].connected = false;
    }

    /// The most admitted calls of a tenant within any one `window`.
    pub fn max_calls_in_window(&self, tenant: usize) -> usize {
        let times: Vec<Instant> = self.within(Some(tenant), Duration::MAX, Instant::now());
        let (mut best, mut start) = (0, 0);
        for end in 0..times.len() {
            while start < end && times[end].duration_since(times[start]) >= self.window {
                start += 1;
            }
            best = best.max(end + 1 - start);
        }
        best
    }

    /// When the admitted calls (of one tenant, or all) in the `w` before `now` came.
    fn within(&self, tenant: Option<usize>, w: Duration, now: Instant) -> Vec<Instant> {
        let mine = |c: &&(usize, Instant)| tenant.is_none_or(|t| c.0 == t);
        let recent = |c: &&(usize, Instant)| mine(c) && now.duration_since(c.1) < w;
        self.calls.iter().filter(recent).map(|c| c.1).collect()
    }

    /// The limit a call would break, and the seconds until it would not.
    fn over_limit(&self, t: usize, now: Instant) -> Option<(&'static str, u64)> {
        let wait = |calls: &[Instant], w: Duration| {
            let free = calls.first().map_or(now, |o| *o + w);
            let secs = free.saturating_duration_since(now).as_secs_f64();
            secs.ceil().max(1.0) as u64
        };
        let today = self.within(Some(t), DAY, now);
        if today.len() >= self.day_limit {
            return Some(("day", wait(&today, DAY)));
        }
        let minute = self.within(Some(t), self.window, now);
        if minute.len() >= self.minute_limit {
            return Some(("minute", wait(&minute, self.window)));
        }
        let open = self.in_flight.get(&t).copied().unwrap_or(0);
        (open >= self.concurrent_limit).then_some(("concurrent", 1))
    }

    fn limit_headers(&self, r: &mut Response, t: usize, now: Instant) {
        let used = |tenant, w| self.within(tenant, w, now).len();
        let day = self.day_limit.saturating_sub(used(Some(t), DAY));
        let minute = self.minute_limit.saturating_sub(used(Some(t), self.window));
        let app = used(None, self.window);
        let app = self.app_minute_limit.saturating_sub(app);
        let h = r.headers_mut();
        h.insert("x-daylimit-remaining", day.into());
        h.insert("x-minlimit-remaining", minute.into());
        h.insert("x-appminlimit-remaining", app.into());
    }
}

fn lock(x: &Shared) -> MutexGuard<'_, Xero> {
    x.lock().unwrap_or_else(PoisonError::into_inner)
}

fn described() -> &'static Described {
    static SPEC: OnceLock<Described> = OnceLock::new();
    SPEC.get_or_init(|| Described::load("xero_accounting.json"))
}

/// A fresh id, unique in this process.
pub(super) fn fresh_id() -> String {
    static N: AtomicU64 = AtomicU64::new(1);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("f4e5a1d0-0000-4000-8000-{n:012x}")
}

/// SHA-256 as lowercase hex.
fn hex(bytes: &[u8]) -> String {
    let digest = sha2::Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

pub async fn start(xero: Xero) -> (Upstream, Shared) {
    let shared = Arc::new(Mutex::new(xero));
    let app = Router::new().fallback(serve).with_state(shared.clone());
    (Upstream::start(app).await, shared)
}

async fn serve(State(x): State<Shared>, request: Request) -> Response {
    let method = request.method().to_string();
    let uri = request.uri().to_string();
    let path = request.uri().path().to_string();
    let raw = request.uri().query().unwrap_or_default();
    let query: Vec<(String, String)> = serde_urlencoded::from_str(raw).unwrap_or_default();
    let headers = request.headers().clone();
    let body = axum::body::to_bytes(request.into_body(), 16 << 20).await;
    let body = body.unwrap_or_default();
    let (response, tenant) = match (method.as_str(), path.as_str()) {
        ("GET", "/identity/connect/authorize") => (authorize(&x, &query), None),
        ("POST", "/connect/token") => (token(&x, &headers, &body), None),
        ("GET", "/connections") => (connections(&x, &headers, &query), None),
        _ if path.starts_with("/api.xro/2.0/") => {
            api(&x, (&method, &path, &query, &headers), &body).await
        }
        _ => (not_found(), None),
    };
    let status = response.status().as_u16();
    lock(&x).seen.push(Seen {
        method,
        uri,
        status,
        tenant,
    });
    response
}

fn not_found() -> Response {
    let text = "The resource you're looking for cannot be found";
    (StatusCode::NOT_FOUND, text).into_response()
}

/// JSON as Xero writes it, with `\/Date(…)\/`.
pub(super) fn json_response(status: StatusCode, body: &Value) -> Response {
    let text = body.to_string().replace("\"/Date(", "\"\\/Date(");
    let text = text.replace(")/\"", ")\\/\"");
    let json = [(header::CONTENT_TYPE, "application/json; charset=utf-8")];
    (status, json, text).into_response()
}

fn problem(status: StatusCode, detail: &str, challenge: Option<&'static str>) -> Response {
    let title = status.canonical_reason().unwrap_or_default();
    let body = json!({"Type": null, "Title": title, "Status": status.as_u16(), "Detail": detail,
        "Instance": fresh_id(), "Extensions": {}});
    let mut r = json_response(status, &body);
    if let Some(c) = challenge {
        let value = HeaderValue::from_static(c);
        r.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    r
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    (status, axum::Json(json!({"error": error}))).into_response()
}

fn text(headers: &HeaderMap, name: HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    text(headers, header::AUTHORIZATION)?.strip_prefix("Bearer ")
}

fn authorize(x: &Shared, query: &[(String, String)]) -> Response {
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    // Xero shows an error page, and does not redirect, for a bad client, URI or scope.
    let page = |what: &str| {
        let html = format!("<html><body><h1>Error</h1><p>{what}</p></body></html>");
        let typed = [(header::CONTENT_TYPE, "text/html")];
        (StatusCode::INTERNAL_SERVER_ERROR, typed, html).into_response()
    };
    let mut s = lock(x);
    let redirect = get("redirect_uri").unwrap_or_default();
    let registered = s.redirect_uris.is_empty() || s.redirect_uris.iter().any(|u| u == redirect);
    let scopes: Vec<&str> = get("scope").unwrap_or_default().split(' ').collect();
    let known = |scope: &&str| SCOPES.split_whitespace().any(|k| k == *scope);
    if get("client_id") != Some(CLIENT_ID) {
        return page("Error: unauthorized_client - Unknown client or client not enabled");
    }
    let Some(mut back) = url::Url::parse(redirect).ok().filter(|_| registered) else {
        return page("Error: invalid_request - Invalid redirect_uri");
    };
    if get("response_type") != Some("code") {
        return page("Error: unsupported_response_type");
    }
    if !scopes.iter().all(known) {
        return page("Error: invalid_scope");
    }
    let code = hex(fresh_id().as_bytes());
    let scope = scopes.join(" ");
    let grant = Code(redirect.to_string(), scope.clone(), Instant::now());
    s.codes.insert(code.clone(), grant);
    {
        let mut pairs = back.query_pairs_mut();
        pairs.append_pair("code", &code);
        pairs.append_pair("scope", &scope);
        if let Some(state) = get("state") {
            pairs.append_pair("state", state);
        }
    }
    (StatusCode::FOUND, [(header::LOCATION, back.to_string())]).into_response()
}

fn token(x: &Shared, headers: &HeaderMap, body: &[u8]) -> Response {
    let typed = text(headers, header::CONTENT_TYPE).unwrap_or_default();
    let form_typed = typed.starts_with("application/x-www-form-urlencoded");
    let form = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).ok();
    let Some(form) = form.filter(|_| form_typed) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let basic = text(headers, header::AUTHORIZATION).and_then(|v| v.strip_prefix("Basic "));
    let b64 = base64::engine::general_purpose::STANDARD;
    let basic = basic.and_then(|b| b64.decode(b.trim()).ok());
    let client = format!("{CLIENT_ID}:{CLIENT_SECRET}");
    if field("client_secret").is_some() || basic.as_deref() != Some(client.as_bytes()) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let invalid_grant = || oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    let mut s = lock(x);
    let lineage = match field("grant_type") {
        Some("authorization_code") => {
            let Some(code) = field("code").and_then(|c| s.codes.remove(c)) else {
                return invalid_grant();
            };
            let Code(redirect_uri, scope, at) = code;
            let fresh = at.elapsed() < Duration::from_secs(300);
            if !fresh || field("redirect_uri") != Some(redirect_uri.as_str()) {
                return invalid_grant();
            }
            let auth_event = fresh_id();
            let (current, previous) = (String::new(), None);
            s.lineages.push(Lineage {
                scope,
                auth_event,
                current,
                previous,
            });
            s.lineages.len() - 1
        }
        Some("refresh_token") => {
            let presented = field("refresh_token").unwrap_or_default();
            let old = |l: &Lineage| l.previous.as_deref() == Some(presented);
            let held = |l: &Lineage| !presented.is_empty() && (l.current == presented || old(l));
            let Some(i) = s.lineages.iter().position(held) else {
                return invalid_grant();
            };
            // Spent: the presented token, and, if it was the grace one, the
            // one that replaced it.
            let l = &mut s.lineages[i];
            l.previous = (l.current == presented).then(|| std::mem::take(&mut l.current));
            s.refreshes += 1;
            i
        }
        _ => return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    };
    issue(&mut s, lineage)
}

fn issue(s: &mut Xero, i: usize) -> Response {
    let l = &s.lineages[i];
    let (scope, auth_event) = (l.scope.clone(), l.auth_event.clone());
    let access = hex(fresh_id().as_bytes());
    let until = Instant::now() + Duration::from_secs(1800);
    let mut answer = json!({"access_token": access, "expires_in": 1800, "token_type": "Bearer",
        "scope": scope});
    if scope.split(' ').any(|x| x == "offline_access") {
        let refresh = hex(fresh_id().as_bytes());
        s.lineages[i].current = refresh.clone();
        answer["refresh_token"] = json!(refresh);
        s.issued.push(refresh);
    }
    s.issued.push(access.clone());
    s.access.insert(access, Access(scope, auth_event, until));
    axum::Json(answer).into_response()
}

fn connections(x: &Shared, headers: &HeaderMap, query: &[(String, String)]) -> Response {
    let s = lock(x);
    let access = bearer(headers).and_then(|t| s.access.get(t));
    let Some(Access(_, auth_event, _)) = access.filter(|a| a.2 > Instant::now()) else {
        return problem(StatusCode::UNAUTHORIZED, AUTHN, Some(INVALID_TOKEN));
    };
    let event = query.iter().find(|(k, _)| k == "authEventId");
    let mine = event.is_none_or(|(_, e)| e.eq_ignore_ascii_case(auth_event));
    let utc = |ms: i64| format!("{}.{:03}0000", iso(ms), ms.rem_euclid(1000));
    let list = s.orgs.iter().filter(|o| o.connected && mine).map(|o| {
        json!({"id": o.connection_id, "authEventId": auth_event, "tenantId": o.tenant_id,
            "tenantType": "ORGANISATION", "tenantName": o.name, "createdDateUtc": utc(o.created_ms + 516),
            "updatedDateUtc": utc(o.created_ms + 518)})
    });
    axum::Json(list.collect::<Vec<Value>>()).into_response()
}

/// A tenant's in-flight slot, given back when dropped.
struct InFlight(Shared, usize);

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(n) = lock(&self.0).in_flight.get_mut(&self.1) {
            *n = n.saturating_sub(1);
        }
    }
}

/// A request's method, path, query and headers.
type Call<'a> = (&'a str, &'a str, &'a [(String, String)], &'a HeaderMap);

async fn api(x: &Shared, call: Call<'_>, body: &[u8]) -> (Response, Option<usize>) {
    let (tenant, hold) = match admit(x, call, body) {
        Ok(admitted) => admitted,
        Err(refused) => return refused,
    };
    let slot = InFlight(x.clone(), tenant);
    tokio::time::sleep(hold).await;
    let response = {
        let mut s = lock(x);
        let mut r = route(&mut s, tenant, call);
        s.limit_headers(&mut r, tenant, Instant::now());
        r
    };
    drop(slot);
    (response, Some(tenant))
}

type Refused = (Response, Option<usize>);

/// Checks a call and takes a slot for it: its tenant and how long to hold it.
fn admit(x: &Shared, call: Call, body: &[u8]) -> Result<(usize, Duration), Refused> {
    let (method, path, query, headers) = call;
    let mut s = lock(x);
    if let Some(v) = described().violation(method, path, query, headers, body) {
        s.violations.push(v);
    }
    let access = bearer(headers).and_then(|t| s.access.get(t));
    let Some(Access(scope, _, _)) = access.filter(|a| a.2 > Instant::now()) else {
        let r = problem(StatusCode::UNAUTHORIZED, AUTHN, Some(INVALID_TOKEN));
        return Err((r, None));
    };
    let granted = |n: &String| scope.split(' ').any(|g| g == n.as_str());
    if let Some(needed) = described().scopes(method, path)
        && !needed.iter().any(granted)
    {
        let r = problem(StatusCode::UNAUTHORIZED, AUTHZ, Some(NO_SCOPE));
        return Err((r, None));
    }
    let asked = text(headers, HeaderName::from_static("xero-tenant-id")).unwrap_or_default();
    let named = |o: &Org| o.connected && o.tenant_id.eq_ignore_ascii_case(asked.trim());
    let Some(t) = s.orgs.iter().position(named) else {
        return Err((problem(StatusCode::FORBIDDEN, AUTHN, None), None));
    };
    let now = Instant::now();
    let open = s.in_flight.get(&t).copied().unwrap_or(0);
    s.max_in_flight = s.max_in_flight.max(open + 1);
    if let Some((limit, retry)) = s.over_limit(t, now) {
        s.refused_429 += 1;
        s.refusals.push((t, limit));
        let mut r = StatusCode::TOO_MANY_REQUESTS.into_response();
        let h = r.headers_mut();
        h.insert(header::RETRY_AFTER, retry.into());
        h.insert("x-rate-limit-problem", HeaderValue::from_static(limit));
        s.limit_headers(&mut r, t, now);
        return Err((r, Some(t)));
    }
    s.calls.push((t, now));
    *s.in_flight.entry(t).or_default() += 1;
    Ok((t, s.hold))
}

fn route(s: &mut Xero, t: usize, (method, path, query, headers): Call) -> Response {
    let rest = path.strip_prefix("/api.xro/2.0/").unwrap_or_default();
    let (resource, key) = match rest.split_once('/') {
        Some((r, k)) if !k.is_empty() && !k.contains('/') => (r, Some(k)),
        Some(_) => return not_found(),
        None => (rest, None),
    };
    let Some(resource) = RESOURCES.split(' ').find(|r| *r == resource) else {
        return not_found();
    };
    if method != "GET" {
        let v = format!("{method} {path}: the fake serves reads only");
        s.violations.push(v);
        return (StatusCode::NOT_IMPLEMENTED, "not in the fake").into_response();
    }
    for (k, _) in query {
        if UNMODELLED.split_whitespace().any(|u| k.as_str() == u) {
            let v = format!("GET {path}: the fake does not model `{k}`");
            s.violations.push(v);
        }
    }
    let since = headers.get(header::IF_MODIFIED_SINCE).map(|v| {
        let text = String::from_utf8_lossy(v.as_bytes()).trim().to_string();
        let parsed = parse_since(&text);
        let form = parsed.map_or("invalid", |p| p.1);
        if parsed.is_none() {
            let v = format!("If-Modified-Since `{text}`: neither ISO 8601 nor an HTTP date");
            s.violations.push(v);
        }
        s.if_modified_since.push((text, form));
        parsed.map(|p| p.0)
    });
    let org = &s.orgs[t];
    let (rows, pagination) = match key {
        Some(k) => {
            let k = percent_encoding::percent_decode_str(k).decode_utf8_lossy();
            let Some(row) = single(org, resource, &k) else {
                return not_found();
            };
            (vec![row], None)
        }
        None => list(org, resource, query, since.flatten()),
    };
    let accept = headers.get_all(header::ACCEPT).iter();
    let accepted: Vec<&str> = accept.filter_map(|v| v.to_str().ok()).collect();
    if !accepted.iter().any(|v| v.contains("application/json")) {
        // Xero's default is XML.
        let n = rows.len();
        let xml = format!("<Response><Status>OK</Status><{resource} count=\"{n}\" /></Response>");
        return ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], xml).into_response();
    }
    let mut body = json!({"Id": fresh_id(), "Status": "OK", "ProviderName": "Wharf",
        "DateTimeUTC": format!("/Date({})/", now_ms())});
    if let Some(p) = pagination {
        body["pagination"] = p;
    }
    body[resource] = Value::Array(rows);
    json_response(StatusCode::OK, &body)
}
