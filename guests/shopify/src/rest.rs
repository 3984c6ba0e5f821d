//! The REST Admin API streams: one list endpoint each, 250 records a
//! page, pages by the `Link` header's `page_info` (whose URL carries the
//! first request's filters: Shopify allows only `limit` and `fields` beside
//! it), incremental by `updated_at_min` with a lookback.

use wharf_sdk::http::Request;
use wharf_sdk::prelude::*;
use wharf_sdk::rest::{ErrorMap, Incremental, Paginator, RestStream, StreamState};

use crate::Config;

/// The REST streams: name, path, and whether `updated_at_min` applies.
pub const STREAMS: &[(&str, &str, bool)] = &[
    ("orders", "orders.json", true),
    ("products", "products.json", true),
    ("customers", "customers.json", true),
    ("locations", "locations.json", false),
    ("inventory_levels", "inventory_levels.json", true),
];

/// Shopify's errors: the message is in `errors` (text, or an object of
/// field messages); a 401 means the token expired, which the host renews.
pub fn errors() -> ErrorMap {
    ErrorMap::new().message_at("/errors").renewable(true)
}

/// A request to the Admin API with the connection's token.
pub fn admin(config: &Config, path: &str) -> Request {
    Request::get(config.admin_url(path))
        .header("X-Shopify-Access-Token", "{{oauth:access_token}}")
        .header("Accept", "application/json")
}

/// A page of a REST stream.
pub fn fetch(
    config: &Config,
    stream: &str,
    path: &str,
    incremental: bool,
    cursor: Option<&str>,
) -> Result<Page> {
    let mut first = admin(config, path).query("limit", config.page_size.clamp(1, 250));
    if stream == "orders" {
        // The default is `open` only.
        first = first.query("status", "any");
    }
    if stream == "inventory_levels" {
        first = first.query("location_ids", location_ids(config, cursor)?);
    }
    let mut rest = RestStream::new(stream, first)
        .paginator(Paginator::LinkHeader)
        .records(format!("/{stream}"))
        .errors(errors());
    if stream != "inventory_levels" {
        rest = rest.key("id");
    }
    if incremental {
        rest = rest.incremental(
            Incremental::new("updated_at", "updated_at_min")
                .lookback_secs(config.lookback_secs.max(0)),
        );
    }
    let mut page = rest.fetch(cursor)?;
    if stream == "inventory_levels" {
        // A level is an item at a location.
        // `RestStream` hands records over as text.
        for r in &mut page.raw {
            let item = r.get("inventory_item_id");
            let location = r.get("location_id");
            let text = |v: Option<Value>| v.as_ref().and_then(wharf_sdk::scalar_text);
            if let (Some(i), Some(l)) = (text(item), text(location)) {
                r.key = Some(format!("{i}:{l}"));
            }
        }
    }
    Ok(page)
}

/// Inventory levels need locations: the configured ones, or every
/// location of the shop (read on the first page of a run; later pages
/// follow Shopify's link, which carries them).
fn location_ids(config: &Config, cursor: Option<&str>) -> Result<String> {
    if !config.location_ids.is_empty() {
        return Ok(join(config.location_ids.iter().map(u64::to_string)));
    }
    if StreamState::from_cursor(cursor)?.next.is_some() {
        return Ok(String::new());
    }
    let response = errors().check(admin(config, "locations.json").query("limit", 250).send()?)?;
    let body: Value = response.json()?;
    let ids: Vec<String> = body["locations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| wharf_sdk::scalar_text(&l["id"]))
        .collect();
    if ids.is_empty() {
        return Err(Error::Config(
            "the shop has no locations to read inventory levels at".into(),
        ));
    }
    Ok(join(ids.into_iter()))
}

fn join(ids: impl Iterator<Item = String>) -> String {
    ids.collect::<Vec<_>>().join(",")
}
