//! Fake upstreams that speak like real APIs: a paginated source (page
//! number, cursor token, Link header; incremental by `updated_since`) and
//! a destination that stores records by key and counts every write.
//!
//! Both are strict: every route refuses a missing or wrong bearer token
//! with `401`, and (like many real APIs) the refusal echoes the credential
//! it was given, so a test can tell whether the host redacts it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, put};
use serde_json::{Value, json};

use crate::support::Upstream;

/// One item of the source system.
#[derive(Clone, Debug)]
pub struct Item {
    pub id: u64,
    pub name: String,
    pub price: String,
    pub status: &'static str,
    pub updated_at: String,
}

impl Item {
    pub fn new(id: u64, minute: u64) -> Self {
        Self {
            id,
            name: format!("Item {id}"),
            price: format!("{}.50", id * 3),
            status: if id.is_multiple_of(10) {
                "archived"
            } else {
                "active"
            },
            updated_at: format!("2024-05-01T10:{minute:02}:00Z"),
        }
    }

    fn json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "price": { "amount": self.price, "currency": "EUR" },
            "status": self.status,
            "updated_at": self.updated_at,
        })
    }
}

/// The source's data and a log of the requests it served.
#[derive(Default)]
pub struct SourceState {
    pub items: Vec<Item>,
    pub requests: Vec<String>,
    pub token: Option<String>,
}

pub type Shared<T> = Arc<Mutex<T>>;

#[derive(serde::Deserialize)]
struct Params {
    page: Option<usize>,
    per_page: Option<usize>,
    after: Option<u64>,
    limit: Option<usize>,
    updated_since: Option<String>,
}

fn visible(state: &SourceState, since: &Option<String>) -> Vec<Item> {
    let mut items: Vec<Item> = state
        .items
        .iter()
        .filter(|i| since.as_ref().is_none_or(|s| i.updated_at > *s))
        .cloned()
        .collect();
    items.sort_by_key(|i| i.id);
    items
}

fn authorized(state: &SourceState, headers: &HeaderMap) -> bool {
    bearer_ok(state.token.as_deref(), headers)
}

fn bearer_ok(token: Option<&str>, headers: &HeaderMap) -> bool {
    match token {
        None => true,
        Some(t) => headers
            .get("authorization")
            .is_some_and(|v| v.to_str().ok() == Some(&format!("Bearer {t}"))),
    }
}

/// `401` with the credential that was presented, echoed back.
fn refused(headers: &HeaderMap) -> (StatusCode, axum::Json<Value>) {
    let presented = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("nothing");
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({"error": "bad token", "presented": presented})),
    )
}

/// Start the paginated source.
pub async fn source(items: Vec<Item>, token: Option<&str>) -> (Upstream, Shared<SourceState>) {
    let state = Arc::new(Mutex::new(SourceState {
        items,
        requests: Vec::new(),
        token: token.map(str::to_string),
    }));
    let app = Router::new()
        .route("/api/page-items", get(page_items))
        .route("/api/cursor-items", get(cursor_items))
        .route("/api/link-items", get(link_items))
        .with_state(state.clone());
    (Upstream::start(app).await, state)
}

async fn page_items(
    State(state): State<Shared<SourceState>>,
    headers: HeaderMap,
    Query(p): Query<Params>,
) -> impl IntoResponse {
    let mut s = state.lock().unwrap();
    s.requests
        .push(format!("page={:?} since={:?}", p.page, p.updated_since));
    if !authorized(&s, &headers) {
        return refused(&headers);
    }
    let per_page = p.per_page.unwrap_or(10);
    let page = p.page.unwrap_or(1).max(1);
    let items = visible(&s, &p.updated_since);
    let chunk: Vec<Value> = items
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(Item::json)
        .collect();
    (
        StatusCode::OK,
        axum::Json(json!({ "data": chunk, "page": page, "total": items.len() })),
    )
}

async fn cursor_items(
    State(state): State<Shared<SourceState>>,
    headers: HeaderMap,
    Query(p): Query<Params>,
) -> impl IntoResponse {
    let mut s = state.lock().unwrap();
    s.requests
        .push(format!("after={:?} since={:?}", p.after, p.updated_since));
    if !authorized(&s, &headers) {
        return refused(&headers).into_response();
    }
    let limit = p.limit.unwrap_or(10);
    let items: Vec<Item> = visible(&s, &p.updated_since)
        .into_iter()
        .filter(|i| p.after.is_none_or(|a| i.id > a))
        .take(limit + 1)
        .collect();
    let more = items.len() > limit;
    let page: Vec<&Item> = items.iter().take(limit).collect();
    let next = if more {
        page.last().map(|i| i.id.to_string())
    } else {
        None
    };
    axum::Json(
        json!({ "items": page.iter().map(|i| i.json()).collect::<Vec<_>>(), "meta": { "next": next } }),
    )
    .into_response()
}

async fn link_items(
    State(state): State<Shared<SourceState>>,
    headers: HeaderMap,
    Query(p): Query<Params>,
) -> impl IntoResponse {
    let mut s = state.lock().unwrap();
    s.requests.push(format!(
        "link page={:?} since={:?}",
        p.page, p.updated_since
    ));
    if !authorized(&s, &headers) {
        return refused(&headers).into_response();
    }
    let per_page = 7;
    let page = p.page.unwrap_or(1).max(1);
    let items = visible(&s, &p.updated_since);
    let chunk: Vec<Value> = items
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(Item::json)
        .collect();
    let host = headers.get("host").unwrap().to_str().unwrap().to_string();
    let mut response_headers = HeaderMap::new();
    if page * per_page < items.len() {
        let mut next = format!("http://{host}/api/link-items?page={}", page + 1);
        if let Some(since) = &p.updated_since {
            next.push_str(&format!("&updated_since={since}"));
        }
        let link =
            format!("<{next}>; rel=\"next\", <http://{host}/api/link-items?page=1>; rel=\"first\"");
        response_headers.insert("link", link.parse().unwrap());
    }
    (response_headers, axum::Json(Value::Array(chunk))).into_response()
}

/// What the destination holds and how often each key was written.
#[derive(Default, Debug)]
pub struct DestState {
    pub records: BTreeMap<String, Value>,
    pub writes: BTreeMap<String, usize>,
    pub deletes: BTreeMap<String, usize>,
    /// The bearer token every request must carry (none: open).
    pub token: Option<String>,
    /// Requests refused for their credentials.
    pub unauthorized: usize,
}

/// Start the destination: `PUT /records/{key}` stores, `DELETE` removes;
/// a record whose `price` is negative is refused with 422; with a token,
/// a request without it is refused with 401.
pub async fn destination(token: Option<&str>) -> (Upstream, Shared<DestState>) {
    let state: Shared<DestState> = Arc::new(Mutex::new(DestState {
        token: token.map(str::to_string),
        ..DestState::default()
    }));
    let app = Router::new()
        .route("/records/{key}", put(dest_put).delete(dest_delete))
        .with_state(state.clone());
    (Upstream::start(app).await, state)
}

async fn dest_put(
    State(state): State<Shared<DestState>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> impl IntoResponse {
    let mut s = state.lock().unwrap();
    if !bearer_ok(s.token.as_deref(), &headers) {
        s.unauthorized += 1;
        return refused(&headers);
    }
    if body
        .get("price")
        .and_then(Value::as_f64)
        .is_some_and(|p| p < 0.0)
    {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(json!({"field": "price", "message": "must not be negative"})),
        );
    }
    *s.writes.entry(key.clone()).or_default() += 1;
    let existed = s.records.insert(key, body).is_some();
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    (status, axum::Json(json!({"ok": true})))
}

async fn dest_delete(
    State(state): State<Shared<DestState>>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> StatusCode {
    let mut s = state.lock().unwrap();
    if !bearer_ok(s.token.as_deref(), &headers) {
        s.unauthorized += 1;
        return StatusCode::UNAUTHORIZED;
    }
    *s.deletes.entry(key.clone()).or_default() += 1;
    match s.records.remove(&key) {
        Some(_) => StatusCode::NO_CONTENT,
        None => StatusCode::NOT_FOUND,
    }
}
