//! OAuth2 connections: the host runs the authorization-code flow (PKCE S256,
//! single-use expiring state, exact redirect URI), stores the tokens
//! encrypted, and refreshes them before they expire. One refresh at a time
//! per connection across all nodes: a lease row in the database, re-checked
//! after it is taken, so twenty runs that find an expired token cause one
//! refresh. Connectors write `{{oauth:access_token}}` and never see a token.

use std::time::Duration;

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
use crate::model::spec::OAuth2Spec;
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
    let mut spec = app
        .store
        .connector(&c.connector, &c.version)
        .await?
        .and_then(|k| k.spec.oauth2)
        .ok_or(OAuthError::NotOAuth)?;
    spec.authorize_url = expand_endpoint(&spec.authorize_url, &c.config)?;
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
    Ok((spec, id.ok_or(OAuthError::NoClient)?, secret))
}

/// Begin the flow: the URL to send the administrator to.
pub async fn start(app: &App, c: &ConnectionRow) -> Result<String, OAuthError> {
    let (spec, client_id, _) = spec_and_client(app, c).await?;
    let state = random_token(32);
    let verifier = random_token(32);
    let redirect = redirect_uri(app);
    let sealed = app.vault.encrypt(&SecretValue::new(verifier.as_str()));
    app.store
        .insert_oauth_state(
            &hash(&state),
            &c.id,
            &sealed,
            &redirect,
            now_ms() + STATE_TTL_MS,
        )
        .await?;
    let mut url = Url::parse(&spec.authorize_url)
        .map_err(|e| OAuthError::Provider(format!("authorize URL: {e}")))?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", &client_id)
            .append_pair("redirect_uri", &redirect)
            .append_pair("state", &state);
        if !spec.scopes.is_empty() {
            q.append_pair("scope", &spec.scopes.join(" "));
        }
        if spec.pkce {
            q.append_pair("code_challenge", &pkce_challenge(&verifier))
                .append_pair("code_challenge_method", "S256");
        }
    }
    Ok(url.to_string())
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<i64>,
}

#[derive(Deserialize)]
struct TokenError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// POST a form to the token endpoint, checked by the connection's network
/// grants like any connector request.
async fn token_request(
    c: &ConnectionRow,
    token_url: &str,
    form: &[(&str, &str)],
) -> Result<TokenResponse, OAuthError> {
    let url = Url::parse(token_url).map_err(|e| OAuthError::Provider(format!("token URL: {e}")))?;
    let networks = NetworkPolicy::new(c.grants.networks.clone());
    // The allow-list is the origin of the token endpoint the spec declares
    // (expanded for this config with the template guard), with the
    // connection's network grants.
    EgressPolicy::origin_of(&url, networks.clone())
        .and_then(|policy| policy.check_url(&url))
        .map_err(|why| OAuthError::Provider(format!("token endpoint refused: {why}")))?;
    let client = guarded_client(
        &networks,
        Timeouts {
            connect: Duration::from_secs(10),
            total: Some(Duration::from_secs(20)),
        },
    )
    .map_err(|e| OAuthError::Internal(e.to_string()))?;
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let resp = client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(body)
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

async fn save(
    app: &App,
    connection_id: &str,
    t: &TokenResponse,
    refreshed: bool,
) -> Result<SecretValue, OAuthError> {
    let access = SecretValue::new(t.access_token.as_str());
    let sealed_access = app.vault.encrypt(&access);
    let sealed_refresh = t
        .refresh_token
        .as_deref()
        .map(|r| app.vault.encrypt(&SecretValue::new(r)));
    let expires = t.expires_in.map(|s| now_ms() + s * 1000);
    app.store
        .save_oauth_tokens(
            connection_id,
            &sealed_access,
            sealed_refresh.as_deref(),
            expires,
            refreshed,
        )
        .await?;
    Ok(access)
}

/// The callback: check the state, exchange the code, store the tokens.
pub async fn callback(app: &App, code: &str, state: &str) -> Result<ConnectionRow, OAuthError> {
    let (connection_id, sealed_verifier, redirect, expires_at) = app
        .store
        .take_oauth_state(&hash(state))
        .await?
        .ok_or(OAuthError::BadState)?;
    if expires_at < now_ms() || redirect != redirect_uri(app) {
        return Err(OAuthError::BadState);
    }
    let c = app
        .store
        .connection(&connection_id)
        .await?
        .ok_or(OAuthError::BadState)?;
    let (spec, client_id, client_secret) = spec_and_client(app, &c).await?;
    let verifier = app.vault.decrypt(&sealed_verifier)?;
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect.as_str()),
        ("client_id", client_id.as_str()),
    ];
    if let Some(s) = &client_secret {
        form.push(("client_secret", s.as_str()));
    }
    if spec.pkce {
        form.push(("code_verifier", verifier.expose()));
    }
    let tokens = token_request(&c, &spec.token_url, &form).await?;
    save(app, &c.id, &tokens, false).await?;
    app.store
        .set_connection_status(&c.id, Status::Active, None)
        .await?;
    let _ = app
        .store
        .audit(
            None,
            "connection.oauth_connected",
            &c.id,
            &serde_json::json!({}),
        )
        .await;
    Ok(c)
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
    let expiring = |t: &crate::store::oauth::TokenRow| {
        t.expires_at
            .is_some_and(|e| e - now_ms() < REFRESH_MARGIN_MS)
    };
    // Wait at most ~30 s for another node's refresh.
    for _ in 0..300 {
        let tokens = app
            .store
            .oauth_tokens(&c.id)
            .await?
            .ok_or(OAuthError::NotConnected)?;
        if !expiring(&tokens) {
            return Ok(Some(app.vault.decrypt(&tokens.access_token)?));
        }
        if app
            .store
            .lease_oauth_refresh(&c.id, &app.node, 30_000)
            .await?
        {
            let result = refresh(app, c).await;
            let _ = app.store.release_oauth_refresh(&c.id, &app.node).await;
            return result.map(Some);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(OAuthError::Busy)
}

/// Refresh while holding the lease; re-check first, since another node may
/// have refreshed between our read and our lease.
async fn refresh(app: &App, c: &ConnectionRow) -> Result<SecretValue, OAuthError> {
    let tokens = app
        .store
        .oauth_tokens(&c.id)
        .await?
        .ok_or(OAuthError::NotConnected)?;
    if tokens
        .expires_at
        .is_none_or(|e| e - now_ms() >= REFRESH_MARGIN_MS)
    {
        return Ok(app.vault.decrypt(&tokens.access_token)?);
    }
    let sealed = tokens.refresh_token.ok_or(OAuthError::NeedsReauth);
    let refresh_token = match sealed {
        Ok(s) => app.vault.decrypt(&s)?,
        Err(e) => return Err(needs_reauth(app, c, e).await),
    };
    let (spec, client_id, client_secret) = spec_and_client(app, c).await?;
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.expose()),
        ("client_id", client_id.as_str()),
    ];
    if let Some(s) = &client_secret {
        form.push(("client_secret", s.as_str()));
    }
    match token_request(c, &spec.token_url, &form).await {
        Ok(t) => save(app, &c.id, &t, true).await,
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
