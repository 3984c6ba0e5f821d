//! Which organisation a connection reads. One consent can cover several
//! organisations (`GET /connections` lists them); every API call names
//! one in `Xero-Tenant-Id`.

use serde::Deserialize;
use wharf_sdk::prelude::*;
use wharf_sdk::state;

use crate::Config;
use crate::api;

/// An organisation the consent covers.
#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    #[serde(rename = "tenantId")]
    pub id: String,
    #[serde(rename = "tenantName", default)]
    pub name: String,
    #[serde(rename = "tenantType", default)]
    pub kind: String,
}

/// Where the tenant the config did not name is kept between calls, so
/// `fetch` does not spend a call of the minute's 60 on `/connections`.
const STATE_KEY: &str = "tenant_id";

/// The organisations this connection's consent covers.
pub fn list(config: &Config) -> Result<Vec<Tenant>> {
    let response = api::errors().check(
        Request::get(format!("{}/connections", config.base()))
            .header("Accept", "application/json")
            .oauth_bearer()
            .send()?,
    )?;
    let tenants: Vec<Tenant> = response.json()?;
    Ok(tenants
        .into_iter()
        .filter(|t| t.kind.is_empty() || t.kind == "ORGANISATION")
        .collect())
}

/// The organisation to read, checked against `/connections` (for
/// `check`): the config's, or the only one there is.
pub fn resolve(config: &Config) -> Result<Tenant> {
    let tenants = list(config)?;
    let names = || {
        tenants
            .iter()
            .map(|t| format!("{} ({})", t.name, t.id))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let chosen = match config.tenant_id.as_deref().filter(|t| !t.trim().is_empty()) {
        Some(id) => tenants.iter().find(|t| t.id == id.trim()).cloned().ok_or_else(|| {
            Error::Config(format!(
                "the organisation {id} is not one this connection's consent covers; it covers: {}",
                names()
            ))
        })?,
        None => match tenants.as_slice() {
            [only] => only.clone(),
            [] => {
                return Err(Error::Config(
                    "the consent covers no organisation: connect again and choose one".into(),
                ));
            }
            _ => {
                return Err(Error::Config(format!(
                    "the consent covers several organisations; set `tenant_id` to one of: {}",
                    names()
                )));
            }
        },
    };
    // Kept a day: a new consent may cover another organisation.
    state::set(STATE_KEY, &chosen.id, Some(86_400))?;
    Ok(chosen)
}

/// The tenant id for an API call: the config's, the one kept by an earlier
/// call, or the only one `/connections` lists.
pub fn id(config: &Config) -> Result<String> {
    if let Some(id) = config.tenant_id.as_deref().filter(|t| !t.trim().is_empty()) {
        return Ok(id.trim().to_string());
    }
    if let Some(id) = state::get(STATE_KEY) {
        return Ok(id);
    }
    Ok(resolve(config)?.id)
}
