//! Which ad accounts a connection reads, the token check, and the
//! `ad_accounts` stream.
//!
//! The config names accounts as `act_<id>` (the form every Marketing API
//! path takes); without them the connector reads every account the token
//! can see, listed by `GET /me/adaccounts`
//! (<https://developers.facebook.com/docs/marketing-api/reference/user/adaccounts/>).

use serde::{Deserialize, Serialize};
use wharf_sdk::prelude::*;

use crate::{Config, api, cursor_text, objects, parse_cursor};

pub const STREAM: &str = "ad_accounts";

/// Fields of an ad account record.
const FIELDS: &str = "id,account_id,name,account_status,currency,timezone_name,\
    timezone_offset_hours_utc,business,amount_spent,balance,spend_cap,disable_reason,created_time";

/// Pages of `/me/adaccounts` read to list the accounts (an agency's token
/// can see thousands).
const MAX_PAGES: usize = 100;

/// `act_<digits>` of `act_123` or `123`.
pub fn normalize(id: &str) -> Result<String> {
    let digits = id.trim().trim_start_matches("act_");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::Config(format!(
            "account_ids: `{id}` is not an ad account id (act_ followed by digits)"
        )));
    }
    Ok(format!("act_{digits}"))
}

/// The accounts the token sees, with `fields`.
fn listed(config: &Config, fields: &str) -> Result<Vec<Value>> {
    let mut accounts = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut request = api::get(config, "me/adaccounts")
            .query("fields", fields)
            .query("limit", config.limit());
        if let Some(a) = &after {
            request = request.query("after", a);
        }
        let mut answer = api::send(request)?;
        accounts.extend(api::data(&mut answer.body));
        after = api::after(&answer.body);
        if after.is_none() {
            return Ok(accounts);
        }
    }
    wharf_sdk::log::warn(format!(
        "the token sees more than {} ad accounts; reading the first {}: name the ones to read in account_ids",
        accounts.len(),
        accounts.len()
    ));
    Ok(accounts)
}

/// The accounts a pass reads: the config's, or every one the token sees.
pub fn resolve(config: &Config) -> Result<Vec<String>> {
    if !config.account_ids.is_empty() {
        let mut ids: Vec<String> = Vec::new();
        for id in &config.account_ids {
            let id = normalize(id)?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        return Ok(ids);
    }
    let listed = listed(config, "id")?;
    Ok(listed
        .iter()
        .filter_map(|a| a["id"].as_str().map(str::to_string))
        .collect())
}

/// The token works, may read ads, and sees the accounts to read.
pub fn check(config: &Config) -> Result<()> {
    let me = api::send(api::get(config, "me").query("fields", "id,name"))?.body;
    let who = format!(
        "{} ({})",
        me["name"].as_str().unwrap_or("?"),
        me["id"].as_str().unwrap_or("?")
    );
    let mut permissions = api::send(api::get(config, "me/permissions"))?.body;
    let granted: Vec<String> = api::data(&mut permissions)
        .iter()
        .filter(|p| p["status"] == "granted")
        .filter_map(|p| p["permission"].as_str().map(str::to_string))
        .collect();
    // Some tokens list no permissions at all; only a list without either
    // ads permission is a sure refusal.
    if !granted.is_empty()
        && !granted
            .iter()
            .any(|p| p == "ads_read" || p == "ads_management")
    {
        return Err(Error::Auth(format!(
            "the token of {who} lacks ads_read (it has {}): make a token with ads_read",
            granted.join(", ")
        )));
    }
    let names: Vec<String> = if config.account_ids.is_empty() {
        listed(config, "id,name,account_status")?
            .iter()
            .map(|a| {
                format!(
                    "{} ({})",
                    a["name"].as_str().unwrap_or("?"),
                    a["id"].as_str().unwrap_or("?")
                )
            })
            .collect()
    } else {
        let mut names = Vec::new();
        for id in resolve(config)? {
            let account =
                api::send(api::get(config, &id).query("fields", "id,name,account_status"))
                    .map_err(|e| match e {
                        Error::Config(m) => Error::Config(format!("ad account {id}: {m}")),
                        other => other,
                    })?
                    .body;
            names.push(format!(
                "{} ({id})",
                account["name"].as_str().unwrap_or("?")
            ));
        }
        names
    };
    if names.is_empty() {
        return Err(Error::Config(format!(
            "the token of {who} sees no ad account: give its user a role on the ad accounts (Business Settings → Ad accounts → Assign partners or people)"
        )));
    }
    wharf_sdk::log::info(format!(
        "token of {who}; reads {} ad account(s): {}",
        names.len(),
        names.join(", ")
    ));
    Ok(())
}

/// Where the stream stands: the next configured account, or the next page
/// of `/me/adaccounts`.
#[derive(Serialize, Deserialize, Default)]
struct Cursor {
    #[serde(default)]
    next: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    after: Option<String>,
}

/// One page of `ad_accounts` (read whole on every pass: a handful of
/// records whose spend and status change all the time).
pub fn fetch(config: &Config, cursor: Option<&str>) -> Result<Page> {
    let at: Cursor = parse_cursor(STREAM, cursor)?;
    let (items, next, usage) = if config.account_ids.is_empty() {
        let mut request = api::get(config, "me/adaccounts")
            .query("fields", FIELDS)
            .query("limit", config.limit());
        if let Some(a) = &at.after {
            request = request.query("after", a);
        }
        let mut answer = api::send(request)?;
        let next = api::after(&answer.body).map(|after| Cursor {
            next: 0,
            after: Some(after),
        });
        (api::data(&mut answer.body), next, answer.usage)
    } else {
        let ids = resolve(config)?;
        let Some(id) = ids.get(at.next) else {
            return Ok(Page::last(
                Vec::new(),
                Some(cursor_text(&Cursor::default())?),
            ));
        };
        let answer = api::send(api::get(config, id).query("fields", FIELDS))?;
        let next = (at.next + 1 < ids.len()).then(|| Cursor {
            next: at.next + 1,
            after: None,
        });
        (vec![answer.body], next, answer.usage)
    };
    let mut records = Vec::with_capacity(items.len());
    for mut item in items {
        objects::datetimes_to_rfc3339(&mut item);
        records.push(Record::from_value(STREAM, item)?.key_from("id"));
    }
    let more = next.is_some();
    let pause = if more {
        usage.pace(config.throttle_at())
    } else {
        None
    };
    let cursor = cursor_text(&next.unwrap_or_default())?;
    Ok(crate::page(records, cursor, more, pause))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids() {
        assert_eq!(normalize("act_1001").unwrap(), "act_1001");
        assert_eq!(normalize(" 1001 ").unwrap(), "act_1001");
        for bad in ["", "act_", "act_12x", "../me", "act_1/insights"] {
            assert!(matches!(normalize(bad), Err(Error::Config(_))), "{bad}");
        }
    }
}
