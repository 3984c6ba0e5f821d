//! A failed run's cassette: `GET /api/v1/runs/{id}/cassette?side=…` hands
//! an administrator the calls that failed, with their HTTP exchanges
//! (secrets redacted), to replay locally with `wharf dev replay`. Each
//! download is written to the audit log: a cassette holds business data.

use axum::Extension;
use axum::extract::State;
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::auth::{Caller, Scope};
use super::error::ApiError;
use super::openapi::{Content, inline, schema};
use super::query::{Path, Query};
use super::{AppState, Route, audit};
use crate::runtime::cassette::Cassette;

pub fn routes() -> Vec<Route> {
    vec![Route {
        method: Method::GET,
        path: "/api/v1/runs/{id}/cassette",
        scope: Some(Scope::Admin),
        summary: "A failed run's failed calls as a cassette (secrets redacted), for `wharf dev replay`; `?side=source|mapper|destination` (default: the only side, or the destination's before the source's)",
        query: Some(inline::<CassetteQuery>),
        body: None,
        ok: vec![(200, Content::Json(schema::<Cassette>))],
        errors: &[404, 422],
        handler: get(run_cassette),
    }]
}

/// Which side's cassette.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CassetteQuery {
    /// `source`, `mapper` or `destination`.
    #[schemars(pattern(r"^(source|mapper|destination)$"))]
    pub side: Option<String>,
}

async fn run_cassette(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<CassetteQuery>,
) -> Result<Response, ApiError> {
    if let Some(side) = &q.side
        && !matches!(side.as_str(), "source" | "mapper" | "destination")
    {
        return Err(ApiError::invalid(
            "side must be `source`, `mapper` or `destination`",
            Vec::new(),
        ));
    }
    let store = &state.app.store;
    store
        .run(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no run {id}")))?;
    let sides = store.run_cassette_sides(&id).await?;
    let side = match q.side {
        Some(side) => side,
        // The side whose call failed last is the usual question; a run has
        // one side with failed calls more often than not.
        None => ["destination", "mapper", "source"]
            .into_iter()
            .find(|s| sides.iter().any(|x| x == s))
            .map(str::to_string)
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "run {id} has no cassette: only a failed run keeps one, of the calls that failed"
                ))
            })?,
    };
    let text = store.run_cassette(&id, &side).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "run {id} has no cassette of its {side} (it has: {})",
            if sides.is_empty() {
                "none".to_string()
            } else {
                sides.join(", ")
            }
        ))
    })?;
    audit(
        &state,
        &caller,
        "run.cassette",
        &id,
        json!({ "side": side }),
    )
    .await;
    let disposition = format!("attachment; filename=\"run-{id}-{side}.cassette.json\"");
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        text,
    )
        .into_response())
}
