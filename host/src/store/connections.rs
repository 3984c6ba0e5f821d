//! Connections: a configured use of a connector, its grants, its status,
//! and its secrets as Fernet tokens (the values are never stored in clear
//! and never leave through this module).

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Result, Store, corrupt, now_ms};
use crate::model::grants::HostPattern;
use crate::model::limits::ConnectionQuotas;

/// What an administrator allows a connection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    /// Host patterns the connector may reach.
    #[serde(default)]
    pub hosts: Vec<HostPattern>,
    /// Blocked networks (CIDR) it may reach nevertheless.
    #[serde(default)]
    #[schemars(with = "Vec<crate::model::grants::NetworkText>")]
    pub networks: Vec<IpNet>,
    /// Secrets the connector may read with `secrets.reveal` (deprecated;
    /// request signing is done by the host). Only an administrator grants it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reveal: Vec<String>,
    /// Certificates (PEM) trusted besides the public roots, for an
    /// on-premises system with its own CA. Only an administrator sets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca: Option<String>,
    /// Quotas the host enforces on the connection's requests. Only an
    /// administrator sets them.
    #[serde(default, skip_serializing_if = "ConnectionQuotas::is_default")]
    pub quotas: ConnectionQuotas,
}

/// Health of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Never checked, or checked fine.
    Active,
    /// Switched off by an administrator.
    Inactive,
    /// The last check or run failed on config or credentials.
    Error,
    /// The OAuth2 provider revoked the grant; an administrator must connect again.
    NeedsReauth,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Error => "error",
            Self::NeedsReauth => "needs_reauth",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "inactive" => Some(Self::Inactive),
            "error" => Some(Self::Error),
            "needs_reauth" => Some(Self::NeedsReauth),
            _ => None,
        }
    }
}

/// Which secret is set, and since when; never the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct SecretInfo {
    /// Secret name.
    pub name: String,
    /// When it was last set (Unix ms).
    pub updated_at: i64,
}

/// A connection as stored.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionRow {
    /// Id.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Connector name.
    pub connector: String,
    /// Connector version.
    pub version: String,
    /// Config (validated against the spec on write).
    pub config: Value,
    /// Grants.
    pub grants: Grants,
    /// Status.
    pub status: Status,
    /// Why, when not active.
    pub status_reason: Option<String>,
    /// Last check (Unix ms).
    pub checked_at: Option<i64>,
    /// Which secrets are set.
    pub secrets: Vec<SecretInfo>,
    /// Created (Unix ms).
    pub created_at: i64,
    /// Last changed (Unix ms).
    pub updated_at: i64,
}

/// A change to a connection's secrets.
#[derive(Debug, Clone)]
pub enum SecretChange {
    /// Set to this Fernet token.
    Set(String, String),
    /// Remove.
    Remove(String),
}

/// A stored secret token, for decryption or re-encryption.
#[derive(Debug, Clone)]
pub struct SecretToken {
    /// Connection id.
    pub connection_id: String,
    /// Secret name.
    pub name: String,
    /// Fernet token.
    pub token: String,
}

const COLUMNS: &str = "id, name, connector, version, config, grants, status, status_reason, checked_at, created_at, updated_at";

fn from_row(row: &AnyRow) -> Result<ConnectionRow> {
    let config: String = row.try_get("config")?;
    let grants: String = row.try_get("grants")?;
    let status: String = row.try_get("status")?;
    Ok(ConnectionRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        connector: row.try_get("connector")?,
        version: row.try_get("version")?,
        config: serde_json::from_str(&config).map_err(|e| corrupt("connections", e))?,
        grants: serde_json::from_str(&grants).map_err(|e| corrupt("connections", e))?,
        status: Status::parse(&status)
            .ok_or_else(|| corrupt("connections", format!("status `{status}`")))?,
        status_reason: row.try_get("status_reason")?,
        checked_at: row.try_get("checked_at")?,
        secrets: Vec::new(),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// A new connection.
#[derive(Debug, Clone)]
pub struct NewConnection {
    /// Id.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Connector name.
    pub connector: String,
    /// Connector version.
    pub version: String,
    /// Config.
    pub config: Value,
    /// Grants.
    pub grants: Grants,
    /// Secrets as (name, Fernet token).
    pub secrets: Vec<(String, String)>,
}

/// Changes to a connection; `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct ConnectionUpdate {
    /// New name.
    pub name: Option<String>,
    /// New config.
    pub config: Option<Value>,
    /// New grants.
    pub grants: Option<Grants>,
    /// Set to active or inactive.
    pub status: Option<Status>,
    /// Secret changes.
    pub secrets: Vec<SecretChange>,
}

impl Store {
    /// Whether a connection name is taken (by another id).
    pub async fn connection_name_taken(&self, name: &str, except: Option<&str>) -> Result<bool> {
        let row = sqlx::query("SELECT id FROM connections WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(r) => except != Some(r.try_get::<String, _>("id")?.as_str()),
            None => false,
        })
    }

    /// Insert a connection and its secret tokens in one transaction.
    pub async fn insert_connection(&self, c: &NewConnection) -> Result<ConnectionRow> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        sqlx::query(&format!(
            "INSERT INTO connections ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, 'active', NULL, NULL, $7, $7)"
        ))
        .bind(&c.id)
        .bind(&c.name)
        .bind(&c.connector)
        .bind(&c.version)
        .bind(c.config.to_string())
        .bind(serde_json::to_string(&c.grants).expect("grants serialize"))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for (name, token) in &c.secrets {
            sqlx::query(
                "INSERT INTO connection_secrets (connection_id, name, token, updated_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(&c.id)
            .bind(name)
            .bind(token)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.connection(&c.id)
            .await?
            .ok_or_else(|| corrupt("connections", "inserted row vanished"))
    }

    /// One connection, with which secrets are set.
    pub async fn connection(&self, id: &str) -> Result<Option<ConnectionRow>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM connections WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = row else { return Ok(None) };
        let mut c = from_row(&row)?;
        c.secrets = self.secret_infos(id).await?;
        Ok(Some(c))
    }

    async fn secret_infos(&self, id: &str) -> Result<Vec<SecretInfo>> {
        let rows = sqlx::query("SELECT name, updated_at FROM connection_secrets WHERE connection_id = $1 ORDER BY name")
            .bind(id)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(SecretInfo {
                    name: r.try_get("name")?,
                    updated_at: r.try_get("updated_at")?,
                })
            })
            .collect()
    }

    /// Connections ordered by name, after `after`.
    pub async fn connections(&self, after: Option<&str>, limit: i64) -> Result<Vec<ConnectionRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM connections WHERE name > $1 ORDER BY name LIMIT $2"
        ))
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut c = from_row(row)?;
            c.secrets = self.secret_infos(&c.id).await?;
            out.push(c);
        }
        Ok(out)
    }

    /// Apply an update in one transaction; `None` if the connection is gone.
    pub async fn update_connection(
        &self,
        id: &str,
        u: &ConnectionUpdate,
    ) -> Result<Option<ConnectionRow>> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE connections SET name = COALESCE($1, name), config = COALESCE($2, config), \
             grants = COALESCE($3, grants), updated_at = $4 WHERE id = $5",
        )
        .bind(u.name.as_deref())
        .bind(u.config.as_ref().map(Value::to_string))
        .bind(
            u.grants
                .as_ref()
                .map(|g| serde_json::to_string(g).expect("grants serialize")),
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        if let Some(status) = u.status {
            sqlx::query("UPDATE connections SET status = $1, status_reason = NULL WHERE id = $2")
                .bind(status.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        for change in &u.secrets {
            match change {
                SecretChange::Set(name, token) => {
                    sqlx::query(
                        "INSERT INTO connection_secrets (connection_id, name, token, updated_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (connection_id, name) DO UPDATE SET token = excluded.token, updated_at = excluded.updated_at",
                    )
                    .bind(id)
                    .bind(name)
                    .bind(token)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                SecretChange::Remove(name) => {
                    sqlx::query(
                        "DELETE FROM connection_secrets WHERE connection_id = $1 AND name = $2",
                    )
                    .bind(id)
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        tx.commit().await?;
        self.connection(id).await
    }

    /// Record the outcome of a check or run.
    pub async fn set_connection_status(
        &self,
        id: &str,
        status: Status,
        reason: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE connections SET status = $1, status_reason = $2, checked_at = $3 WHERE id = $4",
        )
        .bind(status.as_str())
        .bind(reason)
        .bind(now_ms())
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Set a connection's status on behalf of a run, only while the run's
    /// lease is held (an execution that lost its run changes nothing);
    /// whether it was set.
    pub async fn set_connection_status_fenced(
        &self,
        lease: &super::runs::Lease,
        id: &str,
        status: Status,
        reason: Option<&str>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE connections SET status = $1, status_reason = $2, checked_at = $3 WHERE id = $4 \
             AND EXISTS (SELECT 1 FROM runs WHERE id = $5 AND lease_owner = $6 AND lease_gen = $7 AND status = 'running')",
        )
        .bind(status.as_str())
        .bind(reason)
        .bind(now_ms())
        .bind(id)
        .bind(&lease.run_id)
        .bind(&lease.owner)
        .bind(lease.generation)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Delete a connection and its secrets, unless a sync uses it.
    pub async fn delete_connection(&self, id: &str) -> Result<Deletion> {
        let users = self.syncs_using_connection(id).await?;
        if !users.is_empty() {
            return Ok(Deletion::InUse(users));
        }
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM connection_secrets WHERE connection_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let done = match sqlx::query("DELETE FROM connections WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
        {
            Ok(done) => done,
            // A sync created since the check above: the foreign key holds.
            Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
                drop(tx);
                return Ok(Deletion::InUse(self.syncs_using_connection(id).await?));
            }
            Err(e) => return Err(e.into()),
        };
        tx.commit().await?;
        Ok(if done.rows_affected() == 1 {
            Deletion::Deleted
        } else {
            Deletion::Missing
        })
    }

    /// The secret tokens of one connection.
    pub async fn secret_tokens(&self, id: &str) -> Result<Vec<SecretToken>> {
        let rows = sqlx::query(
            "SELECT connection_id, name, token FROM connection_secrets WHERE connection_id = $1",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(token_from_row).collect()
    }
}

fn token_from_row(r: &AnyRow) -> Result<SecretToken> {
    Ok(SecretToken {
        connection_id: r.try_get("connection_id")?,
        name: r.try_get("name")?,
        token: r.try_get("token")?,
    })
}

/// What deleting a connection did.
#[derive(Debug, PartialEq, Eq)]
pub enum Deletion {
    /// Deleted with its secrets.
    Deleted,
    /// There was no such connection.
    Missing,
    /// Kept: these syncs (by name) use it.
    InUse(Vec<String>),
}
