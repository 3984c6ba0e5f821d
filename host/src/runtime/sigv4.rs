//! AWS Signature Version 4, computed by the host for a request a connector
//! asked it to sign, so the AWS secret key never enters the guest.
//!
//! Follows AWS's "Create a signed AWS API request" (IAM user guide): the
//! canonical request (method, URI encoded twice except for S3, sorted
//! query, the signed headers), the string to sign over its SHA-256, and
//! the key derived from the secret through date, region, service and
//! `aws4_request`. The unit tests use vectors of AWS's SigV4 test suite.

use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use sha2::{Digest, Sha256};
use url::Url;

use crate::clock::civil_from_days;
use crate::model::mac::sign as mac;
use crate::model::spec::HmacHash;

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    mac(HmacHash::Sha256, key, data)
}

/// What signs: the credentials and the scope.
pub struct Credentials<'a> {
    /// Access key id.
    pub key_id: &'a str,
    /// Secret access key.
    pub secret_key: &'a str,
    /// Session token of temporary credentials.
    pub session_token: Option<&'a str>,
    /// Region (`us-east-1`).
    pub region: &'a str,
    /// Service (`ce`, `s3`).
    pub service: &'a str,
}

/// Sign the request in place: adds `x-amz-date` (and the session token,
/// and for S3 the payload hash) and `Authorization`. Returns the headers
/// added, which carry credentials.
pub fn sign(
    creds: &Credentials<'_>,
    method: &Method,
    url: &Url,
    headers: &mut HeaderMap,
    body: &[u8],
    unix_secs: i64,
) -> Result<Vec<HeaderName>, String> {
    let (y, m, d) = civil_from_days(unix_secs.div_euclid(86_400));
    let s = unix_secs.rem_euclid(86_400);
    let date = format!("{y:04}{m:02}{d:02}");
    let amz_date = format!("{date}T{:02}{:02}{:02}Z", s / 3600, (s % 3600) / 60, s % 60);
    let header = |v: &str| HeaderValue::from_str(v).map_err(|_| "a value is not a valid header");
    let mut added = vec![HeaderName::from_static("x-amz-date")];
    headers.insert("x-amz-date", header(&amz_date)?);
    if let Some(token) = creds.session_token {
        headers.insert("x-amz-security-token", header(token)?);
        added.push(HeaderName::from_static("x-amz-security-token"));
    }
    let payload = hex::encode(Sha256::digest(body));
    if creds.service == "s3" {
        headers.insert("x-amz-content-sha256", header(&payload)?);
        added.push(HeaderName::from_static("x-amz-content-sha256"));
    }

    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_string(),
    };
    let mut signed: Vec<(String, String)> = vec![("host".into(), host)];
    for name in headers.keys() {
        let n = name.as_str();
        if n == "content-type" || n.starts_with("x-amz-") {
            let values: Vec<String> = headers
                .get_all(name)
                .iter()
                .map(|v| collapse(&String::from_utf8_lossy(v.as_bytes())))
                .collect();
            signed.push((n.to_string(), values.join(",")));
        }
    }
    signed.sort();
    let canonical_headers: String = signed.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed_names = signed
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_request = format!(
        "{}\n{}\n{}\n{canonical_headers}\n{signed_names}\n{payload}",
        method.as_str(),
        canonical_uri(url, creds.service),
        canonical_query(url),
    );
    let scope = format!("{date}/{}/{}/aws4_request", creds.region, creds.service);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let k_date = hmac(
        format!("AWS4{}", creds.secret_key).as_bytes(),
        date.as_bytes(),
    );
    let k_region = hmac(&k_date, creds.region.as_bytes());
    let k_service = hmac(&k_region, creds.service.as_bytes());
    let k_signing = hmac(&k_service, b"aws4_request");
    let signature = hex::encode(hmac(&k_signing, string_to_sign.as_bytes()));
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_names}, Signature={signature}",
        creds.key_id
    );
    headers.insert(reqwest::header::AUTHORIZATION, header(&authorization)?);
    added.push(reqwest::header::AUTHORIZATION);
    Ok(added)
}

/// Header values trimmed, inner runs of spaces made one.
fn collapse(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// RFC 3986 encoding of everything but the unreserved characters.
fn uri_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The path as sent (already encoded once by the URL parser); every
/// service but S3 encodes each segment a second time.
fn canonical_uri(url: &Url, service: &str) -> String {
    let path = match url.path() {
        "" => "/",
        p => p,
    };
    if service == "s3" {
        return path.to_string();
    }
    path.split('/')
        .map(uri_encode)
        .collect::<Vec<_>>()
        .join("/")
}

/// Parameters decoded, encoded again the one AWS way, sorted.
fn canonical_query(url: &Url) -> String {
    let mut pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (uri_encode(&k), uri_encode(&v)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2015-08-30T12:36:00Z, the date of AWS's SigV4 test suite.
    const SUITE_TIME: i64 = 1_440_938_160;

    fn suite(method: Method, url: &str) -> String {
        let creds = Credentials {
            key_id: "AKIDEXAMPLE",
            secret_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            session_token: None,
            region: "us-east-1",
            service: "service",
        };
        let mut headers = HeaderMap::new();
        let url = Url::parse(url).unwrap();
        sign(&creds, &method, &url, &mut headers, b"", SUITE_TIME).unwrap();
        assert_eq!(headers["x-amz-date"], "20150830T123600Z");
        headers["authorization"].to_str().unwrap().to_string()
    }

    #[test]
    fn matches_the_aws_test_suite() {
        // get-vanilla
        assert_eq!(
            suite(Method::GET, "https://example.amazonaws.com/"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
        // get-vanilla-query-order-key-case: parameters sorted.
        assert_eq!(
            suite(
                Method::GET,
                "https://example.amazonaws.com/?Param2=value2&Param1=value1"
            ),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
        );
    }

    #[test]
    fn session_token_and_s3_payload_are_signed() {
        let creds = Credentials {
            key_id: "AKID",
            secret_key: "secret",
            session_token: Some("session-token"),
            region: "eu-west-1",
            service: "s3",
        };
        let mut headers = HeaderMap::new();
        let url = Url::parse("https://bucket.s3.amazonaws.com/a%20b").unwrap();
        let added = sign(
            &creds,
            &Method::PUT,
            &url,
            &mut headers,
            b"data",
            SUITE_TIME,
        )
        .unwrap();
        assert_eq!(added.len(), 4);
        let auth = headers["authorization"].to_str().unwrap();
        assert!(
            auth.contains(
                "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token"
            ),
            "{auth}"
        );
        assert_eq!(canonical_uri(&url, "s3"), "/a%20b");
        assert_eq!(canonical_uri(&url, "ce"), "/a%2520b");
    }
}
