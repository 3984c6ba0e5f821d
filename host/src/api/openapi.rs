//! The OpenAPI 3.1 document, generated from the route table: every route,
//! its scope, its body, its answers, and the problem document of every
//! error.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::Route;

/// Common errors of every authenticated route.
const AUTH_ERRORS: &[u16] = &[400, 401, 403, 429, 500];

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
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
        503 => "Not ready",
        _ => "",
    }
}

/// Schemas of the bodies, by name.
fn schemas() -> Map<String, Value> {
    let string = json!({"type": "string"});
    let int = json!({"type": "integer"});
    let list = |item: &str| {
        json!({"type": "object", "required": ["items"], "properties": {
            "items": {"type": "array", "items": {"$ref": format!("#/components/schemas/{item}")}},
            "next": {"type": "string", "description": "pass as `after` for the next page"}
        }})
    };
    let grants = json!({"type": "object", "properties": {
        "hosts": {"type": "array", "items": {"type": "string"}, "description": "patterns scheme://host[:port], `*.` as subdomain prefix; must fall inside the connector's declared hosts"},
        "networks": {"type": "array", "items": {"type": "string"}, "description": "CIDRs of otherwise blocked networks, e.g. 10.0.0.0/8"}
    }});
    let mut m = Map::new();
    m.insert("Problem".into(), json!({
        "type": "object",
        "description": "RFC 9457 problem details",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": string, "title": string, "status": int, "detail": string,
            "errors": {"type": "array", "items": {"type": "object", "properties": {"field": string, "message": string}}},
            "reason": {"type": "string", "description": "machine-readable cause, where there is one"}
        }
    }));
    m.insert("Connector".into(), json!({
        "type": "object",
        "properties": {
            "name": string, "version": string, "digest": string, "size": int, "created_at": int,
            "spec": {"type": "object", "description": "the connector's spec (see docs/contract.md)"},
            "imports": {"type": "array", "items": string},
            "wasi_imports": {"type": "array", "items": string},
            "component_url": string
        }
    }));
    m.insert("ConnectorList".into(), list("Connector"));
    m.insert("NewConnection".into(), json!({
        "type": "object",
        "required": ["name", "connector"],
        "additionalProperties": false,
        "properties": {
            "name": string,
            "connector": {"type": "string", "description": "name@version"},
            "config": {"type": "object", "description": "validated against the connector's config schema"},
            "secrets": {"type": "object", "additionalProperties": string, "description": "write-only values"},
            "grants": grants
        }
    }));
    m.insert("ConnectionPatch".into(), json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "name": string,
            "config": {"type": "object"},
            "secrets": {"type": "object", "additionalProperties": {"type": ["string", "null"]}, "description": "omitted: kept; null: removed"},
            "grants": grants,
            "status": {"enum": ["active", "inactive"]}
        }
    }));
    m.insert("Connection".into(), json!({
        "type": "object",
        "properties": {
            "id": string, "name": string, "connector": string, "config": {"type": "object"}, "grants": grants,
            "status": {"enum": ["active", "inactive", "error"]}, "status_reason": {"type": ["string", "null"]},
            "checked_at": {"type": ["integer", "null"]},
            "secrets": {"type": "array", "items": {"type": "object", "properties": {"name": string, "updated_at": int}}},
            "created_at": int, "updated_at": int
        }
    }));
    m.insert("ConnectionList".into(), list("Connection"));
    m.insert("CheckResult".into(), json!({
        "type": "object",
        "required": ["ok", "duration_ms", "status"],
        "properties": {"ok": {"type": "boolean"}, "kind": string, "message": string, "duration_ms": int,
            "status": {"enum": ["active", "inactive", "error"]}}
    }));
    m.insert(
        "NewApiKey".into(),
        json!({
            "type": "object", "required": ["name", "scope"], "additionalProperties": false,
            "properties": {"name": string, "scope": {"enum": ["admin", "write", "run", "read"]}}
        }),
    );
    let key = json!({
        "type": "object",
        "properties": {"id": string, "name": string, "scope": string, "created_at": int,
            "last_used_at": {"type": ["integer", "null"]}, "revoked_at": {"type": ["integer", "null"]}}
    });
    m.insert("ApiKey".into(), key);
    m.insert("CreatedApiKey".into(), json!({
        "allOf": [{"$ref": "#/components/schemas/ApiKey"}, {"type": "object", "required": ["key"], "properties": {"key": {"type": "string", "description": "shown once"}}}]
    }));
    m.insert("ApiKeyList".into(), list("ApiKey"));
    m.insert("AuditEntry".into(), json!({
        "type": "object",
        "properties": {"id": int, "at": int, "key_id": {"type": ["string", "null"]}, "action": string, "target": string, "detail": {"type": "object"}}
    }));
    m.insert("AuditList".into(), list("AuditEntry"));
    let schedule = json!({"oneOf": [
        {"type": "object", "required": ["every"], "properties": {"every": {"type": "integer", "minimum": 1, "description": "seconds"}}},
        {"type": "object", "required": ["cron"], "properties": {"cron": {"type": "string", "description": "five fields, UTC"}}},
        {"type": "null"}
    ]});
    let sync_props = json!({
        "name": string,
        "source": {"type": "string", "description": "source connection id"},
        "streams": {"type": "array", "items": string},
        "mode": {"enum": ["full", "incremental"]},
        "mapper": {"type": ["string", "null"], "description": "mapper connection id"},
        "destination": {"type": "string", "description": "destination connection id, or `records` for the built-in records store (default)"},
        "schedule": schedule,
        "enabled": {"type": "boolean"},
        "error_threshold": {"type": "integer", "description": "rejected records tolerated per run; -1: no limit"},
        "retry": {"type": "object", "properties": {"attempts": int, "backoff_ms": int, "max_backoff_ms": int, "run_retries": int, "max_rate_limit_wait_secs": int}},
        "limits": {"type": "object", "description": "per-run limits and the records-store quota; a run that passes one fails with its name", "properties": {"max_records": int, "max_pages": int, "max_bytes": int, "max_duration_secs": int, "max_stored_records": int}},
        "schemas": {"type": "object", "additionalProperties": {"type": "object"}, "description": "JSON Schema per stream"}
    });
    m.insert("NewSync".into(), json!({"type": "object", "required": ["name", "source", "streams"], "properties": sync_props.clone()}));
    m.insert(
        "SyncPatch".into(),
        json!({"type": "object", "properties": sync_props.clone()}),
    );
    let mut sync = sync_props;
    for (k, v) in [
        ("id", string.clone()),
        ("source_id", string.clone()),
        ("mapper_id", json!({"type": ["string", "null"]})),
        ("destination_id", json!({"type": ["string", "null"]})),
        ("next_due_at", json!({"type": ["integer", "null"]})),
        ("cursors", json!({"type": "object"})),
    ] {
        sync[k] = v;
    }
    m.insert("Sync".into(), json!({"type": "object", "properties": sync}));
    m.insert("SyncList".into(), list("Sync"));
    let counters: Map<String, Value> = [
        "pages",
        "fetched",
        "mapped",
        "pushed",
        "created",
        "updated",
        "deleted",
        "unchanged",
        "rejected",
        "http_requests",
        "bytes",
    ]
    .iter()
    .map(|c| (c.to_string(), int.clone()))
    .collect();
    m.insert("Run".into(), json!({"type": "object", "properties": {
        "id": string, "sync_id": string, "trigger": {"enum": ["manual", "schedule", "webhook", "retry"]},
        "status": {"enum": ["queued", "running", "succeeded", "failed", "cancelled"]},
        "attempt": int, "created_at": int, "started_at": {"type": ["integer", "null"]}, "finished_at": {"type": ["integer", "null"]},
        "error_kind": {"type": ["string", "null"]}, "error": {"type": ["string", "null"]},
        "counters": {"type": "object", "properties": counters}, "duration_ms": {"type": ["integer", "null"]}
    }}));
    m.insert("RunList".into(), list("Run"));
    m.insert("LogLine".into(), json!({"type": "object", "properties": {"seq": int, "at": int, "level": string, "source": string, "message": string}}));
    m.insert("LogList".into(), list("LogLine"));
    m.insert("Rejection".into(), json!({"type": "object", "properties": {"stream": string, "index": int, "key": {"type": ["string", "null"]}, "field": {"type": ["string", "null"]}, "message": string}}));
    m.insert("RejectionList".into(), list("Rejection"));
    m.insert("StoredRecord".into(), json!({"type": "object", "properties": {"stream": string, "key": string, "data": {"type": "object"}, "updated_at": int}}));
    m.insert("RecordList".into(), list("StoredRecord"));
    let webhook = json!({"type": "object", "properties": {"id": string, "url": string, "events": {"type": "array", "items": string},
        "networks": {"type": "array", "items": string}, "enabled": {"type": "boolean"}, "disabled_reason": {"type": ["string", "null"]},
        "failing_since": {"type": ["integer", "null"]}, "created_at": int, "updated_at": int}});
    m.insert("Webhook".into(), webhook);
    m.insert("WebhookList".into(), list("Webhook"));
    m.insert("CreatedWebhook".into(), json!({"allOf": [{"$ref": "#/components/schemas/Webhook"}, {"type": "object", "properties": {"secret": {"type": "string", "description": "whsec_…, shown once"}}}]}));
    let webhook_input = json!({"type": "object", "properties": {"url": string, "events": {"type": "array", "items": {"enum": crate::events::EVENTS}},
        "networks": {"type": "array", "items": string, "description": "otherwise blocked networks the URL may resolve to"}, "enabled": {"type": "boolean"}}});
    m.insert("NewWebhook".into(), {
        let mut w = webhook_input.clone();
        w["required"] = json!(["url", "events"]);
        w
    });
    m.insert("WebhookPatch".into(), webhook_input);
    m.insert("Message".into(), json!({"type": "object", "properties": {"id": string, "event": string, "payload": {"type": "object"}, "status": {"enum": ["pending", "delivered", "failed"]},
        "attempts": int, "next_attempt_at": int, "last_status": {"type": ["integer", "null"]}, "last_error": {"type": ["string", "null"]}, "created_at": int, "delivered_at": {"type": ["integer", "null"]}}}));
    m.insert("MessageList".into(), list("Message"));
    m.insert("HookEndpoint".into(), json!({"type": "object", "properties": {"url": string, "path": string, "scheme": string, "secret_set": {"type": "boolean"}}}));
    m.insert("Delivery".into(), json!({"type": "object", "properties": {"delivery_id": string, "received_at": int, "status": string, "detail": {}}}));
    m.insert("DeliveryList".into(), list("Delivery"));
    m.insert("OAuthStart".into(), json!({"type": "object", "properties": {"authorization_url": string, "redirect_uri": string}}));
    m.insert("ImportResult".into(), json!({"type": "object", "properties": {
        "run": string, "rows": int, "imported": int, "created": int, "updated": int, "unchanged": int,
        "rejected": {"type": "array", "items": {"type": "object", "properties": {"row": int, "key": {"type": ["string", "null"]}, "field": {"type": ["string", "null"]}, "message": string}}}
    }}));
    m
}

fn body_content(schema: &str) -> Value {
    match schema {
        "" => Value::Null,
        "wasm" => json!({"application/wasm": {"schema": {"type": "string", "format": "binary"}}}),
        "raw" => json!({"*/*": {"schema": {"type": "string", "format": "binary"}}}),
        "import" => json!({
            "text/csv": {"schema": {"type": "string", "description": "a header row, then one row per record"}},
            "application/json": {"schema": {"type": "array", "items": {"type": "object"}}}
        }),
        name => {
            json!({"application/json": {"schema": {"$ref": format!("#/components/schemas/{name}")}}})
        }
    }
}

/// The document for `routes`.
pub fn document(routes: &[Route]) -> Value {
    let mut paths: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
    for r in routes {
        let mut responses = Map::new();
        for (status, schema) in r.ok {
            let mut resp = json!({"description": reason(*status)});
            let content = body_content(schema);
            if !content.is_null() {
                resp["content"] = content;
            }
            responses.insert(status.to_string(), resp);
        }
        let common: &[u16] = if r.scope.is_some() { AUTH_ERRORS } else { &[] };
        for status in common.iter().chain(r.errors) {
            responses.insert(
                status.to_string(),
                json!({"description": reason(*status), "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}),
            );
        }
        let params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let mut op = json!({
            "summary": r.summary,
            "operationId": format!("{}_{}", r.method.as_str().to_lowercase(), r.path.trim_start_matches("/api/v1/").replace(['/', '{', '}', '.', '-'], "_")),
            "responses": responses,
        });
        if !params.is_empty() {
            op["parameters"] = json!(params);
        }
        if let Some(body) = r.body {
            op["requestBody"] = json!({"required": true, "content": body_content(body)});
        }
        match r.scope {
            Some(scope) => {
                op["security"] = json!([{"apiKey": []}]);
                op["x-wharf-scope"] = json!(scope.as_str());
            }
            None => op["security"] = json!([]),
        }
        paths
            .entry(r.path)
            .or_default()
            .insert(r.method.as_str().to_lowercase(), op);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Wharf admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Upload connectors, configure connections with secrets and grants, check them. Errors are application/problem+json."
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "description": "`Authorization: Bearer wharf_…`"}}
        }
    })
}
