//! The console without a browser, on SQLite and on PostgreSQL: sign-in,
//! a page, the CSRF and origin locks, a key shown once, the audit filter
//! and sign-out, through the console router in front of the API router.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt as _;

use crate::api_support::{App, Db};

struct Page {
    status: StatusCode,
    cookies: Vec<String>,
    location: Option<String>,
    body: String,
}

async fn send(router: &Router, req: Request<Body>) -> Page {
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let cookies = resp
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .collect();
    let location = resp
        .headers()
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_string());
    let body = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .unwrap();
    Page {
        status,
        cookies,
        location,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn get(path: &str, cookie: &str) -> Request<Body> {
    Request::get(path)
        .header(header::HOST, "wharf.test")
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap()
}

fn post(path: &str, cookie: &str, form: &str) -> Request<Body> {
    Request::post(path)
        .header(header::HOST, "wharf.test")
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_string()))
        .unwrap()
}

fn csrf(body: &str) -> String {
    let at = body.find(r#"name="_csrf" value=""#).expect("a CSRF field") + 20;
    body[at..at + 64].to_string()
}

async fn console_on(db: Db) {
    let sqlite = matches!(db, Db::Sqlite);
    let app = App::new(db).await;
    let console = wharf::console::router(app.state.clone(), app.router.clone());

    // Every page asks to sign in first; the API is behind the console.
    let p = send(&console, get("/connections", "")).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(p.location.as_deref(), Some("/sign-in?next=%2Fconnections"));
    let p = send(&console, get("/api/v1/connections", "")).await;
    assert_eq!(
        p.status,
        StatusCode::UNAUTHORIZED,
        "the API still wants a key"
    );

    let form = send(&console, get("/sign-in", "")).await;
    let sign_in_cookie = form.cookies[0].clone();
    let token = csrf(&form.body);
    // Without the form's own cookie the token proves nothing.
    let p = send(
        &console,
        post("/sign-in", "", &format!("key={}&_csrf={token}", app.admin)),
    )
    .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let p = send(
        &console,
        post(
            "/sign-in",
            &sign_in_cookie,
            &format!("key=wharf_0_wrong&_csrf={token}"),
        ),
    )
    .await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    assert!(p.body.contains("unknown or revoked"));
    let p = send(
        &console,
        post(
            "/sign-in",
            &sign_in_cookie,
            &format!("key={}&_csrf={token}&next=%2Fkeys", app.admin),
        ),
    )
    .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(p.location.as_deref(), Some("/keys"));
    let session = p
        .cookies
        .iter()
        .find(|c| c.starts_with("wharf_session="))
        .unwrap()
        .clone();

    let keys = send(&console, get("/keys", &session)).await;
    assert_eq!(keys.status, StatusCode::OK);
    let token = csrf(&keys.body);
    // A form without the session's token, or from another origin, is refused.
    let p = send(&console, post("/keys", &session, "name=x&scope=read")).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let mut foreign = post(
        "/keys",
        &session,
        &format!("name=x&scope=read&_csrf={token}"),
    );
    foreign
        .headers_mut()
        .insert(header::ORIGIN, "https://evil.example".parse().unwrap());
    assert_eq!(send(&console, foreign).await.status, StatusCode::FORBIDDEN);

    // A key is shown once.
    let p = send(
        &console,
        post(
            "/keys",
            &session,
            &format!("name=viewer&scope=read&_csrf={token}"),
        ),
    )
    .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let shown = send(&console, get("/keys", &session)).await;
    let at = shown.body.find("data-once>").expect("the new key") + 10;
    let key = &shown.body[at..at + 6];
    assert_eq!(key, "wharf_");
    let again = send(&console, get("/keys", &session)).await;
    assert!(!again.body.contains("data-once"), "gone on reload");

    // The audit filter is the API's.
    let audit = send(&console, get("/audit?action=console.", &session)).await;
    assert!(audit.body.contains("console.sign_in"), "{}", audit.body);
    assert!(!audit.body.contains("api_key.create"));
    let audit = send(&console, get("/audit?action=api_key.create", &session)).await;
    assert!(audit.body.contains("api_key.create"));

    // Pages answer on this backend too.
    for path in ["/", "/catalog", "/connections", "/syncs", "/webhooks"] {
        let p = send(&console, get(path, &session)).await;
        assert_eq!(p.status, StatusCode::OK, "{path}: {}", p.body);
    }

    // The shipped connectors' connection forms: every config field is
    // there with its description (on one backend: the forms do not depend
    // on it).
    if sqlite {
        let escape = |t: &str| {
            t.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
        };
        for name in [
            "erpnext",
            "shopify",
            "trendyol",
            "fancourier",
            "neo4j",
            "nextcloud",
            "google-drive",
            "anaf",
            "files",
        ] {
            let a = app.upload(crate::support::guest(name)).await;
            assert!(a.status.is_success(), "{name}: {}", a.text);
            let version = a.json["version"].as_str().unwrap();
            let p = send(
                &console,
                get(
                    &format!("/connections/new?connector={name}%40{version}"),
                    &session,
                ),
            )
            .await;
            assert_eq!(p.status, StatusCode::OK, "{name}: {}", p.body);
            let page = app
                .get(&format!("/api/v1/connectors/{name}/{version}"))
                .await;
            let schema = &page.json["spec"]["config_schema"];
            let props = schema["properties"]
                .as_object()
                .unwrap_or_else(|| panic!("{name}: {schema}"));
            for (field, prop) in props {
                let description = prop["description"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{name}.{field} has no description"));
                assert!(
                    p.body.contains(&escape(description)),
                    "{name}.{field}: its description is not on the form"
                );
            }
        }
    }

    // Sign-out ends the session here, not only in the browser.
    let p = send(
        &console,
        post("/sign-out", &session, &format!("_csrf={token}")),
    )
    .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let p = send(&console, get("/keys", &session)).await;
    assert_eq!(
        p.status,
        StatusCode::SEE_OTHER,
        "the old cookie no longer works"
    );
}

#[tokio::test]
async fn the_console_on_sqlite() {
    console_on(Db::Sqlite).await;
}

#[tokio::test]
async fn the_console_on_postgres() {
    console_on(Db::Postgres).await;
}
