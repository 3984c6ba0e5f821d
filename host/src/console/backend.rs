//! The console's way to the API: a request built here is answered by the
//! API router in this process, signed with the session's key (the
//! [`SessionActor`] extension, which no client can send), so each page obeys
//! exactly the rules, scopes and audit log a REST client does.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::Value;
use tower::ServiceExt as _;

use super::Console;
use super::layout::error_page;
use super::session::Signed;
use crate::api::SessionActor;

/// Largest API answer a page reads (an export is passed on, not read).
const ANSWER_LIMIT: usize = 64 << 20;

/// A refused or failed API call, as a page shows it.
#[derive(Debug, Clone)]
pub struct Problem {
    /// The API's status.
    pub status: StatusCode,
    /// What went wrong, in the API's words.
    pub detail: String,
    /// Field errors (JSON pointer or parameter, message).
    pub errors: Vec<(String, String)>,
}

impl Problem {
    /// The detail and each field error, as one message for a person.
    pub fn sentence(&self) -> String {
        let mut text = self.detail.clone();
        for (f, m) in &self.errors {
            text.push_str(&format!(" {f}: {m}."));
        }
        text
    }

    /// The message for `field` (a JSON pointer such as `/config/url`).
    pub fn field(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }
}

impl IntoResponse for Problem {
    /// A page for the problem; a session whose key went away signs in again.
    fn into_response(self) -> Response {
        if self.status == StatusCode::UNAUTHORIZED {
            return Redirect::to("/sign-in").into_response();
        }
        let text = if self.status == StatusCode::FORBIDDEN {
            format!("Your key may not do this. {}", self.detail)
        } else {
            self.detail
        };
        error_page(self.status, &text).into_response()
    }
}

/// The API, signed as one session.
pub struct Api<'a> {
    console: &'a Console,
    actor: SessionActor,
}

impl Console {
    /// The API as `signed` sees it.
    pub fn api(&self, signed: &Signed) -> Api<'_> {
        Api {
            console: self,
            actor: signed.actor(),
        }
    }
}

impl Api<'_> {
    /// Send a request; the API's answer as it is.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        headers: &[(&str, String)],
        body: Body,
    ) -> Response {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(ct) = content_type {
            builder = builder.header(header::CONTENT_TYPE, ct);
        }
        for (name, value) in headers {
            builder = builder.header(*name, value);
        }
        let mut req = match builder.body(body) {
            Ok(req) => req,
            Err(e) => return super::layout::internal(&e.to_string()),
        };
        req.extensions_mut().insert(self.actor.clone());
        match self.console.api.clone().oneshot(req).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }

    /// Send, and read the answer as JSON (`null` for an empty one) or as
    /// the problem it is.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Body,
    ) -> Result<Value, Problem> {
        self.call_with(method, path, content_type, &[], body).await
    }

    /// [`Api::call`] with extra request headers.
    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        headers: &[(&str, String)],
        body: Body,
    ) -> Result<Value, Problem> {
        let response = self.send(method, path, content_type, headers, body).await;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), ANSWER_LIMIT)
            .await
            .map_err(|e| Problem {
                status: StatusCode::BAD_GATEWAY,
                detail: format!("the API's answer could not be read: {e}"),
                errors: Vec::new(),
            })?;
        let value: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        if status.is_success() {
            return Ok(value);
        }
        let errors = value["errors"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|e| {
                        (
                            e["field"].as_str().unwrap_or_default().to_string(),
                            e["message"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Err(Problem {
            status,
            detail: value["detail"]
                .as_str()
                .map_or_else(|| value.to_string(), str::to_string),
            errors,
        })
    }

    /// `GET` as JSON.
    pub async fn get(&self, path: &str) -> Result<Value, Problem> {
        self.call(Method::GET, path, None, Body::empty()).await
    }

    /// A JSON body (`None`: no body).
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Problem> {
        match body {
            Some(b) => {
                self.call(
                    method,
                    path,
                    Some("application/json"),
                    Body::from(b.to_string()),
                )
                .await
            }
            None => self.call(method, path, None, Body::empty()).await,
        }
    }
}

/// What a path segment cannot hold as it is.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\\')
    .add(b'@');

/// A path segment, percent-encoded.
pub fn seg(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

/// A query string from pairs.
pub fn query(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}
