//! Test a Wharf connector inside `cargo test`, in the server's own sandbox.
//!
//! The harness builds the connector's component ([`component!`]), starts
//! `wharf dev rpc` on it (the same runtime, grants and limits as `wharf
//! serve`), and drives it call by call. Requests are answered from a
//! cassette recorded with `wharf dev … --record` ([`Harness::replay`]),
//! from scripted answers ([`Harness::respond`]), or, when neither is
//! given, by the network the harness was granted. Every request the
//! connector made is kept for assertions ([`Connector::requests`]).
//!
//! ```no_run
//! use wharf_harness::{Harness, component};
//! use serde_json::json;
//!
//! let mut c = Harness::new(component!())
//!     .config(json!({"base_url": "https://api.example.com"}))
//!     .replay("tests/cassettes/items.json")
//!     .start()
//!     .unwrap();
//! let records = c.fetch_all("items").unwrap();
//! assert_eq!(records[0].key.as_deref(), Some("1"));
//! c.finish().unwrap(); // no request differed from the cassette
//! ```
//!
//! The `wharf` binary is found through `$WHARF` (a path), else on `PATH`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Build the calling crate's component (release, `wasm32-wasip2`) and
/// give its path: `component!()` in a connector's tests.
#[macro_export]
macro_rules! component {
    () => {
        $crate::build_component(env!("CARGO_MANIFEST_DIR"), env!("CARGO_PKG_NAME"))
    };
}

/// Build the component of the crate at `manifest_dir` named `package`
/// (into `wharf-component` under `$CARGO_TARGET_DIR` or `target/`, apart
/// from the test build, whose lock the running test holds) and give the
/// path of its `.wasm`. Panics with cargo's own message when the build
/// fails.
pub fn build_component(manifest_dir: &str, package: &str) -> PathBuf {
    let dir = Path::new(manifest_dir);
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join("target"))
        .join("wharf-component");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(dir)
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .env("CARGO_TARGET_DIR", &target_dir);
    // The test build's settings are for the native target, not this one.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("could not run cargo to build the component: {e}"));
    assert!(
        status.success(),
        "building the component failed ({status}); is the target installed? `rustup target add wasm32-wasip2`"
    );
    target_dir
        .join("wasm32-wasip2")
        .join("release")
        .join(format!("{}.wasm", package.replace('-', "_")))
}

/// A record, as the contract carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Its stream.
    pub stream: String,
    /// Its key in the source.
    #[serde(default)]
    pub key: Option<String>,
    /// `upsert` or `delete`.
    #[serde(default = "upsert")]
    pub op: String,
    /// The record (a JSON object).
    pub data: Value,
}

fn upsert() -> String {
    "upsert".into()
}

impl Record {
    /// An upsert of `data` into `stream` with `key`.
    pub fn new(stream: &str, key: Option<&str>, data: Value) -> Self {
        Self {
            stream: stream.into(),
            key: key.map(str::to_string),
            op: upsert(),
            data,
        }
    }
}

/// A page a source returned.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Page {
    /// Its records.
    pub records: Vec<Record>,
    /// Where the next page starts.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Whether there is more.
    #[serde(default)]
    pub more: bool,
    /// Rows the source could not read.
    #[serde(default)]
    pub row_errors: Vec<Value>,
}

/// What a destination did with a batch.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PushResult {
    /// Records created.
    pub created: u32,
    /// Records updated.
    pub updated: u32,
    /// Records deleted.
    pub deleted: u32,
    /// Records refused (index, field, message).
    #[serde(default)]
    pub rejected: Vec<Value>,
}

/// A request the connector sent, as it wrote it (placeholders, not
/// secrets).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Request {
    /// Method.
    pub method: String,
    /// URL.
    pub url: String,
    /// Headers in the connector's order.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// Body: `{"text": …}` or `{"base64": …}`.
    #[serde(default)]
    pub body: Option<Value>,
}

impl Request {
    /// The value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text, if it was text.
    pub fn body_text(&self) -> Option<&str> {
        self.body.as_ref()?.get("text")?.as_str()
    }
}

/// How a call failed: the kind (`config`, `auth`, `transient`, `fatal`,
/// `unsupported`, `limit`, `trap`, `protocol`, `replay`, …) and a message.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CallError {
    /// Machine-readable kind.
    pub kind: String,
    /// For a person.
    pub message: String,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "error[{}]: {}", self.kind, self.message)
    }
}

impl std::error::Error for CallError {}

/// A connector to start: component, config, secrets, grants, and where
/// its requests are answered.
#[derive(Debug, Clone)]
pub struct Harness {
    wasm: PathBuf,
    config: Value,
    args: Vec<String>,
    script: Vec<Value>,
    /// Secrets go to `wharf dev rpc` through its environment: a command
    /// line is readable by every user of the machine.
    secret_env: Vec<(String, String)>,
}

impl Harness {
    /// The component at `wasm`.
    pub fn new(wasm: impl Into<PathBuf>) -> Self {
        Self {
            wasm: wasm.into(),
            config: json!({}),
            args: Vec::new(),
            script: Vec::new(),
            secret_env: Vec::new(),
        }
    }

    /// The connection's config.
    pub fn config(mut self, config: Value) -> Self {
        self.config = config;
        self
    }

    /// A secret of the connection (filled into requests by the host; the
    /// connector never sees it).
    pub fn secret(mut self, name: &str, value: &str) -> Self {
        let var = format!("WHARF_HARNESS_SECRET_{}", self.secret_env.len());
        self.args
            .extend(["--secret".into(), format!("{name}=env:{var}")]);
        self.secret_env.push((var, value.to_string()));
        self
    }

    /// Grant a host pattern besides the spec's.
    pub fn allow_host(mut self, pattern: &str) -> Self {
        self.args.extend(["--allow-host".into(), pattern.into()]);
        self
    }

    /// Allow a blocked network (`127.0.0.0/8` for a server in the test).
    pub fn allow_network(mut self, cidr: &str) -> Self {
        self.args.extend(["--allow-network".into(), cidr.into()]);
        self
    }

    /// Answer requests from this cassette (recorded with `wharf dev …
    /// --record`); [`Connector::finish`] fails on the first difference.
    pub fn replay(mut self, cassette: impl AsRef<Path>) -> Self {
        self.args
            .extend(["--replay".into(), cassette.as_ref().display().to_string()]);
        self
    }

    /// Record the session in this cassette (on the network the harness
    /// was granted); written when the connector is finished.
    pub fn record(mut self, cassette: impl AsRef<Path>) -> Self {
        self.args
            .extend(["--record".into(), cassette.as_ref().display().to_string()]);
        self
    }

    /// Answer `method url` (a URL ending in `*` is a prefix) with `status`
    /// and `body` (JSON); the first scripted answer that fits is used.
    pub fn respond(self, method: &str, url: &str, status: u16, body: Value) -> Self {
        self.respond_with(
            method,
            url,
            status,
            vec![("content-type".into(), "application/json".into())],
            body.to_string(),
        )
    }

    /// Answer `method url` with `status`, `headers` and a text `body`.
    pub fn respond_with(
        mut self,
        method: &str,
        url: &str,
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    ) -> Self {
        self.script.push(json!({
            "method": method,
            "url": url,
            "outcome": {"response": {"status": status, "headers": headers, "body": {"text": body}}},
        }));
        self
    }

    /// Start `wharf dev rpc` on the component.
    pub fn start(self) -> Result<Connector, CallError> {
        let wharf = std::env::var_os("WHARF").unwrap_or_else(|| "wharf".into());
        let mut cmd = Command::new(&wharf);
        cmd.args(["dev", "rpc"])
            .arg(&self.wasm)
            .args(["--config", &self.config.to_string()])
            .args(&self.args)
            .envs(self.secret_env.iter().map(|(k, v)| (k, v)));
        let script_file = if self.script.is_empty() {
            None
        } else {
            // In a directory of its own, created here (it fails if the name
            // is taken), so no other user can put a file in its place.
            let dir = std::env::temp_dir().join(format!(
                "wharf-harness-{}-{}",
                std::process::id(),
                unique()
            ));
            let script = Value::Array(self.script).to_string();
            let write = || -> std::io::Result<PathBuf> {
                std::fs::create_dir(&dir)?;
                let path = dir.join("script.json");
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)?;
                f.write_all(script.as_bytes())?;
                Ok(path)
            };
            let path =
                write().map_err(|e| harness_error(format!("cannot write the script: {e}")))?;
            cmd.arg("--script").arg(&path);
            Some(dir)
        };
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| {
                harness_error(format!(
                    "cannot start `{}` ({e}); set WHARF to the wharf binary",
                    PathBuf::from(&wharf).display()
                ))
            })?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        Ok(Connector {
            child,
            stdin: Some(stdin),
            stdout,
            script_file,
        })
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn harness_error(message: String) -> CallError {
    CallError {
        kind: "harness".into(),
        message,
    }
}

/// A running connector session.
#[derive(Debug)]
pub struct Connector {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// The directory of the script file, removed with the session.
    script_file: Option<PathBuf>,
}

impl Connector {
    fn call<T: DeserializeOwned>(&mut self, request: Value) -> Result<T, CallError> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| harness_error("the session is finished".into()))?;
        writeln!(stdin, "{request}")
            .and_then(|()| stdin.flush())
            .map_err(|e| harness_error(format!("wharf dev rpc stopped: {e}")))?;
        let mut line = String::new();
        let read = self
            .stdout
            .read_line(&mut line)
            .map_err(|e| harness_error(format!("wharf dev rpc: {e}")))?;
        if read == 0 {
            let status = self.child.wait().ok();
            return Err(harness_error(format!(
                "wharf dev rpc ended ({status:?}); its error is on standard error"
            )));
        }
        let answer: Value = serde_json::from_str(&line)
            .map_err(|e| harness_error(format!("wharf dev rpc answered `{line}`: {e}")))?;
        if let Some(e) = answer.get("error") {
            return Err(
                serde_json::from_value(e.clone()).unwrap_or_else(|_| harness_error(e.to_string()))
            );
        }
        serde_json::from_value(answer.get("ok").cloned().unwrap_or(Value::Null))
            .map_err(|e| harness_error(format!("unexpected answer `{line}`: {e}")))
    }

    /// `check` the config.
    pub fn check(&mut self) -> Result<(), CallError> {
        self.call::<Value>(json!({"op": "check"})).map(|_| ())
    }

    /// The streams the connection offers (`discover`), as JSON.
    pub fn discover(&mut self) -> Result<Vec<Value>, CallError> {
        self.call(json!({"op": "discover"}))
    }

    /// One page of `stream` after `cursor`.
    pub fn fetch(&mut self, stream: &str, cursor: Option<&str>) -> Result<Page, CallError> {
        self.call(json!({"op": "fetch", "stream": stream, "cursor": cursor}))
    }

    /// Every page of `stream`, from the start, following cursors.
    pub fn fetch_all(&mut self, stream: &str) -> Result<Vec<Record>, CallError> {
        let mut cursor = None;
        let mut records = Vec::new();
        loop {
            let page = self.fetch(stream, cursor.as_deref())?;
            records.extend(page.records);
            if !page.more {
                return Ok(records);
            }
            cursor = page.cursor.or(cursor);
        }
    }

    /// `map` records.
    pub fn map(&mut self, records: &[Record]) -> Result<Vec<Record>, CallError> {
        self.call(json!({"op": "map", "records": records}))
    }

    /// `push` records.
    pub fn push(&mut self, records: &[Record]) -> Result<PushResult, CallError> {
        self.call(json!({"op": "push", "records": records}))
    }

    /// A webhook delivery (`receive`).
    pub fn receive(
        &mut self,
        headers: Vec<(String, String)>,
        body: &str,
    ) -> Result<Vec<Record>, CallError> {
        self.call(json!({"op": "receive", "headers": headers, "body": body}))
    }

    /// Every request the connector sent so far.
    pub fn requests(&mut self) -> Result<Vec<Request>, CallError> {
        self.call(json!({"op": "requests"}))
    }

    /// Log lines since the last call of this (level, source, message).
    pub fn logs(&mut self) -> Result<Vec<Value>, CallError> {
        self.call(json!({"op": "logs"}))
    }

    /// End the session: the first difference from the cassette (or a
    /// request no scripted answer fitted), if there was one; a recorded
    /// cassette is written now.
    pub fn finish(mut self) -> Result<(), CallError> {
        let outcome = self.call::<Value>(json!({"op": "finish"})).map(|_| ());
        self.stdin.take();
        let status = self
            .child
            .wait()
            .map_err(|e| harness_error(e.to_string()))?;
        outcome?;
        if !status.success() {
            return Err(harness_error(format!(
                "wharf dev rpc ended with {status}; its error is on standard error"
            )));
        }
        Ok(())
    }
}

impl Drop for Connector {
    fn drop(&mut self) {
        self.stdin.take();
        let _ = self.child.wait();
        if let Some(dir) = self.script_file.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
