//! API keys: `Authorization: Bearer wharf_…`, looked up by hash on every
//! request (so a revoked key fails at once), checked against the route's
//! scope, and rate-limited per key.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::AppState;
use super::error::ApiError;

/// What a key may do; each scope includes the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Read everything but secret values (which nobody can read).
    Read,
    /// Read, and run checks and syncs.
    Run,
    /// Run, and change connectors and connections.
    Write,
    /// Everything, including API keys and the audit log.
    Admin,
}

impl Scope {
    /// Parse `admin`, `write`, `run`, `read`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Self::Admin),
            "write" => Some(Self::Write),
            "run" => Some(Self::Run),
            "read" => Some(Self::Read),
            _ => None,
        }
    }

    /// The name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Write => "write",
            Self::Run => "run",
            Self::Read => "read",
        }
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The key's id.
    pub key_id: String,
    /// The key's scope.
    pub scope: Scope,
}

/// A new key: `wharf_<id>_<secret>`; the id is public, the whole key is not.
pub fn generate_key() -> (String, String) {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    let id = hex::encode(&bytes[..4]);
    let secret = hex::encode(&bytes[4..]);
    (id.clone(), format!("wharf_{id}_{secret}"))
}

/// How keys are stored.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A token bucket per key, in this process.
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// `per_second` sustained, `burst` at once.
    pub fn new(per_second: f64, burst: f64) -> Self {
        Self {
            per_second,
            burst,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Take a token, or say how many seconds until one is free.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        self.check_at(key, Instant::now())
    }

    /// [`RateLimiter::check`] at a given time.
    pub fn check_at(&self, key: &str, now: Instant) -> Result<(), u64> {
        let mut buckets = self.buckets.lock().expect("rate limiter lock");
        let (tokens, last) = buckets.entry(key.to_string()).or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*last).as_secs_f64() * self.per_second).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / self.per_second).ceil().max(1.0) as u64)
        }
    }
}

/// Middleware: authenticate, check `required`, rate-limit, and hand the
/// [`Caller`] to the handler.
pub async fn require(
    State((state, required)): State<(AppState, Scope)>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let key = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            ApiError::unauthorized("send an API key: `Authorization: Bearer wharf_…`")
        })?;
    let row = state
        .app
        .store
        .api_key_by_hash(&hash_key(key))
        .await?
        .ok_or_else(|| ApiError::unauthorized("this API key is unknown or revoked"))?;
    let scope =
        Scope::parse(&row.scope).ok_or_else(|| ApiError::internal("key with an unknown scope"))?;
    if scope < required {
        return Err(ApiError::forbidden(format!(
            "this API key has scope `{}`; this request needs `{}`",
            scope.as_str(),
            required.as_str()
        )));
    }
    state
        .limiter
        .check(&row.id)
        .map_err(ApiError::rate_limited)?;
    let _ = state.app.store.touch_api_key(&row.id).await;
    req.extensions_mut().insert(Caller {
        key_id: row.id,
        scope,
    });
    Ok(next.run(req).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_ordered() {
        assert!(
            Scope::Admin > Scope::Write && Scope::Write > Scope::Run && Scope::Run > Scope::Read
        );
        assert_eq!(Scope::parse("write"), Some(Scope::Write));
        assert_eq!(Scope::parse("root"), None);
    }

    #[test]
    fn keys_are_random_and_hashed() {
        let (id, key) = generate_key();
        assert!(key.starts_with(&format!("wharf_{id}_")));
        assert_ne!(generate_key().1, key);
        assert_eq!(hash_key(&key).len(), 64);
        assert!(!hash_key(&key).contains(&key));
    }

    #[test]
    fn bucket_refuses_then_recovers() {
        let limiter = RateLimiter::new(10.0, 2.0);
        let t0 = Instant::now();
        assert!(limiter.check_at("k", t0).is_ok());
        assert!(limiter.check_at("k", t0).is_ok());
        assert_eq!(limiter.check_at("k", t0), Err(1));
        assert!(limiter.check_at("other", t0).is_ok());
        // 50 ms is half a token at 10/s; 100 ms is one.
        let later = |ms| t0 + std::time::Duration::from_millis(ms);
        assert!(limiter.check_at("k", later(50)).is_err());
        assert!(limiter.check_at("k", later(100)).is_ok());
        assert!(limiter.check_at("k", later(100)).is_err());
    }
}
