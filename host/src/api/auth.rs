//! Who is calling: an API key, `Authorization: Bearer wharf_…` (the scheme
//! in any case), looked up by hash on every request (so a revoked key fails
//! at once); or, with single sign-on configured, a person's ID token from
//! the identity provider as the bearer credential, checked by [`crate::sso`]
//! and given the scope of the person's role. Either is checked against the
//! route's scope and rate-limited. Failed sign-ins are limited per client
//! address, so keys cannot be guessed at the speed of the network.

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
use crate::sso::roles::Role;
use crate::sso::{Person, looks_like_jwt};
use crate::store::audit::Actor as AuditActor;

/// What a key may do; each scope includes the ones below it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Read everything but secret values (which nobody can read); the
    /// `viewer` role.
    Read,
    /// Read, and run checks and syncs.
    Run,
    /// Run, and change connections and syncs (the `operator` role).
    Operator,
    /// Operator, and upload and delete connectors.
    Write,
    /// Everything, including API keys and the audit log.
    Admin,
}

impl Scope {
    /// Parse `admin`, `write`, `operator`, `run`, `read`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Self::Admin),
            "write" => Some(Self::Write),
            "operator" => Some(Self::Operator),
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
            Self::Operator => "operator",
            Self::Run => "run",
            Self::Read => "read",
        }
    }
}

impl From<Role> for Scope {
    fn from(role: Role) -> Self {
        match role {
            Role::Admin => Self::Admin,
            Role::Operator => Self::Operator,
            Role::Viewer => Self::Read,
        }
    }
}

/// Who made a request.
#[derive(Debug, Clone)]
pub enum Actor {
    /// An API key, by id.
    Key(String),
    /// A person the identity provider vouched for.
    Person(Person),
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who.
    pub actor: Actor,
    /// The key's scope, or the person's role as a scope.
    pub scope: Scope,
}

impl Caller {
    /// The key's id, when a key made the request.
    pub fn key_id(&self) -> Option<&str> {
        match &self.actor {
            Actor::Key(id) => Some(id),
            Actor::Person(_) => None,
        }
    }

    /// How the caller is named where one string is kept (who uploaded a
    /// connector): the key id, or `sso:` and the person's email or subject.
    pub fn label(&self) -> String {
        match &self.actor {
            Actor::Key(id) => id.clone(),
            Actor::Person(p) => format!("sso:{}", p.name()),
        }
    }

    /// The caller as the audit log records it.
    pub fn audit_actor(&self) -> AuditActor<'_> {
        match &self.actor {
            Actor::Key(id) => AuditActor {
                key_id: Some(id),
                ..AuditActor::default()
            },
            Actor::Person(p) => AuditActor {
                key_id: None,
                subject: Some(&p.subject),
                email: p.email.as_deref(),
            },
        }
    }
}

/// Set by the console on the requests it makes for a signed-in browser:
/// who its session stands for. Only the server can attach an extension, so
/// no client can present one; a key is looked up (and must be unrevoked)
/// exactly as a bearer key is, a person was checked at sign-in.
#[derive(Debug, Clone)]
pub enum SessionActor {
    /// The session's key.
    Key(String),
    /// The session's person.
    Person(Person),
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

/// Token buckets by name, in this process.
struct Buckets {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

/// Buckets kept before full ones are dropped (a full bucket is the same as
/// none, so dropping it forgets nothing).
const MAX_BUCKETS: usize = 10_000;

impl Buckets {
    fn new(per_second: f64, burst: f64) -> Self {
        Self {
            per_second,
            burst,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Take a token, or say how many seconds until one is free; with
    /// `take` false, only look.
    fn take(&self, key: &str, now: Instant, take: bool) -> Result<(), u64> {
        let mut buckets = self.buckets.lock().expect("rate limiter lock");
        if buckets.len() >= MAX_BUCKETS {
            let (per_second, burst) = (self.per_second, self.burst);
            buckets.retain(|_, (tokens, last)| {
                *tokens + now.duration_since(*last).as_secs_f64() * per_second < burst
            });
        }
        let (tokens, last) = buckets.entry(key.to_string()).or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*last).as_secs_f64() * self.per_second).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            if take {
                *tokens -= 1.0;
            }
            Ok(())
        } else {
            Err(((1.0 - *tokens) / self.per_second).ceil().max(1.0) as u64)
        }
    }
}

/// Rate limits: requests per key, and failed sign-ins per client address.
pub struct RateLimiter {
    keys: Buckets,
    failures: Buckets,
}

/// The default of failed sign-ins a client may make per minute (and at
/// once): enough for a person mistyping, far too few to guess a key.
pub const FAILED_SIGN_INS_PER_MINUTE: u32 = 20;

impl RateLimiter {
    /// `per_second` sustained, `burst` at once, per key; failed sign-ins at
    /// the default rate.
    pub fn new(per_second: f64, burst: f64) -> Self {
        Self::with_failed_sign_ins(per_second, burst, FAILED_SIGN_INS_PER_MINUTE)
    }

    /// As [`RateLimiter::new`], with `per_minute` failed sign-ins per client.
    pub fn with_failed_sign_ins(per_second: f64, burst: f64, per_minute: u32) -> Self {
        let per_minute = f64::from(per_minute.max(1));
        Self {
            keys: Buckets::new(per_second, burst),
            failures: Buckets::new(per_minute / 60.0, per_minute),
        }
    }

    /// Take a token, or say how many seconds until one is free.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        self.check_at(key, Instant::now())
    }

    /// [`RateLimiter::check`] at a given time.
    pub fn check_at(&self, key: &str, now: Instant) -> Result<(), u64> {
        self.keys.take(key, now, true)
    }

    /// Whether `client` may try to sign in now (it has failed too often).
    pub(crate) fn may_sign_in(&self, client: &str, now: Instant) -> Result<(), u64> {
        self.failures.take(client, now, false)
    }

    /// Count a failed sign-in of `client`.
    pub(crate) fn failed_sign_in(&self, client: &str, now: Instant) {
        let _ = self.failures.take(client, now, true);
    }
}

/// Middleware: authenticate, check `required`, rate-limit, and hand the
/// [`Caller`] to the handler.
pub async fn require(
    State((state, required)): State<(AppState, Scope)>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let client = super::client_address(req.extensions());
    let now = Instant::now();
    let limiter = &state.limiter;
    match req.extensions().get::<SessionActor>().cloned() {
        Some(SessionActor::Key(key_id)) => {
            let Some(row) = state.app.store.active_api_key(&key_id).await? else {
                return Err(ApiError::unauthorized(
                    "the key this console session signed in with is revoked; sign in again",
                ));
            };
            return authorized(&state, row, required, req, next).await;
        }
        Some(SessionActor::Person(person)) => {
            // The console checked the session's provider; without one
            // configured now, no person is vouched for.
            if state.sso.is_none() {
                return Err(ApiError::unauthorized(
                    "single sign-on is not configured; sign in again",
                ));
            }
            return person_authorized(&state, person, required, req, next).await;
        }
        None => {}
    }
    limiter.may_sign_in(&client, now).map_err(|secs| {
        ApiError::rate_limited("this client failed to sign in too often", secs)
            .with(serde_json::json!({"reason": "failed_sign_ins"}))
    })?;
    // No key at all guesses nothing: only a wrong key counts as a failure.
    let Some(key) = bearer(&req) else {
        return Err(ApiError::unauthorized(
            "send an API key: `Authorization: Bearer wharf_…`",
        ));
    };
    if let Some(sso) = state.sso.as_ref()
        && looks_like_jwt(key)
    {
        let person = match sso.person(key, None).await {
            Ok(person) => person,
            Err(crate::sso::SsoError::Provider(e)) => {
                return Err(ApiError::unavailable(format!(
                    "cannot check the ID token: the identity provider {e}"
                )));
            }
            Err(e) => {
                limiter.failed_sign_in(&client, now);
                return Err(ApiError::unauthorized(format!(
                    "this ID token is refused: {e}"
                )));
            }
        };
        return person_authorized(&state, person, required, req, next).await;
    }
    let Some(row) = state.app.store.api_key_by_hash(&hash_key(key)).await? else {
        limiter.failed_sign_in(&client, now);
        return Err(ApiError::unauthorized("this API key is unknown or revoked"));
    };
    authorized(&state, row, required, req, next).await
}

/// A person the provider vouched for: check their role's scope and rate.
async fn person_authorized(
    state: &AppState,
    person: Person,
    required: Scope,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let scope = Scope::from(person.role);
    if scope < required {
        return Err(ApiError::forbidden(format!(
            "{} has the role `{}` (scope `{}`); this request needs `{}`",
            person.name(),
            person.role.as_str(),
            scope.as_str(),
            required.as_str()
        )));
    }
    state
        .limiter
        .check(&format!("sso:{}", person.subject))
        .map_err(|secs| ApiError::rate_limited("you sent too many requests", secs))?;
    req.extensions_mut().insert(Caller {
        actor: Actor::Person(person),
        scope,
    });
    Ok(next.run(req).await)
}

/// A known, unrevoked key: check its scope and rate, and hand the
/// [`Caller`] on.
async fn authorized(
    state: &AppState,
    row: crate::store::api_keys::ApiKeyRow,
    required: Scope,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
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
        .map_err(|secs| ApiError::rate_limited("this API key sent too many requests", secs))?;
    let _ = state.app.store.touch_api_key(&row.id).await;
    req.extensions_mut().insert(Caller {
        actor: Actor::Key(row.id),
        scope,
    });
    Ok(next.run(req).await)
}

/// The credentials of `Authorization: Bearer …`; the scheme's name is
/// case-insensitive (RFC 9110).
fn bearer(req: &Request) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credentials) = value.trim_start().split_once(' ')?;
    let credentials = credentials.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !credentials.is_empty()).then_some(credentials)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_ordered() {
        assert!(
            Scope::Admin > Scope::Write
                && Scope::Write > Scope::Operator
                && Scope::Operator > Scope::Run
                && Scope::Run > Scope::Read
        );
        assert_eq!(Scope::from(Role::Operator), Scope::Operator);
        assert_eq!(Scope::from(Role::Viewer), Scope::Read);
        assert_eq!(Scope::from(Role::Admin), Scope::Admin);
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
