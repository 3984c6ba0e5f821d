//! Placeholders a connector writes where a credential goes, and how each
//! value is encoded for the place it lands in.
//!
//! - `{{secret:NAME}}`: a secret of the connection.
//! - `{{basic:USER:PASS}}`: HTTP Basic credentials, `base64(USER:PASS)`
//!   of two secrets (both must be bound to the request's host).
//! - `{{oauth:access_token}}`: the connection's current OAuth2 token.
//! - `{{session:token}}`: the token of the connection's login session.
//!
//! Any of them may end in `|ENCODER`: `raw`, `url` (percent-encode all but
//! letters and digits), `path` (as `url`, but keeps `/`; a value with a
//! `..` segment, `?` or `#` is refused), `form`
//! (`application/x-www-form-urlencoded`), `json` (the inside of a JSON
//! string) or `base64`. Without one, the value is encoded for its place: in
//! a URL's path or query as `url`, in a JSON body as `json`, in a form body
//! as `form`, in a header or any other body as is. So a password with a `"`
//! cannot break out of a JSON login body, and a value cannot change a URL's
//! structure.

use std::borrow::Cow;

use base64::Engine as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Where a placeholder's value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source<'a> {
    /// A secret, by name.
    Secret(&'a str),
    /// Two secrets as HTTP Basic credentials.
    Basic(&'a str, &'a str),
    /// The OAuth2 access token.
    OAuth,
    /// The login session's token.
    Session,
}

/// How a value is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// As is.
    Raw,
    /// Percent-encoded, all but ASCII letters and digits.
    Url,
    /// As `Url`, keeping `/`; refuses `..` segments, `?` and `#`.
    Path,
    /// Form-urlencoded.
    Form,
    /// Escaped as the inside of a JSON string.
    Json,
    /// Standard base64 of the value.
    Base64,
}

/// A placeholder found in a text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placeholder<'a> {
    /// Byte offset of `{{`.
    pub start: usize,
    /// Length through `}}`.
    pub len: usize,
    /// Where the value comes from.
    pub source: Source<'a>,
    /// The encoder written after `|`, if any.
    pub encoding: Option<Encoding>,
}

/// A placeholder the host cannot use; nothing is sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaceholderError {
    /// `{{secret:` (or another kind) without a closing `}}`.
    #[error("unterminated `{{{{{0}:...}}}}` placeholder")]
    Unterminated(&'static str),
    /// An encoder that does not exist.
    #[error("unknown placeholder encoder `{0}`: use raw, url, path, form, json or base64")]
    UnknownEncoder(String),
    /// `{{basic:` without two names, or an unknown `{{oauth:` field.
    #[error("malformed placeholder `{0}`")]
    Malformed(String),
    /// A value that `path` may not put in a path.
    #[error("the value of `{0}` cannot be a URL path: it contains `..`, `?` or `#`")]
    UnsafePath(String),
}

const KINDS: [&str; 4] = ["secret", "basic", "oauth", "session"];

/// Percent-encoding that keeps `/` (and unreserved characters).
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The next placeholder at or after `from`. Text such as `{{x}}` that is
/// not one of ours is left alone, like any other text.
pub fn next(text: &str, from: usize) -> Result<Option<Placeholder<'_>>, PlaceholderError> {
    let bytes = text.as_bytes();
    let finder = memchr::memmem::Finder::new(b"{{");
    let mut at = from;
    while let Some(i) = finder.find(&bytes[at..]) {
        let start = at + i;
        let rest = &text[start + 2..];
        if let Some(kind) = KINDS
            .iter()
            .find(|k| rest.starts_with(*k) && rest[k.len()..].starts_with(':'))
        {
            let body_start = start + 2 + kind.len() + 1;
            let end = text[body_start..]
                .find("}}")
                .ok_or(PlaceholderError::Unterminated(kind))?;
            let body = &text[body_start..body_start + end];
            let (body, encoding) = match body.rsplit_once('|') {
                Some((b, e)) => (b, Some(encoding(e)?)),
                None => (body, None),
            };
            let source = match *kind {
                "secret" => Source::Secret(body),
                "basic" => match body.split_once(':') {
                    Some((u, p)) if !u.is_empty() && !p.is_empty() && !p.contains(':') => {
                        Source::Basic(u, p)
                    }
                    _ => return Err(PlaceholderError::Malformed(format!("{{{{basic:{body}}}}}"))),
                },
                "oauth" if body == "access_token" => Source::OAuth,
                "session" if body == "token" => Source::Session,
                _ => {
                    return Err(PlaceholderError::Malformed(format!(
                        "{{{{{kind}:{body}}}}}"
                    )));
                }
            };
            return Ok(Some(Placeholder {
                start,
                len: body_start + end + 2 - start,
                source,
                encoding,
            }));
        }
        // `{{{secret:` starts one byte later.
        at = start + 1;
    }
    Ok(None)
}

fn encoding(name: &str) -> Result<Encoding, PlaceholderError> {
    Ok(match name {
        "raw" => Encoding::Raw,
        "url" => Encoding::Url,
        "path" => Encoding::Path,
        "form" => Encoding::Form,
        "json" => Encoding::Json,
        "base64" => Encoding::Base64,
        other => return Err(PlaceholderError::UnknownEncoder(other.into())),
    })
}

/// Whether `text` holds a placeholder of ours (well-formed or not).
pub fn any(text: &str) -> bool {
    !matches!(next(text, 0), Ok(None))
}

/// Whether `text` asks for the OAuth2 token.
pub fn wants_oauth(text: &str) -> bool {
    memchr::memmem::find(text.as_bytes(), b"{{oauth:").is_some()
}

/// Whether `text` asks for the login session's token.
pub fn wants_session(text: &str) -> bool {
    memchr::memmem::find(text.as_bytes(), b"{{session:").is_some()
}

impl Encoding {
    /// `value` written this way; `name` names the placeholder in errors.
    pub fn apply<'v>(self, value: &'v str, name: &str) -> Result<Cow<'v, str>, PlaceholderError> {
        Ok(match self {
            Self::Raw => Cow::Borrowed(value),
            Self::Url => Cow::Owned(utf8_percent_encode(value, NON_ALPHANUMERIC).to_string()),
            Self::Path => {
                let unsafe_segment = value.split('/').any(|s| s == ".." || s == ".");
                if unsafe_segment || value.contains(['?', '#']) {
                    return Err(PlaceholderError::UnsafePath(name.into()));
                }
                Cow::Owned(utf8_percent_encode(value, PATH).to_string())
            }
            Self::Form => {
                Cow::Owned(url::form_urlencoded::byte_serialize(value.as_bytes()).collect())
            }
            Self::Json => {
                let quoted = serde_json::to_string(value).expect("a string serializes");
                Cow::Owned(quoted[1..quoted.len() - 1].to_string())
            }
            Self::Base64 => Cow::Owned(base64::engine::general_purpose::STANDARD.encode(value)),
        })
    }
}

/// HTTP Basic credentials of a user and password.
pub fn basic(user: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

/// How a placeholder in the body is encoded by default: by the request's
/// `Content-Type`.
pub fn body_encoding(headers: &[(String, String)]) -> Encoding {
    let content_type = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.to_ascii_lowercase())
        .unwrap_or_default();
    let media = content_type.split(';').next().unwrap_or("").trim();
    if media == "application/json" || media.ends_with("+json") {
        Encoding::Json
    } else if media == "application/x-www-form-urlencoded" {
        Encoding::Form
    } else {
        Encoding::Raw
    }
}

#[cfg(test)]
mod fuzz;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_parse_with_their_encoders() {
        let p = next("a {{secret:token|json}} b", 0).unwrap().unwrap();
        assert_eq!((p.start, p.len), (2, 21));
        assert_eq!(p.source, Source::Secret("token"));
        assert_eq!(p.encoding, Some(Encoding::Json));
        let p = next("{{basic:user:pass}}", 0).unwrap().unwrap();
        assert_eq!(p.source, Source::Basic("user", "pass"));
        assert_eq!(
            next("{{oauth:access_token}}", 0).unwrap().unwrap().source,
            Source::OAuth
        );
        assert_eq!(next("{{x}} {{secrets}}", 0).unwrap(), None);
        assert_eq!(
            next("{{{secret:t}}", 0).unwrap().unwrap().start,
            1,
            "a shifted placeholder is found"
        );
        assert!(matches!(
            next("{{secret:t|rot13}}", 0),
            Err(PlaceholderError::UnknownEncoder(_))
        ));
        assert!(matches!(
            next("{{basic:onlyone}}", 0),
            Err(PlaceholderError::Malformed(_))
        ));
        assert!(matches!(
            next("{{oauth:refresh_token}}", 0),
            Err(PlaceholderError::Malformed(_))
        ));
        assert!(matches!(
            next("{{secret:t", 0),
            Err(PlaceholderError::Unterminated("secret"))
        ));
    }

    #[test]
    fn encoders_keep_values_inside_their_place() {
        let v = "p\"a/ss?#\\ word";
        assert_eq!(Encoding::Json.apply(v, "x").unwrap(), r#"p\"a/ss?#\\ word"#);
        assert_eq!(
            Encoding::Url.apply(v, "x").unwrap(),
            "p%22a%2Fss%3F%23%5C%20word"
        );
        assert_eq!(
            Encoding::Form.apply(v, "x").unwrap(),
            "p%22a%2Fss%3F%23%5C+word"
        );
        assert_eq!(Encoding::Base64.apply("u:p", "x").unwrap(), "dTpw");
        assert_eq!(
            Encoding::Path.apply("services/T0/B1/xyz", "x").unwrap(),
            "services/T0/B1/xyz"
        );
        for bad in ["a/../b", "..", "a?b", "a#b", "./a"] {
            assert!(Encoding::Path.apply(bad, "x").is_err(), "{bad}");
        }
        assert_eq!(
            basic("Aladdin", "open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }
}
