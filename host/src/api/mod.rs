//! The REST admin API under `/api/v1`: JSON in and out, errors as
//! `application/problem+json`, API keys with scopes, and an OpenAPI 3
//! document generated from the same route table that builds the router, so
//! the two cannot drift apart.

mod auth;
mod cassettes;
mod connections;
mod connectors;
pub mod error;
mod hooks;
mod json;
mod keys;
mod metrics;
mod oauth;
mod openapi;
mod overview;
mod probe;
mod query;
mod records;
mod run_files;
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
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use auth::{
    Actor, Caller, FAILED_SIGN_INS_PER_MINUTE, RateLimiter, Scope, SessionActor, generate_key,
    hash_key,
};
pub use connectors::SIGNATURE_HEADER;
use error::ApiError;
pub use oauth::OAUTH_RETURN_COOKIE;
use openapi::Content;

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
    /// The identity provider people sign in with, if one is configured.
    pub sso: Option<Arc<crate::sso::Sso>>,
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
    /// Query parameters: the inline schema of the query struct.
    pub query: Option<openapi::SchemaFn>,
    /// Request body.
    pub body: Option<Content>,
    /// Success statuses and their bodies.
    pub ok: Vec<(u16, Content)>,
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
        query: None,
        body: None,
        ok: vec![(200, Content::Json(openapi::schema::<Value>))],
        errors: &[],
        handler: get(openapi_json),
    }];
    all.extend(connectors::routes());
    all.extend(connections::routes());
    all.extend(probe::routes());
    all.extend(keys::routes());
    all.extend(syncs::routes());
    all.extend(runs::routes());
    all.extend(cassettes::routes());
    all.extend(run_files::routes());
    all.extend(records::routes());
    all.extend(metrics::routes());
    all.extend(overview::routes());
    all.extend(webhooks::routes());
    all.extend(hooks::routes());
    all.extend(oauth::routes());
    all
}

/// `text` safe in HTML text and double-quoted attributes.
pub fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A page that sends the browser on to `to` (a path of this server), with
/// `message` (HTML) and a link for browsers that do not follow. Not a
/// redirect: a navigation started by this site's own page carries the
/// console's `SameSite=Strict` session cookie, where a redirect chain that
/// began at another site (an OAuth2 or OpenID Connect provider) would not.
pub fn onward_page(to: &str, title: &str, message: &str) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let to = html_escape(to);
    (
        StatusCode::OK,
        axum::response::Html(format!(
            "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"0;url={to}\">\
             <title>Wharf: {title}</title><body><h1>{title}</h1><p>{message} <a href=\"{to}\">Continue to the console</a>.</p></body></html>"
        )),
    )
        .into_response()
}

/// The client's address, as rate limits of failed sign-ins key it.
pub fn client_address(extensions: &axum::http::Extensions) -> String {
    extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or_else(|| "unknown".to_string(), |c| c.0.ip().to_string())
}

/// A request cookie's value (`None` when absent or empty): the OAuth2
/// callback and the console's sessions read cookies the same way.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
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

/// The router: the API, `/healthz`, `/readyz` (`wharf serve` puts the
/// console in front of it).
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
        .layer(axum::middleware::map_response(error::every_error_a_problem))
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

/// `?limit=&after=` on lists ordered by time, newest first: `after` is
/// `<unix ms>:<id>`, as the previous page's `next` gives it.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct TimePaging {
    /// Items per page (default 100).
    #[schemars(range(min = 1, max = MAX_PAGE))]
    pub limit: Option<i64>,
    /// Continue after this position: the `next` of the previous page.
    #[schemars(pattern(r"^[0-9]{1,18}:"))]
    pub after: Option<String>,
}

/// `?limit=&after=` on lists in order of a sequence number: `after` is the
/// previous page's `next`, a number.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SeqPaging {
    /// Items per page (default 100).
    #[schemars(range(min = 1, max = MAX_PAGE))]
    pub limit: Option<i64>,
    /// Continue after this number: the `next` of the previous page.
    #[schemars(pattern(r"^[0-9]{1,18}$"))]
    pub after: Option<String>,
}

impl From<TimePaging> for Paging {
    fn from(p: TimePaging) -> Self {
        Self {
            limit: p.limit,
            after: p.after,
        }
    }
}

impl From<SeqPaging> for Paging {
    fn from(p: SeqPaging) -> Self {
        Self {
            limit: p.limit,
            after: p.after,
        }
    }
}

/// The most items one page of a list holds.
pub const MAX_PAGE: i64 = 500;

/// `?limit=&after=` on list endpoints.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Paging {
    /// Items per page (default 100).
    #[schemars(range(min = 1, max = MAX_PAGE))]
    pub limit: Option<i64>,
    /// Continue after this item: the `next` of the previous page.
    pub after: Option<String>,
}

impl Paging {
    fn limit(&self) -> Result<i64, ApiError> {
        page_limit(self.limit)
    }

    /// `after`, where an empty value is the same as none (the first page).
    fn after(&self) -> Option<&str> {
        self.after.as_deref().filter(|a| !a.is_empty())
    }
}

/// A list's `limit`, the same rule on every list: 1 to [`MAX_PAGE`],
/// default 100; anything else is refused, never clamped.
fn page_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(100),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::invalid(
            format!("limit must be 1 to {MAX_PAGE}, not {n}"),
            vec![error::FieldError {
                field: "limit".into(),
                message: format!("1 to {MAX_PAGE}"),
            }],
        )),
    }
}

/// A position in a newest-first list, as its `next` gives it:
/// `<unix ms>:<id>`.
fn position(after: Option<&str>) -> Result<Option<(i64, &str)>, ApiError> {
    let Some(after) = after else {
        return Ok(None);
    };
    after
        .split_once(':')
        .and_then(|(at, id)| Some((at.parse().ok()?, id)))
        .map(Some)
        .ok_or_else(|| bad_after(after))
}

/// A sequence number in a list, as its `next` gives it.
fn sequence(after: Option<&str>) -> Result<i64, ApiError> {
    after.map_or(Ok(0), |a| a.parse().map_err(|_| bad_after(a)))
}

fn bad_after(after: &str) -> ApiError {
    ApiError::invalid(
        format!("`after` must be the `next` of the previous page, not `{after}`"),
        vec![error::FieldError {
            field: "after".into(),
            message: "the `next` of the previous page".into(),
        }],
    )
}

/// A page of a list.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "{T}List")]
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

    /// A page of a short list held in memory (API keys, webhook
    /// endpoints), in its order (`newest_first` by creation time, or
    /// oldest first), after the position `after`.
    fn of_all(
        all: Vec<T>,
        paging: &Paging,
        newest_first: bool,
        at: impl Fn(&T) -> (i64, &str),
    ) -> Result<Self, ApiError> {
        let limit = paging.limit()?;
        let after = position(paging.after())?;
        let items: Vec<T> = all
            .into_iter()
            .filter(|t| {
                let Some((p_at, p_id)) = after else {
                    return true;
                };
                let (t_at, t_id) = at(t);
                let before = if newest_first {
                    t_at < p_at
                } else {
                    t_at > p_at
                };
                before || (t_at == p_at && t_id > p_id)
            })
            .take(limit as usize)
            .collect();
        Ok(Self::new(items, limit, |t| {
            let (at, id) = at(t);
            format!("{at}:{id}")
        }))
    }
}

/// Record an administrative change by `caller`.
async fn audit(state: &AppState, caller: &Caller, action: &str, target: &str, detail: Value) {
    if let Err(e) = state
        .app
        .store
        .audit_by(&caller.audit_actor(), action, target, &detail)
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
