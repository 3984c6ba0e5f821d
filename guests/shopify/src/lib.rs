//! `shopify`: a Shopify store's orders, products, customers, locations and
//! inventory levels through the Admin API, a GraphQL bulk export, and
//! webhooks, as a source.
//!
//! - The app's Admin API token comes from the client credentials grant
//!   (`POST {shop}/admin/oauth/access_token`, how a store's own app gets
//!   tokens since custom apps made in the admin ended in 2026): the host
//!   obtains it, sends it as `X-Shopify-Access-Token`, and gets a new one
//!   when Shopify answers 401.
//! - REST streams ([`rest`]) page by the `Link` header and are incremental
//!   by `updated_at_min`; the `bulk` stream ([`bulk`]) runs a bulk query and
//!   reads its JSONL result; GraphQL calls ([`graphql`]) wait out
//!   cost-based throttling.
//! - Webhooks are verified by the host (`X-Shopify-Hmac-Sha256`, keyed
//!   with the app's client secret as the connection's `webhook_secret`)
//!   and turned into records of the stream their topic names.
//!
//! Built from shopify.dev; see `docs/vendors/shopify.md`.

mod bulk;
mod graphql;
mod rest;

use serde::Deserialize;
use wharf_sdk::OAuth2;
use wharf_sdk::auth::ClientAuth;
use wharf_sdk::catalog::{Catalog, Category};
use wharf_sdk::prelude::*;
use wharf_sdk::{Delivery, WebhookScheme};

/// The connection config.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `https://{shop}.myshopify.com`.
    shop_url: String,
    #[serde(default = "default_version")]
    api_version: String,
    #[serde(default = "default_lookback")]
    lookback_secs: i64,
    #[serde(default = "default_page_size")]
    page_size: u64,
    /// Locations whose inventory levels are read (default: all).
    #[serde(default)]
    location_ids: Vec<u64>,
    /// The bulk stream's GraphQL query.
    #[serde(default)]
    bulk_query: Option<String>,
    /// Where bulk results are downloaded from (a spec host default).
    #[serde(default)]
    #[allow(dead_code)]
    bulk_download_origin: Option<String>,
}

impl Config {
    /// `{shop}/admin/api/{version}/{path}`.
    pub fn admin_url(&self, path: &str) -> String {
        format!(
            "{}/admin/api/{}/{path}",
            self.shop_url.trim_end_matches('/'),
            self.api_version
        )
    }
}

fn default_version() -> String {
    "2026-01".into()
}

fn default_lookback() -> i64 {
    300
}

fn default_page_size() -> u64 {
    250
}

const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="12" fill="#95bf47"/><path d="M22 22l4-8h12l4 8v26H22z" fill="#fff"/><path d="M28 30c0-3 8-3 8 1s-8 4-8 8 8 4 8 1" stroke="#95bf47" stroke-width="3" fill="none"/></svg>"##;

pub struct Shopify;

impl Connector for Shopify {
    type Config = Config;

    fn spec() -> Spec {
        let mut spec = Spec::new("shopify", env!("CARGO_PKG_VERSION"))
            .description(
                "Shopify: orders, products, customers, locations and inventory levels \
                 (incremental by updated_at), a GraphQL bulk export, and webhooks as records.",
            )
            .role(Role::Source)
            .config_schema(config_schema())
            .host("{config.shop_url}")
            .host("{config.bulk_download_origin|https://storage.googleapis.com}")
            .oauth2(
                OAuth2::client_credentials("{config.shop_url}/admin/oauth/access_token")
                    .client_auth(ClientAuth::Post)
                    .token_lifetime_secs(86_400),
            )
            .webhook(WebhookScheme::Shopify)
            .catalog(
                Catalog::new("Shopify")
                    .category(Category::Commerce)
                    .icon_svg(ICON)
                    .documentation_url("https://shopify.dev/docs/api/admin-rest")
                    .publisher("Wharf"),
            );
        for (name, _, incremental) in rest::STREAMS {
            let mut s =
                StreamSpec::new(*name).description(format!("Shopify {}", name.replace('_', " ")));
            if *name == "inventory_levels" {
                s = s.description(
                    "Available quantity of each item at each location (key item:location)",
                );
            } else {
                s = s.key_field("id");
            }
            if *incremental {
                s = s.cursor_field("updated_at");
            }
            spec = spec.stream(s);
        }
        spec.stream(
            StreamSpec::new("bulk")
                .description("The config's GraphQL bulk query (default: products with variants), one record per line, children with __parentId")
                .key_field("id"),
        )
    }

    fn check(config: &Config) -> Result<()> {
        let response = rest::errors().check(rest::admin(config, "shop.json").send()?)?;
        let body: Value = response.json()?;
        let name = body["shop"]["name"].as_str().unwrap_or("?");
        wharf_sdk::log::info(format!("connected to the shop {name}"));
        Ok(())
    }

    fn fetch(config: &Config, stream: &str, cursor: Option<&str>) -> Result<Page> {
        if stream == "bulk" {
            return bulk::fetch(config, cursor);
        }
        let (_, path, incremental) = rest::STREAMS
            .iter()
            .find(|(name, _, _)| *name == stream)
            .ok_or_else(|| Error::Config(format!("unknown stream `{stream}`")))?;
        rest::fetch(config, stream, path, *incremental, cursor)
    }

    /// A delivery's topic (`orders/updated`) names the stream and the
    /// operation; its body is the resource (a delete sends only the id).
    fn receive(_config: &Config, delivery: Delivery) -> Result<Vec<Record>> {
        let topic = delivery
            .header("x-shopify-topic")
            .unwrap_or_default()
            .to_string();
        let (resource, event) = topic.split_once('/').unwrap_or((topic.as_str(), ""));
        let stream = match resource {
            "orders" | "products" | "customers" | "locations" | "inventory_levels" => resource,
            // A finished bulk operation: run the syncs, whose `bulk` stream
            // picks up the result.
            "bulk_operations" => return Err(Error::Unsupported),
            _ => {
                wharf_sdk::log::info(format!("ignored a delivery of topic `{topic}`"));
                return Ok(Vec::new());
            }
        };
        let body: Value = delivery.json()?;
        let key = if stream == "inventory_levels" {
            match (
                wharf_sdk::scalar_text(&body["inventory_item_id"]),
                wharf_sdk::scalar_text(&body["location_id"]),
            ) {
                (Some(i), Some(l)) => Some(format!("{i}:{l}")),
                _ => None,
            }
        } else {
            wharf_sdk::scalar_text(&body["id"])
        };
        let key = key.ok_or_else(|| Error::fatal(format!("a `{topic}` delivery without an id")))?;
        if event == "delete" {
            return Ok(vec![Record::delete(stream, key)]);
        }
        Ok(vec![Record::from_value(stream, body)?.with_key(key)])
    }
}

fn config_schema() -> Value {
    json!({
        "type": "object",
        "required": ["shop_url"],
        "additionalProperties": false,
        "properties": {
            "shop_url": {"type": "string", "format": "uri", "title": "Shop URL", "description": "Your store's admin domain, e.g. https://acme.myshopify.com"},
            "api_version": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$", "default": "2026-01", "title": "API version", "description": "Admin API version (YYYY-MM); Shopify supports each for a year"},
            "lookback_secs": {"type": "integer", "minimum": 0, "default": 300, "title": "Lookback (seconds)", "description": "Each incremental sync re-reads this much before the last updated_at seen"},
            "page_size": {"type": "integer", "minimum": 1, "maximum": 250, "default": 250, "title": "Page size", "description": "Records per REST request (at most 250)"},
            "location_ids": {"type": "array", "items": {"type": "integer"}, "title": "Locations", "description": "Locations whose inventory levels are read; all when empty"},
            "bulk_query": {"type": "string", "title": "Bulk query", "description": "GraphQL query for the bulk stream, e.g. { products { edges { node { id title } } } }; products with variants when empty"},
            "bulk_download_origin": {"type": "string", "format": "uri", "title": "Bulk result host", "description": "Where Shopify serves bulk results; leave empty (https://storage.googleapis.com)"}
        }
    })
}

export_connector!(Shopify);
