//! The schema-to-form rendering and its way back, without a browser.

use std::collections::BTreeMap;

use serde_json::json;

use super::*;

fn schema() -> Value {
    json!({
        "type": "object",
        "required": ["url", "mode"],
        "properties": {
            "url": {"type": "string", "format": "uri", "description": "API root"},
            "email": {"type": "string", "format": "email"},
            "since": {"type": "string", "format": "date"},
            "limit": {"type": "integer", "default": 100},
            "ratio": {"type": "number"},
            "verbose": {"type": "boolean"},
            "mode": {"enum": ["fast", "safe"]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "ids": {"type": "array", "items": {"type": "integer"}},
            "auth": {"type": "object", "required": ["user"], "properties": {
                "user": {"type": "string", "title": "User name"}
            }},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}}
        }
    })
}

#[test]
fn every_kind_of_property_gets_its_input() {
    let fields = fields_of(&schema());
    let kind = |p: &str| fields.iter().find(|f| f.pointer == p).unwrap().kind.clone();
    assert_eq!(kind("/url"), Kind::Text("url"));
    assert_eq!(kind("/email"), Kind::Text("email"));
    assert_eq!(kind("/since"), Kind::Text("date"));
    assert_eq!(kind("/limit"), Kind::Number { integer: true });
    assert_eq!(kind("/ratio"), Kind::Number { integer: false });
    assert_eq!(kind("/verbose"), Kind::Boolean);
    assert_eq!(
        kind("/mode"),
        Kind::Choice(vec![json!("fast"), json!("safe")])
    );
    assert_eq!(kind("/tags"), Kind::Lines("string"));
    assert_eq!(kind("/headers"), Kind::Json);
    let Kind::Object(inner) = kind("/auth") else {
        panic!("a fieldset")
    };
    assert_eq!(inner[0].pointer, "/auth/user");
    assert_eq!(inner[0].label, "User name");
    assert!(inner[0].required);
    assert!(
        fields
            .iter()
            .find(|f| f.pointer == "/url")
            .unwrap()
            .required
    );

    let html = render(&fields, "config", &Value::Null, &BTreeMap::new()).into_string();
    assert!(html.contains(r#"type="url" name="config/url""#), "{html}");
    assert!(
        html.contains(r#"value="100""#),
        "defaults fill the form: {html}"
    );
    assert!(html.contains("<fieldset><legend>auth</legend>"), "{html}");
    assert!(html.contains("API root"), "descriptions are shown");
}

#[test]
fn errors_show_beside_their_input_and_values_are_escaped() {
    let fields = fields_of(&schema());
    let mut errors = BTreeMap::new();
    errors.insert(
        "/config/limit".to_string(),
        "must be an integer".to_string(),
    );
    let current = json!({"url": "\"><img src=x onerror=alert(1)>"});
    let html = render(&fields, "config", &current, &errors).into_string();
    assert!(html.contains("must be an integer"));
    assert!(html.contains(r#"aria-invalid="true""#));
    assert!(!html.contains("<img"), "a value cannot break out: {html}");
    assert!(html.contains("&quot;&gt;&lt;img"));
}

#[test]
fn the_submitted_form_becomes_typed_json() {
    let fields = fields_of(&schema());
    let pairs: Vec<(String, String)> = [
        ("config/url", "https://example.com"),
        ("config/email", ""),
        ("config/limit", "25"),
        ("config/ratio", "0.5"),
        ("config/verbose", "true"),
        ("config/mode", "safe"),
        ("config/tags", "a\n\n b \n"),
        ("config/ids", "1\n2\nthree"),
        ("config/auth/user", "ann"),
        ("config/headers", r#"{"X-A": "1"}"#),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let v = value_from_form(&fields, "config", &pairs);
    assert_eq!(
        v,
        json!({"url": "https://example.com", "limit": 25, "ratio": 0.5, "verbose": true,
               "mode": "safe", "tags": ["a", "b"], "ids": [1, 2, "three"],
               "auth": {"user": "ann"}, "headers": {"X-A": "1"}})
    );
    // Unchecked is false; a number that does not parse is left for the
    // validator to name.
    let v = value_from_form(&fields, "config", &[("config/limit".into(), "lots".into())]);
    assert_eq!(v["verbose"], false);
    assert_eq!(v["limit"], "lots");
    assert!(
        v.get("auth").is_none(),
        "an empty optional object is left out"
    );
}
