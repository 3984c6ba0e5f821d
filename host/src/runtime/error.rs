//! How a session or a call fails: the connector's own errors (what the host
//! should do about them) and the sandbox's (a limit, a trap, a broken
//! contract).

use super::limits::LimitExceeded;
use super::secrets::SecretSetupError;

/// Why a session could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The config is not a JSON object.
    #[error("config must be a JSON object")]
    ConfigNotObject,
    /// A secret's setup failed.
    #[error(transparent)]
    Secrets(#[from] SecretSetupError),
    /// The HTTP client could not be built.
    #[error("http client: {0}")]
    Http(#[from] reqwest::Error),
}

/// A connector's own error: what the host should do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[serde(tag = "kind", content = "message", rename_all = "snake_case")]
pub enum ConnectorError {
    /// Bad config; not retried.
    #[error("config error: {0}")]
    Config(String),
    /// Credentials rejected; not retried.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// The token or session expired: renewed and the call made once more.
    #[error("authentication expired: {0}")]
    AuthExpired(String),
    /// Retry after this many seconds.
    #[error("rate limited: retry after {0} s")]
    RateLimited(u32),
    /// Temporary; retried with backoff.
    #[error("transient error: {0}")]
    Transient(String),
    /// Permanent; the run fails.
    #[error("fatal error: {0}")]
    Fatal(String),
    /// The function is not implemented by this connector.
    #[error("unsupported: the connector does not implement this function")]
    Unsupported,
}

/// Why a call failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The connector returned an error.
    #[error(transparent)]
    Connector(ConnectorError),
    /// A sandbox limit was broken.
    #[error(transparent)]
    Limit(LimitExceeded),
    /// The connector crashed (trap, panic).
    #[error("the connector crashed: {0}")]
    Trap(String),
    /// The connector returned data that breaks the contract.
    #[error("the connector broke the contract: {0}")]
    Protocol(String),
    /// The sandbox could not run the call (e.g. no free instance slot).
    #[error("the sandbox could not run the call: {0}")]
    Sandbox(String),
}

impl CallError {
    /// A short machine-readable kind: `config`, `auth`, `rate_limited`,
    /// `transient`, `fatal`, `unsupported`, `limit`, `trap`, `protocol`,
    /// `sandbox`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Connector(ConnectorError::Config(_)) => "config",
            Self::Connector(ConnectorError::Auth(_)) => "auth",
            Self::Connector(ConnectorError::AuthExpired(_)) => "auth_expired",
            Self::Connector(ConnectorError::RateLimited(_)) => "rate_limited",
            Self::Connector(ConnectorError::Transient(_)) => "transient",
            Self::Connector(ConnectorError::Fatal(_)) => "fatal",
            Self::Connector(ConnectorError::Unsupported) => "unsupported",
            Self::Limit(_) => "limit",
            Self::Trap(_) => "trap",
            Self::Protocol(_) => "protocol",
            Self::Sandbox(_) => "sandbox",
        }
    }
}

/// Longest message from a connector the host keeps (errors, rejections):
/// they end up in the run, the connection's status, logs and events.
pub const MAX_MESSAGE_BYTES: usize = 4 << 10;

/// `text` cut to [`MAX_MESSAGE_BYTES`] at a character boundary.
pub(super) fn clip_message(text: &str) -> String {
    if text.len() <= MAX_MESSAGE_BYTES {
        return text.to_string();
    }
    let mut end = MAX_MESSAGE_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes cut)", &text[..end], text.len() - end)
}

/// The text of a caught panic.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}
