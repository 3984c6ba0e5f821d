//! Test fixture: an API behind OAuth2 with the JWT bearer grant (RFC 7523),
//! as a Google service account works: the host signs the assertion with the
//! `private_key` secret (ES256, the claims naming the account and the
//! token endpoint) and exchanges it for a token; no administrator
//! authorizes anything, and the key never enters this component.

use serde::Deserialize;
use wharf_sdk::OAuth2;
use wharf_sdk::auth::SigningKey;
use wharf_sdk::http::Request;
use wharf_sdk::prelude::*;

#[derive(Deserialize)]
pub struct Config {
    base_url: String,
}

pub struct OAuthService;

impl Connector for OAuthService {
    type Config = Config;

    fn spec() -> Spec {
        Spec::new("oauth-service", "0.1.0")
            .description("Reads /me of an API with a service account's token")
            .role(Role::Source)
            .stream(StreamSpec::new("me").key_field("sub"))
            .host("{config.base_url}")
            .secret(SecretSpec::new("private_key").description("the service account's PKCS#8 key"))
            .signing(
                SigningKey::jwt(
                    "service_account",
                    "private_key",
                    true,
                    r#"{"iss":"{config.client_email}","scope":"read","aud":"{config.auth_url}/token","iat":{now},"exp":{exp}}"#,
                    3600,
                )
                .host("{config.auth_url}"),
            )
            .oauth2(
                OAuth2::jwt_bearer("{config.auth_url}/token", "service_account").scope("read"),
            )
    }

    fn check(config: &Config) -> Result<()> {
        me(config).map(|_| ())
    }

    fn fetch(config: &Config, stream: &str, _cursor: Option<&str>) -> Result<Page> {
        let body = me(config)?;
        Ok(Page::last(
            vec![Record::from_value(stream, body)?.key_from("sub")],
            None,
        ))
    }
}

fn me(config: &Config) -> Result<Value> {
    Request::get(format!("{}/me", config.base_url))
        .oauth_bearer()
        .send()?
        .error_for_status()?
        .json()
}

export_connector!(OAuthService);
