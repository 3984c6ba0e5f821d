//! Incoming webhooks: how the host authenticates deliveries (four known
//! schemes, a generic HMAC, a static token), the handshake a sender makes
//! when a URL is registered, and how the host answers. Your `receive` only
//! ever sees verified deliveries.

use crate::auth::{Encoding, Hash};
use crate::bindings::wharf::connector::types as wit;

/// How deliveries are authenticated.
#[derive(Clone, Debug, PartialEq)]
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
    Hmac(Hmac),
    /// A static token the sender puts in this header; or, named
    /// `json:<pointer>`, at that place of the JSON body, `*` standing for
    /// every element of an array (Microsoft Graph:
    /// `json:/value/*/clientState`, which every notification must carry).
    StaticToken(String),
}

/// A generic HMAC signature of deliveries.
///
/// ```
/// use wharf_sdk::auth::{Encoding, Hash};
/// use wharf_sdk::webhook::Hmac;
/// // Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256("v0:{ts}:{body}")>`.
/// let slack = Hmac::new("x-slack-signature", Hash::Sha256, Encoding::Hex, "v0:{timestamp}:{body}")
///     .prefix("v0=")
///     .timestamp("x-slack-request-timestamp", 300);
/// # let _ = slack;
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Hmac {
    signature_header: String,
    hash: Hash,
    encoding: Encoding,
    prefix: String,
    signed: String,
    timestamp_header: Option<String>,
    tolerance_secs: u32,
    id_header: Option<String>,
}

impl Hmac {
    /// The signature in `header`, over `signed` (`{body}`, `{timestamp}`,
    /// `{header:NAME}`).
    pub fn new(
        header: impl Into<String>,
        hash: Hash,
        encoding: Encoding,
        signed: impl Into<String>,
    ) -> Self {
        Self {
            signature_header: header.into(),
            hash,
            encoding,
            prefix: String::new(),
            signed: signed.into(),
            timestamp_header: None,
            tolerance_secs: 0,
            id_header: None,
        }
    }

    /// What comes before the signature (`sha256=`, `v0=`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The timestamp header, and how far it may be from now.
    pub fn timestamp(mut self, header: impl Into<String>, tolerance_secs: u32) -> Self {
        self.timestamp_header = Some(header.into());
        self.tolerance_secs = tolerance_secs;
        self
    }

    /// A header with a delivery id, for refusing replays.
    pub fn id_header(mut self, header: impl Into<String>) -> Self {
        self.id_header = Some(header.into());
        self
    }
}

/// A handshake a sender makes.
#[derive(Clone, Debug, PartialEq)]
pub enum Handshake {
    /// Answer a JSON body whose `type` is the first value with its field
    /// named by the second (Slack: `url_verification`, `challenge`).
    EchoJson(String, String),
    /// Answer with the value of this query parameter, as text (Microsoft
    /// Graph: `validationToken`).
    EchoQuery(String),
    /// Meta's `hub.challenge`, checked against the connection's
    /// `webhook_verify_token` secret.
    HubChallenge,
}

/// Incoming webhooks of a connector.
#[derive(Clone, Debug, PartialEq)]
pub struct Webhook {
    scheme: WebhookScheme,
    handshake: Option<Handshake>,
    plain_replies: bool,
}

impl From<WebhookScheme> for Webhook {
    fn from(scheme: WebhookScheme) -> Self {
        Self::new(scheme)
    }
}

impl Webhook {
    /// Deliveries authenticated by `scheme`.
    pub fn new(scheme: WebhookScheme) -> Self {
        Self {
            scheme,
            handshake: None,
            plain_replies: false,
        }
    }

    /// The sender makes this handshake.
    pub fn handshake(mut self, handshake: Handshake) -> Self {
        self.handshake = Some(handshake);
        self
    }

    /// Answer a valid delivery 200 with an empty body and an invalid one
    /// 401 (Xero's intent to receive).
    pub fn plain_replies(mut self) -> Self {
        self.plain_replies = true;
        self
    }

    pub(crate) fn into_wit(self) -> wit::WebhookSpec {
        wit::WebhookSpec {
            scheme: match self.scheme {
                WebhookScheme::StandardWebhooks => wit::WebhookScheme::StandardWebhooks,
                WebhookScheme::Github => wit::WebhookScheme::Github,
                WebhookScheme::Shopify => wit::WebhookScheme::Shopify,
                WebhookScheme::Stripe => wit::WebhookScheme::Stripe,
                WebhookScheme::StaticToken(h) => wit::WebhookScheme::StaticToken(h),
                WebhookScheme::Hmac(h) => wit::WebhookScheme::Hmac(wit::HmacScheme {
                    signature_header: h.signature_header,
                    hash: h.hash.into_wit(),
                    encoding: h.encoding.into_wit(),
                    prefix: h.prefix,
                    signed: h.signed,
                    timestamp_header: h.timestamp_header,
                    tolerance_secs: h.tolerance_secs,
                    id_header: h.id_header,
                }),
            },
            handshake: self.handshake.map(|h| match h {
                Handshake::EchoJson(event_type, field) => {
                    wit::Handshake::EchoJson(wit::EchoJson { event_type, field })
                }
                Handshake::EchoQuery(p) => wit::Handshake::EchoQuery(p),
                Handshake::HubChallenge => wit::Handshake::HubChallenge,
            }),
            plain_replies: self.plain_replies,
        }
    }
}
