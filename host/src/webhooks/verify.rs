//! Verifying incoming webhook signatures: Standard Webhooks, GitHub,
//! Shopify and Stripe, a generic HMAC described by the spec (Slack's
//! `v0:{timestamp}:{body}`, Xero's base64 body HMAC, Trendyol's…), and a
//! static token (in a header, or in the JSON body: Microsoft Graph's
//! `clientState`). Every comparison is constant-time, and timestamped schemes
//! refuse deliveries outside their tolerance.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::model::spec::{HmacScheme, SignatureEncoding, WebhookScheme};

type HmacSha256 = Hmac<Sha256>;

/// How far a delivery's timestamp may be from now.
pub const TOLERANCE_SECS: i64 = 300;

/// Why a delivery was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A header the scheme needs is absent or malformed.
    #[error("missing or malformed header `{0}`")]
    Header(&'static str),
    /// A header the spec names is absent or malformed.
    #[error("missing or malformed header `{0}`")]
    NamedHeader(String),
    /// The signature does not match.
    #[error("the signature does not match")]
    Signature,
    /// The timestamp is outside the tolerance.
    #[error("the timestamp is more than {TOLERANCE_SECS} s away from now")]
    Stale,
    /// The connection's signing secret is unusable.
    #[error("the connection's webhook secret is not usable for this scheme")]
    Secret,
}

/// A verified delivery: its id (for replay protection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The delivery id from the headers, or a hash of the signature when
    /// the scheme has none.
    pub delivery_id: String,
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A static token's "header" that starts with this names a place in the
/// JSON body instead (`json:/value/*/clientState`: Microsoft Graph puts the
/// subscription's `clientState` in every notification of the body). No
/// header name holds a `:` or a `/`, so the two cannot be confused.
pub const BODY_TOKEN: &str = "json:";

/// Whether every value at `pointer` in the JSON `body` (`*` standing for
/// each element of an array) is the secret, and there is at least one.
fn body_tokens_match(body: &[u8], pointer: &str, secret: &str) -> bool {
    let Ok(root) = serde_json::from_slice::<serde_json::Value>(body) else {
        return false;
    };
    let mut found = vec![&root];
    // Every notification must carry it: a place one of them lacks fails.
    let mut missing = false;
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        let mut next = Vec::new();
        for v in found {
            match (segment.as_str(), v) {
                ("*", serde_json::Value::Array(items)) => next.extend(items.iter()),
                (key, serde_json::Value::Object(map)) => match map.get(key) {
                    Some(child) => next.push(child),
                    None => missing = true,
                },
                (index, serde_json::Value::Array(items)) => {
                    match index.parse::<usize>().ok().and_then(|i| items.get(i)) {
                        Some(child) => next.push(child),
                        None => missing = true,
                    }
                }
                _ => missing = true,
            }
        }
        found = next;
    }
    let mut all = !missing && !found.is_empty();
    for v in found {
        let equal: bool = match v.as_str() {
            Some(token) => {
                subtle::ConstantTimeEq::ct_eq(token.as_bytes(), secret.as_bytes()).into()
            }
            None => false,
        };
        all &= equal;
    }
    all
}

fn mac(key: &[u8]) -> Result<HmacSha256, VerifyError> {
    HmacSha256::new_from_slice(key).map_err(|_| VerifyError::Secret)
}

fn fresh(ts: i64, now: i64) -> Result<(), VerifyError> {
    // `abs_diff`: a sender's timestamp may be anything, i64::MIN included,
    // and `now - ts` would overflow (found by `fuzz.rs`).
    if now.abs_diff(ts) > TOLERANCE_SECS.unsigned_abs() {
        Err(VerifyError::Stale)
    } else {
        Ok(())
    }
}

/// Verify a delivery under `scheme` with `secret`, at Unix time `now`.
pub fn verify(
    scheme: &WebhookScheme,
    secret: &str,
    headers: &[(String, String)],
    body: &[u8],
    now: i64,
) -> Result<Verified, VerifyError> {
    match scheme {
        WebhookScheme::StandardWebhooks => {
            let id = header(headers, "webhook-id").ok_or(VerifyError::Header("webhook-id"))?;
            let ts_text = header(headers, "webhook-timestamp")
                .ok_or(VerifyError::Header("webhook-timestamp"))?;
            let ts: i64 = ts_text
                .parse()
                .map_err(|_| VerifyError::Header("webhook-timestamp"))?;
            let sigs = header(headers, "webhook-signature")
                .ok_or(VerifyError::Header("webhook-signature"))?;
            let key = B64
                .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
                .map_err(|_| VerifyError::Secret)?;
            let mut signed = Vec::with_capacity(id.len() + ts_text.len() + body.len() + 2);
            signed.extend_from_slice(id.as_bytes());
            signed.push(b'.');
            signed.extend_from_slice(ts_text.as_bytes());
            signed.push(b'.');
            signed.extend_from_slice(body);
            // Several space-separated `v1,<base64>` entries may be sent
            // (during the sender's key rotation); any one may match.
            let matched = sigs.split_whitespace().any(|entry| {
                let Some(sig) = entry.strip_prefix("v1,") else {
                    return false;
                };
                let Ok(sig) = B64.decode(sig) else {
                    return false;
                };
                let Ok(mut m) = mac(&key) else { return false };
                m.update(&signed);
                m.verify_slice(&sig).is_ok()
            });
            if !matched {
                return Err(VerifyError::Signature);
            }
            fresh(ts, now)?;
            Ok(Verified {
                delivery_id: id.to_string(),
            })
        }
        WebhookScheme::Github => {
            let sig = header(headers, "x-hub-signature-256")
                .ok_or(VerifyError::Header("x-hub-signature-256"))?;
            let hex_sig = sig
                .strip_prefix("sha256=")
                .ok_or(VerifyError::Header("x-hub-signature-256"))?;
            let sig =
                hex::decode(hex_sig).map_err(|_| VerifyError::Header("x-hub-signature-256"))?;
            let mut m = mac(secret.as_bytes())?;
            m.update(body);
            m.verify_slice(&sig).map_err(|_| VerifyError::Signature)?;
            let id = header(headers, "x-github-delivery")
                .map_or_else(|| format!("sig:{hex_sig}"), str::to_string);
            Ok(Verified { delivery_id: id })
        }
        WebhookScheme::Shopify => {
            let sig = header(headers, "x-shopify-hmac-sha256")
                .ok_or(VerifyError::Header("x-shopify-hmac-sha256"))?;
            let raw = B64
                .decode(sig.trim())
                .map_err(|_| VerifyError::Header("x-shopify-hmac-sha256"))?;
            let mut m = mac(secret.as_bytes())?;
            m.update(body);
            m.verify_slice(&raw).map_err(|_| VerifyError::Signature)?;
            let id = header(headers, "x-shopify-webhook-id")
                .or_else(|| header(headers, "x-shopify-event-id"))
                .map_or_else(|| format!("sig:{}", hex::encode(&raw)), str::to_string);
            Ok(Verified { delivery_id: id })
        }
        WebhookScheme::Stripe => {
            let sig = header(headers, "stripe-signature")
                .ok_or(VerifyError::Header("stripe-signature"))?;
            let mut ts_text = None;
            let mut v1 = Vec::new();
            for part in sig.split(',') {
                match part.trim().split_once('=') {
                    Some(("t", t)) => ts_text = Some(t),
                    Some(("v1", s)) => v1.push(s),
                    _ => {}
                }
            }
            let ts_text = ts_text.ok_or(VerifyError::Header("stripe-signature"))?;
            let ts: i64 = ts_text
                .parse()
                .map_err(|_| VerifyError::Header("stripe-signature"))?;
            let mut signed = Vec::with_capacity(ts_text.len() + body.len() + 1);
            signed.extend_from_slice(ts_text.as_bytes());
            signed.push(b'.');
            signed.extend_from_slice(body);
            let matched = v1.iter().any(|s| {
                let Ok(sig) = hex::decode(s) else {
                    return false;
                };
                let Ok(mut m) = mac(secret.as_bytes()) else {
                    return false;
                };
                m.update(&signed);
                m.verify_slice(&sig).is_ok()
            });
            if !matched {
                return Err(VerifyError::Signature);
            }
            fresh(ts, now)?;
            // Stripe's event id is in the body; the signature identifies
            // this delivery just as well for replay protection.
            Ok(Verified {
                delivery_id: format!("t{ts_text}:{}", v1.first().copied().unwrap_or("")),
            })
        }
        WebhookScheme::Hmac(h) => verify_hmac(h, secret, headers, body, now),
        WebhookScheme::StaticToken { header: name } => {
            if let Some(pointer) = name.strip_prefix(BODY_TOKEN) {
                if !body_tokens_match(body, pointer, secret) {
                    return Err(VerifyError::Signature);
                }
                // The same notification sent again is the same delivery.
                return Ok(Verified {
                    delivery_id: format!(
                        "body-{}",
                        hex::encode(<Sha256 as sha2::Digest>::digest(body))
                    ),
                });
            }
            let got =
                header(headers, name).ok_or_else(|| VerifyError::NamedHeader(name.clone()))?;
            let equal: bool =
                subtle::ConstantTimeEq::ct_eq(got.as_bytes(), secret.as_bytes()).into();
            if !equal {
                return Err(VerifyError::Signature);
            }
            // A static token identifies no delivery: each one is new.
            Ok(Verified {
                delivery_id: crate::ids::new_id(),
            })
        }
    }
}

/// A generic HMAC: the signed text is built from the spec's template, the
/// signature read from its header (after its prefix) as hex or base64.
fn verify_hmac(
    h: &HmacScheme,
    secret: &str,
    headers: &[(String, String)],
    body: &[u8],
    now: i64,
) -> Result<Verified, VerifyError> {
    let named = |name: &str| {
        header(headers, name).ok_or_else(|| VerifyError::NamedHeader(name.to_string()))
    };
    let sig_text = named(&h.signature_header)?;
    let sig_text = sig_text.trim();
    let sig_text = sig_text
        .strip_prefix(h.prefix.as_str())
        .ok_or_else(|| VerifyError::NamedHeader(h.signature_header.clone()))?;
    let sig = match h.encoding {
        SignatureEncoding::Hex => hex::decode(sig_text).ok(),
        SignatureEncoding::Base64 => B64.decode(sig_text).ok(),
    }
    .ok_or_else(|| VerifyError::NamedHeader(h.signature_header.clone()))?;
    let timestamp = h.timestamp_header.as_deref().map(named).transpose()?;
    let mut signed = Vec::with_capacity(body.len() + h.signed.len());
    let mut rest = h.signed.as_str();
    while let Some(open) = rest.find('{') {
        signed.extend_from_slice(&rest.as_bytes()[..open]);
        let close = rest[open..]
            .find('}')
            .map(|c| open + c)
            .ok_or(VerifyError::Secret)?;
        match &rest[open + 1..close] {
            "body" => signed.extend_from_slice(body),
            "timestamp" => signed.extend_from_slice(timestamp.unwrap_or("").as_bytes()),
            other => match other.strip_prefix("header:") {
                Some(name) => signed.extend_from_slice(named(name)?.as_bytes()),
                None => signed.extend_from_slice(&rest.as_bytes()[open..=close]),
            },
        }
        rest = &rest[close + 1..];
    }
    signed.extend_from_slice(rest.as_bytes());
    if !crate::model::mac::verify(h.hash, secret.as_bytes(), &signed, &sig) {
        return Err(VerifyError::Signature);
    }
    if let Some(ts) = timestamp {
        let ts: i64 = ts.trim().parse().map_err(|_| {
            VerifyError::NamedHeader(h.timestamp_header.clone().unwrap_or_default())
        })?;
        // Milliseconds from senders that use them.
        let ts = if ts > 100_000_000_000 { ts / 1000 } else { ts };
        let tolerance = if h.tolerance_secs == 0 {
            TOLERANCE_SECS
        } else {
            i64::from(h.tolerance_secs)
        };
        if now.abs_diff(ts) > tolerance.unsigned_abs() {
            return Err(VerifyError::Stale);
        }
    }
    let id = match h.id_header.as_deref() {
        Some(name) => named(name)?.to_string(),
        None => format!("sig:{}", hex::encode(&sig)),
    };
    Ok(Verified { delivery_id: id })
}

/// Sign like Standard Webhooks: `v1,<base64 HMAC-SHA256(id.ts.body)>`.
pub fn sign_standard(secret: &str, id: &str, ts: i64, body: &[u8]) -> Result<String, VerifyError> {
    let key = B64
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(|_| VerifyError::Secret)?;
    let mut m = mac(&key)?;
    m.update(format!("{id}.{ts}.").as_bytes());
    m.update(body);
    Ok(format!("v1,{}", B64.encode(m.finalize().into_bytes())))
}

#[cfg(test)]
mod fuzz;

#[cfg(test)]
mod tests {

    #[test]
    fn a_token_in_the_body_must_be_in_every_notification() {
        let scheme = WebhookScheme::StaticToken {
            header: "json:/value/*/clientState".into(),
        };
        let check = |body: &str| verify(&scheme, "s3cret", &[], body.as_bytes(), 0);
        let good =
            r#"{"value":[{"clientState":"s3cret","resource":"a"},{"clientState":"s3cret"}]}"#;
        let first = check(good).unwrap();
        assert_eq!(
            check(good).unwrap(),
            first,
            "the same body is the same delivery"
        );
        for bad in [
            r#"{"value":[{"clientState":"s3cret"},{"clientState":"guess"}]}"#,
            r#"{"value":[{"clientState":"s3cret"},{"resource":"no state"}]}"#,
            r#"{"value":[]}"#,
            r#"{"value":[{"clientState":["s3cret"]}]}"#,
            "not json",
        ] {
            assert_eq!(check(bad), Err(VerifyError::Signature), "{bad}");
        }
    }

    use super::*;
    use serde_json::Value;

    fn vectors() -> Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/vectors/webhooks.json");
        serde_json::from_str(
            &std::fs::read_to_string(path).expect("../shared/vectors/webhooks.json"),
        )
        .unwrap()
    }

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn standard_webhooks_vectors() {
        let v = vectors();
        for case in v["standard_webhooks"].as_array().unwrap() {
            let secret = case["secret"].as_str().unwrap();
            let id = case["webhook_id"].as_str().unwrap();
            let ts = case["webhook_timestamp"].as_i64().unwrap();
            let body = case["body"].as_str().unwrap().as_bytes();
            let sig = case["webhook_signature"].as_str().unwrap();
            let headers = h(&[
                ("webhook-id", id),
                ("webhook-timestamp", &ts.to_string()),
                ("webhook-signature", sig),
            ]);
            let ok = verify(&WebhookScheme::StandardWebhooks, secret, &headers, body, ts).unwrap();
            assert_eq!(ok.delivery_id, id);
            assert_eq!(sign_standard(secret, id, ts, body).unwrap(), sig);
            // Several signatures, one valid.
            let several = format!("v1,AAAA {sig}");
            let headers = h(&[
                ("webhook-id", id),
                ("webhook-timestamp", &ts.to_string()),
                ("webhook-signature", &several),
            ]);
            assert!(verify(&WebhookScheme::StandardWebhooks, secret, &headers, body, ts).is_ok());
            // Stale, tampered, wrong secret.
            assert_eq!(
                verify(
                    &WebhookScheme::StandardWebhooks,
                    secret,
                    &headers,
                    body,
                    ts + 301
                ),
                Err(VerifyError::Stale)
            );
            let mut tampered = body.to_vec();
            tampered.push(b' ');
            assert_eq!(
                verify(
                    &WebhookScheme::StandardWebhooks,
                    secret,
                    &headers,
                    &tampered,
                    ts
                ),
                Err(VerifyError::Signature)
            );
            assert_eq!(
                verify(
                    &WebhookScheme::StandardWebhooks,
                    "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                    &headers,
                    body,
                    ts
                ),
                Err(VerifyError::Signature)
            );
        }
    }

    #[test]
    fn github_vector() {
        let v = vectors();
        let case = &v["github"][0];
        let secret = case["secret"].as_str().unwrap();
        let body = case["body"].as_str().unwrap().as_bytes();
        let sig = case["x_hub_signature_256"].as_str().unwrap();
        let headers = h(&[("X-Hub-Signature-256", sig), ("X-GitHub-Delivery", "d-1")]);
        assert_eq!(
            verify(&WebhookScheme::Github, secret, &headers, body, 0)
                .unwrap()
                .delivery_id,
            "d-1"
        );
        assert_eq!(
            verify(&WebhookScheme::Github, "nope", &headers, body, 0),
            Err(VerifyError::Signature)
        );
        assert_eq!(
            verify(&WebhookScheme::Github, secret, &[], body, 0),
            Err(VerifyError::Header("x-hub-signature-256"))
        );
    }

    /// Shopify's own test vector: shopify-api-js,
    /// `packages/shopify-api/lib/webhooks/__tests__/validate.test.ts` (commit
    /// 9dd92843), secret `test_secret_key` from its `test-config.ts`.
    #[test]
    fn shopify_vendor_vector() {
        let body = br#"{"foo": "bar"}"#;
        let headers = h(&[
            (
                "X-Shopify-Hmac-Sha256",
                "B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g=",
            ),
            ("X-Shopify-Webhook-Id", "w-9"),
        ]);
        assert_eq!(
            verify(
                &WebhookScheme::Shopify,
                "test_secret_key",
                &headers,
                body,
                0
            )
            .unwrap()
            .delivery_id,
            "w-9"
        );
        assert_eq!(
            verify(&WebhookScheme::Shopify, "other_secret", &headers, body, 0),
            Err(VerifyError::Signature)
        );
        assert_eq!(
            verify(
                &WebhookScheme::Shopify,
                "test_secret_key",
                &headers,
                br#"{"foo": "baz"}"#,
                0
            ),
            Err(VerifyError::Signature)
        );
    }

    /// Stripe's own test vector: stripe-dotnet,
    /// `src/StripeTests/Services/Events/EventUtilityTest.cs` and
    /// `src/StripeTests/Resources/event_test_signature.json` (commit
    /// d3303629), secret `webhook_secret`; the payload file is byte-exact
    /// (SHA-256 98cc8941…).
    #[test]
    fn stripe_vendor_vector() {
        let body = include_bytes!("testdata/stripe_event_test_signature.json");
        assert_eq!(
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body)),
            "98cc89412549ca7faf118fca984763bdb6f81e13d1ce8c528dbbb5be602ec1be"
        );
        let ts = 1_533_204_620;
        let headers = h(&[(
            "Stripe-Signature",
            "t=1533204620,v1=2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7,v0=63f3a72374a733066c4be69ed7f8e5ac85c22c9f0a6a612ab9a025a9e4ee7eef",
        )]);
        assert!(
            verify(
                &WebhookScheme::Stripe,
                "webhook_secret",
                &headers,
                body,
                ts + 100
            )
            .is_ok()
        );
        assert_eq!(
            verify(
                &WebhookScheme::Stripe,
                "webhook_secret",
                &headers,
                body,
                ts + 1000
            ),
            Err(VerifyError::Stale)
        );
        assert_eq!(
            verify(&WebhookScheme::Stripe, "other_secret", &headers, body, ts),
            Err(VerifyError::Signature)
        );
        let mut tampered = body.to_vec();
        tampered[10] ^= 1;
        assert_eq!(
            verify(
                &WebhookScheme::Stripe,
                "webhook_secret",
                &headers,
                &tampered,
                ts
            ),
            Err(VerifyError::Signature)
        );
    }
}
