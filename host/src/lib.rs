//! Wharf: a WebAssembly-sandboxed connector runtime.
//!
//! The module map is the layout. Each layer imports only from the layers
//! before it in this list, never from its own or a later one (no import
//! circles; docs/architecture.md draws it):
//!
//! 1. [`model`], [`clock`], [`ids`]: plain data and pure rules (records,
//!    specs and `{config.x}` templates, host patterns, names, secret values
//!    and redaction), time, identifiers.
//! 2. [`egress`], [`store`], [`vault`]: every outbound rule and the one
//!    guarded HTTP client; the database; secrets at rest.
//! 3. [`runtime`], [`events`], [`metrics`]: the sandbox (engine,
//!    connectors, sessions, capabilities); events for subscribers;
//!    Prometheus metrics.
//! 4. [`registry`]: uploaded connectors, loaded once per process.
//! 5. [`app`]: the application context every layer above receives.
//! 6. [`oauth`], [`sso`], [`webhooks`]: OAuth2 flows and tokens; single
//!    sign-on of people through an OpenID Connect provider; webhooks as
//!    transport.
//! 7. [`connections`]: a stored connection opened as a session; whether a
//!    connection fits its connector, and whether a change widens where its
//!    credentials may go.
//! 8. [`sync`]: the sync engine (runs, ingestion, worker, scheduler).
//! 9. [`api`]: the REST API.
//! 10. [`console`]: the admin console, a client of the API in-process.
//! 11. [`server`]: `wharf serve`.
//! 12. [`cli`]: the command line.

pub mod api;
pub mod app;
pub mod cli;
pub mod clock;
pub mod connections;
pub mod console;
pub mod egress;
pub mod events;
pub mod ids;
pub mod metrics;
pub mod model;
pub mod oauth;
pub mod registry;
pub mod runtime;
pub mod server;
pub mod sso;
pub mod store;
pub mod sync;
pub mod vault;
pub mod webhooks;
