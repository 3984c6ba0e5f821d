//! One statement through the Query API, and what its answer means.
//!
//! A statement runs in its own transaction: all of it lands or none. The
//! answer's status is sent before the statement runs, so an error while it
//! runs comes as a `202` with `errors` in the body. A
//! refusal for the data (`Neo.ClientError.Schema.*`,
//! `Neo.ClientError.Statement.TypeError`, …) is retried one row at a time,
//! so only the rows at fault are refused; credentials, a missing database,
//! transient and server errors stop the batch.

use std::collections::BTreeMap;

use wharf_sdk::http::{Request, Response};
use wharf_sdk::prelude::*;
use wharf_sdk::rest::ErrorMap;

use crate::Config;

const USERNAME: Secret = Secret::new("username");
const PASSWORD: Secret = Secret::new("password");

/// What a statement did.
#[derive(Default)]
pub struct Counters {
    pub rows: u32,
    pub nodes_created: u32,
    pub relationships_created: u32,
}

/// Why Neo4j refused a statement.
pub enum Refused {
    /// The rows' data: retry them one by one.
    Data(String),
    /// The batch must stop.
    Stop(Error),
}

impl Refused {
    pub fn into_error(self) -> Error {
        match self {
            Self::Data(m) => Error::Fatal(m),
            Self::Stop(e) => e,
        }
    }
}

/// Run `statement` with `$rows`.
pub fn run(
    config: &Config,
    statement: &str,
    rows: Vec<Value>,
) -> std::result::Result<Counters, Refused> {
    let count = rows.len() as u32;
    let url = format!(
        "{}/db/{}/query/v2",
        config.base_url.trim_end_matches('/'),
        wharf_sdk::http::encode(&config.database)
    );
    let body = json!({
        "statement": statement,
        "parameters": {"rows": rows},
        "includeCounters": true,
    });
    let request = Request::post(url)
        .header("Accept", "application/json")
        .basic_auth(&USERNAME, &PASSWORD)
        .json_data(&body)
        .map_err(Refused::Stop)?;
    let response = request.send().map_err(Refused::Stop)?;
    if response.is_success() {
        let answer: Value = response.json().map_err(Refused::Stop)?;
        // The status is sent before the statement runs: an error while it
        // runs or commits (a constraint, a type) is a `202` whose body has
        // `errors`, and nothing was written.
        if answer["errors"].as_array().is_some_and(|e| !e.is_empty()) {
            return Err(classify(response.status, &answer, &response));
        }
        let counter = |name: &str| answer["counters"][name].as_u64().unwrap_or(0) as u32;
        return Ok(Counters {
            rows: count,
            nodes_created: counter("nodesCreated"),
            relationships_created: counter("relationshipsCreated"),
        });
    }
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    Err(classify(response.status, &body, &response))
}

/// Write `rows`; when Neo4j refuses the batch for its data, write each row
/// alone and note the refused ones (by record index) in `refused`.
pub fn write(
    config: &Config,
    statement: &str,
    rows: Vec<(usize, Value)>,
    refused: &mut BTreeMap<usize, String>,
) -> Result<Counters> {
    if rows.is_empty() {
        return Ok(Counters::default());
    }
    let values: Vec<Value> = rows.iter().map(|(_, v)| v.clone()).collect();
    match run(config, statement, values) {
        Ok(c) => Ok(c),
        Err(Refused::Stop(e)) => Err(e),
        Err(Refused::Data(_)) if rows.len() > 1 => {
            let mut total = Counters::default();
            for (index, row) in rows {
                match run(config, statement, vec![row]) {
                    Ok(c) => {
                        total.rows += c.rows;
                        total.nodes_created += c.nodes_created;
                        total.relationships_created += c.relationships_created;
                    }
                    Err(Refused::Data(message)) => {
                        refused.insert(index, message);
                    }
                    Err(Refused::Stop(e)) => return Err(e),
                }
            }
            Ok(total)
        }
        Err(Refused::Data(message)) => {
            refused.insert(rows[0].0, message);
            Ok(Counters::default())
        }
    }
}

/// Neo4j's status code (`Neo.<Classification>.<Category>.<Title>`)
/// decides, more than the HTTP status (transient errors come as `400`).
fn classify(status: u16, body: &Value, response: &Response) -> Refused {
    let code = body["errors"][0]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let message = match body["errors"][0]["message"].as_str() {
        Some(m) => format!("{code}: {m}"),
        None => ErrorMap::new().message(response),
    };
    if code.starts_with("Neo.ClientError.Security.") || matches!(status, 401 | 403) {
        return Refused::Stop(Error::Auth(message));
    }
    if code == "Neo.ClientError.Database.DatabaseNotFound" {
        return Refused::Stop(Error::Config(message));
    }
    if code.starts_with("Neo.TransientError.") || status >= 500 || status == 408 {
        return Refused::Stop(Error::Transient(message));
    }
    if status == 429 {
        return Refused::Stop(
            ErrorMap::new()
                .check(response.clone())
                .err()
                .unwrap_or(Error::RateLimited(60)),
        );
    }
    if code.starts_with("Neo.ClientError.Schema.")
        || code == "Neo.ClientError.Statement.TypeError"
        || code == "Neo.ClientError.Statement.ArgumentError"
        || code == "Neo.ClientError.Statement.SemanticError"
    {
        return Refused::Data(message);
    }
    Refused::Stop(Error::Fatal(message))
}
