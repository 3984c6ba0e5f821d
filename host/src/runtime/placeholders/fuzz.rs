//! Property tests ("fuzz" targets, on the stable toolchain) of placeholder
//! parsing and its encoders: text from outside (a connector's request)
//! never panics the parser, every placeholder it reports is one, and no
//! value, whatever it holds, can leave the place it is encoded for.
//!
//! `cargo test -p wharf --lib fuzz` runs every target with proptest's
//! default budget; `PROPTEST_CASES=1000000` makes it a long run
//! (docs/operations.md).

use proptest::prelude::*;

use super::*;

/// Texts made of the pieces placeholders are made of, so that near misses
/// (`{{{secret:`, `{{basic:a:b:c}}`, `|nope`, unclosed) come up often.
fn template() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("{{".to_string()),
        Just("}}".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just("secret:".to_string()),
        Just("basic:".to_string()),
        Just("oauth:access_token".to_string()),
        Just("session:token".to_string()),
        Just(":".to_string()),
        Just("|".to_string()),
        Just("url".to_string()),
        Just("json".to_string()),
        Just("base64".to_string()),
        Just("{{secret:".to_string()),
        Just("{{basic:".to_string()),
        Just("path".to_string()),
        "[a-z_]{0,4}",
        "\\PC{0,3}",
    ];
    prop::collection::vec(piece, 0..24).prop_map(|p| p.concat())
}

/// Whether `text` holds the start of one of our placeholders.
fn opens_one(text: &str) -> bool {
    KINDS.iter().any(|k| text.contains(&format!("{{{{{k}:")))
}

/// A placeholder written out from its parsed parts.
fn spelled(p: &Placeholder<'_>) -> String {
    let body = match p.source {
        Source::Secret(name) => format!("secret:{name}"),
        Source::Basic(user, password) => format!("basic:{user}:{password}"),
        Source::OAuth => "oauth:access_token".to_string(),
        Source::Session => "session:token".to_string(),
    };
    let encoder = match p.encoding {
        None => "",
        Some(Encoding::Raw) => "|raw",
        Some(Encoding::Url) => "|url",
        Some(Encoding::Path) => "|path",
        Some(Encoding::Form) => "|form",
        Some(Encoding::Json) => "|json",
        Some(Encoding::Base64) => "|base64",
    };
    format!("{{{{{body}{encoder}}}}}")
}

proptest! {
    #[test]
    fn fuzz_placeholders_are_found_whole_or_refused(text in template()) {
        let mut at = 0;
        loop {
            match next(&text, at) {
                Ok(Some(p)) => {
                    prop_assert!(p.start >= at);
                    // The span is exactly the placeholder its parts spell.
                    let span = &text[p.start..p.start + p.len];
                    prop_assert_eq!(span, spelled(&p), "in {:?}", text);
                    // Nothing of ours was skipped before it.
                    prop_assert!(!opens_one(&text[at..p.start]));
                    at = p.start + p.len;
                }
                Ok(None) => {
                    prop_assert!(!opens_one(&text[at..]), "{:?}", text);
                    break;
                }
                Err(_) => {
                    // Refused only where one of ours starts.
                    prop_assert!(opens_one(&text[at..]), "{:?}", text);
                    break;
                }
            }
        }
    }

    #[test]
    fn fuzz_encoders_round_trip_and_keep_their_place(value in "\\PC{0,40}|[/.?#%&=+\" \\\\]{0,12}") {
        let url = Encoding::Url.apply(&value, "v").unwrap();
        prop_assert!(url.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'%'));
        prop_assert_eq!(percent_encoding::percent_decode_str(&url).decode_utf8().unwrap(), value.as_str());

        match Encoding::Path.apply(&value, "v") {
            Ok(path) => {
                prop_assert!(!path.contains(['?', '#']));
                prop_assert!(!path.split('/').any(|s| s == ".." || s == "."));
                prop_assert_eq!(percent_encoding::percent_decode_str(&path).decode_utf8().unwrap(), value.as_str());
            }
            Err(_) => prop_assert!(
                value.contains(['?', '#']) || value.split('/').any(|s| s == ".." || s == ".")
            ),
        }

        let form = Encoding::Form.apply(&value, "v").unwrap();
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(format!("k={form}&n=1").as_bytes())
            .into_owned()
            .collect();
        prop_assert_eq!(pairs, vec![("k".to_string(), value.clone()), ("n".to_string(), "1".to_string())]);

        // Inside a JSON login body: one string, the same keys.
        let json = Encoding::Json.apply(&value, "v").unwrap();
        let body: serde_json::Value =
            serde_json::from_str(&format!(r#"{{"password":"{json}","n":1}}"#)).unwrap();
        prop_assert_eq!(body.as_object().unwrap().len(), 2);
        prop_assert_eq!(body["password"].as_str().unwrap(), value.as_str());

        let b64 = Encoding::Base64.apply(&value, "v").unwrap();
        prop_assert_eq!(base64::engine::general_purpose::STANDARD.decode(b64.as_bytes()).unwrap(), value.as_bytes());

        // In a URL: the host, the path's first segment and the query's
        // keys stay what the template says.
        if let Ok(path) = Encoding::Path.apply(&value, "v") {
            let text = format!("https://api.example.com/items/{path}?q={url}&n=1");
            let parsed = url::Url::parse(&text).unwrap();
            prop_assert_eq!(parsed.host_str(), Some("api.example.com"));
            prop_assert!(parsed.path().starts_with("/items/"));
            let query: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
            prop_assert_eq!(query, vec![("q".to_string(), value.clone()), ("n".to_string(), "1".to_string())]);
        }
    }
}
