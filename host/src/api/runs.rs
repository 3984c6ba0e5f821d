//! `/api/v1/syncs/{id}/runs` and `/api/v1/runs`: start a run, list a
//! sync's runs, show one with its log and rejected records, cancel it.

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::routing::{get, post};
use axum::{Extension, Json};
use serde::Serialize;
use serde_json::json;

use super::auth::{Caller, Scope};
use super::error::ApiError;
use super::openapi::{Content, inline, schema};
use super::query::{Path, Query};
use super::syncs::find;
use super::{AppState, ListPage, Paging, Route, SeqPaging, TimePaging, audit, position, sequence};
use crate::store::now_ms;
use crate::store::runs::LogRow;
use crate::store::runs::{RejectionRow, RunRow, Trigger};

pub fn routes() -> Vec<Route> {
    vec![
        Route {
            method: Method::POST,
            path: "/api/v1/syncs/{id}/runs",
            scope: Some(Scope::Run),
            summary: "Start a run now: 202 with a new queued run, or 200 with the manual run already waiting",
            query: None,
            body: None,
            ok: vec![
                (202, Content::Json(schema::<RunView>)),
                (200, Content::Json(schema::<RunView>)),
            ],
            errors: &[404],
            handler: post(trigger),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/syncs/{id}/runs",
            scope: Some(Scope::Read),
            summary: "Runs of a sync, newest first",
            query: Some(inline::<TimePaging>),
            body: None,
            ok: vec![(200, Content::Json(schema::<ListPage<RunView>>))],
            errors: &[404],
            handler: get(runs_of_sync),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/runs/{id}",
            scope: Some(Scope::Read),
            summary: "A run: status, counters, error",
            query: None,
            body: None,
            ok: vec![(200, Content::Json(schema::<RunView>))],
            errors: &[404],
            handler: get(show_run),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/runs/{id}/logs",
            scope: Some(Scope::Read),
            summary: "Log lines of a run (`?after=<seq>` to follow)",
            query: Some(inline::<SeqPaging>),
            body: None,
            ok: vec![(200, Content::Json(schema::<ListPage<LogRow>>))],
            errors: &[404],
            handler: get(run_logs),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/runs/{id}/errors",
            scope: Some(Scope::Read),
            summary: "Records a run rejected: stream, index, key, field, message",
            query: Some(inline::<SeqPaging>),
            body: None,
            ok: vec![(200, Content::Json(schema::<ListPage<RejectionRow>>))],
            errors: &[404],
            handler: get(run_errors),
        },
        Route {
            method: Method::POST,
            path: "/api/v1/runs/{id}/cancel",
            scope: Some(Scope::Run),
            summary: "Cancel a run (a running one stops within one call deadline)",
            query: None,
            body: None,
            ok: vec![(200, Content::Json(schema::<RunView>))],
            errors: &[404, 409],
            handler: post(cancel_run),
        },
    ]
}

/// A run as the API shows it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[schemars(rename = "Run")]
pub(super) struct RunView {
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
    let store = &state.app.store;
    // "Run now" while a manual run is still queued answers that run: a
    // burst of clicks is one run, not a backlog.
    let Some(run) = store
        .enqueue_run(&id, Trigger::Manual, None, now_ms(), 1)
        .await?
    else {
        return match store.queued_manual_run(&id).await? {
            Some(run) => Ok((StatusCode::OK, Json(run.into()))),
            // It started between the two statements: queue another.
            None => Box::pin(trigger(State(state), Extension(caller), Path(id))).await,
        };
    };
    state.app.wake.notify_waiters();
    audit(&state, &caller, "sync.run", &id, json!({ "run": run.id })).await;
    Ok((StatusCode::ACCEPTED, Json(run.into())))
}

async fn runs_of_sync(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(paging): Query<TimePaging>,
) -> Result<Json<ListPage<RunView>>, ApiError> {
    let paging = Paging::from(paging);
    find(&state, &id).await?;
    let limit = paging.limit()?;
    let runs = state
        .app
        .store
        .runs_page(&id, position(paging.after())?, limit)
        .await?;
    let items = runs.into_iter().map(RunView::from).collect();
    Ok(Json(ListPage::new(items, limit, |r: &RunView| {
        format!("{}:{}", r.run.created_at, r.run.id)
    })))
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

async fn run_logs(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(paging): Query<SeqPaging>,
) -> Result<Json<ListPage<LogRow>>, ApiError> {
    let paging = Paging::from(paging);
    find_run(&state, &id).await?;
    let limit = paging.limit()?;
    let lines = state
        .app
        .store
        .run_logs(&id, sequence(paging.after())?, limit)
        .await?;
    Ok(Json(ListPage::new(lines, limit, |l: &LogRow| {
        l.seq.to_string()
    })))
}

async fn run_errors(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(paging): Query<SeqPaging>,
) -> Result<Json<ListPage<RejectionRow>>, ApiError> {
    let paging = Paging::from(paging);
    find_run(&state, &id).await?;
    let limit = paging.limit()?;
    let page = state
        .app
        .store
        .rejections_page(&id, sequence(paging.after())?, limit)
        .await?;
    let next = (page.len() as i64 == limit)
        .then(|| page.last().map(|(seq, _)| seq.to_string()))
        .flatten();
    Ok(Json(ListPage {
        items: page.into_iter().map(|(_, r)| r).collect(),
        next,
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
    audit(&state, &caller, "run.cancel", &id, json!({})).await;
    Ok(Json(run.into()))
}
