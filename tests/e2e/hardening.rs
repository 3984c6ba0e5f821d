//! The sandbox's promises against a hostile guest (`guests/hostile`), one
//! test per finding of the hardening review: a secret read back through a
//! compressing or transforming echo, a guessing oracle, host-owned headers,
//! a host panic, quadratic substitution, log floods, output shapes, a run
//! that never ends, credentials widened through the API, and a run executed
//! twice after its lease was lost. Each runs through the runtime, `wharf
//! dev`, or a real `wharf serve`, and asserts the bounds (time to stop,
//! lines written, memory), not only that an error came back.
//!
//! It is kept as one file because it is the record of one review, a test per
//! finding, and the tests share its fixtures: the echoing upstream, every
//! form of the secret that must never come back (`assert_no_secret`), and
//! `hostile_sync` of the lease, limit and panic tests.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use crate::support::{Upstream, guest_path, load, runtime, session};

/// Characters that every encoding changes: `/`, `+`, `=`, space, `"`.
const SECRET: &str = "Tok3n/with+special=chars \"4711\"";

/// Every form in which the secret must not reach the guest, computed here
/// with the encoders themselves, not with the host's redactor.
fn secret_forms() -> Vec<String> {
    let v = SECRET;
    let pct_upper: String = v.bytes().map(|b| format!("%{b:02X}")).collect();
    let json_all_u: String = v.encode_utf16().map(|u| format!("\\u{u:04x}")).collect();
    vec![
        v.to_string(),
        v.to_ascii_lowercase(),
        v.to_ascii_uppercase(),
        STANDARD.encode(v),
        URL_SAFE.encode(v),
        URL_SAFE_NO_PAD.encode(v),
        hex::encode(v),
        hex::encode_upper(v),
        pct_upper.clone(),
        pct_upper.to_lowercase(),
        url::form_urlencoded::byte_serialize(v.as_bytes()).collect(),
        json_all_u.clone(),
        json_all_u.to_uppercase().replace("\\U", "\\u"),
        serde_json::to_string(v).unwrap(),
        serde_json::to_string(v).unwrap().replace('/', "\\/"),
    ]
}

/// No form of the secret in `text`, and no base64 run in it that decodes
/// to something containing the secret (HTTP Basic credentials).
fn assert_no_secret(text: &str, context: &str) {
    for form in secret_forms() {
        let inner = form.trim_matches('"');
        assert!(
            !text.contains(inner),
            "{context}: the secret came back as `{inner}` in {text}"
        );
    }
    for run in text.split(|c: char| !(c.is_ascii_alphanumeric() || "+/=-_".contains(c))) {
        if run.len() < 12 {
            continue;
        }
        for engine in [&STANDARD, &URL_SAFE] {
            if let Ok(bytes) = engine.decode(run.trim_end_matches('=').to_string() + pad(run))
                && String::from_utf8_lossy(&bytes).contains(SECRET)
            {
                panic!("{context}: base64 `{run}` decodes to the secret");
            }
        }
    }
}

fn pad(run: &str) -> &'static str {
    match run.trim_end_matches('=').len() % 4 {
        2 => "==",
        3 => "=",
        _ => "",
    }
}

#[derive(Clone, Default)]
struct Seen {
    requests: Arc<Mutex<Vec<HeaderMap>>>,
}

impl Seen {
    fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
    fn last(&self) -> HeaderMap {
        self.requests.lock().unwrap().last().cloned().unwrap()
    }
}

fn token(h: &HeaderMap) -> String {
    h.get("x-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// An upstream that echoes what it is sent, in the ways real APIs do.
async fn echo_upstream() -> (Upstream, Seen) {
    let seen = Seen::default();
    let app = Router::new()
        .route("/form/{form}", get(echo_form))
        .route("/coded/{coding}", get(echo_coded))
        .route("/guess", get(echo_guess))
        .route("/headers", get(echo_headers))
        .route(
            "/len",
            post(echo_len).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .layer(axum::middleware::from_fn_with_state(
            seen.clone(),
            |State(seen): State<Seen>,
             req: axum::extract::Request,
             next: axum::middleware::Next| async move {
                seen.requests.lock().unwrap().push(req.headers().clone());
                next.run(req).await
            },
        ));
    (Upstream::start(app).await, seen)
}

async fn echo_form(Path(form): Path<String>, h: HeaderMap) -> Response {
    let v = token(&h);
    let body = match form.as_str() {
        "raw" => v.clone(),
        "lower" => v.to_ascii_lowercase(),
        "upper" => v.to_ascii_uppercase(),
        // Every character as \uXXXX: what an over-eager JSON encoder writes.
        "json-u" => {
            let escaped: String = v.encode_utf16().map(|u| format!("\\u{u:04x}")).collect();
            format!("{{\"you_sent\": \"{escaped}\"}}")
        }
        "json-u-upper" => {
            let escaped: String = v.encode_utf16().map(|u| format!("\\u{u:04X}")).collect();
            format!("{{\"you_sent\": \"{escaped}\"}}")
        }
        "json-slash" => format!(
            "{{\"you_sent\": {}}}",
            serde_json::to_string(&v).unwrap().replace('/', "\\/")
        ),
        "base64" => STANDARD.encode(&v),
        "base64url" => URL_SAFE_NO_PAD.encode(&v),
        "hex" => hex::encode(&v),
        "hex-upper" => hex::encode_upper(&v),
        "pct" => v.bytes().map(|b| format!("%{b:02X}")).collect(),
        "pct-lower" => v.bytes().map(|b| format!("%{b:02x}")).collect(),
        "form" => url::form_urlencoded::byte_serialize(v.as_bytes()).collect(),
        "basic" => format!("Basic {}", STANDARD.encode(format!("user:{v}"))),
        "basic-offset" => format!("Basic {}", STANDARD.encode(format!("us:{v}:x"))),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (StatusCode::OK, body).into_response()
}

/// The secret in a JSON body, compressed with `coding` whatever the
/// request asked for (`x-custom` is gzip under a name nobody decodes).
async fn echo_coded(Path(coding): Path<String>, h: HeaderMap) -> Response {
    let body = json!({"you_sent": token(&h), "pad": "p".repeat(2000)}).to_string();
    let compressed = compress(&coding, body.into_bytes());
    (
        StatusCode::OK,
        [
            ("content-encoding", coding.as_str()),
            ("content-type", "application/json"),
        ],
        compressed,
    )
        .into_response()
}

/// `body` in each coding of `codings` (comma-separated, applied in order).
fn compress(codings: &str, body: Vec<u8>) -> Vec<u8> {
    codings
        .split(',')
        .fold(body, |body, coding| match coding.trim() {
            "gzip" | "x-custom" => {
                let mut e =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(&body).unwrap();
                e.finish().unwrap()
            }
            "deflate" => {
                let mut e =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(&body).unwrap();
                e.finish().unwrap()
            }
            "br" => {
                let mut out = Vec::new();
                brotli::BrotliCompress(&mut &body[..], &mut out, &Default::default()).unwrap();
                out
            }
            "zstd" => zstd::encode_all(&body[..], 3).unwrap(),
            other => panic!("unknown coding {other}"),
        })
}

async fn echo_guess(h: HeaderMap) -> String {
    let guess = h.get("x-guess").and_then(|v| v.to_str().ok()).unwrap_or("");
    json!({"you_sent": guess}).to_string()
}

async fn echo_headers(h: HeaderMap) -> String {
    json!({"host": h.get("host").and_then(|v| v.to_str().ok())}).to_string()
}

async fn echo_len(body: Bytes) -> String {
    json!({"len": body.len(), "echo_head": String::from_utf8_lossy(&body[..body.len().min(64)])})
        .to_string()
}

fn records_text(page: &wharf::model::record::Page) -> String {
    serde_json::to_string(&page.records).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_echoed_secret_never_reaches_the_guest_in_any_form() {
    let (up, seen) = echo_upstream().await;
    let rt = runtime();
    let hostile = load(&rt, "hostile").await;
    let open = |attack: &str, path: &str| {
        session(
            &rt,
            &hostile,
            json!({"attack": attack, "url": up.url(path)}),
            &[&up.origin()],
            &["127.0.0.0/8"],
            &[("token", SECRET)],
        )
    };

    // Transformed echoes.
    for form in [
        "raw",
        "lower",
        "upper",
        "json-u",
        "json-u-upper",
        "json-slash",
        "base64",
        "base64url",
        "hex",
        "hex-upper",
        "pct",
        "pct-lower",
        "form",
        "basic",
        "basic-offset",
    ] {
        let s = open("send-secret", &format!("/form/{form}"));
        let page = s
            .fetch("out", None)
            .await
            .unwrap_or_else(|e| panic!("{form}: {e}"));
        let text = records_text(&page);
        assert_no_secret(&text, form);
        assert!(
            text.contains("[REDACTED]"),
            "{form}: the echo arrived: {text}"
        );
        let logs: Vec<String> = s.log().drain().into_iter().map(|l| l.message).collect();
        assert_no_secret(&logs.join("\n"), form);
    }
    // The upstream really received the secret in clear (the echo is real).
    assert_eq!(token(&seen.last()), SECRET);

    // Compressed echoes: the host asked for these codings, decodes them and
    // redacts before the guest sees a byte; the guest's own inflater gets
    // plain text.
    for coding in ["gzip", "deflate", "br", "zstd", "gzip,br", "zstd, gzip"] {
        let s = open("inflate-echo", &format!("/coded/{coding}"));
        let page = s
            .fetch("out", None)
            .await
            .unwrap_or_else(|e| panic!("{coding}: {e}"));
        let text = records_text(&page);
        assert_no_secret(&text, coding);
        assert!(text.contains("[REDACTED]"), "{coding}: {text}");
        let asked = seen.last();
        let asked = asked["accept-encoding"].to_str().unwrap();
        for c in ["gzip", "br", "zstd", "deflate"] {
            assert!(asked.contains(c), "the host asks for {c}: {asked}");
        }
    }
    // A coding the host cannot decode is refused from a host a secret is
    // bound to, whether this request carried it or not (an upstream can
    // store what it was sent earlier)...
    for attack in ["inflate-echo", "request"] {
        let s = open(attack, "/coded/x-custom");
        let err = s.fetch("out", None).await.unwrap_err().to_string();
        assert!(err.contains("cannot decode"), "{attack}: {err}");
    }
    // ...and passed through, opaque, from a host no secret is bound to.
    let s = session(
        &rt,
        &hostile,
        json!({"attack": "request", "url": up.url("/coded/x-custom")}),
        &[&up.origin()],
        &["127.0.0.0/8"],
        &[],
    );
    assert!(s.fetch("out", None).await.is_ok());
    // The guest cannot choose the coding.
    let s = session(
        &rt,
        &hostile,
        json!({"attack": "set-header", "url": up.url("/coded/gzip"), "header": "Accept-Encoding", "value": "gzip"}),
        &[&up.origin()],
        &["127.0.0.0/8"],
        &[("token", SECRET)],
    );
    let err = s.fetch("out", None).await.unwrap_err().to_string();
    assert!(
        err.contains("header `accept-encoding` is set by the host"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guess_comes_back_the_same_whether_right_or_wrong() {
    // The secret is bound to `bound`; `other` is granted but never gets it.
    let (bound, _) = echo_upstream().await;
    let (other, other_seen) = echo_upstream().await;
    let rt = runtime();
    let hostile = load(&rt, "hostile").await;
    for guess in [SECRET, "wrong guess, same length \"0000\""] {
        let s = session(
            &rt,
            &hostile,
            json!({"attack": "guess", "url": bound.url("/"), "target": other.url("/guess"), "value": guess}),
            &[&bound.origin(), &other.origin()],
            &["127.0.0.0/8"],
            &[("token", SECRET)],
        );
        let page = s.fetch("out", None).await.unwrap();
        let body: Value =
            serde_json::from_str(page.records[0].fields()["body"].as_str().unwrap()).unwrap();
        // Right or wrong, the guest gets back exactly what it sent.
        assert_eq!(
            body["you_sent"], guess,
            "a right guess must look like a wrong one"
        );
    }
    assert_eq!(other_seen.count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_owns_host_framing_and_coding_headers() {
    let (up, seen) = echo_upstream().await;
    let rt = runtime();
    let hostile = load(&rt, "hostile").await;
    let attempt = |header: &str, value: &str| {
        session(
            &rt,
            &hostile,
            json!({"attack": "set-header", "url": up.url("/headers"), "header": header, "value": value}),
            &[&up.origin()],
            &["127.0.0.0/8"],
            &[],
        )
    };
    for (header, value) in [
        ("Host", "internal.example"),
        ("content-length", "0"),
        ("Transfer-Encoding", "chunked"),
        ("Connection", "close"),
        ("Keep-Alive", "timeout=5"),
        ("TE", "trailers"),
        ("Upgrade", "h2c"),
        ("Expect", "100-continue"),
        ("Proxy-Authorization", "Basic eDp4"),
        ("Accept-Encoding", "identity"),
    ] {
        let before = seen.count();
        let err = attempt(header, value)
            .fetch("out", None)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!(
                "header `{}` is set by the host",
                header.to_ascii_lowercase()
            )),
            "{header}: {err}"
        );
        assert_eq!(seen.count(), before, "{header}: nothing may be sent");
    }
    // What the upstream sees comes from the checked URL.
    let page = attempt("X-Fine", "1").fetch("out", None).await.unwrap();
    let body: Value =
        serde_json::from_str(page.records[0].fields()["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["host"], up.addr.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_input_cannot_make_host_work_unbounded() {
    let (up, _) = echo_upstream().await;
    let rt = runtime();
    let hostile = load(&rt, "hostile").await;
    let open = |config: Value| {
        session(
            &rt,
            &hostile,
            config,
            &[&up.origin()],
            &["127.0.0.0/8"],
            &[("token", SECRET)],
        )
    };

    // 25,000 header names once made HeaderMap panic the process.
    let err = open(json!({"attack": "many-headers", "url": up.url("/headers"), "n": 25_000}))
        .fetch("out", None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("at most 100 are allowed"), "{err}");

    // 200,000 placeholders (3 MiB) once kept the host busy for 86 s of CPU.
    let started = Instant::now();
    let page = open(json!({"attack": "placeholder-bomb", "url": up.url("/len"), "n": 200_000}))
        .fetch("out", None)
        .await
        .unwrap();
    let took = started.elapsed();
    let fields = page.records[0].fields();
    assert_eq!(fields["status"], 200);
    // The upstream got every substitution (and its answer was redacted).
    let body: Value = serde_json::from_str(fields["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["len"], 200_000 * SECRET.len());
    assert!(
        body["echo_head"]
            .as_str()
            .unwrap()
            .starts_with("[REDACTED]")
    );
    assert!(
        took < Duration::from_secs(10),
        "substitution must be linear: {took:?}"
    );

    // A loop on refused requests fails its call after a bounded number, and
    // writes a bounded number of lines.
    let started = Instant::now();
    let s = open(json!({"attack": "deny-loop", "url": "http://not-granted.example/"}));
    let err = s.fetch("out", None).await.unwrap_err();
    assert_eq!(err.kind(), "limit", "{err}");
    assert!(err.to_string().contains("refusal limit exceeded"), "{err}");
    let lines = s.log().drain();
    assert!(lines.len() <= 12, "{} lines", lines.len());
    assert!(
        lines
            .iter()
            .any(|l| l.message.contains("more requests refused")),
        "{lines:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));

    // A loop on reveals: every attempt is audited, charged to the call.
    let s = open(json!({"attack": "reveal-loop", "url": up.url("/")}));
    let err = s.fetch("out", None).await.unwrap_err();
    assert!(err.to_string().contains("log limit exceeded"), "{err}");
    let lines = s.log().drain();
    assert!(
        lines.len() <= 1_000 && lines.len() >= 100,
        "{} lines",
        lines.len()
    );
    assert!(lines[0].message.contains("secrets.reveal(`token`): "));

    // Output shapes: many empty records, and one record nested deeply.
    // 280,000 empty records are past the output limit (69 bytes each) and
    // within the transfer budget (109 bytes each as the host copies them);
    // 400,000 are past both, and the copy stops first.
    for (n, said) in [
        (
            280_000,
            "output limit exceeded: the call returned 19320000 bytes",
        ),
        (400_000, "transfer limit exceeded"),
    ] {
        let err = open(json!({"attack": "many-records", "url": up.url("/"), "n": n}))
            .fetch("out", None)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(said), "{n}: {err}");
    }
    let err = open(json!({"attack": "many-records", "url": up.url("/"), "n": 150_000}))
        .fetch("out", None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("record limit exceeded: the call returned 150000 records, more than 100000"),
        "{err}"
    );
    // 100,000 records naming one 1 MiB string in guest memory: 100 GB if
    // the host copied each; it stops at the transfer budget (twice the
    // output limit, where wasmtime's own default is 128 MiB), names it,
    // and goes on serving.
    // 1 KiB named 100,000 times (100 MB) is past that budget too, where
    // wasmtime's own default (128 MiB) would have copied it all.
    for n in [1 << 20, 1_000] {
        let err = open(json!({"attack": "aliased-strings", "url": up.url("/"), "n": n}))
            .fetch("out", None)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "transfer limit exceeded: the connector handed the host more than 33554432 bytes at once"
            ),
            "{n}: {err}"
        );
    }
    let page = open(json!({"attack": "echo", "url": up.url("/"), "n": 2}))
        .fetch("out", None)
        .await
        .unwrap();
    assert_eq!(page.records.len(), 2);
    // Records staged through `wharf:pages` count with the page's own, are
    // checked like them, are refused outside `fetch`, and a failed call's
    // are gone.
    let err = open(json!({"attack": "stage-many", "url": up.url("/"), "n": 60_000}))
        .fetch("out", None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("record limit exceeded: the call returned 120000 records, more than 100000"),
        "{err}"
    );
    let err = open(json!({"attack": "stage-flood", "url": up.url("/")}))
        .fetch("out", None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("100000 records are staged already, the most a call may return"),
        "{err}"
    );
    let err = open(json!({"attack": "stage-long-stream", "url": up.url("/"), "n": 1 << 20}))
        .fetch("out", None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("stream name is longer than 1024 bytes"),
        "{err}"
    );
    let err = open(json!({"attack": "stage-tiny-records", "url": up.url("/"), "n": 2_000_000}))
        .fetch("out", None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the page has more than 100000 records"),
        "{err}"
    );
    let err = open(json!({"attack": "stage-deep", "url": up.url("/"), "n": 100}))
        .fetch("out", None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "limit", "{err}");
    assert!(err.to_string().contains("nesting limit exceeded"), "{err}");
    let err = open(json!({"attack": "stage-outside-fetch", "url": up.url("/")}))
        .check()
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("only while `fetch` runs"), "{err}");
    let s = open(json!({"attack": "stage-then-fail", "url": up.url("/")}));
    let err = s.fetch("out", Some("fail")).await.unwrap_err().to_string();
    assert!(err.contains("failed after staging"), "{err}");
    let page = s.fetch("out", None).await.unwrap();
    assert_eq!(page.records.len(), 1, "{:?}", page.records);
    assert_eq!(page.records[0].data.get(), r#"{"own":1}"#);

    // An error message the size of the output limit is cut before it goes
    // anywhere (run, connection status, events, logs).
    let err = open(json!({"attack": "huge-error", "url": up.url("/"), "n": 8 << 20}))
        .fetch("out", None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.len() < 5 << 10, "{} bytes", err.len());
    assert!(err.contains("bytes cut"), "{}", &err[err.len() - 60..]);
    // A destination cannot multiply its rejections.
    let record =
        wharf::model::record::Record::new("out", Some("1".into()), Default::default(), "{}".into())
            .unwrap();
    let err = open(json!({"attack": "duplicate-rejections", "url": up.url("/"), "n": 1_000}))
        .push(&[record])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "protocol", "{err}");
    let err = open(json!({"attack": "deep-record", "url": up.url("/"), "n": 100_000}))
        .fetch("out", None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("nesting limit exceeded") && err.contains("64 levels"),
        "{err}"
    );
}

/// `wharf dev fetch` of the hostile guest: (exit code, stderr).
async fn dev_fetch(config: Value, extra: &[&str]) -> (i32, String, usize) {
    let cache = tempfile::tempdir().unwrap();
    let config = config.to_string();
    let wasm = guest_path("hostile").display().to_string();
    let mut args = vec![
        "dev",
        "fetch",
        wasm.as_str(),
        "--config",
        config.as_str(),
        "--stream",
        "out",
    ];
    args.extend_from_slice(extra);
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args(&args)
        .env("XDG_CACHE_HOME", cache.path())
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.stdout.len(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_calls_through_wharf_dev_stop_with_the_limit_named() {
    let (up, _) = echo_upstream().await;
    let granted = ["--allow-network", "127.0.0.0/8"];
    let cases = [
        (
            json!({"attack": "many-headers", "url": up.url("/headers"), "n": 25_000}),
            "at most 100 are allowed",
        ),
        (
            json!({"attack": "deny-loop", "url": up.url("/"), "target": "http://not-granted.example/"}),
            "refusal limit exceeded",
        ),
        (
            json!({"attack": "reveal-loop", "url": up.url("/")}),
            "log limit exceeded",
        ),
        (
            json!({"attack": "many-records", "url": up.url("/"), "n": 150_000}),
            "record limit exceeded",
        ),
        (
            json!({"attack": "deep-record", "url": up.url("/"), "n": 100_000}),
            "nesting limit exceeded",
        ),
    ];
    for (config, needle) in cases {
        let (code, stderr, stdout) = dev_fetch(config.clone(), &granted).await;
        assert_eq!(code, 1, "{config}: {stderr}");
        assert!(stderr.contains(needle), "{config}: {stderr}");
        assert_eq!(stdout, 0, "{config}: no records on stdout");
        // Echoed log lines are bounded by the call's budget.
        assert!(stderr.len() < 256 << 10, "{config}: {} bytes", stderr.len());
    }
    // The denial loop's refusals are logged one by one only up to a few.
    let (_, stderr, _) = dev_fetch(
        json!({"attack": "deny-loop", "url": up.url("/"), "target": "http://not-granted.example/"}),
        &granted,
    )
    .await;
    assert!(stderr.lines().count() < 40, "{stderr}");
}

/// Send a request with a JSON body (none for `null`); the JSON answer.
async fn call(req: reqwest::RequestBuilder, body: Value) -> Value {
    let req = if body.is_null() {
        req
    } else {
        req.header("content-type", "application/json")
            .body(body.to_string())
    };
    let text = req.send().await.unwrap().text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// A hostile connection and its sync in a real `wharf serve`; the run id.
async fn hostile_run(
    http: &reqwest::Client,
    server: &crate::serve::Server,
    key: &str,
    name: &str,
    config: Value,
    limits: Value,
) -> String {
    let api = |path: &str| format!("{}/api/v1{path}", server.url);
    let created = call(
        http.post(api("/connections")).bearer_auth(key),
        json!({"name": name, "connector": "hostile@0.1.0", "config": config,
            "secrets": {"token": SECRET}, "grants": {"networks": ["127.0.0.0/8"]}}),
    )
    .await;
    let connection = created["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"));
    let sync = call(
        http.post(api("/syncs")).bearer_auth(key),
        json!({"name": name, "source": connection, "streams": ["out"],
            "retry": {"attempts": 1, "run_retries": 0}, "limits": limits}),
    )
    .await;
    let sync = sync["id"].as_str().unwrap_or_else(|| panic!("{sync}"));
    let run = call(
        http.post(api(&format!("/syncs/{sync}/runs")))
            .bearer_auth(key),
        Value::Null,
    )
    .await;
    run["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_runs_fail_alone_in_wharf_serve_while_a_neighbour_finishes() {
    let (up, _) = echo_upstream().await;
    let data = tempfile::tempdir().unwrap();
    let server = crate::serve::Server::start(data.path().to_path_buf(), None).await;
    let key = server.key.clone().unwrap();
    let http = reqwest::Client::new();
    let uploaded = http
        .post(format!("{}/api/v1/connectors", server.url))
        .bearer_auth(&key)
        .header("content-type", "application/wasm")
        .body(crate::support::guest("hostile"))
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 201);

    let started = Instant::now();
    let cases: Vec<(&str, Value, Value, &str, &str)> = vec![
        // The guest that once panicked the host with 25,000 header names.
        (
            "many-headers",
            json!({"attack": "many-headers", "url": up.url("/headers"), "n": 25_000}),
            json!({}),
            "failed",
            "at most 100 are allowed",
        ),
        (
            "placeholder-bomb",
            json!({"attack": "placeholder-bomb", "url": up.url("/len"), "n": 200_000}),
            json!({}),
            "succeeded",
            "",
        ),
        (
            "deny-loop",
            json!({"attack": "deny-loop", "url": up.url("/"), "target": "http://not-granted.example/"}),
            json!({}),
            "failed",
            "refusal limit exceeded",
        ),
        (
            "reveal-loop",
            json!({"attack": "reveal-loop", "url": up.url("/")}),
            json!({}),
            "failed",
            "log limit exceeded",
        ),
        (
            "many-records",
            json!({"attack": "many-records", "url": up.url("/"), "n": 150_000}),
            json!({}),
            "failed",
            "record limit exceeded",
        ),
        (
            "deep-record",
            json!({"attack": "deep-record", "url": up.url("/"), "n": 100_000}),
            json!({}),
            "failed",
            "nesting limit exceeded",
        ),
        (
            "endless",
            json!({"attack": "endless", "url": up.url("/"), "n": 10}),
            json!({"max_pages": 5}),
            "failed",
            "limits.max_pages",
        ),
        (
            "neighbour",
            json!({"attack": "echo", "url": up.url("/"), "n": 3}),
            json!({}),
            "succeeded",
            "",
        ),
    ];
    let mut runs = Vec::new();
    for (name, config, limits, status, needle) in &cases {
        let run = hostile_run(&http, &server, &key, name, config.clone(), limits.clone()).await;
        runs.push((run, *name, *status, *needle));
    }
    for (run, name, status, needle) in &runs {
        let ended = loop {
            let r = call(
                http.get(format!("{}/api/v1/runs/{run}", server.url))
                    .bearer_auth(&key),
                Value::Null,
            )
            .await;
            if matches!(
                r["status"].as_str(),
                Some("succeeded" | "failed" | "cancelled")
            ) {
                break r;
            }
            assert!(
                started.elapsed() < Duration::from_secs(90),
                "{name} did not end: {r}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(ended["status"], *status, "{name}: {ended}");
        let error = ended["error"].as_str().unwrap_or("");
        assert!(error.contains(needle), "{name}: {error}");
        let logs = call(
            http.get(format!("{}/api/v1/runs/{run}/logs", server.url))
                .bearer_auth(&key),
            Value::Null,
        )
        .await;
        let lines = logs["items"].as_array().map_or(0, Vec::len);
        assert!(lines <= 1_010, "{name}: {lines} log lines");
        assert_no_secret(&logs.to_string(), name);
    }
    // The neighbour ran to its end with its three records.
    let neighbour = &runs.last().unwrap().0;
    let r = call(
        http.get(format!("{}/api/v1/runs/{neighbour}", server.url))
            .bearer_auth(&key),
        Value::Null,
    )
    .await;
    assert_eq!(r["counters"]["fetched"], 3, "{r}");
    // The server lives, answers, and wrote a bounded log.
    let health = http
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let log_bytes = server.output.lock().unwrap().len();
    assert!(
        log_bytes < 2 << 20,
        "the server wrote {log_bytes} bytes of log"
    );
    assert_no_secret(&server.output.lock().unwrap(), "server log");
    let status = server.stop().await;
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn widening_where_credentials_go_needs_them_again_or_an_admin() {
    use axum::http::Method;
    let app = crate::api_support::App::new(crate::api_support::Db::Sqlite).await;
    assert_eq!(
        app.upload(crate::support::guest("http-json")).await.status,
        StatusCode::CREATED
    );
    let config = json!({
        "base_url": "https://api.example.com",
        "headers": {"Authorization": "Bearer {{secret:api_token}}"},
        "streams": {"items": {"path": "/items"}}
    });
    let created = app
        .post(
            "/api/v1/connections",
            json!({"name": "shop", "connector": "http-json@0.1.0", "config": config,
                "secrets": {"api_token": SECRET}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let path = format!(
        "/api/v1/connections/{}",
        created.json["id"].as_str().unwrap()
    );
    let write = app
        .post(
            "/api/v1/api-keys",
            json!({"name": "writer", "scope": "write"}),
        )
        .await
        .json["key"]
        .as_str()
        .unwrap()
        .to_string();
    let evil = json!({
        "base_url": "https://evil.example.net",
        "headers": {"Authorization": "Bearer {{secret:api_token}}"},
        "streams": {"items": {"path": "/items"}}
    });
    let patch = |key: String, body: Value| {
        let app = &app;
        let path = path.clone();
        async move { app.call(Method::PATCH, &path, Some(&key), Some(body)).await }
    };

    // The documented theft: point the config and the grant at a host the
    // caller controls. Refused for a write key, naming the secret; nothing
    // changes.
    for (body, needle) in [
        (
            json!({"config": evil, "grants": {"hosts": ["https://evil.example.net"]}}),
            "api_token",
        ),
        // Blocked networks (cloud metadata among them) are an admin's call
        // whatever secrets are sent.
        (
            json!({"grants": {"networks": ["10.0.0.0/8"]}}),
            "needs an admin key",
        ),
        (
            json!({"grants": {"hosts": ["https://api.example.com"], "networks": ["169.254.0.0/16"]},
                "secrets": {"api_token": "sent-again"}}),
            "needs an admin key",
        ),
    ] {
        let a = patch(write.clone(), body.clone()).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{body}: {}", a.text);
        assert!(a.is_problem());
        assert!(
            a.json["detail"].as_str().unwrap().contains(needle),
            "{}",
            a.text
        );
    }
    // Nor may a write key create a connection with one.
    let a = app
        .call(
            Method::POST,
            "/api/v1/connections",
            Some(&write),
            Some(
                json!({"name": "meta", "connector": "http-json@0.1.0", "config": config,
                "grants": {"networks": ["169.254.0.0/16"]}}),
            ),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text);
    let now = app.get(&path).await;
    assert_eq!(now.json["config"]["base_url"], "https://api.example.com");
    assert_eq!(now.json["grants"]["networks"], json!([]));

    // Narrowing, or changes that move no credential, need nothing more.
    let a = patch(write.clone(), json!({"name": "shop-renamed"})).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);

    // Whoever knows the secret may send it elsewhere: it is supplied again.
    let a = patch(
        write.clone(),
        json!({"config": evil, "grants": {"hosts": ["https://evil.example.net"]},
            "secrets": {"api_token": "a-new-value-for-the-new-host"}}),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);

    // An admin may widen without the secret; the audit log says so.
    let a = patch(
        app.admin.clone(),
        json!({"grants": {"hosts": ["https://evil.example.net"], "networks": ["10.0.0.0/8"]}}),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let audit = app.get("/api/v1/audit").await;
    let widened: Vec<&Value> = audit.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "connection.update")
        .filter(|e| {
            e["detail"]["credentials_widened"]
                .as_array()
                .is_some_and(|v| !v.is_empty())
        })
        .collect();
    assert_eq!(widened.len(), 1, "{}", audit.text);
    assert!(
        widened[0]["detail"]["widened"][0]
            .as_str()
            .unwrap()
            .contains("10.0.0.0/8")
    );
}

/// An app with the hostile connector and one sync of `config`; the sync id.
pub(crate) async fn hostile_sync(
    app: &crate::api_support::App,
    name: &str,
    config: Value,
    limits: Value,
) -> String {
    if app.get("/api/v1/connectors/hostile/0.1.0").await.status == StatusCode::NOT_FOUND {
        assert_eq!(
            app.upload(crate::support::guest("hostile")).await.status,
            StatusCode::CREATED
        );
    }
    let connection = app
        .connection(name, "hostile@0.1.0", config, json!({}))
        .await;
    let a = app
        .post(
            "/api/v1/syncs",
            json!({"name": name, "source": connection, "streams": ["out"],
                "retry": {"attempts": 1, "run_retries": 0}, "limits": limits}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    a.json["id"].as_str().unwrap().to_string()
}

/// A sync `name` of the hostile connector (echoing) with one manual run
/// claimed by `node`: the sync id and the claimed run.
pub(crate) async fn claimed_run(
    app: &crate::api_support::App,
    name: &str,
    node: &str,
) -> (String, wharf::store::runs::RunRow) {
    let sync = hostile_sync(
        app,
        name,
        json!({"attack": "echo", "url": "http://x.example"}),
        json!({}),
    )
    .await;
    let store = &app.state.app.store;
    store
        .enqueue_run(&sync, wharf::store::runs::Trigger::Manual, None, 0, 1)
        .await
        .unwrap();
    let run = store.claim_run(node, 60_000).await.unwrap().unwrap();
    (sync, run)
}

async fn fencing(db: crate::api_support::Db) {
    use wharf::store::pages::{PageCommit, PageRefused};
    use wharf::store::runs::Counters;
    let app = crate::api_support::App::new(db).await;
    let node = "node-a";
    let (sync, first) = claimed_run(&app, "fenced", node).await;
    let store = &app.state.app.store;
    let old = first.lease().unwrap();
    // The node stalls past its lease; the run is rescued and claimed again
    // by the same node, as happened when the runtime was starved.
    sqlx::query("UPDATE runs SET lease_until = 0 WHERE id = $1")
        .bind(&first.id)
        .execute(store.pool())
        .await
        .unwrap();
    assert_eq!(store.rescue_expired().await.unwrap(), 1);
    let second = store.claim_run(node, 60_000).await.unwrap().unwrap();
    assert_eq!(second.id, first.id);
    let new = second.lease().unwrap();
    assert_eq!(new.generation, old.generation + 1);

    let page = |lease| PageCommit {
        lease,
        sync_id: &sync,
        stream: "out",
        cursor: Some("c1".into()),
        done: false,
        checkpoint: true,
        counters: Counters {
            pages: 1,
            fetched: 1,
            ..Counters::default()
        },
        rejections: Vec::new(),
        logs: vec![(0, "info".into(), "t".into(), "a line".into())],
        logs_dropped: 0,
        records: vec![
            wharf::model::record::Record::new(
                "out",
                Some("1".into()),
                Default::default(),
                "{}".into(),
            )
            .unwrap(),
        ],
        quota: 1_000,
    };
    // The old execution writes nothing, however it tries.
    assert_eq!(
        store.commit_page(page(&old)).await.unwrap(),
        Err(PageRefused::LeaseLost)
    );
    // Over the quota too, it is told first that the run is not its own
    // (SQLite checks the lease with the counters, after the records).
    assert_eq!(
        store
            .commit_page(PageCommit {
                quota: 0,
                ..page(&old)
            })
            .await
            .unwrap(),
        Err(PageRefused::LeaseLost)
    );
    assert!(!store.heartbeat(&old, 60_000).await.unwrap());
    assert!(
        !store
            .append_run_logs(&old, &[(0, "info".into(), "t".into(), "x".into())])
            .await
            .unwrap()
    );
    assert!(
        !store
            .finish_run(&old, "succeeded", None, None)
            .await
            .unwrap()
    );
    assert!(!store.release_run(&old).await.unwrap());
    let connection = app.get("/api/v1/connections").await.json["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        !store
            .set_connection_status_fenced(
                &old,
                &connection,
                wharf::store::connections::Status::Error,
                Some("from a lost execution")
            )
            .await
            .unwrap()
    );
    assert_eq!(
        app.get(&format!("/api/v1/connections/{connection}"))
            .await
            .json["status"],
        "active"
    );
    let run = store.run(&first.id).await.unwrap().unwrap();
    assert_eq!((run.status.as_str(), run.counters.pages), ("running", 0));
    assert!(
        store
            .records(&sync, "out", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // The current one does.
    assert!(store.commit_page(page(&new)).await.unwrap().is_ok());
    assert!(
        store
            .finish_run(&new, "succeeded", None, None)
            .await
            .unwrap()
    );
    let run = store.run(&first.id).await.unwrap().unwrap();
    assert_eq!((run.status.as_str(), run.counters.pages), ("succeeded", 1));
    assert_eq!(
        store.records(&sync, "out", None, 10).await.unwrap().len(),
        1
    );
}

#[tokio::test]
async fn an_execution_that_lost_its_lease_commits_nothing_on_sqlite() {
    fencing(crate::api_support::Db::Sqlite).await;
}

#[tokio::test]
async fn an_execution_that_lost_its_lease_commits_nothing_on_postgres() {
    fencing(crate::api_support::Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_taken_over_mid_execution_ends_once_with_one_execution_counted() {
    let app = crate::api_support::App::new(crate::api_support::Db::Sqlite).await;
    // One page that takes 2 s to fetch.
    let sync = hostile_sync(
        &app,
        "slow",
        json!({"attack": "sleep", "url": "http://x.example", "n": 2_000}),
        json!({}),
    )
    .await;
    let _workers = app.start_workers();
    let a = app
        .post(&format!("/api/v1/syncs/{sync}/runs"), Value::Null)
        .await;
    let run = a.json["id"].as_str().unwrap().to_string();
    let store = &app.state.app.store;
    let mut waited = 0;
    while store.run(&run).await.unwrap().unwrap().status != "running" {
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += 1;
        assert!(waited < 500, "the run never started");
    }
    // Its lease expires while the first execution is inside the guest and
    // is rescued (as `rescue_expired` does; done here so that no heartbeat
    // can renew it first): the worker starts a second execution.
    sqlx::query(
        "UPDATE runs SET status = 'queued', lease_owner = NULL, lease_until = NULL WHERE id = $1",
    )
    .bind(&run)
    .execute(store.pool())
    .await
    .unwrap();
    let ended = app.wait_run(&run).await;
    assert_eq!(ended["status"], "succeeded", "{ended}");
    assert_eq!(
        ended["counters"]["pages"], 1,
        "one execution counted: {ended}"
    );
    assert_eq!(ended["counters"]["fetched"], 1, "{ended}");
    let logs = app.get(&format!("/api/v1/runs/{run}/logs")).await;
    let messages: Vec<&str> = logs.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    let starts = messages
        .iter()
        .filter(|m| m.starts_with("run started"))
        .count();
    let ends = messages
        .iter()
        .filter(|m| m.starts_with("run succeeded") || m.starts_with("run failed"))
        .count();
    // The first execution's start line is refused too if the takeover came
    // before it was written.
    assert!((1..=2).contains(&starts), "{messages:?}");
    assert_eq!(
        ends, 1,
        "only the one holding the lease ended it: {messages:?}"
    );
    assert_eq!(ended["lease_gen"], 2, "{ended}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_are_renewed_while_every_async_worker_is_blocked() {
    use wharf::store::runs::Trigger;
    let app = crate::api_support::App::new(crate::api_support::Db::Sqlite).await;
    let sync = hostile_sync(
        &app,
        "held",
        json!({"attack": "echo", "url": "http://x.example"}),
        json!({}),
    )
    .await;
    let store = &app.state.app.store;
    let engine = &app.state.app;
    store
        .enqueue_run(&sync, Trigger::Manual, None, 0, 1)
        .await
        .unwrap();
    let run = store.claim_run(&engine.node, 2_000).await.unwrap().unwrap();
    let stop = Arc::new(wharf::sync::run::StopSignal::default());
    let _held = engine.leases.hold(run.lease().unwrap(), stop.clone());
    // Both worker threads of this runtime are stuck in blocking work for
    // longer than the lease (5 s in the test engine): nothing async runs.
    let blockers: Vec<_> = (0..2)
        .map(|_| tokio::spawn(async { std::thread::sleep(Duration::from_secs(7)) }))
        .collect();
    for b in blockers {
        b.await.unwrap();
    }
    let now = wharf::store::now_ms();
    let row = store.run(&run.id).await.unwrap().unwrap();
    assert!(
        row.lease_until.unwrap() > now,
        "the lease expired while the workers were blocked"
    );
    assert_eq!(store.rescue_expired().await.unwrap(), 0);
    assert!(stop.reason().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_past_a_limit_of_its_sync_fails_with_the_limit_named() {
    let app = crate::api_support::App::new(crate::api_support::Db::Sqlite).await;
    let _workers = app.start_workers();
    let endless = json!({"attack": "endless", "url": "http://x.example", "n": 10});
    let cases = [
        (
            "pages",
            endless.clone(),
            json!({"max_pages": 5}),
            "limits.max_pages",
            6,
        ),
        (
            "records",
            endless.clone(),
            json!({"max_records": 25}),
            "limits.max_records",
            3,
        ),
        (
            "stored",
            json!({"attack": "echo", "url": "http://x.example", "n": 30}),
            json!({"max_stored_records": 20}),
            "limits.max_stored_records",
            0,
        ),
        (
            "slow",
            json!({"attack": "sleep", "url": "http://x.example", "n": 3_000}),
            json!({"max_duration_secs": 1}),
            "limits.max_duration_secs",
            0,
        ),
    ];
    for (name, config, limits, needle, pages) in cases {
        let sync = hostile_sync(&app, name, config, limits).await;
        let a = app
            .post(&format!("/api/v1/syncs/{sync}/runs"), Value::Null)
            .await;
        let started = Instant::now();
        let ended = app.wait_run(a.json["id"].as_str().unwrap()).await;
        assert_eq!(ended["status"], "failed", "{name}: {ended}");
        assert_eq!(ended["error_kind"], "limit", "{name}: {ended}");
        assert!(
            ended["error"].as_str().unwrap().contains(needle),
            "{name}: {ended}"
        );
        assert_eq!(ended["counters"]["pages"], pages, "{name}: {ended}");
        if name == "slow" {
            assert!(
                started.elapsed() < Duration::from_millis(2_800),
                "stopped at its limit"
            );
        }
        if name == "stored" {
            let records = app
                .get(&format!("/api/v1/syncs/{sync}/records?stream=out"))
                .await;
            assert_eq!(
                records.json["items"],
                json!([]),
                "nothing past the quota is stored"
            );
        }
    }
}

/// A push runs on a task of its own; a run stopped at its time limit in
/// the middle of one waits for it to end, so the failed run's cassette
/// has the push it stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_stopped_at_the_runs_time_limit_is_in_its_cassette() {
    let app = crate::api_support::App::new(crate::api_support::Db::Sqlite).await;
    let _workers = app.start_workers();
    assert_eq!(
        app.upload(crate::support::guest("hostile")).await.status,
        StatusCode::CREATED
    );
    let source = app
        .connection(
            "three-records",
            "hostile@0.1.0",
            json!({"attack": "echo", "url": "http://x.example", "n": 3}),
            json!({}),
        )
        .await;
    let destination = app
        .connection(
            "slow-push",
            "hostile@0.1.0",
            json!({"attack": "slow-push", "url": "http://x.example", "n": 3_000}),
            json!({}),
        )
        .await;
    let a = app
        .post(
            "/api/v1/syncs",
            json!({"name": "slow-destination", "source": source, "destination": destination,
                "streams": ["out"], "retry": {"attempts": 1, "run_retries": 0},
                "limits": {"max_duration_secs": 1}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let sync = a.json["id"].as_str().unwrap();
    let a = app
        .post(&format!("/api/v1/syncs/{sync}/runs"), Value::Null)
        .await;
    let id = a.json["id"].as_str().unwrap().to_string();
    let ended = app.wait_run(&id).await;
    assert_eq!(ended["status"], "failed", "{ended}");
    assert_eq!(ended["error_kind"], "limit", "{ended}");
    let cassette = app
        .get(&format!("/api/v1/runs/{id}/cassette?side=destination"))
        .await;
    assert_eq!(cassette.status, StatusCode::OK, "{}", cassette.text);
    let calls = cassette.json["calls"].as_array().unwrap();
    assert_eq!(calls.last().unwrap()["op"], "push", "{}", cassette.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_that_panics_fails_its_run_and_lets_go_of_the_lease() {
    use wharf::store::runs::Trigger;
    use wharf::sync::run::Outcome;
    let app = crate::api_support::App::new(crate::api_support::Db::Sqlite).await;
    let sync = hostile_sync(
        &app,
        "panics",
        json!({"attack": "echo", "url": "http://x.example"}),
        json!({}),
    )
    .await;
    let store = &app.state.app.store;
    let engine = app.state.app.clone();
    store
        .enqueue_run(&sync, Trigger::Manual, None, 0, 1)
        .await
        .unwrap();
    let run = store
        .claim_run(&engine.node, 60_000)
        .await
        .unwrap()
        .unwrap();
    let id = run.id.clone();
    let stop = Arc::new(wharf::sync::run::StopSignal::default());
    let work = async {
        if std::hint::black_box(true) {
            panic!("a bug reached through guest input");
        }
        Outcome::Succeeded
    };
    wharf::sync::worker::execute(engine, run, stop, work).await;
    let ended = store.run(&id).await.unwrap().unwrap();
    assert_eq!(ended.status, "failed");
    assert_eq!(ended.error_kind.as_deref(), Some("internal"));
    assert!(
        ended
            .error
            .unwrap()
            .contains("a bug reached through guest input")
    );
    assert_eq!(ended.lease_owner, None);
    // The sync's next run is not stuck behind it.
    let next = app
        .post(&format!("/api/v1/syncs/{sync}/runs"), Value::Null)
        .await;
    let _workers = app.start_workers();
    let next = app.wait_run(next.json["id"].as_str().unwrap()).await;
    assert_eq!(next["status"], "succeeded", "{next}");
}
