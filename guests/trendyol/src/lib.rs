//! `trendyol`: a Trendyol Marketplace seller's orders (shipment packages),
//! products and claims, as a source.
//!
//! - Basic auth with the seller's API key and secret, and the mandatory
//!   `User-Agent: {sellerId} - {integrator}` (Trendyol blocks requests
//!   without it with `403`).
//! - `orders`: the shipment-package stream (`/orders/stream`, cursor
//!   `nextCursor`), by `lastModifiedDate` windows of at most 14 days;
//!   `claims`: by page in the same windows; `products`: approved products
//!   (`/products/approved`) by page and `nextPageToken`, incremental by
//!   `VARIANT_MODIFIED_DATE`, one record per variant (barcode).
//! - Trendyol allows 50 requests per 10 seconds per endpoint: the spec
//!   declares that budget for the host keeps it, and a `429` (sent without
//!   `Retry-After`) waits a whole window.
//!
//! Built from developers.trendyol.com; see `docs/vendors/trendyol.md`.

mod windows;

use serde::Deserialize;
use wharf_sdk::catalog::{Catalog, Category, RateBudget};
use wharf_sdk::http::Request;
use wharf_sdk::prelude::*;
use wharf_sdk::rest::ErrorMap;

use windows::{DAY_MS, MAX_WINDOW_MS, Next, State, now_ms, window_end};

const API_KEY: Secret = Secret::new("api_key");
const API_SECRET: Secret = Secret::new("api_secret");
const PRODUCTION: &str = "https://apigw.trendyol.com/integration";
/// Seconds of Trendyol's rate window, waited after a `429`.
const RATE_WINDOW_SECS: u32 = 10;

/// The connection config.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The seller (supplier) id.
    seller_id: SellerId,
    /// API root (default: production).
    #[serde(default)]
    base_url: Option<String>,
    /// Integrator name in the User-Agent (default: SelfIntegration).
    #[serde(default)]
    integrator: Option<String>,
    /// Days a first run reads back.
    #[serde(default = "default_first_days")]
    first_days: i64,
    /// Minutes an incremental run re-reads before the last run's end.
    #[serde(default = "default_lookback")]
    lookback_minutes: i64,
    /// Records per page (orders and claims at most 200, products 100).
    #[serde(default)]
    page_size: Option<u64>,
}

/// A seller id, written as a number or as text.
#[derive(Deserialize)]
#[serde(untagged)]
enum SellerId {
    Number(u64),
    Text(String),
}

impl SellerId {
    fn text(&self) -> Result<String> {
        let t = match self {
            Self::Number(n) => n.to_string(),
            Self::Text(t) => t.trim().to_string(),
        };
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::Config(format!(
                "seller_id must be digits, not `{t}`"
            )));
        }
        Ok(t)
    }
}

fn default_first_days() -> i64 {
    30
}

fn default_lookback() -> i64 {
    60
}

const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="12" fill="#f27a1a"/><path d="M16 20h32v7H36v21h-8V27H16z" fill="#fff"/></svg>"##;

pub struct Trendyol;

impl Connector for Trendyol {
    type Config = Config;

    fn spec() -> Spec {
        let host = format!("{{config.base_url|{PRODUCTION}}}");
        Spec::new("trendyol", env!("CARGO_PKG_VERSION"))
            .description("Trendyol Marketplace: a seller's orders, products and claims, incremental by last change.")
            .role(Role::Source)
            .stream(
                StreamSpec::new("orders")
                    .description("Shipment packages (an order may split into several), by last change")
                    .key_field("shipmentPackageId")
                    .cursor_field("lastModifiedDate"),
            )
            .stream(
                StreamSpec::new("products")
                    .description("Approved products, one record per variant (barcode)")
                    .key_field("barcode"),
            )
            .stream(
                StreamSpec::new("claims")
                    .description("Returns (claims) with their items and statuses")
                    .key_field("id")
                    .cursor_field("lastModifiedDate"),
            )
            .config_schema(config_schema())
            .host(host.clone())
            .secret(SecretSpec::new("api_key").description("API Key (Seller panel → Account → Integration information)").host(host.clone()))
            .secret(SecretSpec::new("api_secret").description("API Secret from the same page").host(host.clone()))
            .rate_budget(RateBudget::new(host).per(50, 10))
            .catalog(
                Catalog::new("Trendyol")
                    .category(Category::Commerce)
                    .icon_svg(ICON)
                    .documentation_url("https://developers.trendyol.com/en/docs/authorization")
                    .publisher("Wharf"),
            )
    }

    fn check(config: &Config) -> Result<()> {
        let now = now_ms();
        let request = get(config, "order", "orders/stream")?
            .query("size", 1)
            .query("lastModifiedStartDate", now - DAY_MS)
            .query("lastModifiedEndDate", now);
        send(request)?;
        Ok(())
    }

    fn fetch(config: &Config, stream: &str, cursor: Option<&str>) -> Result<Page> {
        let mut state = State::from_cursor(cursor)?;
        let lookback = config.lookback_minutes.max(0) * 60_000;
        let first = config.first_days.clamp(1, 90) * DAY_MS;
        let incremental = state.since.is_some();
        let run = state.run(now_ms(), lookback, first).clone();
        let to = window_end(&run, MAX_WINDOW_MS);
        let (records, next, window) = match stream {
            "orders" => {
                let mut r = get(config, "order", "orders/stream")?
                    .query("size", size(config, 200))
                    .query("lastModifiedStartDate", run.from)
                    .query("lastModifiedEndDate", to);
                if let Some(t) = &run.token {
                    r = r.query("nextCursor", t);
                }
                let body: Value = send(r)?.json()?;
                let next = match (body["hasMore"].as_bool(), body["nextCursor"].as_str()) {
                    (Some(true), Some(t)) if !t.is_empty() => Some(Next::Token(t.to_string())),
                    _ => None,
                };
                (
                    keyed(&body, "orders", &["shipmentPackageId", "id"])?,
                    next,
                    MAX_WINDOW_MS,
                )
            }
            "claims" => {
                let r = get(config, "order", "claims")?
                    .query("size", size(config, 200))
                    .query("page", run.page)
                    .query("startDate", run.from)
                    .query("endDate", to);
                let body: Value = send(r)?.json()?;
                let next = next_page(&body, run.page);
                (
                    keyed(&body, "claims", &["claimId", "id"])?,
                    next,
                    MAX_WINDOW_MS,
                )
            }
            "products" => {
                let mut r =
                    get(config, "product", "products/approved")?.query("size", size(config, 100));
                r = match &run.token {
                    Some(t) => r.query("nextPageToken", t),
                    None => r.query("page", run.page),
                };
                // A first run reads every product; later ones what changed.
                if incremental {
                    r = r
                        .query("dateQueryType", "VARIANT_MODIFIED_DATE")
                        .query("startDate", run.from)
                        .query("endDate", run.until);
                }
                let body: Value = send(r)?.json()?;
                let next = match body["nextPageToken"].as_str() {
                    Some(t) if !t.is_empty() => Some(Next::Token(t.to_string())),
                    _ => next_page(&body, run.page),
                };
                (variants(&body)?, next, i64::MAX / 4)
            }
            other => {
                return Err(Error::Config(format!(
                    "unknown stream `{other}` (orders, products, claims)"
                )));
            }
        };
        let (cursor, more) = state.advance(next, window)?;
        Ok(Page::new(records, Some(cursor), more))
    }
}

fn size(config: &Config, max: u64) -> u64 {
    config.page_size.unwrap_or(max).clamp(1, max)
}

/// A request to `/{area}/sellers/{id}/{path}`, authenticated, with the
/// User-Agent Trendyol requires.
fn get(config: &Config, area: &str, path: &str) -> Result<Request> {
    let seller = config.seller_id.text()?;
    let base = config
        .base_url
        .as_deref()
        .filter(|b| !b.is_empty())
        .unwrap_or(PRODUCTION);
    let integrator = config.integrator.as_deref().unwrap_or("SelfIntegration");
    Ok(Request::get(format!(
        "{}/{area}/sellers/{seller}/{path}",
        base.trim_end_matches('/')
    ))
    .header("User-Agent", format!("{seller} - {integrator}"))
    .header("Accept", "application/json")
    .basic_auth(&API_KEY, &API_SECRET)
    .rate_limit_retries(0))
}

/// Send; Trendyol's errors as Wharf's. A `429` comes without `Retry-After`:
/// wait out the 10-second window.
fn send(request: Request) -> Result<wharf_sdk::http::Response> {
    match request.send() {
        Err(Error::RateLimited(_)) => Err(Error::RateLimited(RATE_WINDOW_SECS)),
        Err(e) => Err(e),
        Ok(r) if r.status == 429 => Err(Error::RateLimited(RATE_WINDOW_SECS)),
        Ok(r) => ErrorMap::new().message_at("/errors/0/message").check(r),
    }
}

fn next_page(body: &Value, page: u64) -> Option<Next> {
    let total = body["totalPages"].as_u64().unwrap_or(0);
    (page + 1 < total).then_some(Next::Page(page + 1))
}

/// The `content` records, keyed by the first of `fields` they have
/// (numbers and strings alike: ids come as either).
fn keyed(body: &Value, stream: &str, fields: &[&str]) -> Result<Vec<Record>> {
    let items = body["content"].as_array().cloned().unwrap_or_default();
    items
        .into_iter()
        .map(|item| {
            let key = fields
                .iter()
                .find_map(|f| wharf_sdk::scalar_text(&item[*f]));
            let record = Record::from_value(stream, item)?;
            Ok(match key {
                Some(k) => record.with_key(k),
                None => record,
            })
        })
        .collect()
}

/// Approved products come grouped by content, variants inside; one record
/// per variant, keyed by barcode, with the content's fields under
/// `content`.
fn variants(body: &Value) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    for item in body["content"].as_array().into_iter().flatten() {
        let mut content = item.clone();
        let variants = content
            .as_object_mut()
            .and_then(|c| c.remove("variants"))
            .and_then(|v| v.as_array().cloned());
        for variant in variants.unwrap_or_else(|| vec![item.clone()]) {
            let mut data = match variant {
                Value::Object(m) => m,
                _ => continue,
            };
            if !data.contains_key("content") && content != *item {
                data.insert("content".into(), content.clone());
            }
            let key = data.get("barcode").and_then(wharf_sdk::scalar_text);
            let record = Record::upsert("products", data);
            out.push(match key {
                Some(k) => record.with_key(k),
                None => record,
            });
        }
    }
    Ok(out)
}

fn config_schema() -> Value {
    json!({
        "type": "object",
        "required": ["seller_id"],
        "additionalProperties": false,
        "properties": {
            "seller_id": {"type": "string", "pattern": "^[0-9]+$", "title": "Seller ID", "description": "Your Trendyol seller (supplier) id, shown in the seller panel"},
            "base_url": {"type": "string", "format": "uri", "title": "API URL", "description": "Leave empty for production (https://apigw.trendyol.com/integration); the stage environment is https://stageapigw.trendyol.com/integration"},
            "integrator": {"type": "string", "maxLength": 30, "pattern": "^[A-Za-z0-9]+$", "title": "Integrator name", "description": "Sent in the User-Agent as `<seller id> - <name>`; SelfIntegration unless you are a registered integrator"},
            "first_days": {"type": "integer", "minimum": 1, "maximum": 90, "default": 30, "title": "First sync reads back (days)", "description": "How far back the first sync of orders and claims reads (Trendyol keeps three months)"},
            "lookback_minutes": {"type": "integer", "minimum": 0, "default": 60, "title": "Lookback (minutes)", "description": "Each incremental sync re-reads this much before the last one ended, for changes stamped late"},
            "page_size": {"type": "integer", "minimum": 1, "maximum": 200, "title": "Page size", "description": "Records per request (at most 200; products at most 100)"}
        }
    })
}

export_connector!(Trendyol);
