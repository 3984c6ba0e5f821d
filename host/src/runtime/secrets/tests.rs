//! Unit tests of the parent module.
use super::*;
use crate::model::spec::{Role, SecretSpec};
use serde_json::json;

fn spec() -> Spec {
    Spec {
        name: "t".into(),
        version: "1.0.0".into(),
        description: String::new(),
        roles: vec![Role::Source],
        streams: vec![],
        config_schema: json!({}),
        secrets: vec![
            SecretSpec {
                name: "token".into(),
                description: String::new(),
                hosts: vec!["{config.base_url}".into()],
                reveal: false,
                required: true,
            },
            SecretSpec {
                name: "signing_key".into(),
                description: String::new(),
                hosts: vec!["https://api.example.com".into()],
                reveal: true,
                required: false,
            },
        ],
        hosts: vec!["{config.base_url}".into()],
        oauth2: None,
        webhook: None,
        login: None,
        signing: vec![],
        rate_budgets: vec![],
        catalog: Default::default(),
        contract: "0.1.0".into(),
    }
}

fn book() -> SecretBook {
    let values = BTreeMap::from([("token".to_string(), SecretValue::new("s3cr3t/value?"))]);
    SecretBook::new(
        &spec(),
        &json!({"base_url": "https://api.example.com/v1"}),
        &values,
        &["token".into(), "signing_key".into()],
    )
    .unwrap()
}

#[test]
fn substitutes_only_for_bound_hosts() {
    let book = book();
    let good = Url::parse("https://api.example.com/x").unwrap();
    let out = book
        .substitute(
            "Bearer {{secret:token}}",
            &good,
            Placement::Header,
            &Tokens::default(),
        )
        .unwrap();
    assert_eq!(out, "Bearer s3cr3t/value?");
    let out = book
        .substitute(
            "/q?k={{secret:token}}",
            &good,
            Placement::Url,
            &Tokens::default(),
        )
        .unwrap();
    assert_eq!(out, "/q?k=s3cr3t%2Fvalue%3F");
    let out = book
        .substitute(
            "/{{secret:token}}",
            &good,
            Placement::Url,
            &Tokens::default(),
        )
        .unwrap();
    assert_eq!(out, "/s3cr3t%2Fvalue%3F");
    for evil in [
        "https://evil.example.net/",
        "http://api.example.com/",
        "https://api.example.com:8443/",
        "https://sub.api.example.com/",
    ] {
        let r = book.substitute(
            "{{secret:token}}",
            &Url::parse(evil).unwrap(),
            Placement::Body(Encoding::Raw),
            &Tokens::default(),
        );
        assert!(
            matches!(r, Err(SecretDenied::WrongHost { .. })),
            "{evil}: {r:?}"
        );
    }
}

#[test]
fn ungranted_undeclared_and_malformed_placeholders_are_refused() {
    let book = book();
    let url = Url::parse("https://api.example.com/").unwrap();
    assert_eq!(
        book.substitute(
            "{{secret:signing_key}}",
            &url,
            Placement::Body(Encoding::Raw),
            &Tokens::default()
        ),
        Err(SecretDenied::NotGranted("signing_key".into()))
    );
    assert_eq!(
        book.substitute(
            "{{secret:nope}}",
            &url,
            Placement::Body(Encoding::Raw),
            &Tokens::default()
        ),
        Err(SecretDenied::Undeclared("nope".into()))
    );
    assert_eq!(
        book.substitute(
            "{{secret:token",
            &url,
            Placement::Body(Encoding::Raw),
            &Tokens::default()
        ),
        Err(SecretDenied::Placeholder(PlaceholderError::Unterminated(
            "secret"
        )))
    );
}

#[test]
fn undeclared_values_are_refused_at_setup() {
    let values = BTreeMap::from([("other".to_string(), SecretValue::new("x"))]);
    let r = SecretBook::new(
        &spec(),
        &json!({"base_url": "https://a.example.com"}),
        &values,
        &[],
    );
    assert!(matches!(r, Err(SecretSetupError::Undeclared(n)) if n == "other"));
}

#[test]
fn reveal_requires_the_flag() {
    let book = book();
    assert!(matches!(book.reveal("token"), Err(RevealError::Denied(_))));
    assert!(matches!(
        book.reveal("signing_key"),
        Err(RevealError::Missing)
    ));
    assert!(matches!(book.reveal("nope"), Err(RevealError::Denied(_))));
    // The spec's flag alone is not enough: the administrator allows it.
    let values = BTreeMap::from([("signing_key".to_string(), SecretValue::new("k"))]);
    let unallowed = SecretBook::new(
        &spec(),
        &json!({"base_url": "https://api.example.com/v1"}),
        &values,
        &[],
    )
    .unwrap();
    assert!(matches!(
        unallowed.reveal("signing_key"),
        Err(RevealError::Denied(_))
    ));
}

#[test]
fn secret_values_never_print() {
    assert!(format!("{:?}", SecretValue::new("hunter22")).contains("REDACTED"));
}

#[test]
fn substitution_is_linear_and_finds_shifted_placeholders() {
    let book = book();
    let url = Url::parse("https://api.example.com/").unwrap();
    let out = book
        .substitute(
            "{{{secret:token}} {{x}} {{",
            &url,
            Placement::Body(Encoding::Raw),
            &Tokens::default(),
        )
        .unwrap();
    assert_eq!(out, "{s3cr3t/value? {{x}} {{");
    let body = "{{secret:token}}".repeat(200_000);
    let started = std::time::Instant::now();
    let out = book
        .substitute(
            &body,
            &url,
            Placement::Body(Encoding::Raw),
            &Tokens::default(),
        )
        .unwrap();
    assert_eq!(out.len(), "s3cr3t/value?".len() * 200_000);
    // Quadratic work on 3 MiB took minutes; linear takes milliseconds.
    // The bound is loose on purpose: it fails only on super-linear work.
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let unterminated = "{{secret:token".repeat(100_000);
    assert_eq!(
        book.substitute(
            &unterminated,
            &url,
            Placement::Body(Encoding::Raw),
            &Tokens::default()
        ),
        Err(SecretDenied::Placeholder(PlaceholderError::Unterminated(
            "secret"
        )))
    );
}

#[test]
fn responses_are_redacted_only_for_secrets_bound_to_their_origin() {
    let book = book();
    let bound = Url::parse("https://api.example.com/echo").unwrap();
    let other = Url::parse("https://echo.example.net/").unwrap();
    assert_eq!(
        book.redactor_for(&bound).redact_str("got s3cr3t/value?"),
        "got [REDACTED]"
    );
    // A guess echoed by a host the secret never goes to comes back as
    // sent, right or wrong.
    assert_eq!(
        book.redactor_for(&other).redact_str("got s3cr3t/value?"),
        "got s3cr3t/value?"
    );
    assert_eq!(
        book.redactor().redact_str("log s3cr3t/value?"),
        "log [REDACTED]"
    );
}
