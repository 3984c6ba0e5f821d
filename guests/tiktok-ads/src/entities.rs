//! The ad structure: `campaigns`, `adgroups` and `ads` of each configured
//! advertiser (`GET /campaign/get/`, `/adgroup/get/`, `/ad/get/`, by
//! `page`/`page_size` ≤ 1,000 up to `page_info.total_page`), and
//! `advertisers` (`GET /advertiser/info/`, no paging).
//!
//! TikTok filters these lists by creation time only, so incremental is on
//! our side: a pass reads every page and keeps the objects whose
//! `modify_time` is not older than the last pass's bound. The bound is the
//! newest `modify_time` seen, but never later than a day before the pass
//! began: an object changed while the pass ran may sit on a page already
//! read, and TikTok does not say which time zone `modify_time` is in.
//! Reading again costs nothing more (every page is read anyway), and the
//! records land as unchanged.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use wharf_sdk::prelude::*;

use crate::{Config, api};

/// A list of the ad structure.
pub struct Entity {
    pub name: &'static str,
    path: &'static str,
    pub key: &'static str,
    /// The `secondary_status` that includes deleted objects.
    all_statuses: &'static str,
    pub description: &'static str,
}

pub const ENTITIES: [Entity; 3] = [
    Entity {
        name: "campaigns",
        path: "campaign/get/",
        key: "campaign_id",
        all_statuses: "CAMPAIGN_STATUS_ALL",
        description: "Campaigns: objective, budget, status, modify time",
    },
    Entity {
        name: "adgroups",
        path: "adgroup/get/",
        key: "adgroup_id",
        all_statuses: "ADGROUP_STATUS_ALL",
        description: "Ad groups: placements, targeting, bidding, schedule, status",
    },
    Entity {
        name: "ads",
        path: "ad/get/",
        key: "ad_id",
        all_statuses: "AD_STATUS_ALL",
        description: "Ads: creative, texts, landing page, status",
    },
];

/// Advertisers one `advertiser/info/` call asks for.
const INFO_BATCH: usize = 100;

/// Where a list stands.
#[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
struct Cursor {
    /// Keep objects modified at or after this (`YYYY-MM-DD HH:MM:SS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<String>,
    /// The advertiser of the pass being read.
    #[serde(default, skip_serializing_if = "is_zero")]
    adv: usize,
    /// Its next page (0: the first).
    #[serde(default, skip_serializing_if = "is_zero")]
    page: usize,
    /// The newest `modify_time` of this pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seen: Option<String>,
    /// When this pass began (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    started: Option<i64>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// How far before a pass's start the next pass looks again.
const PASS_OVERLAP_SECS: i64 = 86_400;

/// TikTok's `YYYY-MM-DD HH:MM:SS` of Unix seconds.
fn tiktok_time(secs: i64) -> String {
    wharf_sdk::time::rfc3339(secs)
        .trim_end_matches('Z')
        .replacen('T', " ", 1)
}

/// One page of `entity`.
pub fn fetch(config: &Config, entity: &Entity, cursor: Option<&str>) -> Result<Page> {
    let at: Cursor = match cursor.filter(|c| !c.is_empty()) {
        Some(c) => serde_json::from_str(c).map_err(|e| {
            Error::Config(format!(
                "the cursor of `{}` is not this connector's: {e}",
                entity.name
            ))
        })?,
        None => Cursor::default(),
    };
    let started = at
        .started
        .unwrap_or_else(|| wharf_sdk::time::now_ms().div_euclid(1000));
    let page = at.page.max(1);
    let mut seen = at.seen.clone();
    let mut records = Vec::new();
    let mut last_page = true;
    if let Some(advertiser) = config.advertiser_ids.get(at.adv) {
        let mut request = api::get(config, entity.path)
            .query("advertiser_id", advertiser)
            .query("page", page)
            .query("page_size", config.page_size());
        if config.include_deleted {
            request = request.query(
                "filtering",
                json!({"secondary_status": entity.all_statuses}),
            );
        }
        let answer = api::send(request)?;
        let list = answer.data["list"].as_array().cloned().unwrap_or_default();
        let total_pages = answer.data["page_info"]["total_page"].as_u64().unwrap_or(0);
        last_page = list.is_empty() || page as u64 >= total_pages;
        for item in list {
            let modified = item["modify_time"].as_str().map(str::to_string);
            if let Some(m) = &modified
                && seen.as_ref().is_none_or(|s| m > s)
            {
                seen = Some(m.clone());
            }
            let old = matches!((&at.since, &modified), (Some(since), Some(m)) if m < since);
            if old {
                continue;
            }
            let record = Record::from_value(entity.name, item)?.key_from(entity.key);
            if record.key.is_none() {
                return Err(Error::Fatal(format!(
                    "TikTok listed {} without `{}`",
                    entity.name, entity.key
                )));
            }
            records.push(record);
        }
    }
    let (next, more) = if !last_page {
        let next = Cursor {
            page: page + 1,
            seen,
            started: Some(started),
            ..at
        };
        (next, true)
    } else if at.adv + 1 < config.advertiser_ids.len() {
        let next = Cursor {
            adv: at.adv + 1,
            page: 0,
            seen,
            started: Some(started),
            ..at
        };
        (next, true)
    } else {
        let overlap = tiktok_time(started - PASS_OVERLAP_SECS);
        let bound = seen.map_or(overlap.clone(), |s| s.min(overlap));
        let next = Cursor {
            since: Some(at.since.map_or(bound.clone(), |s| s.max(bound))),
            ..Cursor::default()
        };
        (next, false)
    };
    let text = serde_json::to_string(&next).map_err(Error::fatal)?;
    Ok(Page::new(records, Some(text), more))
}

/// One page of `advertisers`: `INFO_BATCH` of the configured advertisers
/// from `cursor` (an index); read whole on every pass.
pub fn advertisers(config: &Config, cursor: Option<&str>) -> Result<Page> {
    let start: usize = match cursor.filter(|c| !c.is_empty()) {
        Some(c) => c.parse().map_err(|_| {
            Error::Config("the cursor of `advertisers` is not this connector's".into())
        })?,
        None => 0,
    };
    let ids = &config.advertiser_ids;
    let batch: Vec<&String> = ids.iter().skip(start).take(INFO_BATCH).collect();
    let mut records = Vec::with_capacity(batch.len());
    if !batch.is_empty() {
        let answer =
            api::send(api::get(config, "advertiser/info/").query("advertiser_ids", json!(batch)))?;
        for item in answer.data["list"].as_array().cloned().unwrap_or_default() {
            records.push(Record::from_value("advertisers", item)?.key_from("advertiser_id"));
        }
    }
    let next = start + batch.len();
    Ok(if next < ids.len() {
        Page::new(records, Some(next.to_string()), true)
    } else {
        Page::last(records, None)
    })
}

/// `check`: the advertisers the token reads, by name; a configured one it
/// cannot read is a config error naming it.
pub fn check(config: &Config) -> Result<()> {
    let ids: Vec<&String> = config.advertiser_ids.iter().take(INFO_BATCH).collect();
    let answer = api::send(
        api::get(config, "advertiser/info/")
            .query("advertiser_ids", json!(ids))
            .query(
                "fields",
                json!(["advertiser_id", "name", "currency", "timezone", "status"]),
            ),
    )?;
    let list = answer.data["list"].as_array().cloned().unwrap_or_default();
    let found = |id: &str| {
        list.iter()
            .find(|a| wharf_sdk::scalar_text(&a["advertiser_id"]).as_deref() == Some(id))
    };
    let missing: Vec<&str> = ids
        .iter()
        .map(|s| s.as_str())
        .filter(|id| found(id).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(Error::Config(format!(
            "the access token does not reach advertiser(s) {}: the advertiser must authorize this app (TikTok's /oauth2/advertiser/get/ lists the ones it did)",
            missing.join(", ")
        )));
    }
    let names: Vec<String> = list
        .iter()
        .map(|a| {
            let text = |v: &Value| v.as_str().unwrap_or("?").to_string();
            format!(
                "{} ({}, {}, {})",
                text(&a["name"]),
                wharf_sdk::scalar_text(&a["advertiser_id"]).unwrap_or_default(),
                text(&a["currency"]),
                text(&a["timezone"])
            )
        })
        .collect();
    wharf_sdk::log::info(format!("TikTok advertisers: {}", names.join("; ")));
    Ok(())
}
