//! `wharf dev`: run a connector's functions from the command line, in the
//! server's sandbox, with no server and no database.
//!
//! Grants default to the hosts the spec declares (expanded with the
//! config); blocked networks stay blocked unless `--allow-network` names
//! them. Records go out (fetch, map) and come in (map, push) as JSON lines.
//!
//! Exit codes (see [`Failure`]): 0 success, 1 the connector's call failed
//! (shown as `error[kind]`, the call error's kind), 2 bad usage or input,
//! 3 the component could not be loaded (`error[load]`).

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};
use ipnet::IpNet;
use serde_json::{Value, json};

use super::failure::Failure;
use crate::model::grants::HostPattern;
use crate::model::record::Record;
use crate::model::secret::SecretValue;
use crate::runtime::LogLine;
use crate::runtime::{CallError, Connector, Runtime, RuntimeOptions, Session, SessionOptions};

#[derive(Subcommand, Debug)]
pub enum DevCommand {
    /// Print the connector's spec, digest and imports.
    Spec {
        /// The component (.wasm).
        wasm: PathBuf,
    },
    /// Run `check`.
    Check(CallArgs),
    /// Run `fetch` page after page; records to stdout as JSON lines, the
    /// final cursor to stderr.
    Fetch {
        #[command(flatten)]
        call: CallArgs,
        /// Stream to read.
        #[arg(long)]
        stream: String,
        /// Resume after this cursor.
        #[arg(long)]
        cursor: Option<String>,
        /// Stop after this many pages.
        #[arg(long)]
        max_pages: Option<u64>,
    },
    /// Run `map` on JSON-lines records from stdin; results to stdout.
    Map(CallArgs),
    /// Run `push` on JSON-lines records from stdin; the result to stdout.
    Push(CallArgs),
}

/// What every call needs: the component, config, secrets and grants.
#[derive(Args, Debug)]
pub struct CallArgs {
    /// The component (.wasm).
    wasm: PathBuf,
    /// Config as JSON, or `@file` to read it from a file.
    #[arg(long, default_value = "{}")]
    config: String,
    /// A secret, `NAME=VALUE` (repeatable). `NAME=@file` reads the value
    /// from a file, `NAME=env:VAR` from an environment variable.
    #[arg(long = "secret", value_name = "NAME=VALUE")]
    secrets: Vec<String>,
    /// Grant a host pattern in addition to the spec's (repeatable).
    #[arg(long = "allow-host", value_name = "PATTERN")]
    hosts: Vec<String>,
    /// Allow a blocked network, e.g. 127.0.0.0/8 (repeatable).
    #[arg(long = "allow-network", value_name = "CIDR")]
    networks: Vec<IpNet>,
    /// An OAuth2 access token for `{{oauth:access_token}}` (on a server,
    /// the host obtains and refreshes it).
    #[arg(long, value_name = "TOKEN")]
    oauth_token: Option<String>,
    /// Let the connector read this secret with `secrets.reveal` (deprecated;
    /// repeatable).
    #[arg(long, value_name = "SECRET")]
    reveal: Vec<String>,
    /// Do not use or fill the compiled-artifact cache.
    #[arg(long)]
    no_cache: bool,
}

/// Exit code 3: a component that does not load is neither a usage error
/// nor a failed call, and scripts that build components tell it apart.
fn load_failure(message: String) -> Failure {
    Failure::new(3, message).labelled("load")
}

impl From<CallError> for Failure {
    fn from(e: CallError) -> Self {
        Failure::failed(e.to_string()).labelled(e.kind())
    }
}

pub async fn run(cmd: DevCommand) -> Result<(), Failure> {
    match cmd {
        DevCommand::Spec { wasm } => {
            let (_, connector) = load(&wasm, false).await?;
            let out = json!({
                "digest": connector.digest(),
                "size": connector.size(),
                "wasi_imports": connector.wasi_imports(),
                "spec": connector.spec(),
            });
            println!("{}", serde_json::to_string_pretty(&out).expect("JSON"));
            Ok(())
        }
        DevCommand::Check(args) => {
            let session = open(&args).await?;
            let started = std::time::Instant::now();
            session.check().await?;
            eprintln!("check ok ({} ms)", started.elapsed().as_millis());
            Ok(())
        }
        DevCommand::Fetch {
            call,
            stream,
            cursor,
            max_pages,
        } => {
            let session = open(&call).await?;
            let mut cursor = cursor;
            let mut pages = 0u64;
            let mut records = 0u64;
            let stdout = std::io::stdout();
            loop {
                let page = session.fetch(&stream, cursor.as_deref()).await?;
                pages += 1;
                records += page.records.len() as u64;
                let mut out = stdout.lock();
                for r in &page.records {
                    write_line(&mut out, r)?;
                }
                out.flush()
                    .map_err(|e| Failure::usage(format!("stdout: {e}")))?;
                cursor = page.cursor.or(cursor);
                if !page.more || max_pages.is_some_and(|m| pages >= m) {
                    break;
                }
            }
            let http = session.http_counters();
            eprintln!(
                "fetched {records} records in {pages} pages ({} http requests)",
                http.requests
            );
            match &cursor {
                Some(c) => eprintln!("cursor: {c}"),
                None => eprintln!("cursor: (none)"),
            }
            Ok(())
        }
        DevCommand::Map(args) => {
            let session = open(&args).await?;
            let input = read_records()?;
            let out = session.map(&input).await?;
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            for r in &out {
                write_line(&mut lock, r)?;
            }
            eprintln!("mapped {} records into {}", input.len(), out.len());
            Ok(())
        }
        DevCommand::Push(args) => {
            let session = open(&args).await?;
            let input = read_records()?;
            let result = session.push(&input).await?;
            println!("{}", serde_json::to_string(&result).expect("JSON"));
            eprintln!(
                "pushed {} records: {} created, {} updated, {} deleted, {} rejected",
                input.len(),
                result.created,
                result.updated,
                result.deleted,
                result.rejected.len()
            );
            Ok(())
        }
    }
}

fn write_line(out: &mut impl Write, record: &Record) -> Result<(), Failure> {
    serde_json::to_writer(&mut *out, record).map_err(|e| Failure::usage(format!("stdout: {e}")))?;
    out.write_all(b"\n")
        .map_err(|e| Failure::usage(format!("stdout: {e}")))
}

fn read_records() -> Result<Vec<Record>, Failure> {
    let stdin = std::io::stdin();
    let mut records = Vec::new();
    for (n, line) in stdin.lock().lines().enumerate() {
        let line = line.map_err(|e| Failure::usage(format!("stdin: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let record: Record = serde_json::from_str(&line).map_err(|e| {
            Failure::usage(format!(
                "stdin line {}: not a record ({e}); expected {{\"stream\": ..., \"key\": ..., \"op\": \"upsert\"|\"delete\", \"data\": {{...}}}}",
                n + 1
            ))
        })?;
        records.push(record);
    }
    Ok(records)
}

async fn load(wasm: &PathBuf, no_cache: bool) -> Result<(Runtime, Arc<Connector>), Failure> {
    let bytes = std::fs::read(wasm)
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", wasm.display())))?;
    let cache_dir = if no_cache { None } else { cache_dir() };
    let runtime = Runtime::new(RuntimeOptions {
        cache_dir,
        ..RuntimeOptions::default()
    })
    .map_err(|e| load_failure(format!("cannot start the sandbox: {e:#}")))?;
    let connector = runtime
        .load(&bytes)
        .await
        .map_err(|e| load_failure(e.to_string()))?;
    Ok((runtime, connector))
}

/// `$XDG_CACHE_HOME/wharf/artifacts`, or `~/.cache/wharf/artifacts`.
fn cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("wharf").join("artifacts"))
}

async fn open(args: &CallArgs) -> Result<Session, Failure> {
    let config = parse_config(&args.config)?;
    let secrets = parse_secrets(&args.secrets)?;
    let (runtime, connector) = load(&args.wasm, args.no_cache).await?;
    let mut hosts = connector.spec().host_patterns(&config).map_err(|e| {
        Failure::usage(format!(
            "cannot expand the spec's hosts with this config: {e}"
        ))
    })?;
    for h in &args.hosts {
        hosts.push(HostPattern::parse(h).map_err(|e| Failure::usage(e.to_string()))?);
    }
    let options = SessionOptions {
        config,
        hosts,
        networks: args.networks.clone(),
        secrets,
        oauth: args.oauth_token.clone().map(|t| {
            std::sync::Arc::new(crate::runtime::FixedToken(SecretValue::new(t)))
                as std::sync::Arc<dyn crate::runtime::TokenSource>
        }),
        oauth_info: Vec::new(),
        state: None,
        inputs: Vec::new(),
        reveal: args.reveal.clone(),
        // `wharf dev` does not log in for the connector: a login needs a
        // connection's stored session (see `wharf serve`).
        login: None,
        relogin_on: Vec::new(),
        // Budgets are kept per stored connection; `wharf dev` has none.
        rate: None,
        tls_ca: None,
    };
    Session::new(&runtime, &connector, options, |log| {
        log.with_echo(print_log)
    })
    .map_err(|e| Failure::usage(e.to_string()))
}

fn print_log(line: &LogLine) {
    let level = format!("{:?}", line.level).to_lowercase();
    let source = format!("{:?}", line.source).to_lowercase();
    eprintln!("[{level} {source}] {}", line.message);
}

fn parse_config(text: &str) -> Result<Value, Failure> {
    let text = match text.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| Failure::usage(format!("cannot read config file {path}: {e}")))?,
        None => text.to_string(),
    };
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| Failure::usage(format!("--config is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(Failure::usage("--config must be a JSON object"));
    }
    Ok(value)
}

fn parse_secrets(pairs: &[String]) -> Result<BTreeMap<String, SecretValue>, Failure> {
    let mut out = BTreeMap::new();
    for pair in pairs {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| Failure::usage(format!("--secret `{pair}` must be NAME=VALUE")))?;
        let value = if let Some(path) = value.strip_prefix('@') {
            std::fs::read_to_string(path)
                .map_err(|e| Failure::usage(format!("secret {name}: cannot read {path}: {e}")))?
                .trim_end_matches(['\n', '\r'])
                .to_string()
        } else if let Some(var) = value.strip_prefix("env:") {
            std::env::var(var).map_err(|_| {
                Failure::usage(format!(
                    "secret {name}: environment variable {var} is not set"
                ))
            })?
        } else {
            value.to_string()
        };
        out.insert(name.to_string(), SecretValue::new(value));
    }
    Ok(out)
}
