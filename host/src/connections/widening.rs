//! Whether a change to a connection widens where its credentials may go:
//! new host or network grants, a secret bound (through `{config.x}`) to new
//! hosts, the OAuth2 token's hosts or its token endpoint moving. A caller
//! below admin scope must send the affected secrets again with such a
//! change, so a write key cannot redirect credentials it never saw.

use serde_json::Value;

use crate::model::grants::HostPattern;
use crate::model::spec::{SecretSpec, Spec, expand_host_template};
use crate::store::connections::{Grants, SecretInfo};

/// A way a change lets credentials go somewhere they could not go before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Widening {
    /// Granted hosts not covered by the old grants.
    Hosts(Vec<String>),
    /// Granted blocked networks not covered by the old ones.
    Networks(Vec<String>),
    /// A secret bound to hosts it was not bound to.
    Binding { secret: String, hosts: Vec<String> },
    /// The hosts the OAuth2 token goes to (the spec's, from the config).
    TokenHosts(Vec<String>),
    /// The OAuth2 token endpoint, where the client secret goes.
    TokenEndpoint(String),
}

impl Widening {
    /// The widening in words, for error answers and the audit log.
    pub fn describe(&self) -> String {
        match self {
            Self::Hosts(h) => format!("new host grants {}", h.join(", ")),
            Self::Networks(n) => format!("new network grants {}", n.join(", ")),
            Self::Binding { secret, hosts } => {
                format!("secret `{secret}` would be sent to {}", hosts.join(", "))
            }
            Self::TokenHosts(h) => format!("the OAuth2 token would be sent to {}", h.join(", ")),
            Self::TokenEndpoint(u) => format!("the OAuth2 client secret would be sent to {u}"),
        }
    }
}

/// How `new` widens where credentials may go compared with `old`: host and
/// network grants, each secret's bound hosts (which follow the config
/// through `{config.x}` templates), the OAuth2 token's hosts and the token
/// endpoint.
pub fn widening(spec: &Spec, old: (&Value, &Grants), new: (&Value, &Grants)) -> Vec<Widening> {
    let not_within = |new: &[HostPattern], old: &[HostPattern]| -> Vec<String> {
        new.iter()
            .filter(|n| !old.iter().any(|o| n.is_within(o)))
            .map(ToString::to_string)
            .collect()
    };
    let mut out = Vec::new();
    let hosts = not_within(&new.1.hosts, &old.1.hosts);
    if !hosts.is_empty() {
        out.push(Widening::Hosts(hosts));
    }
    let networks: Vec<String> = new
        .1
        .networks
        .iter()
        .filter(|n| !old.1.networks.iter().any(|o| o.contains(*n)))
        .map(ToString::to_string)
        .collect();
    if !networks.is_empty() {
        out.push(Widening::Networks(networks));
    }
    let bound = |s: &SecretSpec, config: &Value| -> Vec<HostPattern> {
        s.hosts
            .iter()
            .filter_map(|t| expand_host_template(t, config).ok())
            .collect()
    };
    for s in &spec.secrets {
        let hosts = not_within(&bound(s, new.0), &bound(s, old.0));
        if !hosts.is_empty() {
            out.push(Widening::Binding {
                secret: s.name.clone(),
                hosts,
            });
        }
    }
    if spec.oauth2.is_some() {
        let token_hosts = not_within(
            &spec.host_patterns(new.0).unwrap_or_default(),
            &spec.host_patterns(old.0).unwrap_or_default(),
        );
        if !token_hosts.is_empty() {
            out.push(Widening::TokenHosts(token_hosts));
        }
    }
    if let Some(o) = &spec.oauth2 {
        let endpoint = |config: &Value| crate::oauth::expand_endpoint(&o.token_url, config).ok();
        if endpoint(new.0) != endpoint(old.0) {
            out.push(Widening::TokenEndpoint(
                endpoint(new.0).unwrap_or_else(|| "an unknown endpoint".into()),
            ));
        }
    }
    out
}

/// The stored credentials a widening exposes that the request does not
/// supply again: secrets by name, and the OAuth2 token.
pub fn exposed_secrets(
    widened: &[Widening],
    stored: &[SecretInfo],
    resupplied: &[&str],
    has_token: bool,
) -> Vec<String> {
    if widened.is_empty() {
        return Vec::new();
    }
    let grants_widened = widened
        .iter()
        .any(|w| matches!(w, Widening::Hosts(_) | Widening::Networks(_)));
    let held = |name: &str| stored.iter().any(|s| s.name == name) && !resupplied.contains(&name);
    let mut out: Vec<String> = Vec::new();
    for s in stored {
        let name = s.name.as_str();
        if !held(name) || name == "webhook_secret" || name == "webhook_verify_token" {
            continue;
        }
        let affected = grants_widened
            || widened.iter().any(|w| match w {
                Widening::Binding { secret, .. } => secret == name,
                Widening::TokenEndpoint(_) => name == "oauth_client_secret",
                _ => false,
            });
        if affected {
            out.push(name.to_string());
        }
    }
    // Refreshing sends the refresh token to the token endpoint.
    let token_widened = grants_widened
        || widened
            .iter()
            .any(|w| matches!(w, Widening::TokenHosts(_) | Widening::TokenEndpoint(_)));
    if has_token && token_widened {
        out.push("the OAuth2 token (an admin key is needed)".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::spec::{OAuth2Spec, Role, SecretSpec};

    fn spec() -> Spec {
        Spec {
            name: "t".into(),
            version: "1.0.0".into(),
            description: String::new(),
            roles: vec![Role::Source],
            streams: vec![],
            config_schema: json!({}),
            secrets: vec![SecretSpec {
                name: "signing".into(),
                description: String::new(),
                hosts: vec!["{config.auth_url}".into()],
                reveal: false,
                required: false,
            }],
            hosts: vec!["{config.base_url}".into()],
            oauth2: Some(OAuth2Spec {
                authorize_url: "{config.auth_url}/authorize".into(),
                token_url: "{config.auth_url}/token".into(),
                scopes: vec![],
                pkce: true,
                client_auth: Default::default(),
                token_lifetime_secs: None,
                grant: Default::default(),
                authorize_params: vec![],
                info_fields: vec![],
                assertion_key: None,
            }),
            webhook: None,
            login: None,
            signing: vec![],
            rate_budgets: vec![],
            catalog: Default::default(),
            contract: "0.1.0".into(),
        }
    }

    fn grants(hosts: &[&str], networks: &[&str]) -> Grants {
        Grants {
            hosts: hosts
                .iter()
                .map(|h| HostPattern::parse(h).unwrap())
                .collect(),
            networks: networks.iter().map(|n| n.parse().unwrap()).collect(),
            reveal: Vec::new(),
            tls_ca: None,
            quotas: Default::default(),
        }
    }

    #[test]
    fn a_config_change_that_rebinds_a_secret_is_a_widening() {
        let spec = spec();
        let old =
            json!({"base_url": "https://api.example.com", "auth_url": "https://auth.example.com"});
        let g = grants(&["https://api.example.com"], &[]);
        // Only the secret's host moves; grants and the API host stay.
        let new =
            json!({"base_url": "https://api.example.com", "auth_url": "https://evil.example.net"});
        let w = widening(&spec, (&old, &g), (&new, &g));
        assert!(w.contains(&Widening::Binding {
            secret: "signing".into(),
            hosts: vec!["https://evil.example.net".into()],
        }));
        assert!(w.iter().any(|x| matches!(x, Widening::TokenEndpoint(_))));
        let stored = |n: &str| SecretInfo {
            name: n.into(),
            updated_at: 0,
        };
        let exposed = exposed_secrets(
            &w,
            &[
                stored("signing"),
                stored("oauth_client_secret"),
                stored("webhook_secret"),
            ],
            &[],
            false,
        );
        assert_eq!(exposed, ["signing", "oauth_client_secret"]);
        // Refreshing sends the refresh token to the token endpoint.
        assert_eq!(exposed_secrets(&w, &[], &[], true).len(), 1);
        // Sent again, nothing is exposed.
        assert!(
            exposed_secrets(
                &w,
                &[stored("signing"), stored("oauth_client_secret")],
                &["signing", "oauth_client_secret"],
                false
            )
            .is_empty()
        );
        // The API host moving takes the OAuth2 token with it.
        let api_moved =
            json!({"base_url": "https://evil.example.net", "auth_url": "https://auth.example.com"});
        let w = widening(&spec, (&old, &g), (&api_moved, &g));
        assert!(w.iter().any(|x| matches!(x, Widening::TokenHosts(_))));
        assert_eq!(exposed_secrets(&w, &[], &[], true).len(), 1);
        // Narrowing is not widening.
        let none = grants(&[], &[]);
        assert!(widening(&spec, (&old, &g), (&old, &none)).is_empty());
        let wide = grants(&["https://api.example.com"], &["10.0.0.0/8"]);
        let narrow = grants(&["https://api.example.com"], &["10.1.0.0/16"]);
        assert!(widening(&spec, (&old, &wide), (&old, &narrow)).is_empty());
        assert!(!widening(&spec, (&old, &narrow), (&old, &wide)).is_empty());
    }
}
