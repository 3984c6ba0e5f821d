//! Incoming webhooks: a connection's endpoint URL (created or rotated, the
//! token shown once), the deliveries it received, and the endpoint itself,
//! which authenticates the URL, verifies the signature, refuses replays and
//! hands the delivery to ingestion.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::auth::{Caller, Scope};
use super::error::ApiError;
use super::openapi::{Content, inline, schema};
use super::query::{Path, Query};
use super::{AppState, ListPage, Paging, Route, TimePaging, audit, position};
use crate::store::hooks::DeliveryRow;
use crate::sync::ingest::Delivery;
use crate::webhooks::handshake::{self, Step};

/// Largest incoming delivery; refused before any signature is computed.
pub const HOOK_BODY_LIMIT: usize = 1 << 20;

pub fn routes() -> Vec<Route> {
    vec![
        Route {
            method: Method::POST,
            path: "/api/v1/connections/{id}/webhook",
            scope: Some(Scope::Operator),
            summary: "Create (or rotate) the connection's incoming webhook URL; shown once",
            query: None,
            body: None,
            ok: vec![(201, Content::Json(schema::<HookEndpoint>))],
            errors: &[404, 422],
            handler: post(hook_endpoint),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/connections/{id}/deliveries",
            scope: Some(Scope::Read),
            summary: "Incoming webhook deliveries of the connection, newest first",
            query: Some(inline::<TimePaging>),
            body: None,
            ok: vec![(200, Content::Json(schema::<ListPage<DeliveryRow>>))],
            errors: &[404],
            handler: get(deliveries),
        },
        Route {
            method: Method::POST,
            path: "/hooks/{connection}/{token}",
            scope: None,
            summary: "An incoming webhook delivery, verified by the connector's scheme with the connection's `webhook_secret`; or a handshake the connector declares (Graph's `validationToken`, Slack's `url_verification`), answered in text/plain",
            query: None,
            body: Some(Content::Bytes),
            ok: vec![
                (202, Content::Json(schema::<Receipt>)),
                (200, Content::Json(schema::<Receipt>)),
            ],
            errors: &[400, 401, 403, 404, 413, 422, 500],
            handler: post(receive_post).layer(DefaultBodyLimit::max(HOOK_BODY_LIMIT)),
        },
        Route {
            method: Method::GET,
            path: "/hooks/{connection}/{token}",
            scope: None,
            summary: "A webhook handshake made with GET (Meta's `hub.challenge`, checked against the connection's `webhook_verify_token`), answered in text/plain",
            query: None,
            body: None,
            ok: vec![(200, Content::Text)],
            errors: &[400, 403, 404],
            handler: get(receive_get),
        },
    ]
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Equal without leaking where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}

/// A connection's incoming-webhook endpoint, as created.
#[derive(Debug, Serialize, schemars::JsonSchema)]
struct HookEndpoint {
    /// The full URL to give the sending system (contains a secret token;
    /// shown once).
    url: String,
    /// The same without the server's public address.
    path: String,
    /// How deliveries are signed.
    scheme: crate::model::spec::WebhookScheme,
    /// Whether the connection holds the signing secret (`webhook_secret`).
    secret_set: bool,
}

async fn hook_endpoint(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<HookEndpoint>), ApiError> {
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
    let Some(scheme) = spec.and_then(|s| s.webhook).map(|w| w.scheme) else {
        return Err(ApiError::invalid(
            "the connector does not declare a webhook scheme",
            Vec::new(),
        ));
    };
    let token = crate::ids::random_token(24);
    state
        .app
        .store
        .set_hook_token(&id, &token_hash(&token))
        .await?;
    audit(&state, &caller, "connection.webhook_url", &id, json!({})).await;
    let path = format!("/hooks/{id}/{token}");
    Ok((
        StatusCode::CREATED,
        Json(HookEndpoint {
            url: format!(
                "{}{path}",
                state.app.options.public_url.trim_end_matches('/')
            ),
            path,
            scheme,
            secret_set: c.secrets.iter().any(|s| s.name == "webhook_secret"),
        }),
    ))
}

async fn deliveries(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(paging): Query<TimePaging>,
) -> Result<Json<ListPage<DeliveryRow>>, ApiError> {
    let paging = Paging::from(paging);
    state
        .app
        .store
        .connection(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no connection {id}")))?;
    let limit = paging.limit()?;
    let items = state
        .app
        .store
        .deliveries(&id, position(paging.after())?, limit)
        .await?;
    Ok(Json(ListPage::new(items, limit, |d: &DeliveryRow| {
        format!("{}:{}", d.received_at, d.delivery_id)
    })))
}

/// Most query parameters a delivery may carry.
const MAX_QUERY_PAIRS: usize = 64;

/// A handshake made with GET (Meta's `hub.challenge`); nothing else is
/// delivered by GET.
async fn receive_get(
    State(state): State<AppState>,
    Path((connection_id, token)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let req = Incoming {
        method: "GET",
        connection_id,
        token,
        query,
        headers,
        body: Bytes::new(),
    };
    receive(&state, req).await
}

async fn receive_post(
    State(state): State<AppState>,
    Path((connection_id, token)): Path<(String, String)>,
    RawQuery(query): RawQuery,
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
    let req = Incoming {
        method: "POST",
        connection_id,
        token,
        query,
        headers,
        body,
    };
    receive(&state, req).await
}

/// A request to a webhook URL, as received.
struct Incoming {
    method: &'static str,
    connection_id: String,
    token: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
}

/// A short `text/plain` answer (a handshake's echo).
fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// An incoming request: authenticate the URL, answer a handshake the spec
/// declares, verify the signature (the body limit applied before), refuse
/// replays, then hand the delivery to the connector's `receive` (records
/// go through each sync's map → validate → push) or, if it has none,
/// trigger the connection's syncs. With the spec's plain replies (Xero),
/// a valid delivery gets 200 with no body and an invalid one 401.
async fn receive(state: &AppState, req: Incoming) -> Result<Response, ApiError> {
    let unknown = || ApiError::not_found("no such webhook endpoint");
    let expected = state
        .app
        .store
        .hook_token(&req.connection_id)
        .await?
        .ok_or_else(unknown)?;
    if !constant_time_eq(token_hash(&req.token).as_bytes(), expected.as_bytes()) {
        return Err(unknown());
    }
    let c = state
        .app
        .store
        .connection(&req.connection_id)
        .await?
        .ok_or_else(unknown)?;
    let hook = state
        .app
        .store
        .connector(&c.connector, &c.version)
        .await?
        .and_then(|k| k.spec.webhook)
        .ok_or_else(unknown)?;
    let query: Vec<(String, String)> =
        form_urlencoded::parse(req.query.unwrap_or_default().as_bytes())
            .take(MAX_QUERY_PAIRS + 1)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    if query.len() > MAX_QUERY_PAIRS {
        return Err(ApiError::bad_request(format!(
            "a delivery has at most {MAX_QUERY_PAIRS} query parameters"
        )));
    }
    let tokens = state.app.store.secret_tokens(&c.id).await?;
    let secret = |name: &str| -> Result<Option<crate::model::secret::SecretValue>, ApiError> {
        tokens
            .iter()
            .find(|t| t.name == name)
            .map(|t| {
                state
                    .app
                    .vault
                    .decrypt(&t.token)
                    .map_err(|e| ApiError::server(format!("{name}: {e}")))
            })
            .transpose()
    };
    let verify_token = secret("webhook_verify_token")?;
    match handshake::unsigned(
        hook.handshake.as_ref(),
        req.method,
        &query,
        verify_token.as_ref().map(|t| t.expose()),
    ) {
        Step::Answer(echo) => return Ok(text(StatusCode::OK, echo)),
        Step::Refuse(status, why) => return Err(refused(status, why)),
        Step::Deliver if req.method != "POST" => {
            return Err(ApiError::bad_request(
                "webhook deliveries are sent with POST; GET is only for a handshake the connector declares",
            ));
        }
        Step::Deliver => {}
    }
    let Some(secret) = secret("webhook_secret")? else {
        return Err(ApiError::invalid(
            "the connection has no `webhook_secret`; set it before sending deliveries",
            Vec::new(),
        ));
    };
    let pairs: Vec<(String, String)> = req
        .headers
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.as_str().to_ascii_lowercase(),
                v.to_str().ok()?.to_string(),
            ))
        })
        .collect();
    let now = crate::store::now_ms() / 1000;
    let verified = match crate::webhooks::verify::verify(
        &hook.scheme,
        secret.expose(),
        &pairs,
        &req.body,
        now,
    ) {
        Ok(v) => v,
        Err(_) if hook.plain_replies => {
            let mut r = StatusCode::UNAUTHORIZED.into_response();
            r.extensions_mut().insert(super::error::Bare);
            return Ok(r);
        }
        Err(e) => {
            return Err(ApiError::unauthorized(format!("delivery refused: {e}"))
                .with(json!({"reason": "signature"})));
        }
    };
    match handshake::signed(hook.handshake.as_ref(), &req.body) {
        Step::Answer(echo) => return Ok(text(StatusCode::OK, echo)),
        Step::Refuse(status, why) => return Err(refused(status, why)),
        Step::Deliver => {}
    }
    if !state
        .app
        .store
        .begin_delivery(&c.id, &verified.delivery_id)
        .await?
    {
        if hook.plain_replies {
            return Ok(StatusCode::OK.into_response());
        }
        return Ok((
            StatusCode::OK,
            Json(Receipt {
                delivery: verified.delivery_id,
                duplicate: true,
                result: None,
            }),
        )
            .into_response());
    }
    let delivery = Delivery {
        method: req.method,
        headers: pairs,
        query,
        body: req.body.to_vec(),
    };
    match process(state, &c, delivery).await {
        Ok(detail) => {
            state
                .app
                .store
                .finish_delivery(&c.id, &verified.delivery_id, "processed", &detail)
                .await?;
            if hook.plain_replies {
                return Ok(StatusCode::OK.into_response());
            }
            Ok((
                StatusCode::ACCEPTED,
                Json(Receipt {
                    delivery: verified.delivery_id,
                    duplicate: false,
                    result: Some(detail),
                }),
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

fn refused(status: u16, why: String) -> ApiError {
    if status == 403 {
        ApiError::forbidden(why)
    } else {
        ApiError::bad_request(why)
    }
}

/// The answer to a delivery.
#[derive(Debug, Serialize, schemars::JsonSchema)]
struct Receipt {
    /// The delivery's id (from its headers).
    delivery: String,
    /// Already received: nothing was done again (200).
    duplicate: bool,
    /// What processing did: the syncs and runs the records landed in (202).
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<Value>,
}

async fn process(
    state: &AppState,
    c: &crate::store::connections::ConnectionRow,
    d: Delivery,
) -> Result<Value, ApiError> {
    use crate::sync::ingest::{IngestError, delivery};
    delivery(&state.app, c, d).await.map_err(|e| match e {
        IngestError::Busy(_) => ApiError::unavailable(format!("{e}; send the delivery again")),
        IngestError::Connector(m) | IngestError::Failed(m) => ApiError::invalid(m, Vec::new()),
        IngestError::Unavailable {
            message,
            retry_after,
        } => ApiError::unavailable(format!("{message}; send the delivery again"))
            .retry_after(retry_after),
        IngestError::Store(e) => e.into(),
    })
}
