//! Host-side request signing: the keys a spec declares in `signing`, bound
//! to hosts like secrets, sign a request after substitution when the
//! connector names one in `request.sign` — AWS Signature Version 4
//! ([`super::sigv4`]), an HMAC over a template, or a JWT (RS256, ES256)
//! sent as a bearer token. The key material stays in the host: this is
//! what replaces `secrets.reveal` in contract 0.2.
//!
//! A key signs only for a request to one of its hosts; everything it adds
//! is a credential, so a redirect to another origin drops it and the
//! answers of its hosts are redacted for it.

use std::collections::BTreeMap;
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use url::Url;

use super::sigv4;
use crate::model::grants::HostPattern;
use crate::model::secret::SecretValue;
use crate::model::spec::{
    JwtAlgorithm, SignatureEncoding, SigningMethod, Spec, TemplateError, expand_host_template,
    fill_config_fields,
};

/// A JWT is minted again this long before it expires.
const JWT_RENEW_MARGIN_SECS: i64 = 60;

/// Why a request could not be signed. Messages never hold key material.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// No key of the spec has this name.
    #[error("signing key `{0}` is not declared in the connector's spec")]
    Undeclared(String),
    /// The request goes somewhere the key is not bound to.
    #[error("signing key `{name}` may not sign a request to {origin} (it is bound to: {allowed})")]
    WrongHost {
        /// Key name.
        name: String,
        /// The request's origin.
        origin: String,
        /// Where it may sign for.
        allowed: String,
    },
    /// A secret the key signs with is not set on the connection.
    #[error("signing key `{key}` needs secret `{secret}`, which this connection does not set")]
    MissingSecret {
        /// Key name.
        key: String,
        /// Secret name.
        secret: String,
    },
    /// The key or its settings cannot sign.
    #[error("signing key `{key}`: {reason}")]
    Unusable {
        /// Key name.
        key: String,
        /// Why.
        reason: String,
    },
}

/// The part of a request a key signs, after substitution.
pub struct Unsigned<'a> {
    /// Method.
    pub method: &'a Method,
    /// URL; an HMAC may add its signature to the query.
    pub url: &'a mut Url,
    /// Headers; the signature goes in here.
    pub headers: &'a mut HeaderMap,
    /// Body bytes (empty when none).
    pub body: &'a [u8],
}

/// What signing added.
#[derive(Debug, Default)]
pub struct Signed {
    /// Headers that now carry credentials.
    pub headers: Vec<HeaderName>,
    /// Whether the query now carries a signature.
    pub in_query: bool,
}

struct Key {
    method: SigningMethod,
    /// The region with `{config.x}` expanded (AWS).
    region: String,
    hosts: Vec<HostPattern>,
    secrets: BTreeMap<String, SecretValue>,
    /// The JWT in use and when it expires (Unix seconds).
    jwt: Mutex<Option<(SecretValue, i64)>>,
}

/// The signing keys of one session.
#[derive(Default)]
pub struct Signers {
    keys: BTreeMap<String, Key>,
}

impl std::fmt::Debug for Signers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signers")
            .field("names", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Signers {
    /// The spec's keys with the connection's secrets and hosts. A key whose
    /// host templates need config the connection lacks can sign nowhere.
    pub fn new(
        spec: &Spec,
        config: &Value,
        values: &BTreeMap<String, SecretValue>,
    ) -> Result<Self, (String, TemplateError)> {
        let mut keys = BTreeMap::new();
        for s in &spec.signing {
            let hosts = s
                .hosts
                .iter()
                .map(|t| expand_host_template(t, config))
                .collect::<Result<Vec<_>, _>>()
                .unwrap_or_default();
            let secrets = s
                .method
                .secrets()
                .into_iter()
                .filter_map(|n| values.get(n).map(|v| (n.to_string(), v.clone())))
                .collect();
            let region = match &s.method {
                SigningMethod::AwsSigv4 { region, .. } => {
                    expand_region(region, config).map_err(|e| (s.name.clone(), e))?
                }
                _ => String::new(),
            };
            let mut method = s.method.clone();
            if let SigningMethod::Jwt { claims, .. } = &mut method {
                // Config a connection lacks leaves `{config.x}` as written:
                // minting then fails with the claims not JSON, when used.
                if let Ok(filled) = fill_config(claims, config) {
                    *claims = filled;
                }
            }
            keys.insert(
                s.name.clone(),
                Key {
                    method,
                    region,
                    hosts,
                    secrets,
                    jwt: Mutex::new(None),
                },
            );
        }
        Ok(Self { keys })
    }

    /// Whether any key exists (a session without keys skips all of this).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Sign `req` with the key `name`, at `now` (Unix seconds).
    pub fn sign(&self, name: &str, req: Unsigned<'_>, now: i64) -> Result<Signed, SignError> {
        let key = self
            .keys
            .get(name)
            .ok_or_else(|| SignError::Undeclared(name.into()))?;
        if !key.hosts.iter().any(|h| h.matches(req.url)) {
            return Err(SignError::WrongHost {
                name: name.into(),
                origin: req.url.origin().ascii_serialization(),
                allowed: if key.hosts.is_empty() {
                    "no host".into()
                } else {
                    key.hosts
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            });
        }
        let secret = |n: &str| {
            key.secrets
                .get(n)
                .map(SecretValue::expose)
                .ok_or_else(|| SignError::MissingSecret {
                    key: name.into(),
                    secret: n.into(),
                })
        };
        let unusable = |reason: String| SignError::Unusable {
            key: name.into(),
            reason,
        };
        match &key.method {
            SigningMethod::AwsSigv4 {
                key_id_secret,
                secret_key_secret,
                session_token_secret,
                service,
                ..
            } => {
                let creds = sigv4::Credentials {
                    key_id: secret(key_id_secret)?,
                    secret_key: secret(secret_key_secret)?,
                    // Long-term keys have no session token: the secret
                    // is used when the connection sets it.
                    session_token: session_token_secret
                        .as_deref()
                        .and_then(|n| key.secrets.get(n))
                        .map(SecretValue::expose),
                    region: &key.region,
                    service,
                };
                let headers = sigv4::sign(&creds, req.method, req.url, req.headers, req.body, now)
                    .map_err(&unusable)?;
                Ok(Signed {
                    headers,
                    in_query: false,
                })
            }
            SigningMethod::Hmac {
                key_secret,
                hash,
                template,
                target,
                query,
                encoding,
                prefix,
                timestamp_header,
            } => {
                let message = hmac_message(template, &req, now);
                let mac = crate::model::mac::sign(*hash, secret(key_secret)?.as_bytes(), &message);
                let value = format!(
                    "{prefix}{}",
                    match encoding {
                        SignatureEncoding::Hex => hex::encode(mac),
                        SignatureEncoding::Base64 => STANDARD.encode(mac),
                    }
                );
                let mut signed = Signed::default();
                if let Some(h) = timestamp_header {
                    let h = header_name(h).map_err(unusable)?;
                    req.headers.insert(h, HeaderValue::from(now));
                }
                if *query {
                    req.url.query_pairs_mut().append_pair(target, &value);
                    signed.in_query = true;
                } else {
                    let h = header_name(target).map_err(unusable)?;
                    let v = HeaderValue::from_str(&value)
                        .map_err(|_| unusable("the prefix is not a valid header value".into()))?;
                    req.headers.insert(h.clone(), v);
                    signed.headers.push(h);
                }
                Ok(signed)
            }
            SigningMethod::Jwt {
                key_secret,
                algorithm,
                claims,
                lifetime_secs,
                key_id,
            } => {
                let mut held = key.jwt.lock().expect("jwt lock");
                let token = match &*held {
                    Some((token, exp)) if now < exp - JWT_RENEW_MARGIN_SECS => token.clone(),
                    _ => {
                        let exp = now + i64::from(*lifetime_secs);
                        let jwt = mint_jwt(
                            secret(key_secret)?,
                            *algorithm,
                            claims,
                            key_id.as_deref(),
                            now,
                            exp,
                        )
                        .map_err(unusable)?;
                        let token = SecretValue::new(jwt);
                        *held = Some((token.clone(), exp));
                        token
                    }
                };
                let v = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                    .map_err(|_| unusable("the token is not a valid header value".into()))?;
                req.headers.insert(reqwest::header::AUTHORIZATION, v);
                Ok(Signed {
                    headers: vec![reqwest::header::AUTHORIZATION],
                    in_query: false,
                })
            }
        }
    }

    /// What the keys bound to `url` may have sent there, for redacting its
    /// answers: their secrets and the JWT in use.
    pub fn values_for(&self, url: &Url) -> Vec<SecretValue> {
        let mut out = Vec::new();
        for key in self.keys.values() {
            if key.hosts.iter().any(|h| h.matches(url)) {
                out.extend(key.secrets.values().cloned());
                if let Some((jwt, _)) = &*key.jwt.lock().expect("jwt lock") {
                    out.push(jwt.clone());
                }
            }
        }
        out
    }
}

/// `us-east-1`, or `{config.region}` looked up; letters, digits and `-`.
fn expand_region(template: &str, config: &Value) -> Result<String, TemplateError> {
    let value = match template
        .strip_prefix("{config.")
        .and_then(|f| f.strip_suffix('}'))
    {
        Some(field) => config
            .pointer(&format!("/{}", field.replace('.', "/")))
            .and_then(Value::as_str)
            .ok_or_else(|| TemplateError::MissingField {
                template: template.into(),
                field: field.into(),
            })?
            .to_string(),
        None => template.to_string(),
    };
    if value.is_empty()
        || !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(TemplateError::Injection {
            template: template.into(),
            field: "region".into(),
        });
    }
    Ok(value)
}

/// `{config.x}` in a JSON template (JWT claims) replaced by the config's
/// string, escaped as JSON string content (the template has the quotes).
pub fn fill_config(template: &str, config: &Value) -> Result<String, String> {
    fill_config_fields(template, config, |value| {
        let quoted = serde_json::to_string(value).expect("a string serializes");
        Ok(quoted[1..quoted.len() - 1].to_string())
    })
}

fn header_name(name: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("`{name}` is not a header name"))
}

/// The template with `{method}`, `{path}`, `{query}`, `{body}`,
/// `{timestamp}` and `{header:NAME}` replaced, as bytes (a body need not be
/// text).
fn hmac_message(template: &str, req: &Unsigned<'_>, now: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(template.len() + req.body.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.extend_from_slice(&rest.as_bytes()[..open]);
        let after = &rest[open..];
        let Some(close) = after.find('}') else {
            break;
        };
        let name = &after[1..close];
        match name {
            "method" => out.extend_from_slice(req.method.as_str().as_bytes()),
            "path" => out.extend_from_slice(req.url.path().as_bytes()),
            "query" => out.extend_from_slice(req.url.query().unwrap_or("").as_bytes()),
            "body" => out.extend_from_slice(req.body),
            "timestamp" => out.extend_from_slice(now.to_string().as_bytes()),
            _ => match name.strip_prefix("header:") {
                Some(h) => {
                    if let Some(v) = req.headers.get(h) {
                        out.extend_from_slice(v.as_bytes());
                    }
                }
                // Not a placeholder: kept as written.
                None => out.extend_from_slice(&after.as_bytes()[..=close]),
            },
        }
        rest = &after[close + 1..];
    }
    out.extend_from_slice(rest.as_bytes());
    out
}

/// The DER inside a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
fn pkcs8_der(pem: &str) -> Result<Vec<u8>, String> {
    // Keys pasted from JSON (a Google service account) carry `\n` escapes.
    let pem = pem.replace("\\n", "\n");
    if pem.contains("BEGIN RSA PRIVATE KEY") || pem.contains("BEGIN EC PRIVATE KEY") {
        return Err(
            "the key is PKCS#1/SEC1; convert it to PKCS#8 (`openssl pkcs8 -topk8 -nocrypt`)".into(),
        );
    }
    if !pem.contains("BEGIN PRIVATE KEY") {
        return Err("the key is not a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`)".into());
    }
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .flat_map(|l| l.trim().chars())
        .collect();
    STANDARD
        .decode(body)
        .map_err(|_| "the key's PEM body is not base64".into())
}

/// A compact JWT: header and claims (`{now}`, `{exp}` replaced), signed.
pub fn mint_jwt(
    pem: &str,
    algorithm: JwtAlgorithm,
    claims: &str,
    key_id: Option<&str>,
    now: i64,
    exp: i64,
) -> Result<String, String> {
    let claims = claims
        .replace("{now}", &now.to_string())
        .replace("{exp}", &exp.to_string());
    let claims: Value =
        serde_json::from_str(&claims).map_err(|e| format!("the claims are not JSON: {e}"))?;
    if !claims.is_object() {
        return Err("the claims are not a JSON object".into());
    }
    let mut header = serde_json::json!({
        "alg": match algorithm { JwtAlgorithm::Rs256 => "RS256", JwtAlgorithm::Es256 => "ES256" },
        "typ": "JWT",
    });
    if let Some(kid) = key_id {
        header["kid"] = kid.into();
    }
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let der = pkcs8_der(pem)?;
    let rng = ring::rand::SystemRandom::new();
    let signature = match algorithm {
        JwtAlgorithm::Rs256 => {
            let pair = ring::signature::RsaKeyPair::from_pkcs8(&der)
                .map_err(|e| format!("not an RSA PKCS#8 key: {e}"))?;
            let mut sig = vec![0; pair.public().modulus_len()];
            pair.sign(
                &ring::signature::RSA_PKCS1_SHA256,
                &rng,
                input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| "RSA signing failed".to_string())?;
            sig
        }
        JwtAlgorithm::Es256 => {
            let pair = ring::signature::EcdsaKeyPair::from_pkcs8(
                &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &der,
                &rng,
            )
            .map_err(|e| format!("not a P-256 PKCS#8 key: {e}"))?;
            pair.sign(&rng, input.as_bytes())
                .map_err(|_| "ECDSA signing failed".to_string())?
                .as_ref()
                .to_vec()
        }
    };
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

#[cfg(test)]
mod tests;
