//! `wharf sync`: create, list, show, change, switch on and off, delete and
//! run syncs. A sync, and each connection it names, is given by id or by
//! unique name.

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::{Client, connections, enc, find_named, id_of, read_json, runs};
use crate::cli::failure::Failure;
use crate::cli::output::{self, text, when};

/// The records store as a destination (`--destination records`); a
/// connection that happens to be named `records` is reached by its id.
const RECORDS_STORE: &str = "records";

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a sync.
    Create {
        /// Unique name.
        name: String,
        /// Source connection: name or id.
        #[arg(long)]
        source: String,
        /// Stream to read (repeatable).
        #[arg(long = "stream", required = true)]
        streams: Vec<String>,
        /// full or incremental.
        #[arg(long, default_value = "full")]
        mode: String,
        /// Mapper connection: name or id.
        #[arg(long)]
        mapper: Option<String>,
        /// Destination connection (name or id), or `records` (the built-in
        /// records store).
        #[arg(long, default_value = RECORDS_STORE)]
        destination: String,
        #[command(flatten)]
        schedule: ScheduleArgs,
        /// Rejected records tolerated per run (-1: no limit).
        #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
        error_threshold: i64,
        /// A JSON Schema records of a stream must match, `STREAM=JSON` or
        /// `STREAM=@file` (repeatable).
        #[arg(long = "schema", value_name = "STREAM=SCHEMA")]
        schemas: Vec<String>,
    },
    /// List syncs.
    List,
    /// Show a sync: connections, schedule, cursors.
    Show {
        /// Name or id.
        sync: String,
    },
    /// Change a sync; what is not given is kept.
    Update(UpdateArgs),
    /// Switch a sync's schedule on (manual runs always work).
    Enable {
        /// Name or id.
        sync: String,
    },
    /// Switch a sync's schedule off.
    Disable {
        /// Name or id.
        sync: String,
    },
    /// Delete a sync with its runs and stored records.
    Delete {
        /// Name or id.
        sync: String,
    },
    /// Start a run now.
    Run {
        /// Name or id.
        sync: String,
        /// Show progress until the run ends, then a summary.
        #[arg(long)]
        follow: bool,
    },
}

#[derive(Args, Debug)]
pub struct ScheduleArgs {
    /// Run every N seconds.
    #[arg(long, conflicts_with = "cron")]
    every: Option<u64>,
    /// Run on a cron schedule (five fields, UTC).
    #[arg(long)]
    cron: Option<String>,
}

impl ScheduleArgs {
    fn value(&self) -> Option<Value> {
        match (self.every, &self.cron) {
            (Some(e), _) => Some(json!({"every": e})),
            (None, Some(c)) => Some(json!({"cron": c})),
            (None, None) => None,
        }
    }
}

#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// Name or id.
    sync: String,
    /// A new name.
    #[arg(long)]
    name: Option<String>,
    /// Source connection: name or id.
    #[arg(long)]
    source: Option<String>,
    /// Streams to read (repeatable; replaces the list).
    #[arg(long = "stream")]
    streams: Vec<String>,
    /// full or incremental.
    #[arg(long)]
    mode: Option<String>,
    /// Mapper connection: name or id.
    #[arg(long, conflicts_with = "no_mapper")]
    mapper: Option<String>,
    /// Remove the mapper.
    #[arg(long)]
    no_mapper: bool,
    /// Destination connection (name or id), or `records`.
    #[arg(long)]
    destination: Option<String>,
    #[command(flatten)]
    schedule: ScheduleArgs,
    /// Remove the schedule: runs only when started.
    #[arg(long, conflicts_with_all = ["every", "cron"])]
    manual: bool,
    /// Rejected records tolerated per run (-1: no limit).
    #[arg(long, allow_negative_numbers = true)]
    error_threshold: Option<i64>,
    /// Set a stream's JSON Schema, `STREAM=JSON` or `STREAM=@file`
    /// (repeatable; other streams' schemas are kept).
    #[arg(long = "schema", value_name = "STREAM=SCHEMA")]
    schemas: Vec<String>,
    /// Remove a stream's JSON Schema (repeatable).
    #[arg(long = "drop-schema", value_name = "STREAM")]
    drop_schemas: Vec<String>,
}

/// The sync named (or with the id) `wanted`, as the server shows it.
pub async fn resolve(c: &Client, wanted: &str) -> Result<Value, Failure> {
    find_named(c, "sync", "/api/v1/syncs", wanted).await
}

pub async fn run(c: &Client, cmd: Command) -> Result<(), Failure> {
    match cmd {
        Command::Create {
            name,
            source,
            streams,
            mode,
            mapper,
            destination,
            schedule,
            error_threshold,
            schemas,
        } => {
            let mut body = json!({
                "name": name,
                "source": connection_id(c, &source).await?,
                "streams": streams,
                "mode": mode,
                "destination": destination_id(c, &destination).await?,
                "schedule": schedule.value(),
                "error_threshold": error_threshold,
            });
            if let Some(m) = mapper {
                body["mapper"] = json!(connection_id(c, &m).await?);
            }
            if !schemas.is_empty() {
                body["schemas"] = Value::Object(parse_schemas(Map::new(), &schemas)?);
            }
            let a = c.send_json(Method::POST, "/api/v1/syncs", &body).await?;
            c.print(&a.body, |v| {
                println!("created sync {} ({})", text(&v["name"]), text(&v["id"]))
            });
        }
        Command::List => {
            let items = c.list_all("/api/v1/syncs").await?;
            c.print_list(&items, |items| {
                let rows = items.iter().map(|i| {
                    vec![
                        text(&i["id"]),
                        text(&i["name"]),
                        text(&i["mode"]),
                        text(&i["destination"]),
                        schedule_text(&i["schedule"]),
                        text(&i["enabled"]),
                    ]
                });
                output::table(
                    &["id", "name", "mode", "destination", "schedule", "enabled"],
                    rows.collect(),
                );
            });
        }
        Command::Show { sync } => {
            let v = resolve(c, &sync).await?;
            if c.json_output() {
                output::json(&v);
            } else {
                show(c, &v).await?;
            }
        }
        Command::Update(args) => {
            let found = resolve(c, &args.sync).await?;
            let body = update_body(c, &found, args).await?;
            patch(c, &found, &body, "changed").await?;
        }
        Command::Enable { sync } => {
            let found = resolve(c, &sync).await?;
            patch(c, &found, &json!({"enabled": true}), "enabled").await?;
        }
        Command::Disable { sync } => {
            let found = resolve(c, &sync).await?;
            patch(c, &found, &json!({"enabled": false}), "disabled").await?;
        }
        Command::Delete { sync } => {
            let found = resolve(c, &sync).await?;
            let id = id_of(&found);
            c.call(Method::DELETE, &format!("/api/v1/syncs/{}", enc(&id)), None)
                .await?;
            println!("deleted sync {} ({id})", text(&found["name"]));
        }
        Command::Run { sync, follow } => {
            let id = id_of(&resolve(c, &sync).await?);
            let a = c
                .call(
                    Method::POST,
                    &format!("/api/v1/syncs/{}/runs", enc(&id)),
                    None,
                )
                .await?;
            if !follow {
                c.print(&a.body, |v| println!("queued run {}", text(&v["id"])));
                return Ok(());
            }
            return runs::follow(c, &id_of(&a.body)).await;
        }
    }
    Ok(())
}

async fn connection_id(c: &Client, wanted: &str) -> Result<String, Failure> {
    Ok(id_of(&connections::resolve(c, wanted).await?))
}

async fn destination_id(c: &Client, wanted: &str) -> Result<String, Failure> {
    if wanted == RECORDS_STORE {
        Ok(RECORDS_STORE.into())
    } else {
        connection_id(c, wanted).await
    }
}

/// `STREAM=SCHEMA` arguments added to `into`.
fn parse_schemas(
    mut into: Map<String, Value>,
    pairs: &[String],
) -> Result<Map<String, Value>, Failure> {
    for pair in pairs {
        let (stream, schema) = pair
            .split_once('=')
            .ok_or_else(|| Failure::usage(format!("--schema `{pair}` must be STREAM=SCHEMA")))?;
        into.insert(
            stream.to_string(),
            read_json(schema, &format!("--schema {stream}"))?,
        );
    }
    Ok(into)
}

/// A PATCH body with only what was given.
async fn update_body(c: &Client, found: &Value, args: UpdateArgs) -> Result<Value, Failure> {
    let mut body = Map::new();
    if let Some(v) = args.name {
        body.insert("name".into(), json!(v));
    }
    if let Some(v) = args.source {
        body.insert("source".into(), json!(connection_id(c, &v).await?));
    }
    if !args.streams.is_empty() {
        body.insert("streams".into(), json!(args.streams));
    }
    if let Some(v) = args.mode {
        body.insert("mode".into(), json!(v));
    }
    if let Some(v) = args.mapper {
        body.insert("mapper".into(), json!(connection_id(c, &v).await?));
    } else if args.no_mapper {
        body.insert("mapper".into(), Value::Null);
    }
    if let Some(v) = args.destination {
        body.insert("destination".into(), json!(destination_id(c, &v).await?));
    }
    if let Some(v) = args.schedule.value() {
        body.insert("schedule".into(), v);
    } else if args.manual {
        body.insert("schedule".into(), Value::Null);
    }
    if let Some(v) = args.error_threshold {
        body.insert("error_threshold".into(), json!(v));
    }
    // The API replaces the whole map; the command changes only the
    // streams it names.
    if !args.schemas.is_empty() || !args.drop_schemas.is_empty() {
        let mut schemas = found["schemas"].as_object().cloned().unwrap_or_default();
        for s in &args.drop_schemas {
            schemas.remove(s);
        }
        body.insert(
            "schemas".into(),
            Value::Object(parse_schemas(schemas, &args.schemas)?),
        );
    }
    if body.is_empty() {
        return Err(Failure::usage(
            "nothing to change: give at least one option (see `wharf sync update --help`)",
        ));
    }
    Ok(Value::Object(body))
}

async fn patch(c: &Client, found: &Value, body: &Value, what: &str) -> Result<(), Failure> {
    let a = c
        .send_json(
            Method::PATCH,
            &format!("/api/v1/syncs/{}", enc(&id_of(found))),
            body,
        )
        .await?;
    c.print(&a.body, |v| {
        println!("{what} sync {} ({})", text(&v["name"]), text(&v["id"]))
    });
    Ok(())
}

fn schedule_text(v: &Value) -> String {
    match v {
        Value::Null => "manual".to_string(),
        Value::Object(o) => o
            .iter()
            .map(|(k, v)| format!("{k} {}", text(v)))
            .collect::<Vec<_>>()
            .join(","),
        other => text(other),
    }
}

/// A sync as key-value rows, its connections by name, then its cursors.
async fn show(c: &Client, v: &Value) -> Result<(), Failure> {
    // One list for every connection the sync names, rather than a request
    // each: names are what a person recognises.
    let names: Map<String, Value> = c
        .list_all("/api/v1/connections")
        .await?
        .into_iter()
        .map(|k| (id_of(&k), k["name"].clone()))
        .collect();
    let conn = |id: &Value| match id.as_str() {
        None => "-".to_string(),
        Some(RECORDS_STORE) => "records store".to_string(),
        Some(id) => match names.get(id) {
            Some(name) => format!("{} ({id})", text(name)),
            None => id.to_string(),
        },
    };
    let compact = |v: &Value| match v.as_object() {
        Some(o) => o
            .iter()
            .map(|(k, v)| format!("{k}={}", text(v)))
            .collect::<Vec<_>>()
            .join(" "),
        None => text(v),
    };
    let schemas: Vec<&str> = v["schemas"]
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    output::fields(&[
        ("id", text(&v["id"])),
        ("name", text(&v["name"])),
        ("enabled", text(&v["enabled"])),
        ("mode", text(&v["mode"])),
        ("source", conn(&v["source_id"])),
        ("streams", output::list(&v["streams"])),
        ("mapper", conn(&v["mapper_id"])),
        ("destination", conn(&v["destination"])),
        ("schedule", schedule_text(&v["schedule"])),
        ("next run", when(&v["next_due_at"])),
        ("error threshold", text(&v["error_threshold"])),
        (
            "schemas",
            if schemas.is_empty() {
                "-".into()
            } else {
                schemas.join(",")
            },
        ),
        ("stored records", text(&v["record_count"])),
        ("retry", compact(&v["retry"])),
        ("limits", compact(&v["limits"])),
        ("created", when(&v["created_at"])),
        ("updated", when(&v["updated_at"])),
    ]);
    let cursors = v["cursors"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(stream, cursor)| vec![stream.clone(), text(cursor)]);
    output::section("cursors", &["stream", "cursor"], cursors.collect());
    Ok(())
}
