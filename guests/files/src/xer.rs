//! Primavera P6 XER: tab-separated tables (`%T` name, `%F` fields, `%R`
//! rows, `%E` end), written by P6 in Windows-1252. Streams: `tasks`
//! (TASK), `resources` (RSRC), `assignments` (TASKRSRC), `relationships`
//! (TASKPRED), `wbs` (PROJWBS), `projects` (PROJECT), or any table by its
//! name in lower case.

use std::collections::BTreeMap;

use wharf_sdk::prelude::*;

/// Friendly stream names and their tables.
pub const STREAMS: &[(&str, &str)] = &[
    ("tasks", "TASK"),
    ("resources", "RSRC"),
    ("assignments", "TASKRSRC"),
    ("relationships", "TASKPRED"),
    ("wbs", "PROJWBS"),
    ("projects", "PROJECT"),
];

/// A table: its field names and rows.
pub type Table = (Vec<String>, Vec<Vec<String>>);

/// The tables of an XER file, by name.
pub fn tables(text: &str) -> Result<BTreeMap<String, Table>> {
    if !text.starts_with("ERMHDR") {
        return Err(Error::Config(
            "not a Primavera XER file (no ERMHDR line)".into(),
        ));
    }
    let mut out: BTreeMap<String, Table> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        let mut cells = line.split('\t');
        match cells.next() {
            Some("%T") => {
                let name = cells.next().unwrap_or("").to_string();
                out.entry(name.clone()).or_default();
                current = Some(name);
            }
            Some("%F") => {
                if let Some(t) = current.as_ref().and_then(|c| out.get_mut(c)) {
                    t.0 = cells.map(str::to_string).collect();
                }
            }
            Some("%R") => {
                if let Some(t) = current.as_ref().and_then(|c| out.get_mut(c)) {
                    t.1.push(cells.map(str::to_string).collect());
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The table a stream reads.
pub fn table_of(stream: &str) -> String {
    STREAMS
        .iter()
        .find(|(s, _)| *s == stream)
        .map_or_else(|| stream.to_ascii_uppercase(), |(_, t)| (*t).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_export_of_p6() {
        let bytes = include_bytes!("../../../tests/fixtures/files/schedule.xer");
        let (text, encoding) = crate::text::decode(bytes, "auto");
        assert_eq!(encoding, "windows-1252");
        let t = tables(&text).unwrap();
        assert_eq!(t["TASK"].1.len(), 695);
        assert_eq!(t["RSRC"].1.len(), 19);
        assert_eq!(t["TASKRSRC"].1.len(), 449);
        assert_eq!(t["TASKPRED"].1.len(), 1595);
        assert!(t["TASK"].0.contains(&"task_code".to_string()));
        assert_eq!(table_of("assignments"), "TASKRSRC");
    }
}
