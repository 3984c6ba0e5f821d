//! Incoming webhooks as a spec declares them: how deliveries are
//! authenticated (four known schemes, a generic HMAC described field by
//! field, a static token), the handshake a sender makes, and how the host
//! replies. The host verifies; the connector sees only verified deliveries.

use serde::{Deserialize, Deserializer, Serialize};

use super::auth::{HmacHash, SignatureEncoding};

/// Incoming webhooks of a connector.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct WebhookSpec {
    /// How deliveries are authenticated.
    pub scheme: WebhookScheme,
    /// A handshake, if the sender makes one.
    pub handshake: Option<Handshake>,
    /// Valid: 200 with an empty body; invalid: 401 (Xero's intent to
    /// receive), instead of 202 with the outcome.
    pub plain_replies: bool,
}

impl WebhookSpec {
    /// A spec with just a scheme (what contract 0.1 could say).
    pub fn scheme(scheme: WebhookScheme) -> Self {
        Self {
            scheme,
            handshake: None,
            plain_replies: false,
        }
    }
}

/// Specs stored before contract 0.2 hold the scheme's name alone.
impl<'de> Deserialize<'de> for WebhookSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Full {
            scheme: WebhookScheme,
            #[serde(default)]
            handshake: Option<Handshake>,
            #[serde(default)]
            plain_replies: bool,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Stored {
            Name(String),
            Full(Full),
        }
        match Stored::deserialize(d)? {
            Stored::Full(f) => Ok(Self {
                scheme: f.scheme,
                handshake: f.handshake,
                plain_replies: f.plain_replies,
            }),
            Stored::Name(name) => {
                let scheme = match name.as_str() {
                    "standard-webhooks" => WebhookScheme::StandardWebhooks,
                    "github" => WebhookScheme::Github,
                    "shopify" => WebhookScheme::Shopify,
                    "stripe" => WebhookScheme::Stripe,
                    other => {
                        return Err(serde::de::Error::custom(format!(
                            "unknown webhook scheme `{other}`"
                        )));
                    }
                };
                Ok(Self::scheme(scheme))
            }
        }
    }
}

/// How deliveries are authenticated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum WebhookScheme {
    /// Standard Webhooks.
    StandardWebhooks,
    /// GitHub `X-Hub-Signature-256`.
    Github,
    /// Shopify `X-Shopify-Hmac-Sha256`.
    Shopify,
    /// Stripe `Stripe-Signature`.
    Stripe,
    /// An HMAC described field by field.
    Hmac(HmacScheme),
    /// A static token in a header.
    StaticToken {
        /// The header.
        header: String,
    },
}

/// A generic HMAC webhook signature.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HmacScheme {
    /// Header with the signature.
    pub signature_header: String,
    /// Hash.
    pub hash: HmacHash,
    /// Hex or base64.
    pub encoding: SignatureEncoding,
    /// Prefix before the signature.
    pub prefix: String,
    /// What was signed (`{body}`, `{timestamp}`, `{header:NAME}`).
    pub signed: String,
    /// Header with the timestamp.
    pub timestamp_header: Option<String>,
    /// Seconds a timestamp may be off.
    pub tolerance_secs: u32,
    /// Header with a delivery id (for replays).
    pub id_header: Option<String>,
}

/// A handshake a sender makes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Handshake {
    /// Answer a JSON body whose `type` is `event_type` with its `field`.
    EchoJson {
        /// The value of `type`.
        event_type: String,
        /// The field to answer with.
        field: String,
    },
    /// Answer with the value of this query parameter, as text/plain.
    EchoQuery {
        /// The parameter.
        parameter: String,
    },
    /// Meta's `hub.challenge` with the connection's `webhook_verify_token`.
    HubChallenge,
}
