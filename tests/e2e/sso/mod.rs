//! Single sign-on against a real OpenID Connect provider on loopback
//! (`oauth2-mock-server` from npm, driven by `oidc_provider.mjs`), through a
//! real `wharf serve`: the console sign-in over HTTP as a browser makes it
//! (cookies, redirects, the state and nonce), roles from the `groups`
//! claim, ID tokens as API bearer credentials, and every way a token or a
//! sign-in is refused: forged, for another client, expired, `alg: none`, a
//! replayed state, a state from another browser, a person without a role.
//! The audit log names people by subject and email.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::{Value, json};

use crate::api_support::fresh_postgres;
use crate::serve::Server;

mod provider;

pub use provider::{CLIENT_ID, Provider, serve_with_sso};

fn cookie_of(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let (pair, _) = v.split_once(';').unwrap_or((v, ""));
            let (n, value) = pair.split_once('=')?;
            (n == name && !value.is_empty()).then(|| value.to_string())
        })
}

/// One sign-in as a browser makes it, up to the provider's redirect back:
/// the callback URL and the browser's `wharf_sso` cookie.
async fn begin(server: &Server, http: &reqwest::Client) -> (String, String) {
    let r = http
        .get(format!("{}/sign-in/sso?next=/connections", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
    let browser = cookie_of(&r, "wharf_sso").expect("the sign-in's cookie");
    let authorize = r.headers()["location"].to_str().unwrap().to_string();
    for part in [
        "response_type=code",
        "code_challenge_method=S256",
        "nonce=",
        "state=",
        "scope=openid+email+groups",
    ] {
        assert!(authorize.contains(part), "{part} missing: {authorize}");
    }
    let r = http.get(&authorize).send().await.unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    let callback = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        callback.starts_with(&format!("{}/sign-in/sso/callback?", server.url)),
        "{callback}"
    );
    (callback, browser)
}

/// Finish a sign-in; the answer's status, body and session cookie.
async fn finish(
    http: &reqwest::Client,
    callback: &str,
    browser: Option<&str>,
) -> (StatusCode, String, Option<String>) {
    let mut req = http.get(callback);
    if let Some(b) = browser {
        req = req.header("cookie", format!("wharf_sso={b}"));
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let session = cookie_of(&r, "wharf_session");
    (status, r.text().await.unwrap(), session)
}

/// Sign in as the provider's next person; the session cookie.
async fn sign_in(server: &Server, http: &reqwest::Client) -> String {
    let (callback, browser) = begin(server, http).await;
    let (status, body, session) = finish(http, &callback, Some(&browser)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("url=/connections"), "{body}");
    session.expect("a session cookie")
}

async fn page(
    server: &Server,
    http: &reqwest::Client,
    session: &str,
    path: &str,
) -> (StatusCode, String) {
    let r = http
        .get(format!("{}{path}", server.url))
        .header("cookie", format!("wharf_session={session}"))
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn api(
    server: &Server,
    http: &reqwest::Client,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = http
        .request(method, format!("{}{path}", server.url))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// `GET /api/v1/me` with `token`.
async fn me(server: &Server, http: &reqwest::Client, token: &str) -> (StatusCode, Value) {
    api(
        server,
        http,
        token,
        reqwest::Method::GET,
        "/api/v1/me",
        None,
    )
    .await
}

async fn sign_in_and_roles(database_url: Option<String>) {
    let provider = Provider::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = serve_with_sso(&provider, dir.path(), database_url).await;
    let admin_key = server.key.clone().unwrap();
    let http = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();

    // The sign-in page offers the provider beside the key form.
    let r = http
        .get(format!("{}/sign-in", server.url))
        .send()
        .await
        .unwrap();
    let body = r.text().await.unwrap();
    assert!(body.contains("/sign-in/sso?next="), "{body}");
    assert!(body.contains(&provider.issuer));

    // A viewer signs in: the console shows their email and role, and
    // offers no write.
    provider
        .next_person(json!({"sub": "u-alice", "email": "alice@example.com", "groups": ["staff"]}))
        .await;
    let (callback, browser) = begin(&server, &http).await;
    let (status, body, session) = finish(&http, &callback, Some(&browser)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let viewer = session.unwrap();
    let (status, connections) = page(&server, &http, &viewer, "/connections").await;
    assert_eq!(status, StatusCode::OK);
    assert!(connections.contains("alice@example.com"), "{connections}");
    assert!(connections.contains(">viewer<"), "the role is shown");
    assert!(
        !connections.contains("New connection"),
        "a viewer is offered no write"
    );
    assert!(
        !connections.contains("href=\"/keys\""),
        "nor the admin pages"
    );
    let (status, _) = page(&server, &http, &viewer, "/keys").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The same state again (a replay of the provider's redirect) is
    // refused, with the browser's cookie or without.
    let (status, body, session) = finish(&http, &callback, Some(&browser)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("already used"), "{body}");
    assert!(session.is_none());
    // A state that came back to another browser is refused (and spent).
    let (callback, _) = begin(&server, &http).await;
    let (status, body, _) = finish(&http, &callback, Some("another-browser")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("another browser"), "{body}");
    let (status, _, _) = finish(&http, &callback, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // A state never issued.
    let (status, _, _) = finish(
        &http,
        &format!("{}/sign-in/sso/callback?code=x&state=made-up", server.url),
        Some(&browser),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Someone the provider knows but whose groups map to no role.
    provider
        .next_person(json!({"sub": "u-eve", "email": "eve@example.com", "groups": ["sales"]}))
        .await;
    let (callback, browser) = begin(&server, &http).await;
    let (status, body, session) = finish(&http, &callback, Some(&browser)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("grants no Wharf role"), "{body}");
    assert!(session.is_none());

    // An ID token carrying a nonce other than this sign-in's (one minted
    // for another sign-in, replayed) is refused.
    provider
        .next_person(json!({"sub": "u-alice", "email": "alice@example.com", "groups": ["staff"], "nonce": "not-this-sign-in"}))
        .await;
    let (callback, browser) = begin(&server, &http).await;
    let (status, body, session) = finish(&http, &callback, Some(&browser)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("nonce"), "{body}");
    assert!(session.is_none());

    // An administrator signs in and sees the admin pages.
    provider
        .next_person(json!({"sub": "u-bob", "email": "bob@example.com", "groups": ["staff", "wharf-admins"]}))
        .await;
    let admin = sign_in(&server, &http).await;
    let (status, keys) = page(&server, &http, &admin, "/keys").await;
    assert_eq!(status, StatusCode::OK);
    assert!(keys.contains("bob@example.com") && keys.contains(">admin<"));

    // ID tokens as API bearer credentials: each role's scope holds.
    let token = provider.id_token(CLIENT_ID).await;
    let (status, who) = me(&server, &http, &token).await;
    assert_eq!(status, StatusCode::OK, "{who}");
    assert_eq!(
        who,
        json!({"kind": "person", "subject": "u-bob", "email": "bob@example.com", "role": "admin", "scope": "admin"})
    );
    let (status, created) = api(
        &server,
        &http,
        &token,
        reqwest::Method::POST,
        "/api/v1/api-keys",
        Some(json!({"name": "made by bob", "scope": "read"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["scope"], "read");

    provider
        .next_person(json!({"sub": "u-olga", "email": "olga@example.com", "groups": ["wharf-ops"]}))
        .await;
    let operator = provider.id_token(CLIENT_ID).await;
    let (status, who) = me(&server, &http, &operator).await;
    assert_eq!(
        (status, who["scope"].clone()),
        (StatusCode::OK, json!("operator"))
    );
    // An operator may change connections (this one does not exist: 404
    // means the scope was enough) but not upload connectors or read keys.
    let (status, _) = api(
        &server,
        &http,
        &operator,
        reqwest::Method::DELETE,
        "/api/v1/connections/nope",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = api(
        &server,
        &http,
        &operator,
        reqwest::Method::GET,
        "/api/v1/api-keys",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("olga@example.com has the role `operator`"),
        "{body}"
    );

    provider
        .next_person(json!({"sub": "u-alice", "email": "alice@example.com", "groups": ["staff"]}))
        .await;
    let viewer_token = provider.id_token(CLIENT_ID).await;
    let (status, _) = api(
        &server,
        &http,
        &viewer_token,
        reqwest::Method::GET,
        "/api/v1/connections",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    for (method, path, body) in [
        (
            reqwest::Method::POST,
            "/api/v1/connections",
            json!({"name": "x", "connector": "y@1.0.0"}),
        ),
        (
            reqwest::Method::DELETE,
            "/api/v1/connections/nope",
            Value::Null,
        ),
        (reqwest::Method::POST, "/api/v1/syncs", json!({})),
    ] {
        let (status, answer) = api(&server, &http, &viewer_token, method, path, Some(body)).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "a viewer's write to {path}: {answer}"
        );
    }

    // An address the provider says it did not verify names nobody.
    provider
        .next_person(json!({"sub": "u-mel", "email": "bob@example.com", "email_verified": false, "groups": ["staff"]}))
        .await;
    let unverified = provider.id_token(CLIENT_ID).await;
    let (status, who) = me(&server, &http, &unverified).await;
    assert_eq!(status, StatusCode::OK, "{who}");
    assert_eq!(
        (who["subject"].as_str(), who.get("email")),
        (Some("u-mel"), None)
    );

    // An administrator ends a person's sessions: their console asks them
    // to sign in again.
    let (status, _) = page(&server, &http, &viewer, "/connections").await;
    assert_eq!(status, StatusCode::OK);
    let (status, ended) = api(
        &server,
        &http,
        &admin_key,
        reqwest::Method::DELETE,
        "/api/v1/people/u-alice/sessions",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{ended}");
    assert_eq!(ended["ended"], 1);
    let (status, _) = page(&server, &http, &viewer, "/connections").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the session is gone");

    // Tokens that must not pass: each refused with its reason.
    let forged = provider.forged().await;
    let other_client = provider.id_token("some-other-app").await;
    provider
        .next_person(json!({"sub": "u-bob", "email": "bob@example.com", "groups": ["wharf-admins"], "exp_in": -600}))
        .await;
    let expired = provider.id_token(CLIENT_ID).await;
    // The claims of a good token, re-signed with `alg: none`.
    let claims = token.split('.').nth(1).unwrap();
    let unsigned = format!("{}.{claims}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#));
    for (what, bad, reason) in [
        ("forged", &forged, "signature does not verify"),
        ("for another client", &other_client, "another client"),
        ("expired", &expired, "expired"),
        ("unsigned", &unsigned, "`none`"),
    ] {
        let (status, body) = me(&server, &http, bad).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(reason), "{what}: {body}");
    }

    // The audit log names the people: sign-ins and the key bob made.
    let (status, audit) = api(
        &server,
        &http,
        &admin_key,
        reqwest::Method::GET,
        "/api/v1/audit?actor=bob@example.com",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    let entries = audit["items"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"console.sign_in") && actions.contains(&"api_key.create"),
        "{audit}"
    );
    for e in entries {
        assert_eq!(e["subject"], "u-bob", "{e}");
        assert_eq!(e["email"], "bob@example.com");
        assert!(e["key_id"].is_null());
    }
    let (_, audit) = api(
        &server,
        &http,
        &admin_key,
        reqwest::Method::GET,
        "/api/v1/audit?action=console.sign_in",
        None,
    )
    .await;
    let people: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["subject"].as_str())
        .collect();
    assert!(
        people.contains(&"u-alice") && !people.contains(&"u-eve"),
        "{audit}"
    );
    let (_, audit_page) = page(&server, &http, &admin, "/audit").await;
    assert!(
        audit_page.contains("alice@example.com"),
        "the audit page names people"
    );

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_sign_in_through_the_identity_provider_with_roles_on_sqlite() {
    sign_in_and_roles(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_sign_in_through_the_identity_provider_with_roles_on_postgres() {
    sign_in_and_roles(Some(fresh_postgres().await)).await;
}
