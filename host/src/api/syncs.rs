//! `/api/v1/syncs`: create, list, show, change and delete syncs (source
//! streams → optional mapper → destination, schedule, mode, limits).

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::routing::{get, patch, post};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::auth::{Caller, Scope};
use super::error::{ApiError, FieldError};
use super::json::Json as Body;
use super::{AppState, ListPage, Paging, Route, audit};
use crate::model::spec::Role;
use crate::store::now_ms;
use crate::store::syncs::{Mode, RetryPolicy, RunLimits, Schedule, SyncRow};
use crate::sync::schedule;

pub fn routes() -> Vec<Route> {
    vec![
        Route {
            method: Method::POST,
            path: "/api/v1/syncs",
            scope: Some(Scope::Write),
            summary: "Create a sync: source streams → optional mapper → destination (a connection or the records store)",
            body: Some("NewSync"),
            ok: &[(201, "Sync")],
            errors: &[409, 413, 415, 422],
            handler: post(create),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/syncs",
            scope: Some(Scope::Read),
            summary: "List syncs",
            body: None,
            ok: &[(200, "SyncList")],
            errors: &[],
            handler: get(list),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/syncs/{id}",
            scope: Some(Scope::Read),
            summary: "Show a sync and its committed cursors",
            body: None,
            ok: &[(200, "Sync")],
            errors: &[404],
            handler: get(show),
        },
        Route {
            method: Method::PATCH,
            path: "/api/v1/syncs/{id}",
            scope: Some(Scope::Write),
            summary: "Change a sync (omitted fields are kept)",
            body: Some("SyncPatch"),
            ok: &[(200, "Sync")],
            errors: &[404, 409, 413, 415, 422],
            handler: patch(update),
        },
        Route {
            method: Method::DELETE,
            path: "/api/v1/syncs/{id}",
            scope: Some(Scope::Write),
            summary: "Delete a sync with its runs and stored records",
            body: None,
            ok: &[(204, "")],
            errors: &[404, 409],
            handler: axum::routing::delete(remove),
        },
    ]
}

/// Where records go.
const RECORDS_STORE: &str = "records";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SyncInput {
    name: Option<String>,
    source: Option<String>,
    streams: Option<Vec<String>>,
    mode: Option<Mode>,
    #[serde(default, with = "double_option")]
    mapper: Option<Option<String>>,
    destination: Option<String>,
    #[serde(default, with = "double_option")]
    schedule: Option<Option<Schedule>>,
    enabled: Option<bool>,
    error_threshold: Option<i64>,
    retry: Option<RetryPolicy>,
    schemas: Option<BTreeMap<String, Value>>,
    limits: Option<RunLimits>,
}

/// `null` and absent are different in a PATCH: absent keeps, null clears.
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// A sync as the API shows it.
#[derive(Debug, Serialize)]
struct SyncView {
    #[serde(flatten)]
    sync: SyncRow,
    destination: String,
    cursors: BTreeMap<String, Option<String>>,
}

async fn view(state: &AppState, sync: SyncRow) -> Result<SyncView, ApiError> {
    let cursors = state.app.store.sync_cursors(&sync.id).await?;
    Ok(SyncView {
        destination: sync
            .destination_id
            .clone()
            .unwrap_or_else(|| RECORDS_STORE.into()),
        sync,
        cursors,
    })
}

fn field_error(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

/// Check a sync's references and settings against the connectors' specs.
async fn check(state: &AppState, s: &SyncRow) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    if s.name.trim().is_empty() || s.name.len() > 100 {
        errors.push(field_error("/name", "1-100 characters"));
    }
    let role_of = |id: String, field: &'static str, role: Role| async move {
        let Some(c) = state.app.store.connection(&id).await? else {
            return Ok::<_, ApiError>(Err(field_error(field, format!("no connection {id}"))));
        };
        let Some(k) = state.app.store.connector(&c.connector, &c.version).await? else {
            return Ok(Err(field_error(field, "its connector is gone")));
        };
        if k.spec.has_role(role) {
            Ok(Ok(k.spec))
        } else {
            Ok(Err(field_error(
                field,
                format!(
                    "connection `{}` ({}@{}) cannot be a {role:?}",
                    c.name, k.name, k.version
                )
                .to_lowercase(),
            )))
        }
    };
    match role_of(s.source_id.clone(), "/source", Role::Source).await? {
        Ok(spec) => {
            if s.streams.is_empty() {
                errors.push(field_error("/streams", "name at least one stream"));
            }
            if !spec.streams.is_empty() {
                for (i, st) in s.streams.iter().enumerate() {
                    if !spec.streams.iter().any(|x| &x.name == st) {
                        let known: Vec<&str> =
                            spec.streams.iter().map(|x| x.name.as_str()).collect();
                        errors.push(field_error(
                            &format!("/streams/{i}"),
                            format!(
                                "`{st}` is not a stream of the source (it offers: {})",
                                known.join(", ")
                            ),
                        ));
                    }
                }
            }
        }
        Err(e) => errors.push(e),
    }
    if let Some(m) = &s.mapper_id
        && let Err(e) = role_of(m.clone(), "/mapper", Role::Mapper).await?
    {
        errors.push(e);
    }
    if let Some(d) = &s.destination_id
        && let Err(e) = role_of(d.clone(), "/destination", Role::Destination).await?
    {
        errors.push(e);
    }
    if let Some(sch) = &s.schedule
        && let Err(e) = schedule::validate(sch)
    {
        errors.push(field_error("/schedule", e));
    }
    if s.error_threshold < -1 {
        errors.push(field_error(
            "/error_threshold",
            "-1 (no limit) or a number of records",
        ));
    }
    for (stream, schema) in &s.schemas {
        if crate::model::record::schema_validator(schema).is_err() {
            errors.push(field_error(
                &format!("/schemas/{stream}"),
                "not a valid JSON Schema",
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid("the sync is not valid", errors))
    }
}

fn apply(s: &mut SyncRow, input: SyncInput) {
    if let Some(v) = input.name {
        s.name = v;
    }
    if let Some(v) = input.source {
        s.source_id = v;
    }
    if let Some(v) = input.streams {
        s.streams = v;
    }
    if let Some(v) = input.mode {
        s.mode = v;
    }
    if let Some(v) = input.mapper {
        s.mapper_id = v;
    }
    if let Some(v) = input.destination {
        s.destination_id = (v != RECORDS_STORE).then_some(v);
    }
    if let Some(v) = input.schedule {
        s.schedule = v;
    }
    if let Some(v) = input.enabled {
        s.enabled = v;
    }
    if let Some(v) = input.error_threshold {
        s.error_threshold = v;
    }
    if let Some(v) = input.retry {
        s.retry = v;
    }
    if let Some(v) = input.schemas {
        s.schemas = v;
    }
    if let Some(v) = input.limits {
        s.limits = v;
    }
    s.next_due_at = match (&s.schedule, s.enabled) {
        (Some(sch), true) => schedule::next_due(sch, now_ms()),
        _ => None,
    };
}

async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(input): Body<SyncInput>,
) -> Result<(StatusCode, Json<SyncView>), ApiError> {
    let mut missing = Vec::new();
    if input.name.is_none() {
        missing.push(field_error("/name", "required"));
    }
    if input.source.is_none() {
        missing.push(field_error("/source", "required: a source connection id"));
    }
    if input.streams.is_none() {
        missing.push(field_error("/streams", "required: the streams to read"));
    }
    if !missing.is_empty() {
        return Err(ApiError::invalid("the sync is missing fields", missing));
    }
    let mut sync = SyncRow {
        id: crate::store::new_id(),
        name: String::new(),
        source_id: String::new(),
        streams: Vec::new(),
        mode: Mode::Full,
        mapper_id: None,
        destination_id: None,
        schedule: None,
        enabled: true,
        error_threshold: -1,
        retry: RetryPolicy::default(),
        schemas: BTreeMap::new(),
        limits: RunLimits::default(),
        record_count: 0,
        next_due_at: None,
        created_at: 0,
        updated_at: 0,
    };
    apply(&mut sync, input);
    check(&state, &sync).await?;
    if state.app.store.sync_name_taken(&sync.name, None).await? {
        return Err(ApiError::conflict(format!(
            "a sync named `{}` exists",
            sync.name
        )));
    }
    let row = state.app.store.insert_sync(&sync).await?;
    audit(
        &state,
        &caller.key_id,
        "sync.create",
        &row.id,
        json!({ "name": row.name }),
    )
    .await;
    Ok((StatusCode::CREATED, Json(view(&state, row).await?)))
}

pub(super) async fn find(state: &AppState, id: &str) -> Result<SyncRow, ApiError> {
    state
        .app
        .store
        .sync(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no sync {id}")))
}

async fn list(
    State(state): State<AppState>,
    Query(paging): Query<Paging>,
) -> Result<Json<ListPage<SyncView>>, ApiError> {
    let limit = paging.limit()?;
    let mut items = Vec::new();
    for s in state
        .app
        .store
        .syncs(paging.after.as_deref(), limit)
        .await?
    {
        items.push(view(&state, s).await?);
    }
    Ok(Json(ListPage::new(items, limit, |s: &SyncView| {
        s.sync.name.clone()
    })))
}

async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<SyncView>, ApiError> {
    let s = find(&state, &id).await?;
    Ok(Json(view(&state, s).await?))
}

async fn update(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Body(input): Body<SyncInput>,
) -> Result<Json<SyncView>, ApiError> {
    let mut sync = find(&state, &id).await?;
    apply(&mut sync, input);
    check(&state, &sync).await?;
    if state
        .app
        .store
        .sync_name_taken(&sync.name, Some(&id))
        .await?
    {
        return Err(ApiError::conflict(format!(
            "a sync named `{}` exists",
            sync.name
        )));
    }
    let row = state
        .app
        .store
        .update_sync(&sync)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no sync {id}")))?;
    audit(
        &state,
        &caller.key_id,
        "sync.update",
        &id,
        json!({ "name": row.name }),
    )
    .await;
    Ok(Json(view(&state, row).await?))
}

async fn remove(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let sync = find(&state, &id).await?;
    if state
        .app
        .store
        .runs_of_sync(&id, 50)
        .await?
        .iter()
        .any(|r| r.status == "running")
    {
        return Err(ApiError::conflict(
            "a run of this sync is running; cancel it first",
        ));
    }
    state.app.store.delete_sync(&id).await?;
    audit(
        &state,
        &caller.key_id,
        "sync.delete",
        &id,
        json!({ "name": sync.name }),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
