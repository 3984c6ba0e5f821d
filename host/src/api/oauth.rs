//! OAuth2 through the API: starting a connection's authorization, and the
//! redirect URI the provider sends the administrator back to.

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json};
use serde::Deserialize;
use serde::Serialize;
use serde_json::json;

use super::auth::{Caller, Scope};
use super::error::ApiError;
use super::openapi::{Content, inline, schema};
use super::query::{Path, Query};
use super::{AppState, Route, audit, html_escape};

pub fn routes() -> Vec<Route> {
    vec![
        Route {
            method: Method::POST,
            path: "/api/v1/connections/{id}/oauth/start",
            scope: Some(Scope::Operator),
            summary: "Begin the OAuth2 authorization-code flow: the URL to send the administrator to",
            query: None,
            body: None,
            ok: vec![(200, Content::Json(schema::<OAuthStart>))],
            errors: &[404, 422],
            handler: post(oauth_start),
        },
        Route {
            method: Method::GET,
            path: "/oauth/callback",
            scope: None,
            summary: "OAuth2 redirect URI: checks the state, exchanges the code, stores the tokens",
            query: Some(inline::<CallbackQuery>),
            body: None,
            ok: vec![(200, Content::Html)],
            errors: &[400, 502],
            handler: get(oauth_callback),
        },
    ]
}

/// The cookie naming the console page an OAuth2 authorization returns to
/// (set by the console's Connect button). `SameSite=Lax`: the provider's
/// redirect back is a cross-site navigation.
pub const OAUTH_RETURN_COOKIE: &str = "wharf_oauth_return";

/// Where to send the administrator to authorize a connection.
#[derive(Debug, Serialize, schemars::JsonSchema)]
struct OAuthStart {
    /// The provider's authorization page, with state and PKCE challenge.
    authorization_url: String,
    /// Where the provider sends the administrator back (register it with
    /// the provider).
    redirect_uri: String,
}

async fn oauth_start(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<OAuthStart>, ApiError> {
    let c = state
        .app
        .store
        .connection(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no connection {id}")))?;
    let url = crate::oauth::start(&state.app, &c, &caller.audit_actor())
        .await
        .map_err(|e| ApiError::invalid(e.to_string(), Vec::new()))?;
    audit(&state, &caller, "connection.oauth_start", &id, json!({})).await;
    Ok(Json(OAuthStart {
        authorization_url: url,
        redirect_uri: crate::oauth::redirect_uri(&state.app),
    }))
}

/// What the provider sends back.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct CallbackQuery {
    /// The authorization code.
    code: Option<String>,
    /// The state Wharf sent (ties the answer to its start).
    state: Option<String>,
    /// The provider's refusal, instead of a code.
    error: Option<String>,
    /// What else the provider sends (`realmId`, `scope`…).
    #[serde(flatten)]
    #[schemars(skip)]
    other: std::collections::BTreeMap<String, String>,
}

/// The provider sends the administrator's browser here: the answer is a
/// page for a person, on failure too (with the reason; the operator finds
/// the same in the server log).
async fn oauth_callback(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let failed = |status: StatusCode, reason: String| {
        tracing::warn!(%reason, "OAuth2 authorization failed");
        page(
            status,
            "Authorization failed",
            &format!(
                "{}. Start the authorization again from Wharf; if it fails again, the server log says more.",
                html_escape(&reason)
            ),
        )
    };
    if let Some(e) = q.error {
        return failed(
            StatusCode::BAD_REQUEST,
            format!("the provider refused the authorization: {e}"),
        );
    }
    let (Some(code), Some(st)) = (q.code, q.state) else {
        return failed(
            StatusCode::BAD_REQUEST,
            "the provider's answer has no `code` and `state`".into(),
        );
    };
    match crate::oauth::callback(&state.app, &code, &st, &q.other).await {
        Ok(c) => {
            tracing::info!(connection = %c.name, "OAuth2 authorization completed");
            if console_started(&headers, &c.id) {
                return back_to_console(&c.id, &c.name);
            }
            page(
                StatusCode::OK,
                "Authorized",
                &format!(
                    "Connection <b>{}</b> is authorized. You can close this window.",
                    html_escape(&c.name)
                ),
            )
        }
        Err(e @ crate::oauth::OAuthError::BadState) => {
            failed(StatusCode::BAD_REQUEST, e.to_string())
        }
        Err(e) => failed(StatusCode::BAD_GATEWAY, e.to_string()),
    }
}

/// Whether the console started this authorization (its cookie names the
/// connection): then the browser goes back to the connection's page.
fn console_started(headers: &axum::http::HeaderMap, id: &str) -> bool {
    super::cookie(headers, OAUTH_RETURN_COOKIE) == Some(id)
}

/// Back to the connection's console page (see [`super::onward_page`]).
fn back_to_console(id: &str, name: &str) -> Response {
    // A stored connection's id is generated (letters, digits, '-').
    let mut response = super::onward_page(
        &format!("/connections/{id}?authorized"),
        "Authorized",
        &format!("Connection <b>{}</b> is authorized.", html_escape(name)),
    );
    response.headers_mut().insert(
        axum::http::header::SET_COOKIE,
        axum::http::HeaderValue::from_str(&format!(
            "{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax",
            OAUTH_RETURN_COOKIE
        ))
        .expect("a fixed cookie"),
    );
    response
}

/// A small HTML page.
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    (
        status,
        Html(format!(
            "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Wharf: {title}</title>\
             <body style=\"font-family: sans-serif; max-width: 40em; margin: 3em auto\"><h1>{title}</h1><p>{body}</p></body></html>"
        )),
    )
        .into_response()
}
