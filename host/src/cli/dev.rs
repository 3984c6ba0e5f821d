//! `wharf dev`: run a connector's functions from the command line, in the
//! server's sandbox, with no server and no database.
//!
//! Grants default to the hosts the spec declares (expanded with the
//! config); blocked networks stay blocked unless `--allow-network` names
//! them. Records go out (fetch, map) and come in (map, push) as JSON lines.
//!
//! `--record FILE` keeps the calls and every input of the connector in a
//! cassette; `--replay FILE` runs against one offline and fails on the
//! first request or result that differs (`crate::runtime::cassette`).
//!
//! Exit codes (see [`Failure`]): 0 success, 1 the connector's call failed
//! (shown as `error[kind]`, the call error's kind) or a replay differed
//! from its cassette (`error[replay]`), 2 bad usage or input, 3 the
//! component could not be loaded (`error[load]`).

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};
use ipnet::IpNet;
use serde_json::{Value, json};

use super::failure::Failure;
use super::usage::report;
use crate::model::grants::HostPattern;
use crate::model::limits::ConnectorLimits;
use crate::model::record::Record;
use crate::model::secret::SecretValue;
use crate::runtime::LogLine;
use crate::runtime::cassette::{Cassette, Scripted, Tape};
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
    /// Serve a session to a test over standard input and output: one JSON
    /// request per line in (`{"op": "fetch", "stream": …, "cursor": …}`,
    /// `check`, `discover`, `map`/`push` with `records`, `receive`,
    /// `requests`, `logs`, `finish`), one JSON answer per line out
    /// (`{"ok": …}` or `{"error": {"kind", "message"}}`). The test harness
    /// (`wharf-harness`) speaks it; so can a test in any language.
    Rpc(CallArgs),
    /// Make a cassette's calls again, offline, each with its recorded
    /// arguments: requests are answered from the cassette, and the first
    /// request or result that differs fails (`error[replay]`). Takes
    /// cassettes of `--record` and of failed runs (`GET
    /// /api/v1/runs/{id}/cassette`). Records and push results go to stdout.
    Replay {
        /// The component (.wasm).
        wasm: PathBuf,
        /// The cassette (JSON).
        cassette: PathBuf,
        /// Do not use or fill the compiled-artifact cache.
        #[arg(long)]
        no_cache: bool,
    },
}

/// What every call needs: the component, config, secrets and grants.
#[derive(Args, Debug)]
pub struct CallArgs {
    /// The component (.wasm).
    pub(super) wasm: PathBuf,
    /// Config as JSON, or `@file` to read it from a file (default `{}`;
    /// with `--replay`, the cassette's).
    #[arg(long)]
    config: Option<String>,
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
    /// Linear memory per instance in MiB, as an administrator may give a
    /// connector at upload (default 64, at most 256).
    #[arg(long, value_name = "MIB")]
    memory_mib: Option<u32>,
    /// Time per call in seconds, as an administrator may give a connector
    /// at upload (default 30, at most 300).
    #[arg(long, value_name = "SECS")]
    call_timeout_secs: Option<u32>,
    /// Record the calls, every HTTP exchange, clock reading and result in
    /// this cassette (JSON, secrets redacted), written when the command
    /// ends, whether it succeeded or not.
    #[arg(long, value_name = "FILE", conflicts_with = "replay")]
    pub(super) record: Option<PathBuf>,
    /// Run offline against this cassette: requests are answered from it,
    /// and the first request or result that differs from it fails the
    /// command (`error[replay]`, exit code 1) with what differed.
    #[arg(long, value_name = "FILE", conflicts_with = "script")]
    replay: Option<PathBuf>,
    /// Run offline, answering requests from this script: a JSON array of
    /// `{"method", "url", "outcome"}` (a URL ending in `*` is a prefix;
    /// `outcome` as in a cassette). A request it does not answer is refused.
    /// With `--record`, the scripted exchanges are recorded: a cassette
    /// for a fixed URL, made without the network.
    #[arg(long, value_name = "FILE")]
    script: Option<PathBuf>,
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
            let (session, tape) = open(&args, false).await?;
            let started = std::time::Instant::now();
            let outcome = session.check().await.map_err(Failure::from);
            if outcome.is_ok() {
                eprintln!("check ok ({} ms)", started.elapsed().as_millis());
            }
            settle(&args, &session, tape, outcome)
        }
        DevCommand::Fetch {
            call,
            stream,
            cursor,
            max_pages,
        } => {
            let (session, tape) = open(&call, false).await?;
            let outcome = fetch(&session, &stream, cursor, max_pages).await;
            settle(&call, &session, tape, outcome)
        }
        DevCommand::Map(args) => {
            let (session, tape) = open(&args, false).await?;
            let outcome = map(&session).await;
            settle(&args, &session, tape, outcome)
        }
        DevCommand::Push(args) => {
            let (session, tape) = open(&args, false).await?;
            let outcome = push(&session).await;
            settle(&args, &session, tape, outcome)
        }
        DevCommand::Rpc(args) => super::dev_rpc::serve(&args).await,
        DevCommand::Replay {
            wasm,
            cassette,
            no_cache,
        } => replay(wasm, cassette, no_cache).await,
    }
}

/// `wharf dev replay`: each call of the cassette again, in order.
async fn replay(wasm: PathBuf, cassette: PathBuf, no_cache: bool) -> Result<(), Failure> {
    let args = CallArgs {
        wasm,
        config: None,
        secrets: Vec::new(),
        hosts: Vec::new(),
        networks: Vec::new(),
        oauth_token: None,
        reveal: Vec::new(),
        no_cache,
        memory_mib: None,
        call_timeout_secs: None,
        record: None,
        replay: Some(cassette),
        script: None,
    };
    let (session, tape) = open(&args, false).await?;
    let tape = tape.expect("a replay has a tape");
    let calls = tape.cassette().calls;
    let stdout = std::io::stdout();
    for (n, call) in calls.iter().enumerate() {
        let field = |name: &str| call.args.get(name).cloned().unwrap_or(Value::Null);
        let records = || -> Result<Vec<Record>, Failure> {
            serde_json::from_value(field("records"))
                .map_err(|e| Failure::usage(format!("call {}: the cassette's records: {e}", n + 1)))
        };
        let text = |name: &str| field(name).as_str().map(str::to_string);
        let outcome: Result<Vec<Record>, CallError> = match call.op.as_str() {
            "check" => session.check().await.map(|()| Vec::new()),
            "discover" => session.discover().await.map(|_| Vec::new()),
            "fetch" => {
                let stream = text("stream").unwrap_or_default();
                session
                    .fetch(&stream, text("cursor").as_deref())
                    .await
                    .map(|p| p.records)
            }
            "map" => session.map(&records()?).await,
            "push" => session.push(&records()?).await.map(|r| {
                println!("{}", serde_json::to_string(&r).expect("JSON"));
                Vec::new()
            }),
            "receive" => {
                let pairs = |name: &str| -> Vec<(String, String)> {
                    serde_json::from_value(field(name)).unwrap_or_default()
                };
                session
                    .receive(
                        &text("method").unwrap_or_else(|| "POST".into()),
                        pairs("headers"),
                        pairs("query"),
                        text("body").unwrap_or_default().into_bytes(),
                    )
                    .await
            }
            other => {
                return Err(Failure::usage(format!(
                    "call {}: `{other}` is not an operation this wharf replays",
                    n + 1
                )));
            }
        };
        match &outcome {
            Ok(records) => {
                let mut out = stdout.lock();
                for r in records {
                    write_line(&mut out, r)?;
                }
                eprintln!("call {} `{}`: ok", n + 1, call.op);
            }
            Err(e) => eprintln!("call {} `{}`: error[{}] {e}", n + 1, call.op, e.kind()),
        }
    }
    report(&session);
    match tape.finish() {
        Err(mismatch) => Err(Failure::failed(format!(
            "the replay differs from the cassette: {mismatch}"
        ))
        .labelled("replay")),
        Ok(()) => {
            eprintln!("replay matches the cassette ({} calls)", calls.len());
            Ok(())
        }
    }
}

/// After a call command: write the recorded cassette, or report how the
/// replay differed from its cassette (which explains a failed call better
/// than the call's own error does).
fn settle(
    args: &CallArgs,
    session: &Session,
    tape: Option<Arc<Tape>>,
    outcome: Result<(), Failure>,
) -> Result<(), Failure> {
    report(session);
    let Some(tape) = tape else {
        return outcome;
    };
    if let Some(path) = &args.record {
        std::fs::write(path, tape.cassette().to_json()).map_err(|e| {
            Failure::usage(format!("cannot write the cassette {}: {e}", path.display()))
        })?;
        eprintln!("recorded {} calls in {}", tape.calls(), path.display());
        return outcome;
    }
    match tape.finish() {
        Err(mismatch) => Err(Failure::failed(format!(
            "the replay differs from the cassette: {mismatch}"
        ))
        .labelled("replay")),
        Ok(()) => {
            if outcome.is_ok() {
                eprintln!("replay matches the cassette");
            }
            outcome
        }
    }
}

async fn fetch(
    session: &Session,
    stream: &str,
    cursor: Option<String>,
    max_pages: Option<u64>,
) -> Result<(), Failure> {
    let mut cursor = cursor;
    let mut pages = 0u64;
    let mut records = 0u64;
    let stdout = std::io::stdout();
    loop {
        let page = session.fetch(stream, cursor.as_deref()).await?;
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

async fn map(session: &Session) -> Result<(), Failure> {
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

async fn push(session: &Session) -> Result<(), Failure> {
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

pub(super) fn write_line(out: &mut impl Write, record: &Record) -> Result<(), Failure> {
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

pub(super) async fn load(
    wasm: &PathBuf,
    no_cache: bool,
) -> Result<(Runtime, Arc<Connector>), Failure> {
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

/// The session of a call command, and its tape (always one with
/// `taped`: every call recorded, for `wharf dev rpc`'s `requests`).
pub(super) async fn open(
    args: &CallArgs,
    taped: bool,
) -> Result<(Session, Option<Arc<Tape>>), Failure> {
    let played = match &args.replay {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Failure::usage(format!("cannot read the cassette {}: {e}", path.display()))
            })?;
            Some(
                Cassette::from_json(&text)
                    .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?,
            )
        }
        None => None,
    };
    let config = match (&args.config, &played) {
        (Some(text), _) => parse_config(text)?,
        (None, Some(cassette)) => cassette.config.clone(),
        (None, None) => json!({}),
    };
    let secrets = parse_secrets(&args.secrets)?;
    // A replay keeps the limits the connector had when it was recorded,
    // unless given others.
    let recorded = played.as_ref().map(|c| c.limits).unwrap_or_default();
    let limits = ConnectorLimits {
        memory_mib: args.memory_mib.or(recorded.memory_mib),
        call_timeout_secs: args.call_timeout_secs.or(recorded.call_timeout_secs),
    };
    let (runtime, connector) = load(&args.wasm, args.no_cache).await?;
    runtime
        .limits()
        .check_connector(&limits)
        .map_err(Failure::usage)?;
    let tape = match played {
        Some(cassette) => {
            if cassette.connector.digest != connector.digest() {
                eprintln!(
                    "note: the cassette was recorded with {}@{} (digest {}); this component's digest is {}",
                    cassette.connector.name,
                    cassette.connector.version,
                    clip_digest(&cassette.connector.digest),
                    clip_digest(connector.digest())
                );
            }
            Some(Arc::new(Tape::player(cassette)))
        }
        None => match &args.script {
            Some(path) => Some(Arc::new(Tape::scripted(read_script(path)?))),
            None => (args.record.is_some() || taped).then(|| Arc::new(Tape::recorder())),
        },
    };
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
        tape: tape.clone(),
        limits,
        // Quotas are set on a stored connection; `wharf dev` has none.
        quotas: Default::default(),
    };
    let session = Session::new(&runtime, &connector, options, |log| {
        log.with_echo(print_log)
    })
    .map_err(|e| Failure::usage(e.to_string()))?;
    Ok((session, tape))
}

fn read_script(path: &PathBuf) -> Result<Vec<Scripted>, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::usage(format!("cannot read the script {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        Failure::usage(format!(
            "{}: not a script (a JSON array of {{\"method\", \"url\", \"outcome\"}}): {e}",
            path.display()
        ))
    })
}

fn clip_digest(digest: &str) -> String {
    digest.chars().take(12).collect()
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
