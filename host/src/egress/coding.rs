//! Content codings of responses, owned by the host.
//!
//! The host asks for the codings it can decode ([`ACCEPT_ENCODING`]),
//! decodes every coding a response lists (stacked ones too, last applied
//! first) with a cap on the decoded size, and only then redacts. A body in
//! a coding it cannot decode is opaque to the redactor: the HTTP capability
//! refuses it when a secret may have been sent to that origin.

use std::io::Read;

/// What the host sends as `Accept-Encoding` on every request.
pub const ACCEPT_ENCODING: &str = "gzip, deflate, br, zstd";

/// More stacked codings than this are refused: no real server sends them.
const MAX_LAYERS: usize = 3;

/// Why a body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A coding the host does not know.
    #[error("content coding `{0}` is not one the host decodes")]
    Unknown(String),
    /// Decoded, the body is larger than the cap.
    #[error("the decoded body is larger than {0} bytes")]
    TooLarge(usize),
    /// The bytes are not valid in their coding.
    #[error("the body is not valid {coding}: {reason}")]
    Corrupt {
        /// The coding.
        coding: String,
        /// What the decoder said.
        reason: String,
    },
}

/// The codings of a `Content-Encoding` value, in the order they were
/// applied; `identity` is dropped.
pub fn codings(header: &str) -> Vec<String> {
    header
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty() && c != "identity")
        .collect()
}

/// Whether the host can decode every one of `codings`.
pub fn decodable(codings: &[String]) -> bool {
    codings.len() <= MAX_LAYERS && codings.iter().all(|c| known(c))
}

fn known(coding: &str) -> bool {
    matches!(coding, "gzip" | "x-gzip" | "deflate" | "br" | "zstd")
}

/// Undo `codings` (in the order they were applied) on `body`; no layer may
/// decode to more than `cap` bytes.
pub fn decode(codings: &[String], body: Vec<u8>, cap: usize) -> Result<Vec<u8>, DecodeError> {
    if codings.len() > MAX_LAYERS {
        return Err(DecodeError::Unknown(codings.join(", ")));
    }
    let mut body = body;
    for coding in codings.iter().rev() {
        body = decode_one(coding, &body, cap)?;
    }
    Ok(body)
}

fn decode_one(coding: &str, body: &[u8], cap: usize) -> Result<Vec<u8>, DecodeError> {
    let corrupt = |e: std::io::Error| DecodeError::Corrupt {
        coding: coding.to_string(),
        reason: e.to_string(),
    };
    let reader: Box<dyn Read + '_> = match coding {
        "gzip" | "x-gzip" => Box::new(flate2::read::MultiGzDecoder::new(body)),
        // RFC 9110 says zlib; some servers send a raw deflate stream.
        "deflate" if body.first().is_some_and(|b| b & 0x0f == 8) => {
            Box::new(flate2::read::ZlibDecoder::new(body))
        }
        "deflate" => Box::new(flate2::read::DeflateDecoder::new(body)),
        "br" => Box::new(brotli::Decompressor::new(body, 64 << 10)),
        "zstd" => Box::new(zstd::stream::read::Decoder::new(body).map_err(corrupt)?),
        other => return Err(DecodeError::Unknown(other.to_string())),
    };
    let mut out = Vec::new();
    reader
        .take(cap as u64 + 1)
        .read_to_end(&mut out)
        .map_err(corrupt)?;
    if out.len() > cap {
        return Err(DecodeError::TooLarge(cap));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn brotli(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        brotli::BrotliCompress(&mut &data[..], &mut out, &Default::default()).unwrap();
        out
    }

    #[test]
    fn stacked_codings_are_undone_last_first() {
        let body = brotli(&gzip(b"the secret"));
        let c = codings("gzip, br");
        assert!(decodable(&c));
        assert_eq!(decode(&c, body, 1 << 20).unwrap(), b"the secret");
        let zstd = zstd::encode_all(&b"z"[..], 3).unwrap();
        assert_eq!(decode(&codings("ZSTD"), zstd, 10).unwrap(), b"z");
        assert_eq!(
            decode(&codings("identity"), b"x".to_vec(), 10).unwrap(),
            b"x"
        );
    }

    #[test]
    fn unknown_codings_and_bombs_are_refused() {
        assert!(!decodable(&codings("gzip, compress")));
        assert!(!decodable(&codings("gzip, gzip, gzip, gzip")));
        assert_eq!(
            decode(&codings("compress"), vec![1], 10),
            Err(DecodeError::Unknown("compress".into()))
        );
        let bomb = gzip(&vec![0u8; 10 << 20]);
        assert!(bomb.len() < 64 << 10);
        assert_eq!(
            decode(&codings("gzip"), bomb, 1 << 20),
            Err(DecodeError::TooLarge(1 << 20))
        );
    }
}
