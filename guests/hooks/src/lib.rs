//! A source that receives Standard Webhooks deliveries. With `mode:
//! records`, `receive` turns `{"type": "item.updated"|"item.deleted",
//! "data": {"id": …}}` into records; with `mode: trigger` it has nothing to
//! say, so the host triggers the connection's syncs, whose `fetch` returns
//! one record. An `item.unavailable` event fails as transient.

use serde::Deserialize;
use wharf_sdk::prelude::*;
use wharf_sdk::{Delivery, WebhookScheme};

#[derive(Deserialize)]
pub struct Config {
    #[serde(default)]
    mode: String,
}

pub struct Hooks;

impl Connector for Hooks {
    type Config = Config;

    fn spec() -> Spec {
        Spec::new("hooks", "0.1.0")
            .description("Receives signed webhooks")
            .role(Role::Source)
            .stream(StreamSpec::new("items").key_field("id"))
            .webhook(WebhookScheme::StandardWebhooks)
    }

    fn fetch(_config: &Config, stream: &str, _cursor: Option<&str>) -> Result<Page> {
        let record = Record::from_value(stream, json!({"id": "fetched"}))?.key_from("id");
        Ok(Page::last(vec![record], None))
    }

    fn receive(config: &Config, delivery: Delivery) -> Result<Vec<Record>> {
        if config.mode == "trigger" {
            return Err(Error::Unsupported);
        }
        let event: Value = delivery.json()?;
        let kind = event["type"].as_str().unwrap_or_default();
        if kind == "item.unavailable" {
            // As when the system behind the webhook is busy.
            return Err(Error::transient("the shop is busy"));
        }
        let data = event["data"].clone();
        let id = data["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| Error::fatal("event without data.id"))?;
        if kind.ends_with(".deleted") {
            return Ok(vec![Record::delete("items", id)]);
        }
        Ok(vec![Record::from_value("items", data)?.with_key(id)])
    }
}

export_connector!(Hooks);
