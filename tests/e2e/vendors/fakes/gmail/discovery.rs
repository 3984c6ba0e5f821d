//! Requests checked against Google's discovery document for Gmail v1
//! (`tests/e2e/vendors/specs/gmail-v1.json`): the method and path must be
//! one it describes, every query parameter one that method (or the API)
//! takes, with a valid type and enum value, repeated only where it is
//! `repeated`; and the token's scopes must include one the method lists.

use std::sync::OnceLock;

use serde_json::Value;

fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/e2e/vendors/specs/gmail-v1.json");
        serde_json::from_str(&std::fs::read_to_string(path).expect("the Gmail discovery document"))
            .unwrap()
    })
}

/// Every method of a resource tree.
fn methods<'a>(resource: &'a Value, out: &mut Vec<&'a Value>) {
    for m in resource["methods"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
    {
        out.push(m);
    }
    for r in resource["resources"]
        .as_object()
        .into_iter()
        .flat_map(|r| r.values())
    {
        methods(r, out);
    }
}

/// The method `method path` is, if the document describes it.
pub fn find(method: &str, path: &str) -> Option<&'static Value> {
    let rest = path.strip_prefix('/')?;
    let mut all = Vec::new();
    methods(document(), &mut all);
    let parts: Vec<&str> = rest.split('/').collect();
    all.into_iter().find(|m| {
        let template: Vec<&str> = m["path"].as_str().unwrap_or_default().split('/').collect();
        m["httpMethod"] == method
            && template.len() == parts.len()
            && template
                .iter()
                .zip(&parts)
                .all(|(t, p)| (t.starts_with('{') && !p.is_empty()) || t == p)
    })
}

/// What the discovery document says is wrong with a request, if anything.
pub fn violation(method: &str, path: &str, query: &[(String, String)]) -> Option<String> {
    let doc = document();
    let Some(m) = find(method, path) else {
        return Some(format!(
            "{method} {path}: no such method in the discovery document"
        ));
    };
    let id = m["id"].as_str().unwrap_or("?");
    for (i, (k, v)) in query.iter().enumerate() {
        let spec = m["parameters"].get(k).or_else(|| doc["parameters"].get(k));
        let Some(spec) = spec.filter(|s| s["location"] == "query") else {
            return Some(format!("{id}: unknown parameter `{k}`"));
        };
        if spec["repeated"] != true && query[..i].iter().any(|(p, _)| p == k) {
            return Some(format!("{id}: `{k}` given twice, and it is not repeated"));
        }
        let ok = match (spec["type"].as_str(), spec["format"].as_str()) {
            (Some("boolean"), _) => v == "true" || v == "false",
            (Some("integer"), _) => v.parse::<u32>().is_ok(),
            (_, Some("uint64")) => !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()),
            _ => spec["enum"]
                .as_array()
                .is_none_or(|e| e.iter().any(|x| x == v)),
        };
        if !ok {
            return Some(format!("{id}: `{k}={v}` is not a valid {}", spec["type"]));
        }
    }
    None
}

/// Whether a token with `scope` may call the method.
pub fn allowed(method: &Value, scope: &str) -> bool {
    method["scopes"]
        .as_array()
        .is_some_and(|s| s.iter().any(|x| scope.split(' ').any(|g| x == g)))
}

/// The scopes the API defines.
pub fn known_scope(scope: &str) -> bool {
    document()["auth"]["oauth2"]["scopes"].get(scope).is_some()
}

#[test]
fn the_discovery_check_refuses_what_gmail_does_not_describe() {
    let q = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
    };
    let history = q(&[
        ("startHistoryId", "9000"),
        ("historyTypes", "messageAdded"),
        ("historyTypes", "messageDeleted"),
        ("labelId", "INBOX"),
        ("maxResults", "100"),
    ]);
    assert_eq!(
        violation("GET", "/gmail/v1/users/me/history", &history),
        None
    );
    let list = q(&[
        ("labelIds", "INBOX"),
        ("labelIds", "UNREAD"),
        ("q", "has:attachment"),
    ]);
    assert_eq!(violation("GET", "/gmail/v1/users/me/messages", &list), None);
    for (method, path, query) in [
        (
            "GET",
            "/gmail/v1/users/me/history",
            q(&[("historyTypes", "messageMoved")]),
        ),
        (
            "GET",
            "/gmail/v1/users/me/history",
            q(&[("startHistoryId", "abc")]),
        ),
        (
            "GET",
            "/gmail/v1/users/me/messages",
            q(&[("maxResults", "many")]),
        ),
        (
            "GET",
            "/gmail/v1/users/me/messages/18c",
            q(&[("format", "html")]),
        ),
        (
            "GET",
            "/gmail/v1/users/me/messages/18c",
            q(&[("format", "full"), ("format", "raw")]),
        ),
        (
            "GET",
            "/gmail/v1/users/me/messages",
            q(&[("label", "INBOX")]),
        ),
        ("GET", "/gmail/v1/users/me/mailboxes", q(&[])),
        ("PUT", "/gmail/v1/users/me/messages/18c", q(&[])),
    ] {
        assert!(
            violation(method, path, &query).is_some(),
            "{method} {path} {query:?}"
        );
    }
}
