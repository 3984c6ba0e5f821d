//! Webhooks as transport, in and out (what is emitted is `crate::events`).
//!
//! - [`verify`]: signatures of incoming deliveries (Standard Webhooks,
//!   GitHub, Shopify, Stripe, a generic HMAC, a static token) and
//!   Standard Webhooks signing for ours.
//! - [`handshake`]: the handshakes senders make when a URL is registered
//!   (Graph, Slack, Meta).
//! - [`sender`]: the durable delivery queue of outgoing events: retries with
//!   backoff and jitter, `Retry-After`, SSRF rules at send, endpoints
//!   disabled on 410 or after days of failure.

pub mod handshake;
pub mod notify;
pub mod sender;
pub mod verify;

use base64::Engine as _;

/// A new signing secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> String {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("the OS random source works");
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(b)
    )
}
