//! The dashboard: runs of the last 24 hours by outcome (a chart), records
//! moved, connections in error, the next scheduled runs, the queue.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;

use super::text;
use crate::console::Console;
use crate::console::chart::{Bar, runs_by_hour};
use crate::console::layout::{Nav, badge, count, page, time};
use crate::console::session::Signed;

pub async fn show(State(console): State<Console>, signed: Signed) -> Response {
    let o = match console.api(&signed).get("/api/v1/overview").await {
        Ok(o) => o,
        Err(p) => return p.into_response(),
    };
    let n = |path: &str| o.pointer(path).and_then(|v| v.as_i64()).unwrap_or(0);
    let bars: Vec<Bar> = o["hours"]
        .as_array()
        .map(|hours| {
            hours
                .iter()
                .map(|h| Bar {
                    label: time(h["start"].as_i64())[11..16].to_string(),
                    ok: h["succeeded"].as_i64().unwrap_or(0),
                    bad: h["failed"].as_i64().unwrap_or(0),
                    other: h["cancelled"].as_i64().unwrap_or(0),
                })
                .collect()
        })
        .unwrap_or_default();
    let empty = Vec::new();
    let troubled = o["connections_in_error"].as_array().unwrap_or(&empty);
    let next = o["next_runs"].as_array().unwrap_or(&empty);
    let body = html! {
        h1 { "Dashboard" }
        div.grid {
            div.panel { div.muted { "Runs succeeded (24 h)" } div.stat #stat-succeeded { (count(n("/finished/succeeded"))) } }
            div.panel { div.muted { "Runs failed (24 h)" } div.stat #stat-failed { (count(n("/finished/failed"))) } }
            div.panel { div.muted { "Records moved (24 h)" } div.stat #stat-records { (count(n("/records_moved"))) } }
            div.panel { div.muted { "Queue / running" } div.stat #stat-queue { (count(n("/queue_depth"))) " / " (count(n("/running"))) } }
        }
        section.panel {
            h2 { "Runs per hour, last 24 hours (UTC)" }
            (runs_by_hour(&bars, "Runs per hour by outcome"))
            p.legend.muted {
                span { i.ok {} "succeeded" } span { i.bad {} "failed" } span { i.other {} "cancelled" }
            }
        }
        div.cards {
            section.panel {
                h2 { "Connections in error" }
                @if troubled.is_empty() { p.muted { "None: every connection is fine." } }
                @else {
                    ul {
                        @for c in troubled {
                            li {
                                a href=(format!("/connections/{}", text(c, "id"))) { (text(c, "name")) }
                                " " (badge(text(c, "status")))
                                @if let Some(r) = c["reason"].as_str() { div.hint { (r) } }
                            }
                        }
                    }
                }
            }
            section.panel {
                h2 { "Next scheduled runs" }
                @if next.is_empty() { p.muted { "No sync has a schedule." } }
                @else {
                    ul {
                        @for s in next {
                            li {
                                a href=(format!("/syncs/{}", text(s, "sync_id"))) { (text(s, "sync")) }
                                " at " span.mono { (time(s["due_at"].as_i64())) }
                            }
                        }
                    }
                }
            }
        }
    };
    page(&console, &signed, Nav::Dashboard, "Dashboard", body).await
}
