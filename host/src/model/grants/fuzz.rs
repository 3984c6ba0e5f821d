//! Property tests ("fuzz" targets) of host patterns: any text is parsed or
//! refused without panicking, a parsed pattern prints back to itself, a
//! URL's own origin matches it, and `is_within` (which decides whether a
//! grant widens another) never claims a pattern is inside one that does
//! not match everything it matches.
//!
//! `cargo test -p wharf --lib fuzz`; `PROPTEST_CASES=1000000` for a long
//! run (docs/operations.md).

use proptest::prelude::*;

use super::*;

/// Hosts from a small vocabulary, so that patterns and URLs overlap often.
fn host() -> impl Strategy<Value = String> {
    let label = prop::sample::select(vec![
        "a",
        "b",
        "example",
        "com",
        "evil",
        "EXAMPLE",
        "xn--bcher-kva",
        "1",
    ]);
    (prop::collection::vec(label, 1..5), any::<bool>())
        .prop_map(|(labels, dot)| labels.join(".") + if dot { "." } else { "" })
}

fn scheme() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["http", "https", "HTTPS", "ftp"])
}

fn port() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["", ":443", ":80", ":8443", ":0"]).prop_map(str::to_string)
}

fn pattern_text() -> impl Strategy<Value = String> {
    (scheme(), any::<bool>(), host(), port())
        .prop_map(|(s, wild, h, p)| format!("{s}://{}{h}{p}", if wild { "*." } else { "" }))
}

/// Two patterns: unrelated, or the second a wildcard over the first's
/// parent domain (so `is_within` is often true).
fn related_patterns() -> impl Strategy<Value = (String, String)> {
    pattern_text().prop_flat_map(|inner| {
        let widened = match inner.split_once("://") {
            Some((scheme, rest)) => {
                let rest = rest.trim_start_matches("*.");
                match rest.split_once('.') {
                    Some((_, parent)) => format!("{scheme}://*.{parent}"),
                    None => inner.clone(),
                }
            }
            None => inner.clone(),
        };
        (Just(inner), prop_oneof![pattern_text(), Just(widened)])
    })
}

fn url_text() -> impl Strategy<Value = String> {
    (
        scheme(),
        prop::option::of("[a-z.]{1,12}"),
        host(),
        port(),
        "[a-z/@?#.]{0,12}",
    )
        .prop_map(|(s, user, h, p, path)| {
            let user = user.map(|u| format!("{u}@")).unwrap_or_default();
            format!("{s}://{user}{h}{p}/{path}")
        })
}

proptest! {
    #[test]
    fn fuzz_patterns_parse_or_refuse_and_print_back(text in pattern_text(), junk in "\\PC{0,40}") {
        let _ = HostPattern::parse(&junk);
        if let Ok(p) = HostPattern::parse(&text) {
            prop_assert_eq!(HostPattern::parse(&p.to_string()), Ok(p.clone()), "{}", text);
        }
    }

    #[test]
    fn fuzz_a_url_matches_its_own_origin(text in url_text()) {
        if let Ok(url) = Url::parse(&text)
            && let Ok(origin) = HostPattern::origin_of(&url)
        {
            prop_assert!(origin.matches(&url), "{text}");
            prop_assert_eq!(HostPattern::parse(&origin.to_string()), Ok(origin.clone()));
        }
    }

    #[test]
    fn fuzz_wildcards_match_only_proper_subdomains(text in url_text()) {
        let pattern = HostPattern::parse("https://*.example.com").unwrap();
        if let Ok(url) = Url::parse(&text) {
            let host = url.host_str().unwrap_or("").trim_end_matches('.').to_ascii_lowercase();
            let expected = url.scheme() == "https"
                && url.port_or_known_default() == Some(443)
                && host.len() > ".example.com".len()
                && host.ends_with(".example.com");
            prop_assert_eq!(pattern.matches(&url), expected, "{}", text);
        }
    }

    #[test]
    fn fuzz_within_means_every_match_is_a_match((inner, outer) in related_patterns(), urls in prop::collection::vec(url_text(), 1..8)) {
        let (Ok(inner), Ok(outer)) = (HostPattern::parse(&inner), HostPattern::parse(&outer)) else {
            return Ok(());
        };
        prop_assert!(inner.is_within(&inner));
        if inner.is_within(&outer) {
            for text in &urls {
                if let Ok(url) = Url::parse(text) {
                    prop_assert!(!inner.matches(&url) || outer.matches(&url), "{inner} within {outer}, but {url} matches only the first");
                }
            }
            // The origin a pattern names is matched by both.
            if let Ok(url) = Url::parse(&inner.to_string().replace("*.", "x.")) {
                prop_assert!(inner.matches(&url) && outer.matches(&url), "{inner} within {outer}: {url}");
            }
        }
    }
}
