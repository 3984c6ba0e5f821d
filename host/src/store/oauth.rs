//! OAuth2 in the database: single-use authorization states (with their
//! sealed PKCE verifiers) and each connection's sealed tokens, with the
//! refresh lease that lets one node refresh at a time.

use sqlx::Row;

use super::audit::Actor;
use super::{Result, Store, now_ms};

/// OAuth2 tokens of a connection (Fernet tokens, never in clear).
#[derive(Debug, Clone)]
pub struct TokenRow {
    /// Encrypted access token.
    pub access_token: String,
    /// Encrypted refresh token.
    pub refresh_token: Option<String>,
    /// Expiry (Unix ms).
    pub expires_at: Option<i64>,
    /// Refreshes so far.
    pub refreshes: i64,
    /// Non-secret facts of the grant (a JSON object), for `oauth.info`.
    pub info: Option<String>,
}

/// An authorization begun: for which connection, the sealed PKCE
/// verifier, the redirect URI, its expiry and who began it.
#[derive(Debug, Clone)]
pub struct OAuthState {
    /// The connection being authorized.
    pub connection_id: String,
    /// The PKCE verifier, sealed.
    pub verifier: String,
    /// The redirect URI the code was asked for.
    pub redirect_uri: String,
    /// When it lapses (Unix ms).
    pub expires_at: i64,
    /// The key that began it.
    pub key_id: Option<String>,
    /// Or the person (subject and email).
    pub subject: Option<String>,
    /// The person's email.
    pub email: Option<String>,
}

impl OAuthState {
    /// Who began it, as the audit log records them.
    pub fn started_by(&self) -> Actor<'_> {
        Actor {
            key_id: self.key_id.as_deref(),
            subject: self.subject.as_deref(),
            email: self.email.as_deref(),
        }
    }
}

impl Store {
    /// Store a single-use OAuth2 state.
    pub async fn insert_oauth_state(
        &self,
        state_hash: &str,
        connection_id: &str,
        verifier: &str,
        redirect_uri: &str,
        expires_at: i64,
        started_by: &Actor<'_>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO oauth_states (state_hash, connection_id, verifier, redirect_uri, expires_at, key_id, subject, email) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(state_hash)
        .bind(connection_id)
        .bind(verifier)
        .bind(redirect_uri)
        .bind(expires_at)
        .bind(started_by.key_id)
        .bind(started_by.subject)
        .bind(started_by.email)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Take a state (it can be used once).
    pub async fn take_oauth_state(&self, state_hash: &str) -> Result<Option<OAuthState>> {
        let row = sqlx::query(
            "DELETE FROM oauth_states WHERE state_hash = $1 \
             RETURNING connection_id, verifier, redirect_uri, expires_at, key_id, subject, email",
        )
        .bind(state_hash)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(OAuthState {
                connection_id: r.try_get("connection_id")?,
                verifier: r.try_get("verifier")?,
                redirect_uri: r.try_get("redirect_uri")?,
                expires_at: r.try_get("expires_at")?,
                key_id: r.try_get("key_id")?,
                subject: r.try_get("subject")?,
                email: r.try_get("email")?,
            })
        })
        .transpose()
    }

    /// A connection's OAuth2 tokens.
    pub async fn oauth_tokens(&self, connection_id: &str) -> Result<Option<TokenRow>> {
        let row = sqlx::query("SELECT access_token, refresh_token, expires_at, refreshes, info FROM oauth_tokens WHERE connection_id = $1")
            .bind(connection_id)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| {
            Ok(TokenRow {
                access_token: r.try_get("access_token")?,
                refresh_token: r.try_get("refresh_token")?,
                expires_at: r.try_get("expires_at")?,
                refreshes: r.try_get("refreshes")?,
                info: r.try_get("info")?,
            })
        })
        .transpose()
    }

    /// Store tokens (from a code exchange or a refresh). A refresh that
    /// returned no refresh token keeps the old one; `info` replaces the old
    /// facts when given.
    pub async fn save_oauth_tokens(
        &self,
        connection_id: &str,
        access: &str,
        refresh: Option<&str>,
        expires_at: Option<i64>,
        refreshed: bool,
        info: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO oauth_tokens (connection_id, access_token, refresh_token, expires_at, refreshed_at, refreshes, info) \
             VALUES ($1, $2, $3, $4, $5, 0, $7) ON CONFLICT (connection_id) DO UPDATE SET access_token = excluded.access_token, \
             refresh_token = COALESCE(excluded.refresh_token, oauth_tokens.refresh_token), expires_at = excluded.expires_at, \
             refreshed_at = excluded.refreshed_at, refreshes = oauth_tokens.refreshes + $6, lease_owner = NULL, lease_until = NULL, \
             info = COALESCE(excluded.info, oauth_tokens.info)",
        )
        .bind(connection_id)
        .bind(access)
        .bind(refresh)
        .bind(expires_at)
        .bind(now_ms())
        .bind(i64::from(refreshed))
        .bind(info)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Take the refresh lease of a connection's tokens (one refresher across
    /// all nodes); false if another holds it.
    pub async fn lease_oauth_refresh(
        &self,
        connection_id: &str,
        owner: &str,
        lease_ms: i64,
    ) -> Result<bool> {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE oauth_tokens SET lease_owner = $1, lease_until = $2 WHERE connection_id = $3 AND (lease_until IS NULL OR lease_until < $4)",
        )
        .bind(owner)
        .bind(now + lease_ms)
        .bind(connection_id)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Give the refresh lease back.
    pub async fn release_oauth_refresh(&self, connection_id: &str, owner: &str) -> Result<()> {
        sqlx::query("UPDATE oauth_tokens SET lease_owner = NULL, lease_until = NULL WHERE connection_id = $1 AND lease_owner = $2")
            .bind(connection_id)
            .bind(owner)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Drop a connection's tokens (revoked grant).
    pub async fn delete_oauth_tokens(&self, connection_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM oauth_tokens WHERE connection_id = $1")
            .bind(connection_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
