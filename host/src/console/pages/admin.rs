//! Administration: outgoing webhooks (secret shown once on creation, send
//! a test, deliveries with attempts and last error), API keys (create with
//! a scope, shown once; revoke) and the audit log (filter by actor, action,
//! object). Admin keys only: the API refuses others, and the navigation
//! does not offer these pages to them.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::html;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Posted, after, all, field, items, text};
use crate::console::Console;
use crate::console::backend::{query, seg};
use crate::console::layout::{Nav, badge, csrf, page, time};
use crate::console::session::{Flash, Signed};
use crate::events::EVENTS;

pub fn routes() -> Router<Console> {
    Router::new()
        .route("/webhooks", get(webhooks).post(create_webhook))
        .route("/webhooks/{id}", get(webhook))
        .route("/webhooks/{id}/test", post(test_webhook))
        .route("/webhooks/{id}/retry/{message}", post(retry_message))
        .route("/webhooks/{id}/delete", post(delete_webhook))
        .route("/keys", get(keys).post(create_key))
        .route("/keys/{id}/revoke", post(revoke_key))
        .route("/audit", get(audit))
}

async fn webhooks(State(console): State<Console>, signed: Signed) -> Response {
    let list = match console.api(&signed).get("/api/v1/webhooks?limit=500").await {
        Ok(l) => l,
        Err(p) => return p.into_response(),
    };
    let body = html! {
        h1 { "Webhooks" }
        p.muted { "Wharf POSTs events to these endpoints, signed with each endpoint's secret, and retries failed deliveries." }
        @if !items(&list).is_empty() {
            div.scroll { table {
                tr { th { "URL" } th { "Events" } th { "State" } th { "Created" } }
                @for w in items(&list) {
                    tr {
                        td { a href=(format!("/webhooks/{}", text(w, "id"))) { (text(w, "url")) } }
                        td { (w["events"].as_array().map(|e| e.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")).unwrap_or_default()) }
                        td { (badge(if w["enabled"] == Value::Bool(true) { "enabled" } else { "disabled" }))
                             @if let Some(r) = w["disabled_reason"].as_str() { div.hint { (r) } } }
                        td.mono { (time(w["created_at"].as_i64())) }
                    }
                }
            } }
        }
        h2 { "New endpoint" }
        form.stack method="post" action="/webhooks" {
            (csrf(&signed))
            label for="f-url" { span.required { "URL" } input #f-url type="url" name="url" required placeholder="https://example.com/wharf-events"; }
            fieldset {
                legend { "Events" }
                @for e in EVENTS { label.check { input type="checkbox" name="events" value=(e); (e) } }
            }
            label for="f-networks" { "Private networks it may reach" span.hint { "CIDR, one per line; only for an endpoint inside your network." }
                textarea #f-networks name="networks" rows="2" {} }
            div { button type="submit" { "Create endpoint" } }
        }
    };
    page(&console, &signed, Nav::Webhooks, "Webhooks", body).await
}

async fn create_webhook(
    State(console): State<Console>,
    Posted { signed, fields }: Posted,
) -> Response {
    let networks: Vec<&str> = field(&fields, "networks")
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let body = json!({ "url": field(&fields, "url").unwrap_or_default(), "events": all(&fields, "events"), "networks": networks });
    let result = console
        .api(&signed)
        .json(Method::POST, "/api/v1/webhooks", Some(&body))
        .await
        .map(|w| {
            Flash::secret(
                format!(
                    "Created the endpoint {}. Its signing secret:",
                    text(&w, "url")
                ),
                text(&w, "secret"),
            )
        });
    after(&console, &signed, result, "/webhooks").await
}

async fn webhook(
    State(console): State<Console>,
    signed: Signed,
    Path(id): Path<String>,
) -> Response {
    let api = console.api(&signed);
    let w = match api.get(&format!("/api/v1/webhooks/{}", seg(&id))).await {
        Ok(w) => w,
        Err(p) => return p.into_response(),
    };
    let deliveries = api
        .get(&format!(
            "/api/v1/webhooks/{}/deliveries?limit=50",
            seg(&id)
        ))
        .await
        .unwrap_or(Value::Null);
    let base = format!("/webhooks/{}", seg(&id));
    let body = html! {
        h1 { "Endpoint " span.mono { (text(&w, "url")) } }
        div.row {
            form.inline method="post" action=(format!("{base}/test")) { (csrf(&signed)) button type="submit" { "Send test" } }
            form.inline method="post" action=(format!("{base}/delete")) hx-confirm="Delete this endpoint and its queued messages?" { (csrf(&signed)) button.danger type="submit" { "Delete" } }
        }
        h2 { "Deliveries" }
        @if items(&deliveries).is_empty() { p.muted { "Nothing sent yet." } }
        @else {
            div.scroll { table {
                tr { th { "Created" } th { "Event" } th { "Status" } th { "Attempts" } th { "Next attempt" } th { "Last error" } th {} }
                @for m in items(&deliveries) {
                    tr {
                        td.mono { (time(m["created_at"].as_i64())) }
                        td { (text(m, "event")) }
                        td { (badge(text(m, "status"))) }
                        td { (m["attempts"].as_i64().unwrap_or(0)) @if let Some(s) = m["last_status"].as_i64() { " (HTTP " (s) ")" } }
                        td.mono { @if text(m, "status") == "pending" { (time(m["next_attempt_at"].as_i64())) } }
                        td { (text(m, "last_error")) }
                        td {
                            @if matches!(text(m, "status"), "pending" | "failed") {
                                form.inline method="post" action=(format!("{base}/retry/{}", seg(text(m, "id")))) {
                                    (csrf(&signed)) button.secondary type="submit" { "Retry now" }
                                }
                            }
                        }
                    }
                }
            } }
        }
    };
    page(&console, &signed, Nav::Webhooks, "Webhook", body).await
}

async fn test_webhook(
    State(console): State<Console>,
    Path(id): Path<String>,
    Posted { signed, .. }: Posted,
) -> Response {
    let result = console
        .api(&signed)
        .json(
            Method::POST,
            &format!("/api/v1/webhooks/{}/test", seg(&id)),
            None,
        )
        .await
        .map(|_| Flash::ok("A webhook.test event is queued; it appears below once sent."));
    after(
        &console,
        &signed,
        result,
        &format!("/webhooks/{}", seg(&id)),
    )
    .await
}

async fn retry_message(
    State(console): State<Console>,
    Path((id, message)): Path<(String, String)>,
    Posted { signed, .. }: Posted,
) -> Response {
    let path = format!(
        "/api/v1/webhooks/{}/deliveries/{}/retry",
        seg(&id),
        seg(&message)
    );
    let result = console
        .api(&signed)
        .json(Method::POST, &path, None)
        .await
        .map(|_| Flash::ok("The message is due again now."));
    after(
        &console,
        &signed,
        result,
        &format!("/webhooks/{}", seg(&id)),
    )
    .await
}

async fn delete_webhook(
    State(console): State<Console>,
    Path(id): Path<String>,
    Posted { signed, .. }: Posted,
) -> Response {
    let result = console
        .api(&signed)
        .json(
            Method::DELETE,
            &format!("/api/v1/webhooks/{}", seg(&id)),
            None,
        )
        .await
        .map(|_| Flash::ok("Deleted the endpoint."));
    after(&console, &signed, result, "/webhooks").await
}

async fn keys(State(console): State<Console>, signed: Signed) -> Response {
    let list = match console.api(&signed).get("/api/v1/api-keys?limit=500").await {
        Ok(l) => l,
        Err(p) => return p.into_response(),
    };
    let body = html! {
        h1 { "API keys" }
        div.scroll { table #keys {
            tr { th { "Name" } th { "Id" } th { "Scope" } th { "Created" } th { "Last used" } th {} }
            @for k in items(&list) {
                tr {
                    td { (text(k, "name")) }
                    td.mono { (text(k, "id")) }
                    td { (badge(text(k, "scope"))) }
                    td.mono { (time(k["created_at"].as_i64())) }
                    td.mono { (time(k["last_used_at"].as_i64())) }
                    td {
                        @if k["revoked_at"].is_null() {
                            @if Some(text(k, "id")) != signed.key_id() {
                                form.inline method="post" action=(format!("/keys/{}/revoke", text(k, "id"))) hx-confirm="Revoke this key? Everything using it stops at once." {
                                    (csrf(&signed)) button.danger type="submit" { "Revoke" }
                                }
                            } @else { span.hint { "this session's key" } }
                        } @else { (badge("revoked")) }
                    }
                }
            }
        } }
        h2 { "New key" }
        form.stack method="post" action="/keys" {
            (csrf(&signed))
            label for="f-key-name" { span.required { "Name" } span.hint { "After who or what uses it." } input #f-key-name type="text" name="name" required autocomplete="off"; }
            label for="f-scope" { "Scope" }
            select #f-scope name="scope" {
                option value="read" { "read (viewer): see everything but secrets" }
                option value="run" { "run: read, and run checks and syncs" }
                option value="operator" { "operator: run, and change connections and syncs" }
                option value="write" selected { "write: operator, and upload connectors" }
                option value="admin" { "admin: everything, including keys and the audit log" }
            }
            div { button type="submit" { "Create key" } }
        }
    };
    page(&console, &signed, Nav::Keys, "API keys", body).await
}

async fn create_key(State(console): State<Console>, Posted { signed, fields }: Posted) -> Response {
    let body = json!({ "name": field(&fields, "name").unwrap_or_default(), "scope": field(&fields, "scope").unwrap_or("read") });
    let result = console
        .api(&signed)
        .json(Method::POST, "/api/v1/api-keys", Some(&body))
        .await
        .map(|k| {
            Flash::secret(
                format!(
                    "Created the key {} ({}):",
                    text(&k, "name"),
                    text(&k, "scope")
                ),
                text(&k, "key"),
            )
        });
    after(&console, &signed, result, "/keys").await
}

async fn revoke_key(
    State(console): State<Console>,
    Path(id): Path<String>,
    Posted { signed, .. }: Posted,
) -> Response {
    let result = console
        .api(&signed)
        .json(
            Method::DELETE,
            &format!("/api/v1/api-keys/{}", seg(&id)),
            None,
        )
        .await
        .map(|_| Flash::ok("Revoked; requests with it fail from now on."));
    after(&console, &signed, result, "/keys").await
}

#[derive(Debug, Deserialize)]
pub struct AuditFilter {
    actor: Option<String>,
    action: Option<String>,
    object: Option<String>,
}

async fn audit(
    State(console): State<Console>,
    signed: Signed,
    Query(f): Query<AuditFilter>,
) -> Response {
    let given = |v: &Option<String>| v.clone().unwrap_or_default();
    let (actor, action, object) = (given(&f.actor), given(&f.action), given(&f.object));
    let path = format!(
        "/api/v1/audit?{}",
        query(&[
            ("limit", "200"),
            ("actor", actor.trim()),
            ("action", action.trim()),
            ("target", object.trim()),
        ])
    );
    let list = match console.api(&signed).get(&path).await {
        Ok(l) => l,
        Err(p) => return p.into_response(),
    };
    let shown = items(&list);
    let body = html! {
        h1 { "Audit log" }
        form.row method="get" action="/audit" {
            label for="f-actor" { "Actor (key id, or a person's email or subject)" } input #f-actor type="search" name="actor" value=[f.actor.as_deref()];
            label for="f-action" { "Action" } input #f-action type="search" name="action" value=[f.action.as_deref()] placeholder="connection.create";
            label for="f-object" { "Object" } input #f-object type="search" name="object" value=[f.object.as_deref()];
            button.secondary type="submit" { "Filter" }
        }
        p.hint { "The newest 200 matching entries; an action ending in '.' matches every action starting so (connection.). The API pages further back (GET /api/v1/audit)." }
        div.scroll { table #audit {
            tr { th { "At" } th { "Actor" } th { "Action" } th { "Object" } th { "Detail" } }
            @for e in shown {
                tr {
                    td.mono { (time(e["at"].as_i64())) }
                    @if e["key_id"].is_string() {
                        td.mono { (text(e, "key_id")) }
                    } @else if e["subject"].is_string() {
                        td title=(format!("subject {}", text(e, "subject"))) { (e["email"].as_str().unwrap_or(text(e, "subject"))) }
                    } @else {
                        td.mono { }
                    }
                    td { (text(e, "action")) }
                    td.mono { (text(e, "target")) }
                    td { code { (e["detail"].to_string()) } }
                }
            }
        } }
    };
    page(&console, &signed, Nav::Audit, "Audit log", body).await
}
