//! The credentials a connector obtained or sent that the session's
//! redactor cannot know, learned from a cassette so that
//! [`Cassette::redacted`] hides them too: credential header values (after
//! their scheme), cookies, and credential fields of JSON and form bodies.

use serde_json::Value;

use super::{Body, Cassette, TapedOutcome};

/// Every credential in `cassette`'s exchanges (see [`Cassette::credentials`]).
pub(super) fn learned(cassette: &Cassette) -> Vec<String> {
    let mut out = Vec::new();
    for e in cassette.calls.iter().flat_map(|c| &c.exchanges) {
        for (name, value) in &e.request.headers {
            learn_header(name, value, &mut out);
        }
        if let Some(Body::Text(text)) = &e.request.body {
            learn_body(text, &mut out);
        }
        if let TapedOutcome::Response { headers, body, .. } = &e.outcome {
            for (name, value) in headers {
                learn_header(name, value, &mut out);
            }
            if let Body::Text(text) = body {
                learn_body(text, &mut out);
            }
        }
    }
    out.retain(|v| v.len() >= 8 && !v.contains("{{") && v != crate::model::redact::REDACTED);
    out.sort();
    out.dedup();
    out
}

/// Whether a header carries credentials, by its name.
fn credential_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    matches!(
        name.as_str(),
        "authorization" | "proxy-authorization" | "cookie" | "set-cookie" | "apikey" | "api-key"
    ) || [
        "token",
        "secret",
        "password",
        "api-key",
        "apikey",
        "session",
        "signature",
    ]
    .iter()
    .any(|w| name.contains(w))
}

/// Whether a JSON or form field holds a credential, by its name.
fn credential_field(name: &str) -> bool {
    let name = name.to_ascii_lowercase().replace('-', "_");
    matches!(name.as_str(), "sid" | "jwt" | "key" | "pin")
        || [
            "token",
            "secret",
            "password",
            "passwd",
            "api_key",
            "apikey",
            "session",
            "assertion",
            "code_verifier",
            "cookie",
            "credential",
        ]
        .iter()
        .any(|w| name.contains(w))
}

fn learn_header(name: &str, value: &str, out: &mut Vec<String>) {
    if !credential_header(name) || value.contains("{{") {
        return;
    }
    let lower = name.to_ascii_lowercase();
    if lower == "cookie" || lower == "set-cookie" {
        // `a=1; b=2` (a request's cookies) or `a=1; Path=/` (a set one).
        let cookies: Vec<&str> = if lower == "cookie" {
            value.split(';').collect()
        } else {
            value.split(';').take(1).collect()
        };
        for c in cookies {
            if let Some((_, v)) = c.split_once('=') {
                out.push(v.trim().trim_matches('"').to_string());
            }
        }
        return;
    }
    // `Bearer x`: the credential is `x`; the scheme stays, so a replay
    // that sends the redacted token reads the same.
    match value.trim().split_once(' ') {
        Some((scheme, rest))
            if scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-') =>
        {
            out.push(rest.trim().to_string())
        }
        _ => out.push(value.trim().to_string()),
    }
}

fn learn_body(text: &str, out: &mut Vec<String>) {
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        learn_json(&v, out);
    } else if text.contains('=') && !text.contains(['{', '<', ' ']) {
        for (k, v) in url::form_urlencoded::parse(text.as_bytes()) {
            if credential_field(&k) {
                out.push(v.into_owned());
            }
        }
    }
}

fn learn_json(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match v {
                    Value::String(s) if credential_field(k) => out.push(s.clone()),
                    other => learn_json(other, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| learn_json(i, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use serde_json::json;

    fn exchange(request_headers: &[(&str, &str)], response: Value) -> Exchange {
        Exchange {
            request: TapedRequest {
                method: "POST".into(),
                url: "https://api.example.com/login".into(),
                headers: request_headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                body: Some(Body::Text(
                    json!({"user": "ann", "password": "{{secret:pw}}"}).to_string(),
                )),
                body_blob: None,
                sign: None,
                keep_body: false,
            },
            outcome: TapedOutcome::Response {
                status: 200,
                headers: vec![(
                    "set-cookie".into(),
                    "session=c00kie-value-77; Path=/; HttpOnly".into(),
                )],
                body: Body::Text(response.to_string()),
                kept: false,
            },
            in_flight: false,
        }
    }

    #[test]
    fn credentials_a_connector_obtained_are_redacted_the_same_everywhere() {
        let cassette = Cassette {
            wharf_cassette: FORMAT,
            connector: TapedConnector {
                name: "x".into(),
                version: "0.1.0".into(),
                digest: String::new(),
            },
            recorded_at_ms: 0,
            config: json!({}),
            limits: Default::default(),
            calls: vec![TapedCall {
                op: "fetch".into(),
                args: Value::Null,
                seed: String::new(),
                wall_clock: Vec::new(),
                monotonic_clock: Vec::new(),
                exchanges: vec![
                    exchange(
                        &[("Authorization", "Basic {{secret:basic}}")],
                        json!({"data": {"access_token": "tok-3b1f9e2a77", "expires_in": 3600}}),
                    ),
                    exchange(
                        &[
                            ("Authorization", "Bearer tok-3b1f9e2a77"),
                            ("Cookie", "session=c00kie-value-77; theme=dark"),
                            ("X-Api-Key", "key-9911aa22bb"),
                        ],
                        json!({"items": []}),
                    ),
                ],
                result: json!({"ok": {"records": [{"data": {"note": "tok-3b1f9e2a77"}}]}}),
                state: Vec::new(),
            }],
        };
        let text = cassette.redacted(&Redactor::new([])).to_json();
        for leaked in ["tok-3b1f9e2a77", "c00kie-value-77", "key-9911aa22bb"] {
            assert!(!text.contains(leaked), "{leaked} in {text}");
        }
        // Placeholders and ordinary words stay.
        assert!(text.contains("Basic {{secret:basic}}"), "{text}");
        assert!(
            text.contains("{{secret:pw}}") && text.contains("theme=dark"),
            "{text}"
        );
        // The token reads the same where it came back and where it went.
        assert!(
            text.contains(r#"\"access_token\":\"[REDACTED]\""#),
            "{text}"
        );
        assert!(text.contains("Bearer [REDACTED]"), "{text}");
    }
}
