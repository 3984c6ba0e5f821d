//! Wharf: a WebAssembly-sandboxed connector runtime.
//!
//! - [`runtime`]: the sandbox (engine, component loading, capabilities).
//! - [`record`]: records as the host handles them.
//! - [`cli`]: the `wharf` command line.

pub mod record;
pub mod runtime;
pub mod cli;
