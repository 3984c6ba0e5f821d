//! `azure-cost`: Azure Cost Management's Query API (`Query - Usage`) as a
//! source, one record per day and group, the token fetched by the host.
//!
//! - Microsoft Entra client credentials: the host posts the connection's
//!   `oauth_client_id` and `oauth_client_secret` to
//!   `{login_url}/{tenant_id}/oauth2/v2.0/token` for the scope
//!   `https://management.azure.com/.default` and renews the token when it
//!   expires or Azure answers 401; the connector never holds either.
//! - `POST {scope}/providers/Microsoft.CostManagement/query` for a
//!   subscription, resource group, billing account (and its departments,
//!   enrollment accounts, billing profiles, invoice sections, customers) or
//!   management group [`scope`]; daily granularity, grouped by up to two
//!   dimensions or one tag; the answer's `columns`/`rows` table becomes
//!   records by column name; `properties.nextLink` pages are the same body
//!   posted again. [`query`]
//! - Incremental like `aws-cost`: the next pass starts `settle_days` before
//!   the last one ended, since Azure revises recent days until they settle;
//!   upserts by (day, groups, currency) replace them. A pass is read in
//!   calendar-month windows, the longest daily range Azure answers whole.
//! - Throttling: the Query API spends a tenant-wide budget of query
//!   processing units (12 a 10 s, 60 a minute, 600 an hour) besides ARM's
//!   limits; a 429 waits for the longest of its `x-ms-ratelimit-*-retry-after`
//!   headers and `Retry-After`. [`api`]
//!
//! Built from Microsoft's REST reference and OpenAPI description
//! (`azure-rest-api-specs`, `costmanagement.json` 2023-11-01); see
//! `docs/vendors/cloud-cost.md` §2.

mod api;
mod query;
mod scope;

use serde::Deserialize;
use wharf_sdk::OAuth2;
use wharf_sdk::catalog::{Catalog, Category, RateBudget};
use wharf_sdk::prelude::*;

/// The Azure Resource Manager origin.
const API: &str = "https://management.azure.com";
/// The token endpoint: `{config.tenant_id}` may not sit in a placeholder's
/// default, so the override is the login origin (as Azure SDKs'
/// "authority host"), not the whole URL.
const TOKEN_URL: &str =
    "{config.login_url|https://login.microsoftonline.com}/{config.tenant_id}/oauth2/v2.0/token";
/// What the token is for: Azure Resource Manager, with the app's own roles.
const ARM_SCOPE: &str = "https://management.azure.com/.default";
/// The newest stable version whose OpenAPI description the tests check
/// requests against.
const API_VERSION: &str = "2023-11-01";

/// The connection config.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The Microsoft Entra tenant (directory) id or domain; read by the host.
    tenant_id: String,
    /// What to read: `/subscriptions/{id}`, `…/resourceGroups/{name}`,
    /// `/providers/Microsoft.Billing/billingAccounts/{id}[/…]`,
    /// `/providers/Microsoft.Management/managementGroups/{id}`.
    scope: String,
    /// `ActualCost` (default), `AmortizedCost` or `Usage`.
    #[serde(default = "actual_cost")]
    cost_type: String,
    /// Columns summed, at most two (default `Cost`).
    #[serde(default = "cost")]
    metrics: Vec<String>,
    /// At most two groups: `{"type": "Dimension"|"TagKey", "name": …}`.
    #[serde(default = "by_service")]
    group_by: Vec<Group>,
    /// A Query API filter expression, passed as it is.
    #[serde(default)]
    filter: Option<Value>,
    /// How far back the first pass reads.
    #[serde(default = "default_lookback")]
    lookback_days: i64,
    /// How many days before the last pass's end the next one starts again.
    #[serde(default = "default_settle")]
    settle_days: i64,
    /// The Cost Management API version.
    #[serde(default = "api_version")]
    api_version: String,
    /// Azure Resource Manager origin (default Azure's).
    #[serde(default)]
    base_url: Option<String>,
    /// Microsoft Entra login origin (default login.microsoftonline.com);
    /// read by the host.
    #[serde(default)]
    #[allow(dead_code)]
    login_url: Option<String>,
}

/// One `grouping` entry.
#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct Group {
    #[serde(rename = "type")]
    kind: String,
    name: String,
}

fn actual_cost() -> String {
    "ActualCost".into()
}
fn cost() -> Vec<String> {
    vec!["Cost".into()]
}
fn by_service() -> Vec<Group> {
    vec![Group {
        kind: "Dimension".into(),
        name: "ServiceName".into(),
    }]
}
fn default_lookback() -> i64 {
    30
}
fn default_settle() -> i64 {
    3
}
fn api_version() -> String {
    API_VERSION.into()
}

impl Config {
    /// The ARM origin, without a trailing slash.
    pub fn base(&self) -> &str {
        self.base_url
            .as_deref()
            .filter(|b| !b.trim().is_empty())
            .unwrap_or(API)
            .trim_end_matches('/')
    }
}

/// The Query API's types (`ExportType`).
const COST_TYPES: [&str; 3] = ["ActualCost", "AmortizedCost", "Usage"];

const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="12" fill="#0078d4"/><path d="M27 12h12L25 52H12z" fill="#fff"/><path d="M36 24l16 28H30l6-6h8z" fill="#9cd3ff"/></svg>"##;

pub struct AzureCost;

/// The one stream.
fn costs() -> StreamSpec {
    StreamSpec::new("costs")
        .description("One record per day, group and currency: date, end, a field per group (ServiceName, ResourceGroupName, a tag's key…), each cost column, currency")
        .key_field("id")
        .cursor_field("date")
}

impl Connector for AzureCost {
    type Config = Config;

    fn spec() -> Spec {
        let api = format!("{{config.base_url|{API}}}");
        Spec::new("azure-cost", env!("CARGO_PKG_VERSION"))
            .description(
                "Azure Cost Management: daily actual or amortized cost by service, resource group or \
                 tag for a subscription, resource group, billing account or management group, with \
                 the host's Microsoft Entra token; recent days read again until they settle.",
            )
            .role(Role::Source)
            .stream(costs())
            .config_schema(config_schema())
            .host(api.clone())
            .oauth2(OAuth2::client_credentials(TOKEN_URL).scope(ARM_SCOPE))
            // The tenant's query processing units: 12 every 10 s (a query
            // costs one per month of data at least), one at a time
            // (https://learn.microsoft.com/azure/cost-management-billing/costs/manage-automation).
            .rate_budget(RateBudget::new(api).per(12, 10).concurrency(1))
            .catalog(
                Catalog::new("Azure Cost Management")
                    .category(Category::CloudCost)
                    .icon_svg(ICON)
                    .documentation_url("https://learn.microsoft.com/rest/api/cost-management/query/usage")
                    .publisher("Wharf"),
            )
    }

    fn check(config: &Config) -> Result<()> {
        validate(config)?;
        // Today only: one query processing unit, and the groups and the
        // scope are checked by Azure as a sync would send them.
        let today = wharf_sdk::time::now_ms().div_euclid(86_400_000);
        let answer = query::first_page(config, today, today + 1)?;
        let rows = answer["properties"]["rows"].as_array().map_or(0, Vec::len);
        wharf_sdk::log::info(format!(
            "Cost Management answered for {} ({rows} rows today)",
            config.scope.trim()
        ));
        Ok(())
    }

    fn discover(config: &Config) -> Result<Vec<StreamSpec>> {
        validate(config)?;
        Ok(vec![costs().schema(query::schema(config))])
    }

    fn fetch(config: &Config, stream: &str, cursor: Option<&str>) -> Result<Page> {
        if stream != "costs" {
            return Err(Error::Config(format!("unknown stream `{stream}` (costs)")));
        }
        validate(config)?;
        query::fetch(config, cursor)
    }
}

/// What the Query API would refuse, said before a query spends the
/// tenant's budget.
fn validate(config: &Config) -> Result<()> {
    let tenant = config.tenant_id.trim();
    let plain = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    };
    if !plain(tenant) {
        return Err(Error::config(
            "tenant_id is the directory (tenant) id, a GUID, or its domain (contoso.onmicrosoft.com)",
        ));
    }
    scope::path(&config.scope)?;
    if !COST_TYPES.contains(&config.cost_type.as_str()) {
        return Err(Error::Config(format!(
            "cost_type `{}`: one of {}",
            config.cost_type,
            COST_TYPES.join(", ")
        )));
    }
    let named = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
    if config.metrics.is_empty() || config.metrics.len() > 2 {
        return Err(Error::config(
            "metrics: one or two cost columns (Cost, CostUSD, PreTaxCost, PreTaxCostUSD…); a query sums at most two",
        ));
    }
    if let Some(m) = config.metrics.iter().find(|m| !named(m)) {
        return Err(Error::Config(format!("metric `{m}` is not a column name")));
    }
    if config.metrics.len() == 2 && config.metrics[0] == config.metrics[1] {
        return Err(Error::config("metrics: the same column twice"));
    }
    if config.group_by.len() > 2 {
        return Err(Error::config("the Query API groups by at most two columns"));
    }
    for g in &config.group_by {
        if !matches!(g.kind.as_str(), "Dimension" | "TagKey") || g.name.trim().is_empty() {
            return Err(Error::Config(format!(
                "group {{\"type\": \"{}\", \"name\": \"{}\"}}: type Dimension or TagKey, and a name",
                g.kind, g.name
            )));
        }
    }
    // Two tag groups would come back as two unnamed TagKey/TagValue pairs.
    if config
        .group_by
        .iter()
        .filter(|g| g.kind == "TagKey")
        .count()
        > 1
    {
        return Err(Error::config("group by one tag at most"));
    }
    if !(1..=1125).contains(&config.lookback_days) || !(0..=60).contains(&config.settle_days) {
        return Err(Error::config(
            "lookback_days is 1 to 1125 (Cost Management answers 37 months back), settle_days 0 to 60",
        ));
    }
    let v = config.api_version.as_bytes();
    let dated = v.len() >= 10
        && v[..10].iter().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                *b == b'-'
            } else {
                b.is_ascii_digit()
            }
        })
        && (v.len() == 10 || &config.api_version[10..] == "-preview");
    if !dated {
        return Err(Error::config(
            "api_version is a date, YYYY-MM-DD (or YYYY-MM-DD-preview)",
        ));
    }
    Ok(())
}

fn config_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["tenant_id", "scope"],
        "properties": {
            "tenant_id": {"type": "string", "minLength": 1, "title": "Tenant (directory) id", "description": "The Microsoft Entra tenant of the app registration, a GUID or its domain"},
            "scope": {"type": "string", "minLength": 1, "title": "Scope", "description": "/subscriptions/{id}, /subscriptions/{id}/resourceGroups/{name}, /providers/Microsoft.Billing/billingAccounts/{id} (…/departments, enrollmentAccounts, billingProfiles, invoiceSections, customers) or /providers/Microsoft.Management/managementGroups/{id}; the app needs Cost Management Reader there"},
            "cost_type": {"type": "string", "enum": COST_TYPES, "default": "ActualCost", "title": "Costs", "description": "ActualCost (as billed), AmortizedCost (reservations spread over their term) or Usage"},
            "metrics": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "string"}, "default": ["Cost"], "title": "Columns", "description": "One or two columns to sum: Cost, CostUSD, PreTaxCost, PreTaxCostUSD…"},
            "group_by": {"type": "array", "maxItems": 2, "title": "Group by", "description": "At most two: {\"type\": \"Dimension\", \"name\": \"ServiceName\"}, ResourceGroupName, ResourceLocation, MeterCategory, SubscriptionName…, or one tag {\"type\": \"TagKey\", \"name\": \"team\"}",
                "items": {"type": "object", "required": ["type", "name"], "additionalProperties": false,
                    "properties": {"type": {"type": "string", "enum": ["Dimension", "TagKey"]}, "name": {"type": "string", "minLength": 1}}},
                "default": [{"type": "Dimension", "name": "ServiceName"}]},
            "filter": {"type": "object", "title": "Filter", "description": "A Query API filter ({\"dimensions\": {\"name\": \"ResourceGroupName\", \"operator\": \"In\", \"values\": [\"rg-web\"]}})"},
            "lookback_days": {"type": "integer", "minimum": 1, "maximum": 1125, "default": 30, "title": "First pass reads back", "description": "Days the first run reads"},
            "settle_days": {"type": "integer", "minimum": 0, "maximum": 60, "default": 3, "title": "Days to read again", "description": "Each run reads again this many days before the last one ended: Azure revises recent costs for up to 72 hours"},
            "api_version": {"type": "string", "default": API_VERSION, "title": "API version", "description": "Cost Management api-version"},
            "base_url": {"type": "string", "format": "uri", "title": "Resource Manager URL", "description": "Leave empty for https://management.azure.com"},
            "login_url": {"type": "string", "format": "uri", "title": "Login URL", "description": "Leave empty for https://login.microsoftonline.com (the token URL is {login_url}/{tenant_id}/oauth2/v2.0/token)"}
        }
    })
}

export_connector!(AzureCost);

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: Value) -> Config {
        let mut c = json!({"tenant_id": "contoso.onmicrosoft.com", "scope": "/subscriptions/00000000-0000-0000-0000-000000000000"});
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(c).unwrap()
    }

    #[test]
    fn configs_azure_would_refuse_are_refused_first() {
        assert!(validate(&config(json!({}))).is_ok());
        let refused = |extra: Value| validate(&config(extra)).unwrap_err();
        assert!(matches!(
            refused(json!({"tenant_id": "a/b"})),
            Error::Config(_)
        ));
        assert!(matches!(refused(json!({"metrics": []})), Error::Config(_)));
        assert!(matches!(
            refused(json!({"metrics": ["Cost", "Cost"]})),
            Error::Config(_)
        ));
        assert!(matches!(
            refused(json!({"cost_type": "Forecast"})),
            Error::Config(_)
        ));
        let two_tags =
            json!({"group_by": [{"type": "TagKey", "name": "a"}, {"type": "TagKey", "name": "b"}]});
        assert!(matches!(refused(two_tags), Error::Config(_)));
        assert!(matches!(
            refused(json!({"api_version": "latest"})),
            Error::Config(_)
        ));
        assert!(validate(&config(json!({"api_version": "2025-03-01-preview"}))).is_ok());
        assert!(matches!(
            refused(json!({"lookback_days": 0})),
            Error::Config(_)
        ));
    }
}
