//! CSV (and other delimited text): the delimiter guessed from the header
//! line when not given (`,` `;` tab `|`, outside quotes), RFC 4180 quoting
//! (quotes doubled inside quoted fields, line breaks kept), CRLF or LF, a
//! header row or generated column names. A page starts at a byte offset of
//! the text, so a large file is read once, not once per page.

/// The delimiter of `text`: the candidate seen most often outside quotes
/// in its first line.
pub fn sniff(text: &str) -> u8 {
    let mut counts = [0usize; 4];
    let candidates = [b',', b';', b'\t', b'|'];
    let mut quoted = false;
    for b in text.bytes() {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => break,
            _ if !quoted => {
                if let Some(i) = candidates.iter().position(|c| *c == b) {
                    counts[i] += 1;
                }
            }
            _ => {}
        }
    }
    let best = (0..4).max_by_key(|&i| (counts[i], 3 - i)).unwrap_or(0);
    if counts[best] == 0 {
        b','
    } else {
        candidates[best]
    }
}

fn reader(text: &str, delimiter: u8) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes())
}

/// The header cells (names; `column_1`… when the file has none, counted
/// from its first row) and the byte offset where data begins.
pub fn header(text: &str, delimiter: u8, has_header: bool) -> Result<(Vec<String>, u64), String> {
    let mut r = reader(text, delimiter);
    let mut first = csv::StringRecord::new();
    if !r.read_record(&mut first).map_err(|e| e.to_string())? {
        return Ok((Vec::new(), 0));
    }
    if has_header {
        let names = first
            .iter()
            .enumerate()
            .map(|(i, n)| {
                if n.trim().is_empty() {
                    format!("column_{}", i + 1)
                } else {
                    n.trim().to_string()
                }
            })
            .collect();
        Ok((names, r.position().byte()))
    } else {
        Ok((
            (1..=first.len()).map(|i| format!("column_{i}")).collect(),
            0,
        ))
    }
}

/// Up to `limit` rows from byte `offset`; the rows, the offset after them,
/// and whether the text ended.
pub fn rows(
    text: &str,
    delimiter: u8,
    offset: u64,
    limit: usize,
) -> Result<(Vec<Vec<String>>, u64, bool), String> {
    let start = usize::try_from(offset)
        .map_err(|e| e.to_string())?
        .min(text.len());
    let mut r = reader(&text[start..], delimiter);
    let mut out = Vec::new();
    let mut record = csv::StringRecord::new();
    while out.len() < limit {
        if !r
            .read_record(&mut record)
            .map_err(|e| format!("row {}: {e}", out.len() + 1))?
        {
            return Ok((out, text.len() as u64, true));
        }
        // A blank line is no row.
        if record.len() == 1 && record[0].is_empty() {
            continue;
        }
        out.push(record.iter().map(str::to_string).collect());
    }
    let next = start as u64 + r.position().byte();
    Ok((out, next, next >= text.len() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_paging() {
        let text = "id;name;note\r\n1;\"Müller; Hans\";\"said \"\"hi\"\"\"\r\n2;Ana;\"two\r\nlines\"\r\n3;Ion;x\r\n";
        let d = sniff(text);
        assert_eq!(d, b';');
        let (names, offset) = header(text, d, true).unwrap();
        assert_eq!(names, ["id", "name", "note"]);
        let (first, next, done) = rows(text, d, offset, 2).unwrap();
        assert_eq!(first[0], ["1", "Müller; Hans", "said \"hi\""]);
        assert_eq!(first[1][2], "two\r\nlines");
        assert!(!done);
        let (rest, _, done) = rows(text, d, next, 10).unwrap();
        assert_eq!(rest, [["3", "Ion", "x"]]);
        assert!(done);
    }
}
