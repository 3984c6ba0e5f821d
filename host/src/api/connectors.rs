//! `/api/v1/connectors`: upload (with a publisher's signature), list,
//! show, download the component or its signature, delete.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::{Caller, Scope};
use super::error::ApiError;
use super::openapi::{Content, inline, schema};
use super::query::{Path, Query};
use super::{AppState, ListPage, Paging, Route, audit};
use crate::model::limits::ConnectorLimits;
use crate::model::signature::{Provenance, SignatureError, SignatureFile};
use crate::model::spec::Spec;
use crate::registry::{Registry, UploadError, Uploaded};
use crate::runtime::LoadError;
use crate::store::connectors::ConnectorRow;

pub fn routes() -> Vec<Route> {
    let upload_limit = crate::runtime::Limits::default().component_bytes;
    vec![
        Route {
            method: Method::POST,
            path: "/api/v1/connectors",
            scope: Some(Scope::Write),
            summary: "Upload a connector component (body: the .wasm, `Content-Type: application/wasm`); its publisher's signature file (`wharf connector sign`), base64, in a `Wharf-Signature` header; `?memory_mib=&call_timeout_secs=` give it more (or less) memory per instance and time per call than the node's defaults, within the node's maxima",
            query: Some(inline::<UploadQuery>),
            body: Some(Content::Wasm),
            ok: vec![
                (201, Content::Json(schema::<ConnectorView>)),
                (200, Content::Json(schema::<ConnectorView>)),
            ],
            errors: &[409, 413, 415, 422],
            handler: post(upload).layer(DefaultBodyLimit::max(upload_limit)),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/connectors",
            scope: Some(Scope::Read),
            summary: "List connectors",
            query: Some(inline::<Paging>),
            body: None,
            ok: vec![(200, Content::Json(schema::<ListPage<ConnectorView>>))],
            errors: &[],
            handler: get(list),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/connectors/{name}/{version}",
            scope: Some(Scope::Read),
            summary: "Show a connector and its spec",
            query: None,
            body: None,
            ok: vec![(200, Content::Json(schema::<ConnectorView>))],
            errors: &[404],
            handler: get(show),
        },
        Route {
            method: Method::DELETE,
            path: "/api/v1/connectors/{name}/{version}",
            scope: Some(Scope::Write),
            summary: "Delete a connector no connection uses",
            query: None,
            body: None,
            ok: vec![(204, Content::Empty)],
            errors: &[404, 409],
            handler: axum::routing::delete(delete),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/connectors/{name}/{version}/component",
            scope: Some(Scope::Read),
            summary: "Download the original component bytes",
            query: None,
            body: None,
            ok: vec![(200, Content::Wasm)],
            errors: &[404],
            handler: get(download),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/connectors/{name}/{version}/signature",
            scope: Some(Scope::Read),
            summary: "Download the publisher's signature file the connector was uploaded with",
            query: None,
            body: None,
            ok: vec![(200, Content::Json(schema::<SignatureFileView>))],
            errors: &[404],
            handler: get(signature_file),
        },
    ]
}

/// The request header an upload's signature file comes in (base64).
pub const SIGNATURE_HEADER: &str = "wharf-signature";

/// A signature file (`wharf-signature/1`) as `wharf connector sign` writes it.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(rename = "SignatureFile")]
pub struct SignatureFileView {
    format: String,
    key_id: String,
    name: String,
    version: String,
    digest: String,
    signature: String,
}

/// Where a connector came from, by the publishers this server trusts now.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct SignatureView {
    /// `verified` (signed by a trusted publisher), `unknown-publisher`
    /// (signed by a key this server does not trust), `unsigned`, or
    /// `invalid` (it no longer verifies under the trusted key it names).
    status: &'static str,
    /// The trusted publisher's name, when verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    publisher: Option<String>,
    /// The signing key's id, when signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    key_id: Option<String>,
    /// Why it does not verify, when invalid.
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

impl SignatureView {
    /// The view of `checked`, the trust policy's verdict on the stored
    /// signature file `stored`.
    fn of(checked: Result<Provenance, SignatureError>, stored: Option<&str>) -> Self {
        let key_id = stored
            .and_then(|text| SignatureFile::parse(text).ok())
            .map(|f| f.key_id);
        let (status, publisher, detail) = match checked {
            Ok(Provenance::Verified { publisher, .. }) => ("verified", Some(publisher), None),
            Ok(Provenance::UnknownPublisher { .. }) => ("unknown-publisher", None, None),
            Ok(Provenance::Unsigned) => ("unsigned", None, None),
            // What the server refuses to run now: an unsigned connector or
            // an unknown publisher after signatures became required, or a
            // signature that no longer verifies.
            Err(SignatureError::Unsigned { .. }) => (
                "unsigned",
                None,
                Some(
                    "this server now requires trusted signatures; it will not run this connector"
                        .to_string(),
                ),
            ),
            Err(e @ SignatureError::UnknownPublisher { .. }) => {
                ("unknown-publisher", None, Some(e.to_string()))
            }
            Err(e) => ("invalid", None, Some(e.to_string())),
        };
        Self {
            status,
            publisher,
            key_id,
            detail,
        }
    }
}

/// A connector as the API shows it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[schemars(rename = "Connector")]
pub struct ConnectorView {
    name: String,
    version: String,
    digest: String,
    size: i64,
    created_at: i64,
    spec: Spec,
    imports: Vec<String>,
    wasi_imports: Vec<String>,
    component_url: String,
    /// Limits given at upload (absent: the node's defaults).
    limits: ConnectorLimits,
    /// Its publisher's signature, checked against the publishers this
    /// server trusts.
    signature: SignatureView,
}

impl ConnectorView {
    fn new(r: ConnectorRow, registry: &Registry) -> Self {
        let signature = SignatureView::of(registry.provenance(&r), r.signature.as_deref());
        let wasi_imports = r
            .imports
            .iter()
            .filter(|i| i.starts_with("wasi:"))
            .cloned()
            .collect();
        Self {
            component_url: format!("/api/v1/connectors/{}/{}/component", r.name, r.version),
            name: r.name,
            version: r.version,
            digest: r.digest,
            size: r.size,
            created_at: r.created_at,
            spec: r.spec,
            imports: r.imports,
            wasi_imports,
            limits: r.limits,
            signature,
        }
    }
}

fn load_error(e: &LoadError) -> ApiError {
    let reason = match e {
        LoadError::TooLarge { .. } => "too_large",
        LoadError::NotWasm => "not_wasm",
        LoadError::CoreModule => "core_module",
        LoadError::Malformed(_) => "malformed",
        LoadError::MissingExport { .. } => "missing_export",
        LoadError::UnsupportedContract { .. } => "unsupported_contract",
        LoadError::UnknownImport { .. } => "unknown_import",
        LoadError::Compile(_) | LoadError::CompileTimeout(_) => "compile",
        LoadError::Link(_) => "link",
        LoadError::Spec(_) => "spec",
    };
    let err = match e {
        LoadError::TooLarge { .. } => ApiError::too_large(e.to_string()),
        LoadError::NotWasm | LoadError::CoreModule | LoadError::Malformed(_) => {
            ApiError::bad_request(e.to_string())
        }
        _ => ApiError::invalid(e.to_string(), Vec::new()),
    };
    err.with(json!({ "reason": reason }))
}

/// Limits of an uploaded connector.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct UploadQuery {
    /// Linear memory per instance, in MiB (node default 64; at most the
    /// node's maximum, 256 by default).
    #[schemars(range(min = 1))]
    pub memory_mib: Option<u32>,
    /// Time per call, in seconds (node default 30; at most the node's
    /// maximum, 300 by default).
    #[schemars(range(min = 1))]
    pub call_timeout_secs: Option<u32>,
}

async fn upload(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<UploadQuery>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(format!(
                "the component is larger than the limit of {} bytes",
                crate::runtime::Limits::default().component_bytes
            ))
            .with(json!({ "reason": "too_large" }))
        } else {
            ApiError::bad_request(format!("could not read the upload: {e}"))
        }
    })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !matches!(
        content_type,
        "application/wasm" | "application/octet-stream"
    ) {
        return Err(ApiError::unsupported_media(
            "upload the component as the request body with `Content-Type: application/wasm`",
        ));
    }
    let signature = signature_header(&headers)?;
    let limits =
        (q.memory_mib.is_some() || q.call_timeout_secs.is_some()).then_some(ConnectorLimits {
            memory_mib: q.memory_mib,
            call_timeout_secs: q.call_timeout_secs,
        });
    // Limits spend the node's memory and time (and can starve every sync
    // of a connector): an administrator's to set.
    if limits.is_some() && caller.scope != Scope::Admin {
        return Err(ApiError::forbidden(
            "setting a connector's memory_mib or call_timeout_secs needs an admin key",
        ));
    }
    match state
        .app
        .registry
        .upload(&body, signature.as_deref(), Some(&caller.label()), limits)
        .await
    {
        Ok(Uploaded {
            row,
            created,
            limits_before,
            signed_now,
        }) => {
            let provenance = SignatureView::of(
                state.app.registry.provenance(&row),
                row.signature.as_deref(),
            );
            if let Some(before) = limits_before {
                audit(
                    &state,
                    &caller,
                    "connector.limits",
                    &format!("{}@{}", row.name, row.version),
                    json!({ "before": before, "after": row.limits }),
                )
                .await;
            }
            if created {
                let target = format!("{}@{}", row.name, row.version);
                audit(
                    &state,
                    &caller,
                    "connector.upload",
                    &target,
                    json!({ "digest": row.digest, "limits": row.limits, "signature": provenance }),
                )
                .await;
                crate::events::emit(
                    &state.app.store,
                    "connector.uploaded",
                    json!({"connector": target, "digest": row.digest}),
                )
                .await;
            }
            if signed_now {
                audit(
                    &state,
                    &caller,
                    "connector.signed",
                    &format!("{}@{}", row.name, row.version),
                    json!({ "digest": row.digest, "signature": provenance }),
                )
                .await;
            }
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            let view = ConnectorView::new(row, &state.app.registry);
            Ok((status, Json(view)).into_response())
        }
        Err(UploadError::Load(e)) => Err(load_error(&e)),
        Err(UploadError::Signature(e)) => Err(signature_error(&e)),
        Err(e @ UploadError::Conflict { .. }) => Err(ApiError::conflict(e.to_string())),
        Err(UploadError::Store(e)) => Err(e.into()),
        Err(UploadError::Limits(why)) => Err(ApiError::invalid(why, Vec::new())),
    }
}

/// The upload's signature file, from base64 in [`SIGNATURE_HEADER`].
fn signature_header(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    use base64::Engine;
    let Some(value) = headers.get(SIGNATURE_HEADER) else {
        return Ok(None);
    };
    let refuse = |why: &str| {
        ApiError::bad_request(format!(
            "the {SIGNATURE_HEADER} header must be the signature file in base64: {why}"
        ))
        .with(json!({ "reason": "signature_malformed" }))
    };
    let text = value.to_str().map_err(|_| refuse("it is not ASCII"))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| refuse(&e.to_string()))?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| refuse("the decoded file is not UTF-8"))
}

fn signature_error(e: &SignatureError) -> ApiError {
    let reason = match e {
        SignatureError::Malformed(_) => "signature_malformed",
        SignatureError::OtherComponent { .. } => "signature_other_component",
        SignatureError::Invalid { .. } => "signature_invalid",
        SignatureError::UnknownPublisher { .. } => "unknown_publisher",
        SignatureError::Unsigned { .. } => "unsigned",
    };
    ApiError::invalid(e.to_string(), Vec::new()).with(json!({ "reason": reason }))
}

async fn list(
    State(state): State<AppState>,
    Query(paging): Query<Paging>,
) -> Result<Json<ListPage<ConnectorView>>, ApiError> {
    let limit = paging.limit()?;
    let after = paging
        .after
        .as_deref()
        .map(|a| a.split_once('@').unwrap_or((a, "")));
    let rows = state.app.store.connectors(after, limit).await?;
    let items = rows
        .into_iter()
        .map(|r| ConnectorView::new(r, &state.app.registry))
        .collect();
    Ok(Json(ListPage::new(items, limit, |c: &ConnectorView| {
        format!("{}@{}", c.name, c.version)
    })))
}

async fn show(
    State(state): State<AppState>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<ConnectorView>, ApiError> {
    let row = registered(&state, &name, &version).await?;
    Ok(Json(ConnectorView::new(row, &state.app.registry)))
}

async fn signature_file(
    State(state): State<AppState>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let row = registered(&state, &name, &version).await?;
    let text = row.signature.ok_or_else(|| {
        ApiError::not_found(format!("{name}@{version} was uploaded without a signature"))
    })?;
    Ok(attachment(
        "application/json",
        &format!("{name}-{version}.wasm.sig"),
        text,
    ))
}

/// A registered connector, or `404`.
async fn registered(state: &AppState, name: &str, version: &str) -> Result<ConnectorRow, ApiError> {
    state
        .app
        .store
        .connector(name, version)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no connector {name}@{version}")))
}

/// A download: `body` as the file `filename`.
fn attachment(content_type: &str, filename: &str, body: impl IntoResponse) -> Response {
    let disposition = format!("attachment; filename=\"{filename}\"");
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response()
}

async fn download(
    State(state): State<AppState>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let bytes = state
        .app
        .store
        .connector_bytes(&name, &version)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no connector {name}@{version}")))?;
    Ok(attachment(
        "application/wasm",
        &format!("{name}-{version}.wasm"),
        bytes,
    ))
}

async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((name, version)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let row = registered(&state, &name, &version).await?;
    let users = state.app.store.connections_using(&name, &version).await?;
    if !users.is_empty() {
        return Err(ApiError::conflict(format!(
            "{name}@{version} is used by connections {}; delete them or move them to another version first",
            users.join(", ")
        ))
        .with(json!({ "connections": users })));
    }
    state.app.store.delete_connector(&name, &version).await?;
    state.app.registry.forget(&row.digest);
    audit(
        &state,
        &caller,
        "connector.delete",
        &format!("{name}@{version}"),
        json!({ "digest": row.digest }),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
