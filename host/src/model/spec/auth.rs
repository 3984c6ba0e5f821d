//! How a connection authenticates, as a spec declares it: OAuth2 grant
//! profiles, login sessions the host keeps, and keys the host signs
//! requests with. Every credential stays in the host; these say what the
//! host does with it.

use serde::{Deserialize, Serialize};

/// OAuth2: the host runs the grant, stores and refreshes the tokens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OAuth2Spec {
    /// The grant.
    #[serde(default)]
    pub grant: Grant,
    /// Authorization endpoint (authorization code).
    pub authorize_url: String,
    /// Token endpoint.
    pub token_url: String,
    /// Scopes requested.
    pub scopes: Vec<String>,
    /// PKCE S256.
    pub pkce: bool,
    /// How the client authenticates at the token endpoint.
    #[serde(default)]
    pub client_auth: ClientAuth,
    /// Extra parameters of the authorization request.
    #[serde(default)]
    pub authorize_params: Vec<(String, String)>,
    /// Token lifetime in seconds when the token response gives no
    /// `expires_in` (default one hour); refreshed after it.
    #[serde(default)]
    pub token_lifetime_secs: Option<u32>,
    /// Non-secret fields of the token response and callback that
    /// `oauth.info` may return.
    #[serde(default)]
    pub info_fields: Vec<String>,
    /// For the JWT bearer grant: the signing key of the assertion.
    #[serde(default)]
    pub assertion_key: Option<String>,
}

/// An OAuth2 grant.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Grant {
    /// An administrator authorizes in a browser.
    #[default]
    AuthorizationCode,
    /// The client's own credentials.
    ClientCredentials,
    /// A JWT assertion signed by the host (RFC 7523).
    JwtBearer,
}

/// How an OAuth2 client authenticates at the token endpoint (RFC 6749
/// §2.3.1).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// `client_id` and `client_secret` in the form body.
    #[default]
    Post,
    /// HTTP Basic with the client id and secret.
    Basic,
}

/// A request the host makes for the connector (login, logout).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HostRequest {
    /// Method.
    pub method: String,
    /// URL (`{config.x}` and placeholders allowed).
    pub url: String,
    /// Headers (placeholders allowed).
    pub headers: Vec<(String, String)>,
    /// Body (placeholders allowed).
    pub body: Option<String>,
}

/// Where a login answer puts the session token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "value")]
pub enum TokenLocation {
    /// A JSON pointer into the body.
    JsonPointer(String),
    /// Cookies, sent back as they came.
    Cookies(Vec<String>),
    /// A response header.
    Header(String),
}

/// A login session the host keeps per connection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LoginSpec {
    /// The login request.
    pub request: HostRequest,
    /// Where the token is in the answer.
    pub token: TokenLocation,
    /// Lifetime of a session, when the answer does not say.
    pub lifetime_secs: Option<u32>,
    /// Statuses that mean "log in again" (401 when empty).
    pub relogin_on: Vec<u16>,
    /// The request that ends a session, if any.
    pub logout: Option<HostRequest>,
}

/// A key the host signs requests with, bound to hosts like a secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SigningSpec {
    /// Name a request uses in `sign`.
    pub name: String,
    /// How it signs.
    pub method: SigningMethod,
    /// Host templates a request it signs may go to.
    pub hosts: Vec<String>,
}

/// How a key signs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum SigningMethod {
    /// AWS Signature Version 4.
    AwsSigv4 {
        /// Secret with the access key id.
        key_id_secret: String,
        /// Secret with the secret access key.
        secret_key_secret: String,
        /// Secret with a session token.
        session_token_secret: Option<String>,
        /// Region (`{config.x}` allowed).
        region: String,
        /// Service.
        service: String,
    },
    /// An HMAC over a template.
    Hmac {
        /// Secret with the key.
        key_secret: String,
        /// Hash.
        hash: HmacHash,
        /// What is signed (`{method}`, `{path}`, `{query}`, `{body}`,
        /// `{timestamp}`, `{header:NAME}`).
        template: String,
        /// Header (or query parameter) that receives it.
        target: String,
        /// Put it in the query.
        query: bool,
        /// Hex or base64.
        encoding: SignatureEncoding,
        /// Written before the signature.
        prefix: String,
        /// Header that carries `{timestamp}`.
        timestamp_header: Option<String>,
    },
    /// A JWT sent as `Authorization: Bearer`.
    Jwt {
        /// Secret with the private key (PKCS#8 PEM).
        key_secret: String,
        /// Algorithm.
        algorithm: JwtAlgorithm,
        /// Claims as JSON text (`{now}`, `{exp}` replaced).
        claims: String,
        /// Seconds the token is valid.
        lifetime_secs: u32,
        /// `kid`.
        key_id: Option<String>,
    },
}

impl SigningMethod {
    /// The secrets it signs with.
    pub fn secrets(&self) -> Vec<&str> {
        match self {
            Self::AwsSigv4 {
                key_id_secret,
                secret_key_secret,
                session_token_secret,
                ..
            } => {
                let mut v = vec![key_id_secret.as_str(), secret_key_secret.as_str()];
                v.extend(session_token_secret.as_deref());
                v
            }
            Self::Hmac { key_secret, .. } | Self::Jwt { key_secret, .. } => {
                vec![key_secret.as_str()]
            }
        }
    }
}

/// Check a spec's signing keys: unique names, declared secrets, hosts.
pub(super) fn check_signing(
    keys: &[SigningSpec],
    declared: impl Fn(&str) -> bool,
) -> Result<(), String> {
    let mut seen = std::collections::BTreeSet::new();
    for k in keys {
        let ok = !k.name.is_empty()
            && k.name.len() <= 64
            && k.name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok || !seen.insert(&k.name) {
            return Err(format!(
                "signing key name `{}` must be 1-64 letters, digits, `_` and `-`, and unique",
                k.name
            ));
        }
        if let Some(s) = k.method.secrets().into_iter().find(|s| !declared(s)) {
            return Err(format!(
                "signing key `{}` uses secret `{s}`, which the spec does not declare",
                k.name
            ));
        }
        if k.hosts.is_empty() {
            return Err(format!(
                "signing key `{}` must name the hosts it may sign for",
                k.name
            ));
        }
        for h in &k.hosts {
            super::templates::check_template_syntax(h).map_err(|e| e.to_string())?;
        }
        if let SigningMethod::Jwt { claims, .. } = &k.method {
            let filled = claims.replace("{now}", "0").replace("{exp}", "0");
            if !serde_json::from_str::<serde_json::Value>(&filled).is_ok_and(|v| v.is_object()) {
                return Err(format!(
                    "signing key `{}`: claims must be a JSON object (`{{now}}` and `{{exp}}` may stand for numbers)",
                    k.name
                ));
            }
        }
    }
    Ok(())
}

/// The hash of an HMAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HmacHash {
    /// SHA-1 (senders that still use it).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-512.
    Sha512,
}

/// How a signature is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SignatureEncoding {
    /// Lowercase hex.
    Hex,
    /// Standard base64.
    Base64,
}

/// A JWT signature algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum JwtAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// ECDSA P-256 with SHA-256.
    Es256,
}
