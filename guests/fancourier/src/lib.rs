//! `fancourier`: FAN Courier (Romania) shipments: AWBs created from
//! records as a destination, and their tracking as a source.
//!
//! - The host keeps the login session: `POST /login` with the account's
//!   user and password, the 24-hour token at `/data/token`, sent as
//!   `Authorization: Bearer`, and a new login when FAN answers 401.
//! - Destination ([`awb`]): each record is one shipment in FAN's own field
//!   names (`info`, `recipient`, `sender`), created in batches through
//!   `POST /intern-awb`; FAN's refusal of a shipment rejects that record
//!   with FAN's field and message; a batch whose outcome is unknown is not
//!   sent again (FAN: a retry can book twice).
//! - Source: `tracking`, the scan history of the AWBs the config lists and
//!   of those this connection created in the last 14 days ([`tracked`]),
//!   with the current status (`S2` is delivered).
//!
//! Built from FAN Courier's API v2.0 documentation and the client
//! libraries that quote it; see `docs/vendors/fancourier.md`.

mod awb;
mod tracked;

use serde::Deserialize;
use wharf_sdk::auth::{HostRequest, Login, TokenAt};
use wharf_sdk::catalog::{Catalog, Category};
use wharf_sdk::http::Request;
use wharf_sdk::prelude::*;
use wharf_sdk::rest::ErrorMap;

const PRODUCTION: &str = "https://api.fancourier.ro";
/// AWBs per tracking request.
const TRACK_BATCH: usize = 50;

/// The connection config.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The sender account (branch) id.
    client_id: u64,
    #[serde(default)]
    base_url: Option<String>,
    /// Language of event names (`ro` or `en`).
    #[serde(default = "default_language")]
    language: String,
    /// AWBs to track besides the ones created here.
    #[serde(default)]
    awbs: Vec<String>,
}

fn default_language() -> String {
    "ro".into()
}

const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="12" fill="#ffcc00"/><path d="M14 22h22v6H21v4h13v6H21v10h-7zM38 30h12l-6 18h-6z" fill="#1a1a1a"/></svg>"##;

pub struct FanCourier;

impl Connector for FanCourier {
    type Config = Config;

    fn spec() -> Spec {
        let host = format!("{{config.base_url|{PRODUCTION}}}");
        Spec::new("fancourier", env!("CARGO_PKG_VERSION"))
            .description("FAN Courier: AWBs created from records (per-shipment rejections) and tracked as a source.")
            .role(Role::Source)
            .role(Role::Destination)
            .stream(
                StreamSpec::new("tracking")
                    .description("Scan history and current status of AWBs (created here in the last 14 days, or listed in the config)")
                    .key_field("awbNumber"),
            )
            .config_schema(config_schema())
            .host(host.clone())
            .secret(SecretSpec::new("username").description("selfAWB user name").host(host.clone()))
            .secret(SecretSpec::new("password").description("selfAWB password").host(host.clone()))
            .login(
                Login::new(
                    HostRequest::new("POST", format!("{host}/login"))
                        .form_body("username={{secret:username}}&password={{secret:password}}"),
                    TokenAt::JsonPointer("/data/token".into()),
                )
                .lifetime_secs(23 * 3600)
                .relogin_on(401),
            )
            .catalog(
                Catalog::new("FAN Courier")
                    .category(Category::Logistics)
                    .icon_svg(ICON)
                    .documentation_url("https://github.com/FAN-Courier/API-Docs")
                    .publisher("Wharf"),
            )
    }

    fn check(config: &Config) -> Result<()> {
        let response = errors().check(api(config, "GET", "reports/services").send()?)?;
        let body: Value = response.json()?;
        if body["status"] != "success" {
            return Err(Error::Fatal(
                message(&body).unwrap_or_else(|| body.to_string()),
            ));
        }
        Ok(())
    }

    fn fetch(config: &Config, stream: &str, cursor: Option<&str>) -> Result<Page> {
        if stream != "tracking" {
            return Err(Error::Config(format!(
                "unknown stream `{stream}` (tracking)"
            )));
        }
        let mut awbs: Vec<String> = config
            .awbs
            .iter()
            .cloned()
            .chain(tracked::recent())
            .collect();
        awbs.sort();
        awbs.dedup();
        let start: usize = cursor.map_or(Ok(0), str::parse).map_err(Error::fatal)?;
        let batch: Vec<&String> = awbs.iter().skip(start).take(TRACK_BATCH).collect();
        if batch.is_empty() {
            return Ok(Page::last(Vec::new(), None));
        }
        let mut request = api(config, "GET", "reports/awb/tracking")
            .query("clientId", config.client_id)
            .query("language", &config.language);
        for awb in &batch {
            request = request.query("awb[]", awb);
        }
        let body: Value = errors().check(request.send()?)?.json()?;
        if body["status"] != "success" {
            return Err(Error::Fatal(
                message(&body).unwrap_or_else(|| body.to_string()),
            ));
        }
        let records = body["data"]
            .as_array()
            .into_iter()
            .flatten()
            .map(tracking_record)
            .collect::<Result<Vec<_>>>()?;
        let next = start + batch.len();
        let more = next < awbs.len();
        Ok(Page::new(records, more.then(|| next.to_string()), more))
    }

    fn push(config: &Config, records: Vec<Record>) -> Result<PushResult> {
        awb::push(config, records)
    }
}

/// An AWB's tracking answer, with its current status (the last event).
fn tracking_record(item: &Value) -> Result<Record> {
    let mut data = item.clone();
    let last = item["events"].as_array().and_then(|e| e.last()).cloned();
    data["status"] = last.clone().unwrap_or(Value::Null);
    data["delivered"] = Value::Bool(last.as_ref().is_some_and(|e| e["id"] == "S2"));
    let key = wharf_sdk::scalar_text(&item["awbNumber"]);
    let record = Record::from_value("tracking", data)?;
    Ok(match key {
        Some(k) => record.with_key(k),
        None => record,
    })
}

/// A request to the API with the session's token.
pub(crate) fn api(config: &Config, method: &str, path: &str) -> Request {
    let base = config
        .base_url
        .as_deref()
        .filter(|b| !b.is_empty())
        .unwrap_or(PRODUCTION);
    Request::new(method, format!("{}/{path}", base.trim_end_matches('/')))
        .header("Accept", "application/json")
        .session_bearer()
}

/// FAN's errors: the message in `message`, `error` or `errors`; a 401 is
/// an expired session, which the host renews.
pub(crate) fn errors() -> ErrorMap {
    ErrorMap::new().decoder(message).renewable(true)
}

pub(crate) fn message(body: &Value) -> Option<String> {
    ["message", "error"]
        .iter()
        .find_map(|k| {
            body[*k]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        })
        .or_else(|| {
            body.get("errors")
                .filter(|e| !e.is_null())
                .map(Value::to_string)
        })
}

fn config_schema() -> Value {
    json!({
        "type": "object",
        "required": ["client_id"],
        "additionalProperties": false,
        "properties": {
            "client_id": {"type": "integer", "title": "Client ID", "description": "The sender account (branch) id from selfAWB"},
            "base_url": {"type": "string", "format": "uri", "title": "API URL", "description": "Leave empty for https://api.fancourier.ro"},
            "language": {"enum": ["ro", "en"], "default": "ro", "title": "Language", "description": "Language of tracking event names"},
            "awbs": {"type": "array", "items": {"type": "string", "pattern": "^[0-9]+$"}, "title": "AWBs to track", "description": "AWB numbers to track besides those this connection created in the last 14 days"}
        }
    })
}

export_connector!(FanCourier);
