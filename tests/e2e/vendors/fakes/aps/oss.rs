//! The fake's object storage: OSS's `signeds3download`, and the "CDN" its
//! URLs point at (`/cdn/com.autodesk.oss-persistent/us-east-1/{bucket}/{key}`
//! on this origin, standing in for `cdn.us.oss.api.autodesk.com`), which
//! checks the URL's signature and expiry as CloudFront does and answers
//! its XML errors.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hmac::Mac;
use serde_json::json;
use sha1::Digest as _;

use super::account::BUCKET;
use super::{Aps, Query, param};

/// The key the CDN signs URLs with (CloudFront's key pair).
const CDN_KEY: &[u8] = b"fake-cloudfront-private-key-K2JCJMDEHXQW5F";
const KEY_PAIR: &str = "K2JCJMDEHXQW5F";

fn sign(bucket: &str, key: &str, expires: i64) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(CDN_KEY).expect("any key length");
    mac.update(format!("{bucket}/{key}\n{expires}").as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// OSS's error shape.
fn reason(status: StatusCode, reason: &str) -> Response {
    (status, axum::Json(json!({"reason": reason}))).into_response()
}

/// CloudFront's and S3's error shape.
fn xml(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    (status, [(header::CONTENT_TYPE, "text/xml")], body).into_response()
}

/// `GET oss/v2/buckets/{bucketKey}/objects/{objectKey}/signeds3download`.
pub fn signed(a: &mut Aps, bucket: &str, key: &str, query: &Query, origin: &str) -> Response {
    let allowed = [
        "response-content-type",
        "response-content-disposition",
        "response-cache-control",
        "public-resource-fallback",
        "minutesExpiration",
        "useCdn",
    ];
    for (k, v) in query {
        if !allowed.contains(&k.as_str()) {
            a.violations
                .push(format!("signeds3download: APS does not document `{k}`"));
        } else if k == "useCdn" || k == "public-resource-fallback" {
            if v != "true" && v != "false" {
                return reason(
                    StatusCode::BAD_REQUEST,
                    &format!("{k} must be true or false"),
                );
            }
        } else if k != "minutesExpiration" {
            a.violations
                .push(format!("signeds3download: the fake does not model `{k}`"));
        }
    }
    if param(query, "useCdn") != Some("true") {
        a.violations
            .push("signeds3download without useCdn=true: the fake serves CDN URLs only".into());
    }
    let minutes: i64 = match param(query, "minutesExpiration").map(str::parse) {
        None => 2,
        Some(Ok(m)) if (1..=60).contains(&m) => m,
        Some(_) => return reason(StatusCode::BAD_REQUEST, "minutesExpiration must be 1-60"),
    };
    if bucket != BUCKET {
        return reason(StatusCode::NOT_FOUND, "Bucket not found");
    }
    let Some(bytes) = a.account.objects.get(key) else {
        return reason(StatusCode::NOT_FOUND, "Object doesn't exist");
    };
    let expires = super::now_ms() / 1000 + minutes * 60;
    let signature = sign(bucket, key, expires);
    let key_path = crate::vendors::encode(key);
    let disposition = crate::vendors::encode(&format!("attachment; filename=\"{key}\""));
    let url = format!(
        "{origin}/cdn/com.autodesk.oss-persistent/us-east-1/{bucket}/{key_path}\
         ?response-content-type=application%2Foctet-stream&response-content-disposition={disposition}\
         &Expires={expires}&Signature={signature}&Key-Pair-Id={KEY_PAIR}"
    );
    let sha1 = hex::encode(sha1::Sha1::digest(bytes));
    let size = bytes.len();
    a.signatures.push(signature);
    axum::Json(json!({"status": "complete", "url": url,
        "params": {"content-type": "application/octet-stream",
            "content-disposition": format!("attachment; filename=\"{key}\"")},
        "size": size, "sha1": sha1}))
    .into_response()
}

/// The CDN: a signed URL's object, without the API's token.
pub fn object(a: &mut Aps, rest: &[&str], query: &Query, headers: &HeaderMap) -> Response {
    if headers.contains_key(header::AUTHORIZATION) {
        a.violations
            .push("a signed download URL was sent with an Authorization header".into());
        let message = "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified";
        return xml(StatusCode::BAD_REQUEST, "InvalidArgument", message);
    }
    let ["com.autodesk.oss-persistent", "us-east-1", bucket, key] = rest else {
        return xml(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        );
    };
    let expires: Option<i64> = param(query, "Expires").and_then(|e| e.parse().ok());
    let signature = param(query, "Signature").unwrap_or_default();
    let genuine = expires.is_some_and(|e| sign(bucket, key, e) == signature)
        && param(query, "Key-Pair-Id") == Some(KEY_PAIR);
    if !genuine {
        return xml(StatusCode::FORBIDDEN, "AccessDenied", "Access denied");
    }
    if expires.is_some_and(|e| e < super::now_ms() / 1000) {
        return xml(StatusCode::FORBIDDEN, "AccessDenied", "Request has expired");
    }
    let Some(bytes) = a.account.objects.get(*key).cloned() else {
        return xml(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        );
    };
    a.downloads.push(key.to_string());
    ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()
}
