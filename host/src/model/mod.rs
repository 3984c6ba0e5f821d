//! Plain data and the pure rules about it, shared by every layer above:
//! records and their checks, connector specs and `{config.x}` host
//! templates, host patterns, secret values and their redaction, a
//! connector's own limits, publisher signatures over connectors, what a run
//! used.
//!
//! Nothing here imports another module of the crate, does I/O or knows
//! about the sandbox, the database or HTTP.

pub mod grants;
pub mod limits;
pub mod mac;
pub mod name;
pub mod record;
pub mod redact;
pub mod resources;
pub mod secret;
pub mod signature;
pub mod spec;
