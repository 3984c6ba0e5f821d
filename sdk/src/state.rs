//! Small values a connector keeps per connection across runs (a tenant id,
//! a discovered base URL), in the host. They are not for secrets (secrets
//! belong in the connection's secrets), but the host redacts them from logs
//! anyway.

use crate::bindings::wharf::connector::state as wit;
use crate::error::{Error, Result};

/// The value of `key`, if set and not expired.
pub fn get(key: &str) -> Option<String> {
    wit::get(key)
}

/// Set `key` (at most 64 keys of 8 KiB per connection), for `ttl_secs` or
/// for good.
pub fn set(key: &str, value: &str, ttl_secs: Option<u32>) -> Result<()> {
    wit::set(key, value, ttl_secs).map_err(Error::Fatal)
}

/// Remove `key`.
pub fn remove(key: &str) {
    wit::remove(key);
}
