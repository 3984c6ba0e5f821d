//! Test fixture for webhook spec v2: deliveries signed the way Xero signs
//! them (`x-xero-signature`: base64 HMAC-SHA256 of the body), answered the
//! way Xero's intent-to-receive wants (200 with no body for a valid
//! signature, 401 for an invalid one), and Meta's `hub.challenge`
//! handshake by GET. `receive` turns Xero's `events` into records of the
//! `events` stream, with the method and query it was given.

use wharf_sdk::auth::{Encoding, Hash};
use wharf_sdk::prelude::*;
use wharf_sdk::webhook::{Handshake, Hmac, Webhook};
use wharf_sdk::{Delivery, WebhookScheme};

pub struct HookHandshakes;

impl Connector for HookHandshakes {
    type Config = Value;

    fn spec() -> Spec {
        Spec::new("hook-handshakes", "0.1.0")
            .description("Receives Xero-signed webhooks; answers Meta's handshake")
            .role(Role::Source)
            .stream(StreamSpec::new("events").key_field("resourceId"))
            .webhook(
                Webhook::new(WebhookScheme::Hmac(Hmac::new(
                    "x-xero-signature",
                    Hash::Sha256,
                    Encoding::Base64,
                    "{body}",
                )))
                .handshake(Handshake::HubChallenge)
                .plain_replies(),
            )
    }

    fn fetch(_config: &Value, _stream: &str, _cursor: Option<&str>) -> Result<Page> {
        Ok(Page::last(Vec::new(), None))
    }

    fn receive(_config: &Value, delivery: Delivery) -> Result<Vec<Record>> {
        let payload: Value = delivery.json()?;
        let mut out = Vec::new();
        for event in payload["events"].as_array().into_iter().flatten() {
            let mut data = event.clone();
            data["via"] = json!(delivery.method);
            data["query"] = json!(delivery.query);
            out.push(Record::from_value("events", data)?.key_from("resourceId"));
        }
        Ok(out)
    }
}

export_connector!(HookHandshakes);
