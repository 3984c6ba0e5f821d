//! The connector registry: uploads checked by the runtime and by the
//! server's trust policy (publisher signatures), stored in the database (so
//! every node can load them), and loaded connectors kept in memory by
//! digest so each is compiled (or read from the artifact cache) once per
//! process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::model::limits::ConnectorLimits;
use crate::model::signature::{Provenance, SignatureError, TrustPolicy};
use crate::runtime::{Connector, LoadError, Runtime};
use crate::store::connectors::{ConnectorRow, Inserted, NewConnector};
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
    /// The signature (or its absence) is refused by the trust policy.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an upload did.
#[derive(Debug)]
pub struct Uploaded {
    /// The registered connector.
    pub row: ConnectorRow,
    /// Whether it is new (false: the same bytes were registered before).
    pub created: bool,
    /// The limits it had, when this upload changed them.
    pub limits_before: Option<ConnectorLimits>,
    /// Whether this upload attached a signature to bytes registered before
    /// (unsigned, or with one that does not verify where this one does).
    pub signed_now: bool,
}

/// Uploads and loaded connectors.
pub struct Registry {
    store: Store,
    runtime: Runtime,
    trust: TrustPolicy,
    loaded: Mutex<HashMap<String, Arc<Connector>>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

impl Registry {
    /// A registry over `store`, loading into `runtime`, trusting no
    /// publisher and accepting unsigned connectors.
    pub fn new(store: Store, runtime: Runtime) -> Self {
        Self::with_trust(store, runtime, TrustPolicy::default())
    }

    /// A registry that checks uploads' signatures against `trust`.
    pub fn with_trust(store: Store, runtime: Runtime, trust: TrustPolicy) -> Self {
        Self {
            store,
            runtime,
            trust,
            loaded: Mutex::new(HashMap::new()),
        }
    }

    /// What a registered connector's signature says under the publishers
    /// this server trusts now (which may differ from when it was uploaded).
    pub fn provenance(&self, row: &ConnectorRow) -> Result<Provenance, SignatureError> {
        self.trust.check(
            row.signature.as_deref(),
            &row.digest,
            &row.name,
            &row.version,
        )
    }

    /// The runtime connectors run in.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Check and store a component, with its publisher's signature file
    /// (checked against the trust policy) and the limits an administrator
    /// gave it (`None`: the node's defaults, or what an earlier upload of
    /// the same bytes set). When the same bytes were already registered,
    /// their limits are changed to `limits`, if given, and a signature is
    /// attached if they had none.
    pub async fn upload(
        &self,
        bytes: &[u8],
        signature: Option<&str>,
        key_id: Option<&str>,
        limits: Option<ConnectorLimits>,
    ) -> Result<Uploaded, UploadError> {
        if let Some(l) = &limits {
            self.runtime
                .limits()
                .check_connector(l)
                .map_err(UploadError::Limits)?;
        }
        // Before compiling: a server that requires trusted signatures never
        // hands untrusted bytes to the compiler or runs their `spec`.
        // The digest is only compared with a signature's claim; without one,
        // loading hashes the bytes anyway.
        let digest = signature.map_or_else(String::new, |_| {
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes))
        });
        self.trust.precheck(signature, &digest)?;
        let connector = self.runtime.load(bytes).await?;
        let spec = connector.spec();
        self.trust
            .check(signature, connector.digest(), &spec.name, &spec.version)?;
        self.remember(&connector);
        let inserted = self
            .store
            .insert_connector(&NewConnector {
                digest: connector.digest(),
                spec: connector.spec(),
                imports: connector.imports(),
                bytes,
                key_id,
                limits: &limits.unwrap_or_default(),
                signature,
            })
            .await?;
        match inserted {
            Inserted::Created(row) => Ok(Uploaded {
                row,
                created: true,
                limits_before: None,
                signed_now: false,
            }),
            Inserted::Existing(mut row) => {
                let mut limits_before = None;
                if let Some(l) = limits
                    && l != row.limits
                {
                    self.store
                        .set_connector_limits(&row.name, &row.version, &l)
                        .await?;
                    limits_before = Some(std::mem::replace(&mut row.limits, l));
                }
                // A signature is attached to bytes registered without one,
                // and replaces one that does not verify under the trusted
                // publishers (an unknown key's, say) when it does.
                let mut signed_now = false;
                if let Some(sig) = signature
                    && row.signature.as_deref() != Some(sig)
                {
                    let upgrade = row.signature.is_none()
                        || (matches!(
                            self.trust
                                .check(signature, &row.digest, &row.name, &row.version),
                            Ok(Provenance::Verified { .. })
                        ) && !matches!(self.provenance(&row), Ok(Provenance::Verified { .. })));
                    if upgrade {
                        self.store
                            .set_connector_signature(&row.name, &row.version, sig)
                            .await?;
                        row.signature = Some(sig.to_string());
                        signed_now = true;
                    }
                }
                Ok(Uploaded {
                    row,
                    created: false,
                    limits_before,
                    signed_now,
                })
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
    /// compiled from the stored bytes). Refused when the server requires
    /// trusted signatures and this one no longer verifies (its publisher
    /// was removed from the trusted list, say, after a key leaked).
    pub async fn get(
        &self,
        name: &str,
        version: &str,
    ) -> Result<Option<(ConnectorRow, Arc<Connector>)>, UploadError> {
        let Some(row) = self.store.connector(name, version).await? else {
            return Ok(None);
        };
        self.provenance(&row)?;
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
