//! The fake TikTok's ad accounts and their numbers: two advertisers with
//! campaigns, ad groups and ads in the shapes of TikTok's `/campaign/get/`,
//! `/adgroup/get/`, `/ad/get/` and `/advertiser/info/` examples, and daily
//! ad-level statistics for the last 60 days, summed up to the level a
//! report asks for. Metrics are formatted as TikTok sends them: strings,
//! money with two decimals.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// The ad accounts the app is authorized for.
pub const ADVERTISERS: [&str; 2] = ["7000000000000000001", "7000000000000000002"];
/// Days of statistics before today.
pub const HISTORY_DAYS: i64 = 60;
/// An ad whose name needs CSV quoting.
pub const QUOTED_NAME: &str = "Spring \"Hero\", 15s";

/// Today, as a UTC day number.
pub fn today() -> i64 {
    wharf_sdk::time::now_ms().div_euclid(86_400_000)
}

/// `YYYY-MM-DD` of a day number.
pub fn day_text(day: i64) -> String {
    wharf_sdk::time::date(day * 86_400)
}

/// The day number of `YYYY-MM-DD`.
pub fn day_of(text: &str) -> Option<i64> {
    if text.len() != 10 {
        return None;
    }
    let mut p = text.splitn(3, '-').map(str::parse::<u32>);
    let (Some(Ok(y)), Some(Ok(m)), Some(Ok(d))) = (p.next(), p.next(), p.next()) else {
        return None;
    };
    ((1..=12).contains(&m) && (1..=31).contains(&d))
        .then(|| wharf_sdk::time::days(i64::from(y), m, d))
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of now.
pub fn now_text() -> String {
    let secs = wharf_sdk::time::now_ms().div_euclid(1000);
    wharf_sdk::time::rfc3339(secs)
        .trim_end_matches('Z')
        .replacen('T', " ", 1)
}

/// One ad account.
#[derive(Clone, Debug)]
pub struct Advertiser {
    pub id: String,
    pub info: Value,
    pub campaigns: Vec<Value>,
    pub adgroups: Vec<Value>,
    pub ads: Vec<Value>,
}

/// An ad's numbers for one day.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    pub spend_cents: i64,
    pub impressions: i64,
    pub clicks: i64,
    pub conversions: i64,
    pub reach: i64,
}

impl Stats {
    fn add(&mut self, o: &Stats) {
        self.spend_cents += o.spend_cents;
        self.impressions += o.impressions;
        self.clicks += o.clicks;
        self.conversions += o.conversions;
        self.reach += o.reach;
    }
}

/// The accounts, and ad-level statistics by (ad id, day).
pub fn demo() -> (Vec<Advertiser>, BTreeMap<(String, i64), Stats>) {
    let mut advertisers = Vec::new();
    let mut stats = BTreeMap::new();
    let today = today();
    let mut ad_n = 0i64;
    for (a, (id, name, currency, tz, campaigns)) in [
        (
            ADVERTISERS[0],
            "Acme Shoes US",
            "USD",
            "America/Los_Angeles",
            3,
        ),
        (ADVERTISERS[1], "Acme Shoes DE", "EUR", "Europe/Berlin", 2),
    ]
    .into_iter()
    .enumerate()
    {
        let a = a + 1;
        let info = json!({"advertiser_id": id, "name": name, "company": "Acme Shoes Inc.", "currency": currency,
            "timezone": tz, "display_timezone": tz, "country": if a == 1 { "US" } else { "DE" }, "language": "en",
            "status": "STATUS_ENABLE", "role": "ROLE_ADVERTISER", "industry": "291905", "balance": 1520.75,
            "create_time": 1_704_067_200, "owner_bc_id": "7100000000000000001", "email": "ads@acme-shoes.example",
            "advertiser_account_type": "AUCTION", "description": "", "rejection_reason": ""});
        let mut adv = Advertiser {
            id: id.to_string(),
            info,
            campaigns: Vec::new(),
            adgroups: Vec::new(),
            ads: Vec::new(),
        };
        // One deleted campaign besides: listed only with CAMPAIGN_STATUS_ALL.
        for c in 0..=campaigns {
            let deleted = c == campaigns;
            let campaign_id = format!("1800{a}{c:014}");
            adv.campaigns.push(json!({"advertiser_id": id, "campaign_id": campaign_id,
                "campaign_name": format!("{name} campaign {}", c + 1), "campaign_type": "REGULAR_CAMPAIGN",
                "objective_type": "TRAFFIC", "objective": "LANDING_PAGE", "budget_mode": "BUDGET_MODE_DAY",
                "budget": 50.0 + c as f64, "roas_bid": 0, "deep_bid_type": null, "is_new_structure": true,
                "is_smart_performance_campaign": false, "operation_status": if deleted { "DISABLE" } else { "ENABLE" },
                "secondary_status": if deleted { "CAMPAIGN_STATUS_DELETE" } else { "CAMPAIGN_STATUS_ENABLE" },
                "create_time": "2025-01-10 08:00:00", "modify_time": format!("2025-02-0{} 09:30:00", c + 1)}));
            if deleted {
                continue;
            }
            for g in 0..2 {
                let adgroup_id = format!("1810{a}{:014}", c * 2 + g);
                adv.adgroups.push(json!({"advertiser_id": id, "campaign_id": campaign_id, "adgroup_id": adgroup_id,
                    "adgroup_name": format!("Ad group {}.{}", c + 1, g + 1), "placement_type": "PLACEMENT_TYPE_AUTOMATIC",
                    "budget_mode": "BUDGET_MODE_INFINITE", "optimization_goal": "CLICK", "billing_event": "CPC",
                    "bid_type": "BID_TYPE_NO_BID", "schedule_type": "SCHEDULE_FROM_NOW",
                    "schedule_start_time": "2025-01-10 08:00:00", "location_ids": ["6252001"],
                    "operation_status": "ENABLE", "secondary_status": "ADGROUP_STATUS_DELIVERY_OK",
                    "create_time": "2025-01-10 08:05:00", "modify_time": "2025-02-03 10:00:00"}));
                for n in 0..2 {
                    let ad_id = format!("1820{a}{:014}", (c * 2 + g) * 2 + n);
                    let ad_name = if ad_n == 1 {
                        QUOTED_NAME.to_string()
                    } else {
                        format!("Ad {}.{}.{}", c + 1, g + 1, n + 1)
                    };
                    adv.ads.push(json!({"advertiser_id": id, "campaign_id": campaign_id, "adgroup_id": adgroup_id,
                        "ad_id": ad_id, "ad_name": ad_name, "ad_format": "SINGLE_VIDEO",
                        "ad_text": "New season, new steps", "call_to_action": "SHOP_NOW",
                        "landing_page_url": "https://shop.acme-shoes.example/spring",
                        "video_id": format!("v10033g50000c{ad_n:019}"), "operation_status": "ENABLE",
                        "secondary_status": "AD_STATUS_DELIVERY_OK",
                        "create_time": "2025-01-10 08:10:00", "modify_time": "2025-02-04 11:00:00"}));
                    for day in today - HISTORY_DAYS..=today {
                        let impressions = 800 + (ad_n * 37 + day * 13).rem_euclid(500);
                        let clicks = impressions / 40 + ad_n % 3;
                        let s = Stats {
                            spend_cents: clicks * 31 + ad_n * 7,
                            impressions,
                            clicks,
                            conversions: clicks / 9,
                            reach: impressions * 8 / 10,
                        };
                        stats.insert((ad_id.clone(), day), s);
                    }
                    ad_n += 1;
                }
            }
        }
        advertisers.push(adv);
    }
    (advertisers, stats)
}

/// A report's level: TikTok's `data_level`, its id dimension.
pub fn id_dimension(data_level: &str) -> Option<&'static str> {
    Some(match data_level {
        "AUCTION_AD" => "ad_id",
        "AUCTION_ADGROUP" => "adgroup_id",
        "AUCTION_CAMPAIGN" => "campaign_id",
        "AUCTION_ADVERTISER" => "advertiser_id",
        _ => return None,
    })
}

/// Metrics a basic report answers at `id` level (attribute metrics only
/// where the level has them).
pub fn metric_allowed(metric: &str, id: &str) -> bool {
    let below_campaign = matches!(id, "ad_id" | "adgroup_id");
    match metric {
        "spend"
        | "impressions"
        | "clicks"
        | "ctr"
        | "cpc"
        | "cpm"
        | "reach"
        | "conversion"
        | "cost_per_conversion" => true,
        "campaign_id" | "campaign_name" => id != "advertiser_id",
        "adgroup_id" | "adgroup_name" => below_campaign,
        "ad_name" | "ad_text" => id == "ad_id",
        _ => false,
    }
}

/// One report row: the level id, the day, the summed numbers and the ad
/// the row's attribute metrics come from.
pub struct Row {
    pub id: String,
    pub day: i64,
    pub stats: Stats,
    pub ad: Value,
}

/// The rows of `advertiser` at `id` level for the days `from..=to`, by day
/// then id.
pub fn rows(
    adv: &Advertiser,
    stats: &BTreeMap<(String, i64), Stats>,
    id: &str,
    from: i64,
    to: i64,
) -> Vec<Row> {
    let mut out: BTreeMap<(i64, String), Row> = BTreeMap::new();
    for ad in &adv.ads {
        let ad_id = ad["ad_id"].as_str().unwrap_or_default();
        let level_id = if id == "advertiser_id" {
            adv.id.clone()
        } else {
            ad[id].as_str().unwrap_or_default().to_string()
        };
        for day in from..=to {
            let Some(s) = stats.get(&(ad_id.to_string(), day)) else {
                continue;
            };
            let row = out.entry((day, level_id.clone())).or_insert_with(|| Row {
                id: level_id.clone(),
                day,
                stats: Stats::default(),
                ad: ad.clone(),
            });
            row.stats.add(s);
        }
    }
    out.into_values().collect()
}

fn money(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// `a / b` with two decimals, as TikTok rounds ratios.
fn ratio(a: i64, b: i64, scale: i64) -> String {
    if b == 0 {
        return "0.00".into();
    }
    let hundredths = (a * scale * 100 + b / 2) / b;
    money(hundredths)
}

/// A metric of `row` as TikTok writes it.
pub fn metric(row: &Row, adv: &Advertiser, name: &str) -> String {
    let s = &row.stats;
    let campaign_name = || {
        let id = row.ad["campaign_id"].as_str().unwrap_or_default();
        let c = adv.campaigns.iter().find(|c| c["campaign_id"] == id);
        c.and_then(|c| c["campaign_name"].as_str())
            .unwrap_or("-")
            .to_string()
    };
    let adgroup_name = || {
        let id = row.ad["adgroup_id"].as_str().unwrap_or_default();
        let g = adv.adgroups.iter().find(|g| g["adgroup_id"] == id);
        g.and_then(|g| g["adgroup_name"].as_str())
            .unwrap_or("-")
            .to_string()
    };
    match name {
        "spend" => money(s.spend_cents),
        "impressions" => s.impressions.to_string(),
        "clicks" => s.clicks.to_string(),
        "reach" => s.reach.to_string(),
        "conversion" => s.conversions.to_string(),
        "ctr" => ratio(s.clicks, s.impressions, 100),
        "cpc" => ratio(s.spend_cents, s.clicks * 100, 1),
        "cpm" => ratio(s.spend_cents * 10, s.impressions, 1),
        "cost_per_conversion" if s.conversions == 0 => "-".into(),
        "cost_per_conversion" => ratio(s.spend_cents, s.conversions * 100, 1),
        "campaign_name" => campaign_name(),
        "adgroup_name" => adgroup_name(),
        other => row.ad[other].as_str().unwrap_or("-").to_string(),
    }
}

/// The title TikTok writes for a field in a translated report file.
pub fn title(field: &str) -> String {
    match field {
        "stat_time_day" => "Date".into(),
        "ad_id" => "Ad ID".into(),
        "adgroup_id" => "Ad Group ID".into(),
        "campaign_id" => "Campaign ID".into(),
        "advertiser_id" => "Advertiser ID".into(),
        "spend" => "Cost".into(),
        "impressions" => "Impression".into(),
        "clicks" => "Click".into(),
        "conversion" => "Conversions".into(),
        other => other
            .split('_')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect::<String>())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(" "),
    }
}
