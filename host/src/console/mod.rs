//! The admin console: HTML pages served by `wharf serve` at `/`, on the
//! API's port, from the same binary, with every asset embedded.
//!
//! The console is a client of the API inside the process: each page reads
//! and writes through the same route handlers (and so the same validators,
//! scope checks and audit log) as a REST client, signed as the key or the
//! person the browser's session stands for ([`backend`]; people sign in
//! through the identity provider by [`sso`]). Pages are rendered on the
//! server from compile-time checked templates (maud); htmx (vendored)
//! turns links and forms into partial updates and follows a run over
//! Server-Sent Events, and every page works without JavaScript for plain
//! navigation. The Content-Security-Policy allows no inline script.

mod backend;
mod chart;
mod form;
mod layout;
mod pages;
mod session;
mod sso;

use axum::Router;
use axum::extract::{Path, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::api::AppState;

pub use form::{FormField, fields_of, value_from_form};

/// What a console handler has: the application, and the API to call.
#[derive(Clone)]
pub struct Console {
    /// The application context.
    pub state: AppState,
    /// The API router, called in-process for every read and write.
    api: Router,
}

/// The console's pages in front of the API: what the console does not
/// serve goes to `api`.
pub fn router(state: AppState, api: Router) -> Router {
    let console = Console {
        state,
        api: api.clone(),
    };
    Router::new()
        .route("/", get(pages::dashboard::show))
        .route(
            "/sign-in",
            get(session::sign_in_page).post(session::sign_in),
        )
        .route("/sign-out", post(session::sign_out))
        .route("/sign-in/sso", get(sso::begin))
        .route("/sign-in/sso/callback", get(sso::callback))
        .route("/assets/{file}", get(asset))
        .merge(pages::catalog::routes())
        .merge(pages::connections::routes())
        .merge(pages::syncs::routes())
        .merge(pages::runs::routes())
        .merge(pages::records::routes())
        .merge(pages::admin::routes())
        .layer(middleware::from_fn(guard))
        .with_state(console)
        .fallback_service(api)
}

/// The files under `/assets/`, embedded at build time.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "htmx.min.js",
        "text/javascript",
        include_bytes!("assets/htmx.min.js"),
    ),
    (
        "htmx-sse.min.js",
        "text/javascript",
        include_bytes!("assets/htmx-sse.min.js"),
    ),
    (
        "console.js",
        "text/javascript",
        include_bytes!("assets/console.js"),
    ),
    (
        "console.css",
        "text/css",
        include_bytes!("assets/console.css"),
    ),
];

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                // Names do not change with their content: revalidate daily.
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            *body,
        )
            .into_response(),
        None => layout::error_page(StatusCode::NOT_FOUND, "No such file.").into_response(),
    }
}

/// The policy of every console page: scripts, styles and everything else
/// only from this origin, never inline; no frames, no plugins, no `<base>`.
/// Icons are images (`img-src 'self'`), so an SVG cannot run script here.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// Around every console request: a write from another origin is refused
/// before any handler runs (the session cookie is `SameSite=Strict` too,
/// and each form carries a CSRF token; this is the third lock), and every
/// answer gets the security headers.
async fn guard(req: Request, next: Next) -> Response {
    if !matches!(*req.method(), Method::GET | Method::HEAD) && !same_origin(&req) {
        return layout::error_page(
            StatusCode::FORBIDDEN,
            "This form was sent from another site; the console accepts forms only from its own pages.",
        )
        .into_response();
    }
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    let set = |headers: &mut axum::http::HeaderMap, name, value: &'static str| {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        CONTENT_SECURITY_POLICY,
    );
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::REFERRER_POLICY, "same-origin");
    set(headers, header::CACHE_CONTROL, "no-store");
    response
}

/// Whether a write comes from a page of this server: its `Origin` (or,
/// without one, its `Referer`) names the host the request was sent to. A
/// request with neither (a script, curl) still needs a session and a CSRF
/// token.
fn same_origin(req: &Request) -> bool {
    let from = req
        .headers()
        .get(header::ORIGIN)
        .or_else(|| req.headers().get(header::REFERER))
        .and_then(|v| v.to_str().ok());
    let Some(from) = from else {
        return true;
    };
    // HTTP/1.1 names the host in `Host`, HTTP/2 in the URI's authority.
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()));
    let Some(host) = host else {
        return false;
    };
    from != "null"
        && url::Url::parse(from).is_ok_and(|u| {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            u.host_str().is_some_and(|h| format!("{h}{port}") == host)
        })
}
