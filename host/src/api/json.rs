//! A JSON body extractor. The body is checked against the request type's
//! schema, the same one the OpenAPI document publishes, so every bound the
//! document states is enforced and nothing it allows is refused for its
//! shape; each violation is reported with its field (422). Unreadable JSON
//! is a 400 that names where it breaks; an oversized body is a 413.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::{ApiError, FieldError};
use super::openapi::request_validator;

/// A JSON request body.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + JsonSchema + 'static> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json") || v.contains("+json"));
        if !json {
            return Err(ApiError::unsupported_media(
                "send the body as JSON with `Content-Type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::too_large(format!(
                    "the request body is larger than this endpoint accepts ({} bytes)",
                    super::JSON_BODY_LIMIT
                ))
            } else {
                ApiError::bad_request("the request body could not be read")
            }
        })?;
        let mut value: Value = parse(&bytes)?;
        integral_numbers(&mut value);
        let errors = schema_errors(&request_validator::<T>(), &value);
        if !errors.is_empty() {
            return Err(ApiError::invalid(
                "the body does not fit the request's schema (see /api/v1/openapi.json)",
                errors,
            ));
        }
        let de = serde_path_to_error::deserialize(value).map_err(|e| {
            let field = format!("/{}", e.path().to_string().replace('.', "/"));
            let message = plain(&e.into_inner().to_string());
            ApiError::invalid(
                format!("the body is invalid at `{field}`: {message}"),
                vec![FieldError { field, message }],
            )
        })?;
        Ok(Json(de))
    }
}

/// `1.0` is the integer 1 in JSON (and in JSON Schema): written as an
/// integer here, so integer fields take it.
fn integral_numbers(value: &mut Value) {
    match value {
        Value::Number(n) => {
            if let Some(f) = n.as_f64()
                && !n.is_i64()
                && !n.is_u64()
                && f.fract() == 0.0
                && f.abs() < 9.0e15
            {
                *n = serde_json::Number::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_numbers),
        Value::Object(fields) => fields.values_mut().for_each(integral_numbers),
        _ => {}
    }
}

/// Where `value` breaks the schema, each place once. An optional field's
/// schema is "this, or null": the failure of the null branch and the
/// summary of the alternatives say nothing, so the errors inside the
/// branch that was meant are reported instead.
fn schema_errors(validator: &jsonschema::Validator, value: &Value) -> Vec<FieldError> {
    let field = |path: String| if path.is_empty() { "/".into() } else { path };
    let jsonschema::BasicOutput::Invalid(units) = validator.apply(value).basic() else {
        return Vec::new();
    };
    let mut errors: Vec<FieldError> = Vec::new();
    for unit in &units {
        let keyword = unit.keyword_location().to_string();
        let message = unit.error_description().to_string();
        let summary = keyword.ends_with("/anyOf") || keyword.ends_with("/oneOf");
        let null_branch = keyword.ends_with("/type") && message.ends_with("\"null\"");
        let error = FieldError {
            field: field(unit.instance_location().to_string()),
            message,
        };
        if !summary && !null_branch && !errors.contains(&error) {
            errors.push(error);
        }
    }
    if errors.is_empty() {
        // Nothing more precise: the summaries themselves.
        errors = validator
            .iter_errors(value)
            .map(|e| FieldError {
                field: field(e.instance_path.to_string()),
                message: e.to_string(),
            })
            .collect();
    }
    errors
}

/// Parse JSON, naming where the first error is.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = plain(&e.into_inner().to_string());
        if path == "." || path.is_empty() {
            ApiError::bad_request(format!("invalid JSON body: {inner}"))
        } else {
            ApiError::bad_request(format!("invalid JSON body at `{path}`: {inner}"))
        }
    })
}

/// A deserializer's message in the API's words: the names of Rust types
/// (`expected u64`, `expected struct SyncInput`) mean nothing to a client.
pub fn plain(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find("expected ") {
        out.push_str(&rest[..at + "expected ".len()]);
        rest = &rest[at + "expected ".len()..];
        let word_end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let (word, after) = rest.split_at(word_end);
        let replaced = match word {
            "u8" | "u16" | "u32" | "u64" | "usize" => Some("a non-negative integer"),
            "i8" | "i16" | "i32" | "i64" | "isize" => Some("an integer"),
            "f32" | "f64" => Some("a number"),
            "struct" | "enum" | "map" => {
                // `struct Name` / `enum Name`: drop the type name too.
                let name_end = after
                    .trim_start()
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .map_or(after.len(), |n| {
                        n + (after.len() - after.trim_start().len())
                    });
                out.push_str(if word == "enum" {
                    "one of the documented values"
                } else {
                    "an object"
                });
                rest = &after[name_end..];
                continue;
            }
            _ => None,
        };
        if let Some(r) = replaced {
            out.push_str(r);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::plain;

    #[test]
    fn rust_type_names_are_put_in_plain_words() {
        assert_eq!(
            plain("invalid type: string \"x\", expected u64"),
            "invalid type: string \"x\", expected a non-negative integer"
        );
        assert_eq!(
            plain("invalid type: sequence, expected struct SyncInput at line 1"),
            "invalid type: sequence, expected an object at line 1"
        );
        assert_eq!(
            plain("expected enum Mode"),
            "expected one of the documented values"
        );
        assert_eq!(
            plain("unknown variant `x`, expected one of `a`, `b`"),
            "unknown variant `x`, expected one of `a`, `b`"
        );
    }
}
