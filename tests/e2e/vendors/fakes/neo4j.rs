//! A fake Neo4j server speaking the HTTP Query API
//! (<https://neo4j.com/docs/query-api/current/>; details and sources in
//! `docs/vendors/neo4j.md`):
//!
//! - `POST /db/{database}/query/v2` with `{"statement", "parameters",
//!   "includeCounters"}`, Basic auth; success is `202` with
//!   `{"data": {"fields", "values"}, "counters": {...}, "bookmarks": [...]}`
//!   (<https://neo4j.com/docs/query-api/current/query/>).
//! - Errors as `{"errors": [{"code": "Neo.ClientError…", "message"}]}`:
//!   `Security.Unauthorized` (401), `Database.DatabaseNotFound` (404),
//!   `Statement.SyntaxError` (400); errors while the statement runs or
//!   commits (`Schema.ConstraintValidationFailed`, `Statement.TypeError`
//!   for a map as a property value) come with `202`, the status having been
//!   sent before the statement ran; a failed statement changes nothing, as
//!   its implicit transaction rolls back
//!   (<https://neo4j.com/docs/query-api/current/errors/>,
//!   <https://neo4j.com/docs/status-codes/current/>).
//!
//! It does not parse Cypher in general: it understands the statement
//! shapes the connector sends (`UNWIND $rows AS row MERGE …`, `… DETACH
//! DELETE n`, relationship `MERGE`/`DELETE`, `RETURN 1 AS ok`) and answers
//! any other statement with `Neo.ClientError.Statement.SyntaxError`, so a
//! statement the connector builds wrongly fails the test.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::support::Upstream;

pub const USER: &str = "neo4j";
pub const PASSWORD: &str = "graph-password-5";

#[derive(Clone, Debug, Default)]
pub struct Node {
    pub label: String,
    pub props: Map<String, Value>,
}

#[derive(Clone, Debug)]
pub struct Relationship {
    pub from: usize,
    pub kind: String,
    pub to: usize,
    pub props: Map<String, Value>,
}

/// The graph, its unique constraints, and each statement with the number
/// of rows it was sent and whether it committed.
#[derive(Clone, Default)]
pub struct Graph {
    pub nodes: Vec<Option<Node>>,
    pub relationships: Vec<Option<Relationship>>,
    /// `(label, property)` pairs that must be unique.
    pub unique: Vec<(String, String)>,
    pub statements: Vec<(String, usize, bool)>,
}

impl Graph {
    pub fn nodes(&self, label: &str) -> Vec<&Node> {
        self.nodes
            .iter()
            .flatten()
            .filter(|n| n.label == label)
            .collect()
    }

    pub fn node(&self, label: &str, key: &str, value: &Value) -> Option<&Node> {
        self.nodes(label)
            .into_iter()
            .find(|n| n.props.get(key) == Some(value))
    }

    pub fn relationships(&self, kind: &str) -> Vec<(&Node, &Node)> {
        self.relationships
            .iter()
            .flatten()
            .filter(|r| r.kind == kind)
            .filter_map(|r| Some((self.nodes[r.from].as_ref()?, self.nodes[r.to].as_ref()?)))
            .collect()
    }

    fn find(&self, label: &str, key: &str, value: &Value) -> Option<usize> {
        self.nodes.iter().position(|n| {
            n.as_ref()
                .is_some_and(|n| n.label == label && n.props.get(key) == Some(value))
        })
    }

    fn merge(&mut self, label: &str, key: &str, value: &Value, counters: &mut Counters) -> usize {
        if let Some(i) = self.find(label, key, value) {
            return i;
        }
        let mut props = Map::new();
        props.insert(key.into(), value.clone());
        self.nodes.push(Some(Node {
            label: label.into(),
            props,
        }));
        counters.nodes_created += 1;
        self.nodes.len() - 1
    }

    fn check_unique(&self) -> Result<(), Failure> {
        for (label, prop) in &self.unique {
            let mut seen = Vec::new();
            for n in self.nodes(label) {
                if let Some(v) = n.props.get(prop) {
                    if seen.contains(&v) {
                        return Err(Failure::client(
                            "Schema.ConstraintValidationFailed",
                            &format!(
                                "Node already exists with label `{label}` and property `{prop}` = {v}"
                            ),
                        ));
                    }
                    seen.push(v);
                }
            }
        }
        Ok(())
    }
}

#[derive(Default)]
struct Counters {
    nodes_created: u64,
    nodes_deleted: u64,
    relationships_created: u64,
    relationships_deleted: u64,
    properties_set: u64,
}

struct Failure {
    status: StatusCode,
    code: String,
    message: String,
}

impl Failure {
    fn client(code: &str, message: &str) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: format!("Neo.ClientError.{code}"),
            message: message.into(),
        }
    }
}

pub type Shared = Arc<Mutex<Graph>>;

pub async fn start(graph: Graph) -> (Upstream, Shared) {
    let shared = Arc::new(Mutex::new(graph));
    let app = Router::new()
        .route("/db/{database}/query/v2", post(query))
        .with_state(shared.clone());
    (Upstream::start(app).await, shared)
}

fn error(f: Failure) -> Response {
    (
        f.status,
        axum::Json(json!({"errors": [{"code": f.code, "message": f.message}]})),
    )
        .into_response()
}

async fn query(
    State(graph): State<Shared>,
    Path(database): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return error(Failure {
            status: StatusCode::UNAUTHORIZED,
            code: "Neo.ClientError.Security.Unauthorized".into(),
            message: "The client is unauthorized due to authentication failure.".into(),
        });
    }
    if database != "neo4j" {
        return error(Failure {
            status: StatusCode::NOT_FOUND,
            code: "Neo.ClientError.Database.DatabaseNotFound".into(),
            message: format!("Database does not exist. Database name: '{database}'."),
        });
    }
    let Ok(request) = serde_json::from_str::<Value>(&body) else {
        return error(Failure::client(
            "Request.InvalidFormat",
            "the body is not JSON",
        ));
    };
    let statement = request["statement"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let rows = request["parameters"]["rows"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut g = graph.lock().unwrap();
    // The statement runs on a copy that replaces the graph only if it
    // succeeds: its implicit transaction commits or rolls back whole.
    let mut work = g.clone();
    let mut counters = Counters::default();
    let outcome =
        execute(&mut work, &statement, &rows, &mut counters).and_then(|()| work.check_unique());
    g.statements.push((statement, rows.len(), outcome.is_ok()));
    match outcome {
        // The status went out before the statement ran: errors while it
        // runs or commits come with 202, and it rolled back.
        Err(f)
            if f.code.starts_with("Neo.ClientError.Schema.")
                || f.code.ends_with("Statement.TypeError") =>
        {
            (
                StatusCode::ACCEPTED,
                axum::Json(json!({"errors": [{"code": f.code, "message": f.message}]})),
            )
                .into_response()
        }
        Err(f) => error(f),
        Ok(()) => {
            let statements = std::mem::take(&mut g.statements);
            *g = work;
            g.statements = statements;
            let ok = request["statement"] == "RETURN 1 AS ok";
            let c = &counters;
            let answer = json!({
                "data": {"fields": if ok { json!(["ok"]) } else { json!([]) }, "values": if ok { json!([[1]]) } else { json!([]) }},
                "counters": {
                    "containsUpdates": c.nodes_created + c.nodes_deleted + c.properties_set + c.relationships_created + c.relationships_deleted > 0,
                    "nodesCreated": c.nodes_created, "nodesDeleted": c.nodes_deleted,
                    "propertiesSet": c.properties_set,
                    "relationshipsCreated": c.relationships_created, "relationshipsDeleted": c.relationships_deleted,
                    "labelsAdded": c.nodes_created, "labelsRemoved": 0, "indexesAdded": 0, "indexesRemoved": 0,
                    "constraintsAdded": 0, "constraintsRemoved": 0, "containsSystemUpdates": false, "systemUpdates": 0
                },
                "bookmarks": ["FB:kcwQ"]
            });
            (StatusCode::ACCEPTED, axum::Json(answer)).into_response()
        }
    }
}

/// Read a backtick-quoted identifier at the start of `s`; it and the rest.
fn ident(s: &str) -> Option<(String, &str)> {
    let mut rest = s.strip_prefix('`')?;
    let mut out = String::new();
    loop {
        let end = rest.find('`')?;
        out.push_str(&rest[..end]);
        rest = &rest[end + 1..];
        match rest.strip_prefix('`') {
            Some(more) => {
                out.push('`');
                rest = more;
            }
            None => return Some((out, rest)),
        }
    }
}

/// `:`Label` {`key`: row.FIELD}` → (label, key, field) and the rest.
fn pattern(s: &str) -> Option<(String, String, String, &str)> {
    let (label, rest) = ident(s.strip_prefix(':')?)?;
    let (key, rest) = ident(rest.strip_prefix(" {")?)?;
    let rest = rest.strip_prefix(": row.")?;
    let end = rest.find('}')?;
    Some((label, key, rest[..end].to_string(), &rest[end + 1..]))
}

fn syntax(statement: &str) -> Failure {
    Failure::client(
        "Statement.SyntaxError",
        &format!("this fake does not understand: {statement}"),
    )
}

fn execute(
    g: &mut Graph,
    statement: &str,
    rows: &[Value],
    c: &mut Counters,
) -> Result<(), Failure> {
    if statement == "RETURN 1 AS ok" {
        return Ok(());
    }
    if rows.iter().any(|r| !r.is_object()) {
        return Err(Failure::client("Statement.TypeError", "rows must be maps"));
    }
    let body = statement
        .strip_prefix("UNWIND $rows AS row ")
        .ok_or_else(|| syntax(statement))?;
    if let Some(rest) = body.strip_prefix("MERGE (n") {
        let (label, key, field, rest) = pattern(rest).ok_or_else(|| syntax(statement))?;
        if rest != ") SET n += row.props" || field != "key" {
            return Err(syntax(statement));
        }
        for row in rows {
            let i = g.merge(&label, &key, &row["key"], c);
            set(&mut g.nodes[i].as_mut().unwrap().props, &row["props"], c)?;
        }
        return Ok(());
    }
    if let Some(rest) = body.strip_prefix("MATCH (n") {
        let (label, key, _, rest) = pattern(rest).ok_or_else(|| syntax(statement))?;
        if rest != ") DETACH DELETE n" {
            return Err(syntax(statement));
        }
        for row in rows {
            if let Some(i) = g.find(&label, &key, &row["key"]) {
                g.nodes[i] = None;
                c.nodes_deleted += 1;
                for r in g.relationships.iter_mut() {
                    if r.as_ref().is_some_and(|r| r.from == i || r.to == i) {
                        *r = None;
                        c.relationships_deleted += 1;
                    }
                }
            }
        }
        return Ok(());
    }
    if let Some(rest) = body.strip_prefix("MERGE (a") {
        let (a_label, a_key, a_field, rest) = pattern(rest).ok_or_else(|| syntax(statement))?;
        let rest = rest
            .strip_prefix(") MERGE (b")
            .ok_or_else(|| syntax(statement))?;
        let (b_label, b_key, b_field, rest) = pattern(rest).ok_or_else(|| syntax(statement))?;
        let rest = rest
            .strip_prefix(") MERGE (a)-[r:")
            .ok_or_else(|| syntax(statement))?;
        let (kind, rest) = ident(rest).ok_or_else(|| syntax(statement))?;
        if rest != "]->(b) SET r += row.props" || a_field != "from" || b_field != "to" {
            return Err(syntax(statement));
        }
        for row in rows {
            let a = g.merge(&a_label, &a_key, &row["from"], c);
            let b = g.merge(&b_label, &b_key, &row["to"], c);
            let existing = g.relationships.iter().position(|r| {
                r.as_ref()
                    .is_some_and(|r| r.from == a && r.to == b && r.kind == kind)
            });
            let i = match existing {
                Some(i) => i,
                None => {
                    g.relationships.push(Some(Relationship {
                        from: a,
                        kind: kind.clone(),
                        to: b,
                        props: Map::new(),
                    }));
                    c.relationships_created += 1;
                    g.relationships.len() - 1
                }
            };
            set(
                &mut g.relationships[i].as_mut().unwrap().props,
                &row["props"],
                c,
            )?;
        }
        return Ok(());
    }
    if let Some(rest) = body.strip_prefix("MATCH (a") {
        let (a_label, a_key, _, rest) = pattern(rest).ok_or_else(|| syntax(statement))?;
        let rest = rest
            .strip_prefix(")-[r:")
            .ok_or_else(|| syntax(statement))?;
        let (kind, rest) = ident(rest).ok_or_else(|| syntax(statement))?;
        let rest = rest
            .strip_prefix("]->(b")
            .ok_or_else(|| syntax(statement))?;
        let (b_label, b_key, _, rest) = pattern(rest).ok_or_else(|| syntax(statement))?;
        if rest != ") DELETE r" {
            return Err(syntax(statement));
        }
        for row in rows {
            let (Some(a), Some(b)) = (
                g.find(&a_label, &a_key, &row["from"]),
                g.find(&b_label, &b_key, &row["to"]),
            ) else {
                continue;
            };
            for r in g.relationships.iter_mut() {
                if r.as_ref()
                    .is_some_and(|r| r.from == a && r.to == b && r.kind == kind)
                {
                    *r = None;
                    c.relationships_deleted += 1;
                }
            }
        }
        return Ok(());
    }
    Err(syntax(statement))
}

/// `SET x += $map`: a property cannot hold a map; `null` removes it.
fn set(props: &mut Map<String, Value>, values: &Value, c: &mut Counters) -> Result<(), Failure> {
    let Some(values) = values.as_object() else {
        return Err(Failure::client(
            "Statement.TypeError",
            "Expected a map for +=",
        ));
    };
    for (k, v) in values {
        let nested = match v {
            Value::Object(_) => true,
            Value::Array(items) => items.iter().any(|i| i.is_object() || i.is_array()),
            _ => false,
        };
        if nested {
            return Err(Failure::client(
                "Statement.TypeError",
                &format!(
                    "Property values can only be of primitive types or arrays thereof. Encountered: {v}."
                ),
            ));
        }
        if v.is_null() {
            props.remove(k);
        } else {
            props.insert(k.clone(), v.clone());
        }
        c.properties_set += 1;
    }
    Ok(())
}
