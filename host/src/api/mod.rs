//! The REST admin API under `/api/v1`: JSON in and out, errors as
//! `application/problem+json`, API keys with scopes, and an OpenAPI 3
//! document generated from the same route table that builds the router, so
//! the two cannot drift apart.

mod auth;
mod connections;
mod connectors;
pub mod error;
mod hooks;
mod json;
mod keys;
mod metrics;
mod oauth;
mod openapi;
mod records;
mod runs;
mod syncs;
mod webhooks;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{Method, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use axum::{Json, Router};
use futures::FutureExt as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use auth::{RateLimiter, Scope, generate_key, hash_key};
use error::ApiError;

use crate::app::App;

/// Everything a request handler needs.
#[derive(Clone)]
pub struct AppState {
    /// The application context (database, registry, vault, node, metrics).
    pub app: App,
    /// Per-key rate limits.
    pub limiter: Arc<RateLimiter>,
    /// How long a request may take before it is answered `503`.
    pub request_timeout: std::time::Duration,
}

/// The default of [`AppState::request_timeout`]: longer than the slowest
/// legitimate request (an upload compiled within its 120 s limit).
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(180);

/// Largest JSON body accepted.
pub const JSON_BODY_LIMIT: usize = 1 << 20;

/// One route: how it is served and how it is documented.
pub struct Route {
    /// HTTP method.
    pub method: Method,
    /// Path with `{param}` segments.
    pub path: &'static str,
    /// Scope required (`None`: public).
    pub scope: Option<Scope>,
    /// One line for the OpenAPI document.
    pub summary: &'static str,
    /// Request body: a schema name in [`openapi`], or `wasm`.
    pub body: Option<&'static str>,
    /// Success statuses and the schema name of their body (`""`: none).
    pub ok: &'static [(u16, &'static str)],
    /// Error statuses this route can answer besides the common ones.
    pub errors: &'static [u16],
    handler: MethodRouter<AppState>,
}

/// Every route of the API.
pub fn routes() -> Vec<Route> {
    let mut all = vec![Route {
        method: Method::GET,
        path: "/api/v1/openapi.json",
        scope: None,
        summary: "This document",
        body: None,
        ok: &[(200, "")],
        errors: &[],
        handler: get(openapi_json),
    }];
    all.extend(connectors::routes());
    all.extend(connections::routes());
    all.extend(keys::routes());
    all.extend(syncs::routes());
    all.extend(runs::routes());
    all.extend(records::routes());
    all.extend(metrics::routes());
    all.extend(webhooks::routes());
    all.extend(hooks::routes());
    all.extend(oauth::routes());
    all
}

/// The table of every route, the scope it needs and what it does, as
/// Markdown: docs/api.md carries it between `<!-- routes -->` markers, and
/// a test keeps the two equal.
pub fn route_table_markdown(routes: &[Route]) -> String {
    let mut out = String::from("| method | path | scope | what |\n| --- | --- | --- | --- |\n");
    for r in routes {
        let scope = r.scope.map_or("none", Scope::as_str);
        out.push_str(&format!(
            "| {} | `{}` | {scope} | {} |\n",
            r.method,
            r.path,
            r.summary.replace('|', "\\|")
        ));
    }
    out
}

/// The router: the API, `/healthz`, `/readyz`.
pub fn router(state: AppState) -> Router {
    let mut api = Router::new();
    for route in routes() {
        let handler = match route.scope {
            Some(scope) => route
                .handler
                .route_layer(from_fn_with_state((state.clone(), scope), auth::require)),
            None => route.handler,
        };
        api = api.route(route.path, handler);
    }
    api.route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .fallback(|| async { ApiError::not_found("no such endpoint; see /api/v1/openapi.json") })
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .layer(from_fn_with_state(state.request_timeout, time_limit))
        .layer(axum::middleware::from_fn(catch_panic))
        .with_state(state)
}

/// A request still running after the time limit is answered `503` with a
/// problem document; the work it started is dropped with it.
async fn time_limit(
    State(limit): State<std::time::Duration>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::unavailable(format!(
            "the request took longer than {} s and was stopped; try again, or do less in one request",
            limit.as_secs_f64()
        ))
        .into_response(),
    }
}

/// A handler that panics (a bug) answers a 500 problem with an error id,
/// like any internal error, instead of dropping the connection.
async fn catch_panic(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    match std::panic::AssertUnwindSafe(next.run(req))
        .catch_unwind()
        .await
    {
        Ok(response) => response,
        Err(panic) => ApiError::internal(format!(
            "a request handler panicked: {}",
            crate::runtime::panic_message(&*panic)
        ))
        .into_response(),
    }
}

/// Health and metrics only, for worker-only nodes.
pub fn health_router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::metrics))
        .with_state(state)
}

async fn readyz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    if state.app.store.ping().await {
        Ok("ready")
    } else {
        Err(ApiError::unavailable("the database does not answer"))
    }
}

async fn openapi_json() -> impl IntoResponse {
    (StatusCode::OK, Json(openapi::document(&routes())))
}

/// `?limit=&after=` on list endpoints.
#[derive(Debug, Deserialize)]
pub struct Paging {
    /// Items per page (1-500, default 100).
    pub limit: Option<i64>,
    /// Continue after this item (the `next` of the previous page).
    pub after: Option<String>,
}

impl Paging {
    fn limit(&self) -> Result<i64, ApiError> {
        match self.limit {
            None => Ok(100),
            Some(n) if (1..=500).contains(&n) => Ok(n),
            Some(n) => Err(ApiError::bad_request(format!(
                "limit must be 1 to 500, not {n}"
            ))),
        }
    }
}

/// A page of a list.
#[derive(Debug, Serialize)]
pub struct ListPage<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

impl<T> ListPage<T> {
    fn new(items: Vec<T>, limit: i64, cursor: impl Fn(&T) -> String) -> Self {
        let next = (items.len() as i64 == limit)
            .then(|| items.last().map(&cursor))
            .flatten();
        Self { items, next }
    }
}

/// Record an administrative change.
async fn audit(state: &AppState, key_id: &str, action: &str, target: &str, detail: Value) {
    if let Err(e) = state
        .app
        .store
        .audit(Some(key_id), action, target, &detail)
        .await
    {
        tracing::error!(error = %e, action, target, "could not write the audit log");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_panicking_handler_answers_a_500_problem() {
        let app: Router = Router::new()
            .route(
                "/boom",
                get(|| async {
                    if std::hint::black_box(true) {
                        panic!("handler bug");
                    }
                    "unreachable"
                }),
            )
            .layer(axum::middleware::from_fn(catch_panic));
        let resp = app
            .oneshot(
                axum::http::Request::get("/boom")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(resp.headers()["content-type"], "application/problem+json");
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("error id"), "{text}");
        assert!(
            !text.contains("handler bug"),
            "internals are logged, not answered: {text}"
        );
    }
}
