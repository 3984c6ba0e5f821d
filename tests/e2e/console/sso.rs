//! Single sign-on in a real browser: the sign-in page's button goes to the
//! identity provider (a real OpenID Connect server on loopback) and back;
//! a viewer lands in the console named by email, with the viewer badge and
//! no control that writes; an administrator sees the admin pages.

use serde_json::{Value, json};

use super::webdriver::Browser;
use crate::sso::{Provider, serve_with_sso};
use crate::support::guest_path;

/// Forms on the page that change something (all but signing out).
async fn writes(b: &Browser) -> Value {
    b.script(
        "return [...document.querySelectorAll('form[method=post]')]\
         .map(f => f.getAttribute('action')).filter(a => a !== '/sign-out');",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_with_the_identity_provider_in_a_browser() {
    let provider = Provider::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = serve_with_sso(&provider, dir.path(), None).await;
    let url = server.url.clone();
    // A connection to look at, made with the admin key.
    let key = server.key.clone().unwrap();
    let http = reqwest::Client::new();
    let up = http
        .post(format!("{url}/api/v1/connectors"))
        .bearer_auth(&key)
        .header("content-type", "application/wasm")
        .body(std::fs::read(guest_path("http-json")).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(up.status(), 201);
    let created = http
        .post(format!("{url}/api/v1/connections"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(json!({"name": "shop", "connector": "http-json@0.1.0",
            "config": {"base_url": "http://127.0.0.1:9/v1", "streams": {"products": {"path": "/products", "key": "id"}}},
            "grants": {"networks": ["127.0.0.0/8"]}}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let connection: Value = serde_json::from_slice(&created.bytes().await.unwrap()).unwrap();
    let connection_page = format!("{url}/connections/{}", connection["id"].as_str().unwrap());
    let b = Browser::start(1280).await;

    provider
        .next_person(
            serde_json::json!({"sub": "u-vera", "email": "vera@example.com", "groups": ["staff"]}),
        )
        .await;
    b.goto(&format!("{url}/connections")).await;
    let button = b.find("a#sso").await;
    b.screenshot("sign-in-sso").await;
    b.click(&button).await;
    // Provider, callback, and the page that carries the session on.
    b.find("header.top").await;
    assert!(b.url().await.ends_with("/connections"), "{}", b.url().await);
    let who = b.text_of(".who").await;
    assert!(
        who.contains("vera@example.com") && who.contains("viewer"),
        "{who}"
    );
    let source = b.source().await;
    assert!(source.contains("shop"), "the viewer sees the connection");
    assert!(
        !source.contains("New connection"),
        "a viewer is offered no write"
    );
    assert!(b.all("nav a[href='/keys']").await.is_empty());
    b.screenshot("signed-in-as-viewer").await;
    b.goto(&connection_page).await;
    b.find("h1").await;
    assert_eq!(
        writes(&b).await,
        json!([]),
        "a viewer's connection page has no control that writes"
    );

    // Signing out and in again as someone else: the role follows the
    // provider's groups.
    b.click(&b.find("form[action='/sign-out'] button").await)
        .await;
    b.find("a#sso").await;
    provider
        .next_person(serde_json::json!({"sub": "u-ada", "email": "ada@example.com", "groups": ["wharf-admins"]}))
        .await;
    b.click(&b.find("a#sso").await).await;
    b.find("header.top").await;
    let who = b.text_of(".who").await;
    assert!(
        who.contains("ada@example.com") && who.contains("admin"),
        "{who}"
    );
    b.goto(&connection_page).await;
    b.find("h1").await;
    let forms = writes(&b).await;
    assert!(
        forms.as_array().unwrap().len() >= 2,
        "an admin's connection page has its controls: {forms}"
    );
    b.goto(&format!("{url}/audit")).await;
    let audit = b.text_of("table#audit").await;
    assert!(
        audit.contains("vera@example.com") && audit.contains("ada@example.com"),
        "{audit}"
    );
    b.screenshot("audit-people").await;
    server.stop().await;
}
