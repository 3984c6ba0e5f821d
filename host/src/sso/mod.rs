//! Single sign-on with OpenID Connect: people sign in to the console
//! through the company's identity provider (authorization code flow with
//! PKCE, state and nonce), and may call the API with an ID token the
//! provider issued to this Wharf. Either way the ID token is checked here:
//! signature against the provider's JWKS ([`jwt`]), issuer, audience,
//! expiry; then a role is read from one of its claims ([`roles`]).
//!
//! The provider's discovery document and keys are fetched when first
//! needed (so `wharf serve` starts while the provider is down) and kept;
//! keys are fetched again when a token names one not seen yet (a key
//! rotation), at most once a minute so tokens with made-up key ids cannot
//! make Wharf hammer the provider.

pub mod jwt;
pub mod roles;

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::model::secret::SecretValue;
use jwt::{Expected, PublicKey, TokenError};
use roles::{Role, RoleMap};

/// How often keys may be fetched again for a key id not seen yet.
const KEY_REFRESH: Duration = Duration::from_secs(60);
/// How long a request to the provider may take.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

/// What the operator configured (`wharf serve --oidc-…`).
#[derive(Debug, Clone)]
pub struct SsoConfig {
    /// The issuer URL; discovery is at `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    /// This Wharf's client id at the provider (the ID tokens' audience).
    pub client_id: String,
    /// Its client secret (none for a public client, which PKCE protects).
    pub client_secret: Option<SecretValue>,
    /// Scopes asked for beside `openid` (e.g. `email`, `groups`).
    pub scopes: Vec<String>,
    /// Which claim grants which role.
    pub roles: RoleMap,
}

/// A person the provider vouched for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// `sub`: the provider's stable id of the person.
    pub subject: String,
    /// `email`, if the token carries one.
    pub email: Option<String>,
    /// The role the token's claim grants.
    pub role: Role,
}

impl Person {
    /// How the person is named in pages and logs: email, else subject.
    pub fn name(&self) -> &str {
        self.email.as_deref().unwrap_or(&self.subject)
    }
}

/// Why a sign-in or a token failed.
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    /// The token is not one to accept.
    #[error("{0}")]
    Token(#[from] TokenError),
    /// A valid token whose claims grant no role.
    #[error(
        "{subject} signed in, but their `{claim}` claim grants no Wharf role; an administrator maps it with --oidc-role"
    )]
    NoRole {
        /// Who.
        subject: String,
        /// The claim read.
        claim: String,
    },
    /// The provider did not answer as a provider should.
    #[error("the identity provider {0}")]
    Provider(String),
}

/// The parts of the discovery document used (OpenID Connect Discovery §3).
#[derive(Debug, Clone, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Vec<String>,
}

#[derive(Default)]
struct KeyCache {
    keys: Vec<PublicKey>,
    fetched: Option<Instant>,
}

/// The identity provider, as this server talks to it.
pub struct Sso {
    config: SsoConfig,
    http: reqwest::Client,
    discovery: Mutex<Option<Discovery>>,
    keys: Mutex<KeyCache>,
}

impl std::fmt::Debug for Sso {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sso")
            .field("issuer", &self.config.issuer)
            .field("client_id", &self.config.client_id)
            .finish_non_exhaustive()
    }
}

impl Sso {
    /// A provider; nothing is fetched yet.
    pub fn new(config: SsoConfig) -> Result<Self, String> {
        let issuer = url::Url::parse(&config.issuer)
            .map_err(|e| format!("--oidc-issuer `{}`: {e}", config.issuer))?;
        // Codes and client secrets cross this link: plain http only to a
        // provider on this machine.
        let loopback = match issuer.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => false,
        };
        if !(issuer.scheme() == "https" || (issuer.scheme() == "http" && loopback)) {
            return Err(format!(
                "--oidc-issuer `{}` must be an https:// (or, for a provider on this machine, http://) URL",
                config.issuer
            ));
        }
        if config.client_id.trim().is_empty() {
            return Err("--oidc-client-id must not be empty".into());
        }
        let http = reqwest::Client::builder()
            .timeout(PROVIDER_TIMEOUT)
            // The provider's endpoints are where discovery says; a redirect
            // elsewhere is not followed.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self {
            config,
            http,
            discovery: Mutex::new(None),
            keys: Mutex::new(KeyCache::default()),
        })
    }

    /// The configured issuer.
    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    /// The claim roles are read from.
    pub fn role_claim(&self) -> &str {
        self.config.roles.claim()
    }

    async fn get_json(&self, url: &str, what: &str) -> Result<Value, SsoError> {
        let resp = self
            .http
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| SsoError::Provider(format!("does not answer at {url}: {e}")))?;
        if !resp.status().is_success() {
            return Err(SsoError::Provider(format!(
                "answered {} for its {what} at {url}",
                resp.status()
            )));
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| SsoError::Provider(format!("broke off its {what}: {e}")))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| SsoError::Provider(format!("sent a {what} that is not JSON: {e}")))
    }

    async fn discovery(&self) -> Result<Discovery, SsoError> {
        let mut cached = self.discovery.lock().await;
        if let Some(d) = cached.as_ref() {
            return Ok(d.clone());
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.config.issuer.trim_end_matches('/')
        );
        let doc = self.get_json(&url, "discovery document").await?;
        let d: Discovery = serde_json::from_value(doc)
            .map_err(|e| SsoError::Provider(format!("sent a discovery document without {e}")))?;
        // Discovery §4.3: the document must name the issuer it was asked for.
        if d.issuer.trim_end_matches('/') != self.config.issuer.trim_end_matches('/') {
            return Err(SsoError::Provider(format!(
                "names itself `{}` in its discovery document, not `{}`",
                d.issuer, self.config.issuer
            )));
        }
        *cached = Some(d.clone());
        Ok(d)
    }

    /// The provider's signing keys, fetched again when `kid` is new.
    async fn keys(&self, kid: Option<&str>) -> Result<Vec<PublicKey>, SsoError> {
        let mut cache = self.keys.lock().await;
        let known = kid.is_none_or(|kid| cache.keys.iter().any(|k| k.kid.as_deref() == Some(kid)));
        let stale = cache.fetched.is_none_or(|at| at.elapsed() >= KEY_REFRESH);
        if cache.fetched.is_none() || (!known && stale) {
            // Counted from the attempt, so a failing provider is not asked
            // again for every token either.
            let first = cache.fetched.is_none();
            cache.fetched = Some(Instant::now());
            let fetched = async {
                let d = self.discovery().await?;
                self.get_json(&d.jwks_uri, "key set (JWKS)").await
            }
            .await;
            match fetched {
                Ok(doc) => cache.keys = jwt::parse_jwks(&doc),
                // Until keys were had once, the next token tries again.
                Err(e) if first => {
                    cache.fetched = None;
                    return Err(e);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot fetch the identity provider's keys again")
                }
            }
        }
        Ok(cache.keys.clone())
    }

    /// Where to send the browser: the authorization request (OpenID
    /// Connect Core §3.1.2.1) with PKCE S256 (RFC 7636).
    pub async fn authorization_url(
        &self,
        redirect_uri: &str,
        state: &str,
        nonce: &str,
        challenge: &str,
    ) -> Result<String, SsoError> {
        let d = self.discovery().await?;
        let mut url = url::Url::parse(&d.authorization_endpoint)
            .map_err(|e| SsoError::Provider(format!("has a bad authorization_endpoint: {e}")))?;
        let mut scope = vec!["openid".to_string()];
        scope.extend(self.config.scopes.iter().cloned());
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.config.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &scope.join(" "))
            .append_pair("state", state)
            .append_pair("nonce", nonce)
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(url.into())
    }

    /// Exchange the code for tokens at the token endpoint (Core §3.1.3.1);
    /// the ID token.
    pub async fn exchange(
        &self,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Result<String, SsoError> {
        let d = self.discovery().await?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
            ("client_id", self.config.client_id.as_str()),
        ];
        let mut request = self.http.post(&d.token_endpoint);
        if let Some(secret) = &self.config.client_secret {
            // client_secret_basic is the default (Core §9); post only when
            // the provider says it takes nothing else.
            let methods = &d.token_endpoint_auth_methods_supported;
            if methods.iter().any(|m| m == "client_secret_post")
                && !methods.iter().any(|m| m == "client_secret_basic")
            {
                form.push(("client_secret", secret.expose()));
            } else {
                // RFC 6749 §2.3.1: both form-encoded before Basic.
                let encode =
                    |v: &str| form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
                request = request.basic_auth(
                    encode(&self.config.client_id),
                    Some(encode(secret.expose())),
                );
            }
        }
        let resp = request.form(&form).send().await.map_err(|e| {
            SsoError::Provider(format!("does not answer at {}: {e}", d.token_endpoint))
        })?;
        let status = resp.status();
        let bytes = resp.bytes().await.unwrap_or_default();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(SsoError::Provider(format!(
                "refused the code ({status}): {} {}",
                body["error"].as_str().unwrap_or(""),
                body["error_description"].as_str().unwrap_or("")
            )));
        }
        body["id_token"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| SsoError::Provider("answered the code without an id_token".into()))
    }

    /// Check an ID token (signature, issuer, audience, time, and the
    /// sign-in's nonce when there is one) and read who and what role.
    pub async fn person(&self, token: &str, nonce: Option<&str>) -> Result<Person, SsoError> {
        let parsed = jwt::parse(token)?;
        let keys = self.keys(parsed.kid.as_deref()).await?;
        parsed.verify(&keys)?;
        jwt::check_claims(
            &parsed.claims,
            &Expected {
                issuer: &self.config.issuer,
                client_id: &self.config.client_id,
                nonce,
                now: crate::store::now_ms() / 1000,
            },
        )?;
        let claims = &parsed.claims;
        let subject = claims["sub"].as_str().unwrap_or_default().to_string();
        let role = self
            .config
            .roles
            .role(claims)
            .ok_or_else(|| SsoError::NoRole {
                subject: subject.clone(),
                claim: self.config.roles.claim().to_string(),
            })?;
        // An address the provider says it did not verify names nobody.
        let verified = claims["email_verified"].as_bool() != Some(false);
        Ok(Person {
            subject,
            email: claims["email"]
                .as_str()
                .filter(|_| verified)
                .map(str::to_string),
            role,
        })
    }
}

/// Whether a bearer credential is a JWT rather than an API key: three
/// dot-separated parts, and not `wharf_…`.
pub fn looks_like_jwt(credential: &str) -> bool {
    !credential.starts_with("wharf_") && credential.split('.').count() == 3
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(issuer: &str) -> SsoConfig {
        SsoConfig {
            issuer: issuer.into(),
            client_id: "wharf".into(),
            client_secret: None,
            scopes: vec![],
            roles: RoleMap::new("groups", &["viewer=*".to_string()]).unwrap(),
        }
    }

    #[test]
    fn plain_http_only_to_a_provider_on_this_machine() {
        assert!(Sso::new(config("https://id.example.com/realms/acme")).is_ok());
        assert!(Sso::new(config("http://127.0.0.1:8081")).is_ok());
        assert!(Sso::new(config("http://localhost:8081")).is_ok());
        assert!(Sso::new(config("http://[::1]:8081")).is_ok());
        assert!(Sso::new(config("http://id.example.com")).is_err());
        assert!(Sso::new(config("http://10.0.0.5")).is_err());
        assert!(Sso::new(config("ftp://id.example.com")).is_err());
        assert!(Sso::new(config("not a url")).is_err());
        let mut empty = config("https://id.example.com");
        empty.client_id = " ".into();
        assert!(Sso::new(empty).is_err());
    }

    #[test]
    fn api_keys_are_not_taken_for_tokens() {
        assert!(looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"));
        assert!(!looks_like_jwt("wharf_0a1b2c3d_ffee"));
        assert!(!looks_like_jwt("wharf_a.b.c"));
        assert!(!looks_like_jwt("just-a-string"));
    }
}
