//! The CSV of Bulk API 2.0 result sets (RFC 4180, as the job asks for it:
//! comma-separated, LF line endings; CRLF read as well): quoted values may
//! hold commas, quotes (doubled) and line breaks.

/// The rows of `text`, the header first. A trailing line break ends the
/// last row rather than starting an empty one.
pub fn parse(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut rows = Vec::new();
    let mut row: Vec<String> = Vec::new();
    let mut value = String::new();
    let mut quoted = false;
    // Whether the current value began with a quote (and so may hold one).
    let mut was_quoted = false;
    let mut chars = text.chars().peekable();
    let mut line = 1usize;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    value.push('"');
                }
                '"' => quoted = false,
                other => {
                    if other == '\n' {
                        line += 1;
                    }
                    value.push(other);
                }
            }
            continue;
        }
        match c {
            '"' if value.is_empty() && !was_quoted => {
                quoted = true;
                was_quoted = true;
            }
            '"' => return Err(format!("line {line}: a quote inside an unquoted value")),
            ',' => {
                row.push(std::mem::take(&mut value));
                was_quoted = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                row.push(std::mem::take(&mut value));
                rows.push(std::mem::take(&mut row));
                was_quoted = false;
                line += 1;
            }
            other if was_quoted => {
                return Err(format!("line {line}: `{other}` after a closing quote"));
            }
            other => value.push(other),
        }
    }
    if quoted {
        return Err(format!("line {line}: a quoted value is not closed"));
    }
    if !value.is_empty() || was_quoted || !row.is_empty() {
        row.push(value);
        rows.push(row);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salesforce_result_sets() {
        let text = "\"Id\",\"Name\",\"Description\"\n\"005R0000000UyrWIAS\",\"Jane Dunn\",\"\"\n\"005R0000000GiwjIAC\",\"Wright, George\",\"said \"\"hi\"\"\nthen left\"\n";
        let rows = parse(text).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0], ["Id", "Name", "Description"]);
        assert_eq!(rows[1][2], "");
        assert_eq!(rows[2][1], "Wright, George");
        assert_eq!(rows[2][2], "said \"hi\"\nthen left");
        assert_eq!(
            parse("a,b\r\n1,2").unwrap(),
            vec![vec!["a", "b"], vec!["1", "2"]]
        );
        assert_eq!(parse("a,\n").unwrap(), vec![vec!["a", ""]]);
        assert!(parse("\"open\n").is_err());
        assert!(parse("a\"b\n").is_err());
        assert!(parse("\"a\"b\n").is_err());
        assert!(parse("").unwrap().is_empty());
    }
}
