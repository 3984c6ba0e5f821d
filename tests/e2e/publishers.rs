//! Signed connectors: a publisher key made and a component signed with the
//! real `wharf` commands, a server that trusts that publisher and refuses
//! everything else (unsigned, a stranger's key, a tampered byte, the same
//! version with new bytes), the registry showing who signed what, and a
//! connector refused at run time once its publisher is no longer trusted.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wharf::model::signature::{SigningKey, TrustPolicy};
use wharf::registry::{Registry, UploadError};
use wharf::store::Store;

use crate::api::with_custom_section;
use crate::api_support::{App, Db};
use crate::dev_cli::wharf;
use crate::serve::{Server, cli};
use crate::support::{guest, runtime};

fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `wharf connector keygen DIR/NAME`; the public key's text.
async fn keygen(dir: &std::path::Path, name: &str) -> String {
    let base = dir.join(name);
    let out = wharf(&["connector", "keygen", base.to_str().unwrap()], None).await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("--trusted-publisher"),
        "keygen says how to trust the key: {}",
        out.stdout
    );
    let private = dir.join(format!("{name}.key"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&private).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o077,
            0,
            "the private key is readable by its owner only"
        );
    }
    // Never overwritten: a key is somebody's identity.
    let again = wharf(&["connector", "keygen", base.to_str().unwrap()], None).await;
    assert_ne!(
        again.code,
        0,
        "keygen refuses to overwrite {}",
        private.display()
    );
    std::fs::read_to_string(dir.join(format!("{name}.pub")))
        .unwrap()
        .trim()
        .to_string()
}

#[tokio::test]
async fn a_strict_server_takes_only_what_a_trusted_publisher_signed() {
    let dir = tempfile::tempdir().unwrap();
    let acme_pub = keygen(dir.path(), "acme").await;
    keygen(dir.path(), "mallory").await;
    let path = |f: &str| dir.path().join(f).to_str().unwrap().to_string();

    // Signed by acme with the real command; a second copy signed by mallory.
    let component = guest("http-json");
    std::fs::write(path("http-json.wasm"), &component).unwrap();
    let out = wharf(
        &[
            "connector",
            "sign",
            &path("http-json.wasm"),
            "--key",
            &path("acme.key"),
        ],
        None,
    )
    .await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("signed http-json@0.1.0"),
        "{}",
        out.stdout
    );
    let sig: Value =
        serde_json::from_str(&std::fs::read_to_string(path("http-json.wasm.sig")).unwrap())
            .unwrap();
    assert_eq!(sig["format"], "wharf-signature/1");
    assert_eq!(sig["digest"], format!("sha256:{}", digest(&component)));
    std::fs::write(path("stranger.wasm"), &component).unwrap();
    let out = wharf(
        &[
            "connector",
            "sign",
            &path("stranger.wasm"),
            "--key",
            &path("mallory.key"),
        ],
        None,
    )
    .await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    // Unsigned.
    std::fs::write(path("todos.wasm"), guest("todos")).unwrap();

    let data = tempfile::tempdir().unwrap();
    let trusted = format!("acme=@{}", path("acme.pub"));
    let server = Server::start_with(
        data.path().to_path_buf(),
        None,
        &["--trusted-publisher", &trusted, "--require-signed"],
    )
    .await;
    let key = server.key.clone().unwrap();

    let (code, _, err) = cli(&server, &key, &["connector", "upload", &path("todos.wasm")]).await;
    assert_ne!(code, 0, "unsigned refused");
    assert!(err.contains("sign it with `wharf connector sign`"), "{err}");
    let (code, _, err) = cli(
        &server,
        &key,
        &["connector", "upload", &path("stranger.wasm")],
    )
    .await;
    assert_ne!(code, 0, "an unknown publisher refused");
    assert!(err.contains("does not trust"), "{err}");

    // The signature beside the file goes with it.
    let (code, out, err) = cli(
        &server,
        &key,
        &["connector", "upload", &path("http-json.wasm")],
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("verified: acme"), "{out}");

    // A byte changed after signing (inside a custom section, so the
    // component still loads): refused with the original signature, and
    // with a signature file edited to claim the new digest.
    let mut tampered = with_custom_section(component.clone());
    *tampered.last_mut().unwrap() ^= 1;
    std::fs::write(path("tampered.wasm"), &tampered).unwrap();
    let (code, _, err) = cli(
        &server,
        &key,
        &[
            "connector",
            "upload",
            &path("tampered.wasm"),
            "--signature",
            &path("http-json.wasm.sig"),
        ],
    )
    .await;
    assert_ne!(code, 0);
    assert!(err.contains("sign the file you upload"), "{err}");
    let edited = std::fs::read_to_string(path("http-json.wasm.sig"))
        .unwrap()
        .replace(&digest(&component), &digest(&tampered));
    std::fs::write(path("tampered.wasm.sig"), edited).unwrap();
    let (code, _, err) = cli(
        &server,
        &key,
        &["connector", "upload", &path("tampered.wasm")],
    )
    .await;
    assert_ne!(code, 0);
    assert!(err.contains("does not verify under acme's key"), "{err}");

    // Properly signed by acme, but the same name and version with other
    // bytes: versions are immutable, signature or not.
    std::fs::write(path("republished.wasm"), &tampered).unwrap();
    let out = wharf(
        &[
            "connector",
            "sign",
            &path("republished.wasm"),
            "--key",
            &path("acme.key"),
        ],
        None,
    )
    .await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let (code, _, err) = cli(
        &server,
        &key,
        &["connector", "upload", &path("republished.wasm")],
    )
    .await;
    assert_ne!(code, 0);
    assert!(err.contains("immutable"), "{err}");

    // The registry: one connector, verified, with its digest and signature.
    let (code, out, err) = cli(&server, &key, &["connector", "list", "--json"]).await;
    assert_eq!(code, 0, "{err}");
    let list: Value = serde_json::from_str(&out).unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{out}");
    assert_eq!(items[0]["digest"], digest(&component));
    assert_eq!(
        items[0]["signature"],
        json!({"status": "verified", "publisher": "acme", "key_id": sig["key_id"]})
    );
    let public = wharf::model::signature::PublicKey::parse(&acme_pub).unwrap();
    assert_eq!(sig["key_id"], public.id());
    let got = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/connectors/http-json/0.1.0/signature",
            server.url
        ))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(
        got.text().await.unwrap(),
        std::fs::read_to_string(path("http-json.wasm.sig")).unwrap(),
        "the signature file is kept as uploaded"
    );
    let output = server.output.clone();
    server.stop().await;
    let log = output.lock().unwrap().clone();
    assert!(
        log.contains(&format!("acme ({})", public.id())),
        "the log names the trusted publishers: {log}"
    );
}

async fn signatures_are_shown_and_enforced_by_the_api(db: Db) {
    let (acme, _) = SigningKey::generate().unwrap();
    let (stranger, _) = SigningKey::generate().unwrap();
    let lax = TrustPolicy::new(&[format!("acme={}", acme.public())], false).unwrap();
    let app = App::with_trust(db, lax).await;

    // Without a requirement, unsigned and unknown publishers are taken and
    // shown as such.
    let todos = guest("todos");
    let a = app.upload(todos.clone()).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_eq!(a.json["signature"], json!({"status": "unsigned"}));
    let a = app.get("/api/v1/connectors/todos/0.1.0/signature").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);

    let http_json = guest("http-json");
    let by_stranger = stranger
        .sign(&digest(&http_json), "http-json", "0.1.0")
        .to_text();
    let a = app.upload_signed(http_json.clone(), &by_stranger).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_eq!(a.json["signature"]["status"], "unknown-publisher");
    assert_eq!(a.json["signature"]["key_id"], stranger.public().id());

    // The same bytes uploaded again with a trusted signature: attached to
    // the unsigned upload, and audited.
    let spec = app.get("/api/v1/connectors/todos/0.1.0").await.json["spec"].clone();
    let version = spec["version"].as_str().unwrap().to_string();
    let signed = acme.sign(&digest(&todos), "todos", &version).to_text();
    let a = app.upload_signed(todos.clone(), &signed).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json["signature"]["status"], "verified");
    assert_eq!(a.json["signature"]["publisher"], "acme");
    let audit = app.get("/api/v1/audit").await;
    assert!(
        audit.text.contains("connector.signed"),
        "the audit log has it: {}",
        audit.text
    );

    // A malformed header, a malformed file, a forged one.
    let a = app
        .raw_headers(
            axum::http::Method::POST,
            "/api/v1/connectors",
            Some(&app.admin.clone()),
            "application/wasm",
            &[("wharf-signature", "not base64!".to_string())],
            todos.clone(),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.text);
    assert_eq!(a.json["reason"], "signature_malformed");
    let a = app.upload_signed(todos.clone(), "{\"format\": 1}").await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text);
    assert_eq!(a.json["reason"], "signature_malformed");
    let forged = by_stranger.replace(&stranger.public().id(), &acme.public().id());
    let a = app.upload_signed(http_json.clone(), &forged).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text);
    assert_eq!(a.json["reason"], "signature_invalid");
    let tampered = with_custom_section(http_json.clone());
    let a = app.upload_signed(tampered, &by_stranger).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text);
    assert_eq!(a.json["reason"], "signature_other_component");

    // A trusted signature replaces the unknown publisher's on the same
    // bytes; a stranger's does not replace a trusted one.
    let by_acme = acme
        .sign(&digest(&http_json), "http-json", "0.1.0")
        .to_text();
    let a = app.upload_signed(http_json.clone(), &by_acme).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json["signature"]["status"], "verified", "{}", a.text);
    let a = app.upload_signed(http_json.clone(), &by_stranger).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json["signature"]["publisher"], "acme", "{}", a.text);
    let kept = app
        .get("/api/v1/connectors/http-json/0.1.0/signature")
        .await;
    assert_eq!(kept.text, by_acme);

    // The same store under a strict policy trusting only the stranger: the
    // acme-signed connectors are shown as not trusted and refused at run
    // time; re-signed by the stranger, one is verified again.
    let strict = TrustPolicy::new(&[format!("partner={}", stranger.public())], true).unwrap();
    let store = Store::open(&app.url).await.unwrap();
    let registry = Arc::new(Registry::with_trust(store.clone(), runtime(), strict));
    let row = store.connector("todos", &version).await.unwrap().unwrap();
    assert!(registry.provenance(&row).is_err());
    match registry.get("todos", &version).await {
        Err(UploadError::Signature(e)) => {
            assert!(e.to_string().contains("does not trust"), "{e}")
        }
        other => panic!("a connector no trusted publisher signed is not loaded: {other:?}"),
    }
    assert!(registry.get("http-json", "0.1.0").await.is_err());
    let store_row = store
        .connector("http-json", "0.1.0")
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        registry.provenance(&store_row),
        Err(wharf::model::signature::SignatureError::UnknownPublisher { .. })
    ));
    let uploaded = registry
        .upload(&http_json, Some(&by_stranger), None, None)
        .await
        .unwrap();
    assert!(
        uploaded.signed_now,
        "a trusted signature replaces an untrusted one"
    );
    let (row, _) = registry.get("http-json", "0.1.0").await.unwrap().unwrap();
    assert_eq!(registry.provenance(&row).unwrap().status(), "verified");
    // Strict: unsigned bytes are refused before they are compiled.
    match registry.upload(&guest("hooks"), None, None, None).await {
        Err(UploadError::Signature(e)) => assert!(e.to_string().contains("accepts only"), "{e}"),
        other => panic!("unsigned upload under a strict policy: {other:?}"),
    }
}

#[tokio::test]
async fn signatures_are_shown_and_enforced_by_the_api_on_sqlite() {
    signatures_are_shown_and_enforced_by_the_api(Db::Sqlite).await;
}

#[tokio::test]
async fn signatures_are_shown_and_enforced_by_the_api_on_postgres() {
    signatures_are_shown_and_enforced_by_the_api(Db::Postgres).await;
}
