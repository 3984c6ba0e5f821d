//! `/api/v1/syncs`: create, list, show, change and delete syncs (source
//! streams → optional mapper → destination, schedule, mode, limits).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::routing::{get, patch, post};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::auth::{Caller, Scope};
use super::error::{ApiError, FieldError};
use super::json::Json as Body;
use super::openapi::{Content, inline, schema};
use super::query::{Path, Query};
use super::{AppState, ListPage, Paging, Route, audit};
use crate::model::name::{NAME_MAX, NAME_PATTERN, NAME_RULE, is_valid_name};
use crate::model::spec::Role;
use crate::store::now_ms;
use crate::store::syncs::{Mode, RetryPolicy, RunLimits, Schedule, SyncRow};
use crate::sync::schedule;

pub fn routes() -> Vec<Route> {
    vec![
        Route {
            method: Method::POST,
            path: "/api/v1/syncs",
            scope: Some(Scope::Operator),
            summary: "Create a sync: source streams → optional mapper → destination (a connection or the records store)",
            query: None,
            body: Some(Content::Json(new_sync)),
            ok: vec![(201, Content::Json(schema::<SyncView>))],
            errors: &[404, 409, 413, 415, 422],
            handler: post(create),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/syncs",
            scope: Some(Scope::Read),
            summary: "List syncs",
            query: Some(inline::<Paging>),
            body: None,
            ok: vec![(200, Content::Json(schema::<ListPage<SyncView>>))],
            errors: &[],
            handler: get(list),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/syncs/{id}",
            scope: Some(Scope::Read),
            summary: "Show a sync and its committed cursors",
            query: None,
            body: None,
            ok: vec![(200, Content::Json(schema::<SyncView>))],
            errors: &[404],
            handler: get(show),
        },
        Route {
            method: Method::PATCH,
            path: "/api/v1/syncs/{id}",
            scope: Some(Scope::Operator),
            summary: "Change a sync (omitted fields are kept)",
            query: None,
            body: Some(Content::Json(schema::<SyncInput>)),
            ok: vec![(200, Content::Json(schema::<SyncView>))],
            errors: &[404, 409, 413, 415, 422],
            handler: patch(update),
        },
        Route {
            method: Method::DELETE,
            path: "/api/v1/syncs/{id}",
            scope: Some(Scope::Operator),
            summary: "Delete a sync with its runs and stored records",
            query: None,
            body: None,
            ok: vec![(204, Content::Empty)],
            errors: &[404, 409],
            handler: axum::routing::delete(remove),
        },
    ]
}

/// Where records go.
const RECORDS_STORE: &str = "records";

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct SyncInput {
    /// Unique name.
    #[schemars(length(min = 1, max = NAME_MAX), pattern(NAME_PATTERN))]
    name: Option<String>,
    /// Source connection id.
    #[schemars(length(min = 1))]
    source: Option<String>,
    /// Streams to read, in order; each one the source offers.
    #[schemars(length(min = 1), extend("uniqueItems" = true))]
    streams: Option<Vec<String>>,
    /// `full` (every run reads everything) or `incremental`.
    mode: Option<Mode>,
    /// Mapper connection id; `null` removes the mapper.
    #[serde(default, deserialize_with = "double_option::deserialize")]
    #[schemars(with = "Option<String>")]
    mapper: Option<Option<String>>,
    /// Destination connection id, or `records` (the default) for the
    /// built-in records store.
    #[schemars(length(min = 1))]
    destination: Option<String>,
    /// When it runs by itself; `null`: manual only.
    #[serde(default, deserialize_with = "double_option::deserialize")]
    #[schemars(with = "Option<Schedule>")]
    schedule: Option<Option<Schedule>>,
    /// Whether the schedule fires.
    enabled: Option<bool>,
    /// Rejected records a run tolerates before failing; -1: any number.
    #[schemars(range(min = -1, max = 1_000_000_000_000_000i64))]
    error_threshold: Option<i64>,
    /// What a run does about failures.
    retry: Option<RetryPolicy>,
    /// JSON Schemas by stream (override the source's).
    #[schemars(with = "Option<BTreeMap<String, serde_json::Map<String, Value>>>")]
    schemas: Option<BTreeMap<String, Value>>,
    /// Limits of each run, and the records-store quota.
    limits: Option<RunLimits>,
}

/// The body of a new sync: a [`SyncInput`] with a name, a source and
/// streams.
fn new_sync(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let input = g.subschema_for::<SyncInput>();
    schemars::json_schema!({
        "allOf": [input],
        "required": ["name", "source", "streams"],
        "properties": {
            "name": {"type": "string"},
            "source": {"type": "string"},
            "streams": {"type": "array"}
        }
    })
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
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[schemars(rename = "Sync")]
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
    // A connection that does not exist is not found (404), like any other
    // missing resource; what is wrong with ones that exist is a 422.
    let references = [
        ("source", Some(&s.source_id)),
        ("mapper", s.mapper_id.as_ref()),
        ("destination", s.destination_id.as_ref()),
    ];
    for (side, id) in references {
        if let Some(id) = id
            && state.app.store.connection(id).await?.is_none()
        {
            return Err(ApiError::not_found(format!(
                "no connection {id} (the {side})"
            )));
        }
    }
    let mut errors = Vec::new();
    if !is_valid_name(&s.name) {
        errors.push(field_error("/name", NAME_RULE));
    }
    let role_of = |id: String, field: &'static str, role: Role| async move {
        let Some(c) = state.app.store.connection(&id).await? else {
            return Ok::<_, ApiError>(Err(field_error(field, format!("no connection {id}"))));
        };
        let Some(k) = state.app.store.connector(&c.connector, &c.version).await? else {
            return Ok(Err(field_error(field, "its connector is gone")));
        };
        if k.spec.has_role(role) {
            Ok(Ok((k.spec, c)))
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
        Ok((spec, source)) => {
            if s.streams.is_empty() {
                errors.push(field_error("/streams", "name at least one stream"));
            }
            if let Some(offered) = spec.offered_streams(&source.config) {
                for (i, st) in s.streams.iter().enumerate() {
                    if !offered.contains(st) {
                        errors.push(field_error(
                            &format!("/streams/{i}"),
                            format!(
                                "`{st}` is not a stream of source `{}` (it offers: {})",
                                source.name,
                                offered.join(", ")
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
        &caller,
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
    for s in state.app.store.syncs(paging.after(), limit).await? {
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
        &caller,
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
        &caller,
        "sync.delete",
        &id,
        json!({ "name": sync.name }),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
