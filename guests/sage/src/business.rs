//! Which business a connection reads. A Sage user's consent covers every
//! business the user can open (an accountant's can cover dozens), and the
//! token response does not say which: `GET /businesses` lists them, and
//! every other call names one in `X-Business`. Without the header Sage
//! answers for the user's lead business, which can change, so the header
//! is always sent.

use wharf_sdk::prelude::*;
use wharf_sdk::state;

use crate::Config;
use crate::api;

/// A business the consent covers.
#[derive(Debug, Clone)]
pub struct Business {
    pub id: String,
    pub name: String,
}

/// Where the business the config did not name is kept between calls, so
/// `fetch` does not spend a call of the minute's 100 on `/businesses`.
const STATE_KEY: &str = "business_id";

/// `/businesses` comes whole in one page today (`$items_per_page` is
/// 2,147,483,647); pages are followed anyway, up to this many.
const MAX_PAGES: u32 = 50;

/// The businesses this connection's consent covers.
pub fn list(config: &Config) -> Result<Vec<Business>> {
    let mut found = Vec::new();
    for page in 1..=MAX_PAGES {
        let mut request = api::get(config, "/businesses");
        if page > 1 {
            request = request.query("page", page);
        }
        let response = api::errors().check(request.send()?)?;
        let listed = api::listed(response.json()?, page, u32::MAX)?;
        for item in listed.items {
            let Some(id) = item["id"].as_str().filter(|i| !i.is_empty()) else {
                continue;
            };
            let name = item["displayed_as"]
                .as_str()
                .or_else(|| item["name"].as_str())
                .unwrap_or(id);
            found.push(Business {
                id: id.to_string(),
                name: name.to_string(),
            });
        }
        if !listed.more {
            break;
        }
    }
    Ok(found)
}

/// The business to read, checked against `/businesses` (for `check`):
/// the config's, or the only one there is.
pub fn resolve(config: &Config) -> Result<Business> {
    let businesses = list(config)?;
    let names = || {
        businesses
            .iter()
            .map(|b| format!("{} ({})", b.name, b.id))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let chosen = match config.business() {
        Some(id) => businesses
            .iter()
            .find(|b| b.id.eq_ignore_ascii_case(id))
            .cloned()
            .ok_or_else(|| {
                Error::Config(format!(
                    "the business {id} is not one this connection's consent covers; it covers: {}",
                    names()
                ))
            })?,
        None => match businesses.as_slice() {
            [only] => only.clone(),
            [] => {
                return Err(Error::Config(
                    "the consent covers no Sage business: connect again as a user of the business"
                        .into(),
                ));
            }
            _ => {
                return Err(Error::Config(format!(
                    "the consent covers several Sage businesses; set `business_id` to one of: {}",
                    names()
                )));
            }
        },
    };
    // Kept a day: the user may be given or lose businesses meanwhile.
    if config.business().is_none() {
        state::set(STATE_KEY, &chosen.id, Some(86_400))?;
    }
    Ok(chosen)
}

/// The business id for an API call: the config's, the one kept by an
/// earlier call, or the only one `/businesses` lists.
pub fn id(config: &Config) -> Result<String> {
    if let Some(id) = config.business() {
        return Ok(id.to_string());
    }
    if let Some(id) = state::get(STATE_KEY) {
        return Ok(id);
    }
    Ok(resolve(config)?.id)
}
