//! Syncs: the list with the last run's outcome and the next due time;
//! create and edit (source, streams as checkboxes from the spec, mode,
//! mapper, destination, schedule as an interval or cron with its next five
//! due times, enabled, error threshold); Run now; enable and disable.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::html;
use serde::Deserialize;
use serde_json::{Value, json};

use super::sync_form::{SyncForm, body_from, schedule_preview, sync_form};
use super::{Posted, after, field, finish, items, text};
use crate::api::Scope;
use crate::console::Console;
use crate::console::backend::{Problem, seg};
use crate::console::layout::{Nav, badge, csrf, page, time};
use crate::console::session::{Flash, Signed};

pub fn routes() -> Router<Console> {
    Router::new()
        .route("/syncs", get(list))
        .route("/syncs/new", get(new_form).post(create))
        .route("/syncs/schedule", get(schedule_preview))
        .route("/syncs/{id}", get(show).post(update))
        .route("/syncs/{id}/run", post(run_now))
        .route("/syncs/{id}/enabled", post(set_enabled))
        .route("/syncs/{id}/delete", post(delete))
}

fn schedule_text(s: &Value) -> String {
    if let Some(every) = s["every"].as_u64() {
        format!("every {every} s")
    } else if let Some(cron) = s["cron"].as_str() {
        format!("cron {cron}")
    } else {
        "manual".into()
    }
}

async fn list(State(console): State<Console>, signed: Signed) -> Response {
    let api = console.api(&signed);
    let list = match api.get("/api/v1/syncs?limit=500").await {
        Ok(l) => l,
        Err(p) => return p.into_response(),
    };
    let mut last = Vec::new();
    for s in items(&list) {
        let runs = api
            .get(&format!(
                "/api/v1/syncs/{}/runs?limit=1",
                seg(text(s, "id"))
            ))
            .await
            .ok();
        last.push(runs.and_then(|r| items(&r).first().cloned()));
    }
    let body = html! {
        div.row.spread {
            h1 { "Syncs" }
            @if signed.may(Scope::Operator) { a.button href="/syncs/new" { "New sync" } }
        }
        @if items(&list).is_empty() { p.muted { "No sync yet." } }
        @else {
            div.scroll { table {
                tr { th { "Name" } th { "Streams" } th { "Schedule" } th { "Last run" } th { "Next due" } }
                @for (s, run) in items(&list).iter().zip(&last) {
                    tr {
                        td { a href=(format!("/syncs/{}", text(s, "id"))) { (text(s, "name")) }
                             @if s["enabled"] == Value::Bool(false) { " " (badge("disabled")) } }
                        td { (s["streams"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")).unwrap_or_default()) }
                        td { (schedule_text(&s["schedule"])) }
                        td { @match run {
                            Some(r) => { a href=(format!("/runs/{}", text(r, "id"))) { (badge(text(r, "status"))) } " " span.mono { (time(r["created_at"].as_i64())) } }
                            None => span.muted { "never" },
                        } }
                        td.mono { (time(s["next_due_at"].as_i64())) }
                    }
                }
            } }
        }
    };
    page(&console, &signed, Nav::Syncs, "Syncs", body).await
}

#[derive(Debug, Deserialize)]
pub struct NewQuery {
    source: Option<String>,
}

async fn new_form(
    State(console): State<Console>,
    signed: Signed,
    Query(q): Query<NewQuery>,
) -> Response {
    let f = SyncForm {
        action: "/syncs/new".into(),
        editing: false,
        sync: json!({ "source_id": q.source.unwrap_or_default(), "enabled": true, "error_threshold": 0 }),
        problem: None,
    };
    match sync_form(&console, &signed, &f).await {
        Ok(form) => {
            page(
                &console,
                &signed,
                Nav::Syncs,
                "New sync",
                html! { h1 { "New sync" } (form) },
            )
            .await
        }
        Err(p) => p.into_response(),
    }
}

async fn create(State(console): State<Console>, Posted { signed, fields }: Posted) -> Response {
    let (body, shown) = body_from(&fields);
    match console
        .api(&signed)
        .json(Method::POST, "/api/v1/syncs", Some(&body))
        .await
    {
        Ok(s) => {
            signed
                .flash(
                    &console,
                    &Flash::ok(format!("Created sync {}.", text(&s, "name"))),
                )
                .await;
            Redirect::to(&format!("/syncs/{}", text(&s, "id"))).into_response()
        }
        Err(p) if matches!(p.status.as_u16(), 404 | 409 | 422) => {
            let f = SyncForm {
                action: "/syncs/new".into(),
                editing: false,
                sync: shown,
                problem: Some(&p),
            };
            match sync_form(&console, &signed, &f).await {
                Ok(form) => {
                    let mut r = page(
                        &console,
                        &signed,
                        Nav::Syncs,
                        "New sync",
                        html! { h1 { "New sync" } (form) },
                    )
                    .await;
                    *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
                    r
                }
                Err(p) => p.into_response(),
            }
        }
        Err(p) => p.into_response(),
    }
}

async fn show(State(console): State<Console>, signed: Signed, Path(id): Path<String>) -> Response {
    render_show(&console, &signed, &id, None).await
}

async fn render_show(
    console: &Console,
    signed: &Signed,
    id: &str,
    failed: Option<(Value, &Problem)>,
) -> Response {
    let api = console.api(signed);
    let s = match api.get(&format!("/api/v1/syncs/{}", seg(id))).await {
        Ok(s) => s,
        Err(p) => return p.into_response(),
    };
    let runs = api
        .get(&format!("/api/v1/syncs/{}/runs?limit=20", seg(id)))
        .await
        .unwrap_or(Value::Null);
    let base = format!("/syncs/{}", seg(id));
    let enabled = s["enabled"] != Value::Bool(false);
    let editing = failed.is_some();
    let (values, problem) = match failed {
        Some((shown, p)) => (shown, Some(p)),
        None => (s.clone(), None),
    };
    let form = if signed.may(Scope::Operator) {
        match sync_form(
            console,
            signed,
            &SyncForm {
                action: base.clone(),
                editing: true,
                sync: values,
                problem,
            },
        )
        .await
        {
            Ok(f) => Some(f),
            Err(p) => return p.into_response(),
        }
    } else {
        None
    };
    let records = text(&s, "destination") == "records";
    let body = html! {
        div.row.spread {
            h1 { (text(&s, "name")) @if !enabled { " " (badge("disabled")) } }
            div.row {
                @if signed.may(Scope::Run) {
                    form.inline method="post" action=(format!("{base}/run")) { (csrf(signed)) button type="submit" { "Run now" } }
                }
                @if signed.may(Scope::Operator) {
                    form.inline method="post" action=(format!("{base}/enabled")) {
                        (csrf(signed)) input type="hidden" name="enabled" value=(if enabled { "false" } else { "true" });
                        button.secondary type="submit" { @if enabled { "Disable" } @else { "Enable" } }
                    }
                }
                @if records { a.button.secondary href=(format!("/syncs/{}/records", seg(id))) { "Records" } }
            }
        }
        table {
            tr { th { "Streams" } td { (s["streams"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")).unwrap_or_default()) } }
            tr { th { "Mode" } td { (text(&s, "mode")) } }
            tr { th { "Destination" } td { @if records { "records store (" (s["record_count"].as_i64().unwrap_or(0)) " records)" } @else { a href=(format!("/connections/{}", text(&s, "destination"))) { (text(&s, "destination")) } } } }
            tr { th { "Schedule" } td { (schedule_text(&s["schedule"])) } }
            tr { th { "Next due" } td.mono { (time(s["next_due_at"].as_i64())) } }
            tr { th { "Cursors" } td { @for (k, v) in s["cursors"].as_object().into_iter().flatten() { code { (k) ": " (v.as_str().unwrap_or("—")) } " " } } }
        }
        h2 { "Runs" }
        @if items(&runs).is_empty() { p.muted { "No run yet." } }
        @else {
            div.scroll { table {
                tr { th { "Run" } th { "Status" } th { "Trigger" } th { "Created" } th { "Records" } th { "Rejected" } }
                @for r in items(&runs) {
                    tr {
                        td.mono { a href=(format!("/runs/{}", text(r, "id"))) { (text(r, "id")) } }
                        td { (badge(text(r, "status"))) }
                        td { (text(r, "trigger")) }
                        td.mono { (time(r["created_at"].as_i64())) }
                        td { (r.pointer("/counters/pushed").and_then(Value::as_i64).unwrap_or(0)) }
                        td { (r.pointer("/counters/rejected").and_then(Value::as_i64).unwrap_or(0)) }
                    }
                }
            } }
        }
        @if let Some(form) = form {
            details.panel open[editing] { summary { strong { "Edit" } } (form) }
            form method="post" action=(format!("{base}/delete")) hx-confirm="Delete this sync with its runs and stored records?" {
                (csrf(signed)) button.danger type="submit" { "Delete sync" }
            }
        }
    };
    let mut r = page(console, signed, Nav::Syncs, text(&s, "name"), body).await;
    if editing {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    r
}

async fn update(
    State(console): State<Console>,
    Path(id): Path<String>,
    Posted { signed, fields }: Posted,
) -> Response {
    let (mut body, shown) = body_from(&fields);
    // A sync's source is fixed once made.
    if let Some(o) = body.as_object_mut() {
        o.remove("source");
    }
    match console
        .api(&signed)
        .json(
            Method::PATCH,
            &format!("/api/v1/syncs/{}", seg(&id)),
            Some(&body),
        )
        .await
    {
        Ok(_) => {
            signed.flash(&console, &Flash::ok("Saved.")).await;
            Redirect::to(&format!("/syncs/{}", seg(&id))).into_response()
        }
        Err(p) if matches!(p.status.as_u16(), 404 | 409 | 422) => {
            render_show(&console, &signed, &id, Some((shown, &p))).await
        }
        Err(p) => p.into_response(),
    }
}

async fn run_now(
    State(console): State<Console>,
    Path(id): Path<String>,
    Posted { signed, .. }: Posted,
) -> Response {
    let path = format!("/api/v1/syncs/{}/runs", seg(&id));
    let result = console
        .api(&signed)
        .json(Method::POST, &path, None)
        .await
        .map(|run| {
            let to = format!("/runs/{}", text(&run, "id"));
            (Flash::ok("The run is queued."), to)
        });
    finish(&console, &signed, result, &format!("/syncs/{}", seg(&id))).await
}

async fn set_enabled(
    State(console): State<Console>,
    Path(id): Path<String>,
    Posted { signed, fields }: Posted,
) -> Response {
    let enabled = field(&fields, "enabled") == Some("true");
    let result = console
        .api(&signed)
        .json(
            Method::PATCH,
            &format!("/api/v1/syncs/{}", seg(&id)),
            Some(&json!({ "enabled": enabled })),
        )
        .await
        .map(|_| Flash::ok(if enabled { "Enabled." } else { "Disabled." }));
    after(&console, &signed, result, &format!("/syncs/{}", seg(&id))).await
}

async fn delete(
    State(console): State<Console>,
    Path(id): Path<String>,
    Posted { signed, .. }: Posted,
) -> Response {
    let result = console
        .api(&signed)
        .json(Method::DELETE, &format!("/api/v1/syncs/{}", seg(&id)), None)
        .await
        .map(|_| (Flash::ok("Deleted the sync."), "/syncs".to_string()));
    finish(&console, &signed, result, &format!("/syncs/{}", seg(&id))).await
}
