//! `/api/v1/syncs`, `/api/v1/runs`: syncs, their runs, the records store
//! (read, export, import), and `/metrics`.

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::auth::{Caller, Scope};
use super::error::{ApiError, FieldError};
use super::json::Json as Body;
use super::{AppState, ListPage, Paging, Route, audit};
use crate::model::record::{Op, Record};
use crate::model::spec::Role;
use crate::store::now_ms;
use crate::store::runs::{RejectionRow, RunRow, Trigger};
use crate::store::syncs::{Mode, RetryPolicy, RunLimits, Schedule, SyncRow};
use crate::sync::schedule;

pub fn routes() -> Vec<Route> {
    vec![
        Route {
            method: Method::POST,
            path: "/api/v1/syncs",
            scope: Some(Scope::Write),
            summary: "Create a sync: source streams → optional mapper → destination (a connection or the records store)",
            body: Some("NewSync"),
            ok: &[(201, "Sync")],
            errors: &[409, 413, 415, 422],
            handler: post(create),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/syncs",
            scope: Some(Scope::Read),
            summary: "List syncs",
            body: None,
            ok: &[(200, "SyncList")],
            errors: &[],
            handler: get(list),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/syncs/{id}",
            scope: Some(Scope::Read),
            summary: "Show a sync and its committed cursors",
            body: None,
            ok: &[(200, "Sync")],
            errors: &[404],
            handler: get(show),
        },
        Route {
            method: Method::PATCH,
            path: "/api/v1/syncs/{id}",
            scope: Some(Scope::Write),
            summary: "Change a sync (omitted fields are kept)",
            body: Some("SyncPatch"),
            ok: &[(200, "Sync")],
            errors: &[404, 409, 413, 415, 422],
            handler: patch(update),
        },
        Route {
            method: Method::DELETE,
            path: "/api/v1/syncs/{id}",
            scope: Some(Scope::Write),
            summary: "Delete a sync with its runs and stored records",
            body: None,
            ok: &[(204, "")],
            errors: &[404, 409],
            handler: axum::routing::delete(remove),
        },
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
        Route {
            method: Method::GET,
            path: "/api/v1/syncs/{id}/records",
            scope: Some(Scope::Read),
            summary: "Records the built-in records store holds for a sync (`?stream=&after=&limit=`)",
            body: None,
            ok: &[(200, "RecordList")],
            errors: &[404],
            handler: get(records),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/syncs/{id}/records/export",
            scope: Some(Scope::Read),
            summary: "Export stored records (`?stream=&format=csv|json`)",
            body: None,
            ok: &[(200, "")],
            errors: &[404],
            handler: get(export),
        },
        Route {
            method: Method::POST,
            path: "/api/v1/syncs/{id}/import",
            scope: Some(Scope::Write),
            summary: "Import a CSV or JSON file into a sync (`?stream=`): map → validate → push; rejected rows are listed",
            body: Some("import"),
            ok: &[(200, "ImportResult")],
            errors: &[404, 409, 413, 415, 422],
            handler: post(import),
        },
        Route {
            method: Method::GET,
            path: "/metrics",
            scope: None,
            summary: "Prometheus metrics of this node",
            body: None,
            ok: &[(200, "")],
            errors: &[],
            handler: get(metrics),
        },
    ]
}

/// Where records go.
const RECORDS_STORE: &str = "records";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SyncInput {
    name: Option<String>,
    source: Option<String>,
    streams: Option<Vec<String>>,
    mode: Option<Mode>,
    #[serde(default, with = "double_option")]
    mapper: Option<Option<String>>,
    destination: Option<String>,
    #[serde(default, with = "double_option")]
    schedule: Option<Option<Schedule>>,
    enabled: Option<bool>,
    error_threshold: Option<i64>,
    retry: Option<RetryPolicy>,
    schemas: Option<BTreeMap<String, Value>>,
    limits: Option<RunLimits>,
}

/// `null` and absent are different in a PATCH: absent keeps, null clears.
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// A sync as the API shows it.
#[derive(Debug, Serialize)]
struct SyncView {
    #[serde(flatten)]
    sync: SyncRow,
    destination: String,
    cursors: BTreeMap<String, Option<String>>,
}

async fn view(state: &AppState, sync: SyncRow) -> Result<SyncView, ApiError> {
    let cursors = state.app.store.sync_cursors(&sync.id).await?;
    Ok(SyncView {
        destination: sync
            .destination_id
            .clone()
            .unwrap_or_else(|| RECORDS_STORE.into()),
        sync,
        cursors,
    })
}

fn field_error(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

/// Check a sync's references and settings against the connectors' specs.
async fn check(state: &AppState, s: &SyncRow) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    if s.name.trim().is_empty() || s.name.len() > 100 {
        errors.push(field_error("/name", "1-100 characters"));
    }
    let role_of = |id: String, field: &'static str, role: Role| async move {
        let Some(c) = state.app.store.connection(&id).await? else {
            return Ok::<_, ApiError>(Err(field_error(field, format!("no connection {id}"))));
        };
        let Some(k) = state.app.store.connector(&c.connector, &c.version).await? else {
            return Ok(Err(field_error(field, "its connector is gone")));
        };
        if k.spec.has_role(role) {
            Ok(Ok(k.spec))
        } else {
            Ok(Err(field_error(
                field,
                format!(
                    "connection `{}` ({}@{}) cannot be a {role:?}",
                    c.name, k.name, k.version
                )
                .to_lowercase(),
            )))
        }
    };
    match role_of(s.source_id.clone(), "/source", Role::Source).await? {
        Ok(spec) => {
            if s.streams.is_empty() {
                errors.push(field_error("/streams", "name at least one stream"));
            }
            if !spec.streams.is_empty() {
                for (i, st) in s.streams.iter().enumerate() {
                    if !spec.streams.iter().any(|x| &x.name == st) {
                        let known: Vec<&str> =
                            spec.streams.iter().map(|x| x.name.as_str()).collect();
                        errors.push(field_error(
                            &format!("/streams/{i}"),
                            format!(
                                "`{st}` is not a stream of the source (it offers: {})",
                                known.join(", ")
                            ),
                        ));
                    }
                }
            }
        }
        Err(e) => errors.push(e),
    }
    if let Some(m) = &s.mapper_id
        && let Err(e) = role_of(m.clone(), "/mapper", Role::Mapper).await?
    {
        errors.push(e);
    }
    if let Some(d) = &s.destination_id
        && let Err(e) = role_of(d.clone(), "/destination", Role::Destination).await?
    {
        errors.push(e);
    }
    if let Some(sch) = &s.schedule
        && let Err(e) = schedule::validate(sch)
    {
        errors.push(field_error("/schedule", e));
    }
    if s.error_threshold < -1 {
        errors.push(field_error(
            "/error_threshold",
            "-1 (no limit) or a number of records",
        ));
    }
    for (stream, schema) in &s.schemas {
        if crate::model::record::schema_validator(schema).is_err() {
            errors.push(field_error(
                &format!("/schemas/{stream}"),
                "not a valid JSON Schema",
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid("the sync is not valid", errors))
    }
}

fn apply(s: &mut SyncRow, input: SyncInput) {
    if let Some(v) = input.name {
        s.name = v;
    }
    if let Some(v) = input.source {
        s.source_id = v;
    }
    if let Some(v) = input.streams {
        s.streams = v;
    }
    if let Some(v) = input.mode {
        s.mode = v;
    }
    if let Some(v) = input.mapper {
        s.mapper_id = v;
    }
    if let Some(v) = input.destination {
        s.destination_id = (v != RECORDS_STORE).then_some(v);
    }
    if let Some(v) = input.schedule {
        s.schedule = v;
    }
    if let Some(v) = input.enabled {
        s.enabled = v;
    }
    if let Some(v) = input.error_threshold {
        s.error_threshold = v;
    }
    if let Some(v) = input.retry {
        s.retry = v;
    }
    if let Some(v) = input.schemas {
        s.schemas = v;
    }
    if let Some(v) = input.limits {
        s.limits = v;
    }
    s.next_due_at = match (&s.schedule, s.enabled) {
        (Some(sch), true) => schedule::next_due(sch, now_ms()),
        _ => None,
    };
}

async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(input): Body<SyncInput>,
) -> Result<(StatusCode, Json<SyncView>), ApiError> {
    let mut missing = Vec::new();
    if input.name.is_none() {
        missing.push(field_error("/name", "required"));
    }
    if input.source.is_none() {
        missing.push(field_error("/source", "required: a source connection id"));
    }
    if input.streams.is_none() {
        missing.push(field_error("/streams", "required: the streams to read"));
    }
    if !missing.is_empty() {
        return Err(ApiError::invalid("the sync is missing fields", missing));
    }
    let mut sync = SyncRow {
        id: crate::store::new_id(),
        name: String::new(),
        source_id: String::new(),
        streams: Vec::new(),
        mode: Mode::Full,
        mapper_id: None,
        destination_id: None,
        schedule: None,
        enabled: true,
        error_threshold: -1,
        retry: RetryPolicy::default(),
        schemas: BTreeMap::new(),
        limits: RunLimits::default(),
        record_count: 0,
        next_due_at: None,
        created_at: 0,
        updated_at: 0,
    };
    apply(&mut sync, input);
    check(&state, &sync).await?;
    if state.app.store.sync_name_taken(&sync.name, None).await? {
        return Err(ApiError::conflict(format!(
            "a sync named `{}` exists",
            sync.name
        )));
    }
    let row = state.app.store.insert_sync(&sync).await?;
    audit(
        &state,
        &caller.key_id,
        "sync.create",
        &row.id,
        json!({ "name": row.name }),
    )
    .await;
    Ok((StatusCode::CREATED, Json(view(&state, row).await?)))
}

async fn find(state: &AppState, id: &str) -> Result<SyncRow, ApiError> {
    state
        .app
        .store
        .sync(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no sync {id}")))
}

async fn list(
    State(state): State<AppState>,
    Query(paging): Query<Paging>,
) -> Result<Json<ListPage<SyncView>>, ApiError> {
    let limit = paging.limit()?;
    let mut items = Vec::new();
    for s in state
        .app
        .store
        .syncs(paging.after.as_deref(), limit)
        .await?
    {
        items.push(view(&state, s).await?);
    }
    Ok(Json(ListPage::new(items, limit, |s: &SyncView| {
        s.sync.name.clone()
    })))
}

async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<SyncView>, ApiError> {
    let s = find(&state, &id).await?;
    Ok(Json(view(&state, s).await?))
}

async fn update(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Body(input): Body<SyncInput>,
) -> Result<Json<SyncView>, ApiError> {
    let mut sync = find(&state, &id).await?;
    apply(&mut sync, input);
    check(&state, &sync).await?;
    if state
        .app
        .store
        .sync_name_taken(&sync.name, Some(&id))
        .await?
    {
        return Err(ApiError::conflict(format!(
            "a sync named `{}` exists",
            sync.name
        )));
    }
    let row = state
        .app
        .store
        .update_sync(&sync)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no sync {id}")))?;
    audit(
        &state,
        &caller.key_id,
        "sync.update",
        &id,
        json!({ "name": row.name }),
    )
    .await;
    Ok(Json(view(&state, row).await?))
}

async fn remove(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let sync = find(&state, &id).await?;
    if state
        .app
        .store
        .runs_of_sync(&id, 50)
        .await?
        .iter()
        .any(|r| r.status == "running")
    {
        return Err(ApiError::conflict(
            "a run of this sync is running; cancel it first",
        ));
    }
    state.app.store.delete_sync(&id).await?;
    audit(
        &state,
        &caller.key_id,
        "sync.delete",
        &id,
        json!({ "name": sync.name }),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
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

#[derive(Debug, Deserialize)]
struct RecordsQuery {
    stream: Option<String>,
    after: Option<String>,
    limit: Option<i64>,
    format: Option<String>,
    key: Option<String>,
}

/// The stream asked for, or the only one there is.
async fn stream_of(
    state: &AppState,
    sync: &SyncRow,
    asked: Option<String>,
) -> Result<String, ApiError> {
    if let Some(s) = asked {
        return Ok(s);
    }
    let streams = state.app.store.record_streams(&sync.id).await?;
    match streams.as_slice() {
        [(only, _)] => Ok(only.clone()),
        [] if sync.streams.len() == 1 => Ok(sync.streams[0].clone()),
        _ => Err(ApiError::bad_request(format!(
            "name the stream: ?stream= one of {}",
            streams
                .iter()
                .map(|(s, _)| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

async fn records(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<RecordsQuery>,
) -> Result<Json<ListPage<crate::store::records::StoredRecord>>, ApiError> {
    let sync = find(&state, &id).await?;
    let stream = stream_of(&state, &sync, q.stream).await?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let items = state
        .app
        .store
        .records(&id, &stream, q.after.as_deref(), limit)
        .await?;
    Ok(Json(ListPage::new(
        items,
        limit,
        |r: &crate::store::records::StoredRecord| r.key.clone(),
    )))
}

async fn export(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<RecordsQuery>,
) -> Result<Response, ApiError> {
    let sync = find(&state, &id).await?;
    let stream = stream_of(&state, &sync, q.stream).await?;
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = state
            .app
            .store
            .records(&id, &stream, after.as_deref(), 1000)
            .await?;
        let done = page.len() < 1000;
        after = page.last().map(|r| r.key.clone());
        all.extend(page);
        if done {
            break;
        }
    }
    let filename = format!("{}-{stream}", sync.name);
    match q.format.as_deref().unwrap_or("json") {
        "json" => {
            let body: Vec<Value> = all
                .into_iter()
                .map(|r| json!({"key": r.key, "data": r.data}))
                .collect();
            Ok((
                [
                    (header::CONTENT_TYPE, "application/json".to_string()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{filename}.json\""),
                    ),
                ],
                Json(body),
            )
                .into_response())
        }
        "csv" => {
            let mut columns = BTreeSet::new();
            for r in &all {
                if let Some(o) = r.data.as_object() {
                    columns.extend(o.keys().cloned());
                }
            }
            let mut w = csv::Writer::from_writer(Vec::new());
            let header: Vec<String> = std::iter::once("key".to_string())
                .chain(columns.iter().cloned())
                .collect();
            w.write_record(&header).map_err(ApiError::internal)?;
            for r in &all {
                let mut row = vec![r.key.clone()];
                for c in &columns {
                    row.push(match r.data.get(c) {
                        None | Some(Value::Null) => String::new(),
                        Some(Value::String(s)) => s.clone(),
                        Some(other) => other.to_string(),
                    });
                }
                w.write_record(&row).map_err(ApiError::internal)?;
            }
            let bytes = w.into_inner().map_err(ApiError::internal)?;
            Ok((
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{filename}.csv\""),
                    ),
                ],
                bytes,
            )
                .into_response())
        }
        other => Err(ApiError::bad_request(format!(
            "format must be csv or json, not `{other}`"
        ))),
    }
}

/// One rejected row of an import.
#[derive(Debug, Serialize)]
struct RowError {
    row: i64,
    key: Option<String>,
    field: Option<String>,
    message: String,
}

#[derive(Debug, Serialize)]
struct ImportResult {
    run: String,
    rows: usize,
    imported: i64,
    created: i64,
    updated: i64,
    unchanged: i64,
    rejected: Vec<RowError>,
}

/// One row of an import: its fields, or why it cannot be read.
type Row = Result<Map<String, Value>, String>;

/// Rows of a CSV or JSON body, each a JSON object; row numbers are 1-based
/// data rows (the CSV header is not counted).
fn parse_rows(content_type: &str, body: &[u8]) -> Result<Vec<Row>, ApiError> {
    if content_type.starts_with("text/csv") {
        let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(body);
        let headers = reader
            .headers()
            .map_err(|e| ApiError::bad_request(format!("the CSV header cannot be read: {e}")))?
            .clone();
        Ok(reader
            .records()
            .map(|row| {
                let row = row.map_err(|e| format!("unreadable CSV row: {e}"))?;
                Ok(headers
                    .iter()
                    .zip(row.iter())
                    .map(|(h, v)| {
                        (
                            h.to_string(),
                            if v.is_empty() {
                                Value::Null
                            } else {
                                Value::String(v.to_string())
                            },
                        )
                    })
                    .collect())
            })
            .collect())
    } else if content_type.starts_with("application/json") {
        let rows: Vec<Value> = super::json::parse(body)?;
        Ok(rows
            .into_iter()
            .map(|v| match v {
                Value::Object(o) => Ok(o),
                other => Err(format!("a row must be a JSON object, not {other}")),
            })
            .collect())
    } else {
        Err(ApiError::unsupported_media(
            "send `text/csv` or `application/json` (an array of objects)",
        ))
    }
}

async fn import(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<RecordsQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ImportResult>, ApiError> {
    let sync = find(&state, &id).await?;
    let stream = stream_of(&state, &sync, q.stream).await?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let rows = parse_rows(content_type, &body)?;
    // The key: `?key=field`, or the source stream's key field.
    let key_field = match q.key {
        Some(k) => Some(k),
        None => {
            let source = state.app.store.connection(&sync.source_id).await?;
            let spec = match source {
                Some(c) => state
                    .app
                    .store
                    .connector(&c.connector, &c.version)
                    .await?
                    .map(|k| k.spec),
                None => None,
            };
            spec.and_then(|s| {
                s.streams
                    .into_iter()
                    .find(|x| x.name == stream)
                    .and_then(|x| x.key_field)
            })
        }
    };
    let mut records = Vec::new();
    let mut row_numbers = Vec::new();
    let mut unreadable = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        match row {
            Ok(data) => {
                let key = key_field
                    .as_ref()
                    .and_then(|k| data.get(k))
                    .and_then(|v| match v {
                        Value::String(s) => Some(s.clone()),
                        Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    });
                let record = Record::new(
                    stream.clone(),
                    key,
                    Op::Upsert,
                    Value::Object(data.clone()).to_string(),
                )
                .map_err(ApiError::internal)?;
                records.push(record);
                row_numbers.push(i as i64 + 1);
            }
            Err(message) => unreadable.push(RejectionRow {
                stream: stream.clone(),
                index: i as i64,
                key: None,
                field: None,
                message: message.clone(),
            }),
        }
    }
    let sync = find(&state, &id).await?;
    let landed = crate::sync::ingest::land(
        &state.app,
        &sync,
        Trigger::Manual,
        &stream,
        records,
        Vec::new(),
    )
    .await
    .map_err(|e| match e {
        crate::sync::ingest::IngestError::Busy(_) => ApiError::conflict(e.to_string()),
        crate::sync::ingest::IngestError::Store(e) => e.into(),
        other => ApiError::invalid(format!("the import failed: {other}"), Vec::new()),
    })?;
    let (run, counters, rejections) = (landed.run, landed.counters, landed.rejections);
    let mut rejected: Vec<RowError> = rejections
        .into_iter()
        .map(|x| RowError {
            row: row_numbers
                .get(x.index as usize)
                .copied()
                .unwrap_or(x.index + 1),
            key: x.key,
            field: x.field,
            message: x.message,
        })
        .chain(unreadable.into_iter().map(|x| RowError {
            row: x.index + 1,
            key: None,
            field: None,
            message: x.message,
        }))
        .collect();
    rejected.sort_by_key(|r| r.row);
    audit(
        &state,
        &caller.key_id,
        "sync.import",
        &id,
        json!({ "run": run, "rows": rows.len(), "rejected": rejected.len() }),
    )
    .await;
    Ok(Json(ImportResult {
        run,
        rows: rows.len(),
        imported: counters.pushed,
        created: counters.created,
        updated: counters.updated,
        unchanged: counters.unchanged,
        rejected,
    }))
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
