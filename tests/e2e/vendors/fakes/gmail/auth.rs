//! Google's OAuth 2.0 for web server apps
//! (<https://developers.google.com/identity/protocols/oauth2/web-server>):
//! `GET /o/oauth2/v2/auth` and `POST /token`.
//!
//! - An unknown client or a response type other than `code` gets an error
//!   page; a scope Gmail's discovery document does not define is sent back
//!   as `error=invalid_scope`.
//! - A refresh token is issued only with `access_type=offline`, and again
//!   on a later consent only with `prompt=consent`; refreshing returns a
//!   new access token and no new refresh token.
//! - PKCE: a code issued for a `code_challenge` (S256 or plain) is
//!   redeemed only with its `code_verifier` (`invalid_grant`).
//! - The client by `client_id`/`client_secret` in the form or HTTP Basic,
//!   else `401 invalid_client`; access tokens last 3599 s.

use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::json;
use sha2::Digest as _;

use super::discovery::known_scope;
use super::{CLIENT_ID, CLIENT_SECRET, Gmail};

/// A code's redirect URI, scope, PKCE challenge, whether it is offline,
/// and when it was issued.
pub(super) struct Code {
    redirect_uri: String,
    scope: String,
    challenge: Option<(String, String)>,
    offline: bool,
    at: Instant,
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = json!({"error": error, "error_description": description});
    (status, axum::Json(body)).into_response()
}

pub(super) fn authorize(g: &mut Gmail, query: &[(String, String)]) -> Response {
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let page = |what: &str| {
        let html = format!(
            "<html><body><h1>Access blocked: authorization error</h1><p>{what}</p></body></html>"
        );
        let typed = [(header::CONTENT_TYPE, "text/html; charset=utf-8")];
        (StatusCode::BAD_REQUEST, typed, html).into_response()
    };
    if get("client_id") != Some(CLIENT_ID) {
        return page("Error 401: invalid_client. The OAuth client was not found.");
    }
    if get("response_type") != Some("code") {
        return page("Error 400: invalid_request. Missing required parameter: response_type");
    }
    let Some(mut back) = get("redirect_uri").and_then(|r| url::Url::parse(r).ok()) else {
        return page("Error 400: redirect_uri_mismatch");
    };
    let redirect = get("redirect_uri").unwrap_or_default().to_string();
    let scope = get("scope").unwrap_or_default().to_string();
    let challenge = get("code_challenge").map(|c| {
        let method = get("code_challenge_method").unwrap_or("plain");
        if method != "S256" && method != "plain" {
            g.violations.push(format!(
                "code_challenge_method `{method}` is neither S256 nor plain"
            ));
        }
        (c.to_string(), method.to_string())
    });
    {
        let mut pairs = back.query_pairs_mut();
        if let Some(state) = get("state") {
            pairs.append_pair("state", state);
        }
        if scope.is_empty() || !scope.split(' ').all(known_scope) {
            pairs.append_pair("error", "invalid_scope");
        } else {
            let code = g.fresh("4/0AeanS0");
            g.codes.insert(
                code.clone(),
                Code {
                    redirect_uri: redirect,
                    scope: scope.clone(),
                    challenge,
                    offline: get("access_type") == Some("offline")
                        && (get("prompt") == Some("consent") || g.consents == 0),
                    at: Instant::now(),
                },
            );
            g.consents += 1;
            pairs.append_pair("code", &code);
            pairs.append_pair("scope", &scope);
        }
    }
    (StatusCode::FOUND, [(header::LOCATION, back.to_string())]).into_response()
}

pub(super) fn token(g: &mut Gmail, headers: &HeaderMap, body: &[u8]) -> Response {
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok());
    let client_ok = match basic.as_deref().and_then(|b| b.split_once(':')) {
        Some((i, s)) => i == CLIENT_ID && s == CLIENT_SECRET,
        None => {
            field("client_id").as_deref() == Some(CLIENT_ID)
                && field("client_secret").as_deref() == Some(CLIENT_SECRET)
        }
    };
    if !client_ok {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The OAuth client was not found.",
        );
    }
    let (scope, refresh) = match field("grant_type").as_deref() {
        Some("authorization_code") => {
            let Some(code) = field("code").and_then(|c| g.codes.remove(&c)) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Malformed auth code.",
                );
            };
            if code.at.elapsed() > Duration::from_secs(600)
                || field("redirect_uri").as_deref() != Some(code.redirect_uri.as_str())
            {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Bad Request");
            }
            if let Some((challenge, method)) = &code.challenge {
                let verifier = field("code_verifier").unwrap_or_default();
                let derived = if method == "S256" {
                    let digest = sha2::Sha256::digest(verifier.as_bytes());
                    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
                } else {
                    verifier
                };
                if derived != *challenge {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "Invalid code verifier.",
                    );
                }
            }
            let refresh = code.offline.then(|| {
                let r = g.fresh("1//0gFakeGmailRefresh-");
                g.refresh.insert(r.clone(), code.scope.clone());
                g.issued.push(r.clone());
                r
            });
            (code.scope, refresh)
        }
        Some("refresh_token") => {
            let presented = field("refresh_token").unwrap_or_default();
            let Some(scope) = g.refresh.get(&presented).cloned() else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Token has been expired or revoked.",
                );
            };
            g.refreshes += 1;
            (scope, None)
        }
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Invalid grant_type.",
            );
        }
    };
    let access = g.fresh("ya29.a0AeDClZFakeGmail-");
    g.access.insert(
        access.clone(),
        (scope.clone(), Instant::now() + Duration::from_secs(3599)),
    );
    g.issued.push(access.clone());
    let mut answer =
        json!({"access_token": access, "expires_in": 3599, "scope": scope, "token_type": "Bearer"});
    if let Some(r) = refresh {
        answer["refresh_token"] = json!(r);
    }
    axum::Json(answer).into_response()
}
