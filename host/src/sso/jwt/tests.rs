//! Tokens signed here with a fresh P-256 key, then bent one way at a time.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use serde_json::{Value, json};

use super::*;

struct Signer {
    pair: EcdsaKeyPair,
    kid: &'static str,
}

impl Signer {
    fn new(kid: &'static str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        Self { pair, kid }
    }

    fn jwks(&self) -> Value {
        let point = self.pair.public_key().as_ref();
        json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": self.kid, "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..])}]})
    }

    fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }

    fn token(&self, claims: &Value) -> String {
        self.sign(&json!({"alg": "ES256", "kid": self.kid}), claims)
    }
}

const NOW: i64 = 1_800_000_000;

fn claims() -> Value {
    json!({"iss": "https://id.example.com", "aud": "wharf", "sub": "alice",
           "exp": NOW + 300, "iat": NOW, "nonce": "n-1"})
}

fn expected() -> Expected<'static> {
    Expected {
        issuer: "https://id.example.com",
        client_id: "wharf",
        nonce: Some("n-1"),
        now: NOW,
    }
}

fn check(token: &str, keys: &[PublicKey]) -> Result<(), TokenError> {
    let parsed = parse(token)?;
    parsed.verify(keys)?;
    check_claims(&parsed.claims, &expected())
}

#[test]
fn a_good_token_passes_and_each_bent_one_fails() {
    let signer = Signer::new("k1");
    let keys = parse_jwks(&signer.jwks());
    assert_eq!(keys.len(), 1);
    assert_eq!(check(&signer.token(&claims()), &keys), Ok(()));

    // The payload changed after signing.
    let token = signer.token(&claims());
    let mut parts: Vec<&str> = token.split('.').collect();
    let mut forged = claims();
    forged["sub"] = json!("mallory");
    let payload = URL_SAFE_NO_PAD.encode(forged.to_string());
    parts[1] = &payload;
    assert_eq!(check(&parts.join("."), &keys), Err(TokenError::Signature));

    // Another key, claiming the published key's id.
    let stranger = Signer::new("k1");
    assert_eq!(
        check(&stranger.token(&claims()), &keys),
        Err(TokenError::Signature)
    );
    // A key the provider does not have.
    assert_eq!(
        check(&Signer::new("k9").token(&claims()), &keys),
        Err(TokenError::UnknownKey("k9".into()))
    );
    // Algorithms that are refused outright, and RS256 with an EC key.
    for alg in ["none", "HS256", "ES384"] {
        let t = signer.sign(&json!({"alg": alg, "kid": "k1"}), &claims());
        assert_eq!(check(&t, &keys), Err(TokenError::Algorithm(alg.into())));
    }
    let t = signer.sign(&json!({"alg": "RS256", "kid": "k1"}), &claims());
    assert!(matches!(check(&t, &keys), Err(TokenError::UnknownKey(_))));
    assert_eq!(check("a.b", &keys), Err(TokenError::Malformed));
    assert_eq!(check("e30.e30.!!", &keys), Err(TokenError::Malformed));
}

#[test]
fn claims_must_name_this_issuer_client_time_and_nonce() {
    let bent = |key: &str, value: Value| {
        let mut c = claims();
        if value.is_null() {
            c.as_object_mut().unwrap().remove(key);
        } else {
            c[key] = value;
        }
        check_claims(&c, &expected())
    };
    assert_eq!(check_claims(&claims(), &expected()), Ok(()));
    assert!(matches!(
        bent("iss", json!("https://evil.example.com")),
        Err(TokenError::Issuer(_))
    ));
    assert!(matches!(
        bent("aud", json!("other-app")),
        Err(TokenError::Audience(_))
    ));
    // Several audiences need `azp` naming this client.
    assert!(matches!(
        bent("aud", json!(["other", "wharf"])),
        Err(TokenError::Audience(_))
    ));
    let mut c = claims();
    c["aud"] = json!(["other", "wharf"]);
    c["azp"] = json!("wharf");
    assert_eq!(check_claims(&c, &expected()), Ok(()));
    let mut c = claims();
    c["aud"] = json!(["other", "wharf"]);
    c["azp"] = json!("other");
    assert!(matches!(
        check_claims(&c, &expected()),
        Err(TokenError::Audience(_))
    ));
    assert_eq!(bent("exp", json!(NOW - 61)), Err(TokenError::Expired(61)));
    // Within the leeway a slow clock is forgiven.
    assert_eq!(bent("exp", json!(NOW - 30)), Ok(()));
    assert!(matches!(
        bent("exp", Value::Null),
        Err(TokenError::Expired(_))
    ));
    assert_eq!(bent("nbf", json!(NOW + 600)), Err(TokenError::NotYetValid));
    assert_eq!(bent("sub", json!("")), Err(TokenError::NoSubject));
    assert_eq!(bent("nonce", json!("n-2")), Err(TokenError::Nonce));
    assert_eq!(bent("nonce", Value::Null), Err(TokenError::Nonce));
    // Bearer tokens sent to the API carry no nonce of ours.
    let mut c = claims();
    c.as_object_mut().unwrap().remove("nonce");
    let api = Expected {
        nonce: None,
        ..expected()
    };
    assert_eq!(check_claims(&c, &api), Ok(()));
}

#[test]
fn encryption_keys_and_odd_types_are_not_signing_keys() {
    let doc = json!({"keys": [
        {"kty": "EC", "crv": "P-256", "use": "enc", "x": "AA", "y": "AA"},
        {"kty": "oct", "k": "c2VjcmV0"},
        {"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"},
        {"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "r"}
    ]});
    let keys = parse_jwks(&doc);
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].kid.as_deref(), Some("r"));
}
