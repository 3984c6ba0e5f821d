//! A jq program compiled with jaq, and run on one record's data: values
//! converted between serde_json and jaq directly (no text in between),
//! errors in jq's own words with the place in the program.

use std::collections::BTreeMap;

use jaq_core::load::{self, Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Native, Vars, compile, data, unwrap_valr};
use jaq_json::{Num, Val};
use wharf_sdk::{Map, Record, Value};

type Data = data::JustLut<Val>;

/// The variables every program sees before the lookup tables.
const RECORD_VARIABLES: [&str; 2] = ["key", "stream"];

/// A compiled program with its lookup tables as jaq values.
pub struct Compiled {
    filter: compile::Filter<Native<Data>>,
    lookups: Vec<Val>,
}

/// What a program made of one record.
pub enum Outcome {
    /// Its outputs, in order.
    Values(Vec<Value>),
    /// Why the record is refused.
    Error(String),
}

/// Whether `name` can be a jq variable (`$name`) and is not one of ours.
pub fn check_variable(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "`{name}` cannot be a jq variable: use letters, digits and `_`, not starting with a digit"
        ));
    }
    if RECORD_VARIABLES.contains(&name) {
        return Err(format!(
            "`{name}` is taken: every program sees the record's `${name}`"
        ));
    }
    Ok(())
}

impl Compiled {
    /// Compile `code`, with `$key`, `$stream` and each lookup table as
    /// variables.
    pub fn new(code: &str, lookups: &BTreeMap<String, Value>) -> Result<Self, String> {
        let names: Vec<String> = RECORD_VARIABLES
            .iter()
            .map(|n| format!("${n}"))
            .chain(lookups.keys().map(|n| format!("${n}")))
            .collect();
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs());
        let funs = jaq_core::funs()
            .chain(jaq_std::funs())
            .chain(jaq_json::funs());
        let arena = Arena::default();
        let modules = Loader::new(defs)
            .load(&arena, File { code, path: () })
            .map_err(|errors| describe_load(code, errors))?;
        let filter = Compiler::default()
            .with_funs(funs)
            .with_global_vars(names.iter().map(String::as_str))
            .compile(modules)
            .map_err(|errors| {
                let undefined: Vec<String> = errors
                    .into_iter()
                    .flat_map(|(_, list)| list)
                    .map(|(name, what)| {
                        format!(
                            "undefined {} `{name}` at {}",
                            what.as_str(),
                            place(code, name)
                        )
                    })
                    .collect();
                undefined.join("; ")
            })?;
        Ok(Self {
            filter,
            lookups: lookups.values().map(to_jaq).collect(),
        })
    }

    /// Run on `data` (the record's fields) with the record's variables; at
    /// most `max_outputs` outputs.
    pub fn run(&self, data: &Value, record: &Record, max_outputs: usize) -> Outcome {
        let text =
            |s: Option<&String>| s.map_or(Val::Null, |s| Val::utf8_str(s.clone().into_bytes()));
        let vars = [text(record.key.as_ref()), text(Some(&record.stream))]
            .into_iter()
            .chain(self.lookups.iter().cloned());
        let ctx = Ctx::<Data>::new(&self.filter.lut, Vars::new(vars));
        let mut values = Vec::new();
        for result in self.filter.id.run((ctx, to_jaq(data))).map(unwrap_valr) {
            if values.len() == max_outputs {
                return Outcome::Error(format!(
                    "the program made more than {max_outputs} records of one record"
                ));
            }
            match result {
                Ok(v) => match from_jaq(&v) {
                    Ok(v) => values.push(v),
                    Err(e) => return Outcome::Error(e),
                },
                Err(e) => {
                    // `error("why")` carries a string: say it as it is,
                    // without the quotes of its JSON form.
                    let message = match e.into_val() {
                        Val::TStr(s) => String::from_utf8_lossy(&s).into_owned(),
                        other => format!("jq error: {other}"),
                    };
                    return Outcome::Error(message);
                }
            }
        }
        Outcome::Values(values)
    }
}

/// Line and column of `part`, a slice of `code`.
fn place(code: &str, part: &str) -> String {
    let start = load::span(code, part).start.min(code.len());
    let before = &code[..start];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("line {line}, column {column}")
}

fn describe_load(code: &str, errors: load::Errors<&str, ()>) -> String {
    let mut parts = Vec::new();
    for (_, error) in errors {
        match error {
            load::Error::Io(list) => parts.extend(
                list.into_iter()
                    .map(|(path, e)| format!("cannot import `{path}`: {e}")),
            ),
            load::Error::Lex(list) => parts.extend(list.into_iter().map(|(expected, found)| {
                format!("expected {} at {}", expected.as_str(), place(code, found))
            })),
            load::Error::Parse(list) => parts.extend(list.into_iter().map(|(expected, found)| {
                let what = if found.is_empty() {
                    "the end of the program".to_string()
                } else {
                    format!("`{}`", found.chars().take(20).collect::<String>())
                };
                format!(
                    "expected {} but found {what} at {}",
                    expected.as_str(),
                    place(code, found)
                )
            })),
        }
    }
    format!("the jq program does not parse: {}", parts.join("; "))
}

/// A serde_json value as a jaq value.
fn to_jaq(value: &Value) -> Val {
    match value {
        Value::Null => Val::Null,
        Value::Bool(b) => Val::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Val::Num(Num::from_integral(i)),
            (None, Some(u)) => Val::Num(Num::from_integral(u)),
            _ => Val::from(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Val::utf8_str(s.clone().into_bytes()),
        Value::Array(items) => items.iter().map(to_jaq).collect(),
        Value::Object(fields) => Val::obj(
            fields
                .iter()
                .map(|(k, v)| (Val::utf8_str(k.clone().into_bytes()), to_jaq(v)))
                .collect(),
        ),
    }
}

/// A jaq value as a serde_json value; JSON has no NaN or infinities (jq
/// writes them as null and the largest float).
fn from_jaq(value: &Val) -> Result<Value, String> {
    Ok(match value {
        Val::Null => Value::Null,
        Val::Bool(b) => Value::Bool(*b),
        Val::Num(n) => number(n),
        Val::TStr(s) | Val::BStr(s) => Value::String(String::from_utf8_lossy(s).into_owned()),
        Val::Arr(items) => Value::Array(items.iter().map(from_jaq).collect::<Result<_, _>>()?),
        Val::Obj(fields) => {
            let mut map = Map::new();
            for (k, v) in fields.iter() {
                let key = match k {
                    Val::TStr(s) | Val::BStr(s) => String::from_utf8_lossy(s).into_owned(),
                    other => return Err(format!("an object key is {other}, not a string")),
                };
                map.insert(key, from_jaq(v)?);
            }
            Value::Object(map)
        }
    })
}

fn number(n: &Num) -> Value {
    match n {
        Num::Int(i) => Value::from(*i as i64),
        Num::Float(x) if x.is_nan() => Value::Null,
        Num::Float(x) => Value::from(x.clamp(f64::MIN, f64::MAX)),
        other => {
            let text = other.to_string();
            serde_json::from_str::<serde_json::Number>(&text)
                .map(Value::Number)
                .unwrap_or_else(|_| text.parse::<f64>().map_or(Value::Null, Value::from))
        }
    }
}
