//! The CSV of an async report (`output_format: CSV_STRING`), read from the
//! blob the host keeps it in a page at a time: RFC 4180 quoting (a
//! campaign or ad name may hold commas, quotes and line breaks), CRLF or
//! LF, a UTF-8 byte order mark ignored. A page ends on a whole row, and
//! the byte offset after it is where the next page starts.

use wharf_sdk::Result;
use wharf_sdk::blob::{Blob, CHUNK};

/// At most `max` rows of `blob` from byte `offset`, and the offset after
/// them (`None` once the file is read). Empty lines are skipped.
pub fn read(blob: &Blob, offset: u64, max: usize) -> Result<(Vec<Vec<String>>, Option<u64>)> {
    let size = blob.size()?;
    let mut buffer: Vec<u8> = Vec::new();
    let mut read_to = offset;
    let mut consumed = 0usize;
    let mut rows = Vec::new();
    loop {
        let eof = read_to >= size;
        while rows.len() < max {
            let Some((fields, used)) = next_row(&buffer[consumed..], eof) else {
                break;
            };
            consumed += used;
            if !(fields.len() == 1 && fields[0].is_empty()) {
                rows.push(fields);
            }
        }
        if rows.len() >= max || eof {
            break;
        }
        let chunk = blob.read(read_to, CHUNK)?;
        if chunk.is_empty() {
            // The blob ended sooner than its size said: read what is whole.
            read_to = size;
            continue;
        }
        read_to += chunk.len() as u64;
        buffer.extend_from_slice(&chunk);
    }
    let next = offset + consumed as u64;
    Ok((rows, (next < size).then_some(next)))
}

/// The first row of `bytes` and how many bytes it took (its line end
/// included); `None` when the row is not whole yet (unless `eof`, when
/// what is left is the last row) or nothing is left.
pub fn next_row(bytes: &[u8], eof: bool) -> Option<(Vec<String>, usize)> {
    if bytes.is_empty() {
        return None;
    }
    let mut fields = Vec::new();
    let mut field: Vec<u8> = Vec::new();
    let mut quoted = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if quoted {
            if b == b'"' {
                if bytes.get(i + 1) == Some(&b'"') {
                    field.push(b'"');
                    i += 1;
                } else if i + 1 == bytes.len() && !eof {
                    // `""` may straddle the end of what is read so far.
                    return None;
                } else {
                    quoted = false;
                }
            } else {
                field.push(b);
            }
        } else {
            match b {
                b'"' => quoted = true,
                b',' => fields.push(text(std::mem::take(&mut field))),
                b'\n' => {
                    if field.last() == Some(&b'\r') {
                        field.pop();
                    }
                    fields.push(text(field));
                    return Some((fields, i + 1));
                }
                _ => field.push(b),
            }
        }
        i += 1;
    }
    if !eof {
        return None;
    }
    if field.last() == Some(&b'\r') {
        field.pop();
    }
    fields.push(text(field));
    Some((fields, bytes.len()))
}

fn text(bytes: Vec<u8>) -> String {
    let s = String::from_utf8(bytes)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    match s.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_and_line_ends() {
        let file = b"ad_id,ad_name,spend\r\n1,\"Spring \"\"Hero\"\", 15s\",12.5\n2,\"two\nlines\",0\n3,last,1";
        let (row, used) = next_row(file, false).unwrap();
        assert_eq!(row, ["ad_id", "ad_name", "spend"]);
        let rest = &file[used..];
        let (row, used2) = next_row(rest, false).unwrap();
        assert_eq!(row, ["1", "Spring \"Hero\", 15s", "12.5"]);
        let rest = &rest[used2..];
        let (row, used3) = next_row(rest, false).unwrap();
        assert_eq!(row, ["2", "two\nlines", "0"]);
        let rest = &rest[used3..];
        assert_eq!(
            next_row(rest, false),
            None,
            "the last row has no line end yet"
        );
        assert_eq!(next_row(rest, true).unwrap().0, ["3", "last", "1"]);
        assert_eq!(next_row(b"1,\"open", true).unwrap().0, ["1", "open"]);
        assert_eq!(
            next_row(b"\xef\xbb\xbfad_id\n", false).unwrap().0,
            ["ad_id"]
        );
        assert_eq!(
            next_row(b"1,\"a\"", false),
            None,
            "a quote at the end may be doubled"
        );
    }
}
