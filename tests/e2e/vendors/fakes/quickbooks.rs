//! A fake QuickBooks Online on one loopback origin: Intuit's OAuth 2.0
//! endpoints and the Accounting API, from Intuit's documentation (more in
//! `docs/vendors/quickbooks.md`; `QBO` is <https://developer.intuit.com/app/developer/qbo/docs>):
//!
//! - OAuth 2.0 (QBO `/develop/authentication-and-authorization/oauth-2.0`):
//!   `GET /connect/oauth2` shows an error page for a bad client, redirect
//!   URI, scope or no `state`, else redirects with `code`, `state` and the
//!   company as `realmId`; `POST /oauth2/v1/tokens/bearer` takes a form and
//!   the client by HTTP Basic only; an hour's `access_token`; a new
//!   `refresh_token` on each refresh, the one presented spent.
//! - Every API call: a live bearer token (else 401, the gateway's lower-case
//!   `fault`, `AuthenticationFailed; errorCode=003200`), the consent's
//!   company in `/v3/company/{realmId}/` (else 403), `minorversion` 75 or
//!   later and `Accept: application/json` (else violations).
//! - `GET /companyinfo/{realmId}`, `GET /{entity}/{id}` (else 400 `610`).
//! - `GET /query?query=` (QBO `/learn/explore-the-quickbooks-online-api/data-queries`):
//!   what `quickbooks_data::query` reads; `MAXRESULTS` 1000 at most; no
//!   rows, no array; `QueryParserError` (4000) and `QueryValidationError`
//!   (4001) are violations.
//! - `GET /cdc?entities=&changedSince=` (QBO `/learn/explore-the-quickbooks-online-api/change-data-capture`):
//!   whole entities and deletions, a `QueryResponse` element per entity,
//!   1000 objects at most, 30 days back at most (else Intuit's "older than
//!   fixed days", <https://github.com/Wish-Org/QuickBooksSharp/issues/19>).
//! - `POST /{entity}` (QBO `/api/accounting/all-entities/invoice`, …): a
//!   create without `Id`; with `Id` and the current `SyncToken` a sparse or
//!   full update (else `5010` "Stale Object Error"); `?operation=delete`
//!   for a transaction; `2020` "Required param missing…" (QBO
//!   `/develop/troubleshooting/error-codes`) for an invoice without
//!   `CustomerRef`, a bill without `VendorRef`, no `Line`. `requestid`
//!   (<https://blogs.intuit.com/2015/04/06/15346/>): 1–50 characters; one
//!   seen before gets its first answer again and nothing is written; a
//!   write without one is a violation.
//! - Limits (QBO `/learn/rest-api-features#limits-and-throttles`): 500 a
//!   minute, 10 at once, then 429 `ThrottleExceeded` and a violation, also
//!   on demand ([`QuickBooks::throttle_next`]); Intuit documents no
//!   `Retry-After` ([`QuickBooks::retry_after`] adds one).
//! - Webhooks (QBO `/develop/webhooks/managing-webhooks-notifications`): [`event`], [`sign`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use wharf_sdk::scalar_text;

use super::quickbooks_data::{NAMES, canonical, changes, check, company_info, day_of, defaults};
pub use super::quickbooks_data::{company, event, now_ms, parse_time, sign, stamp, stamp_ms};
use super::quickbooks_data::{fault, id_number, listed, missing, not_found, query, stale, totals};
use crate::support::Upstream;

pub const CLIENT_ID: &str = "ABq7WvR3xK9mT2pL8nC4dF6gH1jZ5sY0bV3eU7iO9wQ2tA6xCd";
pub const CLIENT_SECRET: &str = "k3P9rT2vX8zB4nM6cL1dF7gH5jK0sW3eR9tY2uI8";
/// The app's webhook verifier token (the connection's `webhook_secret`).
pub const VERIFIER_TOKEN: &str = "4f9c2b7e-1a3d-4e8b-9c6f-2d5a8e1b3c7f";
/// The company the consent is for (that of Intuit's webhook example).
pub const REALM: &str = "1185883450";
const SCOPES: &str = "com.intuit.quickbooks.accounting com.intuit.quickbooks.payment openid \
    profile email phone address";
/// Fields the server keeps, whatever a write sends.
const KEPT: [&str; 6] = ["Id", "SyncToken", "MetaData", "domain", "sparse", "status"];
/// How long an admitted call is held, so that calls overlap as they would.
const HOLD: Duration = Duration::from_millis(10);

#[derive(Clone, Debug)]
pub struct Seen {
    pub uri: String,
    pub status: u16,
    pub at: Instant,
}

/// An answer: status and JSON body.
pub(super) type Answer = (StatusCode, Value);
/// A saved entity, or the fault that refused it.
type Saved = Result<Value, Answer>;
type Fields = Map<String, Value>;

#[derive(Default)]
pub struct QuickBooks {
    /// Entities by name (`Invoice`), each a JSON object with `Id`.
    pub entities: BTreeMap<String, Vec<Value>>,
    /// Deleted transactions: entity, `Id`, when (ms), for CDC.
    pub deleted: Vec<(String, String, i64)>,
    /// What Intuit would refuse, or the fake does not model.
    pub violations: Vec<String>,
    pub seen: Vec<Seen>,
    /// Statements answered, and how many entities each returned.
    pub queries: Vec<(String, usize)>,
    /// CDC calls answered: `entities`, `changedSince`.
    pub cdc: Vec<(String, String)>,
    /// Writes made: `create`/`update`/`delete`, entity, `Id`.
    pub writes: Vec<(&'static str, String, String)>,
    /// Faults answered: status, `code`, `Detail`.
    pub faults: Vec<(u16, String, String)>,
    /// `requestid`s answered with their first answer.
    pub replayed: Vec<String>,
    pub refreshes: u32,
    /// Every token issued, for leak checks.
    pub issued: Vec<String>,
    /// Answer the next this many API calls with 429.
    pub throttle_next: u32,
    pub retry_after: Option<u64>,
    pub max_in_flight: usize,
    calls: Vec<Instant>,
    in_flight: usize,
    codes: BTreeMap<String, (String, Instant)>,
    refresh: Vec<String>,
    access: BTreeMap<String, Instant>,
    answers: BTreeMap<String, Answer>,
}

pub type Shared = Arc<Mutex<QuickBooks>>;

impl QuickBooks {
    /// Every access token stops working, as an hour after it was issued.
    pub fn expire_access_tokens(&mut self) {
        self.access.clear();
    }

    pub fn all(&self, entity: &str) -> &[Value] {
        self.entities.get(entity).map_or(&[], Vec::as_slice)
    }

    pub fn find(&self, entity: &str, id: &str) -> Option<&Value> {
        self.all(entity).iter().find(|e| e["Id"] == id)
    }

    /// A user edits an entity in QuickBooks: a new `SyncToken` and
    /// `LastUpdatedTime`.
    pub fn edit(&mut self, entity: &str, id: &str, field: &str, value: Value) {
        let list = self.entities.get_mut(entity).into_iter().flatten();
        let e = list.into_iter().find(|e| e["Id"] == id).expect("known");
        e[field] = value;
        let token = e["SyncToken"].as_str().and_then(|t| t.parse().ok());
        e["SyncToken"] = json!((token.unwrap_or(0) + 1).to_string());
        e["MetaData"]["LastUpdatedTime"] = json!(stamp(now_ms()));
    }

    /// A user deletes a transaction in QuickBooks.
    pub fn remove(&mut self, entity: &str, id: &str) {
        let list = self.entities.get_mut(entity).expect("known");
        let before = list.len();
        list.retain(|e| e["Id"] != id);
        assert_eq!(list.len() + 1, before, "no {entity} {id}");
        self.deleted.push((entity.into(), id.into(), now_ms()));
    }

    /// A user adds an entity in QuickBooks; the entity as saved.
    pub fn add(&mut self, entity: &str, body: Value) -> Value {
        let fields = body.as_object().cloned().unwrap_or_default();
        let saved = create(self, entity, fields, now_ms());
        saved.unwrap_or_else(|(_, fault)| panic!("{fault}"))
    }

    /// Record what Intuit would refuse, and refuse it.
    fn refuse(&mut self, violation: String, code: &str, detail: &str) -> Answer {
        self.violations.push(violation);
        fault(code, detail)
    }
}

fn lock(q: &Shared) -> MutexGuard<'_, QuickBooks> {
    q.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A fresh opaque value, unique in this process.
fn opaque(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0x5eed);
    let n = N.fetch_add(0x9e37, Ordering::Relaxed);
    format!("{prefix}{n:012x}{:x}", now_ms().wrapping_mul(0x2545_f491))
}

/// `{"Entity": value, "time": now}`.
fn one(entity: &str, value: Value) -> Value {
    json!({entity: value, "time": stamp_ms(now_ms())})
}

pub async fn start(qbo: QuickBooks) -> (Upstream, Shared) {
    let shared = Arc::new(Mutex::new(qbo));
    let app = Router::new().fallback(serve).with_state(shared.clone());
    (Upstream::start(app).await, shared)
}

/// A request's method, path, query and headers.
type Call<'a> = (&'a str, &'a str, &'a [(String, String)], &'a HeaderMap);

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let found = query.iter().find(|(k, _)| k == name);
    found.map(|(_, v)| v.as_str())
}

fn text(headers: &HeaderMap, name: HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn serve(State(q): State<Shared>, request: Request) -> Response {
    let method = request.method().to_string();
    let uri = request.uri().to_string();
    let path = request.uri().path().to_string();
    let raw = request.uri().query().unwrap_or_default().to_string();
    let query: Vec<(String, String)> = serde_urlencoded::from_str(&raw).unwrap_or_default();
    let headers = request.headers().clone();
    let body = axum::body::to_bytes(request.into_body(), 16 << 20).await;
    let body = body.unwrap_or_default();
    let call = (method.as_str(), path.as_str(), query.as_slice(), &headers);
    let response = match call.0 {
        "GET" if path == "/connect/oauth2" => authorize(&q, &query),
        "POST" if path == "/oauth2/v1/tokens/bearer" => token(&q, &headers, &body),
        _ if path.starts_with("/v3/company/") => api(&q, call, &body).await,
        _ => (StatusCode::NOT_FOUND, "Not Found").into_response(),
    };
    let (status, at) = (response.status().as_u16(), Instant::now());
    lock(&q).seen.push(Seen { uri, status, at });
    response
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    (status, axum::Json(json!({"error": error}))).into_response()
}

fn authorize(q: &Shared, query: &[(String, String)]) -> Response {
    let get = |k: &str| param(query, k).unwrap_or_default();
    let scopes: Vec<&str> = get("scope").split(' ').collect();
    let known = |x: &&str| SCOPES.split_whitespace().any(|k| k == *x);
    let back = url::Url::parse(get("redirect_uri")).ok();
    let refused = if get("client_id") != CLIENT_ID {
        Some("invalid_client: the app is unknown")
    } else if back.is_none() || get("response_type") != "code" {
        Some("invalid_request: redirect_uri or response_type")
    } else if !scopes.contains(&"com.intuit.quickbooks.accounting") || !scopes.iter().all(known) {
        Some("invalid_scope")
    } else if get("state").is_empty() {
        Some("invalid_request: the state parameter is required")
    } else {
        None
    };
    let (Some(mut back), None) = (back, refused) else {
        let why = refused.unwrap_or_default();
        let html = format!("<html><body><h1>Something went wrong</h1><p>{why}</p></body></html>");
        let typed = [(header::CONTENT_TYPE, "text/html")];
        return (StatusCode::BAD_REQUEST, typed, html).into_response();
    };
    let code = opaque("AB11");
    let grant = (get("redirect_uri").to_string(), Instant::now());
    lock(q).codes.insert(code.clone(), grant);
    let state = get("state");
    let pairs = [
        ("code", code.as_str()),
        ("state", state),
        ("realmId", REALM),
    ];
    back.query_pairs_mut().extend_pairs(pairs);
    (StatusCode::FOUND, [(header::LOCATION, back.to_string())]).into_response()
}

fn token(q: &Shared, headers: &HeaderMap, body: &[u8]) -> Response {
    let typed = text(headers, header::CONTENT_TYPE).unwrap_or_default();
    let form = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).ok();
    let form = form.filter(|_| typed.starts_with("application/x-www-form-urlencoded"));
    let Some(form) = form else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    let field = |k: &str| param(&form, k);
    let basic = text(headers, header::AUTHORIZATION).and_then(|v| v.strip_prefix("Basic "));
    let b64 = base64::engine::general_purpose::STANDARD;
    let basic = basic.and_then(|b| b64.decode(b.trim()).ok());
    let client = format!("{CLIENT_ID}:{CLIENT_SECRET}");
    if field("client_secret").is_some() || basic.as_deref() != Some(client.as_bytes()) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let mut s = lock(q);
    let granted = match field("grant_type") {
        Some("authorization_code") => {
            let code = field("code").and_then(|c| s.codes.remove(c));
            let fresh = |at: &Instant| at.elapsed() < Duration::from_secs(300);
            code.is_some_and(|(uri, at)| fresh(&at) && field("redirect_uri") == Some(uri.as_str()))
        }
        Some("refresh_token") => {
            let presented = field("refresh_token").unwrap_or_default();
            let before = s.refresh.len();
            s.refresh.retain(|r| r != presented);
            s.refreshes += u32::from(s.refresh.len() < before);
            s.refresh.len() < before
        }
        _ => return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    };
    if !granted {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let (access, refresh) = (opaque("eyJlbmMiOiJBMTI4Q0JD"), opaque("AB11"));
    let until = Instant::now() + Duration::from_secs(3600);
    s.access.insert(access.clone(), until);
    s.refresh.push(refresh.clone());
    s.issued.extend([access.clone(), refresh.clone()]);
    let answer = json!({"token_type": "bearer", "access_token": access, "expires_in": 3600,
        "refresh_token": refresh, "x_refresh_token_expires_in": 8_726_400});
    axum::Json(answer).into_response()
}

/// The gateway's lower-case `fault`: 401 (`3200`) for a dead token, else 403 (`3100`).
fn gateway(code: &str) -> Response {
    let (status, message) = match code {
        "3200" => (StatusCode::UNAUTHORIZED, "AuthenticationFailed"),
        _ => (StatusCode::FORBIDDEN, "ApplicationAuthorizationFailed"),
    };
    let n = status.as_u16();
    let message = format!("message={message}; errorCode=00{code}; statusCode={n}");
    let kind = ["AuthorizationFault", "AUTHENTICATION"][usize::from(n == 401)];
    let detail = if n == 401 { "Token expired" } else { "" };
    let error = json!({"message": message, "detail": detail, "code": code});
    let body = json!({"fault": {"error": [error], "type": kind}, "time": stamp_ms(now_ms())});
    (status, axum::Json(body)).into_response()
}

/// A call's slot among those open at once, given back when dropped.
struct InFlight(Shared);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut s = lock(&self.0);
        s.in_flight = s.in_flight.saturating_sub(1);
    }
}

async fn api(q: &Shared, call: Call<'_>, body: &[u8]) -> Response {
    let rest = call.1.strip_prefix("/v3/company/").unwrap_or_default();
    let (realm, rest) = rest.split_once('/').unwrap_or((rest, ""));
    if let Err(refused) = admit(q, call, realm) {
        return refused;
    }
    let slot = InFlight(q.clone());
    tokio::time::sleep(HOLD).await;
    let (status, body) = {
        let mut s = lock(q);
        let answer = route(&mut s, call, rest, body);
        if let Some(error) = answer.1["Fault"]["Error"].get(0) {
            let field = |k: &str| error[k].as_str().unwrap_or_default().to_string();
            let fault = (answer.0.as_u16(), field("code"), field("Detail"));
            s.faults.push(fault);
        }
        answer
    };
    drop(slot);
    (status, axum::Json(body)).into_response()
}

/// Token, company, parameters and limits: a slot, or the refusal.
fn admit(q: &Shared, (method, path, query, headers): Call, realm: &str) -> Result<(), Response> {
    let mut s = lock(q);
    let now = Instant::now();
    let bearer = text(headers, header::AUTHORIZATION).and_then(|v| v.strip_prefix("Bearer "));
    let live = bearer.and_then(|t| s.access.get(t));
    if live.is_none_or(|until| *until <= now) {
        return Err(gateway("3200"));
    }
    if realm != REALM {
        s.violations
            .push(format!("{method} {path}: not the company {REALM}"));
        return Err(gateway("3100"));
    }
    let minor = param(query, "minorversion").and_then(|v| v.parse::<u32>().ok());
    let json = text(headers, header::ACCEPT).is_some_and(|a| a.contains("application/json"));
    if minor.is_none_or(|v| v < 75) || !json {
        let v = format!("{method} {path}: minorversion {minor:?}, Accept JSON {json}");
        s.violations.push(v);
    }
    s.calls
        .retain(|t| now.duration_since(*t) < Duration::from_secs(60));
    if s.throttle_next == 0 && s.calls.len() < 500 && s.in_flight < 10 {
        s.calls.push(now);
        s.in_flight += 1;
        s.max_in_flight = s.max_in_flight.max(s.in_flight);
        return Ok(());
    }
    if s.throttle_next > 0 {
        s.throttle_next -= 1;
    } else {
        let open = s.in_flight;
        s.violations
            .push(format!("{method} {path}: over the limits ({open} open)"));
    }
    let (status, body) = fault("3001", "The request limit was reached.");
    let mut r = (status, axum::Json(body)).into_response();
    if let Some(secs) = s.retry_after {
        r.headers_mut().insert(header::RETRY_AFTER, secs.into());
    }
    Err(r)
}

fn route(s: &mut QuickBooks, call: Call, rest: &str, body: &[u8]) -> Answer {
    let (method, path, query, _) = call;
    let segments: Vec<&str> = rest.split('/').collect();
    let entity = segments.first().and_then(|e| canonical(e));
    let get = |k: &str| param(query, k);
    match (method, segments.as_slice(), entity) {
        ("GET", ["companyinfo", REALM], _) => (StatusCode::OK, one("CompanyInfo", company_info())),
        ("GET", ["query"], _) => select(s, get("query").unwrap_or_default()),
        ("GET", ["cdc"], _) => cdc(s, get("entities"), get("changedSince")),
        ("GET", [_, id], Some(entity)) => match s.find(entity, id) {
            Some(e) => (StatusCode::OK, one(entity, e.clone())),
            None => not_found(),
        },
        ("POST", [_], Some(entity)) => write(s, call, entity, body),
        _ => {
            let detail = format!("Operation {method} {rest} is not supported.");
            s.refuse(format!("{method} {path}: not in the fake"), "500", &detail)
        }
    }
}

fn select(s: &mut QuickBooks, text: &str) -> Answer {
    match query(s, text) {
        Ok(found) => {
            let rows = found.as_object().into_iter().flat_map(|o| o.values());
            let n = rows.filter_map(Value::as_array).map(Vec::len).sum();
            s.queries.push((text.to_string(), n));
            let body = json!({"QueryResponse": found, "time": stamp_ms(now_ms())});
            (StatusCode::OK, body)
        }
        Err(refused) => {
            let why = refused.1["Fault"]["Error"][0]["Detail"].to_string();
            s.violations.push(format!("query `{text}`: {why}"));
            refused
        }
    }
}

fn cdc(s: &mut QuickBooks, entities: Option<&str>, since: Option<&str>) -> Answer {
    let (Some(list), Some(text)) = (entities, since) else {
        s.violations
            .push("cdc without entities or changedSince".into());
        return missing("entities and changedSince");
    };
    let Some(since) = parse_time(text) else {
        let detail = format!("Invalid changedSince: {text}");
        return s.refuse(format!("cdc changedSince `{text}`"), "2010", &detail);
    };
    if now_ms() - since > 30 * 86_400_000 {
        let detail = format!(
            "Operation cdc with changedSince date {text} which is older than fixed days is not supported."
        );
        return s.refuse(format!("cdc since {text}: over 30 days"), "500", &detail);
    }
    let (mut blocks, mut room) = (Vec::new(), 1000);
    for name in list.split(',') {
        let Some(entity) = canonical(name.trim()) else {
            let detail = format!("Operation cdc is not supported for {name}");
            return s.refuse(format!("cdc of `{name}`"), "500", &detail);
        };
        let found = changes(s, entity, since.div_euclid(1000), room);
        room -= found.len();
        blocks.push(match found.len() {
            0 => json!({}),
            n => json!({entity: found, "startPosition": 1, "maxResults": n}),
        });
    }
    s.cdc.push((list.to_string(), text.to_string()));
    let body = json!({"CDCResponse": [{"QueryResponse": blocks}], "time": stamp_ms(now_ms())});
    (StatusCode::OK, body)
}

fn write(s: &mut QuickBooks, call: Call, entity: &'static str, body: &[u8]) -> Answer {
    let (_, path, query, headers) = call;
    let typed = text(headers, header::CONTENT_TYPE).unwrap_or_default();
    let request = param(query, "requestid");
    if !typed.starts_with("application/json") || request.is_none() {
        let v = format!("POST {path}: Content-Type `{typed}`, requestid {request:?}");
        s.violations.push(v);
    }
    if let Some(r) = request.filter(|r| r.is_empty() || r.len() > 50) {
        let detail = "RequestId should be 1 to 50 characters long";
        return s.refuse(format!("POST {path}: requestid `{r}`"), "2010", detail);
    }
    if let Some(first) = request.and_then(|r| s.answers.get(r).cloned()) {
        s.replayed.extend(request.map(str::to_string));
        return first;
    }
    let now = now_ms();
    let operation = param(query, "operation");
    let answer = match (serde_json::from_slice::<Value>(body), operation) {
        (Ok(Value::Object(fields)), None | Some("update")) => {
            let saved = match fields.get("Id").and_then(scalar_text) {
                None => create(s, entity, fields, now),
                Some(id) => update(s, entity, &id, fields, now),
            };
            saved.map_or_else(|refused| refused, |e| (StatusCode::OK, one(entity, e)))
        }
        (Ok(Value::Object(fields)), Some("delete")) => delete(s, entity, &fields, now),
        _ => {
            let detail = format!("Operation {operation:?} on this body is not supported.");
            let v = format!("POST {path}: {operation:?} not in the fake");
            s.refuse(v, "500", &detail)
        }
    };
    if let Some(r) = request {
        s.answers.insert(r.to_string(), answer.clone());
    }
    answer
}

/// Set `fields` on `e`, or only those `e` has not.
fn merge(e: &mut Fields, fields: Value, over: bool) {
    for (k, v) in fields.as_object().into_iter().flatten() {
        if over || !e.contains_key(k) {
            e.insert(k.clone(), v.clone());
        }
    }
}

fn create(s: &mut QuickBooks, entity: &str, mut e: Fields, now: i64) -> Saved {
    e.retain(|k, _| !KEPT.contains(&k.as_str()));
    check(entity, &e)?;
    totals(entity, &mut e);
    let doc = |n: &Value| n["DocNumber"].as_str().and_then(|d| d.parse::<u64>().ok());
    let doc = s.all(entity).iter().filter_map(doc).max().unwrap_or(1000) + 1;
    let used = s.all(entity).iter().map(id_number);
    let gone = s.deleted.iter().filter(|d| d.0 == entity);
    let gone = gone.filter_map(|d| d.1.parse::<u64>().ok());
    let id = (used.chain(gone).max().unwrap_or(0) + 1).to_string();
    let name = e.get("DisplayName").or_else(|| e.get("Name")).cloned();
    let name = name.unwrap_or_default();
    let filled = defaults(entity, &day_of(now), &doc.to_string(), &name);
    merge(&mut e, filled, false);
    let meta = json!({"CreateTime": stamp(now), "LastUpdatedTime": stamp(now)});
    let server = json!({"Id": id, "SyncToken": "0", "domain": "QBO", "sparse": false,
        "MetaData": meta});
    merge(&mut e, server, true);
    let saved = Value::Object(e);
    let list = s.entities.entry(entity.into()).or_default();
    list.push(saved.clone());
    s.writes.push(("create", entity.into(), id));
    Ok(saved)
}

fn update(s: &mut QuickBooks, entity: &str, id: &str, fields: Fields, now: i64) -> Saved {
    let Some(current) = s.find(entity, id).cloned() else {
        return Err(not_found());
    };
    let Some(token) = fields.get("SyncToken").and_then(scalar_text) else {
        return Err(missing("SyncToken"));
    };
    if current["SyncToken"] != token.as_str() {
        return Err(stale());
    }
    // A full update empties what it leaves out; a sparse one keeps it.
    let sparse = fields.get("sparse") == Some(&Value::Bool(true));
    let lines = fields.contains_key("Line");
    let kept = current.as_object().cloned();
    let mut e = kept.filter(|_| sparse).unwrap_or_default();
    e.extend(fields);
    e.retain(|k, _| !KEPT.contains(&k.as_str()));
    check(entity, &e)?;
    if lines {
        totals(entity, &mut e);
    }
    let next = (token.parse::<u64>().unwrap_or(0) + 1).to_string();
    let created = &current["MetaData"]["CreateTime"];
    let meta = json!({"CreateTime": created, "LastUpdatedTime": stamp(now)});
    let server = json!({"Id": id, "SyncToken": next, "domain": "QBO", "sparse": false,
        "MetaData": meta});
    merge(&mut e, server, true);
    if let Some(name) = e.get("DisplayName").cloned() {
        e.insert("FullyQualifiedName".into(), name);
    }
    let saved = Value::Object(e);
    let list = s.entities.entry(entity.into()).or_default();
    list.retain(|x| x["Id"] != id);
    list.push(saved.clone());
    s.writes.push(("update", entity.into(), id.into()));
    Ok(saved)
}

fn delete(s: &mut QuickBooks, entity: &str, fields: &Fields, now: i64) -> Answer {
    let field = |k: &str| fields.get(k).and_then(scalar_text);
    let (Some(id), Some(token)) = (field("Id"), field("SyncToken")) else {
        return missing("Id and SyncToken");
    };
    let current = s
        .find(entity, &id)
        .map(|c| c["SyncToken"] == token.as_str());
    match current {
        // Names are made inactive, never deleted.
        _ if listed(NAMES, entity) => return fault("500", "Operation Delete is not supported."),
        None => return not_found(),
        Some(false) => return stale(),
        Some(true) => s.remove(entity, &id),
    }
    if let Some(gone) = s.deleted.last_mut() {
        gone.2 = now;
    }
    s.writes.push(("delete", entity.into(), id.clone()));
    let gone = json!({"domain": "QBO", "status": "Deleted", "Id": id});
    (StatusCode::OK, one(entity, gone))
}
