//! Property tests ("fuzz" targets) of ID tokens: a token signed by the
//! provider's key verifies, and any one character changed anywhere in it
//! makes it refused; any text at all is parsed or refused without
//! panicking; and the claims are accepted exactly when an independent
//! statement of OpenID Connect Core §3.1.3.7 says so.
//!
//! `cargo test -p wharf --lib fuzz`; `PROPTEST_CASES=1000000` for a long
//! run (docs/operations.md).

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use serde_json::{Value, json};

use super::*;

/// One key for every case (generating one per case would be most of the
/// run), and its JWKS.
fn key() -> &'static (EcdsaKeyPair, Vec<PublicKey>) {
    static KEY: OnceLock<(EcdsaKeyPair, Vec<PublicKey>)> = OnceLock::new();
    KEY.get_or_init(|| {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                .unwrap();
        let point = pair.public_key().as_ref();
        let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..])}]});
        (pair, parse_jwks(&jwks))
    })
}

fn sign(claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(json!({"alg": "ES256", "kid": "k"}).to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = key()
        .0
        .sign(&SystemRandom::new(), input.as_bytes())
        .unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
}

fn verifies(token: &str) -> bool {
    parse(token).and_then(|p| p.verify(&key().1)).is_ok()
}

const BASE64URL: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn claims() -> impl Strategy<Value = Value> {
    ("[a-z0-9|@.-]{1,30}", "\\PC{0,20}", any::<i64>()).prop_map(|(sub, email, exp)| {
        json!({"iss": "https://id.example.com", "aud": "wharf", "sub": sub, "email": email, "exp": exp})
    })
}

/// The claims check, stated apart from the code under test.
#[allow(clippy::too_many_arguments)]
fn oracle(
    iss: &str,
    aud: &[&str],
    azp: Option<&str>,
    sub: &str,
    exp: Option<i64>,
    nbf: Option<i64>,
    nonce: Option<&str>,
    now: i64,
) -> bool {
    let azp_ok = match azp {
        Some(a) => a == "wharf",
        None => aud.len() < 2,
    };
    iss.trim_end_matches('/') == "https://id.example.com"
        && aud.contains(&"wharf")
        && azp_ok
        && exp.is_some_and(|e| now < e + LEEWAY_SECS)
        && nbf.is_none_or(|n| now + LEEWAY_SECS >= n)
        && !sub.is_empty()
        && nonce == Some("n-1")
}

proptest! {
    #[test]
    fn fuzz_id_tokens_verify_exactly_what_was_signed(
        c in claims(),
        at in any::<prop::sample::Index>(),
        with in prop::sample::select(format!("{BASE64URL}.=").chars().collect::<Vec<_>>()),
    ) {
        let token = sign(&c);
        prop_assert!(verifies(&token), "a signed token verifies");
        let mut chars: Vec<char> = token.chars().collect();
        let i = at.index(chars.len());
        let changed = chars[i] != with;
        chars[i] = with;
        let bent: String = chars.into_iter().collect();
        prop_assert!(!changed || !verifies(&bent), "{}", refused_msg(&token, &bent));
    }

    #[test]
    fn fuzz_any_text_is_parsed_or_refused(
        text in "\\PC{0,200}",
        header in "\\PC{0,60}",
        payload in "\\PC{0,60}",
        sig in prop::collection::vec(any::<u8>(), 0..80),
    ) {
        let _ = parse(&text).map(|p| p.verify(&key().1));
        let token = format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(&header),
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(&sig)
        );
        if let Ok(p) = parse(&token) {
            prop_assert!(p.verify(&key().1).is_err());
            let expected = Expected { issuer: "https://id.example.com", client_id: "wharf", nonce: None, now: 0 };
            let _ = check_claims(&p.claims, &expected);
        }
    }

    #[test]
    fn fuzz_claims_are_accepted_exactly_when_the_rules_say(
        iss in prop::sample::select(vec!["https://id.example.com", "https://id.example.com/", "https://evil.example.com", ""]),
        aud in prop::collection::vec(prop::sample::select(vec!["wharf", "other", "WHARF"]), 0..3),
        azp in prop::option::of(prop::sample::select(vec!["wharf", "other"])),
        sub in prop::sample::select(vec!["alice", ""]),
        exp in prop::option::of(-200i64..200),
        nbf in prop::option::of(-200i64..200),
        nonce in prop::option::of(prop::sample::select(vec!["n-1", "n-2"])),
        aud_as_string in any::<bool>(),
    ) {
        let mut c = json!({"iss": iss, "sub": sub});
        c["aud"] = if aud_as_string && aud.len() == 1 { json!(aud[0]) } else { json!(aud) };
        if let Some(a) = azp { c["azp"] = json!(a); }
        if let Some(e) = exp { c["exp"] = json!(e); }
        if let Some(n) = nbf { c["nbf"] = json!(n); }
        if let Some(n) = nonce { c["nonce"] = json!(n); }
        let expected = Expected { issuer: "https://id.example.com", client_id: "wharf", nonce: Some("n-1"), now: 0 };
        let got = check_claims(&c, &expected).is_ok();
        let want = oracle(iss, &aud, azp, sub, exp, nbf, nonce, 0);
        prop_assert_eq!(got, want, "{}", c);
    }
}

fn refused_msg(token: &str, bent: &str) -> String {
    format!("a changed token verified:\n{token}\n{bent}")
}
