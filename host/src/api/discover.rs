//! What a connection offers: `POST /api/v1/connections/{id}/discover` asks
//! the connector (contract 0.2 `discover`) which streams this connection
//! has, with their schemas — Salesforce objects, ERPNext doctypes, the
//! sheets of a spreadsheet. A connector without `discover` answers with the
//! streams of its spec.

use axum::extract::State;
use axum::http::Method;
use axum::routing::post;
use axum::{Extension, Json};
use serde::Serialize;
use serde_json::json;

use super::auth::{Caller, Scope};
use super::connections::{find, open_session};
use super::error::ApiError;
use super::openapi::{Content, schema};
use super::query::Path;
use super::{AppState, Route, audit};
use crate::model::spec::StreamSpec;
use crate::runtime::CallError;

pub fn routes() -> Vec<Route> {
    vec![Route {
        method: Method::POST,
        path: "/api/v1/connections/{id}/discover",
        scope: Some(Scope::Run),
        summary: "The streams this connection offers, with their schemas: asked of the connector (`discover`), or its spec's",
        query: None,
        body: None,
        ok: vec![(200, Content::Json(schema::<Discovered>))],
        errors: &[404, 422],
        handler: post(discover),
    }]
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
        &caller.key_id,
        "connection.discover",
        &id,
        json!({"from": found.from, "streams": found.streams.len()}),
    )
    .await;
    Ok(Json(found))
}
