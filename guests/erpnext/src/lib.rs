//! `erpnext`: ERPNext (and any Frappe site) as a source, a destination and
//! a webhook receiver, over Frappe's REST API (`/api/resource/{doctype}`).
//!
//! - Every DocType the API key may read is a stream, named as the DocType
//!   (`Customer`, `Sales Invoice`); `discover` lists them, with each
//!   configured DocType's fields as a JSON Schema.
//! - Reads page with `limit_start`/`limit_page_length`, ordered by
//!   `modified` then `name`, and are incremental by `modified` (a
//!   `filters` expression from the last value, moved back by a lookback
//!   window; records seen twice land as unchanged).
//! - Writes upsert by name ([`push`]).
//! - Frappe webhooks are verified with `X-Frappe-Webhook-Signature` (base64
//!   HMAC-SHA256 of the raw body) and become records ([`receive`]).
//!
//! Built from Frappe's documentation and source; see
//! `docs/vendors/frappe.md` for the wire format and its sources.

mod frappe;
mod push;
mod schema;

use std::collections::BTreeMap;

use serde::Deserialize;
use wharf_sdk::auth::{Encoding, Hash};
use wharf_sdk::catalog::{Catalog, Category};
use wharf_sdk::prelude::*;
use wharf_sdk::rest::{Incremental, Paginator, RestStream, StreamState};
use wharf_sdk::webhook::Hmac;
use wharf_sdk::{Delivery, WebhookScheme};

use frappe::{errors, request, resource_url};

/// The connection config.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The site, e.g. `https://erp.example.com`.
    base_url: String,
    /// DocTypes to offer (empty: every DocType the key may read).
    #[serde(default)]
    doctypes: Vec<String>,
    /// Documents per request.
    #[serde(default = "default_page_size")]
    page_size: u64,
    /// Seconds an incremental read goes back before the last `modified`.
    #[serde(default = "default_lookback")]
    lookback_secs: i64,
    /// Fields to read per DocType (default: all of them).
    #[serde(default)]
    fields: BTreeMap<String, Vec<String>>,
    /// Extra filters per DocType, in Frappe's `[[field, op, value]]` form.
    #[serde(default)]
    filters: BTreeMap<String, Vec<Value>>,
}

fn default_page_size() -> u64 {
    100
}

fn default_lookback() -> i64 {
    60
}

const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="12" fill="#0089ff"/><path d="M20 16h24v7H28v6h14v7H28v6h16v7H20z" fill="#fff"/></svg>"##;

pub struct Erpnext;

impl Connector for Erpnext {
    type Config = Config;

    fn spec() -> Spec {
        Spec::new("erpnext", env!("CARGO_PKG_VERSION"))
            .description(
                "ERPNext and other Frappe sites: every DocType as a stream (incremental by \
                 `modified`), documents upserted by name, and Frappe webhooks as records.",
            )
            .role(Role::Source)
            .role(Role::Destination)
            .config_schema(config_schema())
            .host("{config.base_url}")
            .secret(
                SecretSpec::new("api_key")
                    .description("API Key of the user Wharf acts as (User → Settings → API Access)")
                    .host("{config.base_url}"),
            )
            .secret(
                SecretSpec::new("api_secret")
                    .description("API Secret shown once when the key is generated")
                    .host("{config.base_url}"),
            )
            .webhook(WebhookScheme::Hmac(Hmac::new(
                "x-frappe-webhook-signature",
                Hash::Sha256,
                Encoding::Base64,
                "{body}",
            )))
            .catalog(
                Catalog::new("ERPNext")
                    .category(Category::Erp)
                    .category(Category::Accounting)
                    .icon_svg(ICON)
                    .documentation_url("https://docs.frappe.io/framework/user/en/api/rest")
                    .publisher("Wharf"),
            )
    }

    fn check(config: &Config) -> Result<()> {
        let url = format!(
            "{}/api/method/frappe.auth.get_logged_user",
            config.base_url.trim_end_matches('/')
        );
        let response = errors().check(request("GET", url).send()?)?;
        let body: Value = response.json()?;
        match body.get("message").and_then(Value::as_str) {
            Some("Guest") | None => Err(Error::Auth(
                "the site answered as Guest: the API key and secret were not accepted".into(),
            )),
            Some(user) => {
                wharf_sdk::log::info(format!("signed in to {} as {user}", config.base_url));
                Ok(())
            }
        }
    }

    fn discover(config: &Config) -> Result<Vec<StreamSpec>> {
        if !config.doctypes.is_empty() {
            return config
                .doctypes
                .iter()
                .map(|doctype| described(config, doctype))
                .collect();
        }
        let url = resource_url(&config.base_url, "DocType", None);
        let list = request("GET", url)
            .query("fields", r#"["name","module"]"#)
            .query("filters", r#"[["istable","=",0],["issingle","=",0]]"#)
            .query("order_by", "name asc")
            .query("limit_page_length", 0);
        let mut body: Value = errors().check(list.send()?)?.json()?;
        let rows = wharf_sdk::rest::records_at(&mut body, "/data")?;
        Ok(rows
            .iter()
            .filter_map(|row| {
                let name = row.get("name")?.as_str()?;
                let module = row.get("module").and_then(Value::as_str).unwrap_or("");
                Some(stream_spec(name, module, schema::generic()))
            })
            .collect())
    }

    fn fetch(config: &Config, stream: &str, cursor: Option<&str>) -> Result<Page> {
        if !config.doctypes.is_empty() && !config.doctypes.iter().any(|d| d == stream) {
            return Err(Error::Config(format!(
                "`{stream}` is not one of this connection's DocTypes ({})",
                config.doctypes.join(", ")
            )));
        }
        let state = StreamState::from_cursor(cursor)?;
        read(config, stream, state.window.since.is_some()).fetch(cursor)
    }

    fn push(config: &Config, records: Vec<Record>) -> Result<PushResult> {
        push::push(config, records)
    }

    /// A Frappe webhook: the document (or the fields the webhook's JSON
    /// template picks) as a record of its DocType. The DocType is the
    /// body's `doctype`, or the `doctype` query parameter of the URL the
    /// webhook posts to; `?event=on_trash` on that URL makes the delivery
    /// a delete.
    fn receive(_config: &Config, delivery: Delivery) -> Result<Vec<Record>> {
        let body: Value = delivery.json()?;
        let Value::Object(data) = body else {
            return Err(Error::fatal(
                "a Frappe webhook body must be a JSON object (set the webhook's request structure to JSON)",
            ));
        };
        let param = |name: &str| {
            delivery
                .query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let doctype = data
            .get("doctype")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| param("doctype"))
            .ok_or_else(|| {
                Error::fatal("the delivery names no DocType: send `doctype` in the body or add ?doctype=… to the webhook URL")
            })?;
        let name = data
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| Error::fatal("the delivery has no document `name`"))?;
        if param("event").as_deref() == Some("on_trash") {
            return Ok(vec![Record::delete(doctype, name)]);
        }
        Ok(vec![Record::upsert(doctype, data).with_key(name)])
    }
}

/// One configured DocType with its fields' schema.
fn described(config: &Config, doctype: &str) -> Result<StreamSpec> {
    let url = resource_url(&config.base_url, "DocType", Some(doctype));
    let body: Value = errors().check(request("GET", url).send()?)?.json()?;
    let meta = &body["data"];
    let fields = meta["fields"].as_array().cloned().unwrap_or_default();
    let module = meta["module"].as_str().unwrap_or("");
    Ok(stream_spec(doctype, module, schema::of_fields(&fields)))
}

fn stream_spec(doctype: &str, module: &str, schema: Value) -> StreamSpec {
    let description = if module.is_empty() {
        format!("{doctype} documents")
    } else {
        format!("{doctype} documents ({module})")
    };
    StreamSpec::new(doctype)
        .description(description)
        .key_field("name")
        .cursor_field("modified")
        .schema(schema)
}

/// How a DocType is read. Frappe takes one `filters` parameter, so on an
/// incremental read the `modified` bound joins the configured filters in
/// the template; on a full read the configured filters go alone.
fn read(config: &Config, doctype: &str, bounded: bool) -> RestStream {
    let mut fields = config
        .fields
        .get(doctype)
        .cloned()
        .unwrap_or_else(|| vec!["*".into()]);
    if !fields.iter().any(|f| f == "*") {
        for needed in ["name", "modified"] {
            if !fields.iter().any(|f| f == needed) {
                fields.push(needed.into());
            }
        }
    }
    let filters = config.filters.get(doctype).cloned().unwrap_or_default();
    let mut first = request("GET", resource_url(&config.base_url, doctype, None))
        .query("fields", Value::from(fields).to_string())
        .query("order_by", "modified asc, name asc");
    if !bounded && !filters.is_empty() {
        first = first.query("filters", Value::from(filters.clone()).to_string());
    }
    let mut with_bound = filters;
    with_bound.push(json!(["modified", ">=", "{bound}"]));
    RestStream::new(doctype, first)
        .paginator(Paginator::offset(
            "limit_start",
            "limit_page_length",
            config.page_size.max(1),
        ))
        .records("/data")
        .key("name")
        .incremental(
            Incremental::new("modified", "filters")
                .template(Value::from(with_bound).to_string())
                .lookback_secs(config.lookback_secs.max(0)),
        )
        .errors(errors())
}

fn config_schema() -> Value {
    json!({
        "type": "object",
        "required": ["base_url"],
        "additionalProperties": false,
        "properties": {
            "base_url": {
                "type": "string", "format": "uri", "title": "Site URL",
                "description": "The ERPNext or Frappe site, e.g. https://erp.example.com (a Frappe Cloud site, a self-hosted server, or a test site)"
            },
            "doctypes": {
                "type": "array", "items": {"type": "string", "minLength": 1}, "title": "DocTypes",
                "description": "DocTypes to offer as streams, e.g. Customer, Sales Invoice; leave empty to list every DocType the API key may read"
            },
            "page_size": {
                "type": "integer", "minimum": 1, "maximum": 1000, "default": 100, "title": "Page size",
                "description": "Documents per request (limit_page_length)"
            },
            "lookback_secs": {
                "type": "integer", "minimum": 0, "default": 60, "title": "Lookback (seconds)",
                "description": "An incremental read starts this far before the last `modified` seen, for documents saved late; repeats land as unchanged"
            },
            "fields": {
                "type": "object", "title": "Fields per DocType",
                "description": "Fields to read, by DocType, e.g. {\"Customer\": [\"customer_name\", \"territory\"]}; all fields when absent",
                "additionalProperties": {"type": "array", "items": {"type": "string"}}
            },
            "filters": {
                "type": "object", "title": "Filters per DocType",
                "description": "Extra filters, by DocType, in Frappe's form, e.g. {\"Sales Invoice\": [[\"docstatus\", \"=\", 1]]}",
                "additionalProperties": {"type": "array", "items": {"type": "array", "minItems": 3, "maxItems": 4}}
            }
        }
    })
}

export_connector!(Erpnext);

#[cfg(test)]
mod tests {
    use super::*;

    fn config(filters: Value) -> Config {
        serde_json::from_value(json!({
            "base_url": "https://erp.test",
            "fields": {"Customer": ["customer_name"]},
            "filters": filters,
            "page_size": 2
        }))
        .unwrap()
    }

    #[test]
    fn the_bound_joins_the_configured_filters() {
        let c = config(json!({"Customer": [["disabled", "=", 0]]}));
        let state = StreamState {
            next: None,
            window: wharf_sdk::rest::Window {
                since: Some("2024-05-01 08:00:00".into()),
                max: None,
            },
        };
        let url = read(&c, "Customer", true)
            .request_for(&state)
            .url()
            .to_string();
        let query = url.split_once('?').unwrap().1;
        let filters: Vec<&str> = query
            .split('&')
            .filter(|p| p.starts_with("filters="))
            .collect();
        assert_eq!(filters.len(), 1, "{url}");
        let decoded = filters[0]
            .trim_start_matches("filters=")
            .replace("%5B", "[")
            .replace("%5D", "]")
            .replace("%22", "\"")
            .replace("%2C", ",")
            .replace("%3D", "=")
            .replace("%3E", ">")
            .replace("%3A", ":")
            .replace("%20", " ");
        assert_eq!(
            decoded,
            r#"[["disabled","=",0],["modified",">=","2024-05-01 07:59:00"]]"#
        );
        assert!(url.contains("limit_page_length=2"), "{url}");
        assert!(
            url.contains("fields=%5B%22customer_name%22%2C%22name%22%2C%22modified%22%5D"),
            "{url}"
        );
        let full = read(&c, "Customer", false).request_for(&StreamState::default());
        assert!(
            full.url().contains("filters=%5B%5B%22disabled%22"),
            "{}",
            full.url()
        );
    }
}
