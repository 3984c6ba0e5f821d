//! ID tokens (OpenID Connect Core §3.1.3.7): a JWS in compact form whose
//! signature must verify under a key of the issuer's JWKS, and whose
//! claims must name this issuer, this client, a subject and a time that
//! has not passed.
//!
//! Only RS256 and ES256 are accepted, each only with a key of its own type,
//! so `alg: none`, HMAC with the public key as secret, and a key of one
//! type offered for the other (the classic algorithm confusions) fail
//! before any signature is computed.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde::Deserialize;
use serde_json::Value;

/// How far clocks may disagree (seconds) when `exp` and `nbf` are judged.
pub const LEEWAY_SECS: i64 = 60;

/// Why a token is refused; the text says what to fix, never the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("not a JWT (three base64url parts separated by dots)")]
    Malformed,
    #[error("the token is signed with `{0}`; only RS256 and ES256 are accepted")]
    Algorithm(String),
    #[error("the identity provider has no key {0} (of the token's algorithm)")]
    UnknownKey(String),
    #[error("the token's signature does not verify under the identity provider's key")]
    Signature,
    #[error("the token was issued by `{0}`, not by the configured issuer")]
    Issuer(String),
    #[error("the token is for another client (audience {0}), not this Wharf")]
    Audience(String),
    #[error("the token expired {0} s ago")]
    Expired(i64),
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token names no subject (`sub`)")]
    NoSubject,
    #[error("the token's nonce is not the one this sign-in sent")]
    Nonce,
}

/// A public key from a JWKS (RFC 7517), as much of it as checking needs.
#[derive(Debug, Clone)]
pub struct PublicKey {
    /// `kid`, if the provider names its keys.
    pub kid: Option<String>,
    kind: KeyKind,
}

#[derive(Debug, Clone)]
enum KeyKind {
    /// RSA modulus and exponent, big-endian.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// A P-256 point, uncompressed (0x04 ‖ x ‖ y).
    P256(Vec<u8>),
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

/// The signing keys of a JWKS document; keys of other types or for
/// encryption are left out (a provider may publish them).
pub fn parse_jwks(doc: &Value) -> Vec<PublicKey> {
    let Some(keys) = doc.get("keys").and_then(Value::as_array) else {
        return Vec::new();
    };
    keys.iter()
        .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
        .filter(|k| k.usage.as_deref().is_none_or(|u| u == "sig"))
        .filter_map(|k| {
            let b = |v: &Option<String>| v.as_deref().and_then(|s| URL_SAFE_NO_PAD.decode(s).ok());
            let kind = match (k.kty.as_str(), k.crv.as_deref()) {
                ("RSA", _) => KeyKind::Rsa {
                    n: b(&k.n)?,
                    e: b(&k.e)?,
                },
                ("EC", Some("P-256")) => {
                    let (x, y) = (b(&k.x)?, b(&k.y)?);
                    if x.len() != 32 || y.len() != 32 {
                        return None;
                    }
                    KeyKind::P256([&[4u8][..], &x, &y].concat())
                }
                _ => return None,
            };
            Some(PublicKey { kid: k.kid, kind })
        })
        .collect()
}

/// A token taken apart: its header's `alg` and `kid`, and its claims.
#[derive(Debug)]
pub struct Parsed<'a> {
    alg: String,
    /// The key the token names, if it names one.
    pub kid: Option<String>,
    signed: &'a str,
    signature: Vec<u8>,
    /// The payload.
    pub claims: Value,
}

/// Split and decode a compact JWS; nothing is trusted yet.
pub fn parse(token: &str) -> Result<Parsed<'_>, TokenError> {
    let (signed, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let (header, payload) = signed.split_once('.').ok_or(TokenError::Malformed)?;
    let decode = |part: &str| -> Result<Value, TokenError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| TokenError::Malformed)?;
        serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
    };
    let header = decode(header)?;
    let claims = decode(payload)?;
    if !claims.is_object() {
        return Err(TokenError::Malformed);
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| TokenError::Malformed)?;
    Ok(Parsed {
        alg: header["alg"].as_str().unwrap_or("").to_string(),
        kid: header["kid"].as_str().map(str::to_string),
        signed,
        signature,
        claims,
    })
}

impl Parsed<'_> {
    /// Verify the signature under one of `keys` (the one the token names,
    /// or, when it names none, any of its algorithm's type).
    pub fn verify(&self, keys: &[PublicKey]) -> Result<(), TokenError> {
        let rsa = match self.alg.as_str() {
            "RS256" => true,
            "ES256" => false,
            other => return Err(TokenError::Algorithm(other.to_string())),
        };
        let candidates: Vec<&PublicKey> = keys
            .iter()
            .filter(|k| matches!(k.kind, KeyKind::Rsa { .. }) == rsa)
            .filter(|k| self.kid.is_none() || k.kid == self.kid)
            .collect();
        if candidates.is_empty() {
            return Err(TokenError::UnknownKey(
                self.kid.clone().unwrap_or_else(|| "(unnamed)".into()),
            ));
        }
        let message = self.signed.as_bytes();
        let ok = candidates.iter().any(|k| match &k.kind {
            KeyKind::Rsa { n, e } => RsaPublicKeyComponents { n, e }
                .verify(
                    &signature::RSA_PKCS1_2048_8192_SHA256,
                    message,
                    &self.signature,
                )
                .is_ok(),
            KeyKind::P256(point) => {
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(message, &self.signature)
                    .is_ok()
            }
        });
        if ok {
            Ok(())
        } else {
            Err(TokenError::Signature)
        }
    }
}

/// What the claims must say.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// `iss`, exactly.
    pub issuer: &'a str,
    /// This client's id: in `aud`, and `azp` when there are several.
    pub client_id: &'a str,
    /// The sign-in's nonce (none for bearer tokens sent to the API).
    pub nonce: Option<&'a str>,
    /// Now, Unix seconds.
    pub now: i64,
}

/// Check issuer, audience, time and nonce (OpenID Connect Core §3.1.3.7).
pub fn check_claims(claims: &Value, expected: &Expected<'_>) -> Result<(), TokenError> {
    let iss = claims["iss"].as_str().unwrap_or("");
    if iss.trim_end_matches('/') != expected.issuer.trim_end_matches('/') {
        return Err(TokenError::Issuer(iss.to_string()));
    }
    let audiences: Vec<&str> = match &claims["aud"] {
        Value::String(a) => vec![a.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    // Core §3.1.3.7: with several audiences `azp` must name this client;
    // when present it must anyway.
    let azp_ok = match claims["azp"].as_str() {
        Some(azp) => azp == expected.client_id,
        None => audiences.len() < 2,
    };
    if !audiences.contains(&expected.client_id) || !azp_ok {
        return Err(TokenError::Audience(audiences.join(", ")));
    }
    let Some(exp) = claims["exp"].as_i64() else {
        return Err(TokenError::Expired(0));
    };
    if expected.now >= exp + LEEWAY_SECS {
        return Err(TokenError::Expired(expected.now - exp));
    }
    if claims["nbf"]
        .as_i64()
        .is_some_and(|nbf| expected.now + LEEWAY_SECS < nbf)
    {
        return Err(TokenError::NotYetValid);
    }
    if claims["sub"].as_str().is_none_or(str::is_empty) {
        return Err(TokenError::NoSubject);
    }
    if let Some(nonce) = expected.nonce
        && claims["nonce"].as_str() != Some(nonce)
    {
        return Err(TokenError::Nonce);
    }
    Ok(())
}

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;
