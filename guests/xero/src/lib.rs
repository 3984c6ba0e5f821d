//! `xero`: a Xero organisation's invoices, bank transactions, contacts,
//! chart of accounts and journals as a source, and Xero's webhooks as
//! records.
//!
//! - OAuth2 authorization code with Basic client authentication and
//!   `offline_access`; Xero rotates the refresh token on every refresh and
//!   the host keeps the newest. Access tokens live 30 minutes.
//! - One connection reads one organisation (tenant): the config's
//!   `tenant_id`, or the only one `GET /connections` lists; every call
//!   carries `Xero-Tenant-Id`. [`tenant`]
//! - Paged streams by `page`/`pageSize`, journals by `offset`, incremental
//!   by `If-Modified-Since`; Xero's `/Date(…)/` values become RFC 3339.
//!   [`streams`]
//! - Xero's limits (60 calls a minute, 5 at once, 5,000 a day per
//!   organisation) are declared as the connection's rate budget, so the
//!   host keeps them across runs and deliveries.
//! - Webhooks: `x-xero-signature` verified by the host, the intent to
//!   receive answered 200/401 with no body; events are fetched by their
//!   resource id into records. [`events`]
//!
//! Built from Xero's documentation and its OpenAPI description (the fake
//! in the tests checks every request against it); see
//! `docs/vendors/xero.md`.

mod api;
mod events;
mod streams;
mod tenant;

use serde::Deserialize;
use wharf_sdk::OAuth2;
use wharf_sdk::WebhookScheme;
use wharf_sdk::auth::{ClientAuth, Encoding, Hash};
use wharf_sdk::catalog::{Catalog, Category, RateBudget};
use wharf_sdk::prelude::*;
use wharf_sdk::webhook::{Hmac, Webhook};

const API: &str = "https://api.xero.com";

/// The connection config.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The organisation; empty: the only one the consent covers.
    #[serde(default)]
    tenant_id: Option<String>,
    /// Records a page (Xero: 100 by default, at most 1,000).
    #[serde(default = "default_page_size")]
    page_size: u32,
    /// Also read archived contacts.
    #[serde(default)]
    include_archived: bool,
    /// API origin (default Xero's).
    #[serde(default)]
    base_url: Option<String>,
    /// OAuth2 endpoints (defaults Xero's); read by the host.
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

fn default_page_size() -> u32 {
    100
}

const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><circle cx="32" cy="32" r="30" fill="#13b5ea"/><path d="M20 22l24 20M44 22L20 42" stroke="#fff" stroke-width="5" stroke-linecap="round"/></svg>"##;

pub struct Xero;

impl Connector for Xero {
    type Config = Config;

    fn spec() -> Spec {
        let api = format!("{{config.base_url|{API}}}");
        let mut spec = Spec::new("xero", env!("CARGO_PKG_VERSION"))
            .description(
                "Xero accounting: invoices, bank transactions, contacts, accounts and journals, \
                 incremental by If-Modified-Since; webhooks as records.",
            )
            .role(Role::Source)
            .config_schema(config_schema())
            .host(api.clone())
            .oauth2(
                OAuth2::authorization_code(
                    "{config.auth_url|https://login.xero.com/identity/connect/authorize}",
                    "{config.token_url|https://identity.xero.com/connect/token}",
                )
                .scope("offline_access accounting.transactions.read accounting.contacts.read accounting.settings.read accounting.journals.read")
                .client_auth(ClientAuth::Basic)
                .token_lifetime_secs(1800),
            )
            // Per organisation: 60 calls a minute, 5 at once, 5,000 a day
            // (https://developer.xero.com/documentation/guides/oauth2/limits/).
            .rate_budget(RateBudget::new(api).per(60, 60).concurrency(5).daily(5000))
            .webhook(
                Webhook::new(WebhookScheme::Hmac(Hmac::new(
                    "x-xero-signature",
                    Hash::Sha256,
                    Encoding::Base64,
                    "{body}",
                )))
                .plain_replies(),
            )
            .catalog(
                Catalog::new("Xero")
                    .category(Category::Accounting)
                    .icon_svg(ICON)
                    .documentation_url("https://developer.xero.com/documentation/api/accounting/overview")
                    .publisher("Wharf"),
            );
        for stream in streams::STREAMS {
            let mut s = StreamSpec::new(stream.name)
                .description(stream.description)
                .key_field(stream.key);
            if let Some(cursor) = stream.cursor_field {
                s = s.cursor_field(cursor);
            }
            spec = spec.stream(s);
        }
        spec
    }

    fn check(config: &Config) -> Result<()> {
        let tenant = tenant::resolve(config)?;
        wharf_sdk::log::info(format!(
            "connected to the organisation {} ({})",
            tenant.name, tenant.id
        ));
        // One cheap call with the tenant header proves the organisation
        // and the scopes: accounts changed from now on (none).
        let now = wharf_sdk::time::now_ms() / 1000;
        api::send(
            config,
            &tenant.id,
            api::get(config, "Accounts").header(
                "If-Modified-Since",
                wharf_sdk::time::rfc3339(now).trim_end_matches('Z'),
            ),
        )?;
        Ok(())
    }

    fn fetch(config: &Config, stream: &str, cursor: Option<&str>) -> Result<Page> {
        let tenant = tenant::id(config)?;
        streams::fetch(config, &tenant, stream, cursor)
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
            "tenant_id": {"type": "string", "title": "Organisation (tenant id)", "description": "The Xero organisation to read; leave empty when the consent covers one organisation (check lists them when there are several)"},
            "page_size": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100, "title": "Page size", "description": "Records a request (Xero's default 100, at most 1000); each request counts against the 60 a minute"},
            "include_archived": {"type": "boolean", "default": false, "title": "Archived contacts", "description": "Also read archived contacts"},
            "base_url": {"type": "string", "format": "uri", "title": "API URL", "description": "Leave empty for https://api.xero.com"},
            "auth_url": {"type": "string", "format": "uri", "title": "Authorization URL", "description": "Leave empty for Xero's (login.xero.com)"},
            "token_url": {"type": "string", "format": "uri", "title": "Token URL", "description": "Leave empty for Xero's (identity.xero.com)"}
        }
    })
}

export_connector!(Xero);
