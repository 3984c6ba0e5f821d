//! A run with a file: `POST /api/v1/syncs/{id}/runs/file?name=…` queues a
//! manual run of the sync and hands it the request body as an input file,
//! which the source connector opens read-only as a blob (CSV, Excel, JSON,
//! XML, MS Project XML, Primavera XER). The file is kept with the run and
//! deleted with it.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::routing::post;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;

use super::auth::{Caller, Scope};
use super::error::ApiError;
use super::openapi::{Content, inline, schema};
use super::query::{Path, Query};
use super::runs::RunView;
use super::syncs::find;
use super::{AppState, Route, audit};
use crate::store::inputs::RunInput;

/// Largest input file.
pub const RUN_FILE_LIMIT: usize = 64 << 20;

pub fn routes() -> Vec<Route> {
    vec![Route {
        method: Method::POST,
        path: "/api/v1/syncs/{id}/runs/file",
        scope: Some(Scope::Run),
        summary: "Start a run with a file (at most 64 MiB) that the source reads as an input: 202 with the queued run; 409 while a manual run is already waiting",
        query: Some(inline::<FileQuery>),
        body: Some(Content::Bytes),
        ok: vec![(202, Content::Json(schema::<RunView>))],
        errors: &[404, 409, 413, 422],
        handler: post(run_with_file).layer(DefaultBodyLimit::max(RUN_FILE_LIMIT)),
    }]
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct FileQuery {
    /// The file's name, as the connector sees it (`orders.csv`): no `/`,
    /// `\` or control characters. It is a label, never a path on disk.
    #[schemars(
        length(min = 1, max = 255),
        regex(pattern = r"^[^/\\\u0000-\u001f\u007f-\u009f]*$")
    )]
    name: String,
}

async fn run_with_file(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<FileQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<RunView>), ApiError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(format!(
                "input files are limited to {} MiB",
                RUN_FILE_LIMIT >> 20
            ))
        } else {
            ApiError::bad_request("the file could not be read")
        }
    })?;
    let name_ok = !q.name.is_empty()
        && q.name.chars().count() <= 255
        && !q.name.contains(['/', '\\'])
        && !q.name.chars().any(char::is_control);
    if !name_ok {
        return Err(ApiError::invalid(
            "name must be a file name (1-255 characters, no `/`, `\\` or control characters)",
            Vec::new(),
        ));
    }
    find(&state, &id).await?;
    let file = RunInput {
        name: q.name,
        content_type: headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        bytes: body.to_vec(),
    };
    let Some(run) = state.app.store.enqueue_run_with_input(&id, &file).await? else {
        return Err(ApiError::conflict(
            "a manual run of this sync is already waiting; start this one when it has begun",
        ));
    };
    state.app.wake.notify_waiters();
    audit(
        &state,
        &caller,
        "sync.run",
        &id,
        json!({"run": run.id, "file": file.name, "bytes": file.bytes.len()}),
    )
    .await;
    Ok((StatusCode::ACCEPTED, Json(run.into())))
}
