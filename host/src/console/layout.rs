//! The frame of every page (header, navigation, messages), error pages,
//! and the small formatting helpers pages share. Every value goes through
//! maud, which escapes it: a name, log line or record holding markup shows
//! as text.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use super::Console;
use super::session::{Flash, Signed};
use crate::api::Scope;

/// The sections of the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Dashboard,
    Catalog,
    Connections,
    Syncs,
    Webhooks,
    Keys,
    Audit,
}

const SECTIONS: &[(Nav, &str, &str, Scope)] = &[
    (Nav::Dashboard, "/", "Dashboard", Scope::Read),
    (Nav::Catalog, "/catalog", "Catalog", Scope::Read),
    (Nav::Connections, "/connections", "Connections", Scope::Read),
    (Nav::Syncs, "/syncs", "Syncs", Scope::Read),
    (Nav::Webhooks, "/webhooks", "Webhooks", Scope::Admin),
    (Nav::Keys, "/keys", "API keys", Scope::Admin),
    (Nav::Audit, "/audit", "Audit log", Scope::Admin),
];

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            // htmx must not add inline styles or evaluate strings (the CSP
            // forbids both); error pages (a form with errors is a 422) are
            // shown like any other answer.
            meta name="htmx-config" content=r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"responseHandling":[{"code":"204","swap":false},{"code":"...","swap":true}]}"#;
            title { (title) " · Wharf" }
            link rel="stylesheet" href="/assets/console.css";
            script src="/assets/htmx.min.js" defer {}
            script src="/assets/htmx-sse.min.js" defer {}
            script src="/assets/console.js" defer {}
        }
    }
}

/// A page without navigation (sign-in).
pub fn bare(title: &str, body: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" { (head(title)) body { (body) } }
        }
        .into_string(),
    )
}

/// A full page: header with the sections this key may use, the message
/// left by the last action, the body.
pub async fn page(
    console: &Console,
    signed: &Signed,
    nav: Nav,
    title: &str,
    body: Markup,
) -> Response {
    let flash = signed.take_flash(console).await;
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                (head(title))
                body hx-boost="true" {
                    a.skip href="#main" { "Skip to content" }
                    header.top {
                        a.brand href="/" { "⚓ Wharf" }
                        nav aria-label="Sections" {
                            @for (section, href, label, scope) in SECTIONS {
                                @if signed.may(*scope) {
                                    a href=(href) aria-current=[(*section == nav).then_some("page")] { (label) }
                                }
                            }
                        }
                        div.who {
                            @if signed.is_person() {
                                span title="Signed in through the identity provider; the badge is your role" {
                                    (signed.name()) " · " span.badge { (signed.role_name()) }
                                }
                            } @else {
                                span title="The API key this session signed in with" {
                                    (signed.name()) " · " span.badge { (signed.scope.as_str()) }
                                }
                            }
                            form.inline method="post" action="/sign-out" {
                                (csrf(signed))
                                button.secondary type="submit" { "Sign out" }
                            }
                        }
                    }
                    main #main {
                        @if let Some(f) = flash { (flash_box(&f)) }
                        (body)
                    }
                }
            }
        }
        .into_string(),
    )
    .into_response()
}

fn flash_box(f: &Flash) -> Markup {
    html! {
        div.flash.(f.kind) role=(if f.kind == "bad" { "alert" } else { "status" }) {
            (f.text)
            @if let Some(once) = &f.once {
                code.once data-once { (once) }
                span.hint { "Copy it now: it is not shown again." }
            }
        }
    }
}

/// The hidden CSRF field every form of a session carries.
pub fn csrf(signed: &Signed) -> Markup {
    html! { input type="hidden" name="_csrf" value=(signed.csrf()); }
}

/// A page for an error (no session needed).
pub fn error_page(status: StatusCode, text: &str) -> impl IntoResponse + use<> {
    let title = status.canonical_reason().unwrap_or("Error").to_string();
    let body = html! {
        main.signin {
            h1 { (status.as_u16()) " · " (title) }
            p role="alert" { (text) }
            p { a href="/" { "Back to the dashboard" } }
        }
    };
    (status, bare(&title, body))
}

/// A 500 page; the detail goes to the log, not the browser.
pub fn internal(detail: &str) -> Response {
    let id = uuid::Uuid::new_v4().simple().to_string();
    tracing::error!(error = %detail, error_id = %id, "console error");
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        &format!("Something failed inside Wharf (error id {id}); the server log has the details."),
    )
    .into_response()
}

/// A Unix-ms time, as UTC to the second (`2024-05-01 10:00:00`).
pub fn time(ms: Option<i64>) -> String {
    ms.map_or_else(
        || "—".into(),
        |ms| {
            crate::clock::rfc3339(ms.div_euclid(1000))
                .replace('T', " ")
                .replace('Z', "")
        },
    )
}

/// A duration in ms, for people.
pub fn duration(ms: Option<i64>) -> String {
    match ms {
        None => "—".into(),
        Some(ms) if ms < 1000 => format!("{ms} ms"),
        Some(ms) if ms < 60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        Some(ms) => format!("{} min {} s", ms / 60_000, ms % 60_000 / 1000),
    }
}

/// A status as a coloured badge.
pub fn badge(status: &str) -> Markup {
    let class = match status {
        "succeeded" | "active" | "connected" | "set" | "delivered" | "enabled" => "ok",
        "failed" | "error" | "needs_reauth" | "dead" | "revoked" => "bad",
        "running" | "queued" | "pending" | "inactive" | "disabled" | "cancelled" => "warn",
        _ => "",
    };
    html! { span.badge.(class) { (status.replace('_', " ")) } }
}

/// Pretty JSON in a `<pre>`.
pub fn json_block(v: &serde_json::Value) -> Markup {
    html! { pre { (serde_json::to_string_pretty(v).unwrap_or_default()) } }
}

/// A count with thousands separators.
pub fn count(n: i64) -> String {
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}
