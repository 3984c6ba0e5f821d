//! `sap-b1`: SAP Business One through its Service Layer (OData v4 at
//! `/b1s/v2`, or OData v3 at `/b1s/v1`): entity sets as a source, and
//! entities created and updated from records as a destination.
//!
//! - The host keeps the login session: `POST /b1s/v2/Login` with
//!   `CompanyDB`, `UserName` and `Password` from the connection's secrets;
//!   the `B1SESSION` and `ROUTEID` cookies it answers with go on every
//!   request as `Cookie: {{session:token}}`; the session (30 minutes by
//!   default) is renewed before it ends and whenever SAP answers 401, and
//!   ended with `POST /b1s/v2/Logout` when the connection is deleted.
//! - An on-premises Service Layer usually has a certificate of its own
//!   CA: the administrator adds that CA to the connection's grants
//!   (`tls_ca`); nothing here turns verification off.
//! - Streams ([`streams`]): the entity sets the config names (by default
//!   business partners, items, sales and purchase documents, journal
//!   entries, the chart of accounts and payments, [`entities`]), paged by
//!   the Service Layer's next link with `Prefer: odata.maxpagesize`,
//!   incremental by `UpdateDate`/`UpdateTime` with a lookback, or by number.
//! - Destination ([`push`]): `PATCH` by key, `POST` for new entities, SAP's
//!   refusals as record rejections.
//!
//! Built from SAP's "Working with SAP Business One Service Layer" and
//! "OData Client for Service Layer" guides, the Service Layer's
//! `$metadata`, and the open-source clients that follow them; see
//! `docs/vendors/sap-b1.md`.

mod api;
mod entities;
mod push;
mod streams;

use std::collections::BTreeMap;

use serde::Deserialize;
use wharf_sdk::auth::{HostRequest, Login, TokenAt};
use wharf_sdk::catalog::{Catalog, Category, RateBudget};
use wharf_sdk::http::encode;
use wharf_sdk::prelude::*;

/// The OData version of the Service Layer's root.
#[derive(Deserialize, Default, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Version {
    /// `/b1s/v1`, OData v3 (deprecated by SAP since FP 2405).
    V1,
    /// `/b1s/v2`, OData v4.
    #[default]
    V2,
}

/// The connection config.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The Service Layer's origin (`https://sap.example.com:50000`), with a
    /// path prefix when a proxy adds one, without `/b1s/…`.
    base_url: String,
    /// The company database (`SBODEMOUS`); the host puts it in the login.
    #[allow(dead_code)]
    company_db: String,
    #[serde(default)]
    version: Version,
    /// Entities a page (the Service Layer's default is 20).
    #[serde(default = "default_page_size")]
    page_size: u32,
    /// The entity sets offered as streams (empty: [`entities::defaults`]).
    #[serde(default)]
    entities: Vec<String>,
    /// Keys of entity sets this connector does not know, or other keys.
    #[serde(default)]
    keys: BTreeMap<String, String>,
    /// Incremental field of such sets: `UpdateDate`, or their key.
    #[serde(default)]
    cursors: BTreeMap<String, String>,
    /// `$select` per entity set.
    #[serde(default)]
    select: BTreeMap<String, Vec<String>>,
    /// An OData `$filter` per entity set, added to the incremental one.
    #[serde(default)]
    filters: BTreeMap<String, String>,
    /// How far before the last pass's newest change the next pass reads.
    #[serde(default = "default_lookback")]
    lookback_minutes: u32,
    /// `PATCH` replaces collections (`DocumentLines`) instead of merging.
    #[serde(default)]
    replace_collections_on_patch: bool,
    /// A deleted record cancels its document.
    #[serde(default)]
    cancel_documents_on_delete: bool,
    /// Write every record to this entity set, whatever its stream.
    #[serde(default)]
    push_entity: Option<String>,
}

fn default_page_size() -> u32 {
    100
}

fn default_lookback() -> u32 {
    60
}

impl Config {
    /// The service root: `{base_url}/b1s/v2`.
    pub fn root(&self) -> String {
        let v = match self.version {
            Version::V1 => "v1",
            Version::V2 => "v2",
        };
        format!("{}/b1s/{v}", self.base_url.trim_end_matches('/'))
    }

    /// The entity set `name` (any set, for writing).
    pub fn entity(&self, name: &str) -> Result<entities::Entity> {
        entities::lookup(name, &self.keys, &self.cursors)
    }

    /// The entity sets offered as streams.
    pub fn offered(&self) -> Vec<String> {
        if self.entities.is_empty() {
            entities::defaults()
        } else {
            self.entities.clone()
        }
    }

    /// A base URL that already names the root would give `/b1s/v2/b1s/v2`.
    fn validate(&self) -> Result<()> {
        let base = self.base_url.trim_end_matches('/');
        if base.contains("/b1s/") || base.ends_with("/b1s") {
            return Err(Error::Config(format!(
                "`base_url` is the Service Layer's origin (`https://host:50000`), without `/b1s/…`: got `{base}`"
            )));
        }
        Ok(())
    }
}

const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="10" fill="#0a6ed1"/><path d="M12 44V20h18l10 12-10 12z" fill="#fff"/><text x="44" y="40" font-family="Arial" font-size="14" font-weight="bold" fill="#fff">B1</text></svg>"##;

pub struct SapB1;

impl Connector for SapB1 {
    type Config = Config;

    fn spec() -> Spec {
        let base = "{config.base_url}";
        let root = "{config.base_url}/b1s/{config.version|v2}";
        Spec::new("sap-b1", env!("CARGO_PKG_VERSION"))
            .description(
                "SAP Business One (Service Layer, OData v4 or v3): business partners, items, \
                 documents, journal entries, accounts and payments, incremental by UpdateDate; \
                 entities created and updated from records.",
            )
            .role(Role::Source)
            .role(Role::Destination)
            .config_schema(config_schema())
            .host(base)
            .secret(SecretSpec::new("username").description("SAP Business One user name (`manager`)").host(base))
            .secret(SecretSpec::new("password").description("That user's password").host(base))
            .login(
                Login::new(
                    HostRequest::new("POST", format!("{root}/Login")).json_body(
                        r#"{"CompanyDB": "{config.company_db}", "UserName": "{{secret:username}}", "Password": "{{secret:password}}"}"#,
                    ),
                    // `ROUTEID` comes only from SAP's load balancer.
                    TokenAt::Cookies(vec!["B1SESSION".into(), "ROUTEID?".into()]),
                )
                // SessionTimeout: 30 minutes unless b1s.conf says otherwise;
                // a shorter one shows as a 401, which logs in again.
                .lifetime_secs(30 * 60)
                .relogin_on(401)
                .logout(
                    HostRequest::new("POST", format!("{root}/Logout"))
                        .header("Cookie", "{{session:token}}"),
                ),
            )
            // SAP publishes no rate limit; the Service Layer serves one
            // session's requests one at a time, so more at once only queue
            // on a server its users share.
            .rate_budget(RateBudget::new(base).concurrency(4))
            .catalog(
                Catalog::new("SAP Business One")
                    .category(Category::Erp)
                    .category(Category::Accounting)
                    .icon_svg(ICON)
                    .documentation_url("https://help.sap.com/docs/SAP_BUSINESS_ONE_VERSION_FOR_SAP_HANA")
                    .publisher("Wharf"),
            )
    }

    fn check(config: &Config) -> Result<()> {
        config.validate()?;
        let first = config.offered().into_iter().next().unwrap_or_default();
        let entity = config.entity(&first)?;
        let url = format!(
            "{}/{}?$select={}&$top=1",
            config.root(),
            entity.name,
            encode(&entity.key)
        );
        api::read(api::get(&url))?;
        wharf_sdk::log::info(format!(
            "signed in to the Service Layer at {}",
            config.root()
        ));
        Ok(())
    }

    /// The configured entity sets, each asked for one key: those SAP does
    /// not have (or this user may not read) are dropped from the defaults
    /// and an error when the config names them.
    fn discover(config: &Config) -> Result<Vec<StreamSpec>> {
        config.validate()?;
        let explicit = !config.entities.is_empty();
        let mut streams = Vec::new();
        for name in config.offered() {
            let entity = config.entity(&name)?;
            let url = format!(
                "{}/{}?$select={}&$top=1",
                config.root(),
                entity.name,
                encode(&entity.key)
            );
            let response = api::get(&url).send()?;
            if !explicit && matches!(response.status, 403 | 404) {
                wharf_sdk::log::warn(format!(
                    "{name} is not offered: {}",
                    api::errors().message(&response)
                ));
                continue;
            }
            api::errors().config_on(404).check(response)?;
            let mut s = StreamSpec::new(&entity.name)
                .description(entity.description)
                .key_field(&entity.key);
            if let Some(c) = entity.cursor_field() {
                s = s.cursor_field(c);
            }
            streams.push(s);
        }
        Ok(streams)
    }

    fn fetch(config: &Config, stream: &str, cursor: Option<&str>) -> Result<Page> {
        config.validate()?;
        let offered = config.offered();
        if !offered.iter().any(|o| o == stream) {
            return Err(Error::Config(format!(
                "`{stream}` is not one of this connection's entity sets ({})",
                offered.join(", ")
            )));
        }
        streams::fetch(config, stream, cursor)
    }

    fn push(config: &Config, records: Vec<Record>) -> Result<PushResult> {
        config.validate()?;
        push::push(config, records)
    }
}

fn config_schema() -> Value {
    let names = json!({"type": "string", "pattern": "^[A-Za-z0-9_]{1,100}$"});
    json!({
        "type": "object",
        "required": ["base_url", "company_db"],
        "additionalProperties": false,
        "properties": {
            "company_db": {"type": "string", "title": "Company database", "description": "The company database to log in to (SBODEMOUS), as in the client's company selection"},
            "base_url": {"type": "string", "format": "uri", "title": "Service Layer URL", "description": "The Service Layer's origin, e.g. https://sap.example.com:50000 (with a path prefix if a proxy adds one), without /b1s/v2. A self-signed certificate needs its CA in the connection's grants (tls_ca)"},
            "version": {"enum": ["v2", "v1"], "default": "v2", "title": "OData version", "description": "v2 (OData v4, /b1s/v2) or the deprecated v1 (OData v3, /b1s/v1)"},
            "page_size": {"type": "integer", "minimum": 1, "maximum": 5000, "default": 100, "title": "Page size", "description": "Entities a request (Prefer: odata.maxpagesize; SAP's default is 20)"},
            "entities": {"type": "array", "items": names, "uniqueItems": true, "title": "Entity sets", "description": "The entity sets offered as streams; empty for BusinessPartners, Items, Orders, Invoices, PurchaseInvoices, PurchaseOrders, JournalEntries, ChartOfAccounts, DeliveryNotes, CreditNotes, IncomingPayments, VendorPayments"},
            "keys": {"type": "object", "additionalProperties": {"type": "string"}, "title": "Keys", "description": "The key of each other entity set, e.g. {\"ProductionOrders\": \"AbsoluteEntry\", \"U_PRICES\": \"Code\"}"},
            "cursors": {"type": "object", "additionalProperties": {"type": "string"}, "title": "Incremental fields", "description": "For those sets: UpdateDate, or their key when it only grows; without one a set is read whole"},
            "select": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}, "title": "Fields", "description": "$select per entity set, e.g. {\"Items\": [\"ItemCode\", \"ItemName\"]}; the key and stamps are added"},
            "filters": {"type": "object", "additionalProperties": {"type": "string"}, "title": "Filters", "description": "An OData $filter per entity set, e.g. {\"BusinessPartners\": \"CardType eq 'cCustomer'\"}"},
            "lookback_minutes": {"type": "integer", "minimum": 0, "maximum": 10080, "default": 60, "title": "Lookback (minutes)", "description": "How far before the last pass's newest change the next pass reads again; longer than a pass takes"},
            "replace_collections_on_patch": {"type": "boolean", "default": false, "title": "Replace lines on update", "description": "An update replaces DocumentLines and other collections (B1S-ReplaceCollectionsOnPatch) instead of merging them by line number"},
            "cancel_documents_on_delete": {"type": "boolean", "default": false, "title": "Cancel deleted documents", "description": "A deleted record cancels its document (SAP never deletes documents); otherwise deletes of documents are refused"},
            "push_entity": {"type": "string", "pattern": "^[A-Za-z0-9_]{1,100}$", "title": "Write to", "description": "As a destination, write every record to this entity set; empty: the set its stream names"}
        }
    })
}

export_connector!(SapB1);
