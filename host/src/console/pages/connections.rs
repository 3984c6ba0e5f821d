//! Connections: the list with status badges; create and edit from a form
//! generated from the connector's config schema (errors from the API's
//! validator beside their inputs); secrets write-only ("set"/"not set");
//! grants beside what the connector declares; Test connection; Connect
//! with the OAuth2 provider; the incoming webhook URL (shown once) and its
//! deliveries.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::html;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::connection_form::{FormState, connection_form, grants, secrets_of};
use super::{Fields, Posted, after, errors_by_field, field, finish, items, text};
use crate::api::{OAUTH_RETURN_COOKIE, Scope};
use crate::console::backend::{Problem, seg};
use crate::console::form::{fields_of, value_from_form};
use crate::console::layout::{Nav, badge, csrf, page, time};
use crate::console::session::{Flash, SameSite, Signed, set_cookie};
use crate::console::{Console, layout};

pub fn routes() -> Router<Console> {
    Router::new()
        .route("/connections", get(list))
        .route("/connections/new", get(new_form).post(create))
        .route("/connections/{id}", get(show).post(update))
        .route("/connections/{id}/check", post(test))
        .route("/connections/{id}/oauth", post(connect))
        .route("/connections/{id}/webhook", post(webhook))
        .route("/connections/{id}/delete", post(delete))
}

async fn list(State(console): State<Console>, signed: Signed) -> Response {
    let list = match console
        .api(&signed)
        .get("/api/v1/connections?limit=500")
        .await
    {
        Ok(l) => l,
        Err(p) => return p.into_response(),
    };
    let body = html! {
        div.row.spread {
            h1 { "Connections" }
            @if signed.may(Scope::Operator) { a.button href="/connections/new" { "New connection" } }
        }
        @if items(&list).is_empty() { p.muted { "No connection yet. Pick a connector in the " a href="/catalog" { "catalog" } "." } }
        @else {
            div.scroll { table {
                tr { th { "Name" } th { "Connector" } th { "Status" } th { "Checked" } }
                @for c in items(&list) {
                    tr {
                        td { a href=(format!("/connections/{}", text(c, "id"))) { (text(c, "name")) } }
                        td.mono { (text(c, "connector")) }
                        td { (badge(text(c, "status")))
                             @if let Some(r) = c["status_reason"].as_str() { div.hint { (r) } } }
                        td.mono { (time(c["checked_at"].as_i64())) }
                    }
                }
            } }
        }
    };
    page(&console, &signed, Nav::Connections, "Connections", body).await
}

/// `name@version` → the connector as the API shows it.
async fn connector(console: &Console, signed: &Signed, reference: &str) -> Result<Value, Problem> {
    let (name, version) = reference.split_once('@').unwrap_or((reference, ""));
    console
        .api(signed)
        .get(&format!(
            "/api/v1/connectors/{}/{}",
            seg(name),
            seg(version)
        ))
        .await
}

#[derive(Debug, Deserialize)]
pub struct NewQuery {
    connector: Option<String>,
}

async fn new_form(
    State(console): State<Console>,
    signed: Signed,
    Query(q): Query<NewQuery>,
) -> Response {
    let Some(reference) = q.connector.filter(|c| !c.is_empty()) else {
        return pick_connector(&console, &signed).await;
    };
    let c = match connector(&console, &signed, &reference).await {
        Ok(c) => c,
        Err(p) => return p.into_response(),
    };
    let form = connection_form(
        &signed,
        &c["spec"],
        &format!("/connections/new?connector={}", seg(&reference)),
        false,
        &FormState {
            name: "",
            config: &Value::Null,
            hosts: "",
            networks: "",
            secrets_set: &[],
            errors: BTreeMap::new(),
            problem: None,
        },
    );
    let body = html! { h1 { "New connection to " (reference) } (form) };
    page(&console, &signed, Nav::Connections, "New connection", body).await
}

async fn pick_connector(console: &Console, signed: &Signed) -> Response {
    let list = match console
        .api(signed)
        .get("/api/v1/connectors?limit=500")
        .await
    {
        Ok(l) => l,
        Err(p) => return p.into_response(),
    };
    let body = html! {
        h1 { "New connection" }
        form.stack method="get" action="/connections/new" {
            label for="f-connector" { "Connector" }
            select #f-connector name="connector" required {
                @for c in items(&list) {
                    @let r = format!("{}@{}", text(c, "name"), text(c, "version"));
                    option value=(r) { (r) " · " (text(&c["spec"], "description")) }
                }
            }
            div { button type="submit" { "Next" } }
        }
    };
    page(console, signed, Nav::Connections, "New connection", body).await
}

async fn create(
    State(console): State<Console>,
    Query(q): Query<NewQuery>,
    Posted { signed, fields }: Posted,
) -> Response {
    let reference = q.connector.unwrap_or_default();
    let c = match connector(&console, &signed, &reference).await {
        Ok(c) => c,
        Err(p) => return p.into_response(),
    };
    let spec = &c["spec"];
    let config = value_from_form(&fields_of(&spec["config_schema"]), "config", &fields);
    let secrets: Map<String, Value> = fields
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("secret/")?, v)))
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
        .collect();
    let name = field(&fields, "name").unwrap_or_default();
    let body = json!({
        "name": name,
        "connector": reference,
        "config": config,
        "secrets": secrets,
        "grants": grants(&fields, signed.may(Scope::Admin)),
    });
    match console
        .api(&signed)
        .json(Method::POST, "/api/v1/connections", Some(&body))
        .await
    {
        Ok(created) => {
            signed
                .flash(&console, &Flash::ok(format!("Created connection {name}.")))
                .await;
            Redirect::to(&format!("/connections/{}", text(&created, "id"))).into_response()
        }
        Err(p) if matches!(p.status.as_u16(), 409 | 422) => {
            let form = connection_form(
                &signed,
                spec,
                &format!("/connections/new?connector={}", seg(&reference)),
                false,
                &FormState {
                    name,
                    config: &config,
                    hosts: field(&fields, "hosts").unwrap_or_default(),
                    networks: field(&fields, "networks").unwrap_or_default(),
                    secrets_set: &[],
                    errors: errors_by_field(&p),
                    problem: Some(&p.detail),
                },
            );
            let body = html! { h1 { "New connection to " (reference) } (form) };
            let mut response =
                page(&console, &signed, Nav::Connections, "New connection", body).await;
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            response
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
    failed: Option<(&Fields, &Problem)>,
) -> Response {
    let api = console.api(signed);
    let c = match api.get(&format!("/api/v1/connections/{}", seg(id))).await {
        Ok(c) => c,
        Err(p) => return p.into_response(),
    };
    let spec = match connector(console, signed, text(&c, "connector")).await {
        Ok(k) => k["spec"].clone(),
        Err(p) => return p.into_response(),
    };
    let deliveries = if spec["webhook"].is_object() {
        api.get(&format!(
            "/api/v1/connections/{}/deliveries?limit=20",
            seg(id)
        ))
        .await
        .ok()
    } else {
        None
    };
    let secrets_set: Vec<String> = c["secrets"]
        .as_array()
        .map(|s| s.iter().map(|x| text(x, "name").to_string()).collect())
        .unwrap_or_default();
    let host_lines = c
        .pointer("/grants/hosts")
        .and_then(Value::as_array)
        .map(|h| {
            h.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default();
    let network_lines = c
        .pointer("/grants/networks")
        .and_then(Value::as_array)
        .map(|h| {
            h.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default();
    let submitted_config;
    let state = match failed {
        Some((fields, p)) => {
            submitted_config =
                value_from_form(&fields_of(&spec["config_schema"]), "config", fields);
            FormState {
                name: field(fields, "name").unwrap_or_default(),
                config: &submitted_config,
                hosts: field(fields, "hosts").unwrap_or_default(),
                networks: field(fields, "networks").unwrap_or_default(),
                secrets_set: &secrets_set,
                errors: errors_by_field(p),
                problem: Some(&p.detail),
            }
        }
        None => FormState {
            name: text(&c, "name"),
            config: &c["config"],
            hosts: &host_lines,
            networks: &network_lines,
            secrets_set: &secrets_set,
            errors: BTreeMap::new(),
            problem: None,
        },
    };
    let base = format!("/connections/{}", seg(id));
    let provider = spec
        .pointer("/oauth2/provider")
        .and_then(Value::as_str)
        .or_else(|| {
            spec.pointer("/catalog/display_name")
                .and_then(Value::as_str)
        })
        .unwrap_or("the provider");
    let interactive_oauth = spec["oauth2"].is_object()
        && spec
            .pointer("/oauth2/grant")
            .and_then(Value::as_str)
            .is_none_or(|g| g == "authorization-code");
    let body = html! {
        div.row.spread {
            h1 { (text(&c, "name")) " " (badge(text(&c, "status"))) }
            div.row {
                @if signed.may(Scope::Run) {
                    form.inline method="post" action=(format!("{base}/check")) {
                        (csrf(signed)) button type="submit" { "Test connection" }
                    }
                }
                @if signed.may(Scope::Operator) && interactive_oauth {
                    // A full navigation: the provider's page is another site.
                    form.inline method="post" action=(format!("{base}/oauth")) hx-boost="false" {
                        (csrf(signed)) button type="submit" { "Connect with " (provider) }
                    }
                }
            }
        }
        @if let Some(r) = c["status_reason"].as_str() { p.flash.bad { (r) } }
        table {
            tr { th { "Connector" } td { a href=(format!("/catalog/{}", text(&c, "connector").replace('@', "/"))) { (text(&c, "connector")) } } }
            tr { th { "Last check" } td.mono { (time(c["checked_at"].as_i64())) } }
            tr { th { "Secrets" } td {
                @for s in &secrets_of(&spec) {
                    @let n = text(s, "name");
                    code { (n) } " " (badge(if secrets_set.iter().any(|x| x == n) { "set" } else { "not set" })) " "
                }
            } }
            tr { th { "Updated" } td.mono { (time(c["updated_at"].as_i64())) } }
        }
        @if spec["webhook"].is_object() {
            section.panel {
                h2 { "Incoming webhook" }
                p.hint { "The URL holds a secret token: it is shown once when made. Making a new one stops the old one." }
                @if signed.may(Scope::Operator) {
                    form method="post" action=(format!("{base}/webhook")) {
                        (csrf(signed)) button.secondary type="submit" { "Create or rotate the webhook URL" }
                    }
                }
                @if let Some(d) = &deliveries {
                    @if items(d).is_empty() { p.muted { "No deliveries yet." } }
                    @else {
                        div.scroll { table {
                            tr { th { "Received" } th { "Delivery" } th { "Status" } th { "Detail" } }
                            @for x in items(d) {
                                tr {
                                    td.mono { (time(x["received_at"].as_i64())) }
                                    td.mono { (text(x, "delivery_id")) }
                                    td { (badge(text(x, "status"))) }
                                    td { @if !x["detail"].is_null() { code { (x["detail"].to_string()) } } }
                                }
                            }
                        } }
                    }
                }
            }
        }
        @if signed.may(Scope::Operator) {
            h2 { "Edit" }
            (connection_form(signed, &spec, &base, true, &state))
            h2 { "Delete" }
            form method="post" action=(format!("{base}/delete")) hx-confirm="Delete this connection and its secrets?" {
                (csrf(signed)) button.danger type="submit" { "Delete connection" }
            }
        } @else {
            h2 { "Settings" }
            (layout::json_block(&c["config"]))
        }
    };
    let mut response = page(console, signed, Nav::Connections, text(&c, "name"), body).await;
    if failed.is_some() {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    response
}

async fn update(
    State(console): State<Console>,
    Path(id): Path<String>,
    Posted { signed, fields }: Posted,
) -> Response {
    let api = console.api(&signed);
    let c = match api.get(&format!("/api/v1/connections/{}", seg(&id))).await {
        Ok(c) => c,
        Err(p) => return p.into_response(),
    };
    let spec = match connector(&console, &signed, text(&c, "connector")).await {
        Ok(k) => k["spec"].clone(),
        Err(p) => return p.into_response(),
    };
    let config = value_from_form(&fields_of(&spec["config_schema"]), "config", &fields);
    let mut secrets = Map::new();
    for (k, v) in &fields {
        if let Some(name) = k.strip_prefix("secret/").filter(|_| !v.is_empty()) {
            secrets.insert(name.to_string(), Value::String(v.clone()));
        }
        if let Some(name) = k.strip_prefix("clear/") {
            secrets.entry(name.to_string()).or_insert(Value::Null);
        }
    }
    let mut body = json!({
        "name": field(&fields, "name").unwrap_or_default(),
        "config": config,
        "secrets": secrets,
    });
    let g = grants(&fields, signed.may(Scope::Admin));
    if !g.is_empty() {
        body["grants"] = Value::Object(g);
    }
    match api
        .json(
            Method::PATCH,
            &format!("/api/v1/connections/{}", seg(&id)),
            Some(&body),
        )
        .await
    {
        Ok(_) => {
            signed.flash(&console, &Flash::ok("Saved.")).await;
            Redirect::to(&format!("/connections/{}", seg(&id))).into_response()
        }
        Err(p) if matches!(p.status.as_u16(), 409 | 422) => {
            render_show(&console, &signed, &id, Some((&fields, &p))).await
        }
        Err(p) => p.into_response(),
    }
}

async fn test(
    State(console): State<Console>,
    Path(id): Path<String>,
    Posted { signed, .. }: Posted,
) -> Response {
    let here = format!("/connections/{}", seg(&id));
    let path = format!("/api/v1/connections/{}/check", seg(&id));
    let result = console
        .api(&signed)
        .json(Method::POST, &path, None)
        .await
        .map(|r| {
            if r["ok"] == Value::Bool(true) {
                let ms = r["duration_ms"].as_i64().unwrap_or(0);
                Flash::ok(format!("Check passed in {ms} ms."))
            } else {
                Flash::bad(format!(
                    "Check failed ({}): {}",
                    text(&r, "kind"),
                    text(&r, "message")
                ))
            }
        });
    after(&console, &signed, result, &here).await
}

/// Start the OAuth2 flow: the API gives the provider's page; the browser
/// goes there, and comes back through `/oauth/callback` to this page.
async fn connect(
    State(console): State<Console>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Posted { signed, .. }: Posted,
) -> Response {
    let path = format!("/api/v1/connections/{}/oauth/start", seg(&id));
    match console.api(&signed).json(Method::POST, &path, None).await {
        Ok(start) => {
            let mut response = Redirect::to(text(&start, "authorization_url")).into_response();
            // Ids are generated (letters, digits, '-'): safe as a cookie
            // value. Lax: it must come back with the provider's redirect.
            let cookie = set_cookie(
                &console,
                &headers,
                OAUTH_RETURN_COOKIE,
                &id,
                900,
                SameSite::Lax,
            );
            response.headers_mut().insert(header::SET_COOKIE, cookie);
            response
        }
        Err(mut p) => {
            p.detail = format!("Cannot start the authorization: {}", p.detail);
            after(
                &console,
                &signed,
                Err(p),
                &format!("/connections/{}", seg(&id)),
            )
            .await
        }
    }
}

async fn webhook(
    State(console): State<Console>,
    Path(id): Path<String>,
    Posted { signed, .. }: Posted,
) -> Response {
    let path = format!("/api/v1/connections/{}/webhook", seg(&id));
    let result = console
        .api(&signed)
        .json(Method::POST, &path, None)
        .await
        .map(|h| {
            Flash::secret(
                "The incoming webhook URL; give it to the sending system.",
                text(&h, "url"),
            )
        });
    after(
        &console,
        &signed,
        result,
        &format!("/connections/{}", seg(&id)),
    )
    .await
}

async fn delete(
    State(console): State<Console>,
    Path(id): Path<String>,
    Posted { signed, .. }: Posted,
) -> Response {
    let path = format!("/api/v1/connections/{}", seg(&id));
    let result = console
        .api(&signed)
        .json(Method::DELETE, &path, None)
        .await
        .map(|_| {
            (
                Flash::ok("Deleted the connection."),
                "/connections".to_string(),
            )
        });
    finish(
        &console,
        &signed,
        result,
        &format!("/connections/{}", seg(&id)),
    )
    .await
}
