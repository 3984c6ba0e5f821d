//! A run: live counters, rate and pages while it runs (Server-Sent Events,
//! no reload), log lines as they arrive, rejected records as a table,
//! cancel, and the final summary. Without JavaScript the page shows the
//! state at load, and a reload shows more.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::Stream;
use maud::{Markup, html};
use serde_json::Value;

use super::{Posted, after, items, text};
use crate::api::Scope;
use crate::console::Console;
use crate::console::backend::seg;
use crate::console::layout::{Nav, badge, count, csrf, duration, page, time};
use crate::console::session::{Flash, Signed};

/// How often a live page is brought up to date.
const TICK: Duration = Duration::from_millis(500);
/// Rejected records a run page lists.
const REJECTED_SHOWN: i64 = 200;

pub fn routes() -> Router<Console> {
    Router::new()
        .route("/runs/{id}", get(show))
        .route("/runs/{id}/events", get(events))
        .route("/runs/{id}/cancel", post(cancel))
}

fn finished(run: &Value) -> bool {
    matches!(text(run, "status"), "succeeded" | "failed" | "cancelled")
}

fn counter(run: &Value, name: &str) -> i64 {
    run.pointer(&format!("/counters/{name}"))
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// Counters, rate and pages: what the live view replaces each tick.
fn progress(run: &Value) -> Markup {
    let ms = run["duration_ms"].as_i64().unwrap_or(0);
    let fetched = counter(run, "fetched");
    let rate = if ms > 0 {
        fetched as f64 * 1000.0 / ms as f64
    } else {
        0.0
    };
    html! {
        div.row { "Status " span #run-status data-status=(text(run, "status")) { (badge(text(run, "status"))) }
            span.muted { " attempt " (run["attempt"].as_i64().unwrap_or(1)) " · " (duration(run["duration_ms"].as_i64())) } }
        div.grid {
            @for (label, name) in [("Pages", "pages"), ("Fetched", "fetched"), ("Pushed", "pushed"), ("Created", "created"), ("Updated", "updated"), ("Unchanged", "unchanged"), ("Rejected", "rejected"), ("HTTP requests", "http_requests")] {
                div.panel { div.muted { (label) } div.stat data-counter=(name) { (count(counter(run, name))) } }
            }
            div.panel { div.muted { "Records/s" } div.stat #run-rate { (format!("{rate:.0}")) } }
        }
        @if let Some(e) = run["error"].as_str() { div.flash.bad role="alert" { strong { (text(run, "error_kind")) } ": " (e) } }
    }
}

fn log_lines(logs: &[Value]) -> Markup {
    html! {
        @for l in logs {
            div.(text(l, "level")) { span.muted { (time(l["at"].as_i64())[11..].to_string()) " " (text(l, "level")) " " (text(l, "source")) " " } (text(l, "message")) }
        }
    }
}

fn rejected(list: &Value) -> Markup {
    html! {
        @if items(list).is_empty() { p.muted { "No record was rejected." } }
        @else {
            div.scroll { table #rejected {
                tr { th { "Stream" } th { "Index" } th { "Key" } th { "Field" } th { "Message" } }
                @for r in items(list) {
                    tr { td { (text(r, "stream")) } td { (r["index"].as_i64().unwrap_or(0)) } td.mono { (text(r, "key")) } td.mono { (text(r, "field")) } td { (text(r, "message")) } }
                }
            } }
        }
    }
}

/// The end of a run: what it did, and what it rejected.
fn summary(run: &Value, rejections: &Value) -> Markup {
    html! {
        h2 { "Summary" }
        p #run-summary {
            (badge(text(run, "status"))) " in " (duration(run["duration_ms"].as_i64())) ": "
            (count(counter(run, "fetched"))) " fetched, " (count(counter(run, "pushed"))) " pushed ("
            (count(counter(run, "created"))) " created, " (count(counter(run, "updated"))) " updated, "
            (count(counter(run, "unchanged"))) " unchanged), " (count(counter(run, "rejected"))) " rejected, "
            (count(counter(run, "pages"))) " pages."
        }
        (resources(&run["resources"]))
        h2 { "Rejected records" }
        (rejected(rejections))
    }
}

/// What the run used, side by side and per origin.
fn resources(r: &Value) -> Markup {
    let n = |v: &Value, key: &str| v[key].as_u64().unwrap_or(0);
    let mib = |bytes: u64| format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20));
    let empty = Vec::new();
    let sides = r["sides"].as_array().unwrap_or(&empty);
    let hosts = r
        .pointer("/total/hosts")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    html! {
        @if r.is_object() {
            h2 { "Resources" }
            div.scroll { table #resources {
                tr { th { "Side" } th { "Connector" } th { "Connection" } th { "Calls" } th { "In calls" } th { "In Wasm" } th title="10 ms ticks in which the connector's own code ran" { "Wasm ticks" } th { "HTTP" } th { "Peak memory" } th { "Requests" } th { "Sent" } th { "Received" } th { "Log" } }
                @for s in sides {
                    tr {
                        td { (text(s, "side")) } td.mono { (text(s, "connector")) } td { (text(s, "connection")) }
                        td { (n(s, "calls")) } td { (n(s, "call_ms")) " ms" } td { (n(s, "wasm_ms")) " ms" } td { (n(s, "epoch_ticks")) } td { (n(s, "http_ms")) " ms" }
                        td { (mib(n(s, "peak_memory_bytes"))) } td { (count(n(s, "http_requests") as i64)) }
                        td { (count(n(s, "bytes_out") as i64)) " B" } td { (count(n(s, "bytes_in") as i64)) " B" }
                        td { (count(n(s, "log_lines") as i64)) " lines, " (count(n(s, "log_bytes") as i64)) " B" }
                    }
                }
            } }
            @if !hosts.is_empty() {
                table #resources-hosts {
                    tr { th { "Origin" } th { "Requests" } th { "Sent" } th { "Received" } }
                    @for h in hosts {
                        tr { td.mono { (text(h, "origin")) } td { (count(n(h, "requests") as i64)) } td { (count(n(h, "bytes_out") as i64)) " B" } td { (count(n(h, "bytes_in") as i64)) " B" } }
                    }
                }
            }
            @for s in sides {
                @let calls = s["per_call"].as_array().unwrap_or(&empty);
                @if !calls.is_empty() {
                    details.calls {
                        summary { "Calls of the " (text(s, "side")) " one by one"
                            @if n(s, "calls_not_kept") > 0 { " (the first " (calls.len()) "; " (n(s, "calls_not_kept")) " more are in the sums above)" } }
                        div.scroll { table.per-call {
                            tr { th { "#" } th { "Function" } th { "Time" } th { "In Wasm" } th { "Wasm ticks" } th { "Memory" } th { "Requests" } th { "Sent" } th { "Received" } th { "Log" } }
                            @for (i, c) in calls.iter().enumerate() {
                                tr {
                                    td { (i + 1) } td.mono { (text(c, "function")) } td { (n(c, "ms")) " ms" } td { (n(c, "wasm_ms")) " ms" } td { (n(c, "epoch_ticks")) }
                                    td { (mib(n(c, "peak_memory_bytes"))) } td { (count(n(c, "http_requests") as i64)) }
                                    td { (count(n(c, "bytes_out") as i64)) " B" } td { (count(n(c, "bytes_in") as i64)) " B" } td { (count(n(c, "log_bytes") as i64)) " B" }
                                }
                            }
                        } }
                    }
                }
            }
            p.hint { "Wall time of this attempt " (n(r, "wall_ms")) " ms. “In Wasm” is time in calls not spent waiting on HTTP; “Wasm ticks” counts the sandbox's 10 ms ticks in which the connector's own code ran." }
        }
    }
}

async fn show(State(console): State<Console>, signed: Signed, Path(id): Path<String>) -> Response {
    let api = console.api(&signed);
    let base = format!("/api/v1/runs/{}", seg(&id));
    let run = match api.get(&base).await {
        Ok(r) => r,
        Err(p) => return p.into_response(),
    };
    let logs = api
        .get(&format!("{base}/logs?limit=500"))
        .await
        .unwrap_or(Value::Null);
    let last_seq = items(&logs)
        .last()
        .and_then(|l| l["seq"].as_i64())
        .unwrap_or(0);
    let done = finished(&run);
    let rejections = if done {
        api.get(&format!("{base}/errors?limit={REJECTED_SHOWN}"))
            .await
            .unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    let sync_id = text(&run, "sync_id").to_string();
    let events = format!("/runs/{}/events?after={last_seq}", seg(&id));
    let body = html! {
        div.row.spread {
            h1 { "Run " span.mono { (id) } }
            div.row {
                a.button.secondary href=(format!("/syncs/{}", seg(&sync_id))) { "Back to the sync" }
                @if !done && signed.may(Scope::Run) {
                    form.inline #cancel method="post" action=(format!("/runs/{}/cancel", seg(&id))) {
                        (csrf(&signed)) button.danger type="submit" { "Cancel" }
                    }
                }
            }
        }
        p.muted { "Started by " (text(&run, "trigger")) ", created " span.mono { (time(run["created_at"].as_i64())) } }
        // While it runs, the server pushes each part; `done` closes the stream.
        div hx-ext="sse" sse-connect=[(!done).then_some(events.as_str())] sse-close="done" {
            section #progress sse-swap="progress" { (progress(&run)) }
            h2 { "Log" }
            div.log #log data-follow sse-swap="log" hx-swap="beforeend" {
                (log_lines(items(&logs)))
            }
            section #summary sse-swap="done" {
                @if done { (summary(&run, &rejections)) }
                @else { p.muted { "The summary appears when the run ends." } }
            }
        }
    };
    page(&console, &signed, Nav::Syncs, "Run", body).await
}

#[derive(Debug, serde::Deserialize)]
pub struct EventsQuery {
    after: Option<i64>,
}

/// The live view: each tick the counters (`progress`) and new log lines
/// (`log`); at the end, the summary (`done`), and the stream closes.
async fn events(
    State(console): State<Console>,
    signed: Signed,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<EventsQuery>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    struct Follow {
        console: Console,
        signed: Signed,
        id: String,
        after: i64,
        ended: bool,
    }
    let start = Follow {
        console,
        signed,
        id,
        after: q.after.unwrap_or(0),
        ended: false,
    };
    let stream =
        futures::stream::unfold(start, |mut f| async move {
            if f.ended {
                return None;
            }
            tokio::time::sleep(TICK).await;
            let api = f.console.api(&f.signed);
            let base = format!("/api/v1/runs/{}", seg(&f.id));
            let mut events = Vec::new();
            let Ok(run) = api.get(&base).await else {
                f.ended = true;
                events.push(Event::default().event("done").data(
                    html! { p.field-error { "The run can no longer be read." } }.into_string(),
                ));
                return Some((futures::stream::iter(events.into_iter().map(Ok)), f));
            };
            events.push(
                Event::default()
                    .event("progress")
                    .data(progress(&run).into_string()),
            );
            if let Ok(logs) = api
                .get(&format!("{base}/logs?after={}&limit=500", f.after))
                .await
                && let Some(seq) = items(&logs).last().and_then(|l| l["seq"].as_i64())
            {
                f.after = seq;
                events.push(
                    Event::default()
                        .event("log")
                        .data(log_lines(items(&logs)).into_string()),
                );
            }
            if finished(&run) {
                let rejections = api
                    .get(&format!("{base}/errors?limit={REJECTED_SHOWN}"))
                    .await
                    .unwrap_or(Value::Null);
                events.push(
                    Event::default()
                        .event("done")
                        .data(summary(&run, &rejections).into_string()),
                );
                f.ended = true;
            }
            Some((futures::stream::iter(events.into_iter().map(Ok)), f))
        });
    use futures::StreamExt as _;
    Sse::new(stream.flatten()).keep_alive(KeepAlive::default())
}

async fn cancel(
    State(console): State<Console>,
    Path(id): Path<String>,
    Posted { signed, .. }: Posted,
) -> Response {
    let result = console
        .api(&signed)
        .json(
            Method::POST,
            &format!("/api/v1/runs/{}/cancel", seg(&id)),
            None,
        )
        .await
        .map(|_| Flash::ok("Cancellation asked for; the run stops within one call."));
    after(&console, &signed, result, &format!("/runs/{}", seg(&id))).await
}
