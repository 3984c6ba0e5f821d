//! The records store through the API: a sync's stored records by stream,
//! their export as CSV or JSON, and importing a file into a sync.

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::auth::{Caller, Scope};
use super::error::{ApiError, FieldError};
use super::openapi::{Content, inline, schema};
use super::query::{Path, Query};
use super::syncs::find;
use super::{AppState, ListPage, Route, audit};
use crate::model::record::{Op, Record};
use crate::store::records::StoredRecord;
use crate::store::runs::{RejectionRow, Trigger};
use crate::store::syncs::SyncRow;

pub fn routes() -> Vec<Route> {
    vec![
        Route {
            method: Method::GET,
            path: "/api/v1/syncs/{id}/records",
            scope: Some(Scope::Read),
            summary: "Records the built-in records store holds for a sync, by key",
            query: Some(inline::<RecordsQuery>),
            body: None,
            ok: vec![(200, Content::Json(schema::<ListPage<StoredRecord>>))],
            errors: &[404],
            handler: get(records),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/syncs/{id}/records/export",
            scope: Some(Scope::Read),
            summary: "Export a stream's stored records as a CSV or JSON file",
            query: Some(inline::<ExportQuery>),
            body: None,
            ok: vec![(200, Content::Table)],
            errors: &[404, 422],
            handler: get(export),
        },
        Route {
            method: Method::POST,
            path: "/api/v1/syncs/{id}/import",
            scope: Some(Scope::Operator),
            summary: "Import a CSV or JSON file (at most 16 MiB) into a sync: map → validate → push; rejected rows are listed",
            query: Some(inline::<ImportQuery>),
            body: Some(Content::Table),
            ok: vec![(200, Content::Json(schema::<ImportResult>))],
            errors: &[404, 409, 413, 415, 422],
            handler: post(import).layer(DefaultBodyLimit::max(IMPORT_BODY_LIMIT)),
        },
    ]
}

/// Largest import file.
pub const IMPORT_BODY_LIMIT: usize = 16 << 20;

/// `?stream=&limit=&after=&prefix=` of the records list.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct RecordsQuery {
    /// The stream; may be left out when the sync has one.
    stream: Option<String>,
    /// Records per page (default 100).
    #[schemars(range(min = 1, max = super::MAX_PAGE))]
    limit: Option<i64>,
    /// Continue after this key: the `next` of the previous page. Left out,
    /// the list starts at the first key; empty, it continues after the key
    /// `""`.
    after: Option<String>,
    /// Only records whose key starts with this.
    prefix: Option<String>,
}

/// The file format of an export.
#[derive(Debug, Default, Clone, Copy, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Format {
    /// A JSON array of `{key, data}`.
    #[default]
    Json,
    /// A header row (`key`, then every field), one row per record.
    Csv,
}

/// `?stream=&format=` of an export.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct ExportQuery {
    /// The stream; may be left out when the sync has one.
    stream: Option<String>,
    /// `json` (default) or `csv`.
    #[serde(default)]
    format: Format,
}

/// `?stream=&key=` of an import.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct ImportQuery {
    /// The stream the rows belong to; may be left out when the sync has one.
    stream: Option<String>,
    /// The field that holds each row's key (default: the stream's key).
    key: Option<String>,
}

/// The stream asked for, which must be one the sync reads (or, for
/// reading, one it has stored records of), or the only one there is.
async fn stream_of(
    state: &AppState,
    sync: &SyncRow,
    asked: Option<String>,
    reading: bool,
) -> Result<String, ApiError> {
    let stored = if reading {
        state.app.store.record_streams(&sync.id).await?
    } else {
        Vec::new()
    };
    let mut known: Vec<&str> = sync.streams.iter().map(String::as_str).collect();
    for (s, _) in &stored {
        if !known.contains(&s.as_str()) {
            known.push(s);
        }
    }
    let stream_error = |message: String| {
        ApiError::invalid(
            message,
            vec![FieldError {
                field: "stream".into(),
                message: format!("one of: {}", known.join(", ")),
            }],
        )
    };
    match asked {
        Some(s) if known.contains(&s.as_str()) => Ok(s),
        Some(s) => Err(stream_error(format!(
            "sync `{}` has no stream `{s}`",
            sync.name
        ))),
        None if known.len() == 1 => Ok(known[0].to_string()),
        None => Err(stream_error(format!(
            "sync `{}` has several streams; name one with `?stream=`",
            sync.name
        ))),
    }
}

/// `Content-Disposition` of a download: a plain ASCII `filename` any
/// client reads (quotes, backslashes, controls and non-ASCII replaced) and
/// the exact name as RFC 8187 `filename*`.
fn attachment(name: &str) -> String {
    let plain: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._- ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let exact = percent_encoding::utf8_percent_encode(name, RFC8187_ESCAPED);
    format!("attachment; filename=\"{plain}\"; filename*=UTF-8''{exact}")
}

/// Characters outside RFC 8187's `attr-char`.
const RFC8187_ESCAPED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

async fn records(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<RecordsQuery>,
) -> Result<Json<ListPage<crate::store::records::StoredRecord>>, ApiError> {
    let sync = find(&state, &id).await?;
    let stream = stream_of(&state, &sync, q.stream, true).await?;
    let limit = super::page_limit(q.limit)?;
    let items = state
        .app
        .store
        .records_with_prefix(&id, &stream, q.prefix.as_deref(), q.after.as_deref(), limit)
        .await?;
    Ok(Json(ListPage::new(
        items,
        limit,
        |r: &crate::store::records::StoredRecord| r.key.clone(),
    )))
}

/// Records read from the store per query while exporting.
const EXPORT_PAGE: i64 = 1000;

/// The export is streamed page by page, so its memory does not grow with
/// the stream; a CSV export reads the stream once more first, for its
/// columns (the union of every record's fields).
async fn export(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    let sync = find(&state, &id).await?;
    let stream = stream_of(&state, &sync, q.stream, true).await?;
    let store = state.app.store.clone();
    let columns = match q.format {
        Format::Csv => {
            let mut columns = BTreeSet::new();
            let mut after: Option<String> = None;
            loop {
                let page = store
                    .records(&id, &stream, after.as_deref(), EXPORT_PAGE)
                    .await?;
                for r in &page {
                    if let Some(o) = r.data.as_object() {
                        columns.extend(o.keys().cloned());
                    }
                }
                after = page.last().map(|r| r.key.clone());
                if (page.len() as i64) < EXPORT_PAGE {
                    break;
                }
            }
            Some(columns.into_iter().collect::<Vec<String>>())
        }
        Format::Json => None,
    };
    let (content_type, extension) = match q.format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Json => ("application/json", "json"),
    };
    let filename = format!("{}-{stream}.{extension}", sync.name);
    let head = match &columns {
        Some(columns) => {
            csv_line(std::iter::once("key").chain(columns.iter().map(String::as_str)))?
        }
        None => b"[".to_vec(),
    };
    // (next `after`, whether any record was written, whether done)
    let chunks =
        futures::stream::unfold((None::<String>, false, false), move |(after, any, done)| {
            let (store, id, stream, columns) =
                (store.clone(), id.clone(), stream.clone(), columns.clone());
            async move {
                if done {
                    return None;
                }
                let page = match store
                    .records(&id, &stream, after.as_deref(), EXPORT_PAGE)
                    .await
                {
                    Ok(page) => page,
                    Err(e) => {
                        tracing::error!(error = %e, sync = %id, "export stopped: the store failed");
                        return Some((
                            Err(std::io::Error::other("the store failed")),
                            (None, any, true),
                        ));
                    }
                };
                let last = (page.len() as i64) < EXPORT_PAGE;
                let next = page.last().map(|r| r.key.clone());
                let mut out = Vec::new();
                let mut any = any;
                for r in &page {
                    match &columns {
                        Some(columns) => {
                            let cells: Vec<String> = columns
                                .iter()
                                .map(|c| match r.data.get(c) {
                                    None | Some(Value::Null) => String::new(),
                                    Some(Value::String(s)) => s.clone(),
                                    Some(other) => other.to_string(),
                                })
                                .collect();
                            let line = csv_line(
                                std::iter::once(r.key.as_str())
                                    .chain(cells.iter().map(String::as_str)),
                            )
                            .map_err(|_| std::io::Error::other("a CSV row could not be written"));
                            match line {
                                Ok(line) => out.extend(line),
                                Err(e) => return Some((Err(e), (None, any, true))),
                            }
                        }
                        None => {
                            if any {
                                out.push(b',');
                            }
                            out.extend(
                                json!({"key": r.key, "data": r.data})
                                    .to_string()
                                    .into_bytes(),
                            );
                        }
                    }
                    any = true;
                }
                if last && columns.is_none() {
                    out.push(b']');
                }
                Some((Ok(axum::body::Bytes::from(out)), (next, any, last)))
            }
        });
    let body = futures::StreamExt::chain(
        futures::stream::once(
            async move { Ok::<_, std::io::Error>(axum::body::Bytes::from(head)) },
        ),
        chunks,
    );
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, attachment(&filename)),
        ],
        axum::body::Body::from_stream(body),
    )
        .into_response())
}

/// One CSV line.
fn csv_line<'a>(cells: impl Iterator<Item = &'a str>) -> Result<Vec<u8>, ApiError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(cells).map_err(ApiError::internal)?;
    w.into_inner().map_err(ApiError::internal)
}

/// One rejected row of an import.
#[derive(Debug, Serialize, schemars::JsonSchema)]
struct RowError {
    row: i64,
    key: Option<String>,
    field: Option<String>,
    message: String,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
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
    Query(q): Query<ImportQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ImportResult>, ApiError> {
    let body = body.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(format!(
                "imports are limited to {} MiB; split the file",
                IMPORT_BODY_LIMIT >> 20
            ))
        } else {
            ApiError::bad_request("the file could not be read")
        }
    })?;
    let sync = find(&state, &id).await?;
    let stream = stream_of(&state, &sync, q.stream, false).await?;
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
        &caller,
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

#[cfg(test)]
mod fuzz;
