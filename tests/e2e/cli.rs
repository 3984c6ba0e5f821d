//! The `wharf` client commands against a real `wharf serve`: things named
//! by name instead of id, runs of a sync, records read, exported and
//! imported (with a rejected row), syncs switched off, on and deleted,
//! webhook endpoints, readable `show` views, and server flags only where
//! they mean something.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::serve::{Server, cli};
use crate::support::Upstream;

/// Run the CLI and insist it succeeds; its stdout.
async fn ok(server: &Server, key: &str, args: &[&str]) -> String {
    let (code, out, err) = cli(server, key, args).await;
    assert_eq!(code, 0, "wharf {args:?} failed:\n{out}\n{err}");
    out
}

/// Run the CLI with `--json` and parse what it printed.
async fn json_of(server: &Server, key: &str, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let out = ok(server, key, &args).await;
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("wharf {args:?}: {e}\n{out}"))
}

/// Help text of a command run with no server settings in the environment.
async fn help(args: &[&str]) -> String {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args(args)
        .arg("--help")
        .env_remove("WHARF_API_KEY")
        .env_remove("WHARF_SERVER")
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{args:?} --help");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn server_flags_are_offered_only_where_they_are_used() {
    for local in [
        &["serve"][..],
        &["admin", "rotate-secrets"],
        &["admin", "create-api-key"],
        &["dev", "fetch"],
    ] {
        let text = help(local).await;
        assert!(!text.contains("--api-key"), "wharf {local:?}:\n{text}");
        assert!(!text.contains("--json"), "wharf {local:?}:\n{text}");
    }
    for client in [
        &["connection", "list"][..],
        &["records", "export"],
        &["webhook", "create"],
    ] {
        let text = help(client).await;
        assert!(
            text.contains("--api-key") && text.contains("WHARF_API_KEY"),
            "wharf {client:?}:\n{text}"
        );
    }
}

/// A source of three products on loopback.
async fn products() -> Upstream {
    Upstream::start(Router::new().route(
        "/v1/products",
        get(|| async {
            axum::Json(json!([
                {"id": 1, "name": "Anchor", "price": 49.5},
                {"id": 2, "name": "Bollard", "price": 12},
                {"id": 3, "name": "Cleat", "price": 3.25}
            ]))
        }),
    ))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_commands_work_by_name() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path().to_path_buf(), None).await;
    let key = server.key.clone().expect("an admin key");
    let k = key.as_str();
    let up = products().await;

    ok(
        &server,
        k,
        &["connector", "upload", "target/connectors/http-json.wasm"],
    )
    .await;
    // One version: the bare name is enough.
    let out = ok(&server, k, &["connector", "show", "http-json"]).await;
    assert!(
        out.contains("connector:") && out.contains("http-json@0.1.0"),
        "{out}"
    );
    assert!(
        out.contains("streams:") && out.contains("secrets:"),
        "{out}"
    );

    let config = json!({
        "base_url": up.url("/v1"),
        "headers": {"Authorization": "Bearer {{secret:api_token}}"},
        "streams": {"products": {"path": "/products", "key": "id"}}
    })
    .to_string();
    ok(
        &server,
        k,
        &[
            "connection",
            "create",
            "shop",
            "--connector",
            "http-json@0.1.0",
            "--config",
            &config,
            "--secret",
            "api_token=cli-secret-5150",
            "--allow-network",
            "127.0.0.0/8",
        ],
    )
    .await;

    // `show` is a readable view by name; `--json` is still the server's.
    let out = ok(&server, k, &["connection", "show", "shop"]).await;
    assert!(!out.trim_start().starts_with('{'), "{out}");
    for want in [
        "name:",
        "shop",
        "http-json@0.1.0",
        "granted networks:",
        "127.0.0.0/8",
        "secrets:",
        "api_token",
    ] {
        assert!(out.contains(want), "`{want}` missing:\n{out}");
    }
    assert!(!out.contains("cli-secret-5150"), "{out}");
    let shown = json_of(&server, k, &["connection", "show", "shop"]).await;
    assert_eq!(shown["name"], "shop");
    let shop_id = shown["id"].as_str().unwrap().to_string();
    // The id works as well as the name, and so does the old flag order.
    let out = ok(&server, k, &["connection", "check", &shop_id]).await;
    assert!(out.starts_with("check ok"), "{out}");
    let out = ok(&server, k, &["connection", "check", "shop"]).await;
    assert!(out.starts_with("check ok"), "{out}");
    let listed = ok(&server, k, &["--json", "connection", "list"]).await;
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed["items"][0]["id"], shop_id.as_str());

    let (code, _, err) = cli(&server, k, &["connection", "show", "nope"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("no connection named `nope`"), "{err}");

    // A sync made from names, with a schema that rejects negative prices.
    let schema = json!({"type": "object", "required": ["id", "price"],
        "properties": {"price": {"type": "number", "minimum": 0}}})
    .to_string();
    let schema_arg = format!("products={schema}");
    ok(
        &server,
        k,
        &[
            "sync",
            "create",
            "catalog",
            "--source",
            "shop",
            "--stream",
            "products",
            "--schema",
            &schema_arg,
        ],
    )
    .await;
    let out = ok(&server, k, &["sync", "run", "catalog", "--follow"]).await;
    assert!(
        out.contains("succeeded") && out.contains("3 fetched"),
        "{out}"
    );
    let out = ok(&server, k, &["sync", "show", "catalog"]).await;
    assert!(out.contains(&format!("shop ({shop_id})")), "{out}");

    let runs = json_of(&server, k, &["run", "list", "catalog"]).await;
    let run_id = runs["items"][0]["id"].as_str().unwrap().to_string();
    let out = ok(&server, k, &["run", "list", "catalog"]).await;
    assert!(out.starts_with("ID "), "{out}");
    assert!(out.contains(&run_id) && out.contains("succeeded"), "{out}");
    let out = ok(&server, k, &["run", "show", &run_id]).await;
    assert!(
        out.contains("succeeded") && out.contains("3 fetched"),
        "{out}"
    );
    assert!(
        out.contains("IN WASM") && out.contains("http-json@0.1.0 (shop)"),
        "what the run used: {out}"
    );

    // Records: a table with a column per field; exports to a file or stdout.
    let out = ok(
        &server,
        k,
        &["records", "list", "catalog", "--stream", "products"],
    )
    .await;
    assert!(out.starts_with("KEY") && out.contains("PRICE"), "{out}");
    assert!(out.contains("Bollard") && out.contains("49.5"), "{out}");
    let csv = data.path().join("products.csv");
    let csv_arg = csv.display().to_string();
    let (code, _, err) = cli(
        &server,
        k,
        &[
            "records", "export", "catalog", "--stream", "products", "--format", "csv", "-o",
            &csv_arg,
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("exported 3 records"), "{err}");
    let written = std::fs::read_to_string(&csv).unwrap();
    assert!(written.starts_with("key,id,name,price\n"), "{written}");
    assert_eq!(written.lines().count(), 4, "{written}");
    let out = ok(&server, k, &["records", "export", "catalog"]).await;
    let exported: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(exported.len(), 3);

    // An import lands the good rows and lists the bad one; the exit code
    // says that not everything landed.
    let rows = data.path().join("more.json");
    std::fs::write(
        &rows,
        json!([
            {"id": 10, "name": "Davit", "price": 99},
            {"id": 11, "name": "Eyelet", "price": -1}
        ])
        .to_string(),
    )
    .unwrap();
    let rows_arg = rows.display().to_string();
    let (code, out, err) = cli(
        &server,
        k,
        &[
            "records", "import", "catalog", &rows_arg, "--stream", "products", "--key", "id",
        ],
    )
    .await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("imported 1 of 2 rows"), "{out}");
    let table = out.split_once("\n\n").map(|(_, t)| t).unwrap_or("");
    assert!(table.starts_with("ROW"), "{out}");
    let bad = table.lines().nth(1).unwrap_or("");
    assert!(
        bad.starts_with('2') && bad.contains("11") && bad.contains("/price"),
        "{out}"
    );
    let stored = json_of(&server, k, &["records", "list", "catalog"]).await;
    let keys: Vec<&str> = stored["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["1", "10", "2", "3"]);

    // Switched off and on, rescheduled, deleted: all by name.
    ok(&server, k, &["sync", "disable", "catalog"]).await;
    let syncs = json_of(&server, k, &["sync", "list"]).await;
    assert_eq!(syncs["items"][0]["enabled"], false);
    ok(&server, k, &["sync", "enable", "catalog"]).await;
    ok(
        &server,
        k,
        &["sync", "update", "catalog", "--every", "3600"],
    )
    .await;
    let out = ok(&server, k, &["sync", "list"]).await;
    assert!(out.contains("every 3600") && out.contains("true"), "{out}");
    let (code, _, err) = cli(&server, k, &["sync", "update", "catalog"]).await;
    assert_eq!(code, 2, "{err}");
    let out = ok(&server, k, &["sync", "delete", "catalog"]).await;
    assert!(out.starts_with("deleted sync catalog"), "{out}");
    let syncs = json_of(&server, k, &["sync", "list"]).await;
    assert_eq!(syncs["items"], json!([]));
    let (code, _, err) = cli(&server, k, &["run", "list", "catalog"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("no sync named `catalog`"), "{err}");

    // API keys are revoked by name.
    ok(&server, k, &["api-key", "create", "dashboard"]).await;
    let out = ok(&server, k, &["api-key", "revoke", "dashboard"]).await;
    assert!(out.starts_with("revoked "), "{out}");
    let out = ok(&server, k, &["api-key", "list"]).await;
    let line = out.lines().find(|l| l.contains("dashboard")).unwrap();
    assert!(line.contains("revoked"), "{out}");

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_endpoints_from_the_command_line() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path().to_path_buf(), None).await;
    let key = server.key.clone().expect("an admin key");
    let k = key.as_str();
    let received = Arc::new(AtomicUsize::new(0));
    let seen = received.clone();
    let receiver = Upstream::start(Router::new().route(
        "/hook",
        post(move || {
            let seen = seen.clone();
            async move {
                seen.fetch_add(1, Ordering::SeqCst);
                "ok"
            }
        }),
    ))
    .await;
    let url = receiver.url("/hook");

    let out = ok(
        &server,
        k,
        &[
            "webhook",
            "create",
            &url,
            "--event",
            "run.failed",
            "--allow-network",
            "127.0.0.0/8",
        ],
    )
    .await;
    assert!(out.contains("whsec_"), "{out}");
    let listed = json_of(&server, k, &["webhook", "list"]).await;
    let id = listed["items"][0]["id"].as_str().unwrap().to_string();
    let out = ok(&server, k, &["webhook", "list"]).await;
    assert!(out.contains(&url) && out.contains("run.failed"), "{out}");
    let out = ok(&server, k, &["webhook", "show", &id]).await;
    assert!(
        out.contains("allowed networks:") && out.contains("127.0.0.0/8"),
        "{out}"
    );

    let out = ok(&server, k, &["webhook", "test", &id]).await;
    assert!(out.starts_with("queued webhook.test message msg_"), "{out}");
    let started = std::time::Instant::now();
    loop {
        let d = json_of(&server, k, &["webhook", "deliveries", &id]).await;
        if d["items"][0]["status"] == "delivered" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not delivered: {d}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(received.load(Ordering::SeqCst), 1);
    let out = ok(&server, k, &["webhook", "deliveries", &id]).await;
    assert!(
        out.contains("webhook.test") && out.contains("delivered"),
        "{out}"
    );

    let out = ok(&server, k, &["webhook", "disable", &id]).await;
    assert!(out.contains("is disabled"), "{out}");
    ok(&server, k, &["webhook", "delete", &id]).await;
    let listed = json_of(&server, k, &["webhook", "list"]).await;
    assert_eq!(listed["items"], json!([]));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incoming_webhooks_and_oauth_by_connection_name() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path().to_path_buf(), None).await;
    let key = server.key.clone().expect("an admin key");
    let k = key.as_str();
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    for c in ["hooks", "oauth-api"] {
        ok(
            &server,
            k,
            &[
                "connector",
                "upload",
                &format!("target/connectors/{c}.wasm"),
            ],
        )
        .await;
    }
    ok(
        &server,
        k,
        &[
            "connection",
            "create",
            "shop-events",
            "--connector",
            "hooks@0.1.0",
            "--config",
            r#"{"mode": "records"}"#,
            "--secret",
            &format!("webhook_secret={secret}"),
        ],
    )
    .await;
    ok(
        &server,
        k,
        &[
            "sync",
            "create",
            "on-event",
            "--source",
            "shop-events",
            "--stream",
            "items",
        ],
    )
    .await;
    let url = ok(&server, k, &["connection", "webhook-url", "shop-events"]).await;
    let path = &url.trim()[url.find("/hooks/").expect("a hooks URL")..];
    let body = json!({"type": "item.updated", "data": {"id": "A1"}}).to_string();
    let ts = wharf::store::now_ms() / 1000;
    let signature =
        wharf::webhooks::verify::sign_standard(secret, "msg_cli_1", ts, body.as_bytes()).unwrap();
    let resp = reqwest::Client::new()
        .post(format!("{}{path}", server.url))
        .header("webhook-id", "msg_cli_1")
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202, "{}", resp.text().await.unwrap());
    let out = ok(&server, k, &["connection", "deliveries", "shop-events"]).await;
    assert!(
        out.contains("msg_cli_1") && out.contains("processed"),
        "{out}"
    );

    ok(
        &server,
        k,
        &[
            "connection",
            "create",
            "crm",
            "--connector",
            "oauth-api@0.1.0",
            "--config",
            r#"{"base_url": "https://api.example.com", "auth_url": "https://auth.example.com"}"#,
            "--secret",
            "oauth_client_id=my-client",
            "--secret",
            "oauth_client_secret=s3cret",
        ],
    )
    .await;
    let out = ok(&server, k, &["connection", "authorize", "crm"]).await;
    let url = out.trim();
    assert!(
        url.starts_with("https://auth.example.com/authorize?"),
        "{out}"
    );
    assert!(
        url.contains("client_id=my-client") && url.contains("code_challenge="),
        "{out}"
    );
    assert!(!out.contains("s3cret"), "{out}");
    server.stop().await;
}
