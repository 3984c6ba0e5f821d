//! The application context: one [`App`] per process, handed to every layer
//! above the store (OAuth2, connections, webhooks, sync, API, CLI): the
//! database, the connector registry, the vault, this node's name and
//! options, its metrics, and the lease keeper.
//!
//! It was `sync::Engine`; it lives below `sync` now so that OAuth2,
//! outgoing webhooks and the API can use it without importing the sync
//! engine (which imported them back).

pub mod leases;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};

use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::store::Store;
use crate::vault::Vault;

/// How this node runs: workers, leases, the scheduler, its public URL.
#[derive(Debug, Clone)]
pub struct AppOptions {
    /// Runs executed at once on this node (0: no worker, API only).
    pub workers: usize,
    /// Runs using one connection at once on this node.
    pub per_connection: usize,
    /// Whether this node runs the scheduler.
    pub scheduler: bool,
    /// A lease not renewed for this long is rescued by another worker.
    pub lease: Duration,
    /// How often leases are renewed.
    pub heartbeat: Duration,
    /// How often an idle worker looks for work.
    pub poll: Duration,
    /// How often the scheduler looks for due syncs.
    pub tick: Duration,
    /// On shutdown, how long in-flight runs may take before they are
    /// released to the queue.
    pub grace: Duration,
    /// This deployment's external base URL (OAuth2 redirect URI, webhook
    /// endpoint URLs).
    pub public_url: String,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            workers: 4,
            per_connection: 2,
            scheduler: true,
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(5),
            poll: Duration::from_millis(500),
            tick: Duration::from_millis(250),
            grace: Duration::from_secs(20),
            public_url: "http://127.0.0.1:8080".into(),
        }
    }
}

/// The application context: what every layer above the store needs,
/// created once per process and cheap to clone.
#[derive(Clone)]
pub struct App {
    /// Database.
    pub store: Store,
    /// Connectors.
    pub registry: Arc<Registry>,
    /// Secrets.
    pub vault: Arc<Vault>,
    /// This node's name, the owner of its leases.
    pub node: String,
    /// Settings.
    pub options: AppOptions,
    /// Metrics of this node.
    pub metrics: Arc<Metrics>,
    /// Wakes idle workers when a run is enqueued here.
    pub wake: Arc<Notify>,
    /// Renews the leases of the runs this node executes.
    pub leases: Arc<leases::LeaseKeeper>,
    connection_slots: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl App {
    /// The context of this node.
    pub fn new(
        store: Store,
        registry: Arc<Registry>,
        vault: Arc<Vault>,
        options: AppOptions,
    ) -> Self {
        let mut suffix = [0u8; 4];
        getrandom::fill(&mut suffix).expect("the OS random source works");
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "node".into());
        let leases = Arc::new(leases::LeaseKeeper::start(
            store.clone(),
            options.lease,
            options.heartbeat,
        ));
        Self {
            store,
            registry,
            vault,
            node: format!("{host}-{}-{}", std::process::id(), hex::encode(suffix)),
            options,
            leases,
            metrics: Arc::default(),
            wake: Arc::default(),
            connection_slots: Arc::default(),
        }
    }

    /// The per-connection semaphore of this node.
    pub(crate) fn connection_slot(&self, connection_id: &str) -> Arc<Semaphore> {
        self.connection_slots
            .lock()
            .expect("slots lock")
            .entry(connection_id.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.options.per_connection.max(1))))
            .clone()
    }
}
