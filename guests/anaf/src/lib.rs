//! `anaf`: Romania's tax authority. The public VAT registry as a mapper
//! (`lookup`: a record's CUI → the company's registration, VAT and
//! e-Factura status), and RO e-Factura: invoices uploaded as a destination
//! (UBL XML, the outcome read back), messages and invoices as sources.
//!
//! OAuth2 by ANAF's authorization server: the administrator signs in with
//! a qualified certificate once, in the browser; the host refreshes the
//! tokens (90-day access, 365-day refresh, both rotated) without it.
//!
//! Built from ANAF's published service descriptions; see
//! `docs/vendors/anaf.md`.

mod efactura;
mod lookup;
mod ubl;

use serde::Deserialize;
use wharf_sdk::OAuth2;
use wharf_sdk::auth::ClientAuth;
use wharf_sdk::catalog::{Catalog, Category, RateBudget};
use wharf_sdk::prelude::*;

const API: &str = "https://api.anaf.ro";
const PUBLIC: &str = "https://webservicesp.anaf.ro";

/// The connection config.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The company's CIF (digits, without `RO`), for e-Factura.
    #[serde(default)]
    cif: Option<String>,
    /// `prod` or `test`.
    #[serde(default = "prod")]
    environment: String,
    #[serde(default = "ubl_standard")]
    standard: String,
    /// Seconds an upload's status is polled before it counts as accepted.
    #[serde(default = "default_poll")]
    poll_secs: u32,
    /// The `messages` stream's `filtru` (E, T, P, R; all when absent).
    #[serde(default)]
    filter: Option<String>,
    /// Which invoices the `invoices` stream reads: `P` received, `T` sent.
    #[serde(default = "received")]
    invoice_filter: String,
    /// Days a first run reads back (at most 60, ANAF's window).
    #[serde(default = "default_first_days")]
    first_days: i64,
    /// The record field holding the CUI to look up.
    #[serde(default = "cui_field")]
    cui_field: String,
    /// The date the registry is read at (default today).
    #[serde(default)]
    lookup_date: Option<String>,
    #[serde(default)]
    api_url: Option<String>,
    #[serde(default)]
    public_url: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    auth_url: Option<String>,
}

fn prod() -> String {
    "prod".into()
}
fn ubl_standard() -> String {
    "UBL".into()
}
fn default_poll() -> u32 {
    10
}
fn received() -> String {
    "P".into()
}
fn default_first_days() -> i64 {
    30
}
fn cui_field() -> String {
    "cui".into()
}

impl Config {
    fn api(&self) -> &str {
        self.api_url
            .as_deref()
            .filter(|u| !u.is_empty())
            .unwrap_or(API)
            .trim_end_matches('/')
    }

    fn public(&self) -> &str {
        self.public_url
            .as_deref()
            .filter(|u| !u.is_empty())
            .unwrap_or(PUBLIC)
            .trim_end_matches('/')
    }

    fn cif(&self) -> Result<String> {
        let cif = self
            .cif
            .as_deref()
            .unwrap_or("")
            .trim()
            .trim_start_matches("RO")
            .to_string();
        if cif.is_empty() || !cif.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::Config(
                "e-Factura needs the company's `cif` (digits, without RO)".into(),
            ));
        }
        Ok(cif)
    }
}

/// Today (UTC) as `YYYY-MM-DD`.
pub(crate) fn today() -> String {
    wharf_sdk::time::date(wharf_sdk::time::now_ms() / 1000)
}

const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="12" fill="#002b7f"/><rect x="12" y="20" width="13" height="24" fill="#002b7f" stroke="#fff" stroke-width="2"/><rect x="25" y="20" width="14" height="24" fill="#fcd116"/><rect x="39" y="20" width="13" height="24" fill="#ce1126"/></svg>"##;

pub struct Anaf;

impl Connector for Anaf {
    type Config = Config;

    fn spec() -> Spec {
        let api = format!("{{config.api_url|{API}}}");
        let public = format!("{{config.public_url|{PUBLIC}}}");
        let mut oauth = OAuth2::authorization_code(
            "{config.auth_url|https://logincert.anaf.ro}/anaf-oauth2/v1/authorize",
            "{config.auth_url|https://logincert.anaf.ro}/anaf-oauth2/v1/token",
        )
        .client_auth(ClientAuth::Basic)
        .authorize_param("token_content_type", "jwt")
        .token_lifetime_secs(90 * 86_400);
        // ANAF's server does not document PKCE, and no client sends it.
        oauth.pkce = false;
        Spec::new("anaf", env!("CARGO_PKG_VERSION"))
            .description("ANAF (Romania): the VAT registry as a lookup; RO e-Factura uploads, messages and invoices.")
            .role(Role::Source)
            .role(Role::Destination)
            .role(Role::Mapper)
            .stream(
                StreamSpec::new("messages")
                    .description("e-Factura messages: invoices sent and received, errors, buyer messages (60 days)")
                    .key_field("id")
                    .cursor_field("data_creare"),
            )
            .stream(
                StreamSpec::new("invoices")
                    .description("Invoices received (or sent) through e-Factura, read from their XML; the signed ZIP as a blob")
                    .key_field("message_id")
                    .cursor_field("created_at"),
            )
            .config_schema(config_schema())
            .host(api.clone())
            .host(public.clone())
            .oauth2(oauth)
            .rate_budget(RateBudget::new(public).per(1, 1))
            .rate_budget(RateBudget::new(api).per(1000, 60))
            .catalog(
                Catalog::new("ANAF")
                    .category(Category::Government)
                    .category(Category::Accounting)
                    .icon_svg(ICON)
                    .documentation_url("https://mfinante.gov.ro/ro/web/efactura/informatii-tehnice")
                    .publisher("Wharf"),
            )
    }

    fn check(config: &Config) -> Result<()> {
        let record = Record::from_value("check", json!({"cui": "1590082"}))?;
        let mut lookup_config =
            serde_json::from_value::<Config>(json!({})).map_err(Error::fatal)?;
        lookup_config.public_url = config.public_url.clone();
        lookup::map(&lookup_config, vec![record])?;
        Ok(())
    }

    fn map(config: &Config, records: Vec<Record>) -> Result<Vec<Record>> {
        lookup::map(config, records)
    }

    fn fetch(config: &Config, stream: &str, cursor: Option<&str>) -> Result<Page> {
        match stream {
            "messages" => efactura::fetch(config, stream, cursor, false),
            "invoices" => efactura::fetch(config, stream, cursor, true),
            other => Err(Error::Config(format!(
                "unknown stream `{other}` (messages, invoices)"
            ))),
        }
    }

    fn push(config: &Config, records: Vec<Record>) -> Result<PushResult> {
        efactura::push(config, records)
    }
}

fn config_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "cif": {"type": "string", "pattern": "^(RO)?[0-9]{2,10}$", "title": "CIF", "description": "Your company's fiscal code, for e-Factura (the signed-in certificate must have SPV rights for it)"},
            "environment": {"enum": ["prod", "test"], "default": "prod", "title": "Environment", "description": "prod, or test (ANAF's test system; uploads there are not invoices)"},
            "standard": {"enum": ["UBL", "CN", "CII"], "default": "UBL", "title": "Upload standard", "description": "UBL invoices, CN credit notes, CII; a record's `standard` field overrides it"},
            "poll_secs": {"type": "integer", "minimum": 0, "maximum": 25, "default": 10, "title": "Wait for the outcome (seconds)", "description": "How long each upload's status is polled; invoices still in processing count as accepted and their outcome shows in the messages stream"},
            "filter": {"enum": ["E", "T", "P", "R"], "title": "Messages of type", "description": "E errors, T sent invoices, P received invoices, R buyer messages; all when empty"},
            "invoice_filter": {"enum": ["P", "T"], "default": "P", "title": "Invoices stream reads", "description": "P invoices received, T invoices sent"},
            "first_days": {"type": "integer", "minimum": 1, "maximum": 60, "default": 30, "title": "First sync reads back (days)", "description": "ANAF keeps messages for 60 days"},
            "cui_field": {"type": "string", "default": "cui", "title": "CUI field", "description": "As a mapper: the record field holding the CUI to look up (RO prefix and spaces allowed)"},
            "lookup_date": {"type": "string", "format": "date", "title": "Registry date", "description": "As a mapper: the date the registry is read at; today when empty"},
            "api_url": {"type": "string", "format": "uri", "title": "e-Factura API", "description": "Leave empty for https://api.anaf.ro"},
            "public_url": {"type": "string", "format": "uri", "title": "Public services", "description": "Leave empty for https://webservicesp.anaf.ro"},
            "auth_url": {"type": "string", "format": "uri", "title": "OAuth2 server", "description": "Leave empty for https://logincert.anaf.ro"}
        }
    })
}

export_connector!(Anaf);
