//! Webhooks, in and out.
//!
//! - [`verify`]: signatures of incoming deliveries (Standard Webhooks,
//!   GitHub, Shopify, Stripe) and Standard Webhooks signing for ours.
//! - [`sender`]: the durable delivery queue of outgoing events: retries with
//!   backoff and jitter, `Retry-After`, SSRF rules at send, endpoints
//!   disabled on 410 or after days of failure.
//!
//! Events: `run.succeeded`, `run.failed`, `connection.error`,
//! `connection.needs_reauth`, `connector.uploaded` (and `webhook.test`).

pub mod sender;
pub mod verify;

use base64::Engine as _;
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

/// A new signing secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> String {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("the OS random source works");
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(b)
    )
}

/// A new message id (the `webhook-id`, stable across retries).
pub fn new_message_id() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("the OS random source works");
    format!("msg_{}", hex::encode(b))
}

/// The Standard Webhooks envelope of an event.
pub fn envelope(event: &str, data: Value) -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (y, m, d) = crate::sync::schedule::civil_from_days(now.div_euclid(86_400));
    let s = now.rem_euclid(86_400);
    json!({
        "type": event,
        "timestamp": format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", s / 3600, (s % 3600) / 60, s % 60),
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
