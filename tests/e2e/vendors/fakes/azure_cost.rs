//! A fake Azure on one loopback origin, from Microsoft's documentation
//! (more in `docs/vendors/cloud-cost.md` §2):
//!
//! - **Entra client credentials** (<https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow>,
//!   <https://learn.microsoft.com/entra/identity-platform/reference-error-codes>):
//!   `POST /{tenant}/oauth2/v2.0/token`, a form (`client_secret` in it; Basic
//!   is not modelled), `scope` ARM's `/.default`; refusals `{"error",
//!   "error_description":"AADSTS…","error_codes",…}` for the tenant (90002),
//!   app (700016), secret (7000215, 401 `invalid_client`) and scope (1002012).
//! - **Query** (<https://learn.microsoft.com/rest/api/cost-management/query/usage?view=rest-cost-management-2023-11-01>),
//!   **checked against Microsoft's OpenAPI description**, an excerpt of
//!   <https://github.com/Azure/azure-rest-api-specs> `costmanagement.json` in
//!   `specs/` (by `openapi.rs`; below the top level by [`CostManagement::plan`]), into
//!   [`CostManagement::violations`]. Answers as its examples: `columns`
//!   (`name`, `type`) and `rows`, `UsageDate` a `yyyyMMdd` number, a tag group
//!   as `TagKey`/`TagValue`, null when untagged
//!   (<https://github.com/Azure/azure-sdk-for-java/issues/24285>), `Currency`;
//!   a `nextLink` with `$skiptoken` past [`CostManagement::rows_per_page`],
//!   posted the same body. A daily range over a month, which Azure truncates
//!   (<https://forgedemy.org/skills/skills-sh-microsoft-azure-skills-azure-cost-optimization/view?file=cost-query%2Fguardrails.md>),
//!   is a violation. ARM errors `{"error":{"code","message"}}`: 401, 403
//!   `AuthorizationFailed`, 404, 400 "Invalid query definition: Invalid dataset
//!   grouping: …" (<https://github.com/Azure/azure-rest-api-specs/issues/12158>).
//! - **Throttling** (<https://learn.microsoft.com/azure/cost-management-billing/costs/manage-automation>,
//!   <https://learn.microsoft.com/answers/questions/1488793>): query processing
//!   units per tenant (one per month queried; 12 a 10 s, 60 a minute, 600 an
//!   hour), `-qpu-consumed`/`-qpu-remaining` on answers, 429 with
//!   `-qpu-retry-after` past one. [`CostManagement::throttle_next`]: a 429 with
//!   qpu (1 s), entity (3 s) and tenant (2 s) retry-afters, no `Retry-After`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use percent_encoding::{NON_ALPHANUMERIC as ALL, percent_decode_str, utf8_percent_encode};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use wharf_sdk::time::{civil, date, days, from_rfc3339_utc};

use super::openapi::Described;
use crate::support::Upstream;

pub const TENANT_ID: &str = "5f8c2d1e-9a4b-4c7d-8e3f-1a2b3c4d5e6f";
/// The app registration with Cost Management Reader on the subscription.
pub const CLIENT_ID: &str = "0c1d2e3f-4a5b-4c6d-9e7f-8a9b0c1d2e3f";
pub const CLIENT_SECRET: &str = "Xq8~Lr3.Zk7Vb2Nm_Wt5Yh9Pj4Sd6Gc1Ae0Fu";
/// An app registration of the tenant with no role on the subscription.
pub const OUTSIDER_ID: &str = "7e6d5c4b-3a29-4f18-b7e6-d5c4b3a29f18";
pub const OUTSIDER_SECRET: &str = "Mn4~Qp7.Rs1Tu_Vw8Xy2Za5Bc9De3Fg6Hi0Jk";
pub const SUBSCRIPTION_ID: &str = "d3b2a190-8f7e-4e6f-a5c4-3f2a9c1e8b7d";
pub const RESOURCE_GROUPS: [&str; 2] = ["rg-web", "rg-data"];
pub const SERVICES: [&str; 4] = ["Virtual Machines", "Storage", "App Service", "Bandwidth"];
/// Values of the `team` tag; `""` is untagged.
pub const TEAMS: [&str; 3] = ["data", "web", ""];
pub const CURRENCY: &str = "EUR";
pub const API_VERSION: &str = "2023-11-01";
const ARM: &str = "https://management.azure.com/.default";
/// The grouping dimensions Azure lists when it refuses one.
const DIMENSIONS: &str = "ResourceGroup ResourceGroupName ResourceLocation ConsumedService ResourceType ResourceId MeterId BillingMonth MeterCategory MeterSubcategory Meter AccountName DepartmentName SubscriptionId SubscriptionName ServiceName ServiceTier EnrollmentAccountName BillingAccountId ResourceGuid BillingPeriod InvoiceNumber ChargeType PublisherType ReservationId ReservationName Frequency PartNumber CostAllocationRuleName MarkupRuleName PricingModel";
const COLUMNS: &str = "Cost CostUSD PreTaxCost PreTaxCostUSD UsageQuantity";
/// Query processing unit quotas: window (s), units, name in `-qpu-remaining`.
const QPU: [(u64, u32, &str); 3] = [
    (3600, 600, "QueriesPerHour"),
    (60, 60, "QueriesPerMin"),
    (10, 12, "QueriesPer10Sec"),
];
const RATE: &str = "x-ms-ratelimit-microsoft.costmanagement";
const ENTITY_LEFT: &str = "x-ms-ratelimit-remaining-microsoft.costmanagement-entity-requests";
const TRACE: &str = "0d3c7a9e-5b1f-4c2d-8e6a-9f0b1c2d3e4f";
const NO_TENANT: &str =
    "Check to make sure you have the correct tenant ID and are signing into the correct cloud.";
const NO_APP: &str = "was not found in the directory '5f8c2d1e-9a4b-4c7d-8e3f-1a2b3c4d5e6f'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.";
const WRONG_SECRET: &str = "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app";
const DEFAULT_ONLY: &str = "Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).";
const INVALID: &str = "The access token is invalid.";
const EXPIRED: &str = "The access token expiry UTC time '5/2/2024 11:40:00 AM' is earlier than current UTC time '5/2/2024 12:40:00 PM'.";
const CHALLENGE: &str = "Bearer authorization_uri=\"https://login.microsoftonline.com/common\", error=\"invalid_token\", error_description=\"The access token has expired.\"";
const NO_ROLE: &str = "does not have authorization to perform action 'Microsoft.CostManagement/query/action' over scope";
const REFRESH: &str =
    "or the scope is invalid. If access was recently granted, please refresh your credentials.";

#[derive(Clone, Debug)]
pub struct Seen {
    pub uri: String,
    pub status: u16,
    pub at: Instant,
}

#[derive(Default)]
pub struct CostManagement {
    /// Rows an answer holds before a `nextLink` (0: 25).
    pub rows_per_page: usize,
    /// Answer the next this many queries 429.
    pub throttle_next: u32,
    /// After this many more answered queries, every access token expires.
    pub expire_after: Option<u32>,
    /// Tokens granted, and every one (for leak checks).
    pub grants: u32,
    pub issued: Vec<String>,
    /// Every answered query's body, and whether it followed a `nextLink`.
    pub answered: Vec<(Value, bool)>,
    pub seen: Vec<Seen>,
    /// The `code` (Entra: `error`) of each refusal, oldest first.
    pub refused: Vec<String>,
    /// What the description refuses, and what the fake does not model.
    pub violations: Vec<String>,
    /// Ten-thousandths added to every cell's cost of a day (`YYYY-MM-DD`).
    pub revisions: BTreeMap<String, u64>,
    qpu: Vec<(Instant, u32)>,
    /// Access token → (client, valid until).
    tokens: BTreeMap<String, (String, Instant)>,
    /// `$skiptoken` → (the query it pages, the next row).
    pages: BTreeMap<String, (Value, usize)>,
}

pub type Shared = Arc<Mutex<CostManagement>>;

impl CostManagement {
    /// Every access token expires now, as an hour after it was issued.
    pub fn expire_tokens(&mut self) {
        let now = Instant::now();
        self.tokens.values_mut().for_each(|t| t.1 = now);
    }

    /// A cell's cost on `day` in ten-thousandths of a euro: 0 to 99.9999
    /// from a hash of the four, and the day's revision.
    pub fn cost(&self, day: &str, service: &str, rg: &str, team: &str) -> u64 {
        let digest = Sha256::digest(format!("{day}|{service}|{rg}|{team}"));
        let first = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes")) % 1_000_000;
        first + self.revisions.get(day).copied().unwrap_or(0)
    }
}

/// A column's value of a cell's cost `n`: USD at 1.1, usage 3 units a euro.
pub fn column(name: &str, n: u64) -> u64 {
    match name {
        "CostUSD" | "PreTaxCostUSD" => n * 11 / 10,
        "UsageQuantity" => 3 * n,
        _ => n,
    }
}

fn described() -> &'static Described {
    static SPEC: OnceLock<Described> = OnceLock::new();
    SPEC.get_or_init(|| Described::load("azure_costmanagement_query_2023-11-01.json"))
}

pub async fn start(state: CostManagement) -> (Upstream, Shared) {
    let shared = Arc::new(Mutex::new(state));
    let app = Router::new().fallback(serve).with_state(shared.clone());
    (Upstream::start(app).await, shared)
}

/// A header's text, or "".
fn text(headers: &HeaderMap, name: HeaderName) -> &str {
    let value = headers.get(name);
    value.and_then(|v| v.to_str().ok()).unwrap_or("")
}

async fn serve(State(s): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 16 << 20).await;
    let body = body.unwrap_or_default();
    let (path, raw) = (parts.uri.path(), parts.uri.query().unwrap_or_default());
    let query: Vec<(String, String)> = serde_urlencoded::from_str(raw).unwrap_or_default();
    let lower = path.to_ascii_lowercase();
    let post = parts.method == "POST";
    let at = lower.find("/providers/microsoft.costmanagement/query");
    let mut state = s.lock().unwrap_or_else(PoisonError::into_inner);
    let response = match at {
        _ if post && lower.ends_with("/oauth2/v2.0/token") => {
            state.token(path, &parts.headers, &body)
        }
        Some(at) if post => {
            let scope = percent_decode_str(&path[..at]).decode_utf8_lossy();
            let asked = state.query(&scope, &query, &parts.headers, &body);
            asked.unwrap_or_else(|refusal| refusal)
        }
        _ => arm_error(404, "NotFound", &format!("No {} {path}", parts.method)),
    };
    let status = response.status().as_u16();
    let refused = response.headers().get("x-fake-refusal");
    if let Some(code) = refused.and_then(|v| v.to_str().ok()) {
        state.refused.push(code.to_string());
    }
    let (uri, at) = (parts.uri.to_string(), Instant::now());
    state.seen.push(Seen { uri, status, at });
    response
}

/// An error answer with `body`; its code also in `x-fake-refusal`.
fn refusal(status: u16, code: &str, body: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut r = (status, axum::Json(body)).into_response();
    let code = HeaderValue::from_str(code).unwrap_or(HeaderValue::from_static("?"));
    r.headers_mut().insert("x-fake-refusal", code);
    r
}

/// ARM's error answer.
fn arm_error(status: u16, code: &str, message: &str) -> Response {
    let body = json!({"error": {"code": code, "message": message}});
    refusal(status, code, body)
}

/// A query Azure refuses as malformed.
fn bad_query(why: &str) -> Response {
    let why = format!("Invalid query definition: {why}");
    arm_error(400, "BadRequest", &why)
}

/// Entra's error answer.
fn entra_error(status: u16, error: &str, code: u32, description: &str) -> Response {
    let (trace, at) = (TRACE, "2024-05-02 11:40:00Z");
    let ids = format!("Trace ID: {trace}\r\nCorrelation ID: {trace}\r\nTimestamp: {at}");
    let text = format!("AADSTS{code}: {description}\r\n{ids}");
    let uri = format!("https://login.microsoftonline.com/error?code={code}");
    let body = json!({"error": error, "error_description": text, "error_codes": [code],
        "timestamp": at, "trace_id": trace, "correlation_id": trace, "error_uri": uri});
    refusal(status, error, body)
}

/// The value of a query parameter.
fn param<'a>(query: &'a Pairs, name: &str) -> Option<&'a str> {
    let found = query.iter().find(|(k, _)| k == name);
    found.map(|(_, v)| v.as_str())
}

/// A query the fake answers: days `from..=to`, columns, (type, name)
/// groups, and the resource group its scope names.
struct Plan {
    from: i64,
    to: i64,
    metrics: Vec<String>,
    groups: Vec<(String, String)>,
    rg: Option<String>,
}

type Answer = Result<Response, Response>;
type Pairs = [(String, String)];

impl CostManagement {
    fn token(&mut self, path: &str, headers: &HeaderMap, body: &[u8]) -> Response {
        let tenant = path.trim_start_matches('/').split('/').next();
        let tenant = tenant.unwrap_or_default();
        if !tenant.eq_ignore_ascii_case(TENANT_ID) {
            let why = format!("Tenant '{tenant}' not found. {NO_TENANT}");
            return entra_error(400, "invalid_request", 90002, &why);
        }
        let typed = text(headers, header::CONTENT_TYPE);
        let form: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
        let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let grant = field("grant_type");
        let form_typed = typed.starts_with("application/x-www-form-urlencoded");
        if !form_typed || grant != Some("client_credentials") {
            self.violations.push(format!("token: {typed}, {grant:?}"));
            let why = "The app requested an unsupported grant type.";
            return entra_error(400, "unsupported_grant_type", 70003, why);
        }
        let id = field("client_id").unwrap_or_default().to_string();
        let apps = [(CLIENT_ID, CLIENT_SECRET), (OUTSIDER_ID, OUTSIDER_SECRET)];
        let Some((_, secret)) = apps.into_iter().find(|(c, _)| *c == id) else {
            let why = format!("Application with identifier '{id}' {NO_APP}");
            return entra_error(400, "unauthorized_client", 700016, &why);
        };
        if field("client_secret") != Some(secret) {
            let why = format!("{WRONG_SECRET} '{id}'.");
            return entra_error(401, "invalid_client", 7000215, &why);
        }
        let scope = field("scope").unwrap_or_default();
        if scope != ARM {
            self.violations.push(format!("token: scope {scope:?}"));
            let why = format!("The provided value for scope {scope} is not valid. {DEFAULT_ONLY}");
            return entra_error(400, "invalid_scope", 1002012, &why);
        }
        self.grants += 1;
        let claims = json!({"aud": "https://management.azure.com/", "tid": TENANT_ID, "appid": id});
        let claims = URL_SAFE_NO_PAD.encode(format!("{claims}{}", self.grants));
        let signature = hex::encode(Sha256::digest(format!("{id}:{}", self.grants)));
        let token = format!("eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.{claims}.{signature}");
        let until = Instant::now() + Duration::from_secs(3599);
        self.tokens.insert(token.clone(), (id, until));
        self.issued.push(token.clone());
        let answer = json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
            "access_token": token});
        axum::Json(answer).into_response()
    }

    /// A query to `scope` (decoded), or the refusal.
    fn query(&mut self, scope: &str, query: &Pairs, headers: &HeaderMap, body: &[u8]) -> Answer {
        let version = param(query, "api-version");
        if version != Some(API_VERSION) {
            self.violations.push(format!("api-version {version:?}"));
            let why = "The api-version is missing or not supported.";
            return Err(arm_error(400, "InvalidApiVersionParameter", why));
        }
        // The description has the scope as one path parameter, and
        // api-version as a `$ref` to a file it does not include.
        let raw = scope;
        let scope = scope.trim_matches('/');
        let one = scope.replace('/', "%2F");
        let path = format!("/{one}/providers/Microsoft.CostManagement/query");
        let mut rest = query.to_vec();
        rest.retain(|(k, _)| k != "api-version");
        if let Some(v) = described().violation("POST", &path, &rest, headers, body) {
            self.violations.push(v.clone());
            return Err(arm_error(400, "BadRequest", &v));
        }
        if self.expire_after == Some(0) {
            self.expire_tokens();
            self.expire_after = None;
        }
        let client = self.authenticate(headers)?;
        let rg = self.authorize(&client, raw)?;
        if self.throttle_next > 0 {
            self.throttle_next -= 1;
            let waits = [("qpu", 1), ("entity", 3), ("tenant", 2)];
            return Err(throttled(&waits, "QueriesPerHour:577,QueriesPerMin:0"));
        }
        let body: Value = serde_json::from_slice(body).unwrap_or_default();
        let plan = self.plan(&body, rg)?;
        let skiptoken = param(query, "$skiptoken");
        let offset = match skiptoken.map(|t| self.pages.get(t)) {
            None => 0,
            Some(Some((first, offset))) if *first == body => *offset,
            Some(other) => {
                let why = match other {
                    Some(_) => "a $skiptoken posted with another query",
                    None => "an unknown $skiptoken",
                };
                self.violations.push(why.into());
                return Err(bad_query(why));
            }
        };
        let cost = months(plan.from, plan.to);
        self.spend_qpu(cost)?;
        let (columns, rows) = self.table(&plan);
        let per = Some(self.rows_per_page).filter(|n| *n > 0).unwrap_or(25);
        let end = (offset + per).min(rows.len());
        let mut next = None;
        if end < rows.len() {
            let token = STANDARD.encode(format!("{}:{end}", self.pages.len()));
            self.pages.insert(token.clone(), (body.clone(), end));
            let host = text(headers, header::HOST);
            let token = utf8_percent_encode(&token, ALL);
            let path = format!("{raw}/providers/Microsoft.CostManagement/Query");
            let query = format!("api-version={API_VERSION}&$skiptoken={token}");
            next = Some(format!("http://{host}{path}?{query}"));
        }
        if let Some(n) = self.expire_after.as_mut() {
            *n = n.saturating_sub(1);
        }
        self.answered.push((body, skiptoken.is_some()));
        let name = hex::encode(&Sha256::digest(self.answered.len().to_string())[..16]);
        let id = format!("{scope}/providers/Microsoft.CostManagement/query/{name}");
        let page = &rows[offset.min(end)..end];
        let answer = json!({"id": id, "name": name, "type": "Microsoft.CostManagement/query",
            "location": null, "sku": null, "eTag": null,
            "properties": {"nextLink": next, "columns": columns, "rows": page}});
        let mut r = axum::Json(answer).into_response();
        let remaining = HeaderValue::from_str(&self.qpu_remaining()).expect("ASCII");
        let h = r.headers_mut();
        h.insert(rate("qpu-consumed"), cost.into());
        h.insert(rate("qpu-remaining"), remaining);
        Ok(r)
    }

    /// The client a bearer token was issued to, or ARM's 401.
    fn authenticate(&self, headers: &HeaderMap) -> Result<String, Response> {
        let Some(bearer) = text(headers, header::AUTHORIZATION).strip_prefix("Bearer ") else {
            let why = "Authentication failed. The 'Authorization' header is missing.";
            return Err(arm_error(401, "AuthenticationFailed", why));
        };
        match self.tokens.get(bearer) {
            None => Err(arm_error(401, "InvalidAuthenticationToken", INVALID)),
            Some((_, until)) if *until <= Instant::now() => {
                let mut r = arm_error(401, "ExpiredAuthenticationToken", EXPIRED);
                let challenge = HeaderValue::from_static(CHALLENGE);
                r.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
                Err(r)
            }
            Some((client, _)) => Ok(client.clone()),
        }
    }

    /// The resource group a scope names (None: the subscription), if it
    /// exists and the client may read its costs.
    fn authorize(&self, client: &str, scope: &str) -> Result<Option<String>, Response> {
        let parts: Vec<&str> = scope.trim_matches('/').split('/').collect();
        let is = |i: usize, w: &str| parts.get(i).is_some_and(|p| p.eq_ignore_ascii_case(w));
        let rg_shaped = parts.len() == 4 && is(2, "resourceGroups");
        let shaped = is(0, "subscriptions") && (parts.len() == 2 || rg_shaped);
        if !shaped || !is(1, SUBSCRIPTION_ID) {
            let why = format!("The subscription of '{scope}' could not be found.");
            return Err(arm_error(404, "SubscriptionNotFound", &why));
        }
        let rg = parts.get(3).map(|r| r.to_ascii_lowercase());
        if let Some(rg) = rg.as_deref().filter(|rg| !RESOURCE_GROUPS.contains(rg)) {
            let why = format!("Resource group '{rg}' could not be found.");
            return Err(arm_error(404, "ResourceGroupNotFound", &why));
        }
        if client != CLIENT_ID {
            let why = format!(
                "The client '{client}' with object id '{client}' {NO_ROLE} '{scope}' {REFRESH}"
            );
            return Err(arm_error(403, "AuthorizationFailed", &why));
        }
        Ok(rg)
    }

    /// What the query asks, or Azure's refusal of it. Below the top level
    /// `openapi.rs` checks, the description's `QueryDefinition` (an
    /// `x-ms-enum` taken as closed, stricter than Azure): the `type`, at
    /// most two `Sum`s and two groupings of `Dimension` or `TagKey`.
    fn plan(&mut self, body: &Value, rg: Option<String>) -> Result<Plan, Response> {
        let (dataset, period) = (&body["dataset"], &body["timePeriod"]);
        let from = period["from"].as_str().and_then(from_rfc3339_utc);
        let to = period["to"].as_str().and_then(from_rfc3339_utc);
        let aggregations = dataset["aggregation"].as_object().into_iter().flatten();
        let grouping = dataset["grouping"].as_array();
        let grouping = grouping.map_or(&[][..], Vec::as_slice);
        let types = ["Usage", "ActualCost", "AmortizedCost"].map(Value::from);
        let typed = types.contains(&body["type"]);
        let modelled = typed
            && body["timeframe"] == "Custom"
            && dataset["granularity"] == "Daily"
            && dataset["filter"].is_null()
            && dataset["configuration"].is_null()
            && aggregations.clone().count() <= 2
            && grouping.len() <= 2;
        let (true, Some(from), Some(to)) = (modelled, from, to) else {
            let why = format!("the fake models Custom daily queries in UTC, no filter: {body}");
            self.violations.push(why.clone());
            return Err(bad_query(&why));
        };
        let today = wharf_sdk::time::now_ms().div_euclid(86_400_000);
        let (from, to) = (from.div_euclid(86_400), to.div_euclid(86_400).min(today));
        // Azure answers a daily range from `to` - 1 month + 1 day on.
        let (y, m, d) = civil(to);
        let (py, pm) = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
        let earliest = days(py, pm, d).min(days(y, m, 1) - 1) + 1;
        if from > to || from < earliest {
            let only = date(earliest * 86_400);
            self.violations
                .push(format!("{period}: Azure answers from {only}"));
        }
        let quoted = |list: &str| {
            let each: Vec<String> = list.split(' ').map(|c| format!("'{c}'")).collect();
            each.join(",")
        };
        let mut metrics = Vec::new();
        for (_, agg) in aggregations {
            let name = agg["name"].as_str().unwrap_or_default();
            if agg["function"] != "Sum" {
                self.violations.push(format!("aggregation {agg}"));
                return Err(bad_query(&format!("Invalid aggregation function: {agg}")));
            }
            if !COLUMNS.split(' ').any(|c| c == name) {
                let valid = quoted(COLUMNS);
                let why = format!("Invalid aggregation name: '{name}'; valid values: {valid}.");
                return Err(bad_query(&why));
            }
            metrics.push(name.to_string());
        }
        let mut groups = Vec::new();
        for g in grouping {
            let kind = g["type"].as_str().unwrap_or_default().to_string();
            let name = g["name"].as_str().unwrap_or_default().to_string();
            if !matches!(kind.as_str(), "Dimension" | "TagKey") || name.is_empty() {
                self.violations.push(format!("grouping {g}"));
                return Err(bad_query(&format!("Invalid dataset grouping: {g}")));
            }
            let known = DIMENSIONS.split(' ').any(|x| x.eq_ignore_ascii_case(&name));
            if kind == "Dimension" && !known {
                let valid = quoted(DIMENSIONS);
                let why = format!("Invalid dataset grouping: '{name}'; valid values: {valid},''.");
                return Err(bad_query(&why));
            }
            groups.push((kind, name));
        }
        let plan = Plan {
            from,
            to,
            metrics,
            groups,
            rg,
        };
        Ok(plan)
    }

    /// The answer's columns and every row of the plan, by day then group.
    fn table(&self, plan: &Plan) -> (Vec<Value>, Vec<Value>) {
        let typed = |name: &str, ty: &str| json!({"name": name, "type": ty});
        let mut columns: Vec<Value> = plan.metrics.iter().map(|m| typed(m, "Number")).collect();
        columns.push(typed("UsageDate", "Number"));
        for (kind, name) in &plan.groups {
            if kind == "TagKey" {
                columns.extend([typed("TagKey", "String"), typed("TagValue", "String")]);
            } else {
                columns.push(typed(name, "String"));
            }
        }
        columns.push(typed("Currency", "String"));
        let mut rows = Vec::new();
        for day in (plan.from..=plan.to).map(|d| date(d * 86_400)) {
            let mut sums = BTreeMap::<Vec<Option<String>>, Vec<u64>>::new();
            for (service, rg, team) in cells(plan.rg.as_deref()) {
                let key = group_key(&plan.groups, service, rg, team);
                let n = self.cost(&day, service, rg, team);
                let zero = || vec![0; plan.metrics.len()];
                let sum = sums.entry(key).or_insert_with(zero);
                for (s, m) in sum.iter_mut().zip(&plan.metrics) {
                    *s += column(m, n);
                }
            }
            let usage_date: u64 = day.replace('-', "").parse().expect("digits");
            for (key, sum) in sums {
                let mut row: Vec<Value> = sum.iter().map(|n| json!(*n as f64 / 1e4)).collect();
                row.push(json!(usage_date));
                row.extend(key.into_iter().map(|k| json!(k)));
                row.push(json!(CURRENCY));
                rows.push(Value::Array(row));
            }
        }
        (columns, rows)
    }

    /// Units spent in the last `secs` seconds.
    fn qpu_used(&self, secs: u64) -> u32 {
        let now = Instant::now();
        let recent = self
            .qpu
            .iter()
            .filter(|(at, _)| now.duration_since(*at).as_secs() < secs);
        recent.map(|(_, n)| n).sum()
    }

    /// Spend `cost` query processing units, or 429 with the wait (the
    /// window's whole length: a fake may overstate it).
    fn spend_qpu(&mut self, cost: u32) -> Result<(), Response> {
        for (secs, limit, _) in QPU {
            if self.qpu_used(secs) + cost > limit {
                return Err(throttled(&[("qpu", secs)], &self.qpu_remaining()));
            }
        }
        self.qpu.push((Instant::now(), cost));
        Ok(())
    }

    /// `QueriesPerHour:577,QueriesPerMin:59,QueriesPer10Sec:11`.
    fn qpu_remaining(&self) -> String {
        let left = |(secs, limit, name): &(u64, u32, &str)| {
            format!("{name}:{}", limit.saturating_sub(self.qpu_used(*secs)))
        };
        QPU.iter().map(left).collect::<Vec<_>>().join(",")
    }
}

/// Every (service, resource group, team), of the resource group `only`
/// if given.
fn cells(only: Option<&str>) -> Vec<(&'static str, &'static str, &'static str)> {
    let mut out = Vec::new();
    for s in SERVICES {
        for g in RESOURCE_GROUPS
            .into_iter()
            .filter(|g| only.is_none_or(|o| o == *g))
        {
            out.extend(TEAMS.map(|t| (s, g, t)));
        }
    }
    out
}

type Groups = [(String, String)];

/// A cell's values in the groups' columns: a tag's key and value, null
/// when the cell does not carry it.
fn group_key(groups: &Groups, service: &str, rg: &str, team: &str) -> Vec<Option<String>> {
    let mut key = Vec::new();
    for (kind, name) in groups {
        let tagged = name == "team" && !team.is_empty();
        let value = match (kind.as_str(), name.to_ascii_lowercase().as_str()) {
            ("TagKey", _) => {
                key.extend([tagged.then(|| name.clone()), tagged.then(|| team.into())]);
                continue;
            }
            (_, "servicename" | "metercategory") => service,
            (_, "resourcegroup" | "resourcegroupname") => rg,
            (_, "resourcelocation") => "EU West",
            (_, "subscriptionid") => SUBSCRIPTION_ID,
            _ => "",
        };
        key.push(Some(value.to_string()));
    }
    key
}

/// `x-ms-ratelimit-microsoft.costmanagement-{name}`.
fn rate(name: &str) -> HeaderName {
    HeaderName::try_from(format!("{RATE}-{name}")).expect("a header name")
}

/// A 429 with Cost Management's retry-after headers (scope, seconds).
fn throttled(waits: &[(&str, u64)], remaining: &str) -> Response {
    let mut r = arm_error(429, "429", "Too many requests. Please retry.");
    let h = r.headers_mut();
    for (scope, secs) in waits {
        h.insert(rate(&format!("{scope}-retry-after")), (*secs).into());
    }
    let remaining = HeaderValue::from_str(remaining).expect("ASCII");
    h.insert(rate("qpu-remaining"), remaining);
    h.insert(ENTITY_LEFT, HeaderValue::from_static("DefaultQuota:0"));
    r
}

/// Calendar months days `from..=to` touch: the query processing units.
fn months(from: i64, to: i64) -> u32 {
    let month = |d: i64| civil(d).0 * 12 + i64::from(civil(d).1);
    let n = u32::try_from(month(to) - month(from) + 1);
    n.unwrap_or(1).max(1)
}
