//! The secrets capability: `{{secret:NAME}}` substitution, `secrets.reveal`,
//! and redaction of secret values from everything a guest can see or say.
//!
//! A connector never holds a secret it does not need. It writes a
//! placeholder; the host substitutes the value only when the connection was
//! granted that secret and the request goes to a host the spec binds the
//! secret to. `reveal` exists for request signing and works only for secrets
//! the spec marks `reveal`; every call is written to the audit log.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;
use url::Url;

use super::bindings::wharf::connector::secrets::{Host, RevealError};
use super::log::CallLog;
use crate::model::grants::HostPattern;
pub use crate::model::redact::{REDACTED, Redactor};
pub use crate::model::secret::SecretValue;
use crate::model::spec::{Spec, TemplateError, expand_host_template};

/// Where in a request a placeholder stands; URL values are percent-encoded
/// so a value cannot change the URL's structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// In the URL (path or query).
    Url,
    /// In a header value.
    Header,
    /// In the body.
    Body,
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
    /// `{{secret:` without a closing `}}`.
    #[error("unterminated `{{{{secret:...}}}}` placeholder")]
    Unterminated,
}

const OPEN: &str = "{{secret:";
const CLOSE: &str = "}}";
/// The OAuth2 access token of the connection; the host owns and refreshes it.
pub const OAUTH_PLACEHOLDER: &str = "{{oauth:access_token}}";
/// The entry name of the OAuth2 token (secret names cannot contain `:`).
const OAUTH_ENTRY: &str = "oauth:access_token";

struct Entry {
    value: Option<SecretValue>,
    hosts: Vec<HostPattern>,
    reveal: bool,
}

/// The secrets of one session: values, the hosts each is bound to, and
/// whether it may be revealed.
pub struct SecretBook {
    entries: BTreeMap<String, Entry>,
    redactor: Redactor,
    by_origin: Mutex<HashMap<String, Redactor>>,
}

#[derive(Clone, Copy)]
enum PlaceholderKind {
    Secret,
    OAuth,
}

/// The next `{{secret:` or `{{oauth:access_token}}` at or after `from`.
fn next_placeholder(text: &str, from: usize) -> Option<(usize, PlaceholderKind)> {
    let bytes = text.as_bytes();
    let finder = memchr::memmem::Finder::new(b"{{");
    let mut at = from;
    while let Some(i) = finder.find(&bytes[at..]) {
        let start = at + i;
        let rest = &bytes[start..];
        if rest.starts_with(OPEN.as_bytes()) {
            return Some((start, PlaceholderKind::Secret));
        }
        if rest.starts_with(OAUTH_PLACEHOLDER.as_bytes()) {
            return Some((start, PlaceholderKind::OAuth));
        }
        // `{{{secret:` starts one byte later.
        at = start + 1;
    }
    None
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
            redactor: Redactor::default(),
            by_origin: Mutex::default(),
        }
    }

    /// Bind granted values to the hosts the spec allows for each secret.
    pub fn new(
        spec: &Spec,
        config: &Value,
        values: &BTreeMap<String, SecretValue>,
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
                    reveal: s.reveal,
                },
            );
        }
        let redactor = Redactor::new(values.values().map(SecretValue::expose));
        Ok(Self {
            entries,
            redactor,
            by_origin: Mutex::default(),
        })
    }

    /// Add the connection's OAuth2 access token, bound to `hosts` (the
    /// hosts the spec declares), for `{{oauth:access_token}}`.
    pub fn with_oauth(mut self, token: SecretValue, hosts: Vec<HostPattern>) -> Self {
        self.redactor.add(token.expose());
        self.by_origin.lock().expect("redactor cache lock").clear();
        self.entries.insert(
            OAUTH_ENTRY.to_string(),
            Entry {
                value: Some(token),
                hosts,
                reveal: false,
            },
        );
        self
    }

    /// Replaces every secret value: for logs, errors and anything else a
    /// person reads (never for what goes back to the guest: see
    /// [`SecretBook::redactor_for`]).
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Whether `text` contains a secret placeholder.
    pub fn has_placeholder(text: &str) -> bool {
        next_placeholder(text, 0).is_some()
    }

    /// Substitute the placeholders in `text` for a request to `target`.
    ///
    /// One pass over `text`: each `{{` is looked at once, so a body made of
    /// placeholders costs time linear in its length.
    pub fn substitute<'a>(
        &self,
        text: &'a str,
        target: &Url,
        placement: Placement,
    ) -> Result<Cow<'a, str>, SecretDenied> {
        let Some(first) = next_placeholder(text, 0) else {
            return Ok(Cow::Borrowed(text));
        };
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        let mut found = Some(first);
        while let Some((start, kind)) = found {
            let (name, len) = match kind {
                PlaceholderKind::OAuth => (OAUTH_ENTRY, OAUTH_PLACEHOLDER.len()),
                PlaceholderKind::Secret => {
                    let after = &text[start + OPEN.len()..];
                    let end = after.find(CLOSE).ok_or(SecretDenied::Unterminated)?;
                    (&after[..end], OPEN.len() + end + CLOSE.len())
                }
            };
            out.push_str(&text[copied..start]);
            let value = self.value_for(name, target)?;
            match placement {
                Placement::Url => out.extend(utf8_percent_encode(value.expose(), NON_ALPHANUMERIC)),
                Placement::Header | Placement::Body => out.push_str(value.expose()),
            }
            copied = start + len;
            found = next_placeholder(text, copied);
        }
        out.push_str(&text[copied..]);
        Ok(Cow::Owned(out))
    }

    /// Redacts, in a response from `url`, the secrets that may have been sent
    /// there: those bound to its origin. A secret that could never go to a
    /// host is not looked for in that host's answers, so sending a guess to
    /// an unbound echo server tells the guest nothing about the guess.
    pub fn redactor_for(&self, url: &Url) -> Redactor {
        let origin = url.origin().ascii_serialization();
        let mut cache = self.by_origin.lock().expect("redactor cache lock");
        if let Some(r) = cache.get(&origin) {
            return r.clone();
        }
        let bound = self
            .entries
            .values()
            .filter(|e| e.hosts.iter().any(|h| h.matches(url)))
            .filter_map(|e| e.value.as_ref().map(SecretValue::expose));
        let r = Redactor::new(bound);
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
            let origin = HostPattern::origin_of(target)
                .map(|p| p.to_string())
                .unwrap_or_else(|_| target.to_string());
            let allowed = entry
                .hosts
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            return Err(SecretDenied::WrongHost {
                name: name.into(),
                origin,
                allowed,
            });
        }
        Ok(value)
    }

    fn reveal(&self, name: &str) -> Result<&SecretValue, RevealError> {
        match self.entries.get(name) {
            None => Err(RevealError::Denied(format!(
                "secret `{name}` is not declared in the connector's spec"
            ))),
            Some(e) if !e.reveal => Err(RevealError::Denied(format!(
                "secret `{name}` is not marked `reveal` in the spec; use a {{{{secret:{name}}}}} placeholder instead"
            ))),
            Some(Entry { value: None, .. }) => Err(RevealError::Missing),
            Some(Entry { value: Some(v), .. }) => Ok(v),
        }
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
        }
    }

    fn book() -> SecretBook {
        let values = BTreeMap::from([("token".to_string(), SecretValue::new("s3cr3t/value?"))]);
        SecretBook::new(
            &spec(),
            &json!({"base_url": "https://api.example.com/v1"}),
            &values,
        )
        .unwrap()
    }

    #[test]
    fn substitutes_only_for_bound_hosts() {
        let book = book();
        let good = Url::parse("https://api.example.com/x").unwrap();
        let out = book
            .substitute("Bearer {{secret:token}}", &good, Placement::Header)
            .unwrap();
        assert_eq!(out, "Bearer s3cr3t/value?");
        let out = book
            .substitute("/q?k={{secret:token}}", &good, Placement::Url)
            .unwrap();
        assert_eq!(out, "/q?k=s3cr3t%2Fvalue%3F");
        let out = book
            .substitute("/{{secret:token}}", &good, Placement::Url)
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
                Placement::Body,
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
            book.substitute("{{secret:signing_key}}", &url, Placement::Body),
            Err(SecretDenied::NotGranted("signing_key".into()))
        );
        assert_eq!(
            book.substitute("{{secret:nope}}", &url, Placement::Body),
            Err(SecretDenied::Undeclared("nope".into()))
        );
        assert_eq!(
            book.substitute("{{secret:token", &url, Placement::Body),
            Err(SecretDenied::Unterminated)
        );
    }

    #[test]
    fn undeclared_values_are_refused_at_setup() {
        let values = BTreeMap::from([("other".to_string(), SecretValue::new("x"))]);
        let r = SecretBook::new(
            &spec(),
            &json!({"base_url": "https://a.example.com"}),
            &values,
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
            .substitute("{{{secret:token}} {{x}} {{", &url, Placement::Body)
            .unwrap();
        assert_eq!(out, "{s3cr3t/value? {{x}} {{");
        let body = "{{secret:token}}".repeat(200_000);
        let started = std::time::Instant::now();
        let out = book.substitute(&body, &url, Placement::Body).unwrap();
        assert_eq!(out.len(), "s3cr3t/value?".len() * 200_000);
        // Quadratic work on 3 MiB took minutes; linear takes milliseconds.
        // The bound is loose on purpose: it fails only on super-linear work.
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        let unterminated = "{{secret:token".repeat(100_000);
        assert_eq!(
            book.substitute(&unterminated, &url, Placement::Body),
            Err(SecretDenied::Unterminated)
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
