//! `wharf dev` as a real process: exit codes, JSON lines on stdout, the
//! cursor and errors on stderr.

use std::process::Stdio;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::fakes::{self, Item};
use crate::support::guest_path;

pub(crate) struct Output {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// `wharf` with `args`, `stdin` on its standard input.
pub(crate) async fn wharf(args: &[&str], stdin: Option<&str>) -> Output {
    let cache = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args(args)
        .env("XDG_CACHE_HOME", cache.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run wharf");
    let mut input = child.stdin.take().unwrap();
    input
        .write_all(stdin.unwrap_or("").as_bytes())
        .await
        .unwrap();
    drop(input);
    let out = child.wait_with_output().await.unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn wasm(name: &str) -> String {
    guest_path(name).display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_prints_the_description() {
    let out = wharf(&["dev", "spec", &wasm("http-json")], None).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["spec"]["name"], "http-json");
    assert_eq!(v["spec"]["roles"], json!(["source"]));
    assert_eq!(v["digest"].as_str().unwrap().len(), 64);
    assert!(
        v["wasi_imports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i.as_str().unwrap().starts_with("wasi:"))
    );

    let out = wharf(&["dev", "spec", &wasm("plain-command")], None).await;
    assert_eq!(out.code, 3);
    assert!(
        out.stderr
            .contains("does not export `wharf:connector/connector@0.2.0` (or the 0.1.0 one)"),
        "{}",
        out.stderr
    );

    let out = wharf(&["dev", "spec", "/no/such.wasm"], None).await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("cannot read /no/such.wasm"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_follows_every_page_only_when_the_network_is_granted() {
    let items: Vec<Item> = (1..=25).map(|i| Item::new(i, i)).collect();
    let (src, _) = fakes::source(items, Some("t0ken-abcdef")).await;
    let config = json!({
        "base_url": src.url("/api"),
        "headers": {"Authorization": "Bearer {{secret:api_token}}"},
        "streams": {"items": {
            "path": "/page-items", "records": "/data", "key": "id",
            "cursor_field": "updated_at", "cursor_param": "updated_since",
            "pagination": {"type": "page_number", "size_param": "per_page", "size": 10}
        }}
    })
    .to_string();
    let base = [
        "dev",
        "fetch",
        &wasm("http-json"),
        "--config",
        &config,
        "--stream",
        "items",
        "--secret",
        "api_token=t0ken-abcdef",
    ];

    let mut granted = base.to_vec();
    granted.extend(["--allow-network", "127.0.0.0/8"]);
    let out = wharf(&granted, None).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 25);
    assert_eq!(lines[24]["key"], "25");
    assert_eq!(lines[0]["data"]["name"], "Item 1");
    assert!(
        out.stderr.contains("fetched 25 records in 3 pages"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains(r#"cursor: {"since":"2024-05-01T10:25:00Z"}"#),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("t0ken-abcdef") && !out.stdout.contains("t0ken-abcdef"));
    // What the server would count for a run: calls, requests by class and
    // by origin (the grants used), refusals, memory.
    assert!(
        out.stderr.contains("usage: 3 calls (1 instance) in ")
            && out.stderr.contains("3 requests (2xx 3)")
            && out.stderr.contains("0 refused")
            && out.stderr.contains("peak memory "),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains(&format!("granted {}: 3 requests", src.origin())),
        "{}",
        out.stderr
    );

    // --max-pages stops early and prints where to resume.
    let mut limited = granted.clone();
    limited.extend(["--max-pages", "1"]);
    let out = wharf(&limited, None).await;
    assert_eq!(out.stdout.lines().count(), 10);
    assert!(
        out.stderr.contains(r#"cursor: {"next":{"page":2}"#),
        "{}",
        out.stderr
    );

    let out = wharf(&base, None).await;
    assert_eq!(out.code, 1);
    assert!(out.stdout.is_empty());
    assert!(
        out.stderr
            .contains("0 requests, 0 bytes received, 1 refused"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("error[config]"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("blocked network (127.0.0.0/8: loopback)"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn map_and_push_read_json_lines() {
    let (dst, state) = fakes::destination(None).await;
    let mapper_config = json!({"rules": [{"stream": "items", "key": "/id", "fields": [
        {"to": "price", "from": "/price", "cast": "number"}
    ]}]})
    .to_string();
    let input = "{\"stream\":\"items\",\"data\":{\"id\":1,\"price\":\"2.5\"}}\n{\"stream\":\"items\",\"data\":{\"id\":2,\"price\":\"4\"}}\n";
    let out = wharf(
        &["dev", "map", &wasm("field-map"), "--config", &mapper_config],
        Some(input),
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "{\"stream\":\"items\",\"key\":\"1\",\"op\":\"upsert\",\"data\":{\"price\":2.5}}\n{\"stream\":\"items\",\"key\":\"2\",\"op\":\"upsert\",\"data\":{\"price\":4}}\n"
    );

    let push_config = json!({"url": dst.url("/records/{key}")}).to_string();
    let out = wharf(
        &[
            "dev",
            "push",
            &wasm("http-push"),
            "--config",
            &push_config,
            "--allow-network",
            "127.0.0.0/8",
        ],
        Some(&out.stdout),
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let result: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(result["created"], 2);
    assert_eq!(state.lock().unwrap().records.len(), 2);

    let out = wharf(
        &["dev", "push", &wasm("http-push"), "--config", &push_config],
        Some("not json\n"),
    )
    .await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("stdin line 1: not a record"),
        "{}",
        out.stderr
    );

    let out = wharf(
        &["dev", "map", &wasm("field-map"), "--config", "[1]"],
        Some(""),
    )
    .await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("--config must be a JSON object"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_cassette_replays_offline_and_names_a_changed_request() {
    let items: Vec<Item> = (1..=25).map(|i| Item::new(i, i)).collect();
    let (src, state) = fakes::source(items, Some("t0ken-abcdef")).await;
    let config = |size: u32| {
        json!({
            "base_url": src.url("/api"),
            "headers": {"Authorization": "Bearer {{secret:api_token}}"},
            "streams": {"items": {
                "path": "/page-items", "records": "/data", "key": "id",
                "pagination": {"type": "page_number", "size_param": "per_page", "size": size}
            }}
        })
        .to_string()
    };
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("fetch.json");
    let cassette_arg = cassette.display().to_string();
    let http_json = wasm("http-json");
    let (ten, five) = (config(10), config(5));
    let recorded = wharf(
        &[
            "dev",
            "fetch",
            &http_json,
            "--config",
            &ten,
            "--stream",
            "items",
            "--secret",
            "api_token=t0ken-abcdef",
            "--allow-network",
            "127.0.0.0/8",
            "--record",
            &cassette_arg,
        ],
        None,
    )
    .await;
    assert_eq!(recorded.code, 0, "{}", recorded.stderr);
    assert_eq!(recorded.stdout.lines().count(), 25);
    assert!(
        recorded.stderr.contains("recorded 3 calls in"),
        "{}",
        recorded.stderr
    );

    // The cassette keeps what the connector wrote (the placeholder), never
    // the secret the host put in its place.
    let text = std::fs::read_to_string(&cassette).unwrap();
    assert!(!text.contains("t0ken-abcdef"), "{text}");
    let taped: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(taped["wharf_cassette"], 1);
    assert_eq!(taped["connector"]["name"], "http-json");
    let calls = taped["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[0]["op"], "fetch");
    assert_eq!(calls[0]["args"], json!({"stream": "items", "cursor": null}));
    let request = &calls[0]["exchanges"][0]["request"];
    assert_eq!(request["method"], "GET");
    assert!(
        request["headers"]
            .as_array()
            .unwrap()
            .contains(&json!(["Authorization", "Bearer {{secret:api_token}}"])),
        "{request}"
    );
    assert_eq!(
        calls[0]["exchanges"][0]["outcome"]["response"]["status"],
        200
    );
    assert_eq!(
        calls[0]["result"]["ok"]["records"]
            .as_array()
            .unwrap()
            .len(),
        10
    );

    // Replayed with no secret, no granted network, and the upstream not
    // asked again: the same records.
    let asked = state.lock().unwrap().requests.len();
    let replayed = wharf(
        &[
            "dev",
            "fetch",
            &http_json,
            "--stream",
            "items",
            "--replay",
            &cassette_arg,
        ],
        None,
    )
    .await;
    assert_eq!(replayed.code, 0, "{}", replayed.stderr);
    assert_eq!(replayed.stdout, recorded.stdout);
    assert!(
        replayed.stderr.contains("replay matches the cassette"),
        "{}",
        replayed.stderr
    );
    assert_eq!(state.lock().unwrap().requests.len(), asked);

    // A connector (here: its config) that asks for something else fails on
    // the first request that differs, and says how.
    let changed = wharf(
        &[
            "dev",
            "fetch",
            &http_json,
            "--config",
            &five,
            "--stream",
            "items",
            "--replay",
            &cassette_arg,
        ],
        None,
    )
    .await;
    assert_eq!(changed.code, 1, "{}", changed.stderr);
    assert!(
        changed.stderr.contains(
            "error[replay]: the replay differs from the cassette: call 1 (`fetch`): request 1 differs from the cassette: url: expected `"
        ),
        "{}",
        changed.stderr
    );
    assert!(
        changed.stderr.contains("per_page=10") && changed.stderr.contains("per_page=5"),
        "{}",
        changed.stderr
    );
    assert_eq!(state.lock().unwrap().requests.len(), asked);

    // Not a cassette: a usage error that says so.
    std::fs::write(dir.path().join("bad.json"), r#"{"calls": []}"#).unwrap();
    let bad = dir.path().join("bad.json").display().to_string();
    let out = wharf(&["dev", "check", &http_json, "--replay", &bad], None).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("not a cassette (no `wharf_cassette` version)"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_and_time_limits_are_set_as_an_administrator_would() {
    let hostile = wasm("hostile");
    let config = r#"{"attack": "allocate", "n": 100, "url": "http://127.0.0.1:9"}"#;
    let out = wharf(&["dev", "check", &hostile, "--config", config], None).await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("error[limit]"), "{}", out.stderr);
    let out = wharf(
        &[
            "dev",
            "check",
            &hostile,
            "--config",
            config,
            "--memory-mib",
            "128",
        ],
        None,
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("peak memory 10"), "{}", out.stderr);
    let out = wharf(
        &[
            "dev",
            "check",
            &hostile,
            "--config",
            config,
            "--memory-mib",
            "4096",
        ],
        None,
    )
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("memory_mib must be between 1 and 256"),
        "{}",
        out.stderr
    );
}
