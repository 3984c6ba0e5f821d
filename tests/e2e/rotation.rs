//! Key rotation as an operator does it (docs/operations.md): every kind of
//! sealed value is created under key 1 (a connection secret, an outgoing
//! webhook's signing secret, OAuth2 access and refresh tokens, the PKCE
//! verifier of an authorization still pending), the real `wharf admin
//! rotate-secrets` runs with `key2,key1`, and a server started with key 2
//! alone uses each of them: it signs a webhook delivery the receiver
//! verifies, refreshes a token at a provider that checks the refresh token,
//! finishes the pending authorization at a provider that checks the PKCE
//! verifier, and sends the connection secret to an API that checks it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::serve::Server;
use crate::support::{Upstream, guest};
use wharf::vault::Vault;

const API_TOKEN: &str = "rotation-api-token-31337";
/// Both servers answer the same redirect URI (they listen on other ports).
const PUBLIC: &[&str] = &["--public-url", "http://wharf.test"];

/// Send a request with a JSON body (none for `null`); status and answer.
async fn call(req: reqwest::RequestBuilder, body: Value) -> (u16, Value) {
    let req = if body.is_null() {
        req
    } else {
        req.header("content-type", "application/json")
            .body(body.to_string())
    };
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Deliveries an endpoint received: (webhook-id, timestamp, signature, body).
type Received = Arc<Mutex<Vec<(String, String, String, String)>>>;

/// Whether `signature` is a valid Standard Webhooks signature of the
/// delivery under `secret` (`whsec_` + base64), computed as the
/// specification says, independently of the server's code.
fn verify_standard(secret: &str, id: &str, ts: &str, body: &str, signature: &str) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.{body}").as_bytes());
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    signature.split(' ').any(|s| s == expected)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sealed_value_works_after_rotation_with_only_the_new_key() {
    let key1 = fernet::Fernet::generate_key();
    let key2 = fernet::Fernet::generate_key();
    let data = tempfile::tempdir().unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // Upstreams: an API that checks the connection secret, an OAuth2
    // provider, and a webhook receiver.
    let api = Upstream::start(Router::new().route(
        "/items",
        get(|h: HeaderMap| async move {
            if h.get("authorization").and_then(|v| v.to_str().ok())
                == Some(&format!("Bearer {API_TOKEN}"))
            {
                (StatusCode::OK, axum::Json(json!([{"id": 1}])))
            } else {
                (
                    StatusCode::UNAUTHORIZED,
                    axum::Json(json!({"error": "bad token"})),
                )
            }
        }),
    ))
    .await;
    let (provider, provider_state) = crate::fake_oauth::provider(true).await;
    let received: Received = Arc::default();
    let sink = received.clone();
    let receiver = Upstream::start(Router::new().route(
        "/hook",
        post(move |h: HeaderMap, body: String| {
            let sink = sink.clone();
            async move {
                let get = |n: &str| {
                    h.get(n)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string()
                };
                sink.lock().unwrap().push((
                    get("webhook-id"),
                    get("webhook-timestamp"),
                    get("webhook-signature"),
                    body,
                ));
                StatusCode::OK
            }
        }),
    ))
    .await;

    // Under key 1.
    let server =
        Server::start_with_keys(data.path().to_path_buf(), None, PUBLIC, Some(&key1)).await;
    let key = server.key.clone().unwrap();
    let api_url = |s: &Server, p: &str| format!("{}/api/v1{p}", s.url);
    for g in ["http-json", "oauth-api"] {
        let resp = http
            .post(api_url(&server, "/connectors"))
            .bearer_auth(&key)
            .header("content-type", "application/wasm")
            .body(guest(g))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
    }
    let (status, source) = call(
        http.post(api_url(&server, "/connections")).bearer_auth(&key),
        json!({"name": "api", "connector": "http-json@0.1.0",
            "config": {"base_url": api.origin(), "headers": {"Authorization": "Bearer {{secret:api_token}}"},
                "streams": {"items": {"path": "/items", "key": "id"}}},
            "secrets": {"api_token": API_TOKEN}, "grants": {"networks": ["127.0.0.0/8"]}}),
    )
    .await;
    assert_eq!(status, 201, "{source}");
    let (status, hook) = call(
        http.post(api_url(&server, "/webhooks")).bearer_auth(&key),
        json!({"url": receiver.url("/hook"), "events": ["run.failed"], "networks": ["127.0.0.0/8"]}),
    )
    .await;
    assert_eq!(status, 201, "{hook}");
    let whsec = hook["secret"].as_str().unwrap().to_string();
    let oauth = |name: &str| {
        json!({"name": name, "connector": "oauth-api@0.1.0",
            "config": {"base_url": provider.origin(), "auth_url": provider.origin()},
            "secrets": {"oauth_client_id": crate::fake_oauth::CLIENT_ID, "oauth_client_secret": crate::fake_oauth::CLIENT_SECRET},
            "grants": {"networks": ["127.0.0.0/8"]}})
    };
    let (_, connected) = call(
        http.post(api_url(&server, "/connections"))
            .bearer_auth(&key),
        oauth("connected"),
    )
    .await;
    let (_, pending) = call(
        http.post(api_url(&server, "/connections"))
            .bearer_auth(&key),
        oauth("pending"),
    )
    .await;
    // Authorize `connected` through to the end; only start `pending`.
    let mut callbacks = Vec::new();
    for c in [&connected, &pending] {
        let (status, start) = call(
            http.post(api_url(
                &server,
                &format!("/connections/{}/oauth/start", c["id"].as_str().unwrap()),
            ))
            .bearer_auth(&key),
            Value::Null,
        )
        .await;
        assert_eq!(status, 200, "{start}");
        let resp = http
            .get(start["authorization_url"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        let location = resp.headers()["location"].to_str().unwrap().to_string();
        let query = url::Url::parse(&location)
            .unwrap()
            .query()
            .unwrap()
            .to_string();
        callbacks.push(format!("/oauth/callback?{query}"));
    }
    let done = http
        .get(format!("{}{}", server.url, callbacks[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200, "{}", done.text().await.unwrap());
    server.stop().await;

    // The documented command, with the new key first and the old one after.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args(["admin", "rotate-secrets", "--data-dir"])
        .arg(data.path())
        .env("WHARF_SECRET_KEYS", format!("{key2},{key1}"))
        .env_remove("WHARF_DATABASE_URL")
        .output()
        .await
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    // Connection secrets (the API token, and client id and secret of both
    // OAuth2 connections), the webhook secret, the access and refresh
    // token, the pending verifier.
    assert!(said.contains("re-encrypted 9 secrets"), "{said}");

    // Key 2 alone.
    let server =
        Server::start_with_keys(data.path().to_path_buf(), None, PUBLIC, Some(&key2)).await;

    // The connection secret reaches the API that checks it.
    let (_, check) = call(
        http.post(api_url(
            &server,
            &format!("/connections/{}/check", source["id"].as_str().unwrap()),
        ))
        .bearer_auth(&key),
        Value::Null,
    )
    .await;
    assert_eq!(check["ok"], true, "{check}");

    // The webhook delivery is signed with the secret shown under key 1.
    let (status, _) = call(
        http.post(api_url(
            &server,
            &format!("/webhooks/{}/test", hook["id"].as_str().unwrap()),
        ))
        .bearer_auth(&key),
        Value::Null,
    )
    .await;
    assert_eq!(status, 202);
    let started = Instant::now();
    let delivery = loop {
        if let Some(d) = received.lock().unwrap().first().cloned() {
            break d;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no delivery arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        verify_standard(&whsec, &delivery.0, &delivery.1, &delivery.3, &delivery.2),
        "the delivery's signature does not verify: {delivery:?}"
    );

    // The refresh token (and the client secret) decrypt: an expired token
    // is refreshed at a provider that checks both.
    sqlx::query("UPDATE oauth_tokens SET expires_at = 0")
        .execute(
            &sqlx::SqlitePool::connect(&format!(
                "sqlite://{}",
                data.path().join("wharf.db").display()
            ))
            .await
            .unwrap(),
        )
        .await
        .unwrap();
    let (_, check) = call(
        http.post(api_url(
            &server,
            &format!("/connections/{}/check", connected["id"].as_str().unwrap()),
        ))
        .bearer_auth(&key),
        Value::Null,
    )
    .await;
    assert_eq!(check["ok"], true, "{check}");
    assert_eq!(provider_state.lock().unwrap().refreshes, 1);

    // The pending authorization finishes: its verifier decrypts and matches
    // the challenge the provider was given under key 1.
    let finished = http
        .get(format!("{}{}", server.url, callbacks[1]))
        .send()
        .await
        .unwrap();
    let status = finished.status();
    assert_eq!(status, 200, "{}", finished.text().await.unwrap());
    let refused = provider_state.lock().unwrap().refused.clone();
    assert!(refused.is_empty(), "the provider refused: {refused:?}");
    server.stop().await;
}

/// A connector's `state` is kept per connection across sessions, sealed,
/// bounded in keys, and readable after the key rotation re-encrypts it
/// (with the login session's sealed token beside it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connector_state_and_login_sessions_are_sealed_and_survive_rotation() {
    use crate::api_support::{App, Db, engine_options};
    let tenant = "tenant-7f3a9c";
    let app = App::new(Db::Sqlite).await;
    assert_eq!(
        app.upload(guest("hostile")).await.status,
        StatusCode::CREATED
    );
    let id = app
        .connection(
            "stateful",
            "hostile@0.1.0",
            json!({"attack": "state", "value": tenant, "url": "https://api.example.com"}),
            json!({}),
        )
        .await;
    let fetch = |node: wharf::app::App, id: String| async move {
        let row = node.store.connection(&id).await.unwrap().unwrap();
        let (_, session) = wharf::connections::open(&node, &row).await.unwrap();
        session.fetch("out", None).await
    };
    for visits in 1..=2 {
        let page = fetch(app.state.app.clone(), id.clone()).await.unwrap();
        assert_eq!(page.records[0].fields()["visits"], visits);
        // The connector reads back what it kept.
        assert_eq!(page.records[0].fields()["tenant"], tenant);
    }
    // Sealed in the database.
    let store = &app.state.app.store;
    let sealed = store.state_get(&id, "tenant").await.unwrap().unwrap();
    assert!(!sealed.contains(tenant));
    // A login session sealed beside it.
    assert!(store.lease_login(&id, "node-a", 10_000).await.unwrap());
    let session_token = app
        .state
        .app
        .vault
        .encrypt(&wharf::model::secret::SecretValue::new("B1SESSION=s-1"));
    store
        .save_login(&id, Some(&session_token), None)
        .await
        .unwrap();

    // Past the keys a connection may hold: the call fails, saying so.
    let greedy = app
        .connection(
            "greedy",
            "hostile@0.1.0",
            json!({"attack": "state", "value": "x", "n": 70, "url": "https://api.example.com"}),
            json!({}),
        )
        .await;
    let err = fetch(app.state.app.clone(), greedy).await.unwrap_err();
    assert!(err.to_string().contains("at most 64 state keys"), "{err}");

    // Rotate to a new key; then the new key alone reads both.
    let key2 = fernet::Fernet::generate_key();
    let both = Vault::from_keys(&format!("{key2},{}", app.secret_key)).unwrap();
    let (rotated, _) = wharf::server::rotate_secrets(store, &both).await.unwrap();
    assert!(rotated >= 2, "{rotated}");
    let only_new = Arc::new(Vault::from_keys(&key2).unwrap());
    let registry = Arc::new(wharf::registry::Registry::new(
        store.clone(),
        crate::support::runtime(),
    ));
    let node = wharf::app::App::new(store.clone(), registry, only_new.clone(), engine_options());
    let page = fetch(node, id.clone()).await.unwrap();
    assert_eq!(page.records[0].fields()["visits"], 3);
    let login = store.login_session(&id).await.unwrap().unwrap();
    assert_eq!(
        only_new.decrypt(&login.token.unwrap()).unwrap().expose(),
        "B1SESSION=s-1"
    );
}
