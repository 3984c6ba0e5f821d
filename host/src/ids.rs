//! Identifiers and random tokens.

use base64::Engine as _;

/// A fresh random id (a UUID v4, so ids look familiar in logs and URLs).
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// `bytes` random bytes as URL-safe base64 without padding.
pub fn random_token(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    getrandom::fill(&mut b).expect("the OS random source works");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}
