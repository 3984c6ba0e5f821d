//! `/api/v1/api-keys` and `/api/v1/audit`: administration.

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::routing::{get, post};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::{Actor, Caller, Scope, generate_key, hash_key};
use super::error::{ApiError, FieldError};
use super::json::Json as Body;
use super::openapi::{Content, inline, schema};
use super::query::{Path, Query};
use super::{AppState, ListPage, Paging, Route, SeqPaging, TimePaging, audit, sequence};
use crate::model::name::{NAME_MAX, NAME_PATTERN, NAME_RULE, is_valid_name};
use crate::store::api_keys::ApiKeyRow;
use crate::store::audit::{AuditEntry, AuditFilter};

pub fn routes() -> Vec<Route> {
    vec![
        Route {
            method: Method::GET,
            path: "/api/v1/me",
            scope: Some(Scope::Read),
            summary: "Who this request is signed by: an API key, or a person signed in through single sign-on, and their scope",
            query: None,
            body: None,
            ok: vec![(200, Content::Json(schema::<Me>))],
            errors: &[],
            handler: get(me),
        },
        Route {
            method: Method::POST,
            path: "/api/v1/api-keys",
            scope: Some(Scope::Admin),
            summary: "Create an API key; the key is in this answer only",
            query: None,
            body: Some(Content::Json(schema::<CreateRequest>)),
            ok: vec![(201, Content::Json(schema::<Created>))],
            errors: &[413, 415, 422],
            handler: post(create),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/api-keys",
            scope: Some(Scope::Admin),
            summary: "List API keys (never the keys themselves)",
            query: Some(inline::<TimePaging>),
            body: None,
            ok: vec![(200, Content::Json(schema::<ListPage<ApiKeyRow>>))],
            errors: &[],
            handler: get(list),
        },
        Route {
            method: Method::DELETE,
            path: "/api/v1/api-keys/{id}",
            scope: Some(Scope::Admin),
            summary: "Revoke an API key (not the one signing the request); it fails at once",
            query: None,
            body: None,
            ok: vec![(204, Content::Empty)],
            errors: &[404, 409],
            handler: axum::routing::delete(revoke),
        },
        Route {
            method: Method::DELETE,
            path: "/api/v1/people/{subject}/sessions",
            scope: Some(Scope::Admin),
            summary: "End every console session of a person signed in through single sign-on (their next sign-in reads their role anew)",
            query: None,
            body: None,
            ok: vec![(200, Content::Json(schema::<SessionsEnded>))],
            errors: &[],
            handler: axum::routing::delete(end_sessions),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/audit",
            scope: Some(Scope::Admin),
            summary: "The audit log, newest first; filter by actor, action (`connection.` for a prefix) and target",
            query: Some(inline::<AuditQuery>),
            body: None,
            ok: vec![(200, Content::Json(schema::<ListPage<AuditEntry>>))],
            errors: &[],
            handler: get(audit_log),
        },
    ]
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "NewApiKey")]
struct CreateRequest {
    /// Who or what uses the key.
    #[schemars(length(min = 1, max = NAME_MAX), pattern(NAME_PATTERN))]
    name: String,
    /// What it may do.
    scope: Scope,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[schemars(rename = "CreatedApiKey")]
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
    let scope = req.scope;
    if !is_valid_name(&req.name) {
        return Err(ApiError::invalid(
            format!("name the key ({NAME_RULE}), e.g. after who or what uses it"),
            vec![FieldError {
                field: "/name".into(),
                message: NAME_RULE.into(),
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
        &caller,
        "api_key.create",
        &id,
        json!({ "name": req.name, "scope": scope }),
    )
    .await;
    Ok((StatusCode::CREATED, Json(Created { row, key })))
}

async fn list(
    State(state): State<AppState>,
    Query(paging): Query<TimePaging>,
) -> Result<Json<ListPage<ApiKeyRow>>, ApiError> {
    let paging = Paging::from(paging);
    let all = state.app.store.api_keys().await?;
    Ok(Json(ListPage::of_all(all, &paging, true, |k| {
        (k.created_at, &k.id)
    })?))
}

/// The caller, as `GET /api/v1/me` shows it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Me {
    /// `key` or `person`.
    pub kind: &'static str,
    /// The key's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The person's subject at the identity provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The person's email.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The person's role (`admin`, `operator`, `viewer`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    /// What the caller may do.
    pub scope: Scope,
}

async fn me(Extension(caller): Extension<Caller>) -> Json<Me> {
    let scope = caller.scope;
    Json(match caller.actor {
        Actor::Key(id) => Me {
            kind: "key",
            key_id: Some(id),
            subject: None,
            email: None,
            role: None,
            scope,
        },
        Actor::Person(p) => Me {
            kind: "person",
            key_id: None,
            role: Some(p.role.as_str()),
            subject: Some(p.subject),
            email: p.email,
            scope,
        },
    })
}

/// What ending a person's sessions did.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct SessionsEnded {
    /// The person's subject.
    pub subject: String,
    /// Sessions ended.
    pub ended: u64,
}

async fn end_sessions(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(subject): Path<String>,
) -> Result<Json<SessionsEnded>, ApiError> {
    let ended = state.app.store.delete_person_sessions(&subject).await?;
    audit(
        &state,
        &caller,
        "person.sessions_end",
        &subject,
        json!({ "ended": ended }),
    )
    .await;
    Ok(Json(SessionsEnded { subject, ended }))
}

async fn revoke(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    // Revoking the key that signs this request would lock the caller out
    // mid-operation; another admin key can do it.
    if caller.key_id() == Some(id.as_str()) {
        return Err(ApiError::conflict(
            "this is the key this request is signed with; revoke it with another admin key",
        ));
    }
    if !state.app.store.revoke_api_key(&id).await? {
        return Err(ApiError::not_found(format!("no active API key {id}")));
    }
    audit(&state, &caller, "api_key.revoke", &id, json!({})).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `?limit=&after=&actor=&action=&target=` of the audit log.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct AuditQuery {
    /// Items per page (default 100).
    #[schemars(range(min = 1, max = super::MAX_PAGE))]
    limit: Option<i64>,
    /// Continue after this number: the `next` of the previous page.
    #[schemars(pattern(r"^[0-9]{1,18}$"))]
    after: Option<String>,
    /// Only what this key (its id) did.
    actor: Option<String>,
    /// Only this action (`connection.create`), or, ending in `.`, every
    /// action starting so (`connection.`).
    action: Option<String>,
    /// Only what was done to this object (an id, or `name@version`).
    target: Option<String>,
}

async fn audit_log(
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> Result<Json<ListPage<AuditEntry>>, ApiError> {
    let filter = AuditFilter {
        actor: q.actor.as_deref().filter(|s| !s.is_empty()),
        action: q.action.as_deref().filter(|s| !s.is_empty()),
        target: q.target.as_deref().filter(|s| !s.is_empty()),
    };
    let paging = Paging::from(SeqPaging {
        limit: q.limit,
        after: q.after,
    });
    let limit = paging.limit()?;
    let before = match paging.after() {
        None => None,
        Some(_) => Some(sequence(paging.after())?),
    };
    let entries = state
        .app
        .store
        .audit_entries(before, limit, &filter)
        .await?;
    Ok(Json(ListPage::new(entries, limit, |e: &AuditEntry| {
        e.id.to_string()
    })))
}
