//! The commands that talk to a running Wharf server over its REST API, one
//! module per resource, and what they share: where the server is, the HTTP
//! calls, paging, and finding a thing by id or by name.

pub mod api_keys;
pub mod connections;
pub mod connectors;
pub mod records;
pub mod runs;
pub mod syncs;
pub mod webhooks;

use clap::{Args, Subcommand};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Method;
use serde_json::{Value, json};

use super::failure::Failure;
use super::output;

/// Where the server is and how to authenticate. Flattened into each group
/// of server commands (not into the whole command line) so that `serve`,
/// `admin` and `dev`, which ignore them, do not offer them.
#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    /// Server URL.
    #[arg(
        long,
        env = "WHARF_SERVER",
        default_value = "http://127.0.0.1:8080",
        global = true,
        help_heading = "Server"
    )]
    server: String,
    /// API key (`wharf_…`).
    #[arg(
        long,
        env = "WHARF_API_KEY",
        global = true,
        hide_env_values = true,
        help_heading = "Server"
    )]
    api_key: Option<String>,
    /// Print the server's JSON instead of a table.
    #[arg(long, global = true, help_heading = "Server")]
    json: bool,
}

/// The same flags before the command (`wharf --json connection list`), as
/// earlier versions took them: hidden, and without the environment
/// variables, which the group's own flags read.
#[derive(Args, Debug, Clone, Default)]
pub struct LegacyServerArgs {
    #[arg(long = "server", hide = true, value_name = "URL")]
    server: Option<String>,
    #[arg(long = "api-key", hide = true, value_name = "KEY")]
    api_key: Option<String>,
    #[arg(long = "json", hide = true)]
    json: bool,
}

impl LegacyServerArgs {
    /// The first flag given, for refusing them on commands that ignore them.
    pub fn given(&self) -> Option<&'static str> {
        if self.server.is_some() {
            Some("--server")
        } else if self.api_key.is_some() {
            Some("--api-key")
        } else if self.json {
            Some("--json")
        } else {
            None
        }
    }
}

/// A group of server commands (`wharf connection …`) with the server flags.
#[derive(Args, Debug)]
pub struct Group<C: Subcommand> {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(subcommand)]
    pub command: C,
}

/// An answer from the server.
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

/// A connection to the server.
pub struct Client {
    args: ServerArgs,
    http: reqwest::Client,
}

impl Client {
    /// A client for `args`, with flags given before the command overriding
    /// the group's (which may have come from the environment).
    pub fn new(mut args: ServerArgs, legacy: LegacyServerArgs) -> Result<Self, Failure> {
        if let Some(server) = legacy.server {
            args.server = server;
        }
        if let Some(key) = legacy.api_key {
            args.api_key = Some(key);
        }
        args.json |= legacy.json;
        if args.api_key.is_none() {
            return Err(Failure::usage(
                "no API key: pass --api-key or set WHARF_API_KEY (`wharf serve` printed one on first start)",
            ));
        }
        Ok(Self {
            args,
            http: reqwest::Client::new(),
        })
    }

    /// Whether `--json` was asked for.
    pub fn json_output(&self) -> bool {
        self.args.json
    }

    /// Send a request; any status is an answer, only a transport failure is
    /// an error.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        headers: &[(&str, String)],
    ) -> Result<(u16, Vec<u8>), Failure> {
        let url = format!("{}{path}", self.args.server.trim_end_matches('/'));
        let mut req = self
            .http
            .request(method, &url)
            .bearer_auth(self.args.api_key.as_deref().unwrap_or_default());
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        if let Some((content_type, bytes)) = body {
            req = req.header("content-type", content_type).body(bytes);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| Failure::failed(format!("cannot reach {url}: {e}")))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| Failure::failed(format!("reading the answer: {e}")))?;
        Ok((status, bytes.to_vec()))
    }

    /// Send a request and read the answer as JSON (a non-JSON body becomes
    /// a string); statuses of 400 and above are failures with the server's
    /// problem details.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Answer, Failure> {
        self.call_with(method, path, body, &[]).await
    }

    /// [`Client::call`] with extra request headers.
    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        headers: &[(&str, String)],
    ) -> Result<Answer, Failure> {
        let (status, bytes) = self.send(method, path, body, headers).await?;
        let body = parse(&bytes);
        if status >= 400 {
            return Err(problem(status, &body));
        }
        Ok(Answer { status, body })
    }

    /// Like [`Client::call`], but the body is returned as bytes (exports).
    pub async fn call_raw(&self, method: Method, path: &str) -> Result<Vec<u8>, Failure> {
        let (status, bytes) = self.send(method, path, None, &[]).await?;
        if status >= 400 {
            return Err(problem(status, &parse(&bytes)));
        }
        Ok(bytes)
    }

    /// GET, answering `None` on 404.
    pub async fn get_opt(&self, path: &str) -> Result<Option<Value>, Failure> {
        let (status, bytes) = self.send(Method::GET, path, None, &[]).await?;
        let body = parse(&bytes);
        match status {
            404 => Ok(None),
            s if s >= 400 => Err(problem(s, &body)),
            _ => Ok(Some(body)),
        }
    }

    pub async fn get(&self, path: &str) -> Result<Value, Failure> {
        Ok(self.call(Method::GET, path, None).await?.body)
    }

    /// A request with a JSON body.
    pub async fn send_json(
        &self,
        method: Method,
        path: &str,
        body: &Value,
    ) -> Result<Answer, Failure> {
        self.call(
            method,
            path,
            Some(("application/json", body.to_string().into_bytes())),
        )
        .await
    }

    /// Every item of a paged list (`?limit=&after=`, following `next`).
    pub async fn list_all(&self, path: &str) -> Result<Vec<Value>, Failure> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page_path = match &after {
                None => format!("{path}{sep}limit=500"),
                Some(a) => format!("{path}{sep}limit=500&after={}", enc(a)),
            };
            let page = self.get(&page_path).await?;
            let got = page["items"].as_array().cloned().unwrap_or_default();
            let empty = got.is_empty();
            items.extend(got);
            match page["next"].as_str() {
                // A server that repeats its cursor would loop forever.
                Some(next) if !empty && after.as_deref() != Some(next) => {
                    after = Some(next.to_string());
                }
                _ => return Ok(items),
            }
        }
    }

    /// `--json`: the value as the server sent it; otherwise `human`.
    pub fn print(&self, value: &Value, human: impl FnOnce(&Value)) {
        if self.args.json {
            output::json(value);
        } else {
            human(value);
        }
    }

    /// A whole list: `--json` prints it in the shape of one page
    /// (`{"items": […]}`), however many pages it took.
    pub fn print_list(&self, items: &[Value], human: impl FnOnce(&[Value])) {
        if self.args.json {
            output::json(&json!({ "items": items }));
        } else {
            human(items);
        }
    }
}

fn parse(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
    }
}

/// The server's problem details (RFC 9457) as a failure.
fn problem(status: u16, value: &Value) -> Failure {
    let detail = match &value["detail"] {
        Value::String(d) => d.clone(),
        _ => value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_string),
    };
    let mut message = format!(
        "{} ({status}): {detail}",
        value["title"].as_str().unwrap_or("error"),
    );
    for e in value["errors"].as_array().into_iter().flatten() {
        message.push_str(&format!(
            "\n  {}: {}",
            e["field"].as_str().unwrap_or(""),
            e["message"].as_str().unwrap_or("")
        ));
    }
    Failure::failed(message)
}

/// A path segment or query value, percent-encoded: names and stream names
/// may hold anything.
pub fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

/// Find a thing of a named kind by id or by unique name.
///
/// The id is tried first (one request, and ids are what scripts pass);
/// a 404 falls back to the list, compared by name, so a name that happens
/// to look like an id still works. `collection` is the API path without
/// the id (`/api/v1/syncs`), `kind` the word for error messages.
pub async fn find_named(
    c: &Client,
    kind: &str,
    collection: &str,
    wanted: &str,
) -> Result<Value, Failure> {
    if looks_like_id(wanted)
        && let Some(found) = c.get_opt(&format!("{collection}/{}", enc(wanted))).await?
    {
        return Ok(found);
    }
    c.list_all(collection)
        .await?
        .into_iter()
        .find(|i| i["name"].as_str() == Some(wanted) || i["id"].as_str() == Some(wanted))
        .ok_or_else(|| Failure::failed(format!("no {kind} named `{wanted}` or with that id")))
}

/// Ids are UUIDs; anything else is not worth a request by id (and names
/// such as `..` would change the URL's path).
fn looks_like_id(s: &str) -> bool {
    s.len() == 36 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// The id of a found thing.
pub fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or_default().to_string()
}

/// A command-line value: as given, `@file` read from a file, `env:VAR`
/// from the environment, so secrets need not be on the command line.
pub fn read_value(text: &str, what: &str) -> Result<String, Failure> {
    if let Some(path) = text.strip_prefix('@') {
        return std::fs::read_to_string(path)
            .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
            .map_err(|e| Failure::usage(format!("{what}: cannot read {path}: {e}")));
    }
    if let Some(var) = text.strip_prefix("env:") {
        return std::env::var(var)
            .map_err(|_| Failure::usage(format!("{what}: environment variable {var} is not set")));
    }
    Ok(text.to_string())
}

/// A JSON argument (`--config`, `--schema`), given inline or as `@file`.
pub fn read_json(text: &str, what: &str) -> Result<Value, Failure> {
    serde_json::from_str(&read_value(text, what)?)
        .map_err(|e| Failure::usage(format!("{what} is not valid JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::extract::Query;
    use axum::routing::get;
    use std::collections::HashMap;

    /// A list of 7 syncs served 3 at a time, whatever `limit` says, with
    /// names that need encoding in `after`.
    async fn paged_server() -> String {
        let names: Vec<String> = (0..7).map(|i| format!("sync {i}/&")).collect();
        let app = Router::new().route(
            "/api/v1/syncs",
            get(move |Query(q): Query<HashMap<String, String>>| {
                let names = names.clone();
                async move {
                    let start = match q.get("after") {
                        Some(a) => names.iter().position(|n| n == a).map_or(0, |p| p + 1),
                        None => 0,
                    };
                    let page: Vec<Value> = names
                        .iter()
                        .skip(start)
                        .take(3)
                        .enumerate()
                        .map(|(i, n)| json!({"id": format!("id-{}", start + i), "name": n}))
                        .collect();
                    let next = (start + 3 < names.len()).then(|| names[start + 2].clone());
                    axum::Json(json!({"items": page, "next": next}))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    }

    fn client(url: String) -> Client {
        let args = ServerArgs {
            server: url,
            api_key: Some("wharf_test".into()),
            json: false,
        };
        Client::new(args, LegacyServerArgs::default()).unwrap()
    }

    #[tokio::test]
    async fn lists_follow_next_and_names_resolve_on_any_page() {
        let c = client(paged_server().await);
        let all = c.list_all("/api/v1/syncs").await.unwrap();
        assert_eq!(all.len(), 7);
        let found = find_named(&c, "sync", "/api/v1/syncs", "sync 6/&")
            .await
            .unwrap();
        assert_eq!(found["id"], "id-6");
        let missing = find_named(&c, "sync", "/api/v1/syncs", "nightly")
            .await
            .unwrap_err();
        assert!(
            missing.to_string().contains("no sync named `nightly`"),
            "{missing}"
        );
    }
}
