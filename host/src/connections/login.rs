//! Login sessions: for a connector whose spec declares `login`, the host
//! logs in with the connection's secrets (substituted into the login
//! request as they would be into any request), keeps the token or cookies
//! sealed per connection across runs, hands it out for `{{session:token}}`,
//! and logs in again when it expires or the system answers one of the
//! spec's `relogin_on` statuses. One node logs in at a time (a lease in the
//! database); the others wait for its token. The guest never holds the
//! token: it is substituted by the host and redacted from what comes back.
//!
//! Cookies (SAP Business One's `B1SESSION` and `ROUTEID`) are kept as one
//! `name=value; name=value` string, which a connector sends with
//! `Cookie: {{session:token}}`. The spec's logout is sent when the
//! connection is deleted, so the system does not keep its session open.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, SET_COOKIE};

use crate::app::App;
use crate::egress::client::{Timeouts, guarded_client};
use crate::egress::networks::NetworkPolicy;
use crate::egress::policy::EgressPolicy;
use crate::model::secret::SecretValue;
use crate::model::spec::{
    HostRequest, LoginSpec, Spec, TokenLocation, expand_url_template, fill_config_fields,
};
use crate::runtime::placeholders::{Encoding, body_encoding};
use crate::runtime::secrets::{
    FixedToken, Placement, SecretBook, Token, TokenError, TokenFuture, TokenSlot, TokenSource,
    Tokens,
};
use crate::store::connections::ConnectionRow;

/// How long a session lives when the spec does not say.
const DEFAULT_SESSION_SECS: u32 = 3600;
/// How long a node may take to log in before another may try.
const LOGIN_LEASE_MS: i64 = 30_000;
/// A session this close to its end is renewed first.
const RENEW_MARGIN_MS: i64 = 30_000;
/// Largest login answer read.
const MAX_LOGIN_RESPONSE: usize = 64 * 1024;

/// A connection's login session, from the database or a new login.
pub struct LoginTokens {
    app: App,
    connection: ConnectionRow,
    login: LoginSpec,
    /// The connection's secrets, for the login request's placeholders
    /// (bound to hosts exactly as for the connector's own requests).
    book: SecretBook,
}

impl LoginTokens {
    /// The session source of `c`, if its connector declares a login.
    pub fn new(
        app: &App,
        c: &ConnectionRow,
        spec: &Spec,
        secrets: &BTreeMap<String, SecretValue>,
    ) -> Result<Option<Self>, String> {
        let Some(login) = spec.login.clone() else {
            return Ok(None);
        };
        let book = SecretBook::new(spec, &c.config, secrets, &[]).map_err(|e| e.to_string())?;
        Ok(Some(Self {
            app: app.clone(),
            connection: c.clone(),
            login,
            book,
        }))
    }

    /// Statuses that mean "log in again".
    pub fn relogin_on(&self) -> Vec<u16> {
        if self.login.relogin_on.is_empty() {
            vec![401]
        } else {
            self.login.relogin_on.clone()
        }
    }

    /// The stored session unless it is stale or was `rejected`; else a new
    /// login (or the one another node just made).
    async fn stored_or_login(&self, rejected: Option<SecretValue>) -> Result<Token, TokenError> {
        let id = &self.connection.id;
        let store = &self.app.store;
        for _ in 0..100 {
            if let Some(sealed) = store
                .login_session(id)
                .await
                .map_err(|e| e.to_string())?
                .and_then(|row| row.token.map(|t| (t, row.expires_at)))
            {
                let (sealed, expires_at) = sealed;
                let value = self.app.vault.decrypt(&sealed).map_err(|e| e.to_string())?;
                let now = crate::clock::now_ms();
                let fresh = expires_at.is_none_or(|e| e > now + RENEW_MARGIN_MS);
                let refused = rejected
                    .as_ref()
                    .is_some_and(|r| r.expose() == value.expose());
                if fresh && !refused {
                    return Ok(Token { value, expires_at });
                }
            }
            if store
                .lease_login(id, &self.app.node, LOGIN_LEASE_MS)
                .await
                .map_err(|e| e.to_string())?
            {
                return match self.log_in().await {
                    Ok(token) => {
                        let sealed = self.app.vault.encrypt(&token.value);
                        store
                            .save_login(id, Some(&sealed), token.expires_at)
                            .await
                            .map_err(|e| e.to_string())?;
                        Ok(token)
                    }
                    Err(e) => {
                        let _ = store.release_login(id, &self.app.node).await;
                        Err(e)
                    }
                };
            }
            // Another node is logging in: its token will be stored.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(TokenError::Failed(
            "another node has been logging in for too long; try again".into(),
        ))
    }

    /// Make the login request and read the token out of its answer.
    async fn log_in(&self) -> Result<Token, TokenError> {
        let (url, status, headers, bytes) = send(
            &self.connection,
            &self.book,
            &self.login.request,
            &Tokens::default(),
        )
        .await
        .map_err(|e| format!("login failed: {e}"))?;
        if !status.is_success() {
            // The provider's words, with the connection's secrets redacted
            // (a login error may echo the password) and clipped.
            let answer = self
                .book
                .redactor()
                .redact_str(&String::from_utf8_lossy(&bytes))
                .into_owned();
            let answer: String = answer.trim().chars().take(300).collect();
            let message = format!(
                "login failed: {} answered HTTP {status}: {answer}",
                url.origin().ascii_serialization()
            );
            return Err(if matches!(status.as_u16(), 401 | 403) {
                TokenError::Refused(message)
            } else {
                TokenError::Failed(message)
            });
        }
        let value = token_of(&self.login.token, &headers, &bytes)?;
        let lifetime = self.login.lifetime_secs.unwrap_or(DEFAULT_SESSION_SECS);
        Ok(Token {
            value: SecretValue::new(value),
            expires_at: Some(crate::clock::now_ms() + i64::from(lifetime) * 1000),
        })
    }
}

/// A config value in a login body (SAP Business One's company database),
/// written as the body's encoding wants it. It is data: a `{` is written
/// so the secret substitution that follows cannot take it for a
/// placeholder (`\u007b` in JSON, `%7B` in a form), and a raw body refuses
/// a value with `{{`.
fn config_in_body(value: &str, encoding: Encoding) -> Result<String, String> {
    match encoding {
        Encoding::Json => Ok(Encoding::Json
            .apply(value, "config")
            .map_err(|e| e.to_string())?
            .replace('{', "\\u007b")),
        Encoding::Raw if value.contains("{{") => {
            Err("a value with `{{` cannot go into a body that is not JSON or a form".into())
        }
        other => Ok(other
            .apply(value, "config")
            .map_err(|e| e.to_string())?
            .into_owned()),
    }
}

/// A request the host makes for a connection (its login or logout):
/// `{config.x}` in the URL, the connection's grants and trust, secrets
/// (and the session, for a logout) substituted by context. The URL, the
/// status, headers and body (at most [`MAX_LOGIN_RESPONSE`] bytes).
async fn send(
    c: &ConnectionRow,
    book: &SecretBook,
    req: &HostRequest,
    tokens: &Tokens,
) -> Result<(url::Url, reqwest::StatusCode, HeaderMap, bytes::Bytes), String> {
    let url = expand_url_template(&req.url, &c.config).map_err(|e| format!("URL: {e}"))?;
    // It goes only where the connection may go.
    let networks = NetworkPolicy::new(c.grants.networks.clone());
    EgressPolicy {
        hosts: c.grants.hosts.clone(),
        networks: networks.clone(),
        tls_ca: None,
    }
    .check_url(&url)
    .map_err(|e| format!("refused: {e}"))?;
    let fill = |text: &str, placement| {
        book.substitute(text, &url, placement, tokens)
            .map(|t| t.into_owned())
            .map_err(|e| format!("request: {e}"))
    };
    let mut headers = HeaderMap::new();
    for (k, v) in &req.headers {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| format!("header `{k}` is not a header name"))?;
        let value = HeaderValue::from_str(&fill(v, Placement::Header)?)
            .map_err(|_| format!("header `{k}` has a value that cannot be sent"))?;
        headers.insert(name, value);
    }
    let encoding = body_encoding(&req.headers);
    let body = req
        .body
        .as_deref()
        .map(|b| {
            let b = fill_config_fields(b, &c.config, |v| config_in_body(v, encoding))
                .map_err(|e| format!("request: {e}"))?;
            fill(&b, Placement::Body(encoding))
        })
        .transpose()?;
    let method = Method::from_bytes(req.method.as_bytes())
        .map_err(|_| format!("method `{}` is not a method", req.method))?;
    let http = guarded_client(&networks, Timeouts::HOST_CALL, c.grants.tls_ca.as_deref())
        .map_err(|e| e.to_string())?;
    let mut request = http.request(method, url.clone()).headers(headers);
    if let Some(body) = body {
        request = request.body(body);
    }
    let resp = request
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    let status = resp.status();
    let answer_headers = resp.headers().clone();
    let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
    if bytes.len() > MAX_LOGIN_RESPONSE {
        return Err(format!(
            "the answer is larger than {MAX_LOGIN_RESPONSE} bytes"
        ));
    }
    Ok((url, status, answer_headers, bytes))
}

/// A logout to send once the connection is gone: read before it is
/// deleted (the session goes with it), sent after.
pub struct Logout {
    connection: ConnectionRow,
    request: HostRequest,
    book: SecretBook,
    session: SecretValue,
}

impl Logout {
    /// The logout of `c`'s session, if its spec declares one and it holds
    /// a session.
    pub async fn prepare(app: &App, c: &ConnectionRow) -> Option<Self> {
        let spec = app
            .store
            .connector(&c.connector, &c.version)
            .await
            .ok()??
            .spec;
        let request = spec.login.as_ref()?.logout.clone()?;
        let sealed = app.store.login_session(&c.id).await.ok()??.token?;
        let session = app.vault.decrypt(&sealed).ok()?;
        let secrets = super::connector_secrets(app, c).await.ok()?;
        let hosts = spec.host_patterns(&c.config).unwrap_or_default();
        let book = SecretBook::new(&spec, &c.config, &secrets, &[])
            .ok()?
            .with_session(TokenSlot::new(hosts, Arc::new(FixedToken(session.clone()))));
        Some(Self {
            connection: c.clone(),
            request,
            book,
            session,
        })
    }

    /// End the session at the system; a failure is logged, not returned
    /// (the connection is already gone).
    pub async fn send(self) {
        let tokens = Tokens {
            oauth: None,
            session: Some(self.session.clone()),
        };
        match send(&self.connection, &self.book, &self.request, &tokens).await {
            Ok((_, status, _, _)) if status.is_success() => {}
            Ok((_, status, _, _)) => tracing::warn!(
                connection = %self.connection.id,
                "logout answered HTTP {status}"
            ),
            Err(e) => tracing::warn!(connection = %self.connection.id, "logout failed: {e}"),
        }
    }
}

/// The session token where the spec says it is.
fn token_of(at: &TokenLocation, headers: &HeaderMap, body: &[u8]) -> Result<String, String> {
    let found = match at {
        TokenLocation::JsonPointer(pointer) => serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| match v.pointer(pointer)? {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            }),
        TokenLocation::Header(name) => headers
            .get(name.as_str())
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        TokenLocation::Cookies(names) => {
            let pairs: Vec<String> = headers
                .get_all(SET_COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .filter_map(|v| v.split(';').next())
                .map(str::trim)
                .filter(|pair| {
                    let name = pair.split('=').next().unwrap_or_default();
                    names.is_empty() || names.iter().any(|n| n.trim_end_matches('?') == name)
                })
                .map(str::to_string)
                .collect();
            // A name ending in `?` may be missing (`ROUTEID?`: SAP sets it
            // only behind its load balancer).
            let complete = names.iter().filter(|n| !n.ends_with('?')).all(|n| {
                pairs
                    .iter()
                    .any(|p| p.split('=').next() == Some(n.as_str()))
            });
            (!pairs.is_empty() && complete).then(|| pairs.join("; "))
        }
    };
    found.filter(|v| !v.is_empty()).ok_or_else(|| {
        "the login answer does not hold the session token where the connector's spec says".into()
    })
}

impl TokenSource for LoginTokens {
    fn current(&self) -> TokenFuture<'_> {
        Box::pin(self.stored_or_login(None))
    }

    fn renew(&self, rejected: SecretValue) -> TokenFuture<'_> {
        Box::pin(self.stored_or_login(Some(rejected)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_found_where_the_spec_says() {
        let mut h = HeaderMap::new();
        h.append(
            SET_COOKIE,
            HeaderValue::from_static("B1SESSION=8a7c-11; HttpOnly"),
        );
        h.append(
            SET_COOKIE,
            HeaderValue::from_static("ROUTEID=.node1; path=/b1s"),
        );
        h.append(SET_COOKIE, HeaderValue::from_static("other=x"));
        h.insert("x-auth", HeaderValue::from_static("hdr-token"));
        let cookies = TokenLocation::Cookies(vec!["B1SESSION".into(), "ROUTEID".into()]);
        assert_eq!(
            token_of(&cookies, &h, b"").unwrap(),
            "B1SESSION=8a7c-11; ROUTEID=.node1"
        );
        let missing = TokenLocation::Cookies(vec!["B1SESSION".into(), "NOPE".into()]);
        assert!(token_of(&missing, &h, b"").is_err());
        let optional = TokenLocation::Cookies(vec!["B1SESSION".into(), "NOPE?".into()]);
        assert_eq!(token_of(&optional, &h, b"").unwrap(), "B1SESSION=8a7c-11");
        let kept = TokenLocation::Cookies(vec!["B1SESSION".into(), "ROUTEID?".into()]);
        assert_eq!(
            token_of(&kept, &h, b"").unwrap(),
            "B1SESSION=8a7c-11; ROUTEID=.node1"
        );
        let body = br#"{"data":{"token":"json-token"}}"#;
        assert_eq!(
            token_of(&TokenLocation::JsonPointer("/data/token".into()), &h, body).unwrap(),
            "json-token"
        );
        assert!(token_of(&TokenLocation::JsonPointer("/x".into()), &h, body).is_err());
        assert_eq!(
            token_of(&TokenLocation::Header("x-auth".into()), &h, b"").unwrap(),
            "hdr-token"
        );
    }

    #[test]
    fn config_in_a_login_body_is_data() {
        assert_eq!(
            config_in_body(r#"SBO "Demo" {{secret:password}}"#, Encoding::Json).unwrap(),
            r#"SBO \"Demo\" \u007b\u007bsecret:password}}"#
        );
        assert_eq!(
            config_in_body("a b{{x}}", Encoding::Form).unwrap(),
            "a+b%7B%7Bx%7D%7D"
        );
        assert!(config_in_body("{{secret:password}}", Encoding::Raw).is_err());
        assert_eq!(
            config_in_body("SBODEMOUS", Encoding::Raw).unwrap(),
            "SBODEMOUS"
        );
    }
}
