//! Naming the first difference between what a cassette holds and what a
//! replay did: a JSON value's first differing pointer, a request's first
//! differing part (method, URL, a header, the body).

use serde_json::Value;

use super::{Body, TapedRequest};

/// The first place where `got` differs from `expected`, as
/// "at `/pointer`: expected `…`, got `…`".
pub fn first_difference(expected: &Value, got: &Value) -> Option<String> {
    let (at, e, g) = walk(expected, got, String::new())?;
    let at = if at.is_empty() { "/".to_string() } else { at };
    Some(format!("at `{at}`: expected {e}, got {g}"))
}

fn walk(expected: &Value, got: &Value, at: String) -> Option<(String, String, String)> {
    match (expected, got) {
        (Value::Object(e), Value::Object(g)) => {
            for (k, ev) in e {
                let here = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                match g.get(k) {
                    Some(gv) => {
                        if let Some(d) = walk(ev, gv, here) {
                            return Some(d);
                        }
                    }
                    None => return Some((here, shown(ev), "nothing".into())),
                }
            }
            let extra = g.keys().find(|k| !e.contains_key(*k))?;
            let here = format!("{at}/{}", extra.replace('~', "~0").replace('/', "~1"));
            Some((here, "nothing".into(), shown(&g[extra])))
        }
        (Value::Array(e), Value::Array(g)) => {
            for (i, (ev, gv)) in e.iter().zip(g).enumerate() {
                if let Some(d) = walk(ev, gv, format!("{at}/{i}")) {
                    return Some(d);
                }
            }
            (e.len() != g.len()).then(|| {
                (
                    at,
                    format!("an array of {}", e.len()),
                    format!("an array of {}", g.len()),
                )
            })
        }
        (e, g) if e == g => None,
        (e, g) => Some((at, shown(e), shown(g))),
    }
}

/// A value for a message: its JSON, clipped.
fn shown(v: &Value) -> String {
    format!("`{}`", clip(&v.to_string()))
}

fn clip(text: &str) -> String {
    const MAX: usize = 200;
    if text.len() <= MAX {
        return text.to_string();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The first part of `got` that differs from `expected`, named.
pub fn request_difference(expected: &TapedRequest, got: &TapedRequest) -> Option<String> {
    if !expected.method.eq_ignore_ascii_case(&got.method) {
        return Some(format!(
            "method: expected `{}`, got `{}`",
            expected.method, got.method
        ));
    }
    if expected.url != got.url {
        return Some(format!(
            "url: expected `{}`, got `{}`",
            clip(&expected.url),
            clip(&got.url)
        ));
    }
    if let Some(d) = header_difference(&expected.headers, &got.headers) {
        return Some(d);
    }
    if expected.body != got.body {
        // JSON bodies compare as JSON: spacing and key order are how a
        // serializer writes, not what the request says.
        if let Some(d) = body_difference(expected.body.as_ref(), got.body.as_ref()) {
            return Some(d);
        }
    }
    if expected.body_blob != got.body_blob {
        return Some(format!(
            "body blob: expected {:?}, got {:?}",
            expected.body_blob, got.body_blob
        ));
    }
    if expected.sign != got.sign {
        return Some(format!(
            "signing key: expected {:?}, got {:?}",
            expected.sign, got.sign
        ));
    }
    if expected.keep_body != got.keep_body {
        return Some(format!(
            "keep-body: expected {}, got {}",
            expected.keep_body, got.keep_body
        ));
    }
    None
}

/// Headers compare by name (case-insensitive) and by the order of each
/// name's values; the order of different names does not matter.
fn header_difference(expected: &[(String, String)], got: &[(String, String)]) -> Option<String> {
    let values = |headers: &[(String, String)], name: &str| -> Vec<String> {
        headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .collect()
    };
    let mut names: Vec<String> = expected
        .iter()
        .chain(got)
        .map(|(k, _)| k.to_ascii_lowercase())
        .collect();
    names.sort();
    names.dedup();
    for name in names {
        let (e, g) = (values(expected, &name), values(got, &name));
        if e != g {
            let show = |v: &[String]| match v {
                [] => "no such header".to_string(),
                [one] => format!("`{}`", clip(one)),
                many => format!("{many:?}"),
            };
            return Some(format!(
                "header `{name}`: expected {}, got {}",
                show(&e),
                show(&g)
            ));
        }
    }
    None
}

fn body_difference(expected: Option<&Body>, got: Option<&Body>) -> Option<String> {
    let text = |b: Option<&Body>| match b {
        Some(Body::Text(t)) => Some(t.clone()),
        _ => None,
    };
    if let (Some(e), Some(g)) = (text(expected), text(got))
        && let (Ok(ev), Ok(gv)) = (
            serde_json::from_str::<Value>(&e),
            serde_json::from_str::<Value>(&g),
        )
    {
        return first_difference(&ev, &gv).map(|d| format!("body (JSON) {d}"));
    }
    Some(match (expected, got) {
        (None, _) => "body: expected none, got one".into(),
        (_, None) => "body: expected one, got none".into(),
        (Some(Body::Text(e)), Some(Body::Text(g))) => {
            let at = e
                .bytes()
                .zip(g.bytes())
                .position(|(a, b)| a != b)
                .unwrap_or(e.len().min(g.len()));
            let mut start = at.saturating_sub(20);
            while !e.is_char_boundary(start) || !g.is_char_boundary(start) {
                start -= 1;
            }
            format!(
                "body differs at byte {at}: expected `…{}`, got `…{}`",
                clip(&e[start..]),
                clip(&g[start..])
            )
        }
        _ => "body: the bytes differ".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(url: &str, headers: &[(&str, &str)], body: Option<&str>) -> TapedRequest {
        TapedRequest {
            method: "GET".into(),
            url: url.into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.map(|b| Body::Text(b.into())),
            body_blob: None,
            sign: None,
            keep_body: false,
        }
    }

    #[test]
    fn values_name_the_first_differing_pointer() {
        let e = json!({"records": [{"id": 1, "a/b": "x"}], "more": true});
        assert_eq!(first_difference(&e, &e.clone()), None);
        let g = json!({"records": [{"id": 1, "a/b": "y"}], "more": true});
        assert_eq!(
            first_difference(&e, &g).unwrap(),
            "at `/records/0/a~1b`: expected `\"x\"`, got `\"y\"`"
        );
        let g = json!({"records": [{"id": 1, "a/b": "x"}, {"id": 2}], "more": true});
        assert_eq!(
            first_difference(&e, &g).unwrap(),
            "at `/records`: expected an array of 1, got an array of 2"
        );
        let g = json!({"records": [{"id": 1, "a/b": "x"}], "more": true, "cursor": "c"});
        assert_eq!(
            first_difference(&e, &g).unwrap(),
            "at `/cursor`: expected nothing, got `\"c\"`"
        );
    }

    #[test]
    fn requests_name_what_differs() {
        let e = request(
            "http://a/x?page=1",
            &[("Accept", "json")],
            Some(r#"{"q": 1}"#),
        );
        assert_eq!(request_difference(&e, &e.clone()), None);
        let g = request(
            "http://a/x?page=2",
            &[("Accept", "json")],
            Some(r#"{"q": 1}"#),
        );
        assert_eq!(
            request_difference(&e, &g).unwrap(),
            "url: expected `http://a/x?page=1`, got `http://a/x?page=2`"
        );
        let g = request(
            "http://a/x?page=1",
            &[("accept", "json"), ("X-Trace", "1")],
            Some(r#"{"q":1}"#),
        );
        assert_eq!(
            request_difference(&e, &g).unwrap(),
            "header `x-trace`: expected no such header, got `1`"
        );
        let g = request(
            "http://a/x?page=1",
            &[("accept", "json")],
            Some(r#"{ "q" : 1 }"#),
        );
        assert_eq!(request_difference(&e, &g), None, "the same JSON");
        let g = request(
            "http://a/x?page=1",
            &[("accept", "json")],
            Some(r#"{"q":2}"#),
        );
        assert_eq!(
            request_difference(&e, &g).unwrap(),
            "body (JSON) at `/q`: expected `1`, got `2`"
        );
        let e = request("http://a/x", &[], Some("name=ann&age=3"));
        let g = request("http://a/x", &[], Some("name=ann&age=4"));
        assert_eq!(
            request_difference(&e, &g).unwrap(),
            "body differs at byte 13: expected `…name=ann&age=3`, got `…name=ann&age=4`"
        );
    }
}
