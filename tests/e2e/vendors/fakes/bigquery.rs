//! A fake Google for `gcp-billing`: the service-account token endpoint and
//! BigQuery's `jobs.query` / `jobs.getQueryResults` over a generated
//! billing export, from Google's documentation (`docs/vendors/cloud-cost.md` §3):
//!
//! - **Token** (<https://developers.google.com/identity/protocols/oauth2/service-account>):
//!   `POST /token`, form `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`
//!   and `assertion`: RS256 verified with the public key of
//!   [`service_account_key`] ([`unknown_key`] gets `invalid_grant` "Invalid
//!   JWT Signature."), `iss` [`CLIENT_EMAIL`], `aud` [`AUDIENCE`], a BigQuery
//!   `scope`, `exp - iat` ≤ 3600 with now inside. Answers `access_token`,
//!   `expires_in: 3599`, `token_type: Bearer`.
//! - **Every API request is checked against BigQuery's discovery document**
//!   (`specs/bigquery-v2.json`): method, path, query parameters, and the
//!   `jobs.query` body against `QueryRequest`, nested ([`violation`],
//!   [`body_violations`]).
//! - **`jobs.query`** (<https://cloud.google.com/bigquery/docs/reference/rest/v2/jobs/query>,
//!   <https://cloud.google.com/bigquery/docs/parameterized-queries>): GoogleSQL
//!   (`useLegacySql: false`), typed named parameters; the backticked table
//!   must be [`TABLE`] (`404 notFound`), `location` [`LOCATION`], the path's
//!   project [`PROJECT`] (`403 accessDenied`); a name the export's schema
//!   lacks is `400 invalidQuery`. The billing export and how the fake
//!   evaluates the billing query (it runs no SQL) are in [`export`]; a dry
//!   run answers the schema and `totalBytesProcessed`.
//! - **Jobs** (<https://cloud.google.com/bigquery/docs/reference/rest/v2/jobs/getQueryResults>):
//!   the first [`BigQuery::incomplete_answers`] answers on a job say
//!   `jobComplete: false`; pages of `maxResults` (at most
//!   [`BigQuery::page_rows`]) with a `pageToken` of that job; the job is
//!   found only with its `location` (a single region). Typed rows:
//!   `schema.fields`, `rows[].f[].v` strings; TIMESTAMP as float seconds or,
//!   with `formatOptions.useInt64Timestamp`, integer microseconds.
//! - **Errors** (<https://cloud.google.com/bigquery/docs/error-messages>):
//!   `{"error": {"code", "message", "errors": [{"reason"}], "status"}}`;
//!   `401 authError` for an unknown or expired token, `403
//!   rateLimitExceeded` while [`BigQuery::throttle_next`].
//! - [`BigQuery::revise`] adds a late adjustment to a past day, as the
//!   export does for days after.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::support::Upstream;

mod export;

use export::{Cell, decimal, evaluate, parameters, plan, schema};
pub use export::{PROJECTS, Row, SERVICES, generate};

pub const CLIENT_EMAIL: &str = "wharf-billing@billing-admin-4821.iam.gserviceaccount.com";
/// The project the jobs run in; it holds the export too.
pub const PROJECT: &str = "billing-admin-4821";
pub const TABLE: &str =
    "billing-admin-4821.billing_export.gcp_billing_export_v1_01A2B3_C4D5E6_F7A8B9";
pub const LOCATION: &str = "europe-west1";
/// The only audience Google's token endpoint accepts.
pub const AUDIENCE: &str = "https://oauth2.googleapis.com/token";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Scopes that run queries: the discovery document's for `jobs.query`, and
/// `bigquery.readonly`, with which read-only queries run.
const SCOPES: &str = "bigquery bigquery.readonly cloud-platform cloud-platform.read-only";
/// Test keys (RSA 2048, PKCS#8), made for these tests only.
const SA_KEY: &str = "MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCHnwEO93qFvixO9izM4+YOXGFS2jFTz+/Z8rAsNeeXUmobeZsTX3N2eI+tYmBBxi1cXi6TZ8XCJUxR/tAPaStxs/Qjx0PXKd5Hfh6kvFGqYlGDzbxgOuv8E+ZjHB0Bf0KlXgAd/XIJk1VanIEXwZJJ3RnAa8Cd2BkFvU+6EL2eGEhfZeunsJMij9BPQfxalYVusg5CFzc9IDCWRg0ZDEJzk6ywlOJjICzEu2BQAySC8XLznAz5BvE3yYjtYNLpTjrH4gh1cEIBvisg5i0LEvjYhJrmfkL5UNejFP0Y5M/HO39Xg/Mja8yDvOhXysPh7HenEyG0Dmh8CgbRJkKSr2yFAgMBAAECggEACTd4mnGeItWxlteAZEI+rGOB0mAgBw/0FG3mTsgxCiXLLpJ9Q/vyJwR60IUwK818irD0iFxT4mWngfuyXGxrdpQ3Yhu/frFf46BCE971IS0CWNXpWJQt3Rk7HdQsx8vEFeSarG8WH2l4XP/oKVr52/Q0ilD9q5x32DMtO7oPMN218ITWClkj5nkBU6jMW0fXP10XeT/QpPdJSczUNUlxR3R/MMgMVtS7FXARRTdMAsj/3/PoZKwKVGm5sNA9aZSaDGN0d8RaN6acZjEGDWwjPP8u22iY8wQIP0YsecZlSEcKt3m1H7A7aLz8R/LlC6cnXj0Kd8CiYHH0oW7by24S1wKBgQC7T4ADPk8qBNU3OFzyRVlARUWzdPbx9APPBSesN9i8EminddIkc0OJouXV9+AQjsSvQ/Z79JFhnC/W7oIO2hAomJ6yqmjITfvcp10ZlPFzhBOHazegNSoktJ53B0Txd63lADrk2Csro7ULkrRd5jVtUjQEkHHlJEIZY6Y2zvI89wKBgQC5WvV2RIunFMSGS0d66Ksp8/8gQkeQOLRoLARF6mOhdTZTZNwQW813wUB6Fx2EqiHc7nlHS+siH5ZRN/XA/qi5hkQoXNfxBwu2oLE/xV0i0rA3Ex4me0APhX4TzewQApvn411yCOu/AVOR9Kj6iK3o3bRbaOy3jEway1gauxOvYwKBgGkWzGqFbeLUPU+y5qrib5WYh+eMSvQqhGyEpuJ/nrC930t81f6vUIgLBcoLPQHtJ7pxdfvLljleaJS80elFPOWZ4we4hftDjXgZyikNIH4/7rj+VYIj8dYQJAwB3xNeowilHWXBRk9AlNW+ZEV+YCFKina5F72InzEhcGK1rsC3AoGAeeI1HNMQHgtK+6AO3eSXgRvgPP84fb676vBe0vbBEw+3bHkbOGqVntTmKCKBF5akc9ogx+BFOwgYWUn6ATG0E2MV+JCssuLWMf5S78NBbj+q/lxE7DsJsesvL6iuPQzqJj7dWLpDAzPFF2oRn8U2zrTS/3Tsi/nmpYvnYJR56k8CgYAkF3Gybor7BQga74sdY66q5PsMHjlsRyAB2igkp8U7sJXXV2gfNEfSx3A3ejuJYdUldQREkQ8bL6/pxuMqk4bydUjx1EzYW6PxaD2ZZyCXknlqnx3cSArn7ibKCN2vx/7bD8AJIOSRwfi0A8Iu45ZF4V7dym96jRrTgbXjzXYlhA==";
const UNKNOWN_KEY: &str = "MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDtOP0hxrmIdJnupqiYb47s+UFCHwtqrFOlVaLkFyh9vJ+EMV+3K7xBXKZZo1zE6uNVPrP+/3uJJyYQawSaKLA/v87hn2v2LYw9i7LriTEJWYSGkC1vvkzn2Z5AEdnm/LtEZaSD6piYmImBswvKjcuM+EWdSAD4h7ylXL2NouN8r0kigwqf9Kf2eB+jTctxhtHc50ZnWrxYpUMU789rFo7iFXQ6yR6rwc1GBvNSIn9feexwb7+e7E91KgtPg6W7z2xDF4SBwvDzlphgvWMxZ6MXlEa2ti7i7I30/GXaLIpIDAGFpiVUfXgJ5DFwGsb4TdcsAzpuqW5i7hdex1TANxDlAgMBAAECggEAAex3HKvqm25PXClZ0htcwp+PMTBwWaAxlAAE3w0BwLBd+4PnWSovoS0m+3Zg8x5lPBeNK5LucVimSjCFbwhq5AUWt9msYYuXjqMe1NyvZsAwuUu4Mps8Rj0LiR4zNrWWUtCT1MYGysMWRI7OO08tmh6BSr3EvPlkFms0HCBKNidYSWbwRS0po+WitgPyNgMbwG64GpfA8h5KswzYxQEi+53v1cJawqHw0/cdST4kuVNzzkmWfA+yzydhx4MPT/lbh24HnImMca7qM0KBpyD2FsU8jHz2Wy2WltiGomfMUUQevfWPJAdykBqZWwqDdC2puYmuDgzFd5ePXpg8GPlygQKBgQD5esaJCvTZCn83u+OsaIQ66TuFcIXdlhu357gs8dJ96xsUsgsRVq5dnOjnl8aDKI/K/v/FBfzCI+LLbJ9QmsK/InjX0+CRsAikMx3aASw6gUIN0s9Cfb6q4KCGwfNbsRLzWy8Wv9iNyv/5e7kYtRn/eQUBz+y25+Moh2QK5gxZlQKBgQDzbDQ2YcZP2z4nCwGdhcp567ypTGEihZkAgIzwJHHgm3NS+zUWZzfHjMTPkBHR59TUJYinvUgHFTFuIvKPv5llXpPAMw/hKqPRUwfBgPLq8yHEc8VSzDOatBhr6h9Y/e7N7j0/vKXxjksfx8c2NKbLvDaOlHFHdt6XcsW/J3UmEQKBgQCb6i017JEFK9hB/rzVPSSWpLi8NoyS5YNBNiIWhLMmWs676mGcXm3ut2efhW1c/vaOyTsT6SAEPOU6eRJAD9hyF5sqV5JbuoZMCF45ps37aljbxsodJfUJWgU48vGidlH/oRcWwqMWSq4bP0V4uYYb8Yg9j7LCxL1k0OinHwrM2QKBgQDYxsScpWgQ16M6689Nc8dD2k6RyiY6sxT1YIWimiIbrvP9sx6sy9Dd0Zu3aIqmDrn3D1HqZ2MMg7AYb+DpaOx3XMlhgVej4vAuSq3+ghJSb6DjrWHNgXJ3U+jnuYCfJMyU8ZPz/dEeE+UM8UGUIUFk8ED5qnJS/SXvY1N9DuuBsQKBgC5in6NkKjJR4UziT8uhYp3D1UwhQPKGKb5sbveUaOJdSUu+vt7FlwswzIdeLzs5ayrhBLPMrPIZZ5g4ScVF8VU1UjaTGfyFN5m84jKqDX0jzL46mfjVpC2JXvvVunpNita/orM5ha+vrto0YuQr+goC882jMupbaVtT1psqzscA";

/// The service account's private key, as its JSON key file holds it.
pub fn service_account_key() -> String {
    pem(SA_KEY)
}

/// A well-formed key of no account Google knows.
pub fn unknown_key() -> String {
    pem(UNKNOWN_KEY)
}

fn pem(body: &str) -> String {
    let lines = body.as_bytes().chunks(64).map(String::from_utf8_lossy);
    let lines: Vec<_> = lines.collect();
    let body = lines.join("\n");
    format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n")
}

/// The service account's public key (DER `RSAPublicKey`), as Google keeps it.
fn public_key() -> &'static [u8] {
    static KEY: OnceLock<Vec<u8>> = OnceLock::new();
    KEY.get_or_init(|| {
        let der = STANDARD.decode(SA_KEY).expect("the test key is base64");
        let pair = ring::signature::RsaKeyPair::from_pkcs8(&der).expect("an RSA PKCS#8 key");
        pair.public().as_ref().to_vec()
    })
}

struct Job {
    columns: Vec<(String, &'static str)>,
    rows: Vec<Vec<Cell>>,
    incomplete: u32,
}

pub struct BigQuery {
    pub rows: Vec<Row>,
    /// Answers on each job that say it still runs (`jobs.query`'s first).
    pub incomplete_answers: u32,
    /// Rows a page at most, whatever `maxResults` says (the 10 MB cap).
    pub page_rows: usize,
    /// Refuse the next this many API calls `403 rateLimitExceeded`.
    pub throttle_next: u32,
    /// Claims of the assertions accepted, oldest first.
    pub assertions: Vec<Value>,
    /// API calls answered: `dry-run`, `query`, `results`, `results+token`.
    pub calls: Vec<String>,
    /// The `jobs.query` bodies answered.
    pub queries: Vec<Value>,
    /// The reason of each refusal (the token endpoint's description).
    pub refused: Vec<String>,
    /// Requests the discovery document does not describe, and queries
    /// refused `invalid` or `invalidQuery`.
    pub violations: Vec<String>,
    tokens: Vec<String>,
    jobs: BTreeMap<String, Job>,
    pages: BTreeMap<String, (String, usize)>,
}

pub type Shared = Arc<Mutex<BigQuery>>;
type Refusal = (u16, Value);

impl Default for BigQuery {
    fn default() -> Self {
        BigQuery {
            rows: generate(unix_now().div_euclid(86_400), 40),
            incomplete_answers: 1,
            page_rows: 1000,
            throttle_next: 0,
            assertions: Vec::new(),
            calls: Vec::new(),
            queries: Vec::new(),
            refused: Vec::new(),
            violations: Vec::new(),
            tokens: Vec::new(),
            jobs: BTreeMap::new(),
            pages: BTreeMap::new(),
        }
    }
}

impl BigQuery {
    /// Every access token stops working, as after an hour.
    pub fn expire_access_tokens(&mut self) {
        self.tokens.clear();
    }

    /// A late adjustment of `micros` to a day's cost, exported now.
    pub fn revise(&mut self, usage_day: i64, service: usize, project: usize, micros: i64) {
        let (cost_micros, credit_micros, cost_type) = (micros, 0, "adjustment");
        let export_secs = unix_now();
        let row = Row {
            service,
            project,
            usage_day,
            cost_micros,
            credit_micros,
            cost_type,
            export_secs,
        };
        self.rows.push(row);
    }

    /// The cost and credits (micros) of a day, service and project.
    pub fn expected(&self, day: i64, service: usize, project: usize) -> (i64, i64) {
        let mine = |r: &&Row| (r.usage_day, r.service, r.project) == (day, service, project);
        let rows = self.rows.iter().filter(mine);
        rows.fold((0, 0), |(c, k), r| (c + r.cost_micros, k + r.credit_micros))
    }
}

pub async fn start(state: BigQuery) -> (Upstream, Shared) {
    let shared = Arc::new(Mutex::new(state));
    let app = Router::new().fallback(serve).with_state(shared.clone());
    (Upstream::start(app).await, shared)
}

/// A header's value as text.
fn text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn unix_now() -> i64 {
    wharf_sdk::time::now_ms().div_euclid(1000)
}

/// Google's error envelope.
fn google(code: u16, reason: &str, message: &str) -> Refusal {
    let statuses = [
        (400, "INVALID_ARGUMENT"),
        (401, "UNAUTHENTICATED"),
        (404, "NOT_FOUND"),
    ];
    let status = statuses
        .iter()
        .find(|(c, _)| *c == code)
        .map_or("PERMISSION_DENIED", |s| s.1);
    let error = json!({"message": message, "domain": "global", "reason": reason});
    let body = json!({"code": code, "message": message, "errors": [error], "status": status});
    (code, json!({ "error": body }))
}

async fn serve(State(bq): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 16 << 20)
        .await
        .unwrap_or_default();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or_default();
    let query: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    let mut s = bq.lock().unwrap_or_else(PoisonError::into_inner);
    let (status, value) = if parts.method == "POST" && path == "/token" {
        s.token(&parts.headers, &body)
    } else {
        let method = parts.method.as_str();
        let answer = s.call(method, &path, &query, &parts.headers, &body);
        answer.map_or_else(|refusal| s.refusal(refusal), |v| (200, v))
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, axum::Json(value)).into_response()
}

/// An assertion's claims if Google would take it, else the OAuth error
/// and its description.
fn check_assertion(jwt: &str, now: i64) -> Result<Value, (&'static str, String)> {
    let bad = |why: &str| ("invalid_grant", why.to_string());
    let mut parts = jwt.split('.');
    let (Some(head), Some(body), Some(sig)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("Invalid JWT Signature."));
    };
    let decode = |p: &str| URL_SAFE_NO_PAD.decode(p).ok();
    let json_of = |p: &str| decode(p).and_then(|b| serde_json::from_slice::<Value>(&b).ok());
    let alg = &ring::signature::RSA_PKCS1_2048_8192_SHA256;
    let key = ring::signature::UnparsedPublicKey::new(alg, public_key());
    let signed = format!("{head}.{body}");
    let verified = decode(sig).is_some_and(|s| key.verify(signed.as_bytes(), &s).is_ok());
    let header = json_of(head).unwrap_or_default();
    if header["alg"] != "RS256" || !verified || parts.next().is_some() {
        return Err(bad("Invalid JWT Signature."));
    }
    let claims = json_of(body).unwrap_or_default();
    if claims["iss"] != CLIENT_EMAIL {
        return Err(bad("Invalid email or User ID"));
    }
    if claims["aud"] != AUDIENCE {
        return Err(bad("Invalid JWT: Failed audience check."));
    }
    let (iat, exp) = (claims["iat"].as_i64(), claims["exp"].as_i64());
    let timely = |(i, e): (i64, i64)| e > i && e - i <= 3600 && i <= now + 300 && e > now;
    if !iat.zip(exp).is_some_and(timely) {
        return Err(bad(
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable \
             timeframe. Check your iat and exp values in the JWT claim.",
        ));
    }
    let scope = claims["scope"].as_str().unwrap_or_default().split(' ');
    let mut scopes = scope.filter_map(|s| s.strip_prefix("https://www.googleapis.com/auth/"));
    if !scopes.any(|s| SCOPES.split(' ').any(|k| k == s)) {
        return Err((
            "invalid_scope",
            "Invalid OAuth scope or ID token audience provided.".into(),
        ));
    }
    Ok(claims)
}

impl BigQuery {
    fn token(&mut self, headers: &HeaderMap, body: &[u8]) -> (u16, Value) {
        let typed = text(headers, header::CONTENT_TYPE);
        let form_typed = typed.is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
        let form: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
        let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let grant = field("grant_type").unwrap_or_default();
        let checked = match (form_typed, grant == JWT_BEARER) {
            (false, _) => Err(("invalid_request", "a form is expected".to_string())),
            (_, false) => Err((
                "unsupported_grant_type",
                format!("Invalid grant_type: {grant}"),
            )),
            _ => check_assertion(field("assertion").unwrap_or_default(), unix_now()),
        };
        match checked {
            Ok(claims) => {
                self.assertions.push(claims);
                let access = format!("ya29.c.b0AXv0zTfake{:06}", self.assertions.len());
                self.tokens.push(access.clone());
                (
                    200,
                    json!({"access_token": access, "expires_in": 3599, "token_type": "Bearer"}),
                )
            }
            Err((error, why)) => {
                self.refused.push(why.clone());
                (400, json!({"error": error, "error_description": why}))
            }
        }
    }

    /// Keep a refusal's reason (and a malformed request's message).
    fn refusal(&mut self, (code, e): Refusal) -> Refusal {
        let reason = e["error"]["errors"][0]["reason"]
            .as_str()
            .unwrap_or_default();
        if matches!(reason, "invalid" | "invalidQuery") {
            let message = e["error"]["message"].as_str().unwrap_or_default();
            self.violations.push(format!("{reason}: {message}"));
        }
        self.refused.push(reason.to_string());
        (code, e)
    }

    fn call(
        &mut self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Value, Refusal> {
        self.violations.extend(violation(method, path, query));
        let auth = text(headers, header::AUTHORIZATION).unwrap_or_default();
        let bearer = auth.strip_prefix("Bearer ").unwrap_or_default();
        if !self.tokens.iter().any(|t| t == bearer) {
            let why = "Request had invalid authentication credentials. Expected OAuth 2 access \
                token, login cookie or other valid authentication credential.";
            return Err(google(401, "authError", why));
        }
        if self.throttle_next > 0 {
            self.throttle_next -= 1;
            let why = "Exceeded rate limits: too many api requests per user per method for this \
                user_method.";
            return Err(google(403, "rateLimitExceeded", why));
        }
        let rest = path.strip_prefix("/bigquery/v2/").unwrap_or(path);
        match (method, rest.split('/').collect::<Vec<_>>().as_slice()) {
            ("POST", ["projects", p, "queries"]) => self.query(p, headers, body),
            ("GET", ["projects", p, "queries", job]) => self.results(p, job, query),
            _ => Err(google(
                404,
                "notFound",
                &format!("Not found: {method} {path}"),
            )),
        }
    }

    fn query(&mut self, project: &str, headers: &HeaderMap, raw: &[u8]) -> Result<Value, Refusal> {
        let typed = text(headers, header::CONTENT_TYPE);
        if !typed.is_some_and(|t| t.starts_with("application/json")) {
            self.violations
                .push(format!("jobs.query: Content-Type {typed:?}"));
        }
        let Ok(body @ Value::Object(_)) = serde_json::from_slice::<Value>(raw) else {
            return Err(google(400, "invalid", "Invalid JSON payload received."));
        };
        let wrong = body_violations("QueryRequest", &body).into_iter();
        self.violations
            .extend(wrong.map(|v| format!("jobs.query: {v}")));
        if project != PROJECT {
            let why = format!(
                "Access Denied: Project {project}: User does not have bigquery.jobs.create permission in project {project}."
            );
            return Err(google(403, "accessDenied", &why));
        }
        if body["useLegacySql"] != false {
            let why = "Query parameters cannot be used in legacy SQL queries.";
            return Err(google(400, "invalidQuery", why));
        }
        if body["location"]
            .as_str()
            .is_some_and(|l| !l.eq_ignore_ascii_case(LOCATION))
        {
            let why = format!(
                "Not found: Dataset {PROJECT}:billing_export in location {}",
                body["location"]
            );
            return Err(google(404, "notFound", &why));
        }
        let plan = plan(
            body["query"].as_str().unwrap_or_default(),
            &parameters(&body)?,
        )?;
        let (columns, rows, scanned) = evaluate(&self.rows, &plan);
        let bytes = (scanned * 1_000).to_string();
        let int64 = body["formatOptions"]["useInt64Timestamp"] == true;
        let (page, dry) = (body["maxResults"].as_u64(), body["dryRun"] == true);
        self.queries.push(body);
        if dry {
            self.calls.push("dry-run".into());
            let reference = json!({"projectId": PROJECT, "location": LOCATION});
            let schema = schema(&columns);
            return Ok(
                json!({"kind": "bigquery#queryResponse", "schema": schema, "jobComplete": false,
                "jobReference": reference, "totalBytesProcessed": bytes, "cacheHit": false}),
            );
        }
        let digest = sha2::Sha256::digest(format!("{}|{}", self.jobs.len(), unix_now()));
        let id = format!("job_{}", hex::encode(&digest[..12]));
        let incomplete = self.incomplete_answers;
        self.jobs.insert(
            id.clone(),
            Job {
                columns,
                rows,
                incomplete,
            },
        );
        self.calls.push("query".into());
        self.answer(&id, 0, page, int64, "bigquery#queryResponse")
    }

    fn results(
        &mut self,
        project: &str,
        job: &str,
        query: &[(String, String)],
    ) -> Result<Value, Refusal> {
        let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        // A job in a single region is found only with its location.
        let located = q("location").is_some_and(|l| l.eq_ignore_ascii_case(LOCATION));
        if project != PROJECT || !self.jobs.contains_key(job) || !located {
            let place = q("location").unwrap_or("US");
            let why = format!("Not found: Job {project}:{place}.{job}");
            return Err(google(404, "notFound", &why));
        }
        let offset = match q("pageToken").map(|t| self.pages.get(t)) {
            None => 0,
            Some(Some((j, o))) if j == job => *o,
            Some(_) => return Err(google(400, "invalid", "Invalid page token.")),
        };
        let page = q("maxResults").and_then(|m| m.parse::<u64>().ok());
        let int64 = q("formatOptions.useInt64Timestamp") == Some("true");
        let kind = "bigquery#getQueryResultsResponse";
        let answer = self.answer(job, offset, page, int64, kind)?;
        let paged = q("pageToken").is_some();
        self.calls
            .push(if paged { "results+token" } else { "results" }.into());
        Ok(answer)
    }

    /// A job's state, or its page from `offset`.
    fn answer(
        &mut self,
        id: &str,
        offset: usize,
        page: Option<u64>,
        int64: bool,
        kind: &str,
    ) -> Result<Value, Refusal> {
        let size = page
            .map_or(usize::MAX, |p| p as usize)
            .min(self.page_rows)
            .max(1);
        let reference = json!({"projectId": PROJECT, "jobId": id, "location": LOCATION});
        let job = self.jobs.get_mut(id).expect("a job the caller found");
        if job.incomplete > 0 {
            job.incomplete -= 1;
            return Ok(json!({"kind": kind, "jobReference": reference, "jobComplete": false}));
        }
        let end = offset.saturating_add(size).min(job.rows.len());
        let cell = |c: &Cell| match c {
            Cell::Text(t) => json!({ "v": t }),
            Cell::Micros(m) => json!({ "v": decimal(*m) }),
            Cell::Time(us) if int64 => json!({ "v": us.to_string() }),
            Cell::Time(us) => json!({ "v": format!("{:E}", *us as f64 / 1e6) }),
        };
        let row = |r: &Vec<Cell>| json!({ "f": r.iter().map(&cell).collect::<Vec<_>>() });
        let rows: Vec<Value> = job.rows[offset.min(end)..end].iter().map(row).collect();
        let total = job.rows.len();
        let mut out = json!({"kind": kind, "jobReference": reference, "jobComplete": true,
            "schema": schema(&job.columns), "totalRows": total.to_string(), "cacheHit": false});
        if !rows.is_empty() {
            out["rows"] = Value::Array(rows);
        }
        if end < total {
            let token = hex::encode(&sha2::Sha256::digest(format!("{id}:{end}"))[..10]);
            self.pages.insert(token.clone(), (id.to_string(), end));
            out["pageToken"] = json!(token);
        }
        Ok(out)
    }
}

fn discovery() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/e2e/vendors/specs/bigquery-v2.json");
        let text = std::fs::read_to_string(path).expect("BigQuery's discovery document");
        serde_json::from_str(&text).expect("the discovery document is JSON")
    })
}

/// What the discovery document says is wrong with a request, if anything.
pub fn violation(method: &str, path: &str, query: &[(String, String)]) -> Option<String> {
    let doc = discovery();
    let Some(rest) = path.strip_prefix("/bigquery/v2/") else {
        return Some(format!("{method} {path}: not under the API's service path"));
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let fits = |m: &&Value| {
        let template: Vec<&str> = m["path"].as_str().unwrap_or_default().split('/').collect();
        let same = |(t, p): (&&str, &&str)| t == p || (t.starts_with('{') && !p.is_empty());
        let shaped = template.len() == parts.len() && template.iter().zip(&parts).all(same);
        m["httpMethod"] == method && shaped
    };
    let resources = doc["resources"]
        .as_object()
        .into_iter()
        .flat_map(|r| r.values());
    let mut methods = resources.flat_map(|r| r["methods"].as_object().into_iter().flatten());
    let Some((_, m)) = methods.find(|(_, m)| fits(m)) else {
        return Some(format!(
            "{method} {path}: no such method in the discovery document"
        ));
    };
    let id = m["id"].as_str().unwrap_or("?");
    for (k, v) in query {
        let spec = m["parameters"].get(k).or_else(|| doc["parameters"].get(k));
        let Some(spec) = spec.filter(|s| s["location"] == "query") else {
            return Some(format!("{id}: unknown parameter `{k}`"));
        };
        let unsigned = spec["format"]
            .as_str()
            .is_some_and(|f| f.starts_with("uint"));
        let ok = match spec["type"].as_str() {
            Some("boolean") => v == "true" || v == "false",
            Some("integer") => v.parse::<i64>().is_ok_and(|n| n >= 0 || !unsigned),
            Some("string") if unsigned => v.parse::<u64>().is_ok(),
            _ => spec["enum"]
                .as_array()
                .is_none_or(|e| e.iter().any(|x| x == v)),
        };
        if !ok {
            return Some(format!("{id}: `{k}={v}` is not a valid {}", spec["type"]));
        }
    }
    let params = m["parameters"].as_object().into_iter().flatten();
    let mut required = params.filter(|(_, s)| s["required"] == true && s["location"] == "query");
    let missing = required.find(|(k, _)| !query.iter().any(|(q, _)| q == *k));
    missing.map(|(k, _)| format!("{id}: required parameter `{k}` missing"))
}

/// What the discovery document's schema `name` finds wrong in `body`.
pub fn body_violations(name: &str, body: &Value) -> Vec<String> {
    let mut out = Vec::new();
    check_value(&json!({ "$ref": name }), body, name, &mut out);
    out
}

fn check_value(schema: &Value, v: &Value, at: &str, out: &mut Vec<String>) {
    if let Some(name) = schema["$ref"].as_str() {
        return check_value(&discovery()["schemas"][name], v, at, out);
    }
    let kind = schema["type"].as_str().unwrap_or("any");
    let fits = match kind {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.as_str().is_some_and(|s| {
            let values = schema["enum"].as_array();
            values.is_none_or(|e| e.iter().any(|x| x == s))
        }),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        _ => true,
    };
    if !fits {
        return out.push(format!("{at}: {v} is not a valid {kind}"));
    }
    for (i, x) in v.as_array().into_iter().flatten().enumerate() {
        check_value(&schema["items"], x, &format!("{at}[{i}]"), out);
    }
    for (k, x) in v.as_object().into_iter().flatten() {
        let here = format!("{at}.{k}");
        match (
            schema["properties"].get(k),
            schema.get("additionalProperties"),
        ) {
            (Some(s), _) | (None, Some(s)) => check_value(s, x, &here, out),
            (None, None) => out.push(format!("{here}: no such field in {}", schema["id"])),
        }
    }
}
