//! How a request proves who sends it. Every variant puts a placeholder in
//! the request; the host substitutes the value (or the token it keeps) on
//! the way out, so the connector never holds a credential.

use crate::Secret;
use crate::http::Request;

/// A way to authenticate requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    /// Nothing (a public API).
    None,
    /// `Authorization: Bearer <secret>`.
    Bearer(Secret),
    /// `Authorization: Basic` from a user and a password secret.
    Basic {
        /// The user (or API key) secret.
        user: Secret,
        /// The password (or API secret) secret.
        password: Secret,
    },
    /// A header whose value holds placeholders: `X-Api-Key:
    /// {{secret:key}}`, or Frappe's `Authorization: token
    /// {{secret:api_key}}:{{secret:api_secret}}`.
    Header {
        /// Header name.
        name: String,
        /// Value, with placeholders.
        value: String,
    },
    /// A query parameter holding a secret (`?api_key=…`).
    Query {
        /// Parameter name.
        name: String,
        /// The secret.
        secret: Secret,
    },
    /// The connection's OAuth2 access token, which the host obtains and
    /// refreshes.
    OAuth2,
    /// The token of the login session the host keeps (the spec's `login`).
    Session,
}

impl Auth {
    /// `request`, authenticated.
    pub fn apply(&self, request: Request) -> Request {
        match self {
            Self::None => request,
            Self::Bearer(secret) => request.bearer(secret),
            Self::Basic { user, password } => request.basic_auth(user, password),
            Self::Header { name, value } => request.header(name.clone(), value.clone()),
            Self::Query { name, secret } => request.query_secret(name, secret),
            Self::OAuth2 => request.oauth_bearer(),
            Self::Session => request.session_bearer(),
        }
    }

    /// Whether a 401 means the host's token or session expired (the host
    /// renews it and the call is made once more) rather than a wrong
    /// credential.
    pub fn renewable(&self) -> bool {
        matches!(self, Self::OAuth2 | Self::Session)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(r: &Request, name: &str) -> Option<String> {
        r.headers()
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }

    #[test]
    fn each_kind_puts_a_placeholder_in_the_request() {
        let base = || Request::get("https://api.test/x");
        let key = Secret::new("key");
        let secret = Secret::new("secret");
        assert_eq!(
            header(&Auth::Bearer(key).apply(base()), "authorization").as_deref(),
            Some("Bearer {{secret:key}}")
        );
        assert_eq!(
            header(
                &Auth::Basic {
                    user: key,
                    password: secret
                }
                .apply(base()),
                "authorization"
            )
            .as_deref(),
            Some("Basic {{basic:key:secret}}")
        );
        let frappe = Auth::Header {
            name: "Authorization".into(),
            value: format!("token {key}:{secret}"),
        };
        assert_eq!(
            header(&frappe.apply(base()), "authorization").as_deref(),
            Some("token {{secret:key}}:{{secret:secret}}")
        );
        let q = Auth::Query {
            name: "api_key".into(),
            secret: key,
        }
        .apply(base());
        assert_eq!(q.url(), "https://api.test/x?api_key={{secret:key}}");
        assert_eq!(
            header(&Auth::OAuth2.apply(base()), "authorization").as_deref(),
            Some("Bearer {{oauth:access_token}}")
        );
        assert!(Auth::Session.renewable() && !Auth::Bearer(key).renewable());
        assert_eq!(Auth::None.apply(base()), base());
    }
}
