//! The OpenID Connect provider of the single sign-on tests
//! (`oidc_provider.mjs` around `oauth2-mock-server`), and a `wharf serve`
//! that trusts it.

use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::{Value, json};

use crate::serve::Server;

/// The client registered for Wharf.
pub const CLIENT_ID: &str = "wharf-console";

/// The provider, and the way to say who signs in next.
pub struct Provider {
    child: tokio::process::Child,
    pub issuer: String,
    http: reqwest::Client,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

impl Provider {
    pub async fn start() -> Self {
        let package = crate::oauth::mock_server_package().await;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/e2e/oidc_provider.mjs");
        let mut child = tokio::process::Command::new("node")
            .arg(script)
            .arg(package.join("dist/index.mjs"))
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start the OpenID Connect provider (node)");
        let issuer = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .unwrap();
        for _ in 0..100 {
            if http
                .get(format!("{issuer}/.well-known/openid-configuration"))
                .send()
                .await
                .is_ok()
            {
                return Self {
                    child,
                    issuer,
                    http,
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = child.start_kill();
        panic!("the OpenID Connect provider did not start");
    }

    /// Who the next tokens are for.
    pub async fn next_person(&self, person: Value) {
        let r = self
            .http
            .post(format!("{}/_test/person", self.issuer))
            .body(person.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }

    /// An ID token for the next person, issued to `client_id`.
    pub async fn id_token(&self, client_id: &str) -> String {
        let text = self
            .http
            .post(format!("{}/token", self.issuer))
            .form(&[
                ("grant_type", "password"),
                ("username", "ignored"),
                ("client_id", client_id),
            ])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let r: Value = serde_json::from_str(&text).unwrap();
        r["id_token"].as_str().unwrap().to_string()
    }

    /// A token signed by a key the provider never published.
    pub async fn forged(&self) -> String {
        self.http
            .post(format!("{}/_test/forge", self.issuer))
            .body(json!({"aud": CLIENT_ID}).to_string())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

/// `wharf serve` trusting `provider`, with three roles mapped from groups.
pub async fn serve_with_sso(
    provider: &Provider,
    dir: &std::path::Path,
    database_url: Option<String>,
) -> Server {
    let secret = dir.join("oidc-secret");
    std::fs::write(&secret, "client-secret-7\n").unwrap();
    let secret = secret.display().to_string();
    Server::start_with(
        dir.join("data"),
        database_url,
        &[
            "--oidc-issuer",
            &provider.issuer,
            "--oidc-client-id",
            CLIENT_ID,
            "--oidc-client-secret-file",
            &secret,
            "--oidc-scope",
            "email,groups",
            "--oidc-role",
            "admin=wharf-admins",
            "--oidc-role",
            "operator=wharf-ops",
            "--oidc-role",
            "viewer=staff",
        ],
    )
    .await
}
