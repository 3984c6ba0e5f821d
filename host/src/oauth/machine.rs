//! Machine grants: OAuth2 tokens no administrator authorizes in a browser.
//! The client credentials grant (RFC 6749 §4.4: Microsoft Graph app-only
//! access, Xero custom connections) and the JWT bearer grant (RFC 7523:
//! Google service accounts, Salesforce's JWT flow), whose assertion the
//! host signs with a `signing` key of the spec, so the private key never
//! enters the guest. Neither has a refresh token: a token is renewed by
//! making the grant again, under the same single-flight lease.

use url::Url;

use super::{Client, OAuthError, save, spec_and_client_if_any, token_request};
use crate::app::App;
use crate::model::spec::{Grant, OAuth2Spec, SigningMethod, expand_host_template};
use crate::runtime::Token;
use crate::runtime::signing::{fill_config, mint_jwt};
use crate::store::connections::ConnectionRow;
use crate::store::now_ms;

/// The first token of a connection with a machine grant; `NotConnected`
/// for an authorization code grant, which needs an administrator.
pub(super) async fn first_token(app: &App, c: &ConnectionRow) -> Result<Token, OAuthError> {
    match renew(app, c).await? {
        Some(token) => Ok(token),
        None => Err(OAuthError::NotConnected),
    }
}

/// A new token by the machine grant; `None` for the authorization code
/// grant (renewed with its refresh token instead).
pub(super) async fn renew(app: &App, c: &ConnectionRow) -> Result<Option<Token>, OAuthError> {
    let (spec, id, secret) = spec_and_client_if_any(app, c).await?;
    let mut form: Vec<(&'static str, String)> = Vec::new();
    match spec.grant {
        Grant::AuthorizationCode => return Ok(None),
        Grant::ClientCredentials => {
            if id.is_none() {
                return Err(OAuthError::NoClient);
            }
            form.push(("grant_type", "client_credentials".into()));
        }
        Grant::JwtBearer => {
            form.push((
                "grant_type",
                "urn:ietf:params:oauth:grant-type:jwt-bearer".into(),
            ));
            form.push(("assertion", assertion(app, c, &spec).await?));
        }
    }
    if !spec.scopes.is_empty() {
        form.push(("scope", spec.scopes.join(" ")));
    }
    let id = id.unwrap_or_default();
    let client = Client {
        id: &id,
        secret: secret.as_deref(),
        auth: spec.client_auth,
    };
    let t = match token_request(c, &spec.token_url, &client, form).await {
        Err(OAuthError::NeedsReauth) => {
            return Err(OAuthError::Provider(
                "the provider refused the grant (invalid_grant): check the connection's key or client credentials and the spec's claims".into(),
            ));
        }
        other => other?,
    };
    save(app, &c.id, &spec, &t, true, &serde_json::Map::new())
        .await
        .map(Some)
}

/// The JWT assertion: the spec's `assertion_key` (a JWT signing key bound
/// to the token endpoint's host), its claims with `{config.x}` filled in.
async fn assertion(app: &App, c: &ConnectionRow, spec: &OAuth2Spec) -> Result<String, OAuthError> {
    let bad = |m: String| OAuthError::Provider(format!("JWT bearer assertion: {m}"));
    let name = spec
        .assertion_key
        .as_deref()
        .ok_or_else(|| bad("the spec names no assertion key".into()))?;
    let full = app
        .store
        .connector(&c.connector, &c.version)
        .await?
        .ok_or(OAuthError::NotOAuth)?
        .spec;
    let key = full
        .signing
        .iter()
        .find(|k| k.name == name)
        .ok_or_else(|| bad(format!("no signing key `{name}` in the spec")))?;
    let SigningMethod::Jwt {
        key_secret,
        algorithm,
        claims,
        lifetime_secs,
        key_id,
    } = &key.method
    else {
        return Err(bad(format!("signing key `{name}` is not a JWT key")));
    };
    // The assertion goes to the token endpoint: the key must be bound there.
    let token_url = Url::parse(&spec.token_url).map_err(|e| bad(format!("token URL: {e}")))?;
    let bound = key
        .hosts
        .iter()
        .any(|t| expand_host_template(t, &c.config).is_ok_and(|h| h.matches(&token_url)));
    if !bound {
        return Err(bad(format!(
            "signing key `{name}` is not bound to the token endpoint's host"
        )));
    }
    let mut pem = None;
    for t in app.store.secret_tokens(&c.id).await? {
        if &t.name == key_secret {
            pem = Some(app.vault.decrypt(&t.token)?);
        }
    }
    let pem = pem.ok_or_else(|| bad(format!("the connection has no secret `{key_secret}`")))?;
    let claims = fill_config(claims, &c.config).map_err(bad)?;
    let now = now_ms() / 1000;
    mint_jwt(
        pem.expose(),
        *algorithm,
        &claims,
        key_id.as_deref(),
        now,
        now + i64::from(*lifetime_secs),
    )
    .map_err(bad)
}
