//! The catalog: connectors grouped by category with icon, name,
//! description, versions and roles; a connector's page (streams and their
//! schemas, hosts, secrets, OAuth2 and webhook support, digest and
//! publisher signature); upload by file picker or drag and drop, with its
//! signature file if it has one, and the loader's refusal in words.

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde_json::Value;

use super::{Fields, Posted, check, finish, items, text};
use crate::api::Scope;
use crate::console::Console;
use crate::console::backend::seg;
use crate::console::layout::{Nav, csrf, json_block, page};
use crate::console::session::{Flash, Signed};

/// Largest component the console passes on (the API applies its own limit).
const UPLOAD_LIMIT: usize = 128 << 20;

pub fn routes() -> Router<Console> {
    Router::new()
        .route("/catalog", get(list))
        .route(
            "/catalog/upload",
            post(upload).layer(DefaultBodyLimit::max(UPLOAD_LIMIT)),
        )
        .route("/catalog/{name}/{version}", get(show))
        .route("/catalog/{name}/{version}/icon.svg", get(icon))
        .route("/catalog/{name}/{version}/delete", post(delete))
}

/// The category a connector is listed under: its first, or "other".
fn category(spec: &Value) -> String {
    spec.pointer("/catalog/categories/0")
        .and_then(Value::as_str)
        .unwrap_or("other")
        .to_string()
}

fn display_name(spec: &Value) -> &str {
    spec.pointer("/catalog/display_name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| text(spec, "name"))
}

fn roles(spec: &Value) -> String {
    spec["roles"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// "verified: acme", "unsigned", … as the API reports it.
fn signature_badge(sig: &Value) -> Markup {
    let status = sig["status"].as_str().unwrap_or("unsigned");
    html! {
        @match (status, sig["publisher"].as_str()) {
            ("verified", Some(p)) => span.badge.ok title="signed by a trusted publisher" { "verified: " (p) },
            ("invalid", _) => span.badge.bad title="the signature does not verify" { "invalid signature" },
            ("unknown-publisher", _) => span.badge.warn title="signed by a key this server does not trust" { "unknown publisher" },
            _ => span.badge.muted { "unsigned" },
        }
    }
}

fn upload_form(signed: &Signed) -> Markup {
    html! {
        @if signed.may(Scope::Write) {
            form.panel method="post" action="/catalog/upload" enctype="multipart/form-data" hx-boost="false" {
                (csrf(signed))
                div.drop data-drop {
                    label for="component" { "Upload a connector component (.wasm)" }
                    p.hint { "Pick a file or drop it here; it is checked and compiled before it is listed." }
                    input #component type="file" name="file" accept=".wasm,application/wasm" required;
                    label for="signature" { "Its publisher's signature (.sig, optional)" }
                    input #signature type="file" name="signature" accept=".sig";
                    div { button type="submit" { "Upload" } }
                }
            }
        }
    }
}

async fn list(State(console): State<Console>, signed: Signed) -> Response {
    let list = match console
        .api(&signed)
        .get("/api/v1/connectors?limit=500")
        .await
    {
        Ok(l) => l,
        Err(p) => return p.into_response(),
    };
    // name → versions (newest upload first, as the API lists them).
    let mut by_category: BTreeMap<String, BTreeMap<String, Vec<&Value>>> = BTreeMap::new();
    for c in items(&list) {
        by_category
            .entry(category(&c["spec"]))
            .or_default()
            .entry(text(c, "name").to_string())
            .or_default()
            .push(c);
    }
    let body = html! {
        h1 { "Catalog" }
        (upload_form(&signed))
        @if by_category.is_empty() { p.muted { "No connector is uploaded yet." } }
        @for (cat, connectors) in &by_category {
            section {
                h2 { (cat.replace('-', " ")) }
                div.cards {
                    @for (name, versions) in connectors {
                        @let latest = versions[0];
                        @let spec = &latest["spec"];
                        div.card data-connector=(name) {
                            img src=(format!("/catalog/{}/{}/icon.svg", seg(name), seg(text(latest, "version")))) alt="";
                            div {
                                a href=(format!("/catalog/{}/{}", seg(name), seg(text(latest, "version")))) { strong { (display_name(spec)) } }
                                div.desc { (text(spec, "description")) }
                                div.hint {
                                    (roles(spec)) " · " (signature_badge(&latest["signature"])) " · "
                                    @for (i, v) in versions.iter().enumerate() {
                                        @if i > 0 { ", " }
                                        a href=(format!("/catalog/{}/{}", seg(name), seg(text(v, "version")))) { (text(v, "version")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page(&console, &signed, Nav::Catalog, "Catalog", body).await
}

async fn show(
    State(console): State<Console>,
    signed: Signed,
    Path((name, version)): Path<(String, String)>,
) -> Response {
    let path = format!("/api/v1/connectors/{}/{}", seg(&name), seg(&version));
    let c = match console.api(&signed).get(&path).await {
        Ok(c) => c,
        Err(p) => return p.into_response(),
    };
    let spec = &c["spec"];
    let empty = Vec::new();
    let list = |key: &str| spec[key].as_array().unwrap_or(&empty).clone();
    let body = html! {
        div.row {
            img src=(format!("/catalog/{}/{}/icon.svg", seg(&name), seg(&version))) alt="" width="48" height="48";
            div {
                h1 { (display_name(spec)) " " span.muted { (name) "@" (version) } }
                p.muted { (text(spec, "description")) }
            }
        }
        div.row {
            @if signed.may(Scope::Write) {
                a.button href=(format!("/connections/new?connector={}", seg(&format!("{name}@{version}")))) { "New connection" }
                form.inline method="post" action=(format!("/catalog/{}/{}/delete", seg(&name), seg(&version))) hx-confirm="Delete this connector version?" {
                    (csrf(&signed))
                    button.danger type="submit" { "Delete" }
                }
            }
        }
        table {
            tr { th { "Roles" } td { (roles(spec)) } }
            tr { th { "Category" } td { (category(spec)) } }
            tr { th { "Contract" } td { (text(spec, "contract")) } }
            tr { th { "Digest" } td.mono { (text(&c, "digest")) } }
            tr { th { "Signature" } td {
                (signature_badge(&c["signature"]))
                @if let Some(id) = c.pointer("/signature/key_id").and_then(Value::as_str) { " · key " code { (id) } }
                @if let Some(why) = c.pointer("/signature/detail").and_then(Value::as_str) { p.hint { (why) } }
            } }
            tr { th { "Size" } td { (c["size"].as_i64().unwrap_or(0)) " bytes" } }
            tr { th { "Hosts it needs" } td {
                @for h in list("hosts") { code { (h.as_str().unwrap_or_default()) } " " }
                @if list("hosts").is_empty() { span.muted { "none" } }
            } }
            tr { th { "OAuth2" } td { @if spec["oauth2"].is_object() { "yes: " (spec.pointer("/oauth2/grant").and_then(Value::as_str).unwrap_or("authorization_code")) } @else { "no" } } }
            tr { th { "Incoming webhooks" } td { @if spec["webhook"].is_object() { "yes" } @else { "no" } } }
            @if let Some(doc) = spec.pointer("/catalog/documentation_url").and_then(Value::as_str) {
                tr { th { "Documentation" } td { a href=(doc) rel="noreferrer noopener" { (doc) } } }
            }
        }
        h2 { "Secrets" }
        @if list("secrets").is_empty() { p.muted { "None." } }
        @else {
            table {
                tr { th { "Name" } th { "What" } th { "Sent only to" } th { "Required" } }
                @for s in list("secrets") {
                    tr {
                        td.mono { (text(&s, "name")) }
                        td { (text(&s, "description")) }
                        td { @for h in s["hosts"].as_array().unwrap_or(&empty) { code { (h.as_str().unwrap_or_default()) } " " } }
                        td { @if s["required"] == Value::Bool(true) { "yes" } @else { "no" } }
                    }
                }
            }
        }
        h2 { "Streams" }
        @if list("streams").is_empty() { p.muted { "Streams come from the connection's config." } }
        @for s in list("streams") {
            details.panel {
                summary { strong { (text(&s, "name")) } " · " (text(&s, "description"))
                    @if let Some(k) = s["key_field"].as_str() { " · key " code { (k) } } }
                (json_block(&s["schema"]))
            }
        }
        h2 { "Config schema" }
        (json_block(&spec["config_schema"]))
    };
    page(&console, &signed, Nav::Catalog, display_name(spec), body).await
}

/// The connector's icon as an image (never inline in a page); a connector
/// without one gets its initials on a colour from its name.
async fn icon(
    State(console): State<Console>,
    signed: Signed,
    Path((name, version)): Path<(String, String)>,
) -> Response {
    let path = format!("/api/v1/connectors/{}/{}", seg(&name), seg(&version));
    let svg = match console.api(&signed).get(&path).await {
        Ok(c) => c
            .pointer("/spec/catalog/icon_svg")
            .and_then(Value::as_str)
            .map_or_else(|| generated_icon(display_name(&c["spec"])), str::to_string),
        Err(p) => return p.into_response(),
    };
    let mut response = (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        svg,
    )
        .into_response();
    // An SVG opened on its own runs nothing and loads nothing.
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"),
    );
    response
}

/// Initials on a colour chosen from the name: the same name, the same icon.
pub fn generated_icon(name: &str) -> String {
    let initials: String = name
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(2)
        .filter_map(|w| w.chars().next())
        .flat_map(char::to_uppercase)
        .collect();
    let hue = name
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
        % 360;
    let initials = if initials.is_empty() {
        "?".to_string()
    } else {
        initials
    };
    let body = html! {
        svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 40" width="40" height="40" {
            rect width="40" height="40" rx="8" fill=(format!("hsl({hue} 55% 45%)")) {}
            text x="20" y="25" text-anchor="middle" font-family="sans-serif" font-size="15" font-weight="bold" fill="#fff" { (initials) }
        }
    };
    body.into_string()
}

async fn upload(State(console): State<Console>, signed: Signed, mut form: Multipart) -> Response {
    let mut fields: Fields = Vec::new();
    let mut file: Option<bytes::Bytes> = None;
    let mut signature: Option<bytes::Bytes> = None;
    loop {
        match form.next_field().await {
            Ok(Some(f)) => {
                let name = f.name().unwrap_or_default().to_string();
                if name == "file" || name == "signature" {
                    match f.bytes().await {
                        Ok(b) if name == "file" => file = Some(b),
                        Ok(b) => signature = Some(b).filter(|b| !b.is_empty()),
                        Err(e) => {
                            return bad_upload(
                                &console,
                                &signed,
                                &format!("the file could not be read: {e}"),
                            )
                            .await;
                        }
                    }
                } else if let Ok(v) = f.text().await {
                    fields.push((name, v));
                }
            }
            Ok(None) => break,
            Err(e) => {
                return bad_upload(
                    &console,
                    &signed,
                    &format!("the upload could not be read: {e}"),
                )
                .await;
            }
        }
    }
    if let Err(refused) = check(&signed, &fields) {
        return refused;
    }
    let Some(file) = file.filter(|f| !f.is_empty()) else {
        return bad_upload(&console, &signed, "choose a .wasm file first").await;
    };
    let headers: Vec<(&str, String)> = signature
        .map(|sig| {
            use base64::Engine;
            let b64 = base64::engine::general_purpose::STANDARD.encode(sig);
            (crate::api::SIGNATURE_HEADER, b64)
        })
        .into_iter()
        .collect();
    let answer = console
        .api(&signed)
        .call_with(
            Method::POST,
            "/api/v1/connectors",
            Some("application/wasm"),
            &headers,
            Body::from(file),
        )
        .await;
    match answer {
        Ok(c) => {
            let (name, version) = (text(&c, "name"), text(&c, "version"));
            signed
                .flash(&console, &Flash::ok(format!("Uploaded {name}@{version}.")))
                .await;
            Redirect::to(&format!("/catalog/{}/{}", seg(name), seg(version))).into_response()
        }
        Err(p) => {
            let why = p.sentence();
            bad_upload(
                &console,
                &signed,
                &format!("The component was refused: {why}"),
            )
            .await
        }
    }
}

async fn bad_upload(console: &Console, signed: &Signed, why: &str) -> Response {
    signed.flash(console, &Flash::bad(why)).await;
    Redirect::to("/catalog").into_response()
}

async fn delete(
    State(console): State<Console>,
    Path((name, version)): Path<(String, String)>,
    Posted { signed, .. }: Posted,
) -> Response {
    let here = format!("/catalog/{}/{}", seg(&name), seg(&version));
    let path = format!("/api/v1/connectors/{}/{}", seg(&name), seg(&version));
    let result = console
        .api(&signed)
        .json(Method::DELETE, &path, None)
        .await
        .map(|_| {
            (
                Flash::ok(format!("Deleted {name}@{version}.")),
                "/catalog".to_string(),
            )
        });
    finish(&console, &signed, result, &here).await
}
