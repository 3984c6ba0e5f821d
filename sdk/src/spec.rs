//! Building the spec a connector declares about itself.

use serde_json::{Value, json};

use crate::bindings::wharf::connector::types as wit;

/// What a connector can be used as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Implements `fetch`.
    Source,
    /// Implements `push`.
    Destination,
    /// Implements `map`.
    Mapper,
}

/// How incoming webhooks are signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookScheme {
    /// Standard Webhooks.
    StandardWebhooks,
    /// GitHub `X-Hub-Signature-256`.
    Github,
    /// Shopify `X-Shopify-Hmac-Sha256`.
    Shopify,
    /// Stripe `Stripe-Signature`.
    Stripe,
}

/// A stream a source offers.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamSpec {
    name: String,
    description: String,
    key_field: Option<String>,
    cursor_field: Option<String>,
    schema: Value,
}

impl StreamSpec {
    /// A stream accepting any object.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            description: String::new(),
            key_field: None,
            cursor_field: None,
            schema: json!({}),
        }
    }
    /// What it holds.
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.description = d.into();
        self
    }
    /// The field that identifies a record.
    pub fn key_field(mut self, f: impl Into<String>) -> Self {
        self.key_field = Some(f.into());
        self
    }
    /// The field that orders records for incremental syncs.
    pub fn cursor_field(mut self, f: impl Into<String>) -> Self {
        self.cursor_field = Some(f.into());
        self
    }
    /// JSON Schema every record's data satisfies.
    pub fn schema(mut self, s: Value) -> Self {
        self.schema = s;
        self
    }
}

/// A secret the connector uses.
#[derive(Clone, Debug, PartialEq)]
pub struct SecretSpec {
    name: String,
    description: String,
    hosts: Vec<String>,
    reveal: bool,
    required: bool,
}

impl SecretSpec {
    /// A required secret named `name`, not revealable, bound to no host yet.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            description: String::new(),
            hosts: Vec::new(),
            reveal: false,
            required: true,
        }
    }
    /// What the administrator should enter.
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.description = d.into();
        self
    }
    /// A host the secret may be sent to: `https://api.example.com`,
    /// `https://*.example.com` or `{config.base_url}`.
    pub fn host(mut self, pattern: impl Into<String>) -> Self {
        self.hosts.push(pattern.into());
        self
    }
    /// Allow `Secret::reveal` (for request signing only).
    pub fn revealable(mut self) -> Self {
        self.reveal = true;
        self
    }
    /// A connection may leave it unset.
    pub fn optional(mut self) -> Self {
        self.required = false;
        self
    }
}

/// OAuth2 authorization-code endpoints; the host runs the flow.
#[derive(Clone, Debug, PartialEq)]
pub struct OAuth2 {
    /// Authorization endpoint.
    pub authorize_url: String,
    /// Token endpoint.
    pub token_url: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Use PKCE (S256).
    pub pkce: bool,
}

/// What a connector declares about itself.
///
/// ```
/// use wharf_sdk::{Role, SecretSpec, Spec, StreamSpec, json};
///
/// let spec = Spec::new("shop", "1.2.0")
///     .description("Orders from a shop")
///     .role(Role::Source)
///     .stream(StreamSpec::new("orders").key_field("id").cursor_field("updated_at"))
///     .config_schema(json!({"type": "object", "required": ["shop"]}))
///     .host("https://{config.shop}.example-shop.com")
///     .secret(SecretSpec::new("token").host("https://{config.shop}.example-shop.com"));
/// assert_eq!(spec.name(), "shop");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    name: String,
    version: String,
    description: String,
    roles: Vec<Role>,
    streams: Vec<StreamSpec>,
    config_schema: Value,
    secrets: Vec<SecretSpec>,
    hosts: Vec<String>,
    oauth2: Option<OAuth2>,
    webhook: Option<WebhookScheme>,
}

impl Spec {
    /// A spec for `name` at `version` (semver), with an open object config.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            description: String::new(),
            roles: Vec::new(),
            streams: Vec::new(),
            config_schema: json!({"type": "object"}),
            secrets: Vec::new(),
            hosts: Vec::new(),
            oauth2: None,
            webhook: None,
        }
    }
    /// The connector's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// One paragraph for administrators.
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.description = d.into();
        self
    }
    /// Add a role.
    pub fn role(mut self, role: Role) -> Self {
        self.roles.push(role);
        self
    }
    /// Add a stream.
    pub fn stream(mut self, stream: StreamSpec) -> Self {
        self.streams.push(stream);
        self
    }
    /// JSON Schema of the config.
    pub fn config_schema(mut self, schema: Value) -> Self {
        self.config_schema = schema;
        self
    }
    /// Add a secret.
    pub fn secret(mut self, secret: SecretSpec) -> Self {
        self.secrets.push(secret);
        self
    }
    /// Add a host pattern the connector needs.
    pub fn host(mut self, pattern: impl Into<String>) -> Self {
        self.hosts.push(pattern.into());
        self
    }
    /// Declare OAuth2 endpoints.
    pub fn oauth2(mut self, oauth2: OAuth2) -> Self {
        self.oauth2 = Some(oauth2);
        self
    }
    /// Declare the signature scheme of incoming webhooks.
    pub fn webhook(mut self, scheme: WebhookScheme) -> Self {
        self.webhook = Some(scheme);
        self
    }

    pub(crate) fn into_wit(self) -> wit::ConnectorSpec {
        wit::ConnectorSpec {
            name: self.name,
            version: self.version,
            description: self.description,
            roles: self
                .roles
                .into_iter()
                .map(|r| match r {
                    Role::Source => wit::Role::Source,
                    Role::Destination => wit::Role::Destination,
                    Role::Mapper => wit::Role::Mapper,
                })
                .collect(),
            streams: self
                .streams
                .into_iter()
                .map(|s| wit::StreamSpec {
                    name: s.name,
                    description: s.description,
                    key_field: s.key_field,
                    cursor_field: s.cursor_field,
                    schema: s.schema.to_string(),
                })
                .collect(),
            config_schema: self.config_schema.to_string(),
            secrets: self
                .secrets
                .into_iter()
                .map(|s| wit::SecretSpec {
                    name: s.name,
                    description: s.description,
                    hosts: s.hosts,
                    reveal: s.reveal,
                    required: s.required,
                })
                .collect(),
            hosts: self.hosts,
            oauth2: self.oauth2.map(|o| wit::Oauth2Spec {
                authorize_url: o.authorize_url,
                token_url: o.token_url,
                scopes: o.scopes,
                pkce: o.pkce,
            }),
            webhook: self.webhook.map(|w| match w {
                WebhookScheme::StandardWebhooks => wit::WebhookScheme::StandardWebhooks,
                WebhookScheme::Github => wit::WebhookScheme::Github,
                WebhookScheme::Shopify => wit::WebhookScheme::Shopify,
                WebhookScheme::Stripe => wit::WebhookScheme::Stripe,
            }),
        }
    }
}
