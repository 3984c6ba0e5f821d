//! Unit tests of the parent module.
use super::*;
use ring::signature::KeyPair;

fn req<'a>(url: &'a mut Url, headers: &'a mut HeaderMap, body: &'a [u8]) -> Unsigned<'a> {
    Unsigned {
        method: &Method::POST,
        url,
        headers,
        body,
    }
}

#[test]
fn hmac_template_fills_request_parts() {
    let mut url = Url::parse("https://api.example.com/v1/orders?page=2").unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("x-app", HeaderValue::from_static("wharf"));
    let r = req(&mut url, &mut headers, b"{\"a\":1}");
    let m = hmac_message(
        "v0:{timestamp}:{method} {path}?{query}|{header:x-app}|{body}|{other}",
        &r,
        1700000000,
    );
    assert_eq!(
        String::from_utf8(m).unwrap(),
        "v0:1700000000:POST /v1/orders?page=2|wharf|{\"a\":1}|{other}"
    );
    // RFC 4231 test case 2.
    assert_eq!(
        hex::encode(crate::model::mac::sign(
            crate::model::spec::HmacHash::Sha256,
            b"Jefe",
            b"what do ya want for nothing?"
        )),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[test]
fn es256_jwt_verifies_with_the_public_key() {
    let rng = ring::rand::SystemRandom::new();
    let doc = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &rng,
    )
    .unwrap();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(doc.as_ref())
    );
    let jwt = mint_jwt(
        &pem,
        JwtAlgorithm::Es256,
        r#"{"iss":"svc@example.com","iat":{now},"exp":{exp}}"#,
        Some("k1"),
        100,
        3700,
    )
    .unwrap();
    let parts: Vec<&str> = jwt.split('.').collect();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["kid"], "k1");
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(claims["exp"], 3700);
    let pair = ring::signature::EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        doc.as_ref(),
        &rng,
    )
    .unwrap();
    let public = ring::signature::UnparsedPublicKey::new(
        &ring::signature::ECDSA_P256_SHA256_FIXED,
        pair.public_key().as_ref(),
    );
    let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    public
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
        .expect("a valid signature");
}

#[test]
fn keys_in_other_formats_are_explained() {
    let err = pkcs8_der("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----")
        .unwrap_err();
    assert!(err.contains("PKCS#8"), "{err}");
    assert!(mint_jwt("nope", JwtAlgorithm::Rs256, "{}", None, 0, 1).is_err());
    assert!(expand_region("us-east-1", &Value::Null).is_ok());
    assert!(expand_region("us/east", &Value::Null).is_err());
    let config = serde_json::json!({"sa": {"email": "a\"b@x.iam"}});
    assert_eq!(
        fill_config(r#"{"iss":"{config.sa.email}","n":{now}}"#, &config).unwrap(),
        r#"{"iss":"a\"b@x.iam","n":{now}}"#
    );
    assert!(fill_config("{config.nope}", &config).is_err());
}
