//! Console sessions: the hash of the browser's session id, who it stands
//! for (an API key, or a person the identity provider vouched for), its
//! CSRF token and when it ends. A session of a revoked key is never found.

use sqlx::Row;

use super::{Result, Store, now_ms};

/// Who a session stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionOwner {
    /// An API key, by id.
    Key(String),
    /// A person signed in through single sign-on.
    Person {
        /// The ID token's `sub`.
        subject: String,
        /// Its `email`, if it had one.
        email: Option<String>,
        /// The role granted at sign-in (`admin`, `operator`, `viewer`).
        role: String,
        /// The identity provider that vouched for them.
        issuer: String,
    },
}

/// A live session.
#[derive(Debug, Clone)]
pub struct SessionRow {
    /// Who it stands for.
    pub owner: SessionOwner,
    /// The key's scope, or the person's role.
    pub scope: String,
    /// The key's name, or the person's email (else subject).
    pub name: String,
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
        owner: &SessionOwner,
        csrf: &str,
        expires_at: i64,
    ) -> Result<()> {
        let now = now_ms();
        sqlx::query("DELETE FROM console_sessions WHERE expires_at < $1")
            .bind(now)
            .execute(self.pool())
            .await?;
        let (key_id, subject, email, role, issuer) = match owner {
            SessionOwner::Key(id) => (Some(id.as_str()), None, None, None, None),
            SessionOwner::Person {
                subject,
                email,
                role,
                issuer,
            } => (
                None,
                Some(subject.as_str()),
                email.as_deref(),
                Some(role.as_str()),
                Some(issuer.as_str()),
            ),
        };
        sqlx::query(
            "INSERT INTO console_sessions (id_hash, key_id, subject, email, role, issuer, csrf, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id_hash)
        .bind(key_id)
        .bind(subject)
        .bind(email)
        .bind(role)
        .bind(issuer)
        .bind(csrf)
        .bind(now)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The unexpired session with this id hash: a person's, or a key's
    /// whose key is not revoked.
    pub async fn console_session(&self, id_hash: &str) -> Result<Option<SessionRow>> {
        let row = sqlx::query(
            "SELECT s.key_id, s.subject, s.email, s.role, s.issuer, s.csrf, s.expires_at, k.scope, k.name \
             FROM console_sessions s LEFT JOIN api_keys k ON k.id = s.key_id \
             WHERE s.id_hash = $1 AND s.expires_at > $2 \
             AND (s.subject IS NOT NULL OR (k.id IS NOT NULL AND k.revoked_at IS NULL))",
        )
        .bind(id_hash)
        .bind(now_ms())
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            let key_id: Option<String> = r.try_get("key_id")?;
            let (owner, scope, name) = match key_id {
                Some(id) => (
                    SessionOwner::Key(id),
                    r.try_get::<String, _>("scope")?,
                    r.try_get::<String, _>("name")?,
                ),
                None => {
                    let subject: String = r.try_get("subject")?;
                    let email: Option<String> = r.try_get("email")?;
                    let role: String = r.try_get("role")?;
                    let issuer: Option<String> = r.try_get("issuer")?;
                    let name = email.clone().unwrap_or_else(|| subject.clone());
                    (
                        SessionOwner::Person {
                            subject,
                            email,
                            role: role.clone(),
                            issuer: issuer.unwrap_or_default(),
                        },
                        role,
                        name,
                    )
                }
            };
            Ok(SessionRow {
                owner,
                scope,
                name,
                csrf: r.try_get("csrf")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    /// End every session of a person (an administrator's doing); how many.
    pub async fn delete_person_sessions(&self, subject: &str) -> Result<u64> {
        let done = sqlx::query("DELETE FROM console_sessions WHERE subject = $1")
            .bind(subject)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
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
