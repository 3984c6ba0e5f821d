//! `sage`: one Sage Business Cloud Accounting business (API v3.1) as a
//! source: the chart of accounts, the ledger, contacts, sales and purchase
//! documents, payments, bank accounts, products and tax rates.
//!
//! - OAuth2 authorization code, the client's credentials in the token
//!   request's form (as Sage's guide shows them). Access tokens live five
//!   minutes and every refresh token is good once: the host refreshes
//!   before a token runs out (or when Sage refuses one) and keeps the
//!   newest refresh token of each rotation.
//! - One connection reads one business: the config's `business_id`, or the
//!   only one `GET /businesses` lists; every call names it in
//!   `X-Business`, and an answer for another business is refused.
//!   [`business`]
//! - Lists by `page`/`items_per_page` (at most 200) with `attributes=all`,
//!   ending where Sage's `$next` does; incremental by
//!   `updated_or_created_since` from the newest `updated_at` of the last
//!   pass. [`streams`]
//! - Sage's errors (an array of `$severity`/`$dataCode`/`$message`/
//!   `$source`) in its own words, each status as the error kind that tells
//!   the host what to do. [`api`]
//! - Sage's limits (100 calls a minute and 2,500 a day per business) are
//!   declared as the connection's rate budget, so the host keeps them
//!   across runs.
//!
//! Built from Sage's guides and its published Swagger description; see
//! `docs/vendors/sage.md`.

mod api;
mod business;
mod streams;

use serde::Deserialize;
use wharf_sdk::OAuth2;
use wharf_sdk::auth::ClientAuth;
use wharf_sdk::catalog::{Catalog, Category, RateBudget};
use wharf_sdk::prelude::*;

const API: &str = "https://api.accounting.sage.com";

/// The connection config.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The business; empty: the only one the consent covers.
    #[serde(default)]
    business_id: Option<String>,
    /// Records a page (Sage: 20 by default, at most 200).
    #[serde(default = "default_items_per_page")]
    items_per_page: u32,
    /// The first pass reads what changed from this date on (`YYYY-MM-DD`
    /// or RFC 3339); empty: everything.
    #[serde(default)]
    start_date: Option<String>,
    /// API origin (default Sage's).
    #[serde(default)]
    base_url: Option<String>,
    /// OAuth2 endpoints (defaults Sage's); read by the host.
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

    /// Records a page, within what Sage allows.
    pub fn per_page(&self) -> u32 {
        self.items_per_page.clamp(1, 200)
    }

    /// The business the config names, if it names one.
    pub fn business(&self) -> Option<&str> {
        self.business_id
            .as_deref()
            .map(str::trim)
            .filter(|b| !b.is_empty())
    }
}

fn default_items_per_page() -> u32 {
    200
}

const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="12" fill="#00d639"/><path d="M22 40c2 3 6 4 10 4 5 0 9-2 9-6 0-9-18-5-18-13 0-4 4-6 9-6 4 0 7 1 9 3" fill="none" stroke="#fff" stroke-width="5" stroke-linecap="round"/></svg>"##;

pub struct Sage;

impl Connector for Sage {
    type Config = Config;

    fn spec() -> Spec {
        let api = format!("{{config.base_url|{API}}}");
        let mut oauth = OAuth2::authorization_code(
            "{config.auth_url|https://www.sageone.com/oauth2/auth/central}",
            "{config.token_url|https://oauth.accounting.sage.com/token}",
        )
        // Only countries that offer v3.1 are listed on Sage's page.
        .authorize_param("filter", "apiv3.1")
        // A source reads: `readonly` rather than `full_access`.
        .scope("readonly")
        .client_auth(ClientAuth::Post)
        // Sage's access tokens live five minutes.
        .token_lifetime_secs(300)
        // Sage adds the business's country to the callback.
        .info_field("country");
        // Sage documents no PKCE; a challenge it ignores protects nothing.
        oauth.pkce = false;
        let mut spec = Spec::new("sage", env!("CARGO_PKG_VERSION"))
            .description(
                "Sage Business Cloud Accounting (API v3.1): ledger accounts, transactions, \
                 ledger entries, journals, contacts, sales and purchase invoices and credit notes, \
                 payments, bank accounts, products and tax rates, incremental by \
                 updated_or_created_since.",
            )
            .role(Role::Source)
            .config_schema(config_schema())
            .host(api.clone())
            .oauth2(oauth)
            // Per business: 100 calls a minute, 2,500 a day. Sage's v3.0
            // guide said 200 a minute; the stricter figure is kept until
            // Sage publishes v3.1's (docs/vendors/sage.md §6).
            .rate_budget(RateBudget::new(api).per(100, 60).daily(2500))
            .catalog(
                Catalog::new("Sage Accounting")
                    .category(Category::Accounting)
                    .icon_svg(ICON)
                    .documentation_url("https://developer.sage.com/accounting/reference/")
                    .publisher("Wharf"),
            );
        for stream in streams::STREAMS {
            spec = spec.stream(
                StreamSpec::new(stream.name)
                    .description(stream.description)
                    .key_field("id")
                    .cursor_field("updated_at"),
            );
        }
        spec
    }

    fn check(config: &Config) -> Result<()> {
        let business = business::resolve(config)?;
        let country = wharf_sdk::oauth_fact("country")
            .map(|c| format!(", country {c}"))
            .unwrap_or_default();
        wharf_sdk::log::info(format!(
            "connected to the Sage business {} ({}){country}",
            business.name, business.id
        ));
        // One cheap call in the business proves the header and the user's
        // access to its books.
        api::send(
            &business.id,
            api::get(config, "/ledger_accounts")
                .query("items_per_page", 1)
                .query("page", 1),
        )?;
        Ok(())
    }

    fn fetch(config: &Config, stream: &str, cursor: Option<&str>) -> Result<Page> {
        let business = business::id(config)?;
        streams::fetch(config, &business, stream, cursor)
    }
}

fn config_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "business_id": {"type": "string", "title": "Business (id)", "description": "The Sage business to read; leave empty when the consent covers one business (check lists them when there are several)"},
            "items_per_page": {"type": "integer", "minimum": 1, "maximum": 200, "default": 200, "title": "Page size", "description": "Records a request (at most 200); each request counts against the 100 a minute"},
            "start_date": {"type": "string", "title": "Start date", "description": "The first sync reads records created or changed from this date on (YYYY-MM-DD or RFC 3339); empty: everything"},
            "base_url": {"type": "string", "format": "uri", "title": "API URL", "description": "Leave empty for https://api.accounting.sage.com"},
            "auth_url": {"type": "string", "format": "uri", "title": "Authorization URL", "description": "Leave empty for Sage's (www.sageone.com)"},
            "token_url": {"type": "string", "format": "uri", "title": "Token URL", "description": "Leave empty for Sage's (oauth.accounting.sage.com)"}
        }
    })
}

export_connector!(Sage);
