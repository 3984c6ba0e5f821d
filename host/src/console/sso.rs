//! Signing in through the identity provider (OpenID Connect authorization
//! code flow, Core §3.1, with PKCE): `/sign-in/sso` sends the browser to
//! the provider with a fresh state, nonce and code challenge;
//! `/sign-in/sso/callback` takes the state back (once: it is deleted as it
//! is read), checks it came back to the browser that began it, exchanges
//! the code, checks the ID token (signature, issuer, audience, expiry,
//! nonce) and opens a console session for the person with their role.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq as _;

use super::Console;
use super::layout::{self, error_page};
use super::session::{SameSite, open_session, random_token, safe_next, session_cookie, set_cookie};
use crate::api::{client_address, cookie, hash_key, onward_page};
use crate::model::secret::SecretValue;
use crate::oauth::pkce_challenge;
use crate::sso::SsoError;
use crate::store::audit::Actor;
use crate::store::console_sessions::SessionOwner;
use crate::store::now_ms;
use crate::store::sso_logins::SsoLogin;

/// The cookie tying a sign-in to the browser that began it. `Lax`: it must
/// come back with the provider's redirect, a top-level navigation from
/// another site.
const SSO_COOKIE: &str = "wharf_sso";
/// How long the provider may take to send the browser back.
const LOGIN_MINUTES: i64 = 10;

/// The redirect URI registered with the provider.
pub fn redirect_uri(console: &Console) -> String {
    format!(
        "{}/sign-in/sso/callback",
        console.state.app.options.public_url.trim_end_matches('/')
    )
}

#[derive(Debug, Deserialize)]
pub struct BeginQuery {
    next: Option<String>,
}

/// Send the browser to the provider.
pub async fn begin(
    State(console): State<Console>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    Query(q): Query<BeginQuery>,
) -> Response {
    // Each begun sign-in is a row until it lapses: as many per address as
    // one key may send requests.
    let client = client_address(&extensions);
    if let Err(secs) = console.state.limiter.check(&format!("sso-begin:{client}")) {
        return error_page(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("Too many sign-ins begun from this address; try again in {secs} s."),
        )
        .into_response();
    }
    let Some(sso) = console.state.sso.clone() else {
        return error_page(
            StatusCode::NOT_FOUND,
            "Single sign-on is not configured on this server (wharf serve --oidc-issuer …).",
        )
        .into_response();
    };
    let (state, nonce, verifier, browser) = (
        random_token(),
        random_token(),
        random_token(),
        random_token(),
    );
    let url = match sso
        .authorization_url(
            &redirect_uri(&console),
            &state,
            &nonce,
            &pkce_challenge(&verifier),
        )
        .await
    {
        Ok(url) => url,
        Err(e) => return provider_down(&e),
    };
    let login = SsoLogin {
        browser_hash: hash_key(&browser),
        nonce,
        verifier: console.state.app.vault.encrypt(&SecretValue::new(verifier)),
        next: safe_next(q.next.as_deref()).to_string(),
    };
    let expires = now_ms() + LOGIN_MINUTES * 60_000;
    if let Err(e) = console
        .state
        .app
        .store
        .insert_sso_login(&hash_key(&state), &login, expires)
        .await
    {
        return layout::internal(&e.to_string());
    }
    let mut response = Redirect::to(&url).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(
            &console,
            &headers,
            SSO_COOKIE,
            &browser,
            LOGIN_MINUTES * 60,
            SameSite::Lax,
        ),
    );
    response
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The provider sends the browser back here.
pub async fn callback(
    State(console): State<Console>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let Some(sso) = console.state.sso.clone() else {
        return error_page(StatusCode::NOT_FOUND, "Single sign-on is not configured.")
            .into_response();
    };
    let store = &console.state.app.store;
    let login = match q.state.as_deref() {
        Some(state) => match store.take_sso_login(&hash_key(state)).await {
            Ok(login) => login,
            Err(e) => return layout::internal(&e.to_string()),
        },
        None => None,
    };
    let Some(login) = login else {
        return refused(
            StatusCode::BAD_REQUEST,
            "This sign-in was already used, has expired, or was never begun here. Sign in again.",
        );
    };
    let browser = cookie(&headers, SSO_COOKIE).map(hash_key);
    let same_browser = browser
        .as_deref()
        .is_some_and(|b| bool::from(b.as_bytes().ct_eq(login.browser_hash.as_bytes())));
    if !same_browser {
        return refused(
            StatusCode::FORBIDDEN,
            "This sign-in was begun in another browser (or its cookie was lost). Sign in again from this one.",
        );
    }
    if let Some(error) = q.error {
        let why = q.error_description.unwrap_or_default();
        return refused(
            StatusCode::FORBIDDEN,
            &format!("The identity provider refused the sign-in: {error} {why}"),
        );
    }
    let Some(code) = q.code else {
        return refused(
            StatusCode::BAD_REQUEST,
            "The identity provider sent no code back.",
        );
    };
    let verifier = match console.state.app.vault.decrypt(&login.verifier) {
        Ok(v) => v,
        Err(e) => return layout::internal(&e.to_string()),
    };
    let person = match sso
        .exchange(&code, verifier.expose(), &redirect_uri(&console))
        .await
    {
        Ok(id_token) => sso.person(&id_token, Some(&login.nonce)).await,
        Err(e) => Err(e),
    };
    let person = match person {
        Ok(person) => person,
        Err(e @ SsoError::Provider(_)) => return provider_down(&e),
        Err(e) => {
            tracing::warn!(error = %e, "single sign-on refused");
            return refused(StatusCode::UNAUTHORIZED, &format!("Sign-in refused: {e}."));
        }
    };
    let owner = SessionOwner::Person {
        subject: person.subject.clone(),
        email: person.email.clone(),
        role: person.role.as_str().to_string(),
        issuer: sso.issuer().to_string(),
    };
    let id = match open_session(&console, &owner).await {
        Ok(id) => id,
        Err(page) => return page,
    };
    let actor = Actor {
        key_id: None,
        subject: Some(&person.subject),
        email: person.email.as_deref(),
    };
    let _ = store
        .audit_by(
            &actor,
            "console.sign_in",
            &person.subject,
            &json!({"role": person.role.as_str(), "issuer": sso.issuer()}),
        )
        .await;
    let next = safe_next(Some(&login.next)).to_string();
    let mut response = onward_page(&next, "Signed in", "Signed in.");
    let h = response.headers_mut();
    h.append(header::SET_COOKIE, session_cookie(&console, &headers, &id));
    h.append(
        header::SET_COOKIE,
        set_cookie(&console, &headers, SSO_COOKIE, "", 0, SameSite::Lax),
    );
    response
}

/// A refused sign-in: the reason, and the way back to the sign-in page.
fn refused(status: StatusCode, why: &str) -> Response {
    error_page(status, why).into_response()
}

fn provider_down(e: &SsoError) -> Response {
    tracing::warn!(error = %e, "the identity provider failed");
    error_page(
        StatusCode::BAD_GATEWAY,
        &format!("Cannot sign in now: {e}. Try again, or sign in with an API key."),
    )
    .into_response()
}
