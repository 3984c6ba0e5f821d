//! `/api/v1/api-keys` and `/api/v1/audit`: administration.

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::routing::{get, post};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::{Caller, Scope, generate_key, hash_key};
use super::error::{ApiError, FieldError};
use super::json::Json as Body;
use super::{AppState, ListPage, Route, audit};
use crate::store::api_keys::ApiKeyRow;
use crate::store::audit::AuditEntry;

pub fn routes() -> Vec<Route> {
    vec![
        Route {
            method: Method::POST,
            path: "/api/v1/api-keys",
            scope: Some(Scope::Admin),
            summary: "Create an API key; the key is in this answer only",
            body: Some("NewApiKey"),
            ok: &[(201, "CreatedApiKey")],
            errors: &[413, 415, 422],
            handler: post(create),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/api-keys",
            scope: Some(Scope::Admin),
            summary: "List API keys (never the keys themselves)",
            body: None,
            ok: &[(200, "ApiKeyList")],
            errors: &[],
            handler: get(list),
        },
        Route {
            method: Method::DELETE,
            path: "/api/v1/api-keys/{id}",
            scope: Some(Scope::Admin),
            summary: "Revoke an API key; it fails at once",
            body: None,
            ok: &[(204, "")],
            errors: &[404],
            handler: axum::routing::delete(revoke),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/audit",
            scope: Some(Scope::Admin),
            summary: "The audit log, newest first (`?before=<id>&limit=`)",
            body: None,
            ok: &[(200, "AuditList")],
            errors: &[],
            handler: get(audit_log),
        },
    ]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    name: String,
    scope: String,
}

#[derive(Debug, Serialize)]
struct Created {
    #[serde(flatten)]
    row: ApiKeyRow,
    /// The key: shown here once, stored only as a hash.
    key: String,
}

async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(req): Body<CreateRequest>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let scope = Scope::parse(&req.scope).ok_or_else(|| {
        ApiError::invalid(
            format!("unknown scope `{}`", req.scope),
            vec![FieldError {
                field: "/scope".into(),
                message: "one of admin, write, run, read".into(),
            }],
        )
    })?;
    if req.name.trim().is_empty() || req.name.len() > 100 {
        return Err(ApiError::invalid(
            "name the key (1-100 characters), e.g. after who or what uses it",
            vec![FieldError {
                field: "/name".into(),
                message: "1-100 characters".into(),
            }],
        ));
    }
    let (id, key) = generate_key();
    let row = state
        .app
        .store
        .insert_api_key(&id, &req.name, &hash_key(&key), scope.as_str())
        .await?;
    audit(
        &state,
        &caller.key_id,
        "api_key.create",
        &id,
        json!({ "name": req.name, "scope": scope }),
    )
    .await;
    Ok((StatusCode::CREATED, Json(Created { row, key })))
}

async fn list(State(state): State<AppState>) -> Result<Json<ListPage<ApiKeyRow>>, ApiError> {
    Ok(Json(ListPage {
        items: state.app.store.api_keys().await?,
        next: None,
    }))
}

async fn revoke(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !state.app.store.revoke_api_key(&id).await? {
        return Err(ApiError::not_found(format!("no active API key {id}")));
    }
    audit(&state, &caller.key_id, "api_key.revoke", &id, json!({})).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
struct AuditQuery {
    before: Option<i64>,
    limit: Option<i64>,
}

async fn audit_log(
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> Result<Json<ListPage<AuditEntry>>, ApiError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    let entries = state.app.store.audit_entries(q.before, limit).await?;
    let next = (entries.len() as i64 == limit)
        .then(|| entries.last().map(|e| e.id.to_string()))
        .flatten();
    Ok(Json(ListPage {
        items: entries,
        next,
    }))
}
