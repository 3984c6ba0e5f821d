//! `wharf dev rpc`: one session served to a test over standard input and
//! output, a JSON request per line in and a JSON answer per line out.
//!
//! This is how tests drive a connector in the server's own sandbox without
//! linking the runtime: the Rust harness (`wharf-harness`) spawns it, and a
//! test in any language can. The session is taped (recorded, replayed from
//! a cassette, or answered from a script), so `requests` lists what the
//! connector sent and `finish` reports the first difference from a
//! cassette. Log lines go to standard error as they come, and `logs`
//! returns the ones since the last `logs`.

use std::io::{BufRead, Write};

use serde::Deserialize;
use serde_json::{Value, json};

use super::dev::{CallArgs, open};
use super::failure::Failure;
use crate::model::record::Record;
use crate::runtime::cassette::Tape;
use crate::runtime::{CallError, Session};

/// A request names its operation in `op`; the rest of its fields are the
/// operation's (read from the line itself, as records keep their text).
#[derive(Deserialize)]
struct Op {
    op: String,
}

#[derive(Deserialize)]
struct Fetch {
    stream: String,
    #[serde(default)]
    cursor: Option<String>,
}

#[derive(Deserialize)]
struct Records {
    records: Vec<Record>,
}

#[derive(Deserialize)]
struct Receive {
    #[serde(default = "post")]
    method: String,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    query: Vec<(String, String)>,
    #[serde(default)]
    body: String,
}

fn post() -> String {
    "POST".into()
}

fn usage(message: String) -> Value {
    json!({"error": {"kind": "usage", "message": message}})
}

/// The answer to one request line.
async fn handle(session: &Session, tape: &Tape, line: &str) -> Value {
    fn read<T: serde::de::DeserializeOwned>(line: &str) -> Result<T, Value> {
        serde_json::from_str(line).map_err(|e| usage(format!("not a request: {e}")))
    }
    let op = match read::<Op>(line) {
        Ok(op) => op.op,
        Err(e) => return e,
    };
    let answered = match op.as_str() {
        "check" => Ok(answer(session.check().await)),
        "discover" => Ok(answer(session.discover().await)),
        "fetch" => match read::<Fetch>(line) {
            Ok(f) => Ok(answer(session.fetch(&f.stream, f.cursor.as_deref()).await)),
            Err(e) => Err(e),
        },
        "map" => match read::<Records>(line) {
            Ok(r) => Ok(answer(session.map(&r.records).await)),
            Err(e) => Err(e),
        },
        "push" => match read::<Records>(line) {
            Ok(r) => Ok(answer(session.push(&r.records).await)),
            Err(e) => Err(e),
        },
        "receive" => match read::<Receive>(line) {
            Ok(r) => Ok(answer(
                session
                    .receive(&r.method, r.headers, r.query, r.body.into_bytes())
                    .await,
            )),
            Err(e) => Err(e),
        },
        // The requests the connector sent so far (as it wrote them).
        "requests" => Ok(json!({ "ok": tape.requests() })),
        // Log lines since the last `logs`.
        "logs" => Ok(json!({ "ok": session.log().drain() })),
        // The first difference from the cassette or script, if any.
        "finish" => Ok(match tape.finish() {
            Ok(()) => json!({ "ok": null }),
            Err(m) => json!({"error": {"kind": "replay", "message": m.to_string()}}),
        }),
        other => Err(usage(format!(
            "unknown op `{other}`: check, discover, fetch, map, push, receive, requests, logs, finish"
        ))),
    };
    answered.unwrap_or_else(|e| e)
}

/// Serve requests until standard input ends.
pub async fn serve(args: &CallArgs) -> Result<(), Failure> {
    let (session, tape) = open(args, true).await?;
    let tape = tape.expect("an rpc session is taped");
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let line = line.map_err(|e| Failure::usage(format!("stdin: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let answer = handle(&session, &tape, &line).await;
        let mut text = answer.to_string();
        text.push('\n');
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| Failure::usage(format!("stdout: {e}")))?;
    }
    if let Some(path) = &args.record {
        std::fs::write(path, tape.cassette().to_json()).map_err(|e| {
            Failure::usage(format!("cannot write the cassette {}: {e}", path.display()))
        })?;
    }
    Ok(())
}

fn answer<T: serde::Serialize>(result: Result<T, CallError>) -> Value {
    match result {
        Ok(value) => json!({ "ok": value }),
        Err(e) => json!({"error": {"kind": e.kind(), "message": e.to_string()}}),
    }
}
