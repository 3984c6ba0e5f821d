//! Base64 as the mail APIs write it, decoded tolerantly: Gmail's base64url
//! (`-_`, padding present or not) and Graph's standard base64 (`+/`), with
//! line breaks ignored. A small decoder keeps the component free of a
//! dependency for one function.

/// The bytes of `text` in either alphabet; `None` if it is not base64.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 3);
    let mut acc: u32 = 0;
    let mut bits = 0;
    let mut ended = false;
    for b in text.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => {
                ended = true;
                continue;
            }
            b'\r' | b'\n' | b' ' | b'\t' => continue,
            _ => return None,
        };
        // Data after padding is not base64.
        if ended {
            return None;
        }
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // A lone trailing character carries fewer than 8 bits: not base64.
    if bits >= 6 {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn both_alphabets_with_or_without_padding() {
        assert_eq!(decode("SGVsbG8sIFdvcmxkIQ==").unwrap(), b"Hello, World!");
        assert_eq!(decode("SGVsbG8sIFdvcmxkIQ").unwrap(), b"Hello, World!");
        assert_eq!(decode("").unwrap(), b"");
        // 0xfb 0xff: `+/` in standard base64, `-_` in base64url.
        assert_eq!(decode("-_8").unwrap(), vec![0xfb, 0xff]);
        assert_eq!(decode("+/8=").unwrap(), vec![0xfb, 0xff]);
        assert_eq!(decode("SGVs\r\nbG8=").unwrap(), b"Hello");
        assert!(decode("SGVsbG8*").is_none());
        assert!(decode("S").is_none());
        assert!(decode("SGk=SGk=").is_none());
    }
}
