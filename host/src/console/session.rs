//! Signing in to the console: an API key, typed once, becomes a session
//! (people signing in through the identity provider get one too, by
//! [`super::sso`]). The browser holds a random session id in a cookie
//! (`HttpOnly`, `SameSite=Strict`, `Secure` behind https, ending with the
//! session); the database holds only its hash, who it stands for and the
//! CSRF token every form of the session carries. A revoked key ends its
//! sessions at once; signing out deletes the session.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;

use super::Console;
use super::layout::{self, error_page};
use crate::api::{Scope, SessionActor, cookie, hash_key};
use crate::model::secret::SecretValue;
use crate::sso::Person;
use crate::sso::roles::Role;
use crate::store::console_sessions::{SessionOwner, SessionRow};
use crate::store::now_ms;

/// The session cookie.
const SESSION_COOKIE: &str = "wharf_session";
/// The cookie tying the sign-in form to the browser that asked for it.
const SIGN_IN_COOKIE: &str = "wharf_sign_in";
/// How long a session lasts: a working day, then sign in again.
pub const SESSION_HOURS: i64 = 12;

/// A signed-in browser.
#[derive(Debug, Clone)]
pub struct Signed {
    id_hash: String,
    row: SessionRow,
    /// The key's scope.
    pub scope: Scope,
}

impl Signed {
    /// The key the session signs API calls with (none for a person).
    pub fn key_id(&self) -> Option<&str> {
        match &self.row.owner {
            SessionOwner::Key(id) => Some(id),
            SessionOwner::Person { .. } => None,
        }
    }

    /// Who the session stands for, as the console's API calls carry it.
    pub fn actor(&self) -> SessionActor {
        match &self.row.owner {
            SessionOwner::Key(id) => SessionActor::Key(id.clone()),
            SessionOwner::Person {
                subject,
                email,
                role,
                ..
            } => SessionActor::Person(Person {
                subject: subject.clone(),
                email: email.clone(),
                role: Role::parse(role).unwrap_or(Role::Viewer),
            }),
        }
    }

    /// The key's name or the person's email, for the header.
    pub fn name(&self) -> &str {
        &self.row.name
    }

    /// A person's role: what the header shows them.
    pub fn role_name(&self) -> &'static str {
        match self.scope {
            Scope::Read => "viewer",
            other => other.as_str(),
        }
    }

    /// Whether a person (not a key) is signed in.
    pub fn is_person(&self) -> bool {
        matches!(self.row.owner, SessionOwner::Person { .. })
    }

    /// The CSRF token the session's forms carry.
    pub fn csrf(&self) -> &str {
        &self.row.csrf
    }

    /// Whether the key's scope includes `scope` (what the page offers; the
    /// API decides).
    pub fn may(&self, scope: Scope) -> bool {
        self.scope >= scope
    }

    /// Check a form's CSRF token: a form not made by this session's pages
    /// is refused with 403 (the page returned as it is).
    #[allow(clippy::result_large_err)]
    pub fn check_csrf(&self, token: Option<&str>) -> Result<(), Response> {
        let ok = token.is_some_and(|t| bool::from(t.as_bytes().ct_eq(self.row.csrf.as_bytes())));
        if ok {
            Ok(())
        } else {
            Err(error_page(
                StatusCode::FORBIDDEN,
                "This form is not from your session (a missing or wrong CSRF token). Reload the page and try again.",
            )
            .into_response())
        }
    }

    /// Leave a message for the next page; it may hold a secret shown once,
    /// so it is sealed like every other secret and deleted when read.
    pub async fn flash(&self, console: &Console, flash: &Flash) {
        let json = serde_json::to_string(flash).unwrap_or_default();
        let sealed = console.state.app.vault.encrypt(&SecretValue::new(json));
        if let Err(e) = console
            .state
            .app
            .store
            .set_console_flash(&self.id_hash, &sealed)
            .await
        {
            tracing::warn!(error = %e, "cannot keep a console message");
        }
    }

    /// Take the message left for this page, if any.
    pub async fn take_flash(&self, console: &Console) -> Option<Flash> {
        let sealed = console
            .state
            .app
            .store
            .take_console_flash(&self.id_hash)
            .await
            .ok()??;
        let json = console.state.app.vault.decrypt(&sealed).ok()?;
        serde_json::from_str(json.expose()).ok()
    }
}

/// A message for the next page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flash {
    /// `ok`, `bad` or `secret`.
    pub kind: String,
    /// What happened.
    pub text: String,
    /// A value shown this once (a key, a secret, a URL with a token).
    pub once: Option<String>,
}

impl Flash {
    /// Something worked.
    pub fn ok(text: impl Into<String>) -> Self {
        Self {
            kind: "ok".into(),
            text: text.into(),
            once: None,
        }
    }

    /// Something failed.
    pub fn bad(text: impl Into<String>) -> Self {
        Self {
            kind: "bad".into(),
            text: text.into(),
            once: None,
        }
    }

    /// A secret to copy now: it is not shown again.
    pub fn secret(text: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            kind: "secret".into(),
            text: text.into(),
            once: Some(value.into()),
        }
    }
}

impl FromRequestParts<Console> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Self, Response> {
        let found = match cookie(&parts.headers, SESSION_COOKIE) {
            Some(id) => {
                let id_hash = hash_key(id);
                console
                    .state
                    .app
                    .store
                    .console_session(&id_hash)
                    .await
                    .ok()
                    .flatten()
                    .map(|row| (id_hash, row))
            }
            None => None,
        };
        // A person's session holds while the provider that vouched for
        // them is still the one configured (single sign-on turned off or
        // moved elsewhere ends it).
        let sso = console.state.sso.as_deref().map(crate::sso::Sso::issuer);
        let found = found.filter(|(_, row)| match &row.owner {
            SessionOwner::Key(_) => true,
            SessionOwner::Person { issuer, .. } => Some(issuer.as_str()) == sso,
        });
        let Some((id_hash, row)) = found else {
            // A page asks to sign in; a write without a session is refused.
            return Err(if parts.method == axum::http::Method::GET {
                let next = parts
                    .uri
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .to_string();
                let query = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
                Redirect::to(&format!("/sign-in?{query}")).into_response()
            } else {
                error_page(
                    StatusCode::FORBIDDEN,
                    "Sign in first: this request has no console session.",
                )
                .into_response()
            });
        };
        // A person's row holds their role, a key's its scope.
        let scope = match (&row.owner, Role::parse(&row.scope)) {
            (SessionOwner::Person { .. }, Some(role)) => Scope::from(role),
            _ => Scope::parse(&row.scope).unwrap_or(Scope::Read),
        };
        Ok(Self {
            id_hash,
            row,
            scope,
        })
    }
}

/// How far a cookie travels with requests from other sites.
#[derive(Debug, Clone, Copy)]
pub enum SameSite {
    /// Never (every console cookie but one).
    Strict,
    /// With top-level navigations: the OAuth2 return, which comes back
    /// from the provider's site.
    Lax,
}

/// A `Set-Cookie` value: HttpOnly always, Secure when the console is
/// served over https (directly or behind a proxy that says so), for
/// `max_age` seconds (0 deletes it).
pub fn set_cookie(
    console: &Console,
    headers: &HeaderMap,
    name: &str,
    value: &str,
    max_age: i64,
    same_site: SameSite,
) -> HeaderValue {
    let secure = console.state.app.options.public_url.starts_with("https://")
        || headers
            .get("x-forwarded-proto")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite={same_site:?}{secure}"
    ))
    // Values are hex tokens or generated ids; anything else sets nothing.
    .unwrap_or_else(|_| HeaderValue::from_static("wharf_invalid=; Max-Age=0"))
}

/// 32 random bytes as hex.
pub(super) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    hex::encode(bytes)
}

/// Where to go after signing in: a path of this console, nothing else.
pub(super) fn safe_next(next: Option<&str>) -> &str {
    match next {
        // Browsers drop tabs and newlines from URLs, so `/\t/evil.example`
        // would become `//evil.example`: no control or space at all.
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.chars().any(|c| c.is_control() || c.is_whitespace()) =>
        {
            n
        }
        _ => "/",
    }
}

#[derive(Debug, Deserialize)]
pub struct SignInQuery {
    next: Option<String>,
}

/// The sign-in form, with a fresh token tying it to this browser.
pub async fn sign_in_page(
    State(console): State<Console>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<SignInQuery>,
) -> Response {
    sign_in_form(&console, &headers, q.next.as_deref(), None, StatusCode::OK)
}

fn sign_in_form(
    console: &Console,
    headers: &HeaderMap,
    next: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let token = random_token();
    let body = html! {
        main.signin {
            h1 { "Sign in to Wharf" }
            @if let Some(sso) = console.state.sso.as_ref() {
                div.stack.panel {
                    a.button #sso hx-boost="false" href=(format!("/sign-in/sso?{}", serde_urlencoded::to_string([("next", safe_next(next))]).unwrap_or_default())) { "Sign in with your identity provider" }
                    p.hint { "Through " (sso.issuer()) "; your role there decides what you can do here." }
                }
                p.hint { "Or with an API key:" }
            }
            form.stack.panel method="post" action="/sign-in" {
                input type="hidden" name="_csrf" value=(token);
                input type="hidden" name="next" value=(safe_next(next));
                label {
                    "API key"
                    span.hint { "The key `wharf serve` printed on its first start, or one an administrator made for you. Its scope decides what you can do here." }
                    input type="password" name="key" autocomplete="current-password" required autofocus
                        aria-invalid=[error.map(|_| "true")] placeholder="wharf_…";
                }
                @if let Some(error) = error { p.field-error role="alert" { (error) } }
                div { button type="submit" { "Sign in" } }
            }
        }
    };
    let mut response = (status, layout::bare("Sign in", body)).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(
            console,
            headers,
            SIGN_IN_COOKIE,
            &token,
            1800,
            SameSite::Strict,
        ),
    );
    response
}

#[derive(Debug, Deserialize)]
pub struct SignInForm {
    key: String,
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    next: Option<String>,
}

/// Check the key (with the API's limit on failed sign-ins per client) and
/// open a session.
pub async fn sign_in(
    State(console): State<Console>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    axum::Form(form): axum::Form<SignInForm>,
) -> Response {
    let next = form.next.as_deref();
    let expected = cookie(&headers, SIGN_IN_COOKIE);
    let token_ok = matches!((expected, form.csrf.as_deref()), (Some(a), Some(b)) if bool::from(a.as_bytes().ct_eq(b.as_bytes())));
    if !token_ok {
        return sign_in_form(
            &console,
            &headers,
            next,
            Some("This sign-in form has expired; enter the key again."),
            StatusCode::FORBIDDEN,
        );
    }
    let client = crate::api::client_address(&extensions);
    let now = std::time::Instant::now();
    let limiter = &console.state.limiter;
    if let Err(secs) = limiter.may_sign_in(&client, now) {
        return sign_in_form(
            &console,
            &headers,
            next,
            Some(&format!(
                "Too many failed sign-ins from this address; try again in {secs} s."
            )),
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    let store = &console.state.app.store;
    let key = match store.api_key_by_hash(&hash_key(form.key.trim())).await {
        Ok(Some(key)) => key,
        Ok(None) => {
            limiter.failed_sign_in(&client, now);
            return sign_in_form(
                &console,
                &headers,
                next,
                Some("This API key is unknown or revoked."),
                StatusCode::UNAUTHORIZED,
            );
        }
        Err(e) => return layout::internal(&e.to_string()),
    };
    let id = match open_session(&console, &SessionOwner::Key(key.id.clone())).await {
        Ok(id) => id,
        Err(page) => return page,
    };
    let _ = store
        .audit(
            Some(&key.id),
            "console.sign_in",
            &key.id,
            &serde_json::json!({ "client": client }),
        )
        .await;
    let mut response = Redirect::to(safe_next(next)).into_response();
    let h = response.headers_mut();
    h.append(header::SET_COOKIE, session_cookie(&console, &headers, &id));
    h.append(
        header::SET_COOKIE,
        set_cookie(&console, &headers, SIGN_IN_COOKIE, "", 0, SameSite::Strict),
    );
    response
}

/// Open a session for `owner`: a new id, whose hash is stored; the id
/// (for [`session_cookie`]), or the error page.
#[allow(clippy::result_large_err)]
pub(super) async fn open_session(
    console: &Console,
    owner: &SessionOwner,
) -> Result<String, Response> {
    let id = random_token();
    let expires = now_ms() + SESSION_HOURS * 3_600_000;
    let store = &console.state.app.store;
    match store
        .insert_console_session(&hash_key(&id), owner, &random_token(), expires)
        .await
    {
        Ok(()) => Ok(id),
        Err(e) => Err(layout::internal(&e.to_string())),
    }
}

/// The cookie that hands the browser its session.
pub(super) fn session_cookie(console: &Console, headers: &HeaderMap, id: &str) -> HeaderValue {
    set_cookie(
        console,
        headers,
        SESSION_COOKIE,
        id,
        SESSION_HOURS * 3600,
        SameSite::Strict,
    )
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
}

/// End the session here and in the browser.
pub async fn sign_out(
    State(console): State<Console>,
    signed: Signed,
    headers: HeaderMap,
    axum::Form(form): axum::Form<CsrfForm>,
) -> Response {
    if let Err(refused) = signed.check_csrf(form.csrf.as_deref()) {
        return refused;
    }
    let _ = console
        .state
        .app
        .store
        .delete_console_session(&signed.id_hash)
        .await;
    let mut response = Redirect::to("/sign-in").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(&console, &headers, SESSION_COOKIE, "", 0, SameSite::Strict),
    );
    response
}

#[cfg(test)]
mod tests;
