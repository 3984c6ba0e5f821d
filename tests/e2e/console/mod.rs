//! The console in a real browser: headless Chromium over WebDriver against
//! a real `wharf serve` on SQLite, with real components and loopback
//! upstreams. Each page is saved as a screenshot under `target/console/`
//! (and under `docs/console/` with `WHARF_UPDATE_DOCS=1`).

mod backends;
mod sso;
mod webdriver;

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use serde_json::{Value, json};

use crate::serve::Server;
use crate::support::{Upstream, guest_path};
use webdriver::Browser;

const TOKEN: &str = "s3cret-token-never-in-a-page";
const RECORDS: usize = 120;
/// Strings that would run or inject if a page did not escape them.
const HOSTILE_NAME: &str = "<script>alert('x')</script>";
const HOSTILE_ATTR: &str = "\"><img src=x onerror=alert(1) id=injected>";

/// Items behind a bearer token; two carry markup.
async fn items_api() -> Upstream {
    let app = Router::new().route(
        "/api/items",
        get(|headers: HeaderMap| async move {
            if headers.get("authorization").and_then(|v| v.to_str().ok())
                != Some(&format!("Bearer {TOKEN}"))
            {
                return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "bad token"})));
            }
            let mut items: Vec<Value> = (1..=RECORDS)
                .map(|i| json!({"id": format!("item-{i:04}"), "name": format!("Item {i}"), "price": i}))
                .collect();
            items[0]["name"] = json!(HOSTILE_NAME);
            items[1]["name"] = json!(HOSTILE_ATTR);
            (StatusCode::OK, axum::Json(Value::Array(items)))
        }),
    );
    Upstream::start(app).await
}

async fn sign_in(b: &Browser, url: &str, key: &str) {
    b.goto(&format!("{url}/")).await;
    b.find("input[name=key]").await;
    assert!(
        b.url().await.contains("/sign-in"),
        "a page asks to sign in first"
    );
    b.fill("input[name=key]", key).await;
    b.click(&b.find("form[action='/sign-in'] button").await)
        .await;
    b.find("header.top").await;
}

async fn sign_out(b: &Browser) {
    b.click(&b.find("form[action='/sign-out'] button").await)
        .await;
    b.find("input[name=key]").await;
}

/// Every input of the page has a label (or an accessible name).
async fn labelled(b: &Browser) {
    let unlabelled = b
        .script(
            "return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]\
             .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))\
             .map(e => e.name);",
        )
        .await;
    assert_eq!(
        unlabelled,
        json!([]),
        "inputs without a label on {}",
        b.url().await
    );
}

/// The CSS/JS a page loaded count no errors, and nothing ran inline.
async fn no_injection(b: &Browser) {
    assert!(!b.alert_open().await, "an injected script opened an alert");
    let injected = b.script("return document.querySelectorAll('#injected, img[onerror], script:not([src])').length;").await;
    assert_eq!(injected, json!(0), "an injected element is in the DOM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quick_start_in_the_console() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path().to_path_buf(), None).await;
    let url = server.url.clone();
    let admin_key = server.key.clone().expect("the first start prints a key");
    let up = items_api().await;
    let b = Browser::start(1280).await;

    // Sign-in: a wrong key is refused in words.
    b.goto(&format!("{url}/")).await;
    b.fill("input[name=key]", "wharf_00000000_nope").await;
    labelled(&b).await;
    b.screenshot("sign-in").await;
    b.click(&b.find("form[action='/sign-in'] button").await)
        .await;
    assert!(
        b.text_of("[role=alert]")
            .await
            .contains("unknown or revoked")
    );
    sign_in(&b, &url, &admin_key).await;
    let cookie = b.script("return document.cookie;").await;
    assert_eq!(cookie, json!(""), "the session cookie is HttpOnly");
    b.screenshot("dashboard-empty").await;

    // Catalog: upload http-json with the file picker.
    b.goto(&format!("{url}/catalog")).await;
    let file = b.find("input#component").await;
    b.type_into(&file, guest_path("http-json").to_str().unwrap())
        .await;
    b.click(&b.find("form[action='/catalog/upload'] button").await)
        .await;
    b.find("a[href^='/connections/new']").await;
    assert!(b.text_of(".flash").await.contains("Uploaded http-json@"));
    b.screenshot("connector").await;
    // A file that is not a component is refused in words.
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"not a component").unwrap();
    b.goto(&format!("{url}/catalog")).await;
    b.type_into(&b.find("input#component").await, junk.to_str().unwrap())
        .await;
    b.click(&b.find("form[action='/catalog/upload'] button").await)
        .await;
    let refused = b.text_of(".flash.bad").await;
    assert!(refused.contains("refused"), "{refused}");
    b.screenshot("catalog").await;

    // A connection from the generated form, with a secret.
    b.click(&b.find("a[href^='/catalog/http-json/']").await)
        .await;
    b.click(&b.find("a[href^='/connections/new']").await).await;
    b.find("input[name='config/base_url']").await;
    // First without the required streams: the API's validator answers
    // beside the field.
    b.fill("input[name=name]", "shop").await;
    b.fill("input[name='config/base_url']", &up.url("/api"))
        .await;
    b.click(&b.find("form.stack button[type=submit]").await)
        .await;
    b.find(".field-error").await;
    labelled(&b).await;
    b.screenshot("connection-form-errors").await;
    b.fill("input[name='config/base_url']", &up.url("/api"))
        .await;
    b.fill(
        "textarea[name='config/headers']",
        &json!({"Authorization": "Bearer {{secret:api_token}}", "X-Note": HOSTILE_ATTR})
            .to_string(),
    )
    .await;
    b.fill(
        "textarea[name='config/streams']",
        &json!({"items": {"path": "/items", "key": "id"}}).to_string(),
    )
    .await;
    b.fill("input[name='secret/api_token']", TOKEN).await;
    b.fill("textarea[name=networks]", "127.0.0.0/8").await;
    b.click(&b.find("form.stack button[type=submit]").await)
        .await;
    b.find("form[action$='/check'] button").await;
    assert!(
        !b.source().await.contains(TOKEN),
        "a secret is never sent to the browser"
    );
    let connection_url = b.url().await;
    b.click(&b.find("form[action$='/check'] button").await)
        .await;
    b.wait_for(
        "the check's result",
        "/Check/.test(document.querySelector('.flash')?.textContent)",
    )
    .await;
    let flash = b.text_of(".flash").await;
    assert!(flash.contains("Check passed"), "{flash}");
    no_injection(&b).await;
    labelled(&b).await;
    b.screenshot("connection").await;

    // A sync into the records store; run it and watch it finish live.
    b.goto(&format!("{url}/syncs/new")).await;
    b.click(&b.find("form[action='/syncs/new'] button").await)
        .await;
    b.fill("input[name=name]", "shop-items").await;
    b.fill("textarea[name=streams_text]", "items").await;
    b.click(&b.find("input[name=schedule][value=cron]").await)
        .await;
    b.fill("input[name=cron]", "*/15 * * * *").await;
    b.wait_for(
        "the next five due times",
        "document.querySelectorAll('#schedule-preview .mono').length === 5",
    )
    .await;
    labelled(&b).await;
    b.screenshot("sync-form").await;
    b.click(
        &b.find("form[action='/syncs/new'] button[type=submit]")
            .await,
    )
    .await;
    b.find("form[action$='/run'] button").await;
    let sync_url = b.url().await;
    b.click(&b.find("form[action$='/run'] button").await).await;
    b.find("#progress").await;
    b.script("window.__stayed = true; return null;").await;
    b.wait_for(
        "the run to succeed",
        "document.querySelector('#run-status[data-status=succeeded]')",
    )
    .await;
    b.wait_for("the summary", "document.querySelector('#run-summary')")
        .await;
    assert_eq!(
        b.script("return window.__stayed === true;").await,
        json!(true),
        "the page updated without a reload"
    );
    let fetched = b.text_of("[data-counter=fetched]").await;
    assert_eq!(fetched, RECORDS.to_string());
    b.screenshot("run").await;

    // Switch the schedule off and on again; the lists show both.
    b.goto(&sync_url).await;
    b.click(&b.find("form[action$='/enabled'] button").await)
        .await;
    b.wait_for(
        "the sync to be disabled",
        "/Disabled/.test(document.querySelector('.flash')?.textContent)",
    )
    .await;
    b.goto(&format!("{url}/syncs")).await;
    assert!(b.text_of("table").await.contains("disabled"));
    b.screenshot("syncs").await;
    b.goto(&sync_url).await;
    b.click(&b.find("form[action$='/enabled'] button").await)
        .await;
    b.wait_for(
        "the sync to be enabled",
        "/Enabled/.test(document.querySelector('.flash')?.textContent)",
    )
    .await;
    b.goto(&format!("{url}/connections")).await;
    assert!(b.text_of("table").await.contains("active"));
    b.screenshot("connections").await;

    // Records: the table, export, import with a bad row.
    b.goto(&format!("{sync_url}/records")).await;
    b.find("table#records").await;
    let rows = b.all("table#records tr").await.len();
    assert_eq!(rows, 51, "a page of 50 records and the header");
    no_injection(&b).await;
    assert!(
        b.source().await.contains("&lt;script&gt;alert"),
        "markup in a record shows as text"
    );
    labelled(&b).await;
    b.screenshot("records").await;
    // Key search: the keys that start with what is typed.
    b.fill("input#f-key", "item-011").await;
    b.click(&b.find("form[method=get] button").await).await;
    b.wait_for(
        "the search",
        "document.querySelectorAll('table#records tr').length === 11",
    )
    .await;
    let csv = b
        .script_async("const done = arguments[0]; fetch(document.querySelector('a[href*=\"format=csv\"]').href).then(r => r.text()).then(done);")
        .await;
    let csv = csv.as_str().unwrap();
    assert!(csv.starts_with("key,"), "{csv}");
    assert_eq!(csv.lines().count(), RECORDS + 1);
    let import = dir.path().join("import.csv");
    std::fs::write(
        &import,
        "id,name,price\nnew-1,New one,5\nnew-2,Too,many,fields\nnew-3,Third,7\n",
    )
    .unwrap();
    b.type_into(&b.find("input#f-import").await, import.to_str().unwrap())
        .await;
    b.fill("input#f-import-key", "id").await;
    b.click(&b.find("form[action*='/import'] button").await)
        .await;
    let summary = b.text_of("#import-summary").await;
    assert!(
        summary.contains("3 rows") && summary.contains("1 rejected"),
        "{summary}"
    );
    let rejected = b.text_of("table#rejected-rows").await;
    assert!(rejected.contains('2'), "row 2 is named: {rejected}");
    b.screenshot("import").await;

    // A webhook endpoint and an API key: each secret shown once.
    b.goto(&format!("{url}/webhooks")).await;
    b.fill("input[name=url]", &up.url("/events")).await;
    b.click(&b.find("input[name=events][value='run.failed']").await)
        .await;
    b.fill("textarea[name=networks]", "127.0.0.0/8").await;
    b.click(&b.find("form[action='/webhooks'] button").await)
        .await;
    let secret = b.text_of("[data-once]").await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    labelled(&b).await;
    b.screenshot("webhooks").await;
    b.goto(&format!("{url}/webhooks")).await;
    b.find("table").await;
    assert!(
        !b.source().await.contains(&secret),
        "the secret is gone on reload"
    );
    // Send a test to it (the upstream has no such path: it fails), and
    // send it again now.
    b.click(&b.find("table a[href^='/webhooks/']").await).await;
    b.click(&b.find("form[action$='/test'] button").await).await;
    b.wait_for(
        "the test to be queued",
        "/queued/.test(document.querySelector('.flash')?.textContent)",
    )
    .await;
    b.click(&b.find("form[action*='/retry/'] button").await)
        .await;
    b.wait_for(
        "the retry",
        "/due again|being sent/.test(document.querySelector('.flash')?.textContent)",
    )
    .await;
    b.screenshot("webhook-deliveries").await;
    b.goto(&format!("{url}/keys")).await;
    b.fill("input[name=name]", "viewer").await;
    b.find("select[name=scope]").await;
    b.script("document.querySelector('select[name=scope]').value = 'read'; return null;")
        .await;
    b.click(&b.find("form[action='/keys'] button").await).await;
    let read_key = b.text_of("[data-once]").await;
    assert!(read_key.starts_with("wharf_"), "{read_key}");
    labelled(&b).await;
    b.screenshot("keys").await;
    b.goto(&format!("{url}/keys")).await;
    b.find("table#keys").await;
    assert!(
        !b.source().await.contains(&read_key),
        "the key is gone on reload"
    );
    b.goto(&format!("{url}/audit?action=api_key.")).await;
    b.find("table#audit").await;
    let audit = b.text_of("table#audit").await;
    assert!(
        audit.contains("api_key.create") && !audit.contains("connection.create"),
        "{audit}"
    );
    labelled(&b).await;
    b.screenshot("audit").await;

    // A connector with markup in every string of its spec renders inert.
    let uploaded = reqwest::Client::new()
        .post(format!("{url}/api/v1/connectors"))
        .bearer_auth(&admin_key)
        .header("content-type", "application/wasm")
        .body(std::fs::read(guest_path("hostile")).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 201);
    b.goto(&format!("{url}/catalog")).await;
    b.find("[data-connector=hostile]").await;
    no_injection(&b).await;
    assert!(
        b.text_of("[data-connector=hostile]")
            .await
            .contains("<script>alert('spec')</script>")
    );
    b.goto(&format!("{url}/catalog/hostile/0.1.0")).await;
    b.find("h1").await;
    no_injection(&b).await;
    assert!(
        b.text_of("h1").await.contains("onerror=alert(1)"),
        "the display name shows as text"
    );
    b.screenshot("hostile-connector").await;
    b.goto(&format!("{url}/")).await;
    b.find("svg.chart").await;
    b.screenshot("dashboard").await;
    b.dark(true).await;
    b.goto(&format!("{url}/")).await;
    b.find("svg.chart").await;
    let background = b
        .script("return getComputedStyle(document.body).backgroundColor;")
        .await;
    assert_eq!(
        background,
        json!("rgb(13, 17, 23)"),
        "the dark theme follows the system"
    );
    b.screenshot("dashboard-dark").await;
    b.dark(false).await;
    b.resize(390, 844).await;
    b.goto(&connection_url).await;
    b.find("form[action$='/check']").await;
    b.screenshot("phone").await;
    b.resize(1280, 900).await;

    // A read-only key: no write actions, and a POST made by hand is refused.
    sign_out(&b).await;
    sign_in(&b, &url, &read_key).await;
    b.goto(&sync_url).await;
    b.find("table").await;
    assert!(
        b.all("form[action$='/run']").await.is_empty(),
        "no Run now for a read key"
    );
    b.goto(&connection_url).await;
    b.find("table").await;
    assert!(b.all("form[action$='/check']").await.is_empty());
    assert!(b.all("form[action$='/delete']").await.is_empty());
    assert!(
        b.all("a[href='/keys']").await.is_empty(),
        "no admin sections"
    );
    no_injection(&b).await;
    let forged = b
        .script_async(&format!(
            "const done = arguments[0]; const t = document.querySelector('input[name=_csrf]').value;\
             fetch('{sync_url}/run', {{method: 'POST', headers: {{'Content-Type': 'application/x-www-form-urlencoded'}}, body: '_csrf=' + t}})\
             .then(r => done(r.status));"
        ))
        .await;
    assert_eq!(
        forged,
        json!(403),
        "the API refuses a read key's run, whatever the page offers"
    );
    let no_token = b
        .script_async(&format!(
            "const done = arguments[0]; fetch('{sync_url}/run', {{method: 'POST', headers: {{'Content-Type': 'application/x-www-form-urlencoded'}}, body: 'x=1'}}).then(r => done(r.status));"
        ))
        .await;
    assert_eq!(
        no_token,
        json!(403),
        "a form without the CSRF token is refused"
    );
    b.screenshot("read-only").await;

    // The connection's secret never reached any page, and the session
    // ends on sign-out.
    sign_out(&b).await;
    b.goto(&connection_url).await;
    b.find("input[name=key]").await;
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_with_oauth2_in_the_console() {
    let mock = crate::oauth::mock_server().await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path().to_path_buf(), None).await;
    let url = server.url.clone();
    let key = server.key.clone().unwrap();
    let http = reqwest::Client::new();
    let up = http
        .post(format!("{url}/api/v1/connectors"))
        .bearer_auth(&key)
        .header("content-type", "application/wasm")
        .body(std::fs::read(guest_path("oauth-api")).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(up.status(), 201);
    let c: Value = http
        .post(format!("{url}/api/v1/connections"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(json!({"name": "mocked", "connector": "oauth-api@0.1.0",
            "config": {"base_url": mock.origin, "auth_url": mock.origin, "me_path": "/userinfo"},
            "secrets": {"oauth_client_id": crate::fake_oauth::CLIENT_ID, "oauth_client_secret": crate::fake_oauth::CLIENT_SECRET},
            "grants": {"networks": ["127.0.0.0/8"]}}).to_string())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .map(|b| serde_json::from_slice(&b).unwrap())
        .unwrap();
    let id = c["id"].as_str().unwrap();

    let b = Browser::start(1280).await;
    sign_in(&b, &url, &key).await;
    b.goto(&format!("{url}/connections/{id}")).await;
    b.click(&b.find("form[action$='/oauth'] button").await)
        .await;
    // Through the provider and the callback, back to the page, signed in.
    for _ in 0..100 {
        if b.url()
            .await
            .contains(&format!("/connections/{id}?authorized"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        b.url().await.contains(&format!("/connections/{id}")),
        "{}",
        b.url().await
    );
    b.click(&b.find("form[action$='/check'] button").await)
        .await;
    let flash = b.text_of(".flash").await;
    assert!(flash.contains("Check passed"), "{flash}");
    b.screenshot("oauth-connected").await;
    drop(server);
}
