//! `wharf serve`: open the store, the vault and the sandbox, make sure an
//! admin API key exists, and serve the API until SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use crate::api::{self, AppState, RateLimiter, Scope};
use crate::app::{App, AppOptions};
use crate::registry::Registry;
use crate::runtime::{Runtime, RuntimeOptions};
use crate::store::Store;
use crate::vault::{KeySource, Vault};

/// How the server is set up.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Data directory: SQLite database, generated secret key, artifact cache.
    pub data_dir: PathBuf,
    /// `postgres://…` to use PostgreSQL instead of SQLite.
    pub database_url: Option<String>,
    /// `WHARF_SECRET_KEYS`.
    pub secret_keys: Option<String>,
    /// Requests per second per API key.
    pub rate_limit: f64,
    /// Burst per API key.
    pub rate_burst: f64,
    /// Failed sign-ins (unknown or revoked keys) one client address may
    /// make per minute.
    pub failed_sign_ins: u32,
    /// What this node does.
    pub role: Role,
    /// This node's settings (workers, leases, scheduler, public URL).
    pub app: AppOptions,
    /// Sandbox instances that may exist at once on this node.
    pub max_instances: u32,
    /// Every call in a fresh instance (`--fresh-instances`).
    pub fresh_instances: bool,
    /// The most memory per instance (MiB) and time per call (s) an
    /// administrator may give one connector at upload.
    pub max_connector_memory_mib: u32,
    /// See `max_connector_memory_mib`.
    pub max_call_timeout_secs: u32,
    /// The publishers whose signatures this server trusts, and whether it
    /// refuses connectors no trusted publisher signed.
    pub trust: crate::model::signature::TrustPolicy,
    /// The identity provider people sign in with (`--oidc-issuer`), if any.
    pub sso: Option<Arc<crate::sso::Sso>>,
}

/// What a node does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// API, scheduler and workers (the default).
    All,
    /// Only the API (and health, metrics).
    Api,
    /// Only the scheduler and workers (and health, metrics).
    Worker,
}

/// Open the database named by the options (SQLite in the data dir by default).
pub async fn open_store(database_url: Option<&str>, data_dir: &Path) -> anyhow::Result<Store> {
    let store = match database_url {
        Some(url) => Store::open(url).await,
        None => Store::open_sqlite_dir(data_dir).await,
    };
    store.context("cannot open the database")
}

/// Open the vault, warning when the key is not from the environment.
pub fn open_vault(secret_keys: Option<&str>, data_dir: &Path) -> anyhow::Result<Vault> {
    let (vault, source) = Vault::load_or_create(secret_keys, data_dir)?;
    match source {
        KeySource::Environment => tracing::info!(
            key = vault.fingerprint(),
            "secret keys from WHARF_SECRET_KEYS"
        ),
        KeySource::File | KeySource::Generated => tracing::warn!(
            key = vault.fingerprint(),
            file = %data_dir.join("secret.key").display(),
            generated = source == KeySource::Generated,
            "secrets are encrypted with a key file in the data directory; production should set WHARF_SECRET_KEYS"
        ),
    }
    Ok(vault)
}

/// Everything the API needs, opened from the options.
pub async fn app_state(o: &ServeOptions) -> anyhow::Result<AppState> {
    std::fs::create_dir_all(&o.data_dir)
        .with_context(|| format!("cannot create the data directory {}", o.data_dir.display()))?;
    let store = open_store(o.database_url.as_deref(), &o.data_dir).await?;
    let vault = open_vault(o.secret_keys.as_deref(), &o.data_dir)?;
    let limits = crate::runtime::Limits {
        max_instances: o.max_instances,
        fresh_instances: o.fresh_instances,
        max_memory_bytes: (o.max_connector_memory_mib as usize) << 20,
        max_call_timeout: std::time::Duration::from_secs(o.max_call_timeout_secs.into()),
        ..crate::runtime::Limits::default()
    };
    tracing::info!(
        instances = limits.max_instances,
        memory_per_instance_mib = limits.memory_bytes >> 20,
        connector_memory_max_mib = o.max_connector_memory_mib,
        memory_bound_mib = limits.node_memory_bound() >> 20,
        "sandbox: at most this much memory can be held by connectors on this node"
    );
    let runtime = Runtime::new(RuntimeOptions {
        limits,
        cache_dir: Some(o.data_dir.join("artifacts")),
        ..RuntimeOptions::default()
    })?;
    tracing::info!(
        publishers = %o.trust.describe(),
        require_signed = o.trust.requires_signed(),
        "connector signatures"
    );
    if let Some(sso) = &o.sso {
        tracing::info!(
            issuer = sso.issuer(),
            role_claim = sso.role_claim(),
            "single sign-on through OpenID Connect"
        );
    }
    let registry = Arc::new(Registry::with_trust(
        store.clone(),
        runtime,
        o.trust.clone(),
    ));
    let vault = Arc::new(vault);
    let mut engine_options = o.app.clone();
    if o.role == Role::Api {
        engine_options.workers = 0;
        engine_options.scheduler = false;
    }
    let app = App::new(
        store.clone(),
        registry.clone(),
        vault.clone(),
        engine_options,
    );
    Ok(AppState {
        app,
        limiter: Arc::new(RateLimiter::with_failed_sign_ins(
            o.rate_limit,
            o.rate_burst,
            o.failed_sign_ins,
        )),
        request_timeout: api::REQUEST_TIMEOUT,
        sso: o.sso.clone(),
    })
}

/// Create an API key directly in the store (first start, `wharf admin`).
pub async fn create_api_key(store: &Store, name: &str, scope: Scope) -> anyhow::Result<String> {
    let (id, key) = api::generate_key();
    store
        .insert_api_key(&id, name, &api::hash_key(&key), scope.as_str())
        .await?;
    store
        .audit(
            None,
            "api_key.create",
            &id,
            &serde_json::json!({ "name": name, "scope": scope, "by": "server" }),
        )
        .await?;
    Ok(key)
}

/// Run the server until a shutdown signal.
pub async fn serve(mut o: ServeOptions) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(o.listen)
        .await
        .with_context(|| format!("cannot listen on {}", o.listen))?;
    let addr = listener.local_addr()?;
    // `--listen …:0` picks a port; the public URL follows it.
    if o.app.public_url == format!("http://{}", o.listen) {
        o.app.public_url = format!("http://{addr}");
    }
    let state = app_state(&o).await?;
    if !state.app.store.has_active_api_key().await? {
        let key = create_api_key(&state.app.store, "initial admin", Scope::Admin).await?;
        println!(
            "Created the first admin API key. It is shown only this once; keep it safe:\n\n    {key}\n"
        );
    }
    println!(
        "Wharf is listening on http://{addr} (data: {})",
        o.data_dir.display()
    );
    tracing::info!(
        %addr,
        backend = ?state.app.store.backend(),
        role = ?o.role,
        workers = state.app.options.workers,
        node = %state.app.node,
        pooling = state.app.registry.runtime().uses_pooling(),
        "serving"
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let workers = tokio::spawn(crate::sync::worker::run(state.app.clone(), stop_rx.clone()));
    let scheduler = tokio::spawn(crate::sync::scheduler::run(
        state.app.clone(),
        crate::sync::scheduler::Clock::system(),
        stop_rx.clone(),
    ));
    let sender = tokio::spawn(crate::webhooks::sender::run(state.app.clone(), stop_rx));
    let router = if o.role == Role::Worker {
        api::health_router(state)
    } else {
        // The console at `/`, in front of the API on the same port.
        crate::console::router(state.clone(), api::router(state))
    };
    // The peer address keys the limit on failed sign-ins.
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    // The API has stopped; in-flight runs finish or go back to the queue.
    let _ = stop_tx.send(true);
    let _ = tokio::join!(workers, scheduler, sender);
    tracing::info!("stopped");
    Ok(())
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

/// `wharf admin rotate-secrets`: re-encrypt every sealed value (see
/// [`crate::store::sealed`]) under the first key. Each token is replaced
/// only if unchanged since it was read, so the command is safe to
/// interrupt, re-run, or run while the server works.
pub async fn rotate_secrets(store: &Store, vault: &Vault) -> anyhow::Result<(usize, usize)> {
    let mut rotated = 0;
    let mut current = 0;
    for v in store.sealed_values().await? {
        if !vault.needs_rotation(&v.token) {
            current += 1;
            continue;
        }
        let value = vault
            .decrypt(&v.token)
            .with_context(|| format!("cannot decrypt the {}", v.describe()))?;
        if store.replace_sealed(&v, &vault.encrypt(&value)).await? {
            rotated += 1;
        }
    }
    Ok((rotated, current))
}
