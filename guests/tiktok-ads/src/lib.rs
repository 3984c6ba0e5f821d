//! `tiktok-ads`: TikTok API for Business (Marketing API v1.3) as a
//! source: daily reports at the ad, ad group, campaign or advertiser
//! level, and the campaigns, ad groups, ads and advertisers behind them.
//!
//! - Auth: TikTok's long-term access token in the `Access-Token` header,
//!   from the `access_token` secret. TikTok's exchange (the advertiser
//!   authorizes at `/portal/auth`, the callback carries `auth_code`, and
//!   `POST /oauth2/access_token/` with a JSON body answers the token under
//!   `data`) is not a flow the host's OAuth2 support can run yet, and an
//!   `auth_code` is good once for an hour, so it cannot be a login the
//!   host repeats: an administrator makes the exchange once and stores
//!   the token (see `docs/vendors/ads.md`). Advertiser tokens do not
//!   expire; a revoked one fails the run as an authentication error.
//! - `reports` ([`reports`]): the synchronous report in 30-day windows,
//!   or async report tasks for longer ranges (pending pages while TikTok
//!   builds the file, [`tasks`], [`csv`]; a task unfinished after about
//!   85 minutes is canceled, and a failed one falls back to the windows
//!   for the rest of the pass); incremental with a lookback, as
//!   conversions are attributed late.
//! - `campaigns`, `adgroups`, `ads`, `advertisers` ([`entities`]).
//! - Errors come as HTTP 200 with a `code` ([`api`]): QPS limits are
//!   waited out, credentials fail as auth, refused parameters as config.
//!   The app's limit of 10 requests a second (TikTok's basic tier) is
//!   declared as the connection's rate budget.
//!
//! Built from TikTok's API reference and its SDKs; see
//! `docs/vendors/ads.md`.

mod api;
mod csv;
mod entities;
mod reports;
mod tasks;

use serde::Deserialize;
use wharf_sdk::catalog::{Catalog, Category, RateBudget};
use wharf_sdk::prelude::*;

/// TikTok's production API base.
const API: &str = "https://business-api.tiktok.com/open_api/v1.3";
/// Its origin, for the spec's hosts.
const ORIGIN: &str = "https://business-api.tiktok.com";

/// The report level.
#[derive(Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Advertiser,
    Campaign,
    Adgroup,
    #[default]
    Ad,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Self::Advertiser => "advertiser",
            Self::Campaign => "campaign",
            Self::Adgroup => "adgroup",
            Self::Ad => "ad",
        }
    }

    /// TikTok's `data_level`.
    pub fn data_level(self) -> &'static str {
        match self {
            Self::Advertiser => "AUCTION_ADVERTISER",
            Self::Campaign => "AUCTION_CAMPAIGN",
            Self::Adgroup => "AUCTION_ADGROUP",
            Self::Ad => "AUCTION_AD",
        }
    }

    /// The id dimension of the level.
    pub fn id_field(self) -> &'static str {
        match self {
            Self::Advertiser => "advertiser_id",
            Self::Campaign => "campaign_id",
            Self::Adgroup => "adgroup_id",
            Self::Ad => "ad_id",
        }
    }

    /// The report's `dimensions`.
    pub fn dimensions(self) -> Value {
        json!([self.id_field(), "stat_time_day"])
    }

    /// The synchronous report's `filtering` that keeps deleted objects:
    /// their spend is still spend (by default TikTok leaves them out).
    pub fn status_filter(self) -> Option<Value> {
        let field = match self {
            Self::Advertiser => return None,
            Self::Campaign => "campaign_status",
            Self::Adgroup => "adgroup_status",
            Self::Ad => "ad_status",
        };
        Some(
            json!([{"field_name": field, "filter_type": "IN", "filter_value": "[\"STATUS_ALL\"]"}]),
        )
    }
}

/// How reports are read.
#[derive(Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ReportMode {
    /// Synchronous for up to 30 days, async tasks beyond (or when TikTok
    /// truncates); synchronous when async reports are not allowed.
    #[default]
    Auto,
    Sync,
    Async,
}

/// The connection config.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The ad accounts to read.
    advertiser_ids: Vec<String>,
    #[serde(default)]
    level: Level,
    /// TikTok metric names.
    #[serde(default = "default_metrics")]
    metrics: Vec<String>,
    /// The first day of the first pass (`YYYY-MM-DD`); default 30 days ago.
    #[serde(default)]
    start_date: Option<String>,
    /// Days read again on each pass, for late conversions.
    #[serde(default = "default_lookback")]
    lookback_days: u32,
    #[serde(default)]
    report_mode: ReportMode,
    /// Rows or objects a request (TikTok: at most 1,000).
    #[serde(default = "default_page_size")]
    page_size: u32,
    /// Rows of an async report's file a page.
    #[serde(default = "default_csv_rows")]
    csv_rows_per_page: u32,
    /// Also list deleted campaigns, ad groups and ads.
    #[serde(default)]
    include_deleted: bool,
    /// API base, `/open_api/v1.3` included (default TikTok's production).
    #[serde(default)]
    base_url: Option<String>,
}

fn default_metrics() -> Vec<String> {
    [
        "spend",
        "impressions",
        "clicks",
        "ctr",
        "cpc",
        "cpm",
        "reach",
        "conversion",
        "cost_per_conversion",
    ]
    .map(String::from)
    .to_vec()
}

fn default_lookback() -> u32 {
    7
}

fn default_page_size() -> u32 {
    1000
}

fn default_csv_rows() -> u32 {
    5000
}

impl Config {
    /// The API base, without a trailing slash.
    pub fn base(&self) -> &str {
        self.base_url
            .as_deref()
            .filter(|b| !b.trim().is_empty())
            .unwrap_or(API)
            .trim_end_matches('/')
    }

    pub fn page_size(&self) -> u32 {
        self.page_size.clamp(1, 1000)
    }

    pub fn csv_rows(&self) -> usize {
        self.csv_rows_per_page.clamp(1, 50_000) as usize
    }

    /// `start_date` as a day number.
    pub fn start_day(&self) -> Result<Option<i64>> {
        self.start_date
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| {
                reports::day_of(s).filter(|_| s.len() == 10).ok_or_else(|| {
                    Error::Config(format!("start_date `{s}` is not a date (YYYY-MM-DD)"))
                })
            })
            .transpose()
    }

    /// What the schema cannot say.
    fn validate(&self) -> Result<()> {
        if self.advertiser_ids.is_empty() {
            return Err(Error::Config("advertiser_ids lists no advertiser".into()));
        }
        if let Some(bad) = self
            .advertiser_ids
            .iter()
            .find(|id| id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(Error::Config(format!(
                "advertiser id `{bad}` is not a TikTok advertiser id (digits)"
            )));
        }
        if self.metrics.is_empty() {
            return Err(Error::Config("metrics lists no metric".into()));
        }
        if let Some(bad) = self.metrics.iter().find(|m| {
            m.is_empty()
                || !m
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        }) {
            return Err(Error::Config(format!(
                "`{bad}` is not a TikTok metric name"
            )));
        }
        if self.lookback_days > 90 {
            return Err(Error::Config("lookback_days is at most 90".into()));
        }
        self.start_day()?;
        Ok(())
    }
}

const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="12" fill="#010101"/><path d="M36 14h7c.6 4.6 3.4 7.6 8 8v7c-3 0-5.6-.9-8-2.5V40a11 11 0 1 1-11-11v7a4 4 0 1 0 4 4z" fill="#25f4ee" transform="translate(-1 -1)"/><path d="M36 14h7c.6 4.6 3.4 7.6 8 8v7c-3 0-5.6-.9-8-2.5V40a11 11 0 1 1-11-11v7a4 4 0 1 0 4 4z" fill="#fe2c55" transform="translate(1 1)"/><path d="M36 14h7c.6 4.6 3.4 7.6 8 8v7c-3 0-5.6-.9-8-2.5V40a11 11 0 1 1-11-11v7a4 4 0 1 0 4 4z" fill="#fff"/></svg>"##;

/// The `reports` stream with its schema: the record's own fields, and the
/// configured metrics (numbers, or text for ids and names).
fn reports_stream(metrics: &[String]) -> StreamSpec {
    let mut properties = Map::new();
    for m in metrics {
        let name = if m == "conversion" { "conversions" } else { m };
        let kind = match reports::typed(name, &json!("1")) {
            Value::String(_) => json!(["string", "null"]),
            _ => json!(["number", "string", "null"]),
        };
        properties.insert(name.to_string(), json!({ "type": kind }));
    }
    for (field, about) in [
        ("id", "`{date}|{level id}`"),
        ("date", "The day (YYYY-MM-DD, the advertiser's time zone)"),
        ("level", "advertiser, campaign, adgroup or ad"),
        ("advertiser_id", "The advertiser"),
        (
            "ad_account_id",
            "The advertiser (the ads connectors' common name)",
        ),
    ] {
        properties.insert(
            field.into(),
            json!({"type": "string", "description": about}),
        );
    }
    StreamSpec::new(reports::STREAM)
        .description("Daily basic report per level id: spend, impressions, clicks, conversions and the configured metrics")
        .key_field("id")
        .cursor_field("date")
        .schema(json!({
            "type": "object",
            "required": ["id", "date", "level", "advertiser_id"],
            "properties": properties,
        }))
}

fn streams(metrics: &[String]) -> Vec<StreamSpec> {
    let mut out = vec![reports_stream(metrics)];
    for e in &entities::ENTITIES {
        out.push(
            StreamSpec::new(e.name)
                .description(e.description)
                .key_field(e.key)
                .cursor_field("modify_time")
                .schema(json!({"type": "object", "required": [e.key, "advertiser_id"]})),
        );
    }
    out.push(
        StreamSpec::new("advertisers")
            .description("The configured ad accounts: name, currency, time zone, status, balance")
            .key_field("advertiser_id")
            .schema(json!({"type": "object", "required": ["advertiser_id"]})),
    );
    out
}

pub struct TikTokAds;

impl Connector for TikTokAds {
    type Config = Config;

    fn spec() -> Spec {
        let host = format!("{{config.base_url|{ORIGIN}}}");
        let mut spec = Spec::new("tiktok-ads", env!("CARGO_PKG_VERSION"))
            .description(
                "TikTok Ads (API for Business): daily reports per ad, ad group, campaign or advertiser \
                 (sync windows or async report tasks, late conversions re-read), campaigns, ad groups, ads and advertisers.",
            )
            .role(Role::Source)
            .config_schema(config_schema())
            .host(host.clone())
            .secret(
                SecretSpec::new("access_token")
                    .description("The long-term access token of TikTok's auth_code exchange (POST /open_api/v1.3/oauth2/access_token/)")
                    .host(host.clone()),
            )
            // TikTok limits each app per endpoint by second (10 on the
            // basic tier), minute and day; async task creation to 1 a
            // second. The budget keeps every run of the connection under
            // the per-second limit.
            .rate_budget(RateBudget::new(host).per(10, 1))
            .catalog(
                Catalog::new("TikTok Ads")
                    .category(Category::Marketing)
                    .icon_svg(ICON)
                    .documentation_url("https://business-api.tiktok.com/portal/docs?id=1740302848100353")
                    .publisher("Wharf"),
            );
        for s in streams(&default_metrics()) {
            spec = spec.stream(s);
        }
        spec
    }

    fn check(config: &Config) -> Result<()> {
        config.validate()?;
        entities::check(config)
    }

    fn discover(config: &Config) -> Result<Vec<StreamSpec>> {
        config.validate()?;
        Ok(streams(&config.metrics))
    }

    fn fetch(config: &Config, stream: &str, cursor: Option<&str>) -> Result<Page> {
        config.validate()?;
        if stream == reports::STREAM {
            return reports::fetch(config, cursor);
        }
        if stream == "advertisers" {
            return entities::advertisers(config, cursor);
        }
        match entities::ENTITIES.iter().find(|e| e.name == stream) {
            Some(entity) => entities::fetch(config, entity, cursor),
            None => Err(Error::Config(format!(
                "unknown stream `{stream}` (reports, campaigns, adgroups, ads, advertisers)"
            ))),
        }
    }
}

fn config_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["advertiser_ids"],
        "properties": {
            "advertiser_ids": {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": "^[0-9]+$"}, "title": "Advertiser ids", "description": "The ad accounts to read (the access token's advertiser_ids)"},
            "level": {"type": "string", "enum": ["advertiser", "campaign", "adgroup", "ad"], "default": "ad", "title": "Report level", "description": "One record per this level's id and day"},
            "metrics": {"type": "array", "minItems": 1, "items": {"type": "string"}, "default": default_metrics(), "title": "Metrics", "description": "TikTok metric names of the basic report (`conversion` becomes `conversions`)"},
            "start_date": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$", "title": "Start date", "description": "First day of the first sync (default: 30 days before it)"},
            "lookback_days": {"type": "integer", "minimum": 0, "maximum": 90, "default": 7, "title": "Lookback", "description": "Days read again on every sync: TikTok attributes conversions to past days"},
            "report_mode": {"type": "string", "enum": ["auto", "sync", "async"], "default": "auto", "title": "Report mode", "description": "auto: synchronous up to 30 days, async tasks beyond; async tasks may need TikTok's allowlist"},
            "page_size": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 1000, "title": "Page size", "description": "Rows or objects a request"},
            "csv_rows_per_page": {"type": "integer", "minimum": 1, "maximum": 50000, "default": 5000, "title": "Async rows a page", "description": "Rows of an async report's file handed on at a time"},
            "include_deleted": {"type": "boolean", "default": false, "title": "Deleted objects", "description": "Also list deleted campaigns, ad groups and ads (reports always include their spend)"},
            "base_url": {"type": "string", "format": "uri", "title": "API URL", "description": "Leave empty for https://business-api.tiktok.com/open_api/v1.3 (sandbox: https://sandbox-ads.tiktok.com/open_api/v1.3)"}
        }
    })
}

export_connector!(TikTokAds);
