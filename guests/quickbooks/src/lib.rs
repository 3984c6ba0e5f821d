//! `quickbooks`: a QuickBooks Online company's transactions and lists as a
//! source, invoices, bills and the other entities as a destination, and
//! Intuit's webhooks as records.
//!
//! - OAuth2 authorization code with Basic client authentication; the
//!   company (`realmId`) comes back on the callback and the host keeps it
//!   for the connection ([`api::realm`]). Access tokens live an hour;
//!   refresh tokens roll and the host keeps the newest.
//! - Reads with the query language (`STARTPOSITION`/`MAXRESULTS`, ordered
//!   by `MetaData.LastUpdatedTime`, resumed by that time so an edit during
//!   a pass cannot hide a record), then incrementally with change data
//!   capture, which also reports deletions. [`streams`]
//! - Writes create and sparse-update entities, each with a `requestid`
//!   derived from the record so a retried batch is answered, not written
//!   twice; refusals become rejections with Intuit's message. [`push`]
//! - Every request carries `minorversion`; the 500 requests a minute and 10
//!   at once per company are the connection's rate budget.
//! - Webhooks: `intuit-signature` verified by the host; events name ids, so
//!   each changed entity is read back into its record. [`events`]
//!
//! Built from Intuit's developer documentation; see
//! `docs/vendors/quickbooks.md`.

mod api;
mod entities;
mod events;
mod push;
mod streams;

use serde::Deserialize;
use wharf_sdk::OAuth2;
use wharf_sdk::WebhookScheme;
use wharf_sdk::auth::{ClientAuth, Encoding, Hash};
use wharf_sdk::catalog::{Catalog, Category, RateBudget};
use wharf_sdk::prelude::*;
use wharf_sdk::webhook::Hmac;

const API: &str = "https://quickbooks.api.intuit.com";

/// The minor version every request asks for: Intuit answers older ones
/// (1–74) as the base version since August 2025.
const MINOR_VERSION: u32 = 75;

/// The connection config.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The API's schema version (`minorversion`).
    #[serde(default = "default_minor_version")]
    minor_version: u32,
    /// Records a query page (at most 1,000).
    #[serde(default = "default_page_size")]
    page_size: u32,
    /// Read only what changed on or after this day (`YYYY-MM-DD`).
    #[serde(default)]
    start_date: Option<String>,
    /// API origin (default Intuit's production; the sandbox is
    /// `https://sandbox-quickbooks.api.intuit.com`).
    #[serde(default)]
    base_url: Option<String>,
    /// OAuth2 endpoints (defaults Intuit's); read by the host.
    #[serde(default)]
    #[allow(dead_code)]
    auth_url: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    token_url: Option<String>,
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
}

fn default_minor_version() -> u32 {
    MINOR_VERSION
}

fn default_page_size() -> u32 {
    1000
}

const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><circle cx="32" cy="32" r="30" fill="#2ca01c"/><path d="M26 20h-4a12 12 0 0 0 0 24h4M26 16v36M38 44h4a12 12 0 0 0 0-24h-4M38 48V12" stroke="#fff" stroke-width="4" fill="none"/></svg>"##;

pub struct QuickBooks;

impl Connector for QuickBooks {
    type Config = Config;

    fn spec() -> Spec {
        let api = format!("{{config.base_url|{API}}}");
        let mut spec = Spec::new("quickbooks", env!("CARGO_PKG_VERSION"))
            .description(
                "QuickBooks Online: invoices, bills, payments, journal entries, customers, vendors, \
                 accounts and items; incremental by change data capture (with deletions); creates \
                 and updates entities; webhooks as records.",
            )
            .role(Role::Source)
            .role(Role::Destination)
            .config_schema(config_schema())
            .host(api.clone())
            .oauth2(
                OAuth2::authorization_code(
                    "{config.auth_url|https://appcenter.intuit.com/connect/oauth2}",
                    "{config.token_url|https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer}",
                )
                .scope("com.intuit.quickbooks.accounting")
                .client_auth(ClientAuth::Basic)
                .info_field("realmId")
                .token_lifetime_secs(3600),
            )
            // Per company: 500 requests a minute and 10 at once
            // (https://developer.intuit.com/app/developer/qbo/docs/learn/rest-api-features#limits-and-throttles).
            .rate_budget(RateBudget::new(api).per(500, 60).concurrency(10))
            .webhook(WebhookScheme::Hmac(Hmac::new(
                "intuit-signature",
                Hash::Sha256,
                Encoding::Base64,
                "{body}",
            )))
            .catalog(
                Catalog::new("QuickBooks Online")
                    .category(Category::Accounting)
                    .icon_svg(ICON)
                    .documentation_url(
                        "https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/invoice",
                    )
                    .publisher("Wharf"),
            );
        for entity in entities::ENTITIES {
            spec = spec.stream(
                StreamSpec::new(entity.stream)
                    .description(entity.description)
                    .key_field("Id")
                    .cursor_field("MetaData.LastUpdatedTime"),
            );
        }
        spec
    }

    fn check(config: &Config) -> Result<()> {
        let realm = api::realm()?;
        let response = api::send(api::get(
            config,
            &realm,
            &format!("companyinfo/{}", wharf_sdk::http::encode(&realm)),
        ))?;
        let body: Value = response.json()?;
        let name = body["CompanyInfo"]["CompanyName"]
            .as_str()
            .unwrap_or("(unnamed)");
        wharf_sdk::log::info(format!("connected to the company {name} ({realm})"));
        Ok(())
    }

    fn fetch(config: &Config, stream: &str, cursor: Option<&str>) -> Result<Page> {
        let realm = api::realm()?;
        streams::fetch(config, &realm, stream, cursor)
    }

    fn push(config: &Config, records: Vec<Record>) -> Result<PushResult> {
        let realm = api::realm()?;
        push::push(config, &realm, records)
    }

    fn receive(config: &Config, delivery: Delivery) -> Result<Vec<Record>> {
        events::receive(config, delivery)
    }
}

fn config_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "minor_version": {"type": "integer", "minimum": 75, "default": MINOR_VERSION, "title": "Minor version", "description": "The API schema version every request asks for (Intuit serves 75 and later)"},
            "page_size": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 1000, "title": "Page size", "description": "Entities a query page (MAXRESULTS, at most 1000)"},
            "start_date": {"type": "string", "format": "date", "title": "Start date", "description": "Read only entities changed on or after this day; empty reads everything"},
            "base_url": {"type": "string", "format": "uri", "title": "API URL", "description": "Leave empty for https://quickbooks.api.intuit.com; a sandbox company uses https://sandbox-quickbooks.api.intuit.com"},
            "auth_url": {"type": "string", "format": "uri", "title": "Authorization URL", "description": "Leave empty for Intuit's (appcenter.intuit.com)"},
            "token_url": {"type": "string", "format": "uri", "title": "Token URL", "description": "Leave empty for Intuit's (oauth.platform.intuit.com)"}
        }
    })
}

export_connector!(QuickBooks);
