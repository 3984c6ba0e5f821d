//! A source for an API behind OAuth2: the host runs the flow and refreshes
//! the token; this connector only writes `{{oauth:access_token}}`.

use serde::Deserialize;
use wharf_sdk::OAuth2;
use wharf_sdk::http::Request;
use wharf_sdk::prelude::*;

#[derive(Deserialize)]
pub struct Config {
    base_url: String,
    /// The path of the "who am I" endpoint.
    #[serde(default = "default_me")]
    me_path: String,
}

fn default_me() -> String {
    "/me".into()
}

pub struct OAuthApi;

impl Connector for OAuthApi {
    type Config = Config;

    fn spec() -> Spec {
        Spec::new("oauth-api", "0.1.0")
            .description("Reads /me of an OAuth2-protected API")
            .role(Role::Source)
            .stream(StreamSpec::new("me").key_field("sub"))
            .stream(StreamSpec::new("items").key_field("id"))
            .stream(StreamSpec::new("grant"))
            .host("{config.base_url}")
            .oauth2(
                OAuth2::authorization_code(
                    "{config.auth_url}/authorize",
                    "{config.auth_url}/token",
                )
                .scope("read")
                // Non-secret facts of the grant, for the `grant` stream;
                // `access_token` is asked for too, and never given.
                .info_field("scope")
                .info_field("token_type")
                .info_field("access_token"),
            )
    }

    fn check(config: &Config) -> Result<()> {
        me(config).map(|_| ())
    }

    fn fetch(config: &Config, stream: &str, cursor: Option<&str>) -> Result<Page> {
        if stream == "grant" {
            // What the host tells about the grant: never a token.
            let facts: Map<String, Value> = wharf_sdk::oauth_info()
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect();
            return Ok(Page::last(vec![Record::upsert(stream, facts)], None));
        }
        if stream == "items" {
            // Paged: one request per page, each with the current token.
            let page: u32 = cursor.and_then(|c| c.parse().ok()).unwrap_or(1);
            let body: Value = Request::get(format!("{}/items?page={page}", config.base_url))
                .oauth_bearer()
                .send()?
                .error_for_status()?
                .json()?;
            let mut records = Vec::new();
            for item in body["items"].as_array().cloned().unwrap_or_default() {
                records.push(Record::from_value(stream, item)?.key_from("id"));
            }
            let more = body["more"].as_bool().unwrap_or(false);
            return Ok(Page::new(records, Some((page + 1).to_string()), more));
        }
        let body = me(config)?;
        Ok(Page::last(
            vec![Record::from_value(stream, body)?.key_from("sub")],
            None,
        ))
    }
}

fn me(config: &Config) -> Result<Value> {
    Request::get(format!("{}{}", config.base_url, config.me_path))
        .oauth_bearer()
        .send()?
        .error_for_status()?
        .json()
}

export_connector!(OAuthApi);
