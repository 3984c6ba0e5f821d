//! The records store of a sync: a stream's records as a paged table, a
//! jump to a key, export as CSV or JSON, and import of a CSV or JSON file
//! with the rejected rows shown as a table (row, field, message).

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::html;
use serde::Deserialize;
use serde_json::Value;

use super::{Fields, check, field, items, text};
use crate::api::Scope;
use crate::console::Console;
use crate::console::backend::{query, seg};
use crate::console::layout::{Nav, csrf, page};
use crate::console::session::Signed;

/// Largest import the console passes on (the API applies its own limit).
const IMPORT_LIMIT: usize = 32 << 20;

pub fn routes() -> Router<Console> {
    Router::new()
        .route("/syncs/{id}/records", get(browse))
        .route("/syncs/{id}/records/export", get(export))
        .route(
            "/syncs/{id}/records/import",
            post(import).layer(DefaultBodyLimit::max(IMPORT_LIMIT)),
        )
}

#[derive(Debug, Deserialize)]
pub struct BrowseQuery {
    stream: Option<String>,
    after: Option<String>,
    key: Option<String>,
}

/// Columns of a page: the data fields in order of first appearance.
fn columns(records: &[Value]) -> Vec<String> {
    let mut cols: Vec<String> = Vec::new();
    for r in records {
        for k in r["data"].as_object().into_iter().flatten().map(|(k, _)| k) {
            if !cols.contains(k) {
                cols.push(k.clone());
            }
        }
    }
    cols.truncate(12);
    cols
}

fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

async fn browse(
    State(console): State<Console>,
    signed: Signed,
    Path(id): Path<String>,
    Query(q): Query<BrowseQuery>,
) -> Response {
    let api = console.api(&signed);
    let sync = match api.get(&format!("/api/v1/syncs/{}", seg(&id))).await {
        Ok(s) => s,
        Err(p) => return p.into_response(),
    };
    let streams: Vec<String> = sync["streams"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let stream = q
        .stream
        .clone()
        .filter(|s| !s.is_empty())
        .or_else(|| streams.first().cloned())
        .unwrap_or_default();
    let key = q.key.clone().unwrap_or_default();
    let mut params = vec![("stream", stream.as_str())];
    // Only a next page continues after a key: `after=` (empty) continues
    // after the key "" and would leave that record out of the first page.
    if let Some(after) = &q.after {
        params.push(("after", after));
    }
    params.extend([("prefix", key.trim()), ("limit", "50")]);
    let path = format!("/api/v1/syncs/{}/records?{}", seg(&id), query(&params));
    let (records, problem) = match api.get(&path).await {
        Ok(r) => (r, None),
        Err(p) => (Value::Null, Some(p.detail)),
    };
    let list = items(&records);
    let cols = columns(list);
    let base = format!("/syncs/{}/records", seg(&id));
    let body = html! {
        div.row.spread {
            h1 { "Records of " a href=(format!("/syncs/{}", seg(&id))) { (text(&sync, "name")) } }
            div.row {
                a.button.secondary href=(format!("{base}/export?{}", query(&[("stream", &stream), ("format", "csv")]))) download { "Export CSV" }
                a.button.secondary href=(format!("{base}/export?{}", query(&[("stream", &stream), ("format", "json")]))) download { "Export JSON" }
            }
        }
        form.row method="get" action=(base) {
            label for="f-stream" { "Stream" }
            select #f-stream name="stream" { @for s in &streams { option value=(s) selected[*s == stream] { (s) } } }
            label for="f-key" { "Key starts with" }
            input #f-key type="search" name="key" value=(key) placeholder="key";
            button.secondary type="submit" { "Show" }
        }
        @if let Some(p) = problem { div.flash.bad role="alert" { (p) } }
        @if list.is_empty() { p.muted { "No stored records here." } }
        @else {
            div.scroll { table #records {
                tr { th { "key" } @for c in &cols { th { (c) } } }
                @for r in list {
                    tr { td.mono { (text(r, "key")) } @for c in &cols { td { (cell(&r["data"][c.as_str()])) } } }
                }
            } }
            @if let Some(next) = records["next"].as_str() {
                p { a href=(format!("{base}?{}", query(&[("stream", &stream), ("key", &key), ("after", next)]))) { "Next page →" } }
            }
        }
        @if signed.may(Scope::Operator) {
            h2 { "Import" }
            form.panel method="post" action=(format!("{base}/import?{}", query(&[("stream", &stream)]))) enctype="multipart/form-data" hx-boost="false" {
                (csrf(&signed))
                div.drop data-drop {
                    label for="f-import" { "A CSV (with a header row) or JSON file of rows for " code { (stream) } }
                    p.hint { "Each row goes through the sync's mapper and validation; rows that fail are listed, the rest are stored." }
                    input #f-import type="file" name="file" accept=".csv,.json,text/csv,application/json" required;
                    label for="f-import-key" { "Key field" span.hint { "The column that holds each row's key; empty: the stream's key." } }
                    input #f-import-key type="text" name="key" autocomplete="off";
                    div { button type="submit" { "Import" } }
                }
            }
        }
    };
    page(&console, &signed, Nav::Syncs, "Records", body).await
}

#[derive(Debug, Deserialize)]
pub struct ExportQuery {
    stream: Option<String>,
    format: Option<String>,
}

/// The API's file, passed on as it is (with its `Content-Disposition`).
async fn export(
    State(console): State<Console>,
    signed: Signed,
    Path(id): Path<String>,
    Query(q): Query<ExportQuery>,
) -> Response {
    let path = format!(
        "/api/v1/syncs/{}/records/export?{}",
        seg(&id),
        query(&[
            ("stream", q.stream.as_deref().unwrap_or_default()),
            ("format", q.format.as_deref().unwrap_or("csv")),
        ])
    );
    let response = console
        .api(&signed)
        .send(Method::GET, &path, None, &[], Body::empty())
        .await;
    if response.status().is_success() {
        return response;
    }
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let detail = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v["detail"].as_str().map(str::to_string))
        .unwrap_or_else(|| "the export failed".into());
    crate::console::layout::error_page(status, &detail).into_response()
}

#[derive(Debug, Deserialize)]
pub struct ImportQuery {
    stream: Option<String>,
}

async fn import(
    State(console): State<Console>,
    signed: Signed,
    Path(id): Path<String>,
    Query(q): Query<ImportQuery>,
    mut form: Multipart,
) -> Response {
    let mut fields: Fields = Vec::new();
    let mut file: Option<(String, bytes::Bytes)> = None;
    while let Ok(Some(f)) = form.next_field().await {
        let name = f.name().unwrap_or_default().to_string();
        if name == "file" {
            let file_name = f.file_name().unwrap_or_default().to_ascii_lowercase();
            let declared = f.content_type().unwrap_or_default().to_string();
            let content_type = if file_name.ends_with(".csv") || declared.starts_with("text/csv") {
                "text/csv"
            } else {
                "application/json"
            };
            if let Ok(b) = f.bytes().await {
                file = Some((content_type.to_string(), b));
            }
        } else if let Ok(v) = f.text().await {
            fields.push((name, v));
        }
    }
    if let Err(refused) = check(&signed, &fields) {
        return refused;
    }
    let Some((content_type, bytes)) = file else {
        return crate::console::layout::error_page(
            StatusCode::BAD_REQUEST,
            "Choose a file to import.",
        )
        .into_response();
    };
    let stream = q.stream.unwrap_or_default();
    let mut params = vec![("stream", stream.as_str())];
    if let Some(key) = field(&fields, "key").filter(|k| !k.trim().is_empty()) {
        params.push(("key", key.trim()));
    }
    let path = format!("/api/v1/syncs/{}/import?{}", seg(&id), query(&params));
    let result = console
        .api(&signed)
        .call(Method::POST, &path, Some(&content_type), Body::from(bytes))
        .await;
    let back = format!(
        "/syncs/{}/records?{}",
        seg(&id),
        query(&[("stream", &stream)])
    );
    let body = match &result {
        Ok(r) => html! {
            h1 { "Import into " code { (stream) } }
            p #import-summary {
                (r["rows"].as_i64().unwrap_or(0)) " rows: " (r["imported"].as_i64().unwrap_or(0)) " imported ("
                (r["created"].as_i64().unwrap_or(0)) " created, " (r["updated"].as_i64().unwrap_or(0)) " updated, "
                (r["unchanged"].as_i64().unwrap_or(0)) " unchanged), " (r["rejected"].as_array().map_or(0, Vec::len)) " rejected."
            }
            @let rejected = r["rejected"].as_array().cloned().unwrap_or_default();
            @if !rejected.is_empty() {
                h2 { "Rejected rows" }
                div.scroll { table #rejected-rows {
                    tr { th { "Row" } th { "Key" } th { "Field" } th { "Message" } }
                    @for e in &rejected {
                        tr { td { (e["row"].as_i64().unwrap_or(0)) } td.mono { (text(e, "key")) } td.mono { (text(e, "field")) } td { (text(e, "message")) } }
                    }
                } }
            }
            p { a href=(format!("/runs/{}", text(r, "run"))) { "The import's run" } " · " a href=(back) { "Back to the records" } }
        },
        Err(p) if p.status == StatusCode::FORBIDDEN => return p.clone().into_response(),
        Err(p) => html! {
            h1 { "Import into " code { (stream) } }
            div.flash.bad role="alert" { "The file was refused: " (p.detail) }
            @for (f, m) in &p.errors { div { code { (f) } " " (m) } }
            p { a href=(back) { "Back to the records" } }
        },
    };
    let mut response = page(&console, &signed, Nav::Syncs, "Import", body).await;
    if let Err(p) = result {
        *response.status_mut() = p.status;
    }
    response
}
