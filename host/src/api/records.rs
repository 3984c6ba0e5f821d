//! The records store through the API: a sync's stored records by stream,
//! their export as CSV or JSON, and importing a file into a sync.

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::auth::{Caller, Scope};
use super::error::ApiError;
use super::syncs::find;
use super::{AppState, ListPage, Route, audit};
use crate::model::record::{Op, Record};
use crate::store::runs::{RejectionRow, Trigger};
use crate::store::syncs::SyncRow;

pub fn routes() -> Vec<Route> {
    vec![
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
    ]
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
