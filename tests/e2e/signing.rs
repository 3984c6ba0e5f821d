//! Host-side signing through a real component (`hostile`'s keys `aws`,
//! `hmac` and `jwt`, bound to `{config.url}`): the upstream gets a request
//! signed after substitution, the key material never enters the guest (a
//! JWT echoed back reaches it redacted), and a key refuses to sign for any
//! host it is not bound to, even one the connection may reach.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::Mac;
use ring::signature::KeyPair;
use serde_json::{Value, json};

use crate::support::{Upstream, load, runtime, session};

const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const HMAC_KEY: &str = "hmac-key-0f3e9a";

type Seen = Arc<Mutex<Vec<String>>>;

/// Answers with the headers and body it got; keeps each `Authorization`.
async fn echo() -> (Upstream, Seen) {
    let seen = Seen::default();
    let log = seen.clone();
    let up = Upstream::start(Router::new().route(
        "/signed",
        post(move |h: HeaderMap, body: String| {
            let log = log.clone();
            async move {
                if let Some(a) = h.get("authorization") {
                    log.lock().unwrap().push(a.to_str().unwrap().to_string());
                }
                let headers: serde_json::Map<String, Value> = h
                    .iter()
                    .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap())))
                    .collect();
                axum::Json(json!({"headers": headers, "body": body}))
            }
        }),
    ))
    .await;
    (up, seen)
}

fn es256_key() -> (String, Vec<u8>) {
    let rng = ring::rand::SystemRandom::new();
    let alg = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let doc = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
    let pair = ring::signature::EcdsaKeyPair::from_pkcs8(alg, doc.as_ref(), &rng).unwrap();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(doc.as_ref())
    );
    (pem, pair.public_key().as_ref().to_vec())
}

#[tokio::test]
async fn the_host_signs_for_bound_hosts_and_the_guest_never_holds_a_key() {
    let (api, seen) = echo().await;
    let (elsewhere, elsewhere_seen) = echo().await;
    let rt = runtime();
    let hostile = load(&rt, "hostile").await;
    let (pem, public) = es256_key();
    let secrets = [
        ("aws_key_id", "AKIDEXAMPLE"),
        ("aws_secret", AWS_SECRET),
        ("hmac_key", HMAC_KEY),
        ("jwt_key", pem.as_str()),
    ];
    let grants = [api.origin(), elsewhere.origin()];
    let grants: Vec<&str> = grants.iter().map(String::as_str).collect();
    let sign = |key: &str, target: String| {
        let s = session(
            &rt,
            &hostile,
            json!({"attack": "sign", "value": key, "url": api.url("/signed"), "target": target}),
            &grants,
            &["127.0.0.0/8"],
            &secrets,
        );
        async move {
            let page = s.fetch("out", None).await;
            let logs = s.log().drain();
            (page, logs)
        }
    };
    let echoed = |page: &wharf::model::record::Page| -> Value {
        let r = page.records[0].fields();
        assert_eq!(r["status"], 200, "{r:?}");
        serde_json::from_str(r["body"].as_str().unwrap()).unwrap()
    };

    // AWS SigV4: the scope and signed headers; the secret key is never sent.
    let (page, _) = sign("aws", api.url("/signed")).await;
    let e = echoed(&page.unwrap());
    let auth = e["headers"]["authorization"].as_str().unwrap();
    assert!(
        // The key id is a secret too: the upstream has it, the echo is redacted.
        auth.starts_with("AWS4-HMAC-SHA256 Credential=[REDACTED]/")
            && auth.contains(
                "/us-east-1/ce/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature="
            ),
        "{auth}"
    );
    assert!(e["headers"]["x-amz-date"].as_str().unwrap().ends_with('Z'));
    assert!(!e.to_string().contains(AWS_SECRET));
    let sent = seen.lock().unwrap().last().unwrap().clone();
    assert!(
        sent.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
        "{sent}"
    );

    // HMAC over `{timestamp}.{body}`: what the upstream recomputes.
    let (page, _) = sign("hmac", api.url("/signed")).await;
    let e = echoed(&page.unwrap());
    let ts = e["headers"]["x-timestamp"].as_str().unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(HMAC_KEY.as_bytes()).unwrap();
    mac.update(format!("{ts}.{}", e["body"].as_str().unwrap()).as_bytes());
    assert_eq!(
        e["headers"]["x-signature"],
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    );

    // JWT (ES256): valid at the upstream; echoed back, the guest sees it
    // redacted, and no log line holds it.
    let (page, logs) = sign("jwt", api.url("/signed")).await;
    let page = page.unwrap();
    let e = echoed(&page);
    assert_eq!(e["headers"]["authorization"], "Bearer [REDACTED]", "{e}");
    assert!(!format!("{logs:?}").contains("eyJ"), "{logs:?}");
    let jwt = seen.lock().unwrap().last().unwrap().clone();
    let jwt = jwt.strip_prefix("Bearer ").unwrap();
    let (input, sig) = jwt.rsplit_once('.').unwrap();
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, &public)
        .verify(input.as_bytes(), &URL_SAFE_NO_PAD.decode(sig).unwrap())
        .expect("the upstream can verify the JWT");
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(input.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["iss"], "hostile");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        600
    );

    // The same key, aimed at another granted host: refused, nothing sent.
    for key in ["aws", "hmac", "jwt"] {
        let (page, _) = sign(key, elsewhere.url("/signed")).await;
        let err = page.unwrap_err().to_string();
        assert!(
            err.contains(&format!("signing key `{key}` may not sign a request to")),
            "{err}"
        );
    }
    // A key the spec does not declare.
    let (page, _) = sign("nope", api.url("/signed")).await;
    assert!(
        page.unwrap_err()
            .to_string()
            .contains("signing key `nope` is not declared"),
    );
    assert!(elsewhere_seen.lock().unwrap().is_empty());
}
