//! The connector registry: uploads checked by the runtime and stored in the
//! database (so every node can load them), and loaded connectors kept in
//! memory by digest so each is compiled (or read from the artifact cache)
//! once per process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::model::limits::ConnectorLimits;
use crate::runtime::{Connector, LoadError, Runtime};
use crate::store::connectors::{ConnectorRow, Inserted};
use crate::store::{Store, StoreError};

/// Why an upload was refused.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The runtime refused the component.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Limits beyond the node's maxima.
    #[error("{0}")]
    Limits(String),
    /// `name@version` exists with other bytes.
    #[error(
        "{name}@{version} is already registered with another digest ({existing}); connectors are immutable, publish a new version"
    )]
    Conflict {
        /// Name.
        name: String,
        /// Version.
        version: String,
        /// The registered digest.
        existing: String,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Uploads and loaded connectors.
pub struct Registry {
    store: Store,
    runtime: Runtime,
    loaded: Mutex<HashMap<String, Arc<Connector>>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

impl Registry {
    /// A registry over `store`, loading into `runtime`.
    pub fn new(store: Store, runtime: Runtime) -> Self {
        Self {
            store,
            runtime,
            loaded: Mutex::new(HashMap::new()),
        }
    }

    /// The runtime connectors run in.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Check and store a component with the limits an administrator gave
    /// it (`None`: the node's defaults, or what an earlier upload of the
    /// same bytes set). `Ok((row, true, _))` when it is new, `Ok((row,
    /// false, changed))` when the same bytes were already registered; their
    /// limits are changed to `limits`, if given, and `changed` holds the
    /// limits they had.
    pub async fn upload(
        &self,
        bytes: &[u8],
        key_id: Option<&str>,
        limits: Option<ConnectorLimits>,
    ) -> Result<(ConnectorRow, bool, Option<ConnectorLimits>), UploadError> {
        if let Some(l) = &limits {
            self.runtime
                .limits()
                .check_connector(l)
                .map_err(UploadError::Limits)?;
        }
        let connector = self.runtime.load(bytes).await?;
        self.remember(&connector);
        let inserted = self
            .store
            .insert_connector(
                connector.digest(),
                connector.spec(),
                connector.imports(),
                bytes,
                key_id,
                &limits.unwrap_or_default(),
            )
            .await?;
        match inserted {
            Inserted::Created(row) => Ok((row, true, None)),
            Inserted::Existing(mut row) => {
                let mut changed = None;
                if let Some(l) = limits
                    && l != row.limits
                {
                    self.store
                        .set_connector_limits(&row.name, &row.version, &l)
                        .await?;
                    changed = Some(std::mem::replace(&mut row.limits, l));
                }
                Ok((row, false, changed))
            }
            Inserted::Conflict(row) => Err(UploadError::Conflict {
                name: row.name,
                version: row.version,
                existing: row.digest,
            }),
        }
    }

    fn remember(&self, connector: &Arc<Connector>) {
        self.loaded
            .lock()
            .expect("registry lock")
            .insert(connector.digest().to_string(), connector.clone());
    }

    /// A registered connector, loaded (from memory, the artifact cache, or
    /// compiled from the stored bytes).
    pub async fn get(
        &self,
        name: &str,
        version: &str,
    ) -> Result<Option<(ConnectorRow, Arc<Connector>)>, UploadError> {
        let Some(row) = self.store.connector(name, version).await? else {
            return Ok(None);
        };
        if let Some(c) = self.loaded.lock().expect("registry lock").get(&row.digest) {
            return Ok(Some((row, c.clone())));
        }
        let bytes = self
            .store
            .connector_bytes(name, version)
            .await?
            .ok_or_else(|| StoreError::Corrupt {
                table: "connectors",
                reason: format!("{name}@{version} has no bytes"),
            })?;
        let connector = self.runtime.load(&bytes).await?;
        self.remember(&connector);
        Ok(Some((row, connector)))
    }

    /// Forget a deleted connector's loaded code.
    pub fn forget(&self, digest: &str) {
        self.loaded.lock().expect("registry lock").remove(digest);
    }
}
