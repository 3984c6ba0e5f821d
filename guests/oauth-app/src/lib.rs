//! Test fixture: an API behind OAuth2 with the client credentials grant
//! (RFC 6749 §4.4), as Microsoft Graph's app-only access works: the host
//! gets a token with the connection's client id and secret, with no
//! administrator in a browser, and renews it by asking again.

use serde::Deserialize;
use wharf_sdk::OAuth2;
use wharf_sdk::auth::ClientAuth;
use wharf_sdk::http::Request;
use wharf_sdk::prelude::*;

#[derive(Deserialize)]
pub struct Config {
    base_url: String,
}

pub struct OAuthApp;

impl Connector for OAuthApp {
    type Config = Config;

    fn spec() -> Spec {
        Spec::new("oauth-app", "0.1.0")
            .description("Reads /me of an API with an application's own token")
            .role(Role::Source)
            .stream(StreamSpec::new("me").key_field("sub"))
            .host("{config.base_url}")
            .oauth2(
                OAuth2::client_credentials("{config.auth_url}/token")
                    .scope("read")
                    .client_auth(ClientAuth::Basic),
            )
    }

    fn check(config: &Config) -> Result<()> {
        Request::get(format!("{}/me", config.base_url))
            .oauth_bearer()
            .send()?
            .error_for_status()?;
        Ok(())
    }

    fn fetch(_config: &Config, _stream: &str, _cursor: Option<&str>) -> Result<Page> {
        Ok(Page::last(Vec::new(), None))
    }
}

export_connector!(OAuthApp);
