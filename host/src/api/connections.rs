//! `/api/v1/connections`: create, list, show, change, delete (check and
//! discover are in `probe`).
//!
//! Config is validated against the connector's JSON Schema (each error names
//! its field); secrets are write-only (answers show which are set and when)
//! and only the ones the spec declares are accepted; granted hosts must fall
//! inside what the spec declares.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::routing::{get, patch, post};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

mod grants;

use self::grants::{
    checked_quotas, networks_need_admin, quotas_need_admin, reveal_needs_admin, trust_needs_admin,
    trusted_ca,
};
use super::auth::{Caller, Scope};
use super::error::{ApiError, FieldError};
use super::json::Json as Body;
use super::openapi::{Content, inline, schema};
use super::query::{Path, Query};
use super::{AppState, ListPage, Paging, Route, audit};
use crate::connections::fit::fit;
use crate::connections::widening::{Widening, exposed_secrets, widening};
use crate::model::limits::ConnectionQuotas;
use crate::model::name::{NAME_MAX, NAME_PATTERN, NAME_RULE, is_valid_name};
use crate::model::secret::SecretValue;
use crate::model::spec::Spec;
use crate::store::connections::{
    ConnectionRow, ConnectionUpdate, Deletion, Grants, NewConnection, SecretChange, SecretInfo,
    Status,
};

pub fn routes() -> Vec<Route> {
    vec![
        Route {
            method: Method::POST,
            path: "/api/v1/connections",
            scope: Some(Scope::Operator),
            summary: "Create a connection: connector, config, secrets, grants",
            query: None,
            body: Some(Content::Json(schema::<CreateRequest>)),
            ok: vec![(201, Content::Json(schema::<ConnectionView>))],
            errors: &[404, 409, 413, 415, 422],
            handler: post(create),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/connections",
            scope: Some(Scope::Read),
            summary: "List connections",
            query: Some(inline::<Paging>),
            body: None,
            ok: vec![(200, Content::Json(schema::<ListPage<ConnectionView>>))],
            errors: &[],
            handler: get(list),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/connections/{id}",
            scope: Some(Scope::Read),
            summary: "Show a connection (secret names only, never values)",
            query: None,
            body: None,
            ok: vec![(200, Content::Json(schema::<ConnectionView>))],
            errors: &[404],
            handler: get(show),
        },
        Route {
            method: Method::PATCH,
            path: "/api/v1/connections/{id}",
            scope: Some(Scope::Operator),
            summary: "Change a connection; an omitted secret is kept, `null` removes it",
            query: None,
            body: Some(Content::Json(schema::<PatchRequest>)),
            ok: vec![(200, Content::Json(schema::<ConnectionView>))],
            errors: &[404, 409, 413, 415, 422],
            handler: patch(update),
        },
        Route {
            method: Method::DELETE,
            path: "/api/v1/connections/{id}",
            scope: Some(Scope::Operator),
            summary: "Delete a connection and its secrets",
            query: None,
            body: None,
            ok: vec![(204, Content::Empty)],
            errors: &[404, 409],
            handler: axum::routing::delete(remove),
        },
    ]
}

/// A connection as the API shows it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[schemars(rename = "Connection")]
pub struct ConnectionView {
    id: String,
    name: String,
    connector: String,
    config: Value,
    grants: Grants,
    status: Status,
    status_reason: Option<String>,
    checked_at: Option<i64>,
    secrets: Vec<SecretInfo>,
    created_at: i64,
    updated_at: i64,
}

impl From<ConnectionRow> for ConnectionView {
    fn from(c: ConnectionRow) -> Self {
        Self {
            id: c.id,
            name: c.name,
            connector: format!("{}@{}", c.connector, c.version),
            config: c.config,
            grants: c.grants,
            status: c.status,
            status_reason: c.status_reason,
            checked_at: c.checked_at,
            secrets: c.secrets,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "NewConnection")]
struct CreateRequest {
    /// Unique name.
    #[schemars(length(min = 1, max = NAME_MAX), pattern(NAME_PATTERN))]
    name: String,
    /// The connector, `name@version`.
    #[schemars(pattern(r"^[^@\s]+@[^@\s]+$"))]
    connector: String,
    /// Settings, checked against the connector's config schema.
    #[serde(default = "empty_object")]
    #[schemars(with = "serde_json::Map<String, Value>")]
    config: Value,
    /// Secret values by name (write-only), among those the connector declares.
    #[serde(default)]
    secrets: BTreeMap<String, String>,
    /// Hosts and networks the connection may reach; by default the hosts
    /// the connector declares for this config.
    #[serde(default)]
    grants: Option<GrantsInput>,
}

/// Grants as sent: omitted `hosts` means the hosts the connector declares
/// (on create) or the current ones (on change).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct GrantsInput {
    /// Origins, each inside the hosts the connector declares.
    #[serde(default)]
    hosts: Option<Vec<crate::model::grants::HostPattern>>,
    /// Otherwise blocked networks (private, loopback); an admin key is needed.
    #[serde(default)]
    #[schemars(with = "Vec<crate::model::grants::NetworkText>")]
    networks: Vec<ipnet::IpNet>,
    /// Secrets the connector may read with `secrets.reveal` (deprecated);
    /// an admin key is needed.
    #[serde(default)]
    reveal: Vec<String>,
    /// PEM certificates to trust besides the public roots (an on-premises
    /// system's own CA); an admin key is needed. Omitted: kept on change;
    /// empty: none.
    #[serde(default)]
    #[schemars(length(max = 65536))]
    tls_ca: Option<String>,
    /// Quotas the host enforces (requests a minute to each host, body bytes
    /// a run); an admin key is needed to change them. Omitted: kept on
    /// change; `{}`: none.
    #[serde(default)]
    quotas: Option<ConnectionQuotas>,
}

fn empty_object() -> Value {
    json!({})
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ConnectionPatch")]
struct PatchRequest {
    /// A new unique name.
    #[serde(default)]
    #[schemars(length(min = 1, max = NAME_MAX), pattern(NAME_PATTERN))]
    name: Option<String>,
    /// New settings (replace the old ones whole).
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Map<String, Value>>")]
    config: Option<Value>,
    /// Secrets to set; an omitted secret is kept, `null` removes it.
    #[serde(default)]
    secrets: BTreeMap<String, Option<String>>,
    /// New grants; omitted `hosts` keeps the current ones.
    #[serde(default)]
    grants: Option<GrantsInput>,
    /// Switch the connection on or off (`error` is set by checks and runs).
    #[serde(default)]
    status: Option<SettableStatus>,
}

/// The statuses a person may set.
#[derive(Debug, Clone, Copy, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
enum SettableStatus {
    /// In use.
    Active,
    /// Kept but not run.
    Inactive,
}

impl From<SettableStatus> for Status {
    fn from(s: SettableStatus) -> Self {
        match s {
            SettableStatus::Active => Status::Active,
            SettableStatus::Inactive => Status::Inactive,
        }
    }
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            format!("the connection name must be {NAME_RULE}"),
            vec![FieldError {
                field: "/name".into(),
                message: NAME_RULE.into(),
            }],
        ))
    }
}

fn parse_ref(connector: &str) -> Result<(&str, &str), ApiError> {
    connector.split_once('@').ok_or_else(|| {
        ApiError::invalid(
            "connector must be `name@version`",
            vec![FieldError {
                field: "/connector".into(),
                message: format!("`{connector}` is not `name@version`"),
            }],
        )
    })
}

async fn spec_of(state: &AppState, name: &str, version: &str) -> Result<Spec, ApiError> {
    state
        .app
        .store
        .connector(name, version)
        .await?
        .map(|r| r.spec)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no connector {name}@{version} is registered; upload it first"
            ))
        })
}

async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(req): Body<CreateRequest>,
) -> Result<(StatusCode, Json<ConnectionView>), ApiError> {
    check_name(&req.name)?;
    let (cname, cversion) = parse_ref(&req.connector)?;
    let spec = spec_of(&state, cname, cversion).await?;
    if !req.config.is_object() {
        return Err(ApiError::invalid(
            "config must be a JSON object",
            vec![FieldError {
                field: "/config".into(),
                message: "expected an object".into(),
            }],
        ));
    }
    // Default: exactly the hosts the spec declares for this config.
    let input = req.grants.unwrap_or(GrantsInput {
        hosts: None,
        networks: Vec::new(),
        reveal: Vec::new(),
        tls_ca: None,
        quotas: None,
    });
    let grants = Grants {
        hosts: match input.hosts {
            Some(h) => h,
            None => spec.host_patterns(&req.config).unwrap_or_default(),
        },
        networks: input.networks,
        reveal: input.reveal,
        tls_ca: trusted_ca(input.tls_ca)?,
        quotas: checked_quotas(input.quotas.unwrap_or_default())?,
    };
    let given: Vec<(&str, bool)> = req.secrets.keys().map(|k| (k.as_str(), true)).collect();
    fit(&spec, &req.config, &given, &grants, &[])?;
    networks_need_admin(&caller, &grants.networks, &[])?;
    reveal_needs_admin(&caller, &grants.reveal, &[])?;
    trust_needs_admin(&caller, &grants.tls_ca, &None)?;
    quotas_need_admin(&caller, &grants.quotas, &ConnectionQuotas::default())?;
    if state
        .app
        .store
        .connection_name_taken(&req.name, None)
        .await?
    {
        return Err(ApiError::conflict(format!(
            "a connection named `{}` exists",
            req.name
        )));
    }
    let secrets = req
        .secrets
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                state.app.vault.encrypt(&SecretValue::new(v.as_str())),
            )
        })
        .collect();
    let row = state
        .app
        .store
        .insert_connection(&NewConnection {
            id: crate::store::new_id(),
            name: req.name.clone(),
            connector: cname.to_string(),
            version: cversion.to_string(),
            config: req.config,
            grants,
            secrets,
        })
        .await?;
    let detail = json!({
        "name": row.name,
        "connector": req.connector,
        "secrets_set": req.secrets.keys().collect::<Vec<_>>(),
        "grants": row.grants,
    });
    audit(&state, &caller, "connection.create", &row.id, detail).await;
    Ok((StatusCode::CREATED, Json(row.into())))
}

async fn list(
    State(state): State<AppState>,
    Query(paging): Query<Paging>,
) -> Result<Json<ListPage<ConnectionView>>, ApiError> {
    let limit = paging.limit()?;
    let rows = state.app.store.connections(paging.after(), limit).await?;
    let items = rows.into_iter().map(ConnectionView::from).collect();
    Ok(Json(ListPage::new(items, limit, |c: &ConnectionView| {
        c.name.clone()
    })))
}

pub(super) async fn find(state: &AppState, id: &str) -> Result<ConnectionRow, ApiError> {
    state
        .app
        .store
        .connection(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no connection {id}")))
}

async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ConnectionView>, ApiError> {
    Ok(Json(find(&state, &id).await?.into()))
}

async fn update(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Body(req): Body<PatchRequest>,
) -> Result<Json<ConnectionView>, ApiError> {
    let current = find(&state, &id).await?;
    if let Some(name) = &req.name {
        check_name(name)?;
        if state
            .app
            .store
            .connection_name_taken(name, Some(&id))
            .await?
        {
            return Err(ApiError::conflict(format!(
                "a connection named `{name}` exists"
            )));
        }
    }
    let spec = spec_of(&state, &current.connector, &current.version).await?;
    let config = req.config.clone().unwrap_or_else(|| current.config.clone());
    let grants = match req.grants.clone() {
        Some(g) => Grants {
            hosts: g.hosts.unwrap_or_else(|| current.grants.hosts.clone()),
            networks: g.networks,
            reveal: g.reveal,
            tls_ca: match g.tls_ca {
                None => current.grants.tls_ca.clone(),
                given => trusted_ca(given)?,
            },
            quotas: match g.quotas {
                None => current.grants.quotas,
                Some(q) => checked_quotas(q)?,
            },
        },
        None => current.grants.clone(),
    };
    let changes: Vec<(&str, bool)> = req
        .secrets
        .iter()
        .map(|(k, v)| (k.as_str(), v.is_some()))
        .collect();
    fit(&spec, &config, &changes, &grants, &current.secrets)?;
    let resupplied: Vec<&str> = req
        .secrets
        .iter()
        .filter(|(_, v)| v.is_some())
        .map(|(k, _)| k.as_str())
        .collect();
    let has_token = state.app.store.oauth_tokens(&id).await?.is_some();
    let widened = widening(
        &spec,
        (&current.config, &current.grants),
        (&config, &grants),
    );
    networks_need_admin(&caller, &grants.networks, &current.grants.networks)?;
    reveal_needs_admin(&caller, &grants.reveal, &current.grants.reveal)?;
    trust_needs_admin(&caller, &grants.tls_ca, &current.grants.tls_ca)?;
    quotas_need_admin(&caller, &grants.quotas, &current.grants.quotas)?;
    let exposed = exposed_secrets(&widened, &current.secrets, &resupplied, has_token);
    if !exposed.is_empty() && caller.scope < Scope::Admin {
        return Err(ApiError::forbidden(format!(
            "this change widens where the connection's credentials may be sent ({}); send these secrets again in the same request, or use an admin key: {}",
            widened
                .iter()
                .map(Widening::describe)
                .collect::<Vec<_>>()
                .join("; "),
            exposed.join(", ")
        )));
    }
    let secrets = req
        .secrets
        .iter()
        .map(|(k, v)| match v {
            Some(v) => SecretChange::Set(
                k.clone(),
                state.app.vault.encrypt(&SecretValue::new(v.as_str())),
            ),
            None => SecretChange::Remove(k.clone()),
        })
        .collect();
    let row = state
        .app
        .store
        .update_connection(
            &id,
            &ConnectionUpdate {
                name: req.name.clone(),
                config: req.config.clone(),
                grants: req.grants.is_some().then(|| grants.clone()),
                status: req.status.map(Status::from),
                secrets,
            },
        )
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no connection {id}")))?;
    let detail = json!({
        "changed": {
            "name": req.name.is_some(),
            "config": req.config.is_some(),
            "grants": req.grants.is_some(),
            "status": req.status.map(Status::from),
        },
        "secrets_set": req.secrets.iter().filter(|(_, v)| v.is_some()).map(|(k, _)| k).collect::<Vec<_>>(),
        "secrets_removed": req.secrets.iter().filter(|(_, v)| v.is_none()).map(|(k, _)| k).collect::<Vec<_>>(),
        "widened": widened.iter().map(Widening::describe).collect::<Vec<_>>(),
        "credentials_widened": exposed,
    });
    audit(&state, &caller, "connection.update", &id, detail).await;
    Ok(Json(row.into()))
}

async fn remove(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let current = find(&state, &id).await?;
    // Read before the session goes with the connection; sent once it is gone.
    let logout = crate::connections::login::Logout::prepare(&state.app, &current).await;
    match state.app.store.delete_connection(&id).await? {
        Deletion::Deleted => {
            if let Some(logout) = logout {
                tokio::spawn(logout.send());
            }
        }
        Deletion::Missing => return Err(ApiError::not_found(format!("no connection {id}"))),
        Deletion::InUse(syncs) => {
            return Err(ApiError::conflict(format!(
                "connection `{}` is used by syncs {}; delete them or point them at another connection first",
                current.name,
                syncs.join(", ")
            ))
            .with(json!({ "syncs": syncs })));
        }
    }
    audit(
        &state,
        &caller,
        "connection.delete",
        &id,
        json!({ "name": current.name }),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
