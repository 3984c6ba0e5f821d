//! How a connection authenticates, declared in the spec and carried out by
//! the host: OAuth2 grants, login sessions, and keys the host signs
//! requests with. Your code never holds a credential; it writes a
//! placeholder (`{{oauth:access_token}}`, `{{session:token}}`) or names a
//! key in [`crate::http::Request::sign`].

use crate::bindings::wharf::connector::types as wit;

/// An OAuth2 grant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Grant {
    /// An administrator authorizes in a browser.
    #[default]
    AuthorizationCode,
    /// The client's own credentials (service to service).
    ClientCredentials,
    /// A JWT assertion the host signs with a [`SigningKey`] (service accounts).
    JwtBearer,
}

/// How the client authenticates at the token endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_id` and `client_secret` in the form body.
    #[default]
    Post,
    /// HTTP Basic.
    Basic,
}

/// OAuth2: the host runs the grant, stores the tokens and refreshes them;
/// you write `{{oauth:access_token}}` ([`crate::http::Request::oauth_bearer`]).
///
/// ```
/// use wharf_sdk::auth::{ClientAuth, OAuth2};
/// let xero = OAuth2::authorization_code(
///     "https://login.xero.com/identity/connect/authorize",
///     "https://identity.xero.com/connect/token",
/// )
/// .scope("accounting.transactions.read")
/// .scope("offline_access")
/// .client_auth(ClientAuth::Basic);
/// assert!(xero.pkce);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OAuth2 {
    /// The grant.
    pub grant: Grant,
    /// Authorization endpoint (authorization code).
    pub authorize_url: String,
    /// Token endpoint.
    pub token_url: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Use PKCE (S256).
    pub pkce: bool,
    /// Client authentication at the token endpoint.
    pub client_auth: ClientAuth,
    /// Extra authorization parameters (`access_type=offline`).
    pub authorize_params: Vec<(String, String)>,
    /// Lifetime of a token whose response has no `expires_in`.
    pub token_lifetime_secs: Option<u32>,
    /// Non-secret fields of the token response and callback that
    /// [`crate::oauth_info`] returns (`instance_url`, `realmId`).
    pub info_fields: Vec<String>,
    /// For the JWT bearer grant: the signing key of the assertion.
    pub assertion_key: Option<String>,
}

impl OAuth2 {
    /// The authorization-code grant with PKCE.
    pub fn authorization_code(
        authorize_url: impl Into<String>,
        token_url: impl Into<String>,
    ) -> Self {
        Self {
            authorize_url: authorize_url.into(),
            token_url: token_url.into(),
            pkce: true,
            ..Self::default()
        }
    }

    /// The client-credentials grant.
    pub fn client_credentials(token_url: impl Into<String>) -> Self {
        Self {
            grant: Grant::ClientCredentials,
            token_url: token_url.into(),
            ..Self::default()
        }
    }

    /// The JWT bearer grant, the assertion signed by the key `assertion_key`.
    pub fn jwt_bearer(token_url: impl Into<String>, assertion_key: impl Into<String>) -> Self {
        Self {
            grant: Grant::JwtBearer,
            token_url: token_url.into(),
            assertion_key: Some(assertion_key.into()),
            ..Self::default()
        }
    }

    /// Request a scope.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.push(scope.into());
        self
    }

    /// Authenticate the client this way.
    pub fn client_auth(mut self, auth: ClientAuth) -> Self {
        self.client_auth = auth;
        self
    }

    /// Add an authorization parameter.
    pub fn authorize_param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.authorize_params.push((name.into(), value.into()));
        self
    }

    /// Lifetime of tokens whose response has no `expires_in`.
    pub fn token_lifetime_secs(mut self, secs: u32) -> Self {
        self.token_lifetime_secs = Some(secs);
        self
    }

    /// A non-secret field the connector may read with [`crate::oauth_info`].
    pub fn info_field(mut self, field: impl Into<String>) -> Self {
        self.info_fields.push(field.into());
        self
    }

    pub(crate) fn into_wit(self) -> wit::Oauth2Spec {
        wit::Oauth2Spec {
            grant: match self.grant {
                Grant::AuthorizationCode => wit::Oauth2Grant::AuthorizationCode,
                Grant::ClientCredentials => wit::Oauth2Grant::ClientCredentials,
                Grant::JwtBearer => wit::Oauth2Grant::JwtBearer,
            },
            authorize_url: self.authorize_url,
            token_url: self.token_url,
            scopes: self.scopes,
            pkce: self.pkce,
            client_auth: match self.client_auth {
                ClientAuth::Post => wit::ClientAuth::Post,
                ClientAuth::Basic => wit::ClientAuth::Basic,
            },
            authorize_params: self.authorize_params,
            token_lifetime_secs: self.token_lifetime_secs,
            info_fields: self.info_fields,
            assertion_key: self.assertion_key,
        }
    }
}

/// A request the host makes for the connector (a login, a logout).
#[derive(Clone, Debug, PartialEq)]
pub struct HostRequest {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
}

impl HostRequest {
    /// `method url`; `{config.x}` and placeholders may appear in it.
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            method: method.into(),
            url: url.into(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// Add a header (placeholders allowed).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// A JSON body (placeholders are escaped as JSON by the host).
    pub fn json_body(self, body: impl Into<String>) -> Self {
        let mut s = self.header("Content-Type", "application/json");
        s.body = Some(body.into());
        s
    }

    /// A form body (placeholders are form-encoded by the host).
    pub fn form_body(self, body: impl Into<String>) -> Self {
        let mut s = self.header("Content-Type", "application/x-www-form-urlencoded");
        s.body = Some(body.into());
        s
    }

    fn into_wit(self) -> wit::HostRequest {
        wit::HostRequest {
            method: self.method,
            url: self.url,
            headers: self.headers,
            body: self.body,
        }
    }
}

/// Where a login answer puts the session token.
#[derive(Clone, Debug, PartialEq)]
pub enum TokenAt {
    /// A JSON pointer into the body (`/token`).
    JsonPointer(String),
    /// These cookies (`B1SESSION`, `ROUTEID`), kept as one
    /// `name=value; name=value` token: send them with
    /// `Cookie: {{session:token}}`. A name ending in `?` may be missing
    /// from the answer (`ROUTEID?`: SAP sets it only behind its load
    /// balancer).
    Cookies(Vec<String>),
    /// A response header.
    Header(String),
}

/// A login session the host keeps for the connection: it logs in, keeps
/// the token across runs (sealed, per connection), substitutes
/// `{{session:token}}` (cookies included: `Cookie: {{session:token}}`),
/// and logs in again when it expires or a request is refused with a
/// `relogin_on` status.
///
/// ```
/// use wharf_sdk::auth::{HostRequest, Login, TokenAt};
/// let fan_courier = Login::new(
///     HostRequest::new("POST", "https://api.fancourier.ro/login")
///         .json_body(r#"{"username": "{{secret:username}}", "password": "{{secret:password}}"}"#),
///     TokenAt::JsonPointer("/data/token".into()),
/// )
/// .lifetime_secs(24 * 3600);
/// # let _ = fan_courier;
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Login {
    request: HostRequest,
    token: TokenAt,
    lifetime_secs: Option<u32>,
    relogin_on: Vec<u16>,
    logout: Option<HostRequest>,
}

impl Login {
    /// Log in with `request`; the token is at `token`.
    pub fn new(request: HostRequest, token: TokenAt) -> Self {
        Self {
            request,
            token,
            lifetime_secs: None,
            relogin_on: Vec::new(),
            logout: None,
        }
    }

    /// How long a session lasts when the answer does not say.
    pub fn lifetime_secs(mut self, secs: u32) -> Self {
        self.lifetime_secs = Some(secs);
        self
    }

    /// A status that means "log in again" (401 when none is given).
    pub fn relogin_on(mut self, status: u16) -> Self {
        self.relogin_on.push(status);
        self
    }

    /// The request that ends a session.
    pub fn logout(mut self, request: HostRequest) -> Self {
        self.logout = Some(request);
        self
    }

    pub(crate) fn into_wit(self) -> wit::LoginSpec {
        wit::LoginSpec {
            request: self.request.into_wit(),
            token: match self.token {
                TokenAt::JsonPointer(p) => wit::TokenLocation::JsonPointer(p),
                TokenAt::Cookies(c) => wit::TokenLocation::Cookies(c),
                TokenAt::Header(h) => wit::TokenLocation::Header(h),
            },
            lifetime_secs: self.lifetime_secs,
            relogin_on: self.relogin_on,
            logout: self.logout.map(HostRequest::into_wit),
        }
    }
}

/// The hash of an HMAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hash {
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-512.
    Sha512,
}

impl Hash {
    pub(crate) fn into_wit(self) -> wit::HmacHash {
        match self {
            Self::Sha1 => wit::HmacHash::Sha1,
            Self::Sha256 => wit::HmacHash::Sha256,
            Self::Sha512 => wit::HmacHash::Sha512,
        }
    }
}

/// How a signature is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Lowercase hex.
    Hex,
    /// Standard base64.
    Base64,
}

impl Encoding {
    pub(crate) fn into_wit(self) -> wit::SignatureEncoding {
        match self {
            Self::Hex => wit::SignatureEncoding::Hex,
            Self::Base64 => wit::SignatureEncoding::Base64,
        }
    }
}

/// A key the host signs requests with, bound to hosts like a secret.
#[derive(Clone, Debug, PartialEq)]
pub struct SigningKey {
    name: String,
    method: wit::SigningMethod,
    hosts: Vec<String>,
}

impl SigningKey {
    /// AWS Signature Version 4 with the access key id and secret key held
    /// in the secrets named (and optionally a session token).
    pub fn aws_sigv4(
        name: impl Into<String>,
        key_id_secret: impl Into<String>,
        secret_key_secret: impl Into<String>,
        region: impl Into<String>,
        service: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            method: wit::SigningMethod::AwsSigv4(wit::AwsSigv4Key {
                key_id_secret: key_id_secret.into(),
                secret_key_secret: secret_key_secret.into(),
                session_token_secret: None,
                region: region.into(),
                service: service.into(),
            }),
            hosts: Vec::new(),
        }
    }

    /// An HMAC of `template` (`{method}`, `{path}`, `{query}`, `{body}`,
    /// `{timestamp}`, `{header:NAME}`) under the secret named, written
    /// into the header `target` after `prefix`.
    pub fn hmac(
        name: impl Into<String>,
        key_secret: impl Into<String>,
        hash: Hash,
        template: impl Into<String>,
        target: impl Into<String>,
        encoding: Encoding,
    ) -> Self {
        Self {
            name: name.into(),
            method: wit::SigningMethod::Hmac(wit::HmacSigning {
                key_secret: key_secret.into(),
                hash: hash.into_wit(),
                template: template.into(),
                target: target.into(),
                query: false,
                encoding: encoding.into_wit(),
                prefix: String::new(),
                timestamp_header: None,
            }),
            hosts: Vec::new(),
        }
    }

    /// A JWT (RS256 or ES256) with these claims (`{now}`, `{exp}`
    /// replaced), signed with the PKCS#8 key in the secret named, sent as
    /// `Authorization: Bearer`.
    pub fn jwt(
        name: impl Into<String>,
        key_secret: impl Into<String>,
        es256: bool,
        claims: impl Into<String>,
        lifetime_secs: u32,
    ) -> Self {
        Self {
            name: name.into(),
            method: wit::SigningMethod::Jwt(wit::JwtSigning {
                key_secret: key_secret.into(),
                algorithm: if es256 {
                    wit::JwtAlgorithm::Es256
                } else {
                    wit::JwtAlgorithm::Rs256
                },
                claims: claims.into(),
                lifetime_secs,
                key_id: None,
            }),
            hosts: Vec::new(),
        }
    }

    /// For AWS: the secret with a session token.
    pub fn session_token_secret(mut self, name: impl Into<String>) -> Self {
        if let wit::SigningMethod::AwsSigv4(a) = &mut self.method {
            a.session_token_secret = Some(name.into());
        }
        self
    }

    /// For an HMAC: a prefix before the signature (`sha256=`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        if let wit::SigningMethod::Hmac(h) = &mut self.method {
            h.prefix = prefix.into();
        }
        self
    }

    /// For an HMAC: send `{timestamp}` in this header too.
    pub fn timestamp_header(mut self, header: impl Into<String>) -> Self {
        if let wit::SigningMethod::Hmac(h) = &mut self.method {
            h.timestamp_header = Some(header.into());
        }
        self
    }

    /// For an HMAC: put the signature in the query instead of a header.
    pub fn in_query(mut self) -> Self {
        if let wit::SigningMethod::Hmac(h) = &mut self.method {
            h.query = true;
        }
        self
    }

    /// For a JWT: the `kid` header.
    pub fn key_id(mut self, kid: impl Into<String>) -> Self {
        if let wit::SigningMethod::Jwt(j) = &mut self.method {
            j.key_id = Some(kid.into());
        }
        self
    }

    /// A host a request signed with this key may go to.
    pub fn host(mut self, pattern: impl Into<String>) -> Self {
        self.hosts.push(pattern.into());
        self
    }

    pub(crate) fn into_wit(self) -> wit::SigningSpec {
        wit::SigningSpec {
            name: self.name,
            method: self.method,
            hosts: self.hosts,
        }
    }
}
