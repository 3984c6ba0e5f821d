//! `jq`: a mapper that runs a jq program per stream (the jaq
//! implementation of jq, compiled into the component).
//!
//! Each record's data goes in as `.`; every value the program outputs
//! becomes a record (zero outputs drop the record, several split it). The
//! program sees `$key` and `$stream` of the input record and every lookup
//! table of the config as a variable of its own name (`$factors`), so
//! "account code → emission factor" is `$factors[.AccountCode]`. A jq
//! error (`error("no factor for \(.code)")`), an output that is not an
//! object, or more than 10,000 outputs from one record refuse that record
//! alone, with its key, into the run's errors; the rest of the page goes
//! on. A program that loops without output is stopped by the sandbox's
//! time limit, which fails the page.
//!
//! Programs are compiled once per page; a program that does not compile
//! is a configuration error found by `check`, with jq's own words and the
//! place in the program.

mod program;

use std::collections::BTreeMap;

use serde::Deserialize;
use wharf_sdk::prelude::*;
use wharf_sdk::scalar_text;

use program::{Compiled, Outcome};

/// The connection config.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// One rule per input stream; the first whose `stream` matches wins.
    rules: Vec<Rule>,
    /// Lookup tables, each bound as `$<name>` in every program.
    #[serde(default)]
    lookups: BTreeMap<String, Value>,
    /// Records no rule matches: `pass` (default) or `drop`.
    #[serde(default)]
    unmatched: Unmatched,
}

#[derive(Deserialize, Default, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum Unmatched {
    #[default]
    Pass,
    Drop,
}

/// How the records of one input stream are mapped.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Input stream (`*` for any).
    stream: String,
    /// The jq program.
    program: String,
    /// Output stream (default: the input stream).
    #[serde(default)]
    output_stream: Option<String>,
    /// JSON pointer into an output whose value becomes its key (default:
    /// the input's key, with `#n` after it when one record becomes several).
    #[serde(default)]
    key: Option<String>,
    /// Outputs are envelopes `{"stream", "key", "op", "data"}` instead of
    /// the data alone, for programs that route records themselves.
    #[serde(default)]
    envelope: bool,
}

/// The most records one input record may become: a program that outputs
/// more is refused for that record rather than flooding the destination.
const MAX_OUTPUTS_PER_RECORD: usize = 10_000;

pub struct Jq;

impl Connector for Jq {
    type Config = Config;

    fn spec() -> Spec {
        Spec::new("jq", env!("CARGO_PKG_VERSION"))
            .description(
                "Mapper running a jq program per stream: the record in, zero or more records \
                 out, lookup tables from the config as variables, jq errors as rejections of \
                 that record.",
            )
            .role(Role::Mapper)
            .config_schema(config_schema())
    }

    fn check(config: &Config) -> Result<()> {
        if config.rules.is_empty() {
            return Err(Error::config("`rules` is empty: add at least one rule"));
        }
        for name in config.lookups.keys() {
            program::check_variable(name).map_err(|e| Error::Config(format!("lookups: {e}")))?;
        }
        for (i, rule) in config.rules.iter().enumerate() {
            if let Some(key) = &rule.key
                && !key.starts_with('/')
            {
                return Err(Error::Config(format!(
                    "rules[{i}]: `key` must be a JSON pointer like `/{key}`"
                )));
            }
            Compiled::new(&rule.program, &config.lookups)
                .map_err(|e| Error::Config(format!("rules[{i}] ({}): {e}", rule.stream)))?;
        }
        Ok(())
    }

    fn map(config: &Config, records: Vec<Record>) -> Result<Vec<Record>> {
        let mut compiled: Vec<Option<Compiled>> = config.rules.iter().map(|_| None).collect();
        let mut out = Vec::with_capacity(records.len());
        for record in records {
            let Some(i) = config
                .rules
                .iter()
                .position(|r| r.stream == record.stream || r.stream == "*")
            else {
                if config.unmatched == Unmatched::Pass {
                    out.push(record);
                }
                continue;
            };
            let rule = &config.rules[i];
            let program = match &mut compiled[i] {
                Some(p) => p,
                slot => slot
                    .insert(Compiled::new(&rule.program, &config.lookups).map_err(|e| {
                        Error::Config(format!("rules[{i}] ({}): {e}", rule.stream))
                    })?),
            };
            apply(rule, program, record, &mut out);
        }
        Ok(out)
    }
}

/// Run `rule` on one record, pushing its outputs (or its rejection).
fn apply(rule: &Rule, program: &Compiled, record: Record, out: &mut Vec<Record>) {
    let data = Value::Object(record.data.clone());
    let outputs = match program.run(&data, &record, MAX_OUTPUTS_PER_RECORD) {
        Outcome::Values(v) => v,
        Outcome::Error(message) => {
            out.push(Record::rejection(&record, None, message));
            return;
        }
    };
    let several = outputs.len() > 1;
    let start = out.len();
    for (n, value) in outputs.into_iter().enumerate() {
        match output(rule, &record, value, several.then_some(n)) {
            Ok(mut mapped) => {
                mapped.blob.clone_from(&record.blob);
                out.push(mapped);
            }
            Err(message) => {
                // One bad output refuses the whole input record: half of a
                // split record is worse than none.
                out.truncate(start);
                out.push(Record::rejection(&record, None, message));
                return;
            }
        }
    }
}

/// One output value as a record.
fn output(
    rule: &Rule,
    input: &Record,
    value: Value,
    nth: Option<usize>,
) -> std::result::Result<Record, String> {
    let default_key = || {
        input
            .key
            .as_ref()
            .map(|k| nth.map_or(k.clone(), |n| format!("{k}#{n}")))
    };
    let default_stream = || rule.output_stream.clone().unwrap_or(input.stream.clone());
    if rule.envelope {
        let Value::Object(mut envelope) = value else {
            return Err(format!(
                "the program output {}, not an envelope object {{\"stream\", \"key\", \"op\", \"data\"}}",
                kind(&value)
            ));
        };
        let stream = match envelope.remove("stream") {
            Some(Value::String(s)) if !s.is_empty() => s,
            None | Some(Value::Null) => default_stream(),
            Some(other) => {
                return Err(format!(
                    "the envelope's `stream` is {}, not a name",
                    kind(&other)
                ));
            }
        };
        let op = match envelope.remove("op") {
            None | Some(Value::Null) => Op::Upsert,
            Some(Value::String(s)) if s == "upsert" => Op::Upsert,
            Some(Value::String(s)) if s == "delete" => Op::Delete,
            Some(other) => {
                return Err(format!(
                    "the envelope's `op` is {other}, not \"upsert\" or \"delete\""
                ));
            }
        };
        let key = match envelope.remove("key") {
            None | Some(Value::Null) => default_key(),
            Some(v) => {
                Some(scalar_text(&v).ok_or("the envelope's `key` is not a string or number")?)
            }
        };
        let data = match envelope.remove("data") {
            Some(Value::Object(d)) => d,
            None if op == Op::Delete => Map::new(),
            Some(other) => {
                return Err(format!(
                    "the envelope's `data` is {}, not an object",
                    kind(&other)
                ));
            }
            None => return Err("the envelope has no `data`".into()),
        };
        return Ok(Record {
            stream,
            key,
            op,
            data,
            blob: None,
        });
    }
    let Value::Object(data) = value else {
        return Err(format!(
            "the program output {}, not an object",
            kind(&value)
        ));
    };
    let mut mapped = Record::upsert(default_stream(), data);
    mapped.key = match &rule.key {
        Some(pointer) => mapped
            .pointer(pointer)
            .and_then(scalar_text)
            .or_else(default_key),
        None => default_key(),
    };
    Ok(mapped)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn config_schema() -> Value {
    json!({
        "type": "object",
        "required": ["rules"],
        "additionalProperties": false,
        "properties": {
            "rules": {
                "type": "array",
                "minItems": 1,
                "description": "One rule per input stream; the first whose stream matches is used.",
                "items": {
                    "type": "object",
                    "required": ["stream", "program"],
                    "additionalProperties": false,
                    "properties": {
                        "stream": {"type": "string", "description": "Input stream, or * for any."},
                        "program": {"type": "string", "description": "A jq program: the record's data is `.`, each output is a record; `$key`, `$stream` and each lookup table by name are variables; `error(\"why\")` refuses the record."},
                        "output_stream": {"type": "string", "description": "Stream of the outputs (default: the input's)."},
                        "key": {"type": "string", "description": "JSON pointer into an output whose value is its key (default: the input's key)."},
                        "envelope": {"type": "boolean", "default": false, "description": "Outputs are {\"stream\", \"key\", \"op\", \"data\"} envelopes."}
                    }
                }
            },
            "lookups": {
                "type": "object",
                "description": "Lookup tables, each a variable in every program: {\"factors\": {\"445\": 0.233}} is $factors.",
                "additionalProperties": true
            },
            "unmatched": {"type": "string", "enum": ["pass", "drop"], "default": "pass", "description": "Records no rule matches: pass them on or drop them."}
        }
    })
}

wharf_sdk::export_connector!(Jq);
