//! The fake Meta's ad accounts, their campaigns, ad sets and ads (shaped
//! as the Marketing API reference's objects), and the insights of each ad
//! and day, drawn from a hash so a test can compute what a record must say.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

/// The business that owns both ad accounts (the usage headers' key).
pub const BUSINESS_ID: &str = "1234567890123456";
/// Insights fields the fake can compute.
pub const INSIGHTS_FIELDS: &str = "account_id account_name account_currency campaign_id \
    campaign_name adset_id adset_name ad_id ad_name impressions reach frequency clicks \
    unique_clicks inline_link_clicks spend cpc cpm ctr actions action_values \
    cost_per_action_type date_start date_stop objective";
/// Attribution windows Meta still returns (7d_view and 28d_view went on
/// 12 January 2026).
pub const WINDOWS: &str = "1d_click 7d_click 28d_click 1d_view 1d_ev dda default";
pub const ACCOUNT_FIELDS: &str = "id account_id name account_status currency timezone_name \
    timezone_offset_hours_utc business amount_spent balance spend_cap disable_reason created_time";

/// One ad account and its objects (each with every field Meta would
/// return for it).
pub struct Account {
    pub id: &'static str,
    pub fields: Map<String, Value>,
    pub campaigns: Vec<Value>,
    pub adsets: Vec<Value>,
    pub ads: Vec<Value>,
}

impl Account {
    /// `act_<id>`.
    pub fn act(&self) -> String {
        format!("act_{}", self.id)
    }
}

/// A datetime as Graph writes it in an account's zone: `2026-11-20T10:15:00-0800`.
pub fn stamp(secs: i64, offset_hours: i64) -> String {
    let local = wharf_sdk::time::rfc3339(secs + offset_hours * 3600);
    let sign = if offset_hours < 0 { '-' } else { '+' };
    format!(
        "{}{sign}{:02}00",
        local.trim_end_matches('Z'),
        offset_hours.abs()
    )
}

/// Unix seconds of a Graph datetime.
pub fn unix_of(text: &str) -> Option<i64> {
    let local = wharf_sdk::time::from_rfc3339_utc(&format!("{}Z", text.get(..19)?))?;
    let offset = text.get(19..)?;
    let hours: i64 = offset.get(1..3)?.parse().ok()?;
    let minutes: i64 = offset.get(3..5)?.parse().ok()?;
    let sign = if offset.starts_with('-') { -1 } else { 1 };
    Some(local - sign * (hours * 3600 + minutes * 60))
}

fn now() -> i64 {
    wharf_sdk::time::now_ms().div_euclid(1000)
}

/// Two accounts, EUR in Berlin and USD in Los Angeles, each with two
/// campaigns (one archived), an ad set per campaign and three ads.
pub fn demo() -> Vec<Account> {
    let specs = [
        ("1001", "Demo Shoes EU", "EUR", "Europe/Berlin", 1, "12021"),
        (
            "1002",
            "Demo Shoes US",
            "USD",
            "America/Los_Angeles",
            -8,
            "12022",
        ),
    ];
    let created = now() - 400 * 86_400;
    specs
        .into_iter()
        .map(|(id, name, currency, zone, offset, prefix)| {
            let at = |days_ago: i64| stamp(now() - days_ago * 86_400, offset);
            let fields = json!({"id": format!("act_{id}"), "account_id": id, "name": name,
                "account_status": 1, "currency": currency, "timezone_name": zone,
                "timezone_offset_hours_utc": offset, "business": {"id": BUSINESS_ID, "name": "Demo Shoes Ltd"},
                "amount_spent": "1534210", "balance": "0", "spend_cap": "0", "disable_reason": 0,
                "created_time": stamp(created, offset)});
            let campaign = |n: u32, objective: &str, status: &str| {
                json!({"id": format!("{prefix}0000000000{n}"), "name": format!("{name} campaign {n}"),
                    "account_id": id, "objective": objective, "status": status, "configured_status": status,
                    "effective_status": status, "buying_type": "AUCTION", "bid_strategy": "LOWEST_COST_WITHOUT_CAP",
                    "daily_budget": "5000", "lifetime_budget": "0", "budget_remaining": "3120", "spend_cap": null,
                    "special_ad_categories": [], "start_time": at(120), "stop_time": null,
                    "created_time": at(120), "updated_time": at(30 + i64::from(n))})
            };
            let campaigns = vec![
                campaign(1, "OUTCOME_SALES", "ACTIVE"),
                campaign(2, "OUTCOME_TRAFFIC", "ARCHIVED"),
            ];
            let adsets: Vec<Value> = campaigns
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    json!({"id": format!("{prefix}1000000000{i}"), "name": format!("{} ad set", c["name"].as_str().unwrap_or("")),
                        "account_id": id, "campaign_id": c["id"], "status": "ACTIVE", "configured_status": "ACTIVE",
                        "effective_status": if c["status"] == "ARCHIVED" { "CAMPAIGN_PAUSED" } else { "ACTIVE" },
                        "optimization_goal": "OFFSITE_CONVERSIONS", "billing_event": "IMPRESSIONS", "bid_amount": null,
                        "bid_strategy": "LOWEST_COST_WITHOUT_CAP", "daily_budget": "2500", "lifetime_budget": "0",
                        "budget_remaining": "1200", "targeting": {"geo_locations": {"countries": ["DE", "US"]}, "age_min": 18, "age_max": 65},
                        "promoted_object": {"pixel_id": "1019283746", "custom_event_type": "PURCHASE"},
                        "start_time": at(119), "end_time": null, "created_time": at(119), "updated_time": at(20)})
                })
                .collect();
            let ads = (0..3_i64)
                .map(|i| {
                    let set = &adsets[usize::from(i == 2)];
                    json!({"id": format!("{prefix}2000000000{i}"), "name": format!("{name} ad {i}"),
                        "account_id": id, "campaign_id": set["campaign_id"], "adset_id": set["id"],
                        "status": if i == 1 { "PAUSED" } else { "ACTIVE" }, "configured_status": "ACTIVE",
                        "effective_status": if i == 1 { "PAUSED" } else { "ACTIVE" },
                        "creative": {"id": format!("{prefix}3000000000{i}")}, "bid_amount": null,
                        "conversion_specs": [{"action.type": ["offsite_conversion"]}], "tracking_specs": [],
                        "created_time": at(118), "updated_time": at(10 + i)})
                })
                .collect();
            let Value::Object(fields) = fields else {
                unreachable!("an object literal")
            };
            Account { id, fields, campaigns, adsets, ads }
        })
        .collect()
}

/// What an ad did on a day, before any revision.
#[derive(Clone, Copy, Debug, Default)]
pub struct Base {
    pub impressions: i64,
    pub reach: i64,
    pub clicks: i64,
    pub link_clicks: i64,
    pub spend_cents: i64,
    pub purchases: i64,
    pub value_cents: i64,
}

impl std::ops::AddAssign for Base {
    fn add_assign(&mut self, o: Base) {
        self.impressions += o.impressions;
        self.reach += o.reach;
        self.clicks += o.clicks;
        self.link_clicks += o.link_clicks;
        self.spend_cents += o.spend_cents;
        self.purchases += o.purchases;
        self.value_cents += o.value_cents;
    }
}

/// The metrics of `ad` on `day` (`YYYY-MM-DD`).
pub fn base(day: &str, ad: &str) -> Base {
    let digest = Sha256::digest(format!("{day}|{ad}"));
    let n = |i: usize| u64::from_be_bytes(digest[i..i + 8].try_into().expect("8 bytes")) as i64;
    let impressions = 500 + n(0).rem_euclid(5000);
    let clicks = impressions / (20 + n(8).rem_euclid(30));
    let purchases = clicks / 10;
    Base {
        impressions,
        reach: impressions * 8 / 10,
        clicks,
        link_clicks: clicks * 7 / 10,
        spend_cents: impressions * (300 + n(16).rem_euclid(600)) / 1000,
        purchases,
        value_cents: purchases * 4999,
    }
}

/// `cents` as Meta writes money: `"12.34"`.
pub fn money(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

fn ratio(a: f64, b: f64) -> String {
    if b == 0.0 {
        "0".into()
    } else {
        format!("{:.6}", a / b)
    }
}

/// An action's value per asked window: the default attribution is 7-day
/// click plus 1-day view, clicks count only for click windows.
fn action(kind: &str, total: i64, windows: &[String], money_value: bool) -> Value {
    let mut a = Map::new();
    a.insert("action_type".into(), json!(kind));
    let text = |n: i64| if money_value { money(n) } else { n.to_string() };
    let part = |w: &str| match w {
        "1d_click" => total * 5 / 10,
        "7d_click" | "default" | "dda" => total * 8 / 10,
        "28d_click" => total,
        "1d_view" | "1d_ev" if kind == "link_click" => 0,
        _ => total / 10,
    };
    a.insert(
        "value".into(),
        json!(text(part("7d_click") + part("1d_view"))),
    );
    for w in windows {
        a.insert(w.clone(), json!(text(part(w.as_str()))));
    }
    Value::Object(a)
}

/// One insights row of `level` for `day`: the object `ids` (account,
/// campaign, ad set, ad names and ids as far as the level goes), summed
/// metrics, and only the `fields` asked.
pub fn row(
    day: &str,
    ids: &Map<String, Value>,
    b: Base,
    fields: &[String],
    windows: &[String],
) -> Value {
    let spend = b.spend_cents as f64 / 100.0;
    let mut all = ids.clone();
    let mut put = |k: &str, v: Value| {
        all.insert(k.into(), v);
    };
    put("impressions", json!(b.impressions.to_string()));
    put("reach", json!(b.reach.to_string()));
    put(
        "frequency",
        json!(ratio(b.impressions as f64, b.reach as f64)),
    );
    put("clicks", json!(b.clicks.to_string()));
    put("unique_clicks", json!((b.clicks * 9 / 10).to_string()));
    put("inline_link_clicks", json!(b.link_clicks.to_string()));
    put("spend", json!(money(b.spend_cents)));
    put("cpc", json!(ratio(spend, b.clicks as f64)));
    put("cpm", json!(ratio(spend * 1000.0, b.impressions as f64)));
    put(
        "ctr",
        json!(ratio(b.clicks as f64 * 100.0, b.impressions as f64)),
    );
    let links = action("link_click", b.link_clicks, windows, false);
    let buys = action(
        "offsite_conversion.fb_pixel_purchase",
        b.purchases,
        windows,
        false,
    );
    put("actions", json!([links, buys]));
    let value = action(
        "offsite_conversion.fb_pixel_purchase",
        b.value_cents,
        windows,
        true,
    );
    put("action_values", json!([value]));
    let per = json!([{"action_type": "link_click", "value": ratio(spend, b.link_clicks as f64)}]);
    put("cost_per_action_type", per);
    put("date_start", json!(day));
    put("date_stop", json!(day));
    let mut out = Map::new();
    for f in fields
        .iter()
        .map(String::as_str)
        .chain(["date_start", "date_stop"])
    {
        if let Some(v) = all.get(f) {
            out.insert(f.into(), v.clone());
        }
    }
    Value::Object(out)
}

/// The rows of a report: every ad of `account` on each day, summed by the
/// level's object; `spend` overrides an ad's day (a revised day). Below
/// the account level, only objects whose `effective_status` is in
/// `statuses` are reported; without a list (no `filtering`), all but
/// `DELETED` ones, as Meta's ad account insights leave deleted objects out.
/// A parent's row still sums its deleted children ("we include the stats
/// of all children objects").
pub fn rows(
    account: &Account,
    level: &str,
    days: &[String],
    fields: &[String],
    windows: &[String],
    revised: &BTreeMap<(String, String), i64>,
    statuses: Option<&[String]>,
) -> Vec<Value> {
    let name = |list: &[Value], id: &Value| {
        list.iter()
            .find(|o| o["id"] == *id)
            .map_or(Value::Null, |o| o["name"].clone())
    };
    let mut out = Vec::new();
    for day in days {
        let mut sums: BTreeMap<String, (Map<String, Value>, Base)> = BTreeMap::new();
        for ad in &account.ads {
            let ad_id = ad["id"].as_str().unwrap_or_default();
            let mut b = base(day, ad_id);
            if let Some(cents) = revised.get(&(day.clone(), ad_id.to_string())) {
                b.spend_cents = *cents;
            }
            let campaign = &ad["campaign_id"];
            let objective = account.campaigns.iter().find(|c| c["id"] == *campaign);
            let mut ids = Map::new();
            ids.insert("account_id".into(), json!(account.id));
            ids.insert("account_name".into(), account.fields["name"].clone());
            ids.insert(
                "account_currency".into(),
                account.fields["currency"].clone(),
            );
            let depth = ["account", "campaign", "adset", "ad"]
                .iter()
                .position(|l| *l == level);
            let depth = depth.unwrap_or(3);
            let object = match depth {
                0 => None,
                1 => account.campaigns.iter().find(|c| c["id"] == *campaign),
                2 => account.adsets.iter().find(|s| s["id"] == ad["adset_id"]),
                _ => Some(ad),
            };
            let status = object.and_then(|o| o["effective_status"].as_str());
            let shown = status.is_none_or(|s| match statuses {
                Some(list) => list.iter().any(|l| l == s),
                None => s != "DELETED",
            });
            if !shown {
                continue;
            }
            if depth >= 1 {
                ids.insert("campaign_id".into(), campaign.clone());
                ids.insert(
                    "campaign_name".into(),
                    name(account.campaigns.as_slice(), campaign),
                );
                let objective = objective.map_or(Value::Null, |c| c["objective"].clone());
                ids.insert("objective".into(), objective);
            }
            if depth >= 2 {
                ids.insert("adset_id".into(), ad["adset_id"].clone());
                ids.insert(
                    "adset_name".into(),
                    name(account.adsets.as_slice(), &ad["adset_id"]),
                );
            }
            if depth >= 3 {
                ids.insert("ad_id".into(), ad["id"].clone());
                ids.insert("ad_name".into(), ad["name"].clone());
            }
            let key = ["account_id", "campaign_id", "adset_id", "ad_id"][depth];
            let key = ids
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let entry = sums
                .entry(key)
                .or_insert_with(|| (ids.clone(), Base::default()));
            entry.1 += b;
        }
        for (_, (ids, b)) in sums {
            out.push(row(day, &ids, b, fields, windows));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_datetimes_and_rows() {
        assert_eq!(stamp(1_714_557_600, -8), "2024-05-01T02:00:00-0800");
        assert_eq!(unix_of("2024-05-01T02:00:00-0800"), Some(1_714_557_600));
        assert_eq!(unix_of("2024-05-01T11:00:00+0100"), Some(1_714_557_600));
        let accounts = demo();
        let fields: Vec<String> = ["ad_id", "spend", "actions"].map(String::from).into();
        let windows: Vec<String> = ["7d_click", "1d_view"].map(String::from).into();
        let days = vec!["2024-05-01".to_string()];
        let rows = rows(
            &accounts[0],
            "ad",
            &days,
            &fields,
            &windows,
            &BTreeMap::new(),
            None,
        );
        assert_eq!(rows.len(), 3);
        let ad = accounts[0].ads[0]["id"].as_str().unwrap();
        let b = base("2024-05-01", ad);
        let first = rows.iter().find(|r| r["ad_id"] == ad).unwrap();
        assert_eq!(first["spend"], money(b.spend_cents));
        assert_eq!(first["date_start"], "2024-05-01");
        assert_eq!(
            first["actions"][1]["7d_click"],
            (b.purchases * 8 / 10).to_string()
        );
        assert_eq!(first.get("impressions"), None, "only the fields asked");
        let by_campaign = rows_of(&accounts[0], "campaign");
        assert_eq!(by_campaign.len(), 2);
    }

    fn rows_of(account: &Account, level: &str) -> Vec<Value> {
        let fields: Vec<String> = vec!["campaign_id".into(), "spend".into()];
        rows(
            account,
            level,
            &["2024-05-01".into()],
            &fields,
            &[],
            &BTreeMap::new(),
            None,
        )
    }
}
