//! The sandbox: one wasmtime engine per process, connectors compiled once
//! and cached, and a limited store for every call: a fresh one, or the one
//! the session's last call left when that call ended well.
//!
//! - [`engine`]: the [`Runtime`]: engine, linker, artifact cache.
//! - [`connector`]: a loaded, checked component ([`Connector`]).
//! - [`session`]: one use of a connector ([`Session`]) and its calls.
//! - [`error`]: how sessions and calls fail.
//! - [`convert`]: the contract's types to and from the host's.
//! - one module per capability, each owning its WIT `Host` impl and its
//!   per-call state: [`http`], [`secrets`], [`log`], [`wasi`]; and the
//!   [`limits`] every store is held to, [`loader`] checks of uploads;
//!   [`cassette`] records a session's calls and inputs and plays them back.
//!
//! Outside this module, only what is re-exported here is used.

pub mod bindings;
pub mod blobs;
pub mod cassette;
pub mod connector;
pub mod convert;
pub mod engine;
pub mod error;
mod guest;
pub mod http;
pub mod limits;
pub mod loader;
pub mod log;
mod pages;
pub mod placeholders;
pub mod rate;
pub mod secrets;
pub mod session;
pub mod signing;
mod sigv4;
pub mod state;
pub mod tokens;
mod v01;
pub mod wasi;

pub use connector::Connector;
pub use engine::{Runtime, RuntimeOptions};
pub use error::{CallError, ConnectorError, SessionError, panic_message};
pub use http::{HttpCounters, OriginUse, STATUS_CLASSES};
pub use limits::{LimitExceeded, Limits};
pub use loader::LoadError;
pub use log::{Level, LogLine, LogSource};
pub use secrets::{FixedToken, Token, TokenError, TokenFuture, TokenSource};
pub use session::{Session, SessionOptions, Usage};
