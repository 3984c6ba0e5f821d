//! Events: what happened, queued for every subscribed endpoint. A leaf
//! that any layer may call (runs, OAuth2, uploads); delivering them is
//! `webhooks::sender`'s job.
//!
//! Events: `run.succeeded`, `run.failed`, `connection.error`,
//! `connection.needs_reauth`, `connector.uploaded` (and `webhook.test`).

use serde_json::{Value, json};

use crate::store::Store;

/// Events an endpoint can subscribe to.
pub const EVENTS: [&str; 5] = [
    "run.succeeded",
    "run.failed",
    "connection.error",
    "connection.needs_reauth",
    "connector.uploaded",
];

/// A new message id (the `webhook-id`, stable across retries).
pub fn new_message_id() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("the OS random source works");
    format!("msg_{}", hex::encode(b))
}

/// The Standard Webhooks envelope of an event.
pub fn envelope(event: &str, data: Value) -> Value {
    json!({
        "type": event,
        "timestamp": crate::clock::rfc3339(crate::clock::now_ms() / 1000),
        "data": data,
    })
}

/// Queue `event` for every enabled endpoint subscribed to it. Failures are
/// logged: an event must never break the work that caused it.
pub async fn emit(store: &Store, event: &str, data: Value) {
    let payload = envelope(event, data);
    let endpoints = match store.webhooks().await {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, event, "could not read webhook endpoints");
            return;
        }
    };
    for w in endpoints
        .iter()
        .filter(|w| w.enabled && w.events.iter().any(|e| e == event))
    {
        if let Err(e) = store
            .enqueue_message(&new_message_id(), &w.id, event, &payload)
            .await
        {
            tracing::warn!(error = %e, event, webhook = %w.id, "could not queue an event");
        }
    }
}
