//! `wharf run`: the runs of a sync, one run's summary and what it used,
//! its log and rejected records, cancelling; and following a run live (`wharf sync run
//! --follow`). Runs have no names: a run is given by id, its sync by id or
//! name.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use clap::Subcommand;
use reqwest::Method;
use serde_json::Value;

use super::{Client, enc, id_of, syncs};
use crate::cli::failure::Failure;
use crate::cli::output::{self, cut, duration, text, when};

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List the runs of a sync, newest first.
    List {
        /// Sync: name or id.
        sync: String,
        /// How many runs (1-500).
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
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
    /// List the records a run rejected.
    Errors {
        /// Run id.
        id: String,
    },
    /// Cancel a run.
    Cancel {
        /// Run id.
        id: String,
    },
}

pub async fn run(c: &Client, cmd: Command) -> Result<(), Failure> {
    match cmd {
        Command::List { sync, limit } => {
            let id = id_of(&syncs::resolve(c, &sync).await?);
            let v = c
                .get(&format!(
                    "/api/v1/syncs/{}/runs?limit={}",
                    enc(&id),
                    limit.clamp(1, 500)
                ))
                .await?;
            c.print(&v, |v| {
                let rows = v["items"].as_array().into_iter().flatten().map(|r| {
                    vec![
                        text(&r["id"]),
                        text(&r["status"]),
                        text(&r["trigger"]),
                        when(&r["created_at"]),
                        duration(&r["duration_ms"]),
                        counter(r, "fetched").to_string(),
                        counter(r, "pushed").to_string(),
                        counter(r, "rejected").to_string(),
                        r["error"]
                            .as_str()
                            .map_or_else(|| "-".into(), |e| cut(e, 60)),
                    ]
                });
                output::table(
                    &[
                        "id", "status", "trigger", "created", "duration", "fetched", "pushed",
                        "rejected", "error",
                    ],
                    rows.collect(),
                );
            });
        }
        Command::Show { id } => {
            let v = c.get(&format!("/api/v1/runs/{}", enc(&id))).await?;
            c.print(&v, |v| {
                println!("{}", summary(v));
                resources(&v["resources"]);
            });
        }
        Command::Logs { id } => {
            let mut after = 0;
            loop {
                let v = c
                    .get(&format!(
                        "/api/v1/runs/{}/logs?after={after}&limit=500",
                        enc(&id)
                    ))
                    .await?;
                for l in v["items"].as_array().into_iter().flatten() {
                    // One JSON object a line, so a long log can be piped
                    // through a line-oriented tool as it arrives.
                    if c.json_output() {
                        println!("{l}");
                    } else {
                        println!(
                            "{} {:<5} {:<22} {}",
                            when(&l["at"]),
                            text(&l["level"]),
                            text(&l["source"]),
                            text(&l["message"])
                        );
                    }
                    after = l["seq"].as_i64().unwrap_or(after);
                }
                if v["next"].is_null() {
                    break;
                }
            }
        }
        Command::Errors { id } => {
            let items = c
                .list_all(&format!("/api/v1/runs/{}/errors", enc(&id)))
                .await?;
            let v = serde_json::json!({ "items": items });
            c.print(&v, |v| {
                let rows = v["items"].as_array().into_iter().flatten().map(|e| {
                    vec![
                        text(&e["stream"]),
                        text(&e["index"]),
                        text(&e["key"]),
                        text(&e["field"]),
                        text(&e["message"]),
                    ]
                });
                output::table(
                    &["stream", "index", "key", "field", "message"],
                    rows.collect(),
                );
            });
        }
        Command::Cancel { id } => {
            let a = c
                .call(
                    Method::POST,
                    &format!("/api/v1/runs/{}/cancel", enc(&id)),
                    None,
                )
                .await?;
            c.print(&a.body, |v| {
                println!(
                    "run {} is {}{}",
                    text(&v["id"]),
                    text(&v["status"]),
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

fn counter(v: &Value, name: &str) -> i64 {
    v["counters"][name].as_i64().unwrap_or(0)
}

fn summary(v: &Value) -> String {
    let secs = v["duration_ms"].as_i64().unwrap_or(0) as f64 / 1000.0;
    let mut line = format!(
        "run {} {} in {secs:.1} s: {} pages, {} fetched, {} pushed ({} created, {} updated, {} deleted, {} unchanged), {} rejected, {} http requests",
        text(&v["id"]),
        text(&v["status"]),
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
            text(&v["error_kind"]),
            text(&v["error"])
        ));
    }
    line
}

/// What each connector of the run used, as a table (nothing while it runs).
fn resources(r: &Value) {
    let Some(sides) = r["sides"].as_array() else {
        return;
    };
    let n = |v: &Value, key: &str| v[key].as_u64().unwrap_or(0);
    let rows = sides
        .iter()
        .map(|s| {
            vec![
                text(&s["side"]),
                format!("{} ({})", text(&s["connector"]), text(&s["connection"])),
                n(s, "calls").to_string(),
                format!("{} ms", n(s, "call_ms")),
                format!("{} ms", n(s, "wasm_ms")),
                n(s, "epoch_ticks").to_string(),
                format!(
                    "{:.1} MiB",
                    n(s, "peak_memory_bytes") as f64 / f64::from(1 << 20)
                ),
                n(s, "http_requests").to_string(),
                format!("{} B", n(s, "bytes_out")),
                format!("{} B", n(s, "bytes_in")),
                format!("{} B", n(s, "log_bytes")),
            ]
        })
        .collect();
    println!();
    output::table(
        &[
            "side",
            "connector",
            "calls",
            "in calls",
            "in wasm",
            "wasm ticks",
            "peak memory",
            "requests",
            "sent",
            "received",
            "log",
        ],
        rows,
    );
}

/// Poll a run, drawing a progress line on stderr, until it ends; fails
/// (quietly: the summary says why) unless it succeeded.
pub async fn follow(c: &Client, run_id: &str) -> Result<(), Failure> {
    let tty = std::io::stderr().is_terminal();
    let spinner = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
    let started = Instant::now();
    let mut tick = 0usize;
    let mut last_print: Option<Instant> = None;
    loop {
        let v = c.get(&format!("/api/v1/runs/{}", enc(run_id))).await?;
        let status = text(&v["status"]);
        let records = counter(&v, "fetched");
        let rate = records as f64 / started.elapsed().as_secs_f64().max(0.001);
        let line = format!(
            "{status:<9} {} pages  {records} records  {} pushed  {} rejected  {rate:.0} records/s",
            counter(&v, "pages"),
            counter(&v, "pushed"),
            counter(&v, "rejected"),
        );
        // Redrawn in place with a spinner on a terminal; a plain line
        // every 2 s in a log file.
        if tty {
            eprint!("\r\x1b[2K{} {line}", spinner[tick % spinner.len()]);
            tick += 1;
            let _ = std::io::stderr().flush();
        } else if last_print.is_none_or(|t| t.elapsed() >= Duration::from_secs(2)) {
            eprintln!("{line}");
            last_print = Some(Instant::now());
        }
        if matches!(status.as_str(), "succeeded" | "failed" | "cancelled") {
            if tty {
                eprintln!();
            }
            c.print(&v, |v| println!("{}", summary(v)));
            return if status == "succeeded" {
                Ok(())
            } else {
                Err(Failure::quiet())
            };
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
