//! What the host keeps per connection for contract 0.2 connectors: the
//! connector's `state` (sealed values with an optional expiry) and its
//! login session (a sealed token or cookies, with a lease so one node logs
//! in at a time).

use sqlx::Row;

use super::{Result, Store, now_ms};

/// Keys one connection may hold in its state.
pub const MAX_STATE_KEYS: i64 = 64;

/// A connection's login session.
#[derive(Debug, Clone)]
pub struct LoginRow {
    /// The sealed token (or cookies, as JSON), if logged in.
    pub token: Option<String>,
    /// When it expires (Unix ms), if known.
    pub expires_at: Option<i64>,
}

impl Store {
    /// The sealed value of `key`, unless missing or expired.
    pub async fn state_get(&self, connection_id: &str, key: &str) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT value FROM connection_state WHERE connection_id = $1 AND key = $2 \
             AND (expires_at IS NULL OR expires_at > $3)",
        )
        .bind(connection_id)
        .bind(key)
        .bind(now_ms())
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| Ok(r.try_get("value")?)).transpose()
    }

    /// Set `key` to a sealed value; false (nothing written) when the
    /// connection already holds [`MAX_STATE_KEYS`] other live keys.
    pub async fn state_set(
        &self,
        connection_id: &str,
        key: &str,
        sealed: &str,
        expires_at: Option<i64>,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let now = now_ms();
        sqlx::query(
            "DELETE FROM connection_state WHERE connection_id = $1 AND expires_at IS NOT NULL AND expires_at <= $2",
        )
        .bind(connection_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let others: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM connection_state WHERE connection_id = $1 AND key <> $2",
        )
        .bind(connection_id)
        .bind(key)
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        if others >= MAX_STATE_KEYS {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO connection_state (connection_id, key, value, expires_at, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (connection_id, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at, updated_at = excluded.updated_at",
        )
        .bind(connection_id)
        .bind(key)
        .bind(sealed)
        .bind(expires_at)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Remove `key`.
    pub async fn state_remove(&self, connection_id: &str, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM connection_state WHERE connection_id = $1 AND key = $2")
            .bind(connection_id)
            .bind(key)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The connection's login session, if one was started.
    pub async fn login_session(&self, connection_id: &str) -> Result<Option<LoginRow>> {
        let row =
            sqlx::query("SELECT token, expires_at FROM login_sessions WHERE connection_id = $1")
                .bind(connection_id)
                .fetch_optional(self.pool())
                .await?;
        row.map(|r| {
            Ok(LoginRow {
                token: r.try_get("token")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    /// Take the login lease (one node logs in at a time); false if another
    /// node holds it.
    pub async fn lease_login(
        &self,
        connection_id: &str,
        owner: &str,
        lease_ms: i64,
    ) -> Result<bool> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO login_sessions (connection_id, created_at) VALUES ($1, $2) ON CONFLICT (connection_id) DO NOTHING",
        )
        .bind(connection_id)
        .bind(now)
        .execute(self.pool())
        .await?;
        let done = sqlx::query(
            "UPDATE login_sessions SET lease_owner = $2, lease_until = $3 WHERE connection_id = $1 \
             AND (lease_owner IS NULL OR lease_until < $4 OR lease_owner = $2)",
        )
        .bind(connection_id)
        .bind(owner)
        .bind(now + lease_ms)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Store a new session token (sealed) and give up the lease.
    pub async fn save_login(
        &self,
        connection_id: &str,
        sealed: Option<&str>,
        expires_at: Option<i64>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE login_sessions SET token = $2, expires_at = $3, created_at = $4, lease_owner = NULL, lease_until = NULL \
             WHERE connection_id = $1",
        )
        .bind(connection_id)
        .bind(sealed)
        .bind(expires_at)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Give up the login lease without a new token.
    pub async fn release_login(&self, connection_id: &str, owner: &str) -> Result<()> {
        sqlx::query(
            "UPDATE login_sessions SET lease_owner = NULL, lease_until = NULL WHERE connection_id = $1 AND lease_owner = $2",
        )
        .bind(connection_id)
        .bind(owner)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
