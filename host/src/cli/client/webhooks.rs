//! `wharf webhook`: endpoints that receive Wharf's events (signed with
//! Standard Webhooks), and what was sent to them. Endpoints have no names:
//! one is given by its id.

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use super::{Client, enc};
use crate::cli::failure::Failure;
use crate::cli::output::{self, cut, list, text, when};

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Subscribe an endpoint to events; prints its signing secret once.
    /// With `--connection`, a destination connection (slack, teams,
    /// discord) posts each event as a message instead.
    Create {
        /// Where events are POSTed (leave out with `--connection`).
        #[arg(required_unless_present = "connection")]
        url: Option<String>,
        /// A destination connection (name or id) that posts the events.
        #[arg(long, conflicts_with = "url")]
        connection: Option<String>,
        /// The message text for `--connection`, e.g. 'Sync {data.sync_name}
        /// failed: {data.error}' (default: a sentence per event).
        #[arg(long, requires = "connection")]
        template: Option<String>,
        /// An event to send (repeatable): run.succeeded, run.failed,
        /// connection.error, connection.needs_reauth, connector.uploaded.
        #[arg(long = "event", value_name = "EVENT", required = true)]
        events: Vec<String>,
        /// Allow the URL to be in an otherwise blocked network (CIDR),
        /// e.g. 127.0.0.0/8 for a receiver on this machine.
        #[arg(long = "allow-network", value_name = "CIDR")]
        networks: Vec<String>,
    },
    /// List endpoints.
    List,
    /// Show an endpoint.
    Show {
        /// Id.
        id: String,
    },
    /// Send deliveries to an endpoint again (after it was disabled).
    Enable {
        /// Id.
        id: String,
    },
    /// Stop sending to an endpoint; messages wait until it is enabled.
    Disable {
        /// Id.
        id: String,
    },
    /// Delete an endpoint and its queued messages.
    Delete {
        /// Id.
        id: String,
    },
    /// Send a `webhook.test` event to an endpoint.
    Test {
        /// Id.
        id: String,
    },
    /// Messages sent (or waiting to be sent) to an endpoint, newest first.
    Deliveries {
        /// Id.
        id: String,
    },
}

pub async fn run(c: &Client, cmd: Command) -> Result<(), Failure> {
    match cmd {
        Command::Create {
            url,
            connection,
            template,
            events,
            networks,
        } => {
            let mut body = json!({"events": events, "networks": networks});
            if let Some(url) = url {
                body["url"] = json!(url);
            }
            if let Some(name) = connection {
                let conn = super::connections::resolve(c, &name).await?;
                body["connection"] = conn["id"].clone();
                if let Some(t) = template {
                    body["template"] = json!(t);
                }
            }
            let a = c.send_json(Method::POST, "/api/v1/webhooks", &body).await?;
            c.print(&a.body, |v| {
                if v["connection"].is_string() {
                    println!(
                        "created webhook {}: events go to connection {}",
                        text(&v["id"]),
                        text(&v["connection"])
                    );
                } else {
                    println!(
                        "created webhook {} for {}; signing secret, shown once:\n\n    {}\n",
                        text(&v["id"]),
                        text(&v["url"]),
                        text(&v["secret"])
                    );
                }
            });
        }
        Command::List => {
            let items = c.list_all("/api/v1/webhooks").await?;
            c.print_list(&items, |items| {
                let rows = items.iter().map(|w| {
                    vec![
                        text(&w["id"]),
                        if w["connection"].is_string() {
                            format!("connection {}", text(&w["connection"]))
                        } else {
                            text(&w["url"])
                        },
                        list(&w["events"]),
                        state(w),
                        when(&w["created_at"]),
                    ]
                });
                output::table(&["id", "url", "events", "state", "created"], rows.collect());
            });
        }
        Command::Show { id } => {
            let v = c.get(&path(&id)).await?;
            c.print(&v, |w| {
                output::fields(&[
                    ("id", text(&w["id"])),
                    ("url", text(&w["url"])),
                    ("events", list(&w["events"])),
                    ("allowed networks", list(&w["networks"])),
                    ("state", state(w)),
                    ("failing since", when(&w["failing_since"])),
                    ("created", when(&w["created_at"])),
                    ("updated", when(&w["updated_at"])),
                ])
            });
        }
        Command::Enable { id } => switch(c, &id, true).await?,
        Command::Disable { id } => switch(c, &id, false).await?,
        Command::Delete { id } => {
            c.call(Method::DELETE, &path(&id), None).await?;
            println!("deleted webhook {id}");
        }
        Command::Test { id } => {
            let a = c
                .call(Method::POST, &format!("{}/test", path(&id)), None)
                .await?;
            c.print(&a.body, |v| {
                println!(
                    "queued webhook.test message {}; see `wharf webhook deliveries {id}`",
                    text(&v["message"])
                )
            });
        }
        Command::Deliveries { id } => {
            let v = c.get(&format!("{}/deliveries", path(&id))).await?;
            c.print(&v, |v| {
                let rows = v["items"].as_array().into_iter().flatten().map(|m| {
                    let next = if m["status"] == "pending" {
                        when(&m["next_attempt_at"])
                    } else {
                        "-".into()
                    };
                    vec![
                        text(&m["id"]),
                        text(&m["event"]),
                        text(&m["status"]),
                        text(&m["attempts"]),
                        text(&m["last_status"]),
                        m["last_error"]
                            .as_str()
                            .map_or_else(|| "-".into(), |e| cut(e, 50)),
                        when(&m["created_at"]),
                        when(&m["delivered_at"]),
                        next,
                    ]
                });
                output::table(
                    &[
                        "message",
                        "event",
                        "status",
                        "attempts",
                        "last status",
                        "last error",
                        "created",
                        "delivered",
                        "next attempt",
                    ],
                    rows.collect(),
                );
            });
        }
    }
    Ok(())
}

fn path(id: &str) -> String {
    format!("/api/v1/webhooks/{}", enc(id))
}

fn state(w: &Value) -> String {
    if w["enabled"] == true {
        "enabled".into()
    } else {
        match w["disabled_reason"].as_str() {
            Some(why) => format!("disabled: {}", cut(why, 50)),
            None => "disabled".into(),
        }
    }
}

async fn switch(c: &Client, id: &str, enabled: bool) -> Result<(), Failure> {
    let a = c
        .send_json(Method::PATCH, &path(id), &json!({"enabled": enabled}))
        .await?;
    c.print(&a.body, |v| {
        println!(
            "webhook {} ({}) is {}",
            text(&v["id"]),
            text(&v["url"]),
            state(v)
        )
    });
    Ok(())
}
