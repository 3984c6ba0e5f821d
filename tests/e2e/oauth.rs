//! OAuth2 connections: the flow against a real OAuth2 server
//! (`oauth2-mock-server` from npm, on loopback), and refresh against a small
//! fake provider that rotates refresh tokens and revokes them on reuse:
//! twenty runs that find an expired token cause exactly one refresh, across
//! nodes on PostgreSQL; `invalid_grant` means the connection needs to be
//! authorized again; no token ever shows up in an answer.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::api_support::{App, Db};
use crate::support::{Upstream, guest};

/// Follow the authorization URL to its redirect, and hand the code and state
/// to the server's callback, as a browser would.
async fn authorize(app: &App, connection: &str) -> crate::api_support::Answer {
    let a = app
        .post(
            &format!("/api/v1/connections/{connection}/oauth/start"),
            json!(null),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let url = a.json["authorization_url"].as_str().unwrap();
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = client.get(url).send().await.unwrap();
    assert!(resp.status().is_redirection(), "{}", resp.status());
    let location = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(location.path(), "/oauth/callback");
    let query = location.query().unwrap().to_string();
    app.call(Method::GET, &format!("/oauth/callback?{query}"), None, None)
        .await
}

async fn oauth_connection(app: &App, name: &str, config: Value) -> String {
    let a = app
        .post(
            "/api/v1/connections",
            json!({"name": name, "connector": "oauth-api@0.1.0", "config": config,
                   "secrets": {"oauth_client_id": crate::fake_oauth::CLIENT_ID, "oauth_client_secret": crate::fake_oauth::CLIENT_SECRET},
                   "grants": {"networks": ["127.0.0.0/8"]}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    a.json["id"].as_str().unwrap().to_string()
}

/// `oauth2-mock-server`, installed once into `target/npm` and started on a
/// free loopback port.
pub(crate) struct MockServer {
    child: tokio::process::Child,
    pub(crate) origin: String,
}

impl Drop for MockServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// `oauth2-mock-server`'s package directory, installed into `target/npm`
/// the first time.
pub(crate) async fn mock_server_package() -> PathBuf {
    let prefix = PathBuf::from(env!("WHARF_GUESTS_DIR")).join("../../../npm");
    let package = prefix.join("node_modules/oauth2-mock-server");
    // Tests run at once; one installs, the others wait for it.
    static INSTALL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one = INSTALL.lock().await;
    if !package.join("dist/oauth2-mock-server.mjs").exists() {
        let status = tokio::process::Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&prefix)
            .arg("oauth2-mock-server@8")
            .status()
            .await
            .expect("npm (Node.js) is needed for the OAuth2 tests");
        assert!(status.success(), "npm install oauth2-mock-server failed");
    }
    package
}

pub(crate) async fn mock_server() -> MockServer {
    let entry = mock_server_package()
        .await
        .join("dist/oauth2-mock-server.mjs");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = tokio::process::Command::new("node")
        .arg(&entry)
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start oauth2-mock-server");
    let origin = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if reqwest::get(format!("{origin}/.well-known/openid-configuration"))
            .await
            .is_ok()
        {
            return MockServer { child, origin };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.start_kill();
    panic!("oauth2-mock-server did not start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorization_code_flow_against_a_real_oauth2_server() {
    let mock = mock_server().await;
    let app = App::new(Db::Sqlite).await;
    assert_eq!(
        app.upload(guest("oauth-api")).await.status,
        StatusCode::CREATED
    );
    let id = oauth_connection(
        &app,
        "mocked",
        json!({"base_url": mock.origin, "auth_url": mock.origin, "me_path": "/userinfo"}),
    )
    .await;

    // Not connected yet: the check says what to do.
    let a = app
        .post(&format!("/api/v1/connections/{id}/check"), json!(null))
        .await;
    assert!(a.text.contains("not authorized yet"), "{}", a.text);

    let a = authorize(&app, &id).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert!(a.text.contains("is authorized"));
    // The callback carries no credential; it is audited in the name of
    // the key that began the authorization.
    let a = app
        .get("/api/v1/audit?action=connection.oauth_connected")
        .await;
    let admin_id = app.admin.split('_').nth(1).unwrap();
    assert_eq!(a.json["items"][0]["key_id"], admin_id, "{}", a.text);
    let a = app
        .post(&format!("/api/v1/connections/{id}/check"), json!(null))
        .await;
    assert_eq!(a.json["ok"], true, "{}", a.text);

    // The state is single-use: the callback the browser already made, made
    // again, is refused (and a state that was never issued too).
    let start = app
        .post(
            &format!("/api/v1/connections/{id}/oauth/start"),
            json!(null),
        )
        .await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = client
        .get(start.json["authorization_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let location = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    let callback = format!("/oauth/callback?{}", location.query().unwrap());
    let first = app.call(Method::GET, &callback, None, None).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let replay = app.call(Method::GET, &callback, None, None).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST, "{}", replay.text);
    assert!(replay.text.contains("already used"), "{}", replay.text);
    let state = location
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .to_string();
    let a = app
        .call(
            Method::GET,
            &format!("/oauth/callback?code=forged&state={state}x"),
            None,
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);

    // No token in the database in clear, nor in any answer.
    let tokens = app
        .state
        .app
        .store
        .oauth_tokens(&id)
        .await
        .unwrap()
        .unwrap();
    let access = app.state.app.vault.decrypt(&tokens.access_token).unwrap();
    assert!(access.expose().len() > 20);
    let shown = app.get(&format!("/api/v1/connections/{id}")).await;
    assert!(!shown.text.contains(access.expose()));
    assert!(
        tokens.access_token.starts_with("gAAAAA"),
        "stored as a Fernet token"
    );

    // `oauth.info`: the grant's non-secret facts the spec names; the
    // access token it also names is never handed out.
    let _workers = app.start_workers();
    let sync = app
        .sync(json!({"name": "grant", "source": id, "streams": ["grant"]}))
        .await;
    let done = app.run(&sync).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let a = app
        .get(&format!(
            "/api/v1/syncs/{sync}/records/export?stream=grant&format=json"
        ))
        .await;
    assert!(a.text.contains("\"token_type\""), "{}", a.text);
    assert!(a.text.contains("\"expires_at\""), "{}", a.text);
    assert!(!a.text.contains("access_token"), "{}", a.text);
    let latest = app
        .state
        .app
        .store
        .oauth_tokens(&id)
        .await
        .unwrap()
        .unwrap();
    let access = app.state.app.vault.decrypt(&latest.access_token).unwrap();
    assert!(!a.text.contains(access.expose()), "{}", a.text);
}

async fn fake_provider(rotate: bool) -> (Upstream, crate::fake_oauth::Shared) {
    crate::fake_oauth::provider(rotate).await
}

async fn expire(app: &App, connection: &str) {
    sqlx::query("UPDATE oauth_tokens SET expires_at = $1 WHERE connection_id = $2")
        .bind(wharf::store::now_ms() - 1000)
        .bind(connection)
        .execute(app.state.app.store.pool())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_runs_with_an_expired_token_cause_one_refresh_across_nodes() {
    let (provider, state) = fake_provider(true).await;
    let app = App::new(Db::Postgres).await;
    assert_eq!(
        app.upload(guest("oauth-api")).await.status,
        StatusCode::CREATED
    );
    let id = oauth_connection(
        &app,
        "rotating",
        json!({"base_url": provider.origin(), "auth_url": provider.origin()}),
    )
    .await;
    assert_eq!(authorize(&app, &id).await.status, StatusCode::OK);
    expire(&app, &id).await;

    // A second node: its own engine (and node id) on the same database.
    let other = wharf::app::App::new(
        app.state.app.store.clone(),
        app.state.app.registry.clone(),
        app.state.app.vault.clone(),
        crate::api_support::engine_options(),
    );
    let row = app.state.app.store.connection(&id).await.unwrap().unwrap();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let engine = if i % 2 == 0 {
            app.state.app.clone()
        } else {
            other.clone()
        };
        let row = row.clone();
        tasks.push(tokio::spawn(async move {
            wharf::oauth::access_token(&engine, &row).await
        }));
    }
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(
            t.await
                .unwrap()
                .expect("every run gets a token")
                .unwrap()
                .expose()
                .to_string(),
        );
    }
    assert_eq!(
        state.lock().unwrap().refreshes,
        1,
        "exactly one refresh call"
    );
    assert!(
        tokens.iter().all(|t| t == &tokens[0]),
        "all runs use the refreshed token"
    );
    assert!(
        !state.lock().unwrap().revoked,
        "no refresh token was reused"
    );
    let a = app
        .post(&format!("/api/v1/connections/{id}/check"), json!(null))
        .await;
    assert_eq!(a.json["ok"], true, "{}", a.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_keeps_the_old_refresh_token_and_invalid_grant_needs_reauth() {
    let (provider, state) = fake_provider(false).await;
    let app = App::new(Db::Sqlite).await;
    let events = app
        .post("/api/v1/webhooks", json!({"url": provider.url("/events"), "events": ["connection.needs_reauth"], "networks": ["127.0.0.0/8"]}))
        .await;
    assert_eq!(events.status, StatusCode::CREATED, "{}", events.text);
    let hook = events.json["id"].as_str().unwrap().to_string();
    assert_eq!(
        app.upload(guest("oauth-api")).await.status,
        StatusCode::CREATED
    );
    let id = oauth_connection(
        &app,
        "keeping",
        json!({"base_url": provider.origin(), "auth_url": provider.origin()}),
    )
    .await;
    assert_eq!(authorize(&app, &id).await.status, StatusCode::OK);
    let before = app
        .state
        .app
        .store
        .oauth_tokens(&id)
        .await
        .unwrap()
        .unwrap();

    // The provider answers a refresh without a refresh token: keep ours.
    expire(&app, &id).await;
    let a = app
        .post(&format!("/api/v1/connections/{id}/check"), json!(null))
        .await;
    assert_eq!(a.json["ok"], true, "{}", a.text);
    let after = app
        .state
        .app
        .store
        .oauth_tokens(&id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.refreshes, 1);
    let refresh = |t: &wharf::store::oauth::TokenRow| {
        app.state
            .app
            .vault
            .decrypt(t.refresh_token.as_ref().unwrap())
            .unwrap()
            .expose()
            .to_string()
    };
    assert_eq!(
        refresh(&after),
        refresh(&before),
        "the old refresh token is kept"
    );

    // The grant is revoked: the connection needs to be authorized again.
    state.lock().unwrap().revoked = true;
    expire(&app, &id).await;
    let a = app
        .post(&format!("/api/v1/connections/{id}/check"), json!(null))
        .await;
    assert!(a.text.contains("authorized again"), "{}", a.text);
    let c = app.get(&format!("/api/v1/connections/{id}")).await;
    assert_eq!(c.json["status"], "needs_reauth", "{}", c.text);
    let queued = app
        .get(&format!("/api/v1/webhooks/{hook}/deliveries"))
        .await;
    assert_eq!(
        queued.json["items"][0]["event"], "connection.needs_reauth",
        "{}",
        queued.text
    );
    for t in ["refresh-1", "access-1", "access-2"] {
        assert!(
            !c.text.contains(t) && !a.text.contains(t) && !queued.text.contains(t),
            "a token leaked"
        );
    }
}

/// The token request goes to the endpoint the connector declares, expanded
/// from the connection's config with the template guard, under the
/// connection's network grants like any request a connector makes: a
/// provider on loopback without a network grant gets nothing (neither the
/// code nor the client secret), and a config that smuggles another host
/// into the endpoint is refused before any request is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_endpoint_is_the_declared_one_under_the_connections_grants() {
    let (provider, state) = fake_provider(false).await;
    let app = App::new(Db::Sqlite).await;
    assert_eq!(
        app.upload(guest("oauth-api")).await.status,
        StatusCode::CREATED
    );
    let secrets = json!({"oauth_client_id": crate::fake_oauth::CLIENT_ID,
        "oauth_client_secret": crate::fake_oauth::CLIENT_SECRET});
    let a = app
        .post(
            "/api/v1/connections",
            json!({"name": "ungranted", "connector": "oauth-api@0.1.0",
                "config": {"base_url": provider.origin(), "auth_url": provider.origin()},
                "secrets": secrets}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let id = a.json["id"].as_str().unwrap();
    let page = authorize(&app, id).await;
    assert_eq!(page.status, StatusCode::BAD_GATEWAY, "{}", page.text);
    assert!(
        page.text.contains("token endpoint refused"),
        "{}",
        page.text
    );
    {
        let s = state.lock().unwrap();
        assert_eq!(s.exchanges, 0);
        assert!(
            s.refused.is_empty(),
            "a request reached /token: {:?}",
            s.refused
        );
    }
    assert!(
        app.state
            .app
            .store
            .oauth_tokens(id)
            .await
            .unwrap()
            .is_none(),
        "no token stored"
    );

    // Another host smuggled into the endpoint through the config.
    let smuggled = format!(
        "https://auth.example.com@{}",
        provider.origin().trim_start_matches("http://")
    );
    let a = app
        .post(
            "/api/v1/connections",
            json!({"name": "smuggled", "connector": "oauth-api@0.1.0",
                "config": {"base_url": provider.origin(), "auth_url": smuggled},
                "secrets": secrets, "grants": {"hosts": [provider.origin()], "networks": ["127.0.0.0/8"]}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text);
    assert!(a.text.contains("OAuth2 token endpoint"), "{}", a.text);
    assert!(a.text.contains("auth_url"), "{}", a.text);
    let s = state.lock().unwrap();
    assert_eq!((s.exchanges, s.issued), (0, 0));
}

/// A token the provider stops accepting in the middle of a run (tokens of
/// Sage last 5 minutes, Xero's 30): the host fetches the token per request,
/// and on a 401 from the API renews it once (under the refresh lease) and
/// sends the request again. The run succeeds with every page, and the
/// connection is not put in `error`. A provider that leaves out
/// `expires_in` (Salesforce) gets the default lifetime, not "never".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_that_expires_mid_run_is_renewed_and_the_run_succeeds() {
    let (provider, state) = fake_provider(true).await;
    state.lock().unwrap().no_expires_in = true;
    let app = App::new(Db::Sqlite).await;
    let _workers = app.start_workers();
    assert_eq!(
        app.upload(guest("oauth-api")).await.status,
        StatusCode::CREATED
    );
    let id = oauth_connection(
        &app,
        "short-lived",
        json!({"base_url": provider.origin(), "auth_url": provider.origin()}),
    )
    .await;
    assert_eq!(authorize(&app, &id).await.status, StatusCode::OK);
    let stored = app
        .state
        .app
        .store
        .oauth_tokens(&id)
        .await
        .unwrap()
        .unwrap();
    let lifetime = stored.expires_at.expect("a default lifetime") - wharf::store::now_ms();
    assert!(
        (3_500_000..=3_600_000).contains(&lifetime),
        "about an hour: {lifetime}"
    );

    state.lock().unwrap().expire_after_pages = Some(2);
    let sync = app
        .sync(json!({"name": "items", "source": id, "streams": ["items"]}))
        .await;
    let done = app.run(&sync).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["counters"]["fetched"], 10, "{done}");
    {
        let s = state.lock().unwrap();
        assert_eq!(s.refreshes, 1, "one renewal for the refused token");
        assert_eq!(s.pages_served, 5);
    }
    let c = app.get(&format!("/api/v1/connections/{id}")).await;
    assert_eq!(c.json["status"], "active", "{}", c.text);
    let logs = app
        .get(&format!(
            "/api/v1/runs/{}/logs",
            done["id"].as_str().unwrap()
        ))
        .await;
    assert!(!logs.text.contains("access-"), "a token reached the log");
}

/// The JWT bearer grant (RFC 7523), as Google service accounts use it: no
/// administrator authorizes; the host signs an ES256 assertion with the
/// connection's `private_key` (claims from the config), exchanges it for a
/// token at the declared endpoint, and does it again when the token
/// expires. The key never leaves the host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_account_gets_its_token_by_a_signed_assertion() {
    use base64::Engine as _;
    use ring::signature::KeyPair;
    let (provider, state) = fake_provider(false).await;
    let rng = ring::rand::SystemRandom::new();
    let alg = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let key = |rng: &ring::rand::SystemRandom| {
        let doc = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, rng).unwrap();
        let pair = ring::signature::EcdsaKeyPair::from_pkcs8(alg, doc.as_ref(), rng).unwrap();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(doc.as_ref())
        );
        (pem, pair.public_key().as_ref().to_vec())
    };
    let (pem, public) = key(&rng);
    state.lock().unwrap().jwt_public = Some(public);
    let app = App::new(Db::Sqlite).await;
    assert_eq!(
        app.upload(guest("oauth-service")).await.status,
        StatusCode::CREATED
    );
    let email = "etl@wharf-test.iam.gserviceaccount.com";
    let config = json!({"base_url": provider.origin(), "auth_url": provider.origin(), "client_email": email});
    let id = app
        .connection(
            "service",
            "oauth-service@0.1.0",
            config.clone(),
            json!({"private_key": pem}),
        )
        .await;
    let a = app
        .post(&format!("/api/v1/connections/{id}/check"), json!(null))
        .await;
    assert_eq!(a.json["ok"], true, "{}", a.text);
    {
        let p = state.lock().unwrap();
        assert_eq!(p.issued, 1);
        let claims = p.last_claims.clone().unwrap();
        assert_eq!(claims["iss"], email);
        assert_eq!(claims["scope"], "read");
        assert_eq!(claims["aud"], format!("{}/token", provider.origin()));
    }
    // Expired: a new assertion, a new token; the check still passes.
    expire(&app, &id).await;
    let a = app
        .post(&format!("/api/v1/connections/{id}/check"), json!(null))
        .await;
    assert_eq!(a.json["ok"], true, "{}", a.text);
    assert_eq!(state.lock().unwrap().issued, 2);
    let shown = app.get(&format!("/api/v1/connections/{id}")).await;
    assert!(!shown.text.contains("PRIVATE KEY"), "{}", shown.text);

    // A key the provider does not know: refused, and said so.
    let (other, _) = key(&rng);
    let wrong = app
        .connection(
            "impostor",
            "oauth-service@0.1.0",
            config,
            json!({"private_key": other}),
        )
        .await;
    let a = app
        .post(&format!("/api/v1/connections/{wrong}/check"), json!(null))
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text);
    assert!(
        a.text.contains("refused the grant (invalid_grant)"),
        "{}",
        a.text
    );
    assert!(!a.text.contains("PRIVATE KEY"));
    assert_eq!(state.lock().unwrap().issued, 2);
}

/// The client credentials grant (RFC 6749 §4.4), as Microsoft Graph's
/// app-only access uses it: the host gets the token with the connection's
/// client id and secret (HTTP Basic, as the spec says), no browser, and
/// asks again when it expires; a wrong secret is the provider's
/// `invalid_client`, said plainly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_gets_its_token_by_client_credentials() {
    let (provider, state) = fake_provider(false).await;
    let app = App::new(Db::Sqlite).await;
    assert_eq!(
        app.upload(guest("oauth-app")).await.status,
        StatusCode::CREATED
    );
    let config = json!({"base_url": provider.origin(), "auth_url": provider.origin()});
    let secrets = |secret: &str| json!({"oauth_client_id": crate::fake_oauth::CLIENT_ID, "oauth_client_secret": secret});
    let id = app
        .connection(
            "app-only",
            "oauth-app@0.1.0",
            config.clone(),
            secrets(crate::fake_oauth::CLIENT_SECRET),
        )
        .await;
    let check = |id: String| {
        let app = &app;
        async move {
            app.post(&format!("/api/v1/connections/{id}/check"), json!(null))
                .await
        }
    };
    let a = check(id.clone()).await;
    assert_eq!(a.json["ok"], true, "{}", a.text);
    assert_eq!(state.lock().unwrap().issued, 1);
    let tokens = app
        .state
        .app
        .store
        .oauth_tokens(&id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        tokens.refresh_token.is_none(),
        "no refresh token for this grant"
    );
    expire(&app, &id).await;
    let a = check(id.clone()).await;
    assert_eq!(a.json["ok"], true, "{}", a.text);
    assert_eq!(state.lock().unwrap().issued, 2);

    let wrong = app
        .connection("impostor-app", "oauth-app@0.1.0", config, secrets("guess"))
        .await;
    let a = check(wrong).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text);
    assert!(a.text.contains("invalid_client"), "{}", a.text);
    assert!(!a.text.contains("guess"), "{}", a.text);
}
