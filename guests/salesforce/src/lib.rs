//! `salesforce`: a Salesforce org's objects as a source (every queryable
//! object, discovered with its fields) and as a destination (upserts by an
//! external id).
//!
//! - OAuth 2.0 web-server flow (authorization code with PKCE, `api
//!   refresh_token` scopes) run by the host against `login_url` (default
//!   `https://login.salesforce.com`; `https://test.salesforce.com` for a
//!   sandbox, or the org's My Domain). The host keeps the token response's
//!   `instance_url`, which is the API's origin unless `base_url` overrides
//!   it. Built with the `jwt-bearer` feature, the same connector is
//!   `salesforce-jwt`: the JWT bearer flow (RFC 7523), its RS256 assertion
//!   signed by the host with the connection's `private_key`. [`auth`]
//! - Streams are objects by API name (`Account`, `Invoice__c`): the config's
//!   `objects` (a CRM set by default, `*` for every queryable one),
//!   discovered with `describeGlobal` and each object's `describe`. [`describe`]
//! - SOQL through `/query` (`nextRecordsUrl` pages), incremental on
//!   `SystemModstamp` (else `LastModifiedDate`, `CreatedDate`) with
//!   `WHERE … > bound ORDER BY …`; later passes use `/queryAll` so deleted
//!   records arrive as deletes. [`query`]
//! - Large objects through Bulk API 2.0 query jobs (by `bulk_objects`, or
//!   when a pass finds more than `bulk_threshold` records): CSV result sets
//!   by `Sforce-Locator`, parsed into typed records or kept whole as blobs.
//!   [`bulk`]
//! - Destination: `PATCH /sobjects/{object}/{externalIdField}/{value}`
//!   (201 created, 200/204 updated); Salesforce's per-record errors become
//!   rejections naming the field. [`push`]
//! - Limits: `Sforce-Limit-Info: api-usage=N/M` is logged and can stop a run
//!   before the org's daily quota is spent; `REQUEST_LIMIT_EXCEEDED` is a
//!   rate limit, `INVALID_SESSION_ID` an expired session the host renews.
//!   [`api`]
//!
//! Sources are in `docs/vendors/salesforce.md`.

pub mod api;
pub mod auth;
pub mod bulk;
pub mod csv;
pub mod describe;
pub mod push;
pub mod query;

use std::collections::BTreeMap;

use serde::Deserialize;
use wharf_sdk::catalog::{Catalog, Category, RateBudget};
use wharf_sdk::prelude::*;

/// Objects offered when the config names none: the CRM core.
pub const DEFAULT_OBJECTS: [&str; 6] =
    ["Account", "Contact", "Lead", "Opportunity", "Case", "User"];

/// How a Bulk API 2.0 result set reaches the sync.
#[derive(Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BulkOutput {
    /// Each CSV row as a typed record, as `/query` would give it.
    #[default]
    Records,
    /// Each result set as one record whose blob is the CSV (for files
    /// destinations and very wide objects).
    Csv,
}

/// The connection config.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Objects offered as streams; `*`: every queryable object.
    #[serde(default = "default_objects")]
    pub objects: Vec<String>,
    /// Per object, the fields read and written (default: every field that
    /// is not compound or binary).
    #[serde(default)]
    pub fields: BTreeMap<String, Vec<String>>,
    /// Objects always read with Bulk API 2.0.
    #[serde(default)]
    pub bulk_objects: Vec<String>,
    /// A pass that finds more records than this goes to Bulk API 2.0 (0:
    /// never by count).
    #[serde(default = "default_bulk_threshold")]
    pub bulk_threshold: u64,
    /// Bulk result sets as records or as CSV blobs.
    #[serde(default)]
    pub bulk_output: BulkOutput,
    /// Records per Bulk result set (`maxRecords`).
    #[serde(default = "default_bulk_page_size")]
    pub bulk_page_size: u32,
    /// Seconds between polls of a Bulk job.
    #[serde(default = "default_bulk_poll_secs")]
    pub bulk_poll_secs: u32,
    /// Records per `/query` page (`Sforce-Query-Options: batchSize`).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Incremental passes read deleted records too (`queryAll`) and pass
    /// them on as deletes.
    #[serde(default = "default_true")]
    pub include_deleted: bool,
    /// Seconds each incremental pass looks back before its bound.
    #[serde(default = "default_lookback")]
    pub lookback_secs: i64,
    /// The first pass reads records changed from this time (RFC 3339).
    #[serde(default)]
    pub start_date: Option<String>,
    /// Destination: per object, the external id field records are upserted by.
    #[serde(default)]
    pub external_ids: BTreeMap<String, String>,
    /// REST API version (`62.0`).
    #[serde(default = "default_version")]
    pub api_version: String,
    /// Stop (as rate limited) once the org has used this share of its daily
    /// API requests, leaving the rest to other integrations.
    #[serde(default)]
    pub api_usage_limit_percent: Option<u32>,
    /// The org's API origin, instead of the token's `instance_url`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// The OAuth2 host (read by the host).
    #[serde(default)]
    #[allow(dead_code)]
    pub login_url: Option<String>,
    /// JWT bearer flow: the connected app's consumer key, the user, and
    /// the assertion's audience (read by the host's signer).
    #[serde(default)]
    #[allow(dead_code)]
    pub client_id: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    pub username: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    pub audience: Option<String>,
}

fn default_objects() -> Vec<String> {
    DEFAULT_OBJECTS.iter().map(|s| s.to_string()).collect()
}
fn default_bulk_threshold() -> u64 {
    20_000
}
fn default_bulk_page_size() -> u32 {
    5_000
}
fn default_bulk_poll_secs() -> u32 {
    10
}
fn default_page_size() -> u32 {
    2_000
}
fn default_true() -> bool {
    true
}
fn default_lookback() -> i64 {
    300
}
fn default_version() -> String {
    api::DEFAULT_VERSION.to_string()
}

impl Config {
    /// Whether `object` is one of the configured streams.
    pub fn offers(&self, object: &str) -> bool {
        self.objects
            .iter()
            .any(|o| o == "*" || o.eq_ignore_ascii_case(object))
    }

    /// The configured fields of `object`, if any.
    pub fn fields_of(&self, object: &str) -> Option<&[String]> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(object))
            .map(|(_, v)| v.as_slice())
    }
}

/// An object or field API name: letters, digits and `_`, starting with a
/// letter. Anything else could change a SOQL statement or a URL.
pub fn is_api_name(name: &str) -> bool {
    name.len() <= 80
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><path fill="#00a1e0" d="M26 15a11 11 0 0 1 9 4 10 10 0 0 1 16 4 12 12 0 1 1-2 24 9 9 0 0 1-12 4 11 11 0 0 1-20-1 9 9 0 0 1-7-15 10 10 0 0 1 6-16 11 11 0 0 1 10-4z"/></svg>"##;

pub struct Salesforce;

impl Connector for Salesforce {
    type Config = Config;

    fn spec() -> Spec {
        let spec = Spec::new(auth::NAME, env!("CARGO_PKG_VERSION"))
            .description(
                "Salesforce: every queryable object (discovered with its fields) by SOQL, \
                 incremental on SystemModstamp with deletes, Bulk API 2.0 for large objects; \
                 upserts by external id with per-record rejections.",
            )
            .role(Role::Source)
            .role(Role::Destination)
            .config_schema(config_schema())
            // Instance URLs: MyDomain.my.salesforce.com, instances on
            // salesforce.com, and Experience Cloud / Lightning on force.com.
            .host("https://*.salesforce.com")
            .host("https://*.force.com")
            .host(format!("{{config.login_url|{}}}", auth::LOGIN))
            .host(format!("{{config.base_url|{}}}", auth::LOGIN))
            // Salesforce allows 25 long-running requests at once per org;
            // one connection keeps well under it.
            .rate_budget(RateBudget::new("https://*.salesforce.com").concurrency(10))
            .rate_budget(RateBudget::new("https://*.force.com").concurrency(10))
            .catalog(
                Catalog::new("Salesforce")
                    .category(Category::Crm)
                    .icon_svg(ICON)
                    .documentation_url(
                        "https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/",
                    )
                    .publisher("Wharf"),
            );
        auth::declare(spec)
    }

    fn check(config: &Config) -> Result<()> {
        let api = api::Api::new(config)?;
        let objects = describe::global(&api)?;
        let mut missing = Vec::new();
        for wanted in config.objects.iter().filter(|o| o.as_str() != "*") {
            let found = objects.iter().find(|o| o.name.eq_ignore_ascii_case(wanted));
            match found {
                Some(o) if o.queryable => {}
                Some(_) => missing.push(format!("{wanted} (not queryable)")),
                None => missing.push(wanted.clone()),
            }
        }
        if !missing.is_empty() {
            return Err(Error::Config(format!(
                "objects this user cannot read in the org: {} (check the names and the user's object permissions)",
                missing.join(", ")
            )));
        }
        let org = wharf_sdk::oauth_fact("id")
            .and_then(|id| id.split('/').rev().nth(1).map(str::to_string))
            .map(|o| format!(" (org {o})"))
            .unwrap_or_default();
        wharf_sdk::log::info(format!(
            "connected to {}{org}, API v{}: {} objects queryable{}",
            api.origin(),
            api.version(),
            objects.iter().filter(|o| o.queryable).count(),
            api::usage_text()
        ));
        Ok(())
    }

    fn discover(config: &Config) -> Result<Vec<StreamSpec>> {
        let api = api::Api::new(config)?;
        describe::streams(config, &api)
    }

    fn fetch(config: &Config, stream: &str, cursor: Option<&str>) -> Result<Page> {
        if !is_api_name(stream) || !config.offers(stream) {
            return Err(Error::Config(format!(
                "`{stream}` is not one of this connection's objects ({})",
                config.objects.join(", ")
            )));
        }
        let api = api::Api::new(config)?;
        query::fetch(config, &api, stream, cursor)
    }

    fn push(config: &Config, records: Vec<Record>) -> Result<PushResult> {
        let api = api::Api::new(config)?;
        push::push(config, &api, &records)
    }
}

fn config_schema() -> Value {
    let mut schema = json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "objects": {"type": "array", "items": {"type": "string"}, "default": DEFAULT_OBJECTS, "title": "Objects", "description": "Object API names offered as streams (Account, Invoice__c); `*` offers every object the user can query"},
            "fields": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}, "title": "Fields per object", "description": "Only these fields are read (Id and the cursor field are always added) and written; default every field but compound (address, location) and binary ones"},
            "bulk_objects": {"type": "array", "items": {"type": "string"}, "title": "Bulk objects", "description": "Objects always read with Bulk API 2.0 query jobs"},
            "bulk_threshold": {"type": "integer", "minimum": 0, "default": 20000, "title": "Bulk threshold", "description": "A pass that finds more records than this is read with Bulk API 2.0 instead of /query (0: never by count)"},
            "bulk_output": {"type": "string", "enum": ["records", "csv"], "default": "records", "title": "Bulk output", "description": "records: each CSV row as a typed record; csv: each result set as a record carrying the CSV as a blob"},
            "bulk_page_size": {"type": "integer", "minimum": 1, "maximum": 100000, "default": 5000, "title": "Bulk result set size", "description": "Records per Bulk API 2.0 result set (maxRecords)"},
            "bulk_poll_secs": {"type": "integer", "minimum": 1, "maximum": 600, "default": 10, "title": "Bulk poll interval", "description": "Seconds between checks of a running Bulk query job"},
            "page_size": {"type": "integer", "minimum": 200, "maximum": 2000, "default": 2000, "title": "Page size", "description": "Records per /query page (Salesforce takes 200 to 2000)"},
            "include_deleted": {"type": "boolean", "default": true, "title": "Deletes", "description": "Incremental passes also read deleted records (queryAll) and pass them on as deletes"},
            "lookback_secs": {"type": "integer", "minimum": 0, "default": 300, "title": "Lookback", "description": "Seconds each incremental pass reads again before its bound, for records committed late"},
            "start_date": {"type": "string", "format": "date-time", "title": "Start date", "description": "The first pass reads records changed from this time (e.g. 2020-01-01T00:00:00Z); empty: all"},
            "external_ids": {"type": "object", "additionalProperties": {"type": "string"}, "title": "External id fields", "description": "Destination: per object, the external id field records are upserted by (Account: External_Id__c); its value is the record's field of that name, else the record's key"},
            "api_version": {"type": "string", "pattern": "^v?[0-9]{2,3}\\.[0-9]$", "default": api::DEFAULT_VERSION, "title": "API version"},
            "api_usage_limit_percent": {"type": "integer", "minimum": 1, "maximum": 100, "title": "API usage limit", "description": "Stop a run (as rate limited, retried later) once the org has used this share of its daily API requests"},
            "base_url": {"type": "string", "format": "uri", "title": "Instance URL", "description": "The org's API origin (https://MyDomain.my.salesforce.com); empty: the instance_url Salesforce returns with the token"},
            "login_url": {"type": "string", "format": "uri", "title": "Login URL", "description": "Where OAuth2 runs: https://login.salesforce.com (default), https://test.salesforce.com for sandboxes, or the org's My Domain"}
        }
    });
    auth::config_schema(&mut schema);
    schema
}

export_connector!(Salesforce);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_names() {
        for ok in ["Account", "Invoice__c", "ns__Thing__c", "SystemModstamp"] {
            assert!(is_api_name(ok), "{ok}");
        }
        for bad in [
            "",
            "1Account",
            "Account WHERE",
            "a.b",
            "Acc'ount",
            "Name,Id",
        ] {
            assert!(!is_api_name(bad), "{bad}");
        }
    }

    #[test]
    fn the_default_config_offers_the_crm_core() {
        let c: Config = serde_json::from_value(json!({})).unwrap();
        assert!(c.offers("account") && c.offers("User") && !c.offers("Invoice__c"));
        let all: Config = serde_json::from_value(json!({"objects": ["*"]})).unwrap();
        assert!(all.offers("Invoice__c"));
        assert!(serde_json::from_value::<Config>(json!({"nope": 1})).is_err());
    }
}
