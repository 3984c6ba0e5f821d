//! Wharf: a WebAssembly-sandboxed connector runtime.
//!
//! - [`runtime`]: the sandbox (engine, component loading, capabilities).
//! - [`record`]: records as the host handles them.

pub mod record;
pub mod runtime;
