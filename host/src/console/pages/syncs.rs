//! Syncs: the list with the last run's outcome and the next due time;
//! create and edit (source, streams as checkboxes from the spec, mode,
//! mapper, destination, schedule as an interval or cron with its next five
//! due times, enabled, error threshold); Run now; enable and disable.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Fields, all, check, errors_by_field, field, items, text};
use crate::api::Scope;
use crate::console::Console;
use crate::console::backend::{Problem, seg};
use crate::console::layout::{Nav, badge, csrf, page, time};
use crate::console::session::{Flash, Signed};
use crate::store::syncs::Schedule;

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
            @if signed.may(Scope::Write) { a.button href="/syncs/new" { "New sync" } }
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

/// Connections by role, as `(id, name, connector)`.
async fn connections_with_roles(
    console: &Console,
    signed: &Signed,
) -> Result<Vec<(Value, Vec<String>, Value)>, Problem> {
    let api = console.api(signed);
    let connections = api.get("/api/v1/connections?limit=500").await?;
    let connectors = api.get("/api/v1/connectors?limit=500").await?;
    Ok(items(&connections)
        .iter()
        .map(|c| {
            let spec = items(&connectors)
                .iter()
                .find(|k| {
                    format!("{}@{}", text(k, "name"), text(k, "version")) == text(c, "connector")
                })
                .map(|k| k["spec"].clone())
                .unwrap_or(Value::Null);
            let roles = spec["roles"]
                .as_array()
                .map(|r| {
                    r.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            (c.clone(), roles, spec)
        })
        .collect())
}

/// What the sync form shows.
struct SyncForm<'a> {
    action: String,
    editing: bool,
    /// The sync's values (or the ones submitted).
    sync: Value,
    problem: Option<&'a Problem>,
}

async fn sync_form(
    console: &Console,
    signed: &Signed,
    f: &SyncForm<'_>,
) -> Result<Markup, Problem> {
    let all_connections = connections_with_roles(console, signed).await?;
    let source_id = text(&f.sync, "source_id").to_string();
    let source = all_connections
        .iter()
        .find(|(c, _, _)| text(c, "id") == source_id);
    let errors = f.problem.map(errors_by_field).unwrap_or_default();
    let err = |k: &str| errors.get(k).cloned();
    let chosen: Vec<&str> = f.sync["streams"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let schedule = &f.sync["schedule"];
    let kind = if schedule["every"].is_u64() {
        "every"
    } else if schedule["cron"].is_string() {
        "cron"
    } else {
        "none"
    };
    let with_role = |role: &'static str| {
        all_connections
            .iter()
            .filter(move |(_, roles, _)| roles.iter().any(|r| r == role))
    };
    Ok(html! {
        @if let Some(p) = f.problem { div.flash.bad role="alert" { (p.detail)
            @for (k, m) in &errors { div { code { (k) } " " (m) } } } }
        @if source.is_none() {
            form.stack method="get" action="/syncs/new" {
                label for="f-source" { span.required { "Source" } span.hint { "The connection records are read from." } }
                select #f-source name="source" required {
                    @for (c, _, _) in with_role("source") { option value=(text(c, "id")) { (text(c, "name")) " · " (text(c, "connector")) } }
                }
                div { button type="submit" { "Next" } }
            }
        } @else if let Some((src, _, spec)) = source {
            form.stack method="post" action=(f.action) {
                (csrf(signed))
                input type="hidden" name="source" value=(source_id);
                p { "Source: " a href=(format!("/connections/{}", text(src, "id"))) { (text(src, "name")) } " · " span.mono { (text(src, "connector")) } }
                div.invalid[err("/name").is_some()] {
                    label for="f-name" { span.required { "Name" } }
                    input #f-name type="text" name="name" value=(text(&f.sync, "name")) required autocomplete="off";
                    @if let Some(e) = err("/name") { span.field-error { (e) } }
                }
                fieldset.invalid[err("/streams").is_some()] {
                    legend { "Streams" }
                    @let offered = spec["streams"].as_array().cloned().unwrap_or_default();
                    @if offered.is_empty() {
                        label for="f-streams" { "Stream names" span.hint { "One per line: this connector's streams come from its settings." } }
                        textarea #f-streams name="streams_text" rows="2" { (chosen.join("\n")) }
                    }
                    @for s in &offered {
                        @let name = text(s, "name");
                        label.check { input type="checkbox" name="streams" value=(name) checked[chosen.contains(&name) || (!f.editing && chosen.is_empty())]; (name) span.hint { " · " (text(s, "description")) } }
                    }
                    @if let Some(e) = err("/streams") { span.field-error { (e) } }
                }
                label for="f-mode" { "Mode" }
                select #f-mode name="mode" {
                    option value="full" selected[text(&f.sync, "mode") != "incremental"] { "full: every run reads everything" }
                    option value="incremental" selected[text(&f.sync, "mode") == "incremental"] { "incremental: from the last cursor" }
                }
                label for="f-mapper" { "Mapper" }
                select #f-mapper name="mapper" {
                    option value="" { "none" }
                    @for (c, _, _) in with_role("mapper") { option value=(text(c, "id")) selected[text(&f.sync, "mapper_id") == text(c, "id")] { (text(c, "name")) } }
                }
                label for="f-destination" { "Destination" }
                select #f-destination name="destination" {
                    option value="records" { "the records store (browse and export here)" }
                    @for (c, _, _) in with_role("destination") { option value=(text(c, "id")) selected[text(&f.sync, "destination_id") == text(c, "id")] { (text(c, "name")) } }
                }
                fieldset.invalid[err("/schedule").is_some()] {
                    legend { "Schedule" }
                    div hx-get="/syncs/schedule" hx-trigger="change from:closest fieldset, keyup delay:500ms from:closest fieldset" hx-target="#schedule-preview" hx-include="closest fieldset" {
                        label.check { input type="radio" name="schedule" value="none" checked[kind == "none"]; "Manual only" }
                        label.check { input type="radio" name="schedule" value="every" checked[kind == "every"]; "Every" }
                        label for="f-every" { "Seconds between runs" input #f-every type="number" name="every" min="1" value=[schedule["every"].as_u64()]; }
                        label.check { input type="radio" name="schedule" value="cron" checked[kind == "cron"]; "Cron (UTC)" }
                        label for="f-cron" { "Cron expression" span.hint { "minute hour day month weekday, e.g. */15 * * * *" }
                            input #f-cron type="text" name="cron" value=[schedule["cron"].as_str()] autocomplete="off"; }
                    }
                    div #schedule-preview aria-live="polite" { (preview(&schedule_from(kind, schedule["every"].as_u64().map(|n| n.to_string()).as_deref(), schedule["cron"].as_str()))) }
                    @if let Some(e) = err("/schedule") { span.field-error { (e) } }
                }
                label.check { input type="checkbox" name="enabled" value="true" checked[f.sync["enabled"] != Value::Bool(false)]; "Enabled (the schedule fires)" }
                div.invalid[err("/error_threshold").is_some()] {
                    label for="f-threshold" { "Error threshold" span.hint { "Rejected records a run tolerates before it fails; -1: any number." } }
                    input #f-threshold type="number" name="error_threshold" min="-1" value=(f.sync["error_threshold"].as_i64().unwrap_or(0));
                    @if let Some(e) = err("/error_threshold") { span.field-error { (e) } }
                }
                div { button type="submit" { @if f.editing { "Save changes" } @else { "Create sync" } } }
            }
        }
    })
}

/// A schedule from the form's fields; `Err` says what is wrong.
fn schedule_from(
    kind: &str,
    every: Option<&str>,
    cron: Option<&str>,
) -> Result<Option<Schedule>, String> {
    match kind {
        "every" => every
            .and_then(|e| e.trim().parse::<u64>().ok())
            .map(|every| Some(Schedule::Every { every }))
            .ok_or_else(|| "give the seconds between runs".to_string()),
        "cron" => Ok(Some(Schedule::Cron {
            cron: cron.unwrap_or_default().trim().to_string(),
        })),
        _ => Ok(None),
    }
}

/// The next five due times of a schedule, by the scheduler's own rule.
fn preview(s: &Result<Option<Schedule>, String>) -> Markup {
    match s {
        Ok(None) => html! { p.hint { "Runs only when started by hand or by the API." } },
        Err(e) => html! { p.field-error { (e) } },
        Ok(Some(s)) => match crate::sync::schedule::validate(s) {
            Err(e) => html! { p.field-error { (e) } },
            Ok(()) => {
                let mut next = Vec::new();
                let mut at = crate::store::now_ms();
                while next.len() < 5 {
                    match crate::sync::schedule::next_due(s, at) {
                        Some(t) => {
                            next.push(t);
                            at = t;
                        }
                        None => break,
                    }
                }
                html! { p.hint { "Next: " @for (i, t) in next.iter().enumerate() { @if i > 0 { ", " } span.mono { (time(Some(*t))) } } " (UTC)" } }
            }
        },
    }
}

#[derive(Debug, Deserialize)]
pub struct PreviewQuery {
    schedule: Option<String>,
    every: Option<String>,
    cron: Option<String>,
}

async fn schedule_preview(_signed: Signed, Query(q): Query<PreviewQuery>) -> Html<String> {
    Html(
        preview(&schedule_from(
            q.schedule.as_deref().unwrap_or("none"),
            q.every.as_deref(),
            q.cron.as_deref(),
        ))
        .into_string(),
    )
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

/// The API body a sync form describes, and the same in the shape the form
/// reads back (for showing it again with errors).
fn body_from(fields: &Fields) -> (Value, Value) {
    let mut streams: Vec<String> = all(fields, "streams")
        .into_iter()
        .map(str::to_string)
        .collect();
    streams.extend(
        field(fields, "streams_text")
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string),
    );
    let schedule = match schedule_from(
        field(fields, "schedule").unwrap_or("none"),
        field(fields, "every"),
        field(fields, "cron"),
    ) {
        Ok(s) => serde_json::to_value(s).unwrap_or(Value::Null),
        // Sent as entered, so the API's validator names the problem.
        Err(_) => json!({ "every": field(fields, "every").unwrap_or_default() }),
    };
    let mapper = field(fields, "mapper").filter(|m| !m.is_empty());
    let threshold = field(fields, "error_threshold")
        .and_then(|t| t.trim().parse::<i64>().ok())
        .unwrap_or(0);
    let body = json!({
        "name": field(fields, "name").unwrap_or_default(),
        "source": field(fields, "source").unwrap_or_default(),
        "streams": streams,
        "mode": field(fields, "mode").unwrap_or("full"),
        "mapper": mapper,
        "destination": field(fields, "destination").unwrap_or("records"),
        "schedule": schedule,
        "enabled": field(fields, "enabled") == Some("true"),
        "error_threshold": threshold,
    });
    let shown = json!({
        "name": body["name"], "source_id": body["source"], "streams": body["streams"], "mode": body["mode"],
        "mapper_id": mapper, "destination_id": body["destination"], "schedule": body["schedule"],
        "enabled": body["enabled"], "error_threshold": threshold,
    });
    (body, shown)
}

async fn create(
    State(console): State<Console>,
    signed: Signed,
    axum::Form(fields): axum::Form<Fields>,
) -> Response {
    if let Err(refused) = check(&signed, &fields) {
        return refused;
    }
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
    let form = if signed.may(Scope::Write) {
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
                @if signed.may(Scope::Write) {
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
    signed: Signed,
    Path(id): Path<String>,
    axum::Form(fields): axum::Form<Fields>,
) -> Response {
    if let Err(refused) = check(&signed, &fields) {
        return refused;
    }
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
    signed: Signed,
    Path(id): Path<String>,
    axum::Form(fields): axum::Form<Fields>,
) -> Response {
    if let Err(refused) = check(&signed, &fields) {
        return refused;
    }
    match console
        .api(&signed)
        .json(
            Method::POST,
            &format!("/api/v1/syncs/{}/runs", seg(&id)),
            None,
        )
        .await
    {
        Ok(run) => Redirect::to(&format!("/runs/{}", text(&run, "id"))).into_response(),
        Err(p) if p.status == StatusCode::FORBIDDEN => p.into_response(),
        Err(p) => {
            signed.flash(&console, &Flash::bad(p.detail)).await;
            Redirect::to(&format!("/syncs/{}", seg(&id))).into_response()
        }
    }
}

async fn set_enabled(
    State(console): State<Console>,
    signed: Signed,
    Path(id): Path<String>,
    axum::Form(fields): axum::Form<Fields>,
) -> Response {
    if let Err(refused) = check(&signed, &fields) {
        return refused;
    }
    let enabled = field(&fields, "enabled") == Some("true");
    match console
        .api(&signed)
        .json(
            Method::PATCH,
            &format!("/api/v1/syncs/{}", seg(&id)),
            Some(&json!({ "enabled": enabled })),
        )
        .await
    {
        Ok(_) => {
            signed
                .flash(
                    &console,
                    &Flash::ok(if enabled { "Enabled." } else { "Disabled." }),
                )
                .await
        }
        Err(p) if p.status == StatusCode::FORBIDDEN => return p.into_response(),
        Err(p) => signed.flash(&console, &Flash::bad(p.detail)).await,
    }
    Redirect::to(&format!("/syncs/{}", seg(&id))).into_response()
}

async fn delete(
    State(console): State<Console>,
    signed: Signed,
    Path(id): Path<String>,
    axum::Form(fields): axum::Form<Fields>,
) -> Response {
    if let Err(refused) = check(&signed, &fields) {
        return refused;
    }
    match console
        .api(&signed)
        .json(Method::DELETE, &format!("/api/v1/syncs/{}", seg(&id)), None)
        .await
    {
        Ok(_) => {
            signed
                .flash(&console, &Flash::ok("Deleted the sync."))
                .await;
            Redirect::to("/syncs").into_response()
        }
        Err(p) if p.status == StatusCode::FORBIDDEN => p.into_response(),
        Err(p) => {
            signed.flash(&console, &Flash::bad(p.detail)).await;
            Redirect::to(&format!("/syncs/{}", seg(&id))).into_response()
        }
    }
}
