//! A fake Autodesk Platform Services on one loopback origin: three-legged
//! OAuth2, the Data Management API, OSS's signed downloads with a "CDN"
//! that serves the files, and the ACC Issues API, from APS's documentation
//! (more in `docs/vendors/bim360.md`):
//!
//! - OAuth v2 (<https://aps.autodesk.com/en/docs/oauth/v2/reference/http/authorize-GET/>,
//!   <https://aps.autodesk.com/en/docs/oauth/v2/reference/http/gettoken-POST/>,
//!   <https://aps.autodesk.com/en/docs/oauth/v2/tutorials/get-3-legged-token/>):
//!   `GET /authentication/v2/authorize` needs `client_id`, `response_type=code`,
//!   `redirect_uri`, `state` and known scopes (there is no `offline_access`);
//!   codes live 5 minutes, PKCE `S256` is checked. `POST
//!   /authentication/v2/token` takes a form (`415` otherwise) and the client
//!   in the header or the body, both is `400`; access tokens live 3599 s,
//!   refresh tokens 15 days and are single use: a refresh spends the one
//!   presented and issues a new one, and a spent one is `400 invalid_grant`
//!   (counted in [`Aps::refresh_reuse`]). Refused tokens are `401` in the
//!   gateway's shape `{"developerMessage", "userMessage", "errorCode", "more info"}`
//!   (<https://aps.autodesk.com/en/docs/oauth/v2/developers_guide/error_handling/>).
//! - Data Management (`project/v1/hubs`, `…/projects`, `…/topFolders`,
//!   `data/v1/projects/…/folders/…/contents` with the tip versions in
//!   `included`, `…/items/…/versions` newest first), shaped as the reference's
//!   examples (<https://aps.autodesk.com/en/docs/data/v2/reference/http/>);
//!   JSON:API paging by `page[number]` (0-based) and `page[limit]` (1–200,
//!   default 200, else `400 BAD_INPUT` "The limit value is invalid."), links
//!   `self`/`first`/`prev`/`next` absolute for projects and rooted for
//!   folders and versions, as the examples write them
//!   (<https://aps.autodesk.com/en/docs/data/v2/developers_guide/pagination/>);
//!   `includeHidden` for BIM 360's deleted items and folders
//!   (<https://aps.autodesk.com/en/docs/data/v2/developers_guide/filtering/>);
//!   errors as JSON:API `errors[]`. Query parameters a reference page does not
//!   list, and filters the fake does not model, are violations.
//! - OSS `GET oss/v2/buckets/{bucketKey}/objects/{objectKey}/signeds3download`
//!   (<https://aps.autodesk.com/en/docs/data/v2/reference/http/buckets-:bucketKey-objects-:objectKey-signeds3download-GET/>):
//!   `{"status": "complete", "url", "params", "size", "sha1"}`, the URL
//!   shaped as `cdn.us.oss.api.autodesk.com`'s (`Expires`, `Signature`,
//!   `Key-Pair-Id`) on this origin under `/cdn/`, valid `minutesExpiration`
//!   (default 2) minutes; the CDN checks the signature and the expiry,
//!   refuses an `Authorization` header, and answers CloudFront's XML errors.
//! - ACC Issues `GET construction/issues/v1/projects/{projectId}/issues`
//!   (<https://aps.autodesk.com/en/docs/acc/v1/reference/http/issues-issues-GET/>):
//!   the project id without `b.` (with it: a violation and `404`), `limit`
//!   1–100, `offset`, `sortBy`, `filter[updatedAt]` ranges (`a..b`, `a..`,
//!   `..b`, a day or an instant), `filter[deleted]`, `x-ads-region`; pages
//!   capped at [`Aps::issues_page_cap`] so offsets are exercised; BIM 360
//!   projects are `404` there.
//! - Limits (<https://aps.autodesk.com/en/docs/data/v2/developers_guide/rate-limiting/dm-rate-limits/>,
//!   <https://aps.autodesk.com/node/3691>): per endpoint a rolling
//!   minute, `GET hubs` and `…/projects` 50, `topFolders` and `contents`
//!   300, `versions` 800, OSS 1,000; past one, `429`, `Retry-After` and
//!   `{"developerMessage": "Quota limit exceeded."}`. [`Aps::throttle`]
//!   refuses the next calls that way; [`Aps::expire_after`] revokes every
//!   access token after that many more calls, as an hour passing mid-run.

mod account;
mod dm;
mod issues;
mod oss;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::support::Upstream;
use account::Account;
pub use account::{BRIDGE, TOWER, demo, ifc};

/// The app's client id (the one APS's 3-legged tutorial shows).
pub const CLIENT_ID: &str = "F6Dn8ypem1j8P6sUz8IX3pmSsOA99GUT";
pub const CLIENT_SECRET: &str = "qZ4vX9mK2pL7wR3tY8uB5nC1dF6gH0jE";
/// APS's scopes (<https://aps.autodesk.com/en/docs/oauth/v2/developers_guide/scopes/>).
const SCOPES: &str = "user-profile:read user:read user:write viewables:read data:read \
    data:write data:create data:search bucket:create bucket:read bucket:update bucket:delete \
    code:all account:read account:write openid";
const ACCESS_SECS: u64 = 3599;
const REFRESH_SECS: u64 = 15 * 86_400;

/// A request as the fake saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// The path, percent-decoded.
    pub path: String,
    pub status: u16,
}

struct Code {
    redirect: String,
    scope: String,
    challenge: Option<String>,
    at: Instant,
}

/// A token's scope and end.
struct Grant {
    scope: String,
    until: Instant,
}

pub struct Aps {
    pub account: Account,
    /// What APS's reference does not allow, and what the fake does not model.
    pub violations: Vec<String>,
    pub seen: Vec<Seen>,
    /// Refresh grants answered.
    pub refreshes: u32,
    /// Spent refresh tokens presented again.
    pub refresh_reuse: u32,
    /// Refresh tokens spent by a refresh.
    pub spent: Vec<String>,
    /// Every access and refresh token issued, for leak checks.
    pub issued: Vec<String>,
    /// Every signature put in a signed download URL.
    pub signatures: Vec<String>,
    /// Object keys the CDN served.
    pub downloads: Vec<String>,
    /// Refuse the next this many API calls with `429`, `Retry-After: 1`.
    pub throttle: u32,
    pub refused_429: u32,
    /// Revoke every access token after this many more API calls.
    pub expire_after: Option<u32>,
    /// Issues a page holds at most, whatever `limit` asks.
    pub issues_page_cap: usize,
    calls: Vec<(&'static str, Instant)>,
    codes: BTreeMap<String, Code>,
    access: BTreeMap<String, Grant>,
    refresh: BTreeMap<String, Grant>,
}

pub type Shared = Arc<Mutex<Aps>>;

impl Aps {
    pub fn new(account: Account) -> Self {
        Self {
            account,
            violations: Vec::new(),
            seen: Vec::new(),
            refreshes: 0,
            refresh_reuse: 0,
            spent: Vec::new(),
            issued: Vec::new(),
            signatures: Vec::new(),
            downloads: Vec::new(),
            throttle: 0,
            refused_429: 0,
            expire_after: None,
            issues_page_cap: 2,
            calls: Vec::new(),
            codes: BTreeMap::new(),
            access: BTreeMap::new(),
            refresh: BTreeMap::new(),
        }
    }

    /// An access token for `scope`, as the token endpoint issues one, for
    /// a test that runs the connector straight on the runtime (no OAuth
    /// flow).
    pub fn grant(&mut self, scope: &str) -> String {
        let access = random();
        let until = Instant::now() + Duration::from_secs(ACCESS_SECS);
        let grant = Grant {
            scope: scope.to_string(),
            until,
        };
        self.access.insert(access.clone(), grant);
        self.issued.push(access.clone());
        access
    }

    /// Paths of API calls seen so far that start with `prefix`.
    pub fn paths(&self, prefix: &str) -> Vec<String> {
        let listed = self.seen.iter().filter(|s| s.path.starts_with(prefix));
        listed.map(|s| s.path.clone()).collect()
    }
}

type Query = [(String, String)];

fn lock(s: &Shared) -> MutexGuard<'_, Aps> {
    s.lock().unwrap_or_else(PoisonError::into_inner)
}

pub async fn start(aps: Aps) -> (Upstream, Shared) {
    let shared = Arc::new(Mutex::new(aps));
    let app = Router::new().fallback(serve).with_state(shared.clone());
    (Upstream::start(app).await, shared)
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    wharf_sdk::time::now_ms()
}

/// APS's time format: `2024-03-01T08:00:00.000Z`.
pub fn iso(ms: i64) -> String {
    let mut text = wharf_sdk::time::rfc3339(ms.div_euclid(1000));
    text.insert_str(text.len() - 1, &format!(".{:03}", ms.rem_euclid(1000)));
    text
}

/// Unix milliseconds of an instant (`…T08:00:00.000Z`) or of the start of
/// a day (`2024-03-01`).
pub(super) fn ms_of(text: &str) -> Option<i64> {
    if text.len() == 10 {
        let parts: Vec<i64> = text
            .split('-')
            .map(|p| p.parse().ok())
            .collect::<Option<_>>()?;
        let [y, m, d] = parts.as_slice() else {
            return None;
        };
        let days = wharf_sdk::time::days(*y, u32::try_from(*m).ok()?, u32::try_from(*d).ok()?);
        return Some(days * 86_400_000);
    }
    if !text.ends_with('Z') || !text.contains('T') {
        return None;
    }
    let secs = wharf_sdk::time::from_rfc3339_utc(text)?;
    let fraction = text
        .split_once('.')
        .map_or("", |(_, f)| f.trim_end_matches('Z'));
    let millis: String = fraction.chars().take(3).collect();
    let millis = if millis.is_empty() {
        0
    } else {
        format!("{millis:0<3}").parse().ok()?
    };
    Some(secs * 1000 + millis)
}

fn param<'a>(query: &'a Query, name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn random() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A Data Management answer.
fn jsonapi(body: Value) -> Response {
    let typed = [(header::CONTENT_TYPE, "application/vnd.api+json")];
    (typed, body.to_string()).into_response()
}

/// A Data Management error: JSON:API `errors[]`.
fn jsonapi_error(status: StatusCode, code: &str, title: &str, detail: &str) -> Response {
    let error = json!({"id": random(), "status": status.as_u16().to_string(), "code": code,
        "title": title, "detail": detail});
    let body = json!({"jsonapi": {"version": "1.0"}, "errors": [error]});
    let typed = [(header::CONTENT_TYPE, "application/vnd.api+json")];
    (status, typed, body.to_string()).into_response()
}

/// The gateway's error shape.
fn gateway_error(status: StatusCode, message: &str, code: &str) -> Response {
    let more = "https://aps.autodesk.com/en/docs/oauth/v2/developers_guide/error_handling/";
    let body = json!({"developerMessage": message, "userMessage": "", "errorCode": code,
        "more info": more});
    (status, axum::Json(body)).into_response()
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = json!({"error": error, "error_description": description});
    (status, axum::Json(body)).into_response()
}

async fn serve(State(s): State<Shared>, request: Request) -> Response {
    let method = request.method().to_string();
    let raw = request.uri().path().to_string();
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(request.uri().query().unwrap_or_default()).unwrap_or_default();
    let headers = request.headers().clone();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin = format!("http://{}", host.unwrap_or("127.0.0.1"));
    let body = axum::body::to_bytes(request.into_body(), 1 << 20).await;
    let body = body.unwrap_or_default();
    let decoded: Vec<String> = raw
        .split('/')
        .filter(|p| !p.is_empty())
        .map(|p| {
            percent_encoding::percent_decode_str(p)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let segments: Vec<&str> = decoded.iter().map(String::as_str).collect();
    let mut a = lock(&s);
    let call = (
        method.as_str(),
        segments.as_slice(),
        query.as_slice(),
        &headers,
    );
    let response = route(&mut a, call, &body, &origin);
    let status = response.status().as_u16();
    let path = format!("/{}", decoded.join("/"));
    a.seen.push(Seen {
        method,
        path,
        status,
    });
    response
}

/// A request's method, path segments, query and headers.
type Call<'a> = (&'a str, &'a [&'a str], &'a Query, &'a HeaderMap);

fn route(a: &mut Aps, call: Call, body: &[u8], origin: &str) -> Response {
    let (method, segments, query, headers) = call;
    match (method, segments) {
        ("GET", ["authentication", "v2", "authorize"]) => return authorize(a, query),
        ("POST", ["authentication", "v2", "token"]) => return token(a, headers, body),
        ("GET", ["cdn", rest @ ..]) => return oss::object(a, rest, query, headers),
        _ => {}
    }
    let class = match segments {
        ["project", "v1", "hubs"] => "hubs",
        ["project", "v1", "hubs", _, "projects"] => "projects",
        ["project", "v1", "hubs", _, "projects", _, "topFolders"] => "topFolders",
        ["data", "v1", "projects", _, "folders", _, "contents"] => "contents",
        ["data", "v1", "projects", _, "items", _, "versions"] => "versions",
        ["oss", "v2", "buckets", _, "objects", _, "signeds3download"] => "oss",
        ["construction", "issues", "v1", "projects", _, "issues"] => "issues",
        _ => {
            a.violations.push(format!(
                "{method} /{}: not an endpoint the fake serves",
                segments.join("/")
            ));
            return jsonapi_error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "Not Found",
                "The requested resource was not found.",
            );
        }
    };
    if method != "GET" {
        a.violations
            .push(format!("{method} on {class}: the connector only reads"));
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    if let Err(refused) = gate(a, class, headers) {
        return refused;
    }
    match (class, segments) {
        ("hubs", _) => dm::hubs(a, query, origin),
        ("projects", [.., hub, _]) => dm::projects(a, hub, query, origin),
        ("topFolders", [_, _, _, hub, _, project, _]) => {
            dm::top_folders(a, hub, project, query, origin)
        }
        ("contents", [_, _, _, project, _, folder, _]) => {
            dm::contents(a, project, folder, query, origin)
        }
        ("versions", [_, _, _, project, _, item, _]) => {
            dm::versions(a, project, item, query, origin)
        }
        ("oss", [_, _, _, bucket, _, key, _]) => oss::signed(a, bucket, key, query, origin),
        ("issues", [.., project, _]) => issues::list(a, project, query, headers),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The bearer token, its scope, the endpoint's limit, the throttle, and
/// the mid-run expiry.
fn gate(a: &mut Aps, class: &'static str, headers: &HeaderMap) -> Result<(), Response> {
    let now = Instant::now();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let grant = bearer
        .and_then(|t| a.access.get(t))
        .filter(|g| g.until > now);
    let Some(scope) = grant.map(|g| g.scope.clone()) else {
        return Err(gateway_error(
            StatusCode::UNAUTHORIZED,
            "The access token is invalid.",
            "AUTH-006",
        ));
    };
    if !scope.split(' ').any(|s| s == "data:read") {
        let message = "Token does not have the privilege for this request.";
        return Err(gateway_error(StatusCode::FORBIDDEN, message, "AUTH-010"));
    }
    let limit = match class {
        "hubs" | "projects" => 50,
        "topFolders" | "contents" => 300,
        "versions" => 800,
        "oss" => 1000,
        _ => usize::MAX,
    };
    let window = Duration::from_secs(60);
    let recent: Vec<Instant> = a
        .calls
        .iter()
        .filter(|(c, at)| *c == class && now.duration_since(*at) < window)
        .map(|(_, at)| *at)
        .collect();
    let wait = if a.throttle > 0 {
        a.throttle -= 1;
        Some(1)
    } else if recent.len() >= limit {
        let free = recent[0] + window;
        Some(free.saturating_duration_since(now).as_secs().max(1))
    } else {
        None
    };
    if let Some(secs) = wait {
        a.refused_429 += 1;
        let body = json!({"developerMessage": "Quota limit exceeded."});
        let mut r = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return Err(r);
    }
    a.calls.push((class, now));
    match a.expire_after {
        Some(n) if n <= 1 => {
            a.access.clear();
            a.expire_after = None;
        }
        Some(n) => a.expire_after = Some(n - 1),
        None => {}
    }
    Ok(())
}

fn authorize(a: &mut Aps, query: &Query) -> Response {
    let get = |k: &str| param(query, k);
    let page = |what: &str| {
        let html = format!("<html><body><h1>Error</h1><p>{what}</p></body></html>");
        (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "text/html")],
            html,
        )
            .into_response()
    };
    if get("client_id") != Some(CLIENT_ID) {
        return page("AUTH-001: The client_id is not authorized to access the specified API.");
    }
    let Some(mut back) = get("redirect_uri").and_then(|u| url::Url::parse(u).ok()) else {
        return page("Invalid redirect_uri");
    };
    if get("response_type") != Some("code") {
        return page("unsupported_response_type");
    }
    let Some(state) = get("state").filter(|s| !s.is_empty()) else {
        a.violations
            .push("authorize without `state`, which APS requires".into());
        return page("state is required");
    };
    let scope = get("scope").unwrap_or_default().to_string();
    let known = |s: &str| SCOPES.split_whitespace().any(|k| k == s);
    if let Some(unknown) = scope.split(' ').find(|s| !known(s)) {
        return page(&format!("invalid_scope: `{unknown}` is not an APS scope"));
    }
    let challenge = get("code_challenge").map(str::to_string);
    if challenge.is_some() && get("code_challenge_method") != Some("S256") {
        return page("code_challenge_method must be S256");
    }
    let code = random();
    let redirect = get("redirect_uri").unwrap_or_default().to_string();
    let grant = Code {
        redirect,
        scope,
        challenge,
        at: Instant::now(),
    };
    a.codes.insert(code.clone(), grant);
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", state);
    (StatusCode::FOUND, [(header::LOCATION, back.to_string())]).into_response()
}

fn token(a: &mut Aps, headers: &HeaderMap, body: &[u8]) -> Response {
    let typed = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !typed.starts_with("application/x-www-form-urlencoded") {
        let reason = "Content-Type must be application/x-www-form-urlencoded";
        return oauth_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request",
            reason,
        );
    }
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let field = |k: &str| param(&form, k);
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let client = match (basic, field("client_id")) {
        (Some(_), Some(_)) => {
            let reason = "client authentication was passed in both the header and the body";
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", reason);
        }
        (Some(b), None) => b,
        (None, Some(id)) => format!("{id}:{}", field("client_secret").unwrap_or_default()),
        (None, None) => String::new(),
    };
    if client != format!("{CLIENT_ID}:{CLIENT_SECRET}") {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The client credentials are invalid.",
        );
    }
    let invalid_grant = |why: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", why);
    let now = Instant::now();
    let scope = match field("grant_type") {
        Some("authorization_code") => {
            let Some(code) = field("code").and_then(|c| a.codes.remove(c)) else {
                return invalid_grant("The authorization code is invalid or was used.");
            };
            if now.duration_since(code.at) > Duration::from_secs(300) {
                return invalid_grant("The authorization code expired.");
            }
            if field("redirect_uri") != Some(code.redirect.as_str()) {
                return invalid_grant("The redirect_uri does not match.");
            }
            if let Some(challenge) = &code.challenge {
                let verifier = field("code_verifier").unwrap_or_default();
                let digest = sha2::Sha256::digest(verifier.as_bytes());
                let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
                if &computed != challenge {
                    return invalid_grant("The code_verifier does not match the code_challenge.");
                }
            }
            code.scope
        }
        Some("refresh_token") => {
            let presented = field("refresh_token").unwrap_or_default().to_string();
            if a.spent.contains(&presented) {
                a.refresh_reuse += 1;
                return invalid_grant("The refresh token was already used.");
            }
            let Some(grant) = a.refresh.remove(&presented).filter(|g| g.until > now) else {
                return invalid_grant("The refresh token is invalid or expired.");
            };
            a.spent.push(presented);
            a.refreshes += 1;
            match field("scope") {
                Some(narrower)
                    if narrower
                        .split(' ')
                        .all(|s| grant.scope.split(' ').any(|g| g == s)) =>
                {
                    narrower.to_string()
                }
                Some(_) => return invalid_grant("The scope is wider than the original grant."),
                None => grant.scope,
            }
        }
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "grant_type is not supported",
            );
        }
    };
    let (access, refresh) = (random(), random());
    let until = |secs| now + Duration::from_secs(secs);
    a.access.insert(
        access.clone(),
        Grant {
            scope: scope.clone(),
            until: until(ACCESS_SECS),
        },
    );
    a.refresh.insert(
        refresh.clone(),
        Grant {
            scope,
            until: until(REFRESH_SECS),
        },
    );
    a.issued.push(access.clone());
    a.issued.push(refresh.clone());
    axum::Json(
        json!({"access_token": access, "token_type": "Bearer", "expires_in": ACCESS_SECS,
        "refresh_token": refresh}),
    )
    .into_response()
}
