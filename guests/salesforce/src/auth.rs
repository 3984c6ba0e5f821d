//! How a connection signs in to Salesforce. A spec declares one OAuth2
//! grant, so the grant is chosen when the connector is built:
//!
//! - default (`salesforce`): the OAuth 2.0 web-server flow, the
//!   authorization-code grant with PKCE. An administrator approves the
//!   connected app once in a browser; the host keeps the refresh token
//!   (`refresh_token` scope) and renews the session token, which Salesforce
//!   issues without `expires_in`.
//! - `--features jwt-bearer` (`salesforce-jwt`): the OAuth 2.0 JWT bearer
//!   flow. The host signs `{"iss": client_id, "sub": username, "aud":
//!   audience, "exp": …}` with RS256 and the connection's `private_key`
//!   (the key whose certificate the connected app holds), and posts it as
//!   the assertion; nobody signs in, no refresh token exists, and the key
//!   never enters this component. The first session of such a connection
//!   has no `instance_url` yet, so it needs `base_url`.
//!
//! Both keep the token response's `instance_url` (the org's API origin),
//! `id` (the identity URL, naming org and user) and `scope` as facts the
//! connector reads with `oauth_info`.

use serde_json::Value;
use wharf_sdk::OAuth2;
use wharf_sdk::Spec;

/// Salesforce's login host (production orgs; sandboxes use
/// `https://test.salesforce.com`).
pub const LOGIN: &str = "https://login.salesforce.com";

/// The token endpoint, on `login_url`.
fn token_url() -> String {
    format!("{{config.login_url|{LOGIN}}}/services/oauth2/token")
}

/// Token response fields the connector may read (never a token).
fn facts(oauth: OAuth2) -> OAuth2 {
    oauth
        .info_field("instance_url")
        .info_field("id")
        .info_field("scope")
        // Salesforce sends no `expires_in`; sessions last the org's
        // timeout (15 minutes at the least), and a 401 renews one sooner.
        .token_lifetime_secs(900)
}

#[cfg(not(feature = "jwt-bearer"))]
/// The connector's name.
pub const NAME: &str = "salesforce";

#[cfg(feature = "jwt-bearer")]
/// The connector's name.
pub const NAME: &str = "salesforce-jwt";

/// The web-server flow.
#[cfg(not(feature = "jwt-bearer"))]
pub fn declare(spec: Spec) -> Spec {
    spec.oauth2(facts(
        OAuth2::authorization_code(
            format!("{{config.login_url|{LOGIN}}}/services/oauth2/authorize"),
            token_url(),
        )
        // `api`: the REST and Bulk APIs; `refresh_token`: the host may
        // renew the session without the administrator.
        .scope("api refresh_token"),
    ))
}

/// The claims the host signs: Salesforce wants exactly these, `exp` at most
/// three minutes ahead.
pub const JWT_CLAIMS: &str = r#"{"iss":"{config.client_id}","sub":"{config.username}","aud":"{config.audience}","exp":{exp}}"#;

/// Seconds an assertion is valid (Salesforce: within three minutes).
pub const JWT_LIFETIME_SECS: u32 = 120;

/// The JWT bearer flow.
#[cfg(feature = "jwt-bearer")]
pub fn declare(spec: Spec) -> Spec {
    use wharf_sdk::SecretSpec;
    use wharf_sdk::auth::SigningKey;
    spec.secret(SecretSpec::new("private_key").description(
        "the PKCS#8 PEM private key whose X.509 certificate the connected app holds \
         (`openssl pkcs8 -topk8 -nocrypt` converts an RSA key)",
    ))
    .signing(
        SigningKey::jwt(
            "assertion",
            "private_key",
            false,
            JWT_CLAIMS,
            JWT_LIFETIME_SECS,
        )
        .host(format!("{{config.login_url|{LOGIN}}}")),
    )
    .oauth2(facts(OAuth2::jwt_bearer(token_url(), "assertion")))
}

/// The config fields the grant needs.
#[cfg(not(feature = "jwt-bearer"))]
pub fn config_schema(_schema: &mut Value) {}

/// The config fields the grant needs.
#[cfg(feature = "jwt-bearer")]
pub fn config_schema(schema: &mut Value) {
    let props = &mut schema["properties"];
    props["client_id"] = serde_json::json!({"type": "string", "title": "Consumer key", "description": "The connected app's consumer key (the assertion's iss)"});
    props["username"] = serde_json::json!({"type": "string", "title": "Username", "description": "The Salesforce user the integration acts as (sub); the connected app must be pre-authorized for it"});
    props["audience"] = serde_json::json!({"type": "string", "enum": ["https://login.salesforce.com", "https://test.salesforce.com"], "title": "Audience", "description": "https://login.salesforce.com for production, https://test.salesforce.com for sandboxes (or an Experience Cloud site URL)"});
    schema["required"] = serde_json::json!(["client_id", "username", "audience", "base_url"]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_claims_are_json_once_filled() {
        let filled = JWT_CLAIMS
            .replace("{config.client_id}", "3MVG9")
            .replace("{config.username}", "a@b.c")
            .replace("{config.audience}", LOGIN)
            .replace("{exp}", "1");
        let v: Value = serde_json::from_str(&filled).unwrap();
        assert_eq!(v["aud"], LOGIN);
        assert_eq!(v.as_object().unwrap().len(), 4);
    }
}
