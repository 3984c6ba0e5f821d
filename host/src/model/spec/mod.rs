//! The host's view of a connector's spec: what it declares about itself,
//! checked once at load time, and the expansion of host templates such as
//! `{config.base_url}` against a connection's config.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::grants::HostPattern;

mod auth;
mod catalog;
mod templates;
mod webhook;

pub use auth::{
    ClientAuth, Grant, HmacHash, HostRequest, JwtAlgorithm, LoginSpec, OAuth2Spec,
    SignatureEncoding, SigningMethod, SigningSpec, TokenLocation,
};
pub use catalog::{Catalog, Category, RateBudget};
use templates::check_template_syntax;
pub use templates::{TemplateError, expand_host_template, expand_url_template, fill_config_fields};
pub use webhook::{Handshake, HmacScheme, WebhookScheme, WebhookSpec};

/// What a connector can be used as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads records (`fetch`).
    Source,
    /// Writes records (`push`).
    Destination,
    /// Transforms records (`map`).
    Mapper,
}

/// A stream a source offers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StreamSpec {
    /// Stream name.
    pub name: String,
    /// What it holds.
    pub description: String,
    /// Field identifying a record.
    pub key_field: Option<String>,
    /// Field ordering records for incremental syncs.
    pub cursor_field: Option<String>,
    /// JSON Schema of a record's data.
    pub schema: Value,
}

/// A secret the connector uses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SecretSpec {
    /// Placeholder name.
    pub name: String,
    /// What to put here.
    pub description: String,
    /// Host templates the secret may be sent to.
    pub hosts: Vec<String>,
    /// Whether `secrets.reveal` may return it (contract 0.1; 0.2 reveals
    /// only what an administrator allows on the connection).
    #[serde(default)]
    pub reveal: bool,
    /// Whether a connection must set it.
    pub required: bool,
}

/// What a connector declares about itself (see `wit/0.2.0/connector.wit`;
/// a 0.1 component's spec is the same with the 0.2 additions empty).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Spec {
    /// Connector name.
    pub name: String,
    /// Semantic version.
    pub version: String,
    /// Description for administrators.
    pub description: String,
    /// Roles.
    pub roles: Vec<Role>,
    /// Streams offered (empty: from config).
    pub streams: Vec<StreamSpec>,
    /// JSON Schema of the config.
    pub config_schema: Value,
    /// Secrets used.
    pub secrets: Vec<SecretSpec>,
    /// Host templates needed.
    pub hosts: Vec<String>,
    /// OAuth2.
    pub oauth2: Option<OAuth2Spec>,
    /// Incoming webhooks.
    pub webhook: Option<WebhookSpec>,
    /// A login session the host keeps.
    #[serde(default)]
    pub login: Option<LoginSpec>,
    /// Keys the host signs requests with.
    #[serde(default)]
    pub signing: Vec<SigningSpec>,
    /// Rate budgets per host.
    #[serde(default)]
    pub rate_budgets: Vec<RateBudget>,
    /// Catalog metadata.
    #[serde(default)]
    pub catalog: Catalog,
    /// The contract version the component implements (`0.1.0`, `0.2.0`).
    #[serde(default = "contract_0_1")]
    pub contract: String,
}

fn contract_0_1() -> String {
    "0.1.0".into()
}

/// A spec that breaks the contract's rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid spec: {0}")]
pub struct SpecError(pub String);

impl Spec {
    /// Check the rules a spec must follow; called once at load.
    pub fn validate(&self) -> Result<(), SpecError> {
        let bad = |m: String| Err(SpecError(m));
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !self.name.starts_with('-');
        if !name_ok {
            return bad(format!(
                "name `{}` must be 1-64 lowercase letters, digits and dashes",
                self.name
            ));
        }
        if semver::Version::parse(&self.version).is_err() {
            return bad(format!(
                "version `{}` is not a semantic version",
                self.version
            ));
        }
        if self.roles.is_empty() {
            return bad("roles must not be empty".into());
        }
        if !self.config_schema.is_object() && !self.config_schema.is_boolean() {
            return bad("config-schema must be a JSON Schema object".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for s in &self.streams {
            if s.name.is_empty() || !seen.insert(&s.name) {
                return bad(format!("stream name `{}` is empty or repeated", s.name));
            }
            if !s.schema.is_object() && !s.schema.is_boolean() {
                return bad(format!(
                    "schema of stream `{}` must be a JSON Schema object",
                    s.name
                ));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for s in &self.secrets {
            let ok = !s.name.is_empty()
                && s.name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !ok || !seen.insert(&s.name) {
                return bad(format!(
                    "secret name `{}` must be letters, digits and `_`, and unique",
                    s.name
                ));
            }
            // A secret only a signing key reads is never sent anywhere.
            let signs = self
                .signing
                .iter()
                .any(|k| k.method.secrets().contains(&&*s.name));
            if s.hosts.is_empty() && !signs {
                return bad(format!(
                    "secret `{}` must name the hosts it may be sent to",
                    s.name
                ));
            }
            for h in &s.hosts {
                check_template_syntax(h).map_err(|e| SpecError(e.to_string()))?;
            }
        }
        for h in &self.hosts {
            check_template_syntax(h).map_err(|e| SpecError(e.to_string()))?;
        }
        auth::check_signing(&self.signing, |n| self.secret(n).is_some()).map_err(SpecError)?;
        self.catalog.check_icon().map_err(SpecError)?;
        if let Some(o) = &self.oauth2
            && o.grant == Grant::JwtBearer
        {
            let key = o.assertion_key.as_deref().and_then(|name| {
                self.signing
                    .iter()
                    .find(|k| k.name == name && matches!(k.method, SigningMethod::Jwt { .. }))
            });
            if key.is_none() {
                return bad(
                    "the JWT bearer grant's assertion_key must name a JWT signing key of the spec"
                        .into(),
                );
            }
        }
        Ok(())
    }

    /// The spec's host templates expanded for `config`.
    pub fn host_patterns(&self, config: &Value) -> Result<Vec<HostPattern>, TemplateError> {
        self.hosts
            .iter()
            .map(|t| expand_host_template(t, config))
            .collect()
    }

    /// The streams a connection with `config` offers: the spec's, or, for a
    /// connector whose streams come from its config (as `http-json`'s do),
    /// the keys of the config's `streams` object. `None` when neither says,
    /// so the stream names cannot be checked before a run.
    pub fn offered_streams(&self, config: &Value) -> Option<Vec<String>> {
        if !self.streams.is_empty() {
            return Some(self.streams.iter().map(|s| s.name.clone()).collect());
        }
        config
            .get("streams")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
    }

    /// Whether the spec declares `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// The secret named `name`, if declared.
    pub fn secret(&self, name: &str) -> Option<&SecretSpec> {
        self.secrets.iter().find(|s| s.name == name)
    }
}
