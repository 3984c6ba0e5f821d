//! Wharf: a WebAssembly-sandboxed connector runtime.
//!
//! The module map is the layout; each layer imports only from the layers
//! above it in this list (docs/architecture.md draws it):
//!
//! 1. [`model`], [`clock`], [`ids`]: plain data and pure rules (records,
//!    specs and `{config.x}` templates, host patterns, secret values and
//!    redaction), time, identifiers.
//! 2. [`egress`]: every outbound rule and the one guarded HTTP client.
//! 3. [`runtime`]: the sandbox (engine, connectors, sessions, capabilities).
//! 4. [`store`], [`vault`]: the database; secrets at rest.
//! 5. [`registry`]: uploaded connectors, loaded once per process.
//! 6. [`app`], [`events`], [`metrics`]: the application context every layer
//!    above receives, events for subscribers, Prometheus metrics.
//! 7. [`oauth`]: OAuth2 flows and tokens.
//! 8. [`connections`]: a stored connection opened as a session.
//! 9. [`webhooks`], [`sync`]: webhooks as transport; the sync engine.
//! 10. [`api`], [`cli`], [`server`]: the REST API, the command line, `wharf
//!     serve`.

pub mod api;
pub mod app;
pub mod cli;
pub mod clock;
pub mod connections;
pub mod egress;
pub mod events;
pub mod ids;
pub mod metrics;
pub mod model;
pub mod oauth;
pub mod registry;
pub mod runtime;
pub mod server;
pub mod store;
pub mod sync;
pub mod vault;
pub mod webhooks;
