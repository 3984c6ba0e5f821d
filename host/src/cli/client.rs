//! CLI commands that talk to a Wharf server: connectors, connections, API
//! keys. Readable tables by default, `--json` for scripts.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

/// Where the server is and how to authenticate.
#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    /// Server URL.
    #[arg(
        long,
        env = "WHARF_SERVER",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    server: String,
    /// API key (`wharf_…`).
    #[arg(long, env = "WHARF_API_KEY", global = true, hide_env_values = true)]
    api_key: Option<String>,
    /// Print the server's JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand, Debug)]
pub enum ConnectorCommand {
    /// Upload a component (.wasm).
    Upload {
        /// The component.
        file: PathBuf,
    },
    /// List connectors.
    List,
    /// Show a connector: `name@version`.
    Show {
        /// `name@version`
        connector: String,
    },
    /// Delete a connector: `name@version`.
    Delete {
        /// `name@version`
        connector: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConnectionCommand {
    /// Create a connection.
    Create {
        /// Unique name.
        name: String,
        /// Connector, `name@version`.
        #[arg(long)]
        connector: String,
        /// Config as JSON, or `@file`.
        #[arg(long, default_value = "{}")]
        config: String,
        /// A secret `NAME=VALUE` (`NAME=env:VAR`, `NAME=@file`), repeatable.
        #[arg(long = "secret", value_name = "NAME=VALUE")]
        secrets: Vec<String>,
        /// Grant a host pattern (default: the hosts the connector declares).
        #[arg(long = "allow-host", value_name = "PATTERN")]
        hosts: Vec<String>,
        /// Grant an otherwise blocked network (CIDR).
        #[arg(long = "allow-network", value_name = "CIDR")]
        networks: Vec<String>,
    },
    /// List connections.
    List,
    /// Show a connection.
    Show {
        /// Id.
        id: String,
    },
    /// Run the connector's check.
    Check {
        /// Id.
        id: String,
    },
    /// Delete a connection.
    Delete {
        /// Id.
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum ApiKeyCommand {
    /// Create a key (shown once).
    Create {
        /// What it is for.
        name: String,
        /// admin, write, run or read.
        #[arg(long, default_value = "read")]
        scope: String,
    },
    /// List keys.
    List,
    /// Revoke a key.
    Revoke {
        /// Id.
        id: String,
    },
}

/// A failed command: the message, and the exit code.
pub struct Failure(pub String, pub u8);

struct Client {
    args: ServerArgs,
    http: reqwest::Client,
}

impl Client {
    fn new(args: ServerArgs) -> Result<Self, Failure> {
        if args.api_key.is_none() {
            return Err(Failure(
                "no API key: pass --api-key or set WHARF_API_KEY (`wharf serve` printed one on first start)".into(),
                2,
            ));
        }
        Ok(Self {
            args,
            http: reqwest::Client::new(),
        })
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<(u16, Value), Failure> {
        let url = format!("{}{path}", self.args.server.trim_end_matches('/'));
        let mut req = self
            .http
            .request(method, &url)
            .bearer_auth(self.args.api_key.as_deref().unwrap_or_default());
        if let Some((content_type, bytes)) = body {
            req = req.header("content-type", content_type).body(bytes);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| Failure(format!("cannot reach {url}: {e}"), 1))?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .map_err(|e| Failure(format!("reading the answer: {e}"), 1))?;
        let value: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if status >= 400 {
            let mut message = format!(
                "{} ({status}): {}",
                value["title"].as_str().unwrap_or("error"),
                value["detail"].as_str().unwrap_or(&value.to_string())
            );
            if let Some(errors) = value["errors"].as_array() {
                for e in errors {
                    message.push_str(&format!(
                        "\n  {}: {}",
                        e["field"].as_str().unwrap_or(""),
                        e["message"].as_str().unwrap_or("")
                    ));
                }
            }
            return Err(Failure(message, 1));
        }
        Ok((status, value))
    }

    async fn json(
        &self,
        method: Method,
        path: &str,
        body: &Value,
    ) -> Result<(u16, Value), Failure> {
        self.call(
            method,
            path,
            Some(("application/json", body.to_string().into_bytes())),
        )
        .await
    }

    fn print(&self, value: &Value, table: impl FnOnce(&Value)) {
        if self.args.json {
            println!("{}", serde_json::to_string_pretty(value).expect("JSON"));
        } else {
            table(value);
        }
    }
}

fn when(ms: &Value) -> String {
    ms.as_i64().map_or_else(
        || "-".into(),
        |ms| {
            let secs = ms / 1000;
            let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
            let (y, m, d) = crate::clock::civil_from_days(days);
            format!(
                "{y:04}-{m:02}-{d:02} {:02}:{:02}Z",
                rem / 3600,
                (rem % 3600) / 60
            )
        },
    )
}

/// Print rows under a header, columns padded to their widest cell.
fn table(header: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_uppercase()).collect());
    for r in rows {
        line(r);
    }
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn split_ref(r: &str) -> Result<(&str, &str), Failure> {
    r.split_once('@')
        .ok_or_else(|| Failure(format!("`{r}` is not name@version"), 2))
}

pub async fn connector(args: ServerArgs, cmd: ConnectorCommand) -> Result<(), Failure> {
    let c = Client::new(args)?;
    match cmd {
        ConnectorCommand::Upload { file } => {
            let bytes = std::fs::read(&file)
                .map_err(|e| Failure(format!("cannot read {}: {e}", file.display()), 2))?;
            let (status, v) = c
                .call(
                    Method::POST,
                    "/api/v1/connectors",
                    Some(("application/wasm", bytes)),
                )
                .await?;
            c.print(&v, |v| {
                let what = if status == 201 {
                    "uploaded"
                } else {
                    "already registered"
                };
                println!(
                    "{what} {}@{} (digest {})",
                    s(&v["name"]),
                    s(&v["version"]),
                    s(&v["digest"])
                );
            });
        }
        ConnectorCommand::List => {
            let (_, v) = c
                .call(Method::GET, "/api/v1/connectors?limit=500", None)
                .await?;
            c.print(&v, |v| {
                let rows = v["items"].as_array().into_iter().flatten().map(|i| {
                    let roles = i["spec"]["roles"]
                        .as_array()
                        .map(|r| r.iter().map(s).collect::<Vec<_>>().join(","))
                        .unwrap_or_default();
                    vec![
                        format!("{}@{}", s(&i["name"]), s(&i["version"])),
                        roles,
                        s(&i["digest"]).chars().take(12).collect(),
                        when(&i["created_at"]),
                    ]
                });
                table(
                    &["connector", "roles", "digest", "uploaded"],
                    rows.collect(),
                );
            });
        }
        ConnectorCommand::Show { connector } => {
            let (name, version) = split_ref(&connector)?;
            let (_, v) = c
                .call(
                    Method::GET,
                    &format!("/api/v1/connectors/{name}/{version}"),
                    None,
                )
                .await?;
            c.print(&v, |v| {
                println!("{}", serde_json::to_string_pretty(v).expect("JSON"))
            });
        }
        ConnectorCommand::Delete { connector } => {
            let (name, version) = split_ref(&connector)?;
            c.call(
                Method::DELETE,
                &format!("/api/v1/connectors/{name}/{version}"),
                None,
            )
            .await?;
            println!("deleted {connector}");
        }
    }
    Ok(())
}

fn read_value(text: &str, what: &str) -> Result<String, Failure> {
    if let Some(path) = text.strip_prefix('@') {
        return std::fs::read_to_string(path)
            .map(|t| t.trim_end_matches(['\n', '\r']).to_string())
            .map_err(|e| Failure(format!("{what}: cannot read {path}: {e}"), 2));
    }
    if let Some(var) = text.strip_prefix("env:") {
        return std::env::var(var)
            .map_err(|_| Failure(format!("{what}: environment variable {var} is not set"), 2));
    }
    Ok(text.to_string())
}

fn connection_rows(items: &[Value]) -> Vec<Vec<String>> {
    items
        .iter()
        .map(|i| {
            let secrets = i["secrets"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|x| s(&x["name"]))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            vec![
                s(&i["id"]),
                s(&i["name"]),
                s(&i["connector"]),
                s(&i["status"]),
                if secrets.is_empty() {
                    "-".into()
                } else {
                    secrets
                },
            ]
        })
        .collect()
}

pub async fn connection(args: ServerArgs, cmd: ConnectionCommand) -> Result<(), Failure> {
    let c = Client::new(args)?;
    match cmd {
        ConnectionCommand::Create {
            name,
            connector,
            config,
            secrets,
            hosts,
            networks,
        } => {
            let config: Value = serde_json::from_str(&read_value(&config, "--config")?)
                .map_err(|e| Failure(format!("--config is not valid JSON: {e}"), 2))?;
            let mut secret_map = serde_json::Map::new();
            for pair in &secrets {
                let (k, v) = pair
                    .split_once('=')
                    .ok_or_else(|| Failure(format!("--secret `{pair}` must be NAME=VALUE"), 2))?;
                secret_map.insert(k.into(), json!(read_value(v, &format!("secret {k}"))?));
            }
            let mut body = json!({"name": name, "connector": connector, "config": config, "secrets": secret_map});
            if !hosts.is_empty() || !networks.is_empty() {
                body["grants"] = json!({"networks": networks});
                if !hosts.is_empty() {
                    body["grants"]["hosts"] = json!(hosts);
                }
            }
            let (_, v) = c.json(Method::POST, "/api/v1/connections", &body).await?;
            c.print(&v, |v| {
                println!("created connection {} ({})", s(&v["name"]), s(&v["id"]))
            });
        }
        ConnectionCommand::List => {
            let (_, v) = c
                .call(Method::GET, "/api/v1/connections?limit=500", None)
                .await?;
            c.print(&v, |v| {
                table(
                    &["id", "name", "connector", "status", "secrets"],
                    connection_rows(v["items"].as_array().map_or(&[][..], Vec::as_slice)),
                )
            });
        }
        ConnectionCommand::Show { id } => {
            let (_, v) = c
                .call(Method::GET, &format!("/api/v1/connections/{id}"), None)
                .await?;
            c.print(&v, |v| {
                println!("{}", serde_json::to_string_pretty(v).expect("JSON"))
            });
        }
        ConnectionCommand::Check { id } => {
            let (_, v) = c
                .call(
                    Method::POST,
                    &format!("/api/v1/connections/{id}/check"),
                    None,
                )
                .await?;
            let ok = v["ok"].as_bool().unwrap_or(false);
            c.print(&v, |v| {
                if ok {
                    println!("check ok ({} ms)", s(&v["duration_ms"]));
                } else {
                    println!(
                        "check failed [{}] ({} ms): {}",
                        s(&v["kind"]),
                        s(&v["duration_ms"]),
                        s(&v["message"])
                    );
                }
            });
            if !ok {
                return Err(Failure(String::new(), 1));
            }
        }
        ConnectionCommand::Delete { id } => {
            c.call(Method::DELETE, &format!("/api/v1/connections/{id}"), None)
                .await?;
            println!("deleted connection {id}");
        }
    }
    Ok(())
}

pub async fn api_key(args: ServerArgs, cmd: ApiKeyCommand) -> Result<(), Failure> {
    let c = Client::new(args)?;
    match cmd {
        ApiKeyCommand::Create { name, scope } => {
            let (_, v) = c
                .json(
                    Method::POST,
                    "/api/v1/api-keys",
                    &json!({"name": name, "scope": scope}),
                )
                .await?;
            c.print(&v, |v| {
                println!(
                    "created {} key {} ({}); shown once:\n\n    {}\n",
                    s(&v["scope"]),
                    s(&v["id"]),
                    s(&v["name"]),
                    s(&v["key"])
                )
            });
        }
        ApiKeyCommand::List => {
            let (_, v) = c.call(Method::GET, "/api/v1/api-keys", None).await?;
            c.print(&v, |v| {
                let rows = v["items"].as_array().into_iter().flatten().map(|i| {
                    let state = if i["revoked_at"].is_null() {
                        "active".to_string()
                    } else {
                        format!("revoked {}", when(&i["revoked_at"]))
                    };
                    vec![
                        s(&i["id"]),
                        s(&i["name"]),
                        s(&i["scope"]),
                        when(&i["created_at"]),
                        when(&i["last_used_at"]),
                        state,
                    ]
                });
                table(
                    &["id", "name", "scope", "created", "last used", "state"],
                    rows.collect(),
                );
            });
        }
        ApiKeyCommand::Revoke { id } => {
            c.call(Method::DELETE, &format!("/api/v1/api-keys/{id}"), None)
                .await?;
            println!("revoked {id}");
        }
    }
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum SyncCommand {
    /// Create a sync.
    Create {
        /// Unique name.
        name: String,
        /// Source connection id.
        #[arg(long)]
        source: String,
        /// Stream to read (repeatable).
        #[arg(long = "stream", required = true)]
        streams: Vec<String>,
        /// full or incremental.
        #[arg(long, default_value = "full")]
        mode: String,
        /// Mapper connection id.
        #[arg(long)]
        mapper: Option<String>,
        /// Destination connection id, or `records` (the built-in records store).
        #[arg(long, default_value = "records")]
        destination: String,
        /// Run every N seconds.
        #[arg(long, conflicts_with = "cron")]
        every: Option<u64>,
        /// Run on a cron schedule (five fields, UTC).
        #[arg(long)]
        cron: Option<String>,
        /// Rejected records tolerated per run (-1: no limit).
        #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
        error_threshold: i64,
    },
    /// List syncs.
    List,
    /// Start a run now.
    Run {
        /// Sync id.
        id: String,
        /// Show progress until the run ends, then a summary.
        #[arg(long)]
        follow: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum RunCommand {
    /// Show a run.
    Show {
        /// Run id.
        id: String,
    },
    /// Print a run's log.
    Logs {
        /// Run id.
        id: String,
    },
    /// Cancel a run.
    Cancel {
        /// Run id.
        id: String,
    },
}

fn counter(v: &Value, name: &str) -> i64 {
    v["counters"][name].as_i64().unwrap_or(0)
}

fn summary(v: &Value) -> String {
    let secs = v["duration_ms"].as_i64().unwrap_or(0) as f64 / 1000.0;
    let mut line = format!(
        "run {} {} in {secs:.1} s: {} pages, {} fetched, {} pushed ({} created, {} updated, {} deleted, {} unchanged), {} rejected, {} http requests",
        s(&v["id"]),
        s(&v["status"]),
        counter(v, "pages"),
        counter(v, "fetched"),
        counter(v, "pushed"),
        counter(v, "created"),
        counter(v, "updated"),
        counter(v, "deleted"),
        counter(v, "unchanged"),
        counter(v, "rejected"),
        counter(v, "http_requests"),
    );
    if !v["error"].is_null() {
        line.push_str(&format!(
            "\n  error [{}]: {}",
            s(&v["error_kind"]),
            s(&v["error"])
        ));
    }
    line
}

pub async fn sync(args: ServerArgs, cmd: SyncCommand) -> Result<(), Failure> {
    let c = Client::new(args)?;
    match cmd {
        SyncCommand::Create {
            name,
            source,
            streams,
            mode,
            mapper,
            destination,
            every,
            cron,
            error_threshold,
        } => {
            let schedule = match (every, cron) {
                (Some(e), _) => json!({"every": e}),
                (None, Some(c)) => json!({"cron": c}),
                (None, None) => Value::Null,
            };
            let body = json!({
                "name": name, "source": source, "streams": streams, "mode": mode, "mapper": mapper,
                "destination": destination, "schedule": schedule, "error_threshold": error_threshold,
            });
            let (_, v) = c.json(Method::POST, "/api/v1/syncs", &body).await?;
            c.print(&v, |v| {
                println!("created sync {} ({})", s(&v["name"]), s(&v["id"]))
            });
        }
        SyncCommand::List => {
            let (_, v) = c.call(Method::GET, "/api/v1/syncs?limit=500", None).await?;
            c.print(&v, |v| {
                let rows = v["items"].as_array().into_iter().flatten().map(|i| {
                    let schedule = match &i["schedule"] {
                        Value::Null => "manual".to_string(),
                        Value::Object(o) => o
                            .iter()
                            .map(|(k, v)| format!("{k} {}", s(v)))
                            .collect::<Vec<_>>()
                            .join(","),
                        other => s(other),
                    };
                    vec![
                        s(&i["id"]),
                        s(&i["name"]),
                        s(&i["mode"]),
                        s(&i["destination"]),
                        schedule,
                        s(&i["enabled"]),
                    ]
                });
                table(
                    &["id", "name", "mode", "destination", "schedule", "enabled"],
                    rows.collect(),
                );
            });
        }
        SyncCommand::Run { id, follow } => {
            let (_, v) = c
                .call(Method::POST, &format!("/api/v1/syncs/{id}/runs"), None)
                .await?;
            let run_id = s(&v["id"]);
            if !follow {
                c.print(&v, |v| println!("queued run {}", s(&v["id"])));
                return Ok(());
            }
            return follow_run(&c, &run_id).await;
        }
    }
    Ok(())
}

/// Poll a run, drawing a progress line on stderr, until it ends.
async fn follow_run(c: &Client, run_id: &str) -> Result<(), Failure> {
    use std::io::{IsTerminal, Write};
    let tty = std::io::stderr().is_terminal();
    let spinner = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
    let started = std::time::Instant::now();
    let mut tick = 0usize;
    let mut last_print = std::time::Instant::now() - std::time::Duration::from_secs(10);
    loop {
        let (_, v) = c
            .call(Method::GET, &format!("/api/v1/runs/{run_id}"), None)
            .await?;
        let status = s(&v["status"]);
        let records = counter(&v, "fetched");
        let rate = records as f64 / started.elapsed().as_secs_f64().max(0.001);
        let line = format!(
            "{} {status:<9} {} pages  {records} records  {} pushed  {} rejected  {rate:.0} records/s",
            spinner[tick % spinner.len()],
            counter(&v, "pages"),
            counter(&v, "pushed"),
            counter(&v, "rejected"),
        );
        tick += 1;
        if tty {
            eprint!("\r\x1b[2K{line}");
            let _ = std::io::stderr().flush();
        } else if last_print.elapsed() >= std::time::Duration::from_secs(2) {
            eprintln!("{line}");
            last_print = std::time::Instant::now();
        }
        if matches!(status.as_str(), "succeeded" | "failed" | "cancelled") {
            if tty {
                eprintln!();
            }
            c.print(&v, |v| println!("{}", summary(v)));
            return if status == "succeeded" {
                Ok(())
            } else {
                Err(Failure(String::new(), 1))
            };
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

pub async fn run(args: ServerArgs, cmd: RunCommand) -> Result<(), Failure> {
    let c = Client::new(args)?;
    match cmd {
        RunCommand::Show { id } => {
            let (_, v) = c
                .call(Method::GET, &format!("/api/v1/runs/{id}"), None)
                .await?;
            c.print(&v, |v| println!("{}", summary(v)));
        }
        RunCommand::Logs { id } => {
            let mut after = 0;
            loop {
                let (_, v) = c
                    .call(
                        Method::GET,
                        &format!("/api/v1/runs/{id}/logs?after={after}&limit=1000"),
                        None,
                    )
                    .await?;
                let items = v["items"].as_array().cloned().unwrap_or_default();
                for l in &items {
                    if c.args.json {
                        println!("{l}");
                    } else {
                        println!(
                            "{} {:<5} {:<22} {}",
                            when(&l["at"]),
                            s(&l["level"]),
                            s(&l["source"]),
                            s(&l["message"])
                        );
                    }
                    after = l["seq"].as_i64().unwrap_or(after);
                }
                if v["next"].is_null() {
                    break;
                }
            }
        }
        RunCommand::Cancel { id } => {
            let (_, v) = c
                .call(Method::POST, &format!("/api/v1/runs/{id}/cancel"), None)
                .await?;
            c.print(&v, |v| {
                println!(
                    "run {} is {}{}",
                    s(&v["id"]),
                    s(&v["status"]),
                    if v["cancel_requested"] == true {
                        " (cancelling)"
                    } else {
                        ""
                    }
                )
            });
        }
    }
    Ok(())
}
