//! A small WebDriver client for the console's browser tests: Debian's
//! `chromium` driven by `chromedriver` over the W3C WebDriver protocol
//! (JSON over HTTP on loopback). Installs both with `apt-get` when missing,
//! as the OAuth2 tests install their npm server.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

/// The key W3C WebDriver names an element by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Make sure Chromium and its driver are installed.
async fn ensure_installed() {
    if Path::new("/usr/bin/chromedriver").exists() && Path::new("/usr/bin/chromium").exists() {
        return;
    }
    // One installer at a time: tests may start together.
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _guard = LOCK.lock().await;
    if Path::new("/usr/bin/chromedriver").exists() {
        return;
    }
    let status = tokio::process::Command::new("sh")
        .args([
            "-c",
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver",
        ])
        .status()
        .await
        .expect("apt-get runs");
    assert!(
        status.success(),
        "installing chromium and chromium-driver failed"
    );
}

/// A headless Chromium session.
pub struct Browser {
    http: reqwest::Client,
    port: u16,
    id: String,
    driver: tokio::process::Child,
    shots: PathBuf,
}

impl Drop for Browser {
    /// End the WebDriver session first: Chromium is chromedriver's child,
    /// and killing only the driver leaves the browser and its helpers
    /// running after the tests (they slowed later benchmarks on the same
    /// machine). `Drop` cannot await, so the request goes out over a plain
    /// blocking socket, bounded by timeouts.
    fn drop(&mut self) {
        end_session(self.port, &self.id);
        let _ = self.driver.start_kill();
    }
}

/// `DELETE /session/{id}`: chromedriver quits the browser before it
/// answers. Errors are ignored: a dead driver has no browser left to quit.
fn end_session(port: u16, id: &str) {
    use std::io::{Read, Write};
    let driver = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut conn) = std::net::TcpStream::connect_timeout(&driver, Duration::from_secs(5)) else {
        return;
    };
    let _ = conn.set_write_timeout(Some(Duration::from_secs(5)));
    let _ = conn.set_read_timeout(Some(Duration::from_secs(20)));
    let request = format!(
        "DELETE /session/{id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if conn.write_all(request.as_bytes()).is_ok() {
        // The answer comes once the browser is gone; read until close.
        let _ = conn.read_to_end(&mut Vec::new());
    }
}

/// An element of the page.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser {
    /// Start chromedriver and a headless session, 1280 px wide.
    pub async fn start(width: u32) -> Self {
        ensure_installed().await;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = tokio::process::Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let mut ready = false;
        for _ in 0..100 {
            if http.get(format!("{base}/status")).send().await.is_ok() {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ready, "chromedriver did not start");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         format!("--window-size={width},900")]
            }
        }}});
        let v: Value = http
            .post(format!("{base}/session"))
            .header("content-type", "application/json")
            .body(caps.to_string())
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .map(|b| serde_json::from_slice(&b).unwrap())
            .unwrap();
        let id = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {v}"))
            .to_string();
        let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/console");
        std::fs::create_dir_all(&shots).unwrap();
        Self {
            http,
            port,
            id,
            driver,
            shots,
        }
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let session = format!("http://127.0.0.1:{}/session/{}", self.port, self.id);
        let mut req = self.http.request(method, format!("{session}{path}"));
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let bytes = req.send().await.unwrap().bytes().await.unwrap();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        v["value"].clone()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.cmd(reqwest::Method::POST, path, Some(body)).await
    }

    /// Open a URL.
    pub async fn goto(&self, url: &str) {
        let v = self.post("/url", json!({ "url": url })).await;
        assert!(v.is_null(), "navigation to {url} failed: {v}");
    }

    /// The page's URL.
    pub async fn url(&self) -> String {
        self.cmd(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The page's HTML as the browser holds it now.
    pub async fn source(&self) -> String {
        self.cmd(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The elements matching a CSS selector now.
    pub async fn all(&self, css: &str) -> Vec<Element> {
        let v = self
            .post("/elements", json!({"using": "css selector", "value": css}))
            .await;
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e[ELEMENT].as_str().map(|s| Element(s.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first element matching `css`, waiting up to 20 s for it.
    pub async fn find(&self, css: &str) -> Element {
        for _ in 0..200 {
            if let Some(e) = self.all(css).await.into_iter().next() {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "no element `{css}` on {}:\n{}",
            self.url().await,
            self.source().await
        );
    }

    /// Wait up to 30 s for `js` (an expression) to be true.
    pub async fn wait_for(&self, what: &str, js: &str) {
        for _ in 0..300 {
            if self.script(&format!("return !!({js});")).await == Value::Bool(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "timed out waiting for {what} on {}:\n{}",
            self.url().await,
            self.source().await
        );
    }

    /// Click.
    pub async fn click(&self, e: &Element) {
        self.post(&format!("/element/{}/click", e.0), json!({}))
            .await;
    }

    /// Type into an input (for a file input: the file's path).
    pub async fn type_into(&self, e: &Element, text: &str) {
        self.post(&format!("/element/{}/value", e.0), json!({ "text": text }))
            .await;
    }

    /// Fill the input matching `css` (cleared first).
    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.post(&format!("/element/{}/clear", e.0), json!({}))
            .await;
        self.type_into(&e, text).await;
    }

    /// The visible text of an element.
    pub async fn text(&self, e: &Element) -> String {
        self.cmd(
            reqwest::Method::GET,
            &format!("/element/{}/text", e.0),
            None,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// The text of the first element matching `css`.
    pub async fn text_of(&self, css: &str) -> String {
        let e = self.find(css).await;
        self.text(&e).await
    }

    /// Run a script (a function body) and return its value.
    pub async fn script(&self, body: &str) -> Value {
        self.post("/execute/sync", json!({"script": body, "args": []}))
            .await
    }

    /// Run an async script: the body calls `arguments[0]` with its result.
    pub async fn script_async(&self, body: &str) -> Value {
        self.post("/execute/async", json!({"script": body, "args": []}))
            .await
    }

    /// Whether an alert is open (an injected script ran).
    pub async fn alert_open(&self) -> bool {
        let v = self.cmd(reqwest::Method::GET, "/alert/text", None).await;
        v.get("error").is_none()
    }

    /// Save a screenshot as `target/console/<name>.png` (and, with
    /// `WHARF_UPDATE_DOCS=1`, as `docs/console/<name>.png`).
    pub async fn screenshot(&self, name: &str) {
        let v = self.cmd(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("a screenshot"))
            .unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), &png).unwrap();
        if std::env::var_os("WHARF_UPDATE_DOCS").is_some() {
            let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/console");
            std::fs::create_dir_all(&docs).unwrap();
            std::fs::write(docs.join(format!("{name}.png")), &png).unwrap();
        }
    }

    /// Emulate a system in dark mode (or not), through chromedriver's
    /// DevTools endpoint.
    pub async fn dark(&self, on: bool) {
        let value = if on { "dark" } else { "light" };
        self.post(
            "/goog/cdp/execute",
            json!({"cmd": "Emulation.setEmulatedMedia",
                   "params": {"features": [{"name": "prefers-color-scheme", "value": value}]}}),
        )
        .await;
    }

    /// Change the window's size.
    pub async fn resize(&self, width: u32, height: u32) {
        self.post("/window/rect", json!({"width": width, "height": height}))
            .await;
    }
}
