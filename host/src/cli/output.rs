//! How the server-client commands print: tables for lists, key-value views
//! for one thing, timestamps in UTC, and the server's JSON untouched for
//! `--json` (scripts parse it, so it is never reshaped here).

use serde_json::Value;

/// The server's JSON, pretty-printed.
pub fn json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("a JSON value serializes")
    );
}

/// A JSON value as a table cell: strings without quotes, `-` for null.
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// A list of strings as one cell, `-` when empty.
pub fn list(v: &Value) -> String {
    let items: Vec<String> = v.as_array().into_iter().flatten().map(text).collect();
    if items.is_empty() {
        "-".into()
    } else {
        items.join(",")
    }
}

/// At most `max` characters, with `…` when cut: wide values (record data,
/// error messages) would otherwise push every other column off the screen.
pub fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// Unix milliseconds as `YYYY-MM-DD HH:MMZ`; `-` when absent.
pub fn when(ms: &Value) -> String {
    ms.as_i64().map_or_else(
        || "-".into(),
        |ms| {
            let secs = ms.div_euclid(1000);
            let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
            let (y, m, d) = crate::clock::civil_from_days(days);
            format!(
                "{y:04}-{m:02}-{d:02} {:02}:{:02}Z",
                rem / 3600,
                (rem % 3600) / 60
            )
        },
    )
}

/// Milliseconds as `1.2 s`, `3m05s`, `2h10m`; `-` when absent.
pub fn duration(ms: &Value) -> String {
    let Some(ms) = ms.as_i64() else {
        return "-".into();
    };
    let secs = ms / 1000;
    if secs < 60 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else if secs < 3600 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60)
    }
}

/// Rows under an upper-case header, columns padded to their widest cell.
pub fn table(header: &[&str], rows: Vec<Vec<String>>) {
    print!("{}", render_table(header, &rows));
}

fn render_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(&header.iter().map(|h| h.to_uppercase()).collect::<Vec<_>>());
    for r in rows {
        out.push_str(&line(r));
    }
    out
}

/// One thing as `key:  value` rows, keys aligned; a value spanning lines
/// (a config, a list) continues indented under its first line.
pub fn fields(rows: &[(&str, String)]) {
    print!("{}", render_fields(rows));
}

fn render_fields(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(k, _)| k.len() + 1).max().unwrap_or(0);
    let mut out = String::new();
    for (key, value) in rows {
        let mut lines = value.lines();
        let first = lines.next().unwrap_or("");
        out.push_str(
            format!("{:<width$}  {first}", format!("{key}:"))
                .trim_end()
                .as_ref(),
        );
        out.push('\n');
        for more in lines {
            out.push_str(&format!("{:width$}  {more}\n", ""));
        }
    }
    out
}

/// A heading followed by a table indented under it, for the parts of a
/// key-value view that are lists of things (secrets, streams).
pub fn section(title: &str, header: &[&str], rows: Vec<Vec<String>>) {
    println!("\n{title}:");
    if rows.is_empty() {
        println!("  (none)");
        return;
    }
    for line in render_table(header, &rows).lines() {
        println!("  {line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_pad_to_the_widest_cell() {
        let out = render_table(
            &["id", "name"],
            &[
                vec!["1".into(), "short".into()],
                vec!["22".into(), "x".into()],
            ],
        );
        assert_eq!(out, "ID  NAME\n1   short\n22  x\n");
    }

    #[test]
    fn fields_align_and_indent_continuations() {
        let out = render_fields(&[("id", "abc".into()), ("config", "{\n  \"a\": 1\n}".into())]);
        assert_eq!(
            out,
            "id:      abc\nconfig:  {\n           \"a\": 1\n         }\n"
        );
    }

    #[test]
    fn times_and_durations() {
        assert_eq!(when(&json!(0)), "1970-01-01 00:00Z");
        assert_eq!(when(&json!(null)), "-");
        assert_eq!(duration(&json!(1500)), "1.5 s");
        assert_eq!(duration(&json!(185_000)), "3m05s");
        assert_eq!(duration(&json!(7_800_000)), "2h10m");
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
    }
}
