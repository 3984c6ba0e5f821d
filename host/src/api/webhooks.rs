//! `/api/v1/webhooks`: outgoing webhook endpoints (the signing secret
//! shown once), a test event, and the messages sent to each.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::routing::{get, patch, post};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::auth::{Caller, Scope};
use super::error::{ApiError, FieldError};
use super::json::Json as Body;
use super::{AppState, ListPage, Route, audit};
use crate::events::{EVENTS, new_message_id};
use crate::model::secret::SecretValue;
use crate::store::outbox::WebhookRow;
use crate::webhooks::new_secret;
use crate::webhooks::sender::check_url;

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
