//! `/metrics`: Prometheus text of this node.

use axum::extract::State;
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::error::ApiError;
use super::openapi::Content;
use super::{AppState, Route};

pub fn routes() -> Vec<Route> {
    vec![Route {
        method: Method::GET,
        path: "/metrics",
        scope: None,
        summary: "Prometheus metrics of this node",
        query: None,
        body: None,
        ok: vec![(200, Content::Prometheus)],
        errors: &[],
        handler: get(metrics),
    }]
}

pub(super) async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let by_status = state.app.store.runs_by_status().await?;
    let count = |s: &str| {
        by_status
            .iter()
            .find(|(x, _)| x == s)
            .map_or(0, |(_, n)| *n)
    };
    let text = state
        .app
        .metrics
        .render(&by_status, count("queued"), count("running"));
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}
