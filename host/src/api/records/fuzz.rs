//! Property tests ("fuzz" targets) of record imports: any table written as
//! CSV (quotes, commas, line breaks, any Unicode in the cells) reads back
//! row for row with the same fields, and any bytes at all are read or
//! refused row by row without panicking.
//!
//! `cargo test -p wharf --lib fuzz`; `PROPTEST_CASES=1000000` for a long
//! run (docs/operations.md).

use proptest::prelude::*;
use serde_json::{Map, Value};

use super::*;

/// A table: unique header names and rows of the same width.
fn table() -> impl Strategy<Value = (Vec<String>, Vec<Vec<String>>)> {
    (1usize..5).prop_flat_map(|width| {
        let cell = "\\PC{0,8}|[,\"\r\n ]{1,3}";
        (
            prop::collection::btree_set("[a-z_]{1,6}", width)
                .prop_map(|s| s.into_iter().collect::<Vec<_>>()),
            prop::collection::vec(prop::collection::vec(cell, width), 0..6),
        )
    })
}

proptest! {
    #[test]
    fn fuzz_csv_imports_read_back_what_was_written((headers, rows) in table()) {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(&headers).unwrap();
        for row in &rows {
            w.write_record(row).unwrap();
        }
        let bytes = w.into_inner().unwrap();
        let Ok(parsed) = parse_rows("text/csv", &bytes) else {
            return Err(TestCaseError::fail("a well-formed CSV file is refused"));
        };
        prop_assert_eq!(parsed.len(), rows.len());
        for (got, row) in parsed.into_iter().zip(&rows) {
            let want: Map<String, Value> = headers
                .iter()
                .zip(row)
                .map(|(h, v)| (h.clone(), if v.is_empty() { Value::Null } else { Value::String(v.clone()) }))
                .collect();
            prop_assert_eq!(got, Ok(want));
        }
    }

    #[test]
    fn fuzz_any_bytes_are_read_or_refused_row_by_row(
        bytes in prop::collection::vec(prop_oneof![any::<u8>(), Just(b','), Just(b'"'), Just(b'\n')], 0..200),
        json in any::<bool>(),
    ) {
        let content_type = if json { "application/json" } else { "text/csv" };
        let _ = parse_rows(content_type, &bytes);
    }
}
