//! Errors as `application/problem+json` (RFC 9457). Every error says what
//! to do about it; internal failures are logged with an id and answered
//! with that id only.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

/// One problem with a field of the request.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct FieldError {
    /// Where: a JSON pointer into the request body, or a parameter name.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// The body of every error answer (RFC 9457 problem details); some errors
/// add members of their own (a 409 on delete lists what is in the way).
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Problem {
    /// Always `about:blank`: the status and title say what kind of error.
    #[serde(rename = "type")]
    pub kind: String,
    /// The status in words.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong and what to do about it.
    pub detail: String,
    /// Each invalid field, on 422.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Members particular to the error.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    title: &'static str,
    detail: String,
    errors: Vec<FieldError>,
    extra: Option<Value>,
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, title: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            title,
            detail: detail.into(),
            errors: Vec::new(),
            extra: None,
            retry_after: None,
        }
    }

    /// 400: the request cannot be read.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Bad request", detail)
    }
    /// 401: no or unknown credentials.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthorized", detail)
    }
    /// 403: the key's scope does not allow this.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Forbidden", detail)
    }
    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not found", detail)
    }
    /// 409: conflicts with the current state.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "Conflict", detail)
    }
    /// 413.
    pub fn too_large(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "Payload too large", detail)
    }
    /// 415.
    pub fn unsupported_media(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported media type",
            detail,
        )
    }
    /// 422: well-formed but invalid.
    pub fn invalid(detail: impl Into<String>, errors: Vec<FieldError>) -> Self {
        let mut e = Self::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid request", detail);
        e.errors = errors;
        e
    }
    /// 429: `who` sent too many requests (or failed sign-ins).
    pub fn rate_limited(who: &str, retry_after: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests",
            format!("{who}; retry in {retry_after} s"),
        );
        e.retry_after = Some(retry_after);
        e
    }
    /// 502: an upstream (an OAuth2 provider) failed.
    pub fn new_bad_gateway(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, "Bad gateway", detail)
    }
    /// 503.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service unavailable",
            detail,
        )
    }

    /// Ask the client to wait `secs` before trying again (`Retry-After`).
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// 500 with a cause the operator can act on and that reveals nothing
    /// internal (e.g. a secret that no configured key can decrypt).
    pub fn server(detail: impl Into<String>) -> Self {
        let detail = detail.into();
        tracing::error!(%detail, "request failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Server error", detail)
    }

    /// 500: logged in full with an id; the answer carries only the id.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        let id = crate::store::new_id();
        tracing::error!(error_id = %id, error = %error, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal error",
            format!(
                "the server failed; the operator can find the cause in its log under error id {id}"
            ),
        )
    }

    /// Add machine-readable members to the problem document.
    pub fn with(mut self, extra: Value) -> Self {
        self.extra = Some(extra);
        self
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        // Checks for a taken name run before the insert; a request that
        // raced another past that check meets the unique index here.
        if let crate::store::StoreError::Db(sqlx::Error::Database(db)) = &e
            && db.is_unique_violation()
        {
            return Self::conflict(
                "another request created or renamed one with the same name at the same time",
            );
        }
        Self::internal(e)
    }
}

impl From<crate::connections::fit::Misfit> for ApiError {
    fn from(m: crate::connections::fit::Misfit) -> Self {
        let fields = m
            .fields
            .into_iter()
            .map(|f| FieldError {
                field: f.field,
                message: f.message,
            })
            .collect();
        Self::invalid(m.summary, fields)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Problem {
            kind: "about:blank".into(),
            title: self.title.into(),
            status: self.status.as_u16(),
            detail: self.detail,
            errors: self.errors,
            extra: match self.extra {
                Some(Value::Object(extra)) => extra,
                _ => Default::default(),
            },
        };
        let text = serde_json::to_string(&body).expect("a problem serializes");
        let mut response = (self.status, text).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Marks an error answered as it is, without a problem document: a
/// sender's protocol wants the bare status (Xero's 401 with no body).
#[derive(Clone, Copy, Debug)]
pub struct Bare;

/// An error answer that is not a problem document yet (axum's own: a 405
/// for a method a path does not have, a rejection of an extractor not ours)
/// becomes one, so every error of the API has the same shape.
pub async fn every_error_a_problem(response: Response) -> Response {
    let status = response.status();
    if response.extensions().get::<Bare>().is_some() {
        return response;
    }
    // Ours are problem documents, or pages for a browser; axum's own are
    // plain text or empty.
    let ours = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| !v.as_bytes().starts_with(b"text/plain"));
    if status.as_u16() < 400 || ours {
        return response;
    }
    let detail = match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            "this path does not take this method; see `Allow` and /api/v1/openapi.json".to_string()
        }
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is too large".to_string(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            "the request body has the wrong content type".to_string()
        }
        other => other
            .canonical_reason()
            .unwrap_or("the request failed")
            .to_string(),
    };
    let title = status.canonical_reason().unwrap_or("Error");
    let mut problem = ApiError::new(status, title, detail).into_response();
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            problem.headers_mut().insert(name.clone(), value.clone());
        }
    }
    problem
}
