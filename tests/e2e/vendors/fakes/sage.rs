//! A fake Sage Business Cloud Accounting on one loopback origin: the
//! authorization page (www.sageone.com), the token endpoint
//! (oauth.accounting.sage.com) and the Accounting API v3.1
//! (api.accounting.sage.com), from Sage's documentation (more in
//! `docs/vendors/sage.md`); the books it serves are the test's.
//!
//! - OAuth 2.0 authorization code
//!   (<https://developer.sage.com/accounting/guides/authenticating/authentication/>):
//!   `GET /oauth2/auth/central` (`client_id`, `response_type=code`, a
//!   registered `redirect_uri`, `scope` `readonly`/`full_access`,
//!   `filter=apiv3.1`) calls back with `code`, `state` and `country`.
//!   `POST /token` takes the client in its form (else `401
//!   invalid_client`). A code is good once for 60 s, a refresh token once
//!   (<https://developer.sage.com/accounting/guides/concepts/frequently_raised_errors/>),
//!   else `400 {"error":"invalid_grant"}`. Access tokens live 300 s on the
//!   fake's clock, which tests move ([`Sage::advance`],
//!   [`Sage::expire_tokens_after`]).
//! - `GET /v3.1/businesses` lists the user's businesses
//!   (<https://developer.sage.com/accounting/guides/concepts/multi_business/>);
//!   other calls name one in `X-Business` (without it Sage answers for the
//!   lead business: so does the fake, recording a violation), and the
//!   answer names it back.
//! - The lists of [`LISTS`] with the query parameters of Sage's Swagger
//!   file (republished in <https://github.com/SynergiTech/sage-php>,
//!   `swagger-2.0.0.json`); others, and those not modelled, are violations.
//!   `page`, `items_per_page` (20 by default, at most 200; past the last
//!   page, the last page again) and Sage's envelope
//!   (<https://developer.sage.com/accounting/guides/efficiencies/pagination>);
//!   without `attributes=all` an item is its `id`, `displayed_as` and
//!   `$path`; `updated_or_created_since`, a date or date-time, inclusive
//!   (<https://developer.sage.com/accounting/guides/efficiencies/filtering>).
//! - Errors in Sage's array of `$severity`, `$dataCode`, `$message`,
//!   `$source` (<https://developer.sage.com/accounting/guides/concepts/response_codes/>):
//!   401 for a missing or expired token or a business the user may not
//!   open, 404 for an unknown path, 429 with `Retry-After` past 100 calls a
//!   rolling minute or 2,500 a day per business.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::support::Upstream;

pub const CLIENT_ID: &str = "4b64a5c1e0d94f2a8c7e3b1d9f0a6e21";
pub const CLIENT_SECRET: &str = "iNumzT7kQ2xV9bLr4sWc8HhVHstrqWesH8tm9";
/// Who gave the consent (the token response's `requested_by_id`).
const USER: &str = "5d1e7a2c0b3f4e6a9c8d2f4b6a8e0c13";
const TOKEN_SECS: u64 = 300;
const DAY: Duration = Duration::from_secs(86_400);
/// 2024-03-01T09:00:00Z, when the demo books begin.
const BASE: i64 = 1_709_283_600;
/// Each list: its path, its ids' prefix, and the query parameters Sage's
/// Swagger file gives its `GET` besides [`COMMON`] (the fake models none).
pub const LISTS: &str = "ledger_accounts 1ed6e4ac visible_in not_visible_in \
    show_included_in_chart show_control_accounts ledger_account_classification_id \
    show_balance_details exclude_deleted_entries from_date to_date search \
    sort_order_from_user_setting filter_inactive_bank_accounts ledger_account_type_id;\
    transactions 7a45ac71 from_date to_date updated_from_date updated_to_date has_attachments \
    transaction_type_id;ledger_entries 1ed6e4e7 from_date to_date transaction_id \
    transaction_type_id journal_code_id ledger_account_id;journals 10c44a15 deleted_since;\
    contacts c0a7ac75 deleted_since contact_type_id exclude_system nested_attributes show_balance \
    context_date search email show_unfinished_recurring_invoices_status filter_inactive_contacts;\
    sales_invoices 5a1e1a01 show_payments_allocations search contact_id status_id from_date \
    to_date deleted_since has_attachments sort;sales_credit_notes 5a1ec401 \
    show_payments_allocations search contact_id status_id from_date to_date deleted_since \
    has_attachments sort;purchase_invoices b0011a01 show_payments_allocations search contact_id \
    status_id from_date to_date deleted_since has_attachments sort;purchase_credit_notes \
    b001c401 show_payments_allocations search contact_id status_id from_date to_date \
    deleted_since has_attachments sort;contact_payments ca5e0a1d contact_id bank_account_id \
    transaction_type_id deleted_since from_date to_date sort;bank_accounts ba4c0a11 \
    deleted_since nested_attributes exclude_stripe filter_inactive_bank_accounts appName;\
    products 9a0d0c75 search deleted_since active;tax_rates 7a4ea7e5 usage address_region_id \
    date include_historical_data include_destination_vat_rates cis_only";
/// What every list takes, and all the fake models.
const COMMON: &str = "updated_or_created_since items_per_page page attributes";

/// A list of [`LISTS`]: its id prefix and its other parameters.
fn list_of(name: &str) -> Option<(u32, Vec<&'static str>)> {
    let named = |mut words: std::str::SplitWhitespace<'static>| {
        (words.next() == Some(name)).then_some(words)
    };
    let mut lines = LISTS.split(';').map(str::split_whitespace);
    let mut words = lines.find_map(named)?;
    let kind = u32::from_str_radix(words.next()?, 16).ok()?;
    Some((kind, words.collect()))
}

/// A call the fake answered.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub uri: String,
    pub status: u16,
    /// The business an API call was counted against.
    pub business: Option<usize>,
    /// Whether it carried `X-Business`.
    pub x_business: bool,
}

/// A business and its books: each list's items, with all attributes.
pub struct Business {
    pub id: String,
    pub name: String,
    /// False once the user may no longer open it.
    pub granted: bool,
    pub lists: BTreeMap<String, Vec<Value>>,
}

impl Business {
    /// The `index`th business of a user, without books yet.
    pub fn new(index: usize, name: &str) -> Self {
        let id = format!("{:08x}{:024x}", 0xb051_4e55_u32, index + 1);
        let (name, lists) = (name.to_string(), BTreeMap::new());
        Self {
            id,
            name,
            granted: true,
            lists,
        }
    }

    /// Add an item to `list` with `fields` besides those every item has
    /// (created an hour after the one before, from 2024-03-01); a link to it.
    pub fn add(&mut self, list: &str, shown: &str, fields: Value) -> Value {
        let n = 1 + self.lists.values().map(Vec::len).sum::<usize>();
        let kind = list_of(list).map_or(0, |l| l.0);
        // Sage's ids are 32 hex digits: the list's, the business's, a number.
        let key = format!("{kind:08x}{}{n:016x}", &self.id[24..]);
        let at = wharf_sdk::time::rfc3339(BASE + n as i64 * 3600);
        let mut item = link(list, &key, shown);
        merge(&mut item, json!({"created_at": at, "updated_at": at}));
        merge(&mut item, fields);
        self.lists.entry(list.to_string()).or_default().push(item);
        link(list, &key, shown)
    }

    /// Set fields of the `n`th item of a list, as an edit in Sage would
    /// (`updated_at` becomes now); its id.
    pub fn edit(&mut self, list: &str, n: usize, fields: Value) -> String {
        let item = &mut self.lists.get_mut(list).expect("a list")[n];
        merge(item, json!({"updated_at": now_iso()}));
        merge(item, fields);
        item["id"].as_str().unwrap_or_default().to_string()
    }
}

/// An authorization code's redirect URI, scope, and when it was issued.
struct Code(String, String, Instant);

#[derive(Default)]
pub struct Sage {
    pub businesses: Vec<Business>,
    /// The user's lead business (served when `X-Business` is missing).
    pub lead: usize,
    /// The app's callback URLs (matched exactly); empty takes any.
    pub redirect_uris: Vec<String>,
    pub violations: Vec<String>,
    pub seen: Vec<Seen>,
    /// Refresh grants answered.
    pub refreshes: u32,
    /// Refresh tokens presented again after they were spent.
    pub reused_refresh: u32,
    /// API calls refused because their token had expired.
    pub expired_refused: u32,
    /// Every access and refresh token issued, oldest first.
    pub issued: Vec<String>,
    /// Per business: calls in `window`, and in a day.
    pub minute_limit: usize,
    pub window: Duration,
    pub day_limit: usize,
    /// Admitted API calls: (business, when).
    pub calls: Vec<(usize, Instant)>,
    pub refused_429: u32,
    /// The next this many API calls are refused with 429 (`Retry-After: 1`).
    pub throttle_next: u32,
    /// Every `updated_or_created_since` received.
    pub since: Vec<String>,
    skew: Duration,
    expire_at_call: Option<usize>,
    codes: BTreeMap<String, Code>,
    /// Each consent's current refresh token, and its scope.
    refresh: Vec<(String, String)>,
    spent: Vec<String>,
    /// Access tokens and when they end (on the fake's clock).
    access: BTreeMap<String, Instant>,
}

pub type Shared = Arc<Mutex<Sage>>;

impl Sage {
    /// A user who may open `businesses` (the first is the lead), with
    /// Sage's limits.
    pub fn new(businesses: Vec<Business>) -> Self {
        let window = Duration::from_secs(60);
        let (minute_limit, day_limit) = (100, 2500);
        Self {
            businesses,
            minute_limit,
            window,
            day_limit,
            ..Self::default()
        }
    }

    /// The fake's clock moves on by `by`: tokens and codes age.
    pub fn advance(&mut self, by: Duration) {
        self.skew += by;
    }

    /// After `calls` more API calls, five minutes pass: the call after
    /// them finds every access token issued so far expired.
    pub fn expire_tokens_after(&mut self, calls: usize) {
        self.expire_at_call = Some(self.calls.len() + calls);
    }

    /// The user may no longer open the business.
    pub fn revoke(&mut self, business: usize) {
        self.businesses[business].granted = false;
    }

    fn now(&self) -> Instant {
        Instant::now() + self.skew
    }

    /// Seconds until a call for business `b` is within the limits, if it
    /// is not now.
    fn over_limit(&self, b: usize, now: Instant) -> Option<u64> {
        let within = |w: Duration| -> Vec<Instant> {
            let mine = self.calls.iter().filter(|c| c.0 == b);
            let recent = |t: &Instant| now.duration_since(*t) < w;
            mine.map(|c| c.1).filter(recent).collect()
        };
        let wait = |calls: &[Instant], w: Duration| {
            let free = calls.first().map_or(now, |o| *o + w);
            let secs = free.saturating_duration_since(now).as_secs_f64();
            secs.ceil().max(1.0) as u64
        };
        let today = within(DAY);
        if today.len() >= self.day_limit {
            return Some(wait(&today, DAY));
        }
        let minute = within(self.window);
        (minute.len() >= self.minute_limit).then(|| wait(&minute, self.window))
    }
}

/// Now as Sage writes times.
pub fn now_iso() -> String {
    wharf_sdk::time::rfc3339(wharf_sdk::time::now_ms().div_euclid(1000))
}

fn lock(s: &Shared) -> MutexGuard<'_, Sage> {
    s.lock().unwrap_or_else(PoisonError::into_inner)
}

pub async fn start(sage: Sage) -> (Upstream, Shared) {
    let shared = Arc::new(Mutex::new(sage));
    let app = Router::new().fallback(serve).with_state(shared.clone());
    (Upstream::start(app).await, shared)
}

async fn serve(State(s): State<Shared>, request: Request) -> Response {
    let method = request.method().to_string();
    let uri = request.uri().to_string();
    let path = request.uri().path().to_string();
    let raw = request.uri().query().unwrap_or_default();
    let query: Vec<(String, String)> = serde_urlencoded::from_str(raw).unwrap_or_default();
    let headers = request.headers().clone();
    let body = axum::body::to_bytes(request.into_body(), 1 << 20).await;
    let body = body.unwrap_or_default();
    let x_business = headers.contains_key("x-business");
    let (response, business) = match (method.as_str(), path.as_str()) {
        ("GET", "/oauth2/auth/central") => (authorize(&s, &query), None),
        ("POST", "/token") => (token(&s, &headers, &body), None),
        _ if path.starts_with("/v3.1/") => api(&mut lock(&s), (&method, &path, &query, &headers)),
        _ => (not_found(), None),
    };
    let status = response.status().as_u16();
    let seen = Seen {
        method,
        uri,
        status,
        business,
        x_business,
    };
    lock(&s).seen.push(seen);
    response
}

/// Sage's error body.
fn sage_error(status: StatusCode, code: &str, message: &str, source: &str) -> Response {
    let error = json!({"$severity": "error", "$dataCode": code, "$message": message,
        "$source": source});
    (status, axum::Json(json!([error]))).into_response()
}

fn not_found() -> Response {
    sage_error(StatusCode::NOT_FOUND, "RecordNotFound", "Not Found", "")
}

/// A header's value as text.
fn text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    (status, axum::Json(json!({"error": error}))).into_response()
}

fn authorize(s: &Shared, query: &[(String, String)]) -> Response {
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let page = |what: &str| {
        let html = format!("<html><body><h1>Sorry</h1><p>{what}</p></body></html>");
        let typed = [(header::CONTENT_TYPE, "text/html")];
        (StatusCode::BAD_REQUEST, typed, html).into_response()
    };
    let mut s = lock(s);
    let redirect = get("redirect_uri").unwrap_or_default();
    let registered = s.redirect_uris.is_empty() || s.redirect_uris.iter().any(|u| u == redirect);
    if get("client_id") != Some(CLIENT_ID) {
        return page("Unknown client");
    }
    let Some(mut back) = url::Url::parse(redirect).ok().filter(|_| registered) else {
        return page("The callback URL is not one registered for this app");
    };
    if get("response_type") != Some("code") {
        return page("response_type must be code");
    }
    if get("filter") != Some("apiv3.1") {
        s.violations.push("authorize: no `filter=apiv3.1`".into());
    }
    let scope = get("scope").unwrap_or("full_access").to_string();
    if scope != "readonly" && scope != "full_access" {
        s.violations.push(format!("authorize: scope `{scope}`"));
    }
    let code = fresh_token("code");
    let issued = Code(redirect.to_string(), scope, s.now());
    s.codes.insert(code.clone(), issued);
    let state = get("state").map(|v| ("state", v));
    let pairs = [("code", code.as_str())].into_iter().chain(state);
    let pairs = pairs.chain([("country", "gb")]);
    back.query_pairs_mut().extend_pairs(pairs);
    (StatusCode::FOUND, [(header::LOCATION, back.to_string())]).into_response()
}

/// A fresh opaque token.
fn fresh_token(kind: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(1);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::UNIX_EPOCH.elapsed().map_or(0, |d| d.as_nanos());
    let mixed = nanos ^ 0x5a6e_9d1c_3b7f_2e40_81c5_0f3d_6a92_b7e4;
    format!("{kind}{mixed:032x}{n:08x}")
}

fn token(s: &Shared, headers: &HeaderMap, body: &[u8]) -> Response {
    let typed = text(headers, header::CONTENT_TYPE.as_str());
    let form = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).ok();
    let is_form = typed.is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let Some(form) = form.filter(|_| is_form) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    // Sage's guide sends the client in the form, and only there.
    if field("client_id") != Some(CLIENT_ID) || field("client_secret") != Some(CLIENT_SECRET) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let invalid_grant = || oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    let mut s = lock(s);
    let now = s.now();
    let consent = match field("grant_type") {
        Some("authorization_code") => {
            let code = field("code").and_then(|c| s.codes.remove(c));
            let Some(Code(redirect, scope, at)) = code else {
                return invalid_grant();
            };
            let fresh = now.duration_since(at) < Duration::from_secs(60);
            if !fresh || field("redirect_uri") != Some(redirect.as_str()) {
                return invalid_grant();
            }
            s.refresh.push((String::new(), scope));
            s.refresh.len() - 1
        }
        Some("refresh_token") => {
            let presented = field("refresh_token").unwrap_or_default().to_string();
            let held = |r: &(String, String)| !presented.is_empty() && r.0 == presented;
            let Some(i) = s.refresh.iter().position(held) else {
                if s.spent.contains(&presented) {
                    s.reused_refresh += 1;
                }
                return invalid_grant();
            };
            // Good once: spent now, whatever happens next.
            s.spent.push(presented);
            s.refreshes += 1;
            i
        }
        _ => return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    };
    let (access, refresh) = (fresh_token("at"), fresh_token("rt"));
    s.refresh[consent].0 = refresh.clone();
    let scope = s.refresh[consent].1.clone();
    let until = now + Duration::from_secs(TOKEN_SECS);
    s.access.insert(access.clone(), until);
    s.issued.extend([access.clone(), refresh.clone()]);
    let answer = json!({"access_token": access, "expires_in": TOKEN_SECS, "token_type": "bearer",
        "refresh_token": refresh, "refresh_token_expires_in": 2_678_400, "scope": scope,
        "requested_by_id": USER});
    axum::Json(answer).into_response()
}

/// A request's method, path, query and headers.
type Call<'a> = (&'a str, &'a str, &'a [(String, String)], &'a HeaderMap);

fn api(s: &mut Sage, (method, path, query, headers): Call) -> (Response, Option<usize>) {
    let unauthorized = |m: &str, source: &str| {
        let r = sage_error(StatusCode::UNAUTHORIZED, "AuthorizationFailure", m, source);
        (r, None)
    };
    if s.expire_at_call.is_some_and(|n| s.calls.len() >= n) {
        s.advance(Duration::from_secs(TOKEN_SECS + 1));
        s.expire_at_call = None;
    }
    let bearer = text(headers, header::AUTHORIZATION.as_str());
    let token = bearer.and_then(|b| b.strip_prefix("Bearer "));
    let now = s.now();
    let live = token.and_then(|t| s.access.get(t)).map(|t| *t > now);
    if live != Some(true) {
        s.expired_refused += u32::from(live.is_some());
        return unauthorized("The access token is missing, invalid or has expired", "");
    }
    let rest = &path["/v3.1".len()..];
    if method != "GET" {
        let v = format!("{method} {path}: the fake serves reads only");
        s.violations.push(v);
        let m = "Method Not Allowed";
        let r = sage_error(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", m, "");
        return (r, None);
    }
    if rest == "/businesses" {
        let granted = s.businesses.iter().filter(|b| b.granted);
        let listed = granted.map(|b| link("businesses", &b.id, &b.name));
        let items: Vec<Value> = listed.collect();
        let body = json!({"$total": items.len(), "$page": 1, "$next": null, "$back": null,
            "$items_per_page": 2_147_483_647_u32, "$items": items});
        return (axum::Json(body).into_response(), None);
    }
    let asked = text(headers, "x-business").map(str::trim);
    let open = |id: &str| s.businesses.iter().position(|b| b.granted && b.id == id);
    let b = match asked {
        None => {
            let v = format!("GET {path}: no X-Business header");
            s.violations.push(v);
            s.lead
        }
        Some(id) => match open(id) {
            Some(b) => b,
            None => return unauthorized("You do not have access to this business", "X-Business"),
        },
    };
    let real_now = Instant::now();
    let throttled = (s.throttle_next > 0).then_some(1);
    if let Some(retry) = s.over_limit(b, real_now).or(throttled) {
        s.throttle_next = s.throttle_next.saturating_sub(1);
        s.refused_429 += 1;
        let m = "Too many requests";
        let mut r = sage_error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", m, "");
        r.headers_mut().insert(header::RETRY_AFTER, retry.into());
        return (r, Some(b));
    }
    s.calls.push((b, real_now));
    let mut r = list(s, b, rest, query);
    let id = HeaderValue::from_str(&s.businesses[b].id).expect("an id");
    r.headers_mut().insert("x-business", id);
    (r, Some(b))
}

/// One page of a list, as Sage answers it.
fn list(s: &mut Sage, b: usize, rest: &str, query: &[(String, String)]) -> Response {
    let name = rest.trim_start_matches('/');
    let Some((_, others)) = list_of(name) else {
        return not_found();
    };
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    for (k, v) in query {
        let why = match k.as_str() {
            "items_per_page" | "page" => {
                let n = v.parse::<u32>().unwrap_or(0);
                (n < 1 || (k == "items_per_page" && n > 200)).then_some("out of range")
            }
            k if COMMON.split(' ').any(|c| c == k) => None,
            k if others.contains(&k) => Some("not modelled by the fake"),
            _ => Some("not a parameter of this list"),
        };
        let twice = query.iter().filter(|(n, _)| n == k).count() > 1;
        if let Some(why) = why.or(twice.then_some("given twice")) {
            s.violations.push(format!("GET {rest}: `{k}={v}`: {why}"));
        }
    }
    let since = get("updated_or_created_since").map(|text| (text, parse_since(text)));
    if let Some((text, _)) = since {
        s.since.push(text.to_string());
    }
    if let Some((text, None)) = since {
        let v = format!("updated_or_created_since `{text}`: not a date-time");
        s.violations.push(v);
        let m = format!("updated_or_created_since is not a valid date: {text}");
        let source = "updated_or_created_since";
        return sage_error(StatusCode::BAD_REQUEST, "InvalidParameter", &m, source);
    }
    let since = since.and_then(|s| s.1);
    let per = get("items_per_page").and_then(|v| v.parse::<usize>().ok());
    let per = per.unwrap_or(20).clamp(1, 200);
    let changed = |item: &&Value| {
        let at = |k: &str| item[k].as_str().and_then(wharf_sdk::time::from_rfc3339_utc);
        let at = at("updated_at").or(at("created_at"));
        since.is_none_or(|since| at.is_some_and(|t| t >= since))
    };
    let all = s.businesses[b].lists.get(name).map(Vec::as_slice);
    let mut rows: Vec<&Value> = all.unwrap_or_default().iter().filter(changed).collect();
    let order = |v: &&Value| (v["created_at"].to_string(), v["id"].to_string());
    rows.sort_by_key(order);
    let (total, attributes) = (rows.len(), get("attributes"));
    let pages = total.div_ceil(per).max(1);
    // Past the last page, Sage answers with the last page.
    let page = get("page").and_then(|v| v.parse::<usize>().ok());
    let page = page.unwrap_or(1).clamp(1, pages);
    let shown = rows.iter().skip((page - 1) * per).take(per);
    let items: Vec<Value> = shown.map(|i| attributed(i, attributes)).collect();
    let link = |p: usize| {
        let kept = query.iter().filter(|(k, _)| k != "page").cloned();
        let q: Vec<(String, String)> = kept.chain([("page".into(), p.to_string())]).collect();
        let q = serde_urlencoded::to_string(&q).unwrap_or_default();
        json!(format!("/{name}?{q}"))
    };
    let next = (page < pages).then(|| link(page + 1));
    let back = (page > 1).then(|| link(page - 1));
    let body = json!({"$total": total, "$page": page, "$next": next, "$back": back,
        "$itemsPerPage": per, "$items": items});
    axum::Json(body).into_response()
}

/// An item as `attributes` exposes it: `id`, `displayed_as` and `$path`,
/// and those listed, or all of them.
fn attributed(item: &Value, attributes: Option<&str>) -> Value {
    let listed = attributes.unwrap_or_default().split(',');
    let wanted: Vec<&str> = listed.map(str::trim).collect();
    let base = ["id", "displayed_as", "$path"];
    let keep = |k: &str| wanted == ["all"] || base.contains(&k) || wanted.contains(&k);
    let fields = item.as_object().into_iter().flatten();
    let fields = fields.filter(|(k, _)| keep(k));
    Value::Object(fields.map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// Unix seconds of a date (`2019-03-19`) or a date-time
/// (`2019-03-21T09:23:00Z`, a fraction, `Z` or an offset).
fn parse_since(text: &str) -> Option<i64> {
    if text.len() == 10 {
        return wharf_sdk::time::from_rfc3339_utc(&format!("{text}T00:00:00Z"));
    }
    let (head, tail) = (text.get(..19)?, text.get(19..)?);
    let at = wharf_sdk::time::from_rfc3339_utc(&format!("{head}Z"))?;
    let digits = |c: char| c.is_ascii_digit();
    let fraction = tail.strip_prefix('.');
    let tail = fraction.map_or(tail, |f| f.trim_start_matches(digits));
    let (sign, offset) = match tail {
        "Z" => return Some(at),
        _ => (tail.get(..1)?, tail.get(1..)?),
    };
    let (h, m) = offset.split_once(':')?;
    let secs = h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60;
    match sign {
        "+" => Some(at - secs),
        "-" => Some(at + secs),
        _ => None,
    }
}

/// A link to another item, as Sage nests them.
pub fn link(list: &str, id: &str, shown: &str) -> Value {
    json!({"id": id, "displayed_as": shown, "$path": format!("/{list}/{id}")})
}

/// `extra`'s fields set on `item`.
pub fn merge(item: &mut Value, extra: Value) {
    if let (Some(to), Value::Object(from)) = (item.as_object_mut(), extra) {
        to.extend(from);
    }
}
