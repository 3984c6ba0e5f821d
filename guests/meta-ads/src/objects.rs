//! The `campaigns`, `adsets` and `ads` streams: each ad account's edge
//! (`/act_{id}/campaigns`, …) page by page with `after` cursors, by
//! `effective_status`, incremental by filtering on `updated_time`
//! (`{"field": "campaign.updated_time", "operator": "GREATER_THAN",
//! "value": <unix seconds>}`), as Meta's reference describes the edges'
//! `effective_status` and `filtering` parameters
//! (<https://developers.facebook.com/docs/marketing-api/reference/ad-account/campaigns/>).
//! Meta's datetimes (`2024-05-01T10:00:00-0700`) become RFC 3339 in UTC.

use serde::{Deserialize, Serialize};
use wharf_sdk::prelude::*;

use crate::{Config, accounts, api, cursor_text, parse_cursor};

/// A kind of ad object and its edge.
pub struct Kind {
    pub stream: &'static str,
    /// The ad account's edge.
    edge: &'static str,
    /// The name filters prefix fields with.
    prefix: &'static str,
    fields: &'static str,
    /// The `effective_status` values Meta documents for this kind.
    statuses: &'static [&'static str],
    pub description: &'static str,
}

pub const ALL_STATUSES: [&str; 12] = [
    "ACTIVE",
    "PAUSED",
    "DELETED",
    "PENDING_REVIEW",
    "DISAPPROVED",
    "PREAPPROVED",
    "PENDING_BILLING_INFO",
    "CAMPAIGN_PAUSED",
    "ARCHIVED",
    "ADSET_PAUSED",
    "IN_PROCESS",
    "WITH_ISSUES",
];

/// The `effective_status` values of the objects an insights `level`
/// reports on (none for `account`, which has no such filter).
pub fn level_statuses(level: &str) -> Option<&'static [&'static str]> {
    KINDS.iter().find(|k| k.prefix == level).map(|k| k.statuses)
}

pub const KINDS: [Kind; 3] = [
    Kind {
        stream: "campaigns",
        edge: "campaigns",
        prefix: "campaign",
        fields: "id,name,account_id,objective,status,configured_status,effective_status,buying_type,\
            bid_strategy,daily_budget,lifetime_budget,budget_remaining,spend_cap,special_ad_categories,\
            start_time,stop_time,created_time,updated_time",
        statuses: &[
            "ACTIVE",
            "PAUSED",
            "DELETED",
            "ARCHIVED",
            "IN_PROCESS",
            "WITH_ISSUES",
        ],
        description: "Campaigns: objective, statuses, budgets, bid strategy, schedule",
    },
    Kind {
        stream: "adsets",
        edge: "adsets",
        prefix: "adset",
        fields: "id,name,account_id,campaign_id,status,configured_status,effective_status,\
            optimization_goal,billing_event,bid_amount,bid_strategy,daily_budget,lifetime_budget,\
            budget_remaining,targeting,promoted_object,start_time,end_time,created_time,updated_time",
        statuses: &[
            "ACTIVE",
            "PAUSED",
            "DELETED",
            "CAMPAIGN_PAUSED",
            "ARCHIVED",
            "IN_PROCESS",
            "WITH_ISSUES",
        ],
        description: "Ad sets: targeting, optimization goal, billing event, budgets, schedule",
    },
    Kind {
        stream: "ads",
        edge: "ads",
        prefix: "ad",
        fields: "id,name,account_id,campaign_id,adset_id,status,configured_status,effective_status,\
            creative,bid_amount,conversion_specs,tracking_specs,created_time,updated_time",
        statuses: &ALL_STATUSES,
        description: "Ads: their ad set, campaign, creative id and statuses",
    },
];

/// How far before a pass's start the next pass looks again: a change made
/// while the pass ran may sit on a page already read, and Meta's clock
/// and the host's may differ.
const PASS_OVERLAP_SECS: i64 = 300;

/// Where a stream stands.
#[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
struct Cursor {
    /// The pass's accounts and the one being read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    accounts: Vec<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    account: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    after: Option<String>,
    /// This pass reads objects updated after this (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<i64>,
    /// The newest `updated_time` of this pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seen: Option<i64>,
    /// When this pass began (the host's clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    started: Option<i64>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// One page of a kind's stream.
pub fn fetch(config: &Config, kind: &Kind, cursor: Option<&str>) -> Result<Page> {
    let mut at: Cursor = parse_cursor(kind.stream, cursor)?;
    if at.accounts.is_empty() {
        // A new pass; `since` is what the last one left.
        at.accounts = accounts::resolve(config)?;
        at.account = 0;
        at.after = None;
        at.seen = None;
        at.started = Some(wharf_sdk::time::now_ms().div_euclid(1000));
        if at.accounts.is_empty() {
            wharf_sdk::log::warn("no ad account to read");
            return end_of_pass(at, Vec::new());
        }
    }
    let account = at.accounts.get(at.account).cloned().ok_or_else(|| {
        Error::Config(format!(
            "the cursor of `{}` points past its accounts",
            kind.stream
        ))
    })?;
    let statuses: Vec<&str> = if config.effective_status.is_empty() {
        kind.statuses.to_vec()
    } else {
        let wanted = kind.statuses.iter().copied();
        wanted
            .filter(|s| config.effective_status.iter().any(|c| c == s))
            .collect()
    };
    if statuses.is_empty() {
        // None of the chosen statuses is one this kind can have.
        return next_account(config, at, Vec::new(), None);
    }
    let mut request = api::get(config, &format!("{account}/{}", kind.edge))
        .query("fields", kind.fields)
        .query("limit", config.limit())
        .query("effective_status", json!(statuses));
    if let Some(since) = at.since {
        let filter = json!([{"field": format!("{}.updated_time", kind.prefix),
            "operator": "GREATER_THAN", "value": since - 1}]);
        request = request.query("filtering", filter);
    }
    if let Some(a) = &at.after {
        request = request.query("after", a);
    }
    let mut answer = api::send(request)?;
    let mut records = Vec::new();
    for mut item in api::data(&mut answer.body) {
        if let Some(t) = item["updated_time"].as_str().and_then(unix_of) {
            at.seen = Some(at.seen.map_or(t, |s| s.max(t)));
        }
        datetimes_to_rfc3339(&mut item);
        records.push(Record::from_value(kind.stream, item)?.key_from("id"));
    }
    let pause = answer.usage.clone();
    match api::after(&answer.body) {
        Some(after) => {
            at.after = Some(after);
            let wait = pause.pace(config.throttle_at());
            Ok(crate::page(records, cursor_text(&at)?, true, wait))
        }
        None => next_account(config, at, records, Some(&pause)),
    }
}

/// After an account's last page: the next account, or the pass's end.
fn next_account(
    config: &Config,
    mut at: Cursor,
    records: Vec<Record>,
    usage: Option<&api::Usage>,
) -> Result<Page> {
    at.account += 1;
    at.after = None;
    if at.account >= at.accounts.len() {
        return end_of_pass(at, records);
    }
    let wait = usage.and_then(|u| u.pace(config.throttle_at()));
    Ok(crate::page(records, cursor_text(&at)?, true, wait))
}

/// The last page of a pass: the next asks for what changed after the
/// newest change seen, or after a little before this pass began if that
/// is earlier, never before this pass's own bound.
fn end_of_pass(at: Cursor, records: Vec<Record>) -> Result<Page> {
    let started = at
        .started
        .unwrap_or_else(|| wharf_sdk::time::now_ms().div_euclid(1000));
    let next = Cursor {
        since: Some(next_since(at.since, at.seen, started)),
        ..Cursor::default()
    };
    Ok(Page::last(records, Some(cursor_text(&next)?)))
}

fn next_since(since: Option<i64>, seen: Option<i64>, started: i64) -> i64 {
    let overlap = started - PASS_OVERLAP_SECS;
    let bound = seen.map_or(overlap, |s| s.min(overlap));
    since.map_or(bound, |s| s.max(bound))
}

/// Unix seconds of Meta's `2024-05-01T10:00:00+0000` (or `-07:00`, `Z`).
pub fn unix_of(text: &str) -> Option<i64> {
    let (local, offset) = (text.get(..19)?, text.get(19..)?);
    let local = wharf_sdk::time::from_rfc3339_utc(&format!("{local}Z"))?;
    let offset = offset.split('.').next_back()?;
    let offset = offset.trim_start_matches(|c: char| c.is_ascii_digit());
    let shift = match offset {
        "" | "Z" => 0,
        o => {
            let sign = match o.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let digits: String = o[1..].chars().filter(char::is_ascii_digit).collect();
            if digits.len() != 4 {
                return None;
            }
            let h: i64 = digits[..2].parse().ok()?;
            let m: i64 = digits[2..].parse().ok()?;
            sign * (h * 3600 + m * 60)
        }
    };
    Some(local - shift)
}

/// Meta's datetime fields as RFC 3339 in UTC, so destinations compare
/// them without knowing each account's time zone.
pub fn datetimes_to_rfc3339(item: &mut Value) {
    let Some(fields) = item.as_object_mut() else {
        return;
    };
    for name in [
        "created_time",
        "updated_time",
        "start_time",
        "stop_time",
        "end_time",
    ] {
        if let Some(v) = fields.get_mut(name)
            && let Some(secs) = v.as_str().and_then(unix_of)
        {
            *v = Value::String(wharf_sdk::time::rfc3339(secs));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_datetimes() {
        assert_eq!(unix_of("2024-05-01T10:00:00+0000"), Some(1_714_557_600));
        assert_eq!(unix_of("2024-05-01T03:00:00-0700"), Some(1_714_557_600));
        assert_eq!(unix_of("2024-05-01T12:00:00+02:00"), Some(1_714_557_600));
        assert_eq!(unix_of("2024-05-01T10:00:00Z"), Some(1_714_557_600));
        assert_eq!(unix_of("2024-05-01"), None);
        assert_eq!(unix_of("2024-05-01T10:00:00*0000"), None);
        let mut v = json!({"updated_time": "2024-05-01T03:00:00-0700", "name": "x"});
        datetimes_to_rfc3339(&mut v);
        assert_eq!(v["updated_time"], "2024-05-01T10:00:00Z");
    }

    #[test]
    fn a_pass_ends_at_the_newest_change_or_before_it_began() {
        let started = 1_800_000_000;
        assert_eq!(
            next_since(None, Some(1_714_557_600), started),
            1_714_557_600
        );
        assert_eq!(next_since(None, Some(started + 5), started), started - 300);
        assert_eq!(next_since(Some(5), None, started), started - 300);
        assert_eq!(next_since(Some(started), None, started), started);
    }
}
