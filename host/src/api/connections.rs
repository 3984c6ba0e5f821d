//! `/api/v1/connections`: create, list, show, change, delete, check.
//!
//! Config is validated against the connector's JSON Schema (each error names
//! its field); secrets are write-only (answers show which are set and when)
//! and only the ones the spec declares are accepted; granted hosts must fall
//! inside what the spec declares.

use std::collections::BTreeMap;
use std::time::Instant;

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
use crate::connections::OpenError;
use crate::model::grants::HostPattern;
use crate::model::secret::SecretValue;
use crate::model::spec::{Spec, expand_host_template};
use crate::runtime::Session;
use crate::store::connections::{
    ConnectionRow, ConnectionUpdate, Grants, NewConnection, SecretChange, SecretInfo, Status,
};

pub fn routes() -> Vec<Route> {
    vec![
        Route {
            method: Method::POST,
            path: "/api/v1/connections",
            scope: Some(Scope::Write),
            summary: "Create a connection: connector, config, secrets, grants",
            body: Some("NewConnection"),
            ok: &[(201, "Connection")],
            errors: &[409, 413, 415, 422],
            handler: post(create),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/connections",
            scope: Some(Scope::Read),
            summary: "List connections",
            body: None,
            ok: &[(200, "ConnectionList")],
            errors: &[],
            handler: get(list),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/connections/{id}",
            scope: Some(Scope::Read),
            summary: "Show a connection (secret names only, never values)",
            body: None,
            ok: &[(200, "Connection")],
            errors: &[404],
            handler: get(show),
        },
        Route {
            method: Method::PATCH,
            path: "/api/v1/connections/{id}",
            scope: Some(Scope::Write),
            summary: "Change a connection; an omitted secret is kept, `null` removes it",
            body: Some("ConnectionPatch"),
            ok: &[(200, "Connection")],
            errors: &[404, 409, 413, 415, 422],
            handler: patch(update),
        },
        Route {
            method: Method::DELETE,
            path: "/api/v1/connections/{id}",
            scope: Some(Scope::Write),
            summary: "Delete a connection and its secrets",
            body: None,
            ok: &[(204, "")],
            errors: &[404],
            handler: axum::routing::delete(remove),
        },
        Route {
            method: Method::POST,
            path: "/api/v1/connections/{id}/check",
            scope: Some(Scope::Run),
            summary: "Run the connector's check with the connection's grants and secrets",
            body: None,
            ok: &[(200, "CheckResult")],
            errors: &[404, 422],
            handler: post(check),
        },
    ]
}

/// A connection as the API shows it.
#[derive(Debug, Serialize)]
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    name: String,
    connector: String,
    #[serde(default = "empty_object")]
    config: Value,
    #[serde(default)]
    secrets: BTreeMap<String, String>,
    #[serde(default)]
    grants: Option<GrantsInput>,
}

/// Grants as sent: omitted `hosts` means the hosts the connector declares
/// (on create) or the current ones (on change).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantsInput {
    #[serde(default)]
    hosts: Option<Vec<crate::model::grants::HostPattern>>,
    #[serde(default)]
    networks: Vec<ipnet::IpNet>,
}

fn empty_object() -> Value {
    json!({})
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchRequest {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    config: Option<Value>,
    #[serde(default)]
    secrets: BTreeMap<String, Option<String>>,
    #[serde(default)]
    grants: Option<GrantsInput>,
    #[serde(default)]
    status: Option<Status>,
}

fn check_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.trim().is_empty() && name.len() <= 100 && !name.chars().any(char::is_control);
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "the connection name must be 1-100 printable characters",
            vec![FieldError {
                field: "/name".into(),
                message: "1-100 printable characters".into(),
            }],
        ))
    }
}

/// Validate config, secrets and grants against the connector's spec.
fn validate(
    spec: &Spec,
    config: &Value,
    secrets: &[(&str, bool)],
    grants: &Grants,
    existing: &[SecretInfo],
) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    match crate::model::record::schema_validator(&spec.config_schema) {
        Ok(validator) => {
            for e in validator.iter_errors(config) {
                errors.push(FieldError {
                    field: format!("/config{}", e.instance_path),
                    message: e.to_string(),
                });
            }
        }
        Err(e) => {
            return Err(ApiError::invalid(
                format!(
                    "the connector's config schema is not a valid JSON Schema ({e}); fix the connector"
                ),
                Vec::new(),
            ));
        }
    }
    for (name, set) in secrets {
        let host_only = match *name {
            "webhook_secret" => spec.webhook.is_some(),
            "oauth_client_id" | "oauth_client_secret" => spec.oauth2.is_some(),
            _ => false,
        };
        if host_only {
            let _ = set;
            continue;
        }
        match spec.secret(name) {
            None => errors.push(FieldError {
                field: format!("/secrets/{name}"),
                message: format!(
                    "the connector does not declare a secret `{name}` (it declares: {})",
                    names(spec)
                ),
            }),
            Some(s) if !set && s.required => errors.push(FieldError {
                field: format!("/secrets/{name}"),
                message: format!("`{name}` is required by the connector and cannot be removed"),
            }),
            Some(_) => {}
        }
    }
    for s in spec.secrets.iter().filter(|s| s.required) {
        let given = secrets.iter().any(|(n, set)| *n == s.name && *set);
        let kept =
            existing.iter().any(|e| e.name == s.name) && !secrets.iter().any(|(n, _)| *n == s.name);
        if !given && !kept {
            errors.push(FieldError {
                field: format!("/secrets/{}", s.name),
                message: format!("`{}` is required: {}", s.name, s.description),
            });
        }
    }
    if errors.is_empty() {
        match spec.host_patterns(config) {
            Ok(declared) => {
                for (i, h) in grants.hosts.iter().enumerate() {
                    if !declared.iter().any(|d| h.is_within(d)) {
                        errors.push(FieldError {
                            field: format!("/grants/hosts/{i}"),
                            message: format!(
                                "{h} is not among the hosts the connector declares for this config ({})",
                                declared.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                            ),
                        });
                    }
                }
            }
            Err(e) => errors.push(FieldError {
                field: "/config".into(),
                message: e.to_string(),
            }),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(
            format!(
                "the connection does not fit connector {}@{}",
                spec.name, spec.version
            ),
            errors,
        ))
    }
}

fn names(spec: &Spec) -> String {
    if spec.secrets.is_empty() {
        "none".into()
    } else {
        spec.secrets
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
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
            ApiError::invalid(
                format!("no connector {name}@{version} is registered"),
                vec![FieldError {
                    field: "/connector".into(),
                    message: "unknown connector; upload it first".into(),
                }],
            )
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
    });
    let grants = Grants {
        hosts: match input.hosts {
            Some(h) => h,
            None => spec.host_patterns(&req.config).unwrap_or_default(),
        },
        networks: input.networks,
    };
    let given: Vec<(&str, bool)> = req.secrets.keys().map(|k| (k.as_str(), true)).collect();
    validate(&spec, &req.config, &given, &grants, &[])?;
    networks_need_admin(&caller, &grants.networks, &[])?;
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
    audit(&state, &caller.key_id, "connection.create", &row.id, detail).await;
    Ok((StatusCode::CREATED, Json(row.into())))
}

async fn list(
    State(state): State<AppState>,
    Query(paging): Query<Paging>,
) -> Result<Json<ListPage<ConnectionView>>, ApiError> {
    let limit = paging.limit()?;
    let rows = state
        .app
        .store
        .connections(paging.after.as_deref(), limit)
        .await?;
    let items = rows.into_iter().map(ConnectionView::from).collect();
    Ok(Json(ListPage::new(items, limit, |c: &ConnectionView| {
        c.name.clone()
    })))
}

async fn find(state: &AppState, id: &str) -> Result<ConnectionRow, ApiError> {
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
    if req.status == Some(Status::Error) {
        return Err(ApiError::invalid(
            "status can be set to `active` or `inactive`; `error` is set by checks and runs",
            vec![FieldError {
                field: "/status".into(),
                message: "active or inactive".into(),
            }],
        ));
    }
    let spec = spec_of(&state, &current.connector, &current.version).await?;
    let config = req.config.clone().unwrap_or_else(|| current.config.clone());
    let grants = match req.grants.clone() {
        Some(g) => Grants {
            hosts: g.hosts.unwrap_or_else(|| current.grants.hosts.clone()),
            networks: g.networks,
        },
        None => current.grants.clone(),
    };
    let changes: Vec<(&str, bool)> = req
        .secrets
        .iter()
        .map(|(k, v)| (k.as_str(), v.is_some()))
        .collect();
    validate(&spec, &config, &changes, &grants, &current.secrets)?;
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
                status: req.status,
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
            "status": req.status,
        },
        "secrets_set": req.secrets.iter().filter(|(_, v)| v.is_some()).map(|(k, _)| k).collect::<Vec<_>>(),
        "secrets_removed": req.secrets.iter().filter(|(_, v)| v.is_none()).map(|(k, _)| k).collect::<Vec<_>>(),
        "widened": widened.iter().map(Widening::describe).collect::<Vec<_>>(),
        "credentials_widened": exposed,
    });
    audit(&state, &caller.key_id, "connection.update", &id, detail).await;
    Ok(Json(row.into()))
}

/// Blocked networks (private ranges, loopback, cloud metadata) hold what
/// the node can reach but the internet cannot, the metadata service's
/// credentials among them: granting one is an administrator's decision.
fn networks_need_admin(
    caller: &Caller,
    networks: &[ipnet::IpNet],
    before: &[ipnet::IpNet],
) -> Result<(), ApiError> {
    let new: Vec<String> = networks
        .iter()
        .filter(|n| !before.iter().any(|o| o.contains(*n)))
        .map(ToString::to_string)
        .collect();
    if new.is_empty() || caller.scope >= Scope::Admin {
        return Ok(());
    }
    Err(ApiError::forbidden(format!(
        "granting blocked networks ({}) needs an admin key",
        new.join(", ")
    )))
}

/// A way a change lets credentials go somewhere they could not go before.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Widening {
    /// Granted hosts not covered by the old grants.
    Hosts(Vec<String>),
    /// Granted blocked networks not covered by the old ones.
    Networks(Vec<String>),
    /// A secret bound to hosts it was not bound to.
    Binding { secret: String, hosts: Vec<String> },
    /// The hosts the OAuth2 token goes to (the spec's, from the config).
    TokenHosts(Vec<String>),
    /// The OAuth2 token endpoint, where the client secret goes.
    TokenEndpoint(String),
}

impl Widening {
    fn describe(&self) -> String {
        match self {
            Self::Hosts(h) => format!("new host grants {}", h.join(", ")),
            Self::Networks(n) => format!("new network grants {}", n.join(", ")),
            Self::Binding { secret, hosts } => {
                format!("secret `{secret}` would be sent to {}", hosts.join(", "))
            }
            Self::TokenHosts(h) => format!("the OAuth2 token would be sent to {}", h.join(", ")),
            Self::TokenEndpoint(u) => format!("the OAuth2 client secret would be sent to {u}"),
        }
    }
}

/// How `new` widens where credentials may go compared with `old`: host and
/// network grants, each secret's bound hosts (which follow the config
/// through `{config.x}` templates), the OAuth2 token's hosts and the token
/// endpoint.
fn widening(spec: &Spec, old: (&Value, &Grants), new: (&Value, &Grants)) -> Vec<Widening> {
    let not_within = |new: &[HostPattern], old: &[HostPattern]| -> Vec<String> {
        new.iter()
            .filter(|n| !old.iter().any(|o| n.is_within(o)))
            .map(ToString::to_string)
            .collect()
    };
    let mut out = Vec::new();
    let hosts = not_within(&new.1.hosts, &old.1.hosts);
    if !hosts.is_empty() {
        out.push(Widening::Hosts(hosts));
    }
    let networks: Vec<String> = new
        .1
        .networks
        .iter()
        .filter(|n| !old.1.networks.iter().any(|o| o.contains(*n)))
        .map(ToString::to_string)
        .collect();
    if !networks.is_empty() {
        out.push(Widening::Networks(networks));
    }
    let bound = |s: &crate::model::spec::SecretSpec, config: &Value| -> Vec<HostPattern> {
        s.hosts
            .iter()
            .filter_map(|t| expand_host_template(t, config).ok())
            .collect()
    };
    for s in &spec.secrets {
        let hosts = not_within(&bound(s, new.0), &bound(s, old.0));
        if !hosts.is_empty() {
            out.push(Widening::Binding {
                secret: s.name.clone(),
                hosts,
            });
        }
    }
    if spec.oauth2.is_some() {
        let token_hosts = not_within(
            &spec.host_patterns(new.0).unwrap_or_default(),
            &spec.host_patterns(old.0).unwrap_or_default(),
        );
        if !token_hosts.is_empty() {
            out.push(Widening::TokenHosts(token_hosts));
        }
    }
    if let Some(o) = &spec.oauth2 {
        let endpoint = |config: &Value| crate::oauth::expand_endpoint(&o.token_url, config).ok();
        if endpoint(new.0) != endpoint(old.0) {
            out.push(Widening::TokenEndpoint(
                endpoint(new.0).unwrap_or_else(|| "an unknown endpoint".into()),
            ));
        }
    }
    out
}

/// The stored credentials a widening exposes that the request does not
/// supply again: secrets by name, and the OAuth2 token.
fn exposed_secrets(
    widened: &[Widening],
    stored: &[SecretInfo],
    resupplied: &[&str],
    has_token: bool,
) -> Vec<String> {
    if widened.is_empty() {
        return Vec::new();
    }
    let grants_widened = widened
        .iter()
        .any(|w| matches!(w, Widening::Hosts(_) | Widening::Networks(_)));
    let held = |name: &str| stored.iter().any(|s| s.name == name) && !resupplied.contains(&name);
    let mut out: Vec<String> = Vec::new();
    for s in stored {
        let name = s.name.as_str();
        if !held(name) || name == "webhook_secret" {
            continue;
        }
        let affected = grants_widened
            || widened.iter().any(|w| match w {
                Widening::Binding { secret, .. } => secret == name,
                Widening::TokenEndpoint(_) => name == "oauth_client_secret",
                _ => false,
            });
        if affected {
            out.push(name.to_string());
        }
    }
    // Refreshing sends the refresh token to the token endpoint.
    let token_widened = grants_widened
        || widened
            .iter()
            .any(|w| matches!(w, Widening::TokenHosts(_) | Widening::TokenEndpoint(_)));
    if has_token && token_widened {
        out.push("the OAuth2 token (an admin key is needed)".into());
    }
    out
}

async fn remove(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let current = find(&state, &id).await?;
    state.app.store.delete_connection(&id).await?;
    audit(
        &state,
        &caller.key_id,
        "connection.delete",
        &id,
        json!({ "name": current.name }),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Outcome of a check.
#[derive(Debug, Serialize)]
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
        Err(e @ (OpenError::Session { .. } | OpenError::OAuth { .. })) => {
            Err(ApiError::invalid(e.to_string(), Vec::new()))
        }
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
        &caller.key_id,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::spec::{OAuth2Spec, Role, SecretSpec};

    fn spec() -> Spec {
        Spec {
            name: "t".into(),
            version: "1.0.0".into(),
            description: String::new(),
            roles: vec![Role::Source],
            streams: vec![],
            config_schema: json!({}),
            secrets: vec![SecretSpec {
                name: "signing".into(),
                description: String::new(),
                hosts: vec!["{config.auth_url}".into()],
                reveal: false,
                required: false,
            }],
            hosts: vec!["{config.base_url}".into()],
            oauth2: Some(OAuth2Spec {
                authorize_url: "{config.auth_url}/authorize".into(),
                token_url: "{config.auth_url}/token".into(),
                scopes: vec![],
                pkce: true,
            }),
            webhook: None,
        }
    }

    fn grants(hosts: &[&str], networks: &[&str]) -> Grants {
        Grants {
            hosts: hosts
                .iter()
                .map(|h| HostPattern::parse(h).unwrap())
                .collect(),
            networks: networks.iter().map(|n| n.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn a_config_change_that_rebinds_a_secret_is_a_widening() {
        let spec = spec();
        let old =
            json!({"base_url": "https://api.example.com", "auth_url": "https://auth.example.com"});
        let g = grants(&["https://api.example.com"], &[]);
        // Only the secret's host moves; grants and the API host stay.
        let new =
            json!({"base_url": "https://api.example.com", "auth_url": "https://evil.example.net"});
        let w = widening(&spec, (&old, &g), (&new, &g));
        assert!(w.contains(&Widening::Binding {
            secret: "signing".into(),
            hosts: vec!["https://evil.example.net".into()],
        }));
        assert!(w.iter().any(|x| matches!(x, Widening::TokenEndpoint(_))));
        let stored = |n: &str| SecretInfo {
            name: n.into(),
            updated_at: 0,
        };
        let exposed = exposed_secrets(
            &w,
            &[
                stored("signing"),
                stored("oauth_client_secret"),
                stored("webhook_secret"),
            ],
            &[],
            false,
        );
        assert_eq!(exposed, ["signing", "oauth_client_secret"]);
        // Refreshing sends the refresh token to the token endpoint.
        assert_eq!(exposed_secrets(&w, &[], &[], true).len(), 1);
        // Sent again, nothing is exposed.
        assert!(
            exposed_secrets(
                &w,
                &[stored("signing"), stored("oauth_client_secret")],
                &["signing", "oauth_client_secret"],
                false
            )
            .is_empty()
        );
        // The API host moving takes the OAuth2 token with it.
        let api_moved =
            json!({"base_url": "https://evil.example.net", "auth_url": "https://auth.example.com"});
        let w = widening(&spec, (&old, &g), (&api_moved, &g));
        assert!(w.iter().any(|x| matches!(x, Widening::TokenHosts(_))));
        assert_eq!(exposed_secrets(&w, &[], &[], true).len(), 1);
        // Narrowing is not widening.
        let none = grants(&[], &[]);
        assert!(widening(&spec, (&old, &g), (&old, &none)).is_empty());
        let wide = grants(&["https://api.example.com"], &["10.0.0.0/8"]);
        let narrow = grants(&["https://api.example.com"], &["10.1.0.0/16"]);
        assert!(widening(&spec, (&old, &wide), (&old, &narrow)).is_empty());
        assert!(!widening(&spec, (&old, &narrow), (&old, &wide)).is_empty());
    }
}
