//! `meta-ads`: Meta's Marketing API as a source: ads insights as async
//! report runs, campaigns, ad sets, ads and the ad accounts.
//!
//! - Auth: a long-lived access token as the secret `access_token` (a
//!   system user's, made in Business Settings with `ads_read`), sent as
//!   `Authorization: Bearer` by the host. Not OAuth2 with Facebook Login:
//!   Meta issues no refresh token (a user token lasts an hour, or 60 days
//!   after an `fb_exchange_token` swap that needs the app secret and a
//!   person to log in again), so the host could not keep such a token
//!   alive; a system user token does not expire and is Meta's advice for
//!   server-to-server reading. [`api`]
//! - Ad accounts: the config's `act_…` ids, or every one the token sees
//!   (`/me/adaccounts`). [`accounts`]
//! - `insights`: per account and window of days, `POST /act_{id}/insights`
//!   starts a report run; the run is polled (a pending page each time, so
//!   no sandbox waits), failed runs are made again, then its rows are read
//!   page by page; one record per day, level id and breakdown values.
//!   Deleted and archived objects are included (a `filtering` on the
//!   level's `effective_status`: Meta leaves deleted ones out otherwise).
//!   Each pass reads again the last `lookback_days` (28): attribution
//!   windows revise recent days. [`insights`]
//! - `campaigns`, `adsets`, `ads`: by `effective_status`, incremental by
//!   `updated_time` filtering. [`objects`]
//! - Limits: Meta's quotas follow the number of active ads, so they are
//!   not declared as a fixed budget; the connector reads the usage headers
//!   on every answer, pauses when one passes `throttle_at_pct`, and on a
//!   throttle (codes 4, 17, 613, 80000–80014) waits
//!   `estimated_time_to_regain_access` or the ad account's reset.
//!
//! Built from Meta's Marketing API documentation; see
//! `docs/vendors/ads.md` §1.

mod accounts;
mod api;
mod insights;
mod objects;
mod rows;

use serde::Deserialize;
use wharf_sdk::catalog::{Catalog, Category, RateBudget};
use wharf_sdk::prelude::*;

const API: &str = "https://graph.facebook.com";
/// The newest Graph API version (29 July 2026; served until Meta names a
/// date, two years on at least).
const VERSION: &str = "v26.0";

/// The connection config.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Ad accounts (`act_123` or `123`); empty: every one the token sees.
    #[serde(default)]
    account_ids: Vec<String>,
    /// The Graph API version.
    #[serde(default = "default_version")]
    api_version: String,
    /// `account`, `campaign`, `adset` or `ad`.
    #[serde(default = "default_level")]
    level: String,
    /// Insights fields; empty: [`insights::DEFAULT_FIELDS`].
    #[serde(default)]
    fields: Vec<String>,
    #[serde(default)]
    breakdowns: Vec<String>,
    #[serde(default)]
    action_breakdowns: Vec<String>,
    #[serde(default = "default_windows")]
    action_attribution_windows: Vec<String>,
    /// `impression`, `conversion`, `mixed` or `lifetime`.
    #[serde(default)]
    action_report_time: Option<String>,
    /// The first day the first pass reads (`YYYY-MM-DD`).
    #[serde(default)]
    start_date: Option<String>,
    /// Days each pass reads again before the last one's end.
    #[serde(default = "default_lookback")]
    lookback_days: i64,
    /// Days one report run covers.
    #[serde(default = "default_days_per_report")]
    days_per_report: i64,
    /// Statuses of campaigns, ad sets and ads to read; empty: all.
    #[serde(default)]
    effective_status: Vec<String>,
    /// Rows or objects a page (Graph's `limit`).
    #[serde(default = "default_page_size")]
    page_size: u32,
    /// Usage percentage at which the sync pauses before Meta throttles.
    #[serde(default = "default_throttle_at")]
    throttle_at_pct: u32,
    /// API origin (default Meta's).
    #[serde(default)]
    base_url: Option<String>,
}

fn default_version() -> String {
    VERSION.into()
}
fn default_level() -> String {
    "ad".into()
}
fn default_windows() -> Vec<String> {
    ["1d_click", "7d_click", "28d_click", "1d_view"]
        .map(String::from)
        .into()
}
fn default_lookback() -> i64 {
    28
}
fn default_days_per_report() -> i64 {
    30
}
fn default_page_size() -> u32 {
    100
}
fn default_throttle_at() -> u32 {
    90
}

impl Config {
    /// The API origin, without a trailing slash.
    pub fn base(&self) -> &str {
        self.base_url
            .as_deref()
            .filter(|b| !b.trim().is_empty())
            .unwrap_or(API)
            .trim_end_matches('/')
    }

    /// `{base}/{version}/{path}`.
    pub fn url(&self, path: &str) -> String {
        format!(
            "{}/{}/{}",
            self.base(),
            self.api_version,
            path.trim_start_matches('/')
        )
    }

    /// The version's major number (`26` of `v26.0`).
    pub fn major(&self) -> u32 {
        let v = self.api_version.trim_start_matches('v');
        v.split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0)
    }

    pub fn limit(&self) -> u32 {
        self.page_size.clamp(1, 500)
    }

    pub fn throttle_at(&self) -> f64 {
        f64::from(self.throttle_at_pct.clamp(1, 100))
    }
}

/// A name Meta could know: fields, breakdowns and windows are lowercase
/// words; anything else is refused before it reaches a request.
fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// What Meta would refuse, said before a call is spent on it.
fn validate(config: &Config) -> Result<()> {
    let v = config.api_version.strip_prefix('v').unwrap_or_default();
    let numeric = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !v
        .split_once('.')
        .is_some_and(|(a, b)| numeric(a) && numeric(b))
    {
        return Err(Error::Config(format!(
            "api_version `{}` is not a Graph API version such as {VERSION}",
            config.api_version
        )));
    }
    if !insights::LEVELS.contains(&config.level.as_str()) {
        return Err(Error::Config(format!(
            "level `{}`: one of {}",
            config.level,
            insights::LEVELS.join(", ")
        )));
    }
    let lists = [
        ("fields", &config.fields),
        ("breakdowns", &config.breakdowns),
        ("action_breakdowns", &config.action_breakdowns),
        (
            "action_attribution_windows",
            &config.action_attribution_windows,
        ),
    ];
    for (what, list) in lists {
        if let Some(bad) = list.iter().find(|n| !is_name(n)) {
            return Err(Error::Config(format!(
                "{what}: `{bad}` is not a Meta name (lowercase letters, digits and _)"
            )));
        }
    }
    // Gone for all versions since 12 January 2026.
    if let Some(w) = config
        .action_attribution_windows
        .iter()
        .find(|w| matches!(w.as_str(), "7d_view" | "28d_view"))
    {
        return Err(Error::Config(format!(
            "action_attribution_windows: Meta no longer returns `{w}` (since 12 January 2026); use 1d_view, 1d_ev or the click windows"
        )));
    }
    if let Some(t) = &config.action_report_time
        && !["impression", "conversion", "mixed", "lifetime"].contains(&t.as_str())
    {
        return Err(Error::Config(format!(
            "action_report_time `{t}`: impression, conversion, mixed or lifetime"
        )));
    }
    if let Some(d) = &config.start_date {
        let day = insights::day_of(d)
            .ok_or_else(|| Error::Config(format!("start_date `{d}` is not YYYY-MM-DD")))?;
        if day > insights::today() {
            return Err(Error::Config(format!("start_date {d} is in the future")));
        }
    }
    if !(0..=90).contains(&config.lookback_days) || !(1..=90).contains(&config.days_per_report) {
        return Err(Error::config(
            "lookback_days is 0 to 90 and days_per_report 1 to 90",
        ));
    }
    if let Some(s) = config
        .effective_status
        .iter()
        .find(|s| !objects::ALL_STATUSES.contains(&s.as_str()))
    {
        return Err(Error::Config(format!(
            "effective_status `{s}`: one of {}",
            objects::ALL_STATUSES.join(", ")
        )));
    }
    for id in &config.account_ids {
        accounts::normalize(id)?;
    }
    Ok(())
}

const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="14" fill="#0866ff"/><path d="M12 40c0-10 5-19 11-19 9 0 12 22 19 22 4 0 6-4 6-10 0-7-3-12-7-12-6 0-10 9-14 15" stroke="#fff" stroke-width="5" fill="none" stroke-linecap="round"/></svg>"##;

pub struct MetaAds;

impl Connector for MetaAds {
    type Config = Config;

    fn spec() -> Spec {
        let api = format!("{{config.base_url|{API}}}");
        let mut spec = Spec::new("meta-ads", env!("CARGO_PKG_VERSION"))
            .description(
                "Meta (Facebook and Instagram) ads: daily insights by ad, ad set, campaign or account \
                 through async report runs, re-reading the days attribution revises; campaigns, ad \
                 sets, ads and ad accounts.",
            )
            .role(Role::Source)
            .config_schema(config_schema())
            .host(api.clone())
            .secret(
                SecretSpec::new("access_token")
                    .description("A system user's access token with ads_read (Business Settings → System users → Generate token), or a long-lived user token")
                    .host(api.clone()),
            )
            // Meta's quotas grow with the active ads and are read from
            // the usage headers; only bursts are kept down here.
            .rate_budget(RateBudget::new(api).concurrency(4))
            .catalog(
                Catalog::new("Meta Ads")
                    .category(Category::Marketing)
                    .icon_svg(ICON)
                    .documentation_url("https://developers.facebook.com/docs/marketing-api/insights")
                    .publisher("Wharf"),
            )
            .stream(
                StreamSpec::new(insights::STREAM)
                    .description("One record per day, level object and breakdown values: ids and names, spend, impressions, clicks, reach, actions by attribution window; recent days re-read as attribution revises them")
                    .key_field("id")
                    .cursor_field("date")
                    .schema(rows::schema()),
            )
            .stream(
                StreamSpec::new(accounts::STREAM)
                    .description("The ad accounts read: name, status, currency, time zone, amount spent")
                    .key_field("id"),
            );
        for kind in &objects::KINDS {
            spec = spec.stream(
                StreamSpec::new(kind.stream)
                    .description(kind.description)
                    .key_field("id")
                    .cursor_field("updated_time")
                    .schema(json!({"type": "object", "required": ["id"],
                        "properties": {"id": {"type": "string"}, "updated_time": {"type": ["string", "null"]}}})),
            );
        }
        spec
    }

    fn check(config: &Config) -> Result<()> {
        validate(config)?;
        accounts::check(config)
    }

    fn fetch(config: &Config, stream: &str, cursor: Option<&str>) -> Result<Page> {
        validate(config)?;
        if stream == insights::STREAM {
            return insights::fetch(config, cursor);
        }
        if stream == accounts::STREAM {
            return accounts::fetch(config, cursor);
        }
        match objects::KINDS.iter().find(|k| k.stream == stream) {
            Some(kind) => objects::fetch(config, kind, cursor),
            None => Err(Error::Config(format!(
                "unknown stream `{stream}` (insights, campaigns, adsets, ads, ad_accounts)"
            ))),
        }
    }
}

/// A cursor of this connector, or a config error naming the stream.
pub fn parse_cursor<T: serde::de::DeserializeOwned + Default>(
    stream: &str,
    cursor: Option<&str>,
) -> Result<T> {
    match cursor.filter(|c| !c.is_empty()) {
        Some(c) => serde_json::from_str(c).map_err(|e| {
            Error::Config(format!(
                "the cursor of `{stream}` is not this connector's: {e}"
            ))
        }),
        None => Ok(T::default()),
    }
}

/// A cursor as text.
pub fn cursor_text<T: serde::Serialize>(cursor: &T) -> Result<String> {
    serde_json::to_string(cursor).map_err(Error::fatal)
}

/// A page with records that may pause before the next call: a page that
/// is not the stream's last can carry a wait (a pending page's meaning),
/// which the host keeps after it committed the records.
pub fn page(records: Vec<Record>, cursor: String, more: bool, pause: Option<u32>) -> Page {
    let mut page = Page::new(records, Some(cursor), more);
    if more {
        page.pending = pause;
    }
    page
}

fn config_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "account_ids": {"type": "array", "items": {"type": "string", "pattern": "^(act_)?[0-9]+$"}, "title": "Ad accounts", "description": "act_<id> of each ad account to read; empty: every ad account the token can see"},
            "api_version": {"type": "string", "pattern": "^v[0-9]+\\.[0-9]+$", "default": VERSION, "title": "Graph API version"},
            "level": {"type": "string", "enum": insights::LEVELS, "default": "ad", "title": "Insights level", "description": "A record per day and ad, ad set, campaign or account"},
            "fields": {"type": "array", "items": {"type": "string"}, "title": "Insights fields", "description": "Meta's insights fields (spend, impressions, clicks, actions, …); empty: a standard set of ids, names, delivery, cost and actions"},
            "breakdowns": {"type": "array", "items": {"type": "string"}, "default": [], "title": "Breakdowns", "description": "e.g. [\"age\", \"gender\"], [\"country\"], [\"publisher_platform\", \"platform_position\"]: a record per value"},
            "action_breakdowns": {"type": "array", "items": {"type": "string"}, "default": [], "title": "Action breakdowns", "description": "How actions are split (Meta's default: action_type)"},
            "action_attribution_windows": {"type": "array", "items": {"type": "string"}, "default": default_windows(), "title": "Attribution windows", "description": "Each action's value per window: 1d_click, 7d_click, 28d_click, 1d_view, 1d_ev"},
            "action_report_time": {"type": "string", "enum": ["impression", "conversion", "mixed", "lifetime"], "title": "Action report time"},
            "start_date": {"type": "string", "format": "date", "title": "Start date", "description": "The first day the first sync reads (Meta keeps 37 months); empty: a year ago"},
            "lookback_days": {"type": "integer", "minimum": 0, "maximum": 90, "default": 28, "title": "Days re-read", "description": "Each sync reads again this many days before the last one's end: conversions are attributed to past days for up to 28 days"},
            "days_per_report": {"type": "integer", "minimum": 1, "maximum": 90, "default": 30, "title": "Days a report run covers", "description": "Lower it for accounts whose report runs fail or time out"},
            "effective_status": {"type": "array", "items": {"type": "string", "enum": objects::ALL_STATUSES}, "default": [], "title": "Object statuses", "description": "Campaigns, ad sets and ads with these statuses; empty: all, deleted and archived included"},
            "page_size": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100, "title": "Page size"},
            "throttle_at_pct": {"type": "integer", "minimum": 1, "maximum": 100, "default": 90, "title": "Pause at usage %", "description": "When Meta's usage headers pass this, the sync pauses before the next call"},
            "base_url": {"type": "string", "format": "uri", "title": "API URL", "description": "Leave empty for https://graph.facebook.com"}
        }
    })
}

export_connector!(MetaAds);
