//! Tokens the host holds for a connection and hands out per request: the
//! OAuth2 access token and the login session's token. A [`TokenSource`]
//! (the database and the provider, or a fixed value in `wharf dev`) gives
//! them; a [`TokenSlot`] holds the current one for a session, the hosts it
//! may go to and the statuses that mean it is no longer good.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use crate::model::grants::HostPattern;
use crate::model::secret::SecretValue;

/// A token the host holds for a connection and hands out per request.
#[derive(Clone)]
pub struct Token {
    /// The value.
    pub value: SecretValue,
    /// When it expires (Unix ms), if known.
    pub expires_at: Option<i64>,
}

/// Why a token source has no token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The provider refused the connection's credentials (a login answered
    /// 401 or 403): an administrator must fix them; the message quotes the
    /// provider, with the connection's secrets redacted.
    #[error("{0}")]
    Refused(String),
    /// Anything else (the provider unreachable, an unreadable answer).
    #[error("{0}")]
    Failed(String),
}

impl From<String> for TokenError {
    fn from(message: String) -> Self {
        Self::Failed(message)
    }
}

/// A future of a token source.
pub type TokenFuture<'a> = Pin<Box<dyn Future<Output = Result<Token, TokenError>> + Send + 'a>>;

/// Where the host gets a connection's OAuth2 token (or login session
/// token): the layers above the runtime implement it with the database and
/// the provider, `wharf dev` with a fixed value.
pub trait TokenSource: Send + Sync {
    /// The current token, refreshed first if it is about to expire.
    fn current(&self) -> TokenFuture<'_>;
    /// The remote system refused `rejected` (401): a new one, unless
    /// another request already replaced it.
    fn renew(&self, rejected: SecretValue) -> TokenFuture<'_>;
}

/// A token source that always gives the same value (`wharf dev`).
pub struct FixedToken(pub SecretValue);

impl TokenSource for FixedToken {
    fn current(&self) -> TokenFuture<'_> {
        let token = Token {
            value: self.0.clone(),
            expires_at: None,
        };
        Box::pin(async move { Ok(token) })
    }

    fn renew(&self, _: SecretValue) -> TokenFuture<'_> {
        self.current()
    }
}

/// How long before it expires a held token is fetched again.
pub(super) const RENEW_MARGIN_MS: i64 = 30_000;

/// A token the session fetches when a request needs it: the hosts it may
/// go to, its source, and the value held.
pub struct TokenSlot {
    pub(super) hosts: Vec<HostPattern>,
    /// Statuses that mean "this token is no longer good" (401).
    pub(super) renew_on: Vec<u16>,
    pub(super) source: Arc<dyn TokenSource>,
    pub(super) held: tokio::sync::Mutex<Option<Token>>,
    /// Every value the session has held, for redaction.
    pub(super) seen: Mutex<Vec<SecretValue>>,
}

impl TokenSlot {
    /// A slot for tokens from `source` that may go to `hosts`.
    pub fn new(hosts: Vec<HostPattern>, source: Arc<dyn TokenSource>) -> Self {
        Self {
            hosts,
            renew_on: vec![401],
            source,
            held: tokio::sync::Mutex::new(None),
            seen: Mutex::default(),
        }
    }

    /// Renew on these statuses instead of 401 (a login session's
    /// `relogin_on`).
    pub fn renewed_on(mut self, statuses: Vec<u16>) -> Self {
        if !statuses.is_empty() {
            self.renew_on = statuses;
        }
        self
    }
}

/// The tokens a request's placeholders asked for, fetched before
/// substitution.
#[derive(Default)]
pub struct Tokens {
    /// `{{oauth:access_token}}`.
    pub oauth: Option<SecretValue>,
    /// `{{session:token}}`.
    pub session: Option<SecretValue>,
}
