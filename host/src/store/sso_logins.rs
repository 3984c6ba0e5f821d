//! Single sign-ons begun and not yet finished. Each is found by the hash of
//! its `state` and taken by deleting it, so a state works once, on one
//! node of a cluster as on another; unfinished ones lapse after ten minutes.

use sqlx::Row;

use super::{Result, Store, now_ms};

/// A sign-in waiting for the identity provider's answer.
#[derive(Debug, Clone)]
pub struct SsoLogin {
    /// Hash of the cookie of the browser that began it.
    pub browser_hash: String,
    /// The nonce the ID token must carry.
    pub nonce: String,
    /// The PKCE verifier, sealed with the vault.
    pub verifier: String,
    /// Where the console goes afterwards.
    pub next: String,
}

impl Store {
    /// Remember a sign-in begun; lapsed ones are dropped on the way.
    pub async fn insert_sso_login(
        &self,
        state_hash: &str,
        login: &SsoLogin,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query("DELETE FROM sso_logins WHERE expires_at < $1")
            .bind(now_ms())
            .execute(self.pool())
            .await?;
        sqlx::query(
            "INSERT INTO sso_logins (state_hash, browser_hash, nonce, verifier, next, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(state_hash)
        .bind(&login.browser_hash)
        .bind(&login.nonce)
        .bind(&login.verifier)
        .bind(&login.next)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Take the unexpired sign-in with this state hash: deleting it is
    /// reading it, so of two requests with one state only one gets it.
    pub async fn take_sso_login(&self, state_hash: &str) -> Result<Option<SsoLogin>> {
        let row = sqlx::query(
            "DELETE FROM sso_logins WHERE state_hash = $1 \
             RETURNING browser_hash, nonce, verifier, next, expires_at",
        )
        .bind(state_hash)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        if row.try_get::<i64, _>("expires_at")? <= now_ms() {
            return Ok(None);
        }
        Ok(Some(SsoLogin {
            browser_hash: row.try_get("browser_hash")?,
            nonce: row.try_get("nonce")?,
            verifier: row.try_get("verifier")?,
            next: row.try_get("next")?,
        }))
    }
}
