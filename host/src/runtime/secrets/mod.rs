//! The secrets capability: placeholders substituted by the host (see
//! [`super::placeholders`]), `secrets.reveal`, and redaction of secret
//! values from everything a guest can see or say.
//!
//! A connector never holds a secret it does not need. It writes a
//! placeholder; the host substitutes the value only when the connection was
//! granted that secret and the request goes to a host the spec binds the
//! secret to. The OAuth2 token and a login session's token are fetched when
//! a request needs them (so a token that expires mid-run is refreshed), and
//! every value the session learns is redacted from then on. `reveal` exists
//! for request signing by 0.1 components and works only for secrets the
//! spec marks `reveal`; every call is written to the audit log.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use url::Url;

use super::bindings::wharf::connector::secrets::{Host, RevealError};
use super::log::CallLog;
use super::placeholders::{self, Encoding, PlaceholderError, Source};
use super::signing::Signers;
use super::tokens::RENEW_MARGIN_MS;
pub use super::tokens::{
    FixedToken, Token, TokenError, TokenFuture, TokenSlot, TokenSource, Tokens,
};
use crate::model::grants::HostPattern;
pub use crate::model::redact::{REDACTED, Redactor, SharedRedactor};
pub use crate::model::secret::SecretValue;
use crate::model::spec::{Spec, TemplateError, expand_host_template};

/// Where in a request a placeholder stands, which decides how its value is
/// encoded when the placeholder names no encoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// In the URL's path or query: percent-encoded.
    Url,
    /// In a header value: as is (a value with CR or LF is refused when the
    /// header is built).
    Header,
    /// In a body with this default encoding (JSON, form, or as is).
    Body(Encoding),
}

/// A refused substitution; nothing is sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretDenied {
    /// The spec does not declare the secret.
    #[error("secret `{0}` is not declared in the connector's spec")]
    Undeclared(String),
    /// Declared, but this connection has no value for it.
    #[error("secret `{0}` is not granted to this connection")]
    NotGranted(String),
    /// The request's host is not one the secret is bound to.
    #[error("secret `{name}` may not be sent to {origin} (it is bound to: {allowed})")]
    WrongHost {
        /// Secret name.
        name: String,
        /// The request's origin.
        origin: String,
        /// The hosts it may go to.
        allowed: String,
    },
    /// A placeholder in the scheme, host or port.
    #[error("secret placeholders are not allowed in a URL's scheme, host or port")]
    InAuthority,
    /// A placeholder the host cannot use.
    #[error(transparent)]
    Placeholder(#[from] PlaceholderError),
    /// The connection has no OAuth2 token (or login session) to send.
    #[error("{0}")]
    NoToken(String),
    /// The provider refused the connection's credentials when the host
    /// logged in.
    #[error("credentials refused: {0}")]
    Refused(String),
}

impl From<super::tokens::TokenError> for SecretDenied {
    fn from(e: super::tokens::TokenError) -> Self {
        match e {
            super::tokens::TokenError::Refused(m) => Self::Refused(m),
            super::tokens::TokenError::Failed(m) => Self::NoToken(m),
        }
    }
}

struct Entry {
    value: Option<SecretValue>,
    hosts: Vec<HostPattern>,
    reveal: bool,
}

/// The secrets of one session: values, the hosts each is bound to, whether
/// it may be revealed, and the tokens fetched per request.
pub struct SecretBook {
    entries: BTreeMap<String, Entry>,
    oauth: Option<TokenSlot>,
    session: Option<TokenSlot>,
    redactor: SharedRedactor,
    by_origin: Mutex<HashMap<String, Redactor>>,
    signers: Signers,
}

impl fmt::Debug for SecretBook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretBook")
            .field("names", &self.entries.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Why a session's secrets could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SecretSetupError {
    /// A value was given for a secret the spec does not declare.
    #[error("the connector does not declare a secret named `{0}`")]
    Undeclared(String),
    /// A secret's host template could not be expanded.
    #[error("secret `{name}`: {source}")]
    Template {
        /// Secret name.
        name: String,
        /// Why.
        source: TemplateError,
    },
}

impl SecretBook {
    /// An empty book (no secrets declared or granted).
    pub fn empty() -> Self {
        Self {
            entries: BTreeMap::new(),
            oauth: None,
            session: None,
            redactor: SharedRedactor::default(),
            by_origin: Mutex::default(),
            signers: Signers::default(),
        }
    }

    /// Bind granted values to the hosts the spec allows for each secret;
    /// `reveal` names the secrets an administrator lets the connector read
    /// (a 0.1 spec must also mark them `reveal`).
    pub fn new(
        spec: &Spec,
        config: &Value,
        values: &BTreeMap<String, SecretValue>,
        reveal: &[String],
    ) -> Result<Self, SecretSetupError> {
        if let Some(name) = values.keys().find(|n| spec.secret(n).is_none()) {
            return Err(SecretSetupError::Undeclared(name.clone()));
        }
        let mut entries = BTreeMap::new();
        for s in &spec.secrets {
            let value = values.get(&s.name).cloned();
            // Host templates of a secret the connection does not set may
            // refer to config it does not have either; they can never be used.
            let hosts = if value.is_some() {
                s.hosts
                    .iter()
                    .map(|t| expand_host_template(t, config))
                    .collect::<Result<_, _>>()
                    .map_err(|source| SecretSetupError::Template {
                        name: s.name.clone(),
                        source,
                    })?
            } else {
                Vec::new()
            };
            entries.insert(
                s.name.clone(),
                Entry {
                    value,
                    hosts,
                    reveal: reveal.contains(&s.name) && (spec.contract != "0.1.0" || s.reveal),
                },
            );
        }
        let redactor = Redactor::new(values.values().map(SecretValue::expose));
        let signers = Signers::new(spec, config, values)
            .map_err(|(name, source)| SecretSetupError::Template { name, source })?;
        Ok(Self {
            entries,
            oauth: None,
            session: None,
            redactor: SharedRedactor::new(redactor),
            by_origin: Mutex::default(),
            signers,
        })
    }

    /// The spec's signing keys with this connection's secrets.
    pub fn signers(&self) -> &Signers {
        &self.signers
    }

    /// Hand out the connection's OAuth2 token for `{{oauth:access_token}}`.
    pub fn with_oauth(mut self, slot: TokenSlot) -> Self {
        self.oauth = Some(slot);
        self
    }

    /// Hand out the login session's token for `{{session:token}}`.
    pub fn with_session(mut self, slot: TokenSlot) -> Self {
        self.session = Some(slot);
        self
    }

    /// Replaces every secret value the session knows (tokens included, as
    /// they are learned): for logs, errors and anything else a person reads
    /// (never for what goes back to the guest: see
    /// [`SecretBook::redactor_for`]).
    pub fn redactor(&self) -> Redactor {
        self.redactor.snapshot()
    }

    /// The shared redactor, for the session's log.
    pub fn shared_redactor(&self) -> SharedRedactor {
        self.redactor.clone()
    }

    /// Whether `text` contains a placeholder.
    pub fn has_placeholder(text: &str) -> bool {
        placeholders::any(text)
    }

    /// The connector said its token or session expired (`auth-expired`):
    /// renew every token this session holds (once across nodes, under the
    /// same leases as a 401). False when it holds none.
    pub async fn renew_held(&self) -> Result<bool, SecretDenied> {
        let mut renewed = false;
        for oauth in [true, false] {
            let held = match self.slot(oauth) {
                Some(slot) => slot.held.lock().await.as_ref().map(|t| t.value.clone()),
                None => None,
            };
            if let Some(value) = held {
                self.renew_token(oauth, &value).await?;
                renewed = true;
            }
        }
        Ok(renewed)
    }

    fn slot(&self, oauth: bool) -> Option<&TokenSlot> {
        if oauth {
            self.oauth.as_ref()
        } else {
            self.session.as_ref()
        }
    }

    /// The current OAuth2 token (`oauth`) or login session token, fetched
    /// (and refreshed) if the one held is missing or about to expire.
    pub async fn token(&self, oauth: bool) -> Result<SecretValue, SecretDenied> {
        let what = if oauth {
            "an OAuth2 token"
        } else {
            "a login session"
        };
        let slot = self
            .slot(oauth)
            .ok_or_else(|| SecretDenied::NoToken(format!("this connection has no {what}")))?;
        let mut held = slot.held.lock().await;
        let fresh = held.as_ref().is_some_and(|t| {
            t.expires_at
                .is_none_or(|e| e - crate::clock::now_ms() > RENEW_MARGIN_MS)
        });
        if !fresh {
            let token = slot.source.current().await?;
            self.learn(slot, &token.value);
            *held = Some(token);
        }
        Ok(held.as_ref().expect("just set").value.clone())
    }

    /// The remote system refused `rejected`: renew it (once for all the
    /// session's requests that were refused with it).
    pub async fn renew_token(
        &self,
        oauth: bool,
        rejected: &SecretValue,
    ) -> Result<SecretValue, SecretDenied> {
        let slot = self
            .slot(oauth)
            .ok_or_else(|| SecretDenied::NoToken("no token to renew".into()))?;
        let mut held = slot.held.lock().await;
        if let Some(t) = held.as_ref()
            && t.value.expose() != rejected.expose()
        {
            return Ok(t.value.clone());
        }
        let token = slot.source.renew(rejected.clone()).await?;
        self.learn(slot, &token.value);
        let value = token.value.clone();
        *held = Some(token);
        Ok(value)
    }

    fn learn(&self, slot: &TokenSlot, value: &SecretValue) {
        let mut seen = slot.seen.lock().expect("token lock");
        if !seen.iter().any(|v| v.expose() == value.expose()) {
            seen.push(value.clone());
            self.redactor.add(value.expose());
            self.by_origin.lock().expect("redactor cache lock").clear();
        }
    }

    /// Whether `status` means the token (OAuth2, or the login session) is
    /// no longer good and is renewed once.
    pub fn renews_on(&self, oauth: bool, status: u16) -> bool {
        self.slot(oauth)
            .is_some_and(|s| s.renew_on.contains(&status))
    }

    /// Whether a response from `url` may be answered by renewing a token
    /// the request carried: only the token's own hosts.
    pub fn token_goes_to(&self, oauth: bool, url: &Url) -> bool {
        self.slot(oauth)
            .is_some_and(|s| s.hosts.iter().any(|h| h.matches(url)))
    }

    /// Substitute the placeholders in `text` for a request to `target`,
    /// with the tokens fetched for this request.
    ///
    /// One pass over `text`: each `{{` is looked at once, so a body made of
    /// placeholders costs time linear in its length.
    pub fn substitute<'a>(
        &self,
        text: &'a str,
        target: &Url,
        placement: Placement,
        tokens: &Tokens,
    ) -> Result<Cow<'a, str>, SecretDenied> {
        let Some(first) = placeholders::next(text, 0)? else {
            return Ok(Cow::Borrowed(text));
        };
        let default = match placement {
            Placement::Url => Encoding::Url,
            Placement::Header => Encoding::Raw,
            Placement::Body(e) => e,
        };
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        let mut found = Some(first);
        while let Some(p) = found {
            out.push_str(&text[copied..p.start]);
            let raw = self.resolve(p.source, target, tokens)?;
            let name = &text[p.start..p.start + p.len];
            out.push_str(&p.encoding.unwrap_or(default).apply(raw.expose(), name)?);
            copied = p.start + p.len;
            found = placeholders::next(text, copied)?;
        }
        out.push_str(&text[copied..]);
        Ok(Cow::Owned(out))
    }

    /// A URL that is one placeholder (a Slack webhook URL kept as a
    /// secret): the value, to be parsed and checked as the request's URL.
    /// The binding is checked by [`SecretBook::check_whole_url`] once the
    /// URL is known.
    pub fn whole_url(&self, text: &str) -> Result<Option<(String, String)>, SecretDenied> {
        let Some(p) = placeholders::next(text, 0)? else {
            return Ok(None);
        };
        if p.start != 0 || p.len != text.len() {
            return Ok(None);
        }
        let Source::Secret(name) = p.source else {
            return Ok(None);
        };
        let entry = self
            .entries
            .get(name)
            .ok_or_else(|| SecretDenied::Undeclared(name.into()))?;
        let value = entry
            .value
            .as_ref()
            .ok_or_else(|| SecretDenied::NotGranted(name.into()))?;
        Ok(Some((name.to_string(), value.expose().to_string())))
    }

    /// The secret `name` (a whole URL) may go to `url`.
    pub fn check_whole_url(&self, name: &str, url: &Url) -> Result<(), SecretDenied> {
        self.value_for(name, url).map(|_| ())
    }

    fn resolve(
        &self,
        source: Source<'_>,
        target: &Url,
        tokens: &Tokens,
    ) -> Result<SecretValue, SecretDenied> {
        match source {
            Source::Secret(name) => self.value_for(name, target).cloned(),
            Source::Basic(user, password) => {
                let user = self.value_for(user, target)?;
                let password = self.value_for(password, target)?;
                let value = SecretValue::new(placeholders::basic(user.expose(), password.expose()));
                Ok(value)
            }
            Source::OAuth | Source::Session => {
                let oauth = source == Source::OAuth;
                let (slot, token) = if oauth {
                    (self.oauth.as_ref(), tokens.oauth.as_ref())
                } else {
                    (self.session.as_ref(), tokens.session.as_ref())
                };
                let (Some(slot), Some(token)) = (slot, token) else {
                    return Err(SecretDenied::NoToken(
                        "this connection has no token for this placeholder".into(),
                    ));
                };
                if !slot.hosts.iter().any(|h| h.matches(target)) {
                    return Err(wrong_host(
                        if oauth {
                            "oauth:access_token"
                        } else {
                            "session:token"
                        },
                        target,
                        &slot.hosts,
                    ));
                }
                Ok(token.clone())
            }
        }
    }

    /// Redacts, in a response from `url`, the secrets that may have been sent
    /// there: those bound to its origin. A secret that could never go to a
    /// host is not looked for in that host's answers, so sending a guess to
    /// an unbound echo server tells the guest nothing about the guess.
    pub fn redactor_for(&self, url: &Url) -> Redactor {
        let r = self.redactor_for_secrets(url);
        // Signing keys mint tokens (a JWT) as they go: never cached.
        let signed = self.signers.values_for(url);
        if signed.is_empty() {
            return r;
        }
        r.union(&Redactor::new(signed.iter().map(SecretValue::expose)))
    }

    fn redactor_for_secrets(&self, url: &Url) -> Redactor {
        let origin = url.origin().ascii_serialization();
        let mut cache = self.by_origin.lock().expect("redactor cache lock");
        if let Some(r) = cache.get(&origin) {
            return r.clone();
        }
        let mut bound: Vec<SecretValue> = self
            .entries
            .values()
            .filter(|e| e.hosts.iter().any(|h| h.matches(url)))
            .filter_map(|e| e.value.clone())
            .collect();
        for slot in [&self.oauth, &self.session].into_iter().flatten() {
            if slot.hosts.iter().any(|h| h.matches(url)) {
                bound.extend(slot.seen.lock().expect("token lock").iter().cloned());
            }
        }
        let r = Redactor::new(bound.iter().map(SecretValue::expose));
        // Origins a session talks to are few; the cap only guards memory
        // against a guest that walks many origins.
        if cache.len() < 64 {
            cache.insert(origin, r.clone());
        }
        r
    }

    fn value_for(&self, name: &str, target: &Url) -> Result<&SecretValue, SecretDenied> {
        let entry = self
            .entries
            .get(name)
            .ok_or_else(|| SecretDenied::Undeclared(name.into()))?;
        let value = entry
            .value
            .as_ref()
            .ok_or_else(|| SecretDenied::NotGranted(name.into()))?;
        if !entry.hosts.iter().any(|h| h.matches(target)) {
            return Err(wrong_host(name, target, &entry.hosts));
        }
        Ok(value)
    }

    fn reveal(&self, name: &str) -> Result<&SecretValue, RevealError> {
        match self.entries.get(name) {
            None => Err(RevealError::Denied(format!(
                "secret `{name}` is not declared in the connector's spec"
            ))),
            Some(e) if !e.reveal => Err(RevealError::Denied(format!(
                "secret `{name}` may not be revealed on this connection (an administrator allows it per connection); use a {{{{secret:{name}}}}} placeholder, or have the host sign the request"
            ))),
            Some(Entry { value: None, .. }) => Err(RevealError::Missing),
            Some(Entry { value: Some(v), .. }) => Ok(v),
        }
    }
}

fn wrong_host(name: &str, target: &Url, hosts: &[HostPattern]) -> SecretDenied {
    let origin = HostPattern::origin_of(target)
        .map(|p| p.to_string())
        .unwrap_or_else(|_| target.to_string());
    let allowed = hosts
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    SecretDenied::WrongHost {
        name: name.into(),
        origin,
        allowed,
    }
}

/// Per-call state behind `wharf:connector/secrets`.
pub struct SecretsState {
    pub(crate) book: Arc<SecretBook>,
    pub(crate) log: CallLog,
}

impl Host for SecretsState {
    /// Every attempt is audited in the run's log (and so the server log),
    /// charged to the call: a reveal whose audit line cannot be written is
    /// not answered, and a loop of reveals fails its call on the log limit.
    async fn reveal(&mut self, name: String) -> wasmtime::Result<Result<String, RevealError>> {
        let result = self.book.reveal(&name);
        let outcome = match &result {
            Ok(_) => "revealed",
            Err(RevealError::Missing) => "missing",
            Err(RevealError::Denied(_)) => "denied",
        };
        let name = if name.len() > 64 {
            "…"
        } else {
            name.as_str()
        };
        self.log
            .audit(format!("secrets.reveal(`{name}`): {outcome}"))?;
        Ok(result.map(|v| v.expose().to_string()))
    }
}

#[cfg(test)]
mod tests;
