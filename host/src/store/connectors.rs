//! The connector registry: uploaded components by `name@version`, with
//! their digest and spec. Immutable once stored.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Result, Store, corrupt, now_ms};
use crate::model::limits::ConnectorLimits;
use crate::model::spec::Spec;

/// A registered connector (without its bytes).
#[derive(Debug, Clone, Serialize)]
pub struct ConnectorRow {
    /// Name from the spec.
    pub name: String,
    /// Version from the spec.
    pub version: String,
    /// Hex SHA-256 of the component.
    pub digest: String,
    /// The spec.
    pub spec: Spec,
    /// Every import of the component (WASI ones included).
    pub imports: Vec<String>,
    /// Size in bytes.
    pub size: i64,
    /// Upload time (Unix ms).
    pub created_at: i64,
    /// The limits an administrator gave it.
    pub limits: ConnectorLimits,
    /// The publisher's detached signature file, if it was uploaded with one.
    pub signature: Option<String>,
}

/// A connector to register.
#[derive(Debug)]
pub struct NewConnector<'a> {
    /// Hex SHA-256 of the component.
    pub digest: &'a str,
    /// Its spec (name and version included).
    pub spec: &'a Spec,
    /// Every import of the component.
    pub imports: &'a [String],
    /// The component.
    pub bytes: &'a [u8],
    /// The API key that uploaded it.
    pub key_id: Option<&'a str>,
    /// Limits an administrator gave it.
    pub limits: &'a ConnectorLimits,
    /// Its publisher's signature file.
    pub signature: Option<&'a str>,
}

/// What an insert did.
#[derive(Debug)]
pub enum Inserted {
    /// A new connector.
    Created(ConnectorRow),
    /// The same bytes were already registered.
    Existing(ConnectorRow),
    /// `name@version` is taken by other bytes.
    Conflict(ConnectorRow),
}

const COLUMNS: &str = "name, version, digest, spec, imports, size, created_at, limits, signature";

fn limits_text(limits: &ConnectorLimits) -> Option<String> {
    (!limits.is_default()).then(|| serde_json::to_string(limits).expect("limits serialize"))
}

fn from_row(row: &AnyRow) -> Result<ConnectorRow> {
    let spec: String = row.try_get("spec")?;
    let imports: String = row.try_get("imports")?;
    Ok(ConnectorRow {
        name: row.try_get("name")?,
        version: row.try_get("version")?,
        digest: row.try_get("digest")?,
        spec: serde_json::from_str(&spec).map_err(|e| corrupt("connectors", e))?,
        imports: serde_json::from_str(&imports).map_err(|e| corrupt("connectors", e))?,
        size: row.try_get("size")?,
        created_at: row.try_get("created_at")?,
        limits: match row.try_get::<Option<String>, _>("limits")? {
            Some(text) => serde_json::from_str(&text).map_err(|e| corrupt("connectors", e))?,
            None => ConnectorLimits::default(),
        },
        signature: row.try_get("signature")?,
    })
}

impl Store {
    /// Register a connector unless `name@version` exists.
    pub async fn insert_connector(&self, new: &NewConnector<'_>) -> Result<Inserted> {
        let NewConnector {
            digest,
            spec,
            imports,
            bytes,
            key_id,
            limits,
            signature,
        } = *new;
        let now = now_ms();
        let done = sqlx::query(
            "INSERT INTO connectors (name, version, digest, spec, imports, size, component, created_at, created_by, limits, signature) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (name, version) DO NOTHING",
        )
        .bind(&spec.name)
        .bind(&spec.version)
        .bind(digest)
        .bind(serde_json::to_string(spec).expect("spec serializes"))
        .bind(serde_json::to_string(imports).expect("imports serialize"))
        .bind(bytes.len() as i64)
        .bind(bytes.to_vec())
        .bind(now)
        .bind(key_id)
        .bind(limits_text(limits))
        .bind(signature)
        .execute(self.pool())
        .await?;
        let row = self
            .connector(&spec.name, &spec.version)
            .await?
            .ok_or_else(|| corrupt("connectors", "inserted row vanished"))?;
        Ok(if done.rows_affected() == 1 {
            Inserted::Created(row)
        } else if row.digest == digest {
            Inserted::Existing(row)
        } else {
            Inserted::Conflict(row)
        })
    }

    /// Change the limits of a connector.
    pub async fn set_connector_limits(
        &self,
        name: &str,
        version: &str,
        limits: &ConnectorLimits,
    ) -> Result<()> {
        sqlx::query("UPDATE connectors SET limits = $1 WHERE name = $2 AND version = $3")
            .bind(limits_text(limits))
            .bind(name)
            .bind(version)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Set a connector's signature file (the registry decides when).
    pub async fn set_connector_signature(
        &self,
        name: &str,
        version: &str,
        signature: &str,
    ) -> Result<()> {
        sqlx::query("UPDATE connectors SET signature = $1 WHERE name = $2 AND version = $3")
            .bind(signature)
            .bind(name)
            .bind(version)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// One connector.
    pub async fn connector(&self, name: &str, version: &str) -> Result<Option<ConnectorRow>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM connectors WHERE name = $1 AND version = $2"
        ))
        .bind(name)
        .bind(version)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Connectors ordered by name and version, after `after` (`name@version`).
    pub async fn connectors(
        &self,
        after: Option<(&str, &str)>,
        limit: i64,
    ) -> Result<Vec<ConnectorRow>> {
        let (name, version) = after.unwrap_or(("", ""));
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM connectors WHERE name > $1 OR (name = $1 AND version > $2) \
             ORDER BY name, version LIMIT $3"
        ))
        .bind(name)
        .bind(version)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// The component bytes.
    pub async fn connector_bytes(&self, name: &str, version: &str) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT component FROM connectors WHERE name = $1 AND version = $2")
            .bind(name)
            .bind(version)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| r.try_get("component")).transpose()?)
    }

    /// Names of connections using a connector.
    pub async fn connections_using(&self, name: &str, version: &str) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT name FROM connections WHERE connector = $1 AND version = $2 ORDER BY name",
        )
        .bind(name)
        .bind(version)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| Ok(r.try_get("name")?)).collect()
    }

    /// Delete a connector; false if it did not exist. The caller checks that
    /// no connection uses it (the foreign key refuses it anyway).
    pub async fn delete_connector(&self, name: &str, version: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM connectors WHERE name = $1 AND version = $2")
            .bind(name)
            .bind(version)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
