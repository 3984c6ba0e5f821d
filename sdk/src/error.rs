//! The connector error type: each variant tells the host what to do.

use std::fmt;

use crate::bindings::wharf::connector::http::HttpError;
use crate::bindings::wharf::connector::types::Error as WitError;

/// A connector's failure. The variant decides what Wharf does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The config is wrong: not retried; the connection is marked `error`.
    Config(String),
    /// Credentials were rejected: not retried; the connection is marked `error`.
    Auth(String),
    /// The token or session expired: the host renews it and calls once more.
    AuthExpired(String),
    /// The remote system asked to wait this many seconds.
    RateLimited(u32),
    /// A temporary failure: retried with backoff.
    Transient(String),
    /// A permanent failure: the run fails.
    Fatal(String),
    /// This connector does not implement the function.
    Unsupported,
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A [`Error::Config`] from anything printable.
    pub fn config(e: impl fmt::Display) -> Self {
        Self::Config(e.to_string())
    }
    /// A [`Error::Fatal`] from anything printable.
    pub fn fatal(e: impl fmt::Display) -> Self {
        Self::Fatal(e.to_string())
    }
    /// A [`Error::Transient`] from anything printable.
    pub fn transient(e: impl fmt::Display) -> Self {
        Self::Transient(e.to_string())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(m) => write!(f, "config error: {m}"),
            Self::Auth(m) => write!(f, "authentication failed: {m}"),
            Self::AuthExpired(m) => write!(f, "authentication expired: {m}"),
            Self::RateLimited(s) => write!(f, "rate limited: retry after {s} s"),
            Self::Transient(m) => write!(f, "transient error: {m}"),
            Self::Fatal(m) => write!(f, "fatal error: {m}"),
            Self::Unsupported => f.write_str("unsupported"),
        }
    }
}

impl std::error::Error for Error {}

/// A refused request means a grant is missing or the config points at the
/// wrong place: an administrator must act, so it is a config error.
/// Network trouble is transient.
impl From<HttpError> for Error {
    fn from(e: HttpError) -> Self {
        match e {
            HttpError::Denied(m) => Self::Config(format!("request refused by the host: {m}")),
            HttpError::Timeout => Self::Transient("request timed out".into()),
            HttpError::Connect(m) => Self::Transient(format!("connection failed: {m}")),
            HttpError::TooLarge => Self::Fatal("response larger than the host allows".into()),
            HttpError::Invalid(m) => Self::Fatal(format!("invalid request: {m}")),
        }
    }
}

impl From<Error> for WitError {
    fn from(e: Error) -> Self {
        match e {
            Error::Config(m) => WitError::Config(m),
            Error::Auth(m) => WitError::Auth(m),
            Error::AuthExpired(m) => WitError::AuthExpired(m),
            Error::RateLimited(s) => WitError::RateLimited(s),
            Error::Transient(m) => WitError::Transient(m),
            Error::Fatal(m) => WitError::Fatal(m),
            Error::Unsupported => WitError::Unsupported,
        }
    }
}
