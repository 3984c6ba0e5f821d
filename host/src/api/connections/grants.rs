//! The rules a connection's grants must follow beyond their shape: which
//! changes need an admin key (blocked networks, revealed secrets, trusted
//! certificates, quotas), and the checks of certificates and quotas.

use super::super::auth::{Caller, Scope};
use super::super::error::{ApiError, FieldError};
use crate::model::limits::ConnectionQuotas;

/// Blocked networks (private ranges, loopback, cloud metadata) hold what
/// the node can reach but the internet cannot, the metadata service's
/// credentials among them: granting one is an administrator's decision.
pub(super) fn networks_need_admin(
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

/// Quotas are an administrator's: set by one, they must not be lifted by a
/// key that may only edit connections.
pub(super) fn quotas_need_admin(
    caller: &Caller,
    quotas: &ConnectionQuotas,
    before: &ConnectionQuotas,
) -> Result<(), ApiError> {
    if quotas == before || caller.scope >= Scope::Admin {
        return Ok(());
    }
    Err(ApiError::forbidden(
        "changing a connection's quotas needs an admin key",
    ))
}

pub(super) fn checked_quotas(q: ConnectionQuotas) -> Result<ConnectionQuotas, ApiError> {
    q.check().map_err(|(field, message)| {
        ApiError::invalid(
            format!("grants.quotas.{field} {message}"),
            vec![FieldError {
                field: format!("/grants/quotas/{field}"),
                message,
            }],
        )
    })?;
    Ok(q)
}

/// Letting a connector read a secret puts the secret in guest memory, past
/// every binding: an administrator's decision, for each secret.
pub(super) fn reveal_needs_admin(
    caller: &Caller,
    reveal: &[String],
    before: &[String],
) -> Result<(), ApiError> {
    let new: Vec<&str> = reveal
        .iter()
        .filter(|r| !before.contains(r))
        .map(String::as_str)
        .collect();
    if new.is_empty() || caller.scope >= Scope::Admin {
        return Ok(());
    }
    Err(ApiError::forbidden(format!(
        "letting the connector reveal secrets ({}) needs an admin key",
        new.join(", ")
    )))
}

/// The certificates a connection trusts, checked: PEM with at least one
/// certificate; empty means none.
pub(super) fn trusted_ca(pem: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(pem) = pem.filter(|p| !p.trim().is_empty()) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::invalid(
            "grants.tls_ca must hold PEM certificates (`-----BEGIN CERTIFICATE-----`)",
            vec![FieldError {
                field: "/grants/tls_ca".into(),
                message: "not PEM certificates".into(),
            }],
        )
    };
    match reqwest::Certificate::from_pem_bundle(pem.as_bytes()) {
        Ok(certs) if !certs.is_empty() => Ok(Some(pem)),
        _ => Err(bad()),
    }
}

/// Trusting another CA changes who the connection's credentials may be
/// sent to: only an administrator does it.
pub(super) fn trust_needs_admin(
    caller: &Caller,
    now: &Option<String>,
    before: &Option<String>,
) -> Result<(), ApiError> {
    if now == before || now.is_none() || caller.scope >= Scope::Admin {
        return Ok(());
    }
    Err(ApiError::forbidden(
        "trusting another certificate authority (grants.tls_ca) needs an admin key",
    ))
}
