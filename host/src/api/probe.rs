//! Asking a connection's connector about the connection:
//! `POST /api/v1/connections/{id}/check` runs its `check` with the
//! connection's grants and secrets (and sets the connection's status), and
//! `POST /api/v1/connections/{id}/discover` asks which streams the
//! connection offers, with their schemas (contract 0.2 `discover`:
//! Salesforce objects, ERPNext doctypes, a spreadsheet's sheets); a
//! connector without `discover` answers with its spec's streams.

use axum::extract::State;
use axum::http::Method;
use axum::routing::post;
use axum::{Extension, Json};
use serde::Serialize;
use serde_json::json;

use super::auth::{Caller, Scope};
use super::connections::find;
use super::error::ApiError;
use super::openapi::{Content, schema};
use super::query::Path;
use super::{AppState, Route, audit};
use std::time::Instant;

use crate::connections::OpenError;
use crate::model::spec::StreamSpec;
use crate::runtime::{CallError, Session};
use crate::store::connections::{ConnectionRow, Status};

pub fn routes() -> Vec<Route> {
    vec![
        Route {
            method: Method::POST,
            path: "/api/v1/connections/{id}/check",
            scope: Some(Scope::Run),
            summary: "Run the connector's check with the connection's grants and secrets",
            query: None,
            body: None,
            ok: vec![(200, Content::Json(schema::<CheckResult>))],
            errors: &[404, 422],
            handler: post(check),
        },
        Route {
            method: Method::POST,
            path: "/api/v1/connections/{id}/discover",
            scope: Some(Scope::Run),
            summary: "The streams this connection offers, with their schemas: asked of the connector (`discover`), or its spec's",
            query: None,
            body: None,
            ok: vec![(200, Content::Json(schema::<Discovered>))],
            errors: &[404, 422],
            handler: post(discover),
        },
    ]
}

/// What a connection offers.
#[derive(Debug, Serialize, schemars::JsonSchema)]
struct Discovered {
    /// The streams.
    streams: Vec<StreamSpec>,
    /// Where they come from: `discover` (asked of the system) or `spec`.
    from: &'static str,
}

async fn discover(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Discovered>, ApiError> {
    let c = find(&state, &id).await?;
    let session = open_session(&state, &c).await?;
    let found = match session.discover().await {
        Ok(streams) => Discovered {
            streams,
            from: "discover",
        },
        Err(e) if e.kind() == "unsupported" => Discovered {
            streams: state
                .app
                .store
                .connector(&c.connector, &c.version)
                .await?
                .map(|k| k.spec.streams)
                .unwrap_or_default(),
            from: "spec",
        },
        Err(CallError::Connector(e)) => {
            return Err(ApiError::invalid(
                format!("the connector could not discover streams: {e}"),
                Vec::new(),
            ));
        }
        Err(e) => return Err(ApiError::invalid(e.to_string(), Vec::new())),
    };
    audit(
        &state,
        &caller,
        "connection.discover",
        &id,
        json!({"from": found.from, "streams": found.streams.len()}),
    )
    .await;
    Ok(Json(found))
}

/// Outcome of a check.
#[derive(Debug, Serialize, schemars::JsonSchema)]
struct CheckResult {
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    duration_ms: u64,
    status: Status,
}

/// Open a session for a stored connection, with errors as API errors.
async fn open_session(state: &AppState, c: &ConnectionRow) -> Result<Session, ApiError> {
    match crate::connections::open(&state.app, c).await {
        Ok((_, session)) => Ok(session),
        Err(e @ OpenError::Secret { .. }) => Err(ApiError::server(e.to_string())),
        Err(
            e @ (OpenError::Session { .. } | OpenError::OAuth { .. } | OpenError::Login { .. }),
        ) => Err(ApiError::invalid(e.to_string(), Vec::new())),
        Err(e) => Err(ApiError::internal(e)),
    }
}

async fn check(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<CheckResult>, ApiError> {
    let c = find(&state, &id).await?;
    let session = open_session(&state, &c).await?;
    let started = Instant::now();
    let outcome = session.check().await;
    let duration_ms = started.elapsed().as_millis() as u64;
    let (status, kind, message) = match &outcome {
        Ok(()) if c.status == Status::Inactive => (Status::Inactive, None, None),
        Ok(()) => (Status::Active, None, None),
        // A connector without `check` says nothing about the connection.
        Err(e) if e.kind() == "unsupported" => (c.status, Some(e.kind()), Some(e.to_string())),
        Err(e) => (Status::Error, Some(e.kind()), Some(e.to_string())),
    };
    if status == Status::Error {
        crate::sync::run::connection_error(&state.app, None, &c, message.as_deref().unwrap_or(""))
            .await;
    } else {
        state
            .app
            .store
            .set_connection_status(&id, status, message.as_deref())
            .await?;
    }
    audit(
        &state,
        &caller,
        "connection.check",
        &id,
        json!({ "ok": outcome.is_ok(), "kind": kind, "duration_ms": duration_ms }),
    )
    .await;
    Ok(Json(CheckResult {
        ok: outcome.is_ok(),
        kind,
        message,
        duration_ms,
        status,
    }))
}
