//! The shipped connectors end to end: each real component, uploaded to a
//! real `wharf serve` (SQLite), against a fake of its vendor's API on
//! loopback built from the vendor's documentation (cited in each fake's
//! module doc). A connector's test goes through what an administrator
//! does: upload, connect, check, discover, sync (full, then incremental)
//! into the records store, write to the vendor as a destination, and
//! receive signed webhooks.
//!
//! [`Wharf`] is the administrator's side: the REST API of one server, with
//! the few calls every connector's test makes.

mod anaf;
mod aws_cost;
mod azure_cost;
mod bim360;
mod discord;
mod erpnext;
mod fakes;
mod fancourier;
mod files;
mod gcp_billing;
mod google_drive;
mod mail;
mod meta_ads;
mod neo4j;
mod nextcloud;
mod quickbooks;
mod sage;
mod salesforce;
mod sap_b1;
mod shopify;
mod slack;
mod teams;
mod teams_graph;
mod tiktok_ads;
mod trendyol;
mod xero;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::serve::Server;
use crate::support::guest_path;

/// One `wharf serve` and its admin key.
pub struct Wharf {
    server: Server,
    key: String,
    http: reqwest::Client,
    _data: tempfile::TempDir,
}

/// An answer of the API.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub json: Value,
    /// The body as text (for answers that are not JSON).
    pub text: String,
}

impl Wharf {
    pub async fn start() -> Self {
        let data = tempfile::tempdir().unwrap();
        let server = Server::start(data.path().to_path_buf(), None).await;
        let key = server
            .key
            .clone()
            .expect("a first start prints the admin key");
        Self {
            server,
            key,
            http: reqwest::Client::new(),
            _data: data,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url)
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        let mut request = self
            .http
            .request(method.parse().unwrap(), self.url(path))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let bytes = response.bytes().await.unwrap();
        Answer {
            status,
            json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.call("POST", path, Some(body)).await
    }

    /// Upload a guest component; `name@version`.
    pub async fn upload(&self, guest: &str) -> String {
        let bytes = std::fs::read(guest_path(guest)).unwrap();
        let response = self
            .http
            .post(self.url("/api/v1/connectors"))
            .bearer_auth(&self.key)
            .header("content-type", "application/wasm")
            .body(bytes)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "upload {guest}");
        let spec: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        format!(
            "{}@{}",
            spec["name"].as_str().unwrap(),
            spec["version"].as_str().unwrap()
        )
    }

    /// A connection allowed to reach loopback (where the fakes are); its id.
    pub async fn connection(
        &self,
        name: &str,
        connector: &str,
        config: Value,
        secrets: Value,
    ) -> String {
        let a = self
            .post(
                "/api/v1/connections",
                json!({"name": name, "connector": connector, "config": config, "secrets": secrets,
                    "grants": {"networks": ["127.0.0.0/8"]}}),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.json);
        a.json["id"].as_str().unwrap().to_string()
    }

    /// Run the connection's check; the answer.
    pub async fn check(&self, connection: &str) -> Answer {
        self.post(
            &format!("/api/v1/connections/{connection}/check"),
            Value::Null,
        )
        .await
    }

    /// The connection's streams, by name.
    pub async fn discover(&self, connection: &str) -> Vec<Value> {
        let a = self
            .post(
                &format!("/api/v1/connections/{connection}/discover"),
                Value::Null,
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.json);
        a.json["streams"].as_array().cloned().unwrap_or_default()
    }

    /// A sync; its id.
    pub async fn sync(&self, body: Value) -> String {
        let a = self.post("/api/v1/syncs", body).await;
        assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.json);
        a.json["id"].as_str().unwrap().to_string()
    }

    /// Run `sync` now; the finished run.
    pub async fn run(&self, sync: &str) -> Value {
        let a = self
            .post(&format!("/api/v1/syncs/{sync}/runs"), Value::Null)
            .await;
        assert!(a.status.is_success(), "{:?}", a.json);
        self.wait(a.json["id"].as_str().unwrap()).await
    }

    /// The run `id` once it ended.
    pub async fn wait(&self, id: &str) -> Value {
        for _ in 0..1200 {
            let run = self.get(&format!("/api/v1/runs/{id}")).await.json;
            if matches!(
                run["status"].as_str(),
                Some("succeeded" | "failed" | "cancelled")
            ) {
                return run;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("run {id} did not end in a minute");
    }

    /// Run `sync` with a file as its input, as an upload would; the
    /// finished run.
    pub async fn run_file(
        &self,
        sync: &str,
        name: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Value {
        let response = self
            .http
            .post(self.url(&format!(
                "/api/v1/syncs/{sync}/runs/file?name={}",
                encode(name)
            )))
            .bearer_auth(&self.key)
            .header("content-type", content_type)
            .body(bytes)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let run: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        self.wait(run["id"].as_str().unwrap()).await
    }

    /// The records store's records of a stream, by key.
    pub async fn records(&self, sync: &str, stream: &str) -> Vec<Value> {
        let stream = crate::vendors::encode(stream);
        let a = self
            .get(&format!(
                "/api/v1/syncs/{sync}/records?stream={stream}&limit=500"
            ))
            .await;
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.json);
        a.json["items"].as_array().cloned().unwrap_or_default()
    }

    /// The records store's records of a stream whose key starts with `prefix`.
    pub async fn records_where(&self, sync: &str, stream: &str, prefix: &str) -> Vec<Value> {
        let a = self
            .get(&format!(
                "/api/v1/syncs/{sync}/records?stream={}&prefix={}",
                encode(stream),
                encode(prefix)
            ))
            .await;
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.json);
        a.json["items"].as_array().cloned().unwrap_or_default()
    }

    /// How many records the records store holds for a stream (all pages).
    pub async fn records_all(&self, sync: &str, stream: &str) -> usize {
        let stream = encode(stream);
        let mut after = String::new();
        let mut count = 0;
        loop {
            let a = self
                .get(&format!(
                    "/api/v1/syncs/{sync}/records?stream={stream}&limit=500{after}"
                ))
                .await;
            assert_eq!(a.status, StatusCode::OK, "{:?}", a.json);
            count += a.json["items"].as_array().map_or(0, Vec::len);
            match a.json["next"].as_str() {
                Some(next) => after = format!("&after={}", encode(next)),
                None => return count,
            }
        }
    }

    /// The records a run rejected.
    pub async fn rejected(&self, run: &Value) -> Vec<Value> {
        let id = run["id"].as_str().unwrap();
        let a = self.get(&format!("/api/v1/runs/{id}/errors")).await;
        a.json["items"].as_array().cloned().unwrap_or_default()
    }

    /// Create the connection's incoming webhook URL; its path.
    pub async fn webhook(&self, connection: &str) -> String {
        let a = self
            .post(
                &format!("/api/v1/connections/{connection}/webhook"),
                Value::Null,
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.json);
        a.json["path"].as_str().unwrap().to_string()
    }

    /// Connect an OAuth2 connection as an administrator's browser would:
    /// start, follow the provider's redirect, hand the code to the callback.
    pub async fn connect_oauth(&self, connection: &str) {
        let a = self
            .post(
                &format!("/api/v1/connections/{connection}/oauth/start"),
                Value::Null,
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.json);
        let url = a.json["authorization_url"].as_str().unwrap().to_string();
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let consent = browser.get(&url).send().await.unwrap();
        assert!(consent.status().is_redirection(), "{}", consent.status());
        let back = consent.headers()["location"].to_str().unwrap().to_string();
        let callback = browser.get(&back).send().await.unwrap();
        assert!(
            callback.status().is_success(),
            "{}: {}",
            callback.status(),
            callback.text().await.unwrap()
        );
    }

    /// Deliver a webhook as the vendor would; status and body.
    pub async fn deliver(&self, path: &str, headers: &[(&str, String)], body: &[u8]) -> Answer {
        let mut request = self.http.post(self.url(path)).body(body.to_vec());
        for (k, v) in headers {
            request = request.header(*k, v);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let bytes = response.bytes().await.unwrap();
        Answer {
            status,
            json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }
}

/// Percent-encode a query value or path segment.
pub fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}
