//! Bytes to text: a UTF-8 or UTF-16 byte-order mark decides; otherwise
//! UTF-8 if the bytes are UTF-8, else Windows-1252 (what Excel on Windows
//! and Primavera P6 write; Latin-1 for every byte it leaves undefined).

/// Windows-1252's 0x80–0x9F (undefined bytes map to the C1 control).
const CP1252: [char; 32] = [
    '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž', '\u{8f}',
    '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}', 'ž', 'Ÿ',
];

/// The text of `bytes` and the encoding it was read as.
pub fn decode(bytes: &[u8], encoding: &str) -> (String, &'static str) {
    match encoding {
        "utf-8" => {
            return (
                String::from_utf8_lossy(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes))
                    .into_owned(),
                "utf-8",
            );
        }
        "windows-1252" => return (cp1252(bytes), "windows-1252"),
        _ => {}
    }
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return (String::from_utf8_lossy(rest).into_owned(), "utf-8");
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        return (utf16(rest, u16::from_le_bytes), "utf-16le");
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        return (utf16(rest, u16::from_be_bytes), "utf-16be");
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_string(), "utf-8"),
        Err(_) => (cp1252(bytes), "windows-1252"),
    }
}

fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> String {
    let units: Vec<u16> = bytes.chunks_exact(2).map(|c| unit([c[0], c[1]])).collect();
    String::from_utf16_lossy(&units)
}

fn cp1252(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            0x80..=0x9F => CP1252[usize::from(b - 0x80)],
            _ => char::from(b),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boms_then_utf8_then_windows_1252() {
        assert_eq!(decode(b"\xEF\xBB\xBFa,b", "auto"), ("a,b".into(), "utf-8"));
        assert_eq!(
            decode(b"\xFF\xFEa\0,\0b\0", "auto"),
            ("a,b".into(), "utf-16le")
        );
        assert_eq!(
            decode("Şişli".as_bytes(), "auto"),
            ("Şişli".into(), "utf-8")
        );
        assert_eq!(
            decode(b"M\xfcller \x80", "auto"),
            ("Müller €".into(), "windows-1252")
        );
    }
}
