//! Secrets as placeholders: the host substitutes the value on the way out.

use std::fmt;

use crate::bindings::wharf::connector::secrets::{RevealError, reveal};
use crate::error::{Error, Result};

/// A secret declared in the spec, referred to by name.
///
/// It renders as the placeholder `{{secret:NAME}}`. Put it in a header, the
/// URL or the body; the host replaces it with the value when the request
/// goes to a host the spec binds the secret to, and refuses the request
/// otherwise. Your code never holds the value.
///
/// ```
/// use wharf_sdk::Secret;
///
/// const TOKEN: Secret = Secret::new("api_token");
/// assert_eq!(TOKEN.to_string(), "{{secret:api_token}}");
/// assert_eq!(TOKEN.bearer(), "Bearer {{secret:api_token}}");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Secret {
    name: &'static str,
}

impl Secret {
    /// Refer to the secret `name` (as declared with [`crate::SecretSpec`]).
    pub const fn new(name: &'static str) -> Self {
        Self { name }
    }

    /// The secret's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The placeholder, `{{secret:NAME}}`.
    pub fn placeholder(&self) -> String {
        self.to_string()
    }

    /// `Bearer {{secret:NAME}}`, for an `Authorization` header.
    pub fn bearer(&self) -> String {
        format!("Bearer {self}")
    }

    /// The value itself. Works only for secrets the spec marks `reveal`
    /// (for request signing); every call is audited by the host. Prefer the
    /// placeholder.
    pub fn reveal(&self) -> Result<String> {
        reveal(self.name).map_err(|e| match e {
            RevealError::Denied(m) => Error::Config(m),
            RevealError::Missing => Error::Config(format!(
                "secret `{}` is not set on this connection",
                self.name
            )),
        })
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{{secret:{}}}}}", self.name)
    }
}
