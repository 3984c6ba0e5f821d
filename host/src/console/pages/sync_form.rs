//! The sync form: source, streams from the source's spec, mode, mapper,
//! destination, schedule (with its next five due times, by the scheduler's
//! own rule), enabled and error threshold; and the API body it describes.

use axum::extract::Query;
use axum::response::Html;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Fields, all, errors_by_field, field, items, text};
use crate::console::Console;
use crate::console::backend::Problem;
use crate::console::layout::{csrf, time};
use crate::console::session::Signed;
use crate::store::syncs::Schedule;

/// Connections by role, as `(id, name, connector)`.
pub(super) async fn connections_with_roles(
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
pub(super) struct SyncForm<'a> {
    pub(super) action: String,
    pub(super) editing: bool,
    /// The sync's values (or the ones submitted).
    pub(super) sync: Value,
    pub(super) problem: Option<&'a Problem>,
}

pub(super) async fn sync_form(
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
pub(super) fn schedule_from(
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
pub(super) fn preview(s: &Result<Option<Schedule>, String>) -> Markup {
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
    pub(super) schedule: Option<String>,
    pub(super) every: Option<String>,
    pub(super) cron: Option<String>,
}

pub(super) async fn schedule_preview(
    _signed: Signed,
    Query(q): Query<PreviewQuery>,
) -> Html<String> {
    Html(
        preview(&schedule_from(
            q.schedule.as_deref().unwrap_or("none"),
            q.every.as_deref(),
            q.cron.as_deref(),
        ))
        .into_string(),
    )
}

/// The API body a sync form describes, and the same in the shape the form
/// reads back (for showing it again with errors).
pub(super) fn body_from(fields: &Fields) -> (Value, Value) {
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
