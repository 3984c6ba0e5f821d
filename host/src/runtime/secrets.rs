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
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use url::Url;

use super::bindings::wharf::connector::secrets::{Host, RevealError};
use super::log::CallLog;
use super::placeholders::{self, Encoding, PlaceholderError, Source};
use super::signing::Signers;
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
}

/// A token the host holds for a connection and hands out per request.
#[derive(Clone)]
pub struct Token {
    /// The value.
    pub value: SecretValue,
    /// When it expires (Unix ms), if known.
    pub expires_at: Option<i64>,
}

/// A future of a token source.
pub type TokenFuture<'a> = Pin<Box<dyn Future<Output = Result<Token, String>> + Send + 'a>>;

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
const RENEW_MARGIN_MS: i64 = 30_000;

/// A token the session fetches when a request needs it: the hosts it may
/// go to, its source, and the value held.
pub struct TokenSlot {
    hosts: Vec<HostPattern>,
    /// Statuses that mean "this token is no longer good" (401).
    renew_on: Vec<u16>,
    source: Arc<dyn TokenSource>,
    held: tokio::sync::Mutex<Option<Token>>,
    /// Every value the session has held, for redaction.
    seen: Mutex<Vec<SecretValue>>,
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
            let token = slot.source.current().await.map_err(SecretDenied::NoToken)?;
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
        let token = slot
            .source
            .renew(rejected.clone())
            .await
            .map_err(SecretDenied::NoToken)?;
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
mod tests {
    use super::*;
    use crate::model::spec::{Role, SecretSpec};
    use serde_json::json;

    fn spec() -> Spec {
        Spec {
            name: "t".into(),
            version: "1.0.0".into(),
            description: String::new(),
            roles: vec![Role::Source],
            streams: vec![],
            config_schema: json!({}),
            secrets: vec![
                SecretSpec {
                    name: "token".into(),
                    description: String::new(),
                    hosts: vec!["{config.base_url}".into()],
                    reveal: false,
                    required: true,
                },
                SecretSpec {
                    name: "signing_key".into(),
                    description: String::new(),
                    hosts: vec!["https://api.example.com".into()],
                    reveal: true,
                    required: false,
                },
            ],
            hosts: vec!["{config.base_url}".into()],
            oauth2: None,
            webhook: None,
            login: None,
            signing: vec![],
            rate_budgets: vec![],
            catalog: Default::default(),
            contract: "0.1.0".into(),
        }
    }

    fn book() -> SecretBook {
        let values = BTreeMap::from([("token".to_string(), SecretValue::new("s3cr3t/value?"))]);
        SecretBook::new(
            &spec(),
            &json!({"base_url": "https://api.example.com/v1"}),
            &values,
            &["token".into(), "signing_key".into()],
        )
        .unwrap()
    }

    #[test]
    fn substitutes_only_for_bound_hosts() {
        let book = book();
        let good = Url::parse("https://api.example.com/x").unwrap();
        let out = book
            .substitute(
                "Bearer {{secret:token}}",
                &good,
                Placement::Header,
                &Tokens::default(),
            )
            .unwrap();
        assert_eq!(out, "Bearer s3cr3t/value?");
        let out = book
            .substitute(
                "/q?k={{secret:token}}",
                &good,
                Placement::Url,
                &Tokens::default(),
            )
            .unwrap();
        assert_eq!(out, "/q?k=s3cr3t%2Fvalue%3F");
        let out = book
            .substitute(
                "/{{secret:token}}",
                &good,
                Placement::Url,
                &Tokens::default(),
            )
            .unwrap();
        assert_eq!(out, "/s3cr3t%2Fvalue%3F");
        for evil in [
            "https://evil.example.net/",
            "http://api.example.com/",
            "https://api.example.com:8443/",
            "https://sub.api.example.com/",
        ] {
            let r = book.substitute(
                "{{secret:token}}",
                &Url::parse(evil).unwrap(),
                Placement::Body(Encoding::Raw),
                &Tokens::default(),
            );
            assert!(
                matches!(r, Err(SecretDenied::WrongHost { .. })),
                "{evil}: {r:?}"
            );
        }
    }

    #[test]
    fn ungranted_undeclared_and_malformed_placeholders_are_refused() {
        let book = book();
        let url = Url::parse("https://api.example.com/").unwrap();
        assert_eq!(
            book.substitute(
                "{{secret:signing_key}}",
                &url,
                Placement::Body(Encoding::Raw),
                &Tokens::default()
            ),
            Err(SecretDenied::NotGranted("signing_key".into()))
        );
        assert_eq!(
            book.substitute(
                "{{secret:nope}}",
                &url,
                Placement::Body(Encoding::Raw),
                &Tokens::default()
            ),
            Err(SecretDenied::Undeclared("nope".into()))
        );
        assert_eq!(
            book.substitute(
                "{{secret:token",
                &url,
                Placement::Body(Encoding::Raw),
                &Tokens::default()
            ),
            Err(SecretDenied::Placeholder(PlaceholderError::Unterminated(
                "secret"
            )))
        );
    }

    #[test]
    fn undeclared_values_are_refused_at_setup() {
        let values = BTreeMap::from([("other".to_string(), SecretValue::new("x"))]);
        let r = SecretBook::new(
            &spec(),
            &json!({"base_url": "https://a.example.com"}),
            &values,
            &[],
        );
        assert!(matches!(r, Err(SecretSetupError::Undeclared(n)) if n == "other"));
    }

    #[test]
    fn reveal_requires_the_flag() {
        let book = book();
        assert!(matches!(book.reveal("token"), Err(RevealError::Denied(_))));
        assert!(matches!(
            book.reveal("signing_key"),
            Err(RevealError::Missing)
        ));
        assert!(matches!(book.reveal("nope"), Err(RevealError::Denied(_))));
        // The spec's flag alone is not enough: the administrator allows it.
        let values = BTreeMap::from([("signing_key".to_string(), SecretValue::new("k"))]);
        let unallowed = SecretBook::new(
            &spec(),
            &json!({"base_url": "https://api.example.com/v1"}),
            &values,
            &[],
        )
        .unwrap();
        assert!(matches!(
            unallowed.reveal("signing_key"),
            Err(RevealError::Denied(_))
        ));
    }

    #[test]
    fn secret_values_never_print() {
        assert!(format!("{:?}", SecretValue::new("hunter22")).contains("REDACTED"));
    }

    #[test]
    fn substitution_is_linear_and_finds_shifted_placeholders() {
        let book = book();
        let url = Url::parse("https://api.example.com/").unwrap();
        let out = book
            .substitute(
                "{{{secret:token}} {{x}} {{",
                &url,
                Placement::Body(Encoding::Raw),
                &Tokens::default(),
            )
            .unwrap();
        assert_eq!(out, "{s3cr3t/value? {{x}} {{");
        let body = "{{secret:token}}".repeat(200_000);
        let started = std::time::Instant::now();
        let out = book
            .substitute(
                &body,
                &url,
                Placement::Body(Encoding::Raw),
                &Tokens::default(),
            )
            .unwrap();
        assert_eq!(out.len(), "s3cr3t/value?".len() * 200_000);
        // Quadratic work on 3 MiB took minutes; linear takes milliseconds.
        // The bound is loose on purpose: it fails only on super-linear work.
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        let unterminated = "{{secret:token".repeat(100_000);
        assert_eq!(
            book.substitute(
                &unterminated,
                &url,
                Placement::Body(Encoding::Raw),
                &Tokens::default()
            ),
            Err(SecretDenied::Placeholder(PlaceholderError::Unterminated(
                "secret"
            )))
        );
    }

    #[test]
    fn responses_are_redacted_only_for_secrets_bound_to_their_origin() {
        let book = book();
        let bound = Url::parse("https://api.example.com/echo").unwrap();
        let other = Url::parse("https://echo.example.net/").unwrap();
        assert_eq!(
            book.redactor_for(&bound).redact_str("got s3cr3t/value?"),
            "got [REDACTED]"
        );
        // A guess echoed by a host the secret never goes to comes back as
        // sent, right or wrong.
        assert_eq!(
            book.redactor_for(&other).redact_str("got s3cr3t/value?"),
            "got s3cr3t/value?"
        );
        assert_eq!(
            book.redactor().redact_str("log s3cr3t/value?"),
            "log [REDACTED]"
        );
    }
}
