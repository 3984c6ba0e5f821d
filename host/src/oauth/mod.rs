//! OAuth2 connections: the host runs the authorization-code flow (PKCE S256,
//! single-use expiring state, exact redirect URI), stores the tokens
//! encrypted, and refreshes them before they expire. One refresh at a time
//! per connection across all nodes: a lease row in the database, re-checked
//! after it is taken, so twenty runs that find an expired token cause one
//! refresh. Connectors write `{{oauth:access_token}}` and never see a token.

use std::time::Duration;

mod code;
mod machine;

pub use code::{callback, start};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use url::Url;

use crate::app::App;
use crate::egress::client::{Timeouts, guarded_client};
use crate::egress::networks::NetworkPolicy;
use crate::egress::policy::EgressPolicy;
use crate::model::secret::SecretValue;
use crate::model::spec::{ClientAuth, Grant, OAuth2Spec};
use crate::runtime::Token;
use crate::store::connections::{ConnectionRow, Status};
use crate::store::now_ms;

/// Refresh when less than this is left.
const REFRESH_MARGIN_MS: i64 = 60_000;
/// How long a state may wait for its callback.
const STATE_TTL_MS: i64 = 10 * 60_000;

/// What went wrong with OAuth2.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OAuthError {
    /// The connector does not use OAuth2.
    #[error("the connector does not declare OAuth2 endpoints")]
    NotOAuth,
    /// The client credentials are not set.
    #[error(
        "set the connection's `oauth_client_id` secret (and `oauth_client_secret` for confidential clients) first"
    )]
    NoClient,
    /// No tokens yet: the administrator has to connect.
    #[error(
        "the connection is not authorized yet: start the OAuth flow (POST /api/v1/connections/{{id}}/oauth/start)"
    )]
    NotConnected,
    /// The provider revoked the grant: the administrator must connect again.
    #[error(
        "the provider refused the refresh token (invalid_grant): the connection needs to be authorized again"
    )]
    NeedsReauth,
    /// Unknown, used or expired state.
    #[error("unknown, already used or expired OAuth state; start the flow again")]
    BadState,
    /// The token endpoint failed.
    #[error("the token endpoint failed: {0}")]
    Provider(String),
    /// Someone else is refreshing and did not finish in time.
    #[error("another node is refreshing this connection's token and did not finish in time")]
    Busy,
    /// The store or vault failed.
    #[error("{0}")]
    Internal(String),
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<crate::vault::VaultError> for OAuthError {
    fn from(e: crate::vault::VaultError) -> Self {
        Self::Internal(e.to_string())
    }
}

fn random_token(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    getrandom::fill(&mut b).expect("the OS random source works");
    B64URL.encode(b)
}

/// PKCE S256 challenge of a verifier (RFC 7636).
pub fn pkce_challenge(verifier: &str) -> String {
    B64URL.encode(Sha256::digest(verifier.as_bytes()))
}

fn hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The redirect URI of this deployment.
pub fn redirect_uri(app: &App) -> String {
    format!(
        "{}/oauth/callback",
        app.options.public_url.trim_end_matches('/')
    )
}

/// An OAuth2 endpoint URL of a spec, expanded for a connection's config
/// with the template guard of `model::spec`.
pub fn expand_endpoint(text: &str, config: &serde_json::Value) -> Result<String, OAuthError> {
    crate::model::spec::expand_url_template(text, config)
        .map(|u| u.to_string())
        .map_err(|e| OAuthError::Provider(format!("bad endpoint: {e}")))
}

async fn spec_and_client(
    app: &App,
    c: &ConnectionRow,
) -> Result<(OAuth2Spec, String, Option<String>), OAuthError> {
    let (spec, id, secret) = spec_and_client_if_any(app, c).await?;
    Ok((spec, id.ok_or(OAuthError::NoClient)?, secret))
}

/// The spec's OAuth2 endpoints for `c`, and its client id and secret if set
/// (a JWT bearer grant may have neither).
async fn spec_and_client_if_any(
    app: &App,
    c: &ConnectionRow,
) -> Result<(OAuth2Spec, Option<String>, Option<String>), OAuthError> {
    let mut spec = app
        .store
        .connector(&c.connector, &c.version)
        .await?
        .and_then(|k| k.spec.oauth2)
        .ok_or(OAuthError::NotOAuth)?;
    if !spec.authorize_url.is_empty() {
        spec.authorize_url = expand_endpoint(&spec.authorize_url, &c.config)?;
    }
    spec.token_url = expand_endpoint(&spec.token_url, &c.config)?;
    let mut id = None;
    let mut secret = None;
    for t in app.store.secret_tokens(&c.id).await? {
        match t.name.as_str() {
            "oauth_client_id" => id = Some(app.vault.decrypt(&t.token)?.expose().to_string()),
            "oauth_client_secret" => {
                secret = Some(app.vault.decrypt(&t.token)?.expose().to_string())
            }
            _ => {}
        }
    }
    Ok((spec, id, secret))
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<i64>,
    /// Everything else the provider sent (`instance_url`, `scope`…), from
    /// which the spec's `info_fields` are kept.
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

/// Fields that are never facts to hand out, whatever a spec lists.
const NEVER_INFO: [&str; 4] = ["access_token", "refresh_token", "id_token", "client_secret"];

/// The spec's `info_fields` found in `sources` (token response, callback
/// query, the facts kept before a refresh), the first source that has a
/// field winning, as a JSON object; `None` when the spec lists none.
fn info_of(
    spec: &OAuth2Spec,
    sources: &[&serde_json::Map<String, serde_json::Value>],
) -> Option<String> {
    if spec.info_fields.is_empty() {
        return None;
    }
    let mut info = serde_json::Map::new();
    for field in &spec.info_fields {
        if NEVER_INFO.contains(&field.as_str()) {
            continue;
        }
        if let Some(v) = sources.iter().find_map(|s| s.get(field)) {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            info.insert(field.clone(), serde_json::Value::String(text));
        }
    }
    Some(serde_json::Value::Object(info).to_string())
}

#[derive(Deserialize)]
struct TokenError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// The client's credentials, sent as the spec says: in the form body
/// (`client_secret_post`) or as HTTP Basic (`client_secret_basic`, RFC 6749
/// §2.3.1: each part form-encoded first).
struct Client<'a> {
    id: &'a str,
    secret: Option<&'a str>,
    auth: ClientAuth,
}

impl Client<'_> {
    fn add_to(&self, form: &mut Vec<(&'static str, String)>) -> Option<String> {
        // No client (a JWT bearer grant whose assertion names the caller).
        if self.id.is_empty() {
            return None;
        }
        match (self.auth, self.secret) {
            (ClientAuth::Basic, Some(secret)) => {
                let enc = |v: &str| {
                    url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                };
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!(
                        "{}:{}",
                        enc(self.id),
                        enc(secret)
                    ))
                ))
            }
            (_, secret) => {
                form.push(("client_id", self.id.to_string()));
                if let Some(s) = secret {
                    form.push(("client_secret", s.to_string()));
                }
                None
            }
        }
    }
}

/// POST a form to the token endpoint, checked by the connection's network
/// grants like any connector request.
async fn token_request(
    c: &ConnectionRow,
    token_url: &str,
    client: &Client<'_>,
    mut form: Vec<(&'static str, String)>,
) -> Result<TokenResponse, OAuthError> {
    let authorization = client.add_to(&mut form);
    let url = Url::parse(token_url).map_err(|e| OAuthError::Provider(format!("token URL: {e}")))?;
    let networks = NetworkPolicy::new(c.grants.networks.clone());
    // The allow-list is the origin of the token endpoint the spec declares
    // (expanded for this config with the template guard), with the
    // connection's network grants.
    EgressPolicy::origin_of(&url, networks.clone())
        .and_then(|policy| policy.check_url(&url))
        .map_err(|why| OAuthError::Provider(format!("token endpoint refused: {why}")))?;
    let http = guarded_client(&networks, Timeouts::HOST_CALL, c.grants.tls_ca.as_deref())
        .map_err(|e| OAuthError::Internal(e.to_string()))?;
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form.iter().map(|(k, v)| (*k, v.as_str())))
        .finish();
    let mut request = http
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(body);
    if let Some(a) = authorization {
        request = request.header("authorization", a);
    }
    let resp = request
        .send()
        .await
        .map_err(|e| OAuthError::Provider(e.without_url().to_string()))?;
    let status = resp.status();
    let text = resp
        .text()
        .await
        .map_err(|e| OAuthError::Provider(e.to_string()))?;
    if status.is_success() {
        return serde_json::from_str(&text)
            .map_err(|e| OAuthError::Provider(format!("unreadable token response: {e}")));
    }
    match serde_json::from_str::<TokenError>(&text) {
        Ok(e) if e.error == "invalid_grant" => Err(OAuthError::NeedsReauth),
        Ok(e) => Err(OAuthError::Provider(format!(
            "HTTP {status}: {}{}",
            e.error,
            e.error_description
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        ))),
        Err(_) => Err(OAuthError::Provider(format!("HTTP {status}"))),
    }
}

/// How long a token lives when the provider does not say (`expires_in`)
/// and the spec gives no lifetime: it is refreshed after this, and at once
/// if the provider refuses it sooner.
const DEFAULT_TOKEN_LIFETIME_SECS: i64 = 3600;

async fn save(
    app: &App,
    connection_id: &str,
    spec: &OAuth2Spec,
    t: &TokenResponse,
    refreshed: bool,
    callback: &serde_json::Map<String, serde_json::Value>,
) -> Result<Token, OAuthError> {
    let access = SecretValue::new(t.access_token.as_str());
    let sealed_access = app.vault.encrypt(&access);
    let sealed_refresh = t
        .refresh_token
        .as_deref()
        .map(|r| app.vault.encrypt(&SecretValue::new(r)));
    // Without `expires_in` (Salesforce), a token that can be refreshed is
    // given the spec's lifetime; one that cannot keeps no expiry.
    // Machine grants renew by making the grant again, so they too get it.
    let renewable = t.refresh_token.is_some() || spec.grant != Grant::AuthorizationCode;
    let lifetime = t.expires_in.or_else(|| {
        renewable.then(|| {
            spec.token_lifetime_secs
                .map_or(DEFAULT_TOKEN_LIFETIME_SECS, i64::from)
        })
    });
    let expires = lifetime.map(|s| now_ms() + s * 1000);
    // A refresh answers only some facts (Intuit's never names the company
    // again): what it names replaces the old value, the rest is kept.
    let previous = if refreshed {
        app.store
            .oauth_tokens(connection_id)
            .await?
            .and_then(|row| row.info)
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default()
    } else {
        serde_json::Map::new()
    };
    let info = info_of(spec, &[&t.rest, callback, &previous]);
    app.store
        .save_oauth_tokens(
            connection_id,
            &sealed_access,
            sealed_refresh.as_deref(),
            expires,
            refreshed,
            info.as_deref(),
        )
        .await?;
    Ok(Token {
        value: access,
        expires_at: expires,
    })
}

/// A fresh access token for the connection, refreshing it (once, across
/// nodes) when it is about to expire. `None` for connectors without OAuth2.
pub async fn access_token(app: &App, c: &ConnectionRow) -> Result<Option<SecretValue>, OAuthError> {
    let uses_oauth = app
        .store
        .connector(&c.connector, &c.version)
        .await?
        .is_some_and(|k| k.spec.oauth2.is_some());
    if !uses_oauth {
        return Ok(None);
    }
    Ok(Some(current_token(app, c).await?.value))
}

/// The connection's current token and its expiry, refreshed first (once
/// across nodes) if it is about to expire.
pub async fn current_token(app: &App, c: &ConnectionRow) -> Result<Token, OAuthError> {
    let expiring = |t: &crate::store::oauth::TokenRow| {
        t.expires_at
            .is_some_and(|e| e - now_ms() < REFRESH_MARGIN_MS)
    };
    refresh_when(app, c, expiring).await
}

/// The provider refused `rejected` (a 401): refresh now, unless another
/// request (on any node) already replaced that token.
pub async fn renew_rejected(
    app: &App,
    c: &ConnectionRow,
    rejected: &SecretValue,
) -> Result<Token, OAuthError> {
    let vault = app.vault.clone();
    let still_current = move |t: &crate::store::oauth::TokenRow| {
        vault
            .decrypt(&t.access_token)
            .is_ok_and(|v| v.expose() == rejected.expose())
    };
    refresh_when(app, c, still_current).await
}

/// Wait for another node's refresh (at most ~30 s), or take the refresh
/// lease and refresh if `stale` still holds for the stored tokens once the
/// lease is ours.
async fn refresh_when(
    app: &App,
    c: &ConnectionRow,
    stale: impl Fn(&crate::store::oauth::TokenRow) -> bool,
) -> Result<Token, OAuthError> {
    let current = |t: &crate::store::oauth::TokenRow| -> Result<Token, OAuthError> {
        Ok(Token {
            value: app.vault.decrypt(&t.access_token)?,
            expires_at: t.expires_at,
        })
    };
    for _ in 0..300 {
        let Some(tokens) = app.store.oauth_tokens(&c.id).await? else {
            // Machine grants need no administrator: the first token is
            // fetched at once (racing nodes may each fetch one; the last
            // saved is used, and every one of them is valid).
            return machine::first_token(app, c).await;
        };
        if !stale(&tokens) {
            return current(&tokens);
        }
        if app
            .store
            .lease_oauth_refresh(&c.id, &app.node, 30_000)
            .await?
        {
            // Re-check under the lease: another node may have refreshed
            // between our read and our lease.
            let result = match app.store.oauth_tokens(&c.id).await {
                Ok(Some(t)) if !stale(&t) => current(&t),
                Ok(Some(t)) => refresh(app, c, t).await,
                Ok(None) => Err(OAuthError::NotConnected),
                Err(e) => Err(e.into()),
            };
            let _ = app.store.release_oauth_refresh(&c.id, &app.node).await;
            return result;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(OAuthError::Busy)
}

/// Refresh `tokens` while holding the lease.
async fn refresh(
    app: &App,
    c: &ConnectionRow,
    tokens: crate::store::oauth::TokenRow,
) -> Result<Token, OAuthError> {
    if let Some(token) = machine::renew(app, c).await? {
        return Ok(token);
    }
    let sealed = tokens.refresh_token.ok_or(OAuthError::NeedsReauth);
    let refresh_token = match sealed {
        Ok(s) => app.vault.decrypt(&s)?,
        Err(e) => return Err(needs_reauth(app, c, e).await),
    };
    let (spec, client_id, client_secret) = spec_and_client(app, c).await?;
    let form = vec![
        ("grant_type", "refresh_token".to_string()),
        ("refresh_token", refresh_token.expose().to_string()),
    ];
    let client = Client {
        id: &client_id,
        secret: client_secret.as_deref(),
        auth: spec.client_auth,
    };
    match token_request(c, &spec.token_url, &client, form).await {
        Ok(t) => save(app, &c.id, &spec, &t, true, &serde_json::Map::new()).await,
        Err(OAuthError::NeedsReauth) => Err(needs_reauth(app, c, OAuthError::NeedsReauth).await),
        Err(e) => Err(e),
    }
}

async fn needs_reauth(app: &App, c: &ConnectionRow, e: OAuthError) -> OAuthError {
    let reason = e.to_string();
    let _ = app
        .store
        .set_connection_status(&c.id, Status::NeedsReauth, Some(&reason))
        .await;
    crate::events::emit(
        &app.store,
        "connection.needs_reauth",
        serde_json::json!({"connection": c.id, "name": c.name, "reason": reason}),
    )
    .await;
    e
}

/// The non-secret facts of a connection's grant for `oauth.info`: the
/// spec's `info_fields` that were sent, and `expires_at`.
pub async fn info(app: &App, c: &ConnectionRow) -> Vec<(String, String)> {
    let Ok(Some(t)) = app.store.oauth_tokens(&c.id).await else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = t
        .info
        .as_deref()
        .and_then(|i| serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(i).ok())
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| v.as_str().map(|v| (k, v.to_string())))
        .collect();
    if let Some(e) = t.expires_at {
        out.push(("expires_at".into(), e.to_string()));
    }
    out
}
