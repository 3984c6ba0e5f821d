//! `aws-cost`: AWS Cost Explorer's `GetCostAndUsage` as a source, one
//! record per day (or month) and group, signed with SigV4 by the host.
//!
//! - The access key id and secret access key (and a session token, for
//!   temporary credentials) are secrets the host signs with
//!   (`SigningKey::aws_sigv4`, service `ce`, region `us-east-1`): the
//!   connector never holds them.
//! - AWS JSON 1.1: `POST /` with `X-Amz-Target:
//!   AWSInsightsIndexService.GetCostAndUsage`; pages by repeating the
//!   identical request with `NextPageToken`. [`query`]
//! - Incremental: the next pass starts `settle_days` before the last one
//!   ended, since AWS revises the recent days (`Estimated`) until the bill
//!   settles; upserts by (day, group) replace them.
//! - Every request costs $0.01, each page included: a run makes one
//!   request per page, and nothing else.
//!
//! Built from the Cost Explorer API reference and the SDKs' service
//! models; see `docs/vendors/cloud-cost.md`.

mod query;

use serde::Deserialize;
use wharf_sdk::auth::SigningKey;
use wharf_sdk::catalog::{Catalog, Category};
use wharf_sdk::prelude::*;

const API: &str = "https://ce.us-east-1.amazonaws.com";

/// The connection config.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `DAILY` (default) or `MONTHLY`.
    #[serde(default = "daily")]
    granularity: String,
    /// Cost Explorer metrics (default `UnblendedCost`).
    #[serde(default = "unblended")]
    metrics: Vec<String>,
    /// At most two groups: `{"type": "DIMENSION"|"TAG"|"COST_CATEGORY", "key": …}`.
    #[serde(default = "by_service")]
    group_by: Vec<Group>,
    /// A Cost Explorer filter expression, passed as it is.
    #[serde(default)]
    filter: Option<Value>,
    /// How far back the first pass reads.
    #[serde(default = "default_lookback")]
    lookback_days: i64,
    /// How many days before the last pass's end the next one starts again.
    #[serde(default = "default_settle")]
    settle_days: i64,
    /// Endpoint (default AWS's).
    #[serde(default)]
    base_url: Option<String>,
}

/// One `GroupBy` entry.
#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Group {
    #[serde(rename = "type")]
    kind: String,
    key: String,
}

fn daily() -> String {
    "DAILY".into()
}
fn unblended() -> Vec<String> {
    vec!["UnblendedCost".into()]
}
fn by_service() -> Vec<Group> {
    vec![Group {
        kind: "DIMENSION".into(),
        key: "SERVICE".into(),
    }]
}
fn default_lookback() -> i64 {
    30
}
fn default_settle() -> i64 {
    3
}

impl Config {
    pub fn base(&self) -> &str {
        self.base_url
            .as_deref()
            .filter(|b| !b.trim().is_empty())
            .unwrap_or(API)
            .trim_end_matches('/')
    }
}

const METRICS: [&str; 7] = [
    "AmortizedCost",
    "BlendedCost",
    "NetAmortizedCost",
    "NetUnblendedCost",
    "NormalizedUsageAmount",
    "UnblendedCost",
    "UsageQuantity",
];

const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="12" fill="#232f3e"/><path d="M14 40c10 7 26 7 36 0" stroke="#ff9900" stroke-width="4" fill="none" stroke-linecap="round"/><path d="M46 36l5 4-6 3" stroke="#ff9900" stroke-width="3" fill="none"/><text x="32" y="31" font-size="16" text-anchor="middle" fill="#fff" font-family="sans-serif">$</text></svg>"##;

pub struct AwsCost;

impl Connector for AwsCost {
    type Config = Config;

    fn spec() -> Spec {
        let api = format!("{{config.base_url|{API}}}");
        Spec::new("aws-cost", env!("CARGO_PKG_VERSION"))
            .description(
                "AWS Cost Explorer: daily or monthly cost and usage by service, account, tag or \
                 cost category, signed with SigV4 by the host; recent days read again until they settle.",
            )
            .role(Role::Source)
            .stream(
                StreamSpec::new("costs")
                    .description("One record per period and group: date, end, a field per group (SERVICE, LINKED_ACCOUNT, a tag's key…), each metric's amount and unit, estimated")
                    .key_field("id")
                    .cursor_field("date"),
            )
            .config_schema(config_schema())
            .host(api.clone())
            .secret(SecretSpec::new("aws_access_key_id").description("Access key id of an IAM user or role with ce:GetCostAndUsage").host(api.clone()))
            .secret(SecretSpec::new("aws_secret_access_key").description("Its secret access key (only the host signs with it)").host(api.clone()))
            .secret(SecretSpec::new("aws_session_token").description("Session token, for temporary credentials").host(api.clone()).optional())
            .signing(
                SigningKey::aws_sigv4("aws", "aws_access_key_id", "aws_secret_access_key", "us-east-1", "ce")
                    .session_token_secret("aws_session_token")
                    .host(api),
            )
            .catalog(
                Catalog::new("AWS Cost Explorer")
                    .category(Category::CloudCost)
                    .icon_svg(ICON)
                    .documentation_url("https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_GetCostAndUsage.html")
                    .publisher("Wharf"),
            )
    }

    fn check(config: &Config) -> Result<()> {
        validate(config)?;
        // One day, one page: a request costs $0.01.
        let today = wharf_sdk::time::now_ms().div_euclid(86_400_000);
        let body = query::body(config, today - 1, today, None);
        query::send(config, &body)?;
        Ok(())
    }

    fn fetch(config: &Config, stream: &str, cursor: Option<&str>) -> Result<Page> {
        if stream != "costs" {
            return Err(Error::Config(format!("unknown stream `{stream}` (costs)")));
        }
        validate(config)?;
        query::fetch(config, cursor)
    }
}

/// What Cost Explorer would refuse, said before a request is paid for.
fn validate(config: &Config) -> Result<()> {
    if !matches!(config.granularity.as_str(), "DAILY" | "MONTHLY") {
        return Err(Error::Config(format!(
            "granularity `{}`: DAILY or MONTHLY",
            config.granularity
        )));
    }
    if config.metrics.is_empty() {
        return Err(Error::config("`metrics` is empty"));
    }
    if let Some(m) = config
        .metrics
        .iter()
        .find(|m| !METRICS.contains(&m.as_str()))
    {
        return Err(Error::Config(format!(
            "unknown metric `{m}`: one of {}",
            METRICS.join(", ")
        )));
    }
    if config.group_by.len() > 2 {
        return Err(Error::config("Cost Explorer groups by at most two keys"));
    }
    if let Some(g) = config
        .group_by
        .iter()
        .find(|g| !matches!(g.kind.as_str(), "DIMENSION" | "TAG" | "COST_CATEGORY"))
    {
        return Err(Error::Config(format!(
            "group type `{}`: DIMENSION, TAG or COST_CATEGORY",
            g.kind
        )));
    }
    if !(1..=365 * 14).contains(&config.lookback_days) || !(0..=60).contains(&config.settle_days) {
        return Err(Error::config(
            "lookback_days is 1 to 5110 (Cost Explorer keeps 14 months, 38 with multi-year data on), settle_days 0 to 60",
        ));
    }
    Ok(())
}

fn config_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "granularity": {"type": "string", "enum": ["DAILY", "MONTHLY"], "default": "DAILY", "title": "Granularity", "description": "A record per day or per month"},
            "metrics": {"type": "array", "items": {"type": "string", "enum": METRICS}, "default": ["UnblendedCost"], "title": "Metrics", "description": "Cost Explorer metrics, e.g. UnblendedCost, AmortizedCost, UsageQuantity"},
            "group_by": {"type": "array", "maxItems": 2, "title": "Group by", "description": "At most two: {\"type\": \"DIMENSION\", \"key\": \"SERVICE\"}, {\"type\": \"TAG\", \"key\": \"team\"}, LINKED_ACCOUNT, REGION, USAGE_TYPE…",
                "items": {"type": "object", "required": ["type", "key"], "additionalProperties": false,
                    "properties": {"type": {"type": "string", "enum": ["DIMENSION", "TAG", "COST_CATEGORY"]}, "key": {"type": "string"}}},
                "default": [{"type": "DIMENSION", "key": "SERVICE"}]},
            "filter": {"type": "object", "title": "Filter", "description": "A Cost Explorer Expression ({\"Dimensions\": {\"Key\": \"LINKED_ACCOUNT\", \"Values\": [\"123456789012\"]}})"},
            "lookback_days": {"type": "integer", "minimum": 1, "default": 30, "title": "First pass reads back", "description": "Days the first run reads"},
            "settle_days": {"type": "integer", "minimum": 0, "maximum": 60, "default": 3, "title": "Days to read again", "description": "Each run reads again this many days before the last one ended: AWS revises recent costs"},
            "base_url": {"type": "string", "format": "uri", "title": "Endpoint", "description": "Leave empty for https://ce.us-east-1.amazonaws.com"}
        }
    })
}

export_connector!(AwsCost);
