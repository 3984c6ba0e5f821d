//! Intuit's webhooks. The host has verified `intuit-signature` (the
//! base64 HMAC-SHA256 of the body under the app's verifier token, the
//! connection's `webhook_secret`). Events name entities by id only, so
//! each created or changed entity is read back into a record of its
//! stream, and a deleted one becomes a delete.
//!
//! Both of Intuit's payloads are read: the classic
//! `eventNotifications[].dataChangeEvent.entities[]` and the CloudEvents
//! array (`type: qbo.invoice.updated.v1`, `intuitentityid`,
//! `intuitaccountid`). Events of another company, or of entities no stream
//! reads, are logged and left out.

use std::collections::BTreeMap;

use serde::Deserialize;
use wharf_sdk::prelude::*;

use crate::entities::{self, Entity};
use crate::{Config, api, streams};

#[derive(Deserialize)]
#[serde(untagged)]
enum Payload {
    Classic {
        #[serde(rename = "eventNotifications", default)]
        notifications: Vec<Notification>,
    },
    CloudEvents(Vec<CloudEvent>),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Notification {
    realm_id: String,
    data_change_event: DataChange,
}

#[derive(Deserialize)]
struct DataChange {
    #[serde(default)]
    entities: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    name: String,
    id: String,
    operation: String,
}

#[derive(Deserialize)]
struct CloudEvent {
    #[serde(rename = "type")]
    kind: String,
    intuitentityid: String,
    intuitaccountid: String,
}

/// One event: the company, the entity's name, its id, what happened.
struct Event {
    realm: String,
    name: String,
    id: String,
    operation: String,
}

fn events(payload: Payload) -> Vec<Event> {
    match payload {
        Payload::Classic { notifications } => notifications
            .into_iter()
            .flat_map(|n| {
                let realm = n.realm_id;
                n.data_change_event
                    .entities
                    .into_iter()
                    .map(move |c| Event {
                        realm: realm.clone(),
                        name: c.name,
                        id: c.id,
                        operation: c.operation,
                    })
            })
            .collect(),
        Payload::CloudEvents(list) => list
            .into_iter()
            .filter_map(|e| {
                // `qbo.<entity>.<operation>.v<n>`
                let mut parts = e.kind.split('.');
                let (_, name, operation) = (parts.next()?, parts.next()?, parts.next()?);
                Some(Event {
                    realm: e.intuitaccountid,
                    name: name.to_string(),
                    id: e.intuitentityid,
                    operation: operation.to_string(),
                })
            })
            .collect(),
    }
}

/// The records of a delivery for this connection's company: the current
/// state of each entity it names, the last event of an entity winning.
pub fn receive(config: &Config, delivery: Delivery) -> Result<Vec<Record>> {
    let payload: Payload = delivery.json()?;
    let realm = api::realm()?;
    let mut latest: BTreeMap<(&'static str, String), (&'static Entity, bool)> = BTreeMap::new();
    for event in events(payload) {
        if event.realm != realm {
            wharf_sdk::log::info(format!(
                "ignored an event of company {} (this connection reads {realm})",
                event.realm
            ));
            continue;
        }
        let Some(entity) = entities::by_name(&event.name) else {
            wharf_sdk::log::info(format!(
                "ignored a {} event (no stream reads {})",
                event.operation, event.name
            ));
            continue;
        };
        if event.id.is_empty() || !event.id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::fatal(format!(
                "a {} event with id `{}`, which is not a QuickBooks id",
                event.name, event.id
            )));
        }
        let deleted = event.operation.eq_ignore_ascii_case("delete")
            || event.operation.eq_ignore_ascii_case("deleted");
        latest.insert((entity.stream, event.id), (entity, deleted));
    }
    let mut records = Vec::with_capacity(latest.len());
    for ((stream, id), (entity, deleted)) in latest {
        if deleted {
            records.push(Record::delete(stream, id));
            continue;
        }
        let response = api::get(config, &realm, &format!("{}/{id}", entity.path())).send()?;
        if gone(&response) {
            wharf_sdk::log::info(format!("{} {id} is gone", entity.name));
            continue;
        }
        let mut body: Value = api::errors().check(response)?.json()?;
        match body.get_mut(entity.name).map(Value::take) {
            Some(item @ Value::Object(_)) => records.push(streams::record(entity, item)?),
            _ => {
                return Err(Error::fatal(format!(
                    "QuickBooks answered {} {id} without it",
                    entity.name
                )));
            }
        }
    }
    Ok(records)
}

/// Whether a read found nothing: Intuit answers a missing (or deleted)
/// entity with a validation fault of code 610, "Object Not Found".
pub fn gone(response: &Response) -> bool {
    response.status == 404
        || (response.status == 400
            && response
                .json::<Value>()
                .is_ok_and(|body| api::fault_code(&body).as_deref() == Some("610")))
}
