//! A fake Salesforce org on one loopback origin: the OAuth 2.0 endpoints of
//! `login.salesforce.com` and an instance's REST API
//! (`MyDomain.my.salesforce.com`), from Salesforce's documentation (more in
//! `docs/vendors/salesforce.md`):
//!
//! - OAuth 2.0 web-server flow
//!   (<https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_oauth_web_server_flow.htm>):
//!   `/services/oauth2/authorize` redirects back with a `code` (keeping the
//!   PKCE `code_challenge`); `/services/oauth2/token` takes a form with
//!   `client_id` and `client_secret`: `authorization_code` (a code once, the
//!   same `redirect_uri`, the `code_verifier`), `refresh_token` (not
//!   rotated). Answers carry `access_token`, `refresh_token` (with the
//!   `refresh_token` scope), `instance_url` (this origin), `id`,
//!   `issued_at`, `signature` (base64 HMAC-SHA256 of `id` + `issued_at`
//!   under the client secret), `scope`, `token_type`, and no `expires_in`;
//!   refusals are `400 {"error", "error_description"}`.
//! - JWT bearer flow
//!   (<https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_oauth_jwt_flow.htm>):
//!   an RS256 `assertion` verified with the public key of [`RSA_KEY_PEM`],
//!   `iss` the consumer key, `sub` the user, `aud` login or
//!   test.salesforce.com, `exp` within three minutes; no refresh token.
//! - Sessions: `Authorization: Bearer`; an unknown token, or one spent after
//!   [`Salesforce::token_uses`] calls, is `401 [{"message": "Session expired
//!   or invalid", "errorCode": "INVALID_SESSION_ID"}]`
//!   (<https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm>).
//! - Limits
//!   (<https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_api_usage.htm>):
//!   `Sforce-Limit-Info: api-usage=N/M` on every API answer; once the day's
//!   allocation is spent, `403 REQUEST_LIMIT_EXCEEDED` "TotalRequests Limit
//!   exceeded.".
//! - `GET /services/data/`, `/sobjects/` (describeGlobal) and
//!   `/sobjects/{name}/describe` shaped as Salesforce's examples
//!   (`dome_describeGlobal.htm`, `dome_sobject_describe.htm`), with the
//!   Developer Edition's sample data as records.
//! - `/query` and `/queryAll` (`dome_query.htm`): the SOQL the connector
//!   writes, `SELECT fields FROM object [WHERE datetime-field op literal]
//!   [ORDER BY field [ASC|DESC]]` (anything else is a violation);
//!   `INVALID_TYPE`, `INVALID_FIELD`, `MALFORMED_QUERY` in Salesforce's
//!   words; `Sforce-Query-Options: batchSize` (200 to 2000), capped at
//!   [`Salesforce::batch`] so paging shows; `nextRecordsUrl`
//!   `/services/data/vXX.X/query/01g…-N`.
//! - Bulk API 2.0 query jobs (`query_create_job.htm`,
//!   `query_get_one_job.htm`, `query_get_job_results.htm` of
//!   <https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/>):
//!   `UploadComplete`, `InProgress` for [`Salesforce::bulk_polls`] polls,
//!   then `JobComplete`; results as quoted CSV, `maxRecords` at a time, the
//!   header in every set, `Sforce-Locator` (`null` after the last) and
//!   `Sforce-NumberOfRecords`. Compound fields fail the job, as there.
//! - Upsert by external id (`dome_upsert.htm`): `PATCH
//!   /sobjects/{object}/{field}/{value}` creates (201 `{"id", "success",
//!   "errors", "created": true}`) or updates (200, `"created": false`), 300
//!   when the value matches several records; `Id` or the external id field
//!   in the body, unknown or read-only fields are refused and recorded as
//!   violations (the connector must never send them); required fields,
//!   restricted picklists and lengths refused with `fields`. `DELETE` there
//!   moves the record to the recycle bin.

mod oauth;
mod org;
mod query;
mod write;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value, json};

use crate::support::Upstream;

/// The connected app's consumer key and secret.
pub const CLIENT_ID: &str =
    "3MVG9lKcPoNINVBIPJjdw1J9LLM82HnFVVX19KY1uA5mu0QqEWhqKpoW3svG3XHrXDiCQjK1mdgAvhCscA9GE";
pub const CLIENT_SECRET: &str = "1955279925675241571";
/// The user the JWT bearer flow signs in as.
pub const USERNAME: &str = "integration@wharf-demo.example";
pub const ORG_ID: &str = "00D5e000000Ab1cEAC";
pub const USER_ID: &str = "0055e000001XyZ1AAK";
/// API versions the org answers.
pub const VERSIONS: [&str; 4] = ["59.0", "60.0", "61.0", "62.0"];
/// A 2048-bit RSA key made for these tests (PKCS#8), whose certificate the
/// connected app would hold.
pub const RSA_KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCnfKB2WcNMNPGh
DlFZ0CJXD/luaNqDY2pwvk4goEzxgWbZDLNKlV6/hDgwJmcMxyNNyEyJFnnPbXC6
222+dGmVHA1l/LmOsr8qkqEsqqhf8XotQWtFUK0/fvw8s27I3JwMDpu1Zfa08o2B
XssDwSMAR5YwkN6pzcjBhDPz19MVoaFsOjLYi76BECSmu4GY7wcMP3BXL/L7N7aw
uon9t/eJgTvUU6LKooe22EMwBQ86MTUHkMv3YlPhW0bLD505exHyimCbfmE9QpYL
aioHit0WqWWZMUYQ8PazbURpelHjkIu8MpN7auPS7d9RMTS3B4p/vROHQZEpaii7
umSwyayVAgMBAAECggEAD9Fj4DmTCcf4SBMvmLFhBOLz1jsd5AnIHDTE8Szih26G
tZoO9szLoX/NxLJjyh+mlGqF2+6c+3ulCWi+4R1ieVwoYcjwB2uXRWCKy0qk00bd
mJeUl3vKmPQXw23Y2SyIqlTY3NVv6t/7gEvhFY4wjY61Pwn3lYbjXm9rbqyj+Wde
weNxkpOrqN3RBrVoUvt6o0c8XK1KARGEf6aCceIKfXhLEgmO+wkAdya1DRlBvvBn
VaZMN8npauC5+jIgQN9P1ODKjPR/7bVdoFvOnT7QDpWcguun3uwkx4YNRv6fw4Zs
6RXFQbaRFOHk8Xc5iHxEfeJFADOdK7O02sIcdOvG0wKBgQDdWGWcPrcsQF6t1HYn
SrvPYDxNULTbN/mCQB0IpkGAQPCmFVcYTGTHrohWQt47d0GioR5LwjSupVClKTUV
eQDhHdFMKjMqJQaPJS4oL+V9z7RXvLem37HaHtmHzE1wGOs4fmmrnnThOvag99jo
CG7M3ehCT1bs4AhgEJS/pBvbKwKBgQDBtY/UCncblpmFW8a0uUpKpUviR346jXk+
dnzzYGr5F6+P69YjG+hckzwLIKHxWMHwqIPWFsXntZf8hl2Klcpr4r0yupURp6j6
HBaeWQt/xR69zpIy0zFErB49fa74aNdlAVRBXh20MnfsQSRkb1LSbh67pnKJWRVT
rqS3L0m3PwKBgQCypekE7X1r4txH0qY2WlQxMQwantwJ3yirntGQLJfLSx6v/aNZ
AjeJDu4NKVUyi7NW7lGEdc+NcfIgC51DonE6QJWvspOvHUko+apCVz4TiDOXaMKV
lhB26tVJjHSn2ATpiOYC1RaivrNWAhR4Wm4LPcN62YxgDQXVeyyDbJHrFwKBgB+i
ljWr693Oj43u+hmjtRVRv33Z7SyE1Es2MJvSoEXD74ESo+sh8KXFyeWLU8dFlo7G
BpndKD76MjMkgnxSkDdkVT/Gpve2KOuH0M3VfwJD4AxhgxDX2tD7RwkF0KBzBtJR
EECIrVMzdtBXpyjb4WvKXiyJN2Vk7g23lODx0RkjAoGBALZIf7sUR4MshxgzWIrk
0gjr1/WMuVE99GzViORS9Q0V2aXlyIknFNTPEmjigeQec0eBuS0u+cg58dRXeh0J
UYPCMoDcWKYMwYtZCqNMwk0JlB+f+bsLfHt2S44Lr1bT4+V62TOh/Q0ITVGBwblg
0UnM3fhvgswwXKR6Dxl00J9J
-----END PRIVATE KEY-----
";

const JSON_UTF8: &str = "application/json;charset=UTF-8";

#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub uri: String,
    pub status: u16,
}

/// An object: its describe and its rows (deleted ones stay, `IsDeleted`).
#[derive(Clone, Debug)]
pub struct Object {
    pub label: String,
    pub prefix: &'static str,
    pub fields: Vec<Value>,
    pub rows: Vec<Map<String, Value>>,
}

/// A Bulk API 2.0 query job: its info and the CSV it read.
struct Job {
    info: Value,
    polls: u32,
    csv: Vec<String>,
    header: String,
}

/// An authorization code's redirect URI, PKCE challenge and scope.
struct Code(String, Option<String>, String, Instant);

pub struct Salesforce {
    /// By API name.
    pub objects: BTreeMap<String, Object>,
    /// Requests the documentation refuses, and what the fake does not model.
    pub violations: Vec<String>,
    pub seen: Vec<Seen>,
    /// Every SOQL statement run: (`query`, `queryAll` or `bulk`, statement).
    pub soql: Vec<(String, String)>,
    /// The most records a `/query` page holds.
    pub batch: usize,
    /// API calls an access token is good for (None: until it is revoked).
    pub token_uses: Option<u32>,
    /// The org's daily API requests: used, allowed.
    pub api_used: u64,
    pub api_limit: u64,
    /// Polls a Bulk job answers `InProgress` before `JobComplete`.
    pub bulk_polls: u32,
    pub refreshes: u32,
    pub jwt_grants: u32,
    /// Every access and refresh token issued, for leak checks.
    pub issued: Vec<String>,
    /// Each upsert or delete by external id: object, value, status.
    pub writes: Vec<(String, String, u16)>,
    /// The app's callback URLs (matched exactly); empty takes any.
    pub redirect_uris: Vec<String>,
    origin: String,
    jwt_public: Vec<u8>,
    codes: BTreeMap<String, Code>,
    access: BTreeMap<String, Option<u32>>,
    refresh: Vec<String>,
    cursors: BTreeMap<String, Vec<Value>>,
    jobs: BTreeMap<String, Job>,
    counter: u64,
}

pub type Shared = Arc<Mutex<Salesforce>>;

fn lock(s: &Shared) -> MutexGuard<'_, Salesforce> {
    s.lock().unwrap_or_else(PoisonError::into_inner)
}

pub fn now() -> i64 {
    wharf_sdk::time::now_ms().div_euclid(1000)
}

/// A datetime as the REST API writes it: `2024-03-01T09:00:00.000+0000`.
pub fn stamp(secs: i64) -> String {
    let text = wharf_sdk::time::rfc3339(secs);
    format!("{}.000+0000", text.trim_end_matches('Z'))
}

/// Unix seconds of a stored datetime or a SOQL literal (UTC only).
fn secs(text: &str) -> Option<i64> {
    let t = ["+0000", "+00:00", "Z"]
        .iter()
        .find_map(|s| text.strip_suffix(*s))?;
    wharf_sdk::time::from_rfc3339_utc(&format!("{t}Z"))
}

/// The public key (RSAPublicKey DER) of a PKCS#8 PEM.
fn public_key(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = STANDARD.decode(body).expect("the test key is base64");
    let pair = ring::signature::RsaKeyPair::from_pkcs8(&der).expect("the test key is RSA");
    let public: &[u8] = pair.public().as_ref();
    public.to_vec()
}

impl Default for Salesforce {
    fn default() -> Self {
        Salesforce {
            objects: BTreeMap::new(),
            violations: Vec::new(),
            seen: Vec::new(),
            soql: Vec::new(),
            batch: 2000,
            token_uses: None,
            api_used: 0,
            api_limit: 15_000,
            bulk_polls: 1,
            refreshes: 0,
            jwt_grants: 0,
            issued: Vec::new(),
            writes: Vec::new(),
            redirect_uris: Vec::new(),
            origin: String::new(),
            jwt_public: public_key(RSA_KEY_PEM),
            codes: BTreeMap::new(),
            access: BTreeMap::new(),
            refresh: Vec::new(),
            cursors: BTreeMap::new(),
            jobs: BTreeMap::new(),
            counter: 0,
        }
    }
}

pub async fn start(org: Salesforce) -> (Upstream, Shared) {
    let shared = Arc::new(Mutex::new(org));
    let app = Router::new().fallback(serve).with_state(shared.clone());
    let up = Upstream::start(app).await;
    lock(&shared).origin = up.origin();
    (up, shared)
}

/// A request's method, path, decoded query, headers and body.
struct Call<'a> {
    method: &'a str,
    path: &'a str,
    query: &'a [(String, String)],
    headers: &'a HeaderMap,
    body: &'a [u8],
}

impl Call<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn serve(State(s): State<Shared>, request: Request) -> Response {
    let method = request.method().to_string();
    let uri = request.uri().to_string();
    let path = request.uri().path().to_string();
    let raw = request.uri().query().unwrap_or_default().to_string();
    let query: Vec<(String, String)> = serde_urlencoded::from_str(&raw).unwrap_or_default();
    let headers = request.headers().clone();
    let body = axum::body::to_bytes(request.into_body(), 16 << 20)
        .await
        .unwrap_or_default();
    let call = Call {
        method: &method,
        path: &path,
        query: &query,
        headers: &headers,
        body: &body,
    };
    let mut f = lock(&s);
    let response = f.route(&call);
    let status = response.status().as_u16();
    f.seen.push(Seen {
        method: method.clone(),
        uri,
        status,
    });
    response
}

fn answer(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, JSON_UTF8)],
        body.to_string(),
    )
        .into_response()
}

/// Salesforce's error array.
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    answer(status, &json!([{"message": message, "errorCode": code}]))
}

fn field_error(code: &str, message: &str, field: &str) -> Response {
    answer(
        StatusCode::BAD_REQUEST,
        &json!([{"message": message, "errorCode": code, "fields": [field]}]),
    )
}

fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "The requested resource does not exist",
    )
}

fn oauth_error(error: &str, description: &str) -> Response {
    answer(
        StatusCode::BAD_REQUEST,
        &json!({"error": error, "error_description": description}),
    )
}

fn random(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    getrandom::fill(&mut b).expect("randomness");
    URL_SAFE_NO_PAD.encode(b)
}

impl Salesforce {
    fn route(&mut self, c: &Call) -> Response {
        match (c.method, c.path) {
            ("GET", "/services/oauth2/authorize") => self.authorize(c),
            ("POST", "/services/oauth2/token") => self.token(c),
            ("GET", "/services/data" | "/services/data/") => {
                let list: Vec<Value> = VERSIONS
                    .iter()
                    .map(|v| json!({"label": "Winter '25", "url": format!("/services/data/v{v}"), "version": v}))
                    .collect();
                answer(StatusCode::OK, &Value::Array(list))
            }
            _ if c.path.starts_with("/services/data/v") => self.api(c),
            _ => {
                self.violations
                    .push(format!("{} {}: not a Salesforce path", c.method, c.path));
                not_found()
            }
        }
    }

    /// The REST API: version, session and limits, then the resource.
    fn api(&mut self, c: &Call) -> Response {
        let rest = c.path.trim_start_matches("/services/data/v");
        let (version, tail) = rest.split_once('/').unwrap_or((rest, ""));
        if !VERSIONS.contains(&version) {
            return not_found();
        }
        let token = c
            .header("authorization")
            .and_then(|a| a.strip_prefix("Bearer "))
            .unwrap_or_default()
            .to_string();
        let good = match self.access.get_mut(&token) {
            Some(Some(0)) | None => false,
            Some(Some(n)) => {
                *n -= 1;
                true
            }
            Some(None) => true,
        };
        if !good {
            self.access.remove(&token);
            let mut r = error(
                StatusCode::UNAUTHORIZED,
                "INVALID_SESSION_ID",
                "Session expired or invalid",
            );
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Token"));
            return r;
        }
        let mut r = if self.api_used >= self.api_limit {
            error(
                StatusCode::FORBIDDEN,
                "REQUEST_LIMIT_EXCEEDED",
                "TotalRequests Limit exceeded.",
            )
        } else {
            self.api_used += 1;
            self.resource(c, version, tail)
        };
        let usage = format!("api-usage={}/{}", self.api_used, self.api_limit);
        r.headers_mut().insert(
            "sforce-limit-info",
            HeaderValue::from_str(&usage).expect("ascii"),
        );
        r
    }

    fn resource(&mut self, c: &Call, version: &str, tail: &str) -> Response {
        let parts: Vec<&str> = tail.trim_end_matches('/').split('/').collect();
        match (c.method, parts.as_slice()) {
            ("GET", [""]) => answer(
                StatusCode::OK,
                &json!({"sobjects": format!("/services/data/v{version}/sobjects"),
                "query": format!("/services/data/v{version}/query"), "jobs": format!("/services/data/v{version}/jobs")}),
            ),
            ("GET", ["sobjects"]) => self.global(version),
            ("GET", ["sobjects", name, "describe"]) => self.describe(version, name),
            ("GET", [kind @ ("query" | "queryAll")]) => self.query(c, version, *kind == "queryAll"),
            ("GET", ["query" | "queryAll", locator]) => self.more(version, locator),
            ("POST", ["jobs", "query"]) => self.create_job(c, version),
            ("GET", ["jobs", "query", id]) => match self.jobs.get_mut(*id) {
                Some(job) => {
                    job.polls += 1;
                    if job.info["state"] != "Failed" {
                        let done = job.polls > self.bulk_polls;
                        job.info["state"] = json!(if done { "JobComplete" } else { "InProgress" });
                    }
                    answer(StatusCode::OK, &job.info)
                }
                None => not_found(),
            },
            ("GET", ["jobs", "query", id, "results"]) => self.results(c, id),
            ("DELETE", ["jobs", "query", id]) => match self.jobs.remove(*id) {
                Some(_) => StatusCode::NO_CONTENT.into_response(),
                None => not_found(),
            },
            ("PATCH", ["sobjects", object, field, value]) => {
                self.upsert(c, version, object, field, value)
            }
            ("DELETE", ["sobjects", object, field, value]) => self.remove(object, field, value),
            _ => {
                self.violations
                    .push(format!("{} {}: not modelled", c.method, c.path));
                not_found()
            }
        }
    }

    fn global(&self, version: &str) -> Response {
        let sobjects: Vec<Value> = self
            .objects
            .iter()
            .map(|(name, o)| {
                let urls = json!({"sobject": format!("/services/data/v{version}/sobjects/{name}"),
                    "describe": format!("/services/data/v{version}/sobjects/{name}/describe"),
                    "rowTemplate": format!("/services/data/v{version}/sobjects/{name}/{{ID}}")});
                json!({"activateable": false, "createable": true, "custom": name.ends_with("__c"), "customSetting": false,
                    "deletable": name != "User", "deprecatedAndHidden": false, "feedEnabled": true, "keyPrefix": o.prefix,
                    "label": o.label, "labelPlural": format!("{}s", o.label), "layoutable": true, "mergeable": false,
                    "name": name, "queryable": true, "replicateable": true, "retrieveable": true, "searchable": true,
                    "triggerable": true, "undeletable": name != "User", "updateable": true, "urls": urls})
            })
            .collect();
        answer(
            StatusCode::OK,
            &json!({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": sobjects}),
        )
    }

    fn describe(&self, version: &str, name: &str) -> Response {
        let Some(key) = self.object_named(name) else {
            return not_found();
        };
        let o = &self.objects[&key];
        answer(
            StatusCode::OK,
            &json!({"name": key, "label": o.label, "labelPlural": format!("{}s", o.label),
            "keyPrefix": o.prefix, "custom": false, "createable": true, "updateable": true, "deletable": key != "User",
            "queryable": true, "retrieveable": true, "replicateable": true, "fields": o.fields,
            "childRelationships": [], "recordTypeInfos": [],
            "urls": {"sobject": format!("/services/data/v{version}/sobjects/{key}")}}),
        )
    }
}
