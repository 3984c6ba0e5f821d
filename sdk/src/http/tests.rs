//! Unit tests of the request builder: encoding, link headers, placeholder escaping.

use super::*;

#[test]
fn encoding_and_query() {
    assert_eq!(encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    let r = Request::get("https://x.test/p?a=1").query("b", "x y");
    assert_eq!(r.url(), "https://x.test/p?a=1&b=x%20y");
    let r = Request::get("https://x.test/p").query_secret("key", &Secret::new("k"));
    assert_eq!(r.url(), "https://x.test/p?key={{secret:k}}");
}

/// The escaping as it was first written, a character at a time.
fn escape_by_chars(json: &str) -> String {
    let mut out = String::new();
    let mut chars = json.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '{' && chars.peek() == Some(&'{') {
            out.push_str("\\u007b");
        } else {
            out.push(c);
        }
    }
    out
}

proptest::proptest! {
    #[test]
    fn placeholders_escaped_as_by_characters(text in "[{}a é\"\\\\]{0,40}") {
        proptest::prop_assert_eq!(escape_placeholders(&text), escape_by_chars(&text));
    }
}

#[test]
fn placeholder_escaping() {
    assert_eq!(escape_placeholders("{{{"), "\\u007b\\u007b{");
    assert_eq!(
        escape_placeholders(r#"{"a":"{{secret:x}}é"}"#),
        r#"{"a":"\u007b{secret:x}}é"}"#
    );
    assert_eq!(escape_placeholders(""), "");
}

#[test]
fn link_header_parsing() {
    let h =
        r#"<https://x.test/a?page=2&per_page=5>; rel="next", <https://x.test/a?page=9>; rel=last"#;
    assert_eq!(
        link_with_rel(h, "next").unwrap(),
        "https://x.test/a?page=2&per_page=5"
    );
    assert_eq!(link_with_rel(h, "last").unwrap(), "https://x.test/a?page=9");
    assert_eq!(link_with_rel("", "next"), None);
    assert_eq!(link_with_rel("<broken", "next"), None);
}
