//! `wharf connection`: create, list, show, check and delete connections.
//! A connection is named by its id or its unique name.

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::{Client, enc, find_named, id_of, read_json, read_value};
use crate::cli::failure::Failure;
use crate::cli::output::{self, list, table, text, when};

#[derive(Subcommand, Debug)]
pub enum Command {
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
    /// Show a connection: status, grants, secrets (names and when set).
    Show {
        /// Name or id.
        connection: String,
    },
    /// Run the connector's check.
    Check {
        /// Name or id.
        connection: String,
    },
    /// Delete a connection and its secrets.
    Delete {
        /// Name or id.
        connection: String,
    },
    /// Create (or rotate) the connection's incoming webhook URL; the URL
    /// holds a secret token and is shown this once.
    WebhookUrl {
        /// Name or id.
        connection: String,
    },
    /// Incoming webhook deliveries the connection received, newest first.
    Deliveries {
        /// Name or id.
        connection: String,
    },
    /// Start OAuth2 authorization: prints the URL to open in a browser.
    Authorize {
        /// Name or id.
        connection: String,
    },
}

/// The connection named (or with the id) `wanted`, as the server shows it.
pub async fn resolve(c: &Client, wanted: &str) -> Result<Value, Failure> {
    find_named(c, "connection", "/api/v1/connections", wanted).await
}

pub async fn run(c: &Client, cmd: Command) -> Result<(), Failure> {
    match cmd {
        Command::Create {
            name,
            connector,
            config,
            secrets,
            hosts,
            networks,
        } => {
            let config = read_json(&config, "--config")?;
            let mut secret_map = Map::new();
            for pair in &secrets {
                let (k, v) = pair.split_once('=').ok_or_else(|| {
                    Failure::usage(format!("--secret `{pair}` must be NAME=VALUE"))
                })?;
                secret_map.insert(k.into(), json!(read_value(v, &format!("secret {k}"))?));
            }
            let mut body = json!({"name": name, "connector": connector, "config": config, "secrets": secret_map});
            if !hosts.is_empty() || !networks.is_empty() {
                body["grants"] = json!({"networks": networks});
                if !hosts.is_empty() {
                    body["grants"]["hosts"] = json!(hosts);
                }
            }
            let a = c
                .send_json(Method::POST, "/api/v1/connections", &body)
                .await?;
            c.print(&a.body, |v| {
                println!(
                    "created connection {} ({})",
                    text(&v["name"]),
                    text(&v["id"])
                )
            });
        }
        Command::List => {
            let items = c.list_all("/api/v1/connections").await?;
            c.print_list(&items, |items| {
                output::table(
                    &["id", "name", "connector", "status", "secrets"],
                    items.iter().map(row).collect(),
                )
            });
        }
        Command::Show { connection } => {
            let v = resolve(c, &connection).await?;
            c.print(&v, show);
        }
        Command::Check { connection } => {
            let id = id_of(&resolve(c, &connection).await?);
            let a = c
                .call(
                    Method::POST,
                    &format!("/api/v1/connections/{}/check", enc(&id)),
                    None,
                )
                .await?;
            let ok = a.body["ok"].as_bool().unwrap_or(false);
            c.print(&a.body, |v| {
                if ok {
                    println!("check ok ({} ms)", text(&v["duration_ms"]));
                } else {
                    println!(
                        "check failed [{}] ({} ms): {}",
                        text(&v["kind"]),
                        text(&v["duration_ms"]),
                        text(&v["message"])
                    );
                }
            });
            if !ok {
                return Err(Failure::quiet());
            }
        }
        Command::Delete { connection } => {
            let found = resolve(c, &connection).await?;
            let id = id_of(&found);
            c.call(
                Method::DELETE,
                &format!("/api/v1/connections/{}", enc(&id)),
                None,
            )
            .await?;
            println!("deleted connection {} ({id})", text(&found["name"]));
        }
        Command::WebhookUrl { connection } => {
            let id = id_of(&resolve(c, &connection).await?);
            let a = c
                .call(
                    Method::POST,
                    &format!("/api/v1/connections/{}/webhook", enc(&id)),
                    None,
                )
                .await?;
            // The bare URL, so `$(wharf connection webhook-url …)` works.
            c.print(&a.body, |v| println!("{}", text(&v["url"])));
        }
        Command::Deliveries { connection } => {
            let id = id_of(&resolve(c, &connection).await?);
            let items = c
                .list_all(&format!("/api/v1/connections/{}/deliveries", enc(&id)))
                .await?;
            let v = serde_json::json!({ "items": items });
            c.print(&v, |v| {
                let rows = v["items"].as_array().into_iter().flatten().map(|d| {
                    vec![
                        text(&d["delivery_id"]),
                        when(&d["received_at"]),
                        text(&d["status"]),
                        d["detail"].to_string(),
                    ]
                });
                table(
                    &["DELIVERY", "RECEIVED", "STATUS", "DETAIL"],
                    rows.collect(),
                );
            });
        }
        Command::Authorize { connection } => {
            let id = id_of(&resolve(c, &connection).await?);
            let a = c
                .call(
                    Method::POST,
                    &format!("/api/v1/connections/{}/oauth/start", enc(&id)),
                    None,
                )
                .await?;
            c.print(&a.body, |v| {
                eprintln!(
                    "open this URL in a browser; the provider sends you back to {}",
                    text(&v["redirect_uri"])
                );
                println!("{}", text(&v["authorization_url"]));
            });
        }
    }
    Ok(())
}

fn row(i: &Value) -> Vec<String> {
    let secrets: Vec<String> = i["secrets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| text(&x["name"]))
        .collect();
    vec![
        text(&i["id"]),
        text(&i["name"]),
        text(&i["connector"]),
        text(&i["status"]),
        if secrets.is_empty() {
            "-".into()
        } else {
            secrets.join(",")
        },
    ]
}

/// A connection as key-value rows, then its secrets; never a secret's
/// value (the server does not have one to give).
fn show(v: &Value) {
    let mut status = text(&v["status"]);
    if let Some(reason) = v["status_reason"].as_str() {
        status.push_str(&format!(" ({reason})"));
    }
    let config = serde_json::to_string_pretty(&v["config"]).unwrap_or_else(|_| text(&v["config"]));
    output::fields(&[
        ("id", text(&v["id"])),
        ("name", text(&v["name"])),
        ("connector", text(&v["connector"])),
        ("status", status),
        ("checked", when(&v["checked_at"])),
        ("created", when(&v["created_at"])),
        ("updated", when(&v["updated_at"])),
        ("granted hosts", list(&v["grants"]["hosts"])),
        ("granted networks", list(&v["grants"]["networks"])),
        ("config", config),
    ]);
    let secrets = v["secrets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| vec![text(&s["name"]), when(&s["updated_at"])]);
    output::section("secrets", &["name", "set"], secrets.collect());
}
