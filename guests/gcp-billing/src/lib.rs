//! `gcp-billing`: Google Cloud's billing export in BigQuery as a source,
//! one record per day (or month) and group: cost, credits and net cost by
//! service, project, SKU, location or label.
//!
//! - A service account authenticates by the JWT bearer grant (RFC 7523):
//!   the host signs the assertion (RS256, `iss` the account's email,
//!   `scope` BigQuery read-only, `aud` Google's token endpoint) with the
//!   `private_key` secret and exchanges it for a token; the connector
//!   never holds the key or the token.
//! - The query runs as a BigQuery job (`jobs.query`), polled while it runs
//!   (pending pages: the host comes back later) and paged with
//!   `getQueryResults`; typed rows become JSON. [`costs`], [`rows`]
//! - Only the table name is written into the SQL, in backticks and after
//!   a strict check; dates, the time zone and label keys are query
//!   parameters. [`query`], [`config`]
//! - Incremental: each pass starts `settle_days` before the last one's
//!   last day, since the export is appended to several times a day and
//!   revises recent days; upserts by (date, groups) replace them.
//! - BigQuery's errors by their `reason` (`rateLimitExceeded` is a 403):
//!   waited, retried, renewed or reported. [`api`]
//!
//! Built from Google's documentation of the billing export schema, the
//! BigQuery API (its discovery document checks every request in the
//! tests) and the service-account flow; see `docs/vendors/cloud-cost.md`.

mod api;
mod config;
mod costs;
mod query;
mod rows;

use wharf_sdk::OAuth2;
use wharf_sdk::auth::SigningKey;
use wharf_sdk::catalog::{Catalog, Category, RateBudget};
use wharf_sdk::prelude::*;

pub use config::Config;
use config::{API, schema};

const TOKEN_URL: &str = "https://oauth2.googleapis.com/token";

/// The assertion's claims. `aud` is Google's token endpoint whatever
/// `token_url` says: Google checks the audience is exactly that, and an
/// override (a proxy, a test server) stands in for the same endpoint.
/// `{config.client_email}` is filled in by the host (JSON-escaped). The
/// scope is the read-only one BigQuery's discovery document lists for both
/// `jobs.query` and `jobs.getQueryResults` (`bigquery.readonly` is not
/// listed there, and a slow or paged query goes through the second).
const CLAIMS: &str = r#"{"iss":"{config.client_email}","scope":"https://www.googleapis.com/auth/cloud-platform.read-only","aud":"https://oauth2.googleapis.com/token","iat":{now},"exp":{exp}}"#;

const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="12" fill="#4285f4"/><path d="M16 44h32M20 40V28M30 40V20M40 40V32" stroke="#fff" stroke-width="5" stroke-linecap="round"/></svg>"##;

pub struct GcpBilling;

impl Connector for GcpBilling {
    type Config = Config;

    fn spec() -> Spec {
        let api = format!("{{config.base_url|{API}}}");
        let token = format!("{{config.token_url|{TOKEN_URL}}}");
        let default_groups = [
            config::Group {
                field: "service".into(),
                column: config::Column::Path("service.description"),
            },
            config::Group {
                field: "project".into(),
                column: config::Column::Path("project.id"),
            },
        ];
        Spec::new("gcp-billing", env!("CARGO_PKG_VERSION"))
            .description(
                "Google Cloud billing export in BigQuery: daily or monthly cost, credits and net cost \
                 by service, project, SKU or label, read with a service account; recent days read again \
                 until they settle.",
            )
            .role(Role::Source)
            .stream(costs::stream(&default_groups))
            .config_schema(schema())
            .host(api.clone())
            .secret(SecretSpec::new("private_key").description(
                "The service account's private key: `private_key` of its JSON key file (PKCS#8 PEM); only the host signs with it",
            ))
            .signing(
                SigningKey::jwt("service_account", "private_key", false, CLAIMS, 3600)
                    .host(token.clone()),
            )
            .oauth2(OAuth2::jwt_bearer(token, "service_account").token_lifetime_secs(3600))
            // BigQuery: 100 API requests a second per user and method
            // (https://cloud.google.com/bigquery/quotas#api_request_quotas);
            // a pass makes one query and a call per page or poll.
            .rate_budget(RateBudget::new(api).per(100, 1))
            .catalog(
                Catalog::new("Google Cloud Billing")
                    .category(Category::CloudCost)
                    .icon_svg(ICON)
                    .documentation_url(
                        "https://cloud.google.com/billing/docs/how-to/export-data-bigquery-tables/standard-usage",
                    )
                    .publisher("Wharf"),
            )
    }

    fn check(config: &Config) -> Result<()> {
        let groups = config.validate()?;
        costs::check(config, &groups)
    }

    fn discover(config: &Config) -> Result<Vec<StreamSpec>> {
        let groups = config.validate()?;
        Ok(vec![costs::stream(&groups)])
    }

    fn fetch(config: &Config, stream: &str, cursor: Option<&str>) -> Result<Page> {
        if stream != costs::STREAM {
            return Err(Error::Config(format!("unknown stream `{stream}` (costs)")));
        }
        let groups = config.validate()?;
        costs::fetch(config, &groups, cursor)
    }
}

export_connector!(GcpBilling);
