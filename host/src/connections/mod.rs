//! The connections service. [`fit`]: whether a connection fits its
//! connector; [`widening`]: whether a change widens where its credentials
//! may go; and here, opening a stored connection: the one place that turns a connection row
//! into a sandbox session (the connector from the registry, the config and
//! grants, the secrets decrypted from the vault, the OAuth2 access token
//! refreshed if due), and that says why it could not.

pub mod fit;
pub mod login;
pub mod rate;
pub mod widening;

use crate::runtime::cassette::Tape;
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::app::App;
use crate::model::secret::SecretValue;
use crate::registry::UploadError;
use crate::runtime::secrets::{TokenFuture, TokenSource};
use crate::runtime::state::{StateFuture, StateStore};
use crate::runtime::{Connector, Session, SessionError, SessionOptions};
use crate::store::StoreError;
use crate::store::connections::ConnectionRow;
use crate::vault::VaultError;

/// Why a stored connection could not be opened as a session.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The connector it uses is not registered (any more).
    #[error("connector {0} is not registered")]
    ConnectorGone(String),
    /// Loading the connector failed.
    #[error(transparent)]
    Load(#[from] UploadError),
    /// A secret cannot be decrypted.
    #[error("secret `{name}` of connection `{connection}`: {source}")]
    Secret {
        /// Connection name.
        connection: String,
        /// Secret name.
        name: String,
        /// Why.
        source: VaultError,
    },
    /// The session could not be set up (e.g. host templates vs config).
    #[error("connection `{connection}` cannot be used: {source}")]
    Session {
        /// Connection name.
        connection: String,
        /// Why.
        source: SessionError,
    },
    /// The OAuth2 token could not be obtained.
    #[error("connection `{connection}`: {reason}")]
    OAuth {
        /// Connection name.
        connection: String,
        /// Why.
        reason: String,
    },
    /// The login session cannot be set up (its request refers to secrets
    /// or config it cannot use).
    #[error("connection `{connection}`: login: {reason}")]
    Login {
        /// Connection name.
        connection: String,
        /// Why.
        reason: String,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Secrets a connection may hold for the host itself, never handed to the
/// connector: the signing secret of incoming webhooks, the verify token of
/// Meta's webhook handshake, and the OAuth2 client credentials.
pub const HOST_ONLY_SECRETS: [&str; 4] = [
    "webhook_secret",
    "webhook_verify_token",
    "oauth_client_id",
    "oauth_client_secret",
];

/// Open a stored connection as a sandbox session: its connector, config,
/// grants, decrypted secrets and (if it uses OAuth2) its tokens, fetched
/// when a request needs one. A connection that is not authorized yet, or
/// whose grant was revoked, fails here rather than on its first request.
pub async fn open(app: &App, c: &ConnectionRow) -> Result<(Arc<Connector>, Session), OpenError> {
    open_with_inputs(app, c, Vec::new(), None).await
}

/// [`open`], with files the connector reads as blobs (a run's input files)
/// and the tape its calls are recorded on (a run's failed calls).
pub async fn open_with_inputs(
    app: &App,
    c: &ConnectionRow,
    inputs: Vec<crate::runtime::blobs::Input>,
    tape: Option<Arc<Tape>>,
) -> Result<(Arc<Connector>, Session), OpenError> {
    let oauth = match crate::oauth::access_token(app, c).await {
        Ok(Some(_)) => Some(Arc::new(ConnectionTokens {
            app: app.clone(),
            connection: c.clone(),
        }) as Arc<dyn TokenSource>),
        Ok(None) => None,
        Err(e) => {
            return Err(OpenError::OAuth {
                connection: c.name.clone(),
                reason: e.to_string(),
            });
        }
    };
    open_with_token(app, c, oauth, inputs, tape).await
}

/// A connection's `state`, in the database, sealed by the vault.
struct ConnectionState {
    app: App,
    connection: String,
}

impl StateStore for ConnectionState {
    fn get(&self, key: String) -> StateFuture<'_, Option<String>> {
        Box::pin(async move {
            let sealed = self
                .app
                .store
                .state_get(&self.connection, &key)
                .await
                .map_err(|e| e.to_string())?;
            sealed
                .map(|s| self.app.vault.decrypt(&s).map(|v| v.expose().to_string()))
                .transpose()
                .map_err(|e| e.to_string())
        })
    }

    fn set(&self, key: String, value: String, ttl_secs: Option<u32>) -> StateFuture<'_, ()> {
        Box::pin(async move {
            let sealed = self.app.vault.encrypt(&SecretValue::new(value));
            let expires = ttl_secs.map(|s| crate::clock::now_ms() + i64::from(s) * 1000);
            let stored = self
                .app
                .store
                .state_set(&self.connection, &key, &sealed, expires)
                .await
                .map_err(|e| e.to_string())?;
            if stored {
                Ok(())
            } else {
                Err(format!(
                    "a connection holds at most {} state keys",
                    crate::store::state::MAX_STATE_KEYS
                ))
            }
        })
    }

    fn remove(&self, key: String) -> StateFuture<'_, ()> {
        Box::pin(async move {
            self.app
                .store
                .state_remove(&self.connection, &key)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

/// A connection's OAuth2 tokens, from the database, refreshed (once across
/// nodes) when they are about to expire or the provider refused one.
struct ConnectionTokens {
    app: App,
    connection: ConnectionRow,
}

impl TokenSource for ConnectionTokens {
    fn current(&self) -> TokenFuture<'_> {
        Box::pin(async move {
            crate::oauth::current_token(&self.app, &self.connection)
                .await
                .map_err(|e| e.to_string().into())
        })
    }

    fn renew(&self, rejected: SecretValue) -> TokenFuture<'_> {
        Box::pin(async move {
            crate::oauth::renew_rejected(&self.app, &self.connection, &rejected)
                .await
                .map_err(|e| e.to_string().into())
        })
    }
}

/// The connection's secrets the connector may use (not the host's own),
/// decrypted.
pub(crate) async fn connector_secrets(
    app: &App,
    c: &ConnectionRow,
) -> Result<BTreeMap<String, SecretValue>, OpenError> {
    let mut secrets = BTreeMap::new();
    for t in app.store.secret_tokens(&c.id).await? {
        if HOST_ONLY_SECRETS.contains(&t.name.as_str()) {
            continue;
        }
        let value = app
            .vault
            .decrypt(&t.token)
            .map_err(|source| OpenError::Secret {
                connection: c.name.clone(),
                name: t.name.clone(),
                source,
            })?;
        secrets.insert(t.name, value);
    }
    Ok(secrets)
}

async fn open_with_token(
    app: &App,
    c: &ConnectionRow,
    oauth: Option<Arc<dyn TokenSource>>,
    inputs: Vec<crate::runtime::blobs::Input>,
    tape: Option<Arc<Tape>>,
) -> Result<(Arc<Connector>, Session), OpenError> {
    {
        let (row, connector) = app
            .registry
            .get(&c.connector, &c.version)
            .await?
            .ok_or_else(|| OpenError::ConnectorGone(format!("{}@{}", c.connector, c.version)))?;
        let secrets = connector_secrets(app, c).await?;
        let oauth_info = if oauth.is_some() {
            crate::oauth::info(app, c).await
        } else {
            Vec::new()
        };
        let login =
            login::LoginTokens::new(app, c, connector.spec(), &secrets).map_err(|reason| {
                OpenError::Login {
                    connection: c.name.clone(),
                    reason,
                }
            })?;
        let relogin_on = login.as_ref().map(|l| l.relogin_on()).unwrap_or_default();
        let rate = rate::ConnectionBudgets::new(app, &c.id, connector.spec(), &c.config)
            .map(|g| Arc::new(g) as Arc<dyn crate::runtime::rate::RateGate>);
        let options = SessionOptions {
            rate,
            tls_ca: c.grants.tls_ca.clone(),
            quotas: c.grants.quotas,
            login: login.map(|l| Arc::new(l) as Arc<dyn TokenSource>),
            relogin_on,
            config: c.config.clone(),
            hosts: c.grants.hosts.clone(),
            networks: c.grants.networks.clone(),
            secrets,
            oauth,
            oauth_info,
            state: Some(Arc::new(ConnectionState {
                app: app.clone(),
                connection: c.id.clone(),
            })),
            inputs,
            reveal: c.grants.reveal.clone(),
            tape,
            limits: row.limits,
        };
        let session = Session::new(app.registry.runtime(), &connector, options, |log| log)
            .map_err(|source| OpenError::Session {
                connection: c.name.clone(),
                source,
            })?;
        Ok((connector, session))
    }
}
