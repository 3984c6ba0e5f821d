//! The fake's OAuth 2.0 endpoints: the web-server flow's authorize and
//! token endpoints, the refresh token grant and the JWT bearer grant.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::Mac as _;
use serde_json::{Value, json};
use sha2::Digest as _;

use super::{
    CLIENT_ID, CLIENT_SECRET, Call, Code, ORG_ID, Salesforce, USER_ID, USERNAME, answer, now,
    oauth_error, random,
};

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Who a JWT assertion may be for: production and sandbox logins.
const AUDIENCES: [&str; 2] = [
    "https://login.salesforce.com",
    "https://test.salesforce.com",
];

impl Salesforce {
    pub(super) fn authorize(&mut self, c: &Call) -> Response {
        let page = |what: &str| {
            (
                StatusCode::BAD_REQUEST,
                [(header::CONTENT_TYPE, "text/html")],
                format!("<html><body>{what}</body></html>"),
            )
                .into_response()
        };
        if c.param("client_id") != Some(CLIENT_ID) {
            return page("error=invalid_client_id&error_description=client identifier invalid");
        }
        let redirect = c.param("redirect_uri").unwrap_or_default().to_string();
        let registered = self.redirect_uris.is_empty() || self.redirect_uris.contains(&redirect);
        let Some(mut back) = url::Url::parse(&redirect).ok().filter(|_| registered) else {
            return page(
                "error=redirect_uri_mismatch&error_description=redirect_uri must match configuration",
            );
        };
        if c.param("response_type") != Some("code") {
            return page(
                "error=unsupported_response_type&error_description=response type not supported",
            );
        }
        if c.param("code_challenge").is_some()
            && c.param("code_challenge_method")
                .is_some_and(|m| m != "S256")
        {
            self.violations
                .push("authorize: code_challenge_method other than S256".into());
        }
        let code = format!("aPrx{}==", random(48));
        let scope = c.param("scope").unwrap_or("api refresh_token").to_string();
        let challenge = c.param("code_challenge").map(str::to_string);
        self.codes.insert(
            code.clone(),
            Code(redirect, challenge, scope, Instant::now()),
        );
        {
            let mut q = back.query_pairs_mut();
            q.append_pair("code", &code);
            if let Some(state) = c.param("state") {
                q.append_pair("state", state);
            }
        }
        (StatusCode::FOUND, [(header::LOCATION, back.to_string())]).into_response()
    }

    pub(super) fn token(&mut self, c: &Call) -> Response {
        let typed = c.header("content-type").unwrap_or_default();
        if !typed.starts_with("application/x-www-form-urlencoded") {
            return oauth_error(
                "invalid_request",
                "must use application/x-www-form-urlencoded",
            );
        }
        let form: BTreeMap<String, String> =
            serde_urlencoded::from_bytes(c.body).unwrap_or_default();
        let get = |k: &str| form.get(k).map(String::as_str);
        let grant = get("grant_type").unwrap_or_default();
        if grant == JWT_BEARER {
            return match self.check_assertion(get("assertion").unwrap_or_default()) {
                Ok(()) => {
                    self.jwt_grants += 1;
                    self.issue("api", false)
                }
                Err((error, why)) => oauth_error(error, why),
            };
        }
        if get("client_id") != Some(CLIENT_ID) {
            return oauth_error("invalid_client_id", "client identifier invalid");
        }
        if get("client_secret") != Some(CLIENT_SECRET) {
            return oauth_error("invalid_client", "invalid client credentials");
        }
        match grant {
            "authorization_code" => {
                let Some(Code(redirect, challenge, scope, at)) =
                    get("code").and_then(|k| self.codes.remove(k))
                else {
                    return oauth_error("invalid_grant", "invalid authorization code");
                };
                if at.elapsed() > Duration::from_secs(15 * 60) {
                    return oauth_error("invalid_grant", "expired authorization code");
                }
                if get("redirect_uri") != Some(redirect.as_str()) {
                    return oauth_error("invalid_grant", "redirect_uri must match configuration");
                }
                if let Some(challenge) = challenge {
                    let verifier = get("code_verifier").unwrap_or_default();
                    if URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
                        != challenge
                    {
                        return oauth_error("invalid_grant", "invalid code verifier");
                    }
                }
                let long_lived = scope
                    .split(' ')
                    .any(|s| s == "refresh_token" || s == "offline_access");
                self.issue(&scope, long_lived)
            }
            "refresh_token" => {
                if !get("refresh_token").is_some_and(|r| self.refresh.iter().any(|k| k == r)) {
                    return oauth_error("invalid_grant", "expired access/refresh token");
                }
                self.refreshes += 1;
                self.issue("refresh_token api", false)
            }
            _ => oauth_error("unsupported_grant_type", "grant type not supported"),
        }
    }

    /// RS256 by the registered key, for this consumer and user, not expired.
    fn check_assertion(&self, jwt: &str) -> Result<(), (&'static str, &'static str)> {
        let invalid = ("invalid_grant", "invalid assertion");
        let (input, sig) = jwt.rsplit_once('.').ok_or(invalid)?;
        let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|_| invalid)?;
        let key = ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            &self.jwt_public,
        );
        key.verify(input.as_bytes(), &sig).map_err(|_| invalid)?;
        let (header, claims) = input.split_once('.').ok_or(invalid)?;
        let decode = |part: &str| -> Option<Value> {
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
        };
        let (header, claims) = (
            decode(header).ok_or(invalid)?,
            decode(claims).ok_or(invalid)?,
        );
        if header["alg"] != "RS256" {
            return Err(invalid);
        }
        if claims["iss"] != CLIENT_ID {
            return Err(("invalid_client_id", "client identifier invalid"));
        }
        let aud = claims["aud"].as_str().unwrap_or_default();
        if !AUDIENCES.contains(&aud) && aud != self.origin {
            return Err(("invalid_grant", "audience is invalid"));
        }
        if claims["sub"] != USERNAME {
            return Err(("invalid_grant", "user hasn't approved this consumer"));
        }
        // `exp` within three minutes (a little more for clock skew).
        let exp = claims["exp"].as_i64().ok_or(invalid)?;
        if exp <= now() || exp > now() + 300 {
            return Err(("invalid_grant", "expired authorization code"));
        }
        Ok(())
    }

    fn issue(&mut self, scope: &str, with_refresh: bool) -> Response {
        let access = format!("{}!AR8AQ{}", &ORG_ID[..15], random(72));
        let issued_at = wharf_sdk::time::now_ms().to_string();
        let id = format!("{}/id/{ORG_ID}/{USER_ID}", self.origin);
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(CLIENT_SECRET.as_bytes()).expect("any key");
        mac.update(format!("{id}{issued_at}").as_bytes());
        let signature = STANDARD.encode(mac.finalize().into_bytes());
        let mut body = json!({"access_token": access, "signature": signature, "scope": scope,
            "instance_url": self.origin, "id": id, "token_type": "Bearer", "issued_at": issued_at});
        if with_refresh {
            let refresh = format!("5Aep861{}", random(60));
            body["refresh_token"] = json!(refresh);
            self.refresh.push(refresh.clone());
            self.issued.push(refresh);
        }
        self.issued.push(access.clone());
        self.access.insert(access, self.token_uses);
        answer(StatusCode::OK, &body)
    }
}
