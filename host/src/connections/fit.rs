//! Whether a connection fits its connector: the config against the
//! connector's JSON Schema, the secrets against the ones it declares (the
//! host's own secrets aside), and the granted hosts inside the hosts it
//! declares for that config.

use serde_json::Value;

use crate::model::spec::{Spec, expand_url_template};
use crate::store::connections::{Grants, SecretInfo};

/// Why a connection does not fit its connector.
#[derive(Debug)]
pub struct Misfit {
    /// One sentence for the whole.
    pub summary: String,
    /// Each problem with its field.
    pub fields: Vec<FieldProblem>,
}

/// One problem with one field of a connection.
#[derive(Debug)]
pub struct FieldProblem {
    /// A JSON pointer into the connection (`/config/base_url`, `/secrets/token`).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// Check config, secrets and grants against the connector's spec; every
/// problem found is reported, each with its field.
pub fn fit(
    spec: &Spec,
    config: &Value,
    secrets: &[(&str, bool)],
    grants: &Grants,
    existing: &[SecretInfo],
) -> Result<(), Misfit> {
    let mut errors = Vec::new();
    match crate::model::record::schema_validator(&spec.config_schema) {
        Ok(validator) => {
            for e in validator.iter_errors(config) {
                errors.push(FieldProblem {
                    field: format!("/config{}", e.instance_path),
                    message: e.to_string(),
                });
            }
        }
        Err(e) => {
            return Err(Misfit {
                summary: format!(
                    "the connector's config schema is not a valid JSON Schema ({e}); fix the connector"
                ),
                fields: Vec::new(),
            });
        }
    }
    for (name, set) in secrets {
        let host_only = match *name {
            "webhook_secret" => spec.webhook.is_some(),
            "webhook_verify_token" => spec
                .webhook
                .as_ref()
                .is_some_and(|w| w.handshake == Some(crate::model::spec::Handshake::HubChallenge)),
            "oauth_client_id" | "oauth_client_secret" => spec.oauth2.is_some(),
            _ => false,
        };
        if host_only {
            let _ = set;
            continue;
        }
        match spec.secret(name) {
            None => errors.push(FieldProblem {
                field: format!("/secrets/{name}"),
                message: format!(
                    "the connector does not declare a secret `{name}` (it declares: {})",
                    names(spec)
                ),
            }),
            Some(s) if !set && s.required => errors.push(FieldProblem {
                field: format!("/secrets/{name}"),
                message: format!("`{name}` is required by the connector and cannot be removed"),
            }),
            Some(_) => {}
        }
    }
    for s in spec.secrets.iter().filter(|s| s.required) {
        let given = secrets.iter().any(|(n, set)| *n == s.name && *set);
        let kept =
            existing.iter().any(|e| e.name == s.name) && !secrets.iter().any(|(n, _)| *n == s.name);
        if !given && !kept {
            errors.push(FieldProblem {
                field: format!("/secrets/{}", s.name),
                message: format!("`{}` is required: {}", s.name, s.description),
            });
        }
    }
    if errors.is_empty() {
        match spec.host_patterns(config) {
            Ok(declared) => {
                for (i, h) in grants.hosts.iter().enumerate() {
                    if !declared.iter().any(|d| h.is_within(d)) {
                        errors.push(FieldProblem {
                            field: format!("/grants/hosts/{i}"),
                            message: format!(
                                "{h} is not among the hosts the connector declares for this config ({})",
                                declared.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                            ),
                        });
                    }
                }
            }
            Err(e) => errors.push(FieldProblem {
                field: "/config".into(),
                message: e.to_string(),
            }),
        }
        // So do the hosts each secret is bound to.
        for secret in &spec.secrets {
            for template in &secret.hosts {
                if let Err(e) = crate::model::spec::expand_host_template(template, config) {
                    errors.push(FieldProblem {
                        field: "/config".into(),
                        message: format!("the hosts of secret `{}`: {e}", secret.name),
                    });
                }
            }
        }
        // The OAuth2 endpoints come from the config too: one that cannot
        // expand (or would smuggle in another host) is refused now, not at
        // the first authorization.
        if let Some(o) = &spec.oauth2 {
            for (what, template) in [("authorization", &o.authorize_url), ("token", &o.token_url)] {
                // Machine grants have no authorization endpoint.
                if template.is_empty() && what == "authorization" {
                    continue;
                }
                if let Err(e) = expand_url_template(template, config) {
                    errors.push(FieldProblem {
                        field: "/config".into(),
                        message: format!("the OAuth2 {what} endpoint: {e}"),
                    });
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Misfit {
            summary: format!(
                "the connection does not fit connector {}@{}",
                spec.name, spec.version
            ),
            fields: errors,
        })
    }
}

fn names(spec: &Spec) -> String {
    if spec.secrets.is_empty() {
        "none".into()
    } else {
        spec.secrets
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}
