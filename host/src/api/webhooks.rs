//! Webhooks and OAuth2 over HTTP: outgoing endpoints (`/api/v1/webhooks`),
//! incoming deliveries (`/hooks/{connection}/{token}`) and their log, and
//! the OAuth2 flow (`…/oauth/start`, `/oauth/callback`).

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::auth::{Caller, Scope};
use super::error::{ApiError, FieldError};
use super::json::Json as Body;
use super::{AppState, ListPage, Route, audit};
use crate::events::{EVENTS, new_message_id};
use crate::model::secret::SecretValue;
use crate::store::outbox::WebhookRow;
use crate::webhooks::new_secret;
use crate::webhooks::sender::check_url;

/// Largest incoming delivery; refused before any signature is computed.
pub const HOOK_BODY_LIMIT: usize = 1 << 20;

pub fn routes() -> Vec<Route> {
    vec![
        Route {
            method: Method::POST,
            path: "/api/v1/webhooks",
            scope: Some(Scope::Admin),
            summary: "Subscribe an endpoint to events; the signing secret is in this answer only",
            body: Some("NewWebhook"),
            ok: &[(201, "CreatedWebhook")],
            errors: &[413, 415, 422],
            handler: post(create),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/webhooks",
            scope: Some(Scope::Admin),
            summary: "List endpoints",
            body: None,
            ok: &[(200, "WebhookList")],
            errors: &[],
            handler: get(list),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/webhooks/{id}",
            scope: Some(Scope::Admin),
            summary: "Show an endpoint",
            body: None,
            ok: &[(200, "Webhook")],
            errors: &[404],
            handler: get(show),
        },
        Route {
            method: Method::PATCH,
            path: "/api/v1/webhooks/{id}",
            scope: Some(Scope::Admin),
            summary: "Change an endpoint (URL, events, networks, enabled)",
            body: Some("WebhookPatch"),
            ok: &[(200, "Webhook")],
            errors: &[404, 413, 415, 422],
            handler: patch(update),
        },
        Route {
            method: Method::DELETE,
            path: "/api/v1/webhooks/{id}",
            scope: Some(Scope::Admin),
            summary: "Delete an endpoint and its queued messages",
            body: None,
            ok: &[(204, "")],
            errors: &[404],
            handler: axum::routing::delete(remove),
        },
        Route {
            method: Method::POST,
            path: "/api/v1/webhooks/{id}/test",
            scope: Some(Scope::Admin),
            summary: "Send a `webhook.test` event to the endpoint",
            body: None,
            ok: &[(202, "")],
            errors: &[404],
            handler: post(test),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/webhooks/{id}/deliveries",
            scope: Some(Scope::Admin),
            summary: "Messages sent (or to send) to the endpoint, newest first",
            body: None,
            ok: &[(200, "MessageList")],
            errors: &[404],
            handler: get(messages),
        },
        Route {
            method: Method::POST,
            path: "/api/v1/connections/{id}/webhook",
            scope: Some(Scope::Write),
            summary: "Create (or rotate) the connection's incoming webhook URL; shown once",
            body: None,
            ok: &[(201, "HookEndpoint")],
            errors: &[404, 422],
            handler: post(hook_endpoint),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/connections/{id}/deliveries",
            scope: Some(Scope::Read),
            summary: "Incoming webhook deliveries of the connection, newest first",
            body: None,
            ok: &[(200, "DeliveryList")],
            errors: &[404],
            handler: get(deliveries),
        },
        Route {
            method: Method::POST,
            path: "/hooks/{connection}/{token}",
            scope: None,
            summary: "An incoming webhook delivery, verified by the connector's scheme with the connection's `webhook_secret`",
            body: Some("raw"),
            ok: &[(202, ""), (200, "")],
            errors: &[401, 404, 413, 422, 500],
            handler: post(receive).layer(DefaultBodyLimit::max(HOOK_BODY_LIMIT)),
        },
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookInput {
    url: Option<String>,
    events: Option<Vec<String>>,
    networks: Option<Vec<String>>,
    enabled: Option<bool>,
}

#[derive(Debug, Serialize)]
struct Created {
    #[serde(flatten)]
    webhook: WebhookRow,
    /// `whsec_…`: shown once.
    secret: String,
}

async fn validate(input: &WebhookInput, w: &mut WebhookRow) -> Result<(), ApiError> {
    if let Some(u) = &input.url {
        w.url = u.clone();
    }
    if let Some(e) = &input.events {
        w.events = e
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
    }
    if let Some(n) = &input.networks {
        w.networks = n.clone();
    }
    if let Some(e) = input.enabled {
        w.enabled = e;
        if e {
            w.disabled_reason = None;
            w.failing_since = None;
        }
    }
    let mut errors = Vec::new();
    if w.events.is_empty() {
        errors.push(FieldError {
            field: "/events".into(),
            message: format!("subscribe to at least one of {}", EVENTS.join(", ")),
        });
    }
    for (i, e) in w.events.iter().enumerate() {
        if !EVENTS.contains(&e.as_str()) {
            errors.push(FieldError {
                field: format!("/events/{i}"),
                message: format!("unknown event `{e}`: one of {}", EVENTS.join(", ")),
            });
        }
    }
    // The same SSRF rules as connector HTTP, at registration (and at send).
    if let Err(why) = check_url(&w.url, &w.networks).await {
        errors.push(FieldError {
            field: "/url".into(),
            message: why,
        });
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "the webhook endpoint is not valid",
            errors,
        ))
    }
}

async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(input): Body<WebhookInput>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    if input.url.is_none() {
        return Err(ApiError::invalid(
            "`url` is required",
            vec![FieldError {
                field: "/url".into(),
                message: "required".into(),
            }],
        ));
    }
    let secret = new_secret();
    let mut w = WebhookRow {
        id: crate::store::new_id(),
        url: String::new(),
        events: Vec::new(),
        networks: Vec::new(),
        enabled: true,
        disabled_reason: None,
        failing_since: None,
        created_at: 0,
        updated_at: 0,
        secret_token: state.app.vault.encrypt(&SecretValue::new(secret.as_str())),
    };
    validate(&input, &mut w).await?;
    let row = state.app.store.insert_webhook(&w).await?;
    audit(
        &state,
        &caller.key_id,
        "webhook.create",
        &row.id,
        json!({"url": row.url, "events": row.events}),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(Created {
            webhook: row,
            secret,
        }),
    ))
}

async fn find(state: &AppState, id: &str) -> Result<WebhookRow, ApiError> {
    state
        .app
        .store
        .webhook(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no webhook endpoint {id}")))
}

async fn list(State(state): State<AppState>) -> Result<Json<ListPage<WebhookRow>>, ApiError> {
    Ok(Json(ListPage {
        items: state.app.store.webhooks().await?,
        next: None,
    }))
}

async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<WebhookRow>, ApiError> {
    Ok(Json(find(&state, &id).await?))
}

async fn update(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Body(input): Body<WebhookInput>,
) -> Result<Json<WebhookRow>, ApiError> {
    let mut w = find(&state, &id).await?;
    validate(&input, &mut w).await?;
    let row = state
        .app
        .store
        .update_webhook(&w)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no webhook endpoint {id}")))?;
    audit(
        &state,
        &caller.key_id,
        "webhook.update",
        &id,
        json!({"url": row.url, "events": row.events, "enabled": row.enabled}),
    )
    .await;
    Ok(Json(row))
}

async fn remove(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    find(&state, &id).await?;
    state.app.store.delete_webhook(&id).await?;
    audit(&state, &caller.key_id, "webhook.delete", &id, json!({})).await;
    Ok(StatusCode::NO_CONTENT)
}

async fn test(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let w = find(&state, &id).await?;
    let message = new_message_id();
    let payload = crate::events::envelope("webhook.test", json!({"webhook": w.id}));
    state
        .app
        .store
        .enqueue_message(&message, &w.id, "webhook.test", &payload)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"message": message}))))
}

async fn messages(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ListPage<crate::store::outbox::MessageRow>>, ApiError> {
    find(&state, &id).await?;
    Ok(Json(ListPage {
        items: state.app.store.messages(&id, 200).await?,
        next: None,
    }))
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Equal without leaking where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn hook_endpoint(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let c = state
        .app
        .store
        .connection(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no connection {id}")))?;
    let spec = state
        .app
        .store
        .connector(&c.connector, &c.version)
        .await?
        .map(|k| k.spec);
    let Some(scheme) = spec.and_then(|s| s.webhook) else {
        return Err(ApiError::invalid(
            "the connector does not declare a webhook scheme",
            Vec::new(),
        ));
    };
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    let token = hex::encode(bytes);
    state
        .app
        .store
        .set_hook_token(&id, &token_hash(&token))
        .await?;
    audit(
        &state,
        &caller.key_id,
        "connection.webhook_url",
        &id,
        json!({}),
    )
    .await;
    let path = format!("/hooks/{id}/{token}");
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "url": format!("{}{path}", state.app.options.public_url.trim_end_matches('/')),
            "path": path,
            "scheme": scheme,
            "secret_set": c.secrets.iter().any(|s| s.name == "webhook_secret"),
        })),
    ))
}

async fn deliveries(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ListPage<crate::store::hooks::DeliveryRow>>, ApiError> {
    state
        .app
        .store
        .connection(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no connection {id}")))?;
    Ok(Json(ListPage {
        items: state.app.store.deliveries(&id, 200).await?,
        next: None,
    }))
}

/// An incoming delivery: authenticate the URL, verify the signature (the
/// body limit applied before), refuse replays, then hand it to the
/// connector's `receive` (records go through each sync's map → validate →
/// push) or, if it has none, trigger the connection's syncs.
async fn receive(
    State(state): State<AppState>,
    Path((connection_id, token)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(format!("deliveries are limited to {HOOK_BODY_LIMIT} bytes"))
        } else {
            ApiError::bad_request(format!("could not read the delivery: {e}"))
        }
    })?;
    let unknown = || ApiError::not_found("no such webhook endpoint");
    let expected = state
        .app
        .store
        .hook_token(&connection_id)
        .await?
        .ok_or_else(unknown)?;
    if !constant_time_eq(token_hash(&token).as_bytes(), expected.as_bytes()) {
        return Err(unknown());
    }
    let c = state
        .app
        .store
        .connection(&connection_id)
        .await?
        .ok_or_else(unknown)?;
    let scheme = state
        .app
        .store
        .connector(&c.connector, &c.version)
        .await?
        .and_then(|k| k.spec.webhook)
        .ok_or_else(unknown)?;
    let secret = match state
        .app
        .store
        .secret_tokens(&c.id)
        .await?
        .into_iter()
        .find(|t| t.name == "webhook_secret")
    {
        Some(t) => state
            .app
            .vault
            .decrypt(&t.token)
            .map_err(|e| ApiError::server(format!("webhook_secret: {e}")))?,
        None => {
            return Err(ApiError::invalid(
                "the connection has no `webhook_secret`; set it before sending deliveries",
                Vec::new(),
            ));
        }
    };
    let pairs: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.as_str().to_ascii_lowercase(),
                v.to_str().ok()?.to_string(),
            ))
        })
        .collect();
    let now = crate::store::now_ms() / 1000;
    let verified = crate::webhooks::verify::verify(scheme, secret.expose(), &pairs, &body, now)
        .map_err(|e| {
            ApiError::unauthorized(format!("delivery refused: {e}"))
                .with(json!({"reason": "signature"}))
        })?;
    if !state
        .app
        .store
        .begin_delivery(&c.id, &verified.delivery_id)
        .await?
    {
        return Ok((
            StatusCode::OK,
            Json(json!({"delivery": verified.delivery_id, "duplicate": true})),
        )
            .into_response());
    }
    match process(&state, &c, pairs, body.to_vec()).await {
        Ok(detail) => {
            state
                .app
                .store
                .finish_delivery(&c.id, &verified.delivery_id, "processed", &detail)
                .await?;
            Ok((
                StatusCode::ACCEPTED,
                Json(json!({"delivery": verified.delivery_id, "result": detail})),
            )
                .into_response())
        }
        Err(e) => {
            // Forget it, so the sender's retry is processed.
            let _ = state
                .app
                .store
                .forget_delivery(&c.id, &verified.delivery_id)
                .await;
            Err(e)
        }
    }
}

async fn process(
    state: &AppState,
    c: &crate::store::connections::ConnectionRow,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
) -> Result<Value, ApiError> {
    use crate::sync::ingest::{IngestError, delivery};
    delivery(&state.app, c, headers, body)
        .await
        .map_err(|e| match e {
            IngestError::Busy(_) => ApiError::unavailable(format!("{e}; send the delivery again")),
            IngestError::Connector(m) | IngestError::Failed(m) => ApiError::invalid(m, Vec::new()),
            IngestError::Store(e) => e.into(),
        })
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
