//! The `state` and `oauth` capabilities: small non-secret values a
//! connector keeps per connection across runs (a tenant id, a discovered
//! base URL), and the non-secret facts of its OAuth2 grant. State lives
//! where the layers above keep it (the database, for stored connections);
//! its values are redacted from logs like secrets, because a connector may
//! be wrong about what is secret.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use super::bindings::wharf::connector::{oauth, state};
use crate::model::redact::SharedRedactor;

/// Keys a connection may hold.
pub const MAX_KEYS: usize = 64;
/// The longest key.
pub const MAX_KEY_BYTES: usize = 128;
/// The longest value.
pub const MAX_VALUE_BYTES: usize = 8 << 10;

/// A future of a state store.
pub type StateFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'a>>;

/// Where a connection's state is kept.
pub trait StateStore: Send + Sync {
    /// The value of `key`, unless missing or expired.
    fn get(&self, key: String) -> StateFuture<'_, Option<String>>;
    /// Set `key` for `ttl_secs` (or for good); refuse past `MAX_KEYS`.
    fn set(&self, key: String, value: String, ttl_secs: Option<u32>) -> StateFuture<'_, ()>;
    /// Remove `key`.
    fn remove(&self, key: String) -> StateFuture<'_, ()>;
}

/// State in memory, for sessions that belong to no stored connection
/// (`wharf dev`, tests).
#[derive(Default)]
pub struct MemoryState(Mutex<HashMap<String, (String, Option<std::time::Instant>)>>);

impl StateStore for MemoryState {
    fn get(&self, key: String) -> StateFuture<'_, Option<String>> {
        let now = std::time::Instant::now();
        let value = self
            .0
            .lock()
            .expect("state lock")
            .get(&key)
            .filter(|(_, until)| until.is_none_or(|u| u > now))
            .map(|(v, _)| v.clone());
        Box::pin(async move { Ok(value) })
    }

    fn set(&self, key: String, value: String, ttl_secs: Option<u32>) -> StateFuture<'_, ()> {
        let mut map = self.0.lock().expect("state lock");
        let result = if map.len() >= MAX_KEYS && !map.contains_key(&key) {
            Err(format!("a connection holds at most {MAX_KEYS} state keys"))
        } else {
            let until = ttl_secs
                .map(|s| std::time::Instant::now() + std::time::Duration::from_secs(u64::from(s)));
            map.insert(key, (value, until));
            Ok(())
        };
        Box::pin(async move { result })
    }

    fn remove(&self, key: String) -> StateFuture<'_, ()> {
        self.0.lock().expect("state lock").remove(&key);
        Box::pin(async { Ok(()) })
    }
}

/// Per-call state behind `wharf:connector/state`.
pub struct StateState {
    pub(crate) store: Arc<dyn StateStore>,
    pub(crate) redactor: SharedRedactor,
}

impl state::Host for StateState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        let value = self.store.get(key).await.unwrap_or(None);
        if let Some(v) = &value {
            self.redactor.add(v);
        }
        Ok(value)
    }

    async fn set(
        &mut self,
        key: String,
        value: String,
        ttl_secs: Option<u32>,
    ) -> wasmtime::Result<Result<(), String>> {
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            return Ok(Err(format!("a state key is 1 to {MAX_KEY_BYTES} bytes")));
        }
        if value.len() > MAX_VALUE_BYTES {
            return Ok(Err(format!(
                "a state value is at most {MAX_VALUE_BYTES} bytes"
            )));
        }
        self.redactor.add(&value);
        Ok(self.store.set(key, value, ttl_secs).await)
    }

    async fn remove(&mut self, key: String) -> wasmtime::Result<()> {
        let _ = self.store.remove(key).await;
        Ok(())
    }
}

/// Per-call state behind `wharf:connector/oauth`: the non-secret facts of
/// the connection's grant, chosen by the spec's `info_fields`.
pub struct OAuthInfoState {
    pub(crate) info: Arc<Vec<(String, String)>>,
}

impl oauth::Host for OAuthInfoState {
    async fn info(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        Ok(self.info.as_ref().clone())
    }
}
