//! Login sessions through the API and a real component (`hostile`, whose
//! spec declares SAP Business One's login): the host logs in with the
//! connection's password substituted as JSON, keeps the `B1SESSION` and
//! `ROUTEID` cookies sealed per connection across runs, logs in again when
//! the service answers 401, and neither the guest, the run log nor the
//! database in clear ever holds the session.
//!
//! The fake follows SAP's Service Layer documentation ("Working with SAP
//! Business One Service Layer", help.sap.com): `POST /b1s/v1/Login` with
//! `CompanyDB`, `UserName` and `Password`, answered with `SessionId`,
//! `Version` and `SessionTimeout` and the two cookies; a request without a
//! valid session gets 401 with error code 301, "Invalid session.".

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::api_support::{App, Db};
use crate::support::{Upstream, guest};

/// A password that breaks a JSON body unless the host escapes it.
const PASSWORD: &str = r#"pa"ss\word"#;

#[derive(Default)]
struct B1 {
    logins: u32,
    session: Option<String>,
    /// Cookies of the logouts received.
    logouts: Vec<String>,
}

/// The request's cookies, when they hold the current session and its route.
fn session_cookie(b1: &Mutex<B1>, h: &HeaderMap) -> Option<String> {
    let cookie = h.get(header::COOKIE)?.to_str().ok()?.to_string();
    let id = b1.lock().unwrap().session.clone()?;
    (cookie.contains(&format!("B1SESSION={id}")) && cookie.contains("ROUTEID=.node1"))
        .then_some(cookie)
}

/// Service Layer's answer to a request without a valid session.
fn invalid_session() -> Value {
    json!({"error": {"code": 301, "message": {"lang": "en-us", "value": "Invalid session."}}})
}

async fn service_layer(b1: Arc<Mutex<B1>>) -> Upstream {
    let login = b1.clone();
    let items = b1.clone();
    let soft = b1.clone();
    let logout = b1.clone();
    Upstream::start(
        Router::new()
            .route(
                "/b1s/v1/Login",
                post(move |body: String| {
                    let b1 = login.clone();
                    async move {
                        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                        if v["Password"] != PASSWORD || v["UserName"] != "manager" {
                            // SAP's refusal, plus the password it was given
                            // (as some services echo it), so the test can
                            // tell that the host redacts it.
                            return (
                                StatusCode::UNAUTHORIZED,
                                axum::Json(json!({"error": {"code": 100000027, "message": {"lang": "en-us", "value": "Login failed"}},
                                    "given": v["Password"]})),
                            )
                                .into_response();
                        }
                        let mut b1 = b1.lock().unwrap();
                        b1.logins += 1;
                        let id = format!("sess-{}-0c6a6f5e-4bd1", b1.logins);
                        b1.session = Some(id.clone());
                        (
                            AppendHeaders([
                                (header::SET_COOKIE, format!("B1SESSION={id}; HttpOnly")),
                                (header::SET_COOKIE, "ROUTEID=.node1; path=/b1s".to_string()),
                            ]),
                            axum::Json(json!({
                                "odata.metadata": "https://localhost:50000/b1s/v1/$metadata#B1Sessions/@Element",
                                "SessionId": id, "Version": "1000190", "SessionTimeout": 30
                            })),
                        )
                            .into_response()
                    }
                }),
            )
            .route(
                "/b1s/v1/Logout",
                post(move |h: HeaderMap| {
                    let b1 = logout.clone();
                    async move {
                        let cookie = session_cookie(&b1, &h).unwrap_or_default();
                        let mut b1 = b1.lock().unwrap();
                        b1.logouts.push(cookie);
                        b1.session = None;
                        StatusCode::NO_CONTENT
                    }
                }),
            )
            .route(
                // Answers an invalid session with 200 and the error.
                "/b1s/v1/Soft",
                get(move |h: HeaderMap| {
                    let b1 = soft.clone();
                    async move {
                        match session_cookie(&b1, &h) {
                            Some(_) => axum::Json(json!({"value": [{"ItemCode": "S1"}]})),
                            None => axum::Json(invalid_session()),
                        }
                    }
                }),
            )
            .route(
                "/b1s/v1/Items",
                get(move |h: HeaderMap| {
                    let b1 = items.clone();
                    async move {
                        match session_cookie(&b1, &h) {
                            Some(cookie) => (
                                StatusCode::OK,
                                // A careless service that echoes the cookie.
                                axum::Json(json!({"value": [{"ItemCode": "A00001", "ItemName": "J.B. Officeprint 1420"}], "cookie": cookie})),
                            ),
                            None => (StatusCode::UNAUTHORIZED, axum::Json(invalid_session())),
                        }
                    }
                }),
            ),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_logs_in_keeps_the_session_sealed_and_logs_in_again() {
    let app = App::new(Db::Sqlite).await;
    let _workers = app.start_workers();
    let b1 = Arc::new(Mutex::new(B1::default()));
    let up = service_layer(b1.clone()).await;
    assert_eq!(
        app.upload(guest("hostile")).await.status,
        StatusCode::CREATED
    );
    let config = json!({"attack": "send-session", "url": up.url("/b1s/v1/Items"),
        "login_url": up.url("/b1s/v1/Login"), "logout_url": up.url("/b1s/v1/Logout")});
    let conn = app
        .connection(
            "b1",
            "hostile@0.1.0",
            config.clone(),
            json!({"token": PASSWORD}),
        )
        .await;
    let sync = app
        .sync(json!({"name": "items", "source": conn, "streams": ["out"]}))
        .await;

    // First run: one login; the echoed cookie reaches the guest redacted.
    let done = app.run(&sync).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(b1.lock().unwrap().logins, 1);
    let a = app
        .get(&format!(
            "/api/v1/syncs/{sync}/records/export?stream=out&format=json"
        ))
        .await;
    assert!(a.text.contains("J.B. Officeprint 1420"), "{}", a.text);
    assert!(a.text.contains("[REDACTED]"), "{}", a.text);
    assert!(!a.text.contains("sess-1"), "{}", a.text);

    // Second run: the stored session, no new login.
    let done = app.run(&sync).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(b1.lock().unwrap().logins, 1);

    // The service forgets the session: 401, one new login, the run goes on.
    b1.lock().unwrap().session = None;
    let done = app.run(&sync).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(b1.lock().unwrap().logins, 2);

    // Sealed in the database; in no log line.
    let row = app
        .state
        .app
        .store
        .login_session(&conn)
        .await
        .unwrap()
        .unwrap();
    let sealed = row.token.unwrap();
    assert!(!sealed.contains("sess-"), "{sealed}");
    assert_eq!(
        app.state.app.vault.decrypt(&sealed).unwrap().expose(),
        "B1SESSION=sess-2-0c6a6f5e-4bd1; ROUTEID=.node1"
    );
    let runs = app.get(&format!("/api/v1/syncs/{sync}/runs")).await;
    let runs = runs.json["items"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    for r in runs {
        let logs = app
            .get(&format!("/api/v1/runs/{}/logs", r["id"].as_str().unwrap()))
            .await;
        assert!(!logs.text.contains("sess-"), "{}", logs.text);
    }

    // Deleting the connection ends its session at the service.
    let admin = app.admin.clone();
    let a = app
        .call(
            Method::DELETE,
            &format!("/api/v1/syncs/{sync}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text);
    let a = app
        .call(
            Method::DELETE,
            &format!("/api/v1/connections/{conn}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text);
    for _ in 0..100 {
        if !b1.lock().unwrap().logouts.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        b1.lock().unwrap().logouts,
        vec!["B1SESSION=sess-2-0c6a6f5e-4bd1; ROUTEID=.node1".to_string()]
    );

    // A system that says so in a 200: the connector answers `auth-expired`,
    // the host logs in again and calls once more.
    b1.lock().unwrap().session = None;
    let soft = app
        .connection(
            "b1-soft",
            "hostile@0.1.0",
            json!({"attack": "session-soft-expiry", "url": up.url("/b1s/v1/Soft"), "login_url": up.url("/b1s/v1/Login")}),
            json!({"token": PASSWORD}),
        )
        .await;
    // Its first session is stale: a login the service then forgets.
    let sync_soft = app
        .sync(json!({"name": "soft", "source": soft, "streams": ["out"]}))
        .await;
    let done = app.run(&sync_soft).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let logins = b1.lock().unwrap().logins;
    b1.lock().unwrap().session = None;
    let done = app.run(&sync_soft).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(b1.lock().unwrap().logins, logins + 1);
    let logs = app
        .get(&format!(
            "/api/v1/runs/{}/logs",
            done["id"].as_str().unwrap()
        ))
        .await;
    assert!(logs.text.contains("credentials expired"), "{}", logs.text);

    // A wrong password: the run fails with the login named, the password
    // nowhere in the reason.
    let wrong = app
        .connection(
            "b1-wrong",
            "hostile@0.1.0",
            config,
            json!({"token": "nope-123456"}),
        )
        .await;
    let sync = app
        .sync(json!({"name": "items-wrong", "source": wrong, "streams": ["out"]}))
        .await;
    let done = app.run(&sync).await;
    assert_eq!(done["status"], "failed", "{done}");
    let text = done.to_string();
    assert!(text.contains("login failed"), "{text}");
    assert!(text.contains("Login failed"), "SAP's own words: {text}");
    assert_eq!(done["error_kind"], "auth", "{text}");
    assert!(!text.contains("nope-123456"), "{text}");
}
