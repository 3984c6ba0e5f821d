//! Wharf: a WebAssembly-sandboxed connector runtime.
//!
//! - [`runtime`]: the sandbox (engine, component loading, capabilities).
//! - [`record`]: records as the host handles them.
//! - [`cli`]: the `wharf` command line.
//! - [`server`], [`api`]: `wharf serve` and the REST admin API.
//! - [`store`], [`registry`], [`vault`]: database, connector registry,
//!   secrets at rest.
//! - [`sync`]: the sync engine (runs, workers, scheduler, metrics).
//! - [`webhooks`], [`oauth`]: webhooks in and out; OAuth2 connections.

pub mod api;
pub mod cli;
pub mod egress;
pub mod model;
pub mod oauth;
pub mod registry;
pub mod runtime;
pub mod server;
pub mod store;
pub mod sync;
pub mod vault;
pub mod webhooks;
