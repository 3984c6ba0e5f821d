//! A fake Frappe site (ERPNext) on loopback, speaking the v1 REST API as
//! Frappe documents it and as its source implements it; the details and
//! their sources are in `docs/vendors/frappe.md`:
//!
//! - Token auth, `Authorization: token <api_key>:<api_secret>` (or Basic);
//!   a wrong key is `401 {"exc_type": "AuthenticationError"}`
//!   (<https://docs.frappe.io/framework/user/en/guides/integration/rest_api/token_based_authentication>,
//!   `frappe/auth.py`).
//! - `GET /api/resource/{doctype}` with `fields`, `filters`, `order_by`,
//!   `limit_start`, `limit_page_length` (default 20; 0 is all), answering
//!   `{"data": [...]}` with list rows that hold `null`s; the default order
//!   is `modified desc`
//!   (<https://docs.frappe.io/framework/user/en/guides/integration/rest_api/listing_documents>,
//!   `frappe/api/v1.py`).
//! - `GET`/`PUT`/`DELETE /api/resource/{doctype}/{name}` and `POST
//!   /api/resource/{doctype}`: documents without nulls, PUT merges like a
//!   PATCH, DELETE is `202 {"data": "ok"}`
//!   (<https://docs.frappe.io/framework/user/en/api/rest>).
//! - Errors by exception class: 417 validation (`MandatoryError`,
//!   `TimestampMismatchError`, a Select value out of its options), 404
//!   `DoesNotExistError`, 409 `DuplicateEntryError`, with the messages in
//!   `_server_messages` (JSON text of JSON texts); HTML error pages to a
//!   client that does not accept JSON (`frappe/exceptions.py`,
//!   `frappe/utils/response.py`, `frappe/app.py`).
//! - The site rate limiter: `429` with `Retry-After` and `X-RateLimit-*`
//!   (<https://docs.frappe.io/framework/user/en/rate-limiting>).
//! - `GET /api/method/frappe.auth.get_logged_user` → `{"message": user}`.
//!
//! Payloads are the documentation's examples (ToDo, Customer).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::support::Upstream;

pub const KEY: &str = "4f1c2a9e7b3d5c6";
pub const SECRET: &str = "9a8b7c6d5e4f3a2";
pub const USER: &str = "jane@example.com";

use super::frappe_site::standard;
pub use super::frappe_site::{Seen, Site, erpnext_site};

pub type Shared = Arc<Mutex<Site>>;

/// Serve `site`.
pub async fn start(site: Site) -> (Upstream, Shared) {
    let shared = Arc::new(Mutex::new(site));
    let app = Router::new()
        .route("/api/method/frappe.auth.get_logged_user", get(logged_user))
        .route("/api/resource/{doctype}", get(list).post(insert))
        .route(
            "/api/resource/{doctype}/{name}",
            get(read).put(update).delete(remove),
        )
        .layer(axum::middleware::from_fn_with_state(shared.clone(), gate))
        .with_state(shared.clone());
    (Upstream::start(app).await, shared)
}

/// Authentication, the rate limiter, JSON-or-HTML errors, and the log.
async fn gate(
    State(site): State<Shared>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let method = request.method().to_string();
    let uri = request.uri().to_string();
    let headers = request.headers().clone();
    let wants_json = headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"));
    let throttled = {
        let mut s = site.lock().unwrap();
        let listing = method == "GET" && request.uri().path().starts_with("/api/resource/");
        if listing && s.throttle > 0 {
            s.throttle -= 1;
            true
        } else {
            false
        }
    };
    let response = if !authorized(&headers) {
        error(StatusCode::UNAUTHORIZED, "AuthenticationError", None)
    } else if throttled {
        let mut r = error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequestsError", None);
        for (k, v) in [
            ("retry-after", "1"),
            ("x-ratelimit-limit", "300"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1"),
        ] {
            r.headers_mut().insert(k, v.parse().unwrap());
        }
        r
    } else {
        next.run(request).await
    };
    let status = response.status();
    site.lock().unwrap().seen.push(Seen {
        method,
        uri,
        status: status.as_u16(),
        at: Instant::now(),
    });
    if status.is_client_error() && !wants_json {
        // Older Frappe answers a client that does not ask for JSON with
        // its HTML error page.
        return (
            status,
            [("content-type", "text/html")],
            "<html><body><h1>Error</h1></body></html>",
        )
            .into_response();
    }
    response
}

fn authorized(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some((scheme, token)) = value.split_once(' ') else {
        return false;
    };
    let pair = match scheme.to_ascii_lowercase().as_str() {
        "token" => token.to_string(),
        "basic" => base64::engine::general_purpose::STANDARD
            .decode(token)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default(),
        _ => return false,
    };
    pair == format!("{KEY}:{SECRET}")
}

/// A Frappe error body: `exc_type`, and the messages as JSON text of JSON
/// texts.
fn error(status: StatusCode, exc_type: &str, message: Option<&str>) -> Response {
    let mut body = json!({"exc_type": exc_type});
    if let Some(m) = message {
        let inner =
            json!({"message": m, "title": "Message", "indicator": "red", "raise_exception": 1})
                .to_string();
        body["_server_messages"] = Value::String(json!([inner]).to_string());
    }
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn logged_user() -> Response {
    axum::Json(json!({"message": USER})).into_response()
}

fn params(query: Option<String>) -> Result<BTreeMap<String, String>, Response> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    let mut map = BTreeMap::new();
    for (k, v) in pairs {
        if map.insert(k.clone(), v).is_some() {
            // Werkzeug would keep one of them silently; a connector that
            // sends a parameter twice has a bug the test should see.
            return Err(error(
                StatusCode::BAD_REQUEST,
                "ValidationError",
                Some(&format!("{k} given twice")),
            ));
        }
    }
    Ok(map)
}

async fn list(
    State(site): State<Shared>,
    Path(doctype): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let p = match params(query) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let s = site.lock().unwrap();
    let Some(meta) = s.doc("DocType", &doctype) else {
        return error(
            StatusCode::NOT_FOUND,
            "DoesNotExistError",
            Some(&format!("DocType {doctype} not found")),
        );
    };
    let columns: Vec<String> = meta["fields"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(|f| f["fieldname"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let fields: Vec<String> = match p.get("fields") {
        Some(f) => match serde_json::from_str(f) {
            Ok(f) => f,
            Err(_) => {
                return error(
                    StatusCode::EXPECTATION_FAILED,
                    "ValidationError",
                    Some("fields must be a JSON list"),
                );
            }
        },
        None => vec!["name".into()],
    };
    let filters: Vec<Value> = match p
        .get("filters")
        .map(|f| serde_json::from_str::<Vec<Value>>(f))
    {
        None => Vec::new(),
        Some(Ok(f)) => f,
        Some(Err(_)) => {
            return error(
                StatusCode::EXPECTATION_FAILED,
                "ValidationError",
                Some("filters must be a JSON list"),
            );
        }
    };
    let mut rows: Vec<&Map<String, Value>> = Vec::new();
    for doc in s.of(&doctype) {
        match filters
            .iter()
            .try_fold(true, |all, f| matches(doc, f).map(|m| all && m))
        {
            Ok(true) => rows.push(doc),
            Ok(false) => {}
            Err(m) => return error(StatusCode::EXPECTATION_FAILED, "ValidationError", Some(&m)),
        }
    }
    let order = p
        .get("order_by")
        .cloned()
        .unwrap_or_else(|| "modified desc".into());
    rows.sort_by(|a, b| {
        for part in order.split(',') {
            let mut words = part.split_whitespace();
            let f = words.next().unwrap_or("modified").trim_matches('`');
            let desc = words.next().is_some_and(|d| d.eq_ignore_ascii_case("desc"));
            let o = text(a.get(f)).cmp(&text(b.get(f)));
            let o = if desc { o.reverse() } else { o };
            if o.is_ne() {
                return o;
            }
        }
        std::cmp::Ordering::Equal
    });
    let start: usize = p
        .get("limit_start")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let length: usize = p
        .get("limit_page_length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let length = if length == 0 { usize::MAX } else { length };
    let all = fields.iter().any(|f| f == "*");
    let data: Vec<Value> = rows
        .into_iter()
        .skip(start)
        .take(length)
        .map(|doc| {
            let mut row = Map::new();
            let wanted: Vec<String> = if all {
                [
                    "name",
                    "owner",
                    "creation",
                    "modified",
                    "modified_by",
                    "docstatus",
                    "idx",
                ]
                .iter()
                .map(|s| s.to_string())
                .chain(columns.iter().cloned())
                .collect()
            } else {
                fields.clone()
            };
            for f in wanted {
                // Table fields are not columns of the list query.
                if doc.get(&f).is_some_and(Value::is_array) {
                    continue;
                }
                row.insert(f.clone(), doc.get(&f).cloned().unwrap_or(Value::Null));
            }
            Value::Object(row)
        })
        .collect();
    axum::Json(json!({"data": data})).into_response()
}

fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// One `[field, op, value]` filter.
fn matches(doc: &Map<String, Value>, filter: &Value) -> Result<bool, String> {
    let parts = filter.as_array().ok_or("a filter must be a list")?;
    let (f, op, v) = match parts.as_slice() {
        [f, op, v] | [_, f, op, v] => (f, op, v),
        _ => return Err(format!("malformed filter {filter}")),
    };
    let have = doc.get(f.as_str().unwrap_or_default());
    let (have_text, want) = (text(have), text(Some(v)));
    let ordering = match (have.and_then(Value::as_f64), v.as_f64()) {
        (Some(a), Some(b)) => a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
        _ => have_text.cmp(&want),
    };
    Ok(match op.as_str().unwrap_or_default() {
        "=" => ordering.is_eq(),
        "!=" => ordering.is_ne(),
        ">" => ordering.is_gt(),
        ">=" => ordering.is_ge(),
        "<" => ordering.is_lt(),
        "<=" => ordering.is_le(),
        other => return Err(format!("Operator {other} not supported by this fake")),
    })
}

async fn read(
    State(site): State<Shared>,
    Path((doctype, name)): Path<(String, String)>,
) -> Response {
    let s = site.lock().unwrap();
    match s.doc(&doctype, &name) {
        Some(doc) => axum::Json(json!({"data": without_nulls(doc)})).into_response(),
        None => not_found(&doctype, &name),
    }
}

fn not_found(doctype: &str, name: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "DoesNotExistError",
        Some(&format!("{doctype} {name} not found")),
    )
}

fn without_nulls(doc: &Map<String, Value>) -> Value {
    Value::Object(
        doc.iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

/// Mandatory fields and Select options, as `Document.validate` checks them.
fn validate(s: &Site, doctype: &str, doc: &Map<String, Value>) -> Result<(), Response> {
    let Some(meta) = s.doc("DocType", doctype) else {
        return Err(error(
            StatusCode::NOT_FOUND,
            "DoesNotExistError",
            Some(&format!("DocType {doctype} not found")),
        ));
    };
    for f in meta["fields"].as_array().into_iter().flatten() {
        let name = f["fieldname"].as_str().unwrap_or_default();
        let label = f["label"].as_str().unwrap_or(name);
        let value = doc.get(name);
        let empty = value.is_none_or(|v| v.is_null() || v == "");
        if f["reqd"] == 1 && empty {
            return Err(error(
                StatusCode::EXPECTATION_FAILED,
                "MandatoryError",
                Some(&format!("Error: Value missing for {doctype}: {label}")),
            ));
        }
        if f["fieldtype"] == "Select" && !empty {
            let options: Vec<&str> = f["options"].as_str().unwrap_or_default().lines().collect();
            let v = text(value);
            if !options.contains(&v.as_str()) {
                let quoted: Vec<String> = options.iter().map(|o| format!("\"{o}\"")).collect();
                return Err(error(
                    StatusCode::EXPECTATION_FAILED,
                    "ValidationError",
                    Some(&format!(
                        "<strong>{label}</strong> cannot be \"{v}\". It should be one of {}",
                        quoted.join(", ")
                    )),
                ));
            }
        }
    }
    Ok(())
}

fn body_object(body: &Bytes) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(error(
            StatusCode::EXPECTATION_FAILED,
            "ValidationError",
            Some("the body must be a JSON object"),
        )),
    }
}

async fn insert(
    State(site): State<Shared>,
    Path(doctype): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !headers
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"))
    {
        return error(
            StatusCode::EXPECTATION_FAILED,
            "ValidationError",
            Some("send the document as JSON"),
        );
    }
    let mut doc = match body_object(&body) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let mut s = site.lock().unwrap();
    if let Err(r) = validate(&s, &doctype, &doc) {
        return r;
    }
    let name = match doc.get("name").and_then(Value::as_str) {
        Some(n) => n.to_string(),
        None => format!(
            "{:010x}",
            0x9e37_79b9_u64.wrapping_mul(u64::from(s.clock) + 11)
        ),
    };
    if s.doc(&doctype, &name).is_some() {
        return error(
            StatusCode::CONFLICT,
            "DuplicateEntryError",
            Some(&format!("{doctype} {name} already exists")),
        );
    }
    let at = s.tick();
    doc.insert("name".into(), name.into());
    doc.extend(standard(&doctype, &at));
    s.docs.entry(doctype).or_default().push(doc.clone());
    axum::Json(json!({"data": without_nulls(&doc)})).into_response()
}

async fn update(
    State(site): State<Shared>,
    Path((doctype, name)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let changes = match body_object(&body) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let mut s = site.lock().unwrap();
    let Some(current) = s.doc(&doctype, &name).cloned() else {
        return not_found(&doctype, &name);
    };
    if changes
        .get("modified")
        .is_some_and(|m| *m != current["modified"])
    {
        return error(
            StatusCode::EXPECTATION_FAILED,
            "TimestampMismatchError",
            Some(
                "Error: Document has been modified after you have opened it. Please refresh to get the latest document.",
            ),
        );
    }
    let mut merged = current;
    merged.extend(changes);
    merged.insert("name".into(), name.clone().into());
    if let Err(r) = validate(&s, &doctype, &merged) {
        return r;
    }
    merged.insert("modified".into(), s.tick().into());
    let docs = s.docs.get_mut(&doctype).unwrap();
    let slot = docs.iter_mut().find(|d| d["name"] == name).unwrap();
    *slot = merged.clone();
    axum::Json(json!({"data": without_nulls(&merged)})).into_response()
}

async fn remove(
    State(site): State<Shared>,
    Path((doctype, name)): Path<(String, String)>,
) -> Response {
    let mut s = site.lock().unwrap();
    let Some(docs) = s.docs.get_mut(&doctype) else {
        return not_found(&doctype, &name);
    };
    let before = docs.len();
    docs.retain(|d| d["name"] != name);
    if docs.len() == before {
        return not_found(&doctype, &name);
    }
    (StatusCode::ACCEPTED, axum::Json(json!({"data": "ok"}))).into_response()
}
