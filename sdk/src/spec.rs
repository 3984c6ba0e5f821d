//! Building the spec a connector declares about itself.

use serde_json::{Value, json};

use crate::auth::{Login, OAuth2, SigningKey};
use crate::bindings::wharf::connector::types as wit;
use crate::catalog::{Catalog, RateBudget};
use crate::webhook::Webhook;

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

    pub(crate) fn into_wit(self) -> wit::StreamSpec {
        wit::StreamSpec {
            name: self.name,
            description: self.description,
            key_field: self.key_field,
            cursor_field: self.cursor_field,
            schema: self.schema.to_string(),
        }
    }
}

/// A secret the connector uses.
#[derive(Clone, Debug, PartialEq)]
pub struct SecretSpec {
    name: String,
    description: String,
    hosts: Vec<String>,
    required: bool,
}

impl SecretSpec {
    /// A required secret named `name`, bound to no host yet.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            description: String::new(),
            hosts: Vec::new(),
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
    /// A connection may leave it unset.
    pub fn optional(mut self) -> Self {
        self.required = false;
        self
    }
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
    webhook: Option<Webhook>,
    login: Option<Login>,
    signing: Vec<SigningKey>,
    rate_budgets: Vec<RateBudget>,
    catalog: Catalog,
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
            login: None,
            signing: Vec::new(),
            rate_budgets: Vec::new(),
            catalog: Catalog::default(),
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
    /// Declare OAuth2 (the host runs the grant and refreshes tokens).
    pub fn oauth2(mut self, oauth2: OAuth2) -> Self {
        self.oauth2 = Some(oauth2);
        self
    }
    /// Declare incoming webhooks: a scheme, or a [`Webhook`] with a
    /// handshake and reply rules.
    pub fn webhook(mut self, webhook: impl Into<Webhook>) -> Self {
        self.webhook = Some(webhook.into());
        self
    }
    /// Declare a login session the host keeps (`{{session:token}}`).
    pub fn login(mut self, login: Login) -> Self {
        self.login = Some(login);
        self
    }
    /// Declare a key the host signs requests with ([`crate::http::Request::sign`]).
    pub fn signing(mut self, key: SigningKey) -> Self {
        self.signing.push(key);
        self
    }
    /// Declare a rate budget for a host.
    pub fn rate_budget(mut self, budget: RateBudget) -> Self {
        self.rate_budgets.push(budget);
        self
    }
    /// How the connector presents itself in a catalog.
    pub fn catalog(mut self, catalog: Catalog) -> Self {
        self.catalog = catalog;
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
            streams: self.streams.into_iter().map(StreamSpec::into_wit).collect(),
            config_schema: self.config_schema.to_string(),
            secrets: self
                .secrets
                .into_iter()
                .map(|s| wit::SecretSpec {
                    name: s.name,
                    description: s.description,
                    hosts: s.hosts,
                    required: s.required,
                })
                .collect(),
            hosts: self.hosts,
            oauth2: self.oauth2.map(OAuth2::into_wit),
            webhook: self.webhook.map(Webhook::into_wit),
            login: self.login.map(Login::into_wit),
            signing: self.signing.into_iter().map(SigningKey::into_wit).collect(),
            rate_budgets: self
                .rate_budgets
                .into_iter()
                .map(RateBudget::into_wit)
                .collect(),
            catalog: self.catalog.into_wit(),
        }
    }
}
