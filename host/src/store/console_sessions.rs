//! Console sessions: the hash of the browser's session id, the API key it
//! stands for, its CSRF token and when it ends. A session of a revoked key
//! is never found.

use sqlx::Row;

use super::{Result, Store, now_ms};

/// A live session.
#[derive(Debug, Clone)]
pub struct SessionRow {
    /// The key it signs requests with.
    pub key_id: String,
    /// The key's scope.
    pub scope: String,
    /// The key's name.
    pub key_name: String,
    /// The token every form of this session carries.
    pub csrf: String,
    /// When it ends (Unix ms).
    pub expires_at: i64,
}

impl Store {
    /// Store a new session; sessions past their end are dropped on the way.
    pub async fn insert_console_session(
        &self,
        id_hash: &str,
        key_id: &str,
        csrf: &str,
        expires_at: i64,
    ) -> Result<()> {
        let now = now_ms();
        sqlx::query("DELETE FROM console_sessions WHERE expires_at < $1")
            .bind(now)
            .execute(self.pool())
            .await?;
        sqlx::query(
            "INSERT INTO console_sessions (id_hash, key_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id_hash)
        .bind(key_id)
        .bind(csrf)
        .bind(now)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The unexpired session with this id hash whose key is not revoked.
    pub async fn console_session(&self, id_hash: &str) -> Result<Option<SessionRow>> {
        let row = sqlx::query(
            "SELECT s.key_id, s.csrf, s.expires_at, k.scope, k.name FROM console_sessions s \
             JOIN api_keys k ON k.id = s.key_id \
             WHERE s.id_hash = $1 AND s.expires_at > $2 AND k.revoked_at IS NULL",
        )
        .bind(id_hash)
        .bind(now_ms())
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(SessionRow {
                key_id: r.try_get("key_id")?,
                scope: r.try_get("scope")?,
                key_name: r.try_get("name")?,
                csrf: r.try_get("csrf")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    /// End a session (sign-out).
    pub async fn delete_console_session(&self, id_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Leave a sealed one-time message for the session's next page.
    pub async fn set_console_flash(&self, id_hash: &str, sealed: &str) -> Result<()> {
        sqlx::query("UPDATE console_sessions SET flash = $1 WHERE id_hash = $2")
            .bind(sealed)
            .bind(id_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Take the session's one-time message: it is gone once read (cleared
    /// only if unchanged, so two pages cannot both show it).
    pub async fn take_console_flash(&self, id_hash: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT flash FROM console_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .fetch_optional(self.pool())
            .await?;
        let Some(flash) = row.and_then(|r| r.try_get::<Option<String>, _>("flash").ok().flatten())
        else {
            return Ok(None);
        };
        let cleared = sqlx::query(
            "UPDATE console_sessions SET flash = NULL WHERE id_hash = $1 AND flash = $2",
        )
        .bind(id_hash)
        .bind(&flash)
        .execute(self.pool())
        .await?;
        Ok((cleared.rows_affected() == 1).then_some(flash))
    }
}
