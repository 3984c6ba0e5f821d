//! The OpenAPI 3.1 document, generated from the route table and from the
//! request and response types themselves (`schemars`): every route, its
//! scope, its path and query parameters with their constraints, its body,
//! its answers, and the problem document of every error. Request bodies are
//! also checked against the same schemas ([`super::json`]), so what the
//! document allows is what the server accepts.

use std::collections::BTreeMap;

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Map, Value, json};

use super::Route;
use super::error::Problem;

/// Builds the schema of one type with a generator (which collects the
/// named types it refers to).
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// The schema of `T`, by reference where `T` is a named type.
pub fn schema<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

/// The schema of `T` inline: for query parameter structs, whose
/// properties become parameters.
pub fn inline<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    T::json_schema(g)
}

/// What a body holds.
#[derive(Clone, Copy)]
pub enum Content {
    /// Nothing (204).
    Empty,
    /// JSON of this schema.
    Json(SchemaFn),
    /// A Wasm component.
    Wasm,
    /// Any bytes (an incoming webhook delivery).
    Bytes,
    /// A CSV file (header row, one row per record) or a JSON array of objects.
    Table,
    /// Prometheus text.
    Prometheus,
    /// Short plain text (a webhook handshake's echo).
    Text,
    /// An HTML page for a person in a browser.
    Html,
}

/// Where the generated schemas are referenced from.
const COMPONENTS: &str = "/components/schemas";

/// Common errors of every authenticated route.
const AUTH_ERRORS: &[u16] = &[400, 401, 403, 429, 500, 503];

/// Common errors of every public route.
const PUBLIC_ERRORS: &[u16] = &[400, 500, 503];

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No content",
        400 => "The request cannot be read (malformed JSON names where)",
        401 => "No API key, or an unknown or revoked one",
        403 => "The API key's scope does not allow this",
        404 => "Not found",
        409 => "Conflicts with the current state",
        413 => "The body is too large",
        415 => "Wrong content type",
        422 => "Well-formed but invalid; `errors` names each field",
        429 => "Rate limited; see `Retry-After`",
        500 => "The server failed; `detail` gives an error id for the operator",
        502 => "An upstream (the OAuth2 provider) failed",
        503 => "Not ready, or the request took too long",
        _ => "",
    }
}

/// A generator for one direction: requests are described as they are
/// deserialized, responses as they are serialized (a field with a default
/// may be left out of a request but is always in a response).
fn generator(requests: bool) -> SchemaGenerator {
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = COMPONENTS.into();
    settings.meta_schema = None;
    if requests {
        settings.for_deserialize().into_generator()
    } else {
        settings.for_serialize().into_generator()
    }
}

fn content(c: Content, g: &mut SchemaGenerator, problem: bool) -> Option<Value> {
    let binary = json!({"type": "string", "contentMediaType": "application/octet-stream"});
    Some(match c {
        Content::Empty => return None,
        Content::Json(f) => {
            let media = if problem {
                "application/problem+json"
            } else {
                "application/json"
            };
            json!({ media: {"schema": f(g)} })
        }
        Content::Wasm => json!({"application/wasm": {"schema": binary}}),
        Content::Bytes => json!({"*/*": {"schema": binary}}),
        Content::Table => json!({
            "text/csv": {"schema": {"type": "string", "description": "a header row, then one row per record"}},
            "application/json": {"schema": {"type": "array", "items": {"type": "object"}}}
        }),
        Content::Prometheus | Content::Text => {
            json!({"text/plain": {"schema": {"type": "string"}}})
        }
        Content::Html => json!({"text/html": {"schema": {"type": "string"}}}),
    })
}

/// Query parameters from the inline schema of a query struct.
fn query_parameters(schema: &Schema) -> Vec<Value> {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    props
        .iter()
        .map(|(name, s)| {
            let mut s = s.clone();
            let description = s
                .as_object_mut()
                .and_then(|o| o.remove("description"))
                .unwrap_or(Value::Null);
            let mut p = json!({
                "name": name,
                "in": "query",
                "required": required.contains(&name.as_str()),
                "schema": s,
            });
            if !description.is_null() {
                p["description"] = description;
            }
            p
        })
        .collect()
}

/// Merge the request-side definitions into the response-side ones. A type
/// described differently in the two directions keeps its name for
/// responses and is renamed `…Input` for requests (with every reference
/// from the request side rewritten).
fn merge_definitions(
    responses: Map<String, Value>,
    requests: Map<String, Value>,
    request_refs: &mut [&mut Value],
) -> Map<String, Value> {
    let renames: BTreeMap<String, String> = requests
        .iter()
        .filter(|(name, schema)| responses.get(*name).is_some_and(|s| s != *schema))
        .map(|(name, _)| (name.clone(), format!("{name}Input")))
        .collect();
    let mut requests = Value::Object(requests);
    let rename = |v: &mut Value| rewrite_refs(v, &renames);
    rename(&mut requests);
    for r in request_refs.iter_mut() {
        rename(r);
    }
    let mut all = responses;
    if let Value::Object(requests) = requests {
        for (name, schema) in requests {
            let name = renames.get(&name).cloned().unwrap_or(name);
            all.insert(name, schema);
        }
    }
    all
}

fn rewrite_refs(v: &mut Value, renames: &BTreeMap<String, String>) {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(r)) = o.get_mut("$ref")
                && let Some(name) = r.strip_prefix(&format!("#{COMPONENTS}/"))
                && let Some(new) = renames.get(name)
            {
                *r = format!("#{COMPONENTS}/{new}");
            }
            for child in o.values_mut() {
                rewrite_refs(child, renames);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|c| rewrite_refs(c, renames)),
        _ => {}
    }
}

/// The document for `routes`.
pub fn document(routes: &[Route]) -> Value {
    let mut requests = generator(true);
    let mut responses = generator(false);
    let problem = content(Content::Json(schema::<Problem>), &mut responses, true);
    let mut paths: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
    // Request-side schemas are collected first, then renamed where needed.
    let mut request_parts: Vec<(&str, String, Value)> = Vec::new();
    for r in routes {
        let mut answers = Map::new();
        for (status, body) in &r.ok {
            let mut resp = json!({"description": reason(*status)});
            if let Some(c) = content(*body, &mut responses, false) {
                resp["content"] = c;
            }
            answers.insert(status.to_string(), resp);
        }
        let common = if r.scope.is_some() {
            AUTH_ERRORS
        } else {
            PUBLIC_ERRORS
        };
        // A query's values are checked: a bad `limit` or `after` is a 422.
        let query_errors: &[u16] = if r.query.is_some() { &[422] } else { &[] };
        // A page for a browser fails with a page, or (from the server's
        // own checks) with a problem document.
        let error_content = if r.ok.iter().any(|(_, c)| matches!(c, Content::Html)) {
            let mut both = problem.clone().unwrap_or_default();
            both["text/html"] = json!({"schema": {"type": "string"}});
            Some(both)
        } else {
            problem.clone()
        };
        for status in common.iter().chain(r.errors).chain(query_errors) {
            answers.insert(
                status.to_string(),
                json!({"description": reason(*status), "content": error_content}),
            );
        }
        let mut params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string", "minLength": 1}}))
            .collect();
        if let Some(q) = r.query {
            params.extend(query_parameters(&q(&mut requests)));
        }
        let method = r.method.as_str().to_lowercase();
        let mut op = json!({
            "summary": r.summary,
            "operationId": format!("{method}_{}", r.path.trim_start_matches("/api/v1/").trim_start_matches('/').replace(['/', '{', '}', '.', '-'], "_")),
            "responses": answers,
        });
        if !params.is_empty() {
            op["parameters"] = json!(params);
        }
        if let Some(body) = r.body
            && let Some(mut c) = content(body, &mut requests, false)
        {
            if matches!(body, Content::Wasm) {
                // Clients that know no Wasm media type send octet-stream.
                c["application/octet-stream"] = c["application/wasm"].clone();
            }
            op["requestBody"] = json!({"required": true, "content": c});
        }
        match r.scope {
            Some(scope) => {
                op["security"] = json!([{"apiKey": []}]);
                op["x-wharf-scope"] = json!(scope.as_str());
            }
            None => op["security"] = json!([]),
        }
        request_parts.push((r.path, method, op));
    }
    let mut ops: Vec<&mut Value> = request_parts.iter_mut().map(|(_, _, op)| op).collect();
    let schemas = merge_definitions(
        responses.take_definitions(true),
        requests.take_definitions(true),
        &mut ops,
    );
    for (path, method, op) in request_parts {
        paths.entry(path).or_default().insert(method, op);
    }
    json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "Wharf admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Upload connectors, configure connections with secrets and grants, run syncs, read their records. Errors are application/problem+json."
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "description": "`Authorization: Bearer wharf_…` (an API key), or a person's ID token from the identity provider when single sign-on is configured"}}
        }
    })
}

/// A validator of JSON against `T`'s request-side schema, with the named
/// types it refers to; built once per type.
pub fn request_validator<T: JsonSchema + 'static>() -> std::sync::Arc<jsonschema::Validator> {
    use std::any::TypeId;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<TypeId, Arc<jsonschema::Validator>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(v) = cache.lock().expect("not poisoned").get(&TypeId::of::<T>()) {
        return v.clone();
    }
    let mut g = generator(true);
    let mut root = g.subschema_for::<T>().to_value();
    if let Value::Object(o) = &mut root {
        o.insert(
            "components".into(),
            json!({"schemas": g.take_definitions(true)}),
        );
    }
    let validator = Arc::new(
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(&root)
            .expect("generated schemas are valid"),
    );
    cache
        .lock()
        .expect("not poisoned")
        .insert(TypeId::of::<T>(), validator.clone());
    validator
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn print_document() {
        if std::env::var("WHARF_PRINT_OPENAPI").is_ok() {
            println!(
                "{}",
                serde_json::to_string_pretty(&document(&super::super::routes())).unwrap()
            );
        }
    }
}
