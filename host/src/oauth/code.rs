//! The authorization code flow of a connection (RFC 6749 §4.1 with PKCE):
//! `start` makes the URL to send whoever authorizes to, `callback` takes
//! the single-use state back and exchanges the code for tokens.

use url::Url;

use super::{
    Client, OAuthError, STATE_TTL_MS, hash, pkce_challenge, random_token, redirect_uri, save,
    spec_and_client, token_request,
};
use crate::app::App;
use crate::model::secret::SecretValue;
use crate::store::connections::{ConnectionRow, Status};
use crate::store::now_ms;

/// Begin the flow for `started_by`: the URL to send them to.
pub async fn start(
    app: &App,
    c: &ConnectionRow,
    started_by: &crate::store::audit::Actor<'_>,
) -> Result<String, OAuthError> {
    let (spec, client_id, _) = spec_and_client(app, c).await?;
    let state = random_token(32);
    let verifier = random_token(32);
    let redirect = redirect_uri(app);
    let sealed = app.vault.encrypt(&SecretValue::new(verifier.as_str()));
    app.store
        .insert_oauth_state(
            &hash(&state),
            &c.id,
            &sealed,
            &redirect,
            now_ms() + STATE_TTL_MS,
            started_by,
        )
        .await?;
    let mut url = Url::parse(&spec.authorize_url)
        .map_err(|e| OAuthError::Provider(format!("authorize URL: {e}")))?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", &client_id)
            .append_pair("redirect_uri", &redirect)
            .append_pair("state", &state);
        if !spec.scopes.is_empty() {
            q.append_pair("scope", &spec.scopes.join(" "));
        }
        for (k, v) in &spec.authorize_params {
            q.append_pair(k, v);
        }
        if spec.pkce {
            q.append_pair("code_challenge", &pkce_challenge(&verifier))
                .append_pair("code_challenge_method", "S256");
        }
    }
    Ok(url.to_string())
}

/// The callback: check the state, exchange the code, store the tokens.
/// `extra` holds the callback's other query parameters (QuickBooks sends
/// the company's `realmId` there), of which the spec's `info_fields` are
/// kept.
pub async fn callback(
    app: &App,
    code: &str,
    state: &str,
    extra: &std::collections::BTreeMap<String, String>,
) -> Result<ConnectionRow, OAuthError> {
    let taken = app
        .store
        .take_oauth_state(&hash(state))
        .await?
        .ok_or(OAuthError::BadState)?;
    let redirect = taken.redirect_uri.clone();
    if taken.expires_at < now_ms() || redirect != redirect_uri(app) {
        return Err(OAuthError::BadState);
    }
    let c = app
        .store
        .connection(&taken.connection_id)
        .await?
        .ok_or(OAuthError::BadState)?;
    let (spec, client_id, client_secret) = spec_and_client(app, &c).await?;
    let verifier = app.vault.decrypt(&taken.verifier)?;
    let mut form = vec![
        ("grant_type", "authorization_code".to_string()),
        ("code", code.to_string()),
        ("redirect_uri", redirect.clone()),
    ];
    if spec.pkce {
        form.push(("code_verifier", verifier.expose().to_string()));
    }
    let client = Client {
        id: &client_id,
        secret: client_secret.as_deref(),
        auth: spec.client_auth,
    };
    let tokens = token_request(&c, &spec.token_url, &client, form).await?;
    let extra: serde_json::Map<String, serde_json::Value> = extra
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    save(app, &c.id, &spec, &tokens, false, &extra).await?;
    app.store
        .set_connection_status(&c.id, Status::Active, None)
        .await?;
    // In the name of whoever began it: the provider's callback carries no
    // credential of its own.
    let _ = app
        .store
        .audit_by(
            &taken.started_by(),
            "connection.oauth_connected",
            &c.id,
            &serde_json::json!({}),
        )
        .await;
    Ok(c)
}
