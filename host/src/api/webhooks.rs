//! `/api/v1/webhooks`: outgoing webhook endpoints (the signing secret
//! shown once), a test event, and the messages sent to each.

use std::collections::BTreeSet;

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::routing::{get, patch, post};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::{Caller, Scope};
use super::error::{ApiError, FieldError};
use super::json::Json as Body;
use super::openapi::{Content, inline, schema};
use super::query::{Path, Query};
use super::{AppState, ListPage, Paging, Route, TimePaging, audit, position};
use crate::events::{EVENTS, new_message_id};
use crate::model::secret::SecretValue;
use crate::store::outbox::MessageRow;
use crate::store::outbox::WebhookRow;
use crate::webhooks::sender::check_url;
use crate::webhooks::{new_secret, notify};

pub fn routes() -> Vec<Route> {
    vec![
        Route {
            method: Method::POST,
            path: "/api/v1/webhooks",
            scope: Some(Scope::Admin),
            summary: "Subscribe an endpoint to events; the signing secret is in this answer only",
            query: None,
            body: Some(Content::Json(new_webhook)),
            ok: vec![(201, Content::Json(schema::<Created>))],
            errors: &[413, 415, 422],
            handler: post(create),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/webhooks",
            scope: Some(Scope::Admin),
            summary: "List endpoints",
            query: Some(inline::<TimePaging>),
            body: None,
            ok: vec![(200, Content::Json(schema::<ListPage<WebhookRow>>))],
            errors: &[],
            handler: get(list),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/webhooks/{id}",
            scope: Some(Scope::Admin),
            summary: "Show an endpoint",
            query: None,
            body: None,
            ok: vec![(200, Content::Json(schema::<WebhookRow>))],
            errors: &[404],
            handler: get(show),
        },
        Route {
            method: Method::PATCH,
            path: "/api/v1/webhooks/{id}",
            scope: Some(Scope::Admin),
            summary: "Change an endpoint (URL, events, networks, enabled)",
            query: None,
            body: Some(Content::Json(schema::<WebhookInput>)),
            ok: vec![(200, Content::Json(schema::<WebhookRow>))],
            errors: &[404, 413, 415, 422],
            handler: patch(update),
        },
        Route {
            method: Method::DELETE,
            path: "/api/v1/webhooks/{id}",
            scope: Some(Scope::Admin),
            summary: "Delete an endpoint and its queued messages",
            query: None,
            body: None,
            ok: vec![(204, Content::Empty)],
            errors: &[404],
            handler: axum::routing::delete(remove),
        },
        Route {
            method: Method::POST,
            path: "/api/v1/webhooks/{id}/test",
            scope: Some(Scope::Admin),
            summary: "Send a `webhook.test` event to the endpoint",
            query: None,
            body: None,
            ok: vec![(202, Content::Json(schema::<TestSent>))],
            errors: &[404],
            handler: post(test),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/webhooks/{id}/deliveries",
            scope: Some(Scope::Admin),
            summary: "Messages sent (or to send) to the endpoint, newest first",
            query: Some(inline::<TimePaging>),
            body: None,
            ok: vec![(200, Content::Json(schema::<ListPage<MessageRow>>))],
            errors: &[404],
            handler: get(messages),
        },
        Route {
            method: Method::POST,
            path: "/api/v1/webhooks/{id}/deliveries/{message}/retry",
            scope: Some(Scope::Admin),
            summary: "Send a pending or given-up message again now (its attempts are kept)",
            query: None,
            body: None,
            ok: vec![(200, Content::Json(schema::<MessageRow>))],
            errors: &[404, 409],
            handler: post(retry),
        },
    ]
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct WebhookInput {
    /// Where events are POSTed: an http(s) URL that does not resolve to a
    /// blocked network unless `networks` grants it (`""` drops it, for a
    /// `connection` target).
    #[schemars(
        length(max = 2048),
        pattern(r"^$|^[hH][tT][tT][pP][sS]?://[^\s/?#@]+(/[^\s]*)?$")
    )]
    url: Option<String>,
    /// Instead of a URL: a destination connection (a `slack`, `teams` or
    /// `discord` connection) that posts each event as a message; `""`
    /// switches back to the URL.
    #[schemars(length(max = 64))]
    connection: Option<String>,
    /// The message text for a connection target, with placeholders such
    /// as `{data.sync_name}` or `{data.error}` filled from the event
    /// (default: a sentence per event type; `""` restores it).
    #[schemars(length(max = 4000))]
    template: Option<String>,
    /// The events to send.
    #[serde(default)]
    #[schemars(schema_with = "event_names")]
    events: Option<Vec<String>>,
    /// Otherwise blocked networks the URL may resolve to.
    #[schemars(with = "Option<Vec<crate::model::grants::NetworkText>>")]
    networks: Option<Vec<String>>,
    /// Whether events are sent (re-enabling clears the failure state).
    enabled: Option<bool>,
}

/// The schema of `events`: names from [`EVENTS`].
fn event_names(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": ["array", "null"],
        "minItems": 1,
        "items": {"enum": EVENTS}
    })
}

/// The body of a new endpoint: a [`WebhookInput`] with a URL and events.
fn new_webhook(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let input = g.subschema_for::<WebhookInput>();
    schemars::json_schema!({
        "allOf": [input],
        "required": ["events"],
        "properties": {"events": {"type": "array"}}
    })
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[schemars(rename = "CreatedWebhook")]
struct Created {
    #[serde(flatten)]
    webhook: WebhookRow,
    /// `whsec_…`: shown once.
    secret: String,
}

async fn validate(
    state: &AppState,
    input: &WebhookInput,
    w: &mut WebhookRow,
) -> Result<(), ApiError> {
    if let Some(u) = &input.url {
        w.url = u.clone();
    }
    if let Some(c) = &input.connection {
        w.connection_id = Some(c.trim().to_string()).filter(|c| !c.is_empty());
    }
    if let Some(t) = &input.template {
        w.template = Some(t.clone()).filter(|t| !t.trim().is_empty());
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
    match (&w.connection_id, w.url.is_empty()) {
        (Some(_), false) => errors.push(FieldError {
            field: "/connection".into(),
            message:
                "give a `url` or a `connection`, not both (send `\"url\": \"\"` to drop the URL)"
                    .into(),
        }),
        (None, true) => errors.push(FieldError {
            field: "/url".into(),
            message: "required, unless a `connection` posts the events".into(),
        }),
        (Some(id), true) => {
            if let Some(why) = notify::destination_problem(&state.app, id).await? {
                errors.push(FieldError {
                    field: "/connection".into(),
                    message: why,
                });
            }
        }
        // The same SSRF rules as connector HTTP, at registration (and at send).
        (None, false) => {
            if let Err(why) = check_url(&w.url, &w.networks).await {
                errors.push(FieldError {
                    field: "/url".into(),
                    message: why,
                });
            }
        }
    }
    if w.template.is_some() && w.connection_id.is_none() {
        errors.push(FieldError {
            field: "/template".into(),
            message: "a template is for a `connection` target; a URL gets the event as JSON".into(),
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
    let secret = new_secret();
    let mut w = WebhookRow {
        id: crate::store::new_id(),
        url: String::new(),
        connection_id: None,
        template: None,
        events: Vec::new(),
        networks: Vec::new(),
        enabled: true,
        disabled_reason: None,
        failing_since: None,
        created_at: 0,
        updated_at: 0,
        secret_token: state.app.vault.encrypt(&SecretValue::new(secret.as_str())),
    };
    validate(&state, &input, &mut w).await?;
    let row = state.app.store.insert_webhook(&w).await?;
    audit(
        &state,
        &caller,
        "webhook.create",
        &row.id,
        json!({"url": row.url, "connection": row.connection_id, "events": row.events}),
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

async fn list(
    State(state): State<AppState>,
    Query(paging): Query<TimePaging>,
) -> Result<Json<ListPage<WebhookRow>>, ApiError> {
    let paging = Paging::from(paging);
    let all = state.app.store.webhooks().await?;
    Ok(Json(ListPage::of_all(all, &paging, false, |w| {
        (w.created_at, &w.id)
    })?))
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
    validate(&state, &input, &mut w).await?;
    let row = state
        .app
        .store
        .update_webhook(&w)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no webhook endpoint {id}")))?;
    audit(
        &state,
        &caller,
        "webhook.update",
        &id,
        json!({"url": row.url, "connection": row.connection_id, "events": row.events, "enabled": row.enabled}),
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
    audit(&state, &caller, "webhook.delete", &id, json!({})).await;
    Ok(StatusCode::NO_CONTENT)
}

/// A test event queued for an endpoint.
#[derive(Debug, Serialize, schemars::JsonSchema)]
struct TestSent {
    /// The queued message (see the endpoint's deliveries).
    message: String,
}

async fn test(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<TestSent>), ApiError> {
    let w = find(&state, &id).await?;
    let message = new_message_id();
    let payload = crate::events::envelope("webhook.test", json!({"webhook": w.id}));
    state
        .app
        .store
        .enqueue_message(&message, &w.id, "webhook.test", &payload)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(TestSent { message })))
}

async fn messages(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(paging): Query<TimePaging>,
) -> Result<Json<ListPage<MessageRow>>, ApiError> {
    let paging = Paging::from(paging);
    find(&state, &id).await?;
    let limit = paging.limit()?;
    let items = state
        .app
        .store
        .messages(&id, position(paging.after())?, limit)
        .await?;
    Ok(Json(ListPage::new(items, limit, |m: &MessageRow| {
        format!("{}:{}", m.created_at, m.id)
    })))
}

async fn retry(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, message)): Path<(String, String)>,
) -> Result<Json<MessageRow>, ApiError> {
    find(&state, &id).await?;
    if let Some(m) = state.app.store.retry_message(&id, &message).await? {
        audit(
            &state,
            &caller,
            "webhook.retry",
            &id,
            json!({ "message": message }),
        )
        .await;
        return Ok(Json(m));
    }
    match state.app.store.message(&id, &message).await? {
        None => Err(ApiError::not_found(format!(
            "endpoint {id} has no message {message}"
        ))),
        Some(m) if m.status == "delivered" => Err(ApiError::conflict(
            "this message was delivered; send a test event to try the endpoint again",
        )),
        Some(_) => Err(ApiError::conflict(
            "this message is being sent right now; look again in a moment",
        )),
    }
}
