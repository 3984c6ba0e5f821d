//! Graph's change notifications for the folder's messages. The host has
//! answered the subscription's validation (`?validationToken=…` echoed as
//! text/plain) and verified the delivery; each notification names a
//! message (`resourceData.id`): created and updated ones are read back
//! into records of `messages`, deleted ones become deletes. Lifecycle
//! notifications (`missed`, `subscriptionRemoved`,
//! `reauthorizationRequired`) carry no message: they are logged, and the
//! scheduled delta sync catches up on whatever was missed.
//!
//! Graph may send a notification more than once and out of order, so a
//! message is read as it is now rather than trusted from the payload.

use std::collections::BTreeMap;

use serde::Deserialize;
use wharf_sdk::http::encode;
use wharf_sdk::prelude::*;

use crate::graph::{self, MESSAGE_FIELDS};
use crate::{Config, MESSAGES};

#[derive(Deserialize)]
struct Collection {
    #[serde(default)]
    value: Vec<Notification>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Notification {
    #[serde(default)]
    change_type: String,
    #[serde(default)]
    resource: String,
    #[serde(default)]
    resource_data: Option<ResourceData>,
    #[serde(default)]
    lifecycle_event: Option<String>,
    #[serde(default)]
    subscription_id: String,
}

#[derive(Deserialize)]
struct ResourceData {
    #[serde(default)]
    id: Option<String>,
}

impl Notification {
    /// The message id: `resourceData.id`, else the last segment of
    /// `resource` (`Users/{uid}/Messages/{id}`).
    fn message_id(&self) -> Option<String> {
        self.resource_data
            .as_ref()
            .and_then(|d| d.id.clone())
            .or_else(|| {
                let (kind, id) = self.resource.rsplit_once('/')?;
                kind.to_ascii_lowercase().ends_with("messages").then(|| {
                    id.trim_matches(|c| c == '(' || c == ')' || c == '\'')
                        .to_string()
                })
            })
            .filter(|id| !id.is_empty())
    }
}

/// The records of a delivery.
pub fn receive(config: &Config, delivery: Delivery) -> Result<Vec<Record>> {
    let payload: Collection = delivery.json()?;
    // The last change of each message decides, in the order they came.
    let mut changes: BTreeMap<String, bool> = BTreeMap::new();
    for n in &payload.value {
        if let Some(event) = &n.lifecycle_event {
            wharf_sdk::log::warn(format!(
                "Graph lifecycle notification `{event}` for subscription {}: the next delta sync catches up",
                n.subscription_id
            ));
            continue;
        }
        let Some(id) = n.message_id() else {
            wharf_sdk::log::info(format!(
                "ignored a `{}` notification that names no message",
                n.change_type
            ));
            continue;
        };
        changes.insert(id, n.change_type.eq_ignore_ascii_case("deleted"));
    }
    let mut records = Vec::with_capacity(changes.len());
    for (id, deleted) in changes {
        if deleted {
            let mut r = Record::delete(MESSAGES, id.clone());
            r.data.insert("id".into(), json!(id));
            records.push(r);
            continue;
        }
        let request = graph::get(config, &format!("me/messages/{}", encode(&id)))
            .query("$select", MESSAGE_FIELDS);
        let response = request.send()?;
        if response.status == 404 {
            // Gone again since the notification was sent.
            let mut r = Record::delete(MESSAGES, id.clone());
            r.data.insert("id".into(), json!(id));
            records.push(r);
            continue;
        }
        let item: Value = graph::errors().check(response)?.json()?;
        records.push(graph::message_record(item)?);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_name_their_message() {
        let payload: Collection = serde_json::from_value(json!({"value": [
            {"subscriptionId": "s1", "changeType": "created", "resource": "Users/u1/Messages/AAMkA1",
             "resourceData": {"@odata.type": "#Microsoft.Graph.Message", "@odata.id": "Users/u1/Messages/AAMkA1", "id": "AAMkA1"},
             "clientState": "secret", "tenantId": "t"},
            {"subscriptionId": "s1", "changeType": "deleted", "resource": "Users/u1/Messages/AAMkA2"},
            {"subscriptionId": "s1", "lifecycleEvent": "missed"}
        ]}))
        .unwrap();
        let ids: Vec<Option<String>> = payload.value.iter().map(Notification::message_id).collect();
        assert_eq!(
            ids,
            vec![Some("AAMkA1".into()), Some("AAMkA2".into()), None]
        );
    }
}
