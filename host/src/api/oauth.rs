//! OAuth2 through the API: starting a connection's authorization, and the
//! redirect URI the provider sends the administrator back to.

use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{Caller, Scope};
use super::error::ApiError;
use super::{AppState, Route, audit};

pub fn routes() -> Vec<Route> {
    vec![
        Route {
            method: Method::POST,
            path: "/api/v1/connections/{id}/oauth/start",
            scope: Some(Scope::Write),
            summary: "Begin the OAuth2 authorization-code flow: the URL to send the administrator to",
            body: None,
            ok: &[(200, "OAuthStart")],
            errors: &[404, 422],
            handler: post(oauth_start),
        },
        Route {
            method: Method::GET,
            path: "/oauth/callback",
            scope: None,
            summary: "OAuth2 redirect URI: checks the state, exchanges the code, stores the tokens",
            body: None,
            ok: &[(200, "")],
            errors: &[400, 502],
            handler: get(oauth_callback),
        },
    ]
}

async fn oauth_start(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let c = state
        .app
        .store
        .connection(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no connection {id}")))?;
    let url = crate::oauth::start(&state.app, &c)
        .await
        .map_err(|e| ApiError::invalid(e.to_string(), Vec::new()))?;
    audit(
        &state,
        &caller.key_id,
        "connection.oauth_start",
        &id,
        json!({}),
    )
    .await;
    Ok(Json(
        json!({"authorization_url": url, "redirect_uri": crate::oauth::redirect_uri(&state.app)}),
    ))
}

#[derive(Debug, Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

async fn oauth_callback(
    State(state): State<AppState>,
    Query(q): Query<CallbackQuery>,
) -> Result<Response, ApiError> {
    if let Some(e) = q.error {
        return Err(ApiError::bad_request(format!(
            "the provider refused the authorization: {e}"
        )));
    }
    let (Some(code), Some(st)) = (q.code, q.state) else {
        return Err(ApiError::bad_request(
            "the callback needs `code` and `state`",
        ));
    };
    match crate::oauth::callback(&state.app, &code, &st).await {
        Ok(c) => Ok(Html(format!(
            "<!doctype html><title>Wharf</title><p>Connection <b>{}</b> is authorized. You can close this window.</p>",
            html_escape(&c.name)
        ))
        .into_response()),
        Err(e @ crate::oauth::OAuthError::BadState) => Err(ApiError::bad_request(e.to_string())),
        Err(e) => Err(ApiError::new_bad_gateway(e.to_string())),
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
