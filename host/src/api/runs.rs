//! `/api/v1/syncs/{id}/runs` and `/api/v1/runs`: start a run, list a
//! sync's runs, show one with its log and rejected records, cancel it.

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::routing::{get, post};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::{Caller, Scope};
use super::error::ApiError;
use super::syncs::find;
use super::{AppState, ListPage, Route, audit};
use crate::store::now_ms;
use crate::store::runs::{RejectionRow, RunRow, Trigger};

pub fn routes() -> Vec<Route> {
    vec![
        Route {
            method: Method::POST,
            path: "/api/v1/syncs/{id}/runs",
            scope: Some(Scope::Run),
            summary: "Start a run now (queued; workers pick it up)",
            body: None,
            ok: &[(202, "Run")],
            errors: &[404],
            handler: post(trigger),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/syncs/{id}/runs",
            scope: Some(Scope::Read),
            summary: "Runs of a sync, newest first",
            body: None,
            ok: &[(200, "RunList")],
            errors: &[404],
            handler: get(runs_of_sync),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/runs/{id}",
            scope: Some(Scope::Read),
            summary: "A run: status, counters, error",
            body: None,
            ok: &[(200, "Run")],
            errors: &[404],
            handler: get(show_run),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/runs/{id}/logs",
            scope: Some(Scope::Read),
            summary: "Log lines of a run (`?after=<seq>` to follow)",
            body: None,
            ok: &[(200, "LogList")],
            errors: &[404],
            handler: get(run_logs),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/runs/{id}/errors",
            scope: Some(Scope::Read),
            summary: "Records a run rejected: stream, index, key, field, message",
            body: None,
            ok: &[(200, "RejectionList")],
            errors: &[404],
            handler: get(run_errors),
        },
        Route {
            method: Method::POST,
            path: "/api/v1/runs/{id}/cancel",
            scope: Some(Scope::Run),
            summary: "Cancel a run (a running one stops within one call deadline)",
            body: None,
            ok: &[(200, "Run")],
            errors: &[404, 409],
            handler: post(cancel_run),
        },
    ]
}

/// A run as the API shows it.
#[derive(Debug, Serialize)]
struct RunView {
    #[serde(flatten)]
    run: RunRow,
    duration_ms: Option<i64>,
}

impl From<RunRow> for RunView {
    fn from(run: RunRow) -> Self {
        let end = run.finished_at.unwrap_or_else(now_ms);
        Self {
            duration_ms: run.started_at.map(|s| end - s),
            run,
        }
    }
}

async fn trigger(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<RunView>), ApiError> {
    find(&state, &id).await?;
    let run = state
        .app
        .store
        .enqueue_run(&id, Trigger::Manual, None, now_ms(), 1)
        .await?
        .ok_or_else(|| ApiError::internal("a manual run was not enqueued"))?;
    state.app.wake.notify_waiters();
    audit(
        &state,
        &caller.key_id,
        "sync.run",
        &id,
        json!({ "run": run.id }),
    )
    .await;
    Ok((StatusCode::ACCEPTED, Json(run.into())))
}

#[derive(Debug, Deserialize)]
struct RunsQuery {
    limit: Option<i64>,
}

async fn runs_of_sync(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<RunsQuery>,
) -> Result<Json<ListPage<RunView>>, ApiError> {
    find(&state, &id).await?;
    let runs = state
        .app
        .store
        .runs_of_sync(&id, q.limit.unwrap_or(50).clamp(1, 500))
        .await?;
    Ok(Json(ListPage {
        items: runs.into_iter().map(RunView::from).collect(),
        next: None,
    }))
}

async fn find_run(state: &AppState, id: &str) -> Result<RunRow, ApiError> {
    state
        .app
        .store
        .run(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no run {id}")))
}

async fn show_run(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RunView>, ApiError> {
    Ok(Json(find_run(&state, &id).await?.into()))
}

#[derive(Debug, Deserialize)]
struct LogsQuery {
    after: Option<i64>,
    limit: Option<i64>,
}

async fn run_logs(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<LogsQuery>,
) -> Result<Json<ListPage<crate::store::runs::LogRow>>, ApiError> {
    find_run(&state, &id).await?;
    let limit = q.limit.unwrap_or(500).clamp(1, 2000);
    let lines = state
        .app
        .store
        .run_logs(&id, q.after.unwrap_or(0), limit)
        .await?;
    let next = (lines.len() as i64 == limit)
        .then(|| lines.last().map(|l| l.seq.to_string()))
        .flatten();
    Ok(Json(ListPage { items: lines, next }))
}

async fn run_errors(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ListPage<RejectionRow>>, ApiError> {
    find_run(&state, &id).await?;
    Ok(Json(ListPage {
        items: state.app.store.run_rejections(&id, 10_000).await?,
        next: None,
    }))
}

async fn cancel_run(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<RunView>, ApiError> {
    let run = find_run(&state, &id).await?;
    if !matches!(run.status.as_str(), "queued" | "running") {
        return Err(ApiError::conflict(format!(
            "the run already ended ({})",
            run.status
        )));
    }
    let run = state
        .app
        .store
        .request_cancel(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no run {id}")))?;
    audit(&state, &caller.key_id, "run.cancel", &id, json!({})).await;
    Ok(Json(run.into()))
}
