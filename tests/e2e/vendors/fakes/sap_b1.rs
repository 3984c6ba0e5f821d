//! A fake SAP Business One Service Layer over HTTPS with a certificate of
//! its own CA, as on-premises installations serve it, at `/b1s/v2` (OData
//! v4) or `/b1s/v1` (OData v3). Built from SAP's documentation (details,
//! gaps and sources in `docs/vendors/sap-b1.md`):
//!
//! - "Working with SAP Business One Service Layer" (help.sap.com,
//!   <https://help.sap.com/doc/0d2533ad95ba4ad7a702e83570a21c32/9.3/en-US/Working_with_SAP_Business_One_Service_Layer.pdf>):
//!   `POST /Login` with `CompanyDB`, `UserName`, `Password`, answered with
//!   `SessionId`, `Version`, `SessionTimeout` (30 minutes) and the cookies
//!   `B1SESSION` and `ROUTEID` (the load balancer's route, which every
//!   request must carry); each request extends the session; without a
//!   valid one, `401` and error `301` "Invalid session or session already
//!   timeout."; `POST /Logout` ends it. Entities are created with `POST
//!   /{Set}` (`201` and the entity), updated with `PATCH /{Set}({key})`
//!   (`204`; collections merged by line number unless
//!   `B1S-ReplaceCollectionsOnPatch: true`), deleted with `DELETE`; documents
//!   are cancelled with `POST /{Set}({key})/Cancel`.
//! - "OData Client for Service Layer" (SAP, 2021): server-driven paging,
//!   20 entities a page unless `Prefer: odata.maxpagesize=N` (answered with
//!   `Preference-Applied`; `0` turns paging off), the next page as a link
//!   relative to the service root (`Items?…&$skip=20`) in `@odata.nextLink`
//!   (v4) or `odata.nextLink` (v3); `$filter`, `$select`, `$orderby`,
//!   `$top`, `$skip`.
//! - Error bodies: v3 `{"error": {"code": 301, "message": {"lang": "en-us",
//!   "value": …}}}`, v4 `{"error": {"code": "-2028", "details": […],
//!   "message": "No matching records found (ODBC -2028)"}}` (`404` for a key
//!   SAP does not have), as SAP's clients parse them
//!   (<https://github.com/bgmulinari/B1SLayer>, `SLResponseError.cs`).
//! - The properties of each entity type from the Service Layer's
//!   `$metadata` (SAP Business One 10): business partners, items and
//!   documents have `UpdateDate` and `UpdateTime`; journal entries,
//!   payments and the chart of accounts have neither. A property an entity
//!   type does not have is refused ("Property 'X' of 'Y' is invalid").
//!
//! What it refused or found wrong is in [`B1::violations`]; sessions can be
//! ended from the test ([`B1::expire_sessions`], [`B1::expire_after`]).

mod data;
mod odata;
mod tls;
mod writes;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Response};
use serde_json::{Map, Value, json};

pub use data::line;

pub const USERNAME: &str = "manager";
pub const PASSWORD: &str = "B1-s3cret-Pa55!";
pub const COMPANY_DB: &str = "SBODEMOUS";
/// `SessionTimeout`, in minutes (the Service Layer's default).
pub const SESSION_MINUTES: u64 = 30;
/// Entities a page without `Prefer: odata.maxpagesize`.
pub const DEFAULT_PAGE: usize = 20;

/// A request the fake answered.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// The path after `/b1s/v2/`, decoded (`BusinessPartners('C20000')`).
    pub path: String,
    pub query: Vec<(String, String)>,
    pub prefer: Option<String>,
    pub replace_collections: bool,
    pub status: u16,
}

pub struct B1 {
    /// `v1` or `v2`.
    pub version: &'static str,
    pub sets: BTreeMap<String, Vec<Value>>,
    pub logins: u32,
    pub refused_logins: u32,
    /// The cookies of each logout.
    pub logouts: Vec<String>,
    /// `401`s for a missing or ended session.
    pub invalid_session: u32,
    pub violations: Vec<String>,
    pub seen: Vec<Seen>,
    /// Every `$filter`, decoded, with its entity set.
    pub filters: Vec<(String, String)>,
    /// Every session id issued, for leak checks.
    pub issued: Vec<String>,
    sessions: BTreeMap<String, Instant>,
    /// End every session after this many more answered requests.
    expire_in: Option<u32>,
    /// Minutes into the fake's "today" (its clock for `UpdateTime`).
    minutes: u32,
}

pub type Shared = Arc<Mutex<B1>>;

/// The fake, running.
pub struct ServiceLayer {
    /// `https://127.0.0.1:PORT`
    pub origin: String,
    /// The CA that signed the server's certificate (PEM).
    pub ca_pem: String,
    pub b1: Shared,
    /// TLS handshakes a client broke off.
    pub refused_handshakes: Arc<AtomicU32>,
    _certs: tempfile::TempDir,
}

/// Start a Service Layer serving `version` (`v1` or `v2`).
pub async fn start(version: &'static str) -> ServiceLayer {
    let dir = tempfile::tempdir().unwrap();
    let (ca_pem, leaf, key) = tls::certificates(dir.path());
    let b1 = Arc::new(Mutex::new(B1 {
        version,
        sets: data::demo(version == "v1"),
        logins: 0,
        refused_logins: 0,
        logouts: Vec::new(),
        invalid_session: 0,
        violations: Vec::new(),
        seen: Vec::new(),
        filters: Vec::new(),
        issued: Vec::new(),
        sessions: BTreeMap::new(),
        expire_in: None,
        minutes: 9 * 60,
    }));
    let app = Router::new().fallback(handle).with_state(b1.clone());
    let refused = Arc::new(AtomicU32::new(0));
    let addr = tls::serve(app, &leaf, &key, refused.clone()).await;
    ServiceLayer {
        origin: format!("https://{addr}"),
        ca_pem,
        b1,
        refused_handshakes: refused,
        _certs: dir,
    }
}

async fn handle(State(b1): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let mut b1 = b1.lock().unwrap();
    b1.answer(&parts.method, &parts.uri, &parts.headers, &bytes)
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The value of cookie `name` in a `Cookie` header.
fn cookie(cookies: &str, name: &str) -> Option<String> {
    cookies
        .split(';')
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// `Set(key)` and `Set(key)/Action`: the set, the key, the action.
fn split_path(path: &str) -> (String, Option<Value>, Option<String>) {
    let Some(open) = path.find('(') else {
        return (path.to_string(), None, None);
    };
    let name = path[..open].to_string();
    let Some(close) = path.rfind(')') else {
        return (path.to_string(), None, None);
    };
    let literal = &path[open + 1..close];
    let key = match literal
        .strip_prefix('\'')
        .and_then(|l| l.strip_suffix('\''))
    {
        Some(text) => Some(Value::String(text.replace("''", "'"))),
        None => literal.parse::<i64>().ok().map(Value::from),
    };
    let action = path[close + 1..]
        .strip_prefix('/')
        .map(str::to_string)
        .filter(|a| !a.is_empty());
    (name, key, action)
}

impl B1 {
    /// The next minute of the fake's day, as `UpdateDate` and `UpdateTime`.
    fn tick(&mut self) -> (Value, String) {
        self.minutes += 1;
        let time = format!("{:02}:{:02}:00", self.minutes / 60 % 24, self.minutes % 60);
        (data::day("2026-12-07", self.version == "v1"), time)
    }

    /// Every session ends (as after 30 idle minutes).
    pub fn expire_sessions(&mut self) {
        let now = Instant::now();
        for end in self.sessions.values_mut() {
            *end = now;
        }
    }

    /// Every session ends once `n` more requests were answered: a session
    /// that ends in the middle of a run.
    pub fn expire_after(&mut self, n: u32) {
        self.expire_in = Some(n);
    }

    /// The rows of a set.
    pub fn rows(&self, set: &str) -> &[Value] {
        self.sets.get(set).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The row of `set` with key `key`.
    pub fn row(&self, set: &str, key: &Value) -> Option<&Value> {
        let (_, key_field) = data::set(set)?;
        self.rows(set).iter().find(|r| &r[key_field] == key)
    }

    /// Change a field of a row, as a user in SAP would: it is stamped now.
    pub fn touch(&mut self, set: &str, key: &Value, field: &str, value: Value) {
        let (day, time) = self.tick();
        let key_field = data::set(set).expect("a set").1;
        let row = self
            .sets
            .get_mut(set)
            .and_then(|rows| rows.iter_mut().find(|r| &r[key_field] == key))
            .expect("a row");
        row[field] = value;
        row["UpdateDate"] = day;
        row["UpdateTime"] = json!(time);
    }

    /// Add a row, stamped now when its type has stamps.
    pub fn add(&mut self, set: &str, mut row: Value) {
        let (entity_type, _) = data::set(set).expect("a set");
        if data::properties(entity_type).contains(&"UpdateDate") {
            let (day, time) = self.tick();
            row["UpdateDate"] = day;
            row["UpdateTime"] = json!(time);
        }
        self.sets.entry(set.to_string()).or_default().push(row);
    }

    /// The pages of `set` read since request number `since` (the probes of
    /// `check` and `discover` ask no page size and are left out).
    pub fn pages(&self, set: &str, since: usize) -> Vec<&Seen> {
        self.seen
            .iter()
            .skip(since)
            .filter(|s| s.method == "GET" && s.path == set && s.prefer.is_some())
            .collect()
    }

    fn error(&self, status: StatusCode, code: &str, message: &str) -> Response {
        let body = if self.version == "v1" {
            let code = code
                .parse::<i64>()
                .map_or_else(|_| Value::from(code), Value::from);
            json!({"error": {"code": code, "message": {"lang": "en-us", "value": message}}})
        } else {
            json!({"error": {"code": code, "details": [{"code": "", "message": ""}], "message": message}})
        };
        (status, axum::Json(body)).into_response()
    }

    fn refuse(&mut self, status: StatusCode, code: &str, message: &str) -> Response {
        self.violations.push(message.to_string());
        self.error(status, code, message)
    }

    fn answer(
        &mut self,
        method: &Method,
        uri: &axum::http::Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Response {
        let prefix = format!("/b1s/{}/", self.version);
        let Some(rest) = uri.path().strip_prefix(&prefix) else {
            let message = format!("{method} {}: not under {prefix}", uri.path());
            return self.refuse(StatusCode::NOT_FOUND, "-1", &message);
        };
        let path = percent_encoding::percent_decode_str(rest)
            .decode_utf8_lossy()
            .into_owned();
        let raw = uri.query().unwrap_or("");
        let prefer = header_text(headers, "prefer");
        let replace =
            header_text(headers, "b1s-replacecollectionsonpatch").as_deref() == Some("true");
        let response = match (method.as_str(), path.as_str()) {
            ("POST", "Login") => self.login(headers, body),
            ("POST", "Logout") => self.logout(headers),
            _ => match self.session(headers) {
                Err(refused) => refused,
                Ok(()) => self.resource(
                    method.as_str(),
                    &path,
                    raw,
                    prefer.as_deref(),
                    replace,
                    body,
                ),
            },
        };
        self.seen.push(Seen {
            method: method.to_string(),
            path: path.split('?').next().unwrap_or_default().to_string(),
            query: serde_urlencoded::from_str(raw).unwrap_or_default(),
            prefer,
            replace_collections: replace,
            status: response.status().as_u16(),
        });
        if let Some(n) = self.expire_in {
            if n <= 1 {
                self.expire_in = None;
                self.expire_sessions();
            } else {
                self.expire_in = Some(n - 1);
            }
        }
        response
    }

    fn login(&mut self, headers: &HeaderMap, body: &[u8]) -> Response {
        if !header_text(headers, "content-type").is_some_and(|c| c.starts_with("application/json"))
        {
            self.violations
                .push("a login without Content-Type: application/json".into());
        }
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        if v["CompanyDB"] != COMPANY_DB || v["UserName"] != USERNAME || v["Password"] != PASSWORD {
            self.refused_logins += 1;
            return self.error(StatusCode::UNAUTHORIZED, "100000027", "Login failed");
        }
        self.logins += 1;
        let id = format!(
            "0a1b2c3d-{:04x}-11ef-8000-5e55{:08x}",
            self.logins,
            self.logins * 7919
        );
        let timeout = Duration::from_secs(SESSION_MINUTES * 60);
        self.sessions.insert(id.clone(), Instant::now() + timeout);
        self.issued.push(id.clone());
        let answer = if self.version == "v1" {
            json!({"odata.metadata": "https://localhost:50000/b1s/v1/$metadata#B1Sessions/@Element",
                "SessionId": id, "Version": "1000190", "SessionTimeout": SESSION_MINUTES})
        } else {
            json!({"@odata.context": "https://localhost:50000/b1s/v2/$metadata#B1Sessions/$entity",
                "SessionId": id, "Version": "1000220", "SessionTimeout": SESSION_MINUTES})
        };
        (
            AppendHeaders([
                (header::SET_COOKIE, format!("B1SESSION={id};HttpOnly;")),
                (header::SET_COOKIE, "ROUTEID=.node1; path=/b1s".to_string()),
            ]),
            axum::Json(answer),
        )
            .into_response()
    }

    fn logout(&mut self, headers: &HeaderMap) -> Response {
        let cookies = header_text(headers, "cookie").unwrap_or_default();
        match cookie(&cookies, "B1SESSION") {
            Some(id) if self.sessions.remove(&id).is_some() => {
                self.logouts.push(cookies);
                StatusCode::NO_CONTENT.into_response()
            }
            _ => {
                self.invalid_session += 1;
                self.error(
                    StatusCode::UNAUTHORIZED,
                    "301",
                    "Invalid session or session already timeout.",
                )
            }
        }
    }

    /// The session of a request, extended by it.
    fn session(&mut self, headers: &HeaderMap) -> Result<(), Response> {
        let cookies = header_text(headers, "cookie").unwrap_or_default();
        let now = Instant::now();
        let id = cookie(&cookies, "B1SESSION")
            .filter(|id| self.sessions.get(id).is_some_and(|end| *end > now));
        let Some(id) = id else {
            self.invalid_session += 1;
            return Err(self.error(
                StatusCode::UNAUTHORIZED,
                "301",
                "Invalid session or session already timeout.",
            ));
        };
        if cookie(&cookies, "ROUTEID").as_deref() != Some(".node1") {
            self.violations.push("a request without its session's ROUTEID cookie (the load balancer cannot route it)".into());
        }
        self.sessions
            .insert(id, now + Duration::from_secs(SESSION_MINUTES * 60));
        Ok(())
    }

    fn resource(
        &mut self,
        method: &str,
        path: &str,
        raw: &str,
        prefer: Option<&str>,
        replace: bool,
        body: &[u8],
    ) -> Response {
        let (name, key, action) = split_path(path);
        let Some((entity_type, key_field)) = data::set(&name) else {
            let message = format!("Resource not found for the segment '{name}'");
            return self.refuse(StatusCode::NOT_FOUND, "-1", &message);
        };
        match (method, key, action.as_deref()) {
            ("GET", None, None) => self.list(&name, entity_type, raw, prefer),
            ("GET", Some(key), None) => match self.row(&name, &key).cloned() {
                Some(row) => axum::Json(row).into_response(),
                None => self.error(
                    StatusCode::NOT_FOUND,
                    "-2028",
                    "No matching records found (ODBC -2028)",
                ),
            },
            ("POST", None, None) => self.create(&name, entity_type, key_field, body),
            ("PATCH", Some(key), None) => {
                self.update(&name, entity_type, key_field, &key, body, replace)
            }
            ("DELETE", Some(key), None)
                if entity_type != "Document" && entity_type != "Payment" =>
            {
                let rows = self.sets.entry(name.clone()).or_default();
                let before = rows.len();
                rows.retain(|r| r[key_field] != key);
                if rows.len() < before {
                    StatusCode::NO_CONTENT.into_response()
                } else {
                    self.error(
                        StatusCode::NOT_FOUND,
                        "-2028",
                        "No matching records found (ODBC -2028)",
                    )
                }
            }
            ("POST", Some(key), Some("Cancel"))
                if key_field == "DocEntry" || key_field == "JdtNum" =>
            {
                let row = self
                    .sets
                    .get_mut(&name)
                    .and_then(|rows| rows.iter_mut().find(|r| r[key_field] == key));
                match row {
                    Some(row) => {
                        row["Cancelled"] = json!("tYES");
                        StatusCode::NO_CONTENT.into_response()
                    }
                    None => self.error(
                        StatusCode::NOT_FOUND,
                        "-2028",
                        "No matching records found (ODBC -2028)",
                    ),
                }
            }
            _ => {
                let message = format!(
                    "{method} {path} is not an operation of the Service Layer the fake models"
                );
                self.refuse(StatusCode::METHOD_NOT_ALLOWED, "-1", &message)
            }
        }
    }

    fn list(&mut self, name: &str, entity_type: &str, raw: &str, prefer: Option<&str>) -> Response {
        let query = match odata::Query::parse(raw) {
            Ok(q) => q,
            Err(e) => return self.refuse(StatusCode::BAD_REQUEST, "-1", &e),
        };
        if let Err(e) = query.check(
            entity_type,
            data::properties(entity_type),
            self.version == "v1",
        ) {
            return self.refuse(StatusCode::BAD_REQUEST, "-1", &e);
        }
        let size = match prefer.map(odata::max_page_size).transpose() {
            Ok(size) => size.flatten(),
            Err(e) => return self.refuse(StatusCode::BAD_REQUEST, "-1", &e),
        };
        if let Some(f) = &query.filter_text {
            self.filters.push((name.to_string(), f.clone()));
        }
        let rows = query.apply(self.rows(name));
        let page = size.unwrap_or(DEFAULT_PAGE).max(1);
        let limit = query.top.unwrap_or(usize::MAX);
        let start = query.skip.min(rows.len());
        let end = start.saturating_add(page.min(limit)).min(rows.len());
        let value: Vec<Value> = rows[start..end]
            .iter()
            .cloned()
            .map(|r| query.project(r))
            .collect();
        let link = (query.top.is_none() && end < rows.len()).then(|| {
            let sep = if query.rest.is_empty() { "" } else { "&" };
            format!("{name}?{}{sep}$skip={end}", query.rest)
        });
        let mut answer = Map::new();
        if self.version == "v1" {
            answer.insert(
                "odata.metadata".into(),
                json!(format!("https://localhost:50000/b1s/v1/$metadata#{name}")),
            );
            answer.insert("value".into(), Value::Array(value));
            if let Some(link) = link {
                answer.insert("odata.nextLink".into(), json!(link));
            }
        } else {
            answer.insert("@odata.context".into(), json!(format!("$metadata#{name}")));
            answer.insert("value".into(), Value::Array(value));
            if let Some(link) = link {
                answer.insert("@odata.nextLink".into(), json!(link));
            }
        }
        match size {
            Some(n) => {
                let applied = if n == usize::MAX { 0 } else { n };
                (
                    [("preference-applied", format!("odata.maxpagesize={applied}"))],
                    axum::Json(Value::Object(answer)),
                )
                    .into_response()
            }
            None => axum::Json(Value::Object(answer)).into_response(),
        }
    }
}
