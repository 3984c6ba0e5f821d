//! A strict OAuth2 provider on loopback, as RFC 6749 (authorization code
//! grant, §4.1; refreshing, §6; error responses, §5.2) and RFC 7636 (PKCE
//! S256) describe it: it refuses what a real provider refuses, so a host
//! that forgets a parameter fails here too.
//!
//! - `GET /authorize` needs `response_type=code`, the registered client id,
//!   a `redirect_uri`, a `state` and an S256 `code_challenge`; it redirects
//!   back with a fresh single-use code.
//! - `POST /token` authenticates the client (`client_secret_post` in the
//!   form, or HTTP Basic), and for `authorization_code` checks that the code
//!   is one it issued and unused, that `redirect_uri` is the one the code was
//!   issued for, and that `code_verifier` hashes to the challenge. Refresh
//!   tokens may rotate; a reused one revokes the family (as providers that
//!   detect token theft do).
//! - `GET /me` answers only a current access token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::support::Upstream;

/// The client registered with the provider.
pub const CLIENT_ID: &str = "wharf-client";
/// Its secret.
pub const CLIENT_SECRET: &str = "client-secret-9";

struct Issued {
    challenge: String,
    redirect_uri: String,
}

/// What the provider issued and saw.
#[derive(Default)]
pub struct ProviderState {
    /// Refresh-token grants served.
    pub refreshes: usize,
    /// Authorization codes exchanged.
    pub exchanges: usize,
    /// The refresh token that is valid now.
    pub current_refresh: String,
    /// Access tokens accepted by `/me`.
    pub valid_access: Vec<String>,
    /// The grant was revoked: every refresh fails with `invalid_grant`.
    pub revoked: bool,
    /// Issue a new refresh token with every refresh.
    pub rotate: bool,
    /// Tokens issued so far.
    pub issued: usize,
    /// `expires_in` of issued access tokens.
    pub expires_in: i64,
    /// Why requests to `/token` were refused, in order.
    pub refused: Vec<String>,
    /// `/items` pages served so far.
    pub pages_served: usize,
    /// After this many pages, the current access token stops working (it
    /// "expired" early, as tokens do), until the next one is issued.
    pub expire_after_pages: Option<usize>,
    /// Token responses leave out `expires_in` (as Salesforce's do).
    pub no_expires_in: bool,
    /// The public key (P-256, uncompressed) of the service account whose
    /// JWT assertions the JWT bearer grant accepts (RFC 7523).
    pub jwt_public: Option<Vec<u8>>,
    /// Claims of the last assertion accepted.
    pub last_claims: Option<serde_json::Value>,
    codes: HashMap<String, Issued>,
}

pub type Shared = Arc<Mutex<ProviderState>>;

fn oauth_error(status: StatusCode, error: &str, why: &str, p: &mut ProviderState) -> Response {
    p.refused.push(format!("{error}: {why}"));
    (
        status,
        axum::Json(json!({"error": error, "error_description": why})),
    )
        .into_response()
}

#[derive(serde::Deserialize)]
struct AuthorizeQuery {
    response_type: String,
    client_id: String,
    redirect_uri: String,
    state: String,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

async fn authorize(State(p): State<Shared>, Query(q): Query<AuthorizeQuery>) -> Response {
    let mut p = p.lock().unwrap();
    if q.response_type != "code" || q.client_id != CLIENT_ID {
        return (
            StatusCode::BAD_REQUEST,
            "unsupported response type or unknown client",
        )
            .into_response();
    }
    let (Some(challenge), Some("S256")) = (q.code_challenge, q.code_challenge_method.as_deref())
    else {
        return (StatusCode::BAD_REQUEST, "PKCE S256 is required").into_response();
    };
    let code = format!("code-{}", p.codes.len() + p.exchanges + 1);
    p.codes.insert(
        code.clone(),
        Issued {
            challenge,
            redirect_uri: q.redirect_uri.clone(),
        },
    );
    let sep = if q.redirect_uri.contains('?') {
        '&'
    } else {
        '?'
    };
    Redirect::to(&format!(
        "{}{sep}code={code}&state={}",
        q.redirect_uri,
        url::form_urlencoded::byte_serialize(q.state.as_bytes()).collect::<String>()
    ))
    .into_response()
}

/// The grant type of RFC 7523.
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// An ES256 assertion: signed by the registered key, for this token
/// endpoint (`aud`), not expired; its claims.
fn check_assertion(jwt: &str, public: Option<&[u8]>) -> Result<serde_json::Value, String> {
    let public = public.ok_or("no service account is registered")?;
    let (input, sig) = jwt.rsplit_once('.').ok_or("not a JWT")?;
    let sig = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| "bad signature encoding")?;
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, public)
        .verify(input.as_bytes(), &sig)
        .map_err(|_| "the assertion's signature does not verify")?;
    let (header, claims) = input.split_once('.').ok_or("not a JWT")?;
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).map_err(|_| "bad header")?)
            .map_err(|_| "bad header")?;
    if header["alg"] != "ES256" {
        return Err("alg must be ES256".into());
    }
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).map_err(|_| "bad claims")?)
            .map_err(|_| "bad claims")?;
    if !claims["aud"]
        .as_str()
        .is_some_and(|a| a.ends_with("/token"))
    {
        return Err("aud is not this token endpoint".into());
    }
    let now = wharf::store::now_ms() / 1000;
    if claims["exp"].as_i64().is_none_or(|e| e <= now) {
        return Err("the assertion has expired".into());
    }
    Ok(claims)
}

/// Client credentials from the form (`client_secret_post`) or HTTP Basic.
fn client(form: &HashMap<String, String>, headers: &HeaderMap) -> Option<(String, String)> {
    if let Some(basic) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    {
        let decoded = String::from_utf8(STANDARD.decode(basic).ok()?).ok()?;
        let (id, secret) = decoded.split_once(':')?;
        return Some((id.to_string(), secret.to_string()));
    }
    Some((
        form.get("client_id")?.clone(),
        form.get("client_secret")?.clone(),
    ))
}

async fn token(State(p): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let grant = form.get("grant_type").cloned().unwrap_or_default();
    if grant == "refresh_token" {
        // Slow enough that racing refreshers would overlap.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut p = p.lock().unwrap();
    // The JWT bearer grant authenticates by its assertion (RFC 7523 §3.1).
    let by_assertion = grant == JWT_BEARER;
    match client(&form, &headers) {
        Some((id, secret)) if id == CLIENT_ID && secret == CLIENT_SECRET => {}
        _ if by_assertion => {}
        _ => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication failed",
                &mut p,
            );
        }
    }
    match grant.as_str() {
        "client_credentials" => {}
        JWT_BEARER => {
            let assertion = form.get("assertion").cloned().unwrap_or_default();
            match check_assertion(&assertion, p.jwt_public.as_deref()) {
                Ok(claims) => p.last_claims = Some(claims),
                Err(why) => {
                    return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", &why, &mut p);
                }
            }
        }
        "authorization_code" => {
            let code = form.get("code").cloned().unwrap_or_default();
            let Some(issued) = p.codes.remove(&code) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "unknown or used code",
                    &mut p,
                );
            };
            if form.get("redirect_uri") != Some(&issued.redirect_uri) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "redirect_uri does not match the authorization request",
                    &mut p,
                );
            }
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != issued.challenge {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "code_verifier does not match the code_challenge",
                    &mut p,
                );
            }
            p.exchanges += 1;
        }
        "refresh_token" => {
            p.refreshes += 1;
            if p.revoked || form.get("refresh_token") != Some(&p.current_refresh) {
                p.revoked = true;
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "refresh token reused or revoked",
                    &mut p,
                );
            }
        }
        other => {
            let why = format!("grant type `{other}`");
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                &why,
                &mut p,
            );
        }
    }
    p.issued += 1;
    let access = format!("access-{}", p.issued);
    p.valid_access = vec![access.clone()];
    let expires_in = if p.expires_in > 0 { p.expires_in } else { 3600 };
    let mut answer =
        json!({"access_token": access, "token_type": "Bearer", "expires_in": expires_in});
    if p.no_expires_in {
        answer.as_object_mut().unwrap().remove("expires_in");
    }
    // Machine grants get no refresh token (RFC 6749 §4.4.3, RFC 7523).
    let machine = grant == "client_credentials" || by_assertion;
    if !machine && (grant != "refresh_token" || p.rotate) {
        p.current_refresh = format!("refresh-{}", p.issued);
        answer["refresh_token"] = json!(p.current_refresh);
    }
    (StatusCode::OK, axum::Json(answer)).into_response()
}

async fn me(State(p): State<Shared>, h: HeaderMap) -> Response {
    let auth = h
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let ok = p
        .lock()
        .unwrap()
        .valid_access
        .iter()
        .any(|t| auth == format!("Bearer {t}"));
    if ok {
        (StatusCode::OK, axum::Json(json!({"sub": "user-1"}))).into_response()
    } else {
        (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_token"})),
        )
            .into_response()
    }
}

/// `GET /items?page=N`: five pages of two items for a current access token;
/// with `expire_after_pages`, the token stops working part-way.
async fn items(
    State(p): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    h: HeaderMap,
) -> Response {
    let auth = h
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut p = p.lock().unwrap();
    if !p.valid_access.iter().any(|t| auth == format!("Bearer {t}")) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_token"})),
        )
            .into_response();
    }
    let page: usize = q.get("page").and_then(|v| v.parse().ok()).unwrap_or(1);
    p.pages_served += 1;
    if p.expire_after_pages == Some(p.pages_served) {
        p.valid_access.clear();
    }
    let items: Vec<_> = (0..2)
        .map(|i| json!({"id": format!("{page}-{i}"), "page": page}))
        .collect();
    axum::Json(json!({"items": items, "more": page < 5})).into_response()
}

/// Start a provider; `rotate` makes every refresh issue a new refresh token.
pub async fn provider(rotate: bool) -> (Upstream, Shared) {
    let state: Shared = Arc::new(Mutex::new(ProviderState {
        rotate,
        ..ProviderState::default()
    }));
    let app = Router::new()
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .route("/me", get(me))
        .route("/items", get(items))
        .with_state(state.clone());
    (Upstream::start(app).await, state)
}
