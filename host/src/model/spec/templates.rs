//! `{config.x}` templates of a spec: host templates (what a connection is
//! granted, where a secret may go) and URL templates (OAuth2 endpoints),
//! expanded against a connection's config with a guard that keeps a config
//! value from moving the host.

use serde_json::Value;

use crate::model::grants::{HostPattern, PatternError};

/// A host template that could not be expanded for a config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{config.x}` names a value the config does not have.
    #[error(
        "host template `{template}` needs config field `{field}`, which is missing or not a string"
    )]
    MissingField {
        /// The template.
        template: String,
        /// The dotted field path.
        field: String,
    },
    /// A config value would change more than the host of a template.
    #[error(
        "config field `{field}` cannot be used in host template `{template}`: its value contains URL syntax"
    )]
    Injection {
        /// The template.
        template: String,
        /// The dotted field path.
        field: String,
    },
    /// The expanded template is not a host pattern.
    #[error(transparent)]
    Pattern(#[from] PatternError),
    /// Malformed `{...}` syntax.
    #[error("host template `{0}` has an unclosed or unknown `{{...}}` placeholder")]
    Syntax(String),
}

/// Check `{...}` syntax without a config: every placeholder is `{config.path}`
/// and a literal template parses as a pattern.
pub(super) fn check_template_syntax(template: &str) -> Result<(), TemplateError> {
    let fields = placeholders(template)?;
    if fields.is_empty() {
        HostPattern::parse(template)?;
    }
    Ok(())
}

/// A `{config.path}` placeholder: where it is in the template, the dotted
/// field path, and the spec's default for a config without that field
/// (`{config.base_url|https://api.vendor.com}`: the vendor's production
/// URL, which a sandbox, a regional deployment or a test overrides).
struct Placeholder {
    start: usize,
    end: usize,
    field: String,
    default: Option<String>,
}

impl Placeholder {
    /// The value for `config`: the field's text, else the default (an
    /// empty field counts as absent, as an empty form input does).
    fn value(&self, template: &str, config: &Value) -> Result<String, TemplateError> {
        config
            .pointer(&format!("/{}", self.field.replace('.', "/")))
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty() || self.default.is_none())
            .map(str::to_string)
            .or_else(|| self.default.clone())
            .ok_or_else(|| TemplateError::MissingField {
                template: template.into(),
                field: self.field.clone(),
            })
    }
}

fn placeholders(template: &str) -> Result<Vec<Placeholder>, TemplateError> {
    let mut out = Vec::new();
    let mut rest = 0;
    while let Some(open) = template[rest..].find('{') {
        let start = rest + open;
        let Some(len) = template[start..].find('}') else {
            return Err(TemplateError::Syntax(template.into()));
        };
        let inner = &template[start + 1..start + len];
        let Some(field) = inner.strip_prefix("config.") else {
            return Err(TemplateError::Syntax(template.into()));
        };
        let (field, default) = match field.split_once('|') {
            Some((f, d)) => (f, Some(d.to_string())),
            None => (field, None),
        };
        if field.is_empty() || field.contains(['{', '}']) || default.as_deref() == Some("") {
            return Err(TemplateError::Syntax(template.into()));
        }
        out.push(Placeholder {
            start,
            end: start + len + 1,
            field: field.to_string(),
            default,
        });
        rest = start + len + 1;
    }
    Ok(out)
}

/// `{config.x}` (and `{config.x|default}`) in a text that holds other
/// braces (a JSON login body, JWT claims), each value written by `encode`
/// (which may refuse it); the rest is kept as it is.
pub fn fill_config_fields(
    text: &str,
    config: &Value,
    encode: impl Fn(&str) -> Result<String, String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{config.") {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("unclosed `{{config.` in `{text}`"))?;
        let (field, default) = match after[8..close].split_once('|') {
            Some((f, d)) => (f, Some(d)),
            None => (&after[8..close], None),
        };
        let value = config
            .pointer(&format!("/{}", field.replace('.', "/")))
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty() || default.is_none())
            .or(default)
            .ok_or_else(|| format!("config field `{field}` is missing or not a string"))?;
        out.push_str(&encode(value).map_err(|e| format!("config field `{field}`: {e}"))?);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Expand a host template such as `https://{config.shop}.myshopify.com` or
/// `{config.base_url}` into a pattern. A template that is one placeholder
/// takes the origin of the URL in that field; a placeholder inside a larger
/// template must expand to plain host characters, so a config value cannot
/// smuggle in a different host (`evil.com/` or `x@evil.com`).
pub fn expand_host_template(template: &str, config: &Value) -> Result<HostPattern, TemplateError> {
    let fields = placeholders(template)?;
    if let [only] = fields.as_slice()
        && only.start == 0
        && only.end == template.len()
    {
        let field = &only.field;
        let value = only.value(template, config)?;
        let url = url::Url::parse(&value).map_err(|e| PatternError {
            pattern: value.clone(),
            reason: format!("config field `{field}` is not a URL: {e}"),
        })?;
        // `https://api.example.com@evil.net` reads as one host and is
        // another: user info has no place in a base URL (credentials are
        // secrets), as in URL templates.
        if !url.username().is_empty() || url.password().is_some() {
            return Err(TemplateError::Injection {
                template: template.into(),
                field: field.clone(),
            });
        }
        return Ok(HostPattern::origin_of(&url)?);
    }
    let mut expanded = String::new();
    let mut last = 0;
    for p in &fields {
        let (start, end, field) = (&p.start, &p.end, &p.field);
        let value = p.value(template, config)?;
        let clean = !value.is_empty()
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !clean {
            return Err(TemplateError::Injection {
                template: template.into(),
                field: field.clone(),
            });
        }
        expanded.push_str(&template[last..*start]);
        expanded.push_str(&value);
        last = *end;
    }
    expanded.push_str(&template[last..]);
    Ok(HostPattern::parse(&expanded)?)
}

/// Expand a URL template of a spec, such as the OAuth2 endpoints
/// `{config.auth_url}/token` or `https://{config.tenant}.example.com/oauth`.
///
/// The same guard as host templates: a placeholder at the very start may
/// hold a URL, of which only the scheme, host, port and path are taken (no
/// user info, query or fragment: `https://a@evil.net` and
/// `https://evil.net?` cannot move the host or swallow the rest); a
/// placeholder anywhere else must expand to letters, digits, `-` and `.`.
pub fn expand_url_template(template: &str, config: &Value) -> Result<url::Url, TemplateError> {
    let fields = placeholders(template)?;
    let injection = |field: &str| TemplateError::Injection {
        template: template.into(),
        field: field.into(),
    };
    let mut expanded = String::new();
    let mut last = 0;
    for p in &fields {
        let (start, end, field) = (&p.start, &p.end, &p.field);
        let value = p.value(template, config)?;
        expanded.push_str(&template[last..*start]);
        if *start == 0 {
            let url = url::Url::parse(&value).map_err(|e| PatternError {
                pattern: value.clone(),
                reason: format!("config field `{field}` is not a URL: {e}"),
            })?;
            let plain = matches!(url.scheme(), "http" | "https")
                && url.username().is_empty()
                && url.password().is_none()
                && url.query().is_none()
                && url.fragment().is_none()
                && !value.contains(['?', '#', '@']);
            if !plain {
                return Err(injection(field));
            }
            expanded.push_str(value.trim_end_matches('/'));
        } else {
            let clean = !value.is_empty()
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
            if !clean {
                return Err(injection(field));
            }
            expanded.push_str(&value);
        }
        last = *end;
    }
    expanded.push_str(&template[last..]);
    url::Url::parse(&expanded).map_err(|e| {
        TemplateError::Pattern(PatternError {
            pattern: expanded.clone(),
            reason: e.to_string(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn url_templates_expand_with_the_injection_guard() {
        let config = json!({"auth_url": "https://auth.example.com/", "tenant": "acme",
            "at": "https://auth.example.com@evil.example.net", "query": "https://evil.example.net?x=",
            "frag": "https://evil.example.net#", "dotted": "evil.example.net/x", "js": "javascript:alert(1)"});
        let e = |t| expand_url_template(t, &config).map(|u| u.to_string());
        assert_eq!(
            e("{config.auth_url}/token").unwrap(),
            "https://auth.example.com/token"
        );
        assert_eq!(
            e("https://{config.tenant}.example.com/oauth").unwrap(),
            "https://acme.example.com/oauth"
        );
        for bad in [
            "{config.at}/token",
            "{config.query}/token",
            "{config.frag}/token",
            "{config.js}",
            "https://{config.dotted}/token",
            "https://{config.auth_url}/token",
        ] {
            assert!(
                matches!(e(bad), Err(TemplateError::Injection { .. })),
                "{bad}: {:?}",
                e(bad)
            );
        }
        assert!(matches!(
            e("{config.missing}/token"),
            Err(TemplateError::MissingField { .. })
        ));
    }

    #[test]
    fn templates_expand_from_config() {
        let config = json!({"base_url": "http://127.0.0.1:9000/api", "shop": "acme", "nested": {"host": "x.example.com"}});
        let p = |t| expand_host_template(t, &config).map(|p| p.to_string());
        assert_eq!(p("{config.base_url}").unwrap(), "http://127.0.0.1:9000");
        assert_eq!(
            p("https://{config.shop}.myshopify.com").unwrap(),
            "https://acme.myshopify.com"
        );
        assert_eq!(
            p("https://{config.nested.host}").unwrap(),
            "https://x.example.com"
        );
        assert_eq!(
            p("https://api.example.com").unwrap(),
            "https://api.example.com"
        );
        assert!(matches!(
            p("{config.missing}"),
            Err(TemplateError::MissingField { .. })
        ));
        assert!(matches!(
            p("https://{config.shop"),
            Err(TemplateError::Syntax(_))
        ));
        assert!(matches!(
            p("https://{secret.x}"),
            Err(TemplateError::Syntax(_))
        ));
    }

    #[test]
    fn a_spec_default_stands_in_for_a_missing_field() {
        let vendor = "{config.base_url|https://apigw.trendyol.com/integration}";
        let p = |config: Value| expand_host_template(vendor, &config).map(|p| p.to_string());
        assert_eq!(p(json!({})).unwrap(), "https://apigw.trendyol.com");
        assert_eq!(
            p(json!({"base_url": ""})).unwrap(),
            "https://apigw.trendyol.com",
            "an empty form input is no value"
        );
        assert_eq!(
            p(json!({"base_url": "http://127.0.0.1:9000/x"})).unwrap(),
            "http://127.0.0.1:9000"
        );
        // The config's value, not the default, passes the injection guard.
        assert!(matches!(
            p(json!({"base_url": "https://apigw.trendyol.com@evil.net"})),
            Err(TemplateError::Injection { .. })
        ));
        let region = "https://{config.region|eu}.api.example.com";
        assert_eq!(
            expand_host_template(region, &json!({}))
                .unwrap()
                .to_string(),
            "https://eu.api.example.com"
        );
        assert!(matches!(
            expand_host_template(region, &json!({"region": "evil.net/"})),
            Err(TemplateError::Injection { .. })
        ));
        assert_eq!(
            expand_url_template("{config.auth|https://login.example.com}/token", &json!({}))
                .unwrap()
                .to_string(),
            "https://login.example.com/token"
        );
        assert!(matches!(
            check_template_syntax("{config.x|}"),
            Err(TemplateError::Syntax(_))
        ));
    }

    #[test]
    fn config_values_cannot_change_the_host() {
        for shop in ["evil.com/", "x@evil.com", "evil.com:1", "evil.com#", "a b"] {
            let config = json!({ "shop": shop });
            let r = expand_host_template("https://{config.shop}.myshopify.com", &config);
            assert!(
                matches!(r, Err(TemplateError::Injection { .. })),
                "{shop}: {r:?}"
            );
        }
        // A whole base URL with user info names another host than it shows.
        for base in [
            "https://api.example.com@evil.net",
            "https://u:p@api.example.com",
        ] {
            let r = expand_host_template("{config.base_url}", &json!({ "base_url": base }));
            assert!(
                matches!(r, Err(TemplateError::Injection { .. })),
                "{base}: {r:?}"
            );
        }
    }
}
