//! Xero's webhooks. The host has verified `x-xero-signature` (and answers
//! Xero's intent-to-receive probes: 200 with no body for a good signature,
//! 401 for a bad one). Events carry ids only, so each changed invoice or
//! contact is read back into a record of its stream.

use std::collections::BTreeSet;

use serde::Deserialize;
use wharf_sdk::prelude::*;
use wharf_sdk::scalar_text;

use crate::streams::dates_to_rfc3339;
use crate::{Config, api, tenant};

#[derive(Deserialize)]
struct Payload {
    #[serde(default)]
    events: Vec<Event>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    resource_id: String,
    tenant_id: String,
    event_category: String,
    #[serde(default)]
    event_type: String,
}

/// The records of a delivery: the current state of every invoice and
/// contact it names, for this connection's organisation.
pub fn receive(config: &Config, delivery: Delivery) -> Result<Vec<Record>> {
    let payload: Payload = delivery.json()?;
    if payload.events.is_empty() {
        // Intent to receive: nothing to read.
        return Ok(Vec::new());
    }
    let tenant = tenant::id(config)?;
    let mut wanted = BTreeSet::new();
    for event in &payload.events {
        let stream = match event.event_category.as_str() {
            "INVOICE" => ("invoices", "Invoices", "InvoiceID"),
            "CONTACT" => ("contacts", "Contacts", "ContactID"),
            other => {
                wharf_sdk::log::info(format!("ignored a {other} event (no stream reads it)"));
                continue;
            }
        };
        if event.tenant_id != tenant {
            wharf_sdk::log::info(format!(
                "ignored an event of organisation {} (this connection reads {tenant})",
                event.tenant_id
            ));
            continue;
        }
        // Only ids that look like Xero's GUIDs go into a URL path.
        if !event
            .resource_id
            .chars()
            .all(|c| c.is_ascii_hexdigit() || c == '-')
        {
            return Err(Error::fatal(format!(
                "a {} event with resource id `{}`, which is not a Xero id",
                event.event_type, event.resource_id
            )));
        }
        wanted.insert((stream, event.resource_id.clone()));
    }
    let mut records = Vec::with_capacity(wanted.len());
    for ((stream, resource, key), id) in wanted {
        let response = api::get(config, &format!("{resource}/{id}"))
            .header("Xero-Tenant-Id", tenant.as_str())
            .send()?;
        if response.status == 404 {
            wharf_sdk::log::info(format!("{stream} {id} is gone"));
            continue;
        }
        let mut body: Value = api::errors().check(response)?.json()?;
        for mut item in wharf_sdk::rest::records_at(&mut body, &format!("/{resource}"))? {
            dates_to_rfc3339(&mut item);
            let key = scalar_text(&item[key]);
            let mut record = Record::from_value(stream, item)?;
            record.key = key;
            records.push(record);
        }
    }
    Ok(records)
}
