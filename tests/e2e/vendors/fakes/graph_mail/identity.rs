//! The Microsoft identity platform's authorization code flow, as
//! <https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow>
//! describes it, at `/{tenant}/oauth2/v2.0/{authorize,token}`:
//!
//! - the tenant is `common`, `organizations`, the directory's id or its
//!   domain, else `AADSTS90002`; an unknown client, a missing redirect URI
//!   or a response type other than `code` get an error page, not a
//!   redirect; an unknown scope is redirected back as `invalid_scope`
//!   (`AADSTS70011`);
//! - the token endpoint takes a form, the client secret in it (or by
//!   HTTP Basic), else `401 invalid_client` (`AADSTS7000215`); a code is
//!   good once, for 10 minutes, for its redirect URI, and with PKCE only
//!   with the verifier of its challenge (`AADSTS501481`);
//! - a refresh token only with `offline_access`; refreshing returns a new
//!   one (the old one stays good); access tokens last 3599 s; errors carry
//!   `error_codes`, `trace_id` and `correlation_id`.

use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::json;
use sha2::Digest as _;

use super::{CLIENT_ID, CLIENT_SECRET, Graph, TENANT_ID};

/// Scopes the fake's app may ask for.
const SCOPES: &str =
    "openid profile email offline_access User.Read Mail.Read Mail.ReadBasic Mail.ReadWrite";

/// An authorization code's redirect URI, scopes, PKCE challenge, and
/// when it was issued.
pub(super) struct Code {
    redirect_uri: String,
    scope: String,
    challenge: Option<(String, String)>,
    at: Instant,
}

/// `(tenant, "authorize" | "token")` of an identity platform path.
pub(super) fn endpoint(path: &str) -> Option<(&str, &str)> {
    let (tenant, rest) = path.strip_prefix('/')?.split_once('/')?;
    let endpoint = rest.strip_prefix("oauth2/v2.0/")?;
    matches!(endpoint, "authorize" | "token").then_some((tenant, endpoint))
}

fn known_tenant(tenant: &str) -> bool {
    [
        "common",
        "organizations",
        TENANT_ID,
        "contoso.onmicrosoft.com",
    ]
    .iter()
    .any(|t| t.eq_ignore_ascii_case(tenant))
}

/// A scope without Graph's resource prefix.
fn short(scope: &str) -> &str {
    scope
        .strip_prefix("https://graph.microsoft.com/")
        .unwrap_or(scope)
}

fn page(code: u32, what: &str) -> Response {
    let html = format!(
        "<html><body><h1>Sorry, but we're having trouble signing you in.</h1><p>AADSTS{code}: {what}</p></body></html>"
    );
    let typed = [(header::CONTENT_TYPE, "text/html; charset=utf-8")];
    (StatusCode::BAD_REQUEST, typed, html).into_response()
}

fn oauth_error(status: StatusCode, error: &str, code: u32, what: &str) -> Response {
    let trace = "0c7a1f2e-8d3b-4a5c-9e6f-1a2b3c4d5e6f";
    let body = json!({"error": error,
        "error_description": format!("AADSTS{code}: {what} Trace ID: {trace} Correlation ID: {trace} Timestamp: 2026-01-05 10:00:00Z"),
        "error_codes": [code], "timestamp": "2026-01-05 10:00:00Z", "trace_id": trace, "correlation_id": trace,
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}")});
    (status, axum::Json(body)).into_response()
}

pub(super) fn authorize(g: &mut Graph, tenant: &str, query: &[(String, String)]) -> Response {
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if !known_tenant(tenant) {
        return page(90002, &format!("Tenant '{tenant}' not found."));
    }
    if get("client_id") != Some(CLIENT_ID) {
        return page(
            700016,
            "Application with identifier was not found in the directory.",
        );
    }
    let Some(mut back) = get("redirect_uri").and_then(|r| url::Url::parse(r).ok()) else {
        return page(
            50011,
            "The redirect URI specified in the request does not match the redirect URIs configured for the application.",
        );
    };
    if get("response_type") != Some("code") {
        return page(
            900144,
            "The request body must contain the following parameter: 'response_type'.",
        );
    }
    let redirect = get("redirect_uri").unwrap_or_default().to_string();
    let scopes: Vec<&str> = get("scope")
        .unwrap_or_default()
        .split(' ')
        .map(short)
        .collect();
    let known = |s: &&str| SCOPES.split(' ').any(|k| k.eq_ignore_ascii_case(s));
    let challenge = match (get("code_challenge"), get("code_challenge_method")) {
        (Some(c), Some(m @ ("S256" | "plain"))) => Some((c.to_string(), m.to_string())),
        (Some(c), None) => Some((c.to_string(), "plain".to_string())),
        (Some(_), Some(m)) => {
            g.violations.push(format!(
                "code_challenge_method `{m}` is neither S256 nor plain"
            ));
            None
        }
        (None, _) => None,
    };
    {
        let mut pairs = back.query_pairs_mut();
        if scopes.is_empty() || !scopes.iter().all(known) {
            pairs.append_pair("error", "invalid_scope");
            pairs.append_pair(
                "error_description",
                "AADSTS70011: The provided value for the input parameter 'scope' is not valid.",
            );
        } else {
            let code = g.fresh("0.AXEAdUhWbq3mGkuPl8R_");
            let scope = scopes.join(" ");
            g.codes.insert(
                code.clone(),
                Code {
                    redirect_uri: redirect,
                    scope,
                    challenge,
                    at: Instant::now(),
                },
            );
            pairs.append_pair("code", &code);
            pairs.append_pair("session_state", "fe1540c3-a69a-469a-9fa3-8a2470936421");
        }
        if let Some(state) = get("state") {
            pairs.append_pair("state", state);
        }
    }
    (StatusCode::FOUND, [(header::LOCATION, back.to_string())]).into_response()
}

pub(super) fn token(g: &mut Graph, tenant: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    if !known_tenant(tenant) {
        let what = format!("Tenant '{tenant}' not found.");
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", 90002, &what);
    }
    let typed = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    if !typed.starts_with("application/x-www-form-urlencoded") || form.is_empty() {
        let what = "The request body must contain the following parameter: 'grant_type'.";
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", 900144, what);
    }
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
    let (id, secret) = match basic.as_deref().and_then(|b| b.split_once(':')) {
        Some((i, s)) => (Some(i.to_string()), Some(s.to_string())),
        None => (field("client_id"), field("client_secret")),
    };
    if id.as_deref() != Some(CLIENT_ID) {
        let what = "Application with identifier was not found in the directory.";
        return oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client", 700016, what);
    }
    match secret.as_deref() {
        None => {
            let what = "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.";
            return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", 7000218, what);
        }
        Some(s) if s != CLIENT_SECRET => {
            let what = "Invalid client secret provided.";
            return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", 7000215, what);
        }
        Some(_) => {}
    }
    let scope = match field("grant_type").as_deref() {
        Some("authorization_code") => {
            let Some(code) = field("code").and_then(|c| g.codes.remove(&c)) else {
                let what = "The provided authorization code or refresh token has expired or was already redeemed.";
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", 70008, what);
            };
            if code.at.elapsed() > Duration::from_secs(600) {
                let what = "The provided authorization code or refresh token has expired.";
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", 70008, what);
            }
            if field("redirect_uri").as_deref() != Some(code.redirect_uri.as_str()) {
                let what = "The redirect URI does not match the one the code was issued for.";
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", 50011, what);
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
                    let what = "The Code_Verifier does not match the code_challenge supplied in the authorization request.";
                    return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", 501481, what);
                }
            }
            code.scope
        }
        Some("refresh_token") => {
            let presented = field("refresh_token").unwrap_or_default();
            let Some(scope) = g.refresh.get(&presented).cloned() else {
                let what = "The provided value for 'refresh_token' is not valid.";
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", 70000, what);
            };
            g.refreshes += 1;
            scope
        }
        _ => {
            let what = "The provided value for the input parameter 'grant_type' is not valid.";
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                70003,
                what,
            );
        }
    };
    let access = g.fresh("eyJ0eXAiOiJKV1QiLCJub25jZSI6IkZha2UiLCJhbGciOiJSUzI1NiJ9.");
    let until = Instant::now() + Duration::from_secs(3599);
    g.access.insert(access.clone(), (scope.clone(), until));
    g.issued.push(access.clone());
    // The access token's scopes; offline_access and the OpenID ones are
    // not scopes of Graph.
    let granted: Vec<&str> = scope
        .split(' ')
        .filter(|s| !["offline_access", "openid", "profile", "email"].contains(s))
        .collect();
    let mut answer = json!({"token_type": "Bearer", "scope": granted.join(" "), "expires_in": 3599,
        "ext_expires_in": 3599, "access_token": access});
    if scope.split(' ').any(|s| s == "offline_access") {
        let refresh = g.fresh("1.AXEAdUhWbq3mGkuPl8R_refresh.");
        g.refresh.insert(refresh.clone(), scope);
        g.issued.push(refresh.clone());
        answer["refresh_token"] = json!(refresh);
    }
    axum::Json(answer).into_response()
}
