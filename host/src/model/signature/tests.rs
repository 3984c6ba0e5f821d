//! Unit tests of the parent module.
use super::*;

const DIGEST: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn policy(key: &SigningKey, require: bool) -> TrustPolicy {
    TrustPolicy::new(&[format!("acme={}", key.public())], require).unwrap()
}

#[test]
fn a_signature_verifies_only_for_what_was_signed() {
    let (key, _) = SigningKey::generate().unwrap();
    let file = key.sign(DIGEST, "todos", "1.0.0").to_text();
    let p = policy(&key, true);
    assert_eq!(
        p.check(Some(&file), DIGEST, "todos", "1.0.0"),
        Ok(Provenance::Verified {
            publisher: "acme".into(),
            key_id: key.public().id()
        })
    );
    let other = DIGEST.replace('9', "8");
    assert!(matches!(
        p.check(Some(&file), &other, "todos", "1.0.0"),
        Err(SignatureError::OtherComponent { .. })
    ));
    // A file edited to claim the other digest: the claims match, the
    // signature does not.
    let edited = file.replace(DIGEST, &other);
    assert!(matches!(
        p.check(Some(&edited), &other, "todos", "1.0.0"),
        Err(SignatureError::Invalid { .. })
    ));
    let renamed = file.replace("\"todos\"", "\"payroll\"");
    assert!(matches!(
        p.check(Some(&renamed), DIGEST, "payroll", "1.0.0"),
        Err(SignatureError::Invalid { .. })
    ));
}

#[test]
fn unsigned_and_unknown_keys_depend_on_the_policy() {
    let (key, _) = SigningKey::generate().unwrap();
    let (stranger, _) = SigningKey::generate().unwrap();
    let file = stranger.sign(DIGEST, "todos", "1.0.0").to_text();
    let lax = policy(&key, false);
    let strict = policy(&key, true);
    assert_eq!(
        lax.check(None, DIGEST, "todos", "1.0.0"),
        Ok(Provenance::Unsigned)
    );
    assert!(matches!(
        strict.check(None, DIGEST, "todos", "1.0.0"),
        Err(SignatureError::Unsigned { .. })
    ));
    assert_eq!(
        lax.check(Some(&file), DIGEST, "todos", "1.0.0"),
        Ok(Provenance::UnknownPublisher {
            key_id: stranger.public().id()
        })
    );
    assert!(matches!(
        strict.check(Some(&file), DIGEST, "todos", "1.0.0"),
        Err(SignatureError::UnknownPublisher { .. })
    ));
    // A stranger's signature relabelled with the trusted key's id.
    let forged = file.replace(&stranger.public().id(), &key.public().id());
    assert!(matches!(
        lax.check(Some(&forged), DIGEST, "todos", "1.0.0"),
        Err(SignatureError::Invalid { .. })
    ));
}

#[test]
fn keys_round_trip_through_their_text_forms() {
    let (key, pem_text) = SigningKey::generate().unwrap();
    let again = SigningKey::parse(&pem_text).unwrap();
    assert_eq!(again.public(), key.public());
    let public = key.public().to_string();
    assert_eq!(PublicKey::parse(&public).unwrap(), key.public());
    // The same key as OpenSSL's SPKI PEM.
    let mut spki = SPKI_PREFIX.to_vec();
    spki.extend_from_slice(&key.public().0);
    assert_eq!(
        PublicKey::parse(&pem("PUBLIC KEY", &spki)).unwrap(),
        key.public()
    );
    assert!(PublicKey::parse("ed25519:AAAA").is_err());
    assert!(PublicKey::parse("ssh-ed25519 AAAA").is_err());
    assert!(
        SigningKey::parse("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----").is_err()
    );
}

#[test]
fn a_policy_refuses_bad_publisher_lists() {
    let (key, _) = SigningKey::generate().unwrap();
    assert!(TrustPolicy::new(&["acme".into()], false).is_err());
    assert!(TrustPolicy::new(&[format!("={}", key.public())], false).is_err());
    assert!(
        TrustPolicy::new(
            &[format!("a={}", key.public()), format!("b={}", key.public())],
            false
        )
        .is_err()
    );
    assert!(TrustPolicy::new(&[], true).is_err());
    assert!(TrustPolicy::new(&[], false).is_ok());
}

#[test]
fn the_precheck_refuses_before_anything_is_compiled() {
    let (key, _) = SigningKey::generate().unwrap();
    let (stranger, _) = SigningKey::generate().unwrap();
    let strict = policy(&key, true);
    let good = key.sign(DIGEST, "todos", "1.0.0").to_text();
    assert_eq!(strict.precheck(Some(&good), DIGEST), Ok(()));
    assert!(matches!(
        strict.precheck(None, DIGEST),
        Err(SignatureError::Unsigned { .. })
    ));
    let other = DIGEST.replace('9', "8");
    assert!(matches!(
        strict.precheck(Some(&good), &other),
        Err(SignatureError::OtherComponent { .. })
    ));
    let theirs = stranger.sign(DIGEST, "todos", "1.0.0").to_text();
    assert!(matches!(
        strict.precheck(Some(&theirs), DIGEST),
        Err(SignatureError::UnknownPublisher { .. })
    ));
    // Claims edited to another name: refused before the component's
    // own name is known.
    let renamed = good.replace("\"todos\"", "\"payroll\"");
    assert!(matches!(
        strict.precheck(Some(&renamed), DIGEST),
        Err(SignatureError::Invalid { .. })
    ));
    assert!(policy(&key, false).precheck(None, DIGEST).is_ok());
}

#[test]
fn malformed_files_are_named_as_such() {
    let p = TrustPolicy::default();
    let (key, _) = SigningKey::generate().unwrap();
    let good = key.sign(DIGEST, "todos", "1.0.0").to_text();
    let odd_id = good.replace(&key.public().id(), "\\u001b[31mred");
    let odd_digest = good.replace(DIGEST, &DIGEST.to_uppercase());
    for text in [
        "",
        "{}",
        "not json",
        r#"{"format":"other"}"#,
        &odd_id,
        &odd_digest,
    ] {
        assert!(
            matches!(
                p.check(Some(text), DIGEST, "todos", "1.0.0"),
                Err(SignatureError::Malformed(_))
            ),
            "{text}"
        );
    }
}
