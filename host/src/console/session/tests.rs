//! Sessions and CSRF without a browser: the cookie's attributes, the
//! redirect after sign-in, and the token check.

use axum::http::HeaderMap;

use super::*;

#[test]
fn only_paths_of_this_console_are_followed_after_sign_in() {
    assert_eq!(safe_next(Some("/syncs/1")), "/syncs/1");
    assert_eq!(safe_next(Some("//evil.example/")), "/");
    assert_eq!(safe_next(Some("https://evil.example/")), "/");
    assert_eq!(safe_next(Some("/\\evil.example")), "/");
    assert_eq!(safe_next(None), "/");
    for sneaky in [
        "/\t/evil.example",
        "/\n/evil.example",
        "/ /evil.example",
        "/\r//x",
    ] {
        assert_eq!(safe_next(Some(sneaky)), "/", "{sneaky:?}");
    }
}

#[test]
fn cookies_are_read_by_name() {
    let mut h = HeaderMap::new();
    h.insert(
        header::COOKIE,
        "a=1; wharf_session=abc; b=".parse().unwrap(),
    );
    assert_eq!(cookie(&h, "wharf_session"), Some("abc"));
    assert_eq!(cookie(&h, "b"), None, "an empty cookie is none");
    assert_eq!(cookie(&h, "missing"), None);
}

fn signed(csrf: &str) -> Signed {
    Signed {
        id_hash: "h".into(),
        row: SessionRow {
            owner: SessionOwner::Key("k".into()),
            scope: "read".into(),
            name: "viewer".into(),
            csrf: csrf.into(),
            expires_at: 0,
        },
        scope: Scope::Read,
    }
}

#[test]
fn a_form_without_the_sessions_token_is_forbidden() {
    let s = signed("token-1");
    assert!(s.check_csrf(Some("token-1")).is_ok());
    let refused = s.check_csrf(Some("token-2")).unwrap_err();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        s.check_csrf(None).unwrap_err().status(),
        StatusCode::FORBIDDEN
    );
    assert!(
        s.may(Scope::Read) && !s.may(Scope::Run),
        "a read key offers no actions"
    );
}

#[test]
fn random_tokens_differ() {
    assert_ne!(random_token(), random_token());
    assert_eq!(random_token().len(), 64);
}
